/*
 * forkcache-peers.c - forkcache side by side with what a user would pick
 * instead, in one run on one machine.
 *
 * SYSTEMS      forkcache     fc_get/fc_set on one segment created by the
 *                            parent and inherited by the forked workers.
 *              memcached     over a unix socket (libmemcached), started by
 *                            this program (-t 2: one thread per core here).
 *              redis         over a unix socket (hiredis), started by this
 *                            program with --save '' --port 0.
 *              lmdb          liblmdb in a file on tmpfs, MDB_NOSYNC |
 *                            MDB_NOMETASYNC | MDB_WRITEMAP | MDB_NORDAHEAD;
 *                            each worker opens the environment after fork()
 *                            (LMDB forbids inheriting it) and keeps one read
 *                            transaction that it renews and resets per get.
 *              rwlock_table  a plain chained hash table in a MAP_SHARED
 *                            mapping behind one process-shared
 *                            pthread_rwlock: what a user would write by hand.
 *                            It lives here, in bench/; it is not the library.
 *              A system whose server binary (or client library, at build
 *              time) is missing prints its rows with the value "skipped".
 * WORKLOADS    op=get           dist=uniform  gets, every key present.
 *              op=get           dist=zipf     Zipf(0.99) over the keys, and
 *                                             10% of gets for absent keys.
 *              op=get90_set10   dist=zipf     90% gets, 10% sets (same size).
 *              op=get50_set50   dist=zipf     50% / 50%.
 *              op=get_under_set dist=uniform  gets, while one more process
 *                                             sets at full speed (its sets
 *                                             are not counted).
 *              Values of 16 B, 256 B, 4 KiB and 64 KiB under 16-byte keys;
 *              --keys keys (default 10000, fewer for big values: at most
 *              64 MiB of values); 1, 2 and 4 worker processes.
 * METHOD       Per (system, value size) the store is set up and prefilled
 *              once; then per (workload, procs) the parent forks the
 *              workers, which connect, build their key sequence, get every
 *              present key once (page faults, connection set-up), warm up,
 *              meet at a barrier and run for --seconds. Each point runs
 *              --reps times (default 3) and the rep with the median rate is
 *              printed, whole. Keys come from a per-worker precomputed
 *              sequence of 2 x keys entries (64 Ki..4 Mi; one sequential
 *              array load per op), the same for every system.
 * FIGURES      ops_per_s  sum of the workers' ops / wall time (first start to
 *                         last end).
 *              ns_per_op  sum of the workers' own times / sum of their ops:
 *                         the time one process spends per call (with more
 *                         processes than cores it includes time descheduled).
 *              p50/p99/p999_ns  latency of every 16th op (every op of
 *                         memcached and Redis), timed with the
 *                         TSC (calibrated against CLOCK_MONOTONIC; elsewhere
 *                         clock_gettime), in a log-linear histogram with 32
 *                         steps per power of two (about 3% resolution).
 * OUTPUT       "bench: system=... op=... dist=... vsize=... procs=...
 *              ops_per_s=... ns_per_op=... p50_ns=... p99_ns=... p999_ns=..."
 *              one line per result; lines starting with '#' describe the
 *              run. --json: one JSON object per line instead.
 * EXIT         0 ok; 1 a system failed (a call returned an error, a present
 *              key was missing, a worker died); 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#ifdef HAVE_MEMCACHED
#include <libmemcached/memcached.h>
#endif
#ifdef HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif
#ifdef HAVE_LMDB
#include <lmdb.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define PEERS_TSC 1
#endif

#include "forkcache.h"
#include "sup_rng.h"
#include "bench_build.h" /* FC_BENCH_FLAGS, FC_BENCH_BUILD_TYPE */
#include "bench_commit.h" /* FC_BENCH_COMMIT */

#define KEY_BYTES 16 /* "k:00000000001234" */
#define PROCS_MAX 8 /* workers per point, plus one setter */
#define SEQ_MIN (1u << 16) /* ops in a worker's key sequence: at least */
#define SEQ_MAX (1u << 22) /* at most (16 MiB); else 2 x keys, so every
                                 key can come up */
#define SEQ_SET 0x80000000u /* sequence entry: a set, not a get */
#define BLOCK 64 /* ops between two deadline checks */
#define SAMPLE_MASK 15u /* time every 16th op (~10 ns per timing) */
#define HIST_SUB 32u /* histogram steps per power of two */
#define HIST_BUCKETS (64u + HIST_SUB * 58u) /* 0..63 exact, then 2^6..2^63 */
#define DATA_BUDGET (64ull << 20) /* bytes of values at most, per store */
#define SERVER_WAIT_MS 5000 /* for a started server's socket */
#define ZIPF_S 0.99
#define MISS_PCT 10
#define REPS_MAX 15

enum wl { W_GET_UNIFORM,
	  W_GET_ZIPF,
	  W_MIX90,
	  W_MIX50,
	  W_UNDER_SET,
	  W_N };
static const char *const wl_op[W_N] = {
	"get",
	"get",
	"get90_set10",
	"get50_set50",
	"get_under_set",
};
static const char *const wl_dist[W_N] = {
	"uniform",
	"zipf",
	"zipf",
	"zipf",
	"uniform",
};
static const char *const wl_key[W_N] = {
	"get",
	"zipf",
	"mix90",
	"mix50",
	"under_set",
};

enum sysid { S_FC,
	     S_MEMCACHED,
	     S_REDIS,
	     S_LMDB,
	     S_RWTABLE,
	     S_N };
static const char *const sys_name[S_N] = {
	"forkcache",
	"memcached",
	"redis",
	"lmdb",
	"rwlock_table",
};

struct config {
	double seconds;
	unsigned reps; /* per point; the median rep is printed */
	int json;
	int quick;
	unsigned sys_mask, wl_mask;
	unsigned vsizes[8], nvsizes;
	unsigned procs[8], nprocs;
	uint32_t keys; /* 0 = auto */
	uint64_t segment_mb; /* forkcache segment; 0 = auto */
	const char *fc_file; /* forkcache: FC_FILE path instead of shm */
	const char *dir; /* parent of the temp dir */
};

/* One store under test, set up by the parent for one value size. */
struct store {
	enum sysid sys;
	uint32_t vsize, keys;
	char tmp[320]; /* temp dir of this run */
	char sock[340]; /* server socket */
	pid_t server; /* started server, or 0 */
	fc_cache *fc;
	char fc_name[300];
	struct rw_table *rw;
	size_t rw_bytes;
	uint64_t lmdb_map;
};

/* A worker's connection. */
struct conn {
	struct store *st;
#ifdef HAVE_MEMCACHED
	memcached_st *mc;
#endif
#ifdef HAVE_HIREDIS
	redisContext *rc;
#endif
#ifdef HAVE_LMDB
	MDB_env *env;
	MDB_txn *rtxn;
	MDB_dbi dbi;
#endif
	char err[160];
};

/* One worker's result, written by it before exit, read after waitpid(). */
struct res {
	alignas(64) uint64_t ops, hits, misses, sets;
	uint64_t busy; /* sets refused FC_EBUSY (not an error) */
	uint64_t t0, t1; /* ticks */
	uint64_t sink; /* folded value bytes: the copies are used */
	int32_t failed;
	char err[160];
	uint64_t hist[HIST_BUCKETS];
};

/*
 * The start barrier and the results, in a MAP_SHARED anonymous mapping.
 * ready  workers: atomic add when warmed up      | parent: polls
 * go     parent: 0 -> 1 when all are ready        | workers: spin on it
 * stop   parent: 0 -> 1 when the timed workers end | setter: polls it
 * They order only start and stop times: no data is published through them
 * (results travel back ordered by waitpid()).
 */
struct shared {
	alignas(64) uint32_t ready;
	alignas(64) uint32_t go;
	alignas(64) uint32_t stop;
	struct res res[PROCS_MAX + 1];
};

static struct config cfg;
static char *hit_keys, *miss_keys; /* keys * KEY_BYTES each */
static unsigned char *value_src; /* a value of the largest size */
static double ticks_per_ns = 1.0;
static pid_t main_pid;
static struct store *live_store; /* for the atexit cleanup */
static char run_dir[256];

/* ---------------------------------------------------------------- time */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
ticks(void)
{
#ifdef PEERS_TSC
	return __rdtsc();
#else
	return now_ns();
#endif
}

/* A tick count that does not start before earlier instructions finish. */
static inline uint64_t
ticks_fenced(void)
{
#ifdef PEERS_TSC
	_mm_lfence();
	uint64_t t = __rdtsc();
	_mm_lfence();
	return t;
#else
	return now_ns();
#endif
}

static void
calibrate(void)
{
#ifdef PEERS_TSC
	uint64_t n0 = now_ns(), t0 = ticks(), n1, t1;
	uint64_t span = cfg.quick ? 20000000u : 100000000u;

	do {
		n1 = now_ns();
		t1 = ticks();
	} while (n1 - n0 < span);
	ticks_per_ns = (double)(t1 - t0) / (double)(n1 - n0);
#endif
}

/* ----------------------------------------------------------- histogram */

static inline unsigned
hist_bucket(uint64_t v)
{
	if (v < 64)
		return (unsigned)v;
	unsigned lg = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
	unsigned sub = (unsigned)(v >> (lg - 5)) & (HIST_SUB - 1);
	return 64u + (lg - 6) * HIST_SUB + sub;
}

/* The middle of bucket @p b, in ticks. */
static double
hist_mid(unsigned b)
{
	if (b < 64)
		return b + 0.5;
	unsigned lg = 6 + (b - 64) / HIST_SUB, sub = (b - 64) % HIST_SUB;
	double width = ldexp(1.0, (int)lg - 5);
	return ldexp(1.0, (int)lg) + sub * width + width / 2;
}

static double
hist_pct_ns(const uint64_t *h, double q)
{
	uint64_t total = 0, acc = 0, want;

	for (unsigned b = 0; b < HIST_BUCKETS; b++)
		total += h[b];
	if (total == 0)
		return 0;
	want = (uint64_t)ceil(q * (double)total);
	if (want == 0)
		want = 1;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		acc += h[b];
		if (acc >= want)
			return hist_mid(b) / ticks_per_ns;
	}
	return 0;
}

/* ---------------------------------------------------------------- keys */

/*
 * Private memory for the harness's own arrays (keys, sequences), on huge
 * pages where the kernel allows (THP "madvise" mode): with a million keys
 * their random reads would otherwise add TLB misses to every system's ops.
 */
static void *
alloc_big(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	(void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
	return p;
}

/* "k:00000000001234": a tag, a colon, the number right-aligned in zeros. */
static void
make_key(char *dst, char tag, uint32_t n)
{
	memset(dst, '0', KEY_BYTES);
	dst[0] = tag;
	dst[1] = ':';
	for (char *p = dst + KEY_BYTES - 1; n != 0 && p > dst + 1; n /= 10)
		*p-- = (char)('0' + n % 10);
}

static inline uint32_t
pick(uint64_t *s, uint32_t n)
{
	return (uint32_t)(((sup_xorshift64(s) >> 32) * n) >> 32);
}

static inline double
unit(uint64_t *s)
{
	return (double)(sup_xorshift64(s) >> 11) * 0x1p-53;
}

/*
 * Fill @p seq with @p len entries: a key number (< keys: present,
 * keys + i: the absent key i), SEQ_SET on the entries that are sets.
 */
static int
build_seq(uint32_t *seq, uint32_t len, enum wl w, uint32_t keys, uint64_t seed)
{
	uint64_t rng = seed | 1;
	double *cdf = NULL;
	unsigned set_pct = w == W_MIX90 ? 10 : w == W_MIX50 ? 50
							    : 0;

	if (w == W_GET_ZIPF || w == W_MIX90 || w == W_MIX50) {
		double sum = 0;

		cdf = malloc(sizeof *cdf * keys);
		if (cdf == NULL)
			return -1;
		for (uint32_t i = 0; i < keys; i++)
			cdf[i] = sum += pow((double)i + 1, -ZIPF_S);
		for (uint32_t i = 0; i < keys; i++)
			cdf[i] /= sum;
	}
	for (uint32_t j = 0; j < len; j++) {
		uint32_t k;

		if (cdf == NULL) {
			k = pick(&rng, keys);
		} else {
			double u = unit(&rng);
			uint32_t lo = 0, hi = keys - 1;

			while (lo < hi) { /* first rank with cdf >= u */
				uint32_t mid = lo + (hi - lo) / 2;

				if (cdf[mid] < u)
					lo = mid + 1;
				else
					hi = mid;
			}
			k = lo;
		}
		if (pick(&rng, 100) < set_pct)
			k |= SEQ_SET; /* sets go to present keys */
		else if (cdf != NULL && pick(&rng, 100) < MISS_PCT)
			k = keys + pick(&rng, keys);
		seq[j] = k;
	}
	free(cdf);
	return 0;
}

/* ------------------------------------------------------------- servers */

static int
find_binary(const char *name, const char *env, char *out, size_t cap)
{
	const char *e = getenv(env), *path = getenv("PATH");

	if (e != NULL && *e != '\0') {
		snprintf(out, cap, "%s", e);
		return access(out, X_OK) == 0 ? 0 : -1;
	}
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	/* Debian puts redis-server in /usr/bin, memcached too; sbin in case */
	char buf[4096];
	snprintf(buf, sizeof buf, "%s:/usr/sbin:/usr/local/sbin", path);
	for (char *save = NULL, *d = strtok_r(buf, ":", &save); d != NULL;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(out, cap, "%s/%s", d, name);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -1;
}

/* Start @p argv (argv[0] a path) with its output in @p log. */
static pid_t
spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* The server dies with this program, whatever ends it. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	execv(argv[0], argv);
	_exit(127);
}

static int
wait_socket(const char *path, pid_t pid)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	for (int ms = 0; ms < SERVER_WAIT_MS; ms += 5) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0), st;

		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
			close(fd);
			return 0;
		}
		close(fd);
		if (waitpid(pid, &st, WNOHANG) == pid)
			return -1;
		usleep(5000);
	}
	return -1;
}

static void
stop_server(struct store *st)
{
	if (st->server > 0) {
		kill(st->server, SIGTERM);
		waitpid(st->server, NULL, 0);
		st->server = 0;
	}
}

/* ------------------------------------------------------- rwlock_table */

/*
 * The hand-written table: bucket heads and a bump-allocated node arena at
 * offsets in one MAP_SHARED anonymous mapping made before fork(), guarded
 * by one process-shared rwlock. Nodes are never freed (sets replace values
 * of the same size in place), so no reclamation is needed.
 */
struct rw_node {
	uint64_t next; /* offset of the next node; 0 = end */
	uint64_t hash;
	uint32_t klen, vlen;
	char key[KEY_BYTES];
	unsigned char val[];
};

struct rw_table {
	pthread_rwlock_t lock;
	uint64_t mask; /* buckets - 1 */
	uint64_t node_bytes;
	uint64_t arena; /* offset of the first node */
	uint64_t used, cap; /* nodes */
	uint64_t bucket[]; /* node offsets */
};

static struct rw_node *
rw_find(struct rw_table *t, const char *k, size_t kl, uint64_t h)
{
	for (uint64_t o = t->bucket[h & t->mask]; o != 0;) {
		struct rw_node *n = (struct rw_node *)((char *)t + o);

		if (n->hash == h && n->klen == kl && memcmp(n->key, k, kl) == 0)
			return n;
		o = n->next;
	}
	return NULL;
}

static int64_t
rw_get(struct rw_table *t, const char *k, size_t kl, unsigned char *buf,
       size_t cap)
{
	uint64_t h = XXH3_64bits(k, kl);
	int64_t len = -1;

	pthread_rwlock_rdlock(&t->lock);
	struct rw_node *n = rw_find(t, k, kl, h);
	if (n != NULL && n->vlen <= cap) {
		memcpy(buf, n->val, n->vlen);
		len = n->vlen;
	}
	pthread_rwlock_unlock(&t->lock);
	return len;
}

static int
rw_set(struct rw_table *t, const char *k, size_t kl, const void *v, size_t vl)
{
	uint64_t h = XXH3_64bits(k, kl);
	int rc = 0;

	if (kl > KEY_BYTES || vl > t->node_bytes - sizeof(struct rw_node))
		return -1;
	pthread_rwlock_wrlock(&t->lock);
	struct rw_node *n = rw_find(t, k, kl, h);
	if (n == NULL && t->used < t->cap) {
		uint64_t o = t->arena + t->used++ * t->node_bytes;

		n = (struct rw_node *)((char *)t + o);
		n->hash = h;
		n->klen = (uint32_t)kl;
		memcpy(n->key, k, kl);
		n->next = t->bucket[h & t->mask];
		t->bucket[h & t->mask] = o;
	}
	if (n != NULL) {
		memcpy(n->val, v, vl);
		n->vlen = (uint32_t)vl;
	} else {
		rc = -1; /* arena full */
	}
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

/* -------------------------------------------------------- system calls */

static void
cerr(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
}

/* Connect (in a worker, or in the parent to prefill). 0 or -1 + c->err. */
static int
sys_attach(struct store *st, struct conn *c)
{
	memset(c, 0, sizeof *c);
	c->st = st;
	switch (st->sys) {
	case S_FC:
	case S_RWTABLE:
		return 0;
#ifdef HAVE_MEMCACHED
	case S_MEMCACHED: {
		memcached_return_t r;

		c->mc = memcached_create(NULL);
		if (c->mc == NULL) {
			cerr(c, "memcached_create failed");
			return -1;
		}
		r = memcached_server_add_unix_socket(c->mc, st->sock);
		if (r != MEMCACHED_SUCCESS) {
			cerr(c, "memcached_server_add_unix_socket: %s",
			     memcached_strerror(c->mc, r));
			return -1;
		}
		return 0;
	}
#endif
#ifdef HAVE_HIREDIS
	case S_REDIS:
		c->rc = redisConnectUnix(st->sock);
		if (c->rc == NULL || c->rc->err) {
			cerr(c, "redisConnectUnix: %s",
			     c->rc ? c->rc->errstr : "out of memory");
			return -1;
		}
		return 0;
#endif
#ifdef HAVE_LMDB
	case S_LMDB: {
		int r = mdb_env_create(&c->env);
		MDB_txn *txn;

		if (r == 0)
			r = mdb_env_set_mapsize(c->env, st->lmdb_map);
		if (r == 0)
			r = mdb_env_set_maxreaders(c->env, 2 * PROCS_MAX + 8);
		if (r == 0)
			r = mdb_env_open(c->env, st->tmp,
					 MDB_NOSYNC | MDB_NOMETASYNC |
						 MDB_WRITEMAP | MDB_NORDAHEAD,
					 0600);
		if (r == 0)
			r = mdb_txn_begin(c->env, NULL, 0, &txn);
		if (r == 0) {
			r = mdb_dbi_open(txn, NULL, 0, &c->dbi);
			if (r == 0)
				r = mdb_txn_commit(txn);
			else
				mdb_txn_abort(txn);
		}
		/* The read transaction, reset between gets and renewed. */
		if (r == 0)
			r = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &c->rtxn);
		if (r == 0)
			mdb_txn_reset(c->rtxn);
		if (r != 0) {
			cerr(c, "lmdb open: %s", mdb_strerror(r));
			return -1;
		}
		return 0;
	}
#endif
	default:
		cerr(c, "not built in");
		return -1;
	}
}

static void
sys_detach(struct conn *c)
{
	switch (c->st->sys) {
#ifdef HAVE_MEMCACHED
	case S_MEMCACHED:
		if (c->mc != NULL)
			memcached_free(c->mc);
		break;
#endif
#ifdef HAVE_HIREDIS
	case S_REDIS:
		if (c->rc != NULL)
			redisFree(c->rc);
		break;
#endif
#ifdef HAVE_LMDB
	case S_LMDB:
		if (c->rtxn != NULL)
			mdb_txn_abort(c->rtxn);
		if (c->env != NULL)
			mdb_env_close(c->env);
		break;
#endif
	default:
		break;
	}
}

/* Value length (a hit), -1 (a miss) or -2 (an error, in c->err). */
static inline int64_t
sys_get(struct conn *c, const char *k, size_t kl, unsigned char *buf,
	size_t cap)
{
	switch (c->st->sys) {
	case S_FC: {
		size_t n = cap;
		int r = fc_get(c->st->fc, k, kl, buf, &n);

		if (r == FC_OK)
			return (int64_t)n;
		if (r == FC_ENOTFOUND)
			return -1;
		cerr(c, "fc_get: %s", fc_errname(r));
		return -2;
	}
	case S_RWTABLE:
		return rw_get(c->st->rw, k, kl, buf, cap);
#ifdef HAVE_MEMCACHED
	case S_MEMCACHED: {
		size_t n = 0;
		uint32_t flags;
		memcached_return_t r;
		char *v = memcached_get(c->mc, k, kl, &n, &flags, &r);

		if (v == NULL) {
			if (r == MEMCACHED_NOTFOUND)
				return -1;
			cerr(c, "memcached_get: %s",
			     memcached_strerror(c->mc, r));
			return -2;
		}
		if (n > cap)
			n = cap;
		memcpy(buf, v, n);
		free(v);
		return (int64_t)n;
	}
#endif
#ifdef HAVE_HIREDIS
	case S_REDIS: {
		redisReply *r = redisCommand(c->rc, "GET %b", k, kl);
		int64_t n;

		if (r == NULL) {
			cerr(c, "redis GET: %s", c->rc->errstr);
			return -2;
		}
		if (r->type == REDIS_REPLY_NIL) {
			n = -1;
		} else if (r->type == REDIS_REPLY_STRING) {
			n = r->len > cap ? (int64_t)cap : (int64_t)r->len;
			memcpy(buf, r->str, (size_t)n);
		} else {
			cerr(c, "redis GET: reply type %d", r->type);
			n = -2;
		}
		freeReplyObject(r);
		return n;
	}
#endif
#ifdef HAVE_LMDB
	case S_LMDB: {
		MDB_val key = {kl, (void *)k}, val;
		int r = mdb_txn_renew(c->rtxn);
		int64_t n;

		if (r != 0) {
			cerr(c, "mdb_txn_renew: %s", mdb_strerror(r));
			return -2;
		}
		r = mdb_get(c->rtxn, c->dbi, &key, &val);
		if (r == MDB_NOTFOUND) {
			n = -1;
		} else if (r == 0) {
			n = val.mv_size > cap ? (int64_t)cap
					      : (int64_t)val.mv_size;
			memcpy(buf, val.mv_data, (size_t)n);
		} else {
			cerr(c, "mdb_get: %s", mdb_strerror(r));
			n = -2;
		}
		mdb_txn_reset(c->rtxn);
		return n;
	}
#endif
	default:
		cerr(c, "not built in");
		return -2;
	}
}

/*
 * 0, -3 (forkcache's FC_EBUSY: a reader held memory back past the writer's
 * bounded wait; documented, counted and reported, not fatal) or -2 (an
 * error, in c->err).
 */
static inline int
sys_set(struct conn *c, const char *k, size_t kl, const void *v, size_t vl)
{
	switch (c->st->sys) {
	case S_FC: {
		int r = fc_set(c->st->fc, k, kl, v, vl, 0);

		if (r == FC_OK)
			return 0;
		if (r == FC_EBUSY)
			return -3;
		cerr(c, "fc_set: %s", fc_errname(r));
		return -2;
	}
	case S_RWTABLE:
		if (rw_set(c->st->rw, k, kl, v, vl) == 0)
			return 0;
		cerr(c, "rwlock_table: arena full");
		return -2;
#ifdef HAVE_MEMCACHED
	case S_MEMCACHED: {
		memcached_return_t r = memcached_set(c->mc, k, kl, v, vl, 0, 0);

		if (r == MEMCACHED_SUCCESS)
			return 0;
		cerr(c, "memcached_set: %s", memcached_strerror(c->mc, r));
		return -2;
	}
#endif
#ifdef HAVE_HIREDIS
	case S_REDIS: {
		redisReply *r = redisCommand(c->rc, "SET %b %b", k, kl, v, vl);
		int rc = 0;

		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			cerr(c, "redis SET: %s",
			     r ? r->str : c->rc->errstr);
			rc = -2;
		}
		if (r != NULL)
			freeReplyObject(r);
		return rc;
	}
#endif
#ifdef HAVE_LMDB
	case S_LMDB: {
		MDB_txn *txn;
		MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
		int r = mdb_txn_begin(c->env, NULL, 0, &txn);

		if (r == 0) {
			r = mdb_put(txn, c->dbi, &key, &val, 0);
			if (r == 0)
				r = mdb_txn_commit(txn);
			else
				mdb_txn_abort(txn);
		}
		if (r == 0)
			return 0;
		cerr(c, "lmdb put: %s", mdb_strerror(r));
		return -2;
	}
#endif
	default:
		cerr(c, "not built in");
		return -2;
	}
}

/* ------------------------------------------------------ setup/teardown */

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void
store_teardown(struct store *st)
{
	stop_server(st);
	if (st->fc != NULL) {
		fc_close(st->fc);
		fc_unlink(st->fc_name, cfg.fc_file ? FC_FILE : 0);
		st->fc = NULL;
	}
	if (st->rw != NULL) {
		pthread_rwlock_destroy(&st->rw->lock);
		munmap(st->rw, st->rw_bytes);
		st->rw = NULL;
	}
	if (st->tmp[0] != '\0') {
		nftw(st->tmp, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
		st->tmp[0] = '\0';
	}
	live_store = NULL;
}

static void
cleanup_at_exit(void)
{
	if (getpid() != main_pid)
		return;
	if (live_store != NULL)
		store_teardown(live_store);
	if (run_dir[0] != '\0')
		rmdir(run_dir);
}

static const char *
missing_reason(enum sysid s, char *path, size_t cap)
{
	switch (s) {
	case S_MEMCACHED:
#ifndef HAVE_MEMCACHED
		return "built without libmemcached";
#endif
		if (find_binary("memcached", "FC_PEERS_MEMCACHED", path, cap))
			return "memcached binary not found";
		return NULL;
	case S_REDIS:
#ifndef HAVE_HIREDIS
		return "built without hiredis";
#endif
		if (find_binary("redis-server", "FC_PEERS_REDIS", path, cap))
			return "redis-server binary not found";
		return NULL;
	case S_LMDB:
#ifndef HAVE_LMDB
		return "built without liblmdb";
#endif
		return NULL;
	default:
		return NULL;
	}
}

/* Set up and prefill @p st. 0, or -1 after printing why. */
static int
store_setup(struct store *st, const char *bin)
{
	static unsigned serial;
	uint64_t data = (uint64_t)st->keys * (st->vsize + 64);
	char log[360];
	struct conn c;

	snprintf(st->tmp, sizeof st->tmp, "%s/%s.%u", run_dir,
		 sys_name[st->sys], serial++);
	if (mkdir(st->tmp, 0700) != 0) {
		fprintf(stderr, "forkcache-peers: mkdir %s: %s\n", st->tmp,
			strerror(errno));
		st->tmp[0] = '\0';
		return -1;
	}
	live_store = st;
	snprintf(st->sock, sizeof st->sock, "%s/sock", st->tmp);
	snprintf(log, sizeof log, "%s/server.log", st->tmp);
	switch (st->sys) {
	case S_FC: {
		fc_options o;
		int r;

		fc_options_init(&o);
		o.flags = FC_CREATE | FC_EXCL;
		o.segment_bytes = cfg.segment_mb ? cfg.segment_mb << 20
			: 4 * data < (64u << 20) ? 64u << 20
						 : 4 * data;
		o.avg_item_bytes = st->vsize + KEY_BYTES + 24;
		if (cfg.fc_file) {
			snprintf(st->fc_name, sizeof st->fc_name, "%s",
				 cfg.fc_file);
			o.flags |= FC_FILE;
		} else {
			snprintf(st->fc_name, sizeof st->fc_name,
				 "/fc-peers.%d", (int)getpid());
		}
		r = fc_open(st->fc_name, &o, &st->fc);
		if (r != FC_OK) {
			fprintf(stderr, "forkcache-peers: fc_open %s: %s\n",
				st->fc_name, fc_strerror(r));
			return -1;
		}
		break;
	}
	case S_RWTABLE: {
		uint64_t buckets = 16, node = sizeof(struct rw_node) + st->vsize;
		pthread_rwlockattr_t a;

		while (buckets < st->keys)
			buckets <<= 1;
		node = (node + 63) & ~63ull;
		st->rw_bytes = sizeof(struct rw_table) + buckets * 8 + 64 +
			(st->keys + 64ull) * node;
		st->rw = mmap(NULL, st->rw_bytes, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (st->rw == MAP_FAILED) {
			st->rw = NULL;
			perror("forkcache-peers: mmap");
			return -1;
		}
		st->rw->mask = buckets - 1;
		st->rw->node_bytes = node;
		st->rw->arena = (sizeof(struct rw_table) + buckets * 8 + 63) &
			~63ull;
		st->rw->cap = st->keys + 64ull;
		pthread_rwlockattr_init(&a);
		pthread_rwlockattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
		pthread_rwlock_init(&st->rw->lock, &a);
		pthread_rwlockattr_destroy(&a);
		break;
	}
	case S_MEMCACHED: {
		char mem[32];
		char *argv[] = {(char *)bin, "-s", st->sock, "-a", "0600",
				"-m", mem, "-t", "2", "-c", "64", "-I", "2m",
				geteuid() == 0 ? "-u" : NULL, "root", NULL};

		snprintf(mem, sizeof mem, "%" PRIu64, 2 * data / (1 << 20) + 128);
		st->server = spawn(argv, log);
		if (st->server < 0 || wait_socket(st->sock, st->server) != 0) {
			fprintf(stderr, "forkcache-peers: memcached did not "
					"start (see %s)\n",
				log);
			return -1;
		}
		break;
	}
	case S_REDIS: {
		char *argv[] = {(char *)bin, "--port", "0", "--unixsocket",
				st->sock, "--unixsocketperm", "700", "--save",
				"", "--appendonly", "no", "--dir", st->tmp,
				"--daemonize", "no", NULL};

		st->server = spawn(argv, log);
		if (st->server < 0 || wait_socket(st->sock, st->server) != 0) {
			fprintf(stderr, "forkcache-peers: redis-server did "
					"not start (see %s)\n",
				log);
			return -1;
		}
		break;
	}
	case S_LMDB:
		st->lmdb_map = 4 * data + (64u << 20);
		break;
	default:
		return -1;
	}
	/* Prefill every present key, then disconnect before any fork. */
	if (sys_attach(st, &c) != 0) {
		fprintf(stderr, "forkcache-peers: %s: %s\n", sys_name[st->sys],
			c.err);
		return -1;
	}
	for (uint32_t i = 0; i < st->keys; i++) {
		if (sys_set(&c, hit_keys + (size_t)i * KEY_BYTES, KEY_BYTES,
			    value_src + i % 251, st->vsize) != 0) {
			fprintf(stderr, "forkcache-peers: %s prefill: %s\n",
				sys_name[st->sys], c.err);
			sys_detach(&c);
			return -1;
		}
	}
	sys_detach(&c);
	return 0;
}

/* -------------------------------------------------------------- worker */

static int
worker(struct store *st, enum wl w, unsigned me, int setter, unsigned procs,
       struct shared *sh)
{
	struct res *r = &sh->res[me];
	struct conn c;
	/* Every op of a server (tens of us: the timing costs nothing), else
	 * every 16th, so that its p99.9 rests on more than a few samples. */
	uint64_t smask = st->sys == S_MEMCACHED || st->sys == S_REDIS
		? 0
		: SAMPLE_MASK;
	uint32_t seq_len = SEQ_MIN;
	uint32_t *seq;
	unsigned char *buf = malloc(st->vsize + 1u);
	uint64_t warm, t, deadline, pos = 0, sink = 0;
	uint64_t dur = (uint64_t)(cfg.seconds * 1e9 * ticks_per_ns);
	int failed = 0;

	while (seq_len < 2 * st->keys && seq_len < SEQ_MAX)
		seq_len <<= 1;
	seq = alloc_big(sizeof *seq * seq_len);
	if (seq == NULL || buf == NULL)
		return 1;
	if (sys_attach(st, &c) != 0) {
		snprintf(r->err, sizeof r->err, "%s", c.err);
		r->failed = 1;
		return 1;
	}
	if (build_seq(seq, seq_len, setter ? W_GET_UNIFORM : w, st->keys,
		      0x9e3779b97f4a7c15u * (me + 1 + 16 * w + 256 * procs) +
			      st->vsize) != 0)
		return 1;
	if (setter)
		for (uint32_t j = 0; j < seq_len; j++)
			seq[j] |= SEQ_SET;
	/* Touch every present key once: a worker inherits the mappings but
	 * not their page tables, and a first touch costs a page fault. */
	for (uint32_t k = 0; k < st->keys; k++) {
		int64_t n = sys_get(&c, hit_keys + (size_t)k * KEY_BYTES,
				    KEY_BYTES, buf, st->vsize);

		if (n < 0) {
			if (n == -1)
				cerr(&c, "present key %u missing", k);
			snprintf(r->err, sizeof r->err, "%s", c.err);
			r->failed = 1;
			return 1;
		}
	}
	warm = dur / 4 < (uint64_t)(1e8 * ticks_per_ns)
		? dur / 4
		: (uint64_t)(1e8 * ticks_per_ns);
	for (int phase = 0; phase < 2 && !failed; phase++) {
		uint64_t ops = 0, hits = 0, misses = 0, sets = 0, busy = 0;

		if (phase == 1) {
			/* Check in (a full barrier: the locked add), then
			 * wait for go; yield, as procs may exceed cores. */
			__atomic_fetch_add(&sh->ready, 1, __ATOMIC_SEQ_CST);
			while (__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE) == 0)
				sched_yield();
			memset(r->hist, 0, sizeof r->hist);
		}
		t = ticks();
		r->t0 = t;
		deadline = t + (phase == 0 ? warm : dur);
		for (;;) {
			for (unsigned j = 0; j < BLOCK; j++, pos++) {
				uint32_t e = seq[pos & (seq_len - 1)];
				uint32_t k = e & ~SEQ_SET;
				int timed = phase == 1 && !setter &&
					(pos & smask) == 0;
				const char *key =
					k < st->keys
					? hit_keys + (size_t)k * KEY_BYTES
					: miss_keys + (size_t)(k - st->keys) * KEY_BYTES;
				uint64_t t0 = timed ? ticks_fenced() : 0;
				int64_t n;

				if (e & SEQ_SET) {
					n = sys_set(&c, key, KEY_BYTES,
						    value_src + (pos & 255),
						    st->vsize);
					sets++;
					if (n == -3) {
						busy++;
						n = 0;
					}
				} else {
					n = sys_get(&c, key, KEY_BYTES, buf,
						    st->vsize);
					if (n >= 0) {
						hits++;
						sink += buf[0];
						if ((uint64_t)n != st->vsize) {
							cerr(&c, "value of %" PRId64 " bytes, not %u", n,
							     st->vsize);
							n = -2;
						}
					} else if (n == -1) {
						misses++;
						if (k < st->keys) {
							cerr(&c, "present key %u "
								 "missing",
							     k);
							n = -2;
						}
					}
				}
				if (timed)
					r->hist[hist_bucket(ticks_fenced() -
							    t0)]++;
				if (n == -2) {
					failed = 1;
					break;
				}
				ops++;
			}
			t = ticks();
			if (failed)
				break;
			if (setter && phase == 1) {
				/* Only a stop time: see struct shared. */
				if (__atomic_load_n(&sh->stop,
						    __ATOMIC_RELAXED) != 0)
					break;
			} else if (t >= deadline) {
				break;
			}
		}
		r->t1 = t;
		r->ops = ops;
		r->hits = hits;
		r->misses = misses;
		r->sets = sets;
		r->busy = busy;
	}
	r->sink = sink;
	if (failed) {
		snprintf(r->err, sizeof r->err, "%s", c.err);
		r->failed = 1;
	}
	sys_detach(&c);
	if (st->sys == S_FC)
		fc_close(st->fc); /* frees this worker's reader slot */
	munmap(seq, sizeof *seq * seq_len);
	free(buf);
	return failed;
}

/* ------------------------------------------------------------- results */

struct point {
	enum sysid sys;
	enum wl w;
	unsigned vsize, procs;
	int skipped;
	double ops_per_s, ns_per_op, p50, p99, p999;
};

static void
print_point(const struct point *p)
{
	if (cfg.json) {
		printf("{\"system\":\"%s\",\"op\":\"%s\",\"dist\":\"%s\","
		       "\"vsize\":%u,\"procs\":%u,",
		       sys_name[p->sys], wl_op[p->w], wl_dist[p->w], p->vsize,
		       p->procs);
		if (p->skipped)
			printf("\"skipped\":true,\"ops_per_s\":null,"
			       "\"ns_per_op\":null,\"p50_ns\":null,"
			       "\"p99_ns\":null,\"p999_ns\":null}\n");
		else
			printf("\"skipped\":false,\"ops_per_s\":%.0f,"
			       "\"ns_per_op\":%.1f,\"p50_ns\":%.0f,"
			       "\"p99_ns\":%.0f,\"p999_ns\":%.0f}\n",
			       p->ops_per_s, p->ns_per_op, p->p50, p->p99,
			       p->p999);
	} else {
		printf("bench: system=%s op=%s dist=%s vsize=%u procs=%u ",
		       sys_name[p->sys], wl_op[p->w], wl_dist[p->w], p->vsize,
		       p->procs);
		if (p->skipped)
			printf("ops_per_s=skipped ns_per_op=skipped "
			       "p50_ns=skipped p99_ns=skipped "
			       "p999_ns=skipped\n");
		else
			printf("ops_per_s=%.0f ns_per_op=%.1f p50_ns=%.0f "
			       "p99_ns=%.0f p999_ns=%.0f\n",
			       p->ops_per_s, p->ns_per_op, p->p50, p->p99,
			       p->p999);
	}
	fflush(stdout);
}

/* One (workload, procs) on a set-up store. 0, or 1 after printing why. */
static int
run_point(struct store *st, enum wl w, unsigned procs, struct shared *sh,
	  struct point *p)
{
	static uint64_t merged[HIST_BUCKETS];
	unsigned n = procs + (w == W_UNDER_SET ? 1 : 0), started = 0;
	pid_t pids[PROCS_MAX + 1];
	int failed = 0;
	uint64_t first = UINT64_MAX, last = 0, ops = 0;
	double busy = 0;

	memset(sh, 0, sizeof *sh);
	fflush(NULL); /* no buffered output duplicated into the children */
	for (unsigned i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("forkcache-peers: fork");
			failed = 1;
			break;
		}
		if (pid == 0)
			_exit(worker(st, w, i, i == procs, procs, sh));
		pids[started++] = pid;
	}
	while (!failed && __atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE) < started) {
		for (unsigned i = 0; i < started; i++) {
			int ws;

			if (pids[i] > 0 &&
			    waitpid(pids[i], &ws, WNOHANG) == pids[i]) {
				pids[i] = -1;
				failed = 1;
			}
		}
		usleep(200);
	}
	/* Releases the workers; they started warm, so no data to order. */
	__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < started; i++) {
		int ws;

		if (i == procs) /* the setter runs until the readers are done */
			__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
		if (pids[i] > 0 && waitpid(pids[i], &ws, 0) == pids[i] &&
		    (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0))
			failed = 1;
		if (pids[i] < 0)
			failed = 1;
	}
	if (failed || started != n) {
		for (unsigned i = 0; i < n; i++)
			if (sh->res[i].failed)
				fprintf(stderr, "forkcache-peers: %s %s: "
						"worker %u: %s\n",
					sys_name[st->sys],
					wl_key[w], i, sh->res[i].err);
		fprintf(stderr, "forkcache-peers: %s %s vsize=%u procs=%u "
				"failed\n",
			sys_name[st->sys], wl_key[w], st->vsize,
			procs);
		return 1;
	}
	uint64_t refused = 0, sets = 0;

	for (unsigned i = 0; i < n; i++) {
		refused += sh->res[i].busy;
		sets += sh->res[i].sets;
	}
	if (refused != 0)
		printf("%s# %s %s vsize=%u procs=%u: %" PRIu64 " of %" PRIu64
		       " sets returned FC_EBUSY%s\n",
		       cfg.json ? "{\"note\":\"" : "", sys_name[st->sys],
		       wl_key[w], st->vsize, procs, refused, sets,
		       cfg.json ? "\"}" : "");
	memset(merged, 0, sizeof merged);
	for (unsigned i = 0; i < procs; i++) {
		const struct res *r = &sh->res[i];

		if (r->ops == 0)
			return 1;
		ops += r->ops;
		busy += (double)(r->t1 - r->t0) / ticks_per_ns;
		if (r->t0 < first)
			first = r->t0;
		if (r->t1 > last)
			last = r->t1;
		for (unsigned b = 0; b < HIST_BUCKETS; b++)
			merged[b] += r->hist[b];
	}
	p->ops_per_s = (double)ops / ((double)(last - first) / ticks_per_ns) *
		1e9;
	p->ns_per_op = busy / (double)ops;
	p->p50 = hist_pct_ns(merged, 0.50);
	p->p99 = hist_pct_ns(merged, 0.99);
	p->p999 = hist_pct_ns(merged, 0.999);
	return 0;
}

static int
cmp_rate(const void *a, const void *b)
{
	double x = ((const struct point *)a)->ops_per_s;
	double y = ((const struct point *)b)->ops_per_s;

	return x < y ? -1 : x > y;
}

/*
 * Run @p p's point --reps times and keep the rep with the median rate
 * (all its figures): one descheduled rep on a busy machine does not move
 * the result.
 */
static int
run_median(struct store *st, enum wl w, struct shared *sh, struct point *p)
{
	struct point r[REPS_MAX];

	for (unsigned i = 0; i < cfg.reps; i++) {
		r[i] = *p;
		if (run_point(st, w, p->procs, sh, &r[i]) != 0)
			return 1;
	}
	qsort(r, cfg.reps, sizeof r[0], cmp_rate);
	*p = r[cfg.reps / 2];
	return 0;
}

/* ---------------------------------------------------------------- main */

static int
parse_list(const char *arg, unsigned *out, unsigned *n, unsigned max)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof buf, "%s", arg);
	*n = 0;
	for (char *t = strtok_r(buf, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v = strtoul(t, &end, 10);

		if (*n == max || end == t || v == 0 || v > (1u << 20))
			return -1;
		if (*end == 'k' || *end == 'K')
			v <<= 10, end++;
		if (*end != '\0')
			return -1;
		out[(*n)++] = (unsigned)v;
	}
	return *n ? 0 : -1;
}

static int
parse_names(const char *arg, const char *const *names, unsigned count,
	    unsigned *mask)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof buf, "%s", arg);
	*mask = 0;
	for (char *t = strtok_r(buf, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		unsigned i;

		for (i = 0; i < count && strcmp(t, names[i]) != 0; i++)
			;
		if (i == count)
			return -1;
		*mask |= 1u << i;
	}
	return *mask ? 0 : -1;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: forkcache-peers [--quick] [--json] [--seconds S] [--reps R]\n"
		"         [--systems forkcache,memcached,redis,lmdb,rwlock_table]\n"
		"         [--workloads get,zipf,mix90,mix50,under_set]\n"
		"         [--vsizes 16,256,4k,64k] [--procs 1,2,4] [--keys N]\n"
		"         [--segment-mb M] [--fc-file PATH] [--dir DIR]\n"
		"  --seconds    measured time per point and rep (default 0.5)\n"
		"  --reps       runs per point, the median rate is kept (default 3)\n"
		"  --quick      a few seconds: 1000 keys, 256 B and 4 KiB values,\n"
		"               1 and 2 processes, 0.03 s per point, 1 rep\n"
		"  --fc-file    forkcache segment in this file (FC_FILE), e.g. on a\n"
		"               huge=always tmpfs, instead of a POSIX shm object\n"
		"  --dir        where the temp dir (sockets, LMDB file) goes;\n"
		"               default /dev/shm\n"
		"  Environment: FC_PEERS_MEMCACHED, FC_PEERS_REDIS: server paths.\n");
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"quick", no_argument, NULL, 'q'},
		{"json", no_argument, NULL, 'j'},
		{"seconds", required_argument, NULL, 's'},
		{"reps", required_argument, NULL, 'r'},
		{"systems", required_argument, NULL, 'S'},
		{"workloads", required_argument, NULL, 'w'},
		{"vsizes", required_argument, NULL, 'v'},
		{"procs", required_argument, NULL, 'p'},
		{"keys", required_argument, NULL, 'k'},
		{"segment-mb", required_argument, NULL, 'm'},
		{"fc-file", required_argument, NULL, 'f'},
		{"dir", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *vs = NULL, *ps = NULL;
	int o, rc = 0;
	uint32_t max_keys = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct shared *sh;

	cfg.seconds = -1;
	cfg.sys_mask = (1u << S_N) - 1;
	cfg.wl_mask = (1u << W_N) - 1;
	cfg.dir = "/dev/shm";
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'q':
			cfg.quick = 1;
			break;
		case 'j':
			cfg.json = 1;
			break;
		case 's':
			cfg.seconds = atof(optarg);
			break;
		case 'r':
			cfg.reps = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'S':
			if (parse_names(optarg, sys_name, S_N, &cfg.sys_mask))
				goto bad;
			break;
		case 'w':
			if (parse_names(optarg, wl_key, W_N, &cfg.wl_mask))
				goto bad;
			break;
		case 'v':
			vs = optarg;
			break;
		case 'p':
			ps = optarg;
			break;
		case 'k':
			cfg.keys = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			cfg.segment_mb = strtoull(optarg, NULL, 10);
			break;
		case 'f':
			cfg.fc_file = optarg;
			break;
		case 'd':
			cfg.dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	if (vs == NULL)
		vs = cfg.quick ? "256,4k" : "16,256,4k,64k";
	if (ps == NULL)
		ps = cfg.quick ? "1,2" : "1,2,4";
	if (parse_list(vs, cfg.vsizes, &cfg.nvsizes, 8) ||
	    parse_list(ps, cfg.procs, &cfg.nprocs, 8))
		goto bad;
	for (unsigned i = 0; i < cfg.nprocs; i++)
		if (cfg.procs[i] > PROCS_MAX)
			goto bad;
	for (unsigned i = 0; i < cfg.nvsizes; i++)
		if (cfg.vsizes[i] > FC_VALUE_MAX / 2)
			goto bad;
	if (cfg.seconds < 0)
		cfg.seconds = cfg.quick ? 0.03 : 0.5;
	if (cfg.reps == 0)
		cfg.reps = cfg.quick ? 1 : 3;
	if (cfg.reps > REPS_MAX)
		goto bad;
	if (cfg.keys == 0 && cfg.quick)
		cfg.keys = 1000;
	if (cfg.seconds <= 0 || cfg.seconds > 3600)
		goto bad;

	main_pid = getpid();
	calibrate();
	for (unsigned i = 0; i < cfg.nvsizes; i++) {
		uint32_t k = cfg.keys ? cfg.keys
				      : (uint32_t)(DATA_BUDGET / cfg.vsizes[i]);

		if (cfg.keys == 0 && k > 10000)
			k = 10000;
		if (k > max_keys)
			max_keys = k;
	}
	hit_keys = alloc_big((size_t)max_keys * KEY_BYTES);
	miss_keys = alloc_big((size_t)max_keys * KEY_BYTES);
	value_src = malloc(FC_VALUE_MAX / 2 + 256);
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (hit_keys == NULL || miss_keys == NULL || value_src == NULL ||
	    sh == MAP_FAILED) {
		fprintf(stderr, "forkcache-peers: out of memory\n");
		return 1;
	}
	for (uint32_t i = 0; i < max_keys; i++) {
		make_key(hit_keys + (size_t)i * KEY_BYTES, 'k', i);
		make_key(miss_keys + (size_t)i * KEY_BYTES, 'm', i);
	}
	for (size_t i = 0; i < FC_VALUE_MAX / 2 + 256; i++)
		value_src[i] = (unsigned char)(i * 131 + 7);
	snprintf(run_dir, sizeof run_dir, "%s/fc-peers.XXXXXX", cfg.dir);
	if (mkdtemp(run_dir) == NULL) {
		fprintf(stderr, "forkcache-peers: mkdtemp %s: %s\n", run_dir,
			strerror(errno));
		run_dir[0] = '\0';
		return 1;
	}
	atexit(cleanup_at_exit);
	signal(SIGPIPE, SIG_IGN);

	if (!cfg.json) {
		printf("# forkcache-peers commit=%s build=%s flags=%s\n",
		       FC_BENCH_COMMIT, FC_BENCH_BUILD_TYPE, FC_BENCH_FLAGS);
		printf("# machine: %ld online CPUs; with more processes than "
		       "CPUs (and the servers' threads) they time-share\n",
		       cpus);
		printf("# clock: %s, %.3f ticks/ns; latency of every %uth op "
		       "(memcached, redis: every op)\n",
#ifdef PEERS_TSC
		       "rdtsc",
#else
		       "clock_gettime",
#endif
		       ticks_per_ns, SAMPLE_MASK + 1);
		printf("# keys: %u-byte; %s keys per store (at most %llu MiB "
		       "of values); zipf = Zipf(%.2f) with %d%% absent keys; "
		       "%.2f s x %u reps per point (median rate kept)\n",
		       KEY_BYTES, cfg.keys ? "fixed" : "10000 or fewer",
		       DATA_BUDGET >> 20, ZIPF_S, MISS_PCT, cfg.seconds,
		       cfg.reps);
	} else {
		printf("{\"meta\":{\"commit\":\"%s\",\"cpus\":%ld,"
		       "\"seconds\":%.3f,\"clock\":\"%s\"}}\n",
		       FC_BENCH_COMMIT, cpus, cfg.seconds,
#ifdef PEERS_TSC
		       "rdtsc"
#else
		       "clock_gettime"
#endif
		);
	}

	for (unsigned vi = 0; vi < cfg.nvsizes; vi++) {
		for (unsigned s = 0; s < S_N; s++) {
			struct store st = {.sys = s, .vsize = cfg.vsizes[vi]};
			char bin[512] = "";
			const char *why;
			int skipped = 0;

			if (!(cfg.sys_mask & (1u << s)))
				continue;
			st.keys = cfg.keys ? cfg.keys
					   : (uint32_t)(DATA_BUDGET / st.vsize);
			if (cfg.keys == 0 && st.keys > 10000)
				st.keys = 10000;
			why = missing_reason(s, bin, sizeof bin);
			if (why != NULL) {
				if (!cfg.json)
					printf("# skipped: %s: %s\n",
					       sys_name[s], why);
				skipped = 1;
			} else if (store_setup(&st, bin) != 0) {
				store_teardown(&st);
				rc = 1;
				continue;
			}
			for (unsigned w = 0; w < W_N; w++) {
				if (!(cfg.wl_mask & (1u << w)))
					continue;
				for (unsigned pi = 0; pi < cfg.nprocs; pi++) {
					struct point p = {
						.sys = s,
						.w = w,
						.vsize = st.vsize,
						.procs = cfg.procs[pi],
						.skipped = skipped,
					};

					/* One reader against the setter: the
					 * machine has few cores. */
					if (w == W_UNDER_SET && p.procs != 1)
						continue;
					if (!skipped &&
					    run_median(&st, w, sh, &p) != 0) {
						rc = 1;
						continue;
					}
					print_point(&p);
				}
			}
			if (!skipped)
				store_teardown(&st);
		}
	}
	return rc;
bad:
	usage(stderr);
	return 2;
}
