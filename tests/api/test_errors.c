/* tests/api/test_errors.c - fc_strerror, fc_errname, fc_now_ms,
 * fc_options_init. */
#include "fc_test.h"

#include <limits.h>
#include <string.h>
#include <time.h>

struct code {
	int val;
	const char *name;
	const char *msg;
};

static const struct code codes[] = {
#define X(name, val, msg) {FC_##name, "FC_" #name, msg},
	FC_ERRORS(X)
#undef X
};
#define NCODES (sizeof codes / sizeof codes[0])

static void
error_values_are_unique_and_contiguous_from_zero_down(void **state)
{
	int seen[64] = {0};

	assert_int_equal(NCODES, 16);
	for (size_t i = 0; i < NCODES; i++) {
		assert_true(codes[i].val <= 0);
		assert_true(-codes[i].val < 64);
		assert_int_equal(seen[-codes[i].val], 0);
		seen[-codes[i].val] = 1;
	}
	for (size_t i = 0; i < NCODES; i++)
		assert_int_equal(seen[i], 1);
	assert_int_equal(FC_OK, 0);
	assert_int_equal(FC_ENOTFOUND, -1);
	assert_int_equal(FC_ENOTNUM, -12);
	assert_int_equal(FC_ETIMEDOUT, -13);
	assert_int_equal(FC_ELEASE, -14);
}

static void
strerror_gives_each_code_its_own_nonempty_message(void **state)
{
	for (size_t i = 0; i < NCODES; i++) {
		const char *m = fc_strerror(codes[i].val);

		assert_non_null(m);
		assert_true(strlen(m) > 0);
		assert_string_equal(m, codes[i].msg);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(m, fc_strerror(codes[j].val));
	}
}

static void
errname_names_each_code(void **state)
{
	for (size_t i = 0; i < NCODES; i++) {
		const char *n = fc_errname(codes[i].val);

		assert_non_null(n);
		assert_string_equal(n, codes[i].name);
	}
}

static void
unknown_codes_get_a_message_and_a_name_not_null(void **state)
{
	static const int unknown[] = {1, 2, -16, -100, INT_MIN, INT_MAX};

	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		const char *m = fc_strerror(unknown[i]);
		const char *n = fc_errname(unknown[i]);

		assert_non_null(m);
		assert_non_null(n);
		assert_true(strlen(m) > 0);
		assert_true(strlen(n) > 0);
		/* not mistaken for a known code */
		for (size_t j = 0; j < NCODES; j++) {
			assert_string_not_equal(m, codes[j].msg);
			assert_string_not_equal(n, codes[j].name);
		}
	}
}

static void
options_init_fills_documented_defaults(void **state)
{
	fc_options o;

	memset(&o, 0xa5, sizeof o);
	fc_options_init(&o);
	assert_int_equal(o.segment_bytes, 64ull << 20);
	assert_int_equal(o.flags, 0);
	assert_int_equal(o.mode, 0600);
	assert_int_equal(o.reader_slots, 256);
	assert_int_equal(o.page_bytes, 0); /* auto */
	assert_int_equal(o.avg_item_bytes, 256);
	for (size_t i = 0; i < sizeof o.reserved / sizeof o.reserved[0]; i++)
		assert_int_equal(o.reserved[i], 0);
}

static void
now_ms_follows_realtime_and_the_fake_clock(void **state)
{
	struct timespec ts;
	uint64_t rt, now, later;

	clock_gettime(CLOCK_REALTIME, &ts);
	rt = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	now = fc_now_ms();
	/* coarse clock: a few ms of resolution */
	assert_true(now + 50 >= rt);
	assert_true(now <= rt + 1000);
	fc_test_clock_advance_ms(100000);
	later = fc_now_ms();
	assert_true(later >= now + 100000);
	assert_true(later <= now + 100000 + 1000);
	fc_test_clock_reset();
	later = fc_now_ms();
	assert_true(later < now + 100000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			error_values_are_unique_and_contiguous_from_zero_down),
		cmocka_unit_test(
			strerror_gives_each_code_its_own_nonempty_message),
		cmocka_unit_test(errname_names_each_code),
		cmocka_unit_test(
			unknown_codes_get_a_message_and_a_name_not_null),
		cmocka_unit_test(options_init_fills_documented_defaults),
		cmocka_unit_test(now_ms_follows_realtime_and_the_fake_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
