/*
 * fc_test.c - helpers shared by the forkcache test programs (fc_test.h).
 */
#include "fc_test.h"
#include "sup_clock.h"
#include "sup_rng.h"
#include "sup_value.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "clock.h"
#include "fault.h"

static unsigned name_counter;
static char cur_name[64];
static int64_t clock_offset_ms;

static pid_t cleanup_pid;

/* At exit of the test program: unlink every segment it named, so that a
 * failed test (which skips its own unlink) leaves nothing in /dev/shm. */
static void
cleanup_names(void)
{
	char name[64];

	if (getpid() != cleanup_pid)
		return; /* a child that exit()ed: not ours to clean */
	for (unsigned i = 1; i <= name_counter; i++) {
		snprintf(name, sizeof name, "/fct-%d-%u", (int)cleanup_pid, i);
		(void)fc_unlink(name, 0);
	}
}

void
fc_test_name(char *buf, size_t cap)
{
	if (cleanup_pid != getpid()) {
		/* first name made by this process */
		cleanup_pid = getpid();
		name_counter = 0;
		atexit(cleanup_names);
	}
	snprintf(buf, cap, "/fct-%d-%u", (int)getpid(), ++name_counter);
}

void
fc_test_default_options(fc_options *opts)
{
	fc_options_init(opts);
	opts->flags = FC_CREATE | FC_EXCL;
	opts->segment_bytes = 8u << 20;
	opts->page_bytes = 64u << 10;
	opts->reader_slots = 64;
}

fc_cache *
fc_test_create(const fc_options *opts)
{
	fc_options o = *opts;
	fc_cache *c = NULL;
	int rc;

	fc_test_name(cur_name, sizeof cur_name);
	o.flags |= FC_CREATE | FC_EXCL;
	rc = fc_open(cur_name, &o, &c);
	if (rc != FC_OK)
		fprintf(stderr, "fc_test_create(%s): %s\n", cur_name,
			fc_errname(rc));
	assert_int_equal(rc, FC_OK);
	assert_non_null(c);
	return c;
}

const char *
fc_test_cur_name(void)
{
	return cur_name;
}

int
fc_test_open(void **state)
{
	fc_options o;

	fc_test_default_options(&o);
	*state = fc_test_create(&o);
	return 0;
}

int
fc_test_close(void **state)
{
	fc_cache *c = *state;

	fc__fault_disarm();
	fc_test_clock_reset();
	if (c != NULL)
		assert_int_equal(fc_close(c), FC_OK);
	*state = NULL;
	if (cur_name[0] != '\0') {
		(void)fc_unlink(cur_name, 0);
		cur_name[0] = '\0';
	}
	return 0;
}

void
fc_test_destroy(fc_cache *c)
{
	void *st = c;

	fc_test_close(&st);
}

static void
verify_print(void *arg, const char *region, uint64_t offset,
	     const char *problem)
{
	const char *what = arg;

	fprintf(stderr, "fc_verify(%s): region=%s offset=%" PRIu64 ": %s\n",
		what, region ? region : "(null)", offset,
		problem ? problem : "(null)");
}

int64_t
fc_test_verify_count(fc_cache *c, unsigned flags)
{
	return fc_verify(c, flags, verify_print,
			 (void *)(flags & FC_VERIFY_LOCK ? "lock" : "nolock"));
}

void
fc_test_verify(fc_cache *c)
{
	int64_t n;

	n = fc_test_verify_count(c, FC_VERIFY_LOCK);
	if (n != 0)
		fprintf(stderr,
			"fc_verify(FC_VERIFY_LOCK) = %" PRId64 " (%s)\n", n,
			n < 0 ? fc_errname((int)n) : "problems");
	assert_int_equal(n, 0);
	n = fc_test_verify_count(c, 0);
	if (n != 0)
		fprintf(stderr, "fc_verify(0) = %" PRId64 " (%s)\n", n,
			n < 0 ? fc_errname((int)n) : "problems");
	assert_int_equal(n, 0);
}

void
fc_test_clock_advance_ms(int64_t ms)
{
	clock_offset_ms += ms;
	fc__clock_set_offset_ms(clock_offset_ms);
}

void
fc_test_clock_reset(void)
{
	clock_offset_ms = 0;
	fc__clock_set_offset_ms(0);
}

uint64_t
fc_test_seed(void)
{
	static int have;
	static uint64_t seed;
	const char *env;

	if (have)
		return seed;
	env = getenv("FC_TEST_SEED");
	if (env != NULL && *env != '\0') {
		seed = strtoull(env, NULL, 0);
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000007u ^
			(uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
	}
	have = 1;
	fprintf(stderr,
		"fc_test: seed=%" PRIu64 " (FC_TEST_SEED=%" PRIu64
		" repeats this run)\n",
		seed, seed);
	return seed;
}

void
fc_test_rng_init(fc_test_rng *r, uint64_t seed)
{
	r->s = seed ^ 0x9e3779b97f4a7c15ull;
}

uint64_t
fc_test_rand(fc_test_rng *r)
{
	return sup_splitmix64(&r->s);
}

uint64_t
fc_test_rand_range(fc_test_rng *r, uint64_t lo, uint64_t hi)
{
	if (hi <= lo)
		return lo;
	if (hi - lo == UINT64_MAX)
		return fc_test_rand(r);
	return lo + fc_test_rand(r) % (hi - lo + 1);
}

void
fc_test_fill_random(fc_test_rng *r, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len >= 8) {
		uint64_t x = fc_test_rand(r);

		memcpy(p, &x, 8);
		p += 8;
		len -= 8;
	}
	if (len > 0) {
		uint64_t x = fc_test_rand(r);

		memcpy(p, &x, len);
	}
}

pid_t
fc_test_fork(void)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		alarm(FC_TEST_CHILD_ALARM_S);
	return pid;
}

pid_t
fc_test_spawn(int (*fn)(void *arg), void *arg)
{
	pid_t pid = fc_test_fork();

	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

int
fc_test_wait(pid_t pid)
{
	int status = 0;
	pid_t r;

	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
	assert_int_equal(r, pid);
	return status;
}

const char *
fc_test_status_str(int status, char *buf, size_t cap)
{
	if (WIFEXITED(status))
		snprintf(buf, cap, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, cap, "signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, cap, "status 0x%x", status);
	return buf;
}

void
fc_test_assert_exit(pid_t pid, int code)
{
	int status = fc_test_wait(pid);
	char b[64];

	if (!WIFEXITED(status) || WEXITSTATUS(status) != code)
		fail_msg("child %d: %s, want exit %d", (int)pid,
			 fc_test_status_str(status, b, sizeof b), code);
}

void
fc_test_assert_killed(pid_t pid, int sig, const char *what)
{
	int status = fc_test_wait(pid);
	char b[64];

	if (WIFEXITED(status) &&
	    WEXITSTATUS(status) == FC_TEST_CHILD_NOTREACHED)
		fail_msg("%s: the child's workload never reached it (child "
			 "exited %d, want killed by signal %d)",
			 what, FC_TEST_CHILD_NOTREACHED, sig);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != sig)
		fail_msg("%s: child %d: %s, want killed by signal %d", what,
			 (int)pid, fc_test_status_str(status, b, sizeof b),
			 sig);
}

void *
fc_test_shared_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	memset(p, 0, bytes);
	return p;
}

void
fc_test_shared_free(void *p, size_t bytes)
{
	munmap(p, bytes);
}

uint64_t
fc_test_mono_ns(void)
{
	return sup_mono_ns();
}

/* ---- self-verifying values: support/sup_value.c ---- */

_Static_assert(FC_TEST_VALUE_MIN == SUP_VALUE_MIN, "value header");

void
fc_test_value_make(void *buf, size_t len, const void *key, size_t klen,
		   uint32_t writer, uint64_t seq)
{
	sup_value_make(buf, len, key, klen, writer, seq);
}

int
fc_test_value_check(const void *val, size_t vlen, const void *key, size_t klen,
		    uint32_t *writer, uint64_t *seq)
{
	return sup_value_check(val, vlen, key, klen, writer, seq);
}

size_t
fc_test_key(char *buf, size_t cap, const char *prefix, unsigned i)
{
	int n = snprintf(buf, cap, "%s%u", prefix, i);

	return n < 0 ? 0 : (size_t)n;
}

fc_stats
fc_test_stats(fc_cache *c)
{
	fc_stats st;

	memset(&st, 0, sizeof st);
	assert_int_equal(fc_stat(c, &st), FC_OK);
	return st;
}

static char *tmpdirs[16]; /* made and not yet removed, for cleanup */

static void
rmtree_now(const char *dir)
{
	DIR *dh;
	struct dirent *e;
	char path[512];

	dh = opendir(dir);
	if (dh != NULL) {
		while ((e = readdir(dh)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			unlink(path);
		}
		closedir(dh);
	}
	rmdir(dir);
}

static void
cleanup_tmpdirs(void)
{
	if (getpid() != cleanup_pid)
		return;
	for (size_t i = 0; i < sizeof tmpdirs / sizeof tmpdirs[0]; i++)
		if (tmpdirs[i] != NULL)
			rmtree_now(tmpdirs[i]);
}

char *
fc_test_tmpdir(void)
{
	static int registered;
	char *d = strdup("/tmp/fct-dir-XXXXXX");

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	if (!registered) {
		char name[64];

		registered = 1;
		fc_test_name(name, sizeof name); /* sets cleanup_pid */
		atexit(cleanup_tmpdirs);
	}
	for (size_t i = 0; i < sizeof tmpdirs / sizeof tmpdirs[0]; i++) {
		if (tmpdirs[i] == NULL) {
			tmpdirs[i] = d;
			break;
		}
	}
	return d;
}

void
fc_test_rmtree(char *dir)
{
	if (dir == NULL)
		return;
	rmtree_now(dir);
	for (size_t i = 0; i < sizeof tmpdirs / sizeof tmpdirs[0]; i++)
		if (tmpdirs[i] == dir)
			tmpdirs[i] = NULL;
	free(dir);
}
