#!/usr/bin/env bash
# Install every Debian 12 package forkcache needs to build, test, fuzz and
# run its demo. apt-get only; run as root. Idempotent.
set -euo pipefail
PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev clang-format-14
      libck-dev liburcu-dev libcmocka-dev libxxhash-dev
      python3 jq procps util-linux
      memcached redis-server libmemcached-dev libhiredis-dev liblmdb-dev
      valgrind gnuplot-nox
      python3-dev python3-setuptools python3-pytest python3-cachetools
      python3-cachelib python3-flask python3-flask-caching python3-redis
      libmicrohttpd-dev libsqlite3-dev wrk curl gunicorn)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
