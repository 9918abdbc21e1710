/*
 * stress.h - what the files of forkcache-stress share: limits, the
 * configuration, the side mapping (key log, per-thread counters, the
 * write-completion ring), the worker and child records, and each file's
 * exported calls. The harness's design: stress_main.c.
 *
 * BEGIN MODULE ORDER (top calls down; scripts/check-deps.sh)
 *   stress_main    main(): set-up, the run, the checks, the report
 *   lease          --lease: the lease (single-flight) stress mode
 *   stress_master  children, chaos kills, recovery times, watchdog, run loop
 *   stress_worker  reader/writer threads and a child process's main
 *   stress_check   keys, self-checking values, key-log checks, final checks
 *   stress_report  say(), violations, counters, progress and final report
 *   stress_opts    options, usage, sizing, and the shared state
 * END MODULE ORDER
 */
#ifndef FC_STRESS_H
#define FC_STRESS_H

#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "forkcache.h"

/* ------------------------------------------------------------ config -- */

#define VAL_HDR 40u /* bytes of struct vhdr */
#define VAL_MAGIC 0x56534346u /* "FCSV" */
#define MAX_THREADS 1024u /* worker threads in all; slots in the side map */
#define MAX_CHILDREN 512u
#define RING_BITS 16u /* write-completion ring: 64 Ki entries */
#define RING_SIZE (1u << RING_BITS)
#define DETAIL_LINES 20 /* lines printed per kind of violation */
#define MISS_EXAMPLES 8 /* tentative lost misses kept for the end */
#define TICK_MS 5 /* master loop period */
#define DURABLE_TTL_MS \
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

enum role { ROLE_READER = 0,
	    ROLE_WRITER = 1 };
enum end_mode { END_KILL = 0,
		END_STOP = 1 };
/* --inject: a deliberate harness-side fault, to show each check can fire */
enum inject { INJ_NONE = 0,
	      INJ_TORN,
	      INJ_LOST,
	      INJ_BACKWARDS,
	      INJ_STALL };
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
	unsigned page_kb; /* 0 = library default */
	unsigned slots; /* 0 = auto */
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
	int zombie_leader; /* child main threads pthread_exit() */
	int no_fds; /* children run out of descriptors */
	unsigned fork_churn_ms; /* children fork while their threads churn */
	/* derived */
	unsigned wids; /* writer ids = writers * threads */
	unsigned nthreads; /* worker threads in all */
	unsigned nchildren;
	char segname[4096];
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
#define FZ_UNSURE 1u /* an op of unknown outcome happened since the ack */
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
	_Atomic uint64_t ts_seq; /* op sequence number */
	_Atomic uint64_t ts_start_ns; /* start of the op in flight; 0 idle */
	_Atomic uint64_t ts_what; /* kind << 32 | key of the op in flight */
	_Atomic uint64_t ts_claim; /* seq of the last op counted as a stall */
	_Atomic uint64_t ts_max_ns; /* longest op */
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

struct worker {
	fc_cache *c;
	int role;
	unsigned slot;
	unsigned wid; /* writer id (writers only) */
	struct tslot *ts;
	uint64_t rng;
	uint64_t *last; /* last version seen per key (process-local) */
	unsigned char *buf; /* read buffer */
	unsigned char *vbuf; /* value being written */
	size_t cap;
	uint64_t seq;
	uint64_t reads_since_iter;
	uint64_t nwrites;
	pthread_t th;
};

struct child {
	pid_t pid;
	unsigned first_slot, nthreads;
	unsigned nreaders; /* threads 0..nreaders-1 read, the rest write */
	unsigned first_wid;
	int has_writers;
	int kill_sent; /* the master SIGKILLed it */
	char arm[96]; /* fault spec armed at start, "" none */
	unsigned spawns;
};

struct recov {
	uint64_t t_kill; /* start of the dead writer's fatal op */
	uint64_t t_seen; /* when the master saw the death */
	char point[96];
};

struct totals {
	uint64_t ops, reads, hits, misses, writes, busy, max_ns, max_wns;
};

/* A value's header: every value checks itself (stress_check.c). */
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

/* fc_verify's callback state (stress_check.c verify_cb). */
struct vprint {
	uint64_t n;
};

/* What the checks after the run found (stress_check.c post_run_checks),
 * for the report (stress_report.c report_final). */
struct outcome {
	fc_stats st; /* after reaping and verifying */
	int reaped; /* fc_reap's answer */
	uint64_t checked; /* keys read back */
	uint64_t verify_problems; /* fc_verify's count (1 if it failed) */
	uint64_t leaks; /* reader slots and chunks left over */
	uint64_t lost, lost_miss; /* lost writes; misses among them */
	int lost_skipped; /* evictions: misses were not counted */
};

/* Master-only counters (the master process writes and reads them). */
struct master_tot {
	uint64_t kills, kills_master, kills_lock, crashes;
	uint64_t recoveries, recov_sum_ns, recov_max_ns;
	uint64_t stalls_master;
};

/* stress_opts.c: the configuration and the shared state */
extern struct config cfg;
extern struct side *side;
extern struct keyrec *keys;
extern size_t side_bytes;
extern fc_cache *cache;
extern double *zipf_cdf;
extern char rerun[2048];
/* stress_opts.c: the master's state (stress_master.c writes it) */
extern struct child children[MAX_CHILDREN];
extern struct recov pending[MAX_PENDING_RECOV];
extern unsigned npending;
extern pid_t master_pid;
extern volatile sig_atomic_t interrupted;
extern uint64_t master_rng;
extern struct master_tot tot;
/* stress_report.c */
extern const char *const op_names[];

/* stress_master.c */
int spawn(unsigned idx, int armed);
void plan_children(void);
int master_run(FILE *out, struct totals *tp, double *elapsed_out);

/* stress_worker.c */
void child_main(struct child *ch, unsigned idx);

/* stress_check.c */
size_t make_key(uint32_t id, char *out);
uint32_t parse_key(const void *k, size_t klen);
void make_value(unsigned char *buf, uint32_t key, uint32_t wid, uint64_t ver, uint32_t len, uint64_t expire_ms);
const char *check_value(const unsigned char *buf, size_t n, uint32_t key, struct vhdr *out);
uint32_t pick_key(uint64_t *rng);
uint32_t pick_owned(uint64_t *rng, unsigned wid);
uint64_t check_hit(struct worker *w, uint32_t k, const unsigned char *val, size_t n, uint64_t a, uint64_t now_ms_before, const char *how);
void check_miss(uint32_t k, uint64_t a, const char *how);
void final_check(uint64_t *checked);
uint64_t class_leaks(const fc_stats *st);
void post_run_checks(FILE *out, struct outcome *r);

/* stress_report.c */
void say(const char *fmt, ...);
void violation(_Atomic uint64_t *ctr, enum vkind kind, const char *fmt, ...);
void lost_miss(const char *fmt, ...);
void sum_slots(struct totals *t);
int report_final(FILE *out, const struct outcome *r, const struct totals *tp,
		 double elapsed);
void print_progress(FILE *f, double el, const struct totals *t, const struct totals *prev, double dt);

/* stress_opts.c */
void usage(FILE *f);
void parse(int argc, char **argv);
uint64_t auto_segment_bytes(uint64_t page);

#endif /* FC_STRESS_H */
