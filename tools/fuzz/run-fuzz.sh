#!/usr/bin/env bash
# run-fuzz.sh - build a fuzz target, make its seeds, fuzz for a while.
#
#   tools/fuzz/run-fuzz.sh [--target segment|dump] [--build-dir DIR]
#                          [--no-build] [SECONDS]
#
# segment (default): mutated segment images through attach, verify, stats,
#   class/slot stats, iteration and lookups (fuzz_segment.c); seeds are
#   real segments from fc_fuzz_seeds (make_seeds.c).
# dump: mutated dump files through the reader of `forkcache restore`
#   (fuzz_dump.c); seeds are JSON and binary dumps of those segments.
# SECONDS defaults to 60 (the short run of the test command). The long run
# is the same script with a longer time, e.g. `run-fuzz.sh 3600`; the
# corpus it grows is kept in DIR/fuzz/TARGET/corpus and reused next time.
# Needs clang and its libFuzzer runtime (Debian 12: clang-14 and
# libclang-rt-14-dev, both in scripts/deps.sh). DIR defaults to build-fuzz.
#
# Prints the executions count and the number of crashes; exits 0 when the
# fuzzer found nothing, 1 on a crash, leak, timeout or OOM (the input is
# kept in DIR/fuzz/TARGET/artifacts), 2 on a usage or build error.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$root/build-fuzz"
target=segment
do_build=1
secs=60

while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --target) target=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *[!0-9]*|'') echo "run-fuzz.sh: bad argument '$1'" >&2; exit 2 ;;
    *) secs=$1; shift ;;
  esac
done
case "$target" in
  segment|dump) ;;
  *) echo "run-fuzz.sh: --target is segment or dump" >&2; exit 2 ;;
esac

if [ "$do_build" = 1 ]; then
  CC=${CC:-clang} cmake -S "$root" -B "$build" -DFC_BUILD_FUZZ=ON >/dev/null ||
    { echo "run-fuzz.sh: configure failed" >&2; exit 2; }
  cmake --build "$build" -j"$(nproc)" --target fc_fuzz_segment fc_fuzz_dump \
    fc_fuzz_seeds forkcache_cli >/dev/null ||
    { echo "run-fuzz.sh: build failed" >&2; exit 2; }
fi
fuzzer="$build/tools/fc_fuzz_$target"
seeder="$build/tools/fc_fuzz_seeds"
cli="$build/tools/forkcache"
for f in "$fuzzer" "$seeder" "$cli"; do
  [ -x "$f" ] || { echo "run-fuzz.sh: $f missing (build with FC_BUILD_FUZZ=ON)" >&2; exit 2; }
done

work="$build/fuzz/$target"
mkdir -p "$work/seeds" "$work/corpus" "$work/artifacts"
rm -f "$work/seeds"/*
segs="$build/fuzz/segments"
mkdir -p "$segs"
rm -f "$segs"/*.seg
"$seeder" "$segs" >/dev/null
if [ "$target" = segment ]; then
  cp "$segs"/*.seg "$work/seeds/"
  maxlen=1048576        # the seeds are 1 MiB images; mutations may shrink them
else
  for s in "$segs"/*.seg; do
    b=$(basename "$s" .seg)
    "$cli" dump "$s" --json >"$work/seeds/$b.json"
    "$cli" dump "$s" --binary >"$work/seeds/$b.bin"
  done
  maxlen=262144
fi
log="$work/last-run.log"
before=$(find "$work/artifacts" -type f | wc -l)

echo "run-fuzz.sh: fuzzing $target for ${secs}s; seeds $(ls "$work/seeds" | wc -l)," \
  "corpus $(ls "$work/corpus" | wc -l) inputs; log $log"
set +e
# -timeout: one input taking 10 s is a hang (e.g. a loop in the segment).
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 \
  -max_len="$maxlen" -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus" "$work/seeds" \
  >"$log" 2>&1
rc=$?
set -e

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
after=$(find "$work/artifacts" -type f | wc -l)
crashes=$((after - before))
echo "executions: ${execs:-unknown}"
echo "crashes: $crashes"
echo "corpus: $(ls "$work/corpus" | wc -l) inputs"
if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
  echo "run-fuzz.sh: FAILED (fuzzer exit $rc); artifacts in $work/artifacts" >&2
  grep -E 'ERROR|SUMMARY|==[0-9]+==|abort' "$log" | head -20 >&2 || true
  exit 1
fi
echo "run-fuzz.sh: OK"
