"""textmtl inside other people's training loops: a Hugging Face `Trainer` subclass
(`hf_trainer.MultiTaskTrainer`) and the model it trains (`hf_trainer.MultiHeadModel`); for
PyTorch Lightning and plain loops, `textmtl.Backward` (see examples/lightning_multitask.py)."""
