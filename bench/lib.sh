# Shared by the bench/ scripts: a throw-away PostgreSQL (run as the postgres account when root), a work
# directory removed at exit with everything started in it, and small helpers. Source it after setting KEEP
# and defining die().

find_pg_bin() {
  local dir
  for dir in "${GATEHOUSE_PG_BINDIR:-}" /usr/lib/postgresql/{15,16,17,14}/bin; do
    [[ -n "$dir" && -x "$dir/initdb" ]] && { echo "$dir"; return; }
  done
  dirname "$(command -v initdb)" 2>/dev/null || die "PostgreSQL server binaries not found (set GATEHOUSE_PG_BINDIR)"
}
PGBIN=$(find_pg_bin)
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[[ -x "$PGBOUNCER" ]] || die "pgbouncer not found"
command -v pgbench >/dev/null || die "pgbench not found"

# PostgreSQL and pgbouncer refuse to run as root: run them as the postgres account then.
RUNAS=()
if [[ $(id -u) -eq 0 ]]; then
  id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' account"
  # setpriv execs the program itself (runuser would stay in between and rewrite the signals we send).
  RUNAS=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench-XXXXXX")
chmod 755 "$WORK"
PIDS=()
cleanup() {
  local status=$?
  local pid
  for pid in "${PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ $status -ne 0 ]]; then
    echo "$(basename "$0"): failed; last lines of the logs:" >&2
    for log in "$WORK"/*.log; do [[ -f "$log" ]] && { echo "== $log" >&2; tail -n 20 "$log" >&2; }; done
  fi
  if [[ $KEEP -eq 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port nothing listens on (bash's /dev/tcp connect fails).
free_port() {
  local port
  while :; do
    port=$(( 20000 + RANDOM % 30000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

wait_for() {  # wait_for DESCRIPTION COMMAND...: retry for 30 s
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "$what did not come up"
}

http_ok() {  # http_ok PORT PATH: true on HTTP 200
  local line
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  read -r line <&3 || true
  exec 3<&-
  [[ "$line" == *" 200 "* ]]
}


# start_postgres PORT PASSWORD: initdb in $WORK/pg and start it on PORT, with a `bench` role (password PASSWORD)
# owning a `bench` database. Then psql_super runs psql as the superuser over the Unix socket.
start_postgres() {
  PG_PORT=$1
  local password=$2
  echo "postgres: initdb in $WORK/pg (port $PG_PORT)" >&2
  printf '%s\n' "$password" > "$WORK/pwfile"
  [[ ${#RUNAS[@]} -gt 0 ]] && chown postgres: "$WORK" "$WORK/pwfile"
  "${RUNAS[@]}" "$PGBIN/initdb" -D "$WORK/pg" -U postgres --pwfile="$WORK/pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync --no-instructions > "$WORK/initdb.log" 2>&1
  rm -f "$WORK/pwfile"
  cat >> "$WORK/pg/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$WORK'
max_connections = 100
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  "${RUNAS[@]}" "$PGBIN/postgres" -D "$WORK/pg" > "$WORK/postgres.log" 2>&1 &
  PIDS+=($!)
  wait_for PostgreSQL "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
  psql_super -d postgres -c "CREATE ROLE bench LOGIN PASSWORD '$password'" -c "CREATE DATABASE bench OWNER bench"
}
psql_super() { "${RUNAS[@]}" psql -X -q -v ON_ERROR_STOP=1 -h "$WORK" -p "$PG_PORT" -U postgres "$@"; }

# CPU time of a process's threads, in clock ticks, as "USER SYSTEM": all threads but the ones named $2, or only
# those ($3=only).
cpu_ticks() {
  local pid=$1 name=${2:-} mode=${3:-except} f comm user=0 sys=0 fields
  [[ -n "$pid" ]] || { echo 0 0; return; }
  for f in /proc/"$pid"/task/*/stat; do
    comm=$(cat "${f%/stat}/comm" 2>/dev/null) || continue
    if [[ -n "$name" ]]; then
      if [[ $mode == only && "$comm" != "$name" ]] || [[ $mode == except && "$comm" == "$name" ]]; then continue; fi
    fi
    fields=$(sed 's/^.*) //' "$f" 2>/dev/null) || continue
    read -r -a fields <<<"$fields"
    user=$(( user + fields[11] )); sys=$(( sys + fields[12] ))
  done
  echo "$user $sys"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
