/*
 * test_8_slow_creator.c - issue #8, finding 6: a creator that stalls after
 * creating the segment's name, while another FC_CREATE opener takes the
 * unfinished segment over, formats it and keeps it open, must attach to
 * that segment instead of blocking forever on its file lock.
 *
 * The stall is made deterministic by interposing flock() (the library is
 * linked statically, so its calls bind to this definition): in the slow
 * creator, the first exclusive request waits until the parent says the
 * other opener has finished. A creator still inside fc_open() after 5 s is
 * hung; its watchdog (alarm) ends it and the test fails.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fc_test.h"

static int stall_fd_read = -1; /* slow creator: wait for "go" here */
static int stall_fd_write = -1; /* ... after saying "stalled" here */

int
flock(int fd, int op)
{
	if (stall_fd_read >= 0 && (op & LOCK_EX)) {
		char b;
		int rd = stall_fd_read;
		stall_fd_read = -1; /* once */
		(void)write(stall_fd_write, "s", 1);
		(void)read(rd, &b, 1);
	}
	return (int)syscall(SYS_flock, fd, op);
}

static void
slow_creator_attaches(void **state)
{
	(void)state;
	char name[64];
	int stalled[2], go[2];
	fc_options o;

	fc_test_name(name, sizeof name);
	fc_options_init(&o);
	o.flags = FC_CREATE;
	o.segment_bytes = 2u << 20;
	assert_int_equal(pipe(stalled), 0);
	assert_int_equal(pipe(go), 0);

	pid_t slow = fc_test_fork();
	if (slow == 0) {
		alarm(5); /* watchdog: hung in fc_open */
		stall_fd_read = go[0];
		stall_fd_write = stalled[1];
		fc_cache *c;
		int rc = fc_open(name, &o, &c);
		FC_CHILD_CHECK_RC(rc, FC_OK);
		char buf[8];
		size_t len = sizeof buf;
		FC_CHILD_CHECK_RC(fc_get(c, "k", 1, buf, &len), FC_OK); /* the other's item */
		fc_close(c);
		_exit(0);
	}
	char b;
	assert_int_equal(read(stalled[0], &b, 1), 1); /* created, not yet locked */

	/* The other opener: finds the name unfinished, waits, takes it over,
	 * formats it and keeps it open. */
	pid_t other = fc_test_fork();
	if (other == 0) {
		fc_cache *c;
		FC_CHILD_CHECK_RC(fc_open(name, &o, &c), FC_OK);
		FC_CHILD_CHECK_RC(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
		pause(); /* keep the handle (and its shared lock) open */
		_exit(0);
	}
	/* Wait until the other opener has made it. */
	fc_cache *probe = NULL;
	for (int i = 0; i < 5000; i++) {
		fc_options a;
		fc_options_init(&a);
		if (fc_open(name, &a, &probe) == FC_OK) {
			char buf[8];
			size_t len = sizeof buf;
			if (fc_get(probe, "k", 1, buf, &len) == FC_OK)
				break;
			fc_close(probe);
			probe = NULL;
		}
		usleep(1000);
	}
	assert_non_null(probe);
	fc_close(probe);
	assert_int_equal(write(go[1], "g", 1), 1);
	char sb[64];
	int st = fc_test_wait(slow);
	kill(other, SIGKILL);
	fc_test_wait(other);
	fc_unlink(name, 0);
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
		fail_msg("the slow creator hung in fc_open (killed by its 5 s watchdog)");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("slow creator: %s", fc_test_status_str(st, sb, sizeof sb));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(slow_creator_attaches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
