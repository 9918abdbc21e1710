/*
 * tests/fault/test_reader_kill.c - readers SIGKILLed inside a read (fault
 * point read.inside) or at random: their slots are seen dead, reaped by
 * fc_reap or by writers, and memory reuse goes on.
 */
#include "fc_test.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fault.h"

#define NKEYS 64u

static void
prefill(fc_cache *c)
{
	unsigned char val[256];
	char key[32];

	for (unsigned i = 0; i < NKEYS; i++) {
		size_t kl = fc_test_key(key, sizeof key, "k:", i);

		fc_test_value_make(val, 200, key, kl, 0, 0);
		assert_int_equal(fc_set(c, key, kl, val, 200, 0), FC_OK);
	}
}

/* Fork a child that dies of SIGKILL inside its first fc_get of k:0. */
static pid_t
kill_reader_inside_get(fc_cache *c)
{
	pid_t pid = fc_test_fork();

	if (pid == 0) {
		unsigned char buf[256];
		size_t len = sizeof buf;

		FC_CHILD_CHECK_RC(
			fc__fault_arm("read.inside", 1, FC__FAULT_KILL), FC_OK);
		(void)fc_get(c, "k:0", 3, buf, &len);
		_exit(FC_TEST_CHILD_NOTREACHED);
	}
	fc_test_assert_killed(pid, SIGKILL, "read.inside");
	return pid;
}

/* Replace keys many times (every replace retires a chunk that needs a
 * grace period before reuse); assert all succeed and limbo stays bounded. */
static void
replace_many(fc_cache *c, unsigned n, uint64_t limbo_bound)
{
	unsigned char val[256], buf[256];
	char key[32];
	uint64_t max_limbo = 0;

	for (unsigned i = 0; i < n; i++) {
		size_t kl = fc_test_key(key, sizeof key, "k:", i % NKEYS);
		size_t len = sizeof buf;
		int rc;

		fc_test_value_make(val, 200, key, kl, 1, i);
		rc = fc_set(c, key, kl, val, 200, 0);
		if (rc != FC_OK)
			fail_msg("replacing set %u with a dead reader: %s", i,
				 fc_errname(rc));
		if (i % 1000 == 0) {
			fc_stats st = fc_test_stats(c);

			if (st.limbo > max_limbo)
				max_limbo = st.limbo;
		}
		assert_int_equal(fc_get(c, key, kl, buf, &len), FC_OK);
		assert_int_equal(
			fc_test_value_check(buf, len, key, kl, NULL, NULL), 0);
	}
	print_message("max limbo %" PRIu64 " over %u replacing sets\n",
		      max_limbo, n);
	if (max_limbo > limbo_bound)
		fail_msg("limbo grew to %" PRIu64 " (bound %" PRIu64 ")",
			 max_limbo, limbo_bound);
	assert_true(fc_test_stats(c).limbo <= limbo_bound);
}

static void
reader_killed_inside_a_read_is_seen_dead_and_reaped(void **state)
{
	fc_cache *c = *state;
	fc_stats st;
	fc_slot_info si;
	pid_t pid;
	unsigned found = 0;

	prefill(c);
	pid = kill_reader_inside_get(c);
	st = fc_test_stats(c);
	assert_int_equal(st.readers_dead, 1);
	for (unsigned s = 0; s < st.reader_slots; s++) {
		assert_int_equal(fc_slot_stat(c, s, &si), FC_OK);
		if (si.pid != (uint32_t)pid)
			continue;
		found++;
		assert_int_equal(si.state, FC_SLOT_DEAD);
		assert_true(si.epoch != 0); /* died inside its read */
	}
	assert_int_equal(found, 1);
	assert_int_equal(fc_reap(c), 1);
	st = fc_test_stats(c);
	assert_int_equal(st.readers_dead, 0);
	assert_int_equal(fc_reap(c), 0);
	replace_many(c, 20000, 4096);
	fc_test_verify(c);
}

static void
writers_reap_a_dead_reader_that_holds_back_memory(void **state)
{
	fc_options o;
	fc_cache *c;
	fc_stats st;

	/* small: the replaced chunks must be reused soon */
	fc_test_default_options(&o);
	o.segment_bytes = 1u << 20;
	c = fc_test_create(&o);
	prefill(c);
	kill_reader_inside_get(c);
	assert_int_equal(fc_test_stats(c).readers_dead, 1);
	/* no fc_reap: writers must deal with the dead slot themselves */
	replace_many(c, 20000, 4096);
	st = fc_test_stats(c);
	assert_int_equal(st.readers_dead, 0);
	fc_test_verify(c);
	fc_test_destroy(c);
}

static void
several_readers_killed_inside_reads_are_all_reaped(void **state)
{
	fc_cache *c = *state;

	prefill(c);
	for (int i = 0; i < 5; i++)
		kill_reader_inside_get(c);
	assert_int_equal(fc_test_stats(c).readers_dead, 5);
	assert_int_equal(fc_reap(c), 5);
	assert_int_equal(fc_test_stats(c).readers_dead, 0);
	replace_many(c, 5000, 4096);
	fc_test_verify(c);
}

struct read_once {
	fc_cache *c;
	int rc;
};

static void *
read_once_main(void *arg)
{
	struct read_once *r = arg;
	unsigned char buf[256];
	size_t len = sizeof buf;

	r->rc = fc_get(r->c, "k:1", 3, buf, &len);
	return NULL;
}

static void
full_slot_table_with_a_dead_reader_frees_up_after_a_write(void **state)
{
	fc_options o;
	fc_cache *c;
	struct read_once r = {0};
	pthread_t th;
	unsigned char buf[256];
	size_t len = sizeof buf;

	fc_test_default_options(&o);
	o.reader_slots = 2;
	c = fc_test_create(&o);
	prefill(c);
	assert_int_equal(fc_get(c, "k:1", 3, buf, &len), FC_OK); /* slot 1 */
	kill_reader_inside_get(c); /* slot 2 */
	assert_int_equal(fc_test_stats(c).readers_dead, 1);
	r.c = c;
	assert_int_equal(pthread_create(&th, NULL, read_once_main, &r), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	/* a reader may reap the dead slot itself or report the full table */
	assert_true(r.rc == FC_OK || r.rc == FC_EBUSY);
	/* "Writers also [reap] by themselves when ... the slot table is
	 * full": after a write a new thread gets a slot */
	assert_int_equal(fc_set(c, "k:2", 3, "x", 1, 0), FC_OK);
	assert_int_equal(pthread_create(&th, NULL, read_once_main, &r), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(r.rc, FC_OK);
	assert_int_equal(fc_test_stats(c).readers_dead, 0);
	fc_test_verify(c);
	fc_test_destroy(c);
}

static void
readers_killed_at_random_times_leave_a_working_cache(void **state)
{
	enum { NCHILD = 3,
	       ROUNDS = 8 };
	fc_cache *c = *state;
	fc_test_rng r;
	int reaped = 0;

	prefill(c);
	fc_test_rng_init(&r, fc_test_seed());
	for (int round = 0; round < ROUNDS; round++) {
		pid_t pids[NCHILD];
		struct timespec ts = {0, 0};

		for (int n = 0; n < NCHILD; n++) {
			pids[n] = fc_test_fork();
			if (pids[n] == 0) {
				unsigned char buf[256], val[256];
				char key[32];

				for (unsigned i = 0;; i++) {
					size_t kl =
						fc_test_key(key, sizeof key,
							    "k:", i % NKEYS);
					size_t len = sizeof buf;
					int rc;

					if (n == 0 && i % 16 == 0) {
						/* one child also writes */
						fc_test_value_make(val, 200,
								   key, kl, 9,
								   i);
						rc = fc_set(c, key, kl, val,
							    200, 0);
						FC_CHILD_CHECK_RC(rc, FC_OK);
						continue;
					}
					rc = fc_get(c, key, kl, buf, &len);
					FC_CHILD_CHECK_RC(rc, FC_OK);
					FC_CHILD_CHECK(fc_test_value_check(
							       buf, len, key,
							       kl, NULL,
							       NULL) == 0);
				}
			}
		}
		ts.tv_nsec = (long)fc_test_rand_range(&r, 1, 3) * 1000000L;
		nanosleep(&ts, NULL);
		for (int n = 0; n < NCHILD; n++)
			kill(pids[n], SIGKILL);
		for (int n = 0; n < NCHILD; n++)
			fc_test_assert_killed(pids[n], SIGKILL,
					      "external SIGKILL");
		/* the writer child may have died holding the lock: the
		 * next write repairs */
		assert_int_equal(fc_set(c, "probe", 5, "p", 1, 0), FC_OK);
		{
			int n = fc_reap(c);

			assert_true(n >= 0 && n <= NCHILD);
			reaped += n;
		}
		assert_int_equal(fc_test_stats(c).readers_dead, 0);
		fc_test_verify(c);
	}
	print_message("reaped %d slots over %d rounds\n", reaped, ROUNDS);
	replace_many(c, 5000, 4096);
	/* the prefilled keys all hold whole values */
	for (unsigned i = 0; i < NKEYS; i++) {
		unsigned char buf[256];
		char key[32];
		size_t kl = fc_test_key(key, sizeof key, "k:", i), len = 256;

		assert_int_equal(fc_get(c, key, kl, buf, &len), FC_OK);
		assert_int_equal(
			fc_test_value_check(buf, len, key, kl, NULL, NULL), 0);
	}
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
	const struct CMUnitTest tests[] = {
		T(reader_killed_inside_a_read_is_seen_dead_and_reaped),
		cmocka_unit_test(
			writers_reap_a_dead_reader_that_holds_back_memory),
		T(several_readers_killed_inside_reads_are_all_reaped),
		cmocka_unit_test(
			full_slot_table_with_a_dead_reader_frees_up_after_a_write),
		T(readers_killed_at_random_times_leave_a_working_cache),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
