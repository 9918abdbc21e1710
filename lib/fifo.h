/*
 * fifo.h - S3-FIFO's side structures (lib/fifo.c): the small queue's ring
 *          and the ghost. Writer mutex held for every call.
 */
#ifndef FC_FIFO_H
#define FC_FIFO_H

#include "internal.h"

/* The small queue's share of the items: 1/FC_FIFO_SMALL_DIV (S3-FIFO's
 * 10%). */
#define FC_FIFO_SMALL_DIV 10u

/* Item @p it (LIVE, filled, not yet published, hash @p h) enters the
 * cache: into the main queue if the ghost remembers its key (the ghost tag
 * is used up), else on probation in the small queue. @p old is the live
 * item it replaces (NULL if none): an overwrite is an access, so the new
 * item goes to the main queue with the old one's frequency + 1. */
static inline void fc__fifo_admit_locked(fc_cache *c, struct item_shm *it, uint64_t h,
					 const struct item_shm *old);
/* fc__fifo_admit_locked's case of a key not in the cache. */
void fc__fifo_admit_new_locked(fc_cache *c, struct item_shm *it, uint64_t h);
/* Does the small queue hold more than its share of the items? */
static inline int
fc__fifo_small_over(const fc_cache *c)
{
	const struct hdr_shm *h = c->hdr;

	return h->hd_fifo_small * FC_FIFO_SMALL_DIV > h->hd_items;
}
/* The oldest item of the small queue, taken off the ring but still LIVE
 * with its small flag: the caller promotes it (fc__fifo_promote_locked) or
 * evicts it (retiring it counts it out). Stale entries on the way are
 * dropped. NULL if the ring holds no live small item. */
struct item_shm *fc__fifo_pop_locked(fc_cache *c);
/* Small queue -> main queue (S3-FIFO: it was read while on probation). */
void fc__fifo_promote_locked(fc_cache *c, struct item_shm *it);
/* Remember the key of hash @p h, evicted from the small queue unread. */
void fc__fifo_ghost_add_locked(fc_cache *c, uint64_t h);
/* Compaction copied @p from to @p to (unpublished; same cas): @p to takes
 * @p from's place in its queue (a small item is re-entered in the ring). */
void fc__fifo_moved_locked(fc_cache *c, const struct item_shm *from, struct item_shm *to);
/* Item @p it is being retired (slab.c): out of the small count (F1). */
static inline void
fc__fifo_forget_locked(fc_cache *c, const struct item_shm *it);
/* Repair and flush: the ring emptied by one store (its entries are hints;
 * the caller clears every live item's small flag and sets hd_fifo_small
 * to 0). The ghost is kept: any tag in it is a safe hint. */
void fc__fifo_reset_locked(fc_cache *c);
/* F2: are the ring cursors in range? (fc_verify, repair) */
static inline int
fc__fifo_cursors_ok(const fc_cache *c, uint64_t head, uint64_t tail)
{
	return tail - head <= c->g.fifo_cap;
}

#include "item.h"

/* Inline: an overwrite (the common set) costs a load and a store. */
static inline void
fc__fifo_admit_locked(fc_cache *c, struct item_shm *it, uint64_t h,
		      const struct item_shm *old)
{
	if (old) {
		/* An overwrite is an access: the new item goes to M with the
		 * old frequency + 1, where S3-FIFO would move a read item on
		 * its way out of S (saves a ring entry per overwrite). */
		unsigned f = fc__item_freq(old);
		fc__item_s3_init_locked(it, f < FC_IT_FREQ_MAX ? f + 1 : f, 0);
		return;
	}
	fc__fifo_admit_new_locked(c, it, h);
}

static inline void
fc__fifo_forget_locked(fc_cache *c, const struct item_shm *it)
{
	if (fc__item_small(it))
		FC_CTR_SUB(c->hdr->hd_fifo_small, 1);
}

#endif /* FC_FIFO_H */
