/*
 * lock.c - the robust writer mutex and the writers' sequence counter.
 *
 * DESIGN       Writers serialize on one process-shared, robust pthread
 *              mutex in the header (no priority inheritance), taken after a
 *              short trylock spin (lock_mutex); an unlock that sees
 *              sleeping waiters yields once, so a running writer cannot
 *              barge ahead of the one it woke indefinitely. The kernel
 *              marks a mutex whose owner died; the next pthread_mutex_lock
 *              returns EOWNERDEAD, reported to the caller (repair.c), which
 *              repairs before fc__mutex_consistent().
 *              hd_seq (ck_sequence) is odd while a writer is mid-update,
 *              so lock-free inspectors (fc_verify) can tell a stable
 *              snapshot from a torn one without taking the lock.
 * INVARIANTS   L2 The mutex is marked consistent only after repair ran (or
 *                 was recorded as still needed in hd_needs_repair): the
 *                 caller's duty (repair.c), after fc__mutex_acquire.
 *              L3 hd_seq is even whenever the mutex is free.
 * CONCURRENCY  hd_mutex by pthread; hd_seq writer (ck_sequence_write_*) |
 *              fc_verify (ck_sequence_read_retry).
 * CRASHES      Killed while holding: EOWNERDEAD for the next writer (see
 *              repair.c). A dead owner may leave hd_seq odd: the next
 *              acquirer makes it even (L3).
 * LIMITS       The spin is ~130 pauses before sleeping in the kernel.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "lock.h"

int
fc__mutex_init(fc_cache *c)
{
	pthread_mutexattr_t a;
	int rc = FC_ESYS;

	if (pthread_mutexattr_init(&a) != 0)
		return FC_ESYS;
	if (pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0 &&
	    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0 &&
	    pthread_mutex_init(&c->hdr->hd_mutex, &a) == 0)
		rc = FC_OK;
	pthread_mutexattr_destroy(&a);
	c->hdr->hd_seq.sequence = 0;
	return rc;
}

/* Spin briefly before sleeping: a write holds the mutex for ~100 ns, far
 * less than a futex sleep and wake-up. Rounds of 1, 2, 4 ... 64 pauses
 * (fc__pause), at most ~130 pauses in all, then pthread_mutex_lock. */
#define FC_LOCK_SPIN_ROUNDS 7

static int
lock_mutex(pthread_mutex_t *m)
{
	for (unsigned round = 0; round < FC_LOCK_SPIN_ROUNDS; round++) {
		int r = pthread_mutex_trylock(m);
		if (r != EBUSY)
			return r; /* 0, EOWNERDEAD, ENOTRECOVERABLE, ... */
		for (unsigned k = 0; k < (1u << round); k++)
			fc__pause();
	}
	return pthread_mutex_lock(m);
}

int
fc__mutex_acquire(fc_cache *c, int *owner_died)
{
	struct hdr_shm *h = c->hdr;
	int r = lock_mutex(&h->hd_mutex);

	*owner_died = 0;
	if (r == EOWNERDEAD) {
		*owner_died = 1;
		/* L3: the dead writer may have left the sequence odd. */
		if (fc__ld32_rlx(&h->hd_seq.sequence) & 1)
			ck_sequence_write_end(&h->hd_seq);
		return FC_OK;
	}
	if (r == ENOTRECOVERABLE)
		return FC_ECORRUPT;
	if (r != 0) {
		errno = r;
		return FC_ESYS;
	}
	return FC_OK;
}

void
fc__mutex_consistent(fc_cache *c)
{
	pthread_mutex_consistent(&c->hdr->hd_mutex); /* L2: caller repaired */
}

void
fc__seq_begin(fc_cache *c)
{
	/*
	 * Enter the update.
	 * Orders:       the odd sequence before our stores to shared state
	 *               (ck_sequence_write_begin: store, then store fence).
	 * Pairs with:   ck_sequence_read_retry in fc_verify.
	 * If reordered: an inspector could accept a snapshot torn by us.
	 */
	ck_sequence_write_begin(&c->hdr->hd_seq);
}

void
fc__seq_end(fc_cache *c)
{
	/* ck_sequence_write_end: store fence, then the even sequence. */
	ck_sequence_write_end(&c->hdr->hd_seq);
}

/*
 * glibc keeps a robust mutex's futex word first in pthread_mutex_t: the
 * owner's tid, plus FUTEX_WAITERS (bit 31) while some thread sleeps in the
 * kernel waiting for it. That layout is the kernel's robust-futex ABI, so
 * it is stable; we only read it, as a hint.
 */
#define FC_FUTEX_WAITERS 0x80000000u

static int
has_sleepers(pthread_mutex_t *m)
{
	/* relaxed: a hint; a stale value costs one needless or missed yield. */
	return (fc__ld32_rlx((const uint32_t *)(const void *)m) & FC_FUTEX_WAITERS) != 0;
}

void
fc__mutex_release(fc_cache *c, int fair)
{
	int sleepers = fair && has_sleepers(&c->hdr->hd_mutex);

	pthread_mutex_unlock(&c->hdr->hd_mutex);
	/* Fairness: the mutex lets a running thread take it again at once,
	 * ahead of the waiter the unlock just woke, which can then starve for
	 * seconds when writers outnumber cores. Let the woken one run. */
	if (sleepers)
		sched_yield();
}
