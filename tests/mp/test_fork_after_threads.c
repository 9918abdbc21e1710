/* tests/mp/test_fork_after_threads.c - a handle used from several threads
 * of the parent, then used in a forked child (single- and multi-threaded),
 * keeps working in both. */
#include "fc_test.h"

#include <pthread.h>
#include <string.h>

#if defined(__SANITIZE_THREAD__)
#define ITERS 2000
#else
#define ITERS 10000
#endif
#define NTHREAD 3

static void *
thread_main(void *arg)
{
	fc_mix_run(arg);
	return NULL;
}

static int
run_threads(fc_cache *c, uint32_t first_writer)
{
	fc_mix_args args[NTHREAD];
	pthread_t th[NTHREAD];
	int bad = 0;

	memset(args, 0, sizeof args);
	for (unsigned n = 0; n < NTHREAD; n++) {
		args[n].c = c;
		args[n].writer = first_writer + n;
		args[n].iters = ITERS;
		args[n].nkeys = 128;
		args[n].vmax = 2048;
		args[n].seed = fc_test_seed();
		if (pthread_create(&th[n], NULL, thread_main, &args[n]) != 0)
			return -1;
	}
	for (unsigned n = 0; n < NTHREAD; n++) {
		pthread_join(th[n], NULL);
		if (args[n].bad_values || args[n].errors || args[n].sets == 0)
			bad++;
	}
	return bad;
}

static void
handle_used_by_threads_then_forked_child_works(void **state)
{
	fc_cache *c = *state;
	unsigned char val[256], buf[256];
	pid_t pid;

	assert_int_equal(run_threads(c, 1), 0);
	fc_test_value_make(val, 100, "parent", 6, 99, 1);
	assert_int_equal(fc_set(c, "parent", 6, val, 100, 0), FC_OK);
	pid = fc_test_fork();
	if (pid == 0) {
		size_t len = sizeof buf;
		fc_mix_args a;

		FC_CHILD_CHECK_RC(fc_get(c, "parent", 6, buf, &len), FC_OK);
		FC_CHILD_CHECK(fc_test_value_check(buf, len, "parent", 6, NULL,
						   NULL) == 0);
		memset(&a, 0, sizeof a);
		a.c = c;
		a.writer = 50;
		a.iters = ITERS;
		a.nkeys = 128;
		a.vmax = 2048;
		a.seed = fc_test_seed() + 1;
		FC_CHILD_CHECK(fc_mix_run(&a) == 0);
		/* threads in the child, on the inherited handle */
		FC_CHILD_CHECK(run_threads(c, 60) == 0);
		fc_test_value_make(val, 120, "child", 5, 98, 2);
		FC_CHILD_CHECK_RC(fc_set(c, "child", 5, val, 120, 0), FC_OK);
		_exit(0);
	}
	fc_test_assert_exit(pid, 0);
	{
		size_t len = sizeof buf;
		uint32_t w = 0;

		assert_int_equal(fc_get(c, "child", 5, buf, &len), FC_OK);
		assert_int_equal(
			fc_test_value_check(buf, len, "child", 5, &w, NULL), 0);
		assert_int_equal(w, 98);
	}
	/* the parent's threads still work after the child is gone */
	assert_int_equal(run_threads(c, 10), 0);
	fc_test_verify(c);
	assert_true(fc_reap(c) >= 1);
	assert_int_equal(fc_test_stats(c).readers_dead, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			handle_used_by_threads_then_forked_child_works,
			fc_test_open, fc_test_close),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
