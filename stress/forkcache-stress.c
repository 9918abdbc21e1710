/*
 * forkcache-stress.c - multi-process stress and fault-injection harness.
 *
 * DESIGN       The master creates one segment and a MAP_SHARED side mapping,
 *              then forks reader and writer processes (each with --threads
 *              threads) that hammer the cache for --seconds while the master
 *              SIGKILLs random children (--kill-every) and respawns them.
 *              Every value checks itself (struct vhdr: key id, writer id,
 *              version, length, expiry and a checksum over all of it), so a
 *              reader spots torn, foreign and impossible values. Writers own
 *              disjoint keys (key % writer_ids == writer id), so the version
 *              of one key only grows; readers remember the last version
 *              they saw of each key (process-local) to catch reads that go
 *              backwards. Writers log each key's operations in the side
 *              mapping (struct keyrec), so any process can tell whether an
 *              acknowledged write is missing ("lost").
 * KEY LOG      Per key, written only by its owning writer thread (one live
 *              process at a time: the master respawns a writer only after
 *              waitpid() saw it dead), seq_cst stores in this order:
 *                fold     if kr_pend != 0 it is a dead predecessor's op of
 *                         unknown outcome: kr_fuzz |= UNSURE (and MISS_OK if
 *                         that op could have removed the item)
 *                (1)      kr_vnext = v (versions are never reused)
 *                (2)      kr_pend  = pack(v, effect)
 *                (3)      the fc_* call
 *                (4)      on a definite outcome: kr_acked = pack(v, effect)
 *                (5)      kr_fuzz = 0 (the acked op supersedes older doubt)
 *                (6)      kr_pend = 0
 *              A kill anywhere leaves kr_pend naming the op in flight, so a
 *              checker accepts its outcome either way; a value newer than
 *              kr_acked is always fine, an older one is lost.
 * CHECKS       A reader loads kr_acked before fc_get. A hit must carry a
 *              version >= it (> for a delete), <= kr_vnext, and >= the last
 *              version this reader saw. A miss of an acked durable set is
 *              lost unless, loaded after the miss in the order pend, fuzz,
 *              acked, something explains it. Misses are only "tentatively"
 *              lost: they count only if the run saw no eviction.
 * CHAOS        --kill-every SIGKILLs a random child at a random moment;
 *              --kill-writer-in-lock arms each writer respawned after such a
 *              kill with a random lock-held fault point (fault.h) at a small
 *              random nth hit, so it SIGKILLs itself inside its critical
 *              section. Recovery = end of the first successful write by any
 *              process after the fatal op began, minus that op's start
 *              (writers log completion times in a ring in the side mapping).
 * WATCHDOG     Per-thread op start times and counters in the side mapping;
 *              the master flags an op running longer than --op-bound-ms, and
 *              a window of --stall-ms with no completed op anywhere.
 * AFTER        Kill (or stop) all children, fc_reap, check no reader slot is
 *              left, fc_verify(FC_VERIFY_LOCK), class accounting, then read
 *              every key and check it against the log.
 * EXIT         0 pass, 1 a violation (or a setup failure), 2 usage error.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lease_stress.h"
#include "forkcache.h"
#include "sup_clock.h"
#include "sup_rng.h"
#include "sup_zipf.h"
#include "fault.h"

/* ------------------------------------------------------------ config -- */

#define VAL_HDR 40u           /* bytes of struct vhdr */
#define VAL_MAGIC 0x56534346u /* "FCSV" */
#define MAX_THREADS 1024u     /* worker threads in all; slots in the side map */
#define MAX_CHILDREN 512u
#define RING_BITS 16u /* write-completion ring: 64 Ki entries */
#define RING_SIZE (1u << RING_BITS)
#define DETAIL_LINES 20 /* lines printed per kind of violation */
#define MISS_EXAMPLES 8 /* tentative lost misses kept for the end */
#define TICK_MS 5       /* master loop period */
#define DURABLE_TTL_MS                                                         \
	(24ull * 3600 * 1000) /* "long" TTL: never expires in a run */
#define MAX_PENDING_RECOV 256u
/* Watchdog defaults, scaled for sanitizer builds (TSan slows code ~10x). */
#if defined(FC_TSAN)
#define OP_BOUND_MS 10000u
#elif defined(__SANITIZE_ADDRESS__)
#define OP_BOUND_MS 3000u
#else
#define OP_BOUND_MS 1000u
#endif

enum role { ROLE_READER = 0, ROLE_WRITER = 1 };
enum end_mode { END_KILL = 0, END_STOP = 1 };
/* --inject: a deliberate harness-side fault, to show each check can fire */
enum inject { INJ_NONE = 0, INJ_TORN, INJ_LOST, INJ_BACKWARDS, INJ_STALL };
#define INJECT_EVERY 2000u /* writes between injected faults */

struct config {
	double seconds;
	unsigned readers, writers, threads;
	int one_process, handle_per_thread;
	uint32_t nkeys;
	unsigned kmin, kmax; /* key length range */
	unsigned vmin, vmax; /* value length range */
	unsigned ttl_pct, ttl_min, ttl_max;
	unsigned write_pct, delete_pct, cas_pct, raw_pct;
	unsigned iter_every;
	int zipf;
	double zipf_s;
	uint64_t segment_mb; /* 0 = auto */
	unsigned page_kb;    /* 0 = library default */
	unsigned slots;      /* 0 = auto */
	unsigned kill_every_ms;
	int kill_in_lock;
	const char *fault_spec;
	unsigned op_bound_ms, stall_ms;
	int end_mode;
	uint64_t seed;
	int seed_given;
	int progress; /* -1 auto (isatty), 0 off, 1 on */
	int json, verbose, keep;
	int inject;
	const char *name;
	int file;
	int zombie_leader;      /* child main threads pthread_exit() */
	int no_fds;             /* children run out of descriptors */
	unsigned fork_churn_ms; /* children fork while their threads churn */
	/* derived */
	unsigned wids;     /* writer ids = writers * threads */
	unsigned nthreads; /* worker threads in all */
	unsigned nchildren;
	char segname[4096];
};

static struct config cfg = {
        .seconds = 10,
        .readers = 4,
        .writers = 2,
        .threads = 1,
        .nkeys = 10000,
        .kmin = 8,
        .kmax = 40,
        .vmin = VAL_HDR,
        .vmax = 1024,
        .ttl_pct = 20,
        .ttl_min = 100,
        .ttl_max = 2000,
        .write_pct = 80,
        .delete_pct = 5,
        .cas_pct = 5,
        .raw_pct = 10,
        .iter_every = 20000,
        .zipf_s = 0.99,
        .op_bound_ms = OP_BOUND_MS,
        .stall_ms = 2 * OP_BOUND_MS,
        .end_mode = END_KILL,
        .progress = -1,
};

/* ------------------------------------------------------- side mapping -- */

/* Key log words: version << 2 | effect. */
#define EFF_DUR 1u /* set, item never expires within the run */
#define EFF_VOL 2u /* set with a short TTL: may expire */
#define EFF_DEL 3u /* item removed (delete, or found absent) */
#define PACK(v, e) (((uint64_t)(v) << 2) | (e))
#define VER(w) ((w) >> 2)
#define EFF(w) ((unsigned)((w)&3u))
/* kr_fuzz bits */
#define FZ_UNSURE 1u  /* an op of unknown outcome happened since the ack */
#define FZ_MISS_OK 2u /* ... and it could have removed the item */

struct keyrec {
	_Atomic uint64_t kr_vnext; /* last version handed out */
	_Atomic uint64_t kr_acked; /* last op with a definite outcome */
	_Atomic uint64_t
	        kr_pend; /* op in flight (or a dead writer's), 0 none */
	_Atomic uint64_t kr_fuzz; /* FZ_* since kr_acked */
};

/* One per worker thread; written by that thread, read by the master. */
struct tslot {
	_Atomic uint64_t ts_ops; /* completed operations (not EBUSY) */
	_Atomic uint64_t ts_reads, ts_hits, ts_misses, ts_writes, ts_busy;
	_Atomic uint64_t ts_seq;      /* op sequence number */
	_Atomic uint64_t ts_start_ns; /* start of the op in flight; 0 idle */
	_Atomic uint64_t ts_what;     /* kind << 32 | key of the op in flight */
	_Atomic uint64_t ts_claim;   /* seq of the last op counted as a stall */
	_Atomic uint64_t ts_max_ns;  /* longest op */
	_Atomic uint64_t ts_max_wns; /* longest successful write */
	_Atomic uint64_t ts_pid;
	uint64_t ts_pad[3];
};
static_assert(sizeof(struct tslot) == 128, "two cache lines per thread");

struct side {
	_Atomic uint64_t sd_stop;
	_Atomic uint64_t sd_torn, sd_lost_hard, sd_lost_miss, sd_backwards;
	_Atomic uint64_t sd_stale, sd_errors, sd_stalls;
	_Atomic int64_t sd_detail_left[8]; /* per kind: torn lost ... */
	_Atomic uint64_t sd_miss_ex_n;
	char sd_miss_ex[MISS_EXAMPLES][200]; /* tentative lost misses */
	_Atomic uint64_t sd_iter_items;
	_Atomic uint64_t sd_max_wns; /* longest write so far, any process */
	_Atomic uint64_t sd_ring_pos;
	_Atomic uint64_t sd_ring[RING_SIZE]; /* end ns of successful writes */
	struct tslot sd_slot[MAX_THREADS];
};

static struct side *side;
static struct keyrec *keys;
static size_t side_bytes;
static fc_cache *cache;
static double *zipf_cdf;

enum opkind {
	OP_GET = 1,
	OP_GETS,
	OP_SET,
	OP_ADD,
	OP_REPLACE,
	OP_CAS,
	OP_DELETE,
	OP_ITER
};
static const char *const op_names[] = {"?",       "get", "gets",   "set", "add",
                                       "replace", "cas", "delete", "iter"};

/* ------------------------------------------------------------- utils -- */

/* Write one line to stderr with a single write(): children share it. */
static void
say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, buf, (size_t)n);
	(void)w;
}

enum vkind {
	V_TORN,
	V_LOST,
	V_BACK,
	V_STALL,
	V_ERROR,
	V_STALE,
	V_VERIFY,
	V_NKINDS
};
static const char *const vkind_names[] = {
        "TORN", "LOST", "BACKWARDS", "STALL", "ERROR", "STALE", "VERIFY"};

/* Count a violation in @p ctr and print it while the kind's line budget
 * lasts (so one flood cannot hide another kind). */
static void
violation(_Atomic uint64_t *ctr, enum vkind kind, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	if (ctr)
		atomic_fetch_add(ctr, 1);
	if (atomic_fetch_sub(&side->sd_detail_left[kind], 1) <= 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	say("stress: %s pid=%d %s", vkind_names[kind], (int)getpid(), msg);
}

/* A miss of an acknowledged write: lost unless the run evicts. Counted now,
 * printed at the end (a few examples) only if nothing was evicted. */
static void
lost_miss(const char *fmt, ...)
{
	va_list ap;
	uint64_t i = atomic_fetch_add(&side->sd_lost_miss, 1);

	if (i >= MISS_EXAMPLES)
		return;
	va_start(ap, fmt);
	vsnprintf(side->sd_miss_ex[i], sizeof side->sd_miss_ex[i], fmt, ap);
	va_end(ap);
}

/* --------------------------------------------------------- keys/values -- */

/* Key of id: "fcs:<id>." padded with letters to a length that depends on
 * the id, in [kmin, kmax] (longer only if the id needs it). */
static size_t
make_key(uint32_t id, char *out)
{
	char dig[16];
	size_t nd = 0, n = 0;
	uint32_t x = id;

	do {
		dig[nd++] = (char)('0' + x % 10);
		x /= 10;
	} while (x);
	memcpy(out, "fcs:", 4);
	n = 4;
	while (nd)
		out[n++] = dig[--nd];
	out[n++] = '.';
	size_t want =
	        cfg.kmin + (size_t)(sup_mix64(id) % (cfg.kmax - cfg.kmin + 1));
	for (size_t i = 0; n < want; i++)
		out[n++] = (char)('a' + (id * 7u + i) % 26u);
	return n;
}

/* Parse a key made by make_key(); UINT32_MAX if it is not one. */
static uint32_t
parse_key(const void *k, size_t klen)
{
	const char *s = k;
	char tmp[FC_KEY_MAX + 1];
	uint64_t id = 0;
	size_t i = 4;

	if (klen < 6 || klen > FC_KEY_MAX || memcmp(s, "fcs:", 4) != 0)
		return UINT32_MAX;
	while (i < klen && s[i] >= '0' && s[i] <= '9' && i < 15)
		id = id * 10 + (uint64_t)(s[i++] - '0');
	if (i == 4 || i >= klen || s[i] != '.' || id >= cfg.nkeys)
		return UINT32_MAX;
	if (make_key((uint32_t)id, tmp) != klen || memcmp(tmp, s, klen) != 0)
		return UINT32_MAX;
	return (uint32_t)id;
}

struct vhdr {
	uint64_t v_sum; /* checksum of bytes [8, len) */
	uint32_t v_magic;
	uint32_t v_key;
	uint32_t v_writer;
	uint32_t v_len; /* whole value, header included */
	uint64_t v_version;
	uint64_t v_expire_ms; /* fc_now_ms() before the set + ttl; 0 = none */
};
static_assert(sizeof(struct vhdr) == VAL_HDR, "value header");

static uint64_t
vsum(const unsigned char *p, size_t n)
{
	uint64_t h =
	        0x243F6A8885A308D3ull ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull);
	uint64_t w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xFF51AFD7ED558CCDull;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, p, n);
	h = (h ^ w ^ ((uint64_t)n << 56)) * 0xC4CEB9FE1A85EC53ull;
	return sup_mix64(h);
}

static void
make_value(unsigned char *buf, uint32_t key, uint32_t wid, uint64_t ver,
           uint32_t len, uint64_t expire_ms)
{
	struct vhdr h = {.v_magic = VAL_MAGIC,
	                 .v_key = key,
	                 .v_writer = wid,
	                 .v_len = len,
	                 .v_version = ver,
	                 .v_expire_ms = expire_ms};
	uint64_t s = ((uint64_t)key << 32) ^ ver ^ 0xA5A5A5A5ull;
	size_t i = VAL_HDR;

	memcpy(buf, &h, sizeof h);
	for (; i + 8 <= len; i += 8) {
		uint64_t r = sup_splitmix64(&s);
		memcpy(buf + i, &r, 8);
	}
	if (i < len) {
		uint64_t r = sup_splitmix64(&s);
		memcpy(buf + i, &r, len - i);
	}
	h.v_sum = vsum(buf + 8, len - 8);
	memcpy(buf, &h.v_sum, 8);
}

/* NULL if @p buf is a well-formed value of key @p key; else the reason. */
static const char *
check_value(const unsigned char *buf, size_t n, uint32_t key, struct vhdr *out)
{
	struct vhdr h;

	memset(out, 0, sizeof *out);
	if (n < VAL_HDR)
		return "value shorter than its header";
	memcpy(&h, buf, sizeof h);
	*out = h;
	if (h.v_magic != VAL_MAGIC)
		return "bad magic";
	if (h.v_len != n)
		return "length differs from the value's own";
	if (vsum(buf + 8, n - 8) != h.v_sum)
		return "checksum mismatch";
	if (h.v_key != key)
		return "value of another key";
	if (h.v_writer != key % cfg.wids)
		return "written by a writer that does not own the key";
	if (h.v_version == 0)
		return "version 0";
	return NULL;
}

/* --------------------------------------------------------- key choice -- */

static uint32_t
pick_key(uint64_t *rng)
{
	if (!cfg.zipf)
		return (uint32_t)sup_below(rng, cfg.nkeys);
	return sup_zipf_rank(zipf_cdf, cfg.nkeys, sup_unit(rng));
}

/* A key owned by writer id @p wid, drawn from the same distribution. */
static uint32_t
pick_owned(uint64_t *rng, unsigned wid)
{
	uint32_t k = pick_key(rng);

	k = k - k % cfg.wids + wid;
	if (k >= cfg.nkeys)
		k -= cfg.wids;
	return k;
}

/* ------------------------------------------------------------ workers -- */

struct worker {
	fc_cache *c;
	int role;
	unsigned slot;
	unsigned wid; /* writer id (writers only) */
	struct tslot *ts;
	uint64_t rng;
	uint64_t *last;      /* last version seen per key (process-local) */
	unsigned char *buf;  /* read buffer */
	unsigned char *vbuf; /* value being written */
	size_t cap;
	uint64_t seq;
	uint64_t reads_since_iter;
	uint64_t nwrites;
	pthread_t th;
};

static void
op_begin(struct worker *w, enum opkind kind, uint32_t key, uint64_t *t0)
{
	atomic_store(&w->ts->ts_seq, ++w->seq);
	atomic_store(&w->ts->ts_what, (uint64_t)kind << 32 | key);
	*t0 = sup_mono_ns();
	atomic_store(&w->ts->ts_start_ns, *t0);
}

/* Returns the end time. Counts the op as a stall if it overran the bound
 * and the master has not counted it already (ts_claim). */
static uint64_t
op_end(struct worker *w, uint64_t t0, int is_write)
{
	uint64_t t1 = sup_mono_ns(), lat = t1 - t0;

	atomic_store(&w->ts->ts_start_ns, 0);
	if (lat > atomic_load_explicit(&w->ts->ts_max_ns, memory_order_relaxed))
		atomic_store(&w->ts->ts_max_ns, lat);
	if (is_write && lat > atomic_load_explicit(&w->ts->ts_max_wns,
	                                           memory_order_relaxed))
		atomic_store(&w->ts->ts_max_wns, lat);
	if (is_write) {
		uint64_t g = atomic_load(&side->sd_max_wns);
		while (lat > g && !atomic_compare_exchange_weak(
		                          &side->sd_max_wns, &g, lat))
			;
	}
	if (lat > (uint64_t)cfg.op_bound_ms * 1000000ull) {
		uint64_t cl = atomic_load(&w->ts->ts_claim);
		if (cl != w->seq && atomic_compare_exchange_strong(
		                            &w->ts->ts_claim, &cl, w->seq)) {
			uint64_t what = atomic_load(&w->ts->ts_what);
			violation(
			        &side->sd_stalls, V_STALL,
			        "slot=%u %s key=%u took %.1f ms (bound %u ms)",
			        w->slot, op_names[what >> 32], (unsigned)what,
			        (double)lat / 1e6, cfg.op_bound_ms);
		}
	}
	return t1;
}

static void
count(_Atomic uint64_t *ctr)
{
	atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
}

static void
unexpected(struct worker *w, const char *call, uint32_t key, int rc)
{
	violation(&side->sd_errors, V_ERROR,
	          "slot=%u %s key=%u returned %s: %s", w->slot, call, key,
	          fc_errname(rc), fc_strerror(rc));
}

/*
 * Check a hit of key @p k: the value, then its version against the log
 * word @p a loaded before the read, kr_vnext and this worker's last.
 * Returns the version, or 0 if the value is torn.
 */
static uint64_t
check_hit(struct worker *w, uint32_t k, const unsigned char *val, size_t n,
          uint64_t a, uint64_t now_ms_before, const char *how)
{
	struct vhdr h;
	const char *why = check_value(val, n, k, &h);

	if (why) {
		violation(
		        &side->sd_torn, V_TORN,
		        "%s key=%u: %s (vlen=%zu magic=%08x key=%u writer=%u len=%u "
		        "version=%" PRIu64 ")",
		        how, k, why, n, h.v_magic, h.v_key, h.v_writer, h.v_len,
		        h.v_version);
		return 0;
	}
	uint64_t u = h.v_version;
	uint64_t vn = atomic_load(&keys[k].kr_vnext);
	if (u > vn) {
		violation(&side->sd_torn, V_TORN,
		          "%s key=%u: version %" PRIu64
		          " was never written (latest %" PRIu64 ")",
		          how, k, u, vn);
		return 0;
	}
	if (a && (EFF(a) == EFF_DEL ? u <= VER(a) : u < VER(a)))
		violation(&side->sd_lost_hard, V_LOST,
		          "%s key=%u: read version %" PRIu64
		          " after %s of version %" PRIu64 " was acknowledged",
		          how, k, u, EFF(a) == EFF_DEL ? "a delete" : "a set",
		          VER(a));
	if (w && u < w->last[k])
		violation(&side->sd_backwards, V_BACK,
		          "%s key=%u: read version %" PRIu64
		          " after version %" PRIu64,
		          how, k, u, w->last[k]);
	if (w && u > w->last[k])
		w->last[k] = u;
	/*
	 * An item past its TTL must read as a miss. Our v_expire_ms is taken
	 * just before the set; the library reads its clock once it holds the
	 * lock, so its expiry is later by at most that write's latency. Once
	 * the write is over (kr_pend no longer names it) its latency is in
	 * sd_max_wns (op_end runs before step 6). 100 ms covers the coarse
	 * clock.
	 */
	if (h.v_expire_ms && now_ms_before > h.v_expire_ms + 100 &&
	    VER(atomic_load(&keys[k].kr_pend)) != u) {
		uint64_t slack_ms =
		        atomic_load(&side->sd_max_wns) / 1000000 + 100;
		if (now_ms_before > h.v_expire_ms + slack_ms)
			violation(&side->sd_stale, V_STALE,
			          "%s key=%u: version %" PRIu64 " read %" PRIu64
			          " ms after it expired (slack %" PRIu64 " ms)",
			          how, k, u, now_ms_before - h.v_expire_ms,
			          slack_ms);
	}
	return u;
}

/*
 * A miss of key @p k; @p a is kr_acked loaded before the read. It is lost
 * (tentatively: eviction may explain it) if the log says the key holds a
 * durable item and nothing since explains the miss. Loads in the order
 * pend, fuzz, acked: see KEY LOG.
 */
static void
check_miss(uint32_t k, uint64_t a, const char *how)
{
	if (!a || EFF(a) != EFF_DUR)
		return;
	struct keyrec *kr = &keys[k];
	uint64_t p = atomic_load(&kr->kr_pend);
	uint64_t f = atomic_load(&kr->kr_fuzz);
	uint64_t a2 = atomic_load(&kr->kr_acked);
	if (a2 != a || (p && EFF(p) != EFF_DUR) || (f & FZ_MISS_OK))
		return;
	lost_miss("%s key=%u: miss, but version %" PRIu64 " was acknowledged",
	          how, k, VER(a));
}

/* One read of key @p k with every check. Returns 1 hit, 0 miss, -1 other. */
static int
do_read(struct worker *w, uint32_t k, int gets, uint64_t *cas_out,
        uint64_t *ver_out)
{
	char key[FC_KEY_MAX];
	size_t klen = make_key(k, key), vlen = w->cap;
	uint64_t a = atomic_load(&keys[k].kr_acked);
	uint64_t now_ms = fc_now_ms(), t0, cas = 0;
	int rc;

	op_begin(w, gets ? OP_GETS : OP_GET, k, &t0);
	if (gets)
		rc = fc_gets(w->c, key, klen, w->buf, &vlen, &cas);
	else
		rc = fc_get(w->c, key, klen, w->buf, &vlen);
	op_end(w, t0, 0);
	count(&w->ts->ts_reads);
	switch (rc) {
	case FC_OK: {
		count(&w->ts->ts_ops);
		count(&w->ts->ts_hits);
		uint64_t u = check_hit(w, k, w->buf, vlen, a, now_ms,
		                       gets ? "gets" : "get");
		if (cas_out)
			*cas_out = cas;
		if (ver_out)
			*ver_out = u;
		return 1;
	}
	case FC_ENOTFOUND:
		count(&w->ts->ts_ops);
		count(&w->ts->ts_misses);
		check_miss(k, a, gets ? "gets" : "get");
		return 0;
	case FC_ETRUNC:
		count(&w->ts->ts_ops);
		violation(
		        &side->sd_torn, V_TORN,
		        "get key=%u: value of %zu bytes, longer than any written (%u)",
		        k, vlen, cfg.vmax);
		return -1;
	case FC_EBUSY:
		count(&w->ts->ts_busy);
		return -1;
	default:
		unexpected(w, gets ? "fc_gets" : "fc_get", k, rc);
		return -1;
	}
}

/* Walk every item with the iterator, checking each value in place. */
static void
do_iter(struct worker *w)
{
	fc_iter *it;
	fc_item item;
	uint64_t t0, n = 0;
	int rc;

	op_begin(w, OP_ITER, 0, &t0);
	if ((rc = fc_iter_open(w->c, &it)) != FC_OK) {
		op_end(w, t0, 0);
		unexpected(w, "fc_iter_open", 0, rc);
		return;
	}
	while ((rc = fc_iter_next(it, &item)) == FC_OK) {
		uint32_t k = parse_key(item.key, item.klen);
		struct vhdr h;
		const char *why;

		n++;
		if (k == UINT32_MAX) {
			violation(&side->sd_torn, V_TORN,
			          "iter: item with a foreign key (klen=%zu)",
			          item.klen);
			continue;
		}
		if ((why = check_value(item.value, item.vlen, k, &h)) != NULL)
			violation(
			        &side->sd_torn, V_TORN,
			        "iter key=%u: %s (vlen=%zu key=%u len=%u version=%" PRIu64
			        ")",
			        k, why, item.vlen, h.v_key, h.v_len,
			        h.v_version);
		else if (h.v_version > atomic_load(&keys[k].kr_vnext))
			violation(&side->sd_torn, V_TORN,
			          "iter key=%u: version %" PRIu64
			          " was never written",
			          k, h.v_version);
	}
	fc_iter_close(it);
	op_end(w, t0, 0);
	if (rc == FC_ENOTFOUND) {
		count(&w->ts->ts_ops);
		atomic_fetch_add_explicit(&side->sd_iter_items, n,
		                          memory_order_relaxed);
	} else if (rc == FC_EBUSY) {
		count(&w->ts->ts_busy);
	} else {
		unexpected(w, "fc_iter_next", 0, rc);
	}
}

static void
reader_op(struct worker *w)
{
	if (cfg.iter_every && ++w->reads_since_iter >= cfg.iter_every) {
		w->reads_since_iter = 0;
		do_iter(w);
		return;
	}
	uint32_t k = pick_key(&w->rng);
	do_read(w, k, (int)(sup_splitmix64(&w->rng) & 1), NULL, NULL);
}

static void
log_fuzz(struct keyrec *kr, unsigned bits)
{
	atomic_store(&kr->kr_fuzz, atomic_load(&kr->kr_fuzz) | bits);
}

/*
 * One write by writer @p w to one of its keys. See KEY LOG for the order of
 * the log stores; every path ends with kr_pend = 0.
 */
static void
write_op(struct worker *w)
{
	uint32_t k = pick_owned(&w->rng, w->wid);
	struct keyrec *kr = &keys[k];
	char key[FC_KEY_MAX];
	size_t klen = make_key(k, key);
	uint64_t leftover = atomic_load(&kr->kr_pend);

	if (leftover) /* a dead predecessor's op: outcome unknown */
		log_fuzz(kr, FZ_UNSURE | (EFF(leftover) != EFF_DUR ? FZ_MISS_OK
		                                                   : 0));
	uint64_t a = atomic_load(&kr->kr_acked);
	int sure = atomic_load(&kr->kr_fuzz) == 0;
	int present =
	        a && EFF(a) != EFF_DEL; /* believed; VOL may have expired */
	unsigned r = (unsigned)sup_below(&w->rng, 100);
	enum opkind op = OP_SET;
	uint64_t cas = 0;

	if (r < cfg.delete_pct)
		op = OP_DELETE;
	else if (r < cfg.delete_pct + cfg.cas_pct)
		op = OP_CAS;
	else if (r < cfg.delete_pct + cfg.cas_pct + 5 && sure &&
	         (!a || EFF(a) == EFF_DEL))
		op = OP_ADD;
	else if (r < cfg.delete_pct + cfg.cas_pct + 10 && sure && present &&
	         EFF(a) == EFF_DUR)
		op = OP_REPLACE;
	if (op == OP_CAS) {
		/* gets first: a checked read of our own key */
		int hit = do_read(w, k, 1, &cas, NULL);
		if (hit != 1)
			op = OP_SET;
	}

	/* the new value */
	int vol = op != OP_DELETE && sup_below(&w->rng, 100) < cfg.ttl_pct;
	uint64_t ttl = vol ? sup_range(&w->rng, cfg.ttl_min, cfg.ttl_max)
	                   : (sup_below(&w->rng, 2) ? DURABLE_TTL_MS : 0);
	uint32_t len = (uint32_t)sup_range(&w->rng, cfg.vmin, cfg.vmax);
	uint64_t v = atomic_load(&kr->kr_vnext) + 1;
	unsigned eff = op == OP_DELETE ? EFF_DEL : vol ? EFF_VOL : EFF_DUR;

	atomic_store(&kr->kr_vnext, v);           /* (1) */
	atomic_store(&kr->kr_pend, PACK(v, eff)); /* (2) */
	int inj = cfg.inject && ++w->nwrites % INJECT_EVERY == 0 ? cfg.inject
	                                                         : INJ_NONE;
	uint64_t t0, t1;
	int rc;
	op_begin(w, op, k, &t0);
	if (inj == INJ_STALL) {
		struct timespec ts = {(time_t)(cfg.op_bound_ms + 300) / 1000,
		                      (long)((cfg.op_bound_ms + 300) % 1000) *
		                              1000000L};
		nanosleep(&ts, NULL);
	}
	if (inj == INJ_BACKWARDS && a && EFF(a) != EFF_DEL && VER(a) > 1 &&
	    op == OP_SET)
		/* an older version than the one readers may have seen */
		make_value(w->vbuf, k, w->wid, VER(a) - 1, len,
		           ttl ? fc_now_ms() + ttl : 0);
	else if (op != OP_DELETE)
		make_value(w->vbuf, k, w->wid, v, len,
		           ttl ? fc_now_ms() + ttl : 0);
	if (inj == INJ_TORN && op != OP_DELETE)
		w->vbuf[len - 1] ^= 0x5A; /* after the checksum */

	if (inj == INJ_LOST)
		rc = FC_OK; /* claim a write that never happened */
	else
		switch (op) {
		case OP_DELETE:
			rc = fc_delete(w->c, key, klen);
			break;
		case OP_CAS:
			rc = fc_cas(w->c, key, klen, w->vbuf, len, ttl, cas);
			break;
		case OP_ADD:
			rc = fc_add(w->c, key, klen, w->vbuf, len, ttl);
			break;
		case OP_REPLACE:
			rc = fc_replace(w->c, key, klen, w->vbuf, len, ttl);
			break;
		default:
			rc = fc_set(w->c, key, klen, w->vbuf, len, ttl);
			break;
		}
	t1 = op_end(w, t0, rc == FC_OK);

	int definite = 0; /* outcome known: log eff as acked */
	unsigned ack_eff = eff;
	if (rc == FC_OK) {
		definite = 1;
		count(&w->ts->ts_writes);
		uint64_t pos = atomic_fetch_add_explicit(&side->sd_ring_pos, 1,
		                                         memory_order_relaxed);
		atomic_store_explicit(&side->sd_ring[pos & (RING_SIZE - 1)], t1,
		                      memory_order_relaxed);
	} else if (rc == FC_ENOTFOUND && op != OP_ADD) {
		/* delete, replace or cas found no item: it is absent now */
		definite = 1;
		ack_eff = EFF_DEL;
		if (sure && a && EFF(a) == EFF_DUR)
			lost_miss(
			        "fc_%s key=%u: FC_ENOTFOUND, but version %" PRIu64
			        " was acknowledged",
			        op_names[op], k, VER(a));
	} else if (rc == FC_EEXIST && op == OP_ADD) {
		violation(
		        &side->sd_lost_hard, V_LOST,
		        "fc_add key=%u: FC_EEXIST, but the key was deleted at version %" PRIu64,
		        k, a ? VER(a) : 0);
		log_fuzz(kr, FZ_UNSURE);
	} else if (rc == FC_ECAS) {
		/* nobody else writes this key: the item changed under us */
		unexpected(w, "fc_cas", k, rc);
		log_fuzz(kr, FZ_UNSURE | FZ_MISS_OK);
	} else if (rc == FC_EBUSY) {
		count(&w->ts->ts_busy);
	} else {
		unexpected(w, "write", k, rc);
		log_fuzz(kr, FZ_UNSURE | FZ_MISS_OK);
	}
	if (rc != FC_EBUSY)
		count(&w->ts->ts_ops);
	if (definite) {
		atomic_store(&kr->kr_acked, PACK(v, ack_eff)); /* (4) */
		atomic_store(&kr->kr_fuzz, 0);                 /* (5) */
	}
	atomic_store(&kr->kr_pend, 0); /* (6) */

	/* Read our own write back at once. Nobody else writes this key, so
	 * do_read's checks against the log (just updated) demand exactly
	 * version v: older is lost, newer was never written, a miss of a
	 * durable set is lost (unless evicted), a hit after a delete is lost. */
	if (rc == FC_OK && sup_below(&w->rng, 100) < cfg.raw_pct)
		do_read(w, k, 0, NULL, NULL);
}

static void
writer_op(struct worker *w)
{
	if (sup_below(&w->rng, 100) < cfg.write_pct)
		write_op(w);
	else
		reader_op(w);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	fc_options o;
	int rc;

	if (cfg.handle_per_thread) {
		fc_options_init(&o);
		o.flags = cfg.file ? FC_FILE : 0;
		if ((rc = fc_open(cfg.segname, &o, &w->c)) != FC_OK) {
			unexpected(w, "fc_open", 0, rc);
			return NULL;
		}
	}
	atomic_store(&w->ts->ts_pid, (uint64_t)getpid());
	while (!atomic_load_explicit(&side->sd_stop, memory_order_relaxed)) {
		if (w->role == ROLE_WRITER)
			writer_op(w);
		else
			reader_op(w);
	}
	if (cfg.handle_per_thread)
		fc_close(w->c);
	return NULL;
}

/* ------------------------------------------------------------- master -- */

struct child {
	pid_t pid;
	unsigned first_slot, nthreads;
	unsigned nreaders; /* threads 0..nreaders-1 read, the rest write */
	unsigned first_wid;
	int has_writers;
	int kill_sent; /* the master SIGKILLed it */
	char arm[96];  /* fault spec armed at start, "" none */
	unsigned spawns;
};

struct recov {
	uint64_t t_kill; /* start of the dead writer's fatal op */
	uint64_t t_seen; /* when the master saw the death */
	char point[96];
};

static struct child children[MAX_CHILDREN];
static struct recov pending[MAX_PENDING_RECOV];
static unsigned npending;
static pid_t master_pid;
static volatile sig_atomic_t interrupted;
static uint64_t master_rng;

static struct {
	uint64_t kills, kills_master, kills_lock, crashes;
	uint64_t recoveries, recov_sum_ns, recov_max_ns;
	uint64_t stalls_master;
} tot;

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* --no-fds: take one slot and the library's descriptors now, then use up
 * every descriptor the soft limit allows, so that every reaper in this
 * process runs at EMFILE (liveness must not need to open anything). */
static void
use_up_descriptors(void)
{
	char buf[64];
	size_t len = sizeof buf;
	int rc = fc_get(cache, "fcs:warm", 8, buf, &len);

	if (rc != FC_OK && rc != FC_ENOTFOUND) {
		say("stress: --no-fds: first read: %s", fc_errname(rc));
		_exit(4);
	}
	while (open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0)
		;
}

/* glibc loads libgcc_s (for unwinding) at the first pthread_exit(): make
 * that happen while descriptors are still available. */
static void *
exit_at_once(void *arg)
{
	pthread_exit(arg);
}

static _Atomic int churn_stop;

static void *
churn_reader(void *arg)
{
	char buf[64];
	size_t len = sizeof buf;
	int rc = fc_get(cache, "fcs:churn", 9, buf, &len);

	(void)arg;
	if (rc != FC_OK && rc != FC_ENOTFOUND && rc != FC_EBUSY)
		violation(&side->sd_errors, V_ERROR, "churn thread: fc_get: %s", fc_errname(rc));
	return NULL;
}

static void *
churn_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&churn_stop)) {
		pthread_t t;
		if (pthread_create(&t, NULL, churn_reader, NULL) == 0)
			pthread_join(t, NULL);
	}
	return NULL;
}

/* --fork-churn: threads that read once and exit come and go while this
 * thread forks every MS ms; each grandchild reads, closes its inherited
 * handle and exits. One still running after 2 s hung (a fork while
 * another thread held a process-local lock): a STALL violation. */
static void
fork_churn(void)
{
	pthread_t th;

	if (pthread_create(&th, NULL, churn_main, NULL) != 0) {
		say("stress: fork churn: pthread_create failed");
		_exit(4);
	}
	while (!atomic_load_explicit(&side->sd_stop, memory_order_relaxed)) {
		usleep(cfg.fork_churn_ms * 1000u);
		pid_t pid = fork();
		if (pid == 0) {
			char buf[64];
			size_t len = sizeof buf;
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			int rc = fc_get(cache, "fcs:churn", 9, buf, &len);
			fc_close(cache);
			_exit(rc == FC_OK || rc == FC_ENOTFOUND || rc == FC_EBUSY ? 0 : 1);
		}
		if (pid < 0)
			continue;
		int st = 0, done = 0;
		for (int i = 0; i < 2000 && !done; i++) {
			if (waitpid(pid, &st, WNOHANG) == pid)
				done = 1;
			else
				usleep(1000);
		}
		if (!done) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			violation(&side->sd_stalls, V_STALL,
				  "forked child hung for 2 s (fork under thread churn)");
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			violation(&side->sd_errors, V_ERROR, "forked child failed (status %d)", st);
		}
	}
	atomic_store(&churn_stop, 1);
	pthread_join(th, NULL);
}

/* The child process: arm, start the threads, run until stopped. */
static void
child_main(struct child *ch, unsigned idx)
{
	struct worker *ws;
	unsigned n = ch->nthreads;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != master_pid)
		_exit(0);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	if (ch->arm[0] && fc__fault_arm_spec(ch->arm) != 0) {
		say("stress: child %u: cannot arm fault '%s'", idx, ch->arm);
		_exit(3);
	}
	ws = calloc(n, sizeof *ws);
	if (!ws)
		_exit(4);
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &ws[i];
		w->c = cache;
		w->slot = ch->first_slot + i;
		w->ts = &side->sd_slot[w->slot];
		w->role = i < ch->nreaders ? ROLE_READER : ROLE_WRITER;
		w->wid = w->role == ROLE_WRITER
		                 ? ch->first_wid + (i - ch->nreaders)
		                 : 0;
		w->rng = sup_mix64(cfg.seed ^ ((uint64_t)w->slot << 20) ^
		               ((uint64_t)ch->spawns << 40));
		w->seq = atomic_load(&w->ts->ts_seq);
		w->cap = cfg.vmax + 64;
		w->buf = malloc(w->cap);
		w->vbuf = malloc(w->cap);
		w->last = calloc(cfg.nkeys, sizeof *w->last);
		w->reads_since_iter = sup_below(&w->rng, cfg.iter_every + 1);
		if (!w->buf || !w->vbuf || !w->last)
			_exit(4);
	}
	if (cfg.zombie_leader) {
		pthread_t t;
		if (pthread_create(&t, NULL, exit_at_once, NULL) == 0)
			pthread_join(t, NULL);
	}
	if (cfg.no_fds)
		use_up_descriptors();
	if (cfg.zombie_leader || cfg.fork_churn_ms) {
		/* Workers in threads; the main thread leaves (a zombie group
		 * leader: liveness must not depend on /proc) or forks while
		 * threads come and go. */
		for (unsigned i = 0; i < n; i++)
			if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0) {
				say("stress: child %u: pthread_create failed", idx);
				_exit(4);
			}
		if (cfg.zombie_leader)
			pthread_exit(NULL); /* the last worker to stop ends the process */
		fork_churn();
		for (unsigned i = 0; i < n; i++)
			pthread_join(ws[i].th, NULL);
	} else if (n == 1) {
		worker_main(&ws[0]);
	} else {
		for (unsigned i = 0; i < n; i++)
			if (pthread_create(&ws[i].th, NULL, worker_main,
			                   &ws[i]) != 0) {
				say("stress: child %u: pthread_create failed",
				    idx);
				_exit(4);
			}
		for (unsigned i = 0; i < n; i++)
			pthread_join(ws[i].th, NULL);
	}
	if (!cfg.handle_per_thread)
		fc_close(cache);
	for (unsigned i = 0; i < n; i++) {
		free(ws[i].buf);
		free(ws[i].vbuf);
		free(ws[i].last);
	}
	free(ws);
	_exit(0);
}

/* Choose a lock-held fault point and an nth hit for a respawned writer. */
static void
choose_arm(char *out, size_t cap)
{
	const char *const *names = fc__fault_point_names();
	const char *common[] = {"set.locked",     "set.alloc",   "set.written",
	                        "set.published",  "set.retired", "delete.tomb",
	                        "reclaim.freeing"};
	const char *pts[32];
	unsigned np = 0;

	for (unsigned i = 0;
	     names[i] && strcmp(names[i], "read.inside") != 0 && np < 32; i++)
		pts[np++] = names[i];
	if (np == 0) {
		out[0] = 0;
		return;
	}
	const char *pt = pts[sup_below(&master_rng, np)];
	uint64_t nth = 1;
	/* 70%: a point every write passes, so the writer surely dies soon */
	if (sup_below(&master_rng, 100) < 70) {
		const char *c = common[sup_below(
		        &master_rng, sizeof common / sizeof common[0])];
		for (unsigned i = 0; i < np; i++)
			if (strcmp(pts[i], c) == 0)
				pt = c;
		nth = sup_range(&master_rng, 1, 64);
	} else if (strcmp(pt, "evict.unlinked") == 0) {
		nth = sup_range(&master_rng, 1, 16);
	}
	snprintf(out, cap, "%s:%" PRIu64 ":kill", pt, nth);
}

static void
reset_slots(struct child *ch)
{
	for (unsigned i = 0; i < ch->nthreads; i++) {
		struct tslot *ts = &side->sd_slot[ch->first_slot + i];
		atomic_store(&ts->ts_start_ns, 0);
		atomic_store(&ts->ts_pid, 0);
	}
}

static int
spawn(unsigned idx, int armed)
{
	struct child *ch = &children[idx];
	pid_t pid;

	ch->arm[0] = 0;
	if (cfg.fault_spec && ch->has_writers)
		snprintf(ch->arm, sizeof ch->arm, "%s", cfg.fault_spec);
	else if (armed && ch->has_writers)
		choose_arm(ch->arm, sizeof ch->arm);
	reset_slots(ch);
	ch->kill_sent = 0;
	ch->spawns++;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		say("stress: fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
		child_main(ch, idx);
	ch->pid = pid;
	return 0;
}

/* Earliest successful write that ended after @p t; 0 if none yet. */
static uint64_t
first_write_after(uint64_t t)
{
	uint64_t best = 0;

	for (unsigned i = 0; i < RING_SIZE; i++) {
		uint64_t e = atomic_load_explicit(&side->sd_ring[i],
		                                  memory_order_relaxed);
		if (e > t && (!best || e < best))
			best = e;
	}
	return best;
}

static void
handle_death(unsigned idx, int status, int stopping)
{
	struct child *ch = &children[idx];
	int killed9 = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	int respawn_armed = 0;
	uint64_t now = sup_mono_ns();

	if (killed9 && ch->kill_sent) {
		respawn_armed = cfg.kill_in_lock;
	} else if (killed9 && ch->arm[0] && !stopping) {
		/* raised by the armed fault point, inside the writer lock */
		uint64_t t = 0;
		for (unsigned i = ch->nreaders; i < ch->nthreads; i++) {
			struct tslot *ts = &side->sd_slot[ch->first_slot + i];
			uint64_t what = atomic_load(&ts->ts_what);
			uint64_t s = atomic_load(&ts->ts_start_ns);
			unsigned kind = (unsigned)(what >> 32);
			if (s && kind >= OP_SET && kind <= OP_DELETE &&
			    (!t || s < t))
				t = s;
		}
		tot.kills++;
		tot.kills_lock++;
		if (npending < MAX_PENDING_RECOV) {
			struct recov *r = &pending[npending++];
			r->t_kill = t ? t : now;
			r->t_seen = now;
			snprintf(r->point, sizeof r->point, "%s", ch->arm);
		}
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && stopping) {
		ch->pid = 0;
		return;
	} else if (!(stopping && killed9)) {
		char how[64];
		if (WIFSIGNALED(status))
			snprintf(how, sizeof how, "signal %d (%s)",
			         WTERMSIG(status), strsignal(WTERMSIG(status)));
		else
			snprintf(how, sizeof how, "exit code %d",
			         WEXITSTATUS(status));
		tot.crashes++;
		violation(&side->sd_errors, V_ERROR,
		          "child %u (pid %d%s%s) died: %s", idx, (int)ch->pid,
		          ch->arm[0] ? ", armed " : "", ch->arm, how);
	}
	ch->pid = 0;
	if (!stopping)
		spawn(idx, respawn_armed);
}

static int
child_of(pid_t pid)
{
	for (unsigned i = 0; i < cfg.nchildren; i++)
		if (children[i].pid == pid)
			return (int)i;
	return -1;
}

static void
reap_children(int stopping)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		int i = child_of(pid);
		if (i >= 0)
			handle_death((unsigned)i, status, stopping);
	}
}

static void
chaos_kill(void)
{
	unsigned idx = (unsigned)sup_below(&master_rng, cfg.nchildren);
	struct child *ch = &children[idx];
	int status;

	if (ch->pid <= 0)
		return;
	ch->kill_sent = 1;
	kill(ch->pid, SIGKILL);
	tot.kills++;
	tot.kills_master++;
	if (waitpid(ch->pid, &status, 0) == ch->pid)
		handle_death(idx, status, 0);
}

static void
settle_recoveries(int final)
{
	uint64_t now = sup_mono_ns();

	for (unsigned i = 0; i < npending;) {
		struct recov *r = &pending[i];
		uint64_t e = first_write_after(r->t_kill);
		/* wait a little after the first candidate for slower ring stores */
		if (e && (final || now - e > 20000000ull)) {
			uint64_t d = e - r->t_kill;
			tot.recoveries++;
			tot.recov_sum_ns += d;
			if (d > tot.recov_max_ns)
				tot.recov_max_ns = d;
			if (cfg.verbose)
				say("stress: writer killed in lock at %s: next write after %.3f ms",
				    r->point, (double)d / 1e6);
		} else if (!e &&
		           (final || now - r->t_seen > (uint64_t)cfg.stall_ms *
		                                               1000000ull)) {
			if (!final || now - r->t_seen > (uint64_t)cfg.stall_ms *
			                                        1000000ull) {
				tot.stalls_master++;
				violation(
				        &side->sd_stalls, V_STALL,
				        "no write succeeded for %.0f ms after a writer died "
				        "in the lock at %s",
				        (double)(now - r->t_kill) / 1e6,
				        r->point);
			}
		} else {
			i++;
			continue;
		}
		pending[i] = pending[--npending];
	}
}

struct totals {
	uint64_t ops, reads, hits, misses, writes, busy, max_ns, max_wns;
};

static void
sum_slots(struct totals *t)
{
	memset(t, 0, sizeof *t);
	for (unsigned i = 0; i < cfg.nthreads; i++) {
		struct tslot *ts = &side->sd_slot[i];
		t->ops +=
		        atomic_load_explicit(&ts->ts_ops, memory_order_relaxed);
		t->reads += atomic_load_explicit(&ts->ts_reads,
		                                 memory_order_relaxed);
		t->hits += atomic_load_explicit(&ts->ts_hits,
		                                memory_order_relaxed);
		t->misses += atomic_load_explicit(&ts->ts_misses,
		                                  memory_order_relaxed);
		t->writes += atomic_load_explicit(&ts->ts_writes,
		                                  memory_order_relaxed);
		t->busy += atomic_load_explicit(&ts->ts_busy,
		                                memory_order_relaxed);
		uint64_t m = atomic_load_explicit(&ts->ts_max_ns,
		                                  memory_order_relaxed);
		uint64_t mw = atomic_load_explicit(&ts->ts_max_wns,
		                                   memory_order_relaxed);
		if (m > t->max_ns)
			t->max_ns = m;
		if (mw > t->max_wns)
			t->max_wns = mw;
	}
}

/* Flag ops running past the bound (once each, shared with the worker's own
 * check through ts_claim). */
static void
watch_ops(uint64_t now)
{
	uint64_t bound = (uint64_t)cfg.op_bound_ms * 1000000ull;

	for (unsigned i = 0; i < cfg.nthreads; i++) {
		struct tslot *ts = &side->sd_slot[i];
		uint64_t s1 = atomic_load(&ts->ts_seq);
		uint64_t st = atomic_load(&ts->ts_start_ns);
		uint64_t what = atomic_load(&ts->ts_what);
		uint64_t s2 = atomic_load(&ts->ts_seq);
		if (s1 != s2 || !st || now < st || now - st <= bound)
			continue;
		uint64_t cl = atomic_load(&ts->ts_claim);
		if (cl == s1 ||
		    !atomic_compare_exchange_strong(&ts->ts_claim, &cl, s1))
			continue;
		tot.stalls_master++;
		violation(&side->sd_stalls, V_STALL,
		          "slot=%u pid=%" PRIu64
		          " %s key=%u running for %.0f ms (bound %u ms)",
		          i, atomic_load(&ts->ts_pid), op_names[what >> 32],
		          (unsigned)what, (double)(now - st) / 1e6,
		          cfg.op_bound_ms);
	}
}

static void
print_progress(FILE *f, double el, const struct totals *t,
               const struct totals *prev, double dt)
{
	fc_stats st;
	double hr = t->hits + t->misses ? 100.0 * (double)t->hits /
	                                          (double)(t->hits + t->misses)
	                                : 0;

	memset(&st, 0, sizeof st);
	fc_stat(cache, &st);
	fprintf(f,
	        "stress: [%4.0fs] ops/s=%.0f reads/s=%.0f writes/s=%.0f hit=%.1f%% kills=%" PRIu64
	        " (in-lock %" PRIu64 ") torn=%" PRIu64 " lost=%" PRIu64
	        " backwards=%" PRIu64 " stalls=%" PRIu64 " evictions=%" PRIu64
	        " repairs=%" PRIu64 " limbo=%" PRIu64 "\n",
	        el, (double)(t->ops - prev->ops) / dt,
	        (double)(t->reads - prev->reads) / dt,
	        (double)(t->writes - prev->writes) / dt, hr, tot.kills,
	        tot.kills_lock, atomic_load(&side->sd_torn),
	        atomic_load(&side->sd_lost_hard) +
	                (st.evictions ? 0 : atomic_load(&side->sd_lost_miss)),
	        atomic_load(&side->sd_backwards), atomic_load(&side->sd_stalls),
	        st.evictions, st.repairs, st.limbo);
	fflush(f);
}

/* ------------------------------------------------------- end of run -- */

struct vprint {
	uint64_t n;
};

static void
verify_cb(void *arg, const char *region, uint64_t off, const char *problem)
{
	struct vprint *vp = arg;

	if (vp->n++ < 20)
		say("stress: VERIFY %s @%" PRIu64 ": %s", region, off, problem);
}

/* Read every key once and check it against the log; misses of acked
 * durable writes go to lost_miss() (they count only without eviction). */
static void
final_check(uint64_t *checked)
{
	unsigned char *buf = malloc(cfg.vmax + 64);
	uint64_t now_ms = fc_now_ms();
	char key[FC_KEY_MAX];

	*checked = 0;
	if (!buf)
		return;
	for (uint32_t k = 0; k < cfg.nkeys; k++) {
		struct keyrec *kr = &keys[k];
		uint64_t a = atomic_load(&kr->kr_acked),
		         p = atomic_load(&kr->kr_pend);
		uint64_t f = atomic_load(&kr->kr_fuzz);
		size_t klen = make_key(k, key), vlen = cfg.vmax + 64;
		int rc = fc_get(cache, key, klen, buf, &vlen);

		(*checked)++;
		if (rc == FC_OK) {
			check_hit(NULL, k, buf, vlen, a, now_ms, "final");
		} else if (rc == FC_ENOTFOUND) {
			if (a && EFF(a) == EFF_DUR &&
			    !(p && EFF(p) != EFF_DUR) && !(f & FZ_MISS_OK)) {
				lost_miss(
				        "final key=%u: miss, but version %" PRIu64
				        " was acknowledged",
				        k, VER(a));
			}
		} else {
			violation(&side->sd_errors, V_ERROR,
			          "final fc_get key=%u: %s", k, fc_errname(rc));
		}
	}
	free(buf);
}

/*
 * Allocator accounting from fc_class_stat: every chunk of every page a
 * class owns is live, free or in limbo. Exact only for a class with no
 * limbo: a page being drained (slab.c A5) still counts in the class's
 * pages, but its chunks leave the free list, and it holds only limbo
 * chunks until it is freed. With limbo, only "too many" is certain.
 * Returns the chunks unaccounted.
 */
static uint64_t
class_leaks(const fc_stats *st)
{
	uint64_t leaks = 0, live = 0;

	for (unsigned i = 0; i < st->classes; i++) {
		fc_class_stats cs;
		if (fc_class_stat(cache, i, &cs) != FC_OK)
			continue;
		uint64_t all = cs.pages * cs.chunks_per_page;
		uint64_t acc =
		        cs.chunks_used + cs.chunks_limbo + cs.chunks_free;
		live += cs.chunks_used;
		if (cs.chunks_limbo == 0 ? all != acc : acc > all) {
			uint64_t d = all > acc ? all - acc : acc - all;
			leaks += d;
			say("stress: LEAK class %u (%u B): %" PRIu64
			    " pages x %u chunks = %" PRIu64
			    ", but live %" PRIu64 " + free %" PRIu64
			    " + limbo %" PRIu64 " = %" PRIu64,
			    i, cs.chunk_bytes, cs.pages, cs.chunks_per_page,
			    all, cs.chunks_used, cs.chunks_free,
			    cs.chunks_limbo, acc);
		}
	}
	if (live != st->items) {
		say("stress: LEAK items=%" PRIu64 " but classes hold %" PRIu64
		    " live chunks",
		    st->items, live);
		leaks += live > st->items ? live - st->items : st->items - live;
	}
	return leaks;
}

/* ------------------------------------------------------------ options -- */

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: forkcache-stress [options]\n"
	        "Run reader and writer processes on one forkcache segment, with SIGKILL chaos,\n"
	        "and check that nothing is torn, lost, going backwards, stuck or leaked.\n"
	        "\n"
	        "Workload:\n"
	        "  --seconds S            run time (default 10)\n"
	        "  --readers N            reader processes (default 4)\n"
	        "  --writers N            writer processes (default 2)\n"
	        "  --threads N            threads per process (default 1), sharing one handle\n"
	        "  --handle-per-thread    each thread fc_open()s a handle of its own\n"
	        "  --one-process          run all reader and writer threads in one child\n"
	        "  --keys N               key count (default 10000)\n"
	        "  --key-size MIN-MAX     key length in bytes (default 8-40)\n"
	        "  --value-size MIN-MAX   value length in bytes, MIN >= 40 (default 40-1024)\n"
	        "  --ttl-pct P            %% of writes with a short TTL (default 20)\n"
	        "  --ttl-ms MIN-MAX       short TTL range (default 100-2000)\n"
	        "  --write-pct P          %% of a writer's ops that write (default 80)\n"
	        "  --delete-pct P         %% of writes that delete (default 5)\n"
	        "  --cas-pct P            %% of writes done as gets+cas (default 5)\n"
	        "  --raw-pct P            %% of writes read back at once (default 10)\n"
	        "  --iter-every N         a reader walks the whole cache every N reads\n"
	        "                         (default 20000, 0 = never)\n"
	        "  --dist uniform|zipf[:S] key distribution (default uniform; zipf S=0.99)\n"
	        "Segment:\n"
	        "  --segment-mb N         segment size (default: sized so nothing is evicted)\n"
	        "  --page-kb N            slab page size (default: library default)\n"
	        "  --slots N              reader slots (default: 4 x threads + 64, >= 256)\n"
	        "  --name NAME            shm name (default /fcstress-<pid>)\n"
	        "  --file PATH            use a file-backed segment at PATH\n"
	        "  --keep                 do not unlink the segment at the end\n"
	        "Chaos:\n"
	        "  --kill-every MS        SIGKILL a random child every ~MS ms and respawn it\n"
	        "  --kill-writer-in-lock  writers respawned after a kill arm a random lock-held\n"
	        "                         fault point, dying inside the critical section\n"
	        "                         (needs --kill-every)\n"
	        "  --fault SPEC           arm every writer process with SPEC (point:nth:kill)\n"
	        "Watchdog and end:\n"
	        "  --zombie-leader        each child's main thread calls pthread_exit() once\n"
	        "                         its workers run (the group leader is a zombie)\n"
	        "  --no-fds               each child uses up its file descriptors after its\n"
	        "                         first read (every reaper runs at EMFILE)\n"
	        "  --fork-churn MS        each child forks every MS ms while threads that read\n"
	        "                         once come and go; a child hung 2 s is a stall\n"
	        "  --op-bound-ms MS       longest allowed single op (default 1000; ASan\n"
	        "                         builds 3000, TSan builds 10000)\n"
	        "  --stall-ms MS          longest allowed time with no op done (default twice\n"
	        "                         --op-bound-ms)\n"
	        "  --end kill|stop        end by SIGKILL (default) or by asking children to stop\n"
	        "Output:\n"
	        "  --seed N               seed (default: from the clock); printed on line 1\n"
	        "  --progress             progress line every second even if not a terminal\n"
	        "  --no-progress          never print progress\n"
	        "  --json                 print the summary as one JSON object on stdout\n"
	        "  -v, --verbose          print each in-lock kill and its recovery\n"
	        "Self-test:\n"
	        "  --inject KIND          harness-side fault every 2000th write of each writer:\n"
	        "                         torn|lost|backwards|stall (the run must then FAIL)\n"
	        "  -h, --help             this text\n"
	        "Exit: 0 every check passed, 1 a violation or setup failure, 2 usage error.\n");
}

static void
bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "forkcache-stress: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'forkcache-stress --help'.\n");
	exit(2);
}

static uint64_t
num(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);

	if (!s[0] || *end || errno || s[0] == '-' || v < lo || v > hi) {
		char m[160];
		snprintf(m, sizeof m,
		         "%s: '%%s' is not a number in %" PRIu64 "..%" PRIu64,
		         opt, lo, hi);
		bad(m, s);
	}
	return v;
}

static void
range(const char *opt, const char *s, unsigned *a, unsigned *b, uint64_t lo,
      uint64_t hi)
{
	char tmp[64], m[160];
	const char *dash = strchr(s, '-');

	if (!dash || strlen(s) >= sizeof tmp) {
		snprintf(m, sizeof m, "%s: '%%s' is not MIN-MAX", opt);
		bad(m, s);
	}
	memcpy(tmp, s, (size_t)(dash - s));
	tmp[dash - s] = 0;
	*a = (unsigned)num(opt, tmp, lo, hi);
	*b = (unsigned)num(opt, dash + 1, lo, hi);
	if (*a > *b) {
		snprintf(m, sizeof m, "%s: '%%s': MIN is above MAX", opt);
		bad(m, s);
	}
}

/* Canonical command line (for the rerun hint). */
static char rerun[2048];

static void
parse(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char *v = NULL;
#define ARG()                                                                  \
	do {                                                                   \
		if (i + 1 >= argc)                                             \
			bad("%s needs a value", o);                            \
		v = argv[++i];                                                 \
	} while (0)
		if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(o, "--seconds")) {
			ARG();
			char *end;
			cfg.seconds = strtod(v, &end);
			if (*end || !(cfg.seconds > 0) || cfg.seconds > 1e6)
				bad("--seconds: '%s' is not a positive number",
				    v);
		} else if (!strcmp(o, "--readers")) {
			ARG();
			cfg.readers = (unsigned)num(o, v, 0, MAX_CHILDREN);
		} else if (!strcmp(o, "--writers")) {
			ARG();
			cfg.writers = (unsigned)num(o, v, 0, MAX_CHILDREN);
		} else if (!strcmp(o, "--threads")) {
			ARG();
			cfg.threads = (unsigned)num(o, v, 1, MAX_THREADS);
		} else if (!strcmp(o, "--handle-per-thread")) {
			cfg.handle_per_thread = 1;
		} else if (!strcmp(o, "--one-process")) {
			cfg.one_process = 1;
		} else if (!strcmp(o, "--keys")) {
			ARG();
			cfg.nkeys = (uint32_t)num(o, v, 1, 100000000);
		} else if (!strcmp(o, "--key-size")) {
			ARG();
			range(o, v, &cfg.kmin, &cfg.kmax, 1, FC_KEY_MAX);
		} else if (!strcmp(o, "--value-size")) {
			ARG();
			range(o, v, &cfg.vmin, &cfg.vmax, VAL_HDR,
			      FC_VALUE_MAX);
		} else if (!strcmp(o, "--ttl-pct")) {
			ARG();
			cfg.ttl_pct = (unsigned)num(o, v, 0, 100);
		} else if (!strcmp(o, "--ttl-ms")) {
			ARG();
			range(o, v, &cfg.ttl_min, &cfg.ttl_max, 1, 86400000);
		} else if (!strcmp(o, "--write-pct")) {
			ARG();
			cfg.write_pct = (unsigned)num(o, v, 0, 100);
		} else if (!strcmp(o, "--delete-pct")) {
			ARG();
			cfg.delete_pct = (unsigned)num(o, v, 0, 100);
		} else if (!strcmp(o, "--cas-pct")) {
			ARG();
			cfg.cas_pct = (unsigned)num(o, v, 0, 100);
		} else if (!strcmp(o, "--raw-pct")) {
			ARG();
			cfg.raw_pct = (unsigned)num(o, v, 0, 100);
		} else if (!strcmp(o, "--iter-every")) {
			ARG();
			cfg.iter_every = (unsigned)num(o, v, 0, 1000000000);
		} else if (!strcmp(o, "--dist")) {
			ARG();
			if (!strcmp(v, "uniform")) {
				cfg.zipf = 0;
			} else if (!strncmp(v, "zipf", 4) &&
			           (v[4] == 0 || v[4] == ':')) {
				cfg.zipf = 1;
				if (v[4] == ':') {
					char *end;
					cfg.zipf_s = strtod(v + 5, &end);
					if (*end || !(cfg.zipf_s > 0) ||
					    cfg.zipf_s > 5)
						bad("--dist: bad zipf exponent in '%s'",
						    v);
				}
			} else {
				bad("--dist: '%s' is not uniform or zipf[:S]",
				    v);
			}
		} else if (!strcmp(o, "--segment-mb")) {
			ARG();
			cfg.segment_mb = num(o, v, FC_SEGMENT_MIN >> 20, FC_SEGMENT_MAX >> 20);
		} else if (!strcmp(o, "--page-kb")) {
			ARG();
			cfg.page_kb = (unsigned)num(o, v, FC_PAGE_MIN >> 10, FC_PAGE_MAX >> 10);
		} else if (!strcmp(o, "--slots")) {
			ARG();
			cfg.slots = (unsigned)num(o, v, 1, FC_SLOTS_MAX);
		} else if (!strcmp(o, "--name")) {
			ARG();
			cfg.name = v;
		} else if (!strcmp(o, "--file")) {
			ARG();
			cfg.name = v;
			cfg.file = 1;
		} else if (!strcmp(o, "--keep")) {
			cfg.keep = 1;
		} else if (!strcmp(o, "--kill-every")) {
			ARG();
			cfg.kill_every_ms = (unsigned)num(o, v, 1, 3600000);
		} else if (!strcmp(o, "--kill-writer-in-lock")) {
			cfg.kill_in_lock = 1;
		} else if (!strcmp(o, "--fault")) {
			ARG();
			cfg.fault_spec = v;
		} else if (!strcmp(o, "--zombie-leader")) {
			cfg.zombie_leader = 1;
		} else if (!strcmp(o, "--no-fds")) {
			cfg.no_fds = 1;
		} else if (!strcmp(o, "--fork-churn")) {
			ARG();
			cfg.fork_churn_ms = (unsigned)num(o, v, 1, 60000);
		} else if (!strcmp(o, "--op-bound-ms")) {
			ARG();
			cfg.op_bound_ms = (unsigned)num(o, v, 1, 3600000);
		} else if (!strcmp(o, "--stall-ms")) {
			ARG();
			cfg.stall_ms = (unsigned)num(o, v, 10, 3600000);
		} else if (!strcmp(o, "--end")) {
			ARG();
			if (!strcmp(v, "kill"))
				cfg.end_mode = END_KILL;
			else if (!strcmp(v, "stop"))
				cfg.end_mode = END_STOP;
			else
				bad("--end: '%s' is not kill or stop", v);
		} else if (!strcmp(o, "--seed")) {
			ARG();
			cfg.seed = num(o, v, 0, UINT64_MAX);
			cfg.seed_given = 1;
		} else if (!strcmp(o, "--progress")) {
			cfg.progress = 1;
		} else if (!strcmp(o, "--no-progress")) {
			cfg.progress = 0;
		} else if (!strcmp(o, "--json")) {
			cfg.json = 1;
		} else if (!strcmp(o, "--inject")) {
			ARG();
			if (!strcmp(v, "torn"))
				cfg.inject = INJ_TORN;
			else if (!strcmp(v, "lost"))
				cfg.inject = INJ_LOST;
			else if (!strcmp(v, "backwards"))
				cfg.inject = INJ_BACKWARDS;
			else if (!strcmp(v, "stall"))
				cfg.inject = INJ_STALL;
			else
				bad("--inject: '%s' is not torn, lost, backwards or stall",
				    v);
		} else if (!strcmp(o, "-v") || !strcmp(o, "--verbose")) {
			cfg.verbose = 1;
		} else {
			bad("unknown option '%s'", o);
		}
#undef ARG
	}
	if (cfg.readers + cfg.writers == 0)
		bad("%s", "need at least one reader or writer");
	if (cfg.writers == 0 && cfg.readers)
		cfg.write_pct = 0;
	if (cfg.kill_in_lock && !cfg.kill_every_ms)
		bad("%s", "--kill-writer-in-lock needs --kill-every");
	if (cfg.zombie_leader && cfg.fork_churn_ms)
		bad("%s", "--zombie-leader and --fork-churn both need the main thread");
	if (cfg.no_fds && cfg.fork_churn_ms)
		bad("%s", "--no-fds and --fork-churn: a forked child needs a descriptor of its own");
	if (cfg.no_fds && cfg.handle_per_thread)
		bad("%s", "--no-fds cannot be combined with --handle-per-thread (fc_open needs a descriptor)");
	if (cfg.delete_pct + cfg.cas_pct > 100)
		bad("%s", "--delete-pct plus --cas-pct exceeds 100");
	if (cfg.fault_spec && fc__fault_arm_spec(cfg.fault_spec) != 0)
		bad("--fault: '%s' is not point:nth:kill with a known point",
		    cfg.fault_spec);
	fc__fault_disarm();
	cfg.wids = cfg.writers * cfg.threads;
	cfg.nthreads = (cfg.readers + cfg.writers) * cfg.threads;
	if (cfg.nthreads > MAX_THREADS)
		bad("%s",
		    "too many threads in all (readers+writers) x threads > 1024");
	if (cfg.wids == 0)
		cfg.wids =
		        1; /* values still name writer 0: readers see only misses */
	if (cfg.nkeys < cfg.wids)
		bad("%s", "--keys must be at least writers x threads");
	cfg.nchildren = cfg.one_process ? 1 : cfg.readers + cfg.writers;
#ifdef FC_TSAN
	/*
	 * TSan sees the threads of one process only. With two threads in a
	 * process and another process writing, a chunk freed by thread A,
	 * then reused and published by the other process and read by thread
	 * B, looks like a race between A and B: the synchronization went
	 * through the other process. Such reports are false, so refuse.
	 */
	if (cfg.threads > 1 && cfg.nchildren > 1 && cfg.writers > 0)
		bad("%s",
		    "a TSan build needs --one-process when --threads > 1: TSan cannot see "
		    "synchronization through other processes and would report false races");
#endif
	if (!cfg.seed_given)
		cfg.seed = sup_mix64(sup_mono_ns() ^ ((uint64_t)getpid() << 32));

	/* rerun hint: the options that matter, with the seed */
	char *p = rerun;
	size_t left = sizeof rerun;
	int n = snprintf(
	        p, left,
	        "forkcache-stress --seconds %g --readers %u --writers %u --threads %u"
	        "%s%s --keys %u --key-size %u-%u --value-size %u-%u --ttl-pct %u"
	        " --ttl-ms %u-%u --write-pct %u --delete-pct %u --cas-pct %u"
	        " --raw-pct %u --iter-every %u --dist %s",
	        cfg.seconds, cfg.readers, cfg.writers, cfg.threads,
	        cfg.handle_per_thread ? " --handle-per-thread" : "",
	        cfg.one_process ? " --one-process" : "", cfg.nkeys, cfg.kmin,
	        cfg.kmax, cfg.vmin, cfg.vmax, cfg.ttl_pct, cfg.ttl_min,
	        cfg.ttl_max, cfg.write_pct, cfg.delete_pct, cfg.cas_pct,
	        cfg.raw_pct, cfg.iter_every, cfg.zipf ? "zipf" : "uniform");
	p += n, left -= (size_t)n;
	if (cfg.zipf)
		n = snprintf(p, left, ":%g", cfg.zipf_s), p += n,
		left -= (size_t)n;
	if (cfg.segment_mb)
		n = snprintf(p, left, " --segment-mb %" PRIu64, cfg.segment_mb),
		p += n, left -= (size_t)n;
	if (cfg.page_kb)
		n = snprintf(p, left, " --page-kb %u", cfg.page_kb), p += n,
		left -= (size_t)n;
	if (cfg.slots)
		n = snprintf(p, left, " --slots %u", cfg.slots), p += n,
		left -= (size_t)n;
	if (cfg.zombie_leader)
		n = snprintf(p, left, " --zombie-leader"), p += n, left -= (size_t)n;
	if (cfg.no_fds)
		n = snprintf(p, left, " --no-fds"), p += n, left -= (size_t)n;
	if (cfg.fork_churn_ms)
		n = snprintf(p, left, " --fork-churn %u", cfg.fork_churn_ms), p += n,
		left -= (size_t)n;
	if (cfg.kill_every_ms)
		n = snprintf(p, left, " --kill-every %u", cfg.kill_every_ms),
		p += n, left -= (size_t)n;
	if (cfg.kill_in_lock)
		n = snprintf(p, left, " --kill-writer-in-lock"), p += n,
		left -= (size_t)n;
	if (cfg.fault_spec)
		n = snprintf(p, left, " --fault %s", cfg.fault_spec), p += n,
		left -= (size_t)n;
	if (cfg.inject) {
		static const char *const inj[] = {"", "torn", "lost",
		                                  "backwards", "stall"};
		n = snprintf(p, left, " --inject %s", inj[cfg.inject]), p += n,
		left -= (size_t)n;
	}
	snprintf(p, left,
	         " --op-bound-ms %u --stall-ms %u --end %s --seed %" PRIu64,
	         cfg.op_bound_ms, cfg.stall_ms,
	         cfg.end_mode == END_KILL ? "kill" : "stop", cfg.seed);
}

/* Segment size that holds every key at its largest with room for limbo and
 * one partly filled page per class, so nothing is evicted. */
static uint64_t
auto_segment_bytes(uint64_t page)
{
	uint64_t chunk = (24 + cfg.kmax + 16 + cfg.vmax) * 5 / 4 + 8;
	uint64_t data = (uint64_t)cfg.nkeys * chunk * 2;
	unsigned classes = 0;
	for (double s = 64; s < (double)chunk * 1.25; s *= 1.25)
		classes++;
	uint64_t need = data + (uint64_t)(classes + 4) * page * 2;
	need += need / 2 +
	        (uint64_t)cfg.nkeys * 64; /* index, slots, limbo ring */
	uint64_t mb = (need + (1u << 20) - 1) >> 20;
	if (mb < 16)
		mb = 16;
	return mb << 20;
}

/* ---------------------------------------------------------------- main -- */

int
main(int argc, char **argv)
{
	FILE *out;
	fc_options o;
	int rc;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--lease") == 0)
			return fc_stress_lease(argc, argv); /* stress/lease.c */
	parse(argc, argv);
	master_pid = getpid();
	master_rng = sup_mix64(cfg.seed ^ 0x5EED);
	out = cfg.json ? stderr : stdout;
	if (cfg.progress < 0)
		cfg.progress = isatty(cfg.json ? STDERR_FILENO : STDOUT_FILENO);
	unsetenv("FC_FAULT"); /* chaos is armed by the options, not inherited */

	if (cfg.name)
		snprintf(cfg.segname, sizeof cfg.segname, "%s", cfg.name);
	else
		snprintf(cfg.segname, sizeof cfg.segname, "/fcstress-%d",
		         (int)master_pid);

	/* side mapping: header, then the key log */
	size_t kbytes = (size_t)cfg.nkeys * sizeof(struct keyrec);
	side_bytes = sizeof(struct side) + kbytes;
	void *m = mmap(NULL, side_bytes, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		fprintf(stderr, "forkcache-stress: mmap side mapping: %s\n",
		        strerror(errno));
		return 1;
	}
	side = m;
	keys = (struct keyrec *)((char *)m + sizeof(struct side));
	for (unsigned i = 0; i < V_NKINDS; i++)
		atomic_store(&side->sd_detail_left[i], DETAIL_LINES);

	if (cfg.zipf) {
		zipf_cdf = sup_zipf_cdf(cfg.nkeys, cfg.zipf_s);
		if (!zipf_cdf)
			return 1;
	}

	fc_options_init(&o);
	uint64_t page =
	        cfg.page_kb ? (uint64_t)cfg.page_kb << 10 : o.page_bytes;
	o.flags = FC_CREATE | FC_EXCL | (cfg.file ? FC_FILE : 0);
	if (!cfg.segment_mb && !cfg.page_kb) {
		/* the library picks the page from the segment size (0 = auto,
		 * fc_page_bytes_auto) and the segment we ask for depends on the
		 * page: iterate to a fixed point. */
		page = FC_PAGE_MIN;
		for (int i = 0; i < 8; i++)
			page = fc_page_bytes_auto(auto_segment_bytes(page));
	}
	o.segment_bytes = cfg.segment_mb ? cfg.segment_mb << 20
	                                 : auto_segment_bytes(page);
	if (cfg.page_kb)
		o.page_bytes = cfg.page_kb << 10;
	o.reader_slots = cfg.slots ? cfg.slots : cfg.nthreads * 4 + 64;
	if (!cfg.slots && o.reader_slots < 256)
		o.reader_slots = 256;
	uint64_t avg =
	        24 + (cfg.kmin + cfg.kmax) / 2 + (cfg.vmin + cfg.vmax) / 2;
	o.avg_item_bytes = (uint32_t)(avg < 32 ? 32 : avg);
	fc_unlink(cfg.segname,
	          cfg.file ? FC_FILE : 0); /* leftovers of an old run */
	if ((rc = fc_open(cfg.segname, &o, &cache)) != FC_OK) {
		fprintf(stderr, "forkcache-stress: fc_open %s: %s: %s\n",
		        cfg.segname, fc_errname(rc), fc_strerror(rc));
		return 1;
	}
	fc_stats st0;
	fc_stat(cache, &st0);

	fprintf(out,
	        "stress: config seconds=%g readers=%u writers=%u threads=%u%s%s keys=%u "
	        "key=%u-%uB value=%u-%uB ttl=%u%%:%u-%ums write=%u%% delete=%u%% cas=%u%% "
	        "dist=%s segment=%s size=%" PRIu64 "MiB page=%" PRIu64
	        "KiB slots=%u "
	        "kill-every=%ums in-lock=%s seed=%" PRIu64 " rerun: %s\n",
	        cfg.seconds, cfg.readers, cfg.writers, cfg.threads,
	        cfg.handle_per_thread ? " handle-per-thread" : "",
	        cfg.one_process ? " one-process" : "", cfg.nkeys, cfg.kmin,
	        cfg.kmax, cfg.vmin, cfg.vmax, cfg.ttl_pct, cfg.ttl_min,
	        cfg.ttl_max, cfg.write_pct, cfg.delete_pct, cfg.cas_pct,
	        cfg.zipf ? "zipf" : "uniform", cfg.segname,
	        st0.segment_bytes >> 20, st0.page_bytes >> 10, o.reader_slots,
	        cfg.kill_every_ms, cfg.kill_in_lock ? "yes" : "no", cfg.seed,
	        rerun);
	fflush(out);

	/* children: slots and writer ids */
	if (cfg.one_process) {
		struct child *ch = &children[0];
		ch->first_slot = 0;
		ch->nthreads = cfg.nthreads;
		ch->nreaders = cfg.readers * cfg.threads;
		ch->first_wid = 0;
		ch->has_writers = cfg.writers > 0;
	} else {
		for (unsigned i = 0; i < cfg.nchildren; i++) {
			struct child *ch = &children[i];
			int wr = i >= cfg.readers;
			ch->first_slot = i * cfg.threads;
			ch->nthreads = cfg.threads;
			ch->nreaders = wr ? 0 : cfg.threads;
			ch->first_wid =
			        wr ? (i - cfg.readers) * cfg.threads : 0;
			ch->has_writers = wr;
		}
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	uint64_t t_start = sup_mono_ns();
	for (unsigned i = 0; i < cfg.nchildren; i++)
		if (spawn(i, 0) != 0)
			return 1;

	uint64_t t_end = t_start + (uint64_t)(cfg.seconds * 1e9);
	uint64_t next_kill =
	        cfg.kill_every_ms
	                ? t_start + (uint64_t)((double)cfg.kill_every_ms * 1e6 *
	                                       (0.5 + sup_unit(&master_rng)))
	                : UINT64_MAX;
	uint64_t next_progress = t_start + 1000000000ull,
	         last_progress_t = t_start;
	uint64_t last_ops = 0, last_change = t_start;
	int in_stall = 0;
	struct totals t, prev;
	memset(&prev, 0, sizeof prev);

	for (;;) {
		struct timespec ts = {0, TICK_MS * 1000000L};
		nanosleep(&ts, NULL);
		uint64_t now = sup_mono_ns();
		if (now >= t_end || interrupted)
			break;
		reap_children(0);
		if (now >= next_kill) {
			chaos_kill();
			next_kill = now +
			            (uint64_t)((double)cfg.kill_every_ms * 1e6 *
			                       (0.5 + sup_unit(&master_rng)));
		}
		now = sup_mono_ns();
		settle_recoveries(0);
		watch_ops(now);
		sum_slots(&t);
		if (t.ops != last_ops) {
			last_ops = t.ops;
			last_change = now;
			in_stall = 0;
		} else if (!in_stall &&
		           now - last_change >
		                   (uint64_t)cfg.stall_ms * 1000000ull) {
			in_stall = 1;
			tot.stalls_master++;
			violation(&side->sd_stalls, V_STALL,
			          "no operation completed for %u ms",
			          cfg.stall_ms);
		}
		if (now >= next_progress) {
			if (cfg.progress)
				print_progress(
				        out, (double)(now - t_start) / 1e9, &t,
				        &prev,
				        (double)(now - last_progress_t) / 1e9);
			prev = t;
			last_progress_t = now;
			next_progress += 1000000000ull;
		}
	}
	double elapsed = (double)(sup_mono_ns() - t_start) / 1e9;

	/* ---- end of run: stop or kill every child ---- */
	atomic_store(&side->sd_stop, 1);
	if (cfg.end_mode == END_STOP) {
		uint64_t dl = sup_mono_ns() +
		              (uint64_t)(cfg.op_bound_ms + 2000) * 1000000ull;
		for (;;) {
			reap_children(1);
			unsigned alive = 0;
			for (unsigned i = 0; i < cfg.nchildren; i++)
				alive += children[i].pid > 0;
			if (!alive || sup_mono_ns() > dl)
				break;
			struct timespec ts = {0, 2000000L};
			nanosleep(&ts, NULL);
		}
		for (unsigned i = 0; i < cfg.nchildren; i++)
			if (children[i].pid > 0) {
				violation(
				        &side->sd_stalls, V_STALL,
				        "child %u (pid %d) did not stop when asked",
				        i, (int)children[i].pid);
				tot.stalls_master++;
			}
	}
	for (unsigned i = 0; i < cfg.nchildren; i++)
		if (children[i].pid > 0)
			kill(children[i].pid, SIGKILL);
	for (unsigned i = 0; i < cfg.nchildren; i++) {
		int status;
		if (children[i].pid > 0 &&
		    waitpid(children[i].pid, &status, 0) > 0)
			handle_death(i, status, 1);
	}
	settle_recoveries(1);
	sum_slots(&t);

	/* ---- post-run checks ---- */
	fc_stats before, st;
	fc_stat(cache, &before);
	int reaped = fc_reap(cache);
	if (reaped < 0)
		violation(&side->sd_errors, V_ERROR, "fc_reap: %s",
		          fc_errname(reaped));
	fc_stat(cache, &st);
	uint64_t slot_leaks = st.readers_live + st.readers_dead;
	if (slot_leaks)
		say("stress: LEAK reader slots after reaping: live=%" PRIu64
		    " dead=%" PRIu64 " (reaped %d, dead before %" PRIu64 ")",
		    st.readers_live, st.readers_dead, reaped,
		    before.readers_dead);

	struct vprint vp = {0};
	int64_t vr = fc_verify(cache, FC_VERIFY_LOCK, verify_cb, &vp);
	uint64_t verify_problems = vr < 0 ? 1 : (uint64_t)vr;
	if (vr < 0)
		say("stress: VERIFY fc_verify failed: %s", fc_errname((int)vr));
	fc_stat(cache, &st);
	uint64_t leaks = slot_leaks + class_leaks(&st);

	uint64_t checked = 0;
	final_check(&checked);
	uint64_t evictions = st.evictions;
	uint64_t lost_hard = atomic_load(&side->sd_lost_hard);
	uint64_t lost_miss = atomic_load(&side->sd_lost_miss);
	int lost_skipped = evictions > 0;
	uint64_t lost = lost_hard + (lost_skipped ? 0 : lost_miss);
	if (!lost_skipped)
		for (uint64_t i = 0; i < lost_miss && i < MISS_EXAMPLES; i++)
			say("stress: LOST %s", side->sd_miss_ex[i]);
	if (lost_skipped)
		fprintf(out,
		        "stress: note: %" PRIu64
		        " evictions, so a missing item may have been "
		        "evicted: the check for missing acknowledged writes was skipped (%" PRIu64
		        " misses ignored); versions going back are still checked\n",
		        evictions, lost_miss);

	fc_close(cache);
	if (!cfg.keep)
		fc_unlink(cfg.segname, cfg.file ? FC_FILE : 0);

	uint64_t torn = atomic_load(&side->sd_torn);
	uint64_t backwards = atomic_load(&side->sd_backwards);
	uint64_t stalls = atomic_load(&side->sd_stalls);
	uint64_t stale = atomic_load(&side->sd_stale);
	uint64_t errors = atomic_load(&side->sd_errors);
	int pass = !torn && !lost && !backwards && !stalls &&
	           !verify_problems && !leaks && !stale && !errors;
	double max_rec_ms = (double)tot.recov_max_ns / 1e6;
	double mean_rec_ms = tot.recoveries ? (double)tot.recov_sum_ns / 1e6 /
	                                              (double)tot.recoveries
	                                    : 0;
	double hr = t.hits + t.misses
	                    ? (double)t.hits / (double)(t.hits + t.misses)
	                    : 0;
	for (unsigned i = 0; i < V_NKINDS; i++) {
		int64_t dl = atomic_load(&side->sd_detail_left[i]);
		if (dl < 0)
			fprintf(out,
			        "stress: %" PRId64
			        " more %s lines were not printed\n",
			        -dl, vkind_names[i]);
	}

	fprintf(out,
	        "stress: totals elapsed=%.1fs ops/s=%.0f reads=%" PRIu64
	        " hit=%.1f%% writes=%" PRIu64 " busy=%" PRIu64
	        " iter_items=%" PRIu64 " kills=%" PRIu64 " (master %" PRIu64
	        ", in-lock %" PRIu64 ", recovered %" PRIu64
	        ", mean %.2f ms) crashes=%" PRIu64
	        " max_op_ms=%.1f max_write_ms=%.1f evictions=%" PRIu64
	        " expired=%" PRIu64 " repairs=%" PRIu64 " rebuilds=%" PRIu64
	        " reclaim_waits=%" PRIu64 " reaped=%d items=%" PRIu64
	        " keys_checked=%" PRIu64 "\n",
	        elapsed, (double)t.ops / elapsed, t.reads, 100 * hr, t.writes,
	        t.busy, (uint64_t)atomic_load(&side->sd_iter_items), tot.kills,
	        tot.kills_master, tot.kills_lock, tot.recoveries, mean_rec_ms,
	        tot.crashes, (double)t.max_ns / 1e6, (double)t.max_wns / 1e6,
	        evictions, st.expired, st.repairs, st.index_rebuilds,
	        st.reclaim_waits, reaped, st.items, checked);

	/* the summary line; errors= and stale= appear only when nonzero */
	char extra[96] = "";
	if (errors)
		snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
		         "errors=%" PRIu64 " ", errors);
	if (stale)
		snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
		         "stale=%" PRIu64 " ", stale);
	fprintf(out,
	        "stress: seconds=%g procs=%u ops=%" PRIu64 " torn=%" PRIu64
	        " lost=%" PRIu64 " backwards=%" PRIu64 " stalls=%" PRIu64
	        " kills=%" PRIu64
	        " max_recovery_ms=%.1f verify=%s leaks=%" PRIu64
	        " %sresult=%s\n",
	        cfg.seconds, cfg.nchildren, t.ops, torn, lost, backwards,
	        stalls, tot.kills, max_rec_ms, verify_problems ? "fail" : "ok",
	        leaks, extra, pass ? "PASS" : "FAIL");
	fflush(out);

	if (cfg.json) {
		printf("{\"seconds\":%g,\"elapsed\":%.3f,\"procs\":%u,\"threads\":%u,"
		       "\"ops\":%" PRIu64 ",\"reads\":%" PRIu64
		       ",\"hits\":%" PRIu64 ",\"misses\":%" PRIu64
		       ",\"hit_ratio\":%.4f,\"writes\":%" PRIu64
		       ",\"busy\":%" PRIu64 ",\"torn\":%" PRIu64
		       ",\"lost\":%" PRIu64
		       ",\"lost_check_skipped\":%s,\"lost_misses_ignored\":%" PRIu64
		       ",\"backwards\":%" PRIu64 ",\"stalls\":%" PRIu64
		       ",\"stale\":%" PRIu64 ",\"errors\":%" PRIu64
		       ",\"kills\":%" PRIu64 ",\"kills_master\":%" PRIu64
		       ",\"kills_in_lock\":%" PRIu64 ",\"recoveries\":%" PRIu64
		       ",\"max_recovery_ms\":%.3f,\"mean_recovery_ms\":%.3f,\"crashes\":%" PRIu64
		       ",\"max_op_ms\":%.3f,\"max_write_ms\":%.3f,\"verify\":\"%s\","
		       "\"verify_problems\":%" PRIu64 ",\"leaks\":%" PRIu64
		       ",\"evictions\":%" PRIu64 ",\"expired\":%" PRIu64
		       ",\"repairs\":%" PRIu64 ",\"reaped\":%d,"
		       "\"items\":%" PRIu64 ",\"seed\":%" PRIu64
		       ",\"result\":\"%s\"}\n",
		       cfg.seconds, elapsed, cfg.nchildren, cfg.threads, t.ops,
		       t.reads, t.hits, t.misses, hr, t.writes, t.busy, torn,
		       lost, lost_skipped ? "true" : "false",
		       lost_skipped ? lost_miss : 0, backwards, stalls, stale,
		       errors, tot.kills, tot.kills_master, tot.kills_lock,
		       tot.recoveries, max_rec_ms, mean_rec_ms, tot.crashes,
		       (double)t.max_ns / 1e6, (double)t.max_wns / 1e6,
		       verify_problems ? "fail" : "ok", verify_problems, leaks,
		       evictions, st.expired, st.repairs, reaped, st.items,
		       cfg.seed, pass ? "PASS" : "FAIL");
		fflush(stdout);
	}
	free(zipf_cdf);
	munmap(side, side_bytes);
	return pass ? 0 : 1;
}
