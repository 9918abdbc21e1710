#!/usr/bin/env bash
# check-atomics.sh - one atomics vocabulary: lib/ reaches shared words only
# through lib/atomics.h (whose TSan mapping then sees every access).
#
# Fails on a raw __atomic_*, __sync_* or ck_pr_* call in lib/ outside
# lib/atomics.h, and on liburcu's uatomic_* outside the files allowed below
# (process-local words only: never in the segment). Comments are ignored.
# Usage: scripts/check-atomics.sh [--src DIR]
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
[ "${1:-}" = --src ] && SRC=$(cd "$2" && pwd)
# uatomic_* on process-local variables: the fork generation (readers.c),
# the fault countdown (fault.c) and the test clock offset (clock.c).
UATOMIC_OK="clock.c fault.c readers.c"
fail=0
for f in "$SRC"/lib/*.c "$SRC"/lib/*.h; do
  b=$(basename "$f")
  [ "$b" = atomics.h ] && continue
  # strip /* ... */ and // comments, keep line numbers
  code=$(sed -e 's://.*$::' "$f" | awk '{
    line = $0; out = "";
    while (length(line) > 0) {
      if (inc) { i = index(line, "*/"); if (!i) { line = ""; break } line = substr(line, i + 2); inc = 0 }
      else { i = index(line, "/*"); if (!i) { out = out line; line = ""; break }
             out = out substr(line, 1, i - 1); line = substr(line, i + 2); inc = 1 }
    }
    print out }')
  hits=$(printf '%s\n' "$code" | grep -nE '\b(__atomic_[a-z_]+|__sync_[a-z_]+|ck_pr_[a-z_0-9]+)\s*\(' || true)
  if [ -n "$hits" ]; then
    echo "check-atomics: lib/$b uses a raw atomic outside lib/atomics.h:"
    printf '%s\n' "$hits" | sed 's/^/  /'
    fail=1
  fi
  if [[ " $UATOMIC_OK " != *" $b "* ]]; then
    hits=$(printf '%s\n' "$code" | grep -nE '\buatomic_[a-z_]+\s*\(' || true)
    if [ -n "$hits" ]; then
      echo "check-atomics: lib/$b uses uatomic_* (allowed only in: $UATOMIC_OK):"
      printf '%s\n' "$hits" | sed 's/^/  /'
      fail=1
    fi
  fi
done
if [ $fail -ne 0 ]; then echo "check-atomics: FAILED"; exit 1; fi
echo "check-atomics: ok (lib/ uses lib/atomics.h only; uatomic_* only in $UATOMIC_OK)"
