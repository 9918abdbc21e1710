/*
 * lease_herd.c - forkcache-bench --lease-herd: the thundering herd and the
 * takeover after a leader's death, measured.
 *
 * DESIGN       herd      N processes (--herd, default 16) call
 *                        fc_lease_get on one cold key at the same instant
 *                        (a start flag in a shared page); the one that gets
 *                        FC_LEADER "computes" for --compute-ms (a sleep),
 *                        then fills. Every other member records when its
 *                        fc_lease_get returned; wake_ms = that time - the
 *                        moment the leader called fc_lease_fill.
 *              takeover  a leader holds a lease and hangs; 4 waiters sleep
 *                        on it; the parent SIGKILLs the leader; takeover_ms
 *                        = the moment a waiter got FC_LEADER - the kill.
 *                        Repeated --reps times.
 * OUTPUT       bench=lease_herd procs=16 compute_ms=200 computes=1 ...
 *              bench=lease_takeover waiters=4 reps=5 takeover_ms_median=...
 *              Exit 1 if a herd computes more than once or a member gets
 *              anything but the leader's value.
 */
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"
#include "sup_clock.h"
#include "lease_herd.h"

#define HERD_MAX 64
#define TAKEOVER_WAITERS 4

struct herd_page {
	uint32_t ready, go, computes, leaders, bad, leading;
	uint64_t fill_ns; /* leader: just before fc_lease_fill */
	uint64_t ret_ns[HERD_MAX]; /* members: fc_lease_get returned */
	int32_t rc[HERD_MAX];
};

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
value_for(char *v, size_t n, const char *key)
{
	snprintf(v, n, "computed value of %s", key);
}

static int
herd_member(fc_cache *c, struct herd_page *pg, unsigned me, const char *key,
	    unsigned compute_ms)
{
	char buf[128], want[128];
	size_t n = sizeof buf;
	fc_lease l;

	value_for(want, sizeof want, key);
	__atomic_add_fetch(&pg->ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&pg->go, __ATOMIC_ACQUIRE))
		sched_yield();
	int rc = fc_lease_get(c, key, strlen(key), buf, &n, 10000, &l);
	pg->ret_ns[me] = sup_mono_ns();
	pg->rc[me] = rc;
	if (rc == FC_LEADER) {
		__atomic_add_fetch(&pg->computes, 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&pg->leaders, 1, __ATOMIC_SEQ_CST);
		usleep(compute_ms * 1000u);
		__atomic_store_n(&pg->fill_ns, sup_mono_ns(), __ATOMIC_SEQ_CST);
		return fc_lease_fill(c, &l, want, strlen(want), 0) == FC_OK ? 0 : 1;
	}
	if (rc != FC_OK || n != strlen(want) || memcmp(buf, want, n) != 0) {
		__atomic_add_fetch(&pg->bad, 1, __ATOMIC_SEQ_CST);
		return 1;
	}
	return 0;
}

static int
wait_all(pid_t *pids, unsigned n)
{
	int bad = 0;

	for (unsigned i = 0; i < n; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			bad = 1;
	}
	return bad;
}

static int
run_herd(fc_cache *c, struct herd_page *pg, unsigned herd, unsigned compute_ms,
	 int json)
{
	pid_t pids[HERD_MAX];
	uint64_t wake[HERD_MAX];
	unsigned nw = 0;
	const char *key = "herd:cold";

	memset(pg, 0, sizeof *pg);
	fflush(stdout);
	for (unsigned i = 0; i < herd; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return 1;
		if (pids[i] == 0)
			_exit(herd_member(c, pg, i, key, compute_ms));
	}
	while (__atomic_load_n(&pg->ready, __ATOMIC_SEQ_CST) < herd)
		usleep(1000);
	uint64_t t_go = sup_mono_ns();
	__atomic_store_n(&pg->go, 1, __ATOMIC_RELEASE);
	int failed = wait_all(pids, herd);
	uint64_t total_max = 0;
	for (unsigned i = 0; i < herd; i++) {
		if (pg->ret_ns[i] - t_go > total_max)
			total_max = pg->ret_ns[i] - t_go;
		if (pg->rc[i] == FC_OK)
			wake[nw++] = pg->ret_ns[i] > pg->fill_ns ? pg->ret_ns[i] - pg->fill_ns : 0;
	}
	qsort(wake, nw, sizeof wake[0], cmp_u64);
	double p50 = nw ? wake[nw / 2] / 1e6 : 0, max = nw ? wake[nw - 1] / 1e6 : 0;
	if (json)
		printf("{\"bench\":\"lease_herd\",\"procs\":%u,\"compute_ms\":%u,"
		       "\"computes\":%u,\"leaders\":%u,\"waiters_ok\":%u,\"bad\":%u,"
		       "\"wake_ms_p50\":%.2f,\"wake_ms_max\":%.2f,\"total_ms_max\":%.1f}\n",
		       herd, compute_ms, pg->computes, pg->leaders, nw, pg->bad, p50,
		       max, total_max / 1e6);
	else {
		printf("bench=lease_herd procs=%u compute_ms=%u computes=%u leaders=%u "
		       "waiters_ok=%u bad=%u wake_ms_p50=%.2f wake_ms_max=%.2f "
		       "total_ms_max=%.1f\n",
		       herd, compute_ms, pg->computes, pg->leaders, nw, pg->bad, p50,
		       max, total_max / 1e6);
		printf("# wake_ms (each waiter: its return - the leader's fill call):");
		for (unsigned i = 0; i < nw; i++)
			printf(" %.2f", wake[i] / 1e6);
		printf("\n");
	}
	fflush(stdout);
	return failed || pg->computes != 1 || pg->bad || nw != herd - 1;
}

static int
takeover_waiter(fc_cache *c, struct herd_page *pg, unsigned me, const char *key)
{
	char buf[128];
	size_t n = sizeof buf;
	fc_lease l;
	int rc = fc_lease_get(c, key, strlen(key), buf, &n, 10000, &l);

	pg->ret_ns[me] = sup_mono_ns();
	pg->rc[me] = rc;
	if (rc == FC_LEADER) {
		__atomic_add_fetch(&pg->leaders, 1, __ATOMIC_SEQ_CST);
		return fc_lease_fill(c, &l, "v", 1, 0) == FC_OK ? 0 : 1;
	}
	return rc == FC_OK ? 0 : 1;
}

static int
run_takeover(fc_cache *c, struct herd_page *pg, unsigned reps, int json)
{
	uint64_t ms[101];
	int failed = 0;

	if (reps > 101)
		reps = 101;
	for (unsigned r = 0; r < reps && !failed; r++) {
		char key[32];
		pid_t leader, w[TAKEOVER_WAITERS];
		fc_stats st;

		snprintf(key, sizeof key, "takeover:%u", r);
		memset(pg, 0, sizeof *pg);
		fflush(stdout);
		leader = fork();
		if (leader == 0) {
			char buf[8];
			size_t n = sizeof buf;
			fc_lease l;
			if (fc_lease_get(c, key, strlen(key), buf, &n, 0, &l) != FC_LEADER)
				_exit(1);
			__atomic_store_n(&pg->leading, 1, __ATOMIC_SEQ_CST);
			for (;;)
				pause(); /* hung leader */
		}
		while (!__atomic_load_n(&pg->leading, __ATOMIC_SEQ_CST))
			usleep(500);
		if (fc_stat(c, &st) != FC_OK)
			return 1;
		uint64_t waits0 = st.lease_waits;
		for (unsigned i = 0; i < TAKEOVER_WAITERS; i++) {
			w[i] = fork();
			if (w[i] == 0)
				_exit(takeover_waiter(c, pg, i, key));
		}
		do {
			usleep(1000);
			if (fc_stat(c, &st) != FC_OK)
				return 1;
		} while (st.lease_waits < waits0 + TAKEOVER_WAITERS);
		usleep(20000); /* all asleep on the futex */
		uint64_t t_kill = sup_mono_ns();
		kill(leader, SIGKILL);
		waitpid(leader, NULL, 0);
		failed = wait_all(w, TAKEOVER_WAITERS) || pg->leaders != 1;
		uint64_t first = UINT64_MAX;
		for (unsigned i = 0; i < TAKEOVER_WAITERS; i++)
			if (pg->rc[i] == FC_LEADER)
				first = pg->ret_ns[i];
		ms[r] = first != UINT64_MAX ? first - t_kill : 0;
	}
	if (failed)
		return 1;
	qsort(ms, reps, sizeof ms[0], cmp_u64);
	if (json)
		printf("{\"bench\":\"lease_takeover\",\"waiters\":%u,\"reps\":%u,"
		       "\"takeover_ms_median\":%.2f,\"takeover_ms_max\":%.2f,"
		       "\"poll_ms\":%u}\n",
		       TAKEOVER_WAITERS, reps, ms[reps / 2] / 1e6, ms[reps - 1] / 1e6,
		       FC_LEASE_POLL_MS);
	else
		printf("bench=lease_takeover waiters=%u reps=%u takeover_ms_median=%.2f "
		       "takeover_ms_max=%.2f poll_ms=%u\n",
		       TAKEOVER_WAITERS, reps, ms[reps / 2] / 1e6, ms[reps - 1] / 1e6,
		       FC_LEASE_POLL_MS);
	fflush(stdout);
	return 0;
}

int
bench_lease_herd(unsigned herd, unsigned compute_ms, unsigned reps, int json)
{
	char name[64];
	fc_options o;
	fc_cache *c;
	int rc;

	if (herd < 2 || herd > HERD_MAX)
		return 2;
	snprintf(name, sizeof name, "/fcbench-herd-%d", (int)getpid());
	fc_options_init(&o);
	o.flags = FC_CREATE | FC_EXCL;
	o.segment_bytes = 8u << 20;
	if ((rc = fc_open(name, &o, &c)) != FC_OK) {
		fprintf(stderr, "forkcache-bench: fc_open: %s\n", fc_errname(rc));
		return 1;
	}
	fc_unlink(name, 0);
	struct herd_page *pg = mmap(NULL, sizeof *pg, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pg == MAP_FAILED)
		return 1;
	int failed = run_herd(c, pg, herd, compute_ms, json);
	if (!failed)
		failed = run_takeover(c, pg, reps, json);
	munmap(pg, sizeof *pg);
	fc_close(c);
	return failed ? 1 : 0;
}
