/* tests/api/test_flush.c - fc_flush and fc_flush_expired. */
#include "fc_test.h"

#include <string.h>

static void
fill(fc_cache *c, const char *prefix, unsigned n, uint64_t ttl_ms)
{
	char key[32];

	for (unsigned i = 0; i < n; i++) {
		size_t kl = fc_test_key(key, sizeof key, prefix, i);

		assert_int_equal(fc_set(c, key, kl, key, kl, ttl_ms), FC_OK);
	}
}

static unsigned
count_present(fc_cache *c, const char *prefix, unsigned n)
{
	char key[32], buf[32];
	unsigned found = 0;

	for (unsigned i = 0; i < n; i++) {
		size_t kl = fc_test_key(key, sizeof key, prefix, i);
		size_t len = sizeof buf;
		int rc = fc_get(c, key, kl, buf, &len);

		if (rc == FC_OK) {
			assert_int_equal(len, kl);
			assert_memory_equal(buf, key, kl);
			found++;
		} else {
			assert_int_equal(rc, FC_ENOTFOUND);
		}
	}
	return found;
}

static void
flush_removes_every_item(void **state)
{
	fc_cache *c = *state;
	fc_stats st;

	fill(c, "f", 3000, 0);
	fill(c, "t", 100, 100000);
	assert_int_equal(fc_flush(c), FC_OK);
	assert_int_equal(count_present(c, "f", 3000), 0);
	assert_int_equal(count_present(c, "t", 100), 0);
	st = fc_test_stats(c);
	assert_int_equal(st.items, 0);
	assert_int_equal(st.data_bytes, 0);
	assert_int_equal(st.bytes_used, 0);
	fc_test_verify(c);
	/* the cache is usable afterwards, also for the same keys */
	fill(c, "f", 3000, 0);
	assert_int_equal(count_present(c, "f", 3000), 3000);
	assert_int_equal(fc_test_stats(c).items, 3000);
	fc_test_verify(c);
}

static void
flush_of_an_empty_cache_succeeds(void **state)
{
	fc_cache *c = *state;

	assert_int_equal(fc_flush(c), FC_OK);
	assert_int_equal(fc_flush(c), FC_OK);
	assert_int_equal(fc_test_stats(c).items, 0);
	fc_test_verify(c);
}

static void
repeated_flushes_do_not_leak_memory(void **state)
{
	fc_cache *c = *state;
	fc_stats st0 = fc_test_stats(c), st;
	char val[2000];

	memset(val, 'v', sizeof val);
	for (unsigned round = 0; round < 20; round++) {
		char key[32];

		for (unsigned i = 0; i < 1000; i++) {
			size_t kl = fc_test_key(key, sizeof key, "r", i);

			assert_int_equal(
				fc_set(c, key, kl, val,
				       64 + (i * 37) % (sizeof val - 64), 0),
				FC_OK);
		}
		assert_int_equal(fc_flush(c), FC_OK);
	}
	st = fc_test_stats(c);
	assert_int_equal(st.items, 0);
	assert_int_equal(st.evictions, st0.evictions);
	fc_test_verify(c);
}

static void
flush_expired_removes_only_expired_items(void **state)
{
	fc_cache *c = *state;
	fc_stats a, b;
	int64_t n;

	fill(c, "e", 500, 100);
	fill(c, "l", 300, 0);
	fill(c, "m", 200, 100000);
	fc_test_clock_advance_ms(101);
	a = fc_test_stats(c);
	assert_int_equal(a.items, 1000); /* expired, not yet swept, count */
	n = fc_flush_expired(c);
	assert_int_equal(n, 500);
	b = fc_test_stats(c);
	assert_int_equal(b.items, 500);
	assert_int_equal(b.expired, a.expired + 500);
	assert_int_equal(count_present(c, "e", 500), 0);
	assert_int_equal(count_present(c, "l", 300), 300);
	assert_int_equal(count_present(c, "m", 200), 200);
	assert_int_equal(fc_flush_expired(c), 0);
	fc_test_verify(c);
}

static void
flush_expired_on_a_fresh_cache_is_zero(void **state)
{
	fc_cache *c = *state;

	assert_int_equal(fc_flush_expired(c), 0);
	fill(c, "x", 10, 0);
	fc_test_clock_advance_ms(1000000);
	assert_int_equal(fc_flush_expired(c), 0);
	assert_int_equal(fc_test_stats(c).items, 10);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
	const struct CMUnitTest tests[] = {
		T(flush_removes_every_item),
		T(flush_of_an_empty_cache_succeeds),
		T(repeated_flushes_do_not_leak_memory),
		T(flush_expired_removes_only_expired_items),
		T(flush_expired_on_a_fresh_cache_is_zero),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
