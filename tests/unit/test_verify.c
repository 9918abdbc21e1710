/*
 * tests/unit/test_verify.c - fc_verify (lib/verify.c) finds each kind of
 * damage: every test makes a healthy segment (fc_verify reports nothing),
 * plants ONE kind of damage by writing the segment directly, and asserts
 * that fc_verify reports a problem in the expected region whose message
 * says what is wrong -- with the writer lock (FC_VERIFY_LOCK) and without
 * it (the lock-free snapshot), unless a mode cannot apply.
 *
 * These are the verifier's own regression tests: deleting any detection
 * in verify.c fails the matching test (scripts/mutants.sh checks that).
 */
#include "fc_test.h"
#include "fc_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS 200u

struct found {
	char region[32];
	char msg[200];
};

struct report {
	struct found f[1024]; /* a FREE page of small items: one per item */
	unsigned n;
};

static void
collect(void *arg, const char *region, uint64_t offset, const char *problem)
{
	struct report *r = arg;

	(void)offset;
	if (r->n == sizeof r->f / sizeof r->f[0])
		return;
	snprintf(r->f[r->n].region, sizeof r->f[r->n].region, "%s", region);
	snprintf(r->f[r->n].msg, sizeof r->f[r->n].msg, "%s", problem);
	r->n++;
}

/* fc_verify in @p flags mode must report at least one problem in @p region
 * whose text contains @p needle. */
static void
expect_problem(fc_cache *c, unsigned flags, const char *region, const char *needle)
{
	struct report r = {.n = 0};
	int64_t n = fc_verify(c, flags, collect, &r);

	assert_true(n >= 1);
	for (unsigned i = 0; i < r.n; i++)
		if (strcmp(r.f[i].region, region) == 0 && strstr(r.f[i].msg, needle))
			return;
	for (unsigned i = 0; i < r.n; i++)
		fprintf(stderr, "  got: region=%s: %s\n", r.f[i].region, r.f[i].msg);
	fail_msg("fc_verify(flags %u) did not report region=%s \"%s\"", flags, region, needle);
}

static void
expect_both(fc_cache *c, const char *region, const char *needle)
{
	expect_problem(c, FC_VERIFY_LOCK, region, needle);
	expect_problem(c, 0, region, needle);
}

static int
setup(void **state)
{
	fc_options o;
	char key[32], val[64];

	fc_test_default_options(&o);
	o.segment_bytes = 4u << 20;
	o.reader_slots = 8;
	fc_cache *c = fc_test_create(&o);
	memset(val, 'v', sizeof val);
	for (unsigned i = 0; i < NKEYS; i++) {
		size_t k = fc_test_key(key, sizeof key, "vk", i);
		assert_int_equal(fc_set(c, key, k, val, 1 + i % 60, i % 3 ? 0 : 600000), FC_OK);
	}
	assert_int_equal(fc_verify(c, FC_VERIFY_LOCK, NULL, NULL), 0);
	assert_int_equal(fc_verify(c, 0, NULL, NULL), 0);
	*state = c;
	return 0;
}

static uint64_t *
live_ix(fc_cache *c)
{
	return fc__index(c, (unsigned)(c->hdr->hd_ix_sel & 1));
}

/* The bucket of key "vk<i>". */
static uint64_t
bucket_of(fc_cache *c, unsigned i)
{
	char key[32];
	size_t k = fc_test_key(key, sizeof key, "vk", i);
	struct fc_probe p;

	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__index_probe_locked(c, fc__hash(c, key, k), key, k, fc__now_ms(), &p),
			 FC_OK);
	fc__unlock(c);
	assert_true(p.pos != UINT64_MAX);
	return p.pos;
}

/* A class with a nonempty free list. */
static unsigned
class_with_free(fc_cache *c)
{
	for (unsigned cls = 0; cls < c->g.nclasses; cls++)
		if (c->hdr->hd_class[cls].cl_free && c->hdr->hd_class[cls].cl_nfree >= 2)
			return cls;
	fail_msg("no class with free chunks");
	return 0;
}

/* ---------------------------------------------------------------- index -- */

static void
duplicate_key_is_reported(void **state)
{
	fc_cache *c = *state;
	char key[32], val[8] = "dupdup";
	size_t k = fc_test_key(key, sizeof key, "vk", 7);
	uint64_t h = fc__hash(c, key, k), *ix = live_ix(c), off;
	uint64_t pos = bucket_of(c, 7);
	int cls = fc__class_for(c, FC_ITEM_HDR + k + sizeof val);

	/* A second live chunk with the same key, in the first EMPTY bucket
	 * after the first one's: reachable from the home, a duplicate (I4). */
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__evict_alloc_locked(c, (unsigned)cls, &off), FC_OK);
	fc__item_fill(c, fc__ptr(c, off), 99999, 0, key, k, val, sizeof val);
	fc__unlock(c);
	uint64_t q = pos;
	while (ix[q] != FC_BK_EMPTY)
		q = fc__bk_next(c, q);
	ix[q] = fc__bk_word(h, off);
	expect_both(c, "index", "duplicate of the key");
}

static void
tag_mismatch_is_reported(void **state)
{
	fc_cache *c = *state;
	uint64_t *ix = live_ix(c), pos = bucket_of(c, 11);

	ix[pos] ^= 1ull << FC_BK_TAGSHIFT;
	expect_both(c, "index", "tag does not match");
}

static void
unreachable_bucket_is_reported(void **state)
{
	fc_cache *c = *state;
	uint64_t *ix = live_ix(c), pos = bucket_of(c, 13), w = ix[pos];

	/* Move the word past an EMPTY bucket: its old place. */
	ix[pos] = FC_BK_EMPTY;
	uint64_t q = fc__bk_next(c, pos);
	while (ix[q] != FC_BK_EMPTY)
		q = fc__bk_next(c, q);
	ix[q] = w;
	expect_both(c, "index", "unreachable");
}

static void
bad_item_lengths_are_reported(void **state)
{
	fc_cache *c = *state;
	uint64_t pos = bucket_of(c, 17);
	struct item_shm *it = fc__ptr(c, fc__bk_off(live_ix(c)[pos]));

	fc_test_item_set_vlen(it, (1u << 24) - 1); /* far beyond its chunk */
	expect_both(c, "index", "is not a valid item");
}

static void
live_item_in_a_foreign_page_is_reported(void **state)
{
	fc_cache *c = *state;
	uint64_t pos = bucket_of(c, 19), off = fc__bk_off(live_ix(c)[pos]);

	/* The page map no longer gives the page to the item's class. */
	c->pages[fc__page_of(c, off)].pm_class ^= 1;
	expect_both(c, "index", "is not a chunk of class");
}

static void
live_item_not_in_state_live_is_reported(void **state)
{
	fc_cache *c = *state;
	uint64_t pos = bucket_of(c, 23);
	struct item_shm *it = fc__ptr(c, fc__bk_off(live_ix(c)[pos]));

	fc_test_item_set_state(it, FC_IT_FREE);
	expect_both(c, "item", "expected LIVE");
}

static void
index_counters_are_checked(void **state)
{
	fc_cache *c = *state;

	c->hdr->hd_ix_tombs++;
	expect_both(c, "index", "tombstones, header says");
}

static void
item_and_ttl_counters_are_checked(void **state)
{
	fc_cache *c = *state;

	c->hdr->hd_items++;
	expect_both(c, "header", "items, header says");
	c->hdr->hd_items--;
	c->hdr->hd_ttl_items++;
	expect_both(c, "header", "with a TTL, header says");
}

/* index.c I6: key "vk0" has a TTL (every third key does); a line summary
 * below its reclaim time would let the sweep skip it forever. */
static void
expiry_summary_below_an_item_is_reported(void **state)
{
	fc_cache *c = *state;
	uint64_t pos = bucket_of(c, 0);
	uint32_t *e = &fc__ix_exp(c, (unsigned)(c->hdr->hd_ix_sel & 1))[pos / FC_IX_WAYS];

	assert_true(*e > 0);
	*e = 0;
	expect_both(c, "index", "expiry summary");
}

static void
expiry_maximum_below_an_item_is_reported(void **state)
{
	fc_cache *c = *state;

	assert_true(c->hdr->hd_exp_max > 0);
	c->hdr->hd_exp_max = 1;
	expect_both(c, "header", "hd_exp_max");
}

/* ------------------------------------------------------------- freelist -- */

static void
free_chunk_not_free_is_reported(void **state)
{
	fc_cache *c = *state;
	unsigned cls = class_with_free(c);
	struct item_shm *it = fc__ptr(c, c->hdr->hd_class[cls].cl_free);

	fc_test_item_set_state(it, FC_IT_LIVE);
	expect_both(c, "freelist", "expected FREE");
}

static void
free_list_entry_outside_the_class_is_reported(void **state)
{
	fc_cache *c = *state;
	unsigned cls = class_with_free(c);

	c->hdr->hd_class[cls].cl_free += 8; /* not a chunk start */
	expect_both(c, "freelist", "not a chunk of this class");
}

static void
free_list_loop_is_reported(void **state)
{
	fc_cache *c = *state;
	unsigned cls = class_with_free(c);
	uint64_t head = c->hdr->hd_class[cls].cl_free;
	struct item_shm *it = fc__ptr(c, head);

	fc_test_item_set_link(it, head); /* the head links to itself */
	expect_both(c, "freelist", "listed twice or loop");
}

static void
leaked_chunk_is_reported(void **state)
{
	fc_cache *c = *state;
	unsigned cls = class_with_free(c);
	struct class_shm *cl = &c->hdr->hd_class[cls];
	struct item_shm *it = fc__ptr(c, cl->cl_free);

	/* Off the list, counted nowhere: neither live, free nor in limbo. */
	cl->cl_free = fc__item_next_free(it);
	cl->cl_nfree--;
	expect_both(c, "page", "(leak)");
}

static void
class_counters_are_checked(void **state)
{
	fc_cache *c = *state;

	c->hdr->hd_class[class_with_free(c)].cl_live++;
	expect_both(c, "class", "header says live");
}

/* ---------------------------------------------------------------- limbo -- */

/* Delete two keys (no reclaim: fewer than FC_RECLAIM_BATCH), so the limbo
 * ring holds two entries; returns the ring index of the first. */
static uint64_t
two_in_limbo(fc_cache *c)
{
	char key[32];
	uint64_t head = c->hdr->hd_limbo_head;

	assert_int_equal(c->hdr->hd_limbo_tail, head);
	for (unsigned i = 30; i < 32; i++) {
		size_t k = fc_test_key(key, sizeof key, "vk", i);
		assert_int_equal(fc_delete(c, key, k), FC_OK);
	}
	assert_int_equal(c->hdr->hd_limbo_tail, head + 2);
	assert_int_equal(fc_verify(c, FC_VERIFY_LOCK, NULL, NULL), 0);
	return head;
}

static void
limbo_out_of_order_is_reported(void **state)
{
	fc_cache *c = *state;
	uint64_t n = two_in_limbo(c);
	struct limbo_shm *a = &c->limbo[n % c->g.limbo_cap];
	struct limbo_shm *b = &c->limbo[(n + 1) % c->g.limbo_cap];

	/* R4: stamps must not decrease. Older than its predecessor but not
	 * from the future: only the "< prev" test can see it (a newer first
	 * stamp would also be ahead of the epoch). */
	assert_true(a->lb_epoch >= 1 && a->lb_epoch <= c->hdr->hd_epoch);
	b->lb_epoch = a->lb_epoch - 1;
	expect_both(c, "limbo", "out of order");
}

static void
limbo_epoch_from_the_future_is_reported(void **state)
{
	fc_cache *c = *state;
	uint64_t n = two_in_limbo(c);

	c->limbo[(n + 1) % c->g.limbo_cap].lb_epoch = c->hdr->hd_epoch + 5;
	expect_both(c, "limbo", "out of order");
}

static void
limbo_entry_not_in_limbo_state_is_reported(void **state)
{
	fc_cache *c = *state;
	uint64_t n = two_in_limbo(c);
	struct item_shm *it = fc__ptr(c, c->limbo[n % c->g.limbo_cap].lb_off);

	fc_test_item_set_state(it, FC_IT_FREE);
	expect_both(c, "limbo", "expected LIMBO");
}

static void
limbo_entry_not_a_chunk_is_reported(void **state)
{
	fc_cache *c = *state;
	uint64_t n = two_in_limbo(c);

	c->limbo[n % c->g.limbo_cap].lb_off = 8; /* inside the header */
	expect_both(c, "limbo", "is not a chunk");
}

static void
limbo_cursors_are_checked(void **state)
{
	fc_cache *c = *state;

	c->hdr->hd_limbo_tail = c->hdr->hd_limbo_head + c->g.limbo_cap + 1;
	expect_both(c, "limbo", "cursors");
}

/* ------------------------------------------------------- pages, slots -- */

static void
unknown_page_state_is_reported(void **state)
{
	fc_cache *c = *state;
	uint64_t pos = bucket_of(c, 29), off = fc__bk_off(live_ix(c)[pos]);

	c->pages[fc__page_of(c, off)].pm_state = 7;
	expect_both(c, "pagemap", "unknown");
}

static void
page_used_count_is_checked(void **state)
{
	fc_cache *c = *state;
	uint64_t pos = bucket_of(c, 31), off = fc__bk_off(live_ix(c)[pos]);

	c->pages[fc__page_of(c, off)].pm_used++;
	expect_both(c, "pagemap", "pm_used");
}

static void
free_page_holding_a_live_item_is_reported(void **state)
{
	fc_cache *c = *state;
	uint64_t pos = bucket_of(c, 37), off = fc__bk_off(live_ix(c)[pos]);

	/* The ownership check (fc__chunk_owned) rejects a chunk of a FREE
	 * page before it is marked, so the report is the bucket's (verify.c's
	 * later "FREE but holds used chunks" pass cannot see such a mark). */
	c->pages[fc__page_of(c, off)].pm_state = FC_PG_FREE;
	expect_both(c, "index", "in a page owned by that class");
	expect_both(c, "header", "free pages, header says");
}

static void
draining_page_with_a_live_chunk_is_reported(void **state)
{
	fc_cache *c = *state;
	uint64_t pos = bucket_of(c, 41), off = fc__bk_off(live_ix(c)[pos]);

	c->pages[fc__page_of(c, off)].pm_state = FC_PG_DRAINING;
	expect_both(c, "page", "is DRAINING but chunk");
}

static void
free_page_count_is_checked(void **state)
{
	fc_cache *c = *state;

	c->hdr->hd_free_pages++;
	expect_both(c, "header", "free pages, header says");
}

static void
reader_slot_epoch_ahead_is_reported(void **state)
{
	fc_cache *c = *state;

	c->slots[c->g.nslots - 1].rs_epoch = c->hdr->hd_epoch + 100;
	expect_both(c, "slots", "ahead of global");
}

static void
slot_high_water_mark_is_checked(void **state)
{
	fc_cache *c = *state;

	c->hdr->hd_slots_hwm = (uint32_t)c->g.nslots + 1;
	expect_both(c, "slots", "high-water mark");
}

/* --------------------------------------------------------------- header -- */

static void
header_checksum_damage_is_reported(void **state)
{
	fc_cache *c = *state;

	c->hdr->hd_created_ms ^= 1; /* covered by the checksum */
	expect_both(c, "header", "header fails validation");
}

static void
bad_index_selector_is_reported(void **state)
{
	fc_cache *c = *state;

	c->hdr->hd_ix_sel = 2;
	expect_problem(c, FC_VERIFY_LOCK, "header", "index selector");
}

static void
zero_epoch_is_reported(void **state)
{
	fc_cache *c = *state;
	uint64_t e = c->hdr->hd_epoch;

	c->hdr->hd_epoch = 0;
	expect_both(c, "header", "epoch is 0");
	c->hdr->hd_epoch = e;
}

static void
pending_repair_is_reported_without_the_lock(void **state)
{
	fc_cache *c = *state;

	/* Lock-free only: taking the lock would repair it. */
	c->hdr->hd_needs_repair = 1;
	expect_problem(c, 0, "header", "a writer died mid-update");
	c->hdr->hd_needs_repair = 0;
}

static void
healthy_segment_reports_nothing_and_no_callback(void **state)
{
	fc_cache *c = *state;
	struct report r = {.n = 0};

	assert_int_equal(fc_verify(c, FC_VERIFY_LOCK, collect, &r), 0);
	assert_int_equal(fc_verify(c, 0, collect, &r), 0);
	assert_int_equal(r.n, 0);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, fc_test_close)
	const struct CMUnitTest tests[] = {
		T(healthy_segment_reports_nothing_and_no_callback),
		T(duplicate_key_is_reported),
		T(tag_mismatch_is_reported),
		T(unreachable_bucket_is_reported),
		T(bad_item_lengths_are_reported),
		T(live_item_in_a_foreign_page_is_reported),
		T(live_item_not_in_state_live_is_reported),
		T(index_counters_are_checked),
		T(item_and_ttl_counters_are_checked),
		T(expiry_summary_below_an_item_is_reported),
		T(expiry_maximum_below_an_item_is_reported),
		T(free_chunk_not_free_is_reported),
		T(free_list_entry_outside_the_class_is_reported),
		T(free_list_loop_is_reported),
		T(leaked_chunk_is_reported),
		T(class_counters_are_checked),
		T(limbo_out_of_order_is_reported),
		T(limbo_epoch_from_the_future_is_reported),
		T(limbo_entry_not_in_limbo_state_is_reported),
		T(limbo_entry_not_a_chunk_is_reported),
		T(limbo_cursors_are_checked),
		T(unknown_page_state_is_reported),
		T(page_used_count_is_checked),
		T(free_page_holding_a_live_item_is_reported),
		T(draining_page_with_a_live_chunk_is_reported),
		T(free_page_count_is_checked),
		T(reader_slot_epoch_ahead_is_reported),
		T(slot_high_water_mark_is_checked),
		T(header_checksum_damage_is_reported),
		T(bad_index_selector_is_reported),
		T(zero_epoch_is_reported),
		T(pending_repair_is_reported_without_the_lock),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
