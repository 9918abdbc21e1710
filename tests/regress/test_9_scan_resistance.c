/*
 * test_9_scan_resistance.c - issue #9: one pass over many cold keys (a
 * scan: each read once, missed, and set) flushed the hot set, because
 * CLOCK eviction gives a new key the same standing as a hot one (fails on
 * 2c522d9: 0 of the hot keys survive a scan of 5x the cache). With S3-FIFO
 * (lib/fifo.c, lib/evict.c) the scanned keys wait on probation in the
 * small queue and leave from there, unread; the hot keys stay in the main
 * queue.
 */
#include "fc_test.h"
#include "fc_internal.h"

#include <stdlib.h>
#include <string.h>

enum { VLEN = 1000 };

static int
access_k(fc_cache *c, const char *prefix, unsigned i)
{
	unsigned char val[VLEN];
	char key[32];
	size_t kl = fc_test_key(key, sizeof key, prefix, i), len = sizeof val;
	int rc = fc_get(c, key, kl, val, &len);

	if (rc == FC_OK) {
		assert_int_equal(fc_test_value_check(val, len, key, kl, NULL, NULL), 0);
		return 1;
	}
	assert_int_equal(rc, FC_ENOTFOUND);
	fc_test_value_make(val, VLEN, key, kl, 1, i);
	assert_int_equal(fc_set(c, key, kl, val, VLEN, 0), FC_OK);
	return 0;
}

/* Present, checked without an access (the iterator counts no hit). */
static unsigned
hot_resident(fc_cache *c, unsigned hot)
{
	fc_iter *it;
	fc_item item;
	unsigned n = 0;
	int rc;

	assert_int_equal(fc_iter_open(c, &it), FC_OK);
	while ((rc = fc_iter_next(it, &item)) == FC_OK) {
		char k[32];

		if (item.klen < 3 || item.klen >= sizeof k)
			continue;
		memcpy(k, item.key, item.klen);
		k[item.klen] = '\0';
		if (k[0] == 'h' && k[1] == ':' && (unsigned)atoi(k + 2) < hot)
			n++;
	}
	assert_int_equal(rc, FC_ENOTFOUND);
	fc_iter_close(it);
	return n;
}

static void
a_scan_of_cold_keys_keeps_the_hot_set(void **state)
{
	(void)state;
	fc_options o;

	fc_test_default_options(&o);
	o.segment_bytes = 4u << 20;
	o.page_bytes = 64u << 10;
	o.avg_item_bytes = VLEN + 64; /* the slab, not the index, is the bound */
	fc_cache *c = fc_test_create(&o);
	unsigned cap, hot, cold = 0;

	/* capacity: items held at the first eviction */
	while (fc_test_stats(c).evictions == 0)
		access_k(c, "w:", cold++);
	cap = (unsigned)fc_test_stats(c).items;
	hot = cap / 10;
	/* a working set: the hot keys read again and again, among one-time
	 * keys (half a cache per round) */
	for (unsigned round = 0; round < 20; round++) {
		for (unsigned i = 0; i < hot; i++) {
			access_k(c, "h:", i);
			access_k(c, "w:", cold++);
			access_k(c, "w:", cold++);
			access_k(c, "w:", cold++);
			access_k(c, "w:", cold++);
			access_k(c, "w:", cold++);
		}
	}
	unsigned before = hot_resident(c, hot);
	/* the scan: 5 x the cache of keys never seen, each missed and set */
	for (unsigned i = 0; i < 5 * cap; i++)
		access_k(c, "s:", i);
	unsigned after = hot_resident(c, hot);
	print_message("capacity %u items, hot set %u: %u resident before the scan, %u after; "
		      "evictions %llu\n", cap, hot, before, after,
		      (unsigned long long)fc_test_stats(c).evictions);
	assert_true(before >= hot * 9 / 10);
	assert_true(after >= before * 9 / 10);
	fc_test_verify(c);
	fc_test_destroy(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_scan_of_cold_keys_keeps_the_hot_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
