"""examples/python/daily_export.py, run as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO, TESTDATA

EXAMPLE = REPO / "examples" / "python" / "daily_export.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True,
                          timeout=120)


def test_daily_export_with_failed_rows(tmp_path: Path) -> None:
    src = tmp_path / "pop_2025-12-09.ndjson"
    shutil.copy(TESTDATA / "pop_mixed.ndjson", src)
    r = run(str(src), "--data-dir", str(tmp_path / "data"))
    assert r.returncode == 1, r.stderr
    summary = json.loads(r.stdout)
    assert summary["status"] == "partially_completed"
    assert (summary["totalRows"], summary["processedRows"], summary["errorRows"]) == (16, 3, 13)
    assert summary["errors"][0]["row"] == 2 and len(summary["errors"]) == 5
    assert "16/16 rows" in r.stderr or "16/16" in r.stderr  # the progress reached the end
    failed = tmp_path / "pop_2025-12-09.failed.ndjson"
    assert "13 failed rows written to" in r.stderr
    lines = failed.read_bytes().splitlines()
    original = (TESTDATA / "pop_mixed.ndjson").read_bytes().splitlines()
    assert len(lines) == 13 and all(line in original for line in lines)


def test_daily_export_of_a_clean_gzip_file(tmp_path: Path) -> None:
    src = tmp_path / "day.ndjson.gz"
    shutil.copy(TESTDATA / "pop_valid.ndjson.gz", src)
    r = run(str(src), "--data-dir", str(tmp_path / "data"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["processedRows"] == 5
    assert not list(tmp_path.glob("*.failed.ndjson"))


def test_daily_export_reports_a_refused_file(tmp_path: Path) -> None:
    src = tmp_path / "cut.ndjson.gz"
    shutil.copy(TESTDATA / "truncated.ndjson.gz", src)
    r = run(str(src), "--data-dir", str(tmp_path / "data"))
    assert r.returncode == 2
    assert "CORRUPTED_FILE" in r.stderr + r.stdout
