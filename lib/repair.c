/*
 * repair.c - the writer section (fc__lock/fc__unlock), and repair: the
 *            rebuild of all allocator state from the index after a writer
 *            died or damage was found.
 *
 * DESIGN       fc__lock takes the robust mutex (lock.c). If the previous
 *              owner died (EOWNERDEAD), or a writer marked hd_needs_repair,
 *              the new owner repairs before doing anything else. Repair is
 *              not a replay: the index is consistent after every single
 *              store (index.c), so it is the single source of truth. After
 *              a grace period (so no reader can still be inside an
 *              unreferenced chunk), every page, free list, limbo cursor and
 *              counter is rebuilt from what the live index references
 *              (fc__repair_rebuild_locked); fc_flush is the same rebuild
 *              after emptying the index.
 * INVARIANTS   L1 hd_needs_repair is set before repair starts and cleared
 *                 only when it completed: a killed repairer is repaired.
 *              L2 The mutex is marked consistent only after repair ran (or
 *                 was recorded as still needed in hd_needs_repair).
 *              After a rebuild: A1-A6 (slab.c), I4-I5 (index.c), limbo
 *              empty, counters equal to what the index references.
 * CONCURRENCY  Everything under hd_mutex, inside hd_seq's odd phase.
 *              Readers may run throughout: the rebuild writes only chunks
 *              no bucket references, after a grace period (A4).
 * CRASHES      Killed while holding: EOWNERDEAD for the next writer, which
 *              repairs (fault points: every set.* / delete / evict / page /
 *              rebuild / flush / repair.half / repair.last point). Killed inside repair: L1.
 * LIMITS       Repair time is linear in buckets + chunks (a few ms for a
 *              64 MiB segment) plus at most FC_GRACE_WAIT_MS for readers.
 */
#include <ck_bitmap.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fault.h"
#include "index.h"
#include "item.h"
#include "lock.h"
#include "readers.h"
#include "repair.h"
#include "segment.h"
#include "slab.h"

#define FC_REPAIR_AHEAD 16 /* buckets of prefetch lead in repair */

int
fc__repair_locked(fc_cache *c)
{
	struct hdr_shm *h = c->hdr;

	h->hd_needs_repair = 1; /* L1 */
	FC_CTR_ADD(h->hd_repairs, 1);
	return fc__repair_rebuild_locked(c, 0);
}

int
fc__lock(fc_cache *c)
{
	struct hdr_shm *h = c->hdr;
	int dead;
	int rc = fc__mutex_acquire(c, &dead);

	if (rc != FC_OK)
		return rc;
	if (dead) {
		c->wait_deadline_ms = fc__mono_ms() + FC_GRACE_WAIT_MS;
		fc__seq_begin(c);
		fc__repair_locked(c); /* on failure hd_needs_repair stays set */
		fc__seq_end(c);
		fc__mutex_consistent(c); /* L2 */
	}
	fc__seq_begin(c);
	c->wait_deadline_ms = fc__mono_ms() + FC_GRACE_WAIT_MS;
	if (h->hd_needs_repair && fc__repair_locked(c) != FC_OK) {
		fc__seq_end(c);
		fc__mutex_release(c, 0);
		return FC_EBUSY;
	}
	return FC_OK;
}

void
fc__unlock(fc_cache *c)
{
	fc__seq_end(c);
	fc__mutex_release(c, 1);
}

/*
 * Rebuild all allocator state from the live index (repair, flush).
 * Step 1 waits for a grace period: afterwards no reader is inside any chunk
 * the index does not reference, so those chunks may be written (A4).
 * Idempotent: a repairer killed midway leaves hd_needs_repair set (the
 * caller set it first) and the next writer starts over.
 */
int
fc__repair_rebuild_locked(fc_cache *c, int drop_index)
{
	struct hdr_shm *h = c->hdr;
	uint64_t B = c->g.nbuckets, P = c->g.page_bytes;
	unsigned sel = (unsigned)(fc__ld_rlx(&h->hd_ix_sel) & 1);
	uint64_t *ix = fc__index(c, sel);

	if (drop_index) {
		/* flush: every bucket EMPTY. Readers see each item present or
		 * gone; a chain cut short only hides items also being removed. */
		for (uint64_t i = 0; i < B; i++)
			if (fc__ld_rlx(&ix[i]) != FC_BK_EMPTY)
				fc__st_rel(&ix[i], FC_BK_EMPTY);
		FC_FAULT(FLUSH_HALF);
	}
	/* 1. Quarantine: wait until every reader started after this point. */
	if (fc__limbo_wait_locked(c, fc__ld_rlx(&h->hd_epoch)) != FC_OK)
		return FC_EBUSY;

	/* 2. Mark what the index references, dropping bad buckets. */
	size_t bm_bytes = ck_bitmap_size((unsigned)(P / FC_MIN_CHUNK));
	char *bms = calloc(c->g.npages, bm_bytes);
	uint64_t *counts = calloc(c->g.npages, sizeof *counts);
	if (!bms || !counts) {
		free(bms);
		free(counts);
		return FC_ESYS;
	}
	for (uint64_t pg = 0; pg < c->g.npages; pg++)
		ck_bitmap_init((struct ck_bitmap *)(bms + pg * bm_bytes),
			       (unsigned)(P / FC_MIN_CHUNK), false);
	memset(h->hd_class, 0, sizeof h->hd_class);
	uint64_t items = 0, bytes = 0, data = 0, used = 0, tombs = 0, ttl = 0;
	uint64_t maxahead = UINT64_MAX; /* none at or ahead of hd_cas_next */
	/* Memory-bound: one random item access per live bucket. Prefetch
	 * FC_REPAIR_AHEAD buckets ahead (the index itself is read in order).
	 * Tags are not re-hashed: bucket words are only ever stored whole, so
	 * a crash cannot leave a wrong tag; fc_verify checks them. */
	for (uint64_t i = 0; i < B; i++) {
		if (i + FC_REPAIR_AHEAD < B) {
			uint64_t wa = fc__ld_rlx(&ix[i + FC_REPAIR_AHEAD]);
			uint64_t oa = fc__bk_off(wa);
			if (fc__bk_live(wa) && oa >= c->g.pages_off &&
			    oa < c->g.segment_bytes - FC_ITEM_HDR)
				__builtin_prefetch(fc__ptr(c, oa));
		}
		uint64_t w = fc__ld_rlx(&ix[i]);
		if (w == FC_BK_EMPTY)
			continue;
		used++;
		if (w == FC_BK_TOMB) {
			tombs++;
			continue;
		}
		uint64_t off = fc__bk_off(w);
		struct fc_iview v; /* class from the page map, lengths checked */
		int ok = fc__item_view(c, off, &v) == 0 &&
			 fc__w0_state(v.w0) == FC_IT_LIVE &&
			 fc__chunk_owned(c, off, v.cls) != NULL;
		uint64_t pg = ok ? fc__page_of(c, off) : 0;
		unsigned k = ok ? (unsigned)((off - fc__page_start(c, pg)) / c->g.class_size[v.cls]) : 0;
		struct ck_bitmap *bm = (struct ck_bitmap *)(bms + pg * bm_bytes);
		if (!ok || ck_bitmap_bts(bm, k)) {
			fc__st_rel(&ix[i], FC_BK_TOMB); /* bad or duplicate */
			tombs++;
			continue;
		}
		counts[pg]++;
		struct class_shm *cl = &h->hd_class[v.cls];
		FC_CTR_ADD(cl->cl_live, 1);
		FC_CTR_ADD(cl->cl_data, v.klen + v.vlen);
		items++;
		bytes += c->g.class_size[v.cls];
		data += v.klen + v.vlen;
		/* How far this item's cas is at or ahead of hd_cas_next, modulo
		 * 2^48 (item.h); half the range or more means behind. */
		uint64_t ahead = (fc__w0_cas(v.w0) - h->hd_cas_next) & FC_W0_CAS_MASK;
		if (ahead < FC_W0_CAS_MASK / 2 && (maxahead == UINT64_MAX || ahead > maxahead))
			maxahead = ahead;
		if (v.w1 & FC_W1_EXP_MASK)
			ttl++;

	}
	FC_FAULT(REPAIR_HALF);

	/* 3. Pages: referenced ones stay with their class and get every
	 *    other chunk on the free list; the rest become FREE. */
	FC_CTR_SET(h->hd_free_pages, 0);
	FC_CTR_SET(h->hd_pages_draining, 0); /* A6: no page is left DRAINING */
	for (uint64_t pg = c->g.npages; pg-- > 0;) {
		struct page_shm *pm = &c->pages[pg];
		if (!counts[pg]) {
			pm->pm_state = FC_PG_FREE;
			pm->pm_used = 0;
			FC_CTR_ADD(h->hd_free_pages, 1);
			continue;
		}
		unsigned cls = pm->pm_class;
		struct class_shm *cl = &h->hd_class[cls];
		struct ck_bitmap *bm = (struct ck_bitmap *)(bms + pg * bm_bytes);
		uint32_t csz = c->g.class_size[cls], per = c->g.class_per_page[cls];
		pm->pm_state = FC_PG_ACTIVE;
		pm->pm_used = (uint32_t)counts[pg];
		FC_CTR_ADD(cl->cl_pages, 1);
		for (uint32_t k = per; k-- > 0;) {
			if (ck_bitmap_test(bm, k))
				continue;
			uint64_t off = fc__page_start(c, pg) + (uint64_t)k * csz;
			fc__item_set_free_locked(fc__ptr(c, off), cl->cl_free);
			cl->cl_free = off;
			FC_CTR_ADD(cl->cl_nfree, 1);
		}
	}
	free(bms);
	free(counts);

	/* 4. Counters, limbo, spare index. */
	FC_CTR_SET(h->hd_items, items);
	FC_CTR_SET(h->hd_ttl_items, ttl);
	FC_CTR_SET(h->hd_bytes_used, bytes);
	FC_CTR_SET(h->hd_data_bytes, data);
	FC_CTR_SET(h->hd_ix_used, used);
	FC_CTR_SET(h->hd_ix_tombs, tombs);
	FC_FAULT(REPAIR_LAST); /* killed here: L1, the next writer repairs again */
	/* Empty the ring with ONE store: two stores (head = 0, tail = 0)
	 * killed in between left [0, old head) "in limbo", and the next
	 * repair freed live chunks from it (review finding #1). */
	FC_CTR_SET(h->hd_limbo_tail, h->hd_limbo_head);
	h->hd_spare_epoch = 0; /* the grace period covered it */
	/* hd_cas_next moves past every item's cas (a writer killed between
	 * its fill and the counter's store, or a damaged counter). */
	if (maxahead != UINT64_MAX)
		h->hd_cas_next += maxahead + 1;
	h->hd_ix_hand = 0; /* unused since layout 5 */
	if (h->hd_sweep >= c->g.nlines)
		h->hd_sweep = 0;
	/* Expiry summaries (index.c I6) from the items the index keeps. */
	fc__index_exp_rebuild_locked(c);
	if (h->hd_page_hand >= c->g.npages)
		h->hd_page_hand = 0;
	h->hd_needs_repair = 0;
	return FC_OK;
}
