/*
 * tests/unit/test_readers.c - white-box tests of the reader-slot table,
 * epochs and reclamation (lib/readers.c, limbo in lib/slab.c; R1-R4): slot claim and
 * release, liveness by lock byte (a slot is live exactly while its byte is
 * locked), dead owners and their reaping, the minimum active epoch, limbo
 * reclamation and nested read sections.
 */
#include "fc_test.h"
#include "fc_internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static uint64_t
owner_word(uint64_t gen, pid_t pid)
{
	return gen << 32 | (uint32_t)pid;
}

/* Index of the slot owned by @p pid, failing if there is not exactly one. */
static unsigned
slot_of(fc_cache *c, pid_t pid)
{
	unsigned found = UINT32_MAX, n = 0;

	for (unsigned i = 0; i < c->g.nslots; i++)
		if ((uint32_t)c->slots[i].rs_owner == (uint32_t)pid) {
			found = i;
			n++;
		}
	if (n != 1)
		fail_msg("pid %d owns %u slots, want 1", (int)pid, n);
	return found;
}

/* Lock slot @p i's byte through a new open file description of the
 * segment, as a live owner's claim does; returns the descriptor (closing it
 * is the owner's death). */
static int
hold_byte(fc_cache *c, unsigned i)
{
	char path[128];
	snprintf(path, sizeof path, "/dev/shm%s", fc_test_cur_name());
	int fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
			  .l_start = (off_t)(c->g.slots_off + i * sizeof(struct slot_shm)),
			  .l_len = 1};
	assert_int_equal(fcntl(fd, F_OFD_SETLK, &l), 0);
	return fd;
}

/* Is slot @p i's byte locked by anyone (through another description)? */
static int
byte_locked(fc_cache *c, unsigned i)
{
	char path[128];
	snprintf(path, sizeof path, "/dev/shm%s", fc_test_cur_name());
	int fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
			  .l_start = (off_t)(c->g.slots_off + i * sizeof(struct slot_shm)),
			  .l_len = 1};
	assert_int_equal(fcntl(fd, F_OFD_GETLK, &l), 0);
	close(fd);
	return l.l_type != F_UNLCK;
}

static int
get_key(fc_cache *c, const char *key)
{
	char buf[32];
	size_t len = sizeof buf;

	return fc_get(c, key, strlen(key), buf, &len);
}

/* ------------------------------------------------------- claim/release -- */

static void
first_read_claims_a_slot_with_the_next_generation_and_our_pid(void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;
	int err = FC_OK, outer;

	assert_int_equal(h->hd_slots_hwm, 0);
	assert_int_equal(byte_locked(c, 0), 0);
	/* Slot 0 was claimed and released five times before. */
	c->slots[0].rs_owner = owner_word(5, 0);
	struct fc_tls *t = fc__read_enter(c, &err, &outer);
	assert_non_null(t);
	assert_true(outer);
	assert_ptr_equal(t->slot, &c->slots[0]);
	assert_int_equal(c->slots[0].rs_owner, owner_word(6, getpid()));
	assert_int_equal(byte_locked(c, 0), 1); /* L1: owned => byte held */
	assert_int_equal(h->hd_slots_hwm, 1);
	assert_int_equal(c->slots[0].rs_epoch, h->hd_epoch); /* inside: R2 */
	fc__read_exit(t, outer);
	assert_int_equal(c->slots[0].rs_epoch, 0);
	fc_test_verify(c);
}

static void
claim_skips_owned_slots_and_raises_the_high_water_mark(void **state)
{
	fc_cache *c = *state;
	int err = FC_OK, outer, held[3];

	/* Slots 0-2 belong to someone alive: owner word and lock byte. */
	for (unsigned i = 0; i < 3; i++) {
		c->slots[i].rs_owner = owner_word(1, getpid());
		held[i] = hold_byte(c, i);
	}
	c->hdr->hd_slots_hwm = 3;
	struct fc_tls *t = fc__read_enter(c, &err, &outer);
	assert_non_null(t);
	fc__read_exit(t, outer);
	assert_ptr_equal(t->slot, &c->slots[3]);
	assert_int_equal(c->slots[3].rs_owner, owner_word(1, getpid()));
	assert_int_equal(c->hdr->hd_slots_hwm, 4);
	/* A mark already above a new claim is not lowered (CAS-max): a
	 * second handle's first read claims slot 4 under a mark of 9. */
	c->hdr->hd_slots_hwm = 9;
	fc_cache *c2 = NULL;
	assert_int_equal(fc_open(fc_test_cur_name(), NULL, &c2), FC_OK);
	assert_int_equal(get_key(c2, "nope"), FC_ENOTFOUND);
	assert_int_equal(c->slots[4].rs_owner, owner_word(1, getpid()));
	assert_int_equal(c->hdr->hd_slots_hwm, 9);
	assert_int_equal(byte_locked(c, 4), 1);
	assert_int_equal(fc_close(c2), FC_OK);
	assert_int_equal(c->slots[4].rs_owner, owner_word(1, 0));
	assert_int_equal(byte_locked(c, 4), 0); /* released after the owner word */
	assert_int_equal(fc_reap(c), 0);       /* the held ones are live */
	for (unsigned i = 0; i < 3; i++) {
		c->slots[i].rs_owner = owner_word(1, 0);
		close(held[i]);
	}
	fc_test_verify(c);
}

static void *
reader_thread(void *arg)
{
	fc_cache *c = arg;
	char buf[8];
	size_t len;

	for (int i = 0; i < 2; i++) {
		len = sizeof buf;
		if (fc_get(c, "hit", 3, buf, &len) != FC_OK)
			return (void *)1;
	}
	for (int i = 0; i < 3; i++) {
		len = sizeof buf;
		if (fc_get(c, "miss", 4, buf, &len) != FC_ENOTFOUND)
			return (void *)1;
	}
	return NULL; /* thread exit releases the slot (key destructor) */
}

static void
thread_exit_releases_its_slot_and_folds_its_counters(void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;
	pthread_t th;
	void *ret;

	assert_int_equal(fc_set(c, "hit", 3, "v", 1, 0), FC_OK);
	assert_int_equal(pthread_create(&th, NULL, reader_thread, c), 0);
	assert_int_equal(pthread_join(th, &ret), 0);
	assert_null(ret);

	assert_int_equal(h->hd_slots_hwm, 1);
	assert_int_equal(c->slots[0].rs_owner, owner_word(1, 0)); /* gen kept */
	assert_int_equal(c->slots[0].rs_hits, 0);
	assert_int_equal(c->slots[0].rs_misses, 0);
	assert_int_equal(c->slots[0].rs_epoch, 0);
	assert_int_equal(h->hd_folded_hits, 2);
	assert_int_equal(h->hd_folded_misses, 3);
	fc_stats st = fc_test_stats(c);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.misses, 3);
	assert_int_equal(st.readers_live, 0);
	fc_test_verify(c);
}

static void
closing_a_handle_releases_its_slot_and_folds_its_counters(void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;
	fc_cache *c2 = NULL;

	assert_int_equal(fc_set(c, "hit", 3, "v", 1, 0), FC_OK);
	assert_int_equal(fc_open(fc_test_cur_name(), NULL, &c2), FC_OK);
	assert_int_equal(get_key(c2, "hit"), FC_OK);
	assert_int_equal(get_key(c2, "nope"), FC_ENOTFOUND);
	assert_int_equal(get_key(c2, "nope"), FC_ENOTFOUND);
	unsigned i = slot_of(c, getpid());
	assert_int_equal(c->slots[i].rs_hits, 1);
	assert_int_equal(c->slots[i].rs_misses, 2);
	assert_int_equal(h->hd_folded_hits, 0);
	assert_int_equal(fc_test_stats(c).hits, 1); /* counted from the slot */

	assert_int_equal(fc_close(c2), FC_OK);
	assert_int_equal((uint32_t)c->slots[i].rs_owner, 0);
	assert_int_equal(c->slots[i].rs_owner >> 32, 1);
	assert_int_equal(c->slots[i].rs_hits, 0);
	assert_int_equal(h->hd_folded_hits, 1);
	assert_int_equal(h->hd_folded_misses, 2);
	fc_stats st = fc_test_stats(c);
	assert_int_equal(st.hits, 1); /* now from the folded total */
	assert_int_equal(st.misses, 2);
	fc_test_verify(c);
}

/* ------------------------------------------------------------ dead slots -- */

static int
child_reads_and_exits_without_close(void *arg)
{
	fc_cache *c = arg;

	FC_CHILD_CHECK_RC(get_key(c, "k"), FC_OK);
	FC_CHILD_CHECK_RC(get_key(c, "x"), FC_ENOTFOUND);
	FC_CHILD_CHECK_RC(get_key(c, "y"), FC_ENOTFOUND);
	return 0; /* _exit: no fc_close, no key destructors */
}

static void
slot_of_an_exited_child_is_dead_and_reaped_with_its_counters_folded(
	void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;
	fc_slot_info si;

	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	pid_t pid = fc_test_spawn(child_reads_and_exits_without_close, c);
	fc_test_assert_exit(pid, 0); /* waited: not a zombie any more */

	unsigned i = slot_of(c, pid);
	assert_int_equal(fc_slot_stat(c, i, &si), FC_OK);
	assert_int_equal(si.state, FC_SLOT_DEAD);
	assert_int_equal(si.pid, (uint32_t)pid);
	assert_int_equal(si.hits, 1);
	assert_int_equal(si.misses, 2);
	fc_stats st = fc_test_stats(c);
	assert_int_equal(st.readers_dead, 1);
	assert_int_equal(st.hits, 1);

	assert_int_equal(fc_reap(c), 1);
	assert_int_equal(fc_slot_stat(c, i, &si), FC_OK);
	assert_int_equal(si.state, FC_SLOT_FREE);
	assert_int_equal(si.hits, 0);
	assert_int_equal(c->slots[i].rs_owner, owner_word(1, 0));
	assert_int_equal(h->hd_folded_hits, 1);
	assert_int_equal(h->hd_folded_misses, 2);
	st = fc_test_stats(c);
	assert_int_equal(st.readers_dead, 0);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 2);
	assert_int_equal(fc_reap(c), 0); /* nothing left */
	fc_test_verify(c);
}

static int
child_dies_inside_a_read(void *arg)
{
	fc_cache *c = arg;
	int err = FC_OK, outer;

	FC_CHILD_CHECK(fc__read_enter(c, &err, &outer) != NULL);
	return 0; /* exits with its slot's epoch set */
}

static void
dead_reader_inside_a_read_holds_limbo_until_it_is_reaped(void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;

	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	uint64_t e = h->hd_epoch;
	pid_t pid = fc_test_spawn(child_dies_inside_a_read, c);
	fc_test_assert_exit(pid, 0);
	unsigned i = slot_of(c, pid);
	assert_int_equal(c->slots[i].rs_epoch, e);

	assert_int_equal(fc_delete(c, "k", 1), FC_OK); /* limbo, stamped e */
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__min_active_epoch(c), e);
	/* R1: a dead reader's epoch still counts until it is reaped. */
	assert_int_equal(fc__reclaim_locked(c), 0);
	assert_int_equal(h->hd_limbo_tail - h->hd_limbo_head, 1);
	assert_int_equal(fc__reap(c), 1);
	assert_int_equal(c->slots[i].rs_epoch, 0);
	assert_int_equal(fc__min_active_epoch(c), UINT64_MAX);
	assert_int_equal(fc__reclaim_locked(c), 1);
	assert_int_equal(h->hd_limbo_tail, h->hd_limbo_head);
	fc__unlock(c);
	fc_test_verify(c);
}

static void
slot_is_live_exactly_while_its_byte_is_locked(void **state)
{
	fc_cache *c = *state;
	fc_slot_info si;
	const unsigned unlocked = 5, held = 6, init = 7;

	/* Our own (live) pid, byte free: dead (what pid reuse looks like). */
	c->slots[unlocked].rs_owner = owner_word(3, getpid());
	c->slots[unlocked].rs_hits = 4;
	/* Any pid, byte held: live, whatever /proc says about the pid. */
	c->slots[held].rs_owner = owner_word(3, 999999);
	int fd = hold_byte(c, held);
	/* pid 1 (alive in every namespace), byte free: dead. */
	c->slots[init].rs_owner = owner_word(3, 1);

	assert_int_equal(fc_slot_stat(c, unlocked, &si), FC_OK);
	assert_int_equal(si.state, FC_SLOT_DEAD);
	assert_int_equal(si.pid, (uint32_t)getpid());
	assert_int_equal(fc_slot_stat(c, held, &si), FC_OK);
	assert_int_equal(si.state, FC_SLOT_LIVE);
	assert_int_equal(fc_slot_stat(c, init, &si), FC_OK);
	assert_int_equal(si.state, FC_SLOT_DEAD);

	assert_int_equal(fc_reap(c), 2);
	assert_int_equal(c->slots[unlocked].rs_owner, owner_word(3, 0));
	assert_int_equal(c->slots[init].rs_owner, owner_word(3, 0));
	assert_int_equal(c->hdr->hd_folded_hits, 4);
	assert_int_equal(c->slots[held].rs_owner, owner_word(3, 999999));
	close(fd); /* the owner dies */
	assert_int_equal(fc_slot_stat(c, held, &si), FC_OK);
	assert_int_equal(si.state, FC_SLOT_DEAD);
	assert_int_equal(fc_reap(c), 1);
	assert_int_equal(c->slots[held].rs_owner, owner_word(3, 0));
	fc_test_verify(c);
}

static void
slot_of_an_exited_pid_is_dead(void **state)
{
	fc_cache *c = *state;
	fc_slot_info si;
	pid_t pid = fc_test_fork();

	if (pid == 0)
		_exit(0);
	fc_test_assert_exit(pid, 0);
	c->slots[2].rs_owner = owner_word(1, pid);
	assert_int_equal(fc_slot_stat(c, 2, &si), FC_OK);
	assert_int_equal(si.state, FC_SLOT_DEAD);
	assert_int_equal(fc_reap(c), 1);
	assert_int_equal(c->slots[2].rs_owner, owner_word(1, 0));
	fc_test_verify(c);
}

/* ---------------------------------------------------------------- epochs -- */

static void
min_active_epoch_ignores_idle_slots_and_slots_above_the_mark(void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;

	fc__faa_sc(&h->hd_epoch, 10); /* epoch 11 */
	/* Nobody inside a read. */
	assert_int_equal(fc__min_active_epoch(c), UINT64_MAX);
	c->slots[0].rs_epoch = 0;
	c->slots[1].rs_epoch = 9;
	c->slots[2].rs_epoch = 7;
	c->slots[3].rs_epoch = 0;
	c->slots[4].rs_epoch = 3; /* above the mark: not scanned */
	h->hd_slots_hwm = 4;
	assert_int_equal(fc__min_active_epoch(c), 7);
	c->slots[2].rs_epoch = 0;
	assert_int_equal(fc__min_active_epoch(c), 9);
	c->slots[1].rs_epoch = 0;
	assert_int_equal(fc__min_active_epoch(c), UINT64_MAX);
	h->hd_slots_hwm = 5;
	assert_int_equal(fc__min_active_epoch(c), 3);
	h->hd_slots_hwm = 1000; /* damaged mark: clamped to the table */
	assert_int_equal(fc__min_active_epoch(c), 3);
	c->slots[4].rs_epoch = 0;
	h->hd_slots_hwm = 5;
	fc_test_verify(c);
}

static struct item_shm *
item_of(fc_cache *c, const char *key)
{
	struct fc_probe p;

	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(
		fc__index_probe_locked(c, fc__hash(c, key, strlen(key)), key,
				       strlen(key), fc__now_ms(), &p),
		FC_OK);
	fc__unlock(c);
	assert_non_null(p.it);
	return p.it;
}

static uint64_t
reclaim(fc_cache *c)
{
	assert_int_equal(fc__lock(c), FC_OK);
	uint64_t n = fc__reclaim_locked(c);
	fc__unlock(c);
	return n;
}

static void
reclaim_frees_limbo_stamped_below_the_oldest_reader_and_keeps_the_rest(
	void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;
	int err = FC_OK, outer;
	const char *keys[3] = {"k0", "k1", "k2"};
	struct item_shm *it[3];

	for (int i = 0; i < 3; i++) {
		assert_int_equal(fc_set(c, keys[i], 2, "v", 1, 0), FC_OK);
		it[i] = item_of(c, keys[i]);
	}
	struct fc_tls *t = fc__read_enter(c, &err, &outer); /* claim our slot */
	assert_non_null(t);
	fc__read_exit(t, outer);
	struct slot_shm *s = t->slot;
	uint64_t e = h->hd_epoch, head = h->hd_limbo_head;

	/* Retire k0 at e, k1 at e+1, k2 at e+2, a reader holding e. */
	fc__st_rel(&s->rs_epoch, e);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(fc_delete(c, keys[i], 2), FC_OK);
		assert_int_equal(reclaim(c), 0);
		assert_int_equal(h->hd_epoch, e + 1 + (uint64_t)i);
	}
	assert_int_equal(h->hd_limbo_tail - head, 3);
	for (uint64_t n = 0; n < 3; n++) {
		struct limbo_shm *l = &c->limbo[(head + n) % c->g.limbo_cap];
		assert_int_equal(l->lb_off, fc__off_of(c, it[n]));
		assert_int_equal(l->lb_epoch, e + n); /* R4: nondecreasing */
	}
	unsigned cls = fc_test_item_class(c, it[0]);
	assert_int_equal(h->hd_class[cls].cl_limbo, 3);

	/* The reader moves to e+1: only k0 (stamped e < e+1) is freed; k1,
	 * stamped exactly e+1, is kept (R1: e+1 <= e+1). */
	fc__st_rel(&s->rs_epoch, e + 1);
	assert_int_equal(reclaim(c), 1);
	assert_int_equal(h->hd_limbo_head, head + 1);
	assert_int_equal(fc__item_state(it[0]), FC_IT_FREE);
	assert_int_equal(h->hd_class[cls].cl_free, fc__off_of(c, it[0]));
	assert_int_equal(fc__item_state(it[1]), FC_IT_LIMBO);
	assert_int_equal(fc__item_state(it[2]), FC_IT_LIMBO);
	assert_int_equal(h->hd_class[cls].cl_limbo, 2);
	fc_test_verify(c);

	/* Idle: everything goes. */
	fc__st_rel(&s->rs_epoch, 0);
	assert_int_equal(reclaim(c), 2);
	assert_int_equal(h->hd_limbo_head, h->hd_limbo_tail);
	assert_int_equal(fc__item_state(it[1]), FC_IT_FREE);
	assert_int_equal(fc__item_state(it[2]), FC_IT_FREE);
	assert_int_equal(h->hd_class[cls].cl_limbo, 0);
	fc_test_verify(c);
}

static void
reclaim_with_nothing_to_do_leaves_the_epoch_alone(void **state)
{
	fc_cache *c = *state;
	uint64_t e = c->hdr->hd_epoch;

	assert_int_equal(c->hdr->hd_limbo_tail, c->hdr->hd_limbo_head);
	assert_int_equal(c->hdr->hd_spare_epoch, 0);
	assert_int_equal(reclaim(c), 0);
	assert_int_equal(c->hdr->hd_epoch, e);
	fc_test_verify(c);
}

static void
nested_read_sections_keep_the_outer_epoch_until_the_outermost_exit(void **state)
{
	fc_cache *c = *state;
	struct hdr_shm *h = c->hdr;
	int err = FC_OK, outer, inner;

	uint64_t e = h->hd_epoch;
	struct fc_tls *t = fc__read_enter(c, &err, &outer);
	assert_non_null(t);
	assert_true(outer);
	struct slot_shm *s = t->slot;
	assert_int_equal(s->rs_epoch, e);

	fc__faa_sc(&h->hd_epoch, 1); /* a writer advances meanwhile */
	struct fc_tls *t2 = fc__read_enter(c, &err, &inner);
	assert_ptr_equal(t2, t);
	assert_false(inner);
	assert_int_equal(s->rs_epoch, e); /* not the newer epoch */
	fc__read_exit(t2, inner);
	assert_int_equal(s->rs_epoch, e); /* still inside the outer read */
	fc__read_exit(t, outer);
	assert_int_equal(s->rs_epoch, 0);

	t = fc__read_enter(c, &err, &outer); /* a new section takes the new epoch */
	assert_int_equal(s->rs_epoch, e + 1);
	fc__read_exit(t, outer);
	assert_int_equal(s->rs_epoch, 0);
	fc_test_verify(c);
}

static void
slot_taken_from_a_reader_makes_it_claim_anew(void **state)
{
	fc_cache *c = *state;
	int err = FC_OK, outer;

	struct fc_tls *t = fc__read_enter(c, &err, &outer);
	assert_non_null(t);
	fc__read_exit(t, outer);
	struct slot_shm *s = t->slot;
	/* A reset (or a damaged segment) gives our slot to someone else. */
	uint64_t theirs = owner_word(77, 4242);
	s->rs_owner = theirs;
	t = fc__read_enter(c, &err, &outer);
	assert_non_null(t);
	assert_ptr_not_equal(t->slot, s); /* never reads under their slot */
	assert_int_equal(t->slot->rs_owner & 0xffffffffu, (uint32_t)getpid());
	assert_int_equal(s->rs_epoch, 0);
	fc__read_exit(t, outer);
	assert_int_equal(s->rs_owner, theirs);
	s->rs_owner = owner_word(77, 0);
	fc_test_verify(c);
}

/* ------------------------------------------- the read path's cache -- */

static struct slot_shm *
my_slot(fc_cache *c)
{
	int err = FC_OK;
	struct fc_tls *t = fc__tls_self(c, &err);

	assert_non_null(t);
	return t->slot;
}

static void
reads_through_two_handles_in_one_thread_use_each_handles_slot(void **state)
{
	fc_cache *c = *state, *c2 = NULL;

	assert_int_equal(fc_set(c, "hit", 3, "v", 1, 0), FC_OK);
	assert_int_equal(fc_open(fc_test_cur_name(), NULL, &c2), FC_OK);
	/* Alternate, so the one-word cache changes handle on every call. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(get_key(c, "hit"), FC_OK);
		assert_int_equal(get_key(c2, "nope"), FC_ENOTFOUND);
		assert_int_equal(get_key(c2, "nope"), FC_ENOTFOUND);
	}
	struct slot_shm *s = my_slot(c), *s2 = my_slot(c2);
	assert_int_not_equal(s - c->slots, s2 - c2->slots);
	assert_int_equal(s->rs_hits, 3);
	assert_int_equal(s->rs_misses, 0);
	assert_int_equal(s2->rs_hits, 0);
	assert_int_equal(s2->rs_misses, 6);
	assert_int_equal(fc_close(c2), FC_OK);
	/* The closed handle's record is free; reads through c go on. */
	assert_int_equal(get_key(c, "hit"), FC_OK);
	assert_int_equal(my_slot(c)->rs_hits, 4);
	fc_test_verify(c);
}

struct stale {
	fc_cache *c, *c1;
	pthread_barrier_t step;
	struct fc_tls *old;         /* its record for c1 */
	struct slot_shm *slot;      /* its slot for c after its last read */
	int rc1, rc;
};

static void *
stale_thread(void *arg)
{
	struct stale *st = arg;
	int err = FC_OK;

	st->rc1 = get_key(st->c1, "hit"); /* the cache now names this record */
	st->old = fc__tls_self(st->c1, &err);
	pthread_barrier_wait(&st->step);
	pthread_barrier_wait(&st->step); /* c1 closed; its record recycled */
	st->rc = get_key(st->c, "hit");
	st->slot = fc__tls_self(st->c, &err)->slot;
	pthread_barrier_wait(&st->step);
	pthread_barrier_wait(&st->step); /* exit releases the slot: not yet */
	return NULL;
}

/*
 * A thread's cache still names its record of a handle that another thread
 * closed; the main thread then takes that very record for the fixture's
 * handle. The first thread's next read through that handle finds its cache
 * pointing at a record with the right handle id but the main thread's
 * token: it must claim a slot of its own, not read under (and count into)
 * the main thread's.
 */
static void
a_record_recycled_for_another_thread_is_not_taken_for_ours(void **state)
{
	fc_cache *c = *state;
	struct stale st = {.c = c};
	pthread_t th;
	int err = FC_OK;

	assert_int_equal(fc_set(c, "hit", 3, "v", 1, 0), FC_OK);
	assert_int_equal(fc_open(fc_test_cur_name(), NULL, &st.c1), FC_OK);
	assert_int_equal(pthread_barrier_init(&st.step, NULL, 2), 0);
	assert_int_equal(pthread_create(&th, NULL, stale_thread, &st), 0);
	pthread_barrier_wait(&st.step);
	assert_int_equal(st.rc1, FC_OK);
	assert_int_equal(fc_close(st.c1), FC_OK); /* its record freed */

	assert_int_equal(get_key(c, "hit"), FC_OK); /* our first read on c */
	struct fc_tls *mine = fc__tls_self(c, &err);
	assert_ptr_equal(mine, st.old); /* recycled: the case under test */
	assert_int_equal(mine->id, c->tls_id);

	pthread_barrier_wait(&st.step);
	pthread_barrier_wait(&st.step); /* it has read through c */
	assert_int_equal(st.rc, FC_OK);
	assert_ptr_not_equal(st.slot, mine->slot);
	assert_int_equal(mine->slot->rs_hits, 1);
	assert_int_equal(st.slot->rs_hits, 1);
	pthread_barrier_wait(&st.step);
	assert_int_equal(pthread_join(th, NULL), 0);
	pthread_barrier_destroy(&st.step);
	fc_test_verify(c);
}

static int
child_reads_twice(void *arg)
{
	fc_cache *c = arg;

	FC_CHILD_CHECK_RC(get_key(c, "hit"), FC_OK);
	FC_CHILD_CHECK_RC(get_key(c, "nope"), FC_ENOTFOUND);
	return 0; /* _exit: its slot stays, dead, with its counters */
}

/* The forking thread's cache names the parent's record (the parent's
 * slot, still owned by the live parent): the child's reads must claim a
 * slot of their own, and leave the parent's slot and counters alone. */
static void
a_child_forked_after_a_read_claims_its_own_slot(void **state)
{
	fc_cache *c = *state;

	assert_int_equal(fc_set(c, "hit", 3, "v", 1, 0), FC_OK);
	assert_int_equal(get_key(c, "hit"), FC_OK); /* our cache names our record */
	unsigned mine = slot_of(c, getpid());
	pid_t pid = fc_test_spawn(child_reads_twice, c);
	fc_test_assert_exit(pid, 0);
	unsigned theirs = slot_of(c, pid);
	assert_int_not_equal(theirs, mine);
	assert_int_equal(c->slots[theirs].rs_hits, 1);
	assert_int_equal(c->slots[theirs].rs_misses, 1);
	assert_int_equal(c->slots[mine].rs_hits, 1);
	assert_int_equal(c->slots[mine].rs_misses, 0);
	assert_int_equal(get_key(c, "hit"), FC_OK); /* ours is still ours */
	assert_int_equal(c->slots[mine].rs_hits, 2);
	assert_int_equal(fc_reap(c), 1);
	fc_test_verify(c);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
	const struct CMUnitTest tests[] = {
		T(first_read_claims_a_slot_with_the_next_generation_and_our_pid),
		T(claim_skips_owned_slots_and_raises_the_high_water_mark),
		T(thread_exit_releases_its_slot_and_folds_its_counters),
		T(closing_a_handle_releases_its_slot_and_folds_its_counters),
		T(slot_of_an_exited_child_is_dead_and_reaped_with_its_counters_folded),
		T(dead_reader_inside_a_read_holds_limbo_until_it_is_reaped),
		T(slot_is_live_exactly_while_its_byte_is_locked),
		T(slot_of_an_exited_pid_is_dead),
		T(min_active_epoch_ignores_idle_slots_and_slots_above_the_mark),
		T(reclaim_frees_limbo_stamped_below_the_oldest_reader_and_keeps_the_rest),
		T(reclaim_with_nothing_to_do_leaves_the_epoch_alone),
		T(nested_read_sections_keep_the_outer_epoch_until_the_outermost_exit),
		T(slot_taken_from_a_reader_makes_it_claim_anew),
		T(reads_through_two_handles_in_one_thread_use_each_handles_slot),
		T(a_record_recycled_for_another_thread_is_not_taken_for_ours),
		T(a_child_forked_after_a_read_claims_its_own_slot),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
