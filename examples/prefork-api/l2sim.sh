#!/usr/bin/env bash
# l2sim.sh - two simulated machines behind one database, with and without
# the shared Redis L2 (docs/redis.md): prints the database queries of each.
#
#   examples/prefork-api/l2sim.sh [--seconds S] [--connections C]
#       [--workers W] [--products N] [--ttl S] [--build DIR]
#
# Machine A and machine B are two forkcache-api servers, each with its own
# forkcache segment (a --cache-file) and its own forkcache-sync daemon, on
# one SQLite catalogue (the shared database) and one redis-server (unix
# socket in a temp dir). Both get the same seeded Zipf stream (zipf.lua,
# 0.1 % PUTs: one population of users spread by a load balancer) at once,
# first without --l2, then with --l2. Every process it starts is stopped on
# exit. Needs wrk, curl, jq, redis-server.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$ROOT/build
SECS=10
CONNS=16
WORKERS=2
PRODUCTS=100000
TTL=60
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECS=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --products) PRODUCTS=$2; shift 2 ;;
    --ttl) TTL=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "l2sim.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
API=$BUILD/examples/prefork-api/forkcache-api
SYNC=$BUILD/tools/forkcache-sync
for tool in wrk curl jq redis-server; do
  command -v "$tool" >/dev/null || { echo "l2sim.sh: $tool not found (scripts/deps.sh)" >&2; exit 2; }
done
[ -x "$API" ] && [ -x "$SYNC" ] || { echo "l2sim.sh: build first (cmake --build $BUILD)" >&2; exit 2; }

TMP=$(mktemp -d /tmp/forkcache-l2sim.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
SOCK=$TMP/redis.sock

redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save '' \
  --appendonly no --dir "$TMP" >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || { echo "l2sim.sh: redis-server did not start" >&2; exit 1; }

start_machine() { # name, extra args... -> prints the base URL
  local m=$1; shift
  rm -f "$TMP/$m.fc" "$TMP/$m.out"
  "$API" --port 0 --workers "$WORKERS" --db "$TMP/catalogue.db" \
    --products "$PRODUCTS" --ttl "$TTL" --cache-file "$TMP/$m.fc" "$@" \
    >"$TMP/$m.out" 2>>"$TMP/$m.log" &
  PIDS+=($!)
  for _ in $(seq 600); do grep -q listening "$TMP/$m.out" 2>/dev/null && break; sleep 0.05; done
  [[ $(head -n 1 "$TMP/$m.out") =~ listening\ on\ (http://[^ ]+) ]] ||
    { echo "l2sim.sh: machine $m did not start" >&2; tail -n 5 "$TMP/$m.log" >&2; exit 1; }
  echo "${BASH_REMATCH[1]}"
}
start_sync() { # name
  "$SYNC" "$TMP/$1.fc" --file --redis "unix:$SOCK" --namespace forkcache-api \
    >"$TMP/$1.sync.out" 2>>"$TMP/$1.sync.log" &
  PIDS+=($!)
  for _ in $(seq 200); do grep -q subscribed "$TMP/$1.sync.out" && return; sleep 0.05; done
  echo "l2sim.sh: forkcache-sync for $1 did not subscribe" >&2; exit 1
}
stop_all_but_redis() {
  local keep=${PIDS[0]}
  for p in "${PIDS[@]:1}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:1}"; do wait "$p" 2>/dev/null || true; done
  PIDS=("$keep")
}
wrk_run() { # base, seed, out
  wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$HERE/zipf.lua" "$1" -- "$PRODUCTS" "$2" >"$3" 2>&1
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2"; }

# The catalogue once, so both runs start from the same database.
"$API" --port 0 --workers 1 --db "$TMP/catalogue.db" --products "$PRODUCTS" \
  --cache off >"$TMP/init.out" 2>&1 &
ipid=$!
for _ in $(seq 1200); do grep -q listening "$TMP/init.out" 2>/dev/null && break; sleep 0.05; done
kill -TERM "$ipid"; wait "$ipid" 2>/dev/null || true

echo "l2sim: 2 machines x $WORKERS workers, $PRODUCTS products, TTL ${TTL}s, wrk 1 thread x $CONNS connections per machine, ${SECS}s, Zipf(0.99) reads + 0.1% PUTs"
printf '%-6s %12s %12s %10s %10s %10s %12s %8s\n' mode requests_A requests_B db_A db_B db_total db_per_1k_req l2_hits
for mode in no-l2 l2; do
  args=()
  [ "$mode" = l2 ] && args=(--l2 "unix:$SOCK")
  redis-cli -s "$SOCK" flushall >/dev/null 2>&1 || true
  A=$(start_machine A "${args[@]}")
  B=$(start_machine B "${args[@]}")
  start_sync A
  start_sync B
  wrk_run "$A" 1 "$TMP/wrkA" & wa=$!
  wrk_run "$B" 1 "$TMP/wrkB" & wb=$!
  wait "$wa" "$wb"
  sa=$(curl -s "$A/_cache/stats"); sb=$(curl -s "$B/_cache/stats")
  stop_all_but_redis
  ra=$(grep '^wrk: ' "$TMP/wrkA" | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
  rb=$(grep '^wrk: ' "$TMP/wrkB" | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
  qa=$(jq .backend_queries <<<"$sa"); qb=$(jq .backend_queries <<<"$sb")
  l2h=$(( $(jq '.l2.hits // 0' <<<"$sa") + $(jq '.l2.hits // 0' <<<"$sb") ))
  printf '%-6s %12s %12s %10s %10s %10s %12s %8s\n' "$mode" "$ra" "$rb" "$qa" "$qb" \
    $((qa + qb)) "$(awk -v q=$((qa + qb)) -v n=$((ra + rb)) 'BEGIN { printf "%.1f", n ? 1000 * q / n : 0 }')" "$l2h"
done
echo "(db_*: SQL statements run by each machine; l2_hits: L1 misses answered by Redis instead)"
