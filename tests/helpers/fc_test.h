/*
 * fc_test.h - helpers shared by the forkcache test programs.
 *
 * DESIGN       Each test program is one cmocka executable run by CTest in its
 *              own process. These helpers give every test a fresh segment
 *              with a unique name ("/fct-<pid>-<counter>"), a fake TTL clock,
 *              a seeded PRNG whose seed is printed (FC_TEST_SEED repeats a
 *              run), fork/wait helpers for children that report through
 *              their exit code, self-verifying values for concurrency and
 *              crash tests, and fc_test_verify(), which fails the test on any
 *              problem fc_verify() reports (printing each).
 * CHILDREN     A forked child must not call cmocka's assert_*: it would
 *              longjmp into the parent's copy of the runner. Children use
 *              FC_CHILD_CHECK() and return or _exit() a code instead.
 */
#ifndef FC_TEST_H
#define FC_TEST_H

#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

#include "forkcache.h"

/* ---- segment names and fixtures ---- */

/* Write a fresh unique shm name ("/fct-<pid>-<n>") into @p buf. */
void fc_test_name(char *buf, size_t cap);

/* Options of the default fixture segment: FC_CREATE|FC_EXCL, 8 MiB,
 * 64 KiB pages, 64 reader slots. */
void fc_test_default_options(fc_options *opts);

/* Create a segment under a fresh name with @p opts (FC_CREATE|FC_EXCL are
 * added), asserting FC_OK; the name is remembered for fc_test_close(). */
fc_cache *fc_test_create(const fc_options *opts);

/* cmocka fixtures: *state becomes an fc_cache * on the default segment;
 * teardown verifies nothing (tests do that), closes, unlinks, resets the
 * fake clock and disarms any fault point. */
int fc_test_open(void **state);
int fc_test_close(void **state);
/* Close @p c and unlink the last fc_test_create()d name; resets the fake
 * clock and disarms faults, like fc_test_close(). */
void fc_test_destroy(fc_cache *c);
/* The name of the segment made by the last fc_test_open/fc_test_create. */
const char *fc_test_cur_name(void);

/* Assert fc_verify(c, FC_VERIFY_LOCK) == 0 and fc_verify(c, 0) == 0,
 * printing every problem found. */
void fc_test_verify(fc_cache *c);
/* Run fc_verify(c, flags) printing each problem; return its result. */
int64_t fc_test_verify_count(fc_cache *c, unsigned flags);

/* ---- fake clock (process-local; children inherit it) ---- */
void fc_test_clock_advance_ms(int64_t ms);
void fc_test_clock_reset(void);

/* ---- PRNG ---- */
/* The run's seed: FC_TEST_SEED from the environment, or time ^ pid; printed
 * to stderr the first time it is asked for. */
uint64_t fc_test_seed(void);
typedef struct fc_test_rng {
	uint64_t s;
} fc_test_rng;
void fc_test_rng_init(fc_test_rng *r, uint64_t seed);
uint64_t fc_test_rand(fc_test_rng *r);
/* Uniform in [lo, hi]. */
uint64_t fc_test_rand_range(fc_test_rng *r, uint64_t lo, uint64_t hi);
void fc_test_fill_random(fc_test_rng *r, void *buf, size_t len);

/* ---- processes ---- */
#define FC_TEST_CHILD_FAIL 86 /* a child's check failed */
#define FC_TEST_CHILD_NOTREACHED 87 /* a fault point was never hit */
#define FC_TEST_CHILD_ALARM_S 60 /* watchdog: a child dies of SIGALRM */

/* In a child: print the failed condition and _exit(FC_TEST_CHILD_FAIL). */
#define FC_CHILD_CHECK(cond)                                                   \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "child %d: %s:%d: check failed: %s\n", \
				(int)getpid(), __FILE__, __LINE__, #cond);     \
			_exit(FC_TEST_CHILD_FAIL);                             \
		}                                                              \
	} while (0)
/* In a child: check that @p got equals @p want (ints), printing both. */
#define FC_CHILD_CHECK_RC(got, want)                                           \
	do {                                                                   \
		long long got_ = (long long)(got);                             \
		long long want_ = (long long)(want);                           \
		if (got_ != want_) {                                           \
			fprintf(stderr,                                        \
				"child %d: %s:%d: %s = %lld (%s), want "       \
				"%lld\n",                                      \
				(int)getpid(), __FILE__, __LINE__, #got, got_, \
				fc_errname((int)got_), want_);                 \
			_exit(FC_TEST_CHILD_FAIL);                             \
		}                                                              \
	} while (0)

/* fork() after flushing stdio; in the child arms a watchdog alarm. */
pid_t fc_test_fork(void);
/* Fork a child that runs fn(arg) and _exit()s its result. */
pid_t fc_test_spawn(int (*fn)(void *arg), void *arg);
/* waitpid() for @p pid; returns the raw status. */
int fc_test_wait(pid_t pid);
/* Assert the child exited normally with @p code. */
void fc_test_assert_exit(pid_t pid, int code);
/* Assert the child was killed by @p sig; @p what names the scenario in the
 * failure message (a child that exited FC_TEST_CHILD_NOTREACHED means the
 * fault point @p what was never reached). */
void fc_test_assert_killed(pid_t pid, int sig, const char *what);
/* Describe a wait status ("exit 3", "signal 9") into buf. */
const char *fc_test_status_str(int status, char *buf, size_t cap);

/* MAP_SHARED|MAP_ANONYMOUS memory that survives into forked children. */
void *fc_test_shared_alloc(size_t bytes);
void fc_test_shared_free(void *p, size_t bytes);

/* Monotonic clock in ns. */
uint64_t fc_test_mono_ns(void);

/* ---- self-verifying values ----
 * A value encodes the key (64-bit hash), writer id, sequence number, its
 * own length and a checksum over everything else, followed by payload
 * derived from those fields. A torn, foreign or misplaced value fails
 * fc_test_value_check(). Values are at least FC_TEST_VALUE_MIN bytes. */
#define FC_TEST_VALUE_MIN 36u
/* Fill buf[0..len) (len >= FC_TEST_VALUE_MIN) with the value. */
void fc_test_value_make(void *buf, size_t len, const void *key, size_t klen,
			uint32_t writer, uint64_t seq);
/* 0 if @p val is a well-formed value for @p key; else a reason code
 * (1 short, 2 magic, 3 length, 4 key, 5 checksum). writer/seq may be NULL. */
int fc_test_value_check(const void *val, size_t vlen, const void *key,
			size_t klen, uint32_t *writer, uint64_t *seq);

/* snprintf a key "<prefix><i>" into buf; returns its length. */
size_t fc_test_key(char *buf, size_t cap, const char *prefix, unsigned i);

/* Stats snapshot that asserts FC_OK. */
fc_stats fc_test_stats(fc_cache *c);

/* mkdtemp() a directory under /tmp; returns a malloc'd path. */
char *fc_test_tmpdir(void);
/* Remove a directory made by fc_test_tmpdir and every file in it. */
void fc_test_rmtree(char *dir);

/* ---- mixed concurrent workload (fc_mix.c) ----
 * One worker of the concurrency tests: random gets, sets, deletes, adds,
 * replaces, gets+cas and short iterations over keys "mk:0".."mk:<nkeys-1>",
 * shared by every worker; every value read is checked with
 * fc_test_value_check(). Uses no cmocka asserts, so it may run in a forked
 * child or in a thread. */
typedef struct fc_mix_args {
	fc_cache *c;
	uint32_t writer; /* id stored in the values this worker writes */
	unsigned iters; /* operations */
	unsigned nkeys; /* key space shared by all workers */
	size_t vmax; /* longest value (>= FC_TEST_VALUE_MIN) */
	uint64_t seed;
	int open_own; /* nonzero: fc_open(name) a handle of its own */
	const char *name; /* segment name for open_own */
	int allow_ebusy; /* reads may fail with FC_EBUSY (no free slot) */
	int allow_set_ebusy; /* sets may fail with FC_EBUSY (room held back by
	                         a reader past the writer's bounded wait) */
	unsigned flush_every; /* nonzero: fc_flush every that many ops */
	/* results */
	uint64_t gets, hits, sets, deletes, cas_ok, iter_items;
	uint64_t ebusy; /* reads refused with FC_EBUSY (allow_ebusy) */
	uint64_t set_busy; /* sets refused with FC_EBUSY (allow_set_ebusy) */
	uint64_t bad_values; /* torn or foreign values read: must be 0 */
	uint64_t errors; /* unexpected return codes: must be 0 */
} fc_mix_args;
/* Run the workload; returns 0 when bad_values and errors are both 0. */
int fc_mix_run(fc_mix_args *a);

/* Add 1 to the counter under @p key @p n times, alternately with fc_incr
 * and with a fc_gets/fc_cas retry loop over a decimal value; returns 0,
 * or -1 (printing why) on an unexpected code. No cmocka asserts. */
int fc_mix_count(fc_cache *c, const char *key, unsigned n);

#endif /* FC_TEST_H */
