# Sourced by scripts that run loh on scratch services (scripts/measure-storage,
# scripts/bench-split): a scratch PostgreSQL database, a private nats-server with JetStream and a
# fresh signing key in a temporary folder, all removed on exit. After `scratch_start`:
#   $work $db_url $nats_port $nats_http $key_file $redis   and   scratch_wait_healthy PID PORT LOG
# Needs PostgreSQL at LOH_TEST_PG (default postgres://postgres@127.0.0.1:5432/postgres), Redis
# at REDIS_URL (default redis://127.0.0.1:6379) and nats-server (scripts/services).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The loh binary: LOH_BIN, else the first of the arguments that is built.
scratch_bin() {
  local bin=${LOH_BIN:-}
  if [ -z "$bin" ]; then
    for candidate in "$@"; do [ -x "$candidate" ] && { bin=$candidate; break; }; done
  fi
  [ -n "$bin" ] && [ -x "$bin" ] || { echo "no loh binary: cargo build --release -p loh --all-features" >&2; return 1; }
  echo "$bin"
}

scratch_pids=()
scratch_cleanup() {
  local i pid
  # Last started first: loh before the nats-server it talks to.
  for ((i = ${#scratch_pids[@]} - 1; i >= 0; i--)); do
    pid=${scratch_pids[i]}
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  if [ "${LOH_KEEP_LOGS:-0}" = 1 ]; then echo "logs: $work"; else rm -rf "$work"; fi
}

# scratch_start NAME: the database loh_NAME_PID, nats-server (monitoring on $nats_http), the key.
scratch_start() {
  local nats_server
  nats_server=$(command -v nats-server || echo /usr/sbin/nats-server)
  [ -x "$nats_server" ] || { echo "no nats-server: run scripts/services" >&2; return 1; }
  admin=${LOH_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}
  redis=${REDIS_URL:-redis://127.0.0.1:6379}
  work=$(mktemp -d)
  db="loh_${1}_$$"
  db_url="${admin%/*}/$db"
  trap scratch_cleanup EXIT
  psql -q "$admin" -c "CREATE DATABASE $db" >/dev/null
  nats_port=$(free_port); nats_http=$(free_port)
  "$nats_server" -a 127.0.0.1 -p "$nats_port" -m "$nats_http" -js -sd "$work/js" >"$work/nats.log" 2>&1 &
  scratch_pids+=($!)
  key_file="$work/key.pem"
  openssl genrsa -out "$key_file" 2048 2>/dev/null
}

# scratch_wait_healthy PID PORT LOG: waits for /healthz on PORT, failing with LOG if PID exits.
scratch_wait_healthy() {
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$2/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$1" 2>/dev/null || { cat "$3" >&2; return 1; }
    sleep 0.2
  done
  echo "no /healthz on :$2 after 60 s" >&2
  return 1
}
