"""The README's Python snippets, run in order in one namespace from the repository's root."""

from __future__ import annotations

import re

import pytest

from conftest import REPO


def python_snippets() -> list[str]:
    text = (REPO / "README.md").read_text()
    start = text.index("## Embedding the library (Python)")
    end = text.index("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


def test_readme_has_python_snippets() -> None:
    assert len(python_snippets()) >= 4


def test_readme_python_snippets_run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(REPO)
    ns: dict[str, object] = {"__name__": "readme"}
    for i, code in enumerate(python_snippets()):
        exec(compile(code, f"README.md python snippet {i + 1}", "exec"), ns)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2 REQUIRED"
    assert out[1].endswith("+00:00")
    assert out[2] == "3"
    ing = ns["ing"]
    close = getattr(ing, "close")
    close()
