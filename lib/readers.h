/*
 * readers.h - reader slots, epochs, grace periods (lib/readers.c).
 */
#ifndef FC_READERS_H
#define FC_READERS_H

#include "internal.h"

/* fc__read_enter's *err when every reader slot is taken (never returned
 * to users: fc__read_begin in repair.h reaps and retries, then answers
 * FC_EBUSY). Positive, so no public code can equal it. */
#define FC__ESLOTS_FULL 1

extern unsigned long fc__forkgen;
/* Once per process: the fork handler and the FC_FAULT environment. */
void fc__readers_global_init(void);
/* Enter a read section (nests). NULL with *err = FC_ESYS, FC_EBUSY or
 * FC__ESLOTS_FULL when this thread has no slot and cannot claim one. */
struct fc_tls *fc__read_enter(fc_cache *c, int *err);
void fc__read_exit(struct fc_tls *t);
/* The calling thread's record and reader slot for @p c, claimed on first
 * use (no read section entered): NULL with *err as fc__read_enter. */
struct fc_tls *fc__tls_self(fc_cache *c, int *err);
int fc__tls_init(fc_cache *c);
void fc__tls_fini(fc_cache *c);
void fc__slots_reset(fc_cache *c);
/* FC_SLOT_FREE, FC_SLOT_LIVE or FC_SLOT_DEAD; *pid = the owner. */
int fc__slot_state(fc_cache *c, unsigned i, uint32_t *pid);
/* Free the slots of dead owners (writer mutex held); returns how many. */
int fc__reap_locked(fc_cache *c);
int fc__proc_alive(uint32_t pid, uint64_t start);
uint64_t fc__proc_start(pid_t pid);
/* Smallest epoch any reader holds, UINT64_MAX if none (after a fence). */
uint64_t fc__min_active_epoch(fc_cache *c);
/* Wait (bounded by the write's budget) until no reader holds an epoch
 * <= @p stamp; FC_OK or FC_EBUSY. Writer mutex held. */
int fc__grace_wait_locked(fc_cache *c, uint64_t stamp);

#endif /* FC_READERS_H */
