"""`--format hf`: one Hugging Face folder per task, loaded by `AutoModelForSequenceClassification`
(`AutoModelForTokenClassification` for tagging) and `pipeline(...)` with the task's label names.

One folder per task, not one multi-head folder: every HF tool (pipeline, the Trainer, the Hub,
Optimum, TGI/TEI) expects one model with one output; a task's folder holds the shared encoder and
that task's head only. Our heads (dropout + linear on the masked-mean or first-token output, see
`models.heads`) match no stock class exactly, so each folder carries `modeling_textmtl.py` (torch
and transformers only) and is loaded with `trust_remote_code=True`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from safetensors.torch import save_file

from ..data.tasks import TaskKind
from ..errors import ConfigError
from ..models.encoders import PretrainedTransformer
from ..registry import exporters
from ..training.run_directory import LoadedRun
from .base import Exporter

MODELING_FILE = Path(__file__).with_name("modeling_textmtl.py")
SEQUENCE_CLASS = "TextmtlForSequenceClassification"
TOKEN_CLASS = "TextmtlForTokenClassification"


def hf_parts(run: LoadedRun, task: str) -> tuple[PretrainedTransformer, object]:
    """The transformer encoder and the head that make up `task`'s path, or a ConfigError saying why not."""
    path = run.model.task_path(task)
    if path is None:
        raise ConfigError(
            f"--format hf: in a '{run.model.name}' model, task '{task}' reads more than one encoder and its head; "
            "export it with --format onnx"
        )
    encoder, head = path
    if not isinstance(encoder, PretrainedTransformer):
        kind = run.config.model.encoder.type
        raise ConfigError(f"--format hf needs a transformer encoder (this run's is {kind}); use --format onnx")
    return encoder, head


@exporters.register("hf")
class HuggingFaceExporter(Exporter):
    writes = "a transformers folder per task (config, safetensors, tokenizer, modeling_textmtl.py)"

    def export(self, run: LoadedRun, tasks: Sequence[str], out: Path) -> list[Path]:
        parts = {task: hf_parts(run, task) for task in tasks}  # every task checked before writing
        written = []
        for task, (encoder, head) in parts.items():
            written.append(self.export_task(run, task, encoder, head, out / task))
        return written

    def export_task(self, run: LoadedRun, task: str, encoder: PretrainedTransformer, head, folder: Path) -> Path:
        spec = run.specs[task]
        folder.mkdir(parents=True)
        tagging = spec.kind == TaskKind.TAGGING
        cls = TOKEN_CLASS if tagging else SEQUENCE_CLASS
        auto = "AutoModelForTokenClassification" if tagging else "AutoModelForSequenceClassification"
        config = encoder.model.config.to_dict()
        for key in ("_name_or_path", "transformers_version", "architectures", "auto_map", "id2label", "label2id"):
            config.pop(key, None)
        labels = list(spec.labels) if spec.kind != TaskKind.REGRESSION else ["value"]
        config.update(
            {
                "architectures": [cls],
                "auto_map": {auto: f"modeling_textmtl.{cls}"},
                "num_labels": len(labels),
                "id2label": {str(i): label for i, label in enumerate(labels)},
                "label2id": {label: i for i, label in enumerate(labels)},
                "problem_type": "regression" if spec.kind == TaskKind.REGRESSION else None,
                "textmtl_pooling": encoder.pooling,
                "textmtl_dropout": float(head.dropout.p),
                "textmtl_task": task,
                "textmtl_method": run.method,
            }
        )
        if not tagging and spec.kind != TaskKind.REGRESSION:
            config["problem_type"] = "single_label_classification"
        (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        state = {f"encoder.{k}": v.detach().contiguous().clone() for k, v in encoder.model.state_dict().items()}
        state["classifier.weight"] = head.linear.weight.detach().contiguous().clone()
        state["classifier.bias"] = head.linear.bias.detach().contiguous().clone()
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
        tokenizer = run.text_encoder.tokenizer  # type: ignore[attr-defined]
        tokenizer.model_max_length = run.text_encoder.max_length
        tokenizer.save_pretrained(str(folder))
        shutil.copyfile(MODELING_FILE, folder / MODELING_FILE.name)
        (folder / "README.md").write_text(_card(task, spec.kind, labels, auto, run), encoding="utf-8")
        return folder


def _card(task: str, kind: TaskKind, labels: list[str], auto: str, run: LoadedRun) -> str:
    pipe = "token-classification" if kind == TaskKind.TAGGING else "text-classification"
    return f"""# {task}

Task `{task}` ({kind.value}) of the textmtl run `{run.path.name}` (method `{run.method}`), exported with
`textmtl export --format hf`. Labels: {", ".join(labels)}.

```python
from transformers import {auto}, AutoTokenizer, pipeline

model = {auto}.from_pretrained("PATH", trust_remote_code=True)
classify = pipeline("{pipe}", model="PATH", trust_remote_code=True)
```

`modeling_textmtl.py` holds the head (dropout + linear on the encoder's pooled output); it needs only
torch and transformers. Inputs longer than {run.text_encoder.max_length} tokens were truncated in training: pass
`truncation=True`.
"""
