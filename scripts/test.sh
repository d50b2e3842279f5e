#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, the Rust workspace (unit, integration and
# doc tests), and one quick pass of every benchmark (criterion's --test mode).
set -euo pipefail
cd "$(dirname "$0")/.."

# == scale-out backends: PostgreSQL state + S3 blobs against real servers (scripts/services.sh),
# used by the workspace tests (examples/tests/server_scale.rs) and the feature run at the end.
# .ci/run starts the services and exports their URLs; run alone, this starts its own when the
# tools are installed. Under CI a missing service is a failure.
if [ -z "${BULK_INGEST_TEST_PG:-}" ] && command -v s3s-fs >/dev/null \
   && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  export BULK_INGEST_SERVICES="${TMPDIR:-/tmp}/bulk-ingest-services-$$"
  bash scripts/services.sh start
  trap 'bash scripts/services.sh stop' EXIT
  # shellcheck disable=SC1091
  . "$BULK_INGEST_SERVICES/env"
fi

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

echo "== node package (bindings-node): build, committed index.d.ts, node --test"
command -v npm >/dev/null || { echo "node and npm are required for the Node package's tests"; exit 1; }
# `npm install` honours package-lock.json; `npm ci` trips over the optional per-platform packages
# that npm 11 leaves out of the lock file.
(cd bindings-node && npm install --no-audit --no-fund --loglevel=error && npm run build)
# The generated loader and types are committed: a rebuild that changes them fails here.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git diff --exit-code -- bindings-node/index.d.ts bindings-node/index.js ||
    { echo "bindings-node/index.d.ts or index.js changed on rebuild: commit them"; exit 1; }
fi
(cd examples/node && npm install --no-audit --no-fund --loglevel=error)
# The HTTP test runs against both example servers.
cargo build --quiet -p bulk-ingest-examples --example server
(cd bindings-node && node --test __test__/)

# == scale-out backends (services started at the top)
if [ -n "${BULK_INGEST_TEST_PG:-}" ] || [ "${CI:-}" = true ]; then
  echo "== cargo test, scale-out backends (features postgres, s3)"
  cargo clippy -p bulk-ingest --all-targets --features postgres,s3,conformance -- -D warnings
  cargo clippy -p bulk-ingest-bench --features scale --bins -- -D warnings
  cargo test -p bulk-ingest --features postgres,s3,conformance
else
  echo "== scale-out backends skipped: no PostgreSQL/s3s-fs (see scripts/services.sh)"
fi
