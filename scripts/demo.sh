#!/usr/bin/env bash
# Build forkcache's binaries (into build/) and run its main demo:
# forkcache-api, a prefork REST API server whose workers share one HTTP
# response cache, load-tested with wrk in each cache mode (shared,
# per-worker, off). Prints one table (and the backend queries by cause) and
# stops the server. Options go to examples/prefork-api/loadtest.sh (e.g.
# --seconds 20 --warm-restart, or --keys 100000 for a long tail of keys).
# Only the targets whose binaries the README names are built (the tests,
# fuzzers and other benchmarks are scripts/test.sh's): the whole command
# stays under a minute on an idle 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target forkcache-api forkcache_cli forkcache-stress \
  forkcache-bench forkcache-demo >/dev/null
exec bash examples/prefork-api/loadtest.sh "$@"
