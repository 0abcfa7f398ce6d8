"""Reading a run configuration: YAML (safe loading), `--set` overrides, and one-line errors naming the key."""

from __future__ import annotations

import copy
import difflib
import os
import re
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from .schema import ConfigBase, _short, config_model


def _walk(loc: tuple) -> tuple[list[str], type[BaseModel] | None]:
    """Clean a pydantic error location (drop union tags) and find the model owning its last key."""
    model: Any = config_model()
    clean: list[str] = []
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        clean.append(str(part))
        if not parts:
            break
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or str(part) not in model.model_fields:
            model = None if not isinstance(part, int) else model
            continue
        annotation = model.model_fields[str(part)].annotation
        if getattr(annotation, "__origin__", None) is Annotated:
            annotation = get_args(annotation)[0]
        members = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
        if type(None) in members:  # Optional[X]: look through to X
            members = tuple(m for m in members if m is not type(None))
            if len(members) == 1:
                annotation, members = members[0], ()
        if members and parts and all(isinstance(m, type) and issubclass(m, BaseModel) for m in members):
            tag = parts.pop(0)  # discriminated union: the next part is the `type` tag
            model = next(
                (m for m in members if m.model_fields.get("type") and m.model_fields["type"].default == tag), None
            )
        elif get_origin(annotation) in (list, dict):
            inner = get_args(annotation)[-1]
            if parts and isinstance(parts[0], (int, str)) and isinstance(inner, type) and issubclass(inner, BaseModel):
                clean.append(str(parts.pop(0)))
            model = inner
        else:
            model = annotation
    owner = model if isinstance(model, type) and issubclass(model, BaseModel) else None
    return clean, owner


def _key_text(clean: list[str]) -> str:
    """The dotted key, escaped so that a message stays on one line."""
    key = ".".join(clean) or "(top level)"
    return key if key.isprintable() else _short(key)[1:-1]


#: HF `TrainingArguments` (and common script) names -> textmtl's key, suggested for an unknown key
HF_NAMES = {
    "learning_rate": "training.lr",
    "num_train_epochs": "training.epochs",
    "num_epochs": "training.epochs",
    "max_steps": "training.steps",
    "per_device_train_batch_size": "training.batch_size",
    "train_batch_size": "training.batch_size",
    "per_device_eval_batch_size": "training.eval_batch_size",
    "lr_scheduler_type": "training.scheduler",
    "max_grad_norm": "training.clip_norm",
    "gradient_accumulation_steps": "training.accumulation_steps",
    "optim": "training.optimizer",
    "eval_steps": "training.eval_every",
    "early_stopping_patience": "training.patience",
    "bf16": "training.precision (bf16)",
    "fp16": "training.precision (fp16)",
    "output_dir": "output.runs_dir",
    "report_to": "output.logging",
    "run_name": "name",
    "model_name_or_path": "model.encoder.path",
    "max_seq_length": "text.max_length",
    "max_length": "text.max_length",
}


def _hf_name_hint(clean: list[str]) -> str:
    """` (did you mean 'training.lr'? ...)` when the unknown key is a HF Trainer name, else ''."""
    target = HF_NAMES.get(clean[-1].lower())
    if target is None or ".".join(clean) == target:
        return ""
    return f" (did you mean '{target}'? '{clean[-1]}' is the HF Trainer's name)"


def _format_error(err: Any, source: str) -> str:
    clean, owner = _walk(tuple(err["loc"]))
    key = _key_text(clean)
    if err["type"] == "extra_forbidden":
        hint = _hf_name_hint(clean)
        if hint:
            return f"{source}: unknown key '{key}'{hint}"
        if owner is not None:
            valid = list(owner.model_fields)
            close = difflib.get_close_matches(clean[-1].lower(), valid, n=1, cutoff=0.5)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (valid keys: {', '.join(valid)})"
        return f"{source}: unknown key '{key}'{hint}"
    got = err.get("input")
    message = " ".join(str(err["msg"]).split()).removeprefix("Value error, ")
    shown = isinstance(got, (dict, list)) or got is None or _short(got) in message
    got_text = "" if shown else f" (got {_short(got)})"
    return f"{source}: {key}: {message}{got_text}"


def _origin(loc: tuple, overrides: list[str], source: str) -> str:
    """`--set KEY=VALUE` when that override carried the key at `loc` (or a section above it), else `source`."""
    path = [str(part) for part in loc if not isinstance(part, int)]
    for item in reversed(overrides):  # the last override of a key wins
        parts = item.split("=", 1)[0].strip().split(".")
        if path[: len(parts)] == parts or parts[: len(path)] == path:
            return f"--set {_short(item)[1:-1]}"
    return source


def validate_config(data: Any, source: str = "config", overrides: list[str] | None = None) -> ConfigBase:
    """A Config from parsed YAML; errors name the key and where it came from (`source`, or the
    `--set` among `overrides` that carried it)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        return config_model().model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(_format_error(err, _origin(tuple(err["loc"]), overrides or [], source))) from None


class ConfigLoader(yaml.SafeLoader):
    """YAML safe loading with two fixes for configs: `1e-3` is a float (YAML 1.1, PyYAML's default,
    reads an exponent without a dot as a string), and a key given twice in one mapping is an error
    instead of the later value silently winning."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                continue  # other keys: SafeLoader's own checks (e.g. an unhashable key is its error)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' is given twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


MAX_CONFIG_BYTES = 2**20  # a config is a few kB; a larger file is a mistake, refused before parsing


def _parse_yaml(text: str) -> Any:
    """YAML safe loading (`ConfigLoader`), with absurd nesting and unconvertible scalars reported as a YAMLError."""
    try:
        return yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise yaml.YAMLError("nesting too deep") from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of 5000 digits, a timestamp 2001-13-45
        raise yaml.YAMLError(f"bad value ({exc})") from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> ConfigBase:
    """Read a YAML config (safe loading) and apply `key.sub=value` overrides."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{path}: {size / 2**20:.1f} MB; a config is at most {MAX_CONFIG_BYTES // 2**20} MB of YAML"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a YAML config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start]
        raise ConfigError(f"{path}:{line}: not valid UTF-8 (byte 0x{byte:02x}); save the config as UTF-8") from None
    try:
        data = _parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None  # type: ignore[assignment]
        problem = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, yaml.reader.ReaderError):  # a control character such as NUL
            code = exc.character if isinstance(exc.character, int) else ord(exc.character)
            line, problem = text.count("\n", 0, exc.position) + 1, f"character #x{code:04x}: {exc.reason}"
        where = f"{path}:{line}" if line is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML: {' '.join(problem.split())}") from None
    if data is None:
        raise ConfigError(
            f"{path}: the config is empty (it would train the default: every FDU-MTL domain for 10 epochs); "
            "write the keys you want, e.g. data.tasks and method"
        )
    data = apply_overrides(data, overrides or [], str(path))
    config = validate_config(data, str(path), overrides)
    for i, task in enumerate(config.data.custom_tasks):  # custom files are relative to the config file
        if any("\0" in v for v in [*task.files.values(), task.dataset or ""]):
            raise ConfigError(f"{path}: data.custom_tasks.{i}.files: a file name contains a NUL character")
        # absolute, symlinks kept (resolving them would fail on a symlink loop before the file is read)
        task.files = {k: os.path.abspath(path.parent / v) for k, v in task.files.items()}
        if task.dataset is not None:
            task.dataset = os.path.abspath(path.parent / task.dataset)
    return config


def apply_overrides(data: Any, overrides: list[str], source: str = "config") -> Any:
    """`training.lr=0.01` style overrides; values are parsed as YAML scalars."""
    if not isinstance(data, dict):
        return data
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {_short(item)}: expected KEY=VALUE, e.g. training.lr=0.01")
        key, raw = item.split("=", 1)
        try:
            value = _parse_yaml(raw)
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if isinstance(node.get(part), str) and part == "method":
                node[part] = {"name": node[part]}
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {_short(item)}: {_short(part)} is not a section")
        node[parts[-1]] = value
    return data


def as_config(config: ConfigBase | dict | str | Path, overrides: list[str] | None = None) -> ConfigBase:
    """A validated config from a Config (re-validated with `overrides`), a dict (copied) or a YAML path."""
    if isinstance(config, ConfigBase):
        return (
            validate_config(apply_overrides(config.model_dump(mode="json"), overrides or []), "config", overrides)
            if overrides
            else config
        )
    if isinstance(config, dict):  # deep copy: overrides must not change the caller's dict
        return validate_config(apply_overrides(copy.deepcopy(config), overrides or []), "config", overrides)
    return load_config(config, overrides)
