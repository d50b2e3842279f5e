"""The shipped `.pyi` matches the module (mypy.stubtest), and typed code using it checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bulk_ingest
from conftest import REPO


def test_package_ships_stub_and_marker() -> None:
    pkg = Path(bulk_ingest.__file__).parent
    assert (pkg / "__init__.pyi").is_file()
    assert (pkg / "py.typed").is_file()


def test_stubtest() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "--ignore-disjoint-bases", "bulk_ingest"],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_example_type_checks_against_the_stub() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports",
         "--no-incremental", str(REPO / "examples" / "python" / "daily_export.py")],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
