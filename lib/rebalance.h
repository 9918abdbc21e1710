/*
 * rebalance.h - page moves between size classes (lib/rebalance.c): which
 *               page a class out of chunks may take instead of evicting its
 *               own items, and page compaction. Writer mutex held.
 */
#ifndef FC_REBALANCE_H
#define FC_REBALANCE_H

#include "internal.h"

/* What fc__rebalance_find_locked found (the caller acts on it). */
#define FC_RB_NONE 0 /* no page worth moving: evict inside the class */
#define FC_RB_EMPTY 1 /* a page of another class with no used chunk:
                           drain it (slab.c), nothing to move */
#define FC_RB_COMPACT 2 /* a sparse page of a class with slack: compact it
                           (fc__rebalance_compact_locked), nothing evicted */
#define FC_RB_OLD 3 /* a page of another class whose items are much
                           older than what @p cls would evict: that class's
                           CLOCK makes room, then the page is compacted
                           (evict.c) */

/* The page @p cls should get instead of evicting, as *pg; FC_RB_*. Never
 * returns a page of @p cls, and finds nothing while a page is DRAINING (A6):
 * one move at a time. Reads the page map and samples item headers; changes
 * only the age-check rate limit (hd_rb_next, hd_rb_backoff). */
int fc__rebalance_find_locked(fc_cache *c, unsigned cls, uint64_t *pg);
/* Compact page @p pg (ACTIVE): take its free chunks off its class's list,
 * copy each live item into a free chunk of the same class elsewhere,
 * re-point its bucket at the copy (one release store) and retire the old
 * chunk. The page is then DRAINING, FREE once its limbo chunks pass their
 * grace period. FC_OK; FC_ENOMEM if the class ran out of free chunks
 * (the caller checked it has enough: only damage does this) or
 * FC_ECORRUPT/FC_EBUSY, repair marked, in which case the page may be left
 * DRAINING with live items for repair to put back. */
int fc__rebalance_compact_locked(fc_cache *c, uint64_t pg);
/* The class CLOCK of @p cls evicts @p it: fold its age into cl_victim_age. */
void fc__rebalance_note_victim_locked(fc_cache *c, unsigned cls, const struct item_shm *it);

#endif /* FC_REBALANCE_H */
