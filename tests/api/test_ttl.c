/* tests/api/test_ttl.c - TTLs on the fake clock: expiry, ttl 0, touch,
 * add/replace/cas/incr/delete over expired items. */
#include "fc_test.h"

#include <string.h>

static int
get_rc(fc_cache *c, const char *key)
{
	char buf[64];
	size_t len = sizeof buf;

	return fc_get(c, key, strlen(key), buf, &len);
}

static void
get_after_ttl_reports_not_found(void **state)
{
	fc_cache *c = *state;
	fc_stats a, b;

	/* margins of at least 100 ms of real time between a set and a
	 * check that it is still there: the fake clock does the rest */
	assert_int_equal(fc_set(c, "k", 1, "v", 1, 100), FC_OK);
	assert_int_equal(fc_set(c, "l", 1, "v", 1, 1000), FC_OK);
	assert_int_equal(get_rc(c, "k"), FC_OK);
	fc_test_clock_advance_ms(101);
	a = fc_test_stats(c);
	assert_int_equal(get_rc(c, "k"), FC_ENOTFOUND);
	b = fc_test_stats(c);
	assert_int_equal(b.misses, a.misses + 1);
	assert_int_equal(b.hits, a.hits);
	assert_int_equal(get_rc(c, "l"), FC_OK); /* 101 of 1000 ms */
	fc_test_clock_advance_ms(400);
	assert_int_equal(get_rc(c, "l"), FC_OK); /* 501 of 1000 ms */
	fc_test_clock_advance_ms(500);
	assert_int_equal(get_rc(c, "l"), FC_ENOTFOUND);
	fc_test_verify(c);
}

static void
ttl_zero_never_expires(void **state)
{
	fc_cache *c = *state;

	assert_int_equal(fc_set(c, "forever", 7, "v", 1, 0), FC_OK);
	assert_int_equal(fc_set(c, "short", 5, "v", 1, 1), FC_OK);
	fc_test_clock_advance_ms(10ll * 365 * 24 * 3600 * 1000);
	assert_int_equal(get_rc(c, "forever"), FC_OK);
	assert_int_equal(get_rc(c, "short"), FC_ENOTFOUND);
	fc_test_verify(c);
}

static void
huge_ttl_does_not_wrap_into_the_past(void **state)
{
	fc_cache *c = *state;
	int rc = fc_set(c, "huge", 4, "v", 1, UINT64_MAX);

	/* not documented either way: refusing it is fine, storing an item
	 * that is already expired is not */
	if (rc == FC_EINVAL)
		return;
	assert_int_equal(rc, FC_OK);
	assert_int_equal(get_rc(c, "huge"), FC_OK);
	assert_int_equal(fc_set(c, "huge2", 5, "v", 1, UINT64_MAX / 2), FC_OK);
	fc_test_clock_advance_ms(365ll * 24 * 3600 * 1000);
	assert_int_equal(get_rc(c, "huge"), FC_OK);
	assert_int_equal(get_rc(c, "huge2"), FC_OK);
}

static void
touch_extends_the_ttl(void **state)
{
	fc_cache *c = *state;

	assert_int_equal(fc_set(c, "t", 1, "v", 1, 1000), FC_OK);
	assert_int_equal(fc_set(c, "u", 1, "v", 1, 1000), FC_OK);
	fc_test_clock_advance_ms(500);
	assert_int_equal(fc_touch(c, "t", 1, 5000), FC_OK); /* to +5500 */
	fc_test_clock_advance_ms(1500); /* +2000 */
	assert_int_equal(get_rc(c, "t"), FC_OK);
	assert_int_equal(get_rc(c, "u"), FC_ENOTFOUND);
	fc_test_clock_advance_ms(4000); /* +6000: past the touched TTL */
	assert_int_equal(get_rc(c, "t"), FC_ENOTFOUND);
	fc_test_verify(c);
}

static void
touch_with_zero_removes_the_ttl_and_can_shorten_it(void **state)
{
	fc_cache *c = *state;

	assert_int_equal(fc_set(c, "t", 1, "v", 1, 1000), FC_OK);
	assert_int_equal(fc_touch(c, "t", 1, 0), FC_OK);
	assert_int_equal(fc_set(c, "s", 1, "v", 1, 0), FC_OK);
	assert_int_equal(fc_touch(c, "s", 1, 100), FC_OK);
	fc_test_clock_advance_ms(1000000);
	assert_int_equal(get_rc(c, "t"), FC_OK);
	assert_int_equal(get_rc(c, "s"), FC_ENOTFOUND);
}

static void
touch_of_an_expired_item_is_enotfound(void **state)
{
	fc_cache *c = *state;

	assert_int_equal(fc_set(c, "t", 1, "v", 1, 100), FC_OK);
	fc_test_clock_advance_ms(101);
	assert_int_equal(fc_touch(c, "t", 1, 1000), FC_ENOTFOUND);
	assert_int_equal(get_rc(c, "t"), FC_ENOTFOUND);
}

static void
add_over_an_expired_item_succeeds(void **state)
{
	fc_cache *c = *state;
	char buf[8];
	size_t len = sizeof buf;

	assert_int_equal(fc_set(c, "a", 1, "old", 3, 100), FC_OK);
	assert_int_equal(fc_add(c, "a", 1, "new", 3, 0), FC_EEXIST);
	fc_test_clock_advance_ms(101);
	assert_int_equal(fc_add(c, "a", 1, "new", 3, 0), FC_OK);
	assert_int_equal(fc_get(c, "a", 1, buf, &len), FC_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "new", 3);
	fc_test_clock_advance_ms(1000000);
	assert_int_equal(get_rc(c, "a"), FC_OK);
	assert_int_equal(fc_test_stats(c).items, 1);
	fc_test_verify(c);
}

static void
replace_cas_incr_delete_over_an_expired_item_fail(void **state)
{
	fc_cache *c = *state;
	char buf[8];
	size_t len = sizeof buf;
	uint64_t cas = 0, v = 0;

	assert_int_equal(fc_set(c, "r", 1, "5", 1, 100), FC_OK);
	assert_int_equal(fc_gets(c, "r", 1, buf, &len, &cas), FC_OK);
	fc_test_clock_advance_ms(101);
	assert_int_equal(fc_replace(c, "r", 1, "6", 1, 0), FC_ENOTFOUND);
	assert_int_equal(fc_cas(c, "r", 1, "6", 1, 0, cas), FC_ENOTFOUND);
	assert_int_equal(fc_incr(c, "r", 1, 1, &v), FC_ENOTFOUND);
	assert_int_equal(get_rc(c, "r"), FC_ENOTFOUND);
	assert_int_equal(fc_delete(c, "r", 1), FC_ENOTFOUND);
	len = sizeof buf;
	assert_int_equal(fc_gets(c, "r", 1, buf, &len, &cas), FC_ENOTFOUND);
	fc_test_verify(c);
}

static void
set_over_an_expired_item_gives_a_fresh_ttl(void **state)
{
	fc_cache *c = *state;

	assert_int_equal(fc_set(c, "k", 1, "v", 1, 100), FC_OK);
	fc_test_clock_advance_ms(101);
	assert_int_equal(fc_set(c, "k", 1, "w", 1, 1000), FC_OK);
	assert_int_equal(get_rc(c, "k"), FC_OK);
	fc_test_clock_advance_ms(500);
	assert_int_equal(get_rc(c, "k"), FC_OK);
	fc_test_clock_advance_ms(501);
	assert_int_equal(get_rc(c, "k"), FC_ENOTFOUND);
	fc_test_verify(c);
}

static void
mixed_ttls_expire_each_at_its_own_time(void **state)
{
	fc_cache *c = *state;
	char key[32];

	for (unsigned i = 0; i < 1000; i++) {
		size_t kl = fc_test_key(key, sizeof key, "m", i);

		/* ttl 0 for i%10 == 0, else 1000 * (i%10) ms */
		assert_int_equal(
			fc_set(c, key, kl, key, kl, (uint64_t)(i % 10) * 1000),
			FC_OK);
	}
	fc_test_clock_advance_ms(4500);
	for (unsigned i = 0; i < 1000; i++) {
		char buf[32];
		size_t len = sizeof buf;
		size_t kl = fc_test_key(key, sizeof key, "m", i);
		int rc = fc_get(c, key, kl, buf, &len);
		unsigned t = i % 10;

		if (t == 0 || t >= 5) {
			assert_int_equal(rc, FC_OK);
			assert_int_equal(len, kl);
			assert_memory_equal(buf, key, kl);
		} else {
			assert_int_equal(rc, FC_ENOTFOUND);
		}
	}
	fc_test_verify(c);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
	const struct CMUnitTest tests[] = {
		T(get_after_ttl_reports_not_found),
		T(ttl_zero_never_expires),
		T(huge_ttl_does_not_wrap_into_the_past),
		T(touch_extends_the_ttl),
		T(touch_with_zero_removes_the_ttl_and_can_shorten_it),
		T(touch_of_an_expired_item_is_enotfound),
		T(add_over_an_expired_item_succeeds),
		T(replace_cas_incr_delete_over_an_expired_item_fail),
		T(set_over_an_expired_item_gives_a_fresh_ttl),
		T(mixed_ttls_expire_each_at_its_own_time),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
