/* tests/mp/test_concurrent_procs.c - several processes set, get, delete and
 * cas overlapping keys at once; every value read must be one whole value
 * written for that key (self-verifying values). */
#include "fc_test.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define ITERS 8000
#else
#define ITERS 40000
#endif
#define NPROC 4

static void
run_procs(fc_cache *c, unsigned nkeys, size_t vmax, int own_handle,
	  unsigned flush_every)
{
	fc_mix_args *args =
		fc_test_shared_alloc(sizeof(fc_mix_args) * (NPROC + 1));
	pid_t pids[NPROC];
	uint64_t seed = fc_test_seed();
	unsigned char *buf = malloc(vmax);
	fc_stats st;
	int rc;

	assert_non_null(buf);
	for (unsigned n = 0; n <= NPROC; n++) {
		fc_mix_args *a = &args[n];

		a->c = c;
		a->writer = n;
		a->iters = ITERS;
		a->nkeys = nkeys;
		a->vmax = vmax;
		a->seed = seed;
		a->open_own = own_handle && n > 0;
		a->flush_every = n == 1 ? flush_every : 0;
		a->name = fc_test_cur_name();
	}
	for (unsigned n = 1; n <= NPROC; n++) {
		pids[n - 1] = fc_test_fork();
		if (pids[n - 1] == 0)
			_exit(fc_mix_run(&args[n]));
	}
	/* the parent takes part as worker 0 */
	rc = fc_mix_run(&args[0]);
	for (unsigned n = 0; n < NPROC; n++)
		fc_test_assert_exit(pids[n], 0);
	assert_int_equal(rc, 0);
	for (unsigned n = 0; n <= NPROC; n++) {
		fc_mix_args *a = &args[n];

		print_message("worker %u: gets %" PRIu64 " hits %" PRIu64
			      " sets %" PRIu64 " deletes %" PRIu64
			      " cas %" PRIu64 " iter %" PRIu64 "\n",
			      n, a->gets, a->hits, a->sets, a->deletes,
			      a->cas_ok, a->iter_items);
		assert_int_equal(a->bad_values, 0);
		assert_int_equal(a->errors, 0);
		assert_true(a->sets > 0);
		assert_true(a->hits > 0);
	}
	/* afterwards: every key holds a whole value or nothing */
	for (unsigned i = 0; i < nkeys; i++) {
		char key[32];
		size_t kl = fc_test_key(key, sizeof key, "mk:", i);
		size_t len = vmax;

		rc = fc_get(c, key, kl, buf, &len);
		if (rc == FC_OK)
			assert_int_equal(fc_test_value_check(buf, len, key, kl,
							     NULL, NULL),
					 0);
		else
			assert_int_equal(rc, FC_ENOTFOUND);
	}
	fc_test_verify(c);
	rc = fc_reap(c);
	assert_true(rc >= 0);
	st = fc_test_stats(c);
	assert_int_equal(st.readers_dead, 0);
	assert_int_equal(st.readers_active, 0);
	assert_int_equal(st.repairs, 0);
	print_message("items %" PRIu64 " evictions %" PRIu64 " limbo %" PRIu64
		      " rebuilds %" PRIu64 " reclaim_waits %" PRIu64 "\n",
		      st.items, st.evictions, st.limbo, st.index_rebuilds,
		      st.reclaim_waits);
	free(buf);
	fc_test_shared_free(args, sizeof(fc_mix_args) * (NPROC + 1));
}

static void
processes_share_an_inherited_handle_without_torn_values(void **state)
{
	run_procs(*state, 256, 4096, 0, 0);
}

static void
processes_with_their_own_handles_without_torn_values(void **state)
{
	run_procs(*state, 256, 4096, 1, 0);
}

static void
processes_under_eviction_pressure_without_torn_values(void **state)
{
	fc_options o;
	fc_cache *c;

	fc_test_default_options(&o);
	o.segment_bytes = 4u << 20;
	c = fc_test_create(&o);
	run_procs(c, 4096, 16384, 0, 0);
	assert_true(fc_test_stats(c).evictions > 0);
	fc_test_destroy(c);
}

static void
processes_with_a_flushing_writer_see_no_torn_values(void **state)
{
	run_procs(*state, 256, 4096, 0, 997);
}

static void
counter_updates_from_many_processes_are_not_lost(void **state)
{
	enum { PER = ITERS / 20 };
	fc_cache *c = *state;
	pid_t pids[NPROC];
	char buf[32];
	size_t len = sizeof buf;

	assert_int_equal(fc_set(c, "ctr", 3, "0", 1, 0), FC_OK);
	for (unsigned n = 0; n < NPROC; n++) {
		pids[n] = fc_test_fork();
		if (pids[n] == 0)
			_exit(fc_mix_count(c, "ctr", PER) == 0
				      ? 0
				      : FC_TEST_CHILD_FAIL);
	}
	assert_int_equal(fc_mix_count(c, "ctr", PER), 0);
	for (unsigned n = 0; n < NPROC; n++)
		fc_test_assert_exit(pids[n], 0);
	assert_int_equal(fc_get(c, "ctr", 3, buf, &len), FC_OK);
	buf[len] = '\0';
	assert_int_equal(strtoull(buf, NULL, 10), (NPROC + 1) * PER);
	fc_test_verify(c);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
	const struct CMUnitTest tests[] = {
		T(processes_share_an_inherited_handle_without_torn_values),
		T(processes_with_their_own_handles_without_torn_values),
		cmocka_unit_test(
			processes_under_eviction_pressure_without_torn_values),
		T(processes_with_a_flushing_writer_see_no_torn_values),
		T(counter_updates_from_many_processes_are_not_lost),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
