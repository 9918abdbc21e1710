/*
 * test_8_small_tmpfs.c - issue #8, finding 3: a segment larger than the
 * free space of its file system (Docker's 64 MiB /dev/shm) must give an
 * error at fc_open(), never a SIGBUS at the first write to an unbacked
 * page; what fc_open() created is unlinked again.
 *
 * Needs root (mount -t tmpfs -o size=8m); skipped with a message if the
 * mount fails. Each scenario runs in a child, so a SIGBUS fails the test
 * with the signal named. The shm case mounts the small tmpfs over /dev/shm
 * in a private mount namespace of the child.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fc_test.h"

/* In the child: open a 16 MiB segment on an 8 MiB tmpfs and write to it.
 * Exit 0: fc_open failed cleanly (and left no file); 1: it failed but left
 * the file; 2: it succeeded (the writes did not SIGBUS, the space was
 * there after all); 3: wrong error. A SIGBUS ends the child instead. */
static int
fill_small(const char *name, unsigned flags, const char *path_to_check)
{
	fc_options o;
	fc_cache *c;

	fc_options_init(&o);
	o.flags = FC_CREATE | FC_EXCL | flags;
	o.segment_bytes = 16u << 20;
	int rc = fc_open(name, &o, &c);
	if (rc != FC_OK) {
		fprintf(stderr, "fc_open on the small tmpfs: %s (%s)\n", fc_errname(rc),
			strerror(errno));
		if (rc != FC_ENOMEM && rc != FC_ESYS)
			return 3;
		return access(path_to_check, F_OK) == 0 ? 1 : 0;
	}
	fprintf(stderr, "fc_open succeeded on a too small tmpfs; writing...\n");
	char val[60000];
	memset(val, 'x', sizeof val);
	for (int i = 0; i < 1000; i++) {
		char key[32];
		size_t kl = fc_test_key(key, sizeof key, "b:", (unsigned)i);
		(void)fc_set(c, key, kl, val, sizeof val, 0);
	}
	fc_close(c);
	return 2;
}

static int
mount_small(const char *dir)
{
	if (mount("fct-small", dir, "tmpfs", 0, "size=8m") != 0) {
		fprintf(stderr, "mount tmpfs on %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static void
check_status(int st, const char *what)
{
	char sb[64];
	fprintf(stderr, "%s: child %s\n", what, fc_test_status_str(st, sb, sizeof sb));
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS)
		fail_msg("%s: SIGBUS instead of an error", what);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 1)
		fail_msg("%s: fc_open failed but left the segment behind", what);
	if (WEXITSTATUS(st) == 2)
		fail_msg("%s: fc_open succeeded on a file system too small for it", what);
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void
file_on_small_tmpfs(void **state)
{
	(void)state;
	char *dir = fc_test_tmpdir(), path[256];

	if (mount_small(dir) != 0) {
		fc_test_rmtree(dir);
		skip(); /* not root or no mount permission */
	}
	snprintf(path, sizeof path, "%s/seg", dir);
	pid_t pid = fc_test_fork();
	if (pid == 0)
		_exit(fill_small(path, FC_FILE, path));
	int st = fc_test_wait(pid);
	umount2(dir, MNT_DETACH); /* before any assert: a failure must not leave it */
	fc_test_rmtree(dir);
	check_status(st, "FC_FILE on an 8 MiB tmpfs");
}

static void
shm_on_small_dev_shm(void **state)
{
	(void)state;
	int pfd[2];

	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fc_test_fork();
	if (pid == 0) {
		close(pfd[0]);
		if (unshare(CLONE_NEWNS) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount_small("/dev/shm") != 0) {
			(void)write(pfd[1], "s", 1);
			_exit(0);
		}
		char name[64], path[96];
		fc_test_name(name, sizeof name);
		snprintf(path, sizeof path, "/dev/shm%s", name);
		_exit(fill_small(name, 0, path));
	}
	close(pfd[1]);
	char b;
	int skipped = read(pfd[0], &b, 1) == 1;
	close(pfd[0]);
	if (skipped) {
		fc_test_wait(pid);
		fprintf(stderr, "skipped: cannot mount a small tmpfs on /dev/shm "
				"in a private mount namespace (needs root)\n");
		skip();
	}
	check_status(fc_test_wait(pid), "shm on an 8 MiB /dev/shm");
}

static void
shrunken_file_is_refused_at_attach(void **state)
{
	(void)state;
	char *dir = fc_test_tmpdir(), path[256];
	fc_options o;
	fc_cache *c;

	snprintf(path, sizeof path, "%s/seg", dir);
	fc_options_init(&o);
	o.flags = FC_CREATE | FC_EXCL | FC_FILE;
	o.segment_bytes = 2u << 20;
	assert_int_equal(fc_open(path, &o, &c), FC_OK);
	assert_int_equal(fc_close(c), FC_OK);
	assert_int_equal(truncate(path, 1u << 20), 0);
	o.flags = FC_FILE;
	assert_int_equal(fc_open(path, &o, &c), FC_ECORRUPT);
	fc_test_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(file_on_small_tmpfs),
		cmocka_unit_test(shm_on_small_dev_shm),
		cmocka_unit_test(shrunken_file_is_refused_at_attach),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
