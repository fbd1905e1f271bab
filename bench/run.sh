#!/usr/bin/env bash
# Consent-check benchmark: one command, `bash bench/run.sh` (or `make bench`).
#
# Prepares a fresh PostgreSQL database (scripts/prepare-postgres.sh), migrates,
# creates a tenant and an API key with the CLI, seeds 100,000 contacts with a
# granted e-mail consent (valid ledger, checked with `optinbase ledger verify`),
# measures the cached key authentication in process, then serves three targets
# with uvicorn (1 worker each, uvloop, httptools, no access log, 127.0.0.1) and
# loads each with wrk: OURS, (a) bare Litestar, (b) Litestar + raw asyncpg.
# See bench/README.md. Results: bench/results/ (latest.md, summary.json).
#
# Then the bulk part (bench/imports.py, bench/audience.py): import of
# BENCH_IMPORT_ROWS contacts through consent.imports beside a raw COPY, and on
# that tenant, segment count beside hand-written SQL and the HTTP CSV export
# (rows/s, server peak memory) beside a raw COPY of the audience.
#
# Then e-mail providers' events in (bench/inbound.py): events/s through
# POST /inbound/{provider}/{id} beside a bare Litestar endpoint doing the same
# signature check, in one run (results/inbound-*.json).
#
# BENCH_ONLY: all (default) | check | import | audience | inbound (audience imports
# first: the import is its data set). BENCH_IMPORT_ROWS (1000000).
# Settings (environment): BENCH_DB (optinbase_bench), BENCH_CONTACTS (100000),
# BENCH_DURATION (15 s), BENCH_WARMUP (5 s), BENCH_CONNECTIONS (32),
# BENCH_THREADS (2), BENCH_ROUNDS (2), BENCH_PORT (18080: ours, +1 bare, +2 raw),
# BENCH_UNLOADED_SECONDS (5; 0 skips the 1-connection runs), BENCH_STRICT (0;
# 1 exits 2 on a defect), PGADMIN_URL (postgresql://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
BENCH_DIR="$ROOT/bench"
RESULTS="$BENCH_DIR/results"

DB="${BENCH_DB:-optinbase_bench}"
CONTACTS="${BENCH_CONTACTS:-100000}"
DURATION="${BENCH_DURATION:-15}"
WARMUP="${BENCH_WARMUP:-5}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
THREADS="${BENCH_THREADS:-2}"
ROUNDS="${BENCH_ROUNDS:-2}"
UNLOADED="${BENCH_UNLOADED_SECONDS:-5}"
PORT="${BENCH_PORT:-18080}"
ONLY="${BENCH_ONLY:-all}"
IMPORT_ROWS="${BENCH_IMPORT_ROWS:-1000000}"
export PGADMIN_URL="${PGADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
PG_HOST=127.0.0.1
PG_PORT=5432
TENANT=bench
PURPOSE=newsletter

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ "$ONLY" =~ ^(all|check|import|audience|inbound)$ ]] || die "BENCH_ONLY must be all, check, import, audience or inbound"
want_check() { [[ "$ONLY" == all || "$ONLY" == check ]]; }
want_audience() { [[ "$ONLY" == all || "$ONLY" == audience ]]; }
want_inbound() { [[ "$ONLY" == all || "$ONLY" == inbound ]]; }
for value in "$IMPORT_ROWS" "$CONTACTS" "$DURATION" "$WARMUP" "$CONNECTIONS" "$THREADS" "$ROUNDS" "$UNLOADED" "$PORT"; do
  [[ "$value" =~ ^[0-9]+$ ]] || die "benchmark settings must be integers (got '$value')"
done
(( DURATION >= 1 && DURATION <= 300 )) || die "BENCH_DURATION must be 1..300 seconds"
(( WARMUP <= 120 && UNLOADED <= 60 && ROUNDS >= 1 && ROUNDS <= 5 )) || die "warm-up <= 120 s, unloaded <= 60 s, rounds 1..5"
(( CONTACTS >= 10 )) || die "BENCH_CONTACTS must be at least 10"

# --- prerequisites --------------------------------------------------------------
[[ -x "$VENV/bin/optinbase" && -x "$VENV/bin/uvicorn" ]] \
  || die "$VENV/bin/optinbase or uvicorn missing: run 'make install' first"
command -v psql >/dev/null || die "psql not found (PostgreSQL client)"
command -v curl >/dev/null || die "curl not found"
if want_check && ! command -v wrk >/dev/null; then
  log "wrk not found: installing the Debian package"
  SUDO=""; [[ "$(id -u)" == 0 ]] || SUDO="sudo"
  $SUDO apt-get install -y wrk >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq && $SUDO apt-get install -y wrk >/dev/null; } \
    || die "could not install wrk (apt-get install -y wrk)"
fi
if command -v pg_isready >/dev/null; then
  pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 5 \
    || die "PostgreSQL is not reachable at $PG_HOST:$PG_PORT (start it first)"
fi
psql "$PGADMIN_URL" -v ON_ERROR_STOP=1 -qAtc 'SELECT 1' >/dev/null 2>&1 \
  || die "cannot connect to PostgreSQL as the admin user ($PGADMIN_URL)"
for p in "$PORT" $((PORT + 1)) $((PORT + 2)) $((PORT + 3)); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    die "port 127.0.0.1:$p is already in use (set BENCH_PORT)"
  fi
done

mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.json "$RESULTS"/*.log "$RESULTS"/latest.md "$RESULTS"/bulk.md

# --- servers are always stopped -------------------------------------------------
PIDS=()
cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- database, tenant, key ------------------------------------------------------
log "preparing database $DB"
"$ROOT/scripts/prepare-postgres.sh" "$DB" >/dev/null
export DATABASE_URL="postgresql://optinbase_app@$PG_HOST:$PG_PORT/$DB"
export DATABASE_OWNER_URL="postgresql://optinbase_owner@$PG_HOST:$PG_PORT/$DB"
export OPTINBASE_ENV=development
# A throwaway signing key, so nothing is written beside the project.
SECRET_KEY="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(48))')"
export SECRET_KEY

"$VENV/bin/optinbase" migrate >"$RESULTS/migrate.log" 2>&1 || { cat "$RESULTS/migrate.log" >&2; die "migration failed"; }
"$VENV/bin/optinbase" tenants create "$TENANT" --name "Benchmark tenant" >&2
KEY="$("$VENV/bin/optinbase" keys create --tenant "$TENANT" --name bench 2>/dev/null | tail -n 1)"
[[ "$KEY" =~ ^obk_[0-9a-f]{16}_ ]] || die "keys create did not print a key"

UVICORN_OPTS=(--host 127.0.0.1 --workers 1 --loop uvloop --http httptools --no-access-log --log-level warning)
start() {  # name port app-args...
  local name=$1 port=$2; shift 2
  "$VENV/bin/uvicorn" "$@" --factory --port "$port" "${UVICORN_OPTS[@]}" \
    >"$RESULTS/server-$name.log" 2>&1 &
  PIDS+=("$!")
  eval "PID_$name=$!"
}
wait_healthy() {  # port (60 s: a shared machine under load starts slowly)
  for i in $(seq 300); do
    curl -fsS -o /dev/null "http://127.0.0.1:$1/health" 2>/dev/null && return 0
    (( i < 300 )) || { tail -n 20 "$RESULTS"/server-*.log >&2; die "server on port $1 did not start"; }
    sleep 0.2
  done
}

if want_check; then
# --- seed -----------------------------------------------------------------------
log "seeding $CONTACTS contacts with a granted e-mail consent"
"$PY" "$BENCH_DIR/seed.py" --tenant "$TENANT" --contacts "$CONTACTS" --purpose "$PURPOSE" \
  | tail -n 1 >"$RESULTS/seed.json"
TENANT_ID="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["tenant_id"])' "$RESULTS/seed.json")"
log "verifying the ledger"
VERIFY="$("$VENV/bin/optinbase" ledger verify --tenant "$TENANT")" || die "ledger verify failed: $VERIFY"
log "$VERIFY"
printf '{"ledger_verify": "%s"}\n' "$VERIFY" >"$RESULTS/env.json"

# --- key authentication, in process ---------------------------------------------
log "key authentication micro-benchmark"
"$PY" "$BENCH_DIR/keyauth.py" --key "$KEY" >"$RESULTS/keyauth.json"
log "batch consent check (1,000 items) beside a hand-written = ANY(\$1) query"
"$PY" "$BENCH_DIR/batch_check.py" --tenant-id "$TENANT_ID" >"$RESULTS/batch_check.json"

# --- servers --------------------------------------------------------------------
export BENCH_DB_URL="$DATABASE_URL" BENCH_TENANT_ID="$TENANT_ID"
start ours "$PORT" api.app:create_app
start bare $((PORT + 1)) --app-dir "$BENCH_DIR" baseline_apps:create_bare
start raw $((PORT + 2)) --app-dir "$BENCH_DIR" baseline_apps:create_raw
for p in "$PORT" $((PORT + 1)) $((PORT + 2)); do wait_healthy "$p"; done
"$PY" "$BENCH_DIR/smoke.py" --ours "http://127.0.0.1:$PORT" --bare "http://127.0.0.1:$((PORT + 1))" \
  --raw "http://127.0.0.1:$((PORT + 2))" --key "$KEY" --contacts "$CONTACTS" --purpose "$PURPOSE" >&2

# --- load -----------------------------------------------------------------------
export BENCH_KEY="$KEY" BENCH_CONTACTS="$CONTACTS" BENCH_PURPOSE="$PURPOSE"
load() {  # target port pid round connections threads duration warmup
  "$PY" "$BENCH_DIR/load.py" --target "$1" --url "http://127.0.0.1:$2" --pid "$3" \
    --round "$4" --connections "$5" --threads "$6" --duration "$7" --warmup "$8" \
    --database "$DB" --out "$RESULTS/load-$1-r$4.json"
}
log "load: $ROUNDS round(s) of bare, raw, ours (even rounds reversed); $CONNECTIONS connections, $THREADS threads, ${WARMUP}s warm-up + ${DURATION}s each"
for round in $(seq "$ROUNDS"); do
  order=(bare raw ours); (( round % 2 == 0 )) && order=(ours raw bare)  # cancel drift
  for target in "${order[@]}"; do
    case $target in
      ours) port=$PORT; pid=$PID_ours ;;
      bare) port=$((PORT + 1)); pid=$PID_bare ;;
      raw) port=$((PORT + 2)); pid=$PID_raw ;;
    esac
    load "$target" "$port" "$pid" "$round" "$CONNECTIONS" "$THREADS" "$DURATION" "$WARMUP"
  done
done
if (( UNLOADED > 0 )); then
  log "unloaded latency: 1 connection, ${UNLOADED}s each"
  load bare-c1 $((PORT + 1)) "$PID_bare" 1 1 1 "$UNLOADED" 1
  load raw-c1 $((PORT + 2)) "$PID_raw" 1 1 1 "$UNLOADED" 1
  load ours-c1 "$PORT" "$PID_ours" 1 1 1 "$UNLOADED" 1
fi

# --- report ---------------------------------------------------------------------
echo
STRICT=(); [[ "${BENCH_STRICT:-0}" == 1 ]] && STRICT=(--strict)
"$PY" "$BENCH_DIR/report.py" "$RESULTS" "${STRICT[@]}"
fi  # want_check

# --- bulk: import, segment count, export ------------------------------------------
if [[ "$ONLY" != check && "$ONLY" != inbound ]]; then
  BULK=bulk
  "$VENV/bin/optinbase" tenants create "$BULK" --name "Bulk benchmark tenant" >&2
  # A real server for the tenant's one-click unsubscribes during the import.
  start unsubscribe $((PORT + 3)) api.app:create_app
  wait_healthy $((PORT + 3))
  log "import: $IMPORT_ROWS contacts with one consent each through consent.imports (app role, RLS),"
  log "  one-click unsubscribes of the same tenant on the server meanwhile (port $((PORT + 3)))"
  "$PY" "$BENCH_DIR/imports.py" --tenant "$BULK" --rows "$IMPORT_ROWS" \
    --unsubscribe-url "http://127.0.0.1:$((PORT + 3))" | tail -n 1 >"$RESULTS/import.json" \
    || die "import benchmark failed"
  kill "$PID_unsubscribe"
  for _ in $(seq 50); do kill -0 "$PID_unsubscribe" 2>/dev/null || break; sleep 0.1; done
  if want_audience; then
    # What autovacuum would do after a bulk load (visibility map, statistics).
    log "VACUUM ANALYZE of the bulk-loaded tables"
    for table in contact consent_state consent_event; do
      psql "$DATABASE_OWNER_URL" -v ON_ERROR_STOP=1 -qc "VACUUM ANALYZE $table" || die "vacuum failed"
    done
    BULK_KEY="$("$VENV/bin/optinbase" keys create --tenant "$BULK" --name bulk 2>/dev/null | tail -n 1)"
    BULK_ID="$(psql "$DATABASE_OWNER_URL" -qAtc "SELECT id FROM tenant WHERE slug = '$BULK'")"
    start bulk $((PORT + 3)) api.app:create_app
    wait_healthy $((PORT + 3))
    log "segment count and export on the real server (port $((PORT + 3)))"
    echo
    "$PY" "$BENCH_DIR/audience.py" --url "http://127.0.0.1:$((PORT + 3))" --key "$BULK_KEY" \
      --pid "$PID_bulk" --tenant-id "$BULK_ID" --import-summary "$RESULTS/import.json" \
      --out "$RESULTS/bulk.json" | tee "$RESULTS/bulk.md"
  else
    echo
    "$PY" "$BENCH_DIR/audience.py" --report-only --import-summary "$RESULTS/import.json" \
      --out "$RESULTS/bulk.json" | tee "$RESULTS/bulk.md"
  fi
fi

# --- inbound: e-mail providers' events ------------------------------------------------
if want_inbound; then
  log "inbound provider events: Optinbase beside a bare Litestar endpoint with the same check"
  for run in "mailgun delivered 1" "mailgun hard_bounce 1" "sendgrid hard_bounce 50"; do
    read -r provider kind batch <<<"$run"
    "$PY" "$BENCH_DIR/inbound.py" --provider "$provider" --kind "$kind" --batch "$batch" \
      --seconds "$DURATION" | tail -n 1 | tee "$RESULTS/inbound-$provider-$kind.json" \
      || die "inbound benchmark failed"
  done
fi
