#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, the Rust workspace (unit, integration and
# doc tests), and one quick pass of every benchmark (criterion's --test mode).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --exclude bulk-ingest-python -- -D warnings

echo "== cargo test"
cargo test --workspace --exclude bulk-ingest-python

# == python tests: build the package `bulk_ingest` into a virtualenv, then run its pytest suite
# (stubtest included). The extension module is linted here; it is not a `cargo test` binary.
PY_VENV="${BULK_INGEST_VENV:-$PWD/bindings-python/.venv}"
case "$PY_VENV" in /*) ;; *) PY_VENV="$PWD/$PY_VENV" ;; esac
echo "== python: virtualenv $PY_VENV"
if [ ! -x "$PY_VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$PY_VENV"
fi
"$PY_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  "maturin>=1.7,<2" "pytest>=7" "mypy>=1.10"
echo "== cargo clippy (python binding)"
PYO3_PYTHON="$PY_VENV/bin/python" cargo clippy -p bulk-ingest-python --all-targets -- -D warnings
echo "== python: maturin develop + pytest"
(cd bindings-python && VIRTUAL_ENV="$PY_VENV" PATH="$PY_VENV/bin:$PATH" maturin develop --quiet)
(cd bindings-python && "$PY_VENV/bin/python" -m pytest -q tests)

if cargo metadata --no-deps --format-version 1 | grep -q '"name":"bulk-ingest-bench"'; then
  echo "== benchmarks, one quick pass each"
  cargo bench -p bulk-ingest-bench -- --test
fi
