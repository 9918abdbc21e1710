/*
 * slab.c - size-class pages, free lists, and limbo: retiring unlinked
 *          items and freeing them after their grace period.
 *
 * DESIGN       Slab pages (page_bytes each) are FREE or belong to one size
 *              class (sizes from 64 B growing by 5/4, 8-byte aligned, the
 *              last one a whole page: segment.c). A class's free chunks form
 *              a singly linked list through the first word of each free chunk (item.h:
 *              fc__item_next_free). Only
 *              the writer (mutex held) touches allocator state; readers
 *              never read it. A chunk is LIVE (published in the index),
 *              LIMBO (unlinked, waiting for a grace period) or FREE.
 *              This file holds the mechanisms: carve a page, pop a free
 *              chunk, take a drained page's free chunks off its list,
 *              retire an unlinked item into the limbo ring (stamped with
 *              the global epoch) and reclaim the entries whose grace period
 *              has passed (readers.c says which). Which of them a write
 *              uses, and when it evicts or steals a page, is the allocation
 *              policy in evict.c; the rebuild after a crash is repair.c.
 * INVARIANTS   A1 A chunk on a free list has state FREE and lies in an
 *                 ACTIVE page of its class, at a multiple of the class size.
 *              A2 pm_used = chunks of the page that are LIVE or LIMBO.
 *              A3 A FREE page holds no LIVE or LIMBO chunk; a DRAINING page
 *                 holds no LIVE chunk and none of its chunks is on a list.
 *              A4 Free chunks are written only after their grace period.
 *              A5 cl_nfree + cl_live + cl_limbo = chunks of ACTIVE pages of
 *                 the class (+ LIMBO chunks of its DRAINING pages).
 *              A6 hd_pages_draining = pages in state DRAINING (the page
 *                 moves of rebalance.c start no second move meanwhile).
 *              R1 (readers.c) A chunk retired at epoch E is not reused while
 *                 any slot holds an epoch e with 0 < e <= E.
 *              R4 Limbo stamps are nondecreasing from head to tail.
 * CONCURRENCY  All of it under hd_mutex. Readers read only LIVE chunks
 *              (and LIMBO ones they found while LIVE); it_w0 is the one
 *              word both touch (readers CAS its frequency bits; so the
 *              LIVE -> LIMBO change is a CAS loop: item.h). pm_class:
 *              relaxed store here | readers' relaxed load (item.h).
 *              hd_epoch: FAA here (reclaim) | readers, acquire.
 * CRASHES      A writer killed anywhere here leaves lists, counters, page
 *              states or limbo cursors half-updated; the next writer's
 *              repair (repair.c) rebuilds all of them from the index (fault
 *              points page.grab, reclaim.freeing, repair.half test this).
 * LIMITS       A page drain walks one class's free list; a reclaim walks
 *              the limbo ring once.
 */
#include <string.h>

#include "fault.h"
#include "item.h"
#include "readers.h"
#include "segment.h"
#include "slab.h"

void
fc__slab_init(fc_cache *c)
{
	memset(c->pages, 0, c->g.npages * sizeof(struct page_shm));
	memset(c->hdr->hd_class, 0, sizeof c->hdr->hd_class);
	c->hdr->hd_free_pages = c->g.npages;
}

static void
mark_corrupt(fc_cache *c)
{
	c->hdr->hd_needs_repair = 1; /* the next writer rebuilds (repair) */
}

/* Give a FREE page to @p cls and put all its chunks on the free list. */
int
fc__slab_page_grab_locked(fc_cache *c, unsigned cls)
{
	struct hdr_shm *h = c->hdr;

	if (FC_FAULT(PAGE_GRAB))
		return FC_ENOMEM;
	for (uint64_t n = 0; n < c->g.npages; n++) {
		uint64_t pg = (h->hd_page_hand + n) % c->g.npages;
		struct page_shm *pm = &c->pages[pg];
		if (pm->pm_state != FC_PG_FREE)
			continue;
		struct class_shm *cl = &h->hd_class[cls];
		uint32_t csz = c->g.class_size[cls], per = c->g.class_per_page[cls];
		uint64_t base = fc__page_start(c, pg), head = cl->cl_free;
		/* A1 holds for each chunk before the list head moves to it.
		 * The page was FREE, so no reader is in it (A3, A4). */
		/* relaxed: readers load it for items of this page, and none
		 * is published before the bucket's release store (I2). */
		fc__st16_rlx(&pm->pm_class, (uint16_t)cls);
		pm->pm_used = 0;
		pm->pm_state = FC_PG_ACTIVE;
		for (uint32_t k = per; k-- > 0;) {
			struct item_shm *it = fc__ptr(c, base + (uint64_t)k * csz);
			fc__item_set_free_locked(it, head);
			head = base + (uint64_t)k * csz;
			if (k == per / 2)
				FC_FAULT(PAGE_GRAB);
		}
		cl->cl_free = head;
		FC_CTR_ADD(cl->cl_nfree, per);
		FC_CTR_ADD(cl->cl_pages, 1);
		FC_CTR_SUB(h->hd_free_pages, 1);
		h->hd_page_hand = pg + 1;
		return FC_OK;
	}
	return FC_ENOMEM;
}

/* Limbo to FREE, after the chunk's grace period (A4). */
static void
chunk_free(fc_cache *c, uint64_t off)
{
	struct item_shm *it = fc__item_at(c, off);
	if (!it) {
		mark_corrupt(c);
		return;
	}
	struct page_shm *pm = &c->pages[fc__page_of(c, off)];
	unsigned cls = pm->pm_class; /* fc__item_at checked it < nclasses */
	struct class_shm *cl = &c->hdr->hd_class[cls];

	if (pm->pm_used == 0 || pm->pm_state == FC_PG_FREE ||
	    fc__item_state(it) != FC_IT_LIMBO) {
		mark_corrupt(c);
		return;
	}
	FC_CTR_SUB(cl->cl_limbo, 1);
	pm->pm_used--;
	fc__item_set_free_locked(it, 0); /* A4: grace period has passed */
	if (pm->pm_state == FC_PG_DRAINING) {
		if (pm->pm_used == 0) { /* A3: last one out frees the page */
			pm->pm_state = FC_PG_FREE;
			FC_CTR_SUB(cl->cl_pages, 1);
			FC_CTR_ADD(c->hdr->hd_free_pages, 1);
			FC_CTR_SUB(c->hdr->hd_pages_draining, 1); /* A6 */
		}
		return;
	}
	fc__item_set_free_locked(it, cl->cl_free);
	cl->cl_free = off;
	FC_CTR_ADD(cl->cl_nfree, 1);
}

int
fc__slab_pop_locked(fc_cache *c, unsigned cls, uint64_t *off)
{
	struct class_shm *cl = &c->hdr->hd_class[cls];
	struct item_shm *it = fc__chunk_owned(c, cl->cl_free, cls);

	if (!it || fc__item_state(it) != FC_IT_FREE || !cl->cl_nfree) {
		mark_corrupt(c);
		return FC_ECORRUPT;
	}
	*off = cl->cl_free;
	cl->cl_free = fc__item_next_free(it);
	FC_CTR_SUB(cl->cl_nfree, 1);
	FC_CTR_ADD(cl->cl_live, 1);
	c->pages[fc__page_of(c, *off)].pm_used++;
	fc__item_set_popped_locked(it);
	return FC_OK;
}

/* Give back a chunk that was never published: no grace period needed. */
void
fc__slab_unalloc_locked(fc_cache *c, uint64_t off)
{
	struct item_shm *it = fc__ptr(c, off);
	struct class_shm *cl = &c->hdr->hd_class[c->pages[fc__page_of(c, off)].pm_class];

	fc__item_set_free_locked(it, cl->cl_free);
	cl->cl_free = off;
	FC_CTR_ADD(cl->cl_nfree, 1);
	FC_CTR_SUB(cl->cl_live, 1);
	c->pages[fc__page_of(c, off)].pm_used--;
}

uint64_t
fc__slab_reserve(const fc_cache *c, unsigned cls)
{
	const struct class_shm *cl = &c->hdr->hd_class[cls];
	uint64_t r = cl->cl_pages * c->g.class_per_page[cls] / FC_FREE_RESERVE;

	return r > FC_FREE_LOW ? r : FC_FREE_LOW;
}

/* Take page @p pg out of its class: unlink its free chunks from the class
 * list; the page is DRAINING until its last limbo chunk is reclaimed, then
 * FREE (A3). Its live chunks are gone (evict.c evicted them) or about to
 * be moved (rebalance.c compaction, same lock hold: A3 holds again when
 * the lock is released; a crash in between is repaired from the index). */
int
fc__slab_page_drain_locked(fc_cache *c, uint64_t pg)
{
	struct page_shm *pm = &c->pages[pg];
	unsigned cls = pm->pm_class;
	struct class_shm *cl = &c->hdr->hd_class[cls];
	uint32_t csz = c->g.class_size[cls], per = c->g.class_per_page[cls];
	uint64_t base = fc__page_start(c, pg), end = base + (uint64_t)per * csz;

	/* Unlink this page's free chunks: walk the class list once (prev:
	 * the last chunk kept, NULL while the head is the link). */
	struct item_shm *prev = NULL;
	uint64_t off = cl->cl_free;
	uint64_t bound = c->g.npages * c->g.class_per_page[cls] + 1; /* not cl_nfree: untrusted */
	while (off && bound--) {
		struct item_shm *it = fc__chunk_owned(c, off, cls);
		if (!it) {
			mark_corrupt(c);
			return FC_ECORRUPT;
		}
		uint64_t next = fc__item_next_free(it);
		if (off >= base && off < end) {
			if (prev)
				fc__item_set_free_locked(prev, next);
			else
				cl->cl_free = next;
			FC_CTR_SUB(cl->cl_nfree, 1);
		} else {
			prev = it;
		}
		off = next;
	}
	if (cl->cl_hand >= base && cl->cl_hand < end)
		cl->cl_hand = 0;
	if (pm->pm_used == 0) {
		pm->pm_state = FC_PG_FREE;
		FC_CTR_SUB(cl->cl_pages, 1);
		FC_CTR_ADD(c->hdr->hd_free_pages, 1);
	} else {
		pm->pm_state = FC_PG_DRAINING;
		FC_CTR_ADD(c->hdr->hd_pages_draining, 1); /* A6 */
	}
	return FC_OK;
}

/* ------------------------------------------------------------ limbo -- */

/* Append chunk @p off to the limbo ring, stamped with the global epoch. */
static int
limbo_push(fc_cache *c, uint64_t off)
{
	struct hdr_shm *h = c->hdr;

	if (h->hd_limbo_tail - h->hd_limbo_head > c->g.limbo_cap) {
		h->hd_needs_repair = 1; /* damaged cursors */
		return FC_ECORRUPT;
	}
	if (h->hd_limbo_tail - h->hd_limbo_head >= c->g.limbo_cap) {
		fc__reclaim_locked(c);
		if (h->hd_limbo_tail - h->hd_limbo_head >= c->g.limbo_cap &&
		    fc__limbo_wait_locked(c, c->limbo[h->hd_limbo_head % c->g.limbo_cap].lb_epoch) != FC_OK)
			return FC_EBUSY;
	}
	struct limbo_shm *l = &c->limbo[h->hd_limbo_tail % c->g.limbo_cap];
	l->lb_off = off;
	/* relaxed: writers alone read the epoch they stamp; a stale value is
	 * impossible under the mutex. The FAA in reclaim orders the unlink
	 * before any later epoch advance. */
	l->lb_epoch = fc__ld_rlx(&h->hd_epoch);
	FC_CTR_ADD(h->hd_limbo_tail, 1);
	return FC_OK;
}

uint64_t
fc__reclaim_locked(fc_cache *c)
{
	struct hdr_shm *h = c->hdr;
	uint64_t freed = 0;

	if (h->hd_limbo_tail == h->hd_limbo_head && h->hd_spare_epoch == 0)
		return 0;
	/*
	 * Advance the epoch: readers that start after this see E+1 > every
	 * stamp so far, so they cannot hold back what is in limbo now.
	 * Orders:       the unlinks of everything in limbo before the new
	 *               epoch value (FAA is a full barrier).
	 * Pairs with:   the acquire load of hd_epoch in fc__read_enter.
	 * If reordered: a reader could take epoch E+1 and still see a bucket
	 *               unlinked at E, and we would free under it.
	 */
	fc__faa_sc(&h->hd_epoch, 1);
	uint64_t min = fc__min_active_epoch(c);

	if (h->hd_limbo_tail - h->hd_limbo_head > c->g.limbo_cap) {
		h->hd_needs_repair = 1; /* untrusted cursors: repair empties it */
		return 0;
	}
	while (h->hd_limbo_head != h->hd_limbo_tail) {
		struct limbo_shm *l = &c->limbo[h->hd_limbo_head % c->g.limbo_cap];
		if (l->lb_epoch >= min)
			break; /* R4: the rest are no older */
		uint64_t off = l->lb_off;
		FC_CTR_ADD(h->hd_limbo_head, 1);
		chunk_free(c, off);
		freed++;
		if (freed == 4)
			FC_FAULT(RECLAIM);
	}
	if (h->hd_spare_epoch && h->hd_spare_epoch < min)
		h->hd_spare_epoch = 0; /* the retired index is safe to reuse */
	return freed;
}

/* Take an item already unlinked from the index out of the accounting and
 * put it in limbo. */
int
fc__slab_retire_locked(fc_cache *c, struct item_shm *it)
{
	struct hdr_shm *h = c->hdr;
	unsigned cls = c->pages[fc__page_of(c, fc__off_of(c, it))].pm_class;
	struct class_shm *cl = &h->hd_class[cls];
	uint64_t csz = c->g.class_size[cls];
	uint64_t data = fc__item_klen(it) + fc__item_vlen(it);

	fc__item_set_state_locked(it, FC_IT_LIMBO);
	if (fc__item_w1(it) & FC_W1_EXP_MASK)
		FC_CTR_SUB(h->hd_ttl_items, 1);
	FC_CTR_SUB(cl->cl_live, 1);
	FC_CTR_ADD(cl->cl_limbo, 1);
	FC_CTR_SUB(cl->cl_data, data);
	FC_CTR_SUB(h->hd_items, 1);
	FC_CTR_SUB(h->hd_bytes_used, csz);
	FC_CTR_SUB(h->hd_data_bytes, data);
	if (limbo_push(c, fc__off_of(c, it)) != FC_OK) {
		/* Limbo full and readers stuck: leak it until repair. */
		h->hd_needs_repair = 1;
		return FC_EBUSY;
	}
	return FC_OK;
}

/* Wait for the grace period of everything stamped up to @p stamp, then
 * free what it covers. */
int
fc__limbo_wait_locked(fc_cache *c, uint64_t stamp)
{
	int rc = fc__grace_wait_locked(c, stamp);

	if (rc == FC_OK)
		fc__reclaim_locked(c);
	return rc;
}

uint64_t
fc__slab_limbo_free(const fc_cache *c)
{
	const struct hdr_shm *h = c->hdr;
	uint64_t used = h->hd_limbo_tail - h->hd_limbo_head; /* untrusted */

	return used < c->g.limbo_cap ? c->g.limbo_cap - used : 0;
}

/* fc__limbo_room_locked's slow path: the ring is nearly full. */
int
fc__limbo_room_slow_locked(fc_cache *c)
{
	struct hdr_shm *h = c->hdr;
	uint64_t need = FC_LIMBO_NEED;

	fc__reclaim_locked(c);
	if (h->hd_limbo_tail - h->hd_limbo_head + need <= c->g.limbo_cap)
		return FC_OK;
	return fc__limbo_wait_locked(c, c->limbo[h->hd_limbo_head % c->g.limbo_cap].lb_epoch);
}

/* The stamp of the oldest limbo entry of class @p cls (R4: the first one
 * from the head), or of the newest entry if none is found. */
uint64_t
fc__limbo_oldest_stamp(fc_cache *c, unsigned cls)
{
	struct hdr_shm *h = c->hdr;

	for (uint64_t n = h->hd_limbo_head, k = 0;
	     n != h->hd_limbo_tail && k < c->g.limbo_cap; n++, k++) {
		struct limbo_shm *l = &c->limbo[n % c->g.limbo_cap];
		struct fc_iview v;
		if (fc__item_view(c, l->lb_off, &v) == 0 && v.cls == cls)
			return l->lb_epoch;
	}
	return c->limbo[(h->hd_limbo_tail - 1) % c->g.limbo_cap].lb_epoch;
}
