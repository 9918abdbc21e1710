/*
 * tests/unit/test_index.c - white-box tests of the open-addressing index
 * (lib/index.c, invariants I1-I5): probe, insert, unlink with tombstone
 * trimming, the used/tombstone counters, and compaction into the spare
 * array with its grace period.
 *
 * Every test runs on a small segment with 64 buckets, so collisions are
 * built by searching keys whose home buckets (fc__bk_home) coincide.
 */
#include "fc_test.h"
#include "fc_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define NB 64u /* buckets of the test segment */

static int
small_open(void **state)
{
	fc_options o;

	fc_test_default_options(&o);
	o.segment_bytes = 1u << 20;
	o.page_bytes = 64u << 10;
	o.reader_slots = 8;
	o.avg_item_bytes = 1u << 20; /* as few buckets as allowed: 64 */
	fc_cache *c = fc_test_create(&o);
	assert_int_equal(c->g.nbuckets, NB);
	*state = c;
	return 0;
}

static uint64_t *
live_ix(fc_cache *c)
{
	return fc__index(c, (unsigned)(c->hdr->hd_ix_sel & 1));
}

static uint64_t
home_of(fc_cache *c, const char *key)
{
	return fc__bk_home(c, fc__hash(c, key, strlen(key)));
}

/* Find a key "<prefix><n>" (n from *next on) whose home is @p home. */
static void
key_with_home(fc_cache *c, const char *prefix, uint64_t home, unsigned *next,
	      char *out, size_t cap)
{
	for (; *next < 1000000; (*next)++) {
		fc_test_key(out, cap, prefix, *next);
		if (home_of(c, out) == home) {
			(*next)++;
			return;
		}
	}
	fail_msg("no key with home %" PRIu64 " among 10^6 candidates", home);
}

static void
set_key(fc_cache *c, const char *key)
{
	assert_int_equal(fc_set(c, key, strlen(key), key, strlen(key), 0),
			 FC_OK);
}

/* Probe under the lock; returns the bucket or UINT64_MAX. */
static uint64_t
probe(fc_cache *c, const char *key, struct fc_probe *p)
{
	struct fc_probe tmp;

	if (!p)
		p = &tmp;
	assert_int_equal(fc__lock(c), FC_OK);
	int rc = fc__index_probe_locked(c, fc__hash(c, key, strlen(key)), key,
					strlen(key), fc__now_ms(), p);
	fc__unlock(c);
	assert_int_equal(rc, FC_OK);
	return p->pos;
}

/* Unlink @p key's bucket only (the index step of a delete). The item is
 * retired separately by retire_item() so that a test can look between. */
static struct item_shm *
unlink_key(fc_cache *c, const char *key)
{
	struct fc_probe p;

	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(
		fc__index_probe_locked(c, fc__hash(c, key, strlen(key)), key,
				       strlen(key), fc__now_ms(), &p),
		FC_OK);
	if (p.pos == UINT64_MAX)
		fail_msg("key %s not in the index", key);
	fc__index_unlink_locked(c, p.pos);
	fc__unlock(c);
	return p.it;
}

static void
retire_item(fc_cache *c, struct item_shm *it)
{
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__slab_retire_locked(c, it), FC_OK);
	fc__unlock(c);
}

static void
delete_key(fc_cache *c, const char *key)
{
	retire_item(c, unlink_key(c, key));
}

/* I3 and I1's tag: every live bucket is reachable from its key's home. */
static void
assert_every_live_key_reachable(fc_cache *c)
{
	const uint64_t *ix = live_ix(c);

	for (uint64_t i = 0; i < NB; i++) {
		uint64_t w = ix[i];
		if (!fc__bk_live(w))
			continue;
		struct item_shm *it = fc__item_at(c, fc__bk_off(w));
		if (!it)
			fail_msg("bucket %" PRIu64 ": word %#" PRIx64
				 " is not an item",
				 i, w);
		uint64_t h = fc__hash(c, fc__item_key(it), fc__item_klen(it));
		if (fc__bk_tag(h) != (w >> FC_BK_TAGSHIFT))
			fail_msg("bucket %" PRIu64
				 ": tag does not match key %.*s (I1)",
				 i, (int)fc__item_klen(it), fc__item_key(it));
		for (uint64_t j = fc__bk_home(c, h); j != i;
		     j = fc__bk_next(c, j))
			if (ix[j] == FC_BK_EMPTY)
				fail_msg("key %.*s at bucket %" PRIu64
					 " (home %" PRIu64 ") "
					 "unreachable: bucket %" PRIu64
					 " is EMPTY (I3)",
					 (int)fc__item_klen(it), fc__item_key(it), i,
					 fc__bk_home(c, h), j);
	}
}

/* I5: the header counters match a recount of the live array. */
static void
assert_counters_match(fc_cache *c, const char *when)
{
	const uint64_t *ix = live_ix(c);
	uint64_t used = 0, tombs = 0;

	for (uint64_t i = 0; i < NB; i++) {
		used += ix[i] != FC_BK_EMPTY;
		tombs += ix[i] == FC_BK_TOMB;
	}
	if (used != c->hdr->hd_ix_used || tombs != c->hdr->hd_ix_tombs)
		fail_msg("%s: recount %" PRIu64 " used / %" PRIu64
			 " tombstones, header "
			 "says %" PRIu64 " / %" PRIu64 " (I5)",
			 when, used, tombs, c->hdr->hd_ix_used,
			 c->hdr->hd_ix_tombs);
}

/* ------------------------------------------------------------ probing -- */

static void
probe_finds_colliding_keys_in_insertion_order_after_their_home(void **state)
{
	fc_cache *c = *state;
	char k[3][16];
	unsigned n = 0;
	uint64_t home = 16;
	struct fc_probe p;

	for (int i = 0; i < 3; i++) {
		key_with_home(c, "p", home, &n, k[i], sizeof k[i]);
		set_key(c, k[i]);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(probe(c, k[i], &p), home + (uint64_t)i);
		assert_non_null(p.it);
		assert_memory_equal(fc__item_key(p.it), k[i], strlen(k[i]));
		assert_int_equal(p.expired, 0);
	}
	/* A missing key with the same home: probed to the first EMPTY, which
	 * is where it would go. */
	char miss[16];
	key_with_home(c, "p", home, &n, miss, sizeof miss);
	assert_int_equal(probe(c, miss, &p), UINT64_MAX);
	assert_int_equal(p.ins, home + 3);
	assert_null(p.it);
	assert_int_equal(c->hdr->hd_ix_used, 3);
	fc_test_verify(c);
}

static void
probe_offers_the_first_tombstone_on_the_way_for_insertion(void **state)
{
	fc_cache *c = *state;
	char a[16], b[16], d[16];
	unsigned n = 0;
	uint64_t home = 24;
	struct fc_probe p;

	key_with_home(c, "t", home, &n, a, sizeof a);
	key_with_home(c, "t", home, &n, b, sizeof b);
	key_with_home(c, "t", home, &n, d, sizeof d);
	set_key(c, a);
	set_key(c, b);
	delete_key(c, a); /* b follows: a tombstone at home */
	assert_int_equal(live_ix(c)[home], FC_BK_TOMB);
	assert_int_equal(probe(c, d, &p), UINT64_MAX);
	assert_int_equal(p.ins, home);
	/* The insert reuses it: one tombstone fewer, used unchanged. */
	set_key(c, d);
	assert_int_equal(probe(c, d, NULL), home);
	assert_int_equal(probe(c, b, NULL), home + 1);
	assert_int_equal(c->hdr->hd_ix_used, 2);
	assert_int_equal(c->hdr->hd_ix_tombs, 0);
	fc_test_verify(c);
}

/* ------------------------------------------------------------ unlink -- */

static void
unlink_before_a_live_bucket_stores_a_tombstone(void **state)
{
	fc_cache *c = *state;
	char a[16], b[16];
	unsigned n = 0;
	uint64_t home = 8;

	key_with_home(c, "u", home, &n, a, sizeof a);
	key_with_home(c, "u", home, &n, b, sizeof b);
	set_key(c, a);
	set_key(c, b);
	struct item_shm *it = unlink_key(c, a);
	assert_int_equal(live_ix(c)[home], FC_BK_TOMB);
	assert_int_equal(c->hdr->hd_ix_used, 2);
	assert_int_equal(c->hdr->hd_ix_tombs, 1);
	/* b is still reachable (I3). */
	assert_int_equal(probe(c, b, NULL), home + 1);
	assert_int_equal(probe(c, a, NULL), UINT64_MAX);
	retire_item(c, it);
	fc_test_verify(c);
}

static void
unlink_before_an_empty_bucket_stores_empty_without_touching_live_ones(
	void **state)
{
	fc_cache *c = *state;
	char a[16], b[16];
	unsigned n = 0;
	uint64_t home = 40;

	key_with_home(c, "e", home, &n, a, sizeof a);
	key_with_home(c, "e", home, &n, b, sizeof b);
	set_key(c, a);
	set_key(c, b);
	uint64_t wa = live_ix(c)[home];
	retire_item(c, unlink_key(c, b)); /* last of the run */
	assert_int_equal(live_ix(c)[home + 1], FC_BK_EMPTY);
	assert_int_equal(live_ix(c)[home], wa);
	assert_int_equal(c->hdr->hd_ix_used, 1);
	assert_int_equal(c->hdr->hd_ix_tombs, 0);
	fc_test_verify(c);
}

static void
unlink_before_an_empty_bucket_trims_the_tombstones_behind_it(void **state)
{
	fc_cache *c = *state;
	char d[16], f[7][16], k[3][16];
	unsigned n = 0;
	uint64_t home = 48;

	/* Homes are line starts: line 40 filled, its last key d sits just
	 * before the run and must survive the trim. */
	for (int i = 0; i < 7; i++) {
		key_with_home(c, "r", home - 8, &n, f[i], sizeof f[i]);
		set_key(c, f[i]);
	}
	key_with_home(c, "r", home - 8, &n, d, sizeof d);
	set_key(c, d);
	for (int i = 0; i < 3; i++) {
		key_with_home(c, "r", home, &n, k[i], sizeof k[i]);
		set_key(c, k[i]);
	}
	uint64_t wd = live_ix(c)[home - 1];
	assert_int_equal(probe(c, d, NULL), home - 1);
	delete_key(c, k[0]);
	delete_key(c, k[1]);
	assert_int_equal(live_ix(c)[home], FC_BK_TOMB);
	assert_int_equal(live_ix(c)[home + 1], FC_BK_TOMB);
	assert_int_equal(c->hdr->hd_ix_used, 11);
	assert_int_equal(c->hdr->hd_ix_tombs, 2);

	retire_item(c, unlink_key(c, k[2]));
	for (uint64_t i = home; i <= home + 2; i++)
		if (live_ix(c)[i] != FC_BK_EMPTY)
			fail_msg("bucket %" PRIu64 " is %#" PRIx64
				 " after the run's last key "
				 "left, want EMPTY",
				 i, live_ix(c)[i]);
	assert_int_equal(live_ix(c)[home - 1], wd);
	assert_int_equal(c->hdr->hd_ix_used, 8);
	assert_int_equal(c->hdr->hd_ix_tombs, 0);
	assert_int_equal(probe(c, d, NULL), home - 1);
	assert_counters_match(c, "after trim");
	fc_test_verify(c);
}

static void
tombstone_trim_wraps_from_bucket_zero_to_the_last_bucket(void **state)
{
	fc_cache *c = *state;
	char f[7][16], k[3][16];
	unsigned n = 0;

	/* The last line (home NB - 8) filled up to NB - 2; the run then
	 * wraps to bucket 0. */
	for (int i = 0; i < 7; i++) {
		key_with_home(c, "w", NB - 8, &n, f[i], sizeof f[i]);
		set_key(c, f[i]);
	}
	for (int i = 0; i < 3; i++) {
		key_with_home(c, "w", NB - 8, &n, k[i], sizeof k[i]);
		set_key(c, k[i]);
	}
	assert_int_equal(probe(c, k[0], NULL), NB - 1);
	assert_int_equal(probe(c, k[1], NULL), 0);
	assert_int_equal(probe(c, k[2], NULL), 1);
	delete_key(c, k[0]);
	delete_key(c, k[1]);
	assert_int_equal(live_ix(c)[NB - 1], FC_BK_TOMB);
	assert_int_equal(live_ix(c)[0], FC_BK_TOMB);
	delete_key(c, k[2]);
	assert_int_equal(live_ix(c)[1], FC_BK_EMPTY);
	assert_int_equal(live_ix(c)[0], FC_BK_EMPTY);
	assert_int_equal(live_ix(c)[NB - 1], FC_BK_EMPTY);
	assert_int_equal(c->hdr->hd_ix_used, 7);
	assert_int_equal(c->hdr->hd_ix_tombs, 0);
	fc_test_verify(c);
}

/* The read path's inline key compare (fc__key_eq) against memcmp: every
 * length 1..FC_KEY_MAX at odd alignments, equal and differing in each
 * byte (also in the high bit, where a signed-char slip would show). */
static void
key_eq_agrees_with_memcmp(void **state)
{
	char a[FC_KEY_MAX + 8], b[FC_KEY_MAX + 8];

	(void)state;
	for (size_t n = 1; n <= FC_KEY_MAX; n++) {
		for (size_t i = 0; i < n; i++)
			a[3 + i] = b[1 + i] = (char)(i * 37 + n);
		assert_true(fc__key_eq(a + 3, b + 1, n));
		for (size_t i = 0; i < n; i++) {
			b[1 + i] ^= (char)0x80;
			assert_false(fc__key_eq(a + 3, b + 1, n));
			b[1 + i] ^= (char)0x81;
			assert_false(fc__key_eq(a + 3, b + 1, n));
			b[1 + i] ^= (char)0x01;
		}
		assert_int_equal(memcmp(a + 3, b + 1, n), 0);
	}
}

/* ------------------------------------------------- one probe per set -- */

/* Homes are line starts: every key's home is a multiple of FC_IX_WAYS. */
static void
homes_are_line_starts(void **state)
{
	fc_cache *c = *state;
	char key[16];
	int seen[NB / FC_IX_WAYS] = {0};

	for (unsigned i = 0; i < 4096; i++) {
		fc_test_key(key, sizeof key, "h", i);
		uint64_t hm = home_of(c, key);
		assert_true(hm < NB);
		assert_int_equal(hm % FC_IX_WAYS, 0);
		seen[hm / FC_IX_WAYS] = 1;
	}
	for (unsigned l = 0; l < NB / FC_IX_WAYS; l++)
		assert_true(seen[l]); /* every line is someone's home */
}

/*
 * A set's probe kept across its allocation: the run before the insertion
 * bucket emptied meanwhile (unlinks next to an EMPTY bucket), so the
 * insertion bucket moves back to the run's start; storing the word where
 * the probe first said would leave EMPTY buckets before it (I3 broken:
 * the key unreachable). The same for a key whose old item was evicted.
 */
static void
revalidate_moves_the_insertion_back_over_a_run_that_emptied(void **state)
{
	fc_cache *c = *state;
	char a[16], b[16], m[16];
	unsigned n = 0;
	uint64_t home = 32;
	struct fc_probe p;

	key_with_home(c, "v", home, &n, a, sizeof a);
	key_with_home(c, "v", home, &n, b, sizeof b);
	key_with_home(c, "v", home, &n, m, sizeof m);
	set_key(c, a);
	set_key(c, b);
	uint64_t hm = fc__hash(c, m, strlen(m));
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__index_probe_locked(c, hm, m, strlen(m), fc__now_ms(), &p), FC_OK);
	fc__unlock(c);
	assert_int_equal(p.pos, UINT64_MAX);
	assert_int_equal(p.ins, home + 2);
	delete_key(c, b); /* next EMPTY: b's bucket EMPTY */
	delete_key(c, a); /* and a's */
	assert_int_equal(live_ix(c)[home], FC_BK_EMPTY);
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__index_revalidate_locked(c, hm, m, strlen(m), fc__now_ms(), &p),
			 FC_OK);
	fc__unlock(c);
	assert_int_equal(p.ins, home);

	/* The key's own item evicted meanwhile: its bucket (or the run's
	 * start) becomes the insertion bucket. */
	set_key(c, a);
	set_key(c, b);
	uint64_t ha = fc__hash(c, b, strlen(b));
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__index_probe_locked(c, ha, b, strlen(b), fc__now_ms(), &p), FC_OK);
	fc__unlock(c);
	assert_int_equal(p.pos, home + 1);
	delete_key(c, b);
	delete_key(c, a);
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__index_revalidate_locked(c, ha, b, strlen(b), fc__now_ms(), &p),
			 FC_OK);
	fc__unlock(c);
	assert_int_equal(p.pos, UINT64_MAX);
	assert_null(p.it);
	assert_int_equal(p.ins, home);

	/* A rebuild in between: probed again (table changed). */
	set_key(c, a);
	assert_int_equal(fc__lock(c), FC_OK);
	uint64_t hh = fc__hash(c, a, strlen(a));
	assert_int_equal(fc__index_probe_locked(c, hh, a, strlen(a), fc__now_ms(), &p), FC_OK);
	assert_int_equal(fc__index_rebuild_locked(c), FC_OK);
	assert_int_equal(fc__index_revalidate_locked(c, hh, a, strlen(a), fc__now_ms(), &p),
			 FC_OK);
	fc__unlock(c);
	assert_int_equal(p.pos, home);
	assert_int_equal(p.word, live_ix(c)[home]);
	fc_test_verify(c);
}

/* ------------------------------------------------------- random mixes -- */

#define MIX_KEYS 40u /* < 57 = 90% of 64: no index eviction, so a model holds */

static void
random_inserts_and_deletes_keep_counters_and_reachability(void **state)
{
	fc_cache *c = *state;
	fc_test_rng r;
	unsigned char present[MIX_KEYS] = {0};
	char key[16], buf[16];
	uint64_t seed = fc_test_seed();

	fc_test_rng_init(&r, seed);
	for (unsigned op = 0; op < 3000; op++) {
		unsigned k = (unsigned)fc_test_rand_range(&r, 0, MIX_KEYS - 1);
		size_t kl = fc_test_key(key, sizeof key, "m", k);
		int del = fc_test_rand(&r) % 100 < 45;
		char when[96];

		if (del) {
			int rc = fc_delete(c, key, kl);
			if (rc != (present[k] ? FC_OK : FC_ENOTFOUND))
				fail_msg("seed %" PRIu64
					 " op %u: delete %s: %s, present %d",
					 seed, op, key, fc_errname(rc),
					 present[k]);
			present[k] = 0;
		} else {
			assert_int_equal(fc_set(c, key, kl, key, kl, 0), FC_OK);
			present[k] = 1;
		}
		snprintf(when, sizeof when, "seed %" PRIu64 " op %u (%s %s)",
			 seed, op, del ? "delete" : "set", key);
		assert_counters_match(c, when);
		assert_every_live_key_reachable(c);
		for (unsigned j = 0; j < MIX_KEYS; j++) {
			size_t jl = fc_test_key(key, sizeof key, "m", j),
			       len = sizeof buf;
			int rc = fc_get(c, key, jl, buf, &len);
			if (rc != (present[j] ? FC_OK : FC_ENOTFOUND))
				fail_msg("%s: get %s: %s, want %s", when, key,
					 fc_errname(rc),
					 present[j] ? "FC_OK" : "FC_ENOTFOUND");
		}
	}
	assert_int_equal(c->hdr->hd_evictions, 0); /* the model stayed exact */
	fc_test_verify(c);
}

/* --------------------------------------------------------- compaction -- */

/* Sorted live words of the live array, for set comparison. */
static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static size_t
live_words(fc_cache *c, uint64_t *out)
{
	const uint64_t *ix = live_ix(c);
	size_t n = 0;

	for (uint64_t i = 0; i < NB; i++)
		if (fc__bk_live(ix[i]))
			out[n++] = ix[i];
	qsort(out, n, sizeof *out, cmp_u64);
	return n;
}

/* Fill with colliding runs, delete every other key: many tombstones. */
static unsigned
make_tombstones(fc_cache *c, char keys[][16], unsigned nkeys)
{
	unsigned next = 0, live = 0;

	for (unsigned i = 0; i < nkeys; i++) {
		key_with_home(c, "c", 8 * (i / 4), &next, keys[i],
			      sizeof keys[i]);
		set_key(c, keys[i]);
	}
	for (unsigned i = 0; i < nkeys; i += 2)
		delete_key(c, keys[i]);
	for (unsigned i = 1; i < nkeys; i += 2)
		live++;
	assert_true(c->hdr->hd_ix_tombs > 0);
	return live;
}

static void
rebuild_keeps_the_keys_drops_tombstones_flips_the_selector_and_stamps_the_spare(
	void **state)
{
	fc_cache *c = *state;
	char keys[24][16];
	uint64_t before[NB], after[NB];
	unsigned live = make_tombstones(c, keys, 24);
	struct hdr_shm *h = c->hdr;
	uint64_t sel = h->hd_ix_sel, rebuilds = h->hd_rebuilds;

	size_t nb = live_words(c, before);
	assert_int_equal(nb, live);
	assert_int_equal(h->hd_spare_epoch, 0);
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__index_rebuild_locked(c), FC_OK);
	fc__unlock(c);

	assert_int_equal(h->hd_ix_sel, sel ^ 1);
	assert_int_equal(h->hd_rebuilds, rebuilds + 1);
	/* The spare is stamped with the epoch readers up to now hold. */
	assert_int_equal(h->hd_spare_epoch, h->hd_epoch);
	assert_int_equal(h->hd_ix_tombs, 0);
	assert_int_equal(h->hd_ix_used, live);
	size_t na = live_words(c, after);
	assert_int_equal(na, nb);
	assert_memory_equal(after, before, nb * sizeof before[0]);
	for (uint64_t i = 0; i < NB; i++)
		assert_int_not_equal(live_ix(c)[i], FC_BK_TOMB);
	assert_counters_match(c, "after rebuild");
	assert_every_live_key_reachable(c);
	for (unsigned i = 1; i < 24; i += 2) {
		char buf[16];
		size_t len = sizeof buf;
		assert_int_equal(fc_get(c, keys[i], strlen(keys[i]), buf, &len),
				 FC_OK);
		assert_memory_equal(buf, keys[i], len);
	}
	fc_test_verify(c);
}

/* The calling thread's own reader slot, claimed the ordinary way. */
static struct slot_shm *
own_slot(fc_cache *c)
{
	int err = FC_OK, outer;
	struct fc_tls *t = fc__read_enter(c, &err, &outer);

	assert_non_null(t);
	fc__read_exit(t, outer);
	assert_int_equal(t->slot->rs_epoch, 0);
	return t->slot;
}

static void
second_rebuild_waits_for_a_reader_of_the_spare_then_fails_busy_within_budget(
	void **state)
{
	fc_cache *c = *state;
	char keys[24][16];
	struct hdr_shm *h = c->hdr;

	make_tombstones(c, keys, 24);
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__index_rebuild_locked(c), FC_OK);
	fc__unlock(c);
	uint64_t spare = h->hd_spare_epoch, sel = h->hd_ix_sel;
	uint64_t rebuilds = h->hd_rebuilds, waits = h->hd_reclaim_waits;
	assert_true(spare != 0);

	/* A reader that entered before the flip: it may be in the spare. */
	struct slot_shm *s = own_slot(c);
	fc__st_rel(&s->rs_epoch, spare);

	uint64_t t0 = fc_test_mono_ns();
	assert_int_equal(fc__lock(c), FC_OK);
	int rc = fc__index_rebuild_locked(c);
	fc__unlock(c);
	uint64_t ms = (fc_test_mono_ns() - t0) / 1000000u;
	if (rc != FC_EBUSY)
		fail_msg("rebuild with a reader at the spare's epoch: %s, want "
			 "FC_EBUSY",
			 fc_errname(rc));
	if (ms + 2 < FC_GRACE_WAIT_MS || ms > FC_GRACE_WAIT_MS + 500)
		fail_msg("rebuild gave up after %" PRIu64
			 " ms; the budget is %u ms",
			 ms, FC_GRACE_WAIT_MS);
	assert_int_equal(h->hd_ix_sel, sel);
	assert_int_equal(h->hd_rebuilds, rebuilds);
	assert_int_equal(h->hd_spare_epoch, spare);
	assert_int_equal(h->hd_reclaim_waits, waits + 1);
	assert_int_equal(s->rs_epoch, spare); /* a live owner is not reaped */

	/* The reader leaves: the spare is free and the rebuild goes ahead. */
	fc__st_rel(&s->rs_epoch, 0);
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__index_rebuild_locked(c), FC_OK);
	fc__unlock(c);
	assert_int_equal(h->hd_ix_sel, sel ^ 1);
	assert_int_equal(h->hd_rebuilds, rebuilds + 1);
	assert_int_equal(h->hd_spare_epoch, h->hd_epoch);
	assert_every_live_key_reachable(c);
	assert_counters_match(c, "after the second rebuild");
	fc_test_verify(c);
}

static void
rebuild_proceeds_while_a_reader_holds_an_epoch_newer_than_the_spare(
	void **state)
{
	fc_cache *c = *state;
	char keys[24][16];
	struct hdr_shm *h = c->hdr;

	make_tombstones(c, keys, 24);
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__index_rebuild_locked(c), FC_OK);
	fc__unlock(c);
	uint64_t spare = h->hd_spare_epoch, sel = h->hd_ix_sel;

	/* A reader that entered after the flip reads the new array only. */
	fc__faa_sc(&h->hd_epoch, 1);
	struct slot_shm *s = own_slot(c);
	fc__st_rel(&s->rs_epoch, spare + 1);
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__index_rebuild_locked(c), FC_OK);
	fc__unlock(c);
	assert_int_equal(h->hd_ix_sel, sel ^ 1);
	fc__st_rel(&s->rs_epoch, 0);
	assert_counters_match(c, "after rebuild");
	fc_test_verify(c);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, small_open, fc_test_close)
	const struct CMUnitTest tests[] = {
		T(probe_finds_colliding_keys_in_insertion_order_after_their_home),
		T(homes_are_line_starts),
		T(key_eq_agrees_with_memcmp),
		T(revalidate_moves_the_insertion_back_over_a_run_that_emptied),
		T(probe_offers_the_first_tombstone_on_the_way_for_insertion),
		T(unlink_before_a_live_bucket_stores_a_tombstone),
		T(unlink_before_an_empty_bucket_stores_empty_without_touching_live_ones),
		T(unlink_before_an_empty_bucket_trims_the_tombstones_behind_it),
		T(tombstone_trim_wraps_from_bucket_zero_to_the_last_bucket),
		T(random_inserts_and_deletes_keep_counters_and_reachability),
		T(rebuild_keeps_the_keys_drops_tombstones_flips_the_selector_and_stamps_the_spare),
		T(second_rebuild_waits_for_a_reader_of_the_spare_then_fails_busy_within_budget),
		T(rebuild_proceeds_while_a_reader_holds_an_epoch_newer_than_the_spare),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
