/*
 * lock.h - the robust writer mutex and the writers' sequence (lib/lock.c).
 *          Writers do not call these directly: fc__lock/fc__unlock
 *          (repair.h) wrap them with repair.
 */
#ifndef FC_LOCK_H
#define FC_LOCK_H

#include "internal.h"

int fc__mutex_init(fc_cache *c);
/* Take hd_mutex (short spin, then sleep). FC_OK with *owner_died set when
 * the previous owner died holding it (EOWNERDEAD: the caller repairs, then
 * calls fc__mutex_consistent; hd_seq is already even again, L3);
 * FC_ECORRUPT if the mutex is unrecoverable; FC_ESYS otherwise. */
int fc__mutex_acquire(fc_cache *c, int *owner_died);
void fc__mutex_consistent(fc_cache *c);
/* Release hd_mutex; with @p fair, yield once if a waiter sleeps. */
void fc__mutex_release(fc_cache *c, int fair);
/* hd_seq odd while a writer is mid-update (L3). */
void fc__seq_begin(fc_cache *c);
void fc__seq_end(fc_cache *c);

#endif /* FC_LOCK_H */
