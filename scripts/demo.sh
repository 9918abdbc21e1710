#!/usr/bin/env bash
# Build forkcache and run the prefork demo: a master forks workers that
# serve a Zipf workload through one shared cache, then through per-process
# caches of the same total size, and prints both side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target forkcache-demo >/dev/null
exec build/examples/forkcache-demo "$@"
