"""The typed run configuration (pydantic): the sections, and the schema assembled from the registries.

`model:` is assembled from the registered architectures (each adds its settings block) and
encoders (the `encoder` union, told apart by `type`); the names of architectures, samplers, data
formats and benchmarks are checked against their registries here, a method's name and
hyper-parameters when the method is built (`methods.make_method`). Every error names the bad key
(see `loading`).
"""

from __future__ import annotations

import difflib
import re
from types import UnionType
from typing import Annotated, Any, Literal, Optional, Union, cast, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from ..registry import architectures, benchmarks, encoders, formats, methods, samplers

RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}")
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d{1,3})?")


def check_run_name(name: object) -> str:
    """A run name is one path component under the runs directory (never a path that leads out of it)."""
    if not isinstance(name, str) or not RUN_NAME.fullmatch(name) or name.endswith(".partial"):
        raise ValueError(
            f"expected a run name: letters, digits, '_', '-', '.', '+', starting with a letter or digit, at most "
            f"128 characters, not ending in .partial (a single folder under the runs directory), got {_short(name)}"
        )
    return name


def check_device(device: object) -> str:
    if not isinstance(device, str) or not DEVICE.fullmatch(device):
        raise ValueError(f"expected auto, cpu, cuda, cuda:N or mps, got {_short(device)}")
    return device


RunName = Annotated[str, AfterValidator(check_run_name)]
TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_:+-]{0,63}")


def check_task_name(name: object) -> str:
    """A task name keys modules, metrics and file names: letters, digits, `_`, `-`, `+`, `:`."""
    if not isinstance(name, str) or not TASK_NAME.fullmatch(name):
        raise ValueError(
            f"expected a task name: letters, digits, '_', '-', '+', ':', starting with a letter or digit, at most "
            f"64 characters (no '.', '/' or spaces), got {_short(name)}"
        )
    return name


TaskName = Annotated[str, AfterValidator(check_task_name)]
Device = Annotated[str, AfterValidator(check_device)]

# names that must be registered components (unknown: one line with a suggestion and the valid names)
FormatName = Annotated[str, AfterValidator(formats.validate)]
BenchmarkName = Annotated[str, AfterValidator(benchmarks.validate)]
ArchitectureName = Annotated[str, AfterValidator(architectures.validate)]
SamplerName = Annotated[str, AfterValidator(samplers.validate)]


def _numeric_bool(cls: type[BaseModel], name: str, value: Any) -> bool:
    """Whether `value` is a boolean given for a field that takes a number (and no boolean)."""
    field = cls.model_fields.get(name)
    if not isinstance(value, bool) or field is None:
        return False
    members = _members(field.annotation)
    return bool not in members and bool(members & {int, float})


class NumbersNotBooleans(BaseModel):
    """Settings models inherit this: `num_filters: true` is refused, not read as 1 (a model-level
    check, so that it also works on models told apart by a `type` discriminator)."""

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(key, str) and _numeric_bool(cls, key, value):
                    raise ValueError(f"{key}: expected a number, got a boolean ({str(value).lower()})")
        return data


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """`batch_size: true` is a mistake, not 1: a boolean is refused where a number is expected."""
        if info.field_name is not None and _numeric_bool(cls, info.field_name, value):
            raise ValueError("expected a number, got a boolean")
        return value


def _members(annotation: Any) -> set[Any]:
    """The types an annotation admits (`int | None` -> {int, NoneType})."""
    args = get_args(annotation)
    if get_origin(annotation) is Annotated:
        return _members(args[0])
    if args and get_origin(annotation) in (Union, UnionType):
        return set().union(*(_members(a) for a in args))
    return {annotation}


class CustomTaskConfig(_Strict):
    """A user task: files of any registered format (`textmtl list formats`; the format from the
    suffix unless `format` says), or a `save_to_disk` folder (`dataset`), through a column mapping.

    `has_header: false`: a CSV/TSV file without a header line; `columns` then give 0-based positions.
    `labels`: the label names (a list), or a mapping: raw value -> index (`{neg: 0, pos: 1}`) or raw
    value -> display name (`{0: negative, 1: positive}`). None: a ClassLabel's names, else the
    sorted labels of the train part. Parts missing from the source are carved from train:
    `dev_fraction` / `test_fraction` (seeded by `split_seed`, stratified by label), else a dev
    hold-out of `dev_size` examples (default 10% of train, at most 1000). Which parts are missing is
    checked when the task is read (an in-memory dataset given from Python fills in a task by name).
    """

    name: TaskName
    kind: Literal["classification", "pair_classification", "regression", "tagging"] = "classification"
    format: FormatName | None = None  # None: from the train file's suffix (a save_to_disk folder: hf-disk)
    files: dict[Literal["train", "dev", "test", "unlabelled"], str] = Field(default_factory=dict)
    # a DatasetDict (or Dataset) save_to_disk folder; `splits` names its parts (default train /
    # validation|dev / test)
    dataset: str | None = None
    splits: dict[Literal["train", "dev", "test"], str] | None = None
    columns: dict[Literal["text", "text_pair", "label", "tokens"], str | int] = Field(
        default_factory=lambda: {"text": "text", "label": "label"}  # type: ignore[arg-type]
    )
    labels: list[str] | dict[str, int | str] | None = None
    metrics: list[str] | None = None
    has_header: bool = True
    dev_size: int | None = Field(default=None, ge=0)
    dev_fraction: float | None = Field(default=None, gt=0, lt=1)
    test_fraction: float | None = Field(default=None, gt=0, lt=1)
    split_seed: int = Field(default=0, ge=0, lt=2**32)

    @field_validator("labels", mode="before")
    @classmethod
    def _label_keys_as_text(cls, v: Any) -> Any:
        return {str(k): val for k, val in v.items()} if isinstance(v, dict) else v


class DerivedTaskConfig(_Strict):
    """A task made from a loaded task `copy_of`: the same examples in the same order in every split
    (so both see the same batches, one forward pass), its own head (`copy_head`: starting as a copy
    of the source's); `flip_labels` reverses the class order of every label (class i -> K-1-i: a
    binary task's labels swapped, whose gradient then opposes its source's; with an odd K the
    middle class keeps its label). The conflict suite uses it (docs/RESULTS.md, issue 21)."""

    name: TaskName
    copy_of: str
    flip_labels: bool = False
    # its head starts as a copy of its source's (a flipped copy's gradient is then exactly opposed)
    copy_head: bool = True


class DataConfig(_Strict):
    benchmark: BenchmarkName | None = "fdu-mtl"
    tasks: list[str] | None = None  # None: every task of the benchmark
    custom_tasks: list[CustomTaskConfig] = Field(default_factory=list)
    data_dir: str | None = None  # --data-dir > TEXTMTL_DATA_DIR > ~/.cache/textmtl
    dev_size: int | None = None  # benchmark default when None (FDU-MTL: last 200 lines of train)
    # the benchmark's own settings (textmtl data list shows them), e.g. 20newsgroups {remove: [headers], split: bydate}
    benchmark_options: dict[str, Any] = Field(default_factory=dict)
    # at most N training examples per task, or per named task ({books: 1400, dvd: 50}: unequal sizes)
    max_train_examples: Annotated[int, Field(ge=1)] | dict[str, Annotated[int, Field(ge=1)]] | None = None
    max_eval_examples: int | None = Field(default=None, ge=1)
    # which examples the two caps keep: `first` N in file order, or a `random` fixed-seed sample
    # (the same for every training seed). Files sorted by source or genre (GLUE CoLA, STS-B) give
    # unrepresentative `first` slices; FDU-MTL's files are shuffled.
    subsample: Literal["first", "random"] = "first"
    merge_dev_into_train: bool = False
    # tasks made from loaded ones after the caps, e.g. a label-flipped copy: {name, copy_of, flip_labels}
    derived_tasks: list[DerivedTaskConfig] = Field(default_factory=list)
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


class ModelConfigBase(_Strict):
    """`model:` — the architecture, its encoder and the settings block of the architecture.

    The concrete class (`ModelConfig`) is assembled from the registries: `encoder` is the union of
    every registered encoder's settings (told apart by `type`), and every registered architecture
    with settings adds its block (`model.<block>`, optional, its defaults when absent).
    """

    architecture: ArchitectureName = "hard"

    @model_validator(mode="after")
    def _block_matches_architecture(self) -> ModelConfigBase:
        blocks = architecture_blocks()
        settings = self.architecture_settings()
        built = [self.architecture, *(settings.nested_architectures() if settings is not None else [])]
        for block in dict.fromkeys(blocks.values()):
            if getattr(self, block, None) is not None and block not in {blocks.get(a) for a in built}:
                users = [a for a, b in blocks.items() if b == block]
                raise ValueError(
                    f"model.{block} is set, but it configures architecture {' / '.join(users)} "
                    f"and model.architecture is '{self.architecture}'"
                )
        encoder_type = getattr(getattr(self, "encoder", None), "type", None)
        for name in built:
            wanted = architectures.entry(name).extra.get("encoders")
            if wanted and encoder_type not in wanted:
                raise ValueError(
                    f"architecture '{name}' works on encoder type {' / '.join(wanted)}, "
                    f"not '{encoder_type}' (set model.encoder.type)"
                )
        return self

    def architecture_settings(self, name: str | None = None) -> Any:
        """The settings block of architecture `name` (default: the chosen one; its defaults when
        absent), or None when it has none."""
        name = name or self.architecture
        entry = architectures.entry(name)
        if entry.settings is None:
            return None
        value = getattr(self, architecture_blocks()[name], None)
        return value if value is not None else entry.settings()


def architecture_blocks() -> dict[str, str]:
    """Architecture -> the key of its settings block in `model:` (its name unless it registered `block=`)."""
    return {e.name: e.extra.get("block", e.name) for e in architectures.entries() if e.settings is not None}


class MethodConfig(BaseModel):
    """`name` picks the method; every other key is one of its hyper-parameters."""

    model_config = ConfigDict(extra="allow")
    name: str = "ls"

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SamplingConfig(_Strict):
    strategy: SamplerName = "all"  # textmtl list samplers
    tasks_per_step: int = Field(default=1, ge=1)  # ignored by 'all'
    temperature: float = Field(default=2.0, gt=0)
    final_exponent: float = Field(default=0.2, ge=0, le=1)  # annealed: p ∝ n^β, β from 1 down to this
    bandit_temperature: float = Field(default=1.0, gt=0)  # bandit: π = softmax(Q / τ)
    bandit_alpha: float = Field(default=0.3, gt=0, le=1)  # bandit: Q <- (1 - α) Q + α R
    worst_first_momentum: float = Field(default=0.9, ge=0, lt=1)  # worst_first: EMA of the task losses


class TrainingConfig(_Strict):
    """Optimisation, evaluation, checkpoints and numerical guards.

    `checkpoint_every`: None (default) writes a checkpoint into the run's `.partial/checkpoint/`
    after every evaluation; N > 0 every N steps; 0 never (the run cannot be resumed).
    `max_consecutive_skips`: a step whose task loss or gradient is non-finite is skipped (no
    parameter update; the LR schedule still advances) and counted per task; this many skipped
    steps in a row stop training with an error naming the task(s). None: never stop.
    """

    epochs: float | None = Field(default=10, gt=0, le=1e6)
    steps: int | None = Field(default=None, ge=1)  # overrides epochs
    batch_size: int = Field(default=16, ge=1)
    eval_batch_size: int = Field(default=128, ge=1)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(default=1e-3, gt=0, le=1e4)
    weight_decay: float = Field(default=0.0, ge=0)
    scheduler: Literal["constant", "linear", "cosine"] = "constant"
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    clip_norm: float | None = Field(default=None, gt=0)
    eval_every: int | None = Field(default=None, ge=1)  # steps; None: once per epoch
    patience: int | None = Field(default=None, ge=1)  # evaluations without dev improvement
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    device: Device = "auto"  # auto: cuda, then mps, then cpu; checked against the machine when a run starts
    num_threads: int | None = Field(default=None, ge=1)
    # micro-batches per step: per-task gradients are summed over them before the method combines
    # them, so the update equals one step on the whole batch (gradients.parts)
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
    `log_every`: the trackers get the training losses every this many steps (besides every
    evaluation and the final test metrics); progress written to a log (stderr not a terminal)
    prints a line as often.
    """

    runs_dir: str = "runs"
    logging: list[str] = Field(default_factory=list)
    # steps between training-loss points sent to the trackers, and between progress lines in logs
    log_every: int = Field(default=50, ge=1)
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
                raise ValueError(
                    f"unknown tracking back-end {_short(name)} ({hint}known: {', '.join(TRACKING_BACKENDS)})"
                )
        return list(dict.fromkeys(v))

    @field_validator("mlflow_uri")
    @classmethod
    def _local_store(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("sqlite:///", "file:")):
            raise ValueError(f"expected a local MLflow store, sqlite:///PATH.db or file:PATH, not {_short(v)}")
        return v


class InitConfig(_Strict):
    """`init:` start the shared encoder from another finished run (knowledge transfer, ASP-MTL §6.5):
    its weights and its vocabulary; `freeze: true` keeps them fixed. With `model.architecture: hard`
    the new tasks read the transferred encoder alone (SC, single channel); with `shared_private` they
    also get a fresh private encoder each (BC, bi-channel)."""

    from_run: str  # a finished run directory (relative paths: from the current directory)
    freeze: bool = True


class ConfigBase(_Strict):
    """A run configuration. The concrete class (`Config`, from `config_model()`) fills in `model`."""

    name: RunName = "run"
    seed: int = Field(default=1, ge=0, lt=2**32)
    data: DataConfig = Field(default_factory=DataConfig)
    text: TextConfig = Field(default_factory=TextConfig)
    model: Any = None  # ModelConfig, assembled from the registries
    method: MethodConfig = Field(default_factory=MethodConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    init: InitConfig | None = None  # start the shared encoder from another run (transfer)

    @field_validator("method", mode="before")
    @classmethod
    def _method_shorthand(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @model_validator(mode="before")
    @classmethod
    def _method_implies_architecture(cls, data: Any) -> Any:
        """A method that declares an architecture (`stl` -> `separate`) sets `model.architecture`.
        The implied architecture's settings may take the named one in (`stl` over `modular`: one
        modular model per task, `separate.each: modular`, its `modular` block kept); the settings
        block of any other architecture is dropped (it configures nothing)."""
        if not isinstance(data, dict):
            return data
        method = data.get("method")
        name = method.get("name") if isinstance(method, dict) else method
        if not isinstance(name, str) or name not in methods:
            return data
        implied = getattr(methods.get(name), "architecture", None)
        model = data.get("model")
        if implied is None or not (model is None or isinstance(model, dict)):
            return data
        model = dict(model or {})
        blocks = architecture_blocks()
        # the implied architecture's ArchitectureSettings (models/architectures/base.py; not imported here)
        own, settings_cls = blocks.get(implied), cast(Any, architectures.entry(implied).settings)
        named = model.get("architecture")
        if own is not None and settings_cls is not None and model.get(own) is None and named != implied:
            settings = settings_cls.implied_in_place_of(named if isinstance(named, str) else None)
            if settings is not None:
                model[own] = settings
        keep = {own} if own is not None else set()
        if own is not None and settings_cls is not None and isinstance(model.get(own), dict):
            try:
                inner = settings_cls(**model[own]).nested_architectures()
            except ValidationError:
                inner = []  # the model's own validation names the bad key
            keep |= {blocks[a] for a in inner if a in blocks}
        model = {k: v for k, v in model.items() if k not in set(blocks.values()) - keep}
        return {**data, "model": {**model, "architecture": implied}}

    @model_validator(mode="after")
    def _has_tasks(self) -> ConfigBase:
        if self.data.benchmark is None and not self.data.custom_tasks:
            raise ValueError("data: give a benchmark or custom_tasks")
        return self

    #: `training` keys that took the encoder's defaults (`EncoderSettings.training_defaults`), not the
    #: generic ones; `to_yaml` names them in a comment of the resolved config.yaml
    _encoder_defaults: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _apply_encoder_defaults(self) -> ConfigBase:
        """Training keys the config leaves out take the encoder's defaults (transformers: AdamW,
        lr 5e-5, linear schedule with 10% warm-up, weight decay 0.01, 3 epochs)."""
        encoder = getattr(self.model, "encoder", None)
        defaults: dict[str, Any] = getattr(encoder, "training_defaults", {}) or {}
        given = self.training.model_fields_set
        applied = {key: value for key, value in defaults.items() if key not in given}
        if "steps" in given:
            applied.pop("epochs", None)
        for key, value in applied.items():
            setattr(self.training, key, value)
        self.training.model_fields_set.difference_update(applied)  # still "not given" when re-validated
        self._encoder_defaults = applied
        return self

    @property
    def encoder_defaults(self) -> dict[str, Any]:
        """The training settings that came from the encoder's defaults (see `_apply_encoder_defaults`)."""
        return dict(self._encoder_defaults)

    def to_yaml(self) -> str:
        text = yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)
        if self._encoder_defaults:
            kind = getattr(getattr(self.model, "encoder", None), "type", "?")
            applied = ", ".join(f"{k}={v}" for k, v in self._encoder_defaults.items())
            text = f"# training defaults of the {kind} encoder (not set in the config): {applied}\n" + text
        return text


# ---------------------------------------------------------------- the schema, assembled from the registries

_SCHEMA: dict[tuple[int, ...], tuple[type[BaseModel], type[ConfigBase]]] = {}


def _schema() -> tuple[type[BaseModel], type[ConfigBase]]:
    """(ModelConfig, Config) for the components registered now (rebuilt after a registration)."""
    architectures.load()
    encoders.load()
    key = (architectures.version, encoders.version)
    if key not in _SCHEMA:
        _SCHEMA.clear()
        _SCHEMA[key] = _build_schema()
    return _SCHEMA[key]


def _build_schema() -> tuple[type[BaseModel], type[ConfigBase]]:
    encoder_settings = [e.settings for e in encoders.entries() if e.settings is not None]
    for e in encoders.entries():
        tag = getattr(e.settings, "model_fields", {}).get("type")
        if tag is None or tag.default != e.name:
            raise TypeError(f"encoder {e.name!r}: its settings need a field `type: Literal[{e.name!r}] = {e.name!r}`")
    default_encoder = encoders.settings("textcnn") if "textcnn" in encoders else encoder_settings[0]
    union = (
        Annotated[Union[tuple(encoder_settings)], Field(discriminator="type")]
        if len(encoder_settings) > 1
        else encoder_settings[0]
    )
    fields: dict[str, Any] = {"encoder": (union, Field(default_factory=cast(Any, default_encoder)))}
    owners: dict[str, type] = {}
    for e in architectures.entries():
        if e.settings is None:
            continue
        block = e.extra.get("block", e.name)
        if block in owners and owners[block] is not e.settings:
            raise TypeError(f"architecture {e.name!r}: block model.{block} already has another settings model")
        if block in ModelConfigBase.model_fields or block == "encoder":
            raise TypeError(f"architecture {e.name!r}: model.{block} is a reserved key")
        owners[block] = e.settings
        fields[block] = (Optional[e.settings], None)
    model_cls = create_model("ModelConfig", __base__=ModelConfigBase, **fields)
    config_cls = create_model("Config", __base__=ConfigBase, model=(model_cls, Field(default_factory=model_cls)))
    return model_cls, config_cls


def config_model() -> type[ConfigBase]:
    """The run configuration class for the components registered now."""
    return _schema()[1]


def exported(name: str) -> Any:
    """`Config` and `ModelConfig` are assembled on first use; the settings models of the built-in
    encoders and architectures are re-exported from their modules."""
    if name == "Config":
        return _schema()[1]
    if name == "ModelConfig":
        return _schema()[0]
    if name in ("TextCNNConfig", "BiLSTMConfig", "TransformerConfig"):
        from ..models import encoders as _encoders

        return getattr(_encoders, name)
    if name in ("SharedPrivateConfig", "AdversarialConfig", "MMoEConfig", "GraphConfig", "HierarchicalConfig"):
        from ..models import architectures as _architectures

        return getattr(_architectures, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _short(value: Any, limit: int = 60) -> str:
    """A one-line repr of `value`, at most ~`limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
