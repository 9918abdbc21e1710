/* tests/api/test_incr.c - fc_incr: decimal counters, wrap, floor at 0,
 * FC_ENOTNUM, TTL kept. */
#include "fc_test.h"

#include <inttypes.h>
#include <string.h>

static void
expect_text(fc_cache *c, const char *key, const char *text)
{
	char buf[64];
	size_t len = sizeof buf;

	assert_int_equal(fc_get(c, key, strlen(key), buf, &len), FC_OK);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(buf, text, len);
}

static void
incr_adds_and_stores_decimal_text(void **state)
{
	fc_cache *c = *state;
	uint64_t v = 0;

	assert_int_equal(fc_set(c, "n", 1, "41", 2, 0), FC_OK);
	assert_int_equal(fc_incr(c, "n", 1, 1, &v), FC_OK);
	assert_int_equal(v, 42);
	expect_text(c, "n", "42");
	assert_int_equal(fc_incr(c, "n", 1, 1000, &v), FC_OK);
	assert_int_equal(v, 1042);
	expect_text(c, "n", "1042");
	assert_int_equal(fc_incr(c, "n", 1, -42, NULL), FC_OK);
	expect_text(c, "n", "1000");
	assert_int_equal(fc_incr(c, "n", 1, 0, &v), FC_OK);
	assert_int_equal(v, 1000);
	expect_text(c, "n", "1000");
	fc_test_verify(c);
}

static void
incr_accepts_leading_zeros_and_twenty_digits(void **state)
{
	fc_cache *c = *state;
	uint64_t v = 0;

	assert_int_equal(fc_set(c, "z", 1, "007", 3, 0), FC_OK);
	assert_int_equal(fc_incr(c, "z", 1, 1, &v), FC_OK);
	assert_int_equal(v, 8);
	expect_text(c, "z", "8");
	assert_int_equal(fc_set(c, "m", 1, "18446744073709551614", 20, 0),
			 FC_OK);
	assert_int_equal(fc_incr(c, "m", 1, 1, &v), FC_OK);
	assert_true(v == UINT64_MAX);
	expect_text(c, "m", "18446744073709551615");
	assert_int_equal(fc_set(c, "0", 1, "0", 1, 0), FC_OK);
	assert_int_equal(fc_incr(c, "0", 1, 5, &v), FC_OK);
	assert_int_equal(v, 5);
}

static void
incr_wraps_modulo_2_to_the_64(void **state)
{
	fc_cache *c = *state;
	uint64_t v = 1;

	assert_int_equal(fc_set(c, "w", 1, "18446744073709551615", 20, 0),
			 FC_OK);
	assert_int_equal(fc_incr(c, "w", 1, 1, &v), FC_OK);
	assert_int_equal(v, 0);
	expect_text(c, "w", "0");
	assert_int_equal(fc_set(c, "w", 1, "18446744073709551610", 20, 0),
			 FC_OK);
	assert_int_equal(fc_incr(c, "w", 1, INT64_MAX, &v), FC_OK);
	assert_true(v ==
		    (uint64_t)(18446744073709551610ull + (uint64_t)INT64_MAX));
}

static void
decr_stops_at_zero(void **state)
{
	fc_cache *c = *state;
	uint64_t v = 99;

	assert_int_equal(fc_set(c, "d", 1, "5", 1, 0), FC_OK);
	assert_int_equal(fc_incr(c, "d", 1, -3, &v), FC_OK);
	assert_int_equal(v, 2);
	assert_int_equal(fc_incr(c, "d", 1, -3, &v), FC_OK);
	assert_int_equal(v, 0);
	expect_text(c, "d", "0");
	assert_int_equal(fc_incr(c, "d", 1, -1, &v), FC_OK);
	assert_int_equal(v, 0);
	assert_int_equal(fc_set(c, "d", 1, "18446744073709551615", 20, 0),
			 FC_OK);
	assert_int_equal(fc_incr(c, "d", 1, INT64_MIN, &v), FC_OK);
	assert_true(v == UINT64_MAX - (1ull << 63));
	assert_int_equal(fc_incr(c, "d", 1, INT64_MIN, &v), FC_OK);
	assert_int_equal(v, 0);
	expect_text(c, "d", "0");
}

static void
incr_of_non_numbers_is_enotnum_and_changes_nothing(void **state)
{
	fc_cache *c = *state;
	static const char *bad[] = {
		"",
		"abc",
		"12a",
		"a12",
		"-1",
		"+1",
		" 1",
		"1 ",
		"1.5",
		"18446744073709551616", /* 2^64 */
		"99999999999999999999", /* 20 digits, > 2^64 */
		"000000000000000000001", /* 21 digits */
		"1\0",
		"0x10",
	};
	static const size_t badlen[] = {0, 3, 3, 3, 2, 2, 2,
					2, 3, 20, 20, 21, 2, 4};
	uint64_t v;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char buf[64];
		size_t len = sizeof buf;
		uint64_t cas1 = 0, cas2 = 0;

		assert_int_equal(fc_set(c, "x", 1, bad[i], badlen[i], 0),
				 FC_OK);
		assert_int_equal(fc_gets(c, "x", 1, buf, &len, &cas1), FC_OK);
		v = 777;
		if (fc_incr(c, "x", 1, 1, &v) != FC_ENOTNUM)
			fail_msg("fc_incr on \"%.*s\" (%zu bytes) did not "
				 "give FC_ENOTNUM",
				 (int)badlen[i], bad[i], badlen[i]);
		len = sizeof buf;
		assert_int_equal(fc_gets(c, "x", 1, buf, &len, &cas2), FC_OK);
		assert_int_equal(len, badlen[i]);
		assert_memory_equal(buf, bad[i], badlen[i]);
		assert_true(cas1 == cas2);
	}
}

static void
incr_of_a_missing_key_is_enotfound(void **state)
{
	fc_cache *c = *state;
	uint64_t v = 0;
	char buf[8];
	size_t len = sizeof buf;

	assert_int_equal(fc_incr(c, "none", 4, 1, &v), FC_ENOTFOUND);
	assert_int_equal(fc_get(c, "none", 4, buf, &len), FC_ENOTFOUND);
	assert_int_equal(fc_test_stats(c).items, 0);
}

static void
incr_keeps_the_ttl(void **state)
{
	fc_cache *c = *state;
	uint64_t v = 0;
	char buf[8];
	size_t len = sizeof buf;

	assert_int_equal(fc_set(c, "t", 1, "1", 1, 1000), FC_OK);
	assert_int_equal(fc_set(c, "f", 1, "1", 1, 0), FC_OK);
	fc_test_clock_advance_ms(500);
	assert_int_equal(fc_incr(c, "t", 1, 1, &v), FC_OK);
	assert_int_equal(fc_incr(c, "f", 1, 1, &v), FC_OK);
	fc_test_clock_advance_ms(600);
	assert_int_equal(fc_get(c, "t", 1, buf, &len), FC_ENOTFOUND);
	len = sizeof buf;
	assert_int_equal(fc_get(c, "f", 1, buf, &len), FC_OK);
	assert_int_equal(len, 1);
	assert_memory_equal(buf, "2", 1);
	fc_test_verify(c);
}

static void
incr_changes_the_cas_and_counts_a_set(void **state)
{
	fc_cache *c = *state;
	char buf[32];
	size_t len = sizeof buf;
	uint64_t cas1 = 0, cas2 = 0;
	fc_stats a, b;

	assert_int_equal(fc_set(c, "n", 1, "9", 1, 0), FC_OK);
	assert_int_equal(fc_gets(c, "n", 1, buf, &len, &cas1), FC_OK);
	a = fc_test_stats(c);
	assert_int_equal(fc_incr(c, "n", 1, 1, NULL), FC_OK);
	b = fc_test_stats(c);
	assert_int_equal(b.sets, a.sets + 1);
	assert_int_equal(b.items, a.items);
	assert_int_equal(b.data_bytes, a.data_bytes + 1); /* "9" -> "10" */
	len = sizeof buf;
	assert_int_equal(fc_gets(c, "n", 1, buf, &len, &cas2), FC_OK);
	assert_true(cas1 != cas2);
	assert_int_equal(fc_cas(c, "n", 1, "0", 1, 0, cas1), FC_ECAS);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
	const struct CMUnitTest tests[] = {
		T(incr_adds_and_stores_decimal_text),
		T(incr_accepts_leading_zeros_and_twenty_digits),
		T(incr_wraps_modulo_2_to_the_64),
		T(decr_stops_at_zero),
		T(incr_of_non_numbers_is_enotnum_and_changes_nothing),
		T(incr_of_a_missing_key_is_enotfound),
		T(incr_keeps_the_ttl),
		T(incr_changes_the_cas_and_counts_a_set),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
