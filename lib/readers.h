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
void fc__read_exit(struct fc_tls *t, int outer);
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
