/*
 * test_8_zombie_reader.c - issue #8, finding 1: a live reader must never be
 * judged dead.
 *
 *  - zombie_reader_is_not_reaped: a process whose main thread called
 *    pthread_exit() while another thread keeps reading (/proc shows the
 *    group leader as a zombie). Its slot must stay live through fc_reap()
 *    and writer churn; every value it reads must be whole; when it is then
 *    SIGKILLed (most likely inside a read), no stray epoch may be left
 *    behind: sets that need memory keep succeeding.
 *  - reaper_out_of_descriptors_{process,thread}: the checking process has
 *    no free file descriptor (EMFILE); a live reader (another process, or a
 *    thread of the checker itself: the TSan mode) must not be reaped.
 *  - stray_epoch_on_free_slot_is_reported_and_cleared: a free slot holding
 *    a nonzero epoch (what a reaped-but-running owner leaves) is reported
 *    by fc_verify() and cleared by fc_reap(), and writes then succeed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fc_test.h"
#include "internal.h"

#define NKEYS 64

struct shared {
	volatile int ready;
	volatile int stop;
	volatile uint64_t reads, torn, errors;
};

static fc_cache *g_c;
static struct shared *g_sh;

static void
put(fc_cache *c, unsigned k, size_t len, uint64_t seq)
{
	char key[32], val[4096];
	size_t kl = fc_test_key(key, sizeof key, "z:", k);

	fc_test_value_make(val, len, key, kl, 1, seq);
	int rc = fc_set(c, key, kl, val, len, 0);
	if (rc != FC_OK && rc != FC_EBUSY)
		fail_msg("fc_set: %s", fc_errname(rc));
}

static void *
reader_thread(void *arg)
{
	(void)arg;
	char key[32], val[4096];

	for (uint64_t n = 0; !g_sh->stop; n++) {
		size_t kl = fc_test_key(key, sizeof key, "z:", (unsigned)(n % NKEYS));
		size_t vl = sizeof val;
		int rc = fc_get(g_c, key, kl, val, &vl);
		if (rc == FC_OK) {
			if (fc_test_value_check(val, vl, key, kl, NULL, NULL) != 0)
				g_sh->torn++;
		} else if (rc != FC_ENOTFOUND) {
			g_sh->errors++;
		}
		g_sh->reads++;
		g_sh->ready = 1;
	}
	exit(g_sh->torn || g_sh->errors ? 1 : 0); /* ends the whole process */
}

/* Write 3x the cache's capacity (forces reuse of every chunk); returns
 * how many sets failed with FC_EBUSY (stops counting at 20: each costs the
 * writer's full 100 ms wait). */
static int
fill(fc_cache *c)
{
	int ebusy = 0;
	for (int i = 0; i < 6000 && ebusy < 20; i++) {
		char key[32], val[4000];
		size_t kl = fc_test_key(key, sizeof key, "fill:", (unsigned)i);
		fc_test_value_make(val, sizeof val, key, kl, 2, (uint64_t)i);
		int rc = fc_set(c, key, kl, val, sizeof val, 0);
		if (rc == FC_EBUSY)
			ebusy++;
		else
			assert_int_equal(rc, FC_OK);
	}
	return ebusy;
}

static char
proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] && p[2] ? p[2] : 0;
}

/* State of the slot owned by @p pid; FC_SLOT_FREE if it owns none. */
static unsigned
slot_state_of(fc_cache *c, pid_t pid)
{
	fc_stats st = fc_test_stats(c);
	for (unsigned i = 0; i < st.reader_slots; i++) {
		fc_slot_info si;
		assert_int_equal(fc_slot_stat(c, i, &si), FC_OK);
		if (si.pid == (uint32_t)pid)
			return si.state;
	}
	return FC_SLOT_FREE;
}

static void
zombie_reader_is_not_reaped(void **state)
{
	fc_cache *c = *state;
	fc_test_rng r;

	fc_test_rng_init(&r, fc_test_seed());
	for (unsigned k = 0; k < NKEYS; k++)
		put(c, k, 100, 0);
	g_c = c;
	g_sh = fc_test_shared_alloc(sizeof *g_sh);
	pid_t pid = fc_test_fork();
	if (pid == 0) {
		pthread_t th;
		if (pthread_create(&th, NULL, reader_thread, NULL) != 0)
			_exit(FC_TEST_CHILD_FAIL);
		pthread_exit(NULL); /* the leader becomes a zombie */
	}
	while (!g_sh->ready)
		usleep(1000);
	for (int i = 0; i < 2000 && proc_state(pid) != 'Z'; i++)
		usleep(1000);
	assert_int_equal(proc_state(pid), 'Z'); /* the scenario holds */

	/* Positive check: a running reader is live and is not reaped. */
	unsigned st_before = slot_state_of(c, pid);
	int reaped = fc_reap(c);
	if (reaped != 0)
		fprintf(stderr, "fc_reap reaped %d slot(s) of a live (zombie-leader) reader\n",
			reaped);
	/* Churn: replace values with new lengths so chunks are reused. */
	uint64_t t0 = fc_test_mono_ns(), seq = 1;
	while (fc_test_mono_ns() - t0 < 1500000000ull) {
		for (unsigned k = 0; k < NKEYS; k++)
			put(c, k, (size_t)fc_test_rand_range(&r, FC_TEST_VALUE_MIN, 4000), seq++);
		(void)fc_reap(c);
	}
	uint64_t torn = g_sh->torn, reads = g_sh->reads;
	unsigned st_after = slot_state_of(c, pid);
	fprintf(stderr, "zombie reader: slot state %u before fc_reap, %u after the churn; "
			"%llu reads, %llu torn, %llu errors\n",
		st_before, st_after,
		(unsigned long long)reads, (unsigned long long)torn,
		(unsigned long long)g_sh->errors);
	/* Kill it, probably inside a read: nothing may be left holding
	 * memory back. */
	kill(pid, SIGKILL);
	int ws = fc_test_wait(pid);
	assert_true(WIFSIGNALED(ws) || WIFEXITED(ws));
	int ebusy = fill(c);
	fprintf(stderr, "after the kill: %d sets failed with FC_EBUSY\n", ebusy);
	fc_test_shared_free(g_sh, sizeof *g_sh);
	assert_int_equal(st_before, FC_SLOT_LIVE);
	assert_int_equal(reaped, 0);
	assert_int_equal(st_after, FC_SLOT_LIVE);
	assert_int_equal(torn, 0);
	assert_int_equal(ebusy, 0);
	fc_test_verify(c);
}

/* Use up every descriptor (soft limit lowered); returns how many opened. */
static int
exhaust_fds(int *fds, int cap, struct rlimit *old)
{
	struct rlimit rl;
	int n = 0;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, old), 0);
	rl = *old;
	rl.rlim_cur = 128;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	while (n < cap) {
		int fd = open("/dev/null", O_RDONLY);
		if (fd < 0) {
			assert_int_equal(errno, EMFILE);
			break;
		}
		fds[n++] = fd;
	}
	return n;
}

static void
restore_fds(int *fds, int n, const struct rlimit *old)
{
	while (n > 0)
		close(fds[--n]);
	setrlimit(RLIMIT_NOFILE, old);
}

static void
reaper_out_of_descriptors_process(void **state)
{
	fc_cache *c = *state;
	int go[2];
	char buf[256];
	size_t len;

	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	assert_int_equal(pipe(go), 0);
	pid_t pid = fc_test_fork();
	if (pid == 0) {
		close(go[1]);
		len = sizeof buf;
		FC_CHILD_CHECK_RC(fc_get(c, "k", 1, buf, &len), FC_OK); /* a slot */
		char b;
		(void)read(go[0], &b, 1); /* wait, alive, holding the slot */
		len = sizeof buf;
		FC_CHILD_CHECK_RC(fc_get(c, "k", 1, buf, &len), FC_OK);
		_exit(0);
	}
	close(go[0]);
	for (int i = 0; i < 2000 && slot_state_of(c, pid) != FC_SLOT_LIVE; i++)
		usleep(1000);
	assert_int_equal(slot_state_of(c, pid), FC_SLOT_LIVE);

	int fds[256];
	struct rlimit old;
	int n = exhaust_fds(fds, 256, &old);
	int reaped = fc_reap(c);
	fc_slot_info si = {0};
	unsigned state_in = FC_SLOT_FREE;
	for (unsigned i = 0; i < 64; i++) {
		if (fc_slot_stat(c, i, &si) == FC_OK && si.pid == (uint32_t)pid)
			state_in = si.state;
	}
	restore_fds(fds, n, &old);
	if (reaped)
		fprintf(stderr, "out of descriptors: fc_reap reaped %d live slot(s)\n", reaped);
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
	fc_test_assert_exit(pid, 0);
	assert_int_equal(reaped, 0);
	assert_int_equal(state_in, FC_SLOT_LIVE);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int phase;

static void *
slot_holder(void *arg)
{
	fc_cache *c = arg;
	char buf[8];
	size_t len = sizeof buf;
	intptr_t bad = 0;

	bad |= fc_get(c, "k", 1, buf, &len) != FC_OK;
	pthread_mutex_lock(&mu);
	phase = 1;
	pthread_cond_broadcast(&cv);
	while (phase < 2)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	len = sizeof buf;
	bad |= fc_get(c, "k", 1, buf, &len) != FC_OK;
	return (void *)bad;
}

static void
reaper_out_of_descriptors_thread(void **state)
{
	fc_cache *c = *state;
	pthread_t th;
	void *res;

	phase = 0;
	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	assert_int_equal(pthread_create(&th, NULL, slot_holder, c), 0);
	pthread_mutex_lock(&mu);
	while (phase < 1)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);

	int fds[256];
	struct rlimit old;
	int n = exhaust_fds(fds, 256, &old);
	int reaped = fc_reap(c);
	restore_fds(fds, n, &old);
	unsigned st = slot_state_of(c, getpid());
	pthread_mutex_lock(&mu);
	phase = 2;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	assert_int_equal(pthread_join(th, &res), 0);
	if (reaped)
		fprintf(stderr, "out of descriptors: fc_reap reaped %d slot(s) of a live thread\n",
			reaped);
	assert_int_equal(reaped, 0);
	assert_int_equal(st, FC_SLOT_LIVE);
	assert_null(res);
	fc_test_verify(c);
}

static void
stray_epoch_on_free_slot_is_reported_and_cleared(void **state)
{
	fc_cache *c = *state;

	/* What a reaped reader that kept running and then died inside a read
	 * leaves: no owner, a nonzero epoch. */
	struct slot_shm *s = &c->slots[5];
	assert_int_equal((uint32_t)s->rs_owner, 0);
	s->rs_epoch = 1;
	if (c->hdr->hd_slots_hwm < 6)
		c->hdr->hd_slots_hwm = 6;
	int64_t problems = fc_test_verify_count(c, 0);
	int reaped = fc_reap(c);
	uint64_t left = s->rs_epoch;
	int ebusy = fill(c);
	fprintf(stderr, "stray epoch: verify found %lld, reap returned %d, epoch left %llu, "
			"%d sets FC_EBUSY\n",
		(long long)problems, reaped,
		(unsigned long long)left, ebusy);
	s->rs_epoch = 0;
	assert_true(problems >= 1);
	assert_int_equal(left, 0);
	assert_int_equal(ebusy, 0);
	fc_test_verify(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(zombie_reader_is_not_reaped,
						fc_test_open, fc_test_close),
		cmocka_unit_test_setup_teardown(reaper_out_of_descriptors_process,
						fc_test_open, fc_test_close),
		cmocka_unit_test_setup_teardown(reaper_out_of_descriptors_thread,
						fc_test_open, fc_test_close),
		cmocka_unit_test_setup_teardown(stray_epoch_on_free_slot_is_reported_and_cleared,
						fc_test_open, fc_test_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
