#!/usr/bin/env bash
# Build forkcache (every default target, into build/) and run its main demo:
# forkcache-api, a prefork REST API server whose workers share one HTTP
# response cache, load-tested with wrk in each cache mode (shared,
# per-worker, off). Prints one table and stops the server. Options go to
# examples/prefork-api/loadtest.sh (e.g. --seconds 10 --warm-restart).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 >/dev/null
exec bash examples/prefork-api/loadtest.sh --seconds 3 "$@"
