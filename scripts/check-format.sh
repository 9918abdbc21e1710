#!/usr/bin/env bash
# check-format.sh - every C source and header of the tree must be exactly as
# clang-format (.clang-format, kernel-like: tabs, return type on its own
# line, hand line breaks kept) would write it, except the files LEFT_OUT
# names below, each with its reason.
#
# LEFT_OUT holds files other work was changing when the check was widened:
# reformatting them then would only have made merge conflicts. Reformat one
# in a commit that changes nothing else (clang-format-14 -i FILE) and take
# it off the list. --report lists how far each file is from the style.
# Usage: scripts/check-format.sh [--report]
set -euo pipefail
cd "$(dirname "$0")/.."
CF=$(command -v clang-format-14 || command -v clang-format || true)
[ -n "$CF" ] || { echo "check-format: clang-format not installed (scripts/deps.sh)"; exit 1; }

# Being rewritten by other engineers in the session that widened the check
# (S3-FIFO eviction, the index, the item layout, the read path: issues #8,
# #9, #11 and the speed work). Widen when they have landed.
LEFT_OUT=(
  lib/api.c lib/atomics.h lib/evict.c lib/fault.h lib/fifo.c lib/fifo.h
  lib/index.c lib/index.h lib/internal.h lib/item.c lib/item.h
  lib/readers.c lib/readers.h lib/rebalance.c lib/repair.c lib/segment.c
  lib/slab.c lib/verify.c
  include/forkcache.h include/forkcache-redis.h
  tests/api/test_error_contract.c tests/api/test_evict.c tests/api/test_limits.c
  tests/api/test_open.c
  tests/fault/test_writer_kill.c tests/helpers/fc_internal.h
  tests/regress/test_3_item_klen_over_max.c
  tests/regress/test_8_hostile_lengths.c tests/regress/test_9_expiry.c
  tests/regress/test_9_scan_resistance.c tests/unit/test_fifo.c
  tests/unit/test_index.c tests/unit/test_item.c tests/unit/test_readers.c
  tests/unit/test_slab.c tests/unit/test_ttl_clock.c tests/unit/test_verify.c
)
declare -A SKIP
for f in "${LEFT_OUT[@]}"; do SKIP[$f]=1; done
mapfile -t ALL < <(git ls-files -co --exclude-standard -- \
  'lib/*.[ch]' 'include/*.h' 'redis/*.[ch]' 'tools/*.[ch]' 'tools/fuzz/*.[ch]' \
  'stress/*.[ch]' 'support/*.[ch]' 'tests/*.[ch]' 'bench/*.[ch]' \
  'examples/*.[ch]' 'python/*.[ch]' | sort -u)
FILES=()
for f in "${ALL[@]}"; do
  [ -f "$f" ] || continue
  [ -n "${SKIP[$f]:-}" ] || FILES+=("$f")
done
if [ "${1:-}" = --report ]; then
  for f in "${ALL[@]}"; do
    [ -f "$f" ] || continue
    n=$("$CF" "$f" | diff "$f" - | grep -c '^<' || true)
    printf '%5d lines differ  %s%s\n' "$n" "$f" "${SKIP[$f]:+  (left out)}"
  done | sort -n
  exit 0
fi
fail=0
for f in "${FILES[@]}"; do
  if ! "$CF" --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "check-format: $f is not clang-formatted:"
    "$CF" "$f" | diff -u "$f" - | head -20 || true
    fail=1
  fi
done
[ $fail -eq 0 ] || { echo "check-format: FAILED (fix: $CF -i FILE)"; exit 1; }
echo "check-format: ok (${#FILES[@]} files; ${#LEFT_OUT[@]} left out, listed in scripts/check-format.sh)"
