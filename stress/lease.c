/*
 * lease.c - forkcache-stress --lease: herds of processes on expiring keys
 *           through fc_lease_get, under SIGKILL chaos.
 *
 * DESIGN       --procs workers (processes, or threads with --threads) loop
 *              over --keys keys (few, so herds form) with fc_lease_get
 *              (wait 5 s). Values live --ttl-ms, so every key expires again
 *              and again and each expiry makes a new herd. A worker that
 *              gets FC_LEADER or FC_STALE "computes" --compute-ms, then
 *              fills (1 in 16: abandons). A master SIGKILLs a random worker
 *              every --kill-every ms (0: none) and respawns it: leaders die
 *              while holding leases, waiters die asleep, fills die midway.
 * CHECKS       double   a worker that becomes a key's leader finds the
 *                       key's holder record naming another process that is
 *                       alive (not killed by the master, kill(pid, 0) not
 *                       ESRCH): two live leaders of one key at once. The
 *                       record is cleared just before the fill/abandon call
 *                       (the lease is still held until that call releases
 *                       it) and set just after the grant.
 *              lost     fc_lease_fill or _abandon of a live, punctual leader
 *                       answered FC_ELEASE (lease_ms is 10 s; computes are
 *                       ms).
 *              bad      a value read that is not one whole value written
 *                       for that key (self-checking values).
 *              stuck    an fc_lease_get that took longer than 4 s, or one
 *                       that timed out (FC_ETIMEDOUT: 5 s, half of lease_ms:
 *                       a dead leader nobody notices shows up here).
 *              dead     after the run: every key deleted, then leased once
 *                       (a dead leader's lease must be taken over at once),
 *                       abandoned; then fc_stat must show no lease held,
 *                       live or dead, and fc_verify must be clean.
 * OUTPUT       One summary line: stress: seconds=... mode=lease ...
 *              result=PASS|FAIL; exit 0 pass, 1 fail, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
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
#include "sup_rng.h"
#include "sup_value.h"
#include "lease_stress.h"

#define LS_MAX_PROCS 64
#define LS_MAX_KEYS 4096
#define LS_KILLED_RING 1024
#define LS_WAIT_MS 5000
/* A call slower than this is "stuck". A wedged key (a dead leader nobody
 * notices) makes its waiters time out at LS_WAIT_MS, far below lease_ms
 * (10 s); 4 s leaves room for a loaded machine, where a leader or the
 * writer mutex's holder can go unscheduled for a second or two (seen: a
 * 2.8 s call at load 22 on 2 cores, none with the run at nice -10). */
#define LS_STUCK_MS 4000
#define LS_VLEN 40

struct ls_cfg {
	double seconds;
	unsigned procs, keys, ttl_ms, compute_ms, kill_every_ms, stale_ms;
	int threads;
	uint64_t seed;
};

struct ls_shared {
	uint32_t stop;
	uint32_t holder[LS_MAX_KEYS]; /* pid (or thread id) leading the key */
	uint32_t killed[LS_KILLED_RING]; /* pids the master SIGKILLed */
	uint32_t nkilled;
	uint64_t gets, ok, leaders, stale, abandons, timeouts, ebusy;
	uint64_t doubles, lost, bad, stuck, errors, max_get_us;
};

static struct ls_shared *sh;
static struct ls_cfg cfg;
static char segname[64];

static uint64_t
mono_us(void)
{
	return sup_mono_ns() / 1000u;
}

static void
add(uint64_t *ctr, uint64_t n)
{
	__atomic_add_fetch(ctr, n, __ATOMIC_RELAXED);
}

/* A self-checking value (support/sup_value.h) of key "lk:<i>" by
 * @p writer: whole, of this key, or not. */
static void
make_value(char *v, unsigned key, uint32_t writer)
{
	char k[24];
	int kl = snprintf(k, sizeof k, "lk:%u", key);

	sup_value_make(v, LS_VLEN, k, (size_t)kl, writer, key);
}

static int
value_ok(const char *v, size_t n, unsigned key)
{
	char k[24];
	int kl = snprintf(k, sizeof k, "lk:%u", key);
	uint64_t seq;

	return sup_value_check(v, n, k, (size_t)kl, NULL, &seq) == 0 &&
		seq == key;
}
static int
was_killed(uint32_t pid)
{
	uint32_t n = __atomic_load_n(&sh->nkilled, __ATOMIC_ACQUIRE);

	for (uint32_t i = 0; i < n && i < LS_KILLED_RING; i++)
		if (__atomic_load_n(&sh->killed[i], __ATOMIC_RELAXED) == pid)
			return 1;
	return 0;
}

static int
holder_alive(uint32_t h, uint32_t me)
{
	if (h == 0 || h == me)
		return 0;
	if (cfg.threads)
		return 1; /* threads are never killed: any other holder is live */
	if (was_killed(h))
		return 0;
	return !(kill((pid_t)h, 0) != 0 && errno == ESRCH);
}

static void
worker(fc_cache *c, uint32_t me, uint64_t seed)
{
	uint64_t rng = sup_mix64(seed ^ me);
	char buf[LS_VLEN + 8], val[LS_VLEN];

	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
		rng = sup_mix64(rng);
		unsigned k = (unsigned)(rng % cfg.keys);
		char key[24];
		int kl = snprintf(key, sizeof key, "lk:%u", k);
		size_t n = sizeof buf;
		fc_lease l;
		uint64_t t0 = mono_us();
		int rc = fc_lease_get(c, key, (size_t)kl, buf, &n, LS_WAIT_MS, &l);
		uint64_t us = mono_us() - t0;
		add(&sh->gets, 1);
		uint64_t old = __atomic_load_n(&sh->max_get_us, __ATOMIC_RELAXED);
		while (us > old && !__atomic_compare_exchange_n(&sh->max_get_us, &old, us, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
		if (us > LS_STUCK_MS * 1000u)
			add(&sh->stuck, 1);
		if (rc == FC_OK) {
			add(&sh->ok, 1);
			if (!value_ok(buf, n, k))
				add(&sh->bad, 1);
			continue;
		}
		if (rc == FC_ETIMEDOUT) {
			add(&sh->timeouts, 1);
			add(&sh->stuck, 1);
			continue;
		}
		if (rc == FC_EBUSY) {
			add(&sh->ebusy, 1);
			continue;
		}
		if (rc != FC_LEADER && rc != FC_STALE) {
			add(&sh->errors, 1);
			continue;
		}
		if (rc == FC_STALE && !value_ok(buf, n, k))
			add(&sh->bad, 1);
		add(rc == FC_LEADER ? &sh->leaders : &sh->stale, 1);
		/* At most one live leader per key: whoever held it before us
		 * must be gone (killed) or have released it. */
		uint32_t prev = __atomic_exchange_n(&sh->holder[k], me, __ATOMIC_SEQ_CST);
		if (holder_alive(prev, me))
			add(&sh->doubles, 1);
		if (cfg.compute_ms)
			usleep(cfg.compute_ms * 1000u);
		/* Clear before the release: until fill/abandon returns, the
		 * lease is ours, so nobody can lead meanwhile. */
		uint32_t mine = me;
		__atomic_compare_exchange_n(&sh->holder[k], &mine, 0, 0, __ATOMIC_SEQ_CST,
					    __ATOMIC_SEQ_CST);
		if ((rng >> 40) % 16 == 0) {
			add(&sh->abandons, 1);
			rc = fc_lease_abandon(c, &l);
		} else {
			make_value(val, k, me);
			rc = fc_lease_fill(c, &l, val, LS_VLEN, cfg.ttl_ms);
		}
		if (rc == FC_ELEASE)
			add(&sh->lost, 1);
		else if (rc != FC_OK)
			add(&sh->errors, 1);
	}
}

static int
open_handle(fc_cache **c)
{
	fc_options o;

	fc_options_init(&o);
	return fc_open(segname, &o, c);
}

static void *
thread_main(void *arg)
{
	fc_cache *c;
	uint32_t me = (uint32_t)(uintptr_t)arg;

	if (open_handle(&c) != FC_OK) {
		add(&sh->errors, 1);
		return NULL;
	}
	worker(c, me, cfg.seed);
	fc_close(c);
	return NULL;
}

static pid_t
spawn(fc_cache *c, unsigned gen)
{
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		worker(c, (uint32_t)getpid(), cfg.seed + gen);
		_exit(0);
	}
	return p;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: forkcache-stress --lease [--seconds S] [--procs N] [--keys N]\n"
		   "         [--ttl-ms N] [--compute-ms N] [--kill-every MS] [--stale-ms N]\n"
		   "         [--threads] [--seed N]\n"
		   "  herds of processes on expiring keys through fc_lease_get, under\n"
		   "  SIGKILL chaos; checks one live leader per key, no lost lease,\n"
		   "  whole values, no stuck caller, and no lease left to a dead process.\n"
		   "  exit: 0 pass, 1 fail, 2 usage\n");
}

static int
parse(int argc, char **argv)
{
	static const struct option opts[] = {
		{"lease", no_argument, NULL, 'L'},
		{"seconds", required_argument, NULL, 's'},
		{"procs", required_argument, NULL, 'p'},
		{"keys", required_argument, NULL, 'k'},
		{"ttl-ms", required_argument, NULL, 't'},
		{"compute-ms", required_argument, NULL, 'c'},
		{"kill-every", required_argument, NULL, 'K'},
		{"stale-ms", required_argument, NULL, 'S'},
		{"threads", no_argument, NULL, 'T'},
		{"seed", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	char *end;

	cfg = (struct ls_cfg){.seconds = 10, .procs = 8, .keys = 16, .ttl_ms = 100, .compute_ms = 5, .kill_every_ms = 0, .stale_ms = 0};
	cfg.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		unsigned long v = 0;
		if (optarg && ch != 's') {
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg)
				goto bad;
		}
		switch (ch) {
		case 'L':
			break;
		case 's':
			cfg.seconds = strtod(optarg, &end);
			if (*end || !(cfg.seconds > 0) || cfg.seconds > 86400)
				goto bad;
			break;
		case 'p':
			if (v < 2 || v > LS_MAX_PROCS)
				goto bad;
			cfg.procs = (unsigned)v;
			break;
		case 'k':
			if (v < 1 || v > LS_MAX_KEYS)
				goto bad;
			cfg.keys = (unsigned)v;
			break;
		case 't':
			if (v < 1 || v > 3600000)
				goto bad;
			cfg.ttl_ms = (unsigned)v;
			break;
		case 'c':
			if (v > 1000)
				goto bad;
			cfg.compute_ms = (unsigned)v;
			break;
		case 'K':
			if (v > 60000)
				goto bad;
			cfg.kill_every_ms = (unsigned)v;
			break;
		case 'S':
			if (v > 3600000)
				goto bad;
			cfg.stale_ms = (unsigned)v;
			break;
		case 'T':
			cfg.threads = 1;
			break;
		case 'r':
			cfg.seed = v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			goto bad;
		}
	}
	if (optind != argc || (cfg.threads && cfg.kill_every_ms))
		goto bad;
	return 0;
bad:
	usage(stderr);
	return -1;
}

/* After the run: no lease may be left, live or dead, once each key has
 * been leased again (a dead leader's lease is taken over at once). */
static int
final_check(fc_cache *c, uint64_t *dead_left, uint64_t *slow)
{
	for (unsigned k = 0; k < cfg.keys; k++) {
		char key[24], buf[LS_VLEN + 8];
		int kl = snprintf(key, sizeof key, "lk:%u", k);
		size_t n = sizeof buf;
		fc_lease l;
		(void)fc_delete(c, key, (size_t)kl);
		uint64_t t0 = mono_us();
		int rc = fc_lease_get(c, key, (size_t)kl, buf, &n, LS_WAIT_MS, &l);
		if (mono_us() - t0 > 1000000u)
			(*slow)++;
		if (rc == FC_LEADER)
			rc = fc_lease_abandon(c, &l);
		if (rc != FC_OK)
			return rc;
	}
	fc_stats st;
	int rc = fc_stat(c, &st);
	if (rc != FC_OK)
		return rc;
	*dead_left = st.leases_dead + st.leases_active;
	return FC_OK;
}

int
fc_stress_lease(int argc, char **argv)
{
	if (parse(argc, argv) != 0)
		return 2;
	printf("stress: mode=lease seconds=%.1f procs=%u keys=%u ttl_ms=%u compute_ms=%u "
	       "kill_every=%u stale_ms=%u threads=%d seed=%" PRIu64 "\n",
	       cfg.seconds, cfg.procs, cfg.keys, cfg.ttl_ms, cfg.compute_ms, cfg.kill_every_ms,
	       cfg.stale_ms, cfg.threads, cfg.seed);
	fflush(stdout);
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	memset(sh, 0, sizeof *sh);
	snprintf(segname, sizeof segname, "/fcstress-lease-%d", (int)getpid());
	fc_options o;
	fc_options_init(&o);
	o.flags = FC_CREATE | FC_EXCL;
	o.segment_bytes = 16u << 20;
	o.stale_ms = cfg.stale_ms;
	o.reader_slots = 1024;
	fc_cache *c;
	int rc = fc_open(segname, &o, &c);
	if (rc != FC_OK) {
		fprintf(stderr, "forkcache-stress: fc_open %s: %s\n", segname, fc_errname(rc));
		return 1;
	}
	pid_t pids[LS_MAX_PROCS];
	pthread_t th[LS_MAX_PROCS];
	unsigned gen = 0;
	uint64_t kills = 0;
	for (unsigned i = 0; i < cfg.procs; i++) {
		if (cfg.threads)
			pthread_create(&th[i], NULL, thread_main, (void *)(uintptr_t)(i + 1));
		else
			pids[i] = spawn(c, gen++);
	}
	uint64_t end = mono_us() + (uint64_t)(cfg.seconds * 1e6);
	uint64_t rng = sup_mix64(cfg.seed ^ 0xc4a05);
	while (mono_us() < end) {
		usleep(cfg.kill_every_ms ? cfg.kill_every_ms * 1000u : 50000u);
		if (!cfg.kill_every_ms || cfg.threads)
			continue;
		rng = sup_mix64(rng);
		unsigned v = (unsigned)(rng % cfg.procs);
		uint32_t slot = __atomic_load_n(&sh->nkilled, __ATOMIC_RELAXED);
		if (slot < LS_KILLED_RING) {
			/* Recorded before the kill: a checker that sees the pid
			 * as holder knows it is dead (a zombie answers kill 0). */
			__atomic_store_n(&sh->killed[slot], (uint32_t)pids[v], __ATOMIC_RELAXED);
			__atomic_store_n(&sh->nkilled, slot + 1, __ATOMIC_RELEASE);
		}
		kill(pids[v], SIGKILL);
		waitpid(pids[v], NULL, 0);
		kills++;
		pids[v] = spawn(c, gen++);
	}
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	int crashed = 0;
	for (unsigned i = 0; i < cfg.procs; i++) {
		if (cfg.threads) {
			pthread_join(th[i], NULL);
		} else {
			int st;
			waitpid(pids[i], &st, 0);
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				crashed++;
		}
	}
	uint64_t dead_left = 0, slow = 0;
	rc = final_check(c, &dead_left, &slow);
	fc_stats st;
	fc_stat(c, &st);
	int64_t problems = fc_verify(c, FC_VERIFY_LOCK, NULL, NULL);
	int pass = rc == FC_OK && !crashed && sh->doubles == 0 && sh->lost == 0 &&
		sh->bad == 0 && sh->stuck == 0 && sh->errors == 0 && dead_left == 0 &&
		slow == 0 && problems == 0 && sh->leaders > 0;
	printf("stress: seconds=%.1f mode=lease procs=%u keys=%u gets=%" PRIu64 " ok=%" PRIu64
	       " leaders=%" PRIu64 " stale=%" PRIu64 " abandons=%" PRIu64 " waits=%" PRIu64
	       " takeovers=%" PRIu64 " kills=%" PRIu64 " double_leaders=%" PRIu64
	       " lost_leases=%" PRIu64 " bad_values=%" PRIu64 " stuck=%" PRIu64
	       " timeouts=%" PRIu64 " errors=%" PRIu64 " crashed=%d max_get_ms=%.1f"
	       " dead_leases=%" PRIu64 " verify=%s result=%s\n",
	       cfg.seconds, cfg.procs, cfg.keys, sh->gets, sh->ok, sh->leaders, sh->stale,
	       sh->abandons, st.lease_waits, st.lease_takeovers, kills, sh->doubles, sh->lost,
	       sh->bad, sh->stuck + slow, sh->timeouts, sh->errors + (rc != FC_OK), crashed,
	       sh->max_get_us / 1000.0, dead_left, problems == 0 ? "ok" : "fail",
	       pass ? "PASS" : "FAIL");
	fc_close(c);
	fc_unlink(segname, 0);
	return pass ? 0 : 1;
}
