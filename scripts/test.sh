#!/usr/bin/env bash
# Build and run every test: lib/'s module order and atomics vocabulary
# (check-deps, check-atomics), plain
# (-Werror), ASan+UBSan, TSan, the install check (pkg-config and
# find_package), and a short fuzz run. The default build (build/, the
# binaries the README names) is built first.
# Usage: scripts/test.sh [deps|default|plain|asan|tsan|install|fuzz ...]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(deps default plain asan tsan install fuzz)
FAILED=()

build() { # dir, cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -DFC_WERROR=ON "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j"$JOBS" >"$dir.build.log" 2>&1 ||
    { tail -n 60 "$dir.build.log"; return 1; }
}

run_ctest() { # dir, ctest args...
  local dir=$1; shift
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" --timeout 600 "$@")
}

step() {
  local name=$1; shift
  echo "=== $name ==="
  local t0=$SECONDS
  if "$@"; then echo "=== $name: ok ($((SECONDS - t0)) s) ==="
  else echo "=== $name: FAILED ($((SECONDS - t0)) s) ==="; FAILED+=("$name"); fi
}

# build/: what the README's paths point at (build/tools/forkcache,
# build/examples/prefork-api/forkcache-api, ...); its tests run in "plain".
default_build() { build build; }
plain() { build build-ci-plain && run_ctest build-ci-plain; }
asan() {
  # Benchmark timings mean nothing under sanitizers; the stress tier runs
  # (its time bounds are relaxed under sanitizers by the harness itself).
  build build-ci-asan -DFC_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run_ctest build-ci-asan -LE 'bench|demo'
}
tsan() {
  # TSan needs a low mmap entropy on recent kernels; setarch -R disables
  # ASLR for the run (util-linux).
  build build-ci-tsan -DFC_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug &&
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
      setarch "$(uname -m)" -R bash -c 'cd build-ci-tsan && ctest --output-on-failure -j'"$JOBS"' --timeout 600 -LE "bench|demo|cli" -E "^stress/(ci|broken)"'
  # TSan sees threads only: of the stress tier, stress/threads (one process,
  # many threads) is the one it can check; the multi-process tiers run in
  # the plain and ASan builds.
}
install_check() { scripts/install-check.sh build-ci-plain; }
fuzz() {
  # libFuzzer (clang) over segment images (60 s) and dump files (15 s);
  # seeds are real segments made through the API. Long runs: tools/fuzz/run-fuzz.sh.
  CC=clang build build-ci-fuzz -DFC_BUILD_FUZZ=ON -DFC_SUBDIRS=tools \
    -DFC_FUZZ_SECONDS="${FUZZ_SECONDS:-60}" && run_ctest build-ci-fuzz -L fuzz
}

for s in "${STEPS[@]}"; do
  case $s in
    deps) step "lib/ module order (scripts/check-deps.sh)" bash scripts/check-deps.sh
          step "lib/ atomics vocabulary (scripts/check-atomics.sh)" bash scripts/check-atomics.sh
          step "header error lists = contract table (scripts/check-error-docs.sh)" bash scripts/check-error-docs.sh
          step "clang-format of the listed files (scripts/check-format.sh)" bash scripts/check-format.sh ;;
    default) step "default build (build/)" default_build ;;
    plain) step "plain build + tests" plain ;;
    asan) step "ASan+UBSan build + tests" asan ;;
    tsan) step "TSan build + tests" tsan ;;
    install) step "install: pkg-config + find_package" install_check ;;
    fuzz) step "fuzz (libFuzzer)" fuzz ;;
    *) echo "unknown step $s" >&2; exit 2 ;;
  esac
done
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "FAILED: ${FAILED[*]}"
  exit 1
fi
echo "all steps passed: ${STEPS[*]}"
