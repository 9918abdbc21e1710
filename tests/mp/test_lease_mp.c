/*
 * tests/mp/test_lease_mp.c - single-flight across processes and threads:
 * a herd of 16 processes on one cold key has exactly one leader and every
 * other member returns the leader's value; 8 processes fetching thousands
 * of keys in random orders through fc_get_or_compute compute each key
 * exactly once (a shared counter per key); the same two in threads (one
 * handle each) for TSan.
 */
#include "fc_test.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define HERD 16
#define WORKERS 8
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define NKEYS 1000u
#else
#define NKEYS 3000u
#endif
#define VLEN 64u

struct shared {
	uint32_t go; /* start flag: all members race from here */
	uint32_t computes; /* leader computations */
	uint32_t leaders, oks, bad; /* outcomes of the herd */
	uint32_t ready;
	uint32_t per_key[NKEYS]; /* computations of each key */
};

static struct shared *sh;

struct member {
	fc_cache *c; /* shared handle (processes) or NULL: open own */
	const char *name;
	unsigned id;
	int rc;
};

static fc_cache *
member_handle(struct member *m)
{
	fc_cache *c = m->c;

	if (!c) {
		fc_options o;
		fc_options_init(&o);
		if (fc_open(m->name, &o, &c) != FC_OK)
			return NULL;
	}
	return c;
}

/* One member of the herd; returns 0 when it saw what it must. */
static int
herd_member(struct member *m)
{
	fc_cache *c = member_handle(m);
	unsigned char want[VLEN], buf[VLEN];
	size_t n = sizeof buf;
	fc_lease l;

	if (!c)
		return 1;
	fc_test_value_make(want, VLEN, "cold", 4, 99, 1);
	__atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE))
		sched_yield();
	int rc = fc_lease_get(c, "cold", 4, buf, &n, 20000, &l);
	if (rc == FC_LEADER) {
		__atomic_add_fetch(&sh->leaders, 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&sh->computes, 1, __ATOMIC_SEQ_CST);
		/* "compute" until every other member is waiting (bounded) */
		uint64_t t0 = fc_test_mono_ns();
		for (;;) {
			fc_stats st;
			if (fc_stat(c, &st) != FC_OK)
				return 2;
			if (st.lease_waits >= HERD - 1 ||
			    fc_test_mono_ns() - t0 > 5000000000ull)
				break;
			usleep(1000);
		}
		rc = fc_lease_fill(c, &l, want, VLEN, 0);
		if (rc != FC_OK)
			return 3;
	} else if (rc == FC_OK) {
		if (n != VLEN || memcmp(buf, want, VLEN) != 0) {
			__atomic_add_fetch(&sh->bad, 1, __ATOMIC_SEQ_CST);
			return 4;
		}
		__atomic_add_fetch(&sh->oks, 1, __ATOMIC_SEQ_CST);
	} else {
		fprintf(stderr, "herd member %u: %s\n", m->id, fc_errname(rc));
		return 5;
	}
	if (!m->c)
		fc_close(c);
	return 0;
}

static void
check_herd(fc_cache *c)
{
	fc_stats st = fc_test_stats(c);

	print_message("herd: leaders=%u oks=%u computes=%u waits=%" PRIu64 "\n",
		      sh->leaders, sh->oks, sh->computes, st.lease_waits);
	assert_int_equal(sh->computes, 1);
	assert_int_equal(sh->leaders, 1);
	assert_int_equal(sh->oks, HERD - 1);
	assert_int_equal(sh->bad, 0);
	assert_int_equal(st.lease_grants, 1);
	assert_int_equal(st.lease_takeovers, 0);
	assert_int_equal(st.lease_timeouts, 0);
	assert_int_equal(st.leases_active, 0);
	fc_test_verify(c);
}

static int
herd_proc(void *arg)
{
	return herd_member(arg);
}

static void
herd_of_16_processes_has_one_leader_and_all_get_its_value(void **state)
{
	fc_cache *c = *state;
	struct member m[HERD];
	pid_t pids[HERD];

	sh = fc_test_shared_alloc(sizeof *sh);
	for (unsigned i = 0; i < HERD; i++) {
		m[i] = (struct member){.c = c, .id = i};
		pids[i] = fc_test_spawn(herd_proc, &m[i]);
	}
	while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < HERD)
		usleep(1000);
	__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < HERD; i++)
		fc_test_assert_exit(pids[i], 0);
	check_herd(c);
	fc_test_shared_free(sh, sizeof *sh);
}

static void *
herd_thread(void *arg)
{
	struct member *m = arg;

	m->rc = herd_member(m);
	return NULL;
}

static void
herd_of_16_threads_has_one_leader_and_all_get_its_value(void **state)
{
	fc_cache *c = *state;
	struct member m[HERD];
	pthread_t th[HERD];

	sh = fc_test_shared_alloc(sizeof *sh);
	for (unsigned i = 0; i < HERD; i++) {
		m[i] = (struct member){.c = NULL, .name = fc_test_cur_name(), .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, herd_thread, &m[i]), 0);
	}
	while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < HERD)
		usleep(1000);
	__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < HERD; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(m[i].rc, 0);
	}
	check_herd(c);
	fc_test_shared_free(sh, sizeof *sh);
}

/* ---- many keys, each computed once ---- */

static int
compute_key(void *arg, const void *key, size_t klen, void *buf, size_t *vlen)
{
	unsigned i = (unsigned)(uintptr_t)arg;

	__atomic_add_fetch(&sh->per_key[i], 1, __ATOMIC_SEQ_CST);
	usleep(100); /* a slow backend: others arrive meanwhile */
	fc_test_value_make(buf, VLEN, key, klen, 7, i);
	*vlen = VLEN;
	return FC_OK;
}

static int
many_keys_member(struct member *m)
{
	fc_cache *c = member_handle(m);
	unsigned *order = malloc(NKEYS * sizeof *order);
	fc_test_rng r;
	int bad = 0;

	if (!c || !order)
		return 1;
	__atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE))
		sched_yield();
	fc_test_rng_init(&r, fc_test_seed() + m->id);
	for (unsigned i = 0; i < NKEYS; i++)
		order[i] = i;
	/* Random order within blocks of 16 keys: the members move through
	 * the key space at about the same pace, so they collide on keys
	 * often (a global shuffle makes collisions rare). */
	for (unsigned b = 0; b < NKEYS; b += 16) {
		unsigned len = NKEYS - b < 16 ? NKEYS - b : 16;
		for (unsigned i = len - 1; i > 0; i--) { /* Fisher-Yates */
			unsigned j = (unsigned)fc_test_rand_range(&r, 0, i);
			unsigned t = order[b + i];
			order[b + i] = order[b + j];
			order[b + j] = t;
		}
	}
	for (unsigned k = 0; k < NKEYS && !bad; k++) {
		unsigned i = order[k];
		char key[32];
		unsigned char buf[VLEN];
		size_t kl = fc_test_key(key, sizeof key, "mk:", i), n = sizeof buf;
		uint64_t seq;
		int rc = fc_get_or_compute(c, key, kl, buf, &n, 20000, 0, compute_key,
					   (void *)(uintptr_t)i);
		if (rc != FC_OK || fc_test_value_check(buf, n, key, kl, NULL, &seq) != 0 ||
		    seq != i) {
			fprintf(stderr, "member %u key %u: %s\n", m->id, i, fc_errname(rc));
			bad = 1;
		}
	}
	free(order);
	if (!m->c)
		fc_close(c);
	return bad;
}

static void
check_many(fc_cache *c)
{
	unsigned twice = 0, never = 0;

	for (unsigned i = 0; i < NKEYS; i++) {
		if (sh->per_key[i] == 0)
			never++;
		else if (sh->per_key[i] > 1)
			twice++;
	}
	fc_stats st = fc_test_stats(c);
	print_message("many keys: %u keys, computed never %u, more than once %u, "
		      "waits %" PRIu64 " grants %" PRIu64 "\n",
		      NKEYS, never, twice, st.lease_waits, st.lease_grants);
	assert_int_equal(never, 0);
	assert_int_equal(twice, 0);
	assert_int_equal(st.lease_grants, NKEYS);
	assert_int_equal(st.lease_full, 0);
	assert_true(st.lease_waits > 0); /* the members did collide */
	assert_int_equal(st.leases_active, 0);
	fc_test_verify(c);
}

static int
many_proc(void *arg)
{
	return many_keys_member(arg);
}

static void
eight_processes_compute_each_of_thousands_of_keys_exactly_once(void **state)
{
	fc_cache *c = *state;
	struct member m[WORKERS];
	pid_t pids[WORKERS];

	sh = fc_test_shared_alloc(sizeof *sh);
	(void)fc_test_seed(); /* once, in the parent: children inherit it */
	for (unsigned i = 0; i < WORKERS; i++) {
		m[i] = (struct member){.c = c, .id = i};
		pids[i] = fc_test_spawn(many_proc, &m[i]);
	}
	while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < WORKERS)
		usleep(1000);
	__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < WORKERS; i++)
		fc_test_assert_exit(pids[i], 0);
	check_many(c);
	fc_test_shared_free(sh, sizeof *sh);
}

static void *
many_thread(void *arg)
{
	struct member *m = arg;

	m->rc = many_keys_member(m);
	return NULL;
}

static void
eight_threads_compute_each_of_thousands_of_keys_exactly_once(void **state)
{
	fc_cache *c = *state;
	struct member m[WORKERS];
	pthread_t th[WORKERS];

	sh = fc_test_shared_alloc(sizeof *sh);
	(void)fc_test_seed(); /* once, in the parent: children inherit it */
	for (unsigned i = 0; i < WORKERS; i++) {
		m[i] = (struct member){.c = NULL, .name = fc_test_cur_name(), .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, many_thread, &m[i]), 0);
	}
	while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < WORKERS)
		usleep(1000);
	__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < WORKERS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(m[i].rc, 0);
	}
	check_many(c);
	fc_test_shared_free(sh, sizeof *sh);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
		T(herd_of_16_processes_has_one_leader_and_all_get_its_value),
		T(herd_of_16_threads_has_one_leader_and_all_get_its_value),
		T(eight_processes_compute_each_of_thousands_of_keys_exactly_once),
		T(eight_threads_compute_each_of_thousands_of_keys_exactly_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
