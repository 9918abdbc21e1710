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
 *              owner word and its record kept in a pthread key; a fork()
 *              (seen as a new fc__forkgen) makes the child claim its own.
 *              In front of the key, each thread caches the record it used
 *              last in one __thread word (fc__tls_last, initial-exec: a
 *              load relative to the thread pointer), which the read path
 *              checks inline against the handle (readers.h); records are
 *              type-stable so a stale cache is harmless. Slots hold
 *              per-thread hit/miss counters (owner-only writes), summed by
 *              fc_stat().
 *
 *              Liveness by positive evidence only (section "liveness"
 *              below, docs/design.md 4): a slot is live while its lock
 *              byte is locked (an OFD lock the kernel drops when the owner
 *              exits or execs), dead only when the byte is provably free.
 *              Reaping needs no writer mutex: a first read that finds the
 *              table full reaps dead slots itself (lock-free claim path).
 *              Nesting is decided by the slot's epoch, not a counter, so a
 *              signal handler may read wherever it interrupts its thread.
 * INVARIANTS   R1 A chunk retired at epoch E is not reused while any slot
 *                 holds an epoch e with 0 < e <= E.
 *              R2 A slot's epoch is nonzero only inside a read section.
 *              R3 rs_owner = gen << 32 | pid; a claim moves (g, 0) to
 *                 (g + 1, pid), a release or reap moves (g, pid) to (g, 0):
 *                 a stale reaper's CAS fails on the new generation (ABA).
 *              R4 Limbo stamps are nondecreasing from head to tail.
 *              L1 A slot with an owner has its lock byte locked by that
 *                 owner's process (claim: lock, then CAS; release: CAS,
 *                 then unlock), unless that process is dead.
 *              L2 Whoever holds a slot's byte through its own description
 *                 may change the slot's owner word; nobody else does.
 * CONCURRENCY  rs_owner  claimer/releaser/reaper CAS, byte held | all, acquire
 *              rs_epoch  owner (and its signal handlers) xchg/release;
 *                        reaper (byte held: owner dead) release | writers,
 *                        acquire
 *              rs_hits   owner relaxed | fc_stat relaxed (stale is fine)
 *              hd_epoch  writers FAA (under the mutex) | readers, acquire
 *              Process-local: a handle's tls_lock serializes its claims,
 *              releases and reaps (two threads locking through one open
 *              file description would both succeed); the fork handlers
 *              hold every tls_lock across fork() (reg_lock, then each,
 *              then rec_lock, the record free list's leaf lock).
 *              fc_tls.id: rec_take release | other threads' stale caches,
 *              acquire (fc__tls_last is only ever read by its own thread
 *              and its signal handlers).
 * CRASHES      Reader killed inside a read: its slot keeps an epoch and
 *              holds back reclamation until a writer (or fc_reap, or a
 *              claimer facing a full table) takes its free lock byte and
 *              reaps it. Killed between lock and CAS (claim) or between CAS
 *              and unlock (release): the slot is free; the kernel drops
 *              the byte. A reaper killed while holding a byte: the same.
 *              A stray epoch on a free slot (a damaged segment) is cleared
 *              by reapers and reported by fc_verify.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <urcu/uatomic.h>

#include "clock.h"
#include "fault.h"
#include "readers.h"

/* Bumped (uatomic_inc) by the child's atfork handler, which runs in the
 * child's only thread; read with uatomic_read (relaxed). It orders
 * nothing: it is process-local, and a record is only compared with it
 * (a stale record then claims a new slot under tls_lock). */
unsigned long fc__forkgen;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

/*
 * Every open handle of this process, for the fork handlers: before fork()
 * they take each handle's tls_lock, so no other thread can be inside one
 * (a child would inherit it locked and hang on its first read or close).
 * Lock order: reg_lock, then tls_lock; nothing that holds a tls_lock takes
 * reg_lock.
 */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static CDS_LIST_HEAD(reg_list);

/*
 * Thread records (struct fc_tls) are type-stable: once allocated they are
 * never given back to malloc, only to rec_free, from which rec_take
 * recycles them. So the read path's cache (fc__tls_last, one word per
 * thread) may keep pointing at a record that its handle's fc_close()
 * freed, and still load its id and thread safely: it just does not match
 * (readers.h). rec_lock is a leaf lock (reg_lock, then tls_lock, then
 * rec_lock), also held across fork() by the handlers.
 */
static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static CDS_LIST_HEAD(rec_free);
static struct fc_tls rec_none; /* id 0: matches no handle */
static uint64_t next_tls_id;   /* handle numbers: uatomic_add_return only
                                  needs each to be unique (it orders
                                  nothing; rec_take publishes ids) */
__thread struct fc_tls *fc__tls_last __attribute__((tls_model("initial-exec"))) = &rec_none;

static uint64_t
self_token(void)
{
	return (uint64_t)(uintptr_t)&fc__tls_last; /* per live thread */
}

/* A record for (this thread, @p c), zeroed but for id and thread; NULL if
 * out of memory. */
static struct fc_tls *
rec_take(fc_cache *c)
{
	struct fc_tls *t = NULL;

	pthread_mutex_lock(&rec_lock);
	if (!cds_list_empty(&rec_free)) {
		t = cds_list_first_entry(&rec_free, struct fc_tls, node);
		cds_list_del(&t->node);
	}
	pthread_mutex_unlock(&rec_lock);
	if (!t && !(t = calloc(1, sizeof *t)))
		return NULL;
	fc__st_rlx(&t->thread, self_token());
	t->c = c;
	t->slot = NULL;
	t->forkgen = 0;
	t->owner = 0;
	/*
	 * Orders:       our thread token before the id that makes the record
	 *               match.
	 * Pairs with:   the acquire load of t->id in fc__read_enter_fast and
	 *               tls_lookup (a thread whose stale cache points here).
	 * If reordered: that thread could see our handle's id next to its own
	 *               old token and take our record (and slot) for its own.
	 */
	fc__st_rel(&t->id, c->tls_id);
	return t;
}

/* Give record @p t back (off every list already). */
static void
rec_give(struct fc_tls *t)
{
	if (fc__tls_last == t)
		fc__tls_last = &rec_none;
	/* relaxed: rec_lock orders them before a recycling rec_take, and a
	 * stale cache that reads either no longer matches. */
	fc__st_rlx(&t->id, 0);
	fc__st_rlx(&t->thread, 0);
	pthread_mutex_lock(&rec_lock);
	cds_list_add(&t->node, &rec_free);
	pthread_mutex_unlock(&rec_lock);
}

static void
atfork_prepare(void)
{
	fc_cache *c;

	pthread_mutex_lock(&reg_lock);
	cds_list_for_each_entry(c, &reg_list, reg_node)
		pthread_mutex_lock(&c->tls_lock);
	pthread_mutex_lock(&rec_lock);
}

static void
atfork_parent(void)
{
	fc_cache *c;

	pthread_mutex_unlock(&rec_lock);
	cds_list_for_each_entry(c, &reg_list, reg_node)
		pthread_mutex_unlock(&c->tls_lock);
	pthread_mutex_unlock(&reg_lock);
}

static void
atfork_child(void)
{
	fc_cache *c;

	/* Only this thread exists now, and it took every lock in
	 * atfork_prepare: release them (the pattern POSIX gives for atfork
	 * handlers). The inherited lock descriptors share
	 * the parent's open file descriptions, and with them the parent's
	 * slot locks: close our references (the parent keeps its own), so
	 * the parent's slots die with the parent, and reopen lazily. */
	pthread_mutex_unlock(&rec_lock);
	/* The read path's cache names the parent's record (its slot is the
	 * parent's): empty it, so our first read claims our own. */
	fc__tls_last = &rec_none;
	cds_list_for_each_entry(c, &reg_list, reg_node) {
		if (c->lockfd >= 0)
			close(c->lockfd);
		c->lockfd = -1;
		pthread_mutex_unlock(&c->tls_lock);
	}
	pthread_mutex_unlock(&reg_lock);
	/* Process-local: every TLS record made before fork() is now stale. */
	uatomic_inc(&fc__forkgen);
}

static void
global_init(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
#ifdef FC_FAULT_FROM_ENV
	/* Only in a library built for fault tests (cmake -DFC_FAULT_FROM_ENV
	 * =ON): a shipped library must not let the environment kill it.
	 * secure_getenv: never in a set-uid or set-gid process. */
	const char *spec = secure_getenv("FC_FAULT");
	if (spec && *spec)
		fc__fault_arm_spec(spec);
#endif
}

void
fc__readers_global_init(void)
{
	pthread_once(&global_once, global_init);
}

/* ---------------------------------------------------------- liveness -- */

/*
 * Liveness by positive evidence only (LMDB's approach). Each slot has a
 * lock byte in the segment file: the slot's own first byte, locked with an
 * open-file-description lock (F_OFD_SETLK) through a descriptor that only
 * this process holds (c->lockfd). A claimer locks the byte before its CAS
 * on rs_owner and a releaser unlocks it after its CAS back, so an owned
 * slot's byte is always locked while its owner can still run; the kernel
 * drops the lock when the owner's last reference to that descriptor goes:
 * at exit (also a SIGKILL), at execve (O_CLOEXEC), never while any thread
 * of the owner runs (a zombie group leader keeps its threads' files). A
 * reaper proves death by taking the byte itself (through c->fd, another
 * open file description, so its own process's slots stay locked against
 * it); while it holds the byte nobody can claim the slot. Locks live on
 * the inode, not on pids: pid reuse and pid namespaces do not matter, and
 * running out of descriptors does not either (no open() needed).
 */
static off_t
slot_byte(const fc_cache *c, uint64_t i)
{
	return (off_t)(c->g.slots_off + i * sizeof(struct slot_shm));
}

/* F_OFD_SETLK one byte; 0 or an errno (EAGAIN/EACCES: held elsewhere). */
static int
byte_lock(int fd, off_t off, short type)
{
	struct flock l = {.l_type = type, .l_whence = SEEK_SET, .l_start = off, .l_len = 1};

	return fcntl(fd, F_OFD_SETLK, &l) == 0 ? 0 : errno;
}

/* Is the byte locked through another open file description? 1 yes, 0 no,
 * -1 cannot tell. */
static int
byte_held(int fd, off_t off)
{
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1};

	if (fcntl(fd, F_OFD_GETLK, &l) != 0)
		return -1;
	return l.l_type != F_UNLCK;
}

/* This process's own open file description of the segment, for its slot
 * locks (tls_lock held). /proc/self/fd reopens even an unlinked object;
 * without /proc, the name. Either must be the inode we mapped. */
static int
lockfd_ready(fc_cache *c)
{
	struct stat a, b;
	char path[64];

	if (c->lockfd >= 0)
		return FC_OK;
	snprintf(path, sizeof path, "/proc/self/fd/%d", c->fd);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && c->name)
		fd = c->is_file ? open(c->name, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
				: shm_open(c->name, O_RDWR, 0);
	if (fd < 0)
		return FC_ESYS;
	if (fstat(fd, &a) != 0 || fstat(c->fd, &b) != 0 || a.st_ino != b.st_ino ||
	    a.st_dev != b.st_dev) {
		close(fd);
		errno = ESTALE;
		return FC_ESYS;
	}
	c->lockfd = fd;
	return FC_OK;
}

/* ------------------------------------------------------------ slots -- */

/*
 * Free slot @p s whose owner word was @p o: fold its counters into the
 * header totals, clear it, hand it back. Only its owner (release) or a
 * reaper that holds the slot's lock byte (the owner is dead) calls this,
 * so nobody else writes the slot until our CAS.
 */
static int
slot_free(fc_cache *c, struct slot_shm *s, uint64_t o)
{
	fc__faa_sc(&c->hdr->hd_folded_hits, fc__ld_rlx(&s->rs_hits));
	fc__faa_sc(&c->hdr->hd_folded_misses, fc__ld_rlx(&s->rs_misses));
	fc__st_rlx(&s->rs_hits, 0);
	fc__st_rlx(&s->rs_misses, 0);
	/*
	 * Orders:       the counter and epoch resets before the owner CAS
	 *               (release store, then a seq_cst CAS).
	 * Pairs with:   slot_claim's CAS: a claimer sees a clean slot.
	 * If reordered: a new owner's epoch or counters could be cleared by
	 *               us (breaks R1 for its reads).
	 */
	fc__st_rel(&s->rs_epoch, 0);
	return fc__cas_sc(&s->rs_owner, o, o & ~0xffffffffull);
}

/* Give back our slot (tls_lock held): owner word first, then the byte. */
static void
slot_release(fc_cache *c, struct slot_shm *s, uint64_t mine)
{
	uint64_t o = fc__ld_acq(&s->rs_owner);

	if (o == mine)
		slot_free(c, s, o);
	if (c->lockfd >= 0)
		byte_lock(c->lockfd, slot_byte(c, (uint64_t)(s - c->slots)), F_UNLCK);
}

/*
 * Reap slot @p i if nobody holds its byte (tls_lock held): its owner, if
 * any, is dead, and no claim is in progress. Also clears a stray epoch on
 * a free slot (a damaged segment, or a reader of an older release reaped
 * while it ran). Returns 1 if it changed the slot.
 */
static int
reap_slot(fc_cache *c, uint64_t i)
{
	struct slot_shm *s = &c->slots[i];

	if (!(uint32_t)fc__ld_acq(&s->rs_owner) && !fc__ld_acq(&s->rs_epoch))
		return 0; /* free and clean: no system call */
	if (byte_lock(c->fd, slot_byte(c, i), F_WRLCK) != 0)
		return 0; /* held: a live owner (or a claim, or a reap) */
	int n = 0;
	/* Acquire: pairs with the claimer's CAS and the releaser's CAS; we
	 * hold the byte, so the word cannot change under us any more. */
	uint64_t o = fc__ld_acq(&s->rs_owner);
	if ((uint32_t)o) {
		n = slot_free(c, s, o);
	} else if (fc__ld_rlx(&s->rs_epoch)) {
		/* release: as in slot_free; nobody may own the slot now. */
		fc__st_rel(&s->rs_epoch, 0);
		n = 1;
	}
	byte_lock(c->fd, slot_byte(c, i), F_UNLCK);
	return n;
}

static int
reap_all(fc_cache *c)
{
	int n = 0;

	for (uint64_t i = 0; i < c->g.nslots; i++)
		n += reap_slot(c, i);
	c->last_liveness_ms = fc__mono_ms();
	return n;
}

static void
tls_destroy(void *p)
{
	struct fc_tls *t = p;
	fc_cache *c = t->c;

	pthread_mutex_lock(&c->tls_lock);
	if (t->slot && t->forkgen == uatomic_read(&fc__forkgen))
		slot_release(c, t->slot, t->owner);
	cds_list_del(&t->node);
	rec_give(t);
	pthread_mutex_unlock(&c->tls_lock);
}

int
fc__tls_init(fc_cache *c)
{
	CDS_INIT_LIST_HEAD(&c->tls_list);
	c->lockfd = -1;
	c->tls_id = uatomic_add_return(&next_tls_id, 1);
	if (pthread_mutex_init(&c->tls_lock, NULL) != 0)
		return FC_ESYS;
	if (pthread_key_create(&c->tls_key, tls_destroy) != 0) {
		pthread_mutex_destroy(&c->tls_lock);
		errno = EAGAIN;
		return FC_ESYS;
	}
	pthread_mutex_lock(&reg_lock);
	cds_list_add(&c->reg_node, &reg_list);
	pthread_mutex_unlock(&reg_lock);
	return FC_OK;
}

void
fc__tls_fini(fc_cache *c)
{
	struct fc_tls *t, *tmp;
	unsigned long gen = uatomic_read(&fc__forkgen);

	if (!c->tls_list.next)
		return; /* fc__tls_init never ran */
	pthread_mutex_lock(&reg_lock);
	cds_list_del(&c->reg_node);
	pthread_mutex_unlock(&reg_lock);
	pthread_key_delete(c->tls_key);
	pthread_mutex_lock(&c->tls_lock);
	cds_list_for_each_entry_safe(t, tmp, &c->tls_list, node) {
		/* In a forked child, the parent's records are copies: free
		 * them, but leave the parent's slots alone (it is alive). */
		if (t->slot && t->forkgen == gen)
			slot_release(c, t->slot, t->owner);
		cds_list_del(&t->node);
		rec_give(t); /* other threads' caches may still name it */
	}
	if (c->lockfd >= 0)
		close(c->lockfd);
	c->lockfd = -1;
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

/* Claim a free slot (tls_lock held): lock its byte, then CAS the owner
 * word. A full table is reaped here, lock-free (no writer mutex): dead
 * owners are proven by their unlocked bytes. */
static struct slot_shm *
slot_claim(fc_cache *c, uint64_t *mine, int *err)
{
	pid_t pid = getpid();

	*err = FC_EBUSY;
	if (FC_FAULT(SLOT_CLAIM))
		return NULL;
	if ((*err = lockfd_ready(c)) != FC_OK)
		return NULL;
	*err = FC_EBUSY;
	for (int round = 0; round < 2; round++) {
		for (uint64_t i = 0; i < c->g.nslots; i++) {
			struct slot_shm *s = &c->slots[i];
			uint64_t o = fc__ld_acq(&s->rs_owner);
			if ((uint32_t)o != 0)
				continue;
			if (byte_lock(c->lockfd, slot_byte(c, i), F_WRLCK) != 0)
				continue; /* a claim or a reap elsewhere */
			uint64_t n = (((o >> 32) + 1) << 32) | (uint32_t)pid;
			/*
			 * Claim the slot (R3), its byte held (L1).
			 * Orders:       the CAS before our stores to rs_epoch.
			 * Pairs with:   slot_release's and the reaper's CAS.
			 * If reordered: n/a (CAS is a full barrier).
			 */
			if (!fc__cas_sc(&s->rs_owner, o, n)) {
				byte_lock(c->lockfd, slot_byte(c, i), F_UNLCK);
				continue;
			}
			/* A stray epoch left on the free slot is not ours:
			 * release, ordered before our first read's xchg. */
			if (fc__ld_rlx(&s->rs_epoch))
				fc__st_rel(&s->rs_epoch, 0);
			raise_hwm(c, (uint32_t)i + 1);
			*mine = n;
			return s;
		}
		if (round == 0 && reap_all(c) == 0)
			break;
	}
	return NULL;
}

static struct fc_tls *
tls_slow(fc_cache *c, struct fc_tls *t, int *err)
{
	unsigned long gen;

	pthread_mutex_lock(&c->tls_lock);
	gen = uatomic_read(&fc__forkgen);
	if (t) {
		/* Inherited across fork() (the parent's copy still owns the
		 * slot), or our slot was taken from us (a reset, a damaged
		 * segment): forget the record, claim anew. */
		if (t->forkgen == gen && t->slot && c->lockfd >= 0)
			byte_lock(c->lockfd, slot_byte(c, (uint64_t)(t->slot - c->slots)), F_UNLCK);
		cds_list_del(&t->node);
		rec_give(t);
		pthread_setspecific(c->tls_key, NULL);
	}
	t = rec_take(c);
	if (!t) {
		pthread_mutex_unlock(&c->tls_lock);
		*err = FC_ESYS;
		return NULL;
	}
	t->forkgen = gen;
	t->slot = slot_claim(c, &t->owner, err);
	if (!t->slot) {
		pthread_mutex_unlock(&c->tls_lock);
		rec_give(t);
		return NULL;
	}
	cds_list_add(&t->node, &c->tls_list);
	pthread_mutex_unlock(&c->tls_lock);
	pthread_setspecific(c->tls_key, t);
	return t;
}

/* This thread's record for @p c, its slot still ours: from the cache, or
 * the pthread key, or claimed anew (tls_slow); the cache then names it. */
static struct fc_tls *
tls_lookup(fc_cache *c, int *err)
{
	struct fc_tls *t = fc__tls_last;

	/* Acquire: as in fc__read_enter_fast (pairs with rec_take). */
	if (fc__ld_acq(&t->id) != c->tls_id || fc__ld_rlx(&t->thread) != self_token())
		t = pthread_getspecific(c->tls_key);
	/* relaxed owner load: our own slot's line; a mismatch means it was
	 * taken from us: never read under it. */
	if (!t || t->forkgen != uatomic_read(&fc__forkgen) ||
	    fc__ld_rlx(&t->slot->rs_owner) != t->owner)
		t = tls_slow(c, t, err);
	if (t)
		fc__tls_last = t;
	return t;
}

struct fc_tls *
fc__tls_self(fc_cache *c, int *err)
{
	return tls_lookup(c, err);
}

struct fc_tls *
fc__read_enter(fc_cache *c, int *err, int *outer)
{
	struct fc_tls *t = tls_lookup(c, err);

	if (!t)
		return NULL;
	/*
	 * Nesting is decided by the slot's epoch, not by a counter, so that a
	 * signal handler that reads is safe wherever it interrupts this
	 * thread: before our xchg it sees 0 and publishes (and on exit clears)
	 * its own epoch, after which our xchg publishes ours; after our xchg
	 * it sees our epoch and reads under it. Only this thread (and its
	 * handlers) writes a live slot's epoch: a relaxed load suffices.
	 */
	*outer = fc__ld_rlx(&t->slot->rs_epoch) == 0;
	if (*outer) {
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
		FC_FAULT(READ_ENTER);
		fc__fas_sc(&t->slot->rs_epoch, e);
	}
	return t;
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
	if (!pid) /* a free slot with an epoch: the remains of a dead reader */
		return fc__ld_rlx(&s->rs_epoch) ? FC_SLOT_DEAD : FC_SLOT_FREE;
	return byte_held(c->fd, slot_byte(c, i)) ? FC_SLOT_LIVE : FC_SLOT_DEAD;
}

/* Every slot, not just below the high-water mark: this runs on request
 * (fc_reap), and the mark itself is untrusted. */
int
fc__reap(fc_cache *c)
{
	pthread_mutex_lock(&c->tls_lock);
	int n = reap_all(c);
	pthread_mutex_unlock(&c->tls_lock);
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
 * those can hold up this wait (one fcntl each). */
static void
reap_blocking_locked(fc_cache *c, uint64_t stamp)
{
	uint32_t hwm = fc__ld32_acq(&c->hdr->hd_slots_hwm);

	if (hwm > c->g.nslots)
		hwm = (uint32_t)c->g.nslots;
	for (uint32_t i = 0; i < hwm; i++) {
		uint64_t e = fc__ld_acq(&c->slots[i].rs_epoch);
		if (e && e <= stamp) {
			pthread_mutex_lock(&c->tls_lock);
			reap_slot(c, i);
			pthread_mutex_unlock(&c->tls_lock);
		}
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
