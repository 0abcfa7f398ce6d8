"""Benchmark suites: a base run config, a grid (methods × seeds × variants), a `quick` variant
and the published tables to compare with. Suites ship as YAML in `textmtl/resources/suites/`;
users can pass the path of their own file. Every error names the bad key (exit code 2).

    name: my-suite                 # default: the file name
    description: one line
    base: {...}                    # a run config (the schema of configs/*.yaml) without
                                   # name / seed / method / output: the grid sets those
    methods: [stl, ls, {name: getmtl, epsilon: 0.0075}, {name: getmtl, label: getmtl-e0.025, epsilon: 0.025},
              {name: tchebycheff_adv, config: {model: {architecture: adversarial}}}]   # config: the
                                   # method's own run-config overrides, merged last
    seeds: [1, 2, 3]
    variants:                      # optional: named overrides deep-merged into base
      textcnn: {}
      bilstm: {model: {encoder: {type: bilstm, hidden_size: 100}}}
    reference: stl                 # the method Δm% is measured against
    quick:                         # `--quick`: a smaller grid that runs in minutes
      overrides: {data: {tasks: [books, dvd]}, training: {steps: 20}}
      methods: [stl, ls]
      seeds: [1]
      variants: [textcnn]
    published:
      - table: getmtl_table3       # resources/published/<table>.json
        columns: {stl: STL, ls: Uniform}   # our method -> the paper's column
        extra_columns: [BanditMTL]         # paper columns with no counterpart here
        variants: [textcnn]                # optional: only beside these variants

Deep merge: mappings merge key by key, anything else (lists, scalars) is replaced; a mapping
with a `type` different from the one it overrides (e.g. `encoder: {type: bilstm}` over a
TextCNN) replaces it instead of merging.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import _walk, config_model
from ..config.loading import ConfigLoader
from ..errors import ConfigError

SUITE_PACKAGE = "textmtl.resources.suites"
DEFAULT_VARIANT = "default"
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_GRID_KEYS = {
    "name": "the grid names every run",
    "seed": "use `seeds:`",
    "method": "use `methods:`",
    "output": "the runner writes runs under --out",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuickSpec(_Strict):
    overrides: dict[str, Any] = Field(default_factory=dict)
    methods: list[str] | None = None
    seeds: list[int] | None = None
    variants: list[str] | None = None


class PublishedSpec(_Strict):
    table: str
    columns: dict[str, str] = Field(default_factory=dict)
    extra_columns: list[str] = Field(default_factory=list)
    variants: list[str] | None = None


class SuiteSpec(_Strict):
    name: str | None = None
    description: str = ""
    base: dict[str, Any]
    methods: list[Any] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)
    variants: dict[str, dict[str, Any] | None] | None = None
    reference: str = "stl"
    quick: QuickSpec | None = None
    published: list[PublishedSpec] = Field(default_factory=list)


@dataclass(frozen=True)
class MethodSpec:
    label: str  # unique within the suite: run names, filters, table columns
    name: str  # the registered method
    params: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # run-config overrides of this method (`config:`)


@dataclass
class Suite:
    name: str
    description: str
    source: str  # the file, for messages
    base_dir: Path  # custom task files are relative to it
    base: dict[str, Any]
    methods: dict[str, MethodSpec]  # label -> spec, in order
    seeds: list[int]
    variants: dict[str, dict[str, Any]]  # name -> overrides, in order ({"default": {}} without variants)
    has_variants: bool
    reference: str
    quick: QuickSpec | None
    published: list[PublishedSpec]
    builtin: bool = False

    def grid(self, quick: bool = False) -> tuple[list[str], list[str], list[int]]:
        """(variants, method labels, seeds) of the full or the quick grid."""
        variants, methods, seeds = list(self.variants), list(self.methods), list(self.seeds)
        if quick and self.quick is not None:
            variants = self.quick.variants or variants
            methods = self.quick.methods or methods
            seeds = self.quick.seeds or seeds
        return variants, methods, seeds

    def run_config(self, variant: str, method: str, seed: int, *, quick: bool = False) -> dict[str, Any]:
        """The complete run config (a dict of the `Config` schema) of one grid point, without
        `output.runs_dir` (the runner sets it)."""
        data = deep_merge(self.base, self.variants[variant])
        if quick and self.quick is not None:
            data = deep_merge(data, self.quick.overrides)
        m = self.methods[method]
        data = deep_merge(data, m.config)  # e.g. tchebycheff_adv: {model: {architecture: adversarial}}
        data["name"] = run_name(self, variant, method, seed)
        data["seed"] = seed
        data["method"] = {"name": m.name, **m.params}
        _resolve_custom_files(data, self.base_dir)
        return data


def run_name(suite: Suite, variant: str, method: str, seed: int) -> str:
    return f"{variant}-{method}-s{seed}" if suite.has_variants else f"{method}-s{seed}"


def deep_merge(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """A new dict: `override` merged into `base` (see the module docstring for the rules)."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict) and value.get("type", old.get("type")) == old.get("type"):
            out[key] = deep_merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve_custom_files(data: dict[str, Any], base_dir: Path) -> None:
    for task in (data.get("data") or {}).get("custom_tasks") or []:
        if isinstance(task, dict) and isinstance(task.get("files"), dict):
            task["files"] = {k: str((base_dir / Path(str(v)).expanduser()).resolve()) for k, v in task["files"].items()}


# ------------------------------------------------------------------------------------ loading


def builtin_suites() -> list[str]:
    folder = resources.files(SUITE_PACKAGE)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def resolve_suite(name_or_path: str | Path) -> Suite:
    """A shipped suite by name (`amazon-14`) or a suite YAML file by path."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if text in builtin_suites():
        resource = resources.files(SUITE_PACKAGE).joinpath(f"{text}.yaml")
        return parse_suite(resource.read_text(encoding="utf-8"), f"{text}.yaml", Path.cwd(), builtin=True)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        try:
            content = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: suite file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read suite file ({exc})") from None
        return parse_suite(content, str(path), path.resolve().parent, default_name=path.stem)
    close = difflib.get_close_matches(text, builtin_suites(), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(
        f"suite: unknown suite '{text}'{hint}; shipped suites: {', '.join(builtin_suites())} "
        f"(or give the path of a suite YAML file)"
    )


def parse_suite(
    text: str, source: str, base_dir: Path, *, default_name: str | None = None, builtin: bool = False
) -> Suite:
    try:
        data = yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - a SafeLoader subclass (1e-3 floats, no duplicate keys)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_suite_error(exc.errors()[0], source)) from None
    return _build(spec, source, base_dir, default_name or Path(source).stem, builtin)


def _suite_error(err: Any, source: str) -> str:
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        owner: type[BaseModel] = SuiteSpec
        if loc[:1] == ["quick"]:
            owner = QuickSpec
        elif loc[:1] == ["published"]:
            owner = PublishedSpec
        close = difflib.get_close_matches(loc[-1], list(owner.model_fields), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (valid keys: {', '.join(owner.model_fields)})"
        return f"{source}: unknown key '{key}'{hint}"
    got = err.get("input")
    got_text = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
    return f"{source}: {key}: {err['msg']}{got_text}"


def _config_error(err: Any, source: str, prefix: str) -> str:
    """Like config._format_error, with the key placed under `prefix` (e.g. `base`)."""
    clean, owner = _walk(tuple(err["loc"]))
    key = ".".join([prefix, *clean]) if clean else prefix
    if err["type"] == "extra_forbidden":
        hint = ""
        if owner is not None:
            close = difflib.get_close_matches(clean[-1], list(owner.model_fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (valid keys: {', '.join(owner.model_fields)})"
        return f"{source}: unknown key '{key}'{hint}"
    got = err.get("input")
    got_text = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
    return f"{source}: {key}: {err['msg']}{got_text}"


def _methods(entries: list[Any], source: str) -> dict[str, MethodSpec]:
    from ..methods import make_method

    out: dict[str, MethodSpec] = {}
    for i, entry in enumerate(entries):
        where = f"{source}: methods.{i}"
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"{where}: expected a method name or a mapping with 'name' (got {entry!r})")
        params = {k: v for k, v in entry.items() if k not in ("name", "label", "config")}
        overrides = entry.get("config") or {}
        if not isinstance(overrides, dict):
            raise ConfigError(f"{where}.config: expected a mapping of run-config overrides (got {overrides!r})")
        label = str(entry.get("label", entry["name"]))
        if not _LABEL.match(label):
            raise ConfigError(f"{where}.label: {label!r} must be letters, digits, '_', '.', '+' or '-'")
        if label in out:
            raise ConfigError(f"{where}: method label '{label}' appears twice (give one a `label:`)")
        try:
            make_method(entry["name"], params)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        out[label] = MethodSpec(label, entry["name"], params, overrides)
    return out


def _subset(values: list | None, allowed: list, key: str, source: str, what: str) -> None:
    for i, v in enumerate(values or []):
        if v not in allowed:
            close = difflib.get_close_matches(str(v), [str(a) for a in allowed], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                f"{source}: {key}.{i}: {v!r} is not one of the suite's {what}{hint}; "
                f"known: {', '.join(map(str, allowed))}"
            )


def _build(spec: SuiteSpec, source: str, base_dir: Path, default_name: str, builtin: bool) -> Suite:
    from ..reporting.published import load_published, published_table_names

    for key, why in _GRID_KEYS.items():
        if key in spec.base:
            raise ConfigError(f"{source}: base.{key}: not allowed in a suite ({why})")
    methods = _methods(spec.methods, source)
    if len(set(spec.seeds)) != len(spec.seeds):
        raise ConfigError(f"{source}: seeds: a seed is listed twice ({spec.seeds})")
    variants = {DEFAULT_VARIANT: {}} if not spec.variants else {k: dict(v or {}) for k, v in spec.variants.items()}
    for v in variants:
        if not _LABEL.match(v):
            raise ConfigError(f"{source}: variants.{v}: a variant name must be letters, digits, '_', '.', '+' or '-'")
    suite = Suite(
        spec.name or default_name,
        spec.description,
        source,
        base_dir,
        spec.base,
        methods,
        list(spec.seeds),
        variants,
        bool(spec.variants),
        spec.reference,
        spec.quick,
        spec.published,
        builtin,
    )
    if not _LABEL.match(suite.name):
        raise ConfigError(f"{source}: name: {suite.name!r} must be letters, digits, '_', '.', '+' or '-'")
    if spec.quick is not None:
        _subset(spec.quick.methods, list(methods), "quick.methods", source, "methods")
        _subset(spec.quick.seeds, suite.seeds, "quick.seeds", source, "seeds")
        _subset(spec.quick.variants, list(variants), "quick.variants", source, "variants")
    for i, pub in enumerate(spec.published):
        if pub.table not in published_table_names():
            close = difflib.get_close_matches(pub.table, published_table_names(), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                f"{source}: published.{i}.table: no published table '{pub.table}'{hint}; "
                f"shipped: {', '.join(published_table_names())}"
            )
        table = load_published(pub.table)
        for method in pub.columns:
            if method not in methods:
                raise ConfigError(
                    f"{source}: published.{i}.columns.{method}: not a method of the suite "
                    f"(methods: {', '.join(methods)}); use extra_columns for a paper column "
                    f"without a counterpart"
                )
        named = [(f"columns.{m}", c) for m, c in pub.columns.items()] + [
            (f"extra_columns.{j}", c) for j, c in enumerate(pub.extra_columns)
        ]
        for key, column in named:
            if column not in table.columns:
                raise ConfigError(
                    f"{source}: published.{i}.{key}: '{column}' is not a column of {pub.table} "
                    f"(columns: {', '.join(table.columns)})"
                )
        _subset(pub.variants, list(variants), f"published.{i}.variants", source, "variants")
    # every grid point must give a valid run config: check base, then each variant (and its quick form)
    base_only = deep_merge(spec.base, {"name": "check", "seed": 1, "method": "ls"})
    _resolve_custom_files(base_only, base_dir)
    try:
        config_model().model_validate(base_only)
    except ValidationError as exc:
        raise ConfigError(_config_error(exc.errors()[0], source, "base")) from None
    for quick in (False, True):
        if quick and spec.quick is None:
            continue
        variant_names, _, _ = suite.grid(quick)
        for v in variant_names:
            data = suite.run_config(v, next(iter(methods)), suite.seeds[0], quick=quick)
            try:
                config_model().model_validate(data)
            except ValidationError as exc:
                prefix = "quick.overrides" if quick else ("base" if not spec.variants else f"variants.{v}")
                raise ConfigError(_config_error(exc.errors()[0], source, prefix)) from None
    return suite


def describe_grid(suite: Suite, quick: bool = False) -> str:
    variants, methods, seeds = suite.grid(quick)

    def n(k: int, word: str) -> str:
        return f"{k} {word}{'s' if k != 1 else ''}"

    parts = ([n(len(variants), "variant")] if suite.has_variants else []) + [
        n(len(methods), "method"),
        n(len(seeds), "seed"),
    ]
    return f"{' × '.join(parts)} = {len(variants) * len(methods) * len(seeds)} runs"


__all__ = [
    "Suite",
    "MethodSpec",
    "SuiteSpec",
    "QuickSpec",
    "PublishedSpec",
    "resolve_suite",
    "parse_suite",
    "builtin_suites",
    "deep_merge",
    "run_name",
    "describe_grid",
    "DEFAULT_VARIANT",
]
