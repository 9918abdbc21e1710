/*
 * slab.h - pages, free lists, limbo (lib/slab.c). Writer mutex held for
 *          every call but fc__slab_init (creation, LOCK_EX).
 */
#ifndef FC_SLAB_H
#define FC_SLAB_H

#include "internal.h"

void fc__slab_init(fc_cache *c);
/* Give a FREE page to @p cls, all its chunks on the free list; FC_OK or
 * FC_ENOMEM (no free page, or the page.grab fault point). */
int fc__slab_page_grab_locked(fc_cache *c, unsigned cls);
/* Pop the head of @p cls's free list (the caller checked it is nonempty)
 * and make it LIVE; FC_ECORRUPT (repair marked) if the head is bad. */
int fc__slab_pop_locked(fc_cache *c, unsigned cls, uint64_t *off);
/* Give back a chunk that was never published: no grace period needed. */
void fc__slab_unalloc_locked(fc_cache *c, uint64_t off);
/* The free + limbo chunks class @p cls keeps in reserve once the cache is
 * full (evict-ahead; a page move leaves a donor at least this many):
 * 1/FC_FREE_RESERVE of its chunks, at least FC_FREE_LOW. */
uint64_t fc__slab_reserve(const fc_cache *c, unsigned cls);
/* Take page @p pg out of its class: its free chunks off the list, DRAINING
 * until its last limbo chunk is reclaimed, then FREE (A3, A6). The caller
 * evicted or moved its LIVE chunks first, or (compaction) moves them next,
 * under the same lock hold. */
int fc__slab_page_drain_locked(fc_cache *c, uint64_t pg);
/* The accounting of an item just published, and of one just unlinked:
 * fc__slab_retire_locked also puts the unlinked item in limbo (FC_OK;
 * FC_EBUSY or FC_ECORRUPT leave it leaked until repair, marked). */
int fc__slab_retire_locked(fc_cache *c, struct item_shm *it);
static inline void
fc__slab_count_live_locked(fc_cache *c, unsigned cls, size_t data, int has_ttl)
{
	struct hdr_shm *hd = c->hdr;

	FC_CTR_ADD(hd->hd_class[cls].cl_data, data);
	FC_CTR_ADD(hd->hd_items, 1);
	FC_CTR_ADD(hd->hd_bytes_used, c->g.class_size[cls]);
	FC_CTR_ADD(hd->hd_data_bytes, data);
	if (has_ttl)
		FC_CTR_ADD(hd->hd_ttl_items, 1);
}
/* Free every limbo entry whose grace period has passed; returns how many. */
uint64_t fc__reclaim_locked(fc_cache *c);
/* Free entries in the limbo ring. */
uint64_t fc__slab_limbo_free(const fc_cache *c);
/* Wait for readers to leave epochs <= @p stamp, then reclaim. */
int fc__limbo_wait_locked(fc_cache *c, uint64_t stamp);
/* Keep room in limbo for one write's worth of retirements (inline: the
 * common case is one comparison). */
#define FC_LIMBO_NEED (4 * FC_EVICT_BATCH + 8)
int fc__limbo_room_slow_locked(fc_cache *c);
static inline int
fc__limbo_room_locked(fc_cache *c)
{
	struct hdr_shm *h = c->hdr;

	if (h->hd_limbo_tail - h->hd_limbo_head + FC_LIMBO_NEED <= c->g.limbo_cap)
		return FC_OK;
	return fc__limbo_room_slow_locked(c);
}
/* The stamp of @p cls's oldest limbo entry (or of the newest entry). */
uint64_t fc__limbo_oldest_stamp(fc_cache *c, unsigned cls);

#endif /* FC_SLAB_H */
