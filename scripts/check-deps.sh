#!/usr/bin/env bash
# check-deps.sh - enforce the one-way module order of lib/, tools/ (the
# forkcache CLI) and stress/ (forkcache-stress).
#
# Each part's order is the list between "BEGIN MODULE ORDER" and "END
# MODULE ORDER" in its order file (lib/internal.h, tools/cli_args.h,
# stress/stress.h; top calls down; one line per <dir>/<name>.c). A module
# may depend only on modules listed BELOW it. Dependencies are read from
#   - the object files: a symbol one file leaves undefined (nm -u) that
#     another file of the part defines (nm --defined-only) is a call or
#     reference;
#   - the include graph: X.c or X.h including "Y.h" of module Y.
# The part's shared headers (lib: internal.h, atomics.h) hold shared types
# only and may include no module header. Fails (exit 1) on an upward
# dependency, a cycle, a .c of the part missing from the list or a listed
# module without its .c; prints the order and each file's dependencies
# either way. A .c that is another program's (tools/forkcache-sync.c) is
# named on a "NOT IN ORDER:" line inside the block.
#
# Usage: scripts/check-deps.sh [--src DIR] [--objdir DIR] [PART...]
#   --src DIR     the tree to check (default: this script's tree)
#   --objdir DIR  (lib only) use the objects there (NAME.c.o or NAME.o)
#                 instead of compiling lib/*.c into a temporary directory
#   PART          lib, tools or stress (default: all three)
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
OBJDIR=
PARTS=()
while [ $# -gt 0 ]; do
  case $1 in
    --src) SRC=$(cd "$2" && pwd); shift 2 ;;
    --objdir) OBJDIR=$(cd "$2" && pwd); shift 2 ;;
    lib|tools|stress) PARTS+=("$1"); shift ;;
    *) echo "usage: $0 [--src DIR] [--objdir DIR] [lib|tools|stress ...]" >&2; exit 2 ;;
  esac
done
[ ${#PARTS[@]} -gt 0 ] || PARTS=(lib tools stress)
if [ ${#PARTS[@]} -gt 1 ]; then
  rc=0
  for p in "${PARTS[@]}"; do
    args=(--src "$SRC")
    [ -z "$OBJDIR" ] || [ "$p" != lib ] || args+=(--objdir "$OBJDIR")
    bash "$0" "${args[@]}" "$p" || rc=1
  done
  exit $rc
fi
PART=${PARTS[0]}
case $PART in
  lib) ORDER_FILE=internal.h SHARED=" internal atomics " ;;
  tools) ORDER_FILE=cli_args.h SHARED=" cli cli_args " ;;
  stress) ORDER_FILE=stress.h SHARED=" stress " ;;
esac
[ "$PART" = lib ] || OBJDIR=
LIB=$SRC/$PART
fail=0
err() { echo "check-deps: ERROR: $*"; fail=1; }

# --- the order -----------------------------------------------------------
mapfile -t ORDER < <(sed -n '/BEGIN MODULE ORDER/,/END MODULE ORDER/p' "$LIB/$ORDER_FILE" |
  sed -n 's/^ \*   \([a-z][a-z0-9_]*\)  .*/\1/p')
[ ${#ORDER[@]} -gt 0 ] || { echo "check-deps: no MODULE ORDER list in $PART/$ORDER_FILE"; exit 1; }
OTHER=" $(sed -n '/BEGIN MODULE ORDER/,/END MODULE ORDER/p' "$LIB/$ORDER_FILE" |
  sed -n 's/^ \* *NOT IN ORDER: *\(.*\)$/\1/p' | tr -d ',') "
declare -A RANK # larger = higher up
n=${#ORDER[@]}
for i in "${!ORDER[@]}"; do
  m=${ORDER[$i]}
  [ -z "${RANK[$m]:-}" ] || err "module $m listed twice"
  RANK[$m]=$((n - i))
  [ -f "$LIB/$m.c" ] || err "module $m is listed but $PART/$m.c does not exist"
done
for f in "$LIB"/*.c; do
  m=$(basename "$f" .c)
  [[ $OTHER == *" $m "* ]] && continue
  [ -n "${RANK[$m]:-}" ] || err "$PART/$m.c is not in the MODULE ORDER list ($PART/$ORDER_FILE)"
done

# --- dependencies --------------------------------------------------------
declare -A DEPS  # "X Y" -> "call sym" / "include file"
add_dep() { # from to why
  [ "$1" != "$2" ] || return 0
  local k="$1 $2"
  if [ -z "${DEPS[$k]:-}" ]; then DEPS[$k]=$3
  elif [[ ${DEPS[$k]} != *"$3"* && ${#DEPS[$k]} -lt 200 ]]; then DEPS[$k]+="; $3"; fi
}

for f in "$LIB"/*.c "$LIB"/*.h; do
  b=$(basename "$f"); x=${b%.*}
  [[ $OTHER == *" $x "* ]] && continue
  while read -r inc; do
    y=${inc%.h}
    if [[ $SHARED == *" $x "* ]]; then
      [ -z "${RANK[$y]:-}" ] || err "$PART/$b (shared types) includes module header $inc"
      continue
    fi
    [ -n "${RANK[$y]:-}" ] || continue # shared or public header
    [ -n "${RANK[$x]:-}" ] || { err "$PART/$b is neither a module nor shared"; continue; }
    add_dep "$x" "$y" "includes $inc ($b)"
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done

TMP=
if [ -z "$OBJDIR" ]; then
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  CFLAGS_DEPS=$(pkg-config --cflags ck liburcu libxxhash)
  [ "$PART" != tools ] || CFLAGS_DEPS+=" $(pkg-config --cflags hiredis)"
  for m in "${ORDER[@]}"; do
    [ -f "$LIB/$m.c" ] || continue
    # shellcheck disable=SC2086
    ${CC:-cc} -std=c11 -D_GNU_SOURCE -DFC_BUILDING_LIBRARY -I"$SRC/include" -I"$LIB" \
      -I"$SRC/lib" -I"$SRC/support" -I"$SRC/redis" \
      $CFLAGS_DEPS -c "$LIB/$m.c" -o "$TMP/$m.o" || err "$PART/$m.c does not compile"
  done
  OBJDIR=$TMP
fi
obj() { # module -> object path
  if [ -f "$OBJDIR/$1.c.o" ]; then echo "$OBJDIR/$1.c.o"; else echo "$OBJDIR/$1.o"; fi
}
declare -A DEF
for m in "${ORDER[@]}"; do
  o=$(obj "$m"); [ -f "$o" ] || { err "no object for $m in $OBJDIR"; continue; }
  while read -r _ _ sym; do DEF[$sym]=$m; done < <(nm --defined-only -g "$o" | awk 'NF == 3')
done
for m in "${ORDER[@]}"; do
  o=$(obj "$m"); [ -f "$o" ] || continue
  while read -r _ sym; do
    y=${DEF[$sym]:-}
    [ -n "$y" ] && add_dep "$m" "$y" "calls $sym"
  done < <(nm -u "$o")
done

# --- report and check ----------------------------------------------------
echo "$PART/ module order (top calls down; from $PART/$ORDER_FILE):"
for m in "${ORDER[@]}"; do
  ds=()
  for y in "${ORDER[@]}"; do [ -n "${DEPS[$m $y]:-}" ] && ds+=("$y"); done
  printf '  %-14s -> %s\n' "$m" "${ds[*]:-(none)}"
done
for k in "${!DEPS[@]}"; do
  read -r x y <<<"$k"
  if [ "${RANK[$y]}" -ge "${RANK[$x]}" ]; then
    err "upward dependency: $x -> $y ($x ${DEPS[$k]}); $y is above $x in the order"
  fi
done

# Cycles (any cycle has an upward edge, but name it): DFS over the graph.
declare -A STATE
STACK=()
cycle_dfs() { # node
  local x=$1 y i
  STATE[$x]=1
  STACK+=("$x")
  for y in "${ORDER[@]}"; do
    [ -n "${DEPS[$x $y]:-}" ] || continue
    if [ "${STATE[$y]:-0}" = 1 ]; then
      local path=""
      for ((i = ${#STACK[@]} - 1; i >= 0; i--)); do
        path="${STACK[$i]} -> $path"
        [ "${STACK[$i]}" = "$y" ] && break
      done
      err "cycle: $path$y"
    elif [ "${STATE[$y]:-0}" = 0 ]; then
      cycle_dfs "$y"
    fi
  done
  unset 'STACK[${#STACK[@]}-1]'
  STATE[$x]=2
}
for m in "${ORDER[@]}"; do [ "${STATE[$m]:-0}" = 0 ] && cycle_dfs "$m"; done

if [ $fail -ne 0 ]; then
  echo "check-deps: $PART: FAILED"
  exit 1
fi
echo "check-deps: $PART: ok (${#ORDER[@]} modules, no upward dependency, no cycle)"
