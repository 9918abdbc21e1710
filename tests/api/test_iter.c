/* tests/api/test_iter.c - fc_iter_open / fc_iter_next / fc_iter_close. */
#include "fc_test.h"

#include <stdlib.h>
#include <string.h>

static void
iterating_an_empty_cache_ends_at_once(void **state)
{
	fc_cache *c = *state;
	fc_iter *it = NULL;
	fc_item item;

	assert_int_equal(fc_iter_open(c, &it), FC_OK);
	assert_non_null(it);
	assert_int_equal(fc_iter_next(it, &item), FC_ENOTFOUND);
	assert_int_equal(fc_iter_next(it, &item), FC_ENOTFOUND);
	fc_iter_close(it);
}

static void
iterator_returns_every_live_item_once_with_its_fields(void **state)
{
	enum { N = 2000 };
	fc_cache *c = *state;
	fc_iter *it = NULL;
	fc_item item;
	unsigned char *seen = calloc(N, 1);
	char key[32], val[600];
	uint64_t now;
	unsigned count = 0;
	fc_stats st;
	int rc;

	assert_non_null(seen);
	for (unsigned i = 0; i < sizeof val; i++)
		val[i] = (char)(i * 7);
	for (unsigned i = 0; i < N; i++) {
		size_t kl = fc_test_key(key, sizeof key, "it:", i);

		assert_int_equal(
			fc_set(c, key, kl, val, i % 500, i % 2 ? 60000 : 0),
			FC_OK);
	}
	for (unsigned i = 0; i < N; i += 10) {
		size_t kl = fc_test_key(key, sizeof key, "it:", i);

		assert_int_equal(fc_delete(c, key, kl), FC_OK);
	}
	st = fc_test_stats(c);
	now = fc_now_ms();
	assert_int_equal(fc_iter_open(c, &it), FC_OK);
	while ((rc = fc_iter_next(it, &item)) == FC_OK) {
		unsigned i;
		char tmp[32];
		uint64_t cas = 0;
		char buf[600];
		size_t len = sizeof buf;

		assert_true(item.klen > 3 && item.klen < sizeof tmp);
		memcpy(tmp, item.key, item.klen);
		tmp[item.klen] = '\0';
		assert_memory_equal(tmp, "it:", 3);
		i = (unsigned)strtoul(tmp + 3, NULL, 10);
		assert_true(i < N);
		assert_true(i % 10 != 0); /* deleted */
		assert_int_equal(seen[i], 0);
		seen[i] = 1;
		count++;
		assert_int_equal(item.vlen, i % 500);
		if (item.vlen > 0)
			assert_memory_equal(item.value, val, item.vlen);
		if (i % 2) {
			assert_true(item.expire_ms >= now + 59000);
			assert_true(item.expire_ms <= now + 61000);
			assert_true(item.ttl_left_ms > 59000);
			assert_true(item.ttl_left_ms <= 60000);
		} else {
			assert_int_equal(item.expire_ms, 0);
			assert_int_equal(item.ttl_left_ms, -1);
		}
		assert_true(item.size_class < st.classes);
		assert_true(item.chunk_bytes >= item.klen + item.vlen);
		assert_true(item.chunk_bytes <= st.page_bytes);
		/* the iterator's cas is the one fc_gets reports */
		assert_int_equal(
			fc_gets(c, item.key, item.klen, buf, &len, &cas),
			FC_OK);
		assert_true(cas == item.cas);
	}
	assert_int_equal(rc, FC_ENOTFOUND);
	fc_iter_close(it);
	assert_int_equal(count, N - N / 10);
	assert_int_equal(count, st.items);
	free(seen);
}

static void
iterator_skips_expired_items(void **state)
{
	fc_cache *c = *state;
	fc_iter *it = NULL;
	fc_item item;
	char key[32];
	unsigned count = 0;

	for (unsigned i = 0; i < 100; i++) {
		size_t kl = fc_test_key(key, sizeof key, "x", i);

		assert_int_equal(fc_set(c, key, kl, "v", 1, i < 40 ? 100 : 0),
				 FC_OK);
	}
	fc_test_clock_advance_ms(101);
	assert_int_equal(fc_iter_open(c, &it), FC_OK);
	while (fc_iter_next(it, &item) == FC_OK) {
		assert_int_equal(item.expire_ms, 0);
		count++;
	}
	fc_iter_close(it);
	assert_int_equal(count, 60);
}

static void
two_iterators_run_independently(void **state)
{
	fc_cache *c = *state;
	fc_iter *a = NULL, *b = NULL;
	fc_item ia, ib;
	unsigned na = 0, nb = 0;

	for (unsigned i = 0; i < 50; i++) {
		char key[16];
		size_t kl = fc_test_key(key, sizeof key, "k", i);

		assert_int_equal(fc_set(c, key, kl, key, kl, 0), FC_OK);
	}
	assert_int_equal(fc_iter_open(c, &a), FC_OK);
	assert_int_equal(fc_iter_open(c, &b), FC_OK);
	for (;;) {
		int ra = fc_iter_next(a, &ia);
		int rb = ra == FC_OK ? fc_iter_next(b, &ib) : FC_ENOTFOUND;

		if (ra != FC_OK)
			break;
		na++;
		if (rb == FC_OK)
			nb++;
		/* item a's pointers stay valid across another iterator's
		 * call */
		assert_memory_equal(ia.key, ia.value, ia.klen);
	}
	while (fc_iter_next(b, &ib) == FC_OK)
		nb++;
	assert_int_equal(na, 50);
	assert_int_equal(nb, 50);
	fc_iter_close(a);
	fc_iter_close(b);
}

static void
items_set_while_iterating_do_not_break_the_iterator(void **state)
{
	fc_cache *c = *state;
	fc_iter *it = NULL;
	fc_item item;
	unsigned n = 0, old = 0;
	char key[32];

	for (unsigned i = 0; i < 500; i++) {
		size_t kl = fc_test_key(key, sizeof key, "old", i);

		assert_int_equal(fc_set(c, key, kl, key, kl, 0), FC_OK);
	}
	assert_int_equal(fc_iter_open(c, &it), FC_OK);
	while (fc_iter_next(it, &item) == FC_OK) {
		size_t kl = fc_test_key(key, sizeof key, "new", n);

		assert_true(item.klen == item.vlen);
		assert_memory_equal(item.key, item.value, item.klen);
		if (item.klen > 3 && memcmp(item.key, "old", 3) == 0)
			old++;
		assert_int_equal(fc_set(c, key, kl, key, kl, 0), FC_OK);
		n++;
		assert_true(n < 100000);
	}
	fc_iter_close(it);
	/* weakly consistent: every item present throughout is returned
	 * (once, unless an index rebuild happened) */
	if (fc_test_stats(c).index_rebuilds == 0)
		assert_int_equal(old, 500);
	fc_test_verify(c);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
	const struct CMUnitTest tests[] = {
		T(iterating_an_empty_cache_ends_at_once),
		T(iterator_returns_every_live_item_once_with_its_fields),
		T(iterator_skips_expired_items),
		T(two_iterators_run_independently),
		T(items_set_while_iterating_do_not_break_the_iterator),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
