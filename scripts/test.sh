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

if cargo metadata --no-deps --format-version 1 | grep -q '"name":"bulk-ingest-bench"'; then
  echo "== benchmarks, one quick pass each"
  cargo bench -p bulk-ingest-bench -- --test
fi
