#!/usr/bin/env bash
# loadtest_test.sh - smoke test of loadtest.sh (ctest http/loadtest): a
# short run of every mode must print the table and the causes, shared mode's
# stampede must be one computation, off's one per answered request, and each
# mode's causes must add up to its backend queries.
#   bash loadtest_test.sh path/to/forkcache-api
set -uo pipefail
API=${1:?usage: loadtest_test.sh path/to/forkcache-api}
HERE=$(cd "$(dirname "$0")" && pwd)
out=$(bash "$HERE/loadtest.sh" --api "$API" --seconds 1 --warmup 1 --rate 500 \
  --products 3000 --keys 100 2>&1) || { echo "$out"; echo "FAIL: loadtest.sh exited $?"; exit 1; }
echo "$out"
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }
row() { awk -v m="$1" '$1 == m && NF == 9' <<<"$out"; }
crow() { awk -v m="$1" '$1 == m && NF == 13' <<<"$out"; }
for m in shared per-worker off; do
  check "$m: a table row" '[ -n "$(row $m)" ]'
  check "$m: a causes row" '[ -n "$(crow $m)" ]'
  # backend_queries (column 5) = the 8 causes (columns 2-9) = the routes
  # (product, list, search, and write, which is the put route). A query is
  # counted when it runs, its cause when its computation returns: up to one
  # computation per serving thread (2 workers x 4) may be between the two
  # when wrk stops (a request it gave up on).
  check "$m: causes add up to backend queries (within 8 in flight)" \
    'd=$(( $(row $m | awk "{print \$5}") - $(crow $m | awk "{print \$2+\$3+\$4+\$5+\$6+\$7+\$8+\$9}") )); [ "$d" -ge 0 ] && [ "$d" -le 8 ]'
  check "$m: routes add up to the causes (within 8 in flight)" \
    'd=$(crow $m | awk "{d = \$2+\$3+\$4+\$5+\$6+\$7+\$8 - \$10-\$11-\$12; print d < 0 ? -d : d}"); [ "$d" -le 8 ]'
done
check "shared: stampede is one computation" '[ "$(row shared | awk "{print \$8}")" = 1 ]'
check "per-worker: stampede is at most one per worker" '[ "$(row per-worker | awk "{print \$8}")" -le 2 ]'
# Off computes once per answered request (under heavy load some of the 200
# may be dropped by --conn-timeout: loadtest.sh says so).
check "off: no single-flight (>= 100 computations)" '[ "$(row off | awk "{print \$8}")" -ge 100 ]'
check "the shared vs per-worker line" 'grep -q "^shared vs per-worker: backend queries per request x" <<<"$out"'
[ "$fails" = 0 ]
