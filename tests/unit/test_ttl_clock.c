/*
 * tests/unit/test_ttl_clock.c - white-box tests of the TTL clock
 * (lib/clock.c) and of expiry bookkeeping (lib/item.c, lib/evict.c): the
 * test offset, the time-driven sweep over index lines (fc__evict_sweep_locked,
 * the per-line expiry summaries of index.c I6) and hd_ttl_items, the gates
 * that let writes skip the sweep, and eviction taking expired items first.
 */
#include "fc_test.h"
#include "fc_internal.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

static uint64_t
coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t *
live_ix(fc_cache *c)
{
	return fc__index(c, (unsigned)(c->hdr->hd_ix_sel & 1));
}

/* Live items with an expiry, counted from the index. */
static uint64_t
recount_ttl(fc_cache *c)
{
	const uint64_t *ix = live_ix(c);
	uint64_t n = 0;

	for (uint64_t i = 0; i < c->g.nbuckets; i++) {
		if (!fc__bk_live(ix[i]))
			continue;
		struct item_shm *it = fc__item_at(c, fc__bk_off(ix[i]));
		assert_non_null(it);
		n += fc__item_expiry(c, it) != 0;
	}
	return n;
}

static void
assert_ttl_items(fc_cache *c, const char *after)
{
	uint64_t n = recount_ttl(c);

	if (n != c->hdr->hd_ttl_items)
		fail_msg("after %s: %" PRIu64
			 " live items have a TTL, hd_ttl_items "
			 "says %" PRIu64,
			 after, n, c->hdr->hd_ttl_items);
}

static uint64_t
pos_of(fc_cache *c, const char *key, struct item_shm **it)
{
	struct fc_probe p;

	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__index_probe_locked(c,
						fc__hash(c, key, strlen(key)),
						key, strlen(key), 0, &p),
			 FC_OK);
	fc__unlock(c);
	if (it)
		*it = p.it;
	return p.pos;
}

/* Sweep @p lines index lines from the cursor at time @p now. */
static void
sweep(fc_cache *c, uint64_t lines, uint64_t now)
{
	assert_int_equal(fc__lock(c), FC_OK);
	assert_true(fc__evict_sweep_lines_locked(c, lines, now) >= 0);
	fc__unlock(c);
}

static void
set_ttl(fc_cache *c, const char *key, uint64_t ttl)
{
	assert_int_equal(fc_set(c, key, strlen(key), "v", 1, ttl), FC_OK);
}

/* --------------------------------------------------------------- clock -- */

static void
now_ms_is_the_coarse_realtime_clock_plus_the_test_offset(void **state)
{
	const int64_t offsets[] = {0, 5000, -3000, 86400000, 0};

	(void)state;
	for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
		fc__clock_set_offset_ms(offsets[i]);
		uint64_t lo = coarse_ms();
		uint64_t now = fc__now_ms(), pub = fc_now_ms();
		uint64_t hi = coarse_ms();
		if (now < lo + (uint64_t)offsets[i] ||
		    now > hi + (uint64_t)offsets[i])
			fail_msg("offset %" PRId64 ": fc__now_ms %" PRIu64
				 " outside coarse "
				 "[%" PRIu64 ", %" PRIu64 "] + offset",
				 offsets[i], now, lo, hi);
		if (pub < now || pub > hi + (uint64_t)offsets[i])
			fail_msg("offset %" PRId64 ": fc_now_ms %" PRIu64
				 " disagrees with "
				 "fc__now_ms %" PRIu64,
				 offsets[i], pub, now);
	}
	/* The helper accumulates into the same offset. */
	fc_test_clock_reset();
	fc_test_clock_advance_ms(1500);
	fc_test_clock_advance_ms(500);
	uint64_t lo = coarse_ms(), now = fc__now_ms(), hi = coarse_ms();
	assert_true(now >= lo + 2000 && now <= hi + 2000);
	fc_test_clock_reset();
}

static void
item_expiry_is_set_from_the_offset_clock(void **state)
{
	fc_cache *c = *state;
	struct item_shm *it;

	fc_test_clock_advance_ms(100000);
	uint64_t lo = fc__now_ms();
	set_ttl(c, "k", 250);
	uint64_t hi = fc__now_ms();
	assert_true(pos_of(c, "k", &it) != UINT64_MAX);
	assert_true(fc__item_expiry(c, it) >= lo + 250 &&
		    fc__item_expiry(c, it) <= hi + 250);
	fc_test_verify(c);
}

/* --------------------------------------------------------------- sweep -- */

static void
sweep_retires_only_expired_items_and_counts_them(void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;
	char key[16];
	static const uint64_t ttls[3] = {0, 1000, 5000};

	for (unsigned i = 0; i < 30; i++) {
		fc_test_key(key, sizeof key, "s", i);
		set_ttl(c, key, ttls[i % 3]);
	}
	assert_int_equal(h->hd_ttl_items, 20);
	assert_int_equal(h->hd_expired, 0);
	uint64_t limbo = h->hd_limbo_tail - h->hd_limbo_head;

	fc_test_clock_advance_ms(2000);
	sweep(c, c->g.nlines, fc__now_ms());
	assert_int_equal(h->hd_expired, 10);
	assert_int_equal(h->hd_items, 20);
	assert_int_equal(h->hd_ttl_items, 10);
	assert_int_equal(h->hd_limbo_tail - h->hd_limbo_head, limbo + 10);
	for (unsigned i = 0; i < 30; i++) {
		fc_test_key(key, sizeof key, "s", i);
		uint64_t pos = pos_of(c, key, NULL);
		if ((i % 3 == 1) != (pos == UINT64_MAX))
			fail_msg("key %s (ttl %" PRIu64 ") %s the sweep", key,
				 ttls[i % 3],
				 pos == UINT64_MAX ? "retired by" : "survived");
	}
	assert_ttl_items(c, "a full sweep");
	fc_test_verify(c);
}

static void
sweep_treats_an_item_as_expired_from_its_expiry_millisecond_on(void **state)
{
	fc_cache *c = *state;
	struct item_shm *it;

	set_ttl(c, "k", 1000);
	assert_true(pos_of(c, "k", &it) != UINT64_MAX);
	uint64_t e = fc__item_expiry(c, it);
	sweep(c, c->g.nlines, e - 1);
	assert_true(pos_of(c, "k", NULL) != UINT64_MAX);
	assert_int_equal(c->hdr->hd_expired, 0);
	sweep(c, c->g.nlines, e);
	assert_int_equal(pos_of(c, "k", NULL), UINT64_MAX);
	assert_int_equal(c->hdr->hd_expired, 1);
	assert_int_equal(c->hdr->hd_ttl_items, 0);
	fc_test_verify(c);
}

static void
sweep_examines_exactly_its_lines_from_the_cursor(void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;
	char y[16];
	uint64_t x, yp = UINT64_MAX, L = c->g.nlines;

	set_ttl(c, "x", 1000);
	x = pos_of(c, "x", NULL);
	for (unsigned i = 0; yp == UINT64_MAX || yp / FC_IX_WAYS == x / FC_IX_WAYS; i++) {
		if (yp != UINT64_MAX)
			assert_int_equal(fc_delete(c, y, strlen(y)), FC_OK);
		fc_test_key(y, sizeof y, "y", i);
		set_ttl(c, y, 1000);
		yp = pos_of(c, y, NULL);
	}
	uint64_t later = fc__now_ms() + 5000, xl = x / FC_IX_WAYS, yl = yp / FC_IX_WAYS;

	h->hd_sweep = xl;
	sweep(c, 1, later); /* x's line only */
	assert_int_equal(h->hd_sweep, (xl + 1) % L);
	assert_int_equal(pos_of(c, "x", NULL), UINT64_MAX);
	assert_int_equal(pos_of(c, y, NULL), yp);
	assert_int_equal(h->hd_expired, 1);

	h->hd_sweep = (yl + 1) % L;
	sweep(c, L - 1, later); /* every line but y's */
	assert_int_equal(h->hd_sweep, yl);
	assert_int_equal(pos_of(c, y, NULL), yp);
	sweep(c, 1, later);
	assert_int_equal(pos_of(c, y, NULL), UINT64_MAX);
	assert_int_equal(h->hd_expired, 2);

	h->hd_sweep = L - 1; /* wraps */
	sweep(c, 3, later);
	assert_int_equal(h->hd_sweep, 2);
	h->hd_sweep = 5 * L + 7; /* untrusted cursor: reduced */
	sweep(c, 1, later);
	assert_int_equal(h->hd_sweep, 8 % L);
	assert_ttl_items(c, "partial sweeps");
	fc_test_verify(c);
}

/* A line whose summary says nothing is due is skipped without reading its
 * items: planting a summary of 0 (the damage fc_verify reports) hides an
 * expired item from the sweep; the repair's rebuild of the summaries
 * brings it back. */
static void
sweep_skips_lines_whose_summary_says_nothing_is_due(void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;

	set_ttl(c, "k", 100);
	uint64_t pos = pos_of(c, "k", NULL);
	uint32_t *e = &fc__ix_exp(c, (unsigned)(h->hd_ix_sel & 1))[pos / FC_IX_WAYS];
	assert_true(*e >= fc__exp_item_key(c, fc__now_ms() + 100));
	uint32_t saved = *e;
	*e = 0;
	uint64_t later = fc__now_ms() + 1000;
	sweep(c, c->g.nlines, later);
	assert_int_equal(pos_of(c, "k", NULL), pos); /* skipped */
	assert_int_equal(h->hd_expired, 0);
	*e = saved;
	sweep(c, c->g.nlines, later);
	assert_int_equal(pos_of(c, "k", NULL), UINT64_MAX);
	assert_int_equal(h->hd_expired, 1);
	assert_int_equal(*e, 0); /* lowered: nothing left in the line */
	fc_test_verify(c);
}

/*
 * The sweep is driven by the TTL clock, not by the write count: writes
 * that each advance the clock by 1 ms reclaim an expired item within two
 * sweep periods, whatever the index size; without a TTL item writes do
 * not sweep; once nothing is due anywhere, the cursor stops.
 */
static void
writes_sweep_by_time_only_while_something_is_due(void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;
	char key[16];

	set_ttl(c, "a", 0);
	set_ttl(c, "b", 0);
	assert_int_equal(h->hd_sweep_clock, 0); /* gate closed: no TTL item */
	assert_int_equal(h->hd_sweep, 0);
	set_ttl(c, "t", 600000);
	set_ttl(c, "e", 10);
	unsigned n;
	for (n = 0; n < 2 * FC_SWEEP_PERIOD_MS + 40 && h->hd_expired == 0; n++) {
		fc_test_clock_advance_ms(1);
		fc_test_key(key, sizeof key, "w", n % 8);
		set_ttl(c, key, 0);
	}
	if (h->hd_expired != 1)
		fail_msg("expired item still held after %u writes 1 ms apart", n);
	/* Nothing due now ("t" is far off): after at most a pass more the
	 * cursor stops moving. */
	for (n = 0; n < 4 * FC_SWEEP_PERIOD_MS; n++) {
		fc_test_clock_advance_ms(1);
		set_ttl(c, "w", 0);
	}
	uint64_t s = h->hd_sweep;
	for (n = 0; n < FC_SWEEP_PERIOD_MS; n++) {
		fc_test_clock_advance_ms(1);
		set_ttl(c, "w", 0);
	}
	assert_int_equal(h->hd_sweep, s);
	assert_true(h->hd_exp_max < fc__exp_key(c, fc__now_ms()));
	fc_test_clock_reset();
	fc_test_verify(c);
}

/* --------------------------------------------------------- accounting -- */

static void
ttl_items_matches_a_recount_through_set_touch_delete_and_expiry(void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;
	char buf[8];
	size_t len;

	set_ttl(c, "a", 0);
	assert_ttl_items(c, "set a ttl 0");
	set_ttl(c, "b", 1000);
	assert_ttl_items(c, "set b ttl 1000");
	assert_int_equal(fc_touch(c, "a", 1, 500), FC_OK);
	assert_ttl_items(c, "touch a 500 (0 -> nonzero)");
	assert_int_equal(h->hd_ttl_items, 2);
	assert_int_equal(fc_touch(c, "b", 1, 0), FC_OK);
	assert_ttl_items(c, "touch b 0 (nonzero -> 0)");
	assert_int_equal(fc_touch(c, "a", 1, 700), FC_OK);
	assert_ttl_items(c, "touch a 700 (nonzero -> nonzero)");
	assert_int_equal(fc_touch(c, "b", 1, 0), FC_OK);
	assert_ttl_items(c, "touch b 0 (0 -> 0)");
	assert_int_equal(h->hd_ttl_items, 1);
	set_ttl(c, "a", 0);
	assert_ttl_items(c, "set a ttl 0 over a TTL item");
	set_ttl(c, "a", 100);
	assert_ttl_items(c, "set a ttl 100 over a non-TTL item");
	set_ttl(c, "a", 200);
	assert_ttl_items(c, "set a ttl 200 over a TTL item");
	assert_int_equal(fc_set(c, "n", 1, "41", 2, 300), FC_OK);
	assert_int_equal(fc_incr(c, "n", 1, 1, NULL), FC_OK);
	assert_ttl_items(c, "incr of a TTL counter");
	assert_int_equal(h->hd_ttl_items, 2);
	assert_int_equal(fc_delete(c, "a", 1), FC_OK);
	assert_ttl_items(c, "delete a");
	assert_int_equal(h->hd_ttl_items, 1);

	/* Expiry, each way memory comes back. */
	set_ttl(c, "e1", 100);
	set_ttl(c, "e2", 100);
	set_ttl(c, "e3", 100);
	set_ttl(c, "e4", 100);
	assert_int_equal(h->hd_ttl_items, 5);
	fc_test_clock_advance_ms(1000); /* n, e1..e4 expire */
	len = sizeof buf;
	assert_int_equal(fc_get(c, "e1", 2, buf, &len), FC_ENOTFOUND);
	assert_ttl_items(c, "a read of an expired item (changes nothing)");
	assert_int_equal(h->hd_ttl_items, 5);
	assert_int_equal(fc_delete(c, "e1", 2), FC_ENOTFOUND);
	assert_ttl_items(c, "delete of an expired item");
	assert_int_equal(fc_touch(c, "e2", 2, 0), FC_ENOTFOUND);
	assert_ttl_items(c, "touch of an expired item");
	set_ttl(c, "e3", 0);
	assert_ttl_items(c, "set over an expired item");
	sweep(c, c->g.nlines, fc__now_ms());
	assert_ttl_items(c, "a full sweep");
	assert_int_equal(h->hd_ttl_items, 0);
	assert_int_equal(h->hd_expired, 5);
	set_ttl(c, "f", 100);
	fc_test_clock_advance_ms(1000);
	assert_int_equal(fc_flush_expired(c), 1);
	assert_ttl_items(c, "fc_flush_expired");
	set_ttl(c, "g", 100);
	assert_int_equal(fc_flush(c), FC_OK);
	assert_ttl_items(c, "fc_flush");
	assert_int_equal(h->hd_ttl_items, 0);
	fc_test_verify(c);
}

static void
random_ttl_operations_keep_ttl_items_equal_to_a_recount(void **state)
{
	fc_cache *c = *state;
	fc_test_rng r;
	uint64_t seed = fc_test_seed();
	char key[16], buf[8], when[96];

	fc_test_rng_init(&r, seed);
	for (unsigned op = 0; op < 2000; op++) {
		size_t kl =
			fc_test_key(key, sizeof key, "r",
				    (unsigned)fc_test_rand_range(&r, 0, 24));
		uint64_t ttl = fc_test_rand(&r) % 2
				       ? fc_test_rand_range(&r, 1, 50)
				       : 0;
		unsigned what = (unsigned)(fc_test_rand(&r) % 100);
		size_t len = sizeof buf;
		int rc;
		const char *name;

		if (what < 40) {
			name = "set";
			rc = fc_set(c, key, kl, "v", 1, ttl);
		} else if (what < 60) {
			name = "touch";
			rc = fc_touch(c, key, kl, ttl);
		} else if (what < 75) {
			name = "delete";
			rc = fc_delete(c, key, kl);
		} else if (what < 85) {
			name = "get";
			rc = fc_get(c, key, kl, buf, &len);
		} else if (what < 95) {
			name = "advance";
			fc_test_clock_advance_ms(
				(int64_t)fc_test_rand_range(&r, 1, 30));
			rc = FC_OK;
		} else {
			name = "flush_expired";
			rc = fc_flush_expired(c) >= 0 ? FC_OK : FC_ECORRUPT;
		}
		if (rc != FC_OK && rc != FC_ENOTFOUND)
			fail_msg("seed %" PRIu64 " op %u: %s %s: %s", seed, op,
				 name, key, fc_errname(rc));
		snprintf(when, sizeof when,
			 "seed %" PRIu64 " op %u: %s %s ttl %" PRIu64, seed, op,
			 name, key, ttl);
		assert_ttl_items(c, when);
	}
	fc_test_verify(c);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			now_ms_is_the_coarse_realtime_clock_plus_the_test_offset),
		T(item_expiry_is_set_from_the_offset_clock),
		T(sweep_retires_only_expired_items_and_counts_them),
		T(sweep_treats_an_item_as_expired_from_its_expiry_millisecond_on),
		T(sweep_examines_exactly_its_lines_from_the_cursor),
		T(sweep_skips_lines_whose_summary_says_nothing_is_due),
		T(writes_sweep_by_time_only_while_something_is_due),
		T(ttl_items_matches_a_recount_through_set_touch_delete_and_expiry),
		T(random_ttl_operations_keep_ttl_items_equal_to_a_recount),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
