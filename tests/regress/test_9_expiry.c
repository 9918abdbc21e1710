/*
 * test_9_expiry.c - issue #9: expired items held memory while live ones
 * were evicted. The sweep examined 8 buckets per write, in bucket order,
 * and eviction did not look for expired items first: a write that needed
 * memory evicted a live item while thousands of expired ones sat in the
 * slab (fails on 2c522d9: live evictions > 0 after the short-TTL items
 * expired). Now the allocation removes expired items (found through the
 * index's per-line expiry summaries) before evicting any live one.
 */
#include <string.h>

#include "fc_test.h"
#include "fc_internal.h"

#define VLEN 200u

static void
put(fc_cache *c, const char *prefix, unsigned i, uint64_t ttl_ms)
{
	unsigned char val[VLEN];
	char key[32];
	size_t kl = fc_test_key(key, sizeof key, prefix, i);

	fc_test_value_make(val, VLEN, key, kl, 1, i);
	assert_int_equal(fc_set(c, key, kl, val, VLEN, ttl_ms), FC_OK);
}

static int
has(fc_cache *c, const char *prefix, unsigned i)
{
	unsigned char buf[VLEN];
	char key[32];
	size_t kl = fc_test_key(key, sizeof key, prefix, i), len = sizeof buf;
	int rc = fc_get(c, key, kl, buf, &len);

	if (rc == FC_ENOTFOUND)
		return 0;
	assert_int_equal(rc, FC_OK);
	assert_int_equal(fc_test_value_check(buf, len, key, kl, NULL, NULL), 0);
	return 1;
}

static void
no_live_item_is_evicted_while_expired_items_hold_memory(void **state)
{
	fc_options o;
	unsigned k;

	(void)state;
	fc_test_default_options(&o);
	o.segment_bytes = 4u << 20;
	o.page_bytes = 64u << 10;
	o.avg_item_bytes = 128; /* buckets to spare: the slab is the bound */
	fc_cache *c = fc_test_create(&o);

	/* Long-lived items, and one short-TTL item per 9 of them (expired
	 * items are then a tenth of the slab, spread over the index), until
	 * the cache is full. */
	unsigned ns = 0;
	for (k = 0; fc_test_stats(c).evictions == 0; k++) {
		put(c, "l", k, 0);
		if (k % 9 == 0)
			put(c, "s", ns++, 100000); /* not in real time */
		assert_true(k < 1000000);
	}
	fc_test_clock_advance_ms(200000); /* every "s" item expired */
	/* (No read here: a read would give the live items a reference
	 * bit, a second chance the policy may not give them.) */
	uint64_t ev = fc_test_stats(c).evictions;

	/* New long-lived items filling 80% of the expired ones' room: the
	 * live data fits, so nothing live may leave. */
	unsigned add = ns * 4 / 5;
	for (unsigned i = 0; i < add; i++)
		put(c, "n", i, 0);
	fc_stats st = fc_test_stats(c);
	print_message("long-lived %u, short %u, added %u, live evictions %llu -> %llu, expired %llu\n", k,
		      ns, add, (unsigned long long)ev, (unsigned long long)st.evictions,
		      (unsigned long long)st.expired);
	assert_int_equal(st.evictions, ev);
	unsigned kept = 0, added = 0;
	for (unsigned i = 0; i < k; i++)
		kept += has(c, "l", i);
	for (unsigned i = 0; i < add; i++)
		added += has(c, "n", i);
	assert_true(kept + ev >= k); /* only the fill's evictions took any */
	assert_int_equal(added, add);
	fc_test_verify(c);
	fc_test_clock_reset();
	fc_test_destroy(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_live_item_is_evicted_while_expired_items_hold_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
