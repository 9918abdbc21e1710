/*
 * api.h - forkcache-api, a prefork REST API server whose workers share one
 * HTTP response cache: the pieces and how they talk.
 *
 *   main.c       the master: options, the database, the cache, the listen
 *                socket, fork/respawn/reap of the workers, clean shutdown
 *   http.c       a worker: libmicrohttpd on the inherited socket, routing,
 *                HTTP caching semantics (ETag, 304, Age, HEAD, Vary)
 *   respcache.c  the response cache: keys, generation counters, and the one
 *                fill path (respcache_fetch) every cached route goes through
 *   db.c         SQLite: the sample catalogue and the queries
 *   l2.c         optional: Redis as a second tier shared by machines (--l2)
 *
 * Counters shared by all processes live in one MAP_SHARED anonymous mapping
 * made by the master before fork() (struct api_shared).
 */
#ifndef FORKCACHE_API_H
#define FORKCACHE_API_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "forkcache.h"

#define API_WORKERS_MAX 64 /* counter slots; more workers is a usage error */
#define API_CACHELINE 64 /* bytes: one counter block per worker line */
#define API_BODY_MAX (64 * 1024) /* longest PUT body accepted, bytes */

enum api_cache_mode { CACHE_SHARED,
		      CACHE_PER_WORKER,
		      CACHE_OFF };

struct api_config {
	const char *bind; /* --bind, numeric address */
	unsigned port; /* --port; 0 = pick a free one */
	unsigned workers; /* --workers */
	unsigned threads; /* --threads: serving threads per worker */
	enum api_cache_mode mode; /* --cache */
	const char *db_path; /* --db */
	uint32_t products; /* --products: rows of a new database */
	uint64_t ttl_s; /* --ttl */
	uint64_t stale_s; /* --stale: serve-stale window past the TTL */
	uint64_t cache_bytes; /* --cache-size: total, every mode */
	const char *cache_file; /* --cache-file: file-backed shared segment */
	unsigned backend_delay_ms; /* --backend-delay-ms: a slower database */
	unsigned conn_timeout_s; /* --conn-timeout: idle/slow connection limit */
	const char *l2_addr; /* --l2: Redis L2 address, NULL = none */
	const char *l2_ns; /* --l2-namespace: forkcache-sync namespace */
};

/* Why a backend query ran (respcache.c classifies each computation). */
enum api_cause {
	CAUSE_FIRST, /* key never stored in this cache since start */
	CAUSE_TTL, /* stored, and its TTL ran out */
	CAUSE_INVALIDATED, /* a generation it depends on moved (PUT) */
	CAUSE_EVICTED, /* stored, unexpired, gone: evicted (or lost) */
	CAUSE_LEASE_TIMEOUT, /* waited RC_LEASE_WAIT_MS for a fill; computed */
	CAUSE_NO_LEASE, /* no lease to be had (table full, cache error) */
	CAUSE_UNCACHED, /* --cache off, or no key (generation unreadable) */
	CAUSE_WRITE, /* a PUT's own statements */
	API_CAUSES
};
enum api_route { ROUTE_PRODUCT,
		 ROUTE_LIST,
		 ROUTE_SEARCH,
		 ROUTE_PUT,
		 API_ROUTES };

/*
 * One worker's counters, written by that worker's threads and read by any
 * worker answering /_cache/stats. They live in a MAP_SHARED anonymous
 * mapping, not in a forkcache segment; C11 atomics on lock-free 64-bit words
 * are address-free, so they work across processes. Relaxed order: each is
 * an independent statistic and no reader infers anything about other memory
 * from it. A respawned worker keeps adding to its slot's counters.
 */
struct api_worker_stats {
	alignas(API_CACHELINE) _Atomic uint64_t requests;
	_Atomic uint64_t hits; /* served from the cache, fresh */
	_Atomic uint64_t stale; /* served from the cache, past TTL */
	_Atomic uint64_t misses; /* computed by this request */
	_Atomic uint64_t backend_queries; /* SQL statements run */
	_Atomic uint64_t lease_waits; /* waited for another's fill */
	_Atomic uint64_t lease_timeouts; /* waited too long; computed alone */
	_Atomic uint64_t items; /* per-worker mode: own segment */
	_Atomic uint64_t pid; /* current process in this slot */
	_Atomic uint64_t l2_hits; /* L1 miss answered by the Redis L2 */
	_Atomic uint64_t l2_misses; /* L1 and L2 miss: computed */
	_Atomic uint64_t l2_errors; /* Redis failed: served without it */
	/* Backend queries by cause (enum api_cause, respcache.c's ledger)
	 * and by route (enum api_route); each sums to backend_queries. */
	_Atomic uint64_t cause[API_CAUSES];
	_Atomic uint64_t route[API_ROUTES];
	_Atomic uint64_t gens_lost; /* generation evicted: a silent
					    invalidation (respcache.c) */
};

struct api_shared {
	_Atomic uint64_t respawns; /* workers replaced after dying */
	_Atomic uint64_t started_ms;
	struct api_worker_stats w[API_WORKERS_MAX];
};

extern struct api_config api_cfg;
extern struct api_shared *api_shm;
extern unsigned api_worker_index; /* this worker's slot */

static inline struct api_worker_stats *
api_my_stats(void)
{
	return &api_shm->w[api_worker_index];
}

static inline void
api_count(_Atomic uint64_t *ctr)
{
	atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
}

/*
 * Statements run by this thread so far: a computation's queries are the
 * difference across it (respcache.c, http.c), so the cause counters above
 * add up to backend_queries exactly.
 */
extern _Thread_local uint64_t api_tls_queries;

/* One backend statement (db.c). */
static inline void
api_count_query(void)
{
	api_count(&api_my_stats()->backend_queries);
	api_tls_queries++;
}

/* @p n statements, run for @p cause on @p route. */
static inline void
api_count_cause(enum api_cause cause, enum api_route route, uint64_t n)
{
	struct api_worker_stats *ws = api_my_stats();

	atomic_fetch_add_explicit(&ws->cause[cause], n, memory_order_relaxed);
	atomic_fetch_add_explicit(&ws->route[route], n, memory_order_relaxed);
}

/* A growable byte buffer (bodies, JSON). */
struct buf {
	char *p;
	size_t len, cap;
};
int buf_reserve(struct buf *b, size_t n); /* room for n more bytes; 0 or -1 */
int buf_put(struct buf *b, const void *data, size_t n); /* 0 or -1 (ENOMEM) */
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);

/* ---- db.c ---- */
int db_prepare_file(const char *path, uint32_t products); /* master; 0 or -1 */
/* Each returns an HTTP status: 200 with the JSON in @p out, 404 or 400 with
 * a message in @p out (not JSON), 500 on a database error. */
int db_get_product(int64_t id, struct buf *out);
int db_list_products(const char *category, uint32_t page, struct buf *out);
int db_search(const char *q, struct buf *out);
/* Update from a JSON body; @p old_cat receives the category before the
 * update (for invalidation). */
int db_update_product(int64_t id, const char *body, size_t len,
		      struct buf *out, char *old_cat, size_t old_cat_len,
		      char *new_cat, size_t new_cat_len);
#define API_PAGE_SIZE 20 /* products per list page and search */
#define API_PAGE_MAX 10000 /* highest page number accepted */
#define API_QUERY_MAX 100 /* longest search string, bytes */
#define API_CATEGORY_MAX 64 /* longest category name, bytes */

/* ---- respcache.c ---- */
int respcache_master_open(char *err, size_t errlen); /* before fork */
int respcache_worker_open(char *err, size_t errlen); /* in each worker */
void respcache_master_reap(void); /* after a worker died */
void respcache_master_close(void); /* at shutdown */
void respcache_worker_close(void);
void respcache_publish_items(void); /* per-worker: own item count */

/* What respcache_fetch() computes on a miss: an HTTP status and a body; only
 * a 200 is cached. */
typedef int (*respcache_compute_fn)(void *arg, struct buf *out);

enum xcache { XC_HIT,
	      XC_MISS,
	      XC_STALE };

struct cached_response {
	int status;
	const char *body; /* valid until the next fetch on this thread */
	size_t len;
	uint64_t etag; /* hash of the body */
	uint64_t age_s; /* seconds since the body was computed */
	enum xcache xcache;
};

/* Generation names a cached response depends on (invalidation). */
#define RC_GENS_MAX 2
struct respcache_key {
	const char *canon; /* "GET /products?category=..&page=.. v=json" */
	enum api_route route; /* for the query counters */
	const char *gens[RC_GENS_MAX]; /* NULL-terminated if fewer */
};

/*
 * A refresh left to do after the response is sent (stale-while-revalidate:
 * respcache.c). It holds the key's refresh lease, which lives as long as the
 * thread that took it: call respcache_refresh() on that thread.
 */
struct respcache_refresh {
	int pending;
	fc_lease lease;
	uint64_t hk, hf; /* ledger hashes of the key */
	enum api_route route;
	size_t klen;
	char key[FC_KEY_MAX + 1];
};

/* Look up or compute the response for @p k. An entry in its stale window
 * whose refresh falls to us is answered stale and the refresh left in
 * @p later (may be NULL: then it is refreshed at once). 0, or -1 if out of
 * memory. */
int respcache_fetch(const struct respcache_key *k, respcache_compute_fn fn,
		    void *arg, struct cached_response *out,
		    struct respcache_refresh *later);
/* Do (@p run) or give up the refresh left by respcache_fetch; @p fn and
 * @p arg compute the same response as they would have then. */
void respcache_refresh(struct respcache_refresh *r, respcache_compute_fn fn,
		       void *arg, int run);
/* After a PUT changed a product: bump every generation it feeds. */
void respcache_invalidate_product(int64_t id, const char *old_cat,
				  const char *new_cat);
/* JSON object body (without braces) of the cache part of /_cache/stats. */
int respcache_stats_json(struct buf *out);

/* ---- l2.c ---- */
int l2_configure(const char *addr, const char *ns); /* 0, or -1 bad addr */
int l2_enabled(void);
/* 1 and the value in @p out, 0 on a miss, -1 on a Redis error. */
int l2_get(const char *k, size_t klen, struct buf *out);
void l2_set(const char *k, size_t klen, const void *v, size_t vlen,
	    uint64_t ttl_ms);
uint64_t l2_gen_get(const char *k, size_t klen); /* 0 = error */
void l2_gen_bump(fc_cache *gen_cache, const char *k, size_t klen);

/* ---- http.c ---- */
int http_worker_run(int listen_fd, int ready_fd); /* returns exit status */

uint64_t api_now_ms(void); /* CLOCK_REALTIME, like forkcache TTLs */

#endif
