/*
 * evict.h - CLOCK eviction, the TTL sweep, flush-expired and the
 *           allocation policy (lib/evict.c). Writer mutex held.
 */
#ifndef FC_EVICT_H
#define FC_EVICT_H

#include "internal.h"
#include "slab.h"

/* A chunk of class @p cls for a new item (LIVE, unpublished): from the
 * free list, a free page, limbo, CLOCK eviction or a stolen page, waiting
 * for readers within the write's budget. FC_OK, FC_ENOMEM, FC_EBUSY or
 * FC_ECORRUPT. */
int fc__evict_alloc_locked(fc_cache *c, unsigned cls, uint64_t *off);
/* Room for one more key in the index: a rebuild dropping tombstones, or
 * items evicted through the policy (a key of class @p cls is coming).
 * FC_OK, FC_EBUSY (readers hold the spare array) or FC_ECORRUPT. */
int fc__evict_index_room_locked(fc_cache *c, unsigned cls);
/* The time-driven expiry sweep (one pass over the index lines per
 * FC_SWEEP_PERIOD_MS of TTL clock, at most FC_SWEEP_MAX_LINES lines per
 * call; lines with nothing due cost one 4-byte summary read). */
void fc__evict_sweep_locked(fc_cache *c, uint64_t now);
/* Sweep @p lines lines from the cursor regardless of the clock (tests):
 * the count removed or a negative error. */
int64_t fc__evict_sweep_lines_locked(fc_cache *c, uint64_t lines, uint64_t now);
/* Before evicting live items: remove up to @p want reclaimable expired
 * items, searching at most FC_EXPIRE_AHEAD_LINES lines (none if no line
 * summary says anything is due). The count removed (retired into limbo:
 * their chunks come back after the grace period), or a negative error. */
int64_t fc__evict_expired_first_locked(fc_cache *c, uint64_t want);
/* Every write's bounded housekeeping: reclaim a batch of limbo, sweep
 * (inline: usually two comparisons). */
static inline void
fc__evict_housekeep_locked(fc_cache *c, uint64_t now)
{
	struct hdr_shm *h = c->hdr;

	if (h->hd_limbo_tail - h->hd_limbo_head >= FC_RECLAIM_BATCH ||
	    h->hd_spare_epoch)
		fc__reclaim_locked(c);
	if (h->hd_ttl_items) /* nothing can expire: skip the sweep */
		fc__evict_sweep_locked(c, now);
}
/* fc_flush_expired: one sweep pass over every line; the count removed,
 * FC_EBUSY (limbo full) or FC_ECORRUPT. */
int64_t fc__evict_flush_expired_locked(fc_cache *c);

#endif /* FC_EVICT_H */
