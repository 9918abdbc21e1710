/*
 * test_8_pid_namespace.c - issue #8, finding 8: a reader in another pid
 * namespace (a container sharing /dev/shm with the host) must not be
 * reaped as dead by a process on the host while it is alive.
 *
 * As root: a child enters new pid and mount namespaces, mounts its own
 * /proc (as a container does) and forks the reader, pid 1 there. The
 * reader takes a slot through the inherited handle and stays alive; the
 * host calls fc_reap() and fc_slot_stat(). Skipped (with a message) when
 * the namespaces cannot be made.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fc_test.h"

static void
reader_in_other_pid_namespace_is_not_reaped(void **state)
{
	fc_cache *c = *state;
	int up[2], go[2];

	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(go), 0);
	pid_t mid = fc_test_fork();
	if (mid == 0) {
		close(up[0]);
		close(go[1]);
		if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
			fprintf(stderr, "unshare(CLONE_NEWPID|CLONE_NEWNS): %s\n", strerror(errno));
			(void)write(up[1], "s", 1);
			_exit(0);
		}
		pid_t in = fork();
		if (in == 0) { /* pid 1 of the new namespace */
			if (mount("proc", "/proc", "proc", 0, NULL) != 0) {
				(void)write(up[1], "s", 1);
				_exit(0);
			}
			char buf[8];
			size_t len = sizeof buf;
			FC_CHILD_CHECK_RC(fc_get(c, "k", 1, buf, &len), FC_OK);
			(void)write(up[1], "r", 1);
			char b;
			(void)read(go[0], &b, 1);
			len = sizeof buf;
			FC_CHILD_CHECK_RC(fc_get(c, "k", 1, buf, &len), FC_OK);
			_exit(0);
		}
		int st;
		waitpid(in, &st, 0);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 99);
	}
	close(up[1]);
	close(go[0]);
	char b = 0;
	assert_int_equal(read(up[0], &b, 1), 1);
	if (b == 's') {
		fc_test_wait(mid);
		fprintf(stderr, "skipped: cannot make pid and mount namespaces (needs root)\n");
		skip();
	}
	fc_stats st = fc_test_stats(c);
	int live = 0;
	for (unsigned i = 0; i < st.reader_slots; i++) {
		fc_slot_info si;
		assert_int_equal(fc_slot_stat(c, i, &si), FC_OK);
		if (si.pid && si.state == FC_SLOT_LIVE)
			live++;
	}
	int reaped = fc_reap(c);
	fprintf(stderr, "reader in another pid namespace: %d slot(s) seen live, fc_reap "
			"reaped %d\n",
		live, reaped);
	assert_int_equal(write(go[1], "g", 1), 1);
	fc_test_assert_exit(mid, 0);
	assert_int_equal(live, 1);
	assert_int_equal(reaped, 0);
	fc_test_verify(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(reader_in_other_pid_namespace_is_not_reaped,
						fc_test_open, fc_test_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
