#!/usr/bin/env bash
# Throwaway PostgreSQL cluster and S3-compatible server (s3s-fs) on 127.0.0.1, for the tests of
# the scale-out backends (cargo features `postgres` and `s3`).
#
#   scripts/services.sh start   # starts both, writes their URLs to $BULK_INGEST_SERVICES/env
#   . "${BULK_INGEST_SERVICES:-/tmp/bulk-ingest-services}/env"   # exports them
#   scripts/services.sh stop    # stops both and removes their data
#
# Needs PostgreSQL's server binaries (Debian: apt-get install postgresql) and s3s-fs
# (cargo install s3s-fs --version 0.14.1 --features binary --locked). PostgreSQL refuses to run as
# root: when run as root the cluster belongs to the `postgres` user.
set -euo pipefail

DIR="${BULK_INGEST_SERVICES:-/tmp/bulk-ingest-services}"
BUCKET=bulk-ingest-test
ACCESS_KEY=bulk-ingest-test-key
SECRET_KEY=bulk-ingest-test-secret-0123456789

pg_bin() {
  if command -v pg_ctl >/dev/null; then dirname "$(command -v pg_ctl)"; return; fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] || { echo "services: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
  echo "$d"
}

# A port nothing listens on (random in 20000..59999, probed).
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  echo "services: no free port found" >&2
  exit 1
}

# Runs a command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start() {
  if [ -f "$DIR/env" ]; then
    echo "services: already started ($DIR/env); stop first" >&2
    exit 1
  fi
  command -v s3s-fs >/dev/null || { echo "services: s3s-fs not found (cargo install s3s-fs --version 0.14.1 --features binary --locked)" >&2; exit 1; }
  local bin
  bin=$(pg_bin)
  mkdir -p "$DIR"
  chmod 755 "$DIR"

  # PostgreSQL: a fresh cluster, trust auth on 127.0.0.1 only.
  local pg="$DIR/pg" pgport
  mkdir -p "$pg"
  [ "$(id -u)" = 0 ] && chown postgres: "$pg"
  as_owner "$bin/initdb" -D "$pg/data" -U postgres -A trust --no-sync -E UTF8 >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; exit 1; }
  pgport=$(free_port)
  as_owner "$bin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pgport -k $pg -c fsync=off -c max_connections=200" start >/dev/null \
    || { cat "$pg/server.log" >&2; exit 1; }

  # s3s-fs: buckets are directories under its root.
  local s3port
  mkdir -p "$DIR/s3/$BUCKET"
  s3port=$(free_port)
  nohup s3s-fs --host 127.0.0.1 --port "$s3port" --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" \
    "$DIR/s3" >"$DIR/s3s-fs.log" 2>&1 &
  echo $! >"$DIR/s3s-fs.pid"
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$s3port") 2>/dev/null && break
    sleep 0.1
  done
  (exec 3<>"/dev/tcp/127.0.0.1/$s3port") 2>/dev/null || { cat "$DIR/s3s-fs.log" >&2; exit 1; }

  cat >"$DIR/env" <<ENV
export BULK_INGEST_TEST_PG=postgres://postgres@127.0.0.1:$pgport/postgres
export BULK_INGEST_TEST_S3=s3://$BUCKET/test
export AWS_ENDPOINT_URL=http://127.0.0.1:$s3port
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=us-east-1
export AWS_ALLOW_HTTP=true
ENV
  echo "services: PostgreSQL on 127.0.0.1:$pgport, s3s-fs on 127.0.0.1:$s3port (env in $DIR/env)"
}

stop() {
  [ -d "$DIR" ] || return 0
  if [ -f "$DIR/s3s-fs.pid" ]; then
    kill "$(cat "$DIR/s3s-fs.pid")" 2>/dev/null || true
  fi
  if [ -f "$DIR/pg/data/postmaster.pid" ]; then
    as_owner "$(pg_bin)/pg_ctl" -D "$DIR/pg/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
