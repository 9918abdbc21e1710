/*
 * evict.c - choosing what leaves: CLOCK eviction (per size class; also
 *           when the index is full), the time-driven expiry sweep and
 *           fc_flush_expired, and the allocation policy that calls them.
 *
 * DESIGN       Allocation (fc__evict_alloc_locked): free list, else a free
 *              page, else reclaim limbo, else wait (bounded) for our own
 *              class's limbo, else take a page from another class without
 *              evicting here (rebalance.c: an empty page, a compacted
 *              sparse one, or one whose items are much older than ours),
 *              else CLOCK eviction inside the class (readers bump the
 *              item's frequency bits; the hand clears them or evicts), else drain a page of another
 *              class (memcached's slab reassign), else wait (bounded) for
 *              readers to leave the grace period. In a full cache a class
 *              whose free + limbo chunks fall below a reserve (1/64 of its
 *              chunks, >= FC_FREE_LOW) evicts ahead - after asking for a
 *              page the same way - so victims' grace periods run while
 *              writes still find free chunks. When buckets, not chunks,
 *              run out, the same class CLOCK chooses the victims
 *              (fc__evict_index_room_locked), never a bucket sweep.
 *              Expired items leave through one sweep over index LINES
 *              (expire_line), driven by time, not by write count: each
 *              write moves the cursor (hd_sweep) by the lines the TTL
 *              clock owes it at one pass per FC_SWEEP_PERIOD_MS, so an
 *              expired item waits at most one period (plus a 16 ms tick)
 *              whatever the write rate. A line whose expiry summary
 *              (index.c I6) says nothing is due costs one 4-byte read and
 *              no item access, and while hd_exp_max says nothing is due
 *              anywhere the sweep reads nothing. Before evicting a live
 *              item, the allocation removes expired ones first
 *              (fc__evict_expired_first_locked: the same sweep run ahead
 *              of the clock); fc_flush_expired is one whole pass. Every
 *              victim is unlinked (index.c), then retired into limbo
 *              (slab.c).
 * INVARIANTS   E1 A victim is always unlinked before it is retired, and
 *                 counted once: in hd_expired if past its TTL, else in
 *                 hd_evictions.
 *              E2 Cursors (cl_hand, hd_sweep, hd_page_hand) are
 *                 untrusted: reduced modulo their range before use.
 * CONCURRENCY  All of it under hd_mutex; an item's frequency bits (it_w0,
 *              item.h) are what readers also touch (their bump is one
 *              lossy CAS; the hand clears with a CAS loop: a lost bump
 *              costs a hint).
 * CRASHES      A writer killed between unlink and retire (evict.unlinked,
 *              page.drain) leaks the victim: repair (repair.c) frees it.
 *              One killed inside a line's sweep (sweep.line) leaves the
 *              line's summary early (it is lowered last): harmless (I6),
 *              and repair recomputes every summary anyway.
 * LIMITS       An eviction round examines at most 2 x (chunks of the class)
 *              positions; index room one such round and at most one
 *              rebuild (index.c); a write's sweep at most
 *              FC_SWEEP_MAX_LINES lines, the search for expired items
 *              before an eviction FC_EXPIRE_AHEAD_LINES lines (each line
 *              8 buckets, its items read only when its summary is due);
 *              taking an old page evicts at most
 *              one page's worth of its class's items plus that class's
 *              reserve (then compacts the page: rebalance.c).
 */
#include "clock.h"
#include "evict.h"
#include "fault.h"
#include "index.h"
#include "item.h"
#include "readers.h"
#include "rebalance.h"
#include "segment.h"
#include "slab.h"

static uint64_t *
live_index(fc_cache *c)
{
	/* Writer-only store; relaxed load under the mutex is exact. */
	return fc__index(c, (unsigned)(fc__ld_rlx(&c->hdr->hd_ix_sel) & 1));
}

static void
count_victim(fc_cache *c, int expired)
{
	if (expired)
		FC_CTR_ADD(c->hdr->hd_expired, 1);
	else
		FC_CTR_ADD(c->hdr->hd_evictions, 1);
}

/* The CLOCK hand's visit to live item @p it (both hands: per class, and
 * over the index). Returns 1 if it is the victim (*expired set
 * when it is past its TTL); 0 if a reader's hit (frequency > 0) gave it a
 * second chance, the frequency now cleared. A reader's bump racing with
 * the clear either lands first (cleared with it) or fails its CAS: the
 * item then looks cold once, which CLOCK tolerates. */
static int
clock_victim(const fc_cache *c, struct item_shm *it, uint64_t now, int *expired)
{
	*expired = fc__expired(fc__item_expiry(c, it), now);
	if (!*expired && fc__item_freq(it)) {
		fc__item_freq_set_locked(it, 0);
		return 0;
	}
	return 1;
}

/* Evict the live item in chunk @p off (a class CLOCK victim or a page
 * being drained): find its bucket, unlink, count, retire (E1). */
static int
evict_chunk(fc_cache *c, uint64_t off, int expired)
{
	struct item_shm *it;
	uint64_t pos;
	int rc = fc__index_find_chunk_locked(c, off, &it, &pos);

	if (rc != FC_OK)
		return rc;
	fc__index_unlink_locked(c, pos);
	FC_FAULT(EVICT);
	count_victim(c, expired);
	return fc__slab_retire_locked(c, it);
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
		if (!hand || !fc__chunk_owned(c, hand, cls)) {
			/* The first page of this class from the hand's page on. */
			uint64_t pg = hand >= c->g.pages_off && hand < fc__pages_end(c)
					      ? fc__page_of(c, hand) : 0, k;
			for (k = 0; k < c->g.npages; k++) {
				uint64_t p = (pg + k) % c->g.npages;
				if (c->pages[p].pm_state == FC_PG_ACTIVE &&
				    c->pages[p].pm_class == cls) {
					hand = fc__page_start(c, p);
					break;
				}
			}
			if (k == c->g.npages)
				break;
		}
		struct item_shm *it = fc__ptr(c, hand);
		uint64_t at = hand;
		hand += csz;
		if (hand - fc__page_start(c, fc__page_of(c, at)) >= (uint64_t)per * csz)
			hand = fc__page_start(c, fc__page_of(c, at)) + c->g.page_bytes;
			/* ran off the page: the search above finds the next one */
		if (fc__item_state(it) != FC_IT_LIVE)
			continue;
		int exp;
		if (!clock_victim(c, it, now, &exp))
			continue;
		if (!exp)
			fc__rebalance_note_victim_locked(c, cls, it);
		if (evict_chunk(c, at, exp) == FC_OK)
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
static int take_page(fc_cache *c, unsigned cls);

static void
evict_ahead(fc_cache *c, unsigned cls)
{
	struct class_shm *cl = &c->hdr->hd_class[cls];

	fc__reclaim_locked(c);
	if (cl->cl_nfree + cl->cl_limbo >= fc__slab_reserve(c, cls))
		return;
	/* A page from another class first (rebalance.c); its chunks come
	 * once it is FREE: now if no reader holds its limbo back. */
	if (take_page(c, cls) == FC_OK) {
		fc__reclaim_locked(c);
		return;
	}
	if (fc__evict_expired_first_locked(c, FC_EVICT_BATCH) > 0) {
		fc__reclaim_locked(c);
		if (cl->cl_nfree + cl->cl_limbo >= fc__slab_reserve(c, cls))
			return;
	}
	evict_class(c, cls, FC_EVICT_BATCH);
}

/* Remove every chunk of page @p pg from its class: evict the live ones,
 * then slab.c unlinks the free ones from the free list; the page becomes
 * FREE when its last limbo chunk is reclaimed. */
static int
drain_page(fc_cache *c, uint64_t pg)
{
	struct page_shm *pm = &c->pages[pg];
	unsigned cls = pm->pm_class;
	uint32_t csz = c->g.class_size[cls], per = c->g.class_per_page[cls];
	uint64_t base = fc__page_start(c, pg);
	uint64_t now = fc__now_ms();

	for (uint32_t k = 0; k < per; k++) {
		struct item_shm *it = fc__ptr(c, base + (uint64_t)k * csz);
		if (fc__item_state(it) == FC_IT_LIVE &&
		    evict_chunk(c, base + (uint64_t)k * csz,
				fc__expired(fc__item_expiry(c, it), now)) != FC_OK)
			return FC_EBUSY;
		if (k == per / 2)
			FC_FAULT(PAGE_DRAIN);
	}
	return fc__slab_page_drain_locked(c, pg);
}

/*
 * Page @p pg holds items much older than what the requester evicts: its
 * class B gives it up. B's own CLOCK picks what leaves (its coldest items,
 * wherever they are) until B's free chunks outside the page can take the
 * page's items, then the page is compacted, so its young or hot items move
 * instead of leaving with it. If the victims' grace period has not passed
 * yet (readers), the page's items are evicted instead (drain_page).
 */
static int
take_old_page(fc_cache *c, uint64_t pg)
{
	struct page_shm *pm = &c->pages[pg];
	unsigned b = pm->pm_class;
	struct class_shm *bl = &c->hdr->hd_class[b];
	uint32_t per = c->g.class_per_page[b];

	for (int round = 0; round < 2; round++) {
		/* A2: the page's free chunks are per - pm_used of cl_nfree;
		 * untrusted counters: no underflow. */
		uint64_t in_page = pm->pm_used <= per ? per - pm->pm_used : 0;
		uint64_t outside = bl->cl_nfree > in_page ? bl->cl_nfree - in_page : 0;
		uint64_t need = pm->pm_used + fc__slab_reserve(c, b);
		if (outside >= need) {
			if (fc__slab_limbo_free(c) < pm->pm_used + FC_LIMBO_NEED)
				break;
			return fc__rebalance_compact_locked(c, pg);
		}
		if (round == 0) {
			uint64_t want = need - outside;
			evict_class(c, b, want < UINT32_MAX ? (unsigned)want : UINT32_MAX);
			fc__reclaim_locked(c);
			if (pm->pm_state != FC_PG_ACTIVE || pm->pm_class != b)
				return FC_ENOMEM; /* cannot happen: CLOCK frees no page */
		}
	}
	return drain_page(c, pg);
}

/* A page of another class for @p cls instead of evicting its own items:
 * FC_OK when one is FREE or DRAINING (FREE after its grace period; see
 * rebalance.c for which), FC_ENOMEM if none is worth moving. */
static int
take_page(fc_cache *c, unsigned cls)
{
	uint64_t pg;

	switch (fc__rebalance_find_locked(c, cls, &pg)) {
	case FC_RB_EMPTY:
		return fc__slab_page_drain_locked(c, pg);
	case FC_RB_COMPACT:
		return fc__rebalance_compact_locked(c, pg);
	case FC_RB_OLD:
		return take_old_page(c, pg);
	default:
		return FC_ENOMEM;
	}
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
			c->hdr->hd_needs_repair = 1; /* untrusted page map: repair */
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

int
fc__evict_alloc_locked(fc_cache *c, unsigned cls, uint64_t *off)
{
	struct hdr_shm *h = c->hdr;
	struct class_shm *cl = &h->hd_class[cls];

	for (int round = 0; round < 64; round++) {
		if (cl->cl_free) {
			/* Before the pop: the chunk we take must not be LIVE yet
			 * while the CLOCK hand runs (it is in no bucket). */
			if (!h->hd_free_pages && cl->cl_nfree <= fc__slab_reserve(c, cls))
				evict_ahead(c, cls);
			if (cl->cl_free)
				return fc__slab_pop_locked(c, cls, off);
			continue;
		}
		if (h->hd_free_pages && fc__slab_page_grab_locked(c, cls) == FC_OK)
			continue;
		if (h->hd_limbo_tail != h->hd_limbo_head && fc__reclaim_locked(c) &&
		    (cl->cl_free || h->hd_free_pages))
			continue;
		if (cl->cl_limbo) {
			/* Ours are on their way back: wait for the readers, but
			 * only as long as our oldest one needs. */
			if (fc__limbo_wait_locked(c, fc__limbo_oldest_stamp(c, cls)) != FC_OK)
				return FC_EBUSY;
			continue;
		}
		int rc = take_page(c, cls);
		if (rc == FC_OK) {
			/* The page is FREE once its limbo chunks pass their
			 * grace period: now, unless readers hold it back; then
			 * evict here meanwhile rather than wait (it frees
			 * later, M2 keeps other moves off until then). */
			fc__reclaim_locked(c);
			if (h->hd_free_pages)
				continue;
		} else if (rc == FC_ECORRUPT || h->hd_needs_repair) {
			return FC_ECORRUPT;
		}
		/* Expired items leave before any live one (fc__evict_
		 * expired_first_locked); their chunks come back through limbo. */
		if (fc__evict_expired_first_locked(c, FC_EVICT_BATCH) > 0)
			continue;
		if (cl->cl_live && evict_class(c, cls, FC_EVICT_BATCH))
			continue;
		rc = steal_page(c, cls);
		if (rc == FC_ECORRUPT)
			return rc;
		if (rc != FC_OK && !cl->cl_live && h->hd_limbo_tail == h->hd_limbo_head)
			return FC_ENOMEM;
		if (h->hd_limbo_tail != h->hd_limbo_head) {
			uint64_t last = c->limbo[(h->hd_limbo_tail - 1) % c->g.limbo_cap].lb_epoch;
			if (fc__limbo_wait_locked(c, last) != FC_OK)
				return FC_EBUSY;
		}
	}
	return FC_EBUSY;
}

/*
 * Make room for one more key in the index (used = live + TOMB buckets
 * below FC_INDEX_HI_PCT). Tombstones are dropped by a rebuild; live items
 * are never removed by where their bucket is: if live items fill the
 * index (small items: the index, not the slab, bounds the count), expired
 * items leave first (fc__evict_expired_first_locked), else a batch
 * leaves through the class eviction policy (evict_class: the item's own
 * class if it has items, else the class with the most), and once live
 * items are down to FC_INDEX_LO_PCT a rebuild drops their tombstones. A
 * rebuild thus comes once per (HI - LO)% of nbuckets inserts at most.
 */
int
fc__evict_index_room_locked(fc_cache *c, unsigned cls)
{
	struct hdr_shm *h = c->hdr;
	uint64_t B = c->g.nbuckets;
	uint64_t hi = B * FC_INDEX_HI_PCT / 100, lo = B * FC_INDEX_LO_PCT / 100;

	if (h->hd_ix_used < hi)
		return FC_OK;
	if (h->hd_items > lo) {
		/* The victims come from the class holding the most items:
		 * they are what fills the index. Not the writer's own class:
		 * after a shift to large values (index full of small items)
		 * that evicted each new large item at once and kept every
		 * old small one (forkcache-mem shift: 0.000 of the keys
		 * that fit on 4da2d4c). Ties keep the writer's class. */
		unsigned v = cls;
		for (unsigned k = 0; k < c->g.nclasses; k++)
			if (h->hd_class[k].cl_live > h->hd_class[v].cl_live)
				v = k;
		/* Expired items first, as in the allocation. */
		if (fc__evict_expired_first_locked(c, FC_EVICT_BATCH) <= 0)
			evict_class(c, v, FC_EVICT_BATCH);
		if (h->hd_needs_repair)
			return FC_ECORRUPT;
		if (h->hd_ix_used < hi)
			return FC_OK; /* victims in lines with an EMPTY word */
		if (h->hd_items > lo && h->hd_ix_used < B - B / 64)
			return FC_OK; /* their tombstones go in one rebuild later */
	}
	if (fc__index_rebuild_locked(c) == FC_OK)
		return FC_OK;
	/* Spare still in use by a slow reader: run hotter, up to 63/64. */
	return h->hd_ix_used < B - B / 64 ? FC_OK : FC_EBUSY;
}

/* ------------------------------------------------------------ expiry -- */

/* The sweep's pass maximum takes in a line's summary: at the pass's end
 * it becomes hd_exp_max, which must cover every line (index.c I6). */
static void
pass_max(struct hdr_shm *h, uint32_t s)
{
	if (s > fc__ld_rlx(&h->hd_exp_pass))
		FC_CTR_SET(h->hd_exp_pass, s);
}

/*
 * THE expiry step: line @p l of the live array, when its summary (I6)
 * says something in it may be reclaimable at @p now. Every reclaimable
 * item in it is counted and removed (unlink, retire); then, if all 8
 * words were looked at, the summary is lowered to what remains. Returns
 * the count removed, or FC_ECORRUPT (bad item, repair marked) or FC_EBUSY
 * (limbo has no room: with @p may_wait after a bounded wait, as
 * fc_flush_expired may; else at once). Lines not due cost one 4-byte read.
 */
static int
expire_line(fc_cache *c, uint64_t l, uint64_t now, uint32_t now_key, int may_wait)
{
	struct hdr_shm *h = c->hdr;
	uint64_t *ix = live_index(c);
	uint32_t *e = &fc__ix_exp(c, (unsigned)fc__ld_rlx(&h->hd_ix_sel))[l];
	uint32_t s = fc__ld32_rlx(e), m = 0;
	int n = 0;

	if (s < now_key) {
		pass_max(h, s);
		return 0; /* nothing here can be reclaimed yet */
	}
	for (unsigned k = 0; k < FC_IX_WAYS; k++) {
		uint64_t i = l * FC_IX_WAYS + k, w = fc__ld_rlx(&ix[i]);
		if (!fc__bk_live(w))
			continue;
		struct item_shm *it = fc__item_at(c, fc__bk_off(w));
		if (!it) {
			h->hd_needs_repair = 1;
			return FC_ECORRUPT;
		}
		uint64_t x = fc__item_expiry(c, it);
		if (!fc__reclaimable(c, x, now)) {
			uint32_t ik = fc__exp_item_key(c, x);
			if (ik > m)
				m = ik;
			continue;
		}
		if (may_wait ? fc__limbo_room_locked(c) != FC_OK : fc__slab_limbo_free(c) == 0) {
			pass_max(h, s); /* summary kept: still due */
			return n ? n : FC_EBUSY;
		}
		count_victim(c, 1);
		/* A failed retire leaks the chunk until repair (marked). */
		fc__index_remove_locked(c, i, it);
		FC_FAULT(SWEEP_LINE); /* killed: the summary is only early */
		n++;
	}
	/* All 8 looked at: the summary drops to what remains (I6). Unlinks
	 * stored no live word, so nothing else in the line needs a key. */
	fc__st32_rlx(e, m);
	pass_max(h, m);
	return n;
}

/* Up to @p lines lines from the sweep cursor (hd_sweep), stopping once
 * @p want items were removed (0: no limit). A cursor wrap ends a pass:
 * hd_exp_max becomes the pass's maximum (every line's summary was seen
 * during the pass or noted since), so a table with nothing left to expire
 * stops the sweep's reads altogether. Returns the count removed or a
 * negative error (expire_line). */
static int64_t
sweep_lines(fc_cache *c, uint64_t lines, uint64_t want, uint64_t now, int may_wait)
{
	struct hdr_shm *h = c->hdr;
	uint64_t L = c->g.nlines;
	uint32_t now_key = fc__exp_key(c, now);
	int64_t n = 0;

	for (uint64_t v = 0; v < lines && (!want || (uint64_t)n < want); v++) {
		uint64_t l = h->hd_sweep % L; /* untrusted cursor (E2) */
		int r = expire_line(c, l, now, now_key, may_wait);
		if (r < 0)
			return n ? n : r;
		n += r;
		h->hd_sweep = l + 1 < L ? l + 1 : 0;
		if (!h->hd_sweep) {
			FC_CTR_SET(h->hd_exp_max, fc__ld_rlx(&h->hd_exp_pass));
			FC_CTR_SET(h->hd_exp_pass, 0);
		}
	}
	return n;
}

int64_t
fc__evict_sweep_lines_locked(fc_cache *c, uint64_t lines, uint64_t now)
{
	return sweep_lines(c, lines, 0, now, 0);
}

/*
 * The time-driven sweep: every write moves the cursor over as many lines
 * as the TTL clock advanced since the last one, at one pass per
 * FC_SWEEP_PERIOD_MS (hd_sweep_clock counts ms x 1024, so small steps
 * accumulate), at most FC_SWEEP_MAX_LINES per write (an idle gap is
 * skipped, not caught up). Skipped entirely while hd_exp_max says no
 * line holds anything reclaimable now.
 */
void
fc__evict_sweep_locked(fc_cache *c, uint64_t now)
{
	struct hdr_shm *h = c->hdr;
	uint64_t L = c->g.nlines;
	uint64_t per = (uint64_t)FC_SWEEP_PERIOD_MS * 1024 / L, nowu = now * 1024;
	uint64_t clk = h->hd_sweep_clock;

	if (!per)
		per = 1;
	if (clk > nowu + (uint64_t)FC_SWEEP_PERIOD_MS * 1024 ||
	    nowu - clk > (uint64_t)FC_SWEEP_MAX_LINES * per)
		clk = nowu - (uint64_t)FC_SWEEP_MAX_LINES * per; /* gap, or clock moved back */
	if (clk + per > nowu) {
		h->hd_sweep_clock = clk;
		return;
	}
	uint64_t lines = (nowu - clk) / per;
	h->hd_sweep_clock = clk + lines * per;
	if (fc__ld_rlx(&h->hd_exp_max) < fc__exp_key(c, now))
		return; /* nothing reclaimable anywhere (I6) */
	sweep_lines(c, lines, 0, now, 0);
}

int64_t
fc__evict_expired_first_locked(fc_cache *c, uint64_t want)
{
	uint64_t now = fc__now_ms();
	uint64_t L = c->g.nlines;

	if (fc__ld_rlx(&c->hdr->hd_exp_max) < fc__exp_key(c, now))
		return 0;
	return sweep_lines(c, L < FC_EXPIRE_AHEAD_LINES ? L : FC_EXPIRE_AHEAD_LINES, want, now,
			   0);
}

int64_t
fc__evict_flush_expired_locked(fc_cache *c)
{
	uint64_t now = fc__now_ms();

	/* One whole pass from the cursor: every line with something due. */
	return sweep_lines(c, c->g.nlines, 0, now, 1);
}
