#!/usr/bin/env bash
# mutants.sh - mutation testing of lib/'s safety checks.
#
# Applies each single-line mutant of scripts/mutants.txt (file | code |
# replacement | tests) to a scratch copy of the tree, builds the library and
# the listed tests there, runs them, and reports the mutant as KILLED (a
# test failed) or SURVIVED (all passed: the check is untested). A mutant
# whose code is not found is reported as MISSING (the list is stale), one
# that does not compile as UNBUILT. Exit 1 if any survived, is missing or
# did not build.
#
# Usage: scripts/mutants.sh [--quick] [--keep]
#   --quick  only the lines marked "quick" (a few minutes)
#   --keep   keep the scratch tree (printed)
# Not part of scripts/test.sh (a full run rebuilds once per mutant: about
# 20-40 minutes on 2 cores); run it after changing a check or its tests.
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
QUICK=0 KEEP=0
for a in "$@"; do
  case $a in
    --quick) QUICK=1 ;;
    --keep) KEEP=1 ;;
    *) echo "usage: $0 [--quick] [--keep]" >&2; exit 2 ;;
  esac
done
WORK=$(mktemp -d /tmp/fc-mutants.XXXXXX)
[ $KEEP = 1 ] || trap 'rm -rf "$WORK"' EXIT
echo "mutants: scratch tree $WORK"
(cd "$SRC" && tar --exclude='./build*' --exclude=./.git -cf - .) | tar -xf - -C "$WORK"
cmake -S "$WORK" -B "$WORK/build" -DFC_WERROR=ON -DFC_SUBDIRS=tests >"$WORK/configure.log" 2>&1 ||
  { cat "$WORK/configure.log"; exit 1; }

killed=0 survived=0 missing=0
SURVIVORS=()
n=0
while IFS= read -r line; do
  case $line in ''|'#'*) continue ;; esac
  q=0
  if [[ $line == quick\ * ]]; then q=1; line=${line#quick }; fi
  [ $QUICK = 0 ] || [ $q = 1 ] || continue
  # fields are separated by " | " (space, bar, space), so "||" in code is safe
  IFS=$'\x1f' read -r file code repl tests < <(/usr/bin/python3 -c '
import sys
f = [x.strip() for x in sys.argv[1].split(" | ")]
if len(f) != 4:
    sys.exit("mutants.txt: need 4 fields separated by \" | \": " + sys.argv[1])
print("\x1f".join(f))' "$line")
  n=$((n + 1))
  what="$file: '$code' -> '$repl'"
  cp "$WORK/$file" "$WORK/$file.orig"
  if ! /usr/bin/python3 - "$WORK/$file" "$code" "$repl" <<'PY'
import sys
p, code, repl = sys.argv[1:4]
s = open(p).read()
if code not in s:
    sys.exit(1)
open(p, 'w').write(s.replace(code, repl, 1))
PY
  then
    echo "MISSING  #$n $what"
    missing=$((missing + 1)); SURVIVORS+=("MISSING #$n $what")
    continue
  fi
  targets=()
  IFS='|' read -ra tl <<<"$tests"
  for t in "${tl[@]}"; do targets+=("$(echo "$t" | tr '/' '_')"); done
  regex="^($(IFS='|'; echo "${tl[*]}"))\$"
  if ! cmake --build "$WORK/build" -j2 --target "${targets[@]}" >"$WORK/build.log" 2>&1; then
    echo "UNBUILT  #$n $what (the mutant does not compile: fix the list)"
    missing=$((missing + 1)); SURVIVORS+=("UNBUILT #$n $what")
  elif (cd "$WORK/build" && ctest -R "$regex" --timeout 300 >"$WORK/ctest.log" 2>&1); then
    echo "SURVIVED #$n $what (tests: $tests)"
    survived=$((survived + 1)); SURVIVORS+=("#$n $what")
  else
    echo "KILLED   #$n $what"
    killed=$((killed + 1))
  fi
  mv "$WORK/$file.orig" "$WORK/$file"
done <"$SRC/scripts/mutants.txt"
# leave the scratch build matching the tree
echo "mutants: $n run, $killed killed, $survived survived, $missing missing"
for s in "${SURVIVORS[@]:+${SURVIVORS[@]}}"; do echo "  survivor: $s"; done
[ $survived -eq 0 ] && [ $missing -eq 0 ]
