/*
 * test_sync_tier.c - forkcache as a near cache in front of Redis: two
 * segments with one forkcache-sync daemon each stand for two machines.
 *
 *   test_sync_tier FORKCACHE_SYNC FORKCACHE_CLI
 *
 * DESIGN       The test starts its own redis-server (--port 0, a unix
 *              socket in a temp dir, --save '') and its daemons as child
 *              processes with PR_SET_PDEATHSIG, so they die with the test
 *              even if it is killed; teardown stops them in any case.
 *              Figures (latency p50/p99, the fault matrix) are printed,
 *              never asserted beyond generous bounds.
 * STALE READS  In the fault scenarios a writer thread plays machine A
 *              (bump a key's version in the "database", then
 *              fc_invalidate_publish, retried until it succeeds) and a
 *              reader thread plays machine B (read through B's segment,
 *              fill misses from the database). A read of version v that
 *              started more than the bound after v was superseded is a
 *              "stale read past the bound" (docs/redis.md, the rule).
 *              Negative controls run the same faults with the daemon's
 *              --unsafe-no-flush and must see stale reads: the check can
 *              fail.
 */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "forkcache.h"
#include "forkcache-redis.h"

#define WAIT_MS 10000u /* generous bound for anything to happen */
#define LAT_N 10000 /* invalidations timed */
#define LAT_MAX_US 2000000u /* "within a bound": 2 s, generous */
#define BURST_N 100000 /* burst size */
#define BURST_THREADS 2 /* publishers in the burst */
#define RSS_GROWTH_MAX_KB 8192 /* daemon heap growth allowed in a burst */
#define FAULT_BOUND_MS 1000u /* --stale-bound of the fault scenarios */
/*
 * The daemon-kill scenario's bound. A dead daemon guards nothing from the
 * kill until its successor's startup flush: the supervisor's restart delay
 * (300 ms here) plus the process start. Under a load average of 25 with
 * ASan the start took over 700 ms (4354 stale reads past a 1000 ms bound),
 * and the rule's precondition is a restart within the bound
 * (docs/redis.md), so this scenario allows 2000 ms.
 */
#define KILL_BOUND_MS 2000u
#define NKEYS 32 /* keys of the fault stream */
#define RING 16384 /* versions remembered per key */
#define MAX_DAEMONS 8
#define MAX_SEGS 8

static const char *g_sync_bin, *g_cli_bin;
static char g_dir[128], g_sock[200];
static pid_t g_redis = -1;
static redisContext *g_ctl;
static int g_seg_counter;

/* ------------------------------------------------------------- time -- */

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* -------------------------------------------------------- processes -- */

/* fork + exec with stdout/stderr appended to files; the child dies with
 * the test (PR_SET_PDEATHSIG), so nothing outlives a killed test. */
static pid_t
spawn(char *const argv[], const char *out, const char *err)
{
	pid_t parent = getpid(), p = fork();

	if (p < 0)
		return -1;
	if (p == 0) {
		int fo, fe;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		fo = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);
		fe = open(err, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fo < 0 || fe < 0)
			_exit(127);
		dup2(fo, 1);
		dup2(fe, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	return p;
}

/* Wait for @p pid up to @p ms; SIGKILL it after that. @return status. */
static int
reap(pid_t pid, unsigned ms)
{
	int st = 0;

	for (unsigned t = 0; t < ms; t += 5) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (r < 0)
			return -1;
		sleep_ms(5);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return st;
}

/* ------------------------------------------------------------- redis -- */

static void
ctl_close(void)
{
	if (g_ctl != NULL)
		redisFree(g_ctl);
	g_ctl = NULL;
}

/* A command on the test's own control connection (reconnects). */
static redisReply *
ctl(int argc, const char **argv, const size_t *argl)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		redisReply *r;

		if (g_ctl == NULL) {
			struct timeval tv = {5, 0};

			g_ctl = redisConnectUnixWithTimeout(g_sock, tv);
			if (g_ctl == NULL || g_ctl->err) {
				ctl_close();
				return NULL;
			}
		}
		r = redisCommandArgv(g_ctl, argc, argv, argl);
		if (r != NULL)
			return r;
		ctl_close();
	}
	return NULL;
}

static bool
redis_ping(void)
{
	const char *argv[1] = {"PING"};
	redisReply *r = ctl(1, argv, NULL);
	bool ok = r && r->type == REDIS_REPLY_STATUS &&
		strcmp(r->str, "PONG") == 0;

	if (r)
		freeReplyObject(r);
	return ok;
}

static void
redis_start(void)
{
	char out[256], err[256];
	char *argv[] = {"redis-server", "--port", "0", "--unixsocket",
			g_sock, "--unixsocketperm", "700", "--save", "",
			"--appendonly", "no", "--dir", g_dir,
			"--daemonize", "no", NULL};

	snprintf(out, sizeof out, "%s/redis.out", g_dir);
	snprintf(err, sizeof err, "%s/redis.err", g_dir);
	g_redis = spawn(argv, out, err);
	assert_true(g_redis > 0);
	ctl_close();
	for (unsigned t = 0; t < WAIT_MS; t += 10) {
		if (redis_ping())
			return;
		ctl_close();
		sleep_ms(10);
	}
	fail_msg("redis-server did not answer on %s", g_sock);
}

static void
redis_stop(int sig)
{
	if (g_redis <= 0)
		return;
	ctl_close();
	kill(g_redis, sig);
	reap(g_redis, 5000);
	g_redis = -1;
}

static void
publish_raw(const char *chan, const char *msg, size_t len)
{
	const char *argv[3] = {"PUBLISH", chan, msg};
	size_t argl[3] = {strlen("PUBLISH"), strlen(chan), len};
	redisReply *r = ctl(3, argv, argl);

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	freeReplyObject(r);
}

/* ----------------------------------------------------------- daemons -- */

struct daemon {
	pid_t pid;
	char seg[64], ns[64], out[256], err[256];
	unsigned bound_ms;
	bool unsafe;
};

static struct daemon *g_daemons[MAX_DAEMONS];

static void
daemon_register(struct daemon *d)
{
	for (int i = 0; i < MAX_DAEMONS; i++)
		if (g_daemons[i] == NULL || g_daemons[i] == d) {
			g_daemons[i] = d;
			return;
		}
	fail_msg("too many daemons");
}

static void
daemon_start(struct daemon *d)
{
	char redis[256], bound[32];
	char *argv[16];
	int n = 0;

	snprintf(redis, sizeof redis, "unix:%s", g_sock);
	snprintf(bound, sizeof bound, "%u", d->bound_ms);
	argv[n++] = (char *)g_sync_bin;
	argv[n++] = d->seg;
	argv[n++] = "--redis";
	argv[n++] = redis;
	argv[n++] = "--namespace";
	argv[n++] = d->ns;
	argv[n++] = "--stale-bound";
	argv[n++] = bound;
	argv[n++] = "--json";
	if (d->unsafe)
		argv[n++] = "--unsafe-no-flush";
	argv[n] = NULL;
	d->pid = spawn(argv, d->out, d->err);
	assert_true(d->pid > 0);
	daemon_register(d);
}

static void
daemon_init(struct daemon *d, const char *seg, const char *ns,
	    unsigned bound_ms, const char *tag)
{
	memset(d, 0, sizeof *d);
	snprintf(d->seg, sizeof d->seg, "%s", seg);
	snprintf(d->ns, sizeof d->ns, "%s", ns);
	snprintf(d->out, sizeof d->out, "%s/%s.out", g_dir, tag);
	snprintf(d->err, sizeof d->err, "%s/%s.err", g_dir, tag);
	unlink(d->out);
	unlink(d->err);
	d->bound_ms = bound_ms;
}

/* Lines of @p path that start with @p prefix; *last gets the last one. */
static int
count_lines(const char *path, const char *prefix, char *last, size_t lastsz)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, prefix, strlen(prefix)) == 0) {
			n++;
			if (last)
				snprintf(last, lastsz, "%s", line);
		}
	fclose(f);
	return n;
}

static int
subscribed_count(const struct daemon *d)
{
	return count_lines(d->out, "forkcache-sync: subscribed", NULL, 0);
}

static void
wait_subscribed(const struct daemon *d, int n)
{
	for (unsigned t = 0; t < WAIT_MS; t += 5) {
		if (subscribed_count(d) >= n)
			return;
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid)
			fail_msg("forkcache-sync %s exited (see %s)", d->seg,
				 d->err);
		sleep_ms(5);
	}
	fail_msg("forkcache-sync %s: no subscribed line #%d (see %s)", d->seg,
		 n, d->err);
}

/* SIGUSR1, wait for the new JSON stats line, return field @p f. */
static uint64_t
daemon_stat(const struct daemon *d, const char *f)
{
	char line[4096], key[64];
	int before = count_lines(d->out, "{", NULL, 0);

	assert_int_equal(kill(d->pid, SIGUSR1), 0);
	for (unsigned t = 0; t < WAIT_MS; t += 5) {
		if (count_lines(d->out, "{", line, sizeof line) > before) {
			const char *p;

			snprintf(key, sizeof key, "\"%s\":", f);
			p = strstr(line, key);
			if (p == NULL)
				fail_msg("no field %s in %s", f, line);
			return strtoull(p + strlen(key), NULL, 10);
		}
		sleep_ms(5);
	}
	fail_msg("forkcache-sync %s: no stats after SIGUSR1", d->seg);
	return 0;
}

/* Stop with SIGTERM: exit status 0 expected. */
static int
daemon_stop(struct daemon *d)
{
	int st;

	if (d->pid <= 0)
		return 0;
	kill(d->pid, SIGTERM);
	st = reap(d->pid, 5000);
	d->pid = -1;
	return st;
}

static long
rss_anon_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "RssAnon: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ---------------------------------------------------------- segments -- */

struct seg {
	char name[64];
	fc_cache *c;
};

static struct seg *g_segs[MAX_SEGS];

static void
seg_create(struct seg *s, uint64_t bytes, uint32_t avg)
{
	fc_options o;

	snprintf(s->name, sizeof s->name, "/fcsync-%d-%d", (int)getpid(),
		 ++g_seg_counter);
	fc_options_init(&o);
	o.flags = FC_CREATE | FC_EXCL;
	o.segment_bytes = bytes;
	if (avg)
		o.avg_item_bytes = avg;
	assert_int_equal(fc_open(s->name, &o, &s->c), FC_OK);
	for (int i = 0; i < MAX_SEGS; i++)
		if (g_segs[i] == NULL) {
			g_segs[i] = s;
			return;
		}
	fail_msg("too many segments");
}

static bool
has_key(fc_cache *c, const char *k)
{
	size_t n = 0;
	int rc = fc_get(c, k, strlen(k), NULL, &n);

	return rc == FC_OK || rc == FC_ETRUNC;
}

static fc_redis *
redis_open(void)
{
	char addr[256];
	fc_redis *r;

	snprintf(addr, sizeof addr, "unix:%s", g_sock);
	assert_int_equal(fc_redis_open(addr, NULL, &r), FC_OK);
	return r;
}

/* Two machines: segments A and B with a daemon each, namespace @p ns. */
struct pair {
	struct seg a, b;
	struct daemon da, db;
};

static void
pair_start(struct pair *p, const char *ns, unsigned bound_ms, uint64_t bytes,
	   uint32_t avg)
{
	char tag[96];

	seg_create(&p->a, bytes, avg);
	seg_create(&p->b, bytes, avg);
	snprintf(tag, sizeof tag, "%s-A", ns);
	daemon_init(&p->da, p->a.name, ns, bound_ms, tag);
	snprintf(tag, sizeof tag, "%s-B", ns);
	daemon_init(&p->db, p->b.name, ns, bound_ms, tag);
	daemon_start(&p->da);
	daemon_start(&p->db);
	wait_subscribed(&p->da, 1);
	wait_subscribed(&p->db, 1);
}

/* --------------------------------------------------------- fixtures -- */

static int
group_setup(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof g_dir, "/tmp/fcsync-XXXXXX");
	if (mkdtemp(g_dir) == NULL)
		return -1;
	snprintf(g_sock, sizeof g_sock, "%s/redis.sock", g_dir);
	redis_start();
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[300];

	(void)state;
	redis_stop(SIGTERM);
	if (getenv("FC_SYNC_KEEP") == NULL) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", g_dir);
	}
	return 0;
}

/* Per test: stop every daemon, drop every segment, and make sure Redis
 * is running again for the next test whatever this one did to it. */
static void stream_stop(void);

static int
test_teardown(void **state)
{
	(void)state;
	stream_stop();
	for (int i = 0; i < MAX_DAEMONS; i++)
		if (g_daemons[i] != NULL) {
			daemon_stop(g_daemons[i]);
			g_daemons[i] = NULL;
		}
	for (int i = 0; i < MAX_SEGS; i++)
		if (g_segs[i] != NULL) {
			fc_close(g_segs[i]->c);
			fc_unlink(g_segs[i]->name, 0);
			g_segs[i] = NULL;
		}
	if (g_redis <= 0 || !redis_ping()) {
		redis_stop(SIGKILL);
		redis_start();
	}
	return 0;
}

/* ------------------------------------------------------------ tests -- */

static int
cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* An invalidation published on A removes the key on B; p50/p99 printed. */
static void
invalidation_reaches_the_other_machine(void **state)
{
	static uint64_t lat[LAT_N];
	static struct pair p; /* registered for teardown */
	fc_redis *r;
	const char *k = "product:7";

	(void)state;
	pair_start(&p, "lat", 5000, 16u << 20, 0);
	r = redis_open();
	for (int i = 0; i < LAT_N; i++) {
		assert_int_equal(fc_set(p.b.c, k, strlen(k), "v", 1, 0),
				 FC_OK);
		uint64_t t0 = now_us();

		assert_int_equal(fc_invalidate_publish(p.a.c, r, "lat", k,
						       strlen(k)),
				 FC_OK);
		while (has_key(p.b.c, k)) {
			if (now_us() - t0 > LAT_MAX_US)
				fail_msg("invalidation %d not applied on B "
					 "within %u us",
					 i, LAT_MAX_US);
			sched_yield();
		}
		lat[i] = now_us() - t0;
	}
	fc_redis_close(r);
	qsort(lat, LAT_N, sizeof lat[0], cmp_u64);
	printf("invalidation latency A->B over %d: p50 %" PRIu64 " us, p99 %" PRIu64 " us, max %" PRIu64 " us (publish round trip "
	       "included)\n",
	       LAT_N, lat[LAT_N / 2], lat[LAT_N * 99 / 100],
	       lat[LAT_N - 1]);
	assert_int_equal(daemon_stat(&p.db, "keys"), LAT_N);
	assert_int_equal(daemon_stat(&p.db, "gaps"), 0);
}

static int
count_prefix(fc_cache *c, const char *prefix)
{
	fc_iter *it;
	fc_item item;
	int n = 0;

	assert_int_equal(fc_iter_open(c, &it), FC_OK);
	while (fc_iter_next(it, &item) == FC_OK)
		if (item.klen >= strlen(prefix) &&
		    memcmp(item.key, prefix, strlen(prefix)) == 0)
			n++;
	fc_iter_close(it);
	return n;
}

static void
wait_prefix_count(fc_cache *c, const char *prefix, int want)
{
	for (unsigned t = 0; t < WAIT_MS; t += 2) {
		if (count_prefix(c, prefix) == want)
			return;
		sleep_ms(2);
	}
	fail_msg("%d keys with prefix %s, want %d", count_prefix(c, prefix),
		 prefix, want);
}

static int
run_cli(const char *a1, const char *a2, const char *a3, const char *a4,
	const char *ns)
{
	char redis[256], out[256];
	char *argv[12];
	int n = 0;

	snprintf(redis, sizeof redis, "unix:%s", g_sock);
	snprintf(out, sizeof out, "%s/cli.out", g_dir);
	argv[n++] = (char *)g_cli_bin;
	argv[n++] = "invalidate";
	argv[n++] = (char *)a1;
	argv[n++] = (char *)a2;
	if (a3)
		argv[n++] = (char *)a3;
	if (a4)
		argv[n++] = (char *)a4;
	argv[n++] = "--redis";
	argv[n++] = redis;
	argv[n++] = "--namespace";
	argv[n++] = (char *)ns;
	argv[n] = NULL;
	pid_t pid = spawn(argv, out, out);
	int st = reap(pid, WAIT_MS);

	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Prefix invalidation, namespace flush (--all), and namespace isolation:
 * a third machine C in another namespace keeps everything. */
static void
prefix_and_namespace_flush(void **state)
{
	static struct pair p; /* registered for teardown */
	static struct seg c;
	static struct daemon dc;
	fc_redis *r;
	char k[32];

	(void)state;
	pair_start(&p, "pfx", 5000, 16u << 20, 0);
	seg_create(&c, 16u << 20, 0);
	daemon_init(&dc, c.name, "pfx-other", 5000, "pfx-C");
	daemon_start(&dc);
	wait_subscribed(&dc, 1);
	for (int i = 0; i < 50; i++) {
		fc_cache *segs[3] = {p.a.c, p.b.c, c.c};

		for (int s = 0; s < 3; s++) {
			snprintf(k, sizeof k, "user:%d", i);
			assert_int_equal(fc_set(segs[s], k, strlen(k), "u", 1,
						0),
					 FC_OK);
			snprintf(k, sizeof k, "item:%d", i);
			assert_int_equal(fc_set(segs[s], k, strlen(k), "i", 1,
						0),
					 FC_OK);
		}
	}
	r = redis_open();
	assert_int_equal(fc_invalidate_prefix_publish(p.a.c, r, "pfx", "user:",
						      5),
			 FC_OK);
	assert_int_equal(count_prefix(p.a.c, "user:"), 0); /* at once */
	wait_prefix_count(p.b.c, "user:", 0);
	assert_int_equal(count_prefix(p.b.c, "item:"), 50);
	/* CLI, one key, then the whole namespace. */
	assert_int_equal(run_cli(p.a.name, "item:7", NULL, NULL, "pfx"), 0);
	wait_prefix_count(p.b.c, "item:", 49);
	assert_false(has_key(p.b.c, "item:7"));
	assert_int_equal(run_cli(p.a.name, "--prefix", "item:1", NULL, "pfx"),
			 0);
	wait_prefix_count(p.b.c, "item:", 38); /* item:1, item:10..19 */
	assert_int_equal(run_cli(p.a.name, "--all", NULL, NULL, "pfx"), 0);
	wait_prefix_count(p.b.c, "item:", 0);
	assert_int_equal(count_prefix(p.a.c, ""), 0);
	/* C, in another namespace, heard none of it. */
	sleep_ms(50);
	assert_int_equal(count_prefix(c.c, "user:"), 50);
	assert_int_equal(count_prefix(c.c, "item:"), 50);
	assert_int_equal(daemon_stat(&dc, "messages"), 0);
	assert_int_equal(daemon_stat(&p.db, "prefixes"), 2);
	assert_int_equal(daemon_stat(&p.db, "alls"), 1);
	fc_redis_close(r);
	daemon_stop(&dc);
}

/* ---------------------------------------------------- fault streams -- */

struct stream {
	fc_cache *a, *b;
	const char *ns;
	uint64_t bound_us;
	_Atomic uint64_t ver[NKEYS];
	_Atomic uint64_t tsup[NKEYS][RING]; /* us when version v was replaced */
	atomic_int write_keys; /* the writer updates keys 0..write_keys-1 */
	atomic_bool stop;
	/* results (each written by one thread, read after join) */
	uint64_t reads, hits, stale_within, stale_past, max_stale_us;
	uint64_t writes, publish_failures;
};

static void
stream_key(int k, char *buf, size_t sz)
{
	snprintf(buf, sz, "row:%d", k);
}

static void *
writer_main(void *arg)
{
	struct stream *s = arg;
	fc_redis *r = redis_open();
	char key[32];

	for (uint64_t i = 0; !atomic_load(&s->stop); i++) {
		int k = (int)(i % (uint64_t)atomic_load(&s->write_keys));
		uint64_t v = atomic_load_explicit(&s->ver[k],
						  memory_order_relaxed);

		/* The database write: remember when v stopped being true,
		 * then publish v+1 (release: pairs with the reader's
		 * acquire load of ver, so it sees tsup). */
		atomic_store_explicit(&s->tsup[k][v % RING], now_us(),
				      memory_order_relaxed);
		atomic_store_explicit(&s->ver[k], v + 1, memory_order_release);
		s->writes++;
		stream_key(k, key, sizeof key);
		while (fc_invalidate_publish(s->a, r, s->ns, key,
					     strlen(key)) != FC_OK) {
			s->publish_failures++;
			if (atomic_load(&s->stop))
				break;
			sleep_ms(20); /* the application's retry */
		}
		sleep_ms(2);
	}
	fc_redis_close(r);
	return NULL;
}

static void *
reader_main(void *arg)
{
	struct stream *s = arg;
	uint64_t rng = 0x9e3779b97f4a7c15u ^ (uint64_t)getpid();
	char key[32], buf[32];

	while (!atomic_load(&s->stop)) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		int k = (int)(rng % NKEYS);
		size_t n = sizeof buf - 1;
		uint64_t t0 = now_us();

		stream_key(k, key, sizeof key);
		int rc = fc_get(s->b, key, strlen(key), buf, &n);

		s->reads++;
		if (rc == FC_OK) {
			buf[n] = '\0';
			uint64_t v = strtoull(buf, NULL, 10);
			uint64_t cur = atomic_load_explicit(
				&s->ver[k], memory_order_acquire);

			s->hits++;
			if (v < cur) {
				uint64_t ts = atomic_load_explicit(
					&s->tsup[k][v % RING],
					memory_order_relaxed);

				if (t0 > ts + s->bound_us) {
					s->stale_past++;
					if (t0 - ts > s->max_stale_us)
						s->max_stale_us = t0 - ts;
				} else {
					s->stale_within++;
				}
			}
		} else if (rc == FC_ENOTFOUND) {
			/* Read-through fill, then check the database did not
			 * move meanwhile (else our fill may be stale and its
			 * invalidation already applied: drop it). */
			uint64_t v = atomic_load_explicit(
				&s->ver[k], memory_order_acquire);

			n = (size_t)snprintf(buf, sizeof buf, "%" PRIu64, v);
			fc_set(s->b, key, strlen(key), buf, n, 0);
			if (atomic_load_explicit(&s->ver[k],
						 memory_order_acquire) != v)
				fc_delete(s->b, key, strlen(key));
		}
		sleep_ms(0);
		sched_yield();
	}
	return NULL;
}

enum fault { F_REDIS_RESTART,
	     F_PAUSE,
	     F_DAEMON_KILL };

static const char *const fault_names[] = {
	[F_REDIS_RESTART] = "Redis SIGKILLed, restarted after 300 ms",
	[F_PAUSE] = "network cut: CLIENT PAUSE 2500 ALL",
	[F_DAEMON_KILL] = "daemon on B SIGKILLed, restarted after 300 ms",
};

/* The running stream's threads, so that a failed assertion (which
 * longjmps out of fault_stream) cannot leave them using segments that the
 * teardown closes. */
static struct stream *g_stream;
static pthread_t g_stream_threads[2];
static int g_stream_nthreads;

static void
stream_stop(void)
{
	if (g_stream == NULL)
		return;
	atomic_store(&g_stream->stop, true);
	for (int i = 0; i < g_stream_nthreads; i++)
		pthread_join(g_stream_threads[i], NULL);
	g_stream_nthreads = 0;
	g_stream = NULL;
}

#define MATRIX_MAX 8
static char g_matrix[MATRIX_MAX][256];
static int g_matrix_n;

/*
 * Run the writer and reader through @p f; @return the stale reads past
 * the bound. With @p unsafe, B's daemon runs with --unsafe-no-flush.
 */
static uint64_t
fault_stream(enum fault f, bool unsafe)
{
	static struct stream s;
	static struct pair p; /* registered for teardown */
	char ns[32];
	int subs;

	snprintf(ns, sizeof ns, "fault%d%s", (int)f, unsafe ? "u" : "");
	memset(&s, 0, sizeof s);
	/* B's daemon: --unsafe-no-flush for the negative control. */
	seg_create(&p.a, 16u << 20, 0);
	seg_create(&p.b, 16u << 20, 0);
	unsigned bound = f == F_DAEMON_KILL ? KILL_BOUND_MS : FAULT_BOUND_MS;

	daemon_init(&p.da, p.a.name, ns, bound, "fault-A");
	daemon_init(&p.db, p.b.name, ns, bound, "fault-B");
	p.db.unsafe = unsafe;
	daemon_start(&p.da);
	daemon_start(&p.db);
	wait_subscribed(&p.da, 1);
	wait_subscribed(&p.db, 1);

	s.a = p.a.c;
	s.b = p.b.c;
	s.ns = ns;
	s.bound_us = bound * 1000u;
	atomic_store(&s.write_keys, NKEYS);
	g_stream = &s;
	assert_int_equal(pthread_create(&g_stream_threads[0], NULL,
					writer_main, &s),
			 0);
	g_stream_nthreads = 1;
	assert_int_equal(pthread_create(&g_stream_threads[1], NULL,
					reader_main, &s),
			 0);
	g_stream_nthreads = 2;
	sleep_ms(1000);
	subs = subscribed_count(&p.db);
	uint64_t t_fault = now_us();

	switch (f) {
	case F_REDIS_RESTART:
		redis_stop(SIGKILL);
		sleep_ms(300);
		redis_start();
		break;
	case F_PAUSE: {
		const char *argv[4] = {"CLIENT", "PAUSE", "2500", "ALL"};
		redisReply *r = ctl(4, argv, NULL);

		assert_non_null(r);
		assert_int_equal(r->type, REDIS_REPLY_STATUS);
		freeReplyObject(r);
		sleep_ms(2500);
		break;
	}
	case F_DAEMON_KILL:
		kill(p.db.pid, SIGKILL);
		reap(p.db.pid, 5000);
		subs = 0; /* the new process prints its own lines */
		unlink(p.db.out);
		sleep_ms(300);
		daemon_start(&p.db);
		break;
	}
	wait_subscribed(&p.db, subs + 1); /* and again after reconnect */
	uint64_t recovered_ms = (now_us() - t_fault) / 1000;

	/* From now on half of the keys are never written again: a value of
	 * theirs missed during the fault would be served forever, unless the
	 * rule flushed it (a key still written would be fixed by its next
	 * invalidation and hide the miss). */
	atomic_store(&s.write_keys, NKEYS / 2);
	sleep_ms(bound + 500); /* a value missed stays past the bound */
	stream_stop();

	uint64_t fc = daemon_stat(&p.db, "flush_connect");
	uint64_t fd = daemon_stat(&p.db, "flush_disconnected");

	if (g_matrix_n < MATRIX_MAX)
		snprintf(g_matrix[g_matrix_n++], sizeof g_matrix[0],
			 "%-48s%s stale reads past the bound: %" PRIu64
			 " (bound %u ms, subscribed again after %" PRIu64
			 " ms; within: %" PRIu64 ", reads: %" PRIu64
			 ", writes: %" PRIu64 ", publish retries: %" PRIu64
			 ", B flushes connect/disconnected: %" PRIu64 "/%" PRIu64 ")",
			 fault_names[f],
			 unsafe ? " [--unsafe-no-flush]" : "", s.stale_past,
			 bound, recovered_ms, s.stale_within, s.reads,
			 s.writes, s.publish_failures, fc, fd);
	printf("%s\n", g_matrix[g_matrix_n - 1]);
	assert_true(s.reads > 1000);
	assert_true(s.writes > 100);
	assert_true(s.hits > 0);
	if (!unsafe) {
		/* The rule fired for the reason the fault implies. */
		if (f == F_REDIS_RESTART)
			assert_true(fc >= 2); /* first connect + run_id */
		if (f == F_PAUSE)
			assert_true(fd >= 1);
		if (f == F_DAEMON_KILL)
			assert_int_equal(fc, 1); /* the new process */
	}
	return s.stale_past;
}

static void
redis_restart_serves_nothing_stale_past_the_bound(void **state)
{
	(void)state;
	assert_int_equal(fault_stream(F_REDIS_RESTART, false), 0);
}

static void
network_cut_serves_nothing_stale_past_the_bound(void **state)
{
	(void)state;
	assert_int_equal(fault_stream(F_PAUSE, false), 0);
}

static void
daemon_kill_serves_nothing_stale_past_the_bound(void **state)
{
	(void)state;
	assert_int_equal(fault_stream(F_DAEMON_KILL, false), 0);
}

/* Negative controls: without the rule the same faults leave stale
 * values, so the checks above can fail. */
static void
without_the_rule_a_network_cut_serves_stale_values(void **state)
{
	(void)state;
	assert_true(fault_stream(F_PAUSE, true) > 0);
}

static void
without_the_rule_a_daemon_kill_serves_stale_values(void **state)
{
	(void)state;
	assert_true(fault_stream(F_DAEMON_KILL, true) > 0);
}

struct burst_arg {
	int first, count;
};

static void *
burst_main(void *arg)
{
	struct burst_arg *b = arg;
	fc_redis *r = redis_open();
	char k[32];
	intptr_t bad = 0;

	for (int i = b->first; i < b->first + b->count; i++) {
		snprintf(k, sizeof k, "b:%d", i);
		if (fc_invalidate_publish(NULL, r, "burst", k, strlen(k)) !=
		    FC_OK)
			bad++;
	}
	fc_redis_close(r);
	return (void *)bad;
}

/* 100,000 invalidations as fast as 2 publishers go: every one applied,
 * no flush masking a loss, the daemon's heap stays small. */
static void
burst_loses_nothing_and_memory_stays_bounded(void **state)
{
	static struct pair p; /* registered for teardown */
	pthread_t t[BURST_THREADS];
	struct burst_arg args[BURST_THREADS];
	char k[32];
	long rss0, rss1;
	uint64_t t0, keys = 0;

	(void)state;
	/* avg 64 B: an index with room for the 100,000 keys. */
	pair_start(&p, "burst", 30000, 32u << 20, 64);
	for (int i = 0; i < BURST_N; i++) {
		snprintf(k, sizeof k, "b:%d", i);
		assert_int_equal(fc_set(p.b.c, k, strlen(k), "x", 1, 0),
				 FC_OK);
	}
	rss0 = rss_anon_kb(p.db.pid);
	t0 = now_us();
	for (int i = 0; i < BURST_THREADS; i++) {
		args[i].first = i * (BURST_N / BURST_THREADS);
		args[i].count = BURST_N / BURST_THREADS;
		assert_int_equal(pthread_create(&t[i], NULL, burst_main,
						&args[i]),
				 0);
	}
	for (int i = 0; i < BURST_THREADS; i++) {
		void *bad;

		pthread_join(t[i], &bad);
		assert_int_equal((intptr_t)bad, 0);
	}
	uint64_t pub_us = now_us() - t0;
	for (unsigned w = 0; w < WAIT_MS; w += 20) {
		if ((keys = daemon_stat(&p.db, "keys")) >= BURST_N)
			break;
		sleep_ms(20);
	}
	uint64_t all_us = now_us() - t0;
	rss1 = rss_anon_kb(p.db.pid);
	printf("burst: %d invalidations published in %.2f s by %d threads, "
	       "all applied on B after %.2f s (%" PRIu64 " messages); B "
	       "daemon RssAnon %ld -> %ld kB\n",
	       BURST_N, pub_us / 1e6,
	       BURST_THREADS, all_us / 1e6, keys, rss0, rss1);
	/* A publish whose reply timed out is sent again (fc_redis retries
	 * once on a fresh connection): a duplicate may arrive, and finds
	 * nothing left to delete. */
	assert_true(keys >= BURST_N);
	assert_int_equal(daemon_stat(&p.db, "deleted"), BURST_N);
	assert_int_equal(daemon_stat(&p.db, "gaps"), 0);
	assert_int_equal(daemon_stat(&p.db, "disconnects"), 0);
	/* No flush that could hide a lost message. */
	assert_int_equal(daemon_stat(&p.db, "flush_gap"), 0);
	assert_int_equal(daemon_stat(&p.db, "flush_disconnected"), 0);
	assert_int_equal(daemon_stat(&p.db, "flush_connect"), 1);
	for (int i = 0; i < BURST_N; i++) {
		snprintf(k, sizeof k, "b:%d", i);
		if (has_key(p.b.c, k))
			fail_msg("%s survived the burst", k);
	}
	assert_true(rss0 > 0 && rss1 > 0);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	/* Under ASan or TSan the daemon's heap holds the sanitizer's
	 * quarantine and shadow (tens of MiB): the figure is printed, the
	 * bound is checked in the plain build only. */
	assert_true(rss1 - rss0 < RSS_GROWTH_MAX_KB);
#endif
}

/* Garbage on the channel is logged and ignored: no crash, no flush, the
 * next real invalidation still works. */
static void
malformed_messages_are_logged_and_ignored(void **state)
{
	static const struct {
		const char *m;
		size_t n;
	} bad[] = {
		{"", 0},
		{"garbage", 7},
		{"x key k", 7},
		{"1", 1},
		{"1 key", 5},
		{"1 key ", 6},
		{"1 nope k", 8},
		{"-5 key keep:2", 13},
		{"99999999999999999999 key keep:2", 31},
		{"1 all extra", 11},
		{"01 key keep:2", 13},
		{"2\0key keep:3", 12},
		{"3 prefix ", 9},
	};
	const size_t nbad = sizeof bad / sizeof bad[0];
	char chan[64], k[32], big[300];
	static struct pair p; /* registered for teardown */
	fc_redis *r;

	(void)state;
	pair_start(&p, "mal", 5000, 16u << 20, 0);
	for (int i = 1; i <= 10; i++) {
		snprintf(k, sizeof k, "keep:%d", i);
		assert_int_equal(fc_set(p.b.c, k, strlen(k), "v", 1, 0),
				 FC_OK);
	}
	snprintf(chan, sizeof chan, "%smal", FC_REDIS_CHANNEL_PREFIX);
	for (size_t i = 0; i < nbad; i++)
		publish_raw(chan, bad[i].m, bad[i].n);
	/* A key one byte over FC_KEY_MAX. */
	memcpy(big, "4 key ", 6);
	memset(big + 6, 'k', FC_KEY_MAX + 1);
	publish_raw(chan, big, 6 + FC_KEY_MAX + 1);
	r = redis_open();
	assert_int_equal(fc_invalidate_publish(p.a.c, r, "mal", "keep:1", 6),
			 FC_OK);
	for (unsigned t = 0; t < WAIT_MS && has_key(p.b.c, "keep:1"); t += 2)
		sleep_ms(2);
	assert_false(has_key(p.b.c, "keep:1"));
	for (int i = 2; i <= 10; i++) {
		snprintf(k, sizeof k, "keep:%d", i);
		assert_true(has_key(p.b.c, k));
	}
	assert_int_equal(waitpid(p.db.pid, NULL, WNOHANG), 0); /* alive */
	assert_int_equal(daemon_stat(&p.db, "malformed"), nbad + 1);
	/* start and first connect only: the garbage flushed nothing */
	assert_int_equal(daemon_stat(&p.db, "flushes"), 2);
	assert_true(count_lines(p.db.err, "forkcache-sync: warn: malformed "
					  "message ignored",
				NULL, 0) >= 10);
	fc_redis_close(r);
	assert_int_equal(daemon_stop(&p.db), 0); /* SIGTERM: exit 0 */
}

/* The application replaced its segment (unlink + create under the same
 * name): the daemon attaches to the new one and guards it. */
static void
replaced_segment_is_attached_again(void **state)
{
	static struct pair p; /* registered for teardown */
	static struct seg b2;
	fc_options o;
	fc_redis *r;
	uint64_t n = 0;

	(void)state;
	pair_start(&p, "repl", 5000, 16u << 20, 0);
	assert_int_equal(fc_unlink(p.b.name, 0), FC_OK);
	snprintf(b2.name, sizeof b2.name, "%s", p.b.name);
	fc_options_init(&o);
	o.flags = FC_CREATE | FC_EXCL;
	o.segment_bytes = 16u << 20;
	assert_int_equal(fc_open(b2.name, &o, &b2.c), FC_OK);
	for (int i = 0; i < MAX_SEGS; i++)
		if (g_segs[i] == NULL) {
			g_segs[i] = &b2;
			break;
		}
	for (unsigned t = 0; t < WAIT_MS; t += 100) {
		if ((n = daemon_stat(&p.db, "reattaches")) >= 1)
			break;
		sleep_ms(100);
	}
	assert_int_equal(n, 1);
	assert_int_equal(fc_set(b2.c, "k", 1, "new", 3, 0), FC_OK);
	assert_int_equal(fc_set(p.b.c, "k", 1, "old", 3, 0), FC_OK);
	r = redis_open();
	assert_int_equal(fc_invalidate_publish(p.a.c, r, "repl", "k", 1),
			 FC_OK);
	for (unsigned t = 0; t < WAIT_MS && has_key(b2.c, "k"); t += 2)
		sleep_ms(2);
	assert_false(has_key(b2.c, "k"));
	assert_true(has_key(p.b.c, "k")); /* the old one: no longer guarded */
	fc_redis_close(r);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(
			invalidation_reaches_the_other_machine, test_teardown),
		cmocka_unit_test_teardown(prefix_and_namespace_flush,
					  test_teardown),
		cmocka_unit_test_teardown(
			redis_restart_serves_nothing_stale_past_the_bound,
			test_teardown),
		cmocka_unit_test_teardown(
			network_cut_serves_nothing_stale_past_the_bound,
			test_teardown),
		cmocka_unit_test_teardown(
			daemon_kill_serves_nothing_stale_past_the_bound,
			test_teardown),
		cmocka_unit_test_teardown(
			without_the_rule_a_network_cut_serves_stale_values,
			test_teardown),
		cmocka_unit_test_teardown(
			without_the_rule_a_daemon_kill_serves_stale_values,
			test_teardown),
		cmocka_unit_test_teardown(
			burst_loses_nothing_and_memory_stays_bounded,
			test_teardown),
		cmocka_unit_test_teardown(
			malformed_messages_are_logged_and_ignored,
			test_teardown),
		cmocka_unit_test_teardown(replaced_segment_is_attached_again,
					  test_teardown),
	};
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: %s FORKCACHE_SYNC FORKCACHE_CLI\n",
			argv[0]);
		return 2;
	}
	g_sync_bin = argv[1];
	g_cli_bin = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	printf("fault matrix:\n");
	for (int i = 0; i < g_matrix_n; i++)
		printf("  %s\n", g_matrix[i]);
	return rc;
}
