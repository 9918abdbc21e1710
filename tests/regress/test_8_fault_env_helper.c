/*
 * test_8_fault_env_helper.c - run by test_8_minor with FC_FAULT set in its
 * environment. Linked to the shipped shared library (not the test build):
 * it creates the segment named by argv[1], sets and gets a key, and exits
 * 0. If the library honoured FC_FAULT=set.locked:1:kill it would die of
 * SIGKILL instead.
 */
#include <stdio.h>
#include <string.h>

#include "forkcache.h"

int
main(int argc, char **argv)
{
	fc_options o;
	fc_cache *c;
	char buf[8];
	size_t len = sizeof buf;

	if (argc != 2)
		return 2;
	fc_options_init(&o);
	o.flags = FC_CREATE | FC_EXCL;
	o.segment_bytes = 2u << 20;
	if (fc_open(argv[1], &o, &c) != FC_OK)
		return 3;
	int rc = fc_set(c, "k", 1, "v", 1, 0);
	if (rc == FC_OK)
		rc = fc_get(c, "k", 1, buf, &len);
	fc_close(c);
	fc_unlink(argv[1], 0);
	if (rc != FC_OK) {
		fprintf(stderr, "helper: %s\n", fc_errname(rc));
		return 4;
	}
	return 0;
}
