/*
 * make_seeds.c - write real segment images for the fuzzer's seed corpus.
 *
 *   fc_fuzz_seeds DIR
 *
 * DESIGN       Each seed is a file-backed segment made through the public
 *              API only, small enough to mutate quickly (1 MiB segment,
 *              64 KiB pages, 16 reader slots) and in a different state:
 *              empty, a few small items, many size classes with deletes
 *              and expired items (free lists, tombstones, limbo), a full
 *              cache that evicted, a flushed one, and one with the reader
 *              slot of a process that died without closing.
 *              The CLI test (tools/tests/cli_test.sh) also uses these images
 *              as its filled and corrupted segments.
 * EXIT         0 written, 1 a library call failed, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"

#define SEED_SEGMENT (1u << 20) /* 1 MiB: the smallest segment */
#define SEED_PAGE (64u << 10) /* 64 KiB: the smallest page */
#define SEED_SLOTS 16u

static const char *dir;

static void
die(const char *what, int rc)
{
	fprintf(stderr, "fc_fuzz_seeds: %s: %s: %s\n", what, fc_errname(rc),
		fc_strerror(rc));
	exit(1);
}

static fc_cache *
make(const char *name, char *path, size_t pathsz)
{
	fc_options o;
	fc_cache *c;
	int rc;

	snprintf(path, pathsz, "%s/%s.seg", dir, name);
	(void)fc_unlink(path, FC_FILE);
	fc_options_init(&o);
	o.flags = FC_CREATE | FC_EXCL | FC_FILE;
	o.segment_bytes = SEED_SEGMENT;
	o.page_bytes = SEED_PAGE;
	o.reader_slots = SEED_SLOTS;
	o.avg_item_bytes = 128;
	if ((rc = fc_open(path, &o, &c)) != FC_OK)
		die(path, rc);
	return c;
}

static void
set(fc_cache *c, const char *key, size_t vlen, uint64_t ttl_ms, unsigned seed)
{
	static char val[40000];
	size_t k;
	int rc;

	if (vlen > sizeof val)
		vlen = sizeof val;
	for (k = 0; k < vlen; k++)
		val[k] = (char)('a' + (seed + k) % 26);
	rc = fc_set(c, key, strlen(key), val, vlen, ttl_ms);
	if (rc != FC_OK && rc != FC_E2BIG)
		die(key, rc);
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {0, (long)ms * 1000000L};

	nanosleep(&ts, NULL);
}

static void
finish(fc_cache *c, const char *path)
{
	int64_t n = fc_verify(c, FC_VERIFY_LOCK, NULL, NULL);

	if (n != 0) {
		fprintf(stderr, "fc_fuzz_seeds: %s: fc_verify found %lld "
				"problems in a fresh seed\n",
			path, (long long)n);
		exit(1);
	}
	fc_close(c);
	printf("%s\n", path);
}

int
main(int argc, char **argv)
{
	char path[4096], key[64];
	fc_cache *c;
	unsigned k;
	pid_t pid;
	int status;

	if (argc != 2) {
		fprintf(stderr, "usage: fc_fuzz_seeds DIR\n");
		return 2;
	}
	dir = argv[1];

	c = make("empty", path, sizeof path);
	finish(c, path);

	c = make("small", path, sizeof path);
	for (k = 0; k < 200; k++) {
		snprintf(key, sizeof key, "key:%u", k);
		set(c, key, 8 + k % 32, k % 3 ? 3600000u : 0, k);
	}
	set(c, "bin\001\377key", 5, 0, 1);
	finish(c, path);

	c = make("mixed", path, sizeof path);
	for (k = 0; k < 300; k++) {
		snprintf(key, sizeof key, "m:%u", k);
		set(c, key, (size_t)1 << (k % 15), k % 4 == 0 ? 1 : 600000u, k);
	}
	for (k = 0; k < 300; k += 5) {
		snprintf(key, sizeof key, "m:%u", k + 1);
		(void)fc_delete(c, key, strlen(key));
	}
	for (k = 0; k < 300; k += 7) {
		snprintf(key, sizeof key, "m:%u", k + 2);
		(void)fc_touch(c, key, strlen(key), 5000);
	}
	sleep_ms(20); /* let the 1 ms TTLs run out */
	for (k = 0; k < 50; k++) {
		snprintf(key, sizeof key, "m:%u", k);
		set(c, key, 100 + k, 0, k + 7); /* replace: limbo */
	}
	finish(c, path);

	c = make("full", path, sizeof path);
	for (k = 0; k < 4000; k++) {
		snprintf(key, sizeof key, "full:%u", k);
		set(c, key, 200 + (k * 37) % 800, 0, k);
	}
	finish(c, path);

	c = make("flushed", path, sizeof path);
	for (k = 0; k < 500; k++) {
		snprintf(key, sizeof key, "f:%u", k);
		set(c, key, 64, 0, k);
	}
	if (fc_flush(c) != FC_OK)
		die("flush", FC_ECORRUPT);
	set(c, "after-flush", 10, 0, 3);
	finish(c, path);

	c = make("deadreader", path, sizeof path);
	for (k = 0; k < 100; k++) {
		snprintf(key, sizeof key, "d:%u", k);
		set(c, key, 32, 0, k);
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char buf[64];
		size_t len = sizeof buf;

		/* Read, then die without fc_close: a dead reader slot. */
		(void)fc_get(c, "d:1", 3, buf, &len);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		die("fork", FC_ESYS);
	finish(c, path);
	return 0;
}
