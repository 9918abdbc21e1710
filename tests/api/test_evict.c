/* tests/api/test_evict.c - a full cache evicts (CLOCK) instead of failing;
 * index rebuilds after many deletes. */
#include "fc_test.h"

#include <stdlib.h>
#include <string.h>

static fc_cache *
small_cache(void)
{
	fc_options o;

	fc_test_default_options(&o);
	o.segment_bytes = 4u << 20;
	o.page_bytes = 64u << 10;
	return fc_test_create(&o);
}

/* Get @p key and check it is a well-formed value for it; returns the rc. */
static int
get_checked(fc_cache *c, const char *key, size_t kl, unsigned char *buf,
	    size_t cap, uint64_t *seq)
{
	size_t len = cap;
	int rc = fc_get(c, key, kl, buf, &len);

	if (rc == FC_OK) {
		int bad = fc_test_value_check(buf, len, key, kl, NULL, seq);

		if (bad)
			fail_msg("key %.*s: bad value (reason %d, len %zu)",
				 (int)kl, key, bad, len);
	} else if (rc != FC_ENOTFOUND) {
		fail_msg("fc_get(%.*s) = %s", (int)kl, key, fc_errname(rc));
	}
	return rc;
}

static void
full_cache_evicts_instead_of_failing(void **state)
{
	enum { VMAX = 16384, RECENT = 32 };
	fc_cache *c = small_cache();
	fc_stats st = fc_test_stats(c);
	uint64_t total = 0, target = 10 * st.segment_bytes;
	unsigned char *val = malloc(VMAX), *buf = malloc(VMAX);
	unsigned n = 0, recent_ok = 0;
	char key[32];
	fc_test_rng r;

	assert_non_null(val);
	assert_non_null(buf);
	fc_test_rng_init(&r, fc_test_seed());
	while (total < target) {
		size_t kl = fc_test_key(key, sizeof key, "fill:", n);
		/* mostly small, some large: 64 B .. 16 KiB */
		size_t vl = fc_test_rand(&r) % 4 == 0
				    ? fc_test_rand_range(&r, 4096, VMAX)
				    : fc_test_rand_range(&r, 64, 1024);
		uint64_t seq = 0;
		int rc;

		fc_test_value_make(val, vl, key, kl, 1, n);
		rc = fc_set(c, key, kl, val, vl, 0);
		if (rc != FC_OK)
			fail_msg("set %u (%zu bytes) after %llu bytes: %s", n,
				 vl, (unsigned long long)total, fc_errname(rc));
		/* a set that returned FC_OK is readable right away */
		assert_int_equal(get_checked(c, key, kl, buf, VMAX, &seq),
				 FC_OK);
		assert_int_equal(seq, n);
		total += vl + kl;
		n++;
	}
	st = fc_test_stats(c);
	assert_true(st.evictions > 0);
	assert_true(st.items < n);
	assert_true(st.bytes_used <= st.data_capacity);
	/* every key reads as its own value or as a miss */
	for (unsigned i = 0; i < n; i++) {
		size_t kl = fc_test_key(key, sizeof key, "fill:", i);
		uint64_t seq = 0;

		if (get_checked(c, key, kl, buf, VMAX, &seq) == FC_OK) {
			assert_int_equal(seq, i);
			if (i >= n - RECENT)
				recent_ok++;
		}
	}
	/* most of the most recent sets are still there */
	if (recent_ok < RECENT / 2)
		fail_msg("only %u of the last %u items survived", recent_ok,
			 RECENT);
	fc_test_verify(c);
	free(val);
	free(buf);
	fc_test_destroy(c);
}

static void
largest_item_fits_a_cache_full_of_small_items(void **state)
{
	fc_cache *c = small_cache();
	fc_stats st = fc_test_stats(c);
	size_t vmax = (size_t)st.value_max;
	unsigned char *big = malloc(vmax + 1), *buf = malloc(vmax + 1);
	char key[32];
	size_t len;

	assert_non_null(big);
	assert_non_null(buf);
	for (unsigned i = 0; i < 40000; i++) {
		size_t kl = fc_test_key(key, sizeof key, "small:", i);

		fc_test_value_make(big, 100, key, kl, 0, i);
		assert_int_equal(fc_set(c, key, kl, big, 100, 0), FC_OK);
	}
	st = fc_test_stats(c);
	assert_true(st.evictions > 0);
	fc_test_value_make(big, vmax, "big", 3, 0, 0);
	assert_int_equal(fc_set(c, "big", 3, big, vmax, 0), FC_OK);
	len = vmax + 1;
	assert_int_equal(fc_get(c, "big", 3, buf, &len), FC_OK);
	assert_int_equal(len, vmax);
	assert_int_equal(fc_test_value_check(buf, len, "big", 3, NULL, NULL),
			 0);
	/* too big stays too big in a full cache */
	assert_int_equal(fc_set(c, "big2", 4, big, vmax + 1, 0), FC_E2BIG);
	fc_test_verify(c);
	free(big);
	free(buf);
	fc_test_destroy(c);
}

static void
many_deletes_rebuild_the_index_and_keep_items(void **state)
{
	enum { KEEP = 500, MAX_ROUNDS = 40 };
	fc_cache *c = *state;
	unsigned char val[128], buf[128];
	char key[32];
	fc_stats st = fc_test_stats(c);
	/* live items stay at 78% of the buckets: below the index's eviction
	 * threshold (80% live), while deletes leave tombstones behind until
	 * used buckets reach the 90% cap */
	unsigned batch = (unsigned)(st.buckets * 78 / 100) - KEEP;
	unsigned *order = malloc(sizeof(unsigned) * batch);
	unsigned round, next = 0;
	fc_test_rng r;

	assert_non_null(order);
	fc_test_rng_init(&r, fc_test_seed());
	for (unsigned i = 0; i < KEEP; i++) {
		size_t kl = fc_test_key(key, sizeof key, "keep:", i);

		fc_test_value_make(val, 64, key, kl, 0, i);
		assert_int_equal(fc_set(c, key, kl, val, 64, 0), FC_OK);
	}
	for (round = 0; round < MAX_ROUNDS; round++) {
		for (unsigned i = 0; i < batch; i++) {
			size_t kl =
				fc_test_key(key, sizeof key, "tmp:", next + i);

			fc_test_value_make(val, 40, key, kl, 0, next + i);
			assert_int_equal(fc_set(c, key, kl, val, 40, 0), FC_OK);
			order[i] = next + i;
		}
		/* replace every kept key once per round */
		for (unsigned i = 0; i < KEEP; i++) {
			size_t kl = fc_test_key(key, sizeof key, "keep:", i);
			size_t vl = 64 + (round * 7 + i) % 50;

			fc_test_value_make(val, vl, key, kl, round, i);
			assert_int_equal(fc_replace(c, key, kl, val, vl, 0),
					 FC_OK);
		}
		for (unsigned i = batch - 1; i > 0; i--) {
			unsigned j = (unsigned)(fc_test_rand(&r) % (i + 1)), t;

			t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (unsigned i = 0; i < batch; i++) {
			size_t kl =
				fc_test_key(key, sizeof key, "tmp:", order[i]);

			assert_int_equal(fc_delete(c, key, kl), FC_OK);
		}
		next += batch;
		st = fc_test_stats(c);
		if (st.index_rebuilds > 0 && round >= 2)
			break;
	}
	print_message("buckets %llu batch %u rounds %u rebuilds %llu "
		      "tombstones %llu\n",
		      (unsigned long long)st.buckets, batch, round + 1,
		      (unsigned long long)st.index_rebuilds,
		      (unsigned long long)st.tombstones);
	assert_true(st.index_rebuilds > 0);
	assert_int_equal(st.items, KEEP);
	assert_int_equal(st.evictions, 0);
	assert_true(st.tombstones < st.buckets);
	for (unsigned i = 0; i < KEEP; i++) {
		size_t kl = fc_test_key(key, sizeof key, "keep:", i);
		size_t len = sizeof buf;
		uint64_t seq = 0;

		assert_int_equal(fc_get(c, key, kl, buf, &len), FC_OK);
		assert_int_equal(
			fc_test_value_check(buf, len, key, kl, NULL, &seq), 0);
		assert_int_equal(seq, i);
	}
	for (unsigned i = 0; i < next; i += 97) {
		size_t kl = fc_test_key(key, sizeof key, "tmp:", i);
		size_t len = sizeof buf;

		assert_int_equal(fc_get(c, key, kl, buf, &len), FC_ENOTFOUND);
	}
	free(order);
	fc_test_verify(c);
}

static void
frequently_read_keys_survive_eviction_better(void **state)
{
	enum { HOT = 200, COLD = 200, VLEN = 1000 };
	fc_cache *c = small_cache();
	unsigned char val[VLEN], buf[VLEN];
	char key[32];
	unsigned hot_alive = 0, cold_alive = 0, fillers;
	fc_stats st;
	uint64_t cap_items;

	st = fc_test_stats(c);
	cap_items = st.data_capacity / VLEN;
	fillers = (unsigned)(4 * cap_items);
	for (unsigned i = 0; i < HOT + COLD; i++) {
		int hot = i % 2 == 0;
		size_t kl = fc_test_key(key, sizeof key,
					hot ? "hot:" : "cold:", i / 2);

		fc_test_value_make(val, VLEN, key, kl, 0, i);
		assert_int_equal(fc_set(c, key, kl, val, VLEN, 0), FC_OK);
	}
	for (unsigned i = 0; i < fillers; i++) {
		size_t kl = fc_test_key(key, sizeof key, "filler:", i);
		size_t len = sizeof buf;

		fc_test_value_make(val, VLEN, key, kl, 0, i);
		assert_int_equal(fc_set(c, key, kl, val, VLEN, 0), FC_OK);
		/* read one hot key per set: each is read every HOT sets */
		kl = fc_test_key(key, sizeof key, "hot:", i % HOT);
		(void)fc_get(c, key, kl, buf, &len);
	}
	for (unsigned i = 0; i < HOT; i++) {
		size_t kl = fc_test_key(key, sizeof key, "hot:", i);
		size_t len = sizeof buf;

		if (fc_get(c, key, kl, buf, &len) == FC_OK)
			hot_alive++;
		kl = fc_test_key(key, sizeof key, "cold:", i);
		len = sizeof buf;
		if (fc_get(c, key, kl, buf, &len) == FC_OK)
			cold_alive++;
	}
	st = fc_test_stats(c);
	print_message("hot survived %u/%u, cold %u/%u, evictions %llu, "
		      "capacity ~%llu items, %u fillers\n",
		      hot_alive, HOT, cold_alive, COLD,
		      (unsigned long long)st.evictions,
		      (unsigned long long)cap_items, fillers);
	assert_true(st.evictions >= fillers / 2);
	assert_true(hot_alive >= HOT * 8 / 10);
	assert_true(hot_alive >= cold_alive + HOT / 2);
	fc_test_verify(c);
	fc_test_destroy(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_cache_evicts_instead_of_failing),
		cmocka_unit_test(largest_item_fits_a_cache_full_of_small_items),
		cmocka_unit_test_setup_teardown(
			many_deletes_rebuild_the_index_and_keep_items,
			fc_test_open, fc_test_close),
		cmocka_unit_test(frequently_read_keys_survive_eviction_better),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
