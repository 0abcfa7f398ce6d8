"""Text encoders (`model.encoder.type`): TextCNN, BiLSTM and pretrained transformers.

Each module registers its encoder with ``textmtl.registry.encoders`` together with its settings.
"""

from .base import Encoder, EncoderOutput, EncoderSettings
from .bilstm import BiLSTM, BiLSTMConfig
from .textcnn import TextCNN, TextCNNConfig
from .transformer import PretrainedTransformer, TransformerConfig

__all__ = [
    "Encoder",
    "EncoderOutput",
    "EncoderSettings",
    "BiLSTM",
    "BiLSTMConfig",
    "TextCNN",
    "TextCNNConfig",
    "PretrainedTransformer",
    "TransformerConfig",
]
