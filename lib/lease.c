/*
 * lease.c - the lease table: single-flight get-or-compute across processes.
 *
 * DESIGN       A fixed table of nleases entries (struct lease_shm, 320
 *              bytes: one per key leased at once) sits in the segment. A key
 *              lives in one of the FC_LEASE_PROBE entries from its home
 *              ((hash >> 32) * nleases >> 32), found by scanning that window
 *              (no tombstones: a free entry is ls_hash 0). An entry names its
 *              leader by (reader slot index, that slot's owner word at the
 *              grant): the leader is gone when the slot's owner word changed
 *              (its thread exited or closed the handle), when the owner
 *              process is dead (the readers module's liveness test), or when
 *              the TTL clock passed ls_deadline_ms (grant + lease_ms).
 *              Grant, takeover and release run under the writer mutex, in
 *              the same critical section as the index probe (grant) or the
 *              item store (fill): so "no item and no lease" -> "lease" and
 *              "item stored" -> "lease released" are atomic, and a key is
 *              computed once per miss. The mutex, not a CAS on the entry:
 *              an entry is several words (key bytes, leader, deadline), the
 *              grant must be atomic with the index probe anyway, and the
 *              miss path that takes it is about to run a slow computation.
 *              Waiters do not hold the mutex: they sleep on the entry's
 *              32-bit futex word (FUTEX_WAIT, shared, not FUTEX_PRIVATE:
 *              the waker is another process), at most FC_LEASE_POLL_MS at a
 *              time, and between sleeps check the leader lock-free; on any
 *              change or evidence of death they retry under the mutex,
 *              which re-checks everything before a takeover.
 * INVARIANTS   L1 At most one entry holds a key (hash and bytes).
 *              L2 Every grant takes a new ls_gen (hd_lease_gen + 1); a lease
 *                 (fc_lease) is valid while its entry holds its gen.
 *              L3 ls_word changes at every release; a waiter that saw word
 *                 w sleeps only while it is still w.
 *              L4 A held entry lies within FC_LEASE_PROBE of its home, with
 *                 1 <= ls_klen <= FC_KEY_MAX and ls_hash = hash(key) | 1.
 * CONCURRENCY  ls_hash, ls_gen, ls_owner, ls_slot, ls_deadline_ms, ls_key:
 *                writers under hd_mutex (ls_hash release-stored last on a
 *                grant) | waiters, stats: relaxed/acquire, a hint re-checked
 *                under the mutex.
 *              ls_word: writers under hd_mutex, FAA | waiters acquire, futex.
 *              ls_waiters: waiters FAA +1/-1 around a sleep | wakers load.
 * CRASHES      Killed under the mutex (fault points lease.*): EOWNERDEAD
 *              repairs the allocator; the lease table needs no repair,
 *              because every partial state names a dead leader: a grant
 *              publishes ls_hash last (before it the entry is free); a
 *              takeover stores ls_deadline_ms = 0 first (overdue at once)
 *              and the real deadline last; a release stores ls_hash = 0 and
 *              then bumps ls_word, and waiters poll. A leader killed while
 *              holding a lease is seen dead by the next waiter's poll
 *              (<= FC_LEASE_POLL_MS) and taken over. A killed waiter leaves
 *              ls_waiters high: a needless wake-up, nothing else.
 * LIMITS       A miss scans FC_LEASE_PROBE entries under the mutex. When a
 *              key's window is full of live leases, fc_lease_get fails with
 *              FC_EBUSY (never waits for an entry).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fault.h"
#include "lease.h"
#include "readers.h"
#include "segment.h"

static uint64_t
window(const fc_cache *c)
{
	return c->g.nleases < FC_LEASE_PROBE ? c->g.nleases : FC_LEASE_PROBE;
}

static uint32_t
lease_idx(const fc_cache *c, uint64_t home, uint64_t n)
{
	uint64_t i = home + n;

	return (uint32_t)(i >= c->g.nleases ? i - c->g.nleases : i);
}

/* Is the slot's owner still the one recorded at the grant, and alive?
 * The readers module judges the slot (fc__slot_state): whatever proves a
 * reader dead proves a leader dead. */
static int
slot_alive(fc_cache *c, uint32_t slot, uint64_t owner)
{
	uint32_t pid;

	if (slot >= c->g.nslots || (uint32_t)owner == 0)
		return 0;
	struct slot_shm *s = &c->slots[slot];
	/* Acquire: pairs with the claim/release CAS on rs_owner; a changed
	 * owner means the leader's thread left (or the slot was reaped).
	 * Checked again after the verdict, which is about the slot's owner
	 * at that moment. */
	if (fc__ld_acq(&s->rs_owner) != owner)
		return 0;
	int live = fc__slot_state(c, slot, &pid) == FC_SLOT_LIVE;
	return live && fc__ld_acq(&s->rs_owner) == owner;
}

/* With check_proc 0 only the cheap tests run (no syscall). */
int
fc__lease_holder_gone(fc_cache *c, uint32_t idx, uint64_t gen, int check_proc)
{
	if (idx >= c->g.nleases)
		return 1;
	struct lease_shm *e = &c->leases[idx];
	/* Acquire: pairs with the release store of ls_hash in a grant, so the
	 * fields below are the grant's (under the mutex they are exact). */
	if (fc__ld_acq(&e->ls_hash) == 0 || fc__ld_rlx(&e->ls_gen) != gen)
		return 1;
	uint64_t deadline = fc__ld_rlx(&e->ls_deadline_ms);
	if (fc__now_ms() >= deadline)
		return 2;
	uint32_t slot = fc__ld32_rlx(&e->ls_slot);
	uint64_t owner = fc__ld_rlx(&e->ls_owner);
	if (slot >= c->g.nslots || fc__ld_rlx(&c->slots[slot].rs_owner) != owner)
		return 2;
	if (check_proc && !slot_alive(c, slot, owner))
		return 2;
	return 0;
}

static int
entry_holds(const struct lease_shm *e, uint64_t h, const void *key, size_t klen)
{
	/* Under the mutex: relaxed is exact (writers hold the mutex). */
	return fc__ld_rlx(&e->ls_hash) == h && e->ls_klen == klen &&
		memcmp(e->ls_key, key, klen) == 0;
}

int
fc__lease_find_locked(fc_cache *c, uint64_t h, const void *key, size_t klen,
		      struct fc_lease_ref *ref)
{
	uint64_t home = fc__lease_home(c, h), w = window(c);

	for (uint64_t n = 0; n < w; n++) {
		uint32_t i = lease_idx(c, home, n);
		struct lease_shm *e = &c->leases[i];
		if (entry_holds(e, h, key, klen)) {
			ref->idx = i;
			ref->gen = fc__ld_rlx(&e->ls_gen);
			ref->word = fc__ld32_rlx(&e->ls_word);
			return 1;
		}
	}
	return 0;
}

/* Empty entry @p e (its leader is gone) so another key may use it; its
 * waiters, if any, see ls_word change and retry. */
static void
entry_free_locked(struct lease_shm *e)
{
	/* Release: nothing to publish; keeps the key reads of earlier
	 * lock holders before the entry reads as free. */
	fc__st_rel(&e->ls_hash, 0);
	/* FAA (full barrier): see fc__lease_release_locked. */
	fc__faa32_sc(&e->ls_word, 1);
}

int
fc__lease_grant_locked(fc_cache *c, uint64_t h, const void *key, size_t klen,
		       struct fc_tls *t, int found, struct fc_lease_ref *ref,
		       unsigned flags)
{
	struct hdr_shm *hd = c->hdr;
	struct lease_shm *e;
	uint32_t idx = UINT32_MAX;

	if (found) {
		idx = ref->idx;
		e = &c->leases[idx];
		/* Takeover. Overdue first: a kill before the last store
		 * leaves a lease that anyone may take over at once. */
		fc__st_rlx(&e->ls_deadline_ms, 0);
		FC_CTR_ADD(hd->hd_lease_takeovers, 1);
	} else {
		uint64_t home = fc__lease_home(c, h), w = window(c);
		for (uint64_t n = 0; n < w && idx == UINT32_MAX; n++) {
			uint32_t i = lease_idx(c, home, n);
			if (fc__ld_rlx(&c->leases[i].ls_hash) == 0)
				idx = i;
		}
		/* Full: reuse an entry whose leader is gone (its key's
		 * waiters wake and retry). Costs a liveness test each. */
		for (uint64_t n = 0; n < w && idx == UINT32_MAX; n++) {
			uint32_t i = lease_idx(c, home, n);
			struct lease_shm *o = &c->leases[i];
			if (fc__lease_holder_gone(c, i, fc__ld_rlx(&o->ls_gen), 1) != 0) {
				entry_free_locked(o);
				idx = i;
			}
		}
		if (idx == UINT32_MAX)
			return FC_EBUSY;
		e = &c->leases[idx];
		e->ls_klen = (uint8_t)klen;
		memcpy(e->ls_key, key, klen);
	}
	uint64_t gen = hd->hd_lease_gen + 1;
	FC_CTR_SET(hd->hd_lease_gen, gen);
	fc__st_rlx(&e->ls_gen, gen);
	fc__st32_rlx(&e->ls_slot, (uint32_t)(t->slot - c->slots));
	/* Our own slot: its owner word is ours while this thread lives. */
	fc__st_rlx(&e->ls_owner, fc__ld_rlx(&t->slot->rs_owner));
	e->ls_flags = (uint8_t)flags;
	FC_FAULT(LEASE_GRANT);
	uint64_t now = fc__now_ms();
	fc__st_rlx(&e->ls_deadline_ms, now + c->lease_ms); /* both <= 2^41 */
	if (!found) {
		/*
		 * Publish the entry: the key bytes and leader fields first.
		 * Orders:       the stores above before ls_hash.
		 * Pairs with:   the acquire load of ls_hash in
		 *               fc__lease_holder_gone (lock-free waiters, stats).
		 * If reordered: a waiter could judge a half-made entry (its
		 *               verdict is only a hint, re-checked under the
		 *               mutex), and a crash could leave a held entry
		 *               with a stale key: a wrong key gets the lease.
		 */
		fc__st_rel(&e->ls_hash, h);
	}
	FC_CTR_ADD(hd->hd_lease_grants, 1);
	ref->idx = idx;
	ref->gen = gen;
	ref->word = fc__ld32_rlx(&e->ls_word);
	return FC_OK;
}

int
fc__lease_release_locked(fc_cache *c, uint32_t idx, uint64_t gen)
{
	if (idx >= c->g.nleases)
		return FC_ELEASE;
	struct lease_shm *e = &c->leases[idx];
	if (fc__ld_rlx(&e->ls_hash) == 0 || fc__ld_rlx(&e->ls_gen) != gen)
		return FC_ELEASE;
	/*
	 * Free the entry, then change the futex word (L3).
	 * Orders:       the item store of a fill (bucket release store) and
	 *               the free entry before the new word; the FAA is a full
	 *               barrier, so the word is visible before we load
	 *               ls_waiters in fc__lease_wake (store -> load).
	 * Pairs with:   the waiter's acquire load of ls_word and its FAA on
	 *               ls_waiters before FUTEX_WAIT.
	 * If reordered: a waiter could wake, probe and miss the filled item;
	 *               or sleep through the wake-up until its poll timeout.
	 */
	fc__st_rel(&e->ls_hash, 0);
	FC_FAULT(LEASE_RELEASED);
	fc__faa32_sc(&e->ls_word, 1);
	return FC_OK;
}

static long
futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	/* Shared futex (no FUTEX_PRIVATE_FLAG): waiter and waker are in
	 * different processes; the kernel keys it by the mapped page. */
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

void
fc__lease_wake(fc_cache *c, uint32_t idx)
{
	if (idx >= c->g.nleases)
		return;
	struct lease_shm *e = &c->leases[idx];
	/* After the FAA on ls_word (full barrier): a waiter that registered
	 * after this load reads the new word in FUTEX_WAIT and does not
	 * sleep. A stale count only costs a needless syscall. */
	if (fc__ld32_acq(&e->ls_waiters))
		futex(&e->ls_word, FUTEX_WAKE, INT_MAX, NULL);
}

/*
 * Sleep until lease @p ref changes, its leader is gone, or the monotonic
 * clock reaches @p until_ms. Returns 1 (retry under the mutex) or 0
 * (timed out, nothing seen). Wakes every FC_LEASE_POLL_MS to test the
 * leader's liveness, so a killed leader is noticed without a wake-up.
 */
int
fc__lease_wait(fc_cache *c, const struct fc_lease_ref *ref, uint64_t until_ms)
{
	if (ref->idx >= c->g.nleases)
		return 1;
	struct lease_shm *e = &c->leases[ref->idx];
	int r = 0;

	/* FAA: full barrier; pairs with the waker's word FAA then load of
	 * ls_waiters (see fc__lease_release_locked). */
	fc__faa32_sc(&e->ls_waiters, 1);
	FC_FAULT(LEASE_WAIT);
	for (;;) {
		/* Acquire: pairs with the release's FAA, so a retry sees the
		 * filled item. */
		if (fc__ld32_acq(&e->ls_word) != ref->word ||
		    fc__lease_holder_gone(c, ref->idx, ref->gen, 1) != 0) {
			r = 1;
			break;
		}
		uint64_t now = fc__mono_ms();
		if (now >= until_ms)
			break;
		uint64_t ms = until_ms - now < FC_LEASE_POLL_MS ? until_ms - now : FC_LEASE_POLL_MS;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000L};
		/* EAGAIN (word changed), ETIMEDOUT, EINTR: all loop back. */
		futex(&e->ls_word, FUTEX_WAIT, ref->word, &ts);
	}
	fc__faa32_sc(&e->ls_waiters, (uint32_t)-1);
	return r;
}

int
fc__lease_key_locked(fc_cache *c, uint32_t idx, uint64_t gen, char *key,
		     size_t *klen, uint64_t *h)
{
	if (idx >= c->g.nleases)
		return FC_ELEASE;
	struct lease_shm *e = &c->leases[idx];
	uint64_t hh = fc__ld_rlx(&e->ls_hash);
	if (hh == 0 || fc__ld_rlx(&e->ls_gen) != gen)
		return FC_ELEASE;
	size_t n = e->ls_klen; /* read once (untrusted segment) */
	if (n == 0 || n > FC_KEY_MAX)
		return FC_ECORRUPT;
	memcpy(key, e->ls_key, n);
	if ((fc__hash(c, key, n) | 1) != hh)
		return FC_ECORRUPT;
	*klen = n;
	*h = hh;
	return FC_OK;
}

void
fc__lease_count(fc_cache *c, uint64_t *live, uint64_t *dead)
{
	*live = *dead = 0;
	for (uint32_t i = 0; i < c->g.nleases; i++) {
		struct lease_shm *e = &c->leases[i];
		if (!fc__ld_acq(&e->ls_hash))
			continue;
		int g = fc__lease_holder_gone(c, i, fc__ld_rlx(&e->ls_gen), 1);
		if (g == 0)
			(*live)++;
		else if (g == 2)
			(*dead)++; /* 1: released meanwhile */
	}
}

void
fc__lease_reset(fc_cache *c)
{
	memset(c->leases, 0, c->g.nleases * sizeof(struct lease_shm));
}
