/*
 * stress_report.c - what forkcache-stress says: one-write lines shared by
 * all processes, violations with a line budget per kind, tentative lost
 * misses, per-thread counters summed, progress lines, and the final
 * totals, summary and JSON.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

#include "forkcache.h"
#include "stress.h"
#include "sup_clock.h"
#include "sup_rng.h"

const char *const op_names[] = {"?", "get", "gets", "set", "add",
				"replace", "cas", "delete", "iter"};

/* Write one line to stderr with a single write(): children share it. */
void
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

static const char *const vkind_names[] = {
	"TORN", "LOST", "BACKWARDS", "STALL", "ERROR", "STALE", "VERIFY"};

/* Count a violation in @p ctr and print it while the kind's line budget
 * lasts (so one flood cannot hide another kind). */
void
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
void
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

void
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

void
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

/* The final lines: omitted-line counts, totals, the summary line and
 * (--json) the JSON object. @return 1 if the run passed, else 0. */
int
report_final(FILE *out, const struct outcome *r, const struct totals *tp,
	     double elapsed)
{
	const fc_stats st = r->st;
	const struct totals t = *tp;
	int reaped = r->reaped, lost_skipped = r->lost_skipped;
	uint64_t checked = r->checked, verify_problems = r->verify_problems;
	uint64_t leaks = r->leaks, lost = r->lost, lost_miss = r->lost_miss;
	uint64_t evictions = st.evictions;

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
	return pass;
}
