/*
 * readers.h - reader slots, epochs, grace periods (lib/readers.c).
 */
#ifndef FC_READERS_H
#define FC_READERS_H

#include "internal.h"

extern unsigned long fc__forkgen;
/* Once per process: the fork handlers and the FC_FAULT environment. */
void fc__readers_global_init(void);
/* Enter a read section. Nests, also from a signal handler interrupting a
 * read of this thread: *outer says whether this call published the epoch,
 * and must be passed to the matching fc__read_exit. NULL with *err =
 * FC_ESYS (no memory, or the segment cannot be reopened for this
 * process's slot locks) or FC_EBUSY (every slot held by a live process)
 * when this thread has no slot and cannot claim one; a full table is
 * reaped here first, without the writer mutex. */
struct fc_tls *fc__read_enter(fc_cache *c, int *err, int *outer);
static inline void fc__read_exit(struct fc_tls *t, int outer);

/*
 * The read path's fast entry (api.c's gets), inline: no call, no pthread
 * key. fc__tls_last is the record this thread used last (a cache in front
 * of the pthread key; fc__read_enter and fc__tls_self keep it). It is one
 * word, loaded once, so a signal handler that reads (and moves the cache
 * to another handle) between any two of our instructions cannot make us
 * mix two records. Records are type-stable (never freed, only recycled
 * through readers.c's free list), so a stale pointer still points at a
 * record: it matches only if its id is this handle's (ids are never
 * reused) and its thread is this thread (a recycled record names its new
 * thread before its new id: see rec_take). After fork() the child's
 * handler points it at the empty record again.
 */
extern __thread struct fc_tls *fc__tls_last __attribute__((tls_model("initial-exec")));

/* Enter a read section and return this thread's slot, or NULL (nothing
 * done): the cache does not hold this thread's record for @p c, the slot
 * is no longer ours (issue #8: never read under a slot taken from us), or
 * we are already inside a read (a signal handler): then fc__read_enter
 * does it all. Leave with fc__read_exit_fast(slot). */
static inline struct slot_shm *
fc__read_enter_fast(fc_cache *c)
{
	struct fc_tls *t = fc__tls_last;

	/*
	 * Acquire: pairs with the release store of t->id in rec_take (a
	 * record recycled by another thread): seeing its new id means seeing
	 * its new thread, which is not ours. If reordered: a record just
	 * recycled for this handle by another thread could pass for ours
	 * (its new id with our old thread) and we would read under its slot.
	 * relaxed thread: ordered by that acquire.
	 */
	if (__builtin_expect(fc__ld_acq(&t->id) != c->tls_id ||
				     fc__ld_rlx(&t->thread) != (uint64_t)(uintptr_t)&fc__tls_last,
			     0))
		return NULL;
	struct slot_shm *s = t->slot;
	/* relaxed owner and epoch loads: our own slot's line (we store to it
	 * next); a foreign owner means the slot was taken from us, a nonzero
	 * epoch that we are nested (both: the slow path). */
	if (__builtin_expect(fc__ld_rlx(&s->rs_owner) != t->owner || fc__ld_rlx(&s->rs_epoch) != 0, 0))
		return NULL;
	/*
	 * Enter the read section (R1, R2): as in fc__read_enter.
	 * Orders:       the slot epoch store before every later load of the
	 *               index selector, bucket words and items (store->load:
	 *               needs the full fence of xchg).
	 * Pairs with:   fc__min_active_epoch's fence before its slot loads:
	 *               either that scan sees our epoch, or our loads see the
	 *               writer's unlink (store-buffering). The acquire load of
	 *               hd_epoch pairs with the FAA in fc__reclaim_locked.
	 * If reordered: we could load a bucket word, then a writer scans, sees
	 *               us idle and frees the chunk we then read.
	 */
	fc__fas_sc(&s->rs_epoch, fc__ld_acq(&c->hdr->hd_epoch));
	return s;
}

/* Leave a section fc__read_enter_fast entered: fc__read_exit's store. */
static inline void
fc__read_exit_fast(struct slot_shm *s)
{
	/* release: see fc__read_exit (orders every item and bucket load of
	 * the section before the slot goes idle; pairs with the acquire load
	 * of rs_epoch in fc__min_active_epoch). */
	fc__st_rel(&s->rs_epoch, 0);
}

static inline void
fc__read_exit(struct fc_tls *t, int outer)
{
	if (outer) {
		/*
		 * Leave the read section.
		 * Orders:       every load from items and buckets above before
		 *               the slot goes idle.
		 * Pairs with:   the acquire load of rs_epoch in
		 *               fc__min_active_epoch.
		 * If reordered: a writer could reuse a chunk we are still copying.
		 */
		fc__st_rel(&t->slot->rs_epoch, 0);
	}
}
/* The calling thread's record and reader slot for @p c, claimed on first
 * use (no read section entered): NULL with *err as fc__read_enter. */
struct fc_tls *fc__tls_self(fc_cache *c, int *err);
int fc__tls_init(fc_cache *c);
void fc__tls_fini(fc_cache *c);
void fc__slots_reset(fc_cache *c);
/* FC_SLOT_FREE, FC_SLOT_LIVE or FC_SLOT_DEAD; *pid = the owner. */
int fc__slot_state(fc_cache *c, unsigned i, uint32_t *pid);
/* Free the slots of dead owners (their lock bytes are free) and clear
 * stray epochs on free slots; returns how many. No writer mutex needed. */
int fc__reap(fc_cache *c);
/* Smallest epoch any reader holds, UINT64_MAX if none (after a fence). */
uint64_t fc__min_active_epoch(fc_cache *c);
/* Wait (bounded by the write's budget) until no reader holds an epoch
 * <= @p stamp; FC_OK or FC_EBUSY. Writer mutex held. */
int fc__grace_wait_locked(fc_cache *c, uint64_t stamp);

#endif /* FC_READERS_H */
