"""One registry mechanism for every kind of pluggable component (AllenNLP-style ``Registrable``).

Each kind of component (methods, aggregators, architectures, encoders, data formats,
benchmarks, samplers, exporters) has one :class:`Registry`. A component registers itself next
to its code with a decorator, optionally with the pydantic model of its settings::

    from textmtl.registry import architectures

    @architectures.register("my_arch", settings=MyArchSettings)
    class MyArch(Architecture): ...

Looking up an unknown name raises a one-line :class:`~textmtl.errors.ConfigError` with a
did-you-mean suggestion and the valid names; registering a name twice is an error. A registry
imports the package's own modules of its kind on first use (``modules``), so that listing
names does not import torch for kinds that do not need it; a component defined outside the
package registers when its module is imported (CONTRIBUTING.md has a recipe per kind).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import ConfigError

__all__ = ["Entry", "Registry", "REGISTRIES", "registry", "suggest"]

T = TypeVar("T")


def suggest(name: str, valid: list[str]) -> str:
    """`` (did you mean 'x'?; valid: a, b, c)``: the hint every unknown-name error ends with."""
    close = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.6)
    listing = ", ".join(valid) or "none registered"
    return f" (did you mean '{close[0]}'? valid: {listing})" if close else f" (valid: {listing})"


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered component: its name, the object, its settings model and where it came from."""

    name: str
    obj: T
    settings: type | None = None  # a pydantic model of the component's settings, if it has any
    summary: str = ""
    module: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific facts (e.g. a format's suffixes)


class Registry(Generic[T]):
    """Name -> component for one kind. ``key`` is the config key that names a component of it."""

    def __init__(
        self, kind: str, key: str, modules: tuple[str, ...] = (), *, check: Callable[[str, Any], None] | None = None
    ) -> None:
        self.kind = kind  # plural, as in `textmtl list <kind>`
        self.key = key  # e.g. "model.architecture"
        self._modules = modules
        self._check = check
        self._entries: dict[str, Entry[T]] = {}
        self._loaded = False
        self.version = 0  # bumped on every registration (the config schema is rebuilt from it)

    # ------------------------------------------------------------------ registration

    def register(
        self, name: str, *, settings: type | None = None, summary: str | None = None, **extra: Any
    ) -> Callable[[T], T]:
        """Decorator registering a class (or factory) as ``name``; a name taken twice is an error."""

        def decorator(obj: T) -> T:
            self.add(name, obj, settings=settings, summary=summary, **extra)
            return obj

        return decorator

    def add(self, name: str, obj: T, *, settings: type | None = None, summary: str | None = None, **extra: Any) -> None:
        """Register ``obj`` as ``name`` (the non-decorator form)."""
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
            raise ValueError(f"{self.kind}: a component name is letters, digits, '_', '-' or '.', got {name!r}")
        old = self._entries.get(name)
        if old is not None:
            if old.obj is obj:
                return  # the same module imported twice (e.g. under two names): harmless
            raise ValueError(
                f"{self.kind}: the name {name!r} is already registered by {old.module}.{_qualname(old.obj)}"
            )
        if self._check is not None:
            self._check(name, obj)
        if summary is None:
            summary = _summary(obj)
        self._entries[name] = Entry(name, obj, settings, summary, getattr(obj, "__module__", ""), dict(extra))
        self.version += 1

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for tests that register toy components)."""
        if self._entries.pop(name, None) is not None:
            self.version += 1

    # ------------------------------------------------------------------ lookup

    def load(self) -> None:
        """Import the package's modules of this kind (which register themselves)."""
        if not self._loaded:
            self._loaded = True  # first: a module being imported may look its own kind up
            try:
                for module in self._modules:
                    importlib.import_module(module)
            except BaseException:
                self._loaded = False
                raise

    def entry(self, name: str) -> Entry[T]:
        self.load()
        found = self._entries.get(name) if isinstance(name, str) else None
        if found is None:
            raise ConfigError(f"{self.key}: unknown {self.singular} {_show(name)}{suggest(str(name), self.names())}")
        return found

    def validate(self, name: str) -> str:
        """`name` if it is registered, else ValueError (for pydantic validators: the config loader
        puts the key in front of the message)."""
        if name not in self:
            raise ValueError(f"unknown {self.singular} {_show(name)}{suggest(str(name), self.names())}")
        return name

    def get(self, name: str) -> T:
        """The component called ``name``; ConfigError (one line, did-you-mean) otherwise."""
        return self.entry(name).obj

    def settings(self, name: str) -> type | None:
        return self.entry(name).settings

    def names(self) -> list[str]:
        self.load()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        self.load()
        return [self._entries[n] for n in sorted(self._entries)]

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.load()
        return len(self._entries)

    def view(self) -> Mapping[str, T]:
        """A live read-only name -> component mapping (loads the package's modules on first use)."""
        return _View(self)

    @property
    def singular(self) -> str:
        return {"benchmarks": "benchmark", "samplers": "sampler", "formats": "data format"}.get(
            self.kind, self.kind.removesuffix("s").replace("_", " ")
        )

    def describe(self) -> list[dict[str, Any]]:
        """JSON-able rows for `textmtl list <kind>`: name, summary, settings with defaults, module."""
        rows = []
        for e in self.entries():
            rows.append(
                {
                    "name": e.name,
                    "summary": e.summary,
                    "settings": _settings_defaults(e.settings),
                    "module": e.module,
                    **{k: v for k, v in e.extra.items() if _jsonable(v)},
                }
            )
        return rows


class _View(Mapping[str, T]):
    def __init__(self, reg: Registry[T]) -> None:
        self._reg = reg

    def __getitem__(self, name: str) -> T:
        self._reg.load()
        return self._reg._entries[name].obj

    def __iter__(self) -> Iterator[str]:
        return iter(self._reg.names())

    def __len__(self) -> int:
        return len(self._reg)

    def __contains__(self, name: object) -> bool:
        return name in self._reg

    def __repr__(self) -> str:
        return f"<{self._reg.kind}: {', '.join(self._reg.names())}>"


def _summary(obj: Any) -> str:
    """The first line of the object's own docstring, else of its module's."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    if not (doc and doc.strip()):
        module = importlib.import_module(obj.__module__) if getattr(obj, "__module__", None) else None
        doc = getattr(module, "__doc__", None) or ""
    text = inspect.cleandoc(doc)
    return text.splitlines()[0] if text else ""


def _show(name: Any) -> str:
    text = repr(name)
    return text if len(text) <= 60 else text[:60] + "..."


def _qualname(obj: Any) -> str:
    return getattr(obj, "__qualname__", type(obj).__name__)


def _jsonable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, tuple, dict))


def _settings_defaults(settings: type | None) -> dict[str, Any]:
    fields = getattr(settings, "model_fields", None)
    if not fields:
        return {}
    out = {}
    for name, info in fields.items():
        if name == "type":
            continue
        default = info.get_default(call_default_factory=True)
        out[name] = default if _jsonable(default) else repr(default)
    return out


# ---------------------------------------------------------------------------- the registries

REGISTRIES: dict[str, Registry[Any]] = {}


def _new(kind: str, key: str, *modules: str, check: Callable[[str, Any], None] | None = None) -> Registry[Any]:
    reg: Registry[Any] = Registry(kind, key, modules, check=check)
    REGISTRIES[kind] = reg
    return reg


def _not_an_aggregator(name: str, obj: Any) -> None:
    del obj
    aggregators.load()
    if name in aggregators._entries:
        raise ValueError(f"methods: the name {name!r} is already an aggregator ('method: {name}' would be ambiguous)")


def _not_a_method(name: str, obj: Any) -> None:
    del obj
    if name in methods._entries:
        raise ValueError(f"aggregators: the name {name!r} is already a method ('method: {name}' would be ambiguous)")


#: Conflict-aware aggregators (a Jacobian or Gram matrix in, one update direction out).
aggregators = _new("aggregators", "method.name", "textmtl.aggregation", check=_not_a_method)
#: Loss-level methods (a method turns task losses into gradients; aggregators are wrapped as methods).
methods = _new("methods", "method.name", "textmtl.methods", check=_not_an_aggregator)
#: Multi-task architectures (`model.architecture`).
architectures = _new("architectures", "model.architecture", "textmtl.models.architectures")
#: Text encoders (`model.encoder.type`).
encoders = _new("encoders", "model.encoder.type", "textmtl.models.encoders")
#: Data formats of custom tasks (`data.custom_tasks[].format`).
formats = _new("formats", "format", "textmtl.data.formats")
#: Known data sets (`data.benchmark`).
benchmarks = _new("benchmarks", "data.benchmark", "textmtl.data.sets")
#: Task samplers (`training.sampling.strategy`).
samplers = _new("samplers", "training.sampling.strategy", "textmtl.data.sampling", "textmtl.data.schedulers")
#: Exporters of finished runs (`textmtl export --format`).
exporters = _new("exporters", "--format", "textmtl.exporting")


def registry(kind: str) -> Registry[Any]:
    """The registry of ``kind`` (plural, e.g. ``"architectures"``); ConfigError otherwise."""
    found = REGISTRIES.get(kind)
    if found is None:
        raise ConfigError(f"unknown kind of component {_show(kind)}{suggest(kind, sorted(REGISTRIES))}")
    return found
