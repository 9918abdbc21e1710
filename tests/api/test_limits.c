/* tests/api/test_limits.c - the largest key and value a segment accepts. */
#include "fc_test.h"

#include <stdlib.h>
#include <string.h>

static void
key_of_exactly_key_max_bytes_is_stored(void **state)
{
	fc_cache *c = *state;
	unsigned char key[FC_KEY_MAX], key2[FC_KEY_MAX], buf[16];
	size_t len = sizeof buf;
	uint64_t v = 0;

	for (unsigned i = 0; i < FC_KEY_MAX; i++)
		key[i] = (unsigned char)(i * 31 + 7);
	memcpy(key2, key, sizeof key);
	key2[FC_KEY_MAX - 1] ^= 1; /* differs in the last byte only */
	assert_int_equal(fc_set(c, key, FC_KEY_MAX, "max", 3, 0), FC_OK);
	assert_int_equal(fc_get(c, key, FC_KEY_MAX, buf, &len), FC_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "max", 3);
	len = sizeof buf;
	assert_int_equal(fc_get(c, key2, FC_KEY_MAX, buf, &len), FC_ENOTFOUND);
	assert_int_equal(fc_add(c, key2, FC_KEY_MAX, "7", 1, 0), FC_OK);
	assert_int_equal(fc_incr(c, key2, FC_KEY_MAX, 3, &v), FC_OK);
	assert_int_equal(v, 10);
	assert_int_equal(fc_touch(c, key, FC_KEY_MAX, 0), FC_OK);
	assert_int_equal(fc_delete(c, key, FC_KEY_MAX), FC_OK);
	len = sizeof buf;
	assert_int_equal(fc_get(c, key, FC_KEY_MAX, buf, &len), FC_ENOTFOUND);
	assert_int_equal(fc_test_stats(c).items, 1);
	assert_int_equal(fc_test_stats(c).data_bytes, FC_KEY_MAX + 2);
	fc_test_verify(c);
}

/* Store and read back a value of exactly value_max bytes with a key of
 * FC_KEY_MAX bytes, then one byte more is FC_E2BIG. */
static void
check_value_max(fc_cache *c)
{
	fc_stats st = fc_test_stats(c);
	size_t n = (size_t)st.value_max;
	unsigned char *v = malloc(n + 1), *out = malloc(n + 1);
	unsigned char key[FC_KEY_MAX];
	size_t len;
	fc_test_rng r;

	assert_non_null(v);
	assert_non_null(out);
	assert_true(n > 0);
	assert_true(st.value_max < st.page_bytes);
	assert_int_equal(st.value_max, st.page_bytes - 16 - FC_KEY_MAX);
	memset(key, 'k', sizeof key);
	fc_test_rng_init(&r, fc_test_seed());
	fc_test_fill_random(&r, v, n + 1);
	assert_int_equal(fc_set(c, key, FC_KEY_MAX, v, n, 0), FC_OK);
	len = n;
	assert_int_equal(fc_get(c, key, FC_KEY_MAX, out, &len), FC_OK);
	assert_int_equal(len, n);
	assert_memory_equal(out, v, n);
	len = n - 1;
	assert_int_equal(fc_get(c, key, FC_KEY_MAX, out, &len), FC_ETRUNC);
	assert_int_equal(len, n);
	/* also with a one-byte key */
	assert_int_equal(fc_set(c, "k", 1, v + 1, n, 0), FC_OK);
	len = n + 1;
	assert_int_equal(fc_get(c, "k", 1, out, &len), FC_OK);
	assert_int_equal(len, n);
	assert_memory_equal(out, v + 1, n);
	assert_int_equal(fc_set(c, "k", 1, v, n + 1, 0), FC_E2BIG);
	assert_int_equal(fc_set(c, key, FC_KEY_MAX, v, n + 1, 0), FC_E2BIG);
	/* the failed sets did not touch the stored values */
	len = n;
	assert_int_equal(fc_get(c, "k", 1, out, &len), FC_OK);
	assert_memory_equal(out, v + 1, n);
	assert_int_equal(fc_test_stats(c).items, 2);
	fc_test_verify(c);
	free(v);
	free(out);
}

static void
value_of_exactly_value_max_is_stored_with_64k_pages(void **state)
{
	fc_cache *c = *state;

	check_value_max(c);
}

static void
value_of_fc_value_max_fits_a_default_segment(void **state)
{
	fc_options o;
	fc_cache *c;
	fc_stats st;
	unsigned char *v = malloc(FC_VALUE_MAX);
	size_t len = FC_VALUE_MAX;

	assert_non_null(v);
	fc_options_init(&o);
	c = fc_test_create(&o);
	st = fc_test_stats(c);
	assert_true(st.value_max >= FC_VALUE_MAX);
	memset(v, 0x5a, FC_VALUE_MAX);
	v[0] = 0;
	v[FC_VALUE_MAX - 1] = 1;
	assert_int_equal(fc_set(c, "big", 3, v, FC_VALUE_MAX, 0), FC_OK);
	memset(v, 0, FC_VALUE_MAX);
	assert_int_equal(fc_get(c, "big", 3, v, &len), FC_OK);
	assert_int_equal(len, FC_VALUE_MAX);
	assert_int_equal(v[0], 0);
	assert_int_equal(v[1], 0x5a);
	assert_int_equal(v[FC_VALUE_MAX - 1], 1);
	free(v);
	assert_int_equal(fc_delete(c, "big", 3), FC_OK);
	check_value_max(c);
	fc_test_destroy(c);
}

static void
smallest_segment_stores_what_fits_or_says_enomem(void **state)
{
	fc_options o;
	fc_cache *c;
	fc_stats st, after;
	size_t n;
	unsigned char *v;
	int rc;

	fc_test_default_options(&o);
	o.segment_bytes = 1u << 20;
	o.reader_slots = 4;
	c = fc_test_create(&o);
	st = fc_test_stats(c);
	assert_true(st.pages >= 1);
	n = (size_t)st.value_max;
	v = calloc(1, n + 1);
	assert_non_null(v);
	assert_int_equal(fc_set(c, "small", 5, "v", 1, 0), FC_OK);
	st = fc_test_stats(c);
	rc = fc_set(c, "k", 1, v, n, 0);
	/* documented: FC_ENOMEM when it cannot fit even in an empty cache */
	if (rc != FC_OK && rc != FC_ENOMEM)
		fail_msg("fc_set(value_max) in a 1 MiB segment = %s",
			 fc_errname(rc));
	if (rc == FC_ENOMEM) {
		after = fc_test_stats(c);
		assert_int_equal(after.items, st.items);
		assert_int_equal(after.data_bytes, st.data_bytes);
	}
	assert_int_equal(fc_set(c, "k", 1, v, n + 1, 0), FC_E2BIG);
	fc_test_verify(c);
	free(v);
	fc_test_destroy(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			key_of_exactly_key_max_bytes_is_stored, fc_test_open,
			fc_test_close),
		cmocka_unit_test_setup_teardown(
			value_of_exactly_value_max_is_stored_with_64k_pages,
			fc_test_open, fc_test_close),
		cmocka_unit_test(value_of_fc_value_max_fits_a_default_segment),
		cmocka_unit_test(
			smallest_segment_stores_what_fits_or_says_enomem),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
