/*
 * slab.c - size classes, page carving, free lists, eviction, and the
 *          allocator rebuild that repairs a killed writer's leftovers.
 *
 * DESIGN       Slab pages (page_bytes each) are FREE or belong to one size
 *              class (sizes from 64 B growing by 5/4, 8-byte aligned, the
 *              last one a whole page). A class's free chunks form a singly
 *              linked list through it_cas of each free chunk. Only the
 *              writer (mutex held) touches allocator state; readers never
 *              read it. A chunk is LIVE (published in the index), LIMBO
 *              (unlinked, waiting for a grace period) or FREE.
 *              Allocation: free list, else a free page, else reclaim limbo,
 *              else CLOCK eviction inside the class (readers set it_ref;
 *              the hand clears it or evicts), else drain a page of another
 *              class (memcached's slab reassign), else wait (bounded) for
 *              readers to leave the grace period. In a full cache a class
 *              whose free + limbo chunks fall below a reserve (1/64 of its
 *              chunks, >= FC_FREE_LOW) evicts ahead, so victims' grace
 *              periods run while writes still find free chunks.
 *              Repair does not replay anything: the index is the single
 *              source of truth. After a grace period (so no reader can
 *              still be inside an unreferenced chunk), every page, free
 *              list and counter is rebuilt from what the live index
 *              references (fc__slab_rebuild_locked).
 * INVARIANTS   A1 A chunk on a free list has it_state FREE and lies in an
 *                 ACTIVE page of its class, at a multiple of the class size.
 *              A2 pm_used = chunks of the page that are LIVE or LIMBO.
 *              A3 A FREE page holds no LIVE or LIMBO chunk; a DRAINING page
 *                 holds no LIVE chunk and none of its chunks is on a list.
 *              A4 Free chunks are written only after their grace period.
 *              A5 cl_nfree + cl_live + cl_limbo = chunks of ACTIVE pages of
 *                 the class (+ LIMBO chunks of its DRAINING pages).
 * CONCURRENCY  All of it under hd_mutex. Readers read only LIVE chunks
 *              (and LIMBO ones they found while LIVE); it_ref is the one
 *              word both touch (relaxed byte: a lost update costs a hint).
 * CRASHES      A writer killed anywhere here leaves lists, counters or
 *              page states half-updated; the next writer's repair rebuilds
 *              all of them from the index (fault points page.grab,
 *              page.drain, repair.half test this).
 * LIMITS       An eviction round examines at most 2 x (chunks of the class)
 *              positions; a page drain walks one class's free list.
 */
#include <ck_bitmap.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define FC_REPAIR_AHEAD 16 /* buckets of prefetch lead in repair */

static uint64_t
pages_end(const fc_cache *c)
{
	return c->g.pages_off + c->g.npages * c->g.page_bytes;
}

uint64_t
fc__page_of(const fc_cache *c, uint64_t off)
{
	return (off - c->g.pages_off) / c->g.page_bytes;
}

static uint64_t
page_start(const fc_cache *c, uint64_t pg)
{
	return c->g.pages_off + pg * c->g.page_bytes;
}

/* The reader-side check: cheap (no division), enough to stay in bounds. */
struct item_shm *
fc__item_at(const fc_cache *c, uint64_t off)
{
	if (off < c->g.pages_off || off >= pages_end(c) || (off & 7))
		return NULL;
	uint64_t in_page = (off - c->g.pages_off) & (c->g.page_bytes - 1);
	if (in_page + FC_ITEM_HDR > c->g.page_bytes)
		return NULL; /* the header itself would cross the page */
	struct item_shm *it = fc__ptr(c, off);
	unsigned cls = it->it_class;
	if (cls >= c->g.nclasses)
		return NULL;
	uint64_t csz = c->g.class_size[cls];
	if (in_page + csz > c->g.page_bytes || it->it_klen == 0 ||
	    it->it_klen > FC_KEY_MAX ||
	    FC_ITEM_HDR + (uint64_t)it->it_klen + it->it_vlen > csz)
		return NULL;
	return it;
}

/* The writer-side check: chunk @p off of class @p cls in an owned page. */
struct item_shm *
fc__chunk_at(const fc_cache *c, uint64_t off, unsigned cls)
{
	if (off < c->g.pages_off || off >= pages_end(c) || cls >= c->g.nclasses)
		return NULL;
	uint64_t pg = fc__page_of(c, off);
	const struct page_shm *pm = &c->pages[pg];
	if (pm->pm_state == FC_PG_FREE || pm->pm_class != cls)
		return NULL;
	uint64_t in_page = off - page_start(c, pg);
	if (in_page % c->g.class_size[cls] ||
	    in_page / c->g.class_size[cls] >= c->g.class_per_page[cls])
		return NULL;
	return fc__ptr(c, off);
}

int
fc__class_for(const fc_cache *c, size_t bytes)
{
	unsigned lo = 0, hi = c->g.nclasses;

	if (bytes > c->g.class_size[c->g.nclasses - 1])
		return -1;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (c->g.class_size[mid] >= bytes)
			hi = mid;
		else
			lo = mid + 1;
	}
	return (int)lo;
}

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
static int
page_grab(fc_cache *c, unsigned cls)
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
		uint64_t base = page_start(c, pg), head = cl->cl_free;
		/* A1 holds for each chunk before the list head moves to it.
		 * The page was FREE, so no reader is in it (A3, A4). */
		pm->pm_class = (uint16_t)cls;
		pm->pm_used = 0;
		pm->pm_state = FC_PG_ACTIVE;
		for (uint32_t k = per; k-- > 0;) {
			struct item_shm *it = fc__ptr(c, base + (uint64_t)k * csz);
			it->it_state = FC_IT_FREE;
			it->it_class = (uint8_t)cls;
			it->it_cas = head;
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

void
fc__slab_free_locked(fc_cache *c, uint64_t off)
{
	struct item_shm *it = fc__item_at(c, off);
	if (!it) {
		mark_corrupt(c);
		return;
	}
	unsigned cls = it->it_class;
	struct class_shm *cl = &c->hdr->hd_class[cls];
	struct page_shm *pm = &c->pages[fc__page_of(c, off)];

	if (pm->pm_used == 0 || pm->pm_class != cls || pm->pm_state == FC_PG_FREE) {
		mark_corrupt(c);
		return;
	}
	FC_CTR_SUB(cl->cl_limbo, 1);
	pm->pm_used--;
	it->it_state = FC_IT_FREE;
	if (pm->pm_state == FC_PG_DRAINING) {
		if (pm->pm_used == 0) { /* A3: last one out frees the page */
			pm->pm_state = FC_PG_FREE;
			FC_CTR_SUB(cl->cl_pages, 1);
			FC_CTR_ADD(c->hdr->hd_free_pages, 1);
		}
		return;
	}
	it->it_cas = cl->cl_free; /* A4: grace period has passed */
	cl->cl_free = off;
	FC_CTR_ADD(cl->cl_nfree, 1);
}

static int
pop_free(fc_cache *c, unsigned cls, uint64_t *off)
{
	struct class_shm *cl = &c->hdr->hd_class[cls];
	struct item_shm *it = fc__chunk_at(c, cl->cl_free, cls);

	if (!it || it->it_state != FC_IT_FREE || !cl->cl_nfree) {
		mark_corrupt(c);
		return FC_ECORRUPT;
	}
	*off = cl->cl_free;
	cl->cl_free = it->it_cas;
	FC_CTR_SUB(cl->cl_nfree, 1);
	FC_CTR_ADD(cl->cl_live, 1);
	c->pages[fc__page_of(c, *off)].pm_used++;
	it->it_state = FC_IT_LIVE;
	return FC_OK;
}

/* Give back a chunk that was never published: no grace period needed. */
void
fc__slab_unalloc_locked(fc_cache *c, uint64_t off)
{
	struct item_shm *it = fc__ptr(c, off);
	struct class_shm *cl = &c->hdr->hd_class[it->it_class];

	it->it_state = FC_IT_FREE;
	it->it_cas = cl->cl_free;
	cl->cl_free = off;
	FC_CTR_ADD(cl->cl_nfree, 1);
	FC_CTR_SUB(cl->cl_live, 1);
	c->pages[fc__page_of(c, off)].pm_used--;
}

static int
expired_at(const struct item_shm *it, uint64_t now)
{
	uint64_t e = fc__ld_rlx(&it->it_expire_ms);

	return e != 0 && e <= now;
}

/* The CLOCK hand's visit to live item @p it (both hands: per class here,
 * over the index in index.c). Returns 1 if it is the victim (*expired set
 * when it is past its TTL); 0 if its reference bit gave it a second
 * chance, the bit now cleared. relaxed: a reader's concurrent set of the
 * bit may be lost; the item then looks cold once, which CLOCK tolerates. */
int
fc__clock_victim(struct item_shm *it, uint64_t now, int *expired)
{
	*expired = expired_at(it, now);
	if (!*expired && fc__ld8_rlx(&it->it_ref)) {
		fc__st8_rlx(&it->it_ref, 0);
		return 0;
	}
	return 1;
}

/* CLOCK over the chunks of @p cls: evict up to @p want items. */
static unsigned
evict_class(fc_cache *c, unsigned cls, unsigned want)
{
	struct class_shm *cl = &c->hdr->hd_class[cls];
	uint32_t csz = c->g.class_size[cls], per = c->g.class_per_page[cls];
	uint64_t pages = cl->cl_pages < c->g.npages ? cl->cl_pages : c->g.npages; /* untrusted */
	uint64_t limit = 2 * pages * per + per, now = fc__now_ms();
	uint64_t hand = cl->cl_hand;
	unsigned got = 0;

	for (uint64_t n = 0; n < limit && got < want; n++) {
		if (!hand || !fc__chunk_at(c, hand, cls)) {
			/* The first page of this class from the hand's page on. */
			uint64_t pg = hand >= c->g.pages_off && hand < pages_end(c)
					      ? fc__page_of(c, hand) : 0, k;
			for (k = 0; k < c->g.npages; k++) {
				uint64_t p = (pg + k) % c->g.npages;
				if (c->pages[p].pm_state == FC_PG_ACTIVE &&
				    c->pages[p].pm_class == cls) {
					hand = page_start(c, p);
					break;
				}
			}
			if (k == c->g.npages)
				break;
		}
		struct item_shm *it = fc__ptr(c, hand);
		uint64_t at = hand;
		hand += csz;
		if (hand - page_start(c, fc__page_of(c, at)) >= (uint64_t)per * csz)
			hand = page_start(c, fc__page_of(c, at)) + c->g.page_bytes;
			/* ran off the page: the search above finds the next one */
		if (it->it_state != FC_IT_LIVE)
			continue;
		int exp;
		if (!fc__clock_victim(it, now, &exp))
			continue;
		if (fc__evict_item_locked(c, at, exp) == FC_OK)
			got++;
		else
			break;
	}
	cl->cl_hand = hand;
	return got;
}

/*
 * The free list is running low and no page is free: evict a batch now and
 * reclaim what has passed its grace period. The victims' grace period then
 * runs while later writes still have free chunks, so a write in a full
 * cache rarely waits for readers (a reader preempted inside a read can
 * hold a grace period for a scheduler tick). Never waits.
 */
static uint64_t
free_reserve(const fc_cache *c, unsigned cls)
{
	const struct class_shm *cl = &c->hdr->hd_class[cls];
	uint64_t r = cl->cl_pages * c->g.class_per_page[cls] / FC_FREE_RESERVE;

	return r > FC_FREE_LOW ? r : FC_FREE_LOW;
}

static void
evict_ahead(fc_cache *c, unsigned cls)
{
	struct class_shm *cl = &c->hdr->hd_class[cls];

	fc__reclaim_locked(c);
	if (cl->cl_nfree + cl->cl_limbo < free_reserve(c, cls))
		evict_class(c, cls, FC_EVICT_BATCH);
}

/* Remove every chunk of page @p pg from its class: evict the live ones,
 * unlink the free ones from the free list; the page becomes FREE when its
 * last limbo chunk is reclaimed. */
static int
drain_page(fc_cache *c, uint64_t pg)
{
	struct page_shm *pm = &c->pages[pg];
	unsigned cls = pm->pm_class;
	struct class_shm *cl = &c->hdr->hd_class[cls];
	uint32_t csz = c->g.class_size[cls], per = c->g.class_per_page[cls];
	uint64_t base = page_start(c, pg), end = base + (uint64_t)per * csz;
	uint64_t now = fc__now_ms();

	for (uint32_t k = 0; k < per; k++) {
		struct item_shm *it = fc__ptr(c, base + (uint64_t)k * csz);
		if (it->it_state == FC_IT_LIVE &&
		    fc__evict_item_locked(c, base + (uint64_t)k * csz, expired_at(it, now)) != FC_OK)
			return FC_EBUSY;
		if (k == per / 2)
			FC_FAULT(PAGE_DRAIN);
	}
	/* Unlink this page's free chunks: walk the class list once. */
	uint64_t *link = &cl->cl_free;
	uint64_t bound = c->g.npages * c->g.class_per_page[cls] + 1; /* not cl_nfree: untrusted */
	while (*link && bound--) {
		uint64_t off = *link;
		struct item_shm *it = fc__chunk_at(c, off, cls);
		if (!it) {
			mark_corrupt(c);
			return FC_ECORRUPT;
		}
		if (off >= base && off < end) {
			*link = it->it_cas;
			FC_CTR_SUB(cl->cl_nfree, 1);
		} else {
			link = &it->it_cas;
		}
	}
	if (cl->cl_hand >= base && cl->cl_hand < end)
		cl->cl_hand = 0;
	pm->pm_state = FC_PG_DRAINING;
	if (pm->pm_used == 0) {
		pm->pm_state = FC_PG_FREE;
		FC_CTR_SUB(cl->cl_pages, 1);
		FC_CTR_ADD(c->hdr->hd_free_pages, 1);
	}
	return FC_OK;
}

/* Pick a page of another class to give to @p cls. */
static int
steal_page(fc_cache *c, unsigned cls)
{
	struct hdr_shm *h = c->hdr;
	uint64_t best = UINT64_MAX, best_pages = 0;

	/* Prefer the class with the most pages; the hand spreads the pain. */
	for (uint64_t n = 0; n < c->g.npages; n++) {
		uint64_t pg = (h->hd_page_hand + n) % c->g.npages;
		struct page_shm *pm = &c->pages[pg];
		if (pm->pm_state != FC_PG_ACTIVE || pm->pm_class == cls)
			continue;
		if (pm->pm_class >= c->g.nclasses) {
			mark_corrupt(c); /* untrusted page map */
			continue;
		}
		uint64_t np = h->hd_class[pm->pm_class].cl_pages;
		if (best == UINT64_MAX || np > best_pages) {
			best = pg;
			best_pages = np;
		}
	}
	if (best == UINT64_MAX)
		return FC_ENOMEM;
	h->hd_page_hand = best + 1;
	return drain_page(c, best);
}

/* The stamp of the oldest limbo entry of class @p cls (R4: the first one
 * from the head), or of the newest entry if none is found. */
static uint64_t
oldest_stamp(fc_cache *c, unsigned cls)
{
	struct hdr_shm *h = c->hdr;

	for (uint64_t n = h->hd_limbo_head, k = 0;
	     n != h->hd_limbo_tail && k < c->g.limbo_cap; n++, k++) {
		struct limbo_shm *l = &c->limbo[n % c->g.limbo_cap];
		struct item_shm *it = fc__item_at(c, l->lb_off);
		if (it && it->it_class == cls)
			return l->lb_epoch;
	}
	return c->limbo[(h->hd_limbo_tail - 1) % c->g.limbo_cap].lb_epoch;
}

int
fc__slab_alloc_locked(fc_cache *c, unsigned cls, uint64_t *off)
{
	struct hdr_shm *h = c->hdr;
	struct class_shm *cl = &h->hd_class[cls];

	for (int round = 0; round < 64; round++) {
		if (cl->cl_free) {
			/* Before the pop: the chunk we take must not be LIVE yet
			 * while the CLOCK hand runs (it is in no bucket). */
			if (!h->hd_free_pages && cl->cl_nfree <= free_reserve(c, cls))
				evict_ahead(c, cls);
			if (cl->cl_free)
				return pop_free(c, cls, off);
			continue;
		}
		if (h->hd_free_pages && page_grab(c, cls) == FC_OK)
			continue;
		if (h->hd_limbo_tail != h->hd_limbo_head && fc__reclaim_locked(c) &&
		    (cl->cl_free || h->hd_free_pages))
			continue;
		if (cl->cl_limbo) {
			/* Ours are on their way back: wait for the readers, but
			 * only as long as our oldest one needs. */
			if (fc__grace_wait_locked(c, oldest_stamp(c, cls)) != FC_OK)
				return FC_EBUSY;
			continue;
		}
		if (cl->cl_live && evict_class(c, cls, FC_EVICT_BATCH))
			continue;
		int rc = steal_page(c, cls);
		if (rc == FC_ECORRUPT)
			return rc;
		if (rc != FC_OK && !cl->cl_live && h->hd_limbo_tail == h->hd_limbo_head)
			return FC_ENOMEM;
		if (h->hd_limbo_tail != h->hd_limbo_head) {
			uint64_t last = c->limbo[(h->hd_limbo_tail - 1) % c->g.limbo_cap].lb_epoch;
			if (fc__grace_wait_locked(c, last) != FC_OK)
				return FC_EBUSY;
		}
	}
	return FC_EBUSY;
}

/*
 * Rebuild all allocator state from the live index (repair, flush).
 * Step 1 waits for a grace period: afterwards no reader is inside any chunk
 * the index does not reference, so those chunks may be written (A4).
 * Idempotent: a repairer killed midway leaves hd_needs_repair set (the
 * caller set it first) and the next writer starts over.
 */
int
fc__slab_rebuild_locked(fc_cache *c, int drop_index)
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
	if (fc__grace_wait_locked(c, fc__ld_rlx(&h->hd_epoch)) != FC_OK)
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
	uint64_t items = 0, bytes = 0, data = 0, used = 0, tombs = 0, maxcas = 0, ttl = 0;
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
		struct item_shm *it = fc__item_at(c, off);
		int ok = it && it->it_state == FC_IT_LIVE &&
			 fc__chunk_at(c, off, it->it_class) != NULL;
		uint64_t pg = ok ? fc__page_of(c, off) : 0;
		unsigned k = ok ? (unsigned)((off - page_start(c, pg)) / c->g.class_size[it->it_class]) : 0;
		struct ck_bitmap *bm = (struct ck_bitmap *)(bms + pg * bm_bytes);
		if (!ok || ck_bitmap_bts(bm, k)) {
			fc__st_rel(&ix[i], FC_BK_TOMB); /* bad or duplicate */
			tombs++;
			continue;
		}
		counts[pg]++;
		struct class_shm *cl = &h->hd_class[it->it_class];
		FC_CTR_ADD(cl->cl_live, 1);
		FC_CTR_ADD(cl->cl_data, it->it_klen + it->it_vlen);
		items++;
		bytes += c->g.class_size[it->it_class];
		data += it->it_klen + it->it_vlen;
		if (it->it_cas > maxcas)
			maxcas = it->it_cas;
		if (fc__ld_rlx(&it->it_expire_ms))
			ttl++;
	}
	FC_FAULT(REPAIR_HALF);

	/* 3. Pages: referenced ones stay with their class and get every
	 *    other chunk on the free list; the rest become FREE. */
	FC_CTR_SET(h->hd_free_pages, 0);
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
			uint64_t off = page_start(c, pg) + (uint64_t)k * csz;
			struct item_shm *it = fc__ptr(c, off);
			it->it_state = FC_IT_FREE;
			it->it_class = (uint8_t)cls;
			it->it_cas = cl->cl_free;
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
	/* Empty the ring with ONE store: two stores (head = 0, tail = 0)
	 * killed in between left [0, old head) "in limbo", and the next
	 * repair freed live chunks from it (review finding #1). */
	FC_CTR_SET(h->hd_limbo_tail, h->hd_limbo_head);
	h->hd_spare_epoch = 0; /* the grace period covered it */
	if (h->hd_cas_next <= maxcas)
		h->hd_cas_next = maxcas + 1;
	if (h->hd_ix_hand >= B)
		h->hd_ix_hand = 0;
	if (h->hd_sweep >= B)
		h->hd_sweep = 0;
	if (h->hd_page_hand >= c->g.npages)
		h->hd_page_hand = 0;
	h->hd_needs_repair = 0;
	return FC_OK;
}
