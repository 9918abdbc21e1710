#!/usr/bin/env bash
# insn-gate.sh - the deterministic instruction-count gate. Counts, under
# callgrind, the instructions executed inside fc_get (hit and miss) and
# fc_set, callees included (and fc_lease_get on a fresh hit, which must
# cost what fc_get does), per operation of the fixed workload of
# bench/forkcache-insn.c, and fails if one exceeds its threshold in
# bench/insn-thresholds.txt.
#
# Each op runs twice, with 1 and 2 passes over the keys; the difference is
# one steady-state pass, so set-up, prefill and first-call costs (and the
# driver's own loop, which callgrind does not count) drop out. The only
# variation left is the segment's random hash seed (probe lengths), worth
# about +-0.1 instruction per op.
#
# usage: scripts/insn-gate.sh FORKCACHE-INSN [--update]
#   --update  rewrite the thresholds as the measured figures + 5%
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:?usage: insn-gate.sh FORKCACHE-INSN [--update]}
update=${2:-}
thresholds=$here/bench/insn-thresholds.txt
keys=10000
command -v valgrind >/dev/null || { echo "insn-gate: valgrind not found"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

count() { # op, function, passes -> instructions inside the function
  valgrind --tool=callgrind --toggle-collect="$2" \
    --callgrind-out-file="$tmp/cg.out" "$bin" "$1" "$3" "$keys" \
    >"$tmp/log" 2>&1 || { cat "$tmp/log"; echo "insn-gate: $1 failed"; exit 1; }
  awk '$1 == "totals:" { print $2 }' "$tmp/cg.out"
}

fail=0
new=()
for op in get_hit get_miss set lease_hit; do
  fn=fc_get
  [ "$op" = set ] && fn=fc_set
  [ "$op" = lease_hit ] && fn=fc_lease_get
  one=$(count "$op" "$fn" 1)
  two=$(count "$op" "$fn" 2)
  per=$(awk -v a="$one" -v b="$two" -v k="$keys" 'BEGIN { printf "%.1f", (b - a) / k }')
  max=$(awk -v op="$op" '$1 == op { print $2 }' "$thresholds")
  if [ -z "$max" ]; then
    verdict="no-threshold"
    fail=1
  elif awk -v p="$per" -v m="$max" 'BEGIN { exit !(p <= m) }'; then
    verdict=ok
  else
    verdict=REGRESSION
    fail=1
  fi
  echo "insn: op=$op per_op=$per threshold=${max:-none} $verdict (callgrind, $fn incl. callees, $keys ops: $two - $one instructions)"
  eval "per_$op=$per"
  new+=("$op $(awk -v p="$per" 'BEGIN { printf "%d", p * 1.05 + 0.999 }')")
done

# A fresh hit through fc_lease_get must cost what fc_get's does (issue 11:
# within 10%): its ratio to get_hit, measured in the same run.
ratio=$(awk -v l="$per_lease_hit" -v g="$per_get_hit" 'BEGIN { printf "%.3f", l / g }')
if awk -v r="$ratio" 'BEGIN { exit !(r <= 1.10) }'; then verdict=ok; else verdict=REGRESSION; fail=1; fi
echo "insn: lease_hit/get_hit=$ratio max=1.10 $verdict"

if [ "$update" = --update ]; then
  { sed -n '/^#/p' "$thresholds"; printf '%s\n' "${new[@]}"; } >"$tmp/t"
  cp "$tmp/t" "$thresholds"
  echo "insn-gate: wrote $thresholds"
  exit 0
fi
[ $fail -eq 0 ] && echo "insn-gate: ok" || echo "insn-gate: FAILED (thresholds: $thresholds)"
exit $fail
