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

if cargo metadata --no-deps --format-version 1 | grep -q '"name":"bulk-ingest-bench"'; then
  echo "== benchmarks, one quick pass each"
  cargo bench -p bulk-ingest-bench -- --test
fi

# == scale-out backends (services started at the top)
if [ -n "${BULK_INGEST_TEST_PG:-}" ] || [ "${CI:-}" = true ]; then
  echo "== cargo test, scale-out backends (features postgres, s3)"
  cargo clippy -p bulk-ingest --all-targets --features postgres,s3,conformance -- -D warnings
  cargo clippy -p bulk-ingest-bench --features scale --bins -- -D warnings
  cargo test -p bulk-ingest --features postgres,s3,conformance
else
  echo "== scale-out backends skipped: no PostgreSQL/s3s-fs (see scripts/services.sh)"
fi
