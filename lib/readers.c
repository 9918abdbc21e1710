/*
 * readers.c - reader slots, epochs and grace periods across processes
 *             (the limbo list they protect is in slab.c).
 *
 * DESIGN       Epoch-based RCU whose reader registry lives in the segment.
 *              liburcu's flavours and ck_epoch keep their registries (the
 *              list of reader records) in process memory, linked by
 *              pointers and registered per thread of one process; a writer
 *              in another process can neither see nor scan them. So the
 *              registry is a table of slots in the segment, like LMDB's
 *              reader table, and the algorithm is ck_epoch's / urcu-mb's:
 *
 *              reader   slot.epoch = global epoch  (xchg: full fence)
 *                       ... loads of index words and items ...
 *                       slot.epoch = 0             (release store)
 *              writer   unlink (release store of a bucket word);
 *                       retire: limbo += (chunk, global epoch E)
 *              reclaim  global epoch += 1; full fence; min = min over
 *                       slots of nonzero slot.epoch; free every limbo entry
 *                       with E < min (all of them if no slot is active).
 *
 *              A slot is claimed once per (thread, handle) by CAS on its
 *              owner word and cached in a pthread key; a pid change after
 *              fork() (seen as a new fc__forkgen) makes the child claim its
 *              own. Slots hold per-thread hit/miss counters (owner-only
 *              writes), summed by fc_stat(). When every slot is taken,
 *              fc__read_enter reports FC__ESLOTS_FULL and the caller
 *              (fc__read_begin, repair.h) reaps dead owners under the
 *              writer lock and tries once more.
 * INVARIANTS   R1 A chunk retired at epoch E is not reused while any slot
 *                 holds an epoch e with 0 < e <= E.
 *              R2 A slot's epoch is nonzero only inside a read section.
 *              R3 rs_owner = gen << 32 | pid; a claim moves (g, 0) to
 *                 (g + 1, pid), a release or reap moves (g, pid) to (g, 0):
 *                 a stale reaper's CAS fails on the new generation (ABA).
 *              R4 Limbo stamps are nondecreasing from head to tail.
 * CONCURRENCY  rs_owner  claimers CAS; owner/reaper CAS | all, acquire
 *              rs_epoch  owner xchg/release; reaper (owner dead) plain |
 *                        writers, acquire
 *              rs_hits   owner relaxed | fc_stat relaxed (stale is fine)
 *              hd_epoch  writers FAA (under the mutex) | readers, acquire
 * CRASHES      Reader killed inside a read: its slot keeps an epoch and
 *              holds back reclamation until a writer sees the owner dead
 *              (kill(pid, 0) == ESRCH, or a different start time: pid reuse)
 *              and reaps it (a zombie counts as dead). Killed between
 *              claim CAS and rs_start store: rs_start is 0 there (release
 *              and reap clear it), meaning "unknown": only death proves it.
 * LIMITS       Reclaim scans slots [0, hd_slots_hwm): one cache line each.
 *              A writer waits at most FC_GRACE_WAIT_MS for readers.
 */
#include <ck_backoff.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <urcu/uatomic.h>

#include "clock.h"
#include "fault.h"
#include "readers.h"

unsigned long fc__forkgen;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void
atfork_child(void)
{
	/* Process-local: every TLS record made before fork() is now stale. */
	uatomic_inc(&fc__forkgen);
}

static void
global_init(void)
{
	pthread_atfork(NULL, NULL, atfork_child);
	const char *spec = getenv("FC_FAULT");
	if (spec && *spec)
		fc__fault_arm_spec(spec);
}

void
fc__readers_global_init(void)
{
	pthread_once(&global_once, global_init);
}

/* Start time (field 22 of /proc/PID/stat) of a running process; 0 if it
 * is gone, unreadable, or a zombie (state Z or X: it will never read
 * again, though kill(pid, 0) still succeeds until it is waited for). */
uint64_t
fc__proc_start(pid_t pid)
{
	char path[64], buf[1024];

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* The command name may hold spaces and ')': fields resume after the
	 * last ')'. Field 22 (starttime) is the 20th after it. */
	char *p = strrchr(buf, ')');
	if (!p || !p[1] || !p[2])
		return 0;
	if (p[2] == 'Z' || p[2] == 'X')
		return 0; /* field 3, the state */
	p++;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p + 1, ' ');
	}
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* Does /proc show this pid at all? (No /proc mounted: we cannot tell a
 * zombie, so we do not guess.) */
static int
proc_readable(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	return access(path, R_OK) == 0;
}

int
fc__proc_alive(uint32_t pid, uint64_t start)
{
	if (pid == 0)
		return 0;
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return 0;
	uint64_t now = fc__proc_start((pid_t)pid);
	if (now == 0)
		return proc_readable((pid_t)pid) ? 0 : 1; /* zombie: dead; no /proc: alive */
	if (start == 0)
		return 1; /* unknown start (claim in progress): only death proves it */
	return now == start;
}

/* ------------------------------------------------------------ slots -- */

/*
 * Free slot @p s whose owner word was @p o: fold its counters into the
 * header totals, clear it, hand it back. Only its owner (release) or a
 * reaper that proved the owner dead (under the writer mutex) calls this,
 * so nobody else writes the slot until our CAS.
 */
static int
slot_free(fc_cache *c, struct slot_shm *s, uint64_t o)
{
	fc__faa_sc(&c->hdr->hd_folded_hits, fc__ld_rlx(&s->rs_hits));
	fc__faa_sc(&c->hdr->hd_folded_misses, fc__ld_rlx(&s->rs_misses));
	fc__st_rlx(&s->rs_hits, 0);
	fc__st_rlx(&s->rs_misses, 0);
	/* rs_start 0 = "unknown" for the next owner's claim window (between
	 * its CAS and its rs_start store): only death proves death then.
	 * With the old start time left here, a reaper saw the new pid with a
	 * stale start, judged a live claimer dead and freed its slot. */
	fc__st_rlx(&s->rs_start, 0);
	/*
	 * Orders:       the counter, start and epoch resets before the owner
	 *               CAS (release store, then a seq_cst CAS).
	 * Pairs with:   slot_claim's CAS: a claimer sees a clean slot.
	 * If reordered: a new owner's epoch or counters could be cleared by
	 *               us (breaks R1 for its reads).
	 */
	fc__st_rel(&s->rs_epoch, 0);
	return fc__cas_sc(&s->rs_owner, o, o & ~0xffffffffull);
}

static void
slot_release(fc_cache *c, struct slot_shm *s, pid_t pid)
{
	uint64_t o = fc__ld_acq(&s->rs_owner);

	if ((uint32_t)o == (uint32_t)pid)
		slot_free(c, s, o);
}

static void
tls_destroy(void *p)
{
	struct fc_tls *t = p;
	fc_cache *c = t->c;

	pthread_mutex_lock(&c->tls_lock);
	if (t->slot && t->pid == getpid())
		slot_release(c, t->slot, t->pid);
	cds_list_del(&t->node);
	pthread_mutex_unlock(&c->tls_lock);
	free(t);
}

int
fc__tls_init(fc_cache *c)
{
	CDS_INIT_LIST_HEAD(&c->tls_list);
	if (pthread_mutex_init(&c->tls_lock, NULL) != 0)
		return FC_ESYS;
	if (pthread_key_create(&c->tls_key, tls_destroy) != 0) {
		pthread_mutex_destroy(&c->tls_lock);
		errno = EAGAIN;
		return FC_ESYS;
	}
	return FC_OK;
}

void
fc__tls_fini(fc_cache *c)
{
	struct fc_tls *t, *tmp;
	pid_t me = getpid();

	if (!c->tls_list.next)
		return; /* fc__tls_init never ran */
	pthread_key_delete(c->tls_key);
	pthread_mutex_lock(&c->tls_lock);
	cds_list_for_each_entry_safe(t, tmp, &c->tls_list, node) {
		/* In a forked child, the parent's records are copies: free
		 * them, but leave the parent's slots alone (it is alive). */
		if (t->slot && t->pid == me)
			slot_release(c, t->slot, me);
		cds_list_del(&t->node);
		free(t);
	}
	pthread_mutex_unlock(&c->tls_lock);
	pthread_mutex_destroy(&c->tls_lock);
}

static void
raise_hwm(fc_cache *c, uint32_t n)
{
	uint32_t *hwm = &c->hdr->hd_slots_hwm;

	/* relaxed: CAS-max; writers read it with acquire and only use it to
	 * bound their scan. A writer that misses a just-raised hwm cannot miss
	 * the reader: the reader's slot epoch store comes after this CAS in
	 * program order, and the reader's fence orders both before its first
	 * index load (R1's argument in docs/design.md). */
	for (;;) {
		uint32_t cur = fc__ld32_rlx(hwm);
		if (cur >= n || fc__cas32_rlx(hwm, cur, n))
			return;
	}
}

/* One pass over the table; NULL if every slot is taken (*full set) or
 * the slot.claim fault point fails the claim. */
static struct slot_shm *
slot_claim(fc_cache *c, int *full)
{
	pid_t pid = getpid();
	uint64_t start = fc__proc_start(pid); /* claims are rare: no cache */

	*full = 0;
	if (FC_FAULT(SLOT_CLAIM))
		return NULL;
	for (uint64_t i = 0; i < c->g.nslots; i++) {
		struct slot_shm *s = &c->slots[i];
		uint64_t o = fc__ld_acq(&s->rs_owner);
		if ((uint32_t)o != 0)
			continue;
		uint64_t n = (((o >> 32) + 1) << 32) | (uint32_t)pid;
		/*
		 * Claim the slot (R3).
		 * Orders:       the CAS before our stores to rs_start and
		 *               rs_epoch.
		 * Pairs with:   slot_release's and the reaper's CAS.
		 * If reordered: n/a (CAS is a full barrier).
		 */
		if (!fc__cas_sc(&s->rs_owner, o, n))
			continue;
		fc__st_rlx(&s->rs_start, start);
		raise_hwm(c, (uint32_t)i + 1);
		return s;
	}
	*full = 1; /* the caller reaps dead owners, then retries once */
	return NULL;
}

static struct fc_tls *
tls_slow(fc_cache *c, struct fc_tls *t, int *err)
{
	unsigned long gen = uatomic_read(&fc__forkgen);

	if (t) {
		/* Inherited across fork(): the parent's slot is not ours.
		 * Forget the record (the parent's copy still owns it). */
		pthread_mutex_lock(&c->tls_lock);
		cds_list_del(&t->node);
		pthread_mutex_unlock(&c->tls_lock);
		free(t);
		pthread_setspecific(c->tls_key, NULL);
	}
	t = calloc(1, sizeof *t);
	if (!t) {
		*err = FC_ESYS;
		return NULL;
	}
	t->c = c;
	t->pid = getpid();
	t->forkgen = gen;
	int full;
	t->slot = slot_claim(c, &full);
	if (!t->slot) {
		free(t);
		*err = full ? FC__ESLOTS_FULL : FC_EBUSY;
		return NULL;
	}
	pthread_mutex_lock(&c->tls_lock);
	cds_list_add(&t->node, &c->tls_list);
	pthread_mutex_unlock(&c->tls_lock);
	pthread_setspecific(c->tls_key, t);
	return t;
}

struct fc_tls *
fc__tls_self(fc_cache *c, int *err)
{
	struct fc_tls *t = pthread_getspecific(c->tls_key);

	if (!t || t->forkgen != uatomic_read(&fc__forkgen))
		t = tls_slow(c, t, err);
	return t;
}

struct fc_tls *
fc__read_enter(fc_cache *c, int *err)
{
	struct fc_tls *t = pthread_getspecific(c->tls_key);

	if (__builtin_expect(!t || t->forkgen != uatomic_read(&fc__forkgen), 0)) {
		t = tls_slow(c, t, err);
		if (!t)
			return NULL;
	}
	if (t->depth++ == 0) {
		/*
		 * Enter the read section (R1, R2).
		 * Orders:       the slot epoch store before every later load of
		 *               the index selector, bucket words and items
		 *               (store->load: needs the full fence of xchg).
		 * Pairs with:   fc__min_active_epoch's fence before its slot
		 *               loads: either that scan sees our epoch, or our
		 *               loads see the writer's unlink (store-buffering).
		 *               The acquire load of hd_epoch pairs with the FAA
		 *               in fc__reclaim_locked: seeing epoch E+1 means
		 *               seeing every unlink retired at E.
		 * If reordered: we could load a bucket word, then a writer scans,
		 *               sees us idle and frees the chunk we then read.
		 */
		uint64_t e = fc__ld_acq(&c->hdr->hd_epoch);
		fc__fas_sc(&t->slot->rs_epoch, e);
	}
	return t;
}

void
fc__read_exit(struct fc_tls *t)
{
	if (--t->depth == 0) {
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

void
fc__slots_reset(fc_cache *c)
{
	memset(c->slots, 0, c->g.nslots * sizeof(struct slot_shm));
	c->hdr->hd_slots_hwm = 0;
}

int
fc__slot_state(fc_cache *c, unsigned i, uint32_t *pidp)
{
	struct slot_shm *s = &c->slots[i];
	uint64_t o = fc__ld_acq(&s->rs_owner);
	uint32_t pid = (uint32_t)o;

	*pidp = pid;
	if (!pid)
		return FC_SLOT_FREE;
	return fc__proc_alive(pid, fc__ld_rlx(&s->rs_start)) ? FC_SLOT_LIVE : FC_SLOT_DEAD;
}

static int
reap_slot_locked(fc_cache *c, struct slot_shm *s)
{
	uint64_t o = fc__ld_acq(&s->rs_owner);
	uint32_t pid = (uint32_t)o;

	if (!pid || fc__proc_alive(pid, fc__ld_rlx(&s->rs_start)))
		return 0;
	return slot_free(c, s, o) ? 1 : 0;
}

/* Every slot, not just below the high-water mark: this runs when the
 * table is full or on request, and the mark itself is untrusted. */
int
fc__reap_locked(fc_cache *c)
{
	int n = 0;

	for (uint64_t i = 0; i < c->g.nslots; i++)
		n += reap_slot_locked(c, &c->slots[i]);
	c->last_liveness_ms = fc__mono_ms();
	return n;
}

/* ------------------------------------------------------------ grace -- */

uint64_t
fc__min_active_epoch(fc_cache *c)
{
	uint64_t min = UINT64_MAX;
	uint32_t hwm = fc__ld32_acq(&c->hdr->hd_slots_hwm);

	if (hwm > c->g.nslots)
		hwm = (uint32_t)c->g.nslots;
	/*
	 * Orders:       our earlier unlinks (bucket stores) and the epoch FAA
	 *               before the slot loads below (store->load).
	 * Pairs with:   the xchg in fc__read_enter.
	 * If reordered: we could see a reader idle whose loads then see the
	 *               bucket from before our unlink: freeing would break R1.
	 */
	fc__fence_sc();
#ifndef FC_BROKEN_NO_GRACE
	for (uint32_t i = 0; i < hwm; i++) {
		/* Acquire: pairs with fc__read_exit's release store, so the
		 * reader's copies happen before our reuse of the chunk. */
		uint64_t e = fc__ld_acq(&c->slots[i].rs_epoch);
		if (e && e < min)
			min = e;
	}
#else
	(void)hwm; /* deliberately broken variant: no grace period */
#endif
	return min;
}

/* Reap the dead owners of slots that hold an epoch <= @p stamp: only
 * those can hold up this wait, and checking costs a /proc read each. */
static void
reap_blocking_locked(fc_cache *c, uint64_t stamp)
{
	uint32_t hwm = fc__ld32_acq(&c->hdr->hd_slots_hwm);

	if (hwm > c->g.nslots)
		hwm = (uint32_t)c->g.nslots;
	for (uint32_t i = 0; i < hwm; i++) {
		uint64_t e = fc__ld_acq(&c->slots[i].rs_epoch);
		if (e && e <= stamp)
			reap_slot_locked(c, &c->slots[i]);
	}
	c->last_liveness_ms = fc__mono_ms();
}

/* Wait until no reader holds an epoch <= stamp; reap dead ones that do
 * (after 1 ms: a live reader's section is far shorter). All the waits of
 * one write share one budget (c->wait_deadline_ms, FC_GRACE_WAIT_MS from
 * taking the lock), so a write never stalls longer than that in total.
 * Returns FC_OK or FC_EBUSY. Frees nothing: fc__limbo_wait_locked (slab.c)
 * reclaims after it. */
int
fc__grace_wait_locked(fc_cache *c, uint64_t stamp)
{
	uint64_t start = fc__mono_ms(), deadline = c->wait_deadline_ms;
	unsigned int backoff = CK_BACKOFF_INITIALIZER;
	int waited = 0;

	for (;;) {
		fc__faa_sc(&c->hdr->hd_epoch, 1);
		if (fc__min_active_epoch(c) > stamp)
			break;
		uint64_t now = fc__mono_ms();
		if (now > start && now - c->last_liveness_ms >= FC_LIVENESS_MS)
			reap_blocking_locked(c, stamp);
		if (now >= deadline)
			return FC_EBUSY;
		if (!waited++)
			FC_CTR_ADD(c->hdr->hd_reclaim_waits, 1);
		/* Spin a few microseconds (a reader's section is ~50 ns), then
		 * give the CPU away: the reader we wait for may be preempted,
		 * and on a busy machine it needs our core to finish. */
		if (backoff < (1u << 12))
			ck_backoff_eb(&backoff);
		else if (now - start < 2)
			sched_yield();
		else
			usleep(50);
	}
	return FC_OK;
}
