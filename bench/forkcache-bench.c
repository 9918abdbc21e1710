/*
 * forkcache-bench.c - micro-benchmark of forkcache's hot calls, 1 and 2
 * processes, with a process-local baseline measured in the same run.
 *
 * DESIGN       One segment is created and prefilled with --keys items of
 *              --key-bytes keys and --val-bytes values. Each measurement
 *              forks P children (P = 1 or 2) that inherit the handle, as a
 *              prefork server's workers do. A child warms up, checks in at a
 *              barrier in a MAP_SHARED anonymous page, and when the parent
 *              says go runs its operation for --seconds, counting its own
 *              operations and time. Keys come from a precomputed array,
 *              picked by a xorshift PRNG with a multiply-shift range
 *              reduction (a few ns), so key generation does not dominate.
 * BENCHES      local_get  baseline: the same keys and values in a private
 *                         open-addressing table (XXH3 hash, linear probe,
 *                         memcmp, memcpy of the value): what a lookup costs
 *                         on this machine without any sharing.
 *              get_hit    fc_get of a present key, value copied out.
 *              lease_get_hit  fc_lease_get of a present key (wait_ms 0):
 *                         the get-or-compute entry point's fresh hit,
 *                         printed with vs_get_hit = its ns_op / get_hit's.
 *              get_miss   fc_get of an absent key.
 *              set        fc_set replacing a present key (TTL 0).
 * RESULTS      Each (bench, procs) runs --reps times, alternating procs=1 and
 *              procs=2 so drift in the machine's load hits both alike. A rep
 *              gives ops/s aggregated over the children (sum of ops / wall,
 *              wall from the first start to the last end on CLOCK_MONOTONIC)
 *              and ns per op per process (mean over the children of their
 *              own time / ops). Printed: the medians, spread = (max - min) /
 *              median of the aggregate rate, vs_procs1 = aggregate rate at 2
 *              procs / at 1 proc, and cost_vs_local = ns_op / local_get ns_op
 *              at the same procs.
 * EXIT         0 ok, 1 a forkcache call failed or a child died, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ck_pr.h>
#include <xxhash.h>

#include "forkcache.h"
#include "sup_clock.h"
#include "sup_rng.h"
#include "sup_size.h"
#include "bench_build.h" /* FC_BENCH_FLAGS, FC_BENCH_BUILD_TYPE */
#include "bench_commit.h" /* FC_BENCH_COMMIT */
#include "lease_herd.h"

#define BENCH_PROCS_MAX 2 /* procs=1 and procs=2 */
#define BENCH_REPS_MAX 101 /* samples kept per (bench, procs) */
#define BENCH_BATCH 256 /* ops between two clock reads (~20 ns each) */
#define BENCH_WARMUP_NS 50000000u /* 50 ms of warm-up per child, at most */
#define BENCH_CACHELINE 64 /* bytes; one result block per line */
#define BENCH_EFOUND 1 /* not an FC_E*: get_miss found its key */

enum bench_kind { B_LOCAL_GET,
		  B_GET_HIT,
		  B_LEASE_HIT,
		  B_GET_MISS,
		  B_SET,
		  B_KINDS };
static const char *const bench_name[B_KINDS] = {
	"local_get",
	"get_hit",
	"lease_get_hit",
	"get_miss",
	"set",
};

struct bench_config {
	double seconds; /* measured time per rep and child */
	unsigned reps;
	int json;
	uint64_t segment_bytes;
	uint32_t keys; /* items prefilled; as many absent keys */
	uint32_t key_bytes;
	uint32_t val_bytes;
	const char *name; /* --name: keep this shm name while running */
	int lease_herd; /* --lease-herd: run lease_herd.c instead */
	int lease_pair; /* --lease-hit-pair: get_hit vs lease_get_hit */
	unsigned herd; /* --herd N processes */
	unsigned compute_ms; /* --compute-ms */
};

/* Process-local baseline: open addressing over indexes into the key array. */
struct local_table {
	uint64_t *hash; /* per bucket; meaningful when idx != EMPTY */
	uint32_t *idx; /* key number + 1; 0 = empty */
	uint64_t mask; /* buckets - 1 */
};

struct bench_ctx {
	struct bench_config cfg;
	fc_cache *c;
	char *hit_keys; /* keys * key_bytes, all present */
	char *miss_keys; /* keys * key_bytes, all absent */
	unsigned char *values; /* keys * val_bytes, the prefilled values */
	struct local_table lt;
};

/*
 * One child's result. The child writes it with plain stores and then exits;
 * the parent reads it after waitpid(), which orders the two.
 */
struct proc_result {
	alignas(BENCH_CACHELINE) uint64_t ops;
	uint64_t start_ns; /* CLOCK_MONOTONIC: comparable across procs */
	uint64_t end_ns;
	uint64_t sink; /* folded value bytes: the copies are used */
	int32_t err; /* FC_OK, or the first unexpected return */
};

/*
 * The start barrier, shared by the parent and its children.
 * sp_ready  children: ck_pr_inc_32 when warmed up | parent: polls
 * sp_go     parent: 0 -> 1 once all are ready     | children: spin on it
 * Orders:   only the start time; no data is published through these words
 *           (the results go the other way, ordered by waitpid()).
 */
struct shared_page {
	alignas(BENCH_CACHELINE) uint32_t sp_ready;
	alignas(BENCH_CACHELINE) uint32_t sp_go;
	struct proc_result sp_res[BENCH_PROCS_MAX];
};

struct sample {
	double mops; /* aggregate: sum of ops / wall */
	double ns_op; /* per process: mean of own time / own ops */
};

struct summary {
	double mops, ns_op, spread;
};

/* A key number in [0, n) from the top 32 random bits (Lemire's reduction). */
static inline uint32_t
pick(uint64_t *s, uint32_t n)
{
	return (uint32_t)(((sup_xorshift64(s) >> 32) * n) >> 32);
}

/* "k:00000000001234": a tag, a colon, the number right-aligned in zeros. */
static void
make_key(char *dst, uint32_t key_bytes, char tag, uint32_t n)
{
	memset(dst, '0', key_bytes);
	dst[0] = tag;
	dst[1] = ':';
	for (char *p = dst + key_bytes - 1; n != 0 && p > dst + 1; n /= 10)
		*p-- = (char)('0' + n % 10);
}

static void
fc_fail(const char *call, int rc)
{
	fprintf(stderr, "forkcache-bench: %s: %s: %s\n", call, fc_errname(rc),
		fc_strerror(rc));
}

static int
local_build(struct bench_ctx *x)
{
	uint64_t buckets = 16;
	struct local_table *lt = &x->lt;

	while (buckets < 2ull * x->cfg.keys)
		buckets <<= 1;
	lt->mask = buckets - 1;
	lt->hash = calloc(buckets, sizeof *lt->hash);
	lt->idx = calloc(buckets, sizeof *lt->idx);
	if (lt->hash == NULL || lt->idx == NULL)
		return -1;
	for (uint32_t i = 0; i < x->cfg.keys; i++) {
		const char *k = x->hit_keys + (size_t)i * x->cfg.key_bytes;
		uint64_t h = XXH3_64bits(k, x->cfg.key_bytes);
		uint64_t b = h & lt->mask;

		while (lt->idx[b] != 0)
			b = (b + 1) & lt->mask;
		lt->hash[b] = h;
		lt->idx[b] = i + 1;
	}
	return 0;
}

/* Copy the value of @p key into @p buf; 0 found, -1 absent. */
static inline int
local_get(const struct bench_ctx *x, const char *key, unsigned char *buf)
{
	const struct local_table *lt = &x->lt;
	uint32_t kb = x->cfg.key_bytes;
	uint64_t h = XXH3_64bits(key, kb);

	for (uint64_t b = h & lt->mask; lt->idx[b] != 0;
	     b = (b + 1) & lt->mask) {
		size_t i = lt->idx[b] - 1;

		if (lt->hash[b] == h &&
		    memcmp(x->hit_keys + i * kb, key, kb) == 0) {
			memcpy(buf, x->values + i * x->cfg.val_bytes,
			       x->cfg.val_bytes);
			return 0;
		}
	}
	return -1;
}

/*
 * Run BENCH_BATCH operations of @p kind. Returns FC_OK or the first
 * unexpected return code.
 */
static int
run_batch(const struct bench_ctx *x, enum bench_kind kind, uint64_t *rng,
	  unsigned char *buf, uint64_t *sink)
{
	const struct bench_config *cfg = &x->cfg;
	size_t kb = cfg->key_bytes, vb = cfg->val_bytes;
	int rc;

	switch (kind) {
	case B_LOCAL_GET:
		for (int j = 0; j < BENCH_BATCH; j++) {
			uint32_t i = pick(rng, cfg->keys);

			if (local_get(x, x->hit_keys + i * kb, buf) != 0)
				return FC_ENOTFOUND;
			*sink += buf[0];
		}
		break;
	case B_GET_HIT:
		for (int j = 0; j < BENCH_BATCH; j++) {
			uint32_t i = pick(rng, cfg->keys);
			size_t len = vb;

			rc = fc_get(x->c, x->hit_keys + i * kb, kb, buf, &len);
			if (rc != FC_OK)
				return rc;
			*sink += buf[0];
		}
		break;
	case B_LEASE_HIT:
		for (int j = 0; j < BENCH_BATCH; j++) {
			uint32_t i = pick(rng, cfg->keys);
			size_t len = vb;
			fc_lease l;

			rc = fc_lease_get(x->c, x->hit_keys + i * kb, kb, buf,
					  &len, 0, &l);
			if (rc != FC_OK)
				return rc;
			*sink += buf[0];
		}
		break;
	case B_GET_MISS:
		for (int j = 0; j < BENCH_BATCH; j++) {
			uint32_t i = pick(rng, cfg->keys);
			size_t len = vb;

			rc = fc_get(x->c, x->miss_keys + i * kb, kb, buf, &len);
			if (rc != FC_ENOTFOUND)
				return rc == FC_OK ? BENCH_EFOUND : rc;
		}
		break;
	case B_SET:
		for (int j = 0; j < BENCH_BATCH; j++) {
			uint32_t i = pick(rng, cfg->keys);

			rc = fc_set(x->c, x->hit_keys + i * kb, kb,
				    x->values + i * vb, vb, 0);
			if (rc != FC_OK)
				return rc;
		}
		break;
	default:
		return FC_EINVAL;
	}
	return FC_OK;
}

/* A forked child: warm up, meet at the barrier, measure. Exit code. */
static int
child_main(const struct bench_ctx *x, enum bench_kind kind, unsigned me,
	   unsigned rep, struct shared_page *pg)
{
	struct proc_result *r = &pg->sp_res[me];
	uint64_t rng = 0x9e3779b97f4a7c15u * (1 + me + 4 * rep + 64 * kind);
	uint64_t dur_ns = (uint64_t)(x->cfg.seconds * 1e9);
	uint64_t warm_ns = dur_ns / 4 < BENCH_WARMUP_NS ? dur_ns / 4
							: BENCH_WARMUP_NS;
	unsigned char *buf = malloc(x->cfg.val_bytes + 1u);
	uint64_t t0, t, ops = 0, sink = 0;
	int rc = FC_OK;

	if (buf == NULL)
		return 1;
	/* Warm-up: caches, TLB, and the child's first fc_get claims a slot. */
	t0 = sup_mono_ns();
	do {
		rc = run_batch(x, kind, &rng, buf, &sink);
	} while (rc == FC_OK && sup_mono_ns() - t0 < warm_ns);
	/* Check in (a locked add: a full barrier), then wait for go. */
	ck_pr_inc_32(&pg->sp_ready);
	while (ck_pr_load_32(&pg->sp_go) == 0)
		sched_yield(); /* leave the CPU to the parent and sibling */
	t0 = t = sup_mono_ns();
	while (rc == FC_OK && t - t0 < dur_ns) {
		rc = run_batch(x, kind, &rng, buf, &sink);
		ops += BENCH_BATCH;
		t = sup_mono_ns();
	}
	r->ops = ops;
	r->start_ns = t0;
	r->end_ns = t;
	r->sink = sink;
	r->err = rc;
	free(buf);
	if (kind != B_LOCAL_GET) {
		/* Frees this child's reader slot; the parent's handle stays. */
		int crc = fc_close(x->c);

		if (crc != FC_OK) {
			fc_fail("fc_close (child)", crc);
			return 1;
		}
	}
	return rc == FC_OK ? 0 : 1;
}

/* One rep of (kind, procs). Returns 0, or 1 after printing why. */
static int
run_once(const struct bench_ctx *x, enum bench_kind kind, unsigned procs,
	 unsigned rep, struct shared_page *pg, struct sample *out)
{
	pid_t pids[BENCH_PROCS_MAX];
	unsigned started = 0;
	int failed = 0;
	uint64_t first = UINT64_MAX, last = 0, ops = 0;
	double ns_sum = 0;

	memset(pg, 0, sizeof *pg);
	fflush(NULL); /* no buffered output duplicated into the children */
	for (unsigned i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("forkcache-bench: fork");
			failed = 1;
			break;
		}
		if (pid == 0)
			_exit(child_main(x, kind, i, rep, pg));
		pids[started++] = pid;
	}
	/* Wait for every child to check in, or for one to die early. */
	while (!failed && ck_pr_load_32(&pg->sp_ready) < started) {
		struct timespec nap = {0, 100000}; /* 0.1 ms */

		for (unsigned i = 0; i < started; i++) {
			int st;

			if (waitpid(pids[i], &st, WNOHANG) == pids[i]) {
				fprintf(stderr, "forkcache-bench: %s: child "
						"died during warm-up\n",
					bench_name[kind]);
				pids[i] = -1;
				failed = 1;
			}
		}
		nanosleep(&nap, NULL);
	}
	ck_pr_store_32(&pg->sp_go, 1);
	for (unsigned i = 0; i < started; i++) {
		int st;

		if (pids[i] < 0)
			continue;
		if (waitpid(pids[i], &st, 0) < 0) {
			perror("forkcache-bench: waitpid");
			failed = 1;
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			const struct proc_result *r = &pg->sp_res[i];

			if (WIFEXITED(st) && r->err == BENCH_EFOUND)
				fprintf(stderr, "forkcache-bench: %s procs=%u: "
						"an absent key was found\n",
					bench_name[kind], procs);
			else if (WIFEXITED(st) && r->err != FC_OK)
				fprintf(stderr, "forkcache-bench: %s procs=%u: "
						"%s: %s\n",
					bench_name[kind], procs,
					fc_errname(r->err),
					fc_strerror(r->err));
			else
				fprintf(stderr, "forkcache-bench: %s procs=%u: "
						"child %s %d\n",
					bench_name[kind],
					procs,
					WIFEXITED(st) ? "exited"
						      : "killed by signal",
					WIFEXITED(st) ? WEXITSTATUS(st)
						      : WTERMSIG(st));
			failed = 1;
		}
	}
	if (failed || started != procs)
		return 1;
	for (unsigned i = 0; i < procs; i++) {
		const struct proc_result *r = &pg->sp_res[i];

		if (r->ops == 0)
			return 1;
		ops += r->ops;
		ns_sum += (double)(r->end_ns - r->start_ns) / (double)r->ops;
		if (r->start_ns < first)
			first = r->start_ns;
		if (r->end_ns > last)
			last = r->end_ns;
	}
	out->mops = (double)ops / (double)(last - first) * 1e3;
	out->ns_op = ns_sum / procs;
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, unsigned n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
summarize(const struct sample *s, unsigned n, struct summary *out)
{
	double mops[BENCH_REPS_MAX], ns[BENCH_REPS_MAX];

	for (unsigned i = 0; i < n; i++) {
		mops[i] = s[i].mops;
		ns[i] = s[i].ns_op;
	}
	out->ns_op = median(ns, n);
	out->mops = median(mops, n); /* sorts mops: [0] min, [n-1] max */
	out->spread = out->mops > 0 ? (mops[n - 1] - mops[0]) / out->mops : 0;
}

static void
print_result(const struct bench_config *cfg, enum bench_kind kind,
	     unsigned procs, const struct summary *s, double vs_procs1,
	     double cost_vs_local, double vs_get_hit)
{
	if (cfg->json) {
		printf("{\"bench\":\"%s\",\"procs\":%u,\"key_bytes\":%" PRIu32
		       ",\"val_bytes\":%" PRIu32 ",\"ns_op\":%.1f,"
		       "\"mops\":%.1f,\"spread_pct\":%.1f",
		       bench_name[kind], procs, cfg->key_bytes, cfg->val_bytes,
		       s->ns_op, s->mops, s->spread * 100);
		if (vs_procs1 > 0)
			printf(",\"vs_procs1\":%.2f", vs_procs1);
		if (cost_vs_local > 0)
			printf(",\"cost_vs_local\":%.2f", cost_vs_local);
		if (vs_get_hit > 0)
			printf(",\"vs_get_hit\":%.3f", vs_get_hit);
		printf("}\n");
	} else {
		printf("bench=%s procs=%u key=%" PRIu32 "B val=%" PRIu32
		       "B ns_op=%.1f mops=%.1f spread=%.1f%%",
		       bench_name[kind], procs, cfg->key_bytes, cfg->val_bytes,
		       s->ns_op, s->mops, s->spread * 100);
		if (vs_procs1 > 0)
			printf(" vs_procs1=%.2f", vs_procs1);
		if (cost_vs_local > 0)
			printf(" cost_vs_local=%.2f", cost_vs_local);
		if (vs_get_hit > 0)
			printf(" vs_get_hit=%.3f", vs_get_hit);
		printf("\n");
	}
	fflush(stdout);
}

/* CPUs this process may run on. */
static int
cpu_count(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof set, &set) == 0)
		return CPU_COUNT(&set);
	return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

static void
print_header(const struct bench_config *cfg)
{
	char cc[64];

#if defined(__clang__)
	snprintf(cc, sizeof cc, "clang-%d.%d.%d", __clang_major__,
		 __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
	snprintf(cc, sizeof cc, "gcc-%d.%d.%d", __GNUC__, __GNUC_MINOR__,
		 __GNUC_PATCHLEVEL__);
#else
	snprintf(cc, sizeof cc, "unknown");
#endif
	if (cfg->json) {
		printf("{\"header\":\"forkcache-bench\",\"commit\":\"%s\","
		       "\"cc\":\"%s\",\"build\":\"%s\",\"flags\":\"%s\","
		       "\"cpus\":%d,\"reps\":%u,\"seconds\":%.2f,"
		       "\"keys\":%" PRIu32 ",\"segment_bytes\":%" PRIu64 "}\n",
		       FC_BENCH_COMMIT, cc, FC_BENCH_BUILD_TYPE, FC_BENCH_FLAGS,
		       cpu_count(), cfg->reps, cfg->seconds, cfg->keys,
		       cfg->segment_bytes);
		return;
	}
	printf("# forkcache-bench commit=%s cc=%s build=%s flags=%s cpus=%d "
	       "reps=%u seconds=%.2f keys=%" PRIu32 " segment=%" PRIu64 "\n",
	       FC_BENCH_COMMIT, cc, FC_BENCH_BUILD_TYPE, FC_BENCH_FLAGS,
	       cpu_count(), cfg->reps, cfg->seconds, cfg->keys,
	       cfg->segment_bytes);
	printf("# ns_op: per process; mops: all procs together; spread: "
	       "(max-min)/median of mops over reps\n"
	       "# vs_procs1: mops at procs=2 / procs=1; cost_vs_local: ns_op / "
	       "local_get ns_op at the same procs\n"
	       "# local_get: baseline, a private XXH3 open-addressing table "
	       "with the same keys and values (no shared memory)\n");
}

/* Create, unlink (nobody else attaches; with --name only at the end, so
 * an inspector can watch the run) and prefill the segment. */
static int
setup_cache(struct bench_ctx *x, char *name, size_t name_len)
{
	const struct bench_config *cfg = &x->cfg;
	size_t kb = cfg->key_bytes, vb = cfg->val_bytes;
	unsigned char *buf = malloc(vb + 1u);
	fc_options o;
	int rc;

	if (buf == NULL)
		return 1;
	fc_options_init(&o);
	o.flags = FC_CREATE | FC_EXCL;
	o.segment_bytes = cfg->segment_bytes;
	if (cfg->name)
		snprintf(name, name_len, "%s", cfg->name);
	else
		snprintf(name, name_len, "/fcbench-%ld", (long)getpid());
	if ((rc = fc_open(name, &o, &x->c)) != FC_OK) {
		fc_fail("fc_open", rc);
		free(buf);
		return 1;
	}
	if (!cfg->name && (rc = fc_unlink(name, 0)) != FC_OK) {
		fc_fail("fc_unlink", rc);
		goto fail;
	}
	for (uint32_t i = 0; i < cfg->keys; i++) {
		rc = fc_set(x->c, x->hit_keys + i * kb, kb, x->values + i * vb,
			    vb, 0);
		if (rc != FC_OK) {
			fc_fail("fc_set (prefill)", rc);
			goto fail;
		}
	}
	/* Every prefilled key must hit (nothing evicted), every other miss. */
	for (uint32_t i = 0; i < cfg->keys; i++) {
		size_t len = vb;

		rc = fc_get(x->c, x->hit_keys + i * kb, kb, buf, &len);
		if (rc != FC_OK || len != vb ||
		    memcmp(buf, x->values + i * vb, vb) != 0) {
			fprintf(stderr, "forkcache-bench: prefilled key "
					"%" PRIu32 " does not read back (%s); "
					"--segment-bytes too small?\n",
				i,
				fc_errname(rc));
			goto fail;
		}
		len = vb;
		rc = fc_get(x->c, x->miss_keys + i * kb, kb, buf, &len);
		if (rc != FC_ENOTFOUND) {
			fprintf(stderr, "forkcache-bench: absent key %" PRIu32 " reads as %s\n", i, fc_errname(rc));
			goto fail;
		}
	}
	free(buf);
	return 0;
fail:
	free(buf);
	fc_close(x->c);
	x->c = NULL;
	return 1;
}

static int
setup_data(struct bench_ctx *x)
{
	const struct bench_config *cfg = &x->cfg;
	size_t kb = cfg->key_bytes, vb = cfg->val_bytes;
	uint64_t rng = 0x2545f4914f6cdd1du;

	x->hit_keys = malloc((size_t)cfg->keys * kb);
	x->miss_keys = malloc((size_t)cfg->keys * kb);
	x->values = malloc((size_t)cfg->keys * vb + 1);
	if (x->hit_keys == NULL || x->miss_keys == NULL || x->values == NULL)
		return -1;
	for (uint32_t i = 0; i < cfg->keys; i++) {
		make_key(x->hit_keys + i * kb, cfg->key_bytes, 'k', i);
		make_key(x->miss_keys + i * kb, cfg->key_bytes, 'm', i);
	}
	for (size_t i = 0; i < (size_t)cfg->keys * vb; i++)
		x->values[i] = (unsigned char)sup_xorshift64(&rng);
	return local_build(x);
}

/* Stats and a full check of the segment after the runs. */
static int
finish_cache(const struct bench_ctx *x)
{
	fc_stats st;
	int64_t problems;
	int rc;

	if ((rc = fc_stat(x->c, &st)) != FC_OK) {
		fc_fail("fc_stat", rc);
		return 1;
	}
	problems = fc_verify(x->c, FC_VERIFY_LOCK, NULL, NULL);
	if (problems < 0) {
		fc_fail("fc_verify", (int)problems);
		return 1;
	}
	if (!x->cfg.json)
		printf("# cache: items=%" PRIu64 " hits=%" PRIu64
		       " misses=%" PRIu64 " sets=%" PRIu64 " evictions=%" PRIu64
		       " limbo=%" PRIu64 " reclaim_waits=%" PRIu64
		       " index_rebuilds=%" PRIu64 " readers_dead=%" PRIu64
		       " verify_problems=%" PRId64 "\n",
		       st.items, st.hits, st.misses, st.sets, st.evictions,
		       st.limbo, st.reclaim_waits, st.index_rebuilds,
		       st.readers_dead, problems);
	if (problems > 0) {
		fprintf(stderr, "forkcache-bench: fc_verify found %" PRId64 " problems\n", problems);
		return 1;
	}
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: forkcache-bench [options]\n"
		"  Measures fc_get (hit, miss) and fc_set at 1 and 2\n"
		"  processes, next to a process-local hash table baseline;\n"
		"  one line per result.\n"
		"  --seconds S        measured time per rep (default 0.5)\n"
		"  --reps N           reps per result; the median is shown\n"
		"                     (default 5)\n"
		"  --quick            2 reps of 0.1 s (CI smoke)\n"
		"  --json             one JSON object per line\n"
		"  --segment-bytes N  segment size, K/M/G suffix\n"
		"  --name /NAME       shm name kept while running (e.g. for\n"
		"                     `forkcache watch`); removed at the end\n"
		"                     (default 64M)\n"
		"  --keys N           prefilled keys (default 10000)\n"
		"  --key-bytes N      key length, 4..%d (default 16)\n"
		"  --val-bytes N      value length (default 64)\n"
		"  --lease-herd       instead: N processes on one cold key\n"
		"                     through fc_lease_get (computes, wake-up\n"
		"                     after the fill), then the takeover time\n"
		"                     after a leader's SIGKILL (--reps times)\n"
		"  --herd N           processes in the herd (default 16)\n"
		"  --lease-hit-pair   only get_hit and lease_get_hit, the two\n"
		"                     alternating rep by rep (their cost ratio\n"
		"                     without drift between them)\n"
		"  --compute-ms N     the leader's compute time (default 200)\n"
		"  --help\n"
		"exit: 0 ok, 1 failure, 2 usage\n",
		FC_KEY_MAX);
}

static int
parse_args(int argc, char **argv, struct bench_config *cfg)
{
	static const struct option opts[] = {
		{"seconds", required_argument, NULL, 's'},
		{"reps", required_argument, NULL, 'r'},
		{"quick", no_argument, NULL, 'q'},
		{"json", no_argument, NULL, 'j'},
		{"segment-bytes", required_argument, NULL, 'S'},
		{"name", required_argument, NULL, 'N'},
		{"keys", required_argument, NULL, 'n'},
		{"key-bytes", required_argument, NULL, 'k'},
		{"val-bytes", required_argument, NULL, 'v'},
		{"lease-herd", no_argument, NULL, 'L'},
		{"lease-hit-pair", no_argument, NULL, 'P'},
		{"herd", required_argument, NULL, 'H'},
		{"compute-ms", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v, digits = 1;
	char *end;
	int ch, li = 0, quick = 0, have_reps = 0, have_secs = 0;

	while ((ch = getopt_long(argc, argv, "", opts, &li)) != -1) {
		switch (ch) {
		case 's':
			errno = 0;
			cfg->seconds = strtod(optarg, &end);
			if (errno || *end || !(cfg->seconds >= 0.01) ||
			    cfg->seconds > 3600)
				goto bad;
			have_secs = 1;
			break;
		case 'r':
			if (sup_parse_size_max(optarg, BENCH_REPS_MAX, &v) || v == 0)
				goto bad;
			cfg->reps = (unsigned)v;
			have_reps = 1;
			break;
		case 'q':
			quick = 1;
			break;
		case 'j':
			cfg->json = 1;
			break;
		case 'N':
			cfg->name = optarg;
			break;
		case 'S':
			if (sup_parse_size_max(optarg, 1ull << 40, &cfg->segment_bytes))
				goto bad;
			break;
		case 'n':
			if (sup_parse_size_max(optarg, 100000000, &v) || v == 0)
				goto bad;
			cfg->keys = (uint32_t)v;
			break;
		case 'k':
			if (sup_parse_size_max(optarg, FC_KEY_MAX, &v) || v < 4)
				goto bad;
			cfg->key_bytes = (uint32_t)v;
			break;
		case 'v':
			if (sup_parse_size_max(optarg, 64u << 20, &v))
				goto bad;
			cfg->val_bytes = (uint32_t)v;
			break;
		case 'L':
			cfg->lease_herd = 1;
			break;
		case 'P':
			cfg->lease_pair = 1;
			break;
		case 'H':
			if (sup_parse_size_max(optarg, 64, &v) || v < 2)
				goto bad;
			cfg->herd = (unsigned)v;
			break;
		case 'C':
			if (sup_parse_size_max(optarg, 60000, &v))
				goto bad;
			cfg->compute_ms = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "forkcache-bench: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	if (quick) {
		if (!have_reps)
			cfg->reps = 2;
		if (!have_secs)
			cfg->seconds = 0.1;
	}
	/* Keys are "t:" + digits: enough digits for every key number? */
	for (uint32_t i = 2; i < cfg->key_bytes && digits <= cfg->keys; i++)
		digits *= 10;
	if (digits < cfg->keys) {
		fprintf(stderr, "forkcache-bench: --key-bytes %" PRIu32 " too short for %" PRIu32 " distinct keys\n",
			cfg->key_bytes, cfg->keys);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "forkcache-bench: bad value '%s' for --%s\n", optarg,
		opts[li].name);
	return -1;
}

int
main(int argc, char **argv)
{
	struct bench_ctx x = {
		.cfg = {
			.seconds = 0.5,
			.reps = 5,
			.segment_bytes = 64u << 20,
			.keys = 10000,
			.key_bytes = 16,
			.val_bytes = 64,
		},
	};
	static struct sample samples[B_KINDS][BENCH_PROCS_MAX][BENCH_REPS_MAX];
	double local_ns[BENCH_PROCS_MAX + 1] = {0};
	double get_ns[BENCH_PROCS_MAX + 1] = {0};
	struct shared_page *pg;
	char name[64];
	int failed = 0;

	if (parse_args(argc, argv, &x.cfg) != 0)
		return 2;
	if (x.cfg.lease_herd)
		return bench_lease_herd(x.cfg.herd ? x.cfg.herd : 16,
					x.cfg.compute_ms ? x.cfg.compute_ms : 200,
					x.cfg.reps, x.cfg.json);
	if (setup_data(&x) != 0) {
		fprintf(stderr, "forkcache-bench: out of memory\n");
		return 1;
	}
	pg = mmap(NULL, sizeof *pg, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pg == MAP_FAILED) {
		perror("forkcache-bench: mmap");
		return 1;
	}
	if (setup_cache(&x, name, sizeof name) != 0)
		return 1;
	print_header(&x.cfg);
	/* --lease-hit-pair: the two kinds alternate within each rep. */
	for (unsigned rep = 0; x.cfg.lease_pair && rep < x.cfg.reps && !failed; rep++)
		for (int k = B_GET_HIT; k <= B_LEASE_HIT && !failed; k++)
			for (unsigned p = 1; p <= BENCH_PROCS_MAX && !failed; p++)
				failed = run_once(&x, (enum bench_kind)k, p, rep, pg,
						  &samples[k][p - 1][rep]);
	/* Gets first: set churns memory (limbo, reclamation). */
	for (int k = B_LOCAL_GET; k < B_KINDS && !failed; k++) {
		struct summary s[BENCH_PROCS_MAX + 1];

		if (x.cfg.lease_pair && k != B_GET_HIT && k != B_LEASE_HIT)
			continue;
		for (unsigned rep = 0; !x.cfg.lease_pair && rep < x.cfg.reps && !failed; rep++)
			for (unsigned p = 1; p <= BENCH_PROCS_MAX && !failed;
			     p++)
				failed = run_once(&x, (enum bench_kind)k, p,
						  rep, pg,
						  &samples[k][p - 1][rep]);
		if (failed)
			break;
		for (unsigned p = 1; p <= BENCH_PROCS_MAX; p++) {
			double vs1 = 0, vsl = 0, vsg = 0;

			summarize(samples[k][p - 1], x.cfg.reps, &s[p]);
			if (k == B_LOCAL_GET)
				local_ns[p] = s[p].ns_op;
			else if (local_ns[p] > 0)
				vsl = s[p].ns_op / local_ns[p];
			if (p > 1 && s[1].mops > 0)
				vs1 = s[p].mops / s[1].mops;
			if (k == B_GET_HIT)
				get_ns[p] = s[p].ns_op;
			else if (k == B_LEASE_HIT && get_ns[p] > 0)
				vsg = s[p].ns_op / get_ns[p];
			print_result(&x.cfg, (enum bench_kind)k, p, &s[p], vs1,
				     vsl, vsg);
		}
	}
	if (!failed)
		failed = finish_cache(&x);
	{
		int rc = fc_close(x.c);

		if (rc != FC_OK) {
			fc_fail("fc_close", rc);
			failed = 1;
		}
		if (x.cfg.name && (rc = fc_unlink(x.cfg.name, 0)) != FC_OK) {
			fc_fail("fc_unlink", rc);
			failed = 1;
		}
	}
	munmap(pg, sizeof *pg);
	free(x.hit_keys);
	free(x.miss_keys);
	free(x.values);
	free(x.lt.hash);
	free(x.lt.idx);
	return failed ? 1 : 0;
}
