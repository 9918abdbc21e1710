/*
 * forkcache-insn.c - the fixed workload that scripts/insn-gate.sh runs under
 * callgrind to count the instructions of one fc_get hit, one fc_get miss
 * and one fc_set.
 *
 * DESIGN       Creates a segment (64 MiB, defaults otherwise), sets KEYS
 *              16-byte keys with 64-byte values, then runs PASSES passes of
 *              OP over all KEYS keys in a fixed order:
 *                get_hit   fc_get of each present key (value copied out)
 *                get_miss  fc_get of as many absent keys
 *                set       fc_set replacing each present key (TTL 0)
 *                lease_hit fc_lease_get of each present key: a fresh hit
 *                          through the get-or-compute entry point
 *              The gate counts only inside fc_get (or fc_set), callees
 *              included (callgrind --toggle-collect), for PASSES = 1 and 2
 *              and takes the difference: set-up, the prefill and first-call
 *              costs (a reader slot claimed) cancel, and what remains is
 *              exactly one pass: KEYS operations in steady state. Nothing
 *              depends on time, addresses or the pid, so the count repeats.
 * USAGE        forkcache-insn get_hit|get_miss|set|lease_hit PASSES [KEYS]
 * EXIT         0 ok; 1 a call returned something unexpected; 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"

#define KEY_BYTES 16
#define VAL_BYTES 64
#define KEYS_DEFAULT 10000u

static void
make_key(char *dst, char tag, unsigned n)
{
	memset(dst, '0', KEY_BYTES);
	dst[0] = tag;
	dst[1] = ':';
	for (char *p = dst + KEY_BYTES - 1; n != 0 && p > dst + 1; n /= 10)
		*p-- = (char)('0' + n % 10);
}

static int
fail(const char *call, unsigned i, int rc)
{
	fprintf(stderr, "forkcache-insn: %s #%u: %s\n", call, i,
		fc_errname(rc));
	return 1;
}

int
main(int argc, char **argv)
{
	char name[64], key[KEY_BYTES];
	unsigned char val[VAL_BYTES], buf[VAL_BYTES];
	unsigned passes, keys = KEYS_DEFAULT;
	int op, rc, status = 0;
	fc_options o;
	fc_cache *c;

	if (argc < 3 || argc > 4)
		goto usage;
	if (strcmp(argv[1], "get_hit") == 0)
		op = 0;
	else if (strcmp(argv[1], "get_miss") == 0)
		op = 1;
	else if (strcmp(argv[1], "set") == 0)
		op = 2;
	else if (strcmp(argv[1], "lease_hit") == 0)
		op = 3;
	else
		goto usage;
	passes = (unsigned)strtoul(argv[2], NULL, 10);
	if (argc == 4)
		keys = (unsigned)strtoul(argv[3], NULL, 10);
	if (passes == 0 || passes > 100 || keys == 0 || keys > 1000000)
		goto usage;

	memset(val, 'v', sizeof val);
	fc_options_init(&o);
	o.flags = FC_CREATE | FC_EXCL;
	snprintf(name, sizeof name, "/fc-insn.%d", (int)getpid());
	rc = fc_open(name, &o, &c);
	if (rc != FC_OK)
		return fail("fc_open", 0, rc);
	fc_unlink(name, 0); /* the mapping stays; nothing is left behind */
	for (unsigned i = 0; i < keys; i++) {
		make_key(key, 'k', i);
		rc = fc_set(c, key, KEY_BYTES, val, VAL_BYTES, 0);
		if (rc != FC_OK)
			return fail("prefill fc_set", i, rc);
	}
	for (unsigned p = 0; p < passes && status == 0; p++) {
		for (unsigned i = 0; i < keys; i++) {
			size_t n = sizeof buf;

			make_key(key, op == 1 ? 'm' : 'k', i);
			if (op == 2) {
				val[0] = (unsigned char)p;
				rc = fc_set(c, key, KEY_BYTES, val, VAL_BYTES,
					    0);
				if (rc != FC_OK) {
					status = fail("fc_set", i, rc);
					break;
				}
				continue;
			}
			if (op == 3) {
				fc_lease l;
				rc = fc_lease_get(c, key, KEY_BYTES, buf, &n, 0, &l);
				if (rc != FC_OK || n != VAL_BYTES) {
					status = fail("fc_lease_get", i, rc);
					break;
				}
				continue;
			}
			rc = fc_get(c, key, KEY_BYTES, buf, &n);
			if (rc != (op == 0 ? FC_OK : FC_ENOTFOUND) ||
			    (op == 0 && n != VAL_BYTES)) {
				status = fail("fc_get", i, rc);
				break;
			}
		}
	}
	fc_close(c);
	return status;
usage:
	fprintf(stderr, "usage: forkcache-insn get_hit|get_miss|set|lease_hit "
			"PASSES [KEYS]\n");
	return 2;
}
