/*
 * prefork_demo.c - the workers of a prefork server share one forkcache,
 * compared with the status quo of one private cache per worker.
 *
 * DESIGN       A master forks W workers. Each worker serves the same kind of
 *              traffic: R requests whose keys follow a Zipf law (a few hot
 *              keys, a long tail), each asking for the result of an
 *              "expensive lookup" (a deterministic CPU-bound backend costing
 *              --backend-us microseconds). A worker first asks the cache;
 *              on a miss it calls the backend and stores the result with a
 *              TTL. Two modes run back to back, with the same request
 *              streams (worker w draws the same keys in both):
 *                shared        the master creates one segment of
 *                              --segment-bytes before fork(); every worker
 *                              uses the inherited handle.
 *                per-process   each worker creates a private segment of
 *                              segment-bytes / W: the same total memory,
 *                              spent on W caches that each warm up alone.
 *              The table compares hits, backend calls and wall time; the last
 *              line is one greppable summary (the demo_smoke test reads it).
 * TTL          Workers run flat out (a closed loop), so the slower mode runs
 *              longer; a TTL shorter than the run would expire its items
 *              more often per request and inflate its backend calls. The
 *              default TTL (10 s) outlasts both runs of the default
 *              workload, so the difference comes from sharing alone (cold
 *              misses and capacity); pass a shorter --ttl-ms to watch
 *              expiry at work.
 * COUNTERS     Each worker counts into its own cache line of a MAP_SHARED
 *              anonymous array made before fork(). The master reads it only
 *              after waitpid(), which orders the child's stores before its
 *              loads (the child has exited), so plain stores suffice.
 * START        Workers set up (a per-process worker creates its segment),
 *              write one byte to a "ready" pipe, and block reading a "go"
 *              pipe; the master starts the clock and closes the go pipe's
 *              write end, which wakes every worker at once (read returns 0).
 * VALUES       A value carries its key number and a checksum of its bytes, so
 *              a worker checks every hit: a torn or foreign value is counted
 *              as bad and fails the run.
 * EXIT         0 ok, 1 a forkcache call or a worker failed, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdalign.h>
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
#include "sup_size.h"
#include "sup_zipf.h"

#define DEMO_WORKERS_MAX 256 /* a counter line each; plenty for a demo */
#define DEMO_KEY_BYTES 32 /* "obj:" + up to 10 digits, NUL */
#define DEMO_VAL_HDR 8 /* key number (4 B) + checksum (4 B) */
#define DEMO_CALIBRATE_ROUNDS 200000u /* backend rounds timed to calibrate */
#define DEMO_CACHELINE 64 /* bytes; one counter block per line */

enum demo_mode { MODE_SHARED,
		 MODE_PER_PROCESS };
static const char *const mode_name[] = {"shared", "per-process"};

struct demo_config {
	unsigned workers; /* worker processes */
	uint32_t keys; /* distinct keys in the workload */
	uint64_t requests; /* per worker */
	double alpha; /* Zipf exponent */
	uint64_t ttl_ms; /* TTL of cached results; 0 = never */
	uint32_t backend_us; /* cost of one backend call */
	uint32_t val_bytes; /* size of one cached result */
	uint64_t segment_bytes; /* total cache memory, in both modes */
	uint32_t page_bytes; /* slab page of every segment */
	uint64_t seed; /* PRNG seed of the request streams */
	uint64_t backend_rounds; /* calibrated: rounds per backend call */
	const char *keep; /* --keep: shared segment's name, kept */
};

/* Written by one worker, read by the master after waitpid(). */
struct worker_counters {
	alignas(DEMO_CACHELINE) uint64_t hits;
	uint64_t misses;
	uint64_t backend_calls;
	uint64_t bad_values; /* hits whose bytes failed the check */
	uint64_t elapsed_ns; /* this worker's own serving time */
	uint64_t evictions; /* per-process mode: from its own segment */
	uint64_t expired; /* per-process mode: from its own segment */
	uint64_t items; /* per-process mode: live items at the end */
};

struct mode_result {
	uint64_t hits, misses, backend_calls, bad_values;
	uint64_t evictions, expired, items;
	uint64_t wall_ns;
	uint64_t segments, segment_bytes; /* segments and bytes of each */
};

/* Smallest rank whose CDF reaches u. */
static uint32_t
zipf_draw(const double *cdf, uint32_t n, uint64_t *rng)
{
	return sup_zipf_rank(cdf, n, sup_unit(rng));
}

static uint32_t
fnv1a32(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void
put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, sizeof v);
}

static uint32_t
get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

/*
 * The simulated backend: a chain of dependent multiply-xorshift rounds (the
 * CPU cannot overlap them), then the result rendered into @p val. The
 * rendering is deterministic for a key, and self-describing: bytes 0..3 hold
 * the key number, bytes 4..7 a checksum of the rest.
 */
static void
backend_lookup(uint32_t key, uint64_t rounds, unsigned char *val, size_t vlen)
{
	uint64_t x = 0x243f6a8885a308d3u ^ key;

	for (uint64_t i = 0; i < rounds; i++) {
		x ^= x >> 31;
		x *= 0x7fb5d329728ea185u;
		x ^= x >> 27;
	}
	for (size_t i = DEMO_VAL_HDR; i < vlen; i++) {
		if ((i - DEMO_VAL_HDR) % 8 == 0)
			x = sup_splitmix64(&x);
		val[i] = (unsigned char)(x >> (8 * ((i - DEMO_VAL_HDR) % 8)));
	}
	put32(val, key);
	put32(val + 4, fnv1a32(val + DEMO_VAL_HDR, vlen - DEMO_VAL_HDR));
}

static int
value_ok(uint32_t key, const unsigned char *val, size_t vlen, size_t want)
{
	return vlen == want && get32(val) == key &&
		get32(val + 4) ==
		fnv1a32(val + DEMO_VAL_HDR, vlen - DEMO_VAL_HDR);
}

/* Backend rounds that cost about backend_us: the best of three timings. */
static uint64_t
calibrate_backend(uint32_t backend_us, size_t vlen)
{
	unsigned char *val = malloc(vlen);
	uint64_t best = UINT64_MAX;

	if (val == NULL)
		return 0;
	for (int t = 0; t < 3; t++) {
		uint64_t t0 = sup_mono_ns();

		backend_lookup((uint32_t)t, DEMO_CALIBRATE_ROUNDS, val, vlen);
		t0 = sup_mono_ns() - t0;
		if (t0 < best)
			best = t0;
	}
	free(val);
	if (best == 0)
		best = 1;
	return (uint64_t)((double)DEMO_CALIBRATE_ROUNDS * backend_us * 1000.0 /
			  (double)best) +
		1;
}

static int
key_format(char *dst, uint32_t key)
{
	return snprintf(dst, DEMO_KEY_BYTES, "obj:%" PRIu32, key);
}

static void
fc_fail(const char *who, const char *call, int rc)
{
	fprintf(stderr, "forkcache-demo: %s: %s: %s: %s\n", who, call,
		fc_errname(rc), fc_strerror(rc));
}

static void
fill_options(const struct demo_config *cfg, fc_options *o, uint64_t bytes)
{
	fc_options_init(o);
	o->segment_bytes = bytes;
	o->flags = FC_CREATE | FC_EXCL;
	/* Small pages: a per-process segment may be only a few MiB. */
	o->page_bytes = cfg->page_bytes;
}

/*
 * One worker: serve cfg->requests requests against @p c, count into @p ctr.
 * Returns 0, or 1 after printing the failed call.
 */
static int
serve(const struct demo_config *cfg, const double *cdf, fc_cache *c,
      unsigned w, struct worker_counters *ctr)
{
	unsigned char *buf = malloc(cfg->val_bytes);
	uint64_t rng = cfg->seed * 0x9e3779b97f4a7c15u + w + 1;
	char key[DEMO_KEY_BYTES], who[32];
	uint64_t t0 = sup_mono_ns();
	int rc = FC_OK;

	snprintf(who, sizeof who, "worker %u", w);
	if (buf == NULL) {
		fprintf(stderr, "forkcache-demo: %s: out of memory\n", who);
		return 1;
	}
	for (uint64_t r = 0; r < cfg->requests; r++) {
		uint32_t k = zipf_draw(cdf, cfg->keys, &rng);
		int klen = key_format(key, k);
		size_t vlen = cfg->val_bytes;

		rc = fc_get(c, key, (size_t)klen, buf, &vlen);
		if (rc == FC_OK) {
			ctr->hits++;
			if (!value_ok(k, buf, vlen, cfg->val_bytes))
				ctr->bad_values++;
			continue;
		}
		if (rc != FC_ENOTFOUND) {
			fc_fail(who, "fc_get", rc);
			break;
		}
		ctr->misses++;
		ctr->backend_calls++;
		backend_lookup(k, cfg->backend_rounds, buf, cfg->val_bytes);
		rc = fc_set(c, key, (size_t)klen, buf, cfg->val_bytes,
			    cfg->ttl_ms);
		if (rc != FC_OK) {
			fc_fail(who, "fc_set", rc);
			break;
		}
	}
	ctr->elapsed_ns = sup_mono_ns() - t0;
	free(buf);
	if (rc != FC_OK && rc != FC_ENOTFOUND)
		return 1;
	if (ctr->bad_values != 0) {
		fprintf(stderr, "forkcache-demo: %s: %" PRIu64 " cached values failed their check\n", who,
			ctr->bad_values);
		return 1;
	}
	return 0;
}

/*
 * Body of a forked worker. In per-process mode it first creates (and at once
 * unlinks: nobody else attaches) its private segment. Returns the exit code.
 */
static int
worker_main(const struct demo_config *cfg, const double *cdf,
	    enum demo_mode mode, fc_cache *shared, unsigned w,
	    struct worker_counters *ctr, int ready_fd, int go_fd)
{
	fc_cache *c = shared;
	char name[64], who[32], byte = 'r';
	fc_stats st;
	int rc, status = 0;

	snprintf(who, sizeof who, "worker %u", w);
	if (mode == MODE_PER_PROCESS) {
		fc_options o;

		fill_options(cfg, &o, cfg->segment_bytes / cfg->workers);
		snprintf(name, sizeof name, "/fcdemo-%ld-w%u", (long)getpid(),
			 w);
		if ((rc = fc_open(name, &o, &c)) != FC_OK) {
			fc_fail(who, "fc_open", rc);
			return 1;
		}
		if ((rc = fc_unlink(name, 0)) != FC_OK) {
			fc_fail(who, "fc_unlink", rc);
			fc_close(c);
			return 1;
		}
	}
	/*
	 * Close the ready pipe once written: when every worker has written or
	 * died, the master's read sees EOF instead of blocking forever.
	 */
	if (write(ready_fd, &byte, 1) != 1 || close(ready_fd) != 0 ||
	    read(go_fd, &byte, 1) != 0) {
		fprintf(stderr, "forkcache-demo: %s: start pipe: %s\n", who,
			strerror(errno));
		status = 1;
	}
	if (status == 0)
		status = serve(cfg, cdf, c, w, ctr);
	if (status == 0 && mode == MODE_PER_PROCESS) {
		if ((rc = fc_stat(c, &st)) != FC_OK) {
			fc_fail(who, "fc_stat", rc);
			status = 1;
		} else {
			ctr->evictions = st.evictions;
			ctr->expired = st.expired;
			ctr->items = st.items;
		}
	}
	/* Closing the inherited shared handle leaves the master's intact. */
	if ((rc = fc_close(c)) != FC_OK) {
		fc_fail(who, "fc_close", rc);
		status = 1;
	}
	return status;
}

/*
 * Run one mode: fork the workers, release them together, wait for all.
 * Returns 0, or 1 after printing why.
 */
static int
run_mode(const struct demo_config *cfg, const double *cdf, enum demo_mode mode,
	 struct worker_counters *ctr, struct mode_result *res)
{
	fc_cache *shared = NULL;
	char name[64];
	int ready[2], go[2], rc, failed = 0;
	unsigned started = 0;
	pid_t pids[DEMO_WORKERS_MAX];
	uint64_t t0;
	char byte;

	memset(ctr, 0, sizeof *ctr * cfg->workers);
	memset(res, 0, sizeof *res);
	if (mode == MODE_SHARED) {
		fc_options o;

		fill_options(cfg, &o, cfg->segment_bytes);
		if (cfg->keep) {
			snprintf(name, sizeof name, "%s", cfg->keep);
			o.flags &= ~FC_EXCL; /* reuse a kept one: warm start */
		} else {
			snprintf(name, sizeof name, "/fcdemo-%ld-shared",
				 (long)getpid());
		}
		if ((rc = fc_open(name, &o, &shared)) != FC_OK) {
			fc_fail("master", "fc_open", rc);
			return 1;
		}
		printf("  shared segment %s (named while it runs)\n", name);
		res->segments = 1;
		res->segment_bytes = cfg->segment_bytes;
	} else {
		res->segments = cfg->workers;
		res->segment_bytes = cfg->segment_bytes / cfg->workers;
	}
	if (pipe(ready) != 0 || pipe(go) != 0) {
		perror("forkcache-demo: pipe");
		failed = 1;
		goto out;
	}
	fflush(NULL); /* no buffered output duplicated into the children */
	for (unsigned w = 0; w < cfg->workers; w++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("forkcache-demo: fork");
			failed = 1;
			break;
		}
		if (pid == 0) {
			close(ready[0]);
			close(go[1]);
			_exit(worker_main(cfg, cdf, mode, shared, w, &ctr[w],
					  ready[1], go[0]));
		}
		pids[started++] = pid;
	}
	close(ready[1]);
	close(go[0]);
	/* Every worker is ready (or died: then read sees EOF early). */
	for (unsigned w = 0; w < started; w++) {
		if (read(ready[0], &byte, 1) != 1) {
			failed = 1;
			break;
		}
	}
	close(ready[0]);
	if (failed) { /* do not serve a partial run: stop the workers */
		for (unsigned w = 0; w < started; w++)
			kill(pids[w], SIGTERM);
	}
	t0 = sup_mono_ns();
	close(go[1]); /* go: every worker's read returns 0 */
	for (unsigned w = 0; w < started; w++) {
		int st;

		if (waitpid(pids[w], &st, 0) < 0) {
			perror("forkcache-demo: waitpid");
			failed = 1;
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "forkcache-demo: %s: worker %u %s %d\n",
				mode_name[mode], w,
				WIFEXITED(st) ? "exited" : "killed by signal",
				WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			failed = 1;
		}
	}
	res->wall_ns = sup_mono_ns() - t0;
	for (unsigned w = 0; w < cfg->workers; w++) {
		res->hits += ctr[w].hits;
		res->misses += ctr[w].misses;
		res->backend_calls += ctr[w].backend_calls;
		res->bad_values += ctr[w].bad_values;
		res->evictions += ctr[w].evictions;
		res->expired += ctr[w].expired;
		res->items += ctr[w].items;
	}
out:
	if (shared != NULL) {
		fc_stats st;

		if ((rc = fc_stat(shared, &st)) != FC_OK) {
			fc_fail("master", "fc_stat", rc);
			failed = 1;
		} else {
			res->evictions = st.evictions;
			res->expired = st.expired;
			res->items = st.items;
		}
		if ((rc = fc_close(shared)) != FC_OK) {
			fc_fail("master", "fc_close", rc);
			failed = 1;
		}
		if (!cfg->keep && (rc = fc_unlink(name, 0)) != FC_OK) {
			fc_fail("master", "fc_unlink", rc);
			failed = 1;
		}
	}
	return failed;
}

static double
ratio(uint64_t num, uint64_t den)
{
	return den == 0 ? 0.0 : (double)num / (double)den;
}

static void
print_row_u64(const char *label, uint64_t a, uint64_t b)
{
	printf("  %-22s %15" PRIu64 " %15" PRIu64 "\n", label, a, b);
}

static void
print_row_f(const char *label, const char *fmt, double a, double b)
{
	char x[32], y[32];

	snprintf(x, sizeof x, fmt, a);
	snprintf(y, sizeof y, fmt, b);
	printf("  %-22s %15s %15s\n", label, x, y);
}

static void
print_report(const struct demo_config *cfg, const struct mode_result *s,
	     const struct mode_result *p)
{
	uint64_t req = cfg->requests * cfg->workers;
	double ws = (double)s->wall_ns / 1e9, wp = (double)p->wall_ns / 1e9;

	printf("\n  %-22s %15s %15s\n", "", "shared", "per-process");
	printf("  %-22s %15s %15s\n", "", "(1 segment)", "(1 per worker)");
	print_row_u64("segments", s->segments, p->segments);
	print_row_u64("segment bytes (each)", s->segment_bytes,
		      p->segment_bytes);
	print_row_u64("requests", req, req);
	print_row_u64("cache hits", s->hits, p->hits);
	print_row_u64("cache misses", s->misses, p->misses);
	print_row_f("hit ratio", "%.3f", ratio(s->hits, req),
		    ratio(p->hits, req));
	print_row_u64("backend calls", s->backend_calls, p->backend_calls);
	print_row_f("backend CPU (s)", "%.2f",
		    (double)s->backend_calls * cfg->backend_us / 1e6,
		    (double)p->backend_calls * cfg->backend_us / 1e6);
	print_row_u64("evictions", s->evictions, p->evictions);
	print_row_u64("expired (reclaimed)", s->expired, p->expired);
	print_row_u64("items at end", s->items, p->items);
	print_row_f("wall time (s)", "%.2f", ws, wp);
	print_row_f("requests/s", "%.0f", ws > 0 ? (double)req / ws : 0,
		    wp > 0 ? (double)req / wp : 0);
	printf("\n");
	printf("demo: workers=%u requests=%" PRIu64
	       " shared_backend_calls=%" PRIu64
	       " per_process_backend_calls=%" PRIu64
	       " backend_reduction=%.1fx shared_hit_ratio=%.2f"
	       " per_process_hit_ratio=%.2f shared_wall_s=%.2f"
	       " per_process_wall_s=%.2f\n",
	       cfg->workers, req, s->backend_calls, p->backend_calls,
	       ratio(p->backend_calls, s->backend_calls), ratio(s->hits, req),
	       ratio(p->hits, req), ws, wp);
}

static void
usage(FILE *f)
{
	fputs("usage: forkcache-demo [options]\n"
	      "  A master forks workers that serve a Zipf workload of\n"
	      "  expensive lookups, first sharing one forkcache segment,\n"
	      "  then each with a private segment of 1/workers the size;\n"
	      "  prints both side by side.\n"
	      "  --workers N        worker processes (default 4)\n"
	      "  --keys N           distinct keys (default 20000)\n"
	      "  --requests N       requests per worker (default 400000)\n"
	      "  --alpha A          Zipf exponent (default 0.99)\n"
	      "  --ttl-ms MS        TTL of cached results, 0 = never\n"
	      "                     (default 10000)\n"
	      "  --backend-us US    CPU cost of one backend call (default 40)\n"
	      "  --value-bytes N    bytes of one cached result (default 512)\n"
	      "  --segment-bytes N  total cache memory, K/M/G suffix\n"
	      "                     (default 16M)\n"
	      "  --page-bytes N     slab page size, K/M suffix (default 64K)\n"
	      "  --seed N           request stream seed (default 1)\n"
	      "  --keep /NAME       shared segment name; left in place at\n"
	      "                     the end (inspect it: forkcache stats NAME)\n"
	      "  --help\n"
	      "exit: 0 ok, 1 failure, 2 usage\n",
	      f);
}

static int
parse_args(int argc, char **argv, struct demo_config *cfg)
{
	static const struct option opts[] = {
		{"workers", required_argument, NULL, 'w'},
		{"keys", required_argument, NULL, 'k'},
		{"requests", required_argument, NULL, 'r'},
		{"alpha", required_argument, NULL, 'a'},
		{"ttl-ms", required_argument, NULL, 't'},
		{"backend-us", required_argument, NULL, 'b'},
		{"value-bytes", required_argument, NULL, 'v'},
		{"segment-bytes", required_argument, NULL, 's'},
		{"page-bytes", required_argument, NULL, 'p'},
		{"seed", required_argument, NULL, 'S'},
		{"keep", required_argument, NULL, 'K'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	char *end;
	int ch, li = 0;

	while ((ch = getopt_long(argc, argv, "", opts, &li)) != -1) {
		switch (ch) {
		case 'w':
			if (sup_parse_size_max(optarg, DEMO_WORKERS_MAX, &v) || v == 0)
				goto bad;
			cfg->workers = (unsigned)v;
			break;
		case 'k':
			if (sup_parse_size_max(optarg, UINT32_MAX / 2, &v) || v == 0)
				goto bad;
			cfg->keys = (uint32_t)v;
			break;
		case 'r':
			if (sup_parse_size_max(optarg, UINT64_MAX / DEMO_WORKERS_MAX,
					       &cfg->requests))
				goto bad;
			break;
		case 'a':
			errno = 0;
			cfg->alpha = strtod(optarg, &end);
			if (errno || *end || !(cfg->alpha >= 0) ||
			    cfg->alpha > 10)
				goto bad;
			break;
		case 't':
			if (sup_parse_size_max(optarg, UINT32_MAX, &cfg->ttl_ms))
				goto bad;
			break;
		case 'b':
			if (sup_parse_size_max(optarg, 1000000, &v))
				goto bad;
			cfg->backend_us = (uint32_t)v;
			break;
		case 'v':
			if (sup_parse_size_max(optarg, FC_VALUE_MAX, &v) ||
			    v < DEMO_VAL_HDR)
				goto bad;
			cfg->val_bytes = (uint32_t)v;
			break;
		case 's':
			if (sup_parse_size_max(optarg, 1ull << 40, &cfg->segment_bytes))
				goto bad;
			break;
		case 'p':
			if (sup_parse_size_max(optarg, 1ull << 26, &v))
				goto bad;
			cfg->page_bytes = (uint32_t)v;
			break;
		case 'K':
			if (optarg[0] != '/' || strchr(optarg + 1, '/'))
				goto bad;
			cfg->keep = optarg;
			break;
		case 'S':
			if (sup_parse_size_max(optarg, UINT64_MAX, &cfg->seed))
				goto bad;
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
		fprintf(stderr, "forkcache-demo: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "forkcache-demo: bad value '%s' for --%s\n", optarg,
		opts[li].name);
	return -1;
}

int
main(int argc, char **argv)
{
	struct demo_config cfg = {
		.workers = 4,
		.keys = 20000,
		.requests = 400000,
		.alpha = 0.99,
		.ttl_ms = 10000,
		.backend_us = 40,
		.val_bytes = 512,
		.segment_bytes = 16u << 20,
		.page_bytes = 64u << 10,
		.seed = 1,
	};
	struct mode_result res[2];
	struct worker_counters *ctr;
	size_t ctr_bytes;
	double *cdf;
	int failed = 0;

	if (parse_args(argc, argv, &cfg) != 0)
		return 2;
	if (cfg.segment_bytes / cfg.workers < (1u << 20)) {
		fprintf(stderr, "forkcache-demo: --segment-bytes must give "
				"each of the %u per-process segments at least "
				"1 MiB\n",
			cfg.workers);
		return 2;
	}
	if ((cdf = sup_zipf_cdf(cfg.keys, cfg.alpha)) == NULL) {
		fprintf(stderr, "forkcache-demo: out of memory\n");
		return 1;
	}
	cfg.backend_rounds = calibrate_backend(cfg.backend_us, cfg.val_bytes);
	if (cfg.backend_us == 0)
		cfg.backend_rounds = 0;
	ctr_bytes = sizeof *ctr * cfg.workers;
	ctr = mmap(NULL, ctr_bytes, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctr == MAP_FAILED) {
		perror("forkcache-demo: mmap");
		free(cdf);
		return 1;
	}
	printf("forkcache-demo: %u workers, %" PRIu64 " requests each, %" PRIu32
	       " keys (Zipf alpha %.2f), ttl %" PRIu64 " ms\n",
	       cfg.workers, cfg.requests, cfg.keys, cfg.alpha, cfg.ttl_ms);
	printf("  backend: %" PRIu32 " us of CPU per call (%" PRIu64
	       " rounds); values %" PRIu32 " B\n",
	       cfg.backend_us, cfg.backend_rounds, cfg.val_bytes);
	printf("  memory: %" PRIu64 " B in both modes: 1 shared segment, or "
	       "%u private segments of %" PRIu64 " B; pages %" PRIu32 " B\n",
	       cfg.segment_bytes, cfg.workers, cfg.segment_bytes / cfg.workers,
	       cfg.page_bytes);
	for (int m = MODE_SHARED; m <= MODE_PER_PROCESS && !failed; m++) {
		printf("  running %s ...\n", mode_name[m]);
		fflush(stdout);
		failed = run_mode(&cfg, cdf, (enum demo_mode)m, ctr, &res[m]);
	}
	if (!failed)
		print_report(&cfg, &res[MODE_SHARED], &res[MODE_PER_PROCESS]);
	munmap(ctr, ctr_bytes);
	free(cdf);
	return failed ? 1 : 0;
}
