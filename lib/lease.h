/*
 * lease.h - the lease table (lib/lease.c): single-flight grants, takeover
 *           of a gone leader, release, and the futex wait. The calls named
 *           _locked need the writer mutex (repair.h's fc__lock); the public
 *           orchestration (fc_lease_get/fill/abandon) is in api.c.
 */
#ifndef FC_LEASE_H
#define FC_LEASE_H

#include "internal.h"

/* What a caller learned about a held lease. */
struct fc_lease_ref {
	uint32_t idx; /* entry */
	uint32_t word; /* its futex word then */
	uint64_t gen; /* the grant (L2) */
};

/* The key's home entry: the window of FC_LEASE_PROBE entries starts here.
 * @p lh is the lease hash (key hash | 1); uses its high 32 bits, so it is
 * independent of the index's home and tag. */
static inline uint64_t
fc__lease_home(const fc_cache *c, uint64_t lh)
{
	return ((lh >> 32) * c->g.nleases) >> 32;
}

/* The entry holding @p key (lease hash @p lh): 1 and *ref, or 0. */
int fc__lease_find_locked(fc_cache *c, uint64_t lh, const void *key, size_t klen,
			  struct fc_lease_ref *ref);
/* Is lease (idx, gen) still held by a live, punctual leader? 0 held,
 * 1 changed (released or granted anew), 2 leader gone (overdue, its slot
 * has another owner, or, with @p check_proc, its process is dead). Without
 * the mutex the answer is a hint. */
int fc__lease_holder_gone(fc_cache *c, uint32_t idx, uint64_t gen, int check_proc);
/* Grant @p key's lease to thread @p t: a takeover of entry ref->idx when
 * @p found, else a free entry of the key's window (or one whose leader is
 * gone). Fills *ref. FC_OK, or FC_EBUSY (the window holds live leases
 * only). @p flags: FC_LS_STALE for a refresh lease. */
int fc__lease_grant_locked(fc_cache *c, uint64_t lh, const void *key, size_t klen,
			   struct fc_tls *t, int found, struct fc_lease_ref *ref,
			   unsigned flags);
/* Release lease (idx, gen): FC_OK, or FC_ELEASE if it is not held. The
 * caller calls fc__lease_wake after unlocking. */
int fc__lease_release_locked(fc_cache *c, uint32_t idx, uint64_t gen);
/* Wake the sleepers of entry @p idx (none: no syscall). */
void fc__lease_wake(fc_cache *c, uint32_t idx);
/* Sleep on @p ref until it changes, its leader is gone (1: retry), or the
 * monotonic clock reaches @p until_ms (0). No lock held. */
int fc__lease_wait(fc_cache *c, const struct fc_lease_ref *ref, uint64_t until_ms);
/* Copy the key of held lease (idx, gen) out: FC_OK, FC_ELEASE (not
 * held), FC_ECORRUPT (bad length or hash). @p key has FC_KEY_MAX bytes. */
int fc__lease_key_locked(fc_cache *c, uint32_t idx, uint64_t gen, char *key,
			 size_t *klen, uint64_t *lh);
/* Held entries whose leader is alive / gone (fc_stat; no lock). */
void fc__lease_count(fc_cache *c, uint64_t *live, uint64_t *dead);
/* Free every entry (reboot reset: no process of the old boot lives). */
void fc__lease_reset(fc_cache *c);

#endif /* FC_LEASE_H */
