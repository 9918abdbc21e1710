/*
 * test_8_fork_thread_churn.c - issue #8, finding 2: fork() while other
 * threads come and go (each takes a reader slot on its first read and
 * gives it back at exit, under the handle's process-local lock) must never
 * leave the child hung in its first fc_get() or in fc_close().
 *
 * The main thread forks up to FORKS times (bounded to ~10 s) while CHURN
 * threads are created, read and exit in a loop. Each child reads, closes
 * the inherited handle and exits; a child still running after 5 s is
 * hung: it is killed and the test fails (a watchdog, so a hang fails the
 * test instead of hanging CI). A fork-only mechanism: no threaded mode.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fc_test.h"

#define CHURN 3
#define FORKS 3000

static atomic_int stop;
static fc_cache *g_c;

static void *
short_reader(void *arg)
{
	char buf[16];
	size_t len = sizeof buf;
	(void)arg;
	(void)fc_get(g_c, "k", 1, buf, &len);
	return NULL;
}

static void *
churn(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		pthread_t t;
		if (pthread_create(&t, NULL, short_reader, NULL) == 0)
			pthread_join(t, NULL);
	}
	return NULL;
}

/* Wait for @p pid at most @p ms; returns its status or -1 (still running,
 * then killed). */
static int
wait_bounded(pid_t pid, int ms)
{
	int st;
	for (int i = 0; i < ms; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static void
fork_while_threads_churn(void **state)
{
	fc_cache *c = *state;
	pthread_t th[CHURN];
	int hung = 0, bad = 0, forks = 0;

	g_c = c;
	atomic_store(&stop, 0);
	assert_int_equal(fc_set(c, "k", 1, "value", 5, 0), FC_OK);
	for (int i = 0; i < CHURN; i++)
		assert_int_equal(pthread_create(&th[i], NULL, churn, NULL), 0);
	uint64_t t0 = fc_test_mono_ns();
	for (; forks < FORKS && fc_test_mono_ns() - t0 < 10000000000ull && !hung; forks++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			char buf[16];
			size_t len = sizeof buf;
			int rc = fc_get(c, "k", 1, buf, &len);
			fc_close(c);
			_exit(rc == FC_OK ? 0 : 1);
		}
		int st = wait_bounded(pid, 5000);
		if (st == -1)
			hung++;
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < CHURN; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "%d forks under thread churn: %d hung children (killed after 5 s), "
			"%d failed\n",
		forks, hung, bad);
	assert_int_equal(hung, 0);
	assert_int_equal(bad, 0);
	fc_test_verify(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(fork_while_threads_churn, fc_test_open,
						fc_test_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
