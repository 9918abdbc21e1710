/*
 * stats.c - fc_stat, fc_class_stat, fc_slot_stat: counters read without
 *           the lock.
 *
 * DESIGN       Writers keep one-word counters in the header and the class
 *              records (FC_CTR_*, relaxed stores under the mutex); readers
 *              keep hits and misses in their own slots, folded into the
 *              header when a slot is freed. A stat call sums them.
 * INVARIANTS   none of its own; figures are exact only when no call runs.
 * CONCURRENCY  Relaxed loads throughout: any thread, no lock, never
 *              blocks; /proc reads for the liveness of slot owners.
 * CRASHES      Read-only.
 * LIMITS       fc_stat reads every reader slot (one cache line each).
 */
#include <string.h>

#include "lease.h"
#include "readers.h"

int
fc_stat(fc_cache *c, fc_stats *s)
{
	if (!c || !s)
		return FC_EINVAL;
	struct hdr_shm *h = c->hdr;

	memset(s, 0, sizeof *s);
	/* relaxed loads throughout: counters may be mid-update; each is one
	 * word, and the doc says figures are exact only when quiet. */
	s->items = fc__ld_rlx(&h->hd_items);
	s->sets = fc__ld_rlx(&h->hd_sets);
	s->deletes = fc__ld_rlx(&h->hd_deletes);
	s->evictions = fc__ld_rlx(&h->hd_evictions);
	s->expired = fc__ld_rlx(&h->hd_expired);
	s->bytes_used = fc__ld_rlx(&h->hd_bytes_used);
	s->data_bytes = fc__ld_rlx(&h->hd_data_bytes);
	s->hits = fc__ld_rlx(&h->hd_folded_hits);
	s->misses = fc__ld_rlx(&h->hd_folded_misses);
	s->segment_bytes = c->g.segment_bytes;
	s->page_bytes = c->g.page_bytes;
	s->pages = c->g.npages;
	s->data_capacity = c->g.npages * c->g.page_bytes;
	s->pages_free = fc__ld_rlx(&h->hd_free_pages);
	s->value_max = c->g.class_size[c->g.nclasses - 1] - FC_ITEM_HDR - FC_KEY_MAX;
	if (s->value_max > c->g.class_size[c->g.nclasses - 1])
		s->value_max = 0;
	s->buckets = c->g.nbuckets;
	s->tombstones = fc__ld_rlx(&h->hd_ix_tombs);
	uint64_t lh = fc__ld_rlx(&h->hd_limbo_head), lt = fc__ld_rlx(&h->hd_limbo_tail);
	s->limbo = lt >= lh ? lt - lh : 0;
	s->epoch = fc__ld_rlx(&h->hd_epoch);
	s->reader_slots = c->g.nslots;
	s->repairs = fc__ld_rlx(&h->hd_repairs);
	s->index_rebuilds = fc__ld_rlx(&h->hd_rebuilds);
	s->reclaim_waits = fc__ld_rlx(&h->hd_reclaim_waits);
	s->classes = c->g.nclasses;
	s->layout_version = FC_LAYOUT_VERSION;
	s->lease_slots = c->g.nleases;
	fc__lease_count(c, &s->leases_active, &s->leases_dead);
	s->lease_grants = fc__ld_rlx(&h->hd_lease_grants);
	s->lease_takeovers = fc__ld_rlx(&h->hd_lease_takeovers);
	s->lease_waits = fc__ld_rlx(&h->hd_lease_waits);
	s->lease_timeouts = fc__ld_rlx(&h->hd_lease_timeouts);
	s->lease_stale_hits = fc__ld_rlx(&h->hd_lease_stale);
	s->lease_full = fc__ld_rlx(&h->hd_lease_full);
	s->lease_ms = c->lease_ms;
	s->stale_ms = c->stale_ms;
	for (uint32_t i = 0; i < c->g.nslots; i++) {
		struct slot_shm *sl = &c->slots[i];
		if (!(uint32_t)fc__ld_rlx(&sl->rs_owner) && !fc__ld_rlx(&sl->rs_hits) &&
		    !fc__ld_rlx(&sl->rs_misses) && !fc__ld_rlx(&sl->rs_epoch))
			continue; /* free and clean: skip the liveness check */
		uint32_t pid;
		int st = fc__slot_state(c, i, &pid);
		s->hits += fc__ld_rlx(&sl->rs_hits);
		s->misses += fc__ld_rlx(&sl->rs_misses);
		if (st == FC_SLOT_LIVE)
			s->readers_live++;
		else if (st == FC_SLOT_DEAD)
			s->readers_dead++;
		if (st != FC_SLOT_FREE && fc__ld_rlx(&sl->rs_epoch))
			s->readers_active++;
	}
	return FC_OK;
}

int
fc_class_stat(fc_cache *c, unsigned cls, fc_class_stats *out)
{
	if (!c || !out || cls >= c->g.nclasses)
		return FC_EINVAL;
	struct class_shm *cl = &c->hdr->hd_class[cls];
	memset(out, 0, sizeof *out);
	out->chunk_bytes = c->g.class_size[cls];
	out->chunks_per_page = c->g.class_per_page[cls];
	out->pages = fc__ld_rlx(&cl->cl_pages);
	out->chunks_used = fc__ld_rlx(&cl->cl_live);
	out->chunks_limbo = fc__ld_rlx(&cl->cl_limbo);
	out->chunks_free = fc__ld_rlx(&cl->cl_nfree);
	out->data_bytes = fc__ld_rlx(&cl->cl_data);
	return FC_OK;
}

int
fc_slot_stat(fc_cache *c, unsigned slot, fc_slot_info *out)
{
	if (!c || !out || slot >= c->g.nslots)
		return FC_EINVAL;
	struct slot_shm *s = &c->slots[slot];
	memset(out, 0, sizeof *out);
	out->state = (uint32_t)fc__slot_state(c, slot, &out->pid);
	out->epoch = fc__ld_rlx(&s->rs_epoch);
	out->hits = fc__ld_rlx(&s->rs_hits);
	out->misses = fc__ld_rlx(&s->rs_misses);
	return FC_OK;
}
