#!/usr/bin/env bash
# l2_test.sh - two machines with the Redis L2 (ctest label "tier"):
#   bash l2_test.sh path/to/forkcache-api path/to/forkcache-sync
# Starts redis-server (unix socket in a temp dir, --save ''), two
# forkcache-api servers A and B (--cache-file each, --l2, one SQLite file)
# and a forkcache-sync daemon per server, then checks with curl: a product
# computed on B is an L2 hit on A (no database query on A); a PUT on A is
# seen on B (its generation dropped through forkcache-sync) within 2 s, as a
# fresh value from one database query, and then served to A from the L2;
# Redis down -> both still answer from the database. Everything it starts is
# stopped on exit, pass or fail.
set -uo pipefail
API=${1:?usage: l2_test.sh FORKCACHE_API FORKCACHE_SYNC}
SYNC=${2:?usage: l2_test.sh FORKCACHE_API FORKCACHE_SYNC}
TMP=$(mktemp -d /tmp/forkcache-l2-test.XXXXXX)
SOCK=$TMP/redis.sock
PIDS=()
FAILS=0
CHECKS=0

cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
ok() { CHECKS=$((CHECKS + 1)); echo "ok   $*"; }
fail() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL $*"; }
expect() { # description, got, want
  if [ "$2" = "$3" ]; then ok "$1: $2"; else fail "$1: got '$2', want '$3'"; fi
}

start_redis() {
  redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save '' \
    --appendonly no --dir "$TMP" >>"$TMP/redis.log" 2>&1 &
  REDIS_PID=$!
  PIDS+=($REDIS_PID)
  for _ in $(seq 200); do redis-cli -s "$SOCK" ping >/dev/null 2>&1 && return; sleep 0.05; done
  fail "redis-server did not start"; exit 1
}
start_machine() { # name
  "$API" --port 0 --workers 2 --threads 2 --db "$TMP/db" --products 2000 \
    --cache-size 8M --ttl 60 --cache-file "$TMP/$1.fc" --l2 "unix:$SOCK" \
    >"$TMP/$1.out" 2>>"$TMP/$1.err" &
  PIDS+=($!)
  for _ in $(seq 400); do grep -q listening "$TMP/$1.out" 2>/dev/null && break; sleep 0.05; done
  [[ $(head -n 1 "$TMP/$1.out") =~ listening\ on\ (http://[^ ]+) ]] ||
    { fail "machine $1 did not start: $(tail -n 3 "$TMP/$1.err")"; exit 1; }
  eval "$1=${BASH_REMATCH[1]}"
  "$SYNC" "$TMP/$1.fc" --file --redis "unix:$SOCK" --namespace forkcache-api \
    >"$TMP/$1.sync.out" 2>>"$TMP/$1.sync.err" &
  PIDS+=($!)
  for _ in $(seq 200); do grep -q subscribed "$TMP/$1.sync.out" && return; sleep 0.05; done
  fail "forkcache-sync for $1 did not subscribe"; exit 1
}
stat() { curl -s "$1/_cache/stats" | jq "$2"; }
stock() { curl -s "$1/products/$2" | jq .stock; }
xcache() { curl -s -o /dev/null -D - "$1/products/$2" | tr -d '\r' | sed -n 's/^X-Cache: //Ip'; }

start_redis
start_machine A
start_machine B

# A product computed on B is an L2 hit on A.
s0=$(stock "$B" 7)
qa0=$(stat "$A" .backend_queries)
expect "A serves product 7 from the L2 (X-Cache)" "$(xcache "$A" 7)" HIT
expect "A ran no database query for it" "$(stat "$A" .backend_queries)" "$qa0"
expect "A's L2 hits" "$(stat "$A" .l2.hits)" 1

# PUT on A: B sees the new value within 2 s.
new=$((s0 + 1000))
curl -s -X PUT -d "{\"stock\": $new}" "$A/products/7" >/dev/null
got=
for _ in $(seq 40); do got=$(stock "$B" 7); [ "$got" = "$new" ] && break; sleep 0.05; done
expect "B sees A's PUT (stock)" "$got" "$new"
expect "A sees its own PUT at once" "$(stock "$A" 7)" "$new"
qa1=$(stat "$A" .backend_queries); qb1=$(stat "$B" .backend_queries)
expect "then A and B both hit (X-Cache on B)" "$(xcache "$B" 7)" HIT
expect "no more queries on A" "$(stat "$A" .backend_queries)" "$qa1"
expect "no more queries on B" "$(stat "$B" .backend_queries)" "$qb1"

# A list page depends on the category generation: computed once for both.
cat=$(curl -s "$A/products/7" | jq -r .category)
curl -s "$A/products?category=$cat&page=1" >/dev/null
qb2=$(stat "$B" .backend_queries)
curl -s "$B/products?category=$cat&page=1" >/dev/null
expect "B gets A's list page from the L2" "$(stat "$B" .backend_queries)" "$qb2"

# Redis down: both still answer (database), errors counted.
kill -KILL "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' "$B/products/8")
expect "B answers with Redis down" "$code" 200
[ "$(stat "$B" .l2.errors)" -gt 0 ] && ok "B counted L2 errors" || fail "B counted no L2 error"

# A sanitizer build reports in a server's or daemon's stderr, not its status.
if grep -l 'ERROR: AddressSanitizer\|WARNING: ThreadSanitizer\|runtime error:' \
    "$TMP"/*.err >/dev/null 2>&1; then
  fail "sanitizer report: $(grep -l 'Sanitizer\|runtime error:' "$TMP"/*.err)"
else
  ok "no sanitizer report"
fi
echo "$CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
