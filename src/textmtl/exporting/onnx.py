"""`--format onnx`: one ONNX graph per task, for every encoder type (TextCNN, BiLSTM, transformers).

Each `<task>/model.onnx` maps `input_ids` and `attention_mask` (int64, [batch, length]; also
`token_type_ids` for a transformer with segment embeddings) to `logits` ([batch, classes]; [batch]
for regression; [batch, length, tags] for tagging), with the batch and length dimensions dynamic.
Beside it: `textmtl.json` (labels, kind, inputs) and the text encoder's files (the word vocabulary,
or the transformer's tokenizer), so a program with only onnxruntime and a tokenizer can serve it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.batching import Batch
from ..data.tasks import Example, TaskKind
from ..errors import ConfigError, ModelError
from ..registry import exporters
from ..training.run_directory import LoadedRun
from .base import Exporter

OPSET = 18


class TaskGraph(nn.Module):
    """`model(task, batch).logits` as a function of plain tensors (what ONNX exports)."""

    def __init__(self, model: nn.Module, task: str) -> None:
        super().__init__()
        self.model, self.task = model, task

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        batch = Batch(input_ids, attention_mask.bool(), None, token_type_ids)
        return self.model(self.task, batch).logits


def example_inputs(run: LoadedRun, texts: Sequence[str]) -> dict[str, torch.Tensor]:
    """Padded int64 inputs of `texts`, as the run's text encoder encodes them."""
    encoded = run.text_encoder.encode_many([Example(t) for t in texts])
    length = max(len(e.input_ids) for e in encoded)
    pad = run.text_encoder.pad_id
    ids = torch.full((len(encoded), length), pad, dtype=torch.long)
    mask = torch.zeros((len(encoded), length), dtype=torch.long)
    types = torch.zeros((len(encoded), length), dtype=torch.long)
    for i, e in enumerate(encoded):
        ids[i, : len(e.input_ids)] = torch.tensor(e.input_ids)
        mask[i, : len(e.input_ids)] = 1
        if e.token_type_ids is not None:
            types[i, : len(e.token_type_ids)] = torch.tensor(e.token_type_ids)
    inputs = {"input_ids": ids, "attention_mask": mask}
    if uses_token_types(run):
        inputs["token_type_ids"] = types
    return inputs


def uses_token_types(run: LoadedRun) -> bool:
    """Whether the run's encoder is a transformer with segment (token type) embeddings."""
    for module in run.model.modules():
        config = getattr(getattr(module, "model", None), "config", None)
        if config is not None and bool(getattr(config, "type_vocab_size", None)):
            return True
    return False


@exporters.register("onnx")
class OnnxExporter(Exporter):
    writes = "an ONNX graph per task (model.onnx, textmtl.json, the tokenizer or vocabulary)"

    def export(self, run: LoadedRun, tasks: Sequence[str], out: Path) -> list[Path]:
        try:
            import onnx  # noqa: F401
            import onnxscript  # noqa: F401
        except ImportError:
            raise ConfigError("--format onnx needs onnx and onnxscript: pip install 'textmtl[hf]'") from None
        written = []
        for task in tasks:
            written.append(self.export_task(run, task, out / task))
        return written

    def export_task(self, run: LoadedRun, task: str, folder: Path) -> Path:
        spec = run.specs[task]
        folder.mkdir(parents=True)
        graph = TaskGraph(run.model, task).eval()
        sample = example_inputs(run, ["a short one", "and a somewhat longer example sentence to pad the other"])
        names = list(sample)
        model = _dynamo_export(graph, sample)
        if model is None or not _dynamic(model):
            # torch 2.13's dynamo exporter fixes the length of an LSTM model it exports second in a
            # process; the TorchScript exporter (deprecated, still shipped) keeps it dynamic
            model = _torchscript_export(graph, sample)
        (folder / "model.onnx").write_bytes(model.SerializeToString())
        check = parity(folder / "model.onnx", graph, run)
        encoder = run.text_encoder.save(folder)
        labels = list(spec.labels)
        meta = {
            "task": task,
            "kind": spec.kind.value,
            "labels": labels,
            "inputs": names,
            "output": "logits",
            "text_encoder": encoder,
            "method": run.method,
            "opset": OPSET,
            "parity": check,  # max |logits(onnxruntime) - logits(torch)| on inputs of other shapes than the sample
        }
        if spec.kind == TaskKind.TAGGING:
            meta["note"] = "logits per token"
        (folder / "textmtl.json").write_text(json.dumps(meta, indent=2) + "\n")
        return folder


def _quiet_export():
    """Silence the exporters' chatter (progress lines, "torchvision is not installed", deprecations)."""
    stack = contextlib.ExitStack()
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    stack.callback(logger.setLevel, level)
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(torch.no_grad())
    return stack


def _dynamo_export(graph: TaskGraph, sample: dict[str, torch.Tensor]) -> Any | None:
    """The graph from `torch.export` (batch and length dynamic), or None if that exporter fails."""
    batch, length = torch.export.Dim("batch", min=1), torch.export.Dim("length", min=1)
    try:
        with _quiet_export():
            program = torch.onnx.export(
                copy.deepcopy(graph),
                tuple(sample.values()),
                input_names=list(sample),
                output_names=["logits"],
                dynamic_shapes={name: {0: batch, 1: length} for name in sample},
                opset_version=OPSET,
                dynamo=True,
                verbose=False,
            )
    except Exception:  # noqa: BLE001 - the TorchScript exporter is tried next
        return None
    return program.model_proto if program is not None else None


def _torchscript_export(graph: TaskGraph, sample: dict[str, torch.Tensor]) -> Any:
    import onnx

    buffer = io.BytesIO()
    with _quiet_export():
        torch.onnx.export(
            graph,
            tuple(sample.values()),
            buffer,  # type: ignore[arg-type]  # a file object works (and is documented) but is not in the stub
            input_names=list(sample),
            output_names=["logits"],
            dynamic_axes={name: {0: "batch", 1: "length"} for name in sample},
            opset_version=OPSET,
            dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue())


def _dynamic(model: Any) -> bool:
    """Whether every input's batch and length dimensions are symbolic."""
    return all(all(d.dim_param for d in i.type.tensor_type.shape.dim) for i in model.graph.input)


PARITY_TEXTS = ["good", "a rather long sentence, with commas, to make this batch longer than the sample was", "no"]


def parity(path: Path, graph: TaskGraph, run: LoadedRun, tolerance: float = 1e-4) -> float | None:
    """Max |ONNX Runtime - torch| over the logits of `PARITY_TEXTS`; ModelError above `tolerance`.
    None when onnxruntime is not installed (the check is skipped)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    inputs = example_inputs(run, PARITY_TEXTS)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
    with torch.no_grad():
        ours = graph(**inputs).float().numpy()
    gap = float(abs(theirs - ours).max())
    if not gap <= tolerance:
        raise ModelError(f"{path}: the ONNX graph's logits differ from torch's by {gap:.3g} (> {tolerance:g})")
    return gap
