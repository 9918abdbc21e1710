/*
 * rebalance.c - page moves between size classes: which page a class that
 *               is out of chunks takes instead of evicting its own items,
 *               and compaction (a page's live items copied into free chunks
 *               of their class elsewhere, so the page leaves with no
 *               eviction).
 *
 * DESIGN       Without moves a class keeps every page it ever got: a class
 *              that grew in an old workload holds its memory while a new
 *              one evicts its own hot items, and a resized overwrite evicts
 *              while other classes hold free chunks (issue #9: workload
 *              shift, churn). Where the allocation policy (evict.c) would
 *              evict inside class C - on a write, or ahead of one - it asks
 *              fc__rebalance_find_locked for a page, in this order:
 *              1. EMPTY: an ACTIVE page of another class with no used chunk
 *                 (its class keeps its reserve without it): drained at once.
 *                 This is how a page whose chunks are all free returns to
 *                 the pool: the moment any class needs a page, before any
 *                 eviction (not when its last chunk is freed: that would
 *                 walk the class's free list on the reclaim path).
 *              2. COMPACT: the sparsest page of a class B with slack (free
 *                 chunks >= one page + B's reserve): compacted, nothing
 *                 evicted. Needs room in limbo for its used chunks.
 *              3. OLD (memcached's slab_automove, by age): the cache is
 *                 full. The age of an item is the number of writes since
 *                 it was written (hd_cas_next - its cas, modulo 2^48:
 *                 cas is a global write counter), 0 if its frequency bits
 *                 say it was read since the last pass. C's victim age is the EWMA of the ages of
 *                 the items its CLOCK evicted (cl_victim_age). A page of a
 *                 class with >= 2 pages whose sampled median age exceeds
 *                 FC_RB_AGE_RATIO x C's victim age is the least valuable
 *                 memory in the cache: that class gives the page up
 *                 (evict.c: its own CLOCK evicts its coldest items until
 *                 the page's items fit elsewhere, then the page is
 *                 compacted). The ratio is hysteresis: two classes that
 *                 keep items about as long never trade pages. A failed
 *                 check backs off C's next one (hd_rb_backoff[C] writes,
 *                 doubling to FC_RB_BACKOFF_MAX): a full cache in balance
 *                 pays one check per class per thousands of writes, and a
 *                 class that starts evicting is not held back by another
 *                 class's failed checks.
 *              Compaction of page P (class B): P's free chunks leave B's
 *              list and P is DRAINING (slab.c), so no pop returns a chunk
 *              of P; then for each LIVE chunk of P: pop a free chunk of B,
 *              copy the item (header fields, key, value: same cas, expiry
 *              frequency and flags), re-point its bucket at the copy (index.c,
 *              one release store) and retire the old chunk into limbo. P
 *              becomes FREE when the last of them passes its grace period.
 * INVARIANTS   M1 A move never changes what a key reads: the copy is
 *                 byte-identical (key, value, cas, expiry) and is complete
 *                 before the bucket points at it (I2).
 *              M2 At most one page is DRAINING because of a move at a time
 *                 (find returns NONE while hd_pages_draining != 0, A6), so
 *                 a class short of chunks cannot drain the cache page by
 *                 page while readers hold the first one back.
 *              M3 A donor keeps at least its reserve of free chunks.
 * CONCURRENCY  All of it under hd_mutex (inside hd_seq's odd phase, so a
 *              lock-free fc_verify never sees a half-moved page). Readers:
 *              one that loaded the old bucket word reads the old chunk,
 *              intact until its grace period (R1); one that loads the new
 *              word reads a complete copy (M1). The item stays in its
 *              bucket, so probe chains and iteration order do not change.
 *              A reader's CLOCK-bit store into the old copy after the copy
 *              was made is lost: a hint (relaxed byte, as everywhere).
 * CRASHES      Every step is a state repair already handles: killed before
 *              the release store, the copy is an unreferenced LIVE chunk
 *              (repair frees it); after it, the old chunk is unreferenced
 *              (repair frees it); with P half-moved (DRAINING with live
 *              items, fault point page.move), repair rebuilds page states
 *              from the index, so P is ACTIVE again. hd_rb_* are hints:
 *              any value is safe (clamped before use).
 * LIMITS       A search reads at most FC_RB_SCAN page-map entries and
 *              FC_RB_SAMPLES item headers per page; a compaction copies at
 *              most one page of items and walks the donor class's free list
 *              once (slab.c drain).
 */
#include <string.h>

#include "fault.h"
#include "index.h"
#include "item.h"
#include "rebalance.h"
#include "segment.h"
#include "slab.h"

#define FC_RB_SCAN 256u         /* page-map entries per search; bounds cost */
#define FC_RB_SAMPLES 5u        /* items sampled per page for its age */
#define FC_RB_AGE_RATIO 2u      /* donor items must be this many times older */
#define FC_RB_BACKOFF_MIN 64u   /* writes before re-checking ages, first */
#define FC_RB_BACKOFF_MAX 8192u /* ... doubling up to this */

/* Writes since cas @p cas (48 bits, item.h: modular, so a wrapped
 * counter still gives the right age). */
static uint64_t
cas_age(const fc_cache *c, uint64_t cas)
{
	return (c->hdr->hd_cas_next - cas) & FC_W0_CAS_MASK;
}

/* Age of live item @p it in writes; 0 if read since its frequency was last
 * cleared (a hot item is not old, however long ago it was written). */
static uint64_t
item_age(const fc_cache *c, const struct item_shm *it)
{
	/* relaxed (item.h): readers bump the frequency concurrently; a stale
	 * view costs a slightly wrong sample. */
	uint64_t w0 = fc__item_w0(it);

	if (fc__w0_freq(w0))
		return 0;
	return cas_age(c, fc__w0_cas(w0));
}

void
fc__rebalance_note_victim_locked(fc_cache *c, unsigned cls, const struct item_shm *it)
{
	struct class_shm *cl = &c->hdr->hd_class[cls];
	uint64_t age = cas_age(c, fc__item_cas(it)) + 1; /* >= 1: 0 = none yet */
	uint64_t old = cl->cl_victim_age;

	/* EWMA, weight 1/8: a few batches of victims set it. */
	cl->cl_victim_age = old ? old - old / 8 + age / 8 : age;
}

/* Median sampled age of page @p pg (ACTIVE, class checked by the caller);
 * UINT64_MAX if no sampled chunk is live (the page is mostly free). */
static uint64_t
page_age(const fc_cache *c, uint64_t pg, unsigned cls)
{
	uint32_t csz = c->g.class_size[cls], per = c->g.class_per_page[cls];
	uint64_t base = fc__page_start(c, pg), ages[FC_RB_SAMPLES];
	unsigned n = 0;

	for (unsigned s = 0; s < FC_RB_SAMPLES; s++) {
		uint64_t k = (2ull * s + 1) * per / (2 * FC_RB_SAMPLES);
		const struct item_shm *it = fc__ptr(c, base + k * csz);
		if (fc__item_state(it) != FC_IT_LIVE)
			continue;
		uint64_t a = item_age(c, it);
		unsigned j = n++;
		for (; j > 0 && ages[j - 1] > a; j--) /* insertion sort */
			ages[j] = ages[j - 1];
		ages[j] = a;
	}
	return n ? ages[n / 2] : UINT64_MAX;
}

int
fc__rebalance_find_locked(fc_cache *c, unsigned cls, uint64_t *pgp)
{
	struct hdr_shm *h = c->hdr;
	uint8_t slack[FC_MAX_CLASSES];
	int any = 0;

	if (h->hd_pages_draining)
		return FC_RB_NONE; /* M2: one move at a time */
	for (unsigned b = 0; b < c->g.nclasses; b++) {
		const struct class_shm *cl = &h->hd_class[b];
		slack[b] = b != cls && cl->cl_nfree >= c->g.class_per_page[b] +
							       fc__slab_reserve(c, b);
		any |= slack[b];
	}
	uint64_t scan = c->g.npages < FC_RB_SCAN ? c->g.npages : FC_RB_SCAN;
	uint64_t start = h->hd_page_hand % c->g.npages; /* untrusted cursor */
	uint64_t room = fc__slab_limbo_free(c);

	if (any) {
		/* 1-2. The sparsest page of a class with slack (M3: the class
		 * keeps nfree - (per - used) >= used + reserve). */
		uint64_t best = UINT64_MAX;
		uint32_t best_used = UINT32_MAX;
		for (uint64_t n = 0; n < scan; n++) {
			uint64_t pg = (start + n) % c->g.npages;
			const struct page_shm *pm = &c->pages[pg];
			if (pm->pm_state != FC_PG_ACTIVE || pm->pm_class >= c->g.nclasses ||
			    !slack[pm->pm_class] || pm->pm_used >= best_used ||
			    pm->pm_used + FC_LIMBO_NEED > room)
				continue;
			best = pg;
			best_used = pm->pm_used;
		}
		if (best != UINT64_MAX) {
			*pgp = best;
			h->hd_page_hand = best + 1;
			return best_used ? FC_RB_COMPACT : FC_RB_EMPTY;
		}
	}

	/* 3. By age, rate-limited. */
	uint64_t victim_age = h->hd_class[cls].cl_victim_age;
	if (!victim_age || h->hd_cas_next < h->hd_rb_next[cls])
		return FC_RB_NONE;
	uint64_t best = UINT64_MAX, best_age = 0;
	for (uint64_t n = 0; n < scan; n++) {
		uint64_t pg = (start + n) % c->g.npages;
		const struct page_shm *pm = &c->pages[pg];
		if (pm->pm_state != FC_PG_ACTIVE || pm->pm_class >= c->g.nclasses ||
		    pm->pm_class == cls || h->hd_class[pm->pm_class].cl_pages < 2)
			continue;
		uint64_t a = page_age(c, pg, pm->pm_class);
		if (a > best_age) {
			best = pg;
			best_age = a;
		}
	}
	uint32_t backoff = h->hd_rb_backoff[cls];
	if (best != UINT64_MAX && best_age / FC_RB_AGE_RATIO > victim_age) {
		h->hd_rb_backoff[cls] = FC_RB_BACKOFF_MIN;
		h->hd_page_hand = best + 1;
		*pgp = best;
		return FC_RB_OLD;
	}
	/* In balance: look again later, later each time (untrusted: clamp). */
	backoff = backoff < FC_RB_BACKOFF_MIN ? FC_RB_BACKOFF_MIN
		  : backoff >= FC_RB_BACKOFF_MAX / 2 ? FC_RB_BACKOFF_MAX
						      : 2 * backoff;
	h->hd_rb_backoff[cls] = backoff;
	h->hd_rb_next[cls] = h->hd_cas_next + backoff;
	return FC_RB_NONE;
}

/* Move the live item in chunk @p off (class @p cls) to a free chunk of its
 * class elsewhere (M1). */
static int
move_item(fc_cache *c, unsigned cls, uint64_t off)
{
	struct item_shm *it, *cp;
	uint64_t pos, noff;
	int rc = fc__index_find_chunk_locked(c, off, &it, &pos);

	if (rc != FC_OK)
		return rc; /* repair marked */
	if (!c->hdr->hd_class[cls].cl_free)
		return FC_ENOMEM;
	rc = fc__slab_pop_locked(c, cls, &noff);
	if (rc != FC_OK)
		return rc;
	cp = fc__ptr(c, noff);
	/* The writer owns every field but the frequency bits; fc__item_at
	 * checked that key and value fit the chunk. The copy keeps the
	 * item's cas, expiry, frequency and S3-FIFO flag: it is the same
	 * item in another place. */
	uint64_t w0 = fc__item_w0(it), w1 = fc__item_w1(it);
	uint64_t expire = fc__w1_expiry(c, w1);
	size_t klen = fc__w0_klen(w0), vlen = fc__w1_vlen(w1);
	fc__item_fill(c, cp, fc__w0_cas(w0), expire, fc__item_key(it), klen,
		      fc__item_key(it) + klen, vlen);
	/* relaxed: unpublished copy; the release store below publishes it
	 * with the rest of the copy. A bump that lands on the old chunk
	 * after this load is lost: a hint. */
	fc__item_freq_set_locked(cp, fc__w0_freq(w0));
	fc__item_set_small_locked(cp, (w0 & FC_W0_SMALL) != 0);
	fc__index_repoint_locked(c, pos, noff);
	fc__slab_count_live_locked(c, cls, klen + vlen, expire != 0);
	return fc__slab_retire_locked(c, it);
}

int
fc__rebalance_compact_locked(fc_cache *c, uint64_t pg)
{
	struct page_shm *pm = &c->pages[pg];
	unsigned cls = pm->pm_class;

	if (pm->pm_state != FC_PG_ACTIVE || cls >= c->g.nclasses) {
		c->hdr->hd_needs_repair = 1; /* the caller picked it ACTIVE */
		return FC_ECORRUPT;
	}
	uint32_t csz = c->g.class_size[cls], per = c->g.class_per_page[cls];
	uint64_t base = fc__page_start(c, pg);
	int rc = fc__slab_page_drain_locked(c, pg);

	if (rc != FC_OK || pm->pm_state == FC_PG_FREE)
		return rc; /* FREE: it was empty */
	for (uint32_t k = 0; k < per; k++) {
		uint64_t off = base + (uint64_t)k * csz;
		const struct item_shm *it = fc__ptr(c, off);
		if (fc__item_state(it) == FC_IT_LIVE && (rc = move_item(c, cls, off)) != FC_OK) {
			/* P is DRAINING with live items (A3 broken): repair
			 * puts it back from the index. */
			c->hdr->hd_needs_repair = 1;
			return rc;
		}
		if (k == per / 2)
			FC_FAULT(PAGE_MOVE);
	}
	return FC_OK;
}
