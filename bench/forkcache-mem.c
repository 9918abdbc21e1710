/*
 * forkcache-mem.c - how good forkcache is at being a cache: how much of a
 * full segment holds payload, how many hits it keeps next to exact reference
 * models, and what it does with expired data, scans, churn and a full index.
 * Uses the public API only (include/forkcache.h), as a user would.
 *
 * TESTS (one result line each; `test=` names the row of issue #9's table)
 *   payload  Insert distinct keys (16..40 B) with values drawn from a size
 *            distribution until the key+value bytes inserted reach FILL x the
 *            segment. payload = key+value bytes of the items resident (counted
 *            by the iterator) / segment bytes. Distributions: loguniform
 *            (16 B..16 KiB, log-uniform; FILL 4 and 40), lognormal (median
 *            200 B, sigma 0.8, clamped to 8 B..64 KiB; FILL 4), fixed64
 *            (64 B values; FILL 4).
 *   shift    100 B values inserted to 2x the segment, then 8 KiB values to 2x.
 *            The newest phase-2 keys whose payload sums to 75% of the segment
 *            are the keys that "fit"; present_fit = the fraction of them
 *            resident (fc_get); phase1_left = resident 100 B items.
 *   hitratio Cache-aside (fc_get; fc_set on a miss) over a Zipf(alpha) trace
 *            of 100k keys (1M requests; ranks shuffled to key ids), equal-size
 *            items, the segment holding about cache_pct% of the keys. Its
 *            item capacity C is the mean number of resident items over the
 *            second half of the trace. Two in-process reference models
 *            (bench-only code, NOT the library) run the same trace with
 *            capacity C: an exact LRU and S3-FIFO (Yang et al., SOSP '23:
 *            10% probationary FIFO, main FIFO with reinsertion on a 2-bit
 *            frequency, ghost FIFO of ids as large as the main FIFO).
 *            miss_vs_lru = misses / LRU misses - 1 (negative is better).
 *   scan     Zipf 0.99 over 100k keys, cache 10%: after 500k requests, the
 *            hottest 1% of the keys (by rank) resident are counted through
 *            the iterator (which sets no reference bit), 50k never-seen keys
 *            are read and set once each, and the hot keys are counted again.
 *            The same stream runs through both reference models.
 *   ttl      The segment is first filled to its item capacity C (200 B
 *            values) and flushed. Long-lived items (TTL 0) are set up to
 *            92% of C; then for SECONDS, short-TTL items (new keys, TTL
 *            uniform 50..200 ms) are set at 20k/s and long-lived keys are
 *            rewritten at 5k/s. The live data fits, so every live eviction
 *            (fc_stats.evictions) is one made while expired items held
 *            memory. expired_held = (data bytes counted by fc_stat - bytes of
 *            the items the iterator returns, which skips expired ones) /
 *            segment bytes, at the end; _max is the largest sample taken
 *            every 0.5 s after the first second.
 *   churn    Keys with VBYTES values fill 43% of the segment; then 4x as many
 *            overwrites of random keys with values resized uniformly within
 *            +-50% of VBYTES. lost = keys no longer resident (fc_get).
 *   setlat   16 B keys, 8 B values: as many distinct keys as the index has
 *            buckets are set (the index, not the slab, is the bound), then
 *            20k more sets of new keys are timed one by one (mean, p99).
 * OUTPUT     A header line (test=header: commit, segment bytes, mode), then
 *            one line per result: `test=NAME key=value ...` or, with --json,
 *            one JSON object per line with the same keys. Every line carries
 *            its target from the issue (target=..., the unit of the result).
 *            No figure is asserted: this program measures, it does not judge.
 * --quick    Smaller segments, traces and durations (a few seconds; CI
 *            checks that every line is printed and parses).
 * EXIT       0 ok, 1 a forkcache call failed, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"
#include "sup_rng.h"
#include "bench_commit.h" /* FC_BENCH_COMMIT */

#define MEM_MIB (1024ull * 1024ull)
#define MEM_VAL_MAX (64u * 1024u) /* largest value any test writes */
#define MEM_KEY_FIXED 24 /* key length where sizes must be equal */

struct mem_config {
	int quick;
	int json;
	const char *only; /* run only this test (NULL = all) */
	uint64_t seg; /* segment bytes of the payload/shift/ttl/churn tests */
	uint32_t keys; /* universe of the hit-ratio traces */
	uint32_t requests; /* requests per hit-ratio trace */
	double ttl_seconds;
	uint32_t lat_sets;
};

static struct mem_config cfg;
static unsigned char valbuf[MEM_VAL_MAX];
static unsigned char rdbuf[MEM_VAL_MAX];
static unsigned seq; /* segment names: one per test */

/* ---- output: one record per line, text or JSON ---- */

static void
rec_begin(const char *test)
{
	if (cfg.json)
		printf("{\"test\":\"%s\"", test);
	else
		printf("test=%s", test);
}

static void
rec_str(const char *k, const char *v)
{
	if (cfg.json)
		printf(",\"%s\":\"%s\"", k, v);
	else
		printf(" %s=%s", k, v);
}

static void
rec_u64(const char *k, uint64_t v)
{
	if (cfg.json)
		printf(",\"%s\":%" PRIu64, k, v);
	else
		printf(" %s=%" PRIu64, k, v);
}

static void
rec_f(const char *k, double v, int prec)
{
	if (cfg.json)
		printf(",\"%s\":%.*f", k, prec, v);
	else
		printf(" %s=%.*f", k, prec, v);
}

static void
rec_end(void)
{
	printf(cfg.json ? "}\n" : "\n");
	fflush(stdout);
}

static int
fail(const char *what, int rc)
{
	fprintf(stderr, "forkcache-mem: %s: %s (%s)\n", what, fc_errname(rc),
		fc_strerror(rc));
	return 1;
}

/* ---- randomness, keys, time ---- */

static uint64_t
rnd_below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)sup_splitmix64(s) * n) >> 64);
}

/*
 * Key of id: "m" + the id in decimal, zero-padded to klen (16..40 by a hash
 * of the id when var, else MEM_KEY_FIXED). Distinct ids give distinct keys.
 */
static size_t
key_of(uint64_t id, int var, char *buf)
{
	uint64_t h = id * 0x9e3779b97f4a7c15u;
	int klen = var ? 16 + (int)((h >> 40) % 25) : MEM_KEY_FIXED;

	snprintf(buf, 64, "m%0*" PRIu64, klen - 1, id);
	return (size_t)klen;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- cache setup ---- */

/* A new segment of @p bytes; @p avg_item: the index sizing hint (0 = the
 * default, as the payload tests use). */
static int
cache_open(uint64_t bytes, uint32_t avg_item, fc_cache **c, char *name, size_t nlen)
{
	fc_options o;
	int rc;

	fc_options_init(&o);
	o.segment_bytes = bytes;
	if (avg_item)
		o.avg_item_bytes = avg_item;
	o.flags = FC_CREATE | FC_EXCL;
	snprintf(name, nlen, "/fcmem-%ld-%u", (long)getpid(), seq++);
	rc = fc_open(name, &o, c);
	return rc == FC_OK ? 0 : fail("fc_open", rc);
}

static void
cache_close(fc_cache *c, const char *name)
{
	fc_close(c);
	fc_unlink(name, 0);
}

/* Key+value bytes and number of the resident items (expired skipped). */
static int
resident(fc_cache *c, uint64_t *bytes, uint64_t *items)
{
	fc_iter *it;
	fc_item item;
	int rc;

	*bytes = *items = 0;
	rc = fc_iter_open(c, &it);
	if (rc != FC_OK)
		return fail("fc_iter_open", rc);
	while ((rc = fc_iter_next(it, &item)) == FC_OK) {
		*bytes += item.klen + item.vlen;
		(*items)++;
	}
	fc_iter_close(it);
	return rc == FC_ENOTFOUND ? 0 : fail("fc_iter_next", rc);
}

static int
set(fc_cache *c, const char *k, size_t klen, size_t vlen, uint64_t ttl)
{
	int rc = fc_set(c, k, klen, valbuf, vlen, ttl);

	return rc == FC_OK ? 0 : fail("fc_set", rc);
}

/* 1 if key is resident, 0 if not, -1 on error. */
static int
present(fc_cache *c, const char *k, size_t klen)
{
	size_t n = sizeof rdbuf;
	int rc = fc_get(c, k, klen, rdbuf, &n);

	if (rc == FC_OK)
		return 1;
	if (rc == FC_ENOTFOUND)
		return 0;
	fail("fc_get", rc);
	return -1;
}

/* ---- payload at full ---- */

enum dist { D_LOGUNI,
	    D_LOGNORM,
	    D_FIXED64 };

static size_t
draw_size(enum dist d, uint64_t *s)
{
	double v;

	switch (d) {
	case D_LOGUNI:
		return (size_t)exp(log(16.0) + sup_unit(s) * (log(16384.0) - log(16.0)));
	case D_LOGNORM: {
		/* Box-Muller; median 200 B, sigma 0.8 */
		double u1 = sup_unit(s) + 1e-300, u2 = sup_unit(s);

		v = 200.0 * exp(0.8 * sqrt(-2.0 * log(u1)) * cos(2 * M_PI * u2));
		if (v < 8)
			v = 8;
		if (v > MEM_VAL_MAX)
			v = MEM_VAL_MAX;
		return (size_t)v;
	}
	case D_FIXED64:
	default:
		return 64;
	}
}

static int
test_payload(enum dist d, const char *dname, unsigned fill, double target)
{
	char name[64], key[64];
	fc_cache *c;
	fc_stats st;
	uint64_t s = 1000 + (uint64_t)d * 10 + fill, put = 0, id = 0, bytes, items;

	if (cache_open(cfg.seg, 0, &c, name, sizeof name))
		return 1;
	while (put < fill * cfg.seg) {
		size_t klen = key_of(id++, 1, key), vlen = draw_size(d, &s);

		if (set(c, key, klen, vlen, 0))
			goto bad;
		put += klen + vlen;
	}
	if (resident(c, &bytes, &items) || fc_stat(c, &st) != FC_OK)
		goto bad;
	rec_begin("payload");
	rec_str("dist", dname);
	rec_u64("fill_x", fill);
	rec_f("payload", (double)bytes / (double)cfg.seg, 3);
	rec_f("target", target, 2);
	rec_u64("items", items);
	rec_u64("sets", id);
	rec_u64("pages", st.pages);
	rec_u64("pages_free", st.pages_free);
	rec_u64("buckets", st.buckets);
	rec_u64("evictions", st.evictions);
	rec_u64("segment_bytes", cfg.seg);
	rec_end();
	cache_close(c, name);
	return 0;
bad:
	cache_close(c, name);
	return 1;
}

/* ---- workload shift ---- */

static int
test_shift(void)
{
	char name[64], key[64];
	fc_cache *c;
	fc_iter *it;
	fc_item item;
	uint64_t put = 0, id = 0, p2_first, p2_end, fit_first, fit = 0, here = 0;
	uint64_t left = 0;
	int rc;

	if (cache_open(cfg.seg, 0, &c, name, sizeof name))
		return 1;
	while (put < 2 * cfg.seg) {
		size_t klen = key_of(id++, 0, key);

		if (set(c, key, klen, 100, 0))
			goto bad;
		put += klen + 100;
	}
	p2_first = id;
	put = 0;
	while (put < 2 * cfg.seg) {
		size_t klen = key_of(id++, 0, key);

		if (set(c, key, klen, 8192, 0))
			goto bad;
		put += klen + 8192;
	}
	p2_end = id;
	/* The newest keys whose payload sums to 75% of the segment. */
	put = 0;
	fit_first = p2_end;
	while (fit_first > p2_first &&
	       put + MEM_KEY_FIXED + 8192 <= cfg.seg * 3 / 4) {
		fit_first--;
		put += MEM_KEY_FIXED + 8192;
	}
	for (uint64_t k = fit_first; k < p2_end; k++) {
		size_t klen = key_of(k, 0, key);
		int p = present(c, key, klen);

		if (p < 0)
			goto bad;
		fit++;
		here += (uint64_t)p;
	}
	if ((rc = fc_iter_open(c, &it)) != FC_OK) {
		fail("fc_iter_open", rc);
		goto bad;
	}
	while ((rc = fc_iter_next(it, &item)) == FC_OK)
		left += item.vlen == 100;
	fc_iter_close(it);
	rec_begin("shift");
	rec_str("phases", "100B,8KiB");
	rec_f("present_fit", fit ? (double)here / (double)fit : 0, 3);
	rec_f("target", 0.80, 2);
	rec_u64("fit_keys", fit);
	rec_u64("present", here);
	rec_u64("phase2_keys", p2_end - p2_first);
	rec_u64("phase1_left", left);
	rec_u64("segment_bytes", cfg.seg);
	rec_end();
	cache_close(c, name);
	return 0;
bad:
	cache_close(c, name);
	return 1;
}

/* ---- reference models (bench only; not the library) ---- */

/* Exact LRU over ids 0..n-1: a doubly linked list, head = most recent. */
struct lru {
	int32_t *prev, *next;
	uint8_t *in;
	int32_t head, tail;
	uint64_t size, cap;
};

static int
lru_init(struct lru *l, uint64_t n, uint64_t cap)
{
	l->prev = malloc(n * sizeof *l->prev);
	l->next = malloc(n * sizeof *l->next);
	l->in = calloc(n, 1);
	l->head = l->tail = -1;
	l->size = 0;
	l->cap = cap;
	return l->prev && l->next && l->in ? 0 : -1;
}

static void
lru_free(struct lru *l)
{
	free(l->prev);
	free(l->next);
	free(l->in);
}

static void
lru_unlink(struct lru *l, int32_t id)
{
	if (l->prev[id] >= 0)
		l->next[l->prev[id]] = l->next[id];
	else
		l->head = l->next[id];
	if (l->next[id] >= 0)
		l->prev[l->next[id]] = l->prev[id];
	else
		l->tail = l->prev[id];
}

static void
lru_push(struct lru *l, int32_t id)
{
	l->prev[id] = -1;
	l->next[id] = l->head;
	if (l->head >= 0)
		l->prev[l->head] = id;
	l->head = id;
	if (l->tail < 0)
		l->tail = id;
}

/* Access id (get, and set on a miss); 1 on a hit. */
static int
lru_access(struct lru *l, int32_t id)
{
	if (l->in[id]) {
		lru_unlink(l, id);
		lru_push(l, id);
		return 1;
	}
	lru_push(l, id);
	l->in[id] = 1;
	if (++l->size > l->cap) {
		int32_t v = l->tail;

		lru_unlink(l, v);
		l->in[v] = 0;
		l->size--;
	}
	return 0;
}

/* S3-FIFO: small FIFO S, main FIFO M (rings of ids), ghost by stamps. */
struct fifo {
	int32_t *a;
	uint64_t cap, head, n; /* pop at head, push at head + n */
};

struct s3 {
	struct fifo s, m;
	uint8_t *where; /* 0 absent, 1 in S, 2 in M */
	uint8_t *freq; /* 0..3 */
	uint64_t *ghost; /* ghost insertion stamp; 0 = never */
	uint64_t ghost_ctr, ghost_cap, s_cap, size, cap;
};

static void
fifo_push(struct fifo *f, int32_t id)
{
	f->a[(f->head + f->n++) % f->cap] = id;
}

static int32_t
fifo_pop(struct fifo *f)
{
	int32_t id = f->a[f->head];

	f->head = (f->head + 1) % f->cap;
	f->n--;
	return id;
}

static int
s3_init(struct s3 *q, uint64_t n, uint64_t cap)
{
	memset(q, 0, sizeof *q);
	q->cap = cap;
	q->s_cap = cap / 10 ? cap / 10 : 1;
	q->ghost_cap = cap - q->s_cap;
	q->s.cap = q->m.cap = cap + 2;
	q->s.a = malloc(q->s.cap * sizeof(int32_t));
	q->m.a = malloc(q->m.cap * sizeof(int32_t));
	q->where = calloc(n, 1);
	q->freq = calloc(n, 1);
	q->ghost = calloc(n, sizeof *q->ghost);
	return q->s.a && q->m.a && q->where && q->freq && q->ghost ? 0 : -1;
}

static void
s3_free(struct s3 *q)
{
	free(q->s.a);
	free(q->m.a);
	free(q->where);
	free(q->freq);
	free(q->ghost);
}

static void
s3_evict(struct s3 *q)
{
	while (q->size > q->cap) {
		if (q->s.n > q->s_cap || q->m.n == 0) {
			int32_t id = fifo_pop(&q->s);

			if (q->freq[id] >= 1) { /* accessed on probation */
				fifo_push(&q->m, id);
				q->where[id] = 2;
			} else {
				q->where[id] = 0;
				q->ghost[id] = ++q->ghost_ctr;
				q->size--;
			}
		} else {
			int32_t id = fifo_pop(&q->m);

			if (q->freq[id] > 0) { /* reinsert, one credit spent */
				q->freq[id]--;
				fifo_push(&q->m, id);
			} else {
				q->where[id] = 0;
				q->size--;
			}
		}
	}
}

static int
s3_access(struct s3 *q, int32_t id)
{
	if (q->where[id]) {
		if (q->freq[id] < 3)
			q->freq[id]++;
		return 1;
	}
	q->freq[id] = 0;
	if (q->ghost[id] && q->ghost_ctr - q->ghost[id] < q->ghost_cap) {
		q->ghost[id] = 0;
		fifo_push(&q->m, id);
		q->where[id] = 2;
	} else {
		fifo_push(&q->s, id);
		q->where[id] = 1;
	}
	q->size++;
	s3_evict(q);
	return 0;
}

/* ---- Zipf traces ---- */

struct zipf {
	double *cdf;
	uint32_t *rank_id; /* rank -> key id (a shuffle) */
	uint32_t n;
};

static int
zipf_init(struct zipf *z, uint32_t n, double alpha, uint64_t seed)
{
	double sum = 0;

	z->n = n;
	z->cdf = malloc(n * sizeof *z->cdf);
	z->rank_id = malloc(n * sizeof *z->rank_id);
	if (!z->cdf || !z->rank_id)
		return -1;
	for (uint32_t r = 0; r < n; r++)
		z->cdf[r] = (sum += 1.0 / pow((double)r + 1, alpha));
	for (uint32_t r = 0; r < n; r++) {
		z->cdf[r] /= sum;
		z->rank_id[r] = r;
	}
	for (uint32_t r = n - 1; r > 0; r--) {
		uint32_t j = (uint32_t)rnd_below(&seed, r + 1), t = z->rank_id[r];

		z->rank_id[r] = z->rank_id[j];
		z->rank_id[j] = t;
	}
	return 0;
}

static void
zipf_free(struct zipf *z)
{
	free(z->cdf);
	free(z->rank_id);
}

static uint32_t
zipf_draw(const struct zipf *z, uint64_t *s)
{
	double u = sup_unit(s);
	uint32_t lo = 0, hi = z->n - 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (z->cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return z->rank_id[lo];
}

/*
 * A segment and value size holding about @p target items of equal size (one
 * size class): the segment is 2 MiB up to 2000 items, else 8 MiB (1 MiB for
 * the quick mode's 200), about 70% of it the items' chunks. The caller
 * passes vlen + key + 40 as the index sizing hint, so the slab, not the
 * index, is the bound. Returns the value length.
 */
static size_t
sized_for(uint64_t target, uint64_t *seg)
{
	uint64_t per;

	*seg = target > 2000 ? 8 * MEM_MIB : 2 * MEM_MIB;
	if (target <= 200)
		*seg = MEM_MIB;
	per = *seg * 7 / 10 / target;
	if (per < MEM_KEY_FIXED + 40 + 16)
		per = MEM_KEY_FIXED + 40 + 16;
	if (per - MEM_KEY_FIXED - 40 > MEM_VAL_MAX)
		return MEM_VAL_MAX;
	return per - MEM_KEY_FIXED - 40; /* about a header's worth left */
}

/* Cache-aside access: 1 hit, 0 miss (now set), -1 error. */
static int
fc_access(fc_cache *c, uint32_t id, size_t vlen)
{
	char key[64];
	size_t klen = key_of(id, 0, key);
	int p = present(c, key, klen);

	if (p == 0 && set(c, key, klen, vlen, 0))
		return -1;
	return p;
}

static int
test_hitratio(double alpha, unsigned pct)
{
	uint64_t target = (uint64_t)cfg.keys * pct / 100, seg, s = 77, hits = 0;
	uint64_t lhits = 0, shits = 0, csum = 0, cn = 0, cap;
	size_t vlen = sized_for(target, &seg);
	uint32_t *trace = malloc(cfg.requests * sizeof *trace);
	struct zipf z;
	struct lru l;
	struct s3 q;
	char name[64];
	fc_cache *c;
	int bad = 1;

	if (!trace || zipf_init(&z, cfg.keys, alpha, 42))
		return fail("malloc", FC_ESYS);
	for (uint32_t i = 0; i < cfg.requests; i++)
		trace[i] = zipf_draw(&z, &s);
	if (cache_open(seg, (uint32_t)(vlen + MEM_KEY_FIXED + 40), &c, name, sizeof name))
		goto out;
	for (uint32_t i = 0; i < cfg.requests; i++) {
		int h = fc_access(c, trace[i], vlen);

		if (h < 0)
			goto close;
		hits += (uint64_t)h;
		if (i >= cfg.requests / 2 && i % 1000 == 0) {
			fc_stats st;

			if (fc_stat(c, &st) != FC_OK)
				goto close;
			csum += st.items;
			cn++;
		}
	}
	cap = (csum + cn / 2) / (cn ? cn : 1);
	if (cap == 0 || lru_init(&l, cfg.keys, cap) || s3_init(&q, cfg.keys, cap))
		goto close;
	for (uint32_t i = 0; i < cfg.requests; i++) {
		lhits += (uint64_t)lru_access(&l, (int32_t)trace[i]);
		shits += (uint64_t)s3_access(&q, (int32_t)trace[i]);
	}
	{
		double n = cfg.requests, mf = n - hits, ml = n - lhits, ms = n - shits;

		rec_begin("hitratio");
		rec_f("alpha", alpha, 2);
		rec_u64("cache_pct", pct);
		rec_u64("keys", cfg.keys);
		rec_u64("requests", cfg.requests);
		rec_u64("capacity", cap);
		rec_f("hit_fc", hits / n, 4);
		rec_f("hit_lru", lhits / n, 4);
		rec_f("hit_s3fifo", shits / n, 4);
		rec_f("miss_vs_lru", ml > 0 ? mf / ml - 1 : 0, 4);
		rec_f("s3fifo_miss_vs_lru", ml > 0 ? ms / ml - 1 : 0, 4);
		rec_f("target", -0.15, 2);
		rec_u64("value_bytes", vlen);
		rec_u64("segment_bytes", seg);
		rec_end();
	}
	bad = 0;
	lru_free(&l);
	s3_free(&q);
close:
	cache_close(c, name);
out:
	zipf_free(&z);
	free(trace);
	return bad;
}

/* ---- scan resistance ---- */

static int
test_scan(void)
{
	uint32_t keys = cfg.keys, scan = keys / 2, hot = keys / 100;
	uint32_t reqs = cfg.requests / 2;
	uint64_t target = keys / 10, seg, s = 99, cap;
	size_t vlen = sized_for(target, &seg);
	uint32_t before = 0, after = 0, lb = 0, la = 0, sb = 0, sa = 0;
	uint8_t *is_hot = calloc(keys + scan, 1), *seen = calloc(keys + scan, 1);
	struct zipf z;
	struct lru l;
	struct s3 q;
	fc_stats st;
	char name[64], key[64];
	fc_cache *c;
	fc_iter *it;
	fc_item item;
	int bad = 1, rc;

	if (!is_hot || !seen || zipf_init(&z, keys, 0.99, 43))
		return fail("malloc", FC_ESYS);
	for (uint32_t r = 0; r < hot; r++)
		is_hot[z.rank_id[r]] = 1;
	if (cache_open(seg, (uint32_t)(vlen + MEM_KEY_FIXED + 40), &c, name, sizeof name))
		goto out;
	/* The models' capacity is the cache's, measured after a warm-up. */
	for (uint32_t i = 0; i < reqs / 5; i++)
		if (fc_access(c, zipf_draw(&z, &s), vlen) < 0)
			goto close;
	if (fc_stat(c, &st) != FC_OK)
		goto close;
	cap = st.items;
	if (cap == 0 || lru_init(&l, keys + scan, cap) ||
	    s3_init(&q, keys + scan, cap))
		goto close;
	s = 99; /* replay the same stream into the models */
	for (uint32_t i = 0; i < reqs; i++) {
		uint32_t id = zipf_draw(&z, &s);

		if (i >= reqs / 5 && fc_access(c, id, vlen) < 0)
			goto free;
		lru_access(&l, (int32_t)id);
		s3_access(&q, (int32_t)id);
	}
	for (int phase = 0; phase < 2; phase++) {
		uint32_t n = 0;

		memset(seen, 0, keys + scan);
		if ((rc = fc_iter_open(c, &it)) != FC_OK) {
			fail("fc_iter_open", rc);
			goto free;
		}
		while ((rc = fc_iter_next(it, &item)) == FC_OK) {
			unsigned long long id;

			memcpy(key, item.key, item.klen);
			key[item.klen] = '\0';
			id = strtoull(key + 1, NULL, 10);
			if (id < keys && is_hot[id] && !seen[id]) {
				seen[id] = 1;
				n++;
			}
		}
		fc_iter_close(it);
		if (phase == 0) {
			before = n;
			for (uint32_t r = 0; r < keys; r++) {
				lb += is_hot[r] && l.in[r];
				sb += is_hot[r] && q.where[r];
			}
			for (uint32_t k = keys; k < keys + scan; k++) {
				if (fc_access(c, k, vlen) < 0)
					goto free;
				lru_access(&l, (int32_t)k);
				s3_access(&q, (int32_t)k);
			}
		} else {
			after = n;
			for (uint32_t r = 0; r < keys; r++) {
				la += is_hot[r] && l.in[r];
				sa += is_hot[r] && q.where[r];
			}
		}
	}
	rec_begin("scan");
	rec_u64("hot", hot);
	rec_u64("capacity", cap);
	rec_u64("scan_keys", scan);
	rec_u64("before", before);
	rec_u64("after", after);
	rec_f("survival", before ? (double)after / before : 0, 3);
	rec_f("target", 0.90, 2);
	rec_u64("lru_before", lb);
	rec_u64("lru_after", la);
	rec_u64("s3fifo_before", sb);
	rec_u64("s3fifo_after", sa);
	rec_end();
	bad = 0;
free:
	lru_free(&l);
	s3_free(&q);
close:
	cache_close(c, name);
out:
	zipf_free(&z);
	free(is_hot);
	free(seen);
	return bad;
}

/* ---- TTL hygiene ---- */

static int
expired_held(fc_cache *c, double *frac)
{
	fc_stats st;
	uint64_t bytes, items;

	if (fc_stat(c, &st) != FC_OK || resident(c, &bytes, &items))
		return 1;
	*frac = st.data_bytes > bytes
		? (double)(st.data_bytes - bytes) / (double)cfg.seg
		: 0;
	return 0;
}

static int
test_ttl(void)
{
	char name[64], key[64];
	fc_cache *c;
	fc_stats st0, st1;
	const size_t vlen = 200;
	double rate = cfg.quick ? 4000 : 20000, t0, next_sample, held_max = 0;
	double held = 0;
	uint64_t cap, nlong, id = 0, shorts = 0, s = 5, longs = 0;
	int rc;

	if (cache_open(cfg.seg, 0, &c, name, sizeof name))
		return 1;
	/* Item capacity of this size: fill to 2x, count, flush. */
	for (uint64_t put = 0; put < 2 * cfg.seg; put += MEM_KEY_FIXED + vlen) {
		size_t klen = key_of(id++, 0, key);

		if (set(c, key, klen, vlen, 0))
			goto bad;
	}
	if (fc_stat(c, &st0) != FC_OK || (rc = fc_flush(c)) != FC_OK)
		goto bad;
	cap = st0.items;
	nlong = cap * 92 / 100;
	for (uint64_t k = 0; k < nlong; k++) {
		size_t klen = key_of(k, 0, key);

		if (set(c, key, klen, vlen, 0))
			goto bad;
	}
	id = nlong;
	if (fc_stat(c, &st0) != FC_OK)
		goto bad;
	t0 = now_s();
	next_sample = t0 + 1.0;
	for (;;) {
		double t = now_s();

		if (t - t0 >= cfg.ttl_seconds)
			break;
		/* Paced: catch up to rate * elapsed short sets. */
		while (shorts < (uint64_t)((t - t0) * rate)) {
			size_t klen = key_of(id++, 0, key);

			if (set(c, key, klen, vlen, 50 + rnd_below(&s, 151)))
				goto bad;
			shorts++;
			if (shorts % 4 == 0) { /* long-lived rewrites, 1/4 rate */
				klen = key_of(rnd_below(&s, nlong), 0, key);
				if (set(c, key, klen, vlen, 0))
					goto bad;
				longs++;
			}
		}
		if (t >= next_sample) {
			if (expired_held(c, &held))
				goto bad;
			if (held > held_max)
				held_max = held;
			next_sample += 0.5;
		}
	}
	if (expired_held(c, &held) || fc_stat(c, &st1) != FC_OK)
		goto bad;
	rec_begin("ttl");
	rec_f("seconds", cfg.ttl_seconds, 1);
	rec_u64("short_per_s", (uint64_t)rate);
	rec_str("short_ttl_ms", "50-200");
	rec_f("expired_held", held, 4);
	rec_f("expired_held_max", held_max > held ? held_max : held, 4);
	rec_f("target", 0.01, 2);
	rec_u64("live_evicted", st1.evictions - st0.evictions);
	rec_u64("expired_reclaimed", st1.expired - st0.expired);
	rec_u64("long_items", nlong);
	rec_u64("capacity", cap);
	rec_u64("short_sets", shorts);
	rec_u64("long_sets", longs);
	rec_u64("segment_bytes", cfg.seg);
	rec_end();
	cache_close(c, name);
	return 0;
bad:
	cache_close(c, name);
	return 1;
}

/* ---- overwrite churn ---- */

static int
test_churn(size_t vbytes)
{
	char name[64], key[64];
	fc_cache *c;
	fc_stats st0, st1;
	uint64_t n = cfg.seg * 43 / 100 / (MEM_KEY_FIXED + vbytes), s = 11;
	uint64_t lost = 0;

	if (cache_open(cfg.seg, 0, &c, name, sizeof name))
		return 1;
	for (uint64_t k = 0; k < n; k++) {
		size_t klen = key_of(k, 0, key);

		if (set(c, key, klen, vbytes, 0))
			goto bad;
	}
	if (fc_stat(c, &st0) != FC_OK)
		goto bad;
	for (uint64_t i = 0; i < 4 * n; i++) {
		size_t klen = key_of(rnd_below(&s, n), 0, key);
		size_t vlen = vbytes / 2 + rnd_below(&s, vbytes + 1);

		if (set(c, key, klen, vlen, 0))
			goto bad;
	}
	for (uint64_t k = 0; k < n; k++) {
		size_t klen = key_of(k, 0, key);
		int p = present(c, key, klen);

		if (p < 0)
			goto bad;
		lost += p == 0;
	}
	if (fc_stat(c, &st1) != FC_OK)
		goto bad;
	rec_begin("churn");
	rec_u64("value_bytes", vbytes);
	rec_f("fill", 0.43, 2);
	rec_u64("keys", n);
	rec_u64("overwrites", 4 * n);
	rec_u64("lost", lost);
	rec_u64("target", 0);
	rec_u64("evictions", st1.evictions - st0.evictions);
	rec_u64("pages_free", st1.pages_free);
	rec_u64("segment_bytes", cfg.seg);
	rec_end();
	cache_close(c, name);
	return 0;
bad:
	cache_close(c, name);
	return 1;
}

/* ---- set latency with the index full ---- */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
test_setlat(void)
{
	char name[64], key[64];
	fc_cache *c;
	fc_stats st;
	uint64_t *lat = malloc(cfg.lat_sets * sizeof *lat), sum = 0, id = 0;
	int bad = 1;

	if (!lat)
		return fail("malloc", FC_ESYS);
	if (cache_open(cfg.seg, 0, &c, name, sizeof name))
		goto out;
	if (fc_stat(c, &st) != FC_OK)
		goto close;
	for (; id < st.buckets; id++) {
		snprintf(key, sizeof key, "s%015" PRIu64, id);
		if (set(c, key, 16, 8, 0))
			goto close;
	}
	for (uint32_t i = 0; i < cfg.lat_sets; i++, id++) {
		struct timespec a, b;

		snprintf(key, sizeof key, "s%015" PRIu64, id);
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (set(c, key, 16, 8, 0))
			goto close;
		clock_gettime(CLOCK_MONOTONIC, &b);
		lat[i] = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000u +
			(uint64_t)b.tv_nsec - (uint64_t)a.tv_nsec;
		sum += lat[i];
	}
	if (fc_stat(c, &st) != FC_OK)
		goto close;
	qsort(lat, cfg.lat_sets, sizeof *lat, cmp_u64);
	rec_begin("setlat");
	rec_str("item", "16B+8B");
	rec_u64("buckets", st.buckets);
	rec_u64("items", st.items);
	rec_u64("sets", cfg.lat_sets);
	rec_f("mean_us", (double)sum / cfg.lat_sets / 1000.0, 2);
	rec_f("p99_us", (double)lat[cfg.lat_sets * 99 / 100] / 1000.0, 2);
	rec_f("max_us", (double)lat[cfg.lat_sets - 1] / 1000.0, 2);
	rec_f("target_mean_us", 1, 0);
	rec_f("target_p99_us", 10, 0);
	rec_u64("pages_free", st.pages_free);
	rec_u64("segment_bytes", cfg.seg);
	rec_end();
	bad = 0;
close:
	cache_close(c, name);
out:
	free(lat);
	return bad;
}

/* ---- main ---- */

static int
want(const char *t)
{
	return cfg.only == NULL || strcmp(cfg.only, t) == 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: forkcache-mem [--quick] [--json] [--only TEST]\n"
		"  --quick      small segments and traces (seconds; CI smoke)\n"
		"  --json       one JSON object per line\n"
		"  --only TEST  payload, shift, hitratio, scan, ttl, churn or setlat\n"
		"output: one line per result, `test=NAME key=value ...`\n"
		"exit: 0 ok, 1 failure, 2 usage\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"quick", no_argument, NULL, 'q'},
		{"json", no_argument, NULL, 'j'},
		{"only", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t s = 3;
	int ch, bad = 0;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			cfg.quick = 1;
			break;
		case 'j':
			cfg.json = 1;
			break;
		case 'o':
			cfg.only = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	cfg.seg = cfg.quick ? 4 * MEM_MIB : 64 * MEM_MIB;
	cfg.keys = cfg.quick ? 20000 : 100000;
	cfg.requests = cfg.quick ? 100000 : 1000000;
	cfg.ttl_seconds = cfg.quick ? 1.2 : 4.0;
	cfg.lat_sets = cfg.quick ? 2000 : 20000;
	for (size_t i = 0; i < sizeof valbuf; i++)
		valbuf[i] = (unsigned char)sup_splitmix64(&s);
	rec_begin("header");
	rec_str("commit", FC_BENCH_COMMIT);
	rec_str("mode", cfg.quick ? "quick" : "full");
	rec_u64("segment_bytes", cfg.seg);
	rec_u64("keys", cfg.keys);
	rec_u64("requests", cfg.requests);
	rec_end();
	if (want("payload")) {
		bad |= test_payload(D_LOGUNI, "loguniform16-16k", 4, 0.92);
		bad |= test_payload(D_LOGUNI, "loguniform16-16k", cfg.quick ? 8 : 40, 0.92);
		bad |= test_payload(D_LOGNORM, "lognormal200", 4, 0.85);
		bad |= test_payload(D_FIXED64, "fixed64", 4, 0.70);
	}
	if (want("shift"))
		bad |= test_shift();
	if (want("hitratio")) {
		static const double alphas[] = {0.9, 0.99};
		static const unsigned pcts[] = {1, 10};

		for (int a = 0; a < 2; a++)
			for (int p = 0; p < 2; p++)
				bad |= test_hitratio(alphas[a], pcts[p]);
	}
	if (want("scan"))
		bad |= test_scan();
	if (want("ttl"))
		bad |= test_ttl();
	if (want("churn")) {
		bad |= test_churn(1000);
		bad |= test_churn(100);
	}
	if (want("setlat"))
		bad |= test_setlat();
	return bad ? 1 : 0;
}
