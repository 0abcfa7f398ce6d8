"""benchmarks/vs_peers.py: which systems it times and the errors it gives before any run starts
(docs/RESULTS.md §15). The timed runs themselves are benchmarks, not tests."""

from __future__ import annotations

import importlib.util

import pytest

from ._scripts import load_benchmark_script


@pytest.fixture(scope="module")
def script():
    return load_benchmark_script("vs_peers")


def test_by_default_textmtl_is_timed_against_the_hf_trainer(script):
    args = script.parse_args([])
    assert args.systems == ["textmtl", "hf"]
    assert args.max_length == 128 and args.repeats == 2


@pytest.mark.parametrize("systems", ["hf", "textmtl", "textmtl,allennlp", "hf,tasknet"])
def test_a_comparison_needs_textmtl_and_a_known_peer(script, systems, capsys):
    with pytest.raises(SystemExit) as exit_info:
        script.parse_args(["--systems", systems])
    assert exit_info.value.code == 2
    assert "--systems" in capsys.readouterr().err


def test_tasknet_missing_is_named_with_its_extra(script, capsys):
    if importlib.util.find_spec("tasknet") is not None:
        pytest.skip("tasknet is installed here")
    with pytest.raises(SystemExit) as exit_info:
        script.parse_args(["--systems", "textmtl,tasknet"])
    assert exit_info.value.code == 2
    assert "pip install -e '.[peers]'" in capsys.readouterr().err


def test_versions_name_each_timed_library(script):
    found = script.versions(["textmtl", "hf", "tasknet"])
    assert set(found) == {"textmtl", "torch", "transformers", "tasknet"}
    assert found["torch"].startswith("2.")
