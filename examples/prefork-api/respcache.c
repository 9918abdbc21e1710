/*
 * respcache.c - the HTTP response cache of forkcache-api.
 *
 * DESIGN       A cached response is one forkcache item: key = the request's
 *              cache key, value = a small header (when it was computed, its
 *              TTL, the ETag) followed by the JSON body. Every cached route
 *              goes through one function, respcache_fetch(), and every
 *              lookup-or-compute decision is in fill() below, so that a
 *              second tier (an L2 in front of the database) is a change to
 *              that one function.
 * MODES        shared      the master creates one segment of --cache-size
 *                          before fork(); every worker uses the inherited
 *                          handle. --cache-file puts it in a file (FC_FILE)
 *                          that outlives the server: a restart comes back
 *                          warm, TTLs intact.
 *              per-worker  each worker creates a private segment of
 *                          --cache-size / --workers after fork(): the same
 *                          code and total memory, spent on W caches that each
 *                          warm up alone (what per-process TTL caches give).
 *              off         every request runs its query.
 * KEYS         "<method> <path>?<normalized query> v=<variant> g=<gens>":
 *              http.c normalizes the query (known parameters only, in a
 *              fixed order, canonical encoding) and the variant the Vary'd
 *              header selects. HEAD uses GET's entry (same representation).
 *              A key longer than FC_KEY_MAX is replaced by "h:" and the hex
 *              XXH3-128 of it.
 * INVALIDATION Generation counters, not key prefixes: a cached response's key
 *              embeds the current value of every generation it depends on
 *              (/products/7: "p:7"; a list page: "c:<category>" and "c:*";
 *              a search: "s"). PUT bumps them, so every dependent response
 *              becomes unreachable at once, in O(1), with no scan, and ages
 *              out by TTL or CLOCK eviction. Generations are items too
 *              ("gen:<name>", decimal, no TTL) in the shared segment, so they
 *              are shared by all workers and survive a --cache-file restart;
 *              in per-worker mode they live in a small segment the master
 *              shares, so a PUT on one worker invalidates all of them.
 *              A generation is a CLOCK_REALTIME nanosecond stamp: a missing
 *              one (never bumped, or evicted) starts at "now", and a bump
 *              sets max(now, old + 1). So a generation never returns to a
 *              value it had before, even after its item is evicted, as long
 *              as the wall clock does not step back and a key sees fewer
 *              than one bump per nanosecond.
 * RACES        A PUT commits, then bumps. A request that read the old
 *              generation may still store a response computed before the
 *              commit, but under the old generation's key, which nobody looks
 *              up any more. A request that read the new generation queries
 *              after the commit.
 * L2           With --l2 (l2.c), an L1 miss asks Redis before the database,
 *              a computed response is stored in both, and generations are
 *              read from and bumped in Redis, their L1 copies dropped on
 *              every machine through forkcache-sync (docs/redis.md).
 * LEDGER       (diagnostics) Why each backend query ran: every store is
 *              recorded in a ledger kept beside the cache (not in it), one
 *              64-bit word per cache key without its generations: 24 bits
 *              of the key's hash (tag), 16 bits of the full key's hash (its
 *              generations), 24 bits of its expiry (100 ms units, compared
 *              modulo 2^24). A computation is then classified: key never
 *              stored (first), stored but expired (ttl), stored under other
 *              generations (invalidated), stored, unexpired and gone
 *              (evicted), plus lease timeouts, no lease and uncached; its
 *              statements are added to that cause and to its route
 *              (api.h). Shared mode has one ledger in a MAP_SHARED mapping
 *              the master makes; per-worker mode one private ledger per
 *              worker, like its cache. A second ledger records the
 *              generations ever created: one created again was evicted
 *              (gens_lost), which invalidates its dependents without a PUT.
 *              Open addressing, LG_PROBE slots, a slot's tag never changes
 *              once set, each word is written whole (relaxed atomics: a
 *              statistic; nothing else is inferred from it). A full ledger
 *              stops recording: its misses then count as first.
 * ERRORS       Only 200 responses are stored. A forkcache error on the
 *              lookup or the store is counted and the request served from the
 *              database: the cache is an accelerator, never a point of
 *              failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "api.h"

#define RC_MAGIC 0x31414346u /* "FCA1": an entry of this server */
#define RC_GEN_SEGMENT (4u << 20) /* per-worker mode: generations, bytes */
#define RC_SEGMENT_MIN (1u << 20) /* forkcache's smallest segment */
#define RC_CAS_TRIES 64 /* generation bump retries under contention */
#define RC_LEASE_WAIT_MS 5000 /* wait this long for another's fill, ms:
                                    a search on a loaded machine takes ~1 s */

#define LG_SLOTS (1u << 20) /* response ledger: 8 MiB, touched lazily */
#define LG_GEN_SLOTS (1u << 18) /* generation ledger: 2 MiB */
#define LG_PROBE 16 /* slots tried per key */
#define LG_UNIT_MS 100 /* expiry resolution */
#define LG_TIME_MASK 0xffffffu /* 24 bits of expiry */

/* The header stored in front of every cached body. */
struct rc_entry {
	uint32_t magic;
	uint32_t status; /* always 200 today */
	uint64_t stored_ms; /* fc_now_ms() when computed: Age */
	uint64_t ttl_ms;
	uint64_t etag; /* XXH3-64 of the body */
};

static fc_cache *resp_cache; /* responses: shared or this worker's own */
static fc_cache *gen_cache; /* generations: shared by all workers */
static char resp_name[128]; /* shm name, unlinked at master close */
static char gen_name[128];
static int resp_is_file;

/* A ledger (LEDGER above): zero-filled anonymous memory, slots a power
 * of two. */
struct ledger {
	_Atomic uint64_t *slot;
	uint32_t mask;
};
static struct ledger resp_ledger; /* shared mode: the master's, shared */
static struct ledger gen_ledger; /* always the master's, shared */

/* Per thread: the buffer a cached body is returned in. */
static _Thread_local struct buf tls_val;

uint64_t
api_now_ms(void)
{
	return fc_now_ms();
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the ledger (diagnostics) ---- */

static void
ledger_map(struct ledger *l, uint32_t slots, int shared)
{
	void *p = mmap(NULL, (size_t)slots * sizeof *l->slot,
		       PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_NORESERVE | (shared ? MAP_SHARED : MAP_PRIVATE), -1, 0);

	/* No ledger is only no classification: every miss counts as first. */
	l->slot = p == MAP_FAILED ? NULL : p;
	l->mask = slots - 1;
}

static uint64_t
lg_tag(uint64_t h)
{
	uint64_t t = h >> 40; /* the index uses the low bits */

	return (t ? t : 1) << 40;
}

/* The word recorded for key hash @p hk, or 0 if none. */
static uint64_t
ledger_find(const struct ledger *l, uint64_t hk)
{
	uint64_t tag = lg_tag(hk);

	if (l->slot == NULL)
		return 0;
	for (uint32_t i = 0; i < LG_PROBE; i++) {
		uint64_t w = atomic_load_explicit(
			&l->slot[(hk + i) & l->mask], memory_order_relaxed);

		if (w == 0)
			return 0;
		if ((w & ~((1ull << 40) - 1)) == tag)
			return w;
	}
	return 0;
}

/* Record @p low (the 40 bits under the tag) for key hash @p hk. */
static void
ledger_put(const struct ledger *l, uint64_t hk, uint64_t low)
{
	uint64_t tag = lg_tag(hk), w = tag | (low & ((1ull << 40) - 1));

	if (l->slot == NULL)
		return;
	for (uint32_t i = 0; i < LG_PROBE; i++) {
		_Atomic uint64_t *s = &l->slot[(hk + i) & l->mask];
		uint64_t old = 0;

		/* An empty slot is claimed by CAS; a claimed slot keeps its
		 * tag forever, so a tag match can be overwritten by a plain
		 * store (the latest record wins, which is all it says). */
		if (atomic_compare_exchange_strong_explicit(
			    s, &old, w, memory_order_relaxed,
			    memory_order_relaxed))
			return;
		if ((old & ~((1ull << 40) - 1)) == tag) {
			atomic_store_explicit(s, w, memory_order_relaxed);
			return;
		}
	}
}

static uint64_t
lg_units(uint64_t ms)
{
	return (ms / LG_UNIT_MS) & LG_TIME_MASK;
}

/* A response was stored: key hash @p hk, full key hash @p hf. */
static void
ledger_stored(uint64_t hk, uint64_t hf, uint64_t ttl_ms)
{
	ledger_put(&resp_ledger, hk,
		   (hf & 0xffff) << 24 | lg_units(fc_now_ms() + ttl_ms));
}

/* Why must this key be computed? (The cache had no usable entry.) */
static enum api_cause
ledger_classify(uint64_t hk, uint64_t hf)
{
	uint64_t w = ledger_find(&resp_ledger, hk);

	if (w == 0)
		return CAUSE_FIRST;
	if (((w >> 24) & 0xffff) != (hf & 0xffff))
		return CAUSE_INVALIDATED;
	/* now >= expiry, modulo 2^24 units (TTLs are far shorter). */
	if (((lg_units(fc_now_ms()) - (w & LG_TIME_MASK)) & LG_TIME_MASK) <
	    (LG_TIME_MASK + 1) / 2)
		return CAUSE_TTL;
	return CAUSE_EVICTED;
}

static void
open_opts(fc_options *o, uint64_t bytes)
{
	unsigned slots = api_cfg.workers * (api_cfg.threads + 2) + 16;

	fc_options_init(o);
	o->segment_bytes = bytes < RC_SEGMENT_MIN ? RC_SEGMENT_MIN : bytes;
	o->reader_slots = slots < 256 ? 256 : slots;
	o->avg_item_bytes = 512; /* a product is ~200 B, a page ~4 KiB */
	o->stale_ms = api_cfg.stale_s * 1000;
}

static int
open_err(char *err, size_t errlen, const char *what, int rc)
{
	snprintf(err, errlen, "%s: %s: %s", what, fc_errname(rc),
		 fc_strerror(rc));
	return -1;
}

int
respcache_master_open(char *err, size_t errlen)
{
	fc_options o;
	int rc;

	if (api_cfg.mode == CACHE_OFF)
		return 0;
	ledger_map(&gen_ledger, LG_GEN_SLOTS, 1);
	if (api_cfg.mode == CACHE_SHARED)
		ledger_map(&resp_ledger, LG_SLOTS, 1);
	if (api_cfg.mode == CACHE_PER_WORKER) {
		/* Generations only; the responses are per worker. */
		snprintf(gen_name, sizeof gen_name, "/forkcache-api.%ld.gens",
			 (long)getpid());
		open_opts(&o, RC_GEN_SEGMENT);
		o.flags = FC_CREATE | FC_EXCL;
		if ((rc = fc_open(gen_name, &o, &gen_cache)) != FC_OK)
			return open_err(err, errlen, gen_name, rc);
		return 0;
	}
	open_opts(&o, api_cfg.cache_bytes);
	if (api_cfg.cache_file) {
		o.flags = FC_CREATE | FC_FILE;
		rc = fc_open(api_cfg.cache_file, &o, &resp_cache);
		if (rc == FC_ECORRUPT || rc == FC_EINCOMPAT) {
			/* A damaged or older cache file is only a cold start. */
			fprintf(stderr, "forkcache-api: %s: %s; starting with"
					" an empty cache\n",
				api_cfg.cache_file,
				fc_errname(rc));
			(void)fc_unlink(api_cfg.cache_file, FC_FILE);
			rc = fc_open(api_cfg.cache_file, &o, &resp_cache);
		}
		if (rc != FC_OK)
			return open_err(err, errlen, api_cfg.cache_file, rc);
		resp_is_file = 1;
	} else {
		snprintf(resp_name, sizeof resp_name, "/forkcache-api.%ld",
			 (long)getpid());
		o.flags = FC_CREATE | FC_EXCL;
		if ((rc = fc_open(resp_name, &o, &resp_cache)) != FC_OK)
			return open_err(err, errlen, resp_name, rc);
	}
	gen_cache = resp_cache;
	return 0;
}

int
respcache_worker_open(char *err, size_t errlen)
{
	char name[128];
	fc_options o;
	int rc;

	if (api_cfg.mode != CACHE_PER_WORKER)
		return 0;
	/* A private segment: its name is removed at once, so it goes away
	 * with this process, whatever way it ends. */
	snprintf(name, sizeof name, "/forkcache-api.%ld.w%u",
		 (long)getpid(), api_worker_index);
	open_opts(&o, api_cfg.cache_bytes / api_cfg.workers);
	o.flags = FC_CREATE | FC_EXCL;
	(void)fc_unlink(name, 0); /* a leftover of a dead pid with our number */
	if ((rc = fc_open(name, &o, &resp_cache)) != FC_OK)
		return open_err(err, errlen, name, rc);
	(void)fc_unlink(name, 0);
	ledger_map(&resp_ledger, LG_SLOTS, 0);
	return 0;
}

void
respcache_master_reap(void)
{
	/* Reader slots (and leases) of a dead worker; per-worker segments die
	 * with their worker. */
	if (resp_cache)
		(void)fc_reap(resp_cache);
	if (gen_cache && gen_cache != resp_cache)
		(void)fc_reap(gen_cache);
}

void
respcache_master_close(void)
{
	if (gen_cache && gen_cache != resp_cache)
		fc_close(gen_cache);
	if (resp_cache)
		fc_close(resp_cache);
	if (gen_name[0])
		(void)fc_unlink(gen_name, 0);
	if (resp_name[0] && !resp_is_file)
		(void)fc_unlink(resp_name, 0);
	resp_cache = gen_cache = NULL;
}

void
respcache_worker_close(void)
{
	/* The inherited handles are closed by exit; only a private segment is
	 * ours to close (its name is already gone). */
	if (api_cfg.mode == CACHE_PER_WORKER && resp_cache)
		fc_close(resp_cache);
	resp_cache = NULL;
}

void
respcache_publish_items(void)
{
	fc_stats st;

	if (api_cfg.mode == CACHE_PER_WORKER && resp_cache &&
	    fc_stat(resp_cache, &st) == FC_OK)
		atomic_store_explicit(&api_my_stats()->items, st.items,
				      memory_order_relaxed);
}

/* ---- generations ---- */

static int
gen_key(char *k, size_t cap, const char *name)
{
	int n = snprintf(k, cap, "gen:%s", name);

	/* Names are "p:<id>", "c:<category>" (<= 64 B), "c:*", "s". */
	return n > 0 && (size_t)n < cap && n <= FC_KEY_MAX ? n : -1;
}

/* The current value of generation @p name; 0 if the cache failed (then the
 * response is not cached). */
static uint64_t
gen_value(const char *name)
{
	char k[FC_KEY_MAX + 1], v[32];

	int klen = gen_key(k, sizeof k, name);

	if (klen < 0)
		return 0;
	for (int tries = 0; tries < RC_CAS_TRIES; tries++) {
		size_t n = sizeof v - 1;
		int rc = fc_get(gen_cache, k, (size_t)klen, v, &n);

		if (rc == FC_OK) {
			v[n] = '\0';
			return strtoull(v, NULL, 10);
		}
		if (rc != FC_ENOTFOUND)
			return 0;
		if (l2_enabled()) {
			/* The machines' shared value. A bump elsewhere
			 * between our read and our store may have had its
			 * invalidation applied before the store: read
			 * again, and drop our copy if it moved. */
			uint64_t g = l2_gen_get(k, (size_t)klen), g2;

			if (g == 0)
				return 0;
			n = (size_t)snprintf(v, sizeof v, "%" PRIu64, g);
			(void)fc_set(gen_cache, k, (size_t)klen, v, n, 0);
			g2 = l2_gen_get(k, (size_t)klen);
			if (g2 != g)
				(void)fc_delete(gen_cache, k, (size_t)klen);
			return g2;
		}
		/* Never bumped, or evicted: start at now (see INVALIDATION). */
		n = (size_t)snprintf(v, sizeof v, "%" PRIu64, now_ns());
		rc = fc_add(gen_cache, k, (size_t)klen, v, n, 0);
		if (rc == FC_OK) {
			uint64_t h = XXH3_64bits(k, (size_t)klen);

			if (ledger_find(&gen_ledger, h))
				api_count(&api_my_stats()->gens_lost);
			ledger_put(&gen_ledger, h, 1);
			return strtoull(v, NULL, 10);
		}
		if (rc != FC_EEXIST)
			return 0;
	}
	return 0;
}

static void
gen_bump(const char *name)
{
	char k[FC_KEY_MAX + 1], v[32];
	int klen = gen_key(k, sizeof k, name);

	if (klen < 0)
		return;
	if (l2_enabled()) {
		l2_gen_bump(gen_cache, k, (size_t)klen);
		return;
	}
	for (int tries = 0; tries < RC_CAS_TRIES; tries++) {
		size_t n = sizeof v - 1;
		uint64_t cas, old, now = now_ns(), next;
		int rc = fc_gets(gen_cache, k, (size_t)klen, v, &n, &cas);

		if (rc == FC_ENOTFOUND) {
			/* Absent: a fresh stamp is already newer than any
			 * value it had (see INVALIDATION). */
			n = (size_t)snprintf(v, sizeof v, "%" PRIu64, now);
			rc = fc_add(gen_cache, k, (size_t)klen, v, n, 0);
			if (rc == FC_OK) {
				ledger_put(&gen_ledger,
					   XXH3_64bits(k, (size_t)klen), 1);
				return;
			}
			continue;
		}
		if (rc != FC_OK)
			break;
		v[n] = '\0';
		old = strtoull(v, NULL, 10);
		next = now > old ? now : old + 1;
		n = (size_t)snprintf(v, sizeof v, "%" PRIu64, next);
		rc = fc_cas(gen_cache, k, (size_t)klen, v, n, 0, cas);
		if (rc == FC_OK)
			return;
		if (rc != FC_ECAS && rc != FC_ENOTFOUND)
			break;
	}
	/* Could not bump: drop the generation item, which is as good (its
	 * next reader restarts it at now). */
	(void)fc_delete(gen_cache, k, (size_t)klen);
}

void
respcache_invalidate_product(int64_t id, const char *old_cat,
			     const char *new_cat)
{
	char name[16 + API_CATEGORY_MAX];

	if (gen_cache == NULL)
		return;
	snprintf(name, sizeof name, "p:%" PRId64, id);
	gen_bump(name);
	snprintf(name, sizeof name, "c:%s", old_cat);
	gen_bump(name);
	if (strcmp(old_cat, new_cat) != 0) {
		snprintf(name, sizeof name, "c:%s", new_cat);
		gen_bump(name);
	}
	gen_bump("c:*");
	gen_bump("s");
}

/* ---- the fill path ---- */

/* Build the full cache key into @p k; its length, or -1 if a generation
 * could not be read (then the response is not cached). @p hk and @p hf get
 * the hashes of the key without and with its generations (the ledger). */
static int
full_key(const struct respcache_key *rk, char *k, uint64_t *hk, uint64_t *hf)
{
	char tmp[2048];
	size_t n;
	int w;

	w = snprintf(tmp, sizeof tmp, "%s g=", rk->canon);
	if (w < 0 || (size_t)w >= sizeof tmp)
		return -1;
	n = (size_t)w;
	*hk = XXH3_64bits(tmp, n);
	for (int i = 0; i < RC_GENS_MAX && rk->gens[i]; i++) {
		uint64_t g = gen_value(rk->gens[i]);

		if (g == 0)
			return -1;
		w = snprintf(tmp + n, sizeof tmp - n, "%s%" PRIx64,
			     i ? "." : "", g);
		if (w < 0 || (size_t)w >= sizeof tmp - n)
			return -1;
		n += (size_t)w;
	}
	*hf = XXH3_64bits(tmp, n);
	if (n <= FC_KEY_MAX) {
		memcpy(k, tmp, n);
		return (int)n;
	}
	XXH128_hash_t h = XXH3_128bits(tmp, n);

	return snprintf(k, FC_KEY_MAX + 1, "h:%016" PRIx64 "%016" PRIx64,
			(uint64_t)h.high64, (uint64_t)h.low64);
}

/* Decode the entry of @p n bytes in tls_val; 1 if usable, else 0. */
static int
decode(size_t n, struct cached_response *out)
{
	struct rc_entry e;
	uint64_t now = fc_now_ms();

	if (n < sizeof e)
		return 0;
	memcpy(&e, tls_val.p, sizeof e);
	if (e.magic != RC_MAGIC || e.status != 200)
		return 0; /* not ours (the segment is untrusted input) */
	out->status = 200;
	out->body = tls_val.p + sizeof e;
	out->len = n - sizeof e;
	out->etag = e.etag;
	out->age_s = now > e.stored_ms ? (now - e.stored_ms) / 1000 : 0;
	out->xcache = now >= e.stored_ms + e.ttl_ms ? XC_STALE : XC_HIT;
	return 1;
}

/*
 * fc_get (@p lease NULL) or fc_lease_get of @p k into tls_val, grown to the
 * value's size on FC_ETRUNC (which takes no lease). The forkcache result.
 */
static int
get_value(const char *k, size_t klen, size_t *n, fc_lease *lease)
{
	struct buf *b = &tls_val;
	int rc;

	b->len = 0;
	if (buf_reserve(b, 4096) != 0)
		return FC_ENOMEM;
	for (;;) {
		*n = b->cap;
		rc = lease ? fc_lease_get(resp_cache, k, klen, b->p, n,
					  RC_LEASE_WAIT_MS, lease)
			   : fc_get(resp_cache, k, klen, b->p, n);
		if (rc != FC_ETRUNC)
			return rc;
		if (buf_reserve(b, *n) != 0)
			return FC_ENOMEM;
	}
}

/*
 * L1 missed: ask the L2. 1 with the entry in tls_val, @p out filled and its
 * remaining TTL in @p ttl_ms (the caller stores it in L1), else 0.
 */
static int
l2_lookup(const char *k, size_t klen, struct cached_response *out,
	  uint64_t *ttl_ms)
{
	struct rc_entry e;
	uint64_t now = fc_now_ms();

	if (l2_get(k, klen, &tls_val) != 1 || !decode(tls_val.len, out) ||
	    out->xcache != XC_HIT)
		return 0;
	memcpy(&e, tls_val.p, sizeof e);
	*ttl_ms = e.stored_ms + e.ttl_ms > now ? e.stored_ms + e.ttl_ms - now : 1;
	return 1;
}

/* Run the backend; on 200 also prepare the entry in tls_val. */
static int
compute(respcache_compute_fn fn, void *arg, struct cached_response *out)
{
	struct buf *b = &tls_val;
	struct rc_entry e = {RC_MAGIC, 200, fc_now_ms(),
			     api_cfg.ttl_s * 1000, 0};

	b->len = 0;
	if (buf_put(b, &e, sizeof e) != 0)
		return -1;
	out->status = fn(arg, b);
	out->body = b->p + sizeof e;
	out->len = b->len - sizeof e;
	out->age_s = 0;
	out->xcache = XC_MISS;
	if (out->status == 200) {
		e.etag = XXH3_64bits(out->body, out->len);
		memcpy(b->p, &e, sizeof e);
	}
	out->etag = e.etag;
	return 0;
}

/*
 * Compute the response (L2 first with --l2) for a request that holds the
 * key's lease or has none to hold (@p lead 0), count its queries as
 * @p cause, and store it: fc_lease_fill for a leader (fc_lease_abandon if
 * it is an error, which is never cached, or the fill fails: a waiter then
 * takes over), fc_set without a lease when @p store. -1 only if out of
 * memory (the lease is then abandoned).
 */
static int
compute_store(const char *k, size_t klen, uint64_t hk, uint64_t hf,
	      enum api_route route, enum api_cause cause, int lead,
	      fc_lease *lease, int store, respcache_compute_fn fn, void *arg,
	      struct cached_response *out)
{
	struct api_worker_stats *ws = api_my_stats();
	uint64_t ttl_ms = 0, q0;
	int rc;

	if (l2_enabled() && l2_lookup(k, klen, out, &ttl_ms)) {
		api_count(&ws->l2_hits);
	} else {
		q0 = api_tls_queries;
		rc = compute(fn, arg, out);
		api_count_cause(cause, route, api_tls_queries - q0);
		if (rc != 0) {
			if (lead)
				(void)fc_lease_abandon(resp_cache, lease);
			return -1;
		}
		if (l2_enabled())
			api_count(&ws->l2_misses);
		ttl_ms = api_cfg.ttl_s * 1000;
		if (out->status == 200 && l2_enabled())
			l2_set(k, klen, tls_val.p, tls_val.len, ttl_ms);
	}
	if (lead) {
		/* A fill that fails keeps the lease: give it up. */
		if (out->status != 200 ||
		    fc_lease_fill(resp_cache, lease, tls_val.p, tls_val.len,
				  ttl_ms) != FC_OK)
			(void)fc_lease_abandon(resp_cache, lease);
		else
			ledger_stored(hk, hf, ttl_ms);
	} else if (store && out->status == 200 &&
		   fc_set(resp_cache, k, klen, tls_val.p, tls_val.len,
			  ttl_ms) == FC_OK) {
		ledger_stored(hk, hf, ttl_ms);
	}
	return 0;
}

/*
 * The fill path, get-or-compute with forkcache's leases (one computation
 * per key across all workers):
 *   1. fc_get: a fresh hit costs what it always did (lock-free, no lease).
 *   2. Otherwise fc_lease_get, which answers one of:
 *      FC_LEADER     nobody is computing this key: we compute, then
 *                    fc_lease_fill (200) or fc_lease_abandon (an error, which
 *                    is never cached): a waiter then takes over the lease.
 *      FC_STALE      the entry expired less than --stale ago and we are the
 *                    first to notice: we hold the refresh lease. This
 *                    request is answered with the stale value at once
 *                    (X-Cache: STALE, like every other request for the key
 *                    meanwhile), and the refresh runs after its response
 *                    is sent: @p later receives the lease and the key, and
 *                    http.c calls respcache_refresh() from MHD's
 *                    request-completed callback, on the same thread (a
 *                    lease lives as long as the thread that took it). So no
 *                    client waits for a refresh; the next request after the
 *                    fill is a HIT with Age 0. Without @p later, the
 *                    refresh is done at once and answered as a MISS.
 *      FC_OK         someone else filled it while we waited (a lease wait),
 *                    or is refreshing it and we got the stale value at once
 *                    (STALE: served past its TTL, Age > max-age).
 *      FC_ETIMEDOUT  the leader took longer than RC_LEASE_WAIT_MS: compute
 *                    for this request alone; the leader still fills.
 *      FC_EBUSY etc. the lease table is full or the cache failed: compute
 *                    and store (fc_set) without single-flight.
 * The one leader per key is across every process that maps the segment:
 * all workers in shared mode, one worker's threads in per-worker mode.
 * With --l2 the leader asks the L2 before the database (an L2 hit is stored
 * in L1 with its remaining TTL), so one process per key and machine goes to
 * Redis, and a computed response is stored in both tiers.
 */
static int
fill(const struct respcache_key *rk, const char *k, size_t klen, uint64_t hk,
     uint64_t hf, respcache_compute_fn fn, void *arg,
     struct cached_response *out, struct respcache_refresh *later)
{
	struct api_worker_stats *ws = api_my_stats();
	enum api_cause cause;
	fc_lease lease;
	size_t n;
	int rc, lead;

	if (get_value(k, klen, &n, NULL) == FC_OK && decode(n, out)) {
		api_count(out->xcache == XC_HIT ? &ws->hits : &ws->stale);
		return 0;
	}
	rc = get_value(k, klen, &n, &lease);
	if (rc == FC_OK && decode(n, out)) {
		if (out->xcache == XC_STALE) {
			api_count(&ws->stale);
		} else {
			api_count(&ws->hits);
			api_count(&ws->lease_waits);
		}
		return 0;
	}
	if (rc == FC_STALE && later && decode(n, out)) {
		/* Served stale; refreshed once the response is sent. */
		out->xcache = XC_STALE;
		api_count(&ws->stale);
		later->pending = 1;
		later->lease = lease;
		later->hk = hk;
		later->hf = hf;
		later->route = rk->route;
		later->klen = klen;
		memcpy(later->key, k, klen);
		return 0;
	}
	lead = rc == FC_LEADER || rc == FC_STALE;
	if (rc == FC_ETIMEDOUT)
		api_count(&ws->lease_timeouts);
	cause = rc == FC_ETIMEDOUT ? CAUSE_LEASE_TIMEOUT
		: !lead            ? CAUSE_NO_LEASE
		: rc == FC_STALE   ? CAUSE_TTL /* a stale refresh */
				   : ledger_classify(hk, hf);
	/* No lease to be had (table full, or an error): store anyway,
	 * without single-flight. After a timeout the leader still fills. */
	if (compute_store(k, klen, hk, hf, rk->route, cause, lead, &lease,
			  rc != FC_ETIMEDOUT && rc != FC_OK, fn, arg, out) != 0)
		return -1;
	api_count(out->xcache == XC_MISS ? &ws->misses : &ws->hits);
	return 0;
}

void
respcache_refresh(struct respcache_refresh *r, respcache_compute_fn fn,
		  void *arg, int run)
{
	struct cached_response cr;

	if (!r->pending)
		return;
	r->pending = 0;
	if (!run) {
		/* Shutting down, or the request failed: a later request
		 * refreshes (the lease goes to the next caller at once). */
		(void)fc_lease_abandon(resp_cache, &r->lease);
		return;
	}
	(void)compute_store(r->key, r->klen, r->hk, r->hf, r->route,
			    CAUSE_TTL, 1, &r->lease, 0, fn, arg, &cr);
}

int
respcache_fetch(const struct respcache_key *rk, respcache_compute_fn fn,
		void *arg, struct cached_response *out,
		struct respcache_refresh *later)
{
	char k[FC_KEY_MAX + 1];
	uint64_t hk, hf, q0 = api_tls_queries;
	int klen, rc;

	if (resp_cache == NULL ||
	    (klen = full_key(rk, k, &hk, &hf)) <= 0) {
		/* Off, or no key: straight to the database. */
		rc = compute(fn, arg, out);
		api_count_cause(CAUSE_UNCACHED, rk->route, api_tls_queries - q0);
		if (rc != 0)
			return -1;
		api_count(&api_my_stats()->misses);
		return 0;
	}
	return fill(rk, k, (size_t)klen, hk, hf, fn, arg, out, later);
}

/* "queries_by_cause": {...}, "queries_by_route": {...}, "gens_lost": N, */
static int
causes_json(struct buf *out)
{
	static const char *const cname[API_CAUSES] = {
		"first", "ttl", "invalidated", "evicted", "lease_timeout",
		"no_lease", "uncached", "write"};
	static const char *const rname[API_ROUTES] = {
		"product", "list", "search", "put"};
	uint64_t c[API_CAUSES] = {0}, r[API_ROUTES] = {0}, lost = 0;
	int rc;

	for (unsigned i = 0; i < api_cfg.workers; i++) {
		struct api_worker_stats *w = &api_shm->w[i];

		for (int j = 0; j < API_CAUSES; j++)
			c[j] += atomic_load_explicit(&w->cause[j],
						     memory_order_relaxed);
		for (int j = 0; j < API_ROUTES; j++)
			r[j] += atomic_load_explicit(&w->route[j],
						     memory_order_relaxed);
		lost += atomic_load_explicit(&w->gens_lost,
					     memory_order_relaxed);
	}
	rc = buf_printf(out, "\"queries_by_cause\": {");
	for (int j = 0; rc == 0 && j < API_CAUSES; j++)
		rc = buf_printf(out, "%s\"%s\": %" PRIu64, j ? ", " : "",
				cname[j], c[j]);
	if (rc == 0)
		rc = buf_printf(out, "}, \"queries_by_route\": {");
	for (int j = 0; rc == 0 && j < API_ROUTES; j++)
		rc = buf_printf(out, "%s\"%s\": %" PRIu64, j ? ", " : "",
				rname[j], r[j]);
	if (rc == 0)
		rc = buf_printf(out, "}, \"gens_lost\": %" PRIu64 ", ", lost);
	return rc;
}

int
respcache_stats_json(struct buf *out)
{
	fc_stats st;
	uint64_t items = 0;

	if (causes_json(out) != 0)
		return -1;

	if (l2_enabled()) {
		uint64_t t[3] = {0};

		for (unsigned i = 0; i < api_cfg.workers; i++) {
			t[0] += atomic_load_explicit(&api_shm->w[i].l2_hits,
						     memory_order_relaxed);
			t[1] += atomic_load_explicit(&api_shm->w[i].l2_misses,
						     memory_order_relaxed);
			t[2] += atomic_load_explicit(&api_shm->w[i].l2_errors,
						     memory_order_relaxed);
		}
		if (buf_printf(out, "\"l2\": {\"hits\": %" PRIu64 ", "
				    "\"misses\": %" PRIu64 ", \"errors\": %" PRIu64 "}, ",
			       t[0], t[1], t[2]) != 0)
			return -1;
	}
	if (api_cfg.mode == CACHE_SHARED && fc_stat(resp_cache, &st) == FC_OK) {
		items = st.items;
		return buf_printf(out, "\"items\": %" PRIu64 ", \"segment\": {"
				       "\"kind\": \"%s\", \"segment_bytes\": %" PRIu64 ","
				       " \"bytes_used\": %" PRIu64 ", \"sets\": %" PRIu64 ","
				       " \"evictions\": %" PRIu64 ", \"expired\": %" PRIu64 ","
				       " \"fc_hits\": %" PRIu64 ", \"fc_misses\": %" PRIu64 ","
				       " \"leases_active\": %" PRIu64 ", \"lease_grants\": %" PRIu64 ","
				       " \"lease_takeovers\": %" PRIu64 ","
				       " \"lease_waits\": %" PRIu64 ", \"lease_timeouts\": %" PRIu64 ","
				       " \"lease_stale_hits\": %" PRIu64 ", \"lease_full\": %" PRIu64 ","
				       " \"stale_ms\": %" PRIu64 "}",
				  items, resp_is_file ? "file" : "shm",
				  st.segment_bytes, st.bytes_used, st.sets,
				  st.evictions, st.expired, st.hits, st.misses,
				  st.leases_active, st.lease_grants, st.lease_takeovers,
				  st.lease_waits, st.lease_timeouts, st.lease_stale_hits,
				  st.lease_full, st.stale_ms);
	}
	if (api_cfg.mode == CACHE_PER_WORKER) {
		respcache_publish_items();
		for (unsigned i = 0; i < api_cfg.workers; i++)
			items += atomic_load_explicit(&api_shm->w[i].items,
						      memory_order_relaxed);
	}
	return buf_printf(out, "\"items\": %" PRIu64, items);
}
