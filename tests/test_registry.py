"""The one registry mechanism: lookups, suggestions, duplicates, and `textmtl list`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from textmtl.errors import ConfigError
from textmtl.registry import REGISTRIES, Registry, registry

from ._cli import run_main

KINDS = ["aggregators", "methods", "architectures", "encoders", "formats", "benchmarks", "samplers", "exporters"]


def test_every_kind_of_component_has_a_registry():
    assert list(REGISTRIES) == KINDS
    assert {"ls", "stl", "uw"} <= set(registry("methods").names())
    assert {"hard", "separate", "shared_private"} <= set(registry("architectures").names())
    assert set(registry("formats").names()) >= {"csv", "tsv", "jsonl"}
    assert set(registry("benchmarks").names()) >= {"fdu-mtl", "glue", "conll2003"}
    with pytest.raises(ConfigError, match=r"unknown kind of component 'archs' .*valid: aggregators"):
        registry("archs")


def test_unknown_names_are_one_line_errors_with_a_suggestion_and_the_valid_names():
    with pytest.raises(ConfigError) as info:
        registry("samplers").get("unifrom")
    message = str(info.value)
    assert message.startswith("training.sampling.strategy: unknown sampler 'unifrom'")
    assert "did you mean 'uniform'?" in message and "valid: all, annealed" in message and "\n" not in message
    with pytest.raises(ConfigError, match=r"\(valid: "):  # nothing close: the valid names alone
        registry("encoders").get("zzzzzz")


def test_a_name_registered_twice_is_an_error_and_the_same_object_twice_is_not():
    reg: Registry[object] = Registry("things", "thing")

    class A: ...

    class B: ...

    reg.register("a", summary="first")(A)
    reg.register("a")(A)  # the same module imported twice
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(B)
    with pytest.raises(ValueError, match="component name"):
        reg.register("has space")(B)
    assert reg.names() == ["a"] and reg.version == 1
    reg.unregister("a")
    assert reg.names() == [] and reg.version == 2


def test_a_method_may_not_take_an_aggregator_name():
    from textmtl.methods import LinearScalarization, register

    with pytest.raises(ValueError, match="already an aggregator"):
        register(type("Clash", (LinearScalarization,), {"name": "pcgrad"}))


@pytest.mark.parametrize("kind", KINDS)
def test_textmtl_list_json(kind):
    code, printed = run_main(["list", kind, "--json"])
    assert code == 0, printed
    rows = json.loads(printed)
    assert [r["name"] for r in rows] == registry(kind).names()
    for row in rows:
        assert set(row) >= {"name", "summary", "settings", "module"}


def test_textmtl_list_shows_settings_with_defaults():
    code, printed = run_main(["list", "architectures", "--json"])
    rows = {r["name"]: r for r in json.loads(printed)}
    assert rows["mmoe"]["settings"] == {"num_experts": 4, "expert_size": None}
    assert rows["graph_star"]["block"] == "graph"
    code, printed = run_main(["list", "archs"])
    assert code == 2 and "unknown kind of component" in printed and "valid: aggregators" in printed


@pytest.mark.parametrize("argv", [["--help"], ["data", "list"], ["list", "formats"]])
def test_help_and_listings_do_not_load_torch(argv, tmp_path):
    code = (f"import sys\nsys.argv = ['textmtl', *{argv!r}, *([] if {argv!r} != ['data', 'list'] else "
            f"['--data-dir', {str(tmp_path)!r}])]\nfrom textmtl import cli\n"
            "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'scipy', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
