/*
 * tests/unit/test_slab.c - white-box tests of the slab allocator
 * (lib/slab.c, invariants A1-A5; class lookup in lib/segment.c, the
 * allocation policy and page stealing in lib/evict.c, the rebuild that
 * repair and flush use in lib/repair.c): page carving, the free list,
 * DRAINING pages, stealing a page from another class.
 */
#include "fc_test.h"
#include "fc_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static uint64_t
page_start(fc_cache *c, uint64_t pg)
{
	return c->g.pages_off + pg * c->g.page_bytes;
}

/* The class an item of @p vlen bytes with a @p klen-byte key goes to. */
static unsigned
class_of(fc_cache *c, size_t klen, size_t vlen)
{
	int cls = fc__class_for(c, FC_ITEM_HDR + klen + vlen);

	assert_true(cls >= 0);
	return (unsigned)cls;
}

/* Walk @p cls's free list; fail on a bad entry; return its length and
 * mark each chunk index of page @p pg it holds in @p seen (may be NULL). */
static uint64_t
walk_free_list(fc_cache *c, unsigned cls, uint64_t pg, unsigned char *seen)
{
	uint64_t n = 0, off = c->hdr->hd_class[cls].cl_free;
	uint32_t csz = c->g.class_size[cls];

	while (off) {
		struct item_shm *it = fc__chunk_owned(c, off, cls);
		if (!it)
			fail_msg("class %u: free-list entry %" PRIu64
				 " is not a chunk of the "
				 "class (A1)",
				 cls, off);
		if (fc__item_state(it) != FC_IT_FREE)
			fail_msg("class %u: free chunk %" PRIu64
				 " has state %u (A1)",
				 cls, off, fc__item_state(it));
		if (++n > c->g.npages * c->g.class_per_page[cls])
			fail_msg("class %u: free list loops", cls);
		if (seen && fc__page_of(c, off) == pg) {
			uint64_t k = (off - page_start(c, pg)) / csz;
			if (seen[k]++)
				fail_msg("class %u: chunk %" PRIu64
					 " listed twice",
					 cls, k);
		}
		off = fc__item_next_free(it);
	}
	return n;
}

/* ------------------------------------------------------------ classes -- */

static void
class_for_maps_each_class_size_to_itself_and_one_byte_more_to_the_next(
	void **state)
{
	fc_cache *c = *state;
	unsigned n = c->g.nclasses;

	assert_int_equal(fc__class_for(c, 0), 0);
	assert_int_equal(fc__class_for(c, 1), 0);
	for (unsigned i = 0; i < n; i++) {
		uint32_t s = c->g.class_size[i];
		if (fc__class_for(c, s) != (int)i)
			fail_msg("fc__class_for(%u) = %d, want class %u", s,
				 fc__class_for(c, s), i);
		/* Classes are >= 8 bytes apart: s - 1 is still class i. */
		if (fc__class_for(c, s - 1) != (int)i)
			fail_msg("fc__class_for(%u) = %d, want class %u", s - 1,
				 fc__class_for(c, s - 1), i);
		int want = i + 1 < n ? (int)i + 1 : -1;
		if (fc__class_for(c, (size_t)s + 1) != want)
			fail_msg("fc__class_for(%u + 1) = %d, want %d", s,
				 fc__class_for(c, s + 1), want);
	}
	assert_int_equal(fc__class_for(c, c->g.page_bytes), (int)n - 1);
	assert_int_equal(fc__class_for(c, c->g.page_bytes + 1), -1);
	assert_int_equal(fc__class_for(c, SIZE_MAX), -1);
	fc_test_verify(c);
}

/* ------------------------------------------------------ carve / alloc -- */

static void
first_alloc_carves_a_free_page_with_every_chunk_on_the_free_list(void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;
	unsigned cls = class_of(c, 8, 100);
	struct class_shm *cl = &h->hd_class[cls];
	uint32_t per = c->g.class_per_page[cls];
	uint64_t off;

	assert_int_equal(h->hd_free_pages, c->g.npages);
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__evict_alloc_locked(c, cls, &off), FC_OK);
	/* Page 0 (the hand starts there) now belongs to the class; its first
	 * chunk was handed out, every other one is on the list. */
	assert_int_equal(off, page_start(c, 0));
	assert_int_equal(c->pages[0].pm_state, FC_PG_ACTIVE);
	assert_int_equal(c->pages[0].pm_class, cls);
	assert_int_equal(c->pages[0].pm_used, 1);
	assert_int_equal(cl->cl_pages, 1);
	assert_int_equal(cl->cl_live, 1);
	assert_int_equal(cl->cl_nfree, per - 1);
	assert_int_equal(h->hd_free_pages, c->g.npages - 1);
	assert_int_equal(fc__item_state(fc__ptr(c, off)),
			 FC_IT_LIVE);

	fc__slab_unalloc_locked(c, off);
	fc__unlock(c);
	/* Carved: all per_page chunks, each once, in page order. */
	unsigned char *seen = calloc(per, 1);
	assert_non_null(seen);
	assert_int_equal(walk_free_list(c, cls, 0, seen), per);
	assert_int_equal(cl->cl_nfree, per);
	for (uint32_t k = 0; k < per; k++)
		if (seen[k] != 1)
			fail_msg("chunk %u of the carved page is not on the "
				 "free list",
				 k);
	free(seen);
	assert_int_equal(cl->cl_free, page_start(c, 0));
	fc_test_verify(c);
}

static void
alloc_then_unalloc_restores_the_free_list_and_counters(void **state)
{
	fc_cache *c = *state;
	unsigned cls = class_of(c, 8, 300);
	struct class_shm *cl = &c->hdr->hd_class[cls];
	uint64_t a, b, again;

	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__evict_alloc_locked(c, cls, &a), FC_OK);
	uint64_t head = cl->cl_free, nfree = cl->cl_nfree;
	uint64_t pg = fc__page_of(c, a);
	assert_int_equal(fc__evict_alloc_locked(c, cls, &b), FC_OK);
	assert_int_equal(b, head); /* the list head is handed out */
	assert_int_equal(b - a, c->g.class_size[cls]);
	assert_int_equal(cl->cl_nfree, nfree - 1);
	assert_int_equal(cl->cl_live, 2);
	assert_int_equal(c->pages[pg].pm_used, 2);

	uint64_t head2 = cl->cl_free;
	fc__slab_unalloc_locked(c, b);
	struct item_shm *it = fc__ptr(c, b);
	assert_int_equal(fc__item_state(it), FC_IT_FREE);
	assert_int_equal(cl->cl_free, b);
	/* Linked in front of the old head. */
	assert_int_equal(fc__item_next_free(it), head2);
	assert_int_equal(cl->cl_nfree, nfree);
	assert_int_equal(cl->cl_live, 1);
	assert_int_equal(c->pages[pg].pm_used, 1);
	/* LIFO: the same chunk comes back first. */
	assert_int_equal(fc__evict_alloc_locked(c, cls, &again), FC_OK);
	assert_int_equal(again, b);
	fc__slab_unalloc_locked(c, again);
	fc__slab_unalloc_locked(c, a);
	assert_int_equal(cl->cl_live, 0);
	assert_int_equal(c->pages[pg].pm_used, 0);
	assert_int_equal(cl->cl_nfree, c->g.class_per_page[cls]);
	fc__unlock(c);
	fc_test_verify(c);
}

/* ------------------------------------------------------------ draining -- */

static struct item_shm *
item_of(fc_cache *c, const char *key)
{
	struct fc_probe p;

	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(
		fc__index_probe_locked(c, fc__hash(c, key, strlen(key)), key,
				       strlen(key), fc__now_ms(), &p),
		FC_OK);
	fc__unlock(c);
	if (!p.it)
		fail_msg("key %s not found", key);
	return p.it;
}

/* The calling thread's own reader slot, claimed the ordinary way; the
 * tests store epochs in it to stand for a reader inside a read. */
static struct slot_shm *
own_slot(fc_cache *c)
{
	int err = FC_OK, outer;
	struct fc_tls *t = fc__read_enter(c, &err, &outer);

	assert_non_null(t);
	fc__read_exit(t, outer);
	return t->slot;
}

/* What drain_page does once the page's live items are evicted: unlink its
 * free chunks from the class list and mark it DRAINING (A3). */
static void
make_draining(fc_cache *c, uint64_t pg)
{
	unsigned cls = c->pages[pg].pm_class;
	struct class_shm *cl = &c->hdr->hd_class[cls];
	uint64_t off = cl->cl_free, lo = page_start(c, pg),
		 hi = lo + c->g.page_bytes;
	struct item_shm *prev = NULL;

	while (off) {
		struct item_shm *it = fc__ptr(c, off);
		uint64_t next = fc__item_next_free(it);
		if (off >= lo && off < hi) {
			if (prev)
				fc_test_item_set_link(prev, next);
			else
				cl->cl_free = next;
			cl->cl_nfree--;
		} else {
			prev = it;
		}
		off = next;
	}
	c->pages[pg].pm_state = FC_PG_DRAINING;
	c->hdr->hd_pages_draining++; /* A6 */
}

static void
freeing_the_last_limbo_chunk_of_a_draining_page_frees_the_page(void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;
	struct slot_shm *s = own_slot(c);

	assert_int_equal(fc_set(c, "a", 1, "va", 2, 0), FC_OK);
	assert_int_equal(fc_set(c, "b", 1, "vb", 2, 0), FC_OK);
	struct item_shm *ia = item_of(c, "a"), *ib = item_of(c, "b");
	uint64_t pg = fc__page_of(c, fc__off_of(c, ia));
	unsigned cls = fc_test_item_class(c, ia);
	struct class_shm *cl = &h->hd_class[cls];
	assert_int_equal(fc__page_of(c, fc__off_of(c, ib)), pg);
	assert_int_equal(fc_test_item_class(c, ib), cls);

	/* a goes to limbo at epoch E, b at E+1, while a reader holds E. */
	uint64_t e = h->hd_epoch;
	fc__st_rel(&s->rs_epoch, e);
	assert_int_equal(fc_delete(c, "a", 1), FC_OK);
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__reclaim_locked(c), 0); /* epoch -> E+1 */
	fc__unlock(c);
	assert_int_equal(fc_delete(c, "b", 1), FC_OK);
	assert_int_equal(fc__item_state(ia), FC_IT_LIMBO);
	assert_int_equal(fc__item_state(ib), FC_IT_LIMBO);

	uint64_t free_pages = h->hd_free_pages, pages = cl->cl_pages;
	assert_int_equal(fc__lock(c), FC_OK);
	make_draining(c, pg);
	assert_int_equal(c->pages[pg].pm_used, 2);
	assert_int_equal(cl->cl_limbo, 2);
	assert_int_equal(cl->cl_live, 0);
	assert_int_equal(cl->cl_free, 0);
	fc__unlock(c);
	fc_test_verify(c); /* the DRAINING state built by hand is sound */

	/* The reader moves on to E+1: a (E) is freed, b (E+1) stays. The
	 * freed chunk does not go on the list: its page is DRAINING. */
	fc__st_rel(&s->rs_epoch, e + 1);
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__reclaim_locked(c), 1);
	assert_int_equal(fc__item_state(ia), FC_IT_FREE);
	assert_int_equal(c->pages[pg].pm_state, FC_PG_DRAINING);
	assert_int_equal(c->pages[pg].pm_used, 1);
	assert_int_equal(cl->cl_free, 0);
	assert_int_equal(cl->cl_nfree, 0);
	assert_int_equal(cl->cl_limbo, 1);
	assert_int_equal(h->hd_free_pages, free_pages);
	fc__unlock(c);
	fc_test_verify(c);

	/* The reader leaves: b, the last chunk, frees the page (A3). */
	fc__st_rel(&s->rs_epoch, 0);
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__reclaim_locked(c), 1);
	assert_int_equal(c->pages[pg].pm_state, FC_PG_FREE);
	assert_int_equal(c->pages[pg].pm_used, 0);
	assert_int_equal(cl->cl_pages, pages - 1);
	assert_int_equal(cl->cl_limbo, 0);
	assert_int_equal(cl->cl_free, 0);
	assert_int_equal(h->hd_free_pages, free_pages + 1);
	fc__unlock(c);
	fc_test_verify(c);
}

/* ------------------------------------------------------------ stealing -- */

static int
small_open(void **state)
{
	fc_options o;

	fc_test_default_options(&o);
	o.segment_bytes = 1u << 20;
	o.page_bytes = 64u << 10;
	o.reader_slots = 8;
	*state = fc_test_create(&o);
	return 0;
}

#define KEYLEN 6 /* "a%05u" */

static void
fill_value(unsigned char *v, size_t n, unsigned i)
{
	for (size_t j = 0; j < n; j++)
		v[j] = (unsigned char)(i * 31u + j);
}

static void
alloc_in_a_class_without_pages_steals_and_drains_another_classes_page(
	void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;
	unsigned big = class_of(c, KEYLEN, 1000);
	/* A value that fills the chunk exactly. */
	size_t vlen = c->g.class_size[big] - FC_ITEM_HDR - KEYLEN;
	uint32_t per = c->g.class_per_page[big];
	unsigned char *val = malloc(vlen), *buf = malloc(vlen);
	char key[16];
	unsigned n = 0;

	assert_non_null(val);
	assert_non_null(buf);
	/* Class `big' takes every page. */
	while (h->hd_free_pages > 0) {
		snprintf(key, sizeof key, "a%05u", n);
		fill_value(val, vlen, n);
		assert_int_equal(fc_set(c, key, KEYLEN, val, vlen, 0), FC_OK);
		n++;
	}
	assert_int_equal(h->hd_class[big].cl_pages, c->g.npages);
	assert_int_equal(n, (c->g.npages - 1) * per + 1);
	assert_int_equal(h->hd_evictions, 0);

	/* Another class has no page, and no page is free: it steals one. The
	 * hand points past the last page, so page 0 (keys 0..per-1) goes. */
	unsigned small = class_of(c, 1, 100);
	assert_true(small != big);
	memset(val, 'S', 100);
	assert_int_equal(fc_set(c, "s", 1, val, 100, 0), FC_OK);

	assert_int_equal(h->hd_evictions, per);
	assert_int_equal(h->hd_class[big].cl_pages, c->g.npages - 1);
	assert_int_equal(h->hd_class[small].cl_pages, 1);
	assert_int_equal(c->pages[0].pm_class, small);
	assert_int_equal(c->pages[0].pm_state, FC_PG_ACTIVE);
	assert_int_equal(h->hd_free_pages, 0);
	assert_int_equal(fc__page_of(c, fc__off_of(c, item_of(c, "s"))), 0);
	for (unsigned i = 0; i < n; i++) {
		size_t len = vlen;
		snprintf(key, sizeof key, "a%05u", i);
		int rc = fc_get(c, key, KEYLEN, buf, &len);
		if (rc != (i < per ? FC_ENOTFOUND : FC_OK))
			fail_msg("key %s (page %u): %s after the steal", key,
				 i / per, fc_errname(rc));
		fill_value(val, vlen, i);
		if (rc == FC_OK && (len != vlen || memcmp(buf, val, vlen) != 0))
			fail_msg("key %s: value damaged by the steal", key);
	}
	free(val);
	free(buf);
	fc_test_verify(c);
}

/* ------------------------------------------------------------- rebuild -- */

struct snap {
	struct class_shm cls[FC_MAX_CLASSES];
	struct page_shm *pages;
	uint64_t items, bytes, data, ttl, free_pages, used, tombs;
};

static void
take_snap(fc_cache *c, struct snap *s)
{
	struct hdr_shm *h = c->hdr;

	memcpy(s->cls, h->hd_class, sizeof s->cls);
	s->pages = malloc(c->g.npages * sizeof *s->pages);
	assert_non_null(s->pages);
	memcpy(s->pages, c->pages, c->g.npages * sizeof *s->pages);
	s->items = h->hd_items;
	s->bytes = h->hd_bytes_used;
	s->data = h->hd_data_bytes;
	s->ttl = h->hd_ttl_items;
	s->free_pages = h->hd_free_pages;
	s->used = h->hd_ix_used;
	s->tombs = h->hd_ix_tombs;
}

#define RB_KEYS 600u

static size_t
rb_vlen(unsigned i)
{
	static const size_t sizes[] = {10, 100, 400, 1500, 5000};
	return sizes[i % 5];
}

static void
slab_rebuild_after_scrambled_accounting_restores_it_and_keeps_items(
	void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;
	unsigned char val[5000], buf[5000];
	char key[16];
	fc_test_rng r;

	for (unsigned i = 0; i < RB_KEYS; i++) {
		size_t kl = fc_test_key(key, sizeof key, "rb", i);
		fill_value(val, rb_vlen(i), i);
		assert_int_equal(fc_set(c, key, kl, val, rb_vlen(i),
					i % 4 == 1 ? 60000 : 0),
				 FC_OK);
	}
	/* Every third key goes: every page keeps live items, and limbo is
	 * emptied before the snapshot so the expected state is exact. */
	for (unsigned i = 0; i < RB_KEYS; i += 3) {
		size_t kl = fc_test_key(key, sizeof key, "rb", i);
		assert_int_equal(fc_delete(c, key, kl), FC_OK);
	}
	assert_int_equal(fc__lock(c), FC_OK);
	fc__reclaim_locked(c);
	assert_int_equal(h->hd_limbo_tail, h->hd_limbo_head);
	fc__unlock(c);
	fc_test_verify(c);
	struct snap want;
	take_snap(c, &want);
	assert_true(want.ttl > 0); /* TTL items are counted too */

	/* Scramble every list head, free count and page use count. A live
	 * chunk is made a list head: the rebuild must not trust the lists. */
	fc_test_rng_init(&r, fc_test_seed());
	uint64_t live_off = fc__off_of(c, item_of(c, "rb1"));
	assert_int_equal(fc__lock(c), FC_OK);
	for (unsigned k = 0; k < c->g.nclasses; k++) {
		struct class_shm *cl = &h->hd_class[k];
		cl->cl_free = k % 2 ? live_off : fc_test_rand(&r);
		cl->cl_nfree = fc_test_rand(&r) % 100000;
		cl->cl_live = fc_test_rand(&r) % 100;
		cl->cl_limbo = 7;
	}
	for (uint64_t pg = 0; pg < c->g.npages; pg++)
		c->pages[pg].pm_used = (uint32_t)fc_test_rand(&r);
	h->hd_free_pages = 3;
	h->hd_items = 0;
	h->hd_needs_repair = 1; /* as fc__repair_locked does (L1) */
	assert_int_equal(fc__repair_rebuild_locked(c, 0), FC_OK);
	fc__unlock(c);

	assert_int_equal(h->hd_needs_repair, 0);
	for (unsigned k = 0; k < c->g.nclasses; k++) {
		struct class_shm *a = &h->hd_class[k], *b = &want.cls[k];
		if (a->cl_nfree != b->cl_nfree || a->cl_live != b->cl_live ||
		    a->cl_limbo != 0 || a->cl_pages != b->cl_pages ||
		    a->cl_data != b->cl_data)
			fail_msg("class %u after rebuild: free %" PRIu64
				 " live %" PRIu64 " limbo %" PRIu64
				 " pages %" PRIu64 " data %" PRIu64 ", before "
				 "scrambling: %" PRIu64 " %" PRIu64
				 " 0 %" PRIu64 " %" PRIu64,
				 k, a->cl_nfree, a->cl_live, a->cl_limbo,
				 a->cl_pages, a->cl_data, b->cl_nfree,
				 b->cl_live, b->cl_pages, b->cl_data);
	}
	for (uint64_t pg = 0; pg < c->g.npages; pg++) {
		struct page_shm *a = &c->pages[pg], *b = &want.pages[pg];
		if (a->pm_state != b->pm_state || a->pm_used != b->pm_used ||
		    (a->pm_state != FC_PG_FREE && a->pm_class != b->pm_class))
			fail_msg("page %" PRIu64
				 " after rebuild: state %u class %u used %u, "
				 "before: %u %u %u",
				 pg, a->pm_state, a->pm_class, a->pm_used,
				 b->pm_state, b->pm_class, b->pm_used);
	}
	assert_int_equal(h->hd_items, want.items);
	assert_int_equal(h->hd_bytes_used, want.bytes);
	assert_int_equal(h->hd_data_bytes, want.data);
	assert_int_equal(h->hd_ttl_items, want.ttl);
	assert_int_equal(h->hd_free_pages, want.free_pages);
	assert_int_equal(h->hd_ix_used, want.used);
	assert_int_equal(h->hd_ix_tombs, want.tombs);
	free(want.pages);
	assert_int_equal(fc__item_state(fc__ptr(c, live_off)),
			 FC_IT_LIVE);

	for (unsigned i = 0; i < RB_KEYS; i++) {
		size_t kl = fc_test_key(key, sizeof key, "rb", i),
		       len = sizeof buf;
		int rc = fc_get(c, key, kl, buf, &len);
		if (rc != (i % 3 ? FC_OK : FC_ENOTFOUND))
			fail_msg("key %s after rebuild: %s", key,
				 fc_errname(rc));
		fill_value(val, rb_vlen(i), i);
		if (rc == FC_OK &&
		    (len != rb_vlen(i) || memcmp(buf, val, len) != 0))
			fail_msg("key %s: value changed by the rebuild", key);
	}
	fc_test_verify(c);
	/* And the rebuilt lists work: the deleted keys fit again. */
	for (unsigned i = 0; i < RB_KEYS; i += 3) {
		size_t kl = fc_test_key(key, sizeof key, "rb", i);
		fill_value(val, rb_vlen(i), i);
		assert_int_equal(fc_set(c, key, kl, val, rb_vlen(i), 0), FC_OK);
	}
	assert_int_equal(h->hd_evictions, 0);
	fc_test_verify(c);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
	const struct CMUnitTest tests[] = {
		T(class_for_maps_each_class_size_to_itself_and_one_byte_more_to_the_next),
		T(first_alloc_carves_a_free_page_with_every_chunk_on_the_free_list),
		T(alloc_then_unalloc_restores_the_free_list_and_counters),
		T(freeing_the_last_limbo_chunk_of_a_draining_page_frees_the_page),
		cmocka_unit_test_setup_teardown(
			alloc_in_a_class_without_pages_steals_and_drains_another_classes_page,
			small_open, fc_test_close),
		T(slab_rebuild_after_scrambled_accounting_restores_it_and_keeps_items),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
