/*
 * tests/unit/test_support.c - support/ (the helpers tests, stress, bench,
 * the demo and the CLI share): the size grammar, the generators' known
 * sequences, the self-checking value's detections, Zipf ranks.
 */
#include "fc_test.h"
#include "sup_rng.h"
#include "sup_size.h"
#include "sup_value.h"
#include "sup_zipf.h"

#include <stdlib.h>
#include <string.h>

static void
sizes_parse_by_one_grammar(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} cases[] = {
		{"0", 0, 0},
		{"4096", 0, 4096},
		{"64K", 0, 64ull << 10},
		{"64k", 0, 64ull << 10},
		{"64M", 0, 64ull << 20},
		{"64MiB", 0, 64ull << 20},
		{"64MB", 0, 64ull << 20},
		{"1G", 0, 1ull << 30},
		{"2T", 0, 2ull << 40},
		{"100B", 0, 100},
		{"18446744073709551615", 0, UINT64_MAX},
		{"18446744073709551616", -1, 0}, /* 2^64 */
		{"16777216T", -1, 0}, /* 2^64 bytes */
		{"", -1, 0},
		{"-1", -1, 0},
		{"+1", -1, 0},
		{" 1", -1, 0},
		{"1 ", -1, 0},
		{"1X", -1, 0},
		{"1Mi", -1, 0},
		{"0x10", -1, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint64_t v = 12345;
		int rc = sup_parse_size(cases[i].s, &v);
		if (rc != cases[i].rc || (rc == 0 && v != cases[i].v))
			fail_msg("sup_parse_size(\"%s\") = %d, %llu", cases[i].s,
				 rc, (unsigned long long)v);
	}
	uint64_t v;
	assert_int_equal(sup_parse_size_max("64K", 65536, &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(sup_parse_size_max("64K", 65535, &v), -1);
	assert_int_equal(sup_parse_u64("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(sup_parse_u64("42K", &v), -1);
	assert_int_equal(sup_parse_u64("", &v), -1);
}

static void
generators_give_their_published_sequences(void **state)
{
	uint64_t s = 0, x = 1;

	(void)state;
	/* splitmix64 from seed 0 (Vigna's reference implementation) */
	assert_true(sup_splitmix64(&s) == 0xe220a8397b1dcdafull);
	assert_true(sup_splitmix64(&s) == 0x6e789e6aa1b965f4ull);
	assert_true(sup_mix64(0) == 0xe220a8397b1dcdafull);
	/* xorshift64 (13, 7, 17) from 1 */
	assert_true(sup_xorshift64(&x) == 0x40822041ull);
	for (int i = 0; i < 1000; i++) {
		assert_true(sup_below(&s, 7) < 7);
		uint64_t r = sup_range(&s, 5, 9);
		assert_true(r >= 5 && r <= 9);
		double u = sup_unit(&s);
		assert_true(u >= 0 && u < 1);
	}
	assert_int_equal(sup_below(&s, 0), 0);
}

static void
a_self_checking_value_detects_each_kind_of_damage(void **state)
{
	unsigned char v[100], w[100];
	uint32_t writer;
	uint64_t seq;

	(void)state;
	sup_value_make(v, sizeof v, "key", 3, 7, 42);
	assert_int_equal(sup_value_check(v, sizeof v, "key", 3, &writer, &seq), 0);
	assert_int_equal(writer, 7);
	assert_int_equal(seq, 42);
	assert_int_equal(sup_value_check(v, SUP_VALUE_MIN - 1, "key", 3, NULL, NULL), 1);
	assert_int_equal(sup_value_check(v, sizeof v - 1, "key", 3, NULL, NULL), 3);
	assert_int_equal(sup_value_check(v, sizeof v, "kez", 3, NULL, NULL), 4);
	for (size_t i = 0; i < sizeof v; i++) {
		memcpy(w, v, sizeof v);
		w[i] ^= 0x10;
		assert_int_not_equal(sup_value_check(w, sizeof w, "key", 3, NULL, NULL), 0);
	}
	memcpy(w, v, sizeof v);
	w[0] ^= 1;
	assert_int_equal(sup_value_check(w, sizeof w, "key", 3, NULL, NULL), 2);
	/* same inputs, same bytes; another seq, other bytes */
	sup_value_make(w, sizeof w, "key", 3, 7, 42);
	assert_memory_equal(v, w, sizeof v);
	sup_value_make(w, sizeof w, "key", 3, 7, 43);
	assert_memory_not_equal(v + SUP_VALUE_MIN, w + SUP_VALUE_MIN,
				sizeof v - SUP_VALUE_MIN);
}

static void
zipf_ranks_follow_the_cdf(void **state)
{
	double *cdf = sup_zipf_cdf(100, 0.99);
	unsigned count[100] = {0};
	uint64_t s = 1;

	(void)state;
	assert_non_null(cdf);
	assert_true(cdf[99] == 1.0);
	for (int i = 1; i < 100; i++)
		assert_true(cdf[i] > cdf[i - 1]);
	assert_int_equal(sup_zipf_rank(cdf, 100, 0.0), 0);
	assert_int_equal(sup_zipf_rank(cdf, 100, cdf[10]), 10);
	assert_int_equal(sup_zipf_rank(cdf, 100, cdf[10] + 1e-12), 11);
	assert_int_equal(sup_zipf_rank(cdf, 100, 0.9999999999), 99);
	for (int i = 0; i < 100000; i++)
		count[sup_zipf_rank(cdf, 100, sup_unit(&s))]++;
	assert_true(count[0] > count[1] && count[1] > count[9] &&
		    count[9] > count[99]);
	free(cdf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes_parse_by_one_grammar),
		cmocka_unit_test(generators_give_their_published_sequences),
		cmocka_unit_test(a_self_checking_value_detects_each_kind_of_damage),
		cmocka_unit_test(zipf_ranks_follow_the_cdf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
