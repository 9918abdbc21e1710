#!/usr/bin/env bash
# loadtest.sh - drive forkcache-api in each cache mode with wrk and print one
# table: mode, requests/s, p50/p99 latency, backend queries, hit ratio, and
# the stampede check (200 concurrent requests for one cold, expensive key:
# how many backend computations they caused), then the backend queries of
# each mode by cause and by route.
#
#   examples/prefork-api/loadtest.sh [--seconds S] [--warmup S] [--ttl S]
#       [--keys K] [--rate R] [--connections C] [--wrk-threads T] [--workers W]
#       [--products N] [--cache-size SIZE] [--modes "shared per-worker off"]
#       [--api PATH] [--warm-restart]
#
# The default workload is what a deployment of the server looks like, with
# time compressed so that the run spans several TTLs: reads of a hot set
# (product ids ~ Zipf over 1..K, K = --keys, default 200, of a 100,000-row
# catalogue; category pages; popular searches; 0.1 % PUTs: zipf.lua), a TTL
# (--ttl, default 2 s) shorter than the measured window (--seconds, default
# 6), after an unmeasured warm-up (--warmup, default 2 s; none for off) so that the
# steady state is measured, not the cold start. Every mode gets the same
# offered load, --rate requests/s (default 2000; 0 = closed loop, as fast as
# each mode answers), so backend queries are compared for the same traffic:
# a mode that cannot keep up shows fewer requests/s (and its latency).
# --cache-size (default 64M)
# is the total in every mode: per-worker gives each worker SIZE/W. A key
# read less than once per TTL costs one query in every mode; --keys 100000
# adds that long tail (and makes the shared/per-worker ratio tend to 1).
#
# Each mode gets a fresh server (--port 0) on one catalogue (created once in
# a temp dir) and the same seeded request stream. The stampede runs first on
# the cold server: 200 parallel curl requests for a search no one asked for
# yet. --warm-restart also measures a restart: the hit ratio of the first
# 2 s after a restart, with and without --cache-file (TTL 60 s there).
# Needs wrk, curl, jq. Every server it starts is stopped on exit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
API=$ROOT/build/examples/prefork-api/forkcache-api
SECONDS_PER_MODE=6
CONNS=32
WRK_THREADS=2
WORKERS=2
PRODUCTS=100000
CACHE_SIZE=64M
MODES="shared per-worker off"
WARM_RESTART=0
STAMPEDE_N=200
TTL=2
WARMUP=2
KEYS=200
RATE=2000

while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECONDS_PER_MODE=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --wrk-threads) WRK_THREADS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --products) PRODUCTS=$2; shift 2 ;;
    --cache-size) CACHE_SIZE=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --api) API=$2; shift 2 ;;
    --warm-restart) WARM_RESTART=1; shift ;;
    --ttl) TTL=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --keys) KEYS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    *) echo "loadtest.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
for tool in wrk curl jq; do
  command -v "$tool" >/dev/null || { echo "loadtest.sh: $tool not found (scripts/deps.sh installs it)" >&2; exit 2; }
done
[ "$KEYS" -le "$PRODUCTS" ] || KEYS=$PRODUCTS
[ -x "$API" ] || { echo "loadtest.sh: $API not built (cmake --build build)" >&2; exit 2; }

TMP=$(mktemp -d /tmp/forkcache-loadtest.XXXXXX)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

start_server() { # args...: sets SERVER_PID, BASE
  : >"$TMP/out"
  "$API" --port 0 --workers "$WORKERS" --db "$TMP/catalogue.db" \
    --products "$PRODUCTS" --cache-size "$CACHE_SIZE" --ttl "$TTL" "$@" \
    >"$TMP/out" 2>>"$TMP/server.log" &
  SERVER_PID=$!
  for _ in $(seq 600); do
    grep -q listening "$TMP/out" && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  local line; line=$(head -n 1 "$TMP/out")
  [[ $line =~ listening\ on\ (http://[^ ]+) ]] ||
    { echo "loadtest.sh: server did not start:" >&2; tail -n 5 "$TMP/server.log" >&2; exit 1; }
  BASE=${BASH_REMATCH[1]}
}
stop_server() {
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || { echo "loadtest.sh: server exited with $?" >&2; exit 1; }
  SERVER_PID=
}
stats() { curl -s "$BASE/_cache/stats"; }

run_wrk() { # seconds [seed] -> the "wrk:" line of zipf.lua's done()
  wrk -t"$WRK_THREADS" -c"$CONNS" -d"${1}s" --latency -s "$HERE/zipf.lua" \
    "$BASE" -- "$KEYS" "${2:-1}" "$RATE" "$WRK_THREADS" >"$TMP/wrk.out" 2>&1 || { cat "$TMP/wrk.out" >&2; exit 1; }
  grep '^wrk: ' "$TMP/wrk.out" || { cat "$TMP/wrk.out" >&2; exit 1; }
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# 200 requests at once for one cold key; prints the backend computations.
stampede() {
  local q0 q1 codes
  q0=$(stats | jq .backend_queries)
  local url="$BASE/search?q=stampede+$RANDOM$RANDOM" args=()
  for _ in $(seq "$STAMPEDE_N"); do args+=(-o /dev/null "$url"); done
  codes=$(curl -s --parallel --parallel-immediate --parallel-max "$STAMPEDE_N" \
    -w '%{http_code}\n' "${args[@]}" 2>/dev/null | grep -c '^200$' || true)
  q1=$(stats | jq .backend_queries)
  [ "$codes" = "$STAMPEDE_N" ] || echo "loadtest.sh: stampede: only $codes of $STAMPEDE_N answered 200" >&2
  echo $((q1 - q0))
}

rate_txt="$RATE requests/s offered"; [ "$RATE" != 0 ] || rate_txt="closed loop"
echo "forkcache-api load test: $PRODUCTS products (reads Zipf over a hot set of $KEYS), $WORKERS workers, wrk $WRK_THREADS threads x $CONNS connections, $rate_txt, ${SECONDS_PER_MODE} s per mode after ${WARMUP} s warm-up, ttl $TTL s, cache $CACHE_SIZE in all"
declare -A RPS BQ RQ
rows=() causes=()
for mode in $MODES; do
  start_server --cache "$mode"
  st=$(stampede)
  # Off has nothing to warm up.
  [ "$WARMUP" = 0 ] || [ "$mode" = off ] || run_wrk "$WARMUP" 2 >/dev/null
  s0=$(stats)
  line=$(run_wrk "$SECONDS_PER_MODE")
  s1=$(stats)
  stop_server
  # The measured window's differences, in one jq: backend queries, hits
  # (fresh or stale), misses, writes, then the causes row.
  read -r bq hits miss wq crow < <(jq -rn --argjson a "$s0" --argjson b "$s1" --arg m "$mode" '
    def d(f): (($b | f) // 0) - (($a | f) // 0);
    [d(.backend_queries), d(.hits + .stale), d(.misses),
     d(.queries_by_cause.write),
     ([$m, d(.queries_by_cause.first), d(.queries_by_cause.ttl),
       d(.queries_by_cause.invalidated), d(.queries_by_cause.evicted),
       d(.queries_by_cause.lease_timeout), d(.queries_by_cause.no_lease),
       d(.queries_by_cause.uncached), d(.queries_by_cause.write),
       d(.queries_by_route.product), d(.queries_by_route.list),
       d(.queries_by_route.search), d(.gens_lost)] | map(tostring) | join(","))]
    | map(tostring) | join(" ")')
  causes+=("${crow//,/ }")
  nreq=$(field requests "$line")
  read -r ratio per1k rq1k < <(awk -v h="$hits" -v m="$miss" -v q="$bq" -v w="$wq" -v n="$nreq" \
    'BEGIN { printf "%.4f %.1f %.1f\n", h + m ? h / (h + m) : 0, n ? 1000 * q / n : 0, n ? 1000 * (q - w) / n : 0 }')
  RPS[$mode]=$(field rps "$line"); BQ[$mode]=$per1k; RQ[$mode]=$rq1k
  errs=$(( $(field errors "$line") + $(field non2xx "$line") ))
  rows+=("$(printf '%-11s %11s %8s %8s %16s %12s %10s %9s %7s' "$mode" "${RPS[$mode]}" \
    "$(field p50_ms "$line")" "$(field p99_ms "$line")" "$bq" "$per1k" "$ratio" "$st" "$errs")")
done
printf '%-11s %11s %8s %8s %16s %12s %10s %9s %7s\n' mode requests/s p50_ms p99_ms backend_queries queries/1k_req hit_ratio stampede errors
printf '%s\n' "${rows[@]}"
echo "(stampede: backend computations caused by $STAMPEDE_N concurrent requests for one cold search)"
echo "backend queries by cause (first = key not stored in this cache before; ttl = expired; invalidated = by a PUT's"
echo "generation bump; evicted = stored, unexpired, gone) and by route; gens_lost = generations evicted:"
printf '%s\n' "mode first ttl invalidated evicted lease_timeout no_lease uncached write product list search gens_lost" \
  "${causes[@]}" | column -t
if [ -n "${BQ[shared]:-}" ] && [ -n "${BQ[per-worker]:-}" ]; then
  awk -v bs="${BQ[shared]}" -v bp="${BQ[per-worker]}" -v rs="${RPS[shared]}" -v rp="${RPS[per-worker]}" -v w="$WORKERS" \
    -v qs="${RQ[shared]}" -v qp="${RQ[per-worker]}" \
    'BEGIN { printf "shared vs per-worker: backend queries per request x%.3f (reads only, without the PUTs'"'"' own writes: x%.3f; 1/workers = %.3f), requests/s x%.2f\n", bp ? bs / bp : 0, qp ? qs / qp : 0, 1 / w, rp ? rs / rp : 0 }'
fi

if [ "$WARM_RESTART" = 1 ]; then
  # The first 2 s after a restart, with the cache in a file and in shm.
  # TTL 60 s, a deployment's: a restart keeps the remaining TTLs, and the
  # short TTL of the table would run out during the restart itself.
  for kind in cache-file shm; do
    args=(--cache shared --ttl 60)
    [ "$kind" = cache-file ] && args+=(--cache-file "$TMP/cache.fc")
    start_server "${args[@]}"
    run_wrk "$SECONDS_PER_MODE" 2 >/dev/null
    stop_server
    start_server "${args[@]}"
    line=$(run_wrk 2)
    s=$(stats)
    stop_server
    printf 'warm restart (ttl 60 s): %-10s first 2 s after restart: hit_ratio=%s backend_queries=%s requests/s=%s\n' \
      "$kind" "$(jq .hit_ratio <<<"$s")" "$(jq .backend_queries <<<"$s")" "$(field rps "$line")"
  done
fi
