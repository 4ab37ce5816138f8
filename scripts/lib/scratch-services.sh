# Sourced by scripts that run loh on scratch services (scripts/measure-storage,
# scripts/bench-split): a scratch PostgreSQL database, a private nats-server with JetStream and a
# fresh signing key in a temporary folder, all removed on exit. After `scratch_start`:
#   $work $db_url $nats_port $nats_http $key_file $redis   and   scratch_wait_healthy PID PORT LOG
# Needs PostgreSQL at LOH_TEST_PG (default postgres://postgres@127.0.0.1:5432/postgres), Redis
# at REDIS_URL (default redis://127.0.0.1:6379) and nats-server (scripts/services).
# `scratch_start NAME private` runs a PostgreSQL cluster of its own instead, configured with the
# settings the production Compose file gives its `postgres` service (see scratch_private_pg).

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
  if [ -n "${pg_pid:-}" ]; then
    # The private cluster goes whole: stopped (fast), then its folder removed.
    "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$work/pg/data" -m fast -w -t 30 stop >/dev/null 2>&1 \
      || pkill -INT -f "$pg_bin/postgres -D $work/pg/data" 2>/dev/null || true
    wait "$pg_pid" 2>/dev/null || true
    rm -rf "$work/pg"
  else
    psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ "${LOH_KEEP_LOGS:-0}" = 1 ]; then echo "logs: $work"; else rm -rf "$work"; fi
}

# scratch_private_pg: initdb and start a PostgreSQL cluster in $work/pg on a free loopback port,
# with every `-c` setting of the `postgres` service's command in docker-compose.prod.yml (so a
# benchmark's database runs as production's does, not with the packaged defaults: 128 MB of
# shared buffers and a 1 GB WAL between checkpoints). The server is the newest installed here
# (Debian's; the Compose file runs postgres:16). Sets $admin to it, and $pg_pid, $pg_bin, $pg_as
# for the cleanup.
scratch_private_pg() {
  local settings=() s port
  pg_as=()
  pg_bin=$( (ls -d /usr/lib/postgresql/*/bin 2>/dev/null || true) | sort -V | tail -n 1)
  [ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] \
    || { echo "no PostgreSQL server binaries: run scripts/services" >&2; return 1; }
  local found=()
  mapfile -t found < <(awk '/^  postgres:/ { p = 1 } p && /command:/ { c = 1 } c { print } c && /\]/ { exit }' \
    docker-compose.prod.yml | grep -o '"[a-z_]*=[^"]*"' | tr -d '"' || true)
  for s in "${found[@]}"; do settings+=(-c "$s"); done
  [ ${#settings[@]} -gt 0 ] || { echo "no -c settings for postgres in docker-compose.prod.yml" >&2; return 1; }
  # PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
  mkdir -p "$work/pg"
  if [ "$(id -u)" = 0 ]; then chmod 711 "$work"; chown postgres "$work/pg"; pg_as=(runuser -u postgres --); fi
  "${pg_as[@]}" "$pg_bin/initdb" -D "$work/pg/data" -U postgres --auth=trust >"$work/initdb.log" 2>&1 \
    || { cat "$work/initdb.log" >&2; return 1; }
  port=$(free_port)
  # Its log (kept with LOH_KEEP_LOGS=1) times every autovacuum and checkpoint, to set beside the
  # tick writer's slow ticks.
  "${pg_as[@]}" "$pg_bin/postgres" -D "$work/pg/data" -p "$port" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories="$work/pg" -c log_autovacuum_min_duration=0 -c log_checkpoints=on \
    "${settings[@]}" >"$work/postgres.log" 2>&1 &
  pg_pid=$!
  admin="postgres://postgres@127.0.0.1:$port/postgres"
  for _ in $(seq 1 150); do
    psql -q "$admin" -c 'SELECT 1' >/dev/null 2>&1 && { echo "private PostgreSQL: ${settings[*]}" >&2; return 0; }
    kill -0 "$pg_pid" 2>/dev/null || break
    sleep 0.2
  done
  cat "$work/postgres.log" >&2
  return 1
}

# scratch_start NAME [private]: the database loh_NAME_PID (on a private cluster with `private`),
# nats-server (monitoring on $nats_http), the key.
scratch_start() {
  local nats_server
  nats_server=$(command -v nats-server || echo /usr/sbin/nats-server)
  [ -x "$nats_server" ] || { echo "no nats-server: run scripts/services" >&2; return 1; }
  admin=${LOH_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}
  redis=${REDIS_URL:-redis://127.0.0.1:6379}
  work=$(mktemp -d)
  db="loh_${1}_$$"
  trap scratch_cleanup EXIT
  [ "${2:-}" = private ] && scratch_private_pg
  db_url="${admin%/*}/$db"
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
