/*
 * lock.c - the writer mutex, and repair after a writer died holding it.
 *
 * DESIGN       Writers serialize on one process-shared, robust pthread
 *              mutex in the header (no priority inheritance), taken after a
 *              short trylock spin (lock_mutex); an unlock that sees
 *              sleeping waiters yields once, so a running writer cannot
 *              barge ahead of the one it woke indefinitely. The kernel
 *              marks a mutex whose owner died; the next pthread_mutex_lock
 *              returns EOWNERDEAD and that writer repairs before calling
 *              pthread_mutex_consistent(). Repair is not a replay: the index
 *              is consistent after every single store (index.c), so repair
 *              rebuilds the allocator from it after a grace period
 *              (fc__slab_rebuild_locked). A writer that finds damage sets
 *              hd_needs_repair, and the next lock holder repairs too.
 *              hd_seq (ck_sequence) is odd while a writer is mid-update,
 *              so lock-free inspectors (fc_verify) can tell a stable
 *              snapshot from a torn one without taking the lock.
 * INVARIANTS   L1 hd_needs_repair is set before repair starts and cleared
 *                 only when it completed: a killed repairer is repaired.
 *              L2 The mutex is marked consistent only after repair ran (or
 *                 was recorded as still needed in hd_needs_repair).
 *              L3 hd_seq is even whenever the mutex is free.
 * CONCURRENCY  hd_mutex by pthread; hd_seq writer (ck_sequence_write_*) |
 *              fc_verify (ck_sequence_read_retry).
 * CRASHES      Killed while holding: EOWNERDEAD for the next writer, which
 *              repairs (fault points: every set.* / delete / evict / page /
 *              rebuild / flush / repair point). Killed inside repair: L1.
 * LIMITS       Repair time is linear in buckets + chunks (a few ms for a
 *              64 MiB segment) plus at most FC_GRACE_WAIT_MS for readers.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "internal.h"

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

int
fc__repair_locked(fc_cache *c)
{
	struct hdr_shm *h = c->hdr;

	h->hd_needs_repair = 1; /* L1 */
	FC_CTR_ADD(h->hd_repairs, 1);
	return fc__slab_rebuild_locked(c, 0);
}

/* Spin briefly before sleeping: a write holds the mutex for ~100 ns, far
 * less than a futex sleep and wake-up. Rounds of 1, 2, 4 ... 64 pauses
 * (ck_pr_stall), at most ~130 pauses in all, then pthread_mutex_lock. */
#define FC_LOCK_SPIN_ROUNDS 7

static int
lock_mutex(pthread_mutex_t *m)
{
	for (unsigned round = 0; round < FC_LOCK_SPIN_ROUNDS; round++) {
		int r = pthread_mutex_trylock(m);
		if (r != EBUSY)
			return r; /* 0, EOWNERDEAD, ENOTRECOVERABLE, ... */
		for (unsigned k = 0; k < (1u << round); k++)
			ck_pr_stall();
	}
	return pthread_mutex_lock(m);
}

int
fc__lock(fc_cache *c)
{
	struct hdr_shm *h = c->hdr;
	int r = lock_mutex(&h->hd_mutex);

	if (r == EOWNERDEAD) {
		c->wait_deadline_ms = fc__mono_ms() + FC_GRACE_WAIT_MS;
		/* L3: the dead writer may have left the sequence odd. */
		if (ck_pr_load_uint(&h->hd_seq.sequence) & 1)
			ck_sequence_write_end(&h->hd_seq);
		ck_sequence_write_begin(&h->hd_seq);
		fc__repair_locked(c); /* on failure hd_needs_repair stays set */
		ck_sequence_write_end(&h->hd_seq);
		pthread_mutex_consistent(&h->hd_mutex); /* L2 */
	} else if (r == ENOTRECOVERABLE) {
		return FC_ECORRUPT;
	} else if (r != 0) {
		errno = r;
		return FC_ESYS;
	}
	/*
	 * Enter the update.
	 * Orders:       the odd sequence before our stores to shared state
	 *               (ck_sequence_write_begin: store, then store fence).
	 * Pairs with:   ck_sequence_read_retry in fc_verify.
	 * If reordered: an inspector could accept a snapshot torn by us.
	 */
	ck_sequence_write_begin(&h->hd_seq);
	c->wait_deadline_ms = fc__mono_ms() + FC_GRACE_WAIT_MS;
	if (h->hd_needs_repair && fc__repair_locked(c) != FC_OK) {
		ck_sequence_write_end(&h->hd_seq);
		pthread_mutex_unlock(&h->hd_mutex);
		return FC_EBUSY;
	}
	return FC_OK;
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
	return (ck_pr_load_uint((const unsigned *)(const void *)m) & FC_FUTEX_WAITERS) != 0;
}

void
fc__unlock(fc_cache *c)
{
	int sleepers = has_sleepers(&c->hdr->hd_mutex);

	/* ck_sequence_write_end: store fence, then the even sequence. */
	ck_sequence_write_end(&c->hdr->hd_seq);
	pthread_mutex_unlock(&c->hdr->hd_mutex);
	/* Fairness: the mutex lets a running thread take it again at once,
	 * ahead of the waiter the unlock just woke, which can then starve for
	 * seconds when writers outnumber cores. Let the woken one run. */
	if (sleepers)
		sched_yield();
}
