/*
 * test_3_index_sized_for_hint.c - regression: the bucket count was the
 * power of two at or below segment/avg_item_bytes, so with an accurate
 * hint the 75% load cap evicted items while most pages were free
 * (16 MiB, hint 576, 20000 x 512-byte values: 10207 items kept, 146 of
 * 251 pages free). Now every item that the pages can hold fits.
 */
#include <string.h>

#include "fc_test.h"

static void
accurate_hint_holds_what_the_pages_hold(void **state)
{
	(void)state;
	fc_options o;
	unsigned char val[512];
	char key[32];
	fc_stats st;

	fc_test_default_options(&o);
	o.segment_bytes = 16u << 20;
	o.page_bytes = 64u << 10;
	o.avg_item_bytes = 576; /* 24 + key + 512, rounded to its class */
	fc_cache *c = fc_test_create(&o);
	memset(val, 'v', sizeof val);
	for (unsigned i = 0; i < 20000; i++) {
		size_t kl = (size_t)snprintf(key, sizeof key, "obj:%u", i);
		assert_int_equal(fc_set(c, key, kl, val, sizeof val, 0), FC_OK);
	}
	assert_int_equal(fc_stat(c, &st), FC_OK);
	assert_int_equal(st.evictions, 0);
	assert_int_equal(st.items, 20000);
	fc_test_verify(c);
	fc_test_destroy(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accurate_hint_holds_what_the_pages_hold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
