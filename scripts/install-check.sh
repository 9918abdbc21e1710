#!/usr/bin/env bash
# Install a build into a scratch prefix; build a consumer with pkg-config
# and another with find_package(forkcache); run both. Then a consumer of
# libforkcache-redis (pkg-config forkcache-redis).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-ci-plain}
[ -d "$BUILD" ] || { cmake -S . -B "$BUILD" >/dev/null && cmake --build "$BUILD" -j2 >/dev/null; }
PREFIX=$(mktemp -d)
trap 'rm -rf "$PREFIX"' EXIT
cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
cat >"$PREFIX/consumer.c" <<'C'
#include <forkcache.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
	char name[64], buf[16];
	size_t n = sizeof buf;
	fc_options o;
	fc_cache *c;
	snprintf(name, sizeof name, "/fc-install-%d", (int)getpid());
	fc_options_init(&o);
	o.flags = FC_CREATE | FC_EXCL;
	o.segment_bytes = 4u << 20;
	if (fc_open(name, &o, &c) != FC_OK) return 1;
	if (fc_set(c, "k", 1, "v", 1, 0) != FC_OK || fc_get(c, "k", 1, buf, &n) != FC_OK ||
	    n != 1 || buf[0] != 'v') return 2;
	fc_close(c);
	fc_unlink(name, 0);
	puts("consumer ok");
	return 0;
}
C
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig:$PREFIX/lib/$(gcc -print-multiarch 2>/dev/null)/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
cc -o "$PREFIX/by-pkgconfig" "$PREFIX/consumer.c" $(pkg-config --cflags --libs forkcache) \
  -Wl,-rpath,"$(pkg-config --variable=libdir forkcache)"
"$PREFIX/by-pkgconfig"
# Static linking: Libs.private is all it needs (ck, liburcu and xxhash are
# used header-only, so the .pc file asks nothing of them).
LIBDIR=$(pkg-config --variable=libdir forkcache)
cc -o "$PREFIX/by-pkgconfig-static" "$PREFIX/consumer.c" $(pkg-config --cflags forkcache) \
  "$LIBDIR/libforkcache.a" $(pkg-config --static --libs forkcache | sed 's/-lforkcache//; s/-L[^ ]*//g')
"$PREFIX/by-pkgconfig-static"
mkdir -p "$PREFIX/cm"
cat >"$PREFIX/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(forkcache REQUIRED)
add_executable(consumer ../consumer.c)
target_link_libraries(consumer forkcache::forkcache)
CM
cmake -S "$PREFIX/cm" -B "$PREFIX/cm/build" -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null
cmake --build "$PREFIX/cm/build" >/dev/null
"$PREFIX/cm/build/consumer"
# libforkcache-redis through its own pkg-config file (RPATH, not RUNPATH:
# it must also find libforkcache, a dependency of a dependency). No Redis
# needed: connecting to a socket that does not exist must give FC_ESYS.
cat >"$PREFIX/redis_consumer.c" <<'C'
#include <forkcache-redis.h>
#include <stdio.h>
int main(void) {
	fc_redis *r;
	int rc = fc_redis_open("unix:/nonexistent/forkcache.sock", NULL, &r);
	fc_redis_close(r);
	if (rc != FC_ESYS) return 1;
	puts("redis consumer ok");
	return 0;
}
C
cc -o "$PREFIX/redis-by-pkgconfig" "$PREFIX/redis_consumer.c" \
  $(pkg-config --cflags --libs forkcache-redis) \
  -Wl,--disable-new-dtags,-rpath,"$(pkg-config --variable=libdir forkcache-redis)"
"$PREFIX/redis-by-pkgconfig"
echo "install check: pkg-config and find_package consumers built and ran"
