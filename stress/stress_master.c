/*
 * stress_master.c - the master: spawning children, SIGKILL chaos and
 * writers armed to die in the lock, reaping and recovery times, the
 * watchdog over op times and stalls, and the run loop.
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
#include "fault.h"

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Choose a lock-held fault point and an nth hit for a respawned writer. */
static void
choose_arm(char *out, size_t cap)
{
	const char *const *names = fc__fault_point_names();
	const char *common[] = {"set.locked", "set.alloc", "set.written",
				"set.published", "set.retired", "delete.tomb",
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

int
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
			   (final || now - r->t_seen > (uint64_t)cfg.stall_ms * 1000000ull)) {
			if (!final || now - r->t_seen > (uint64_t)cfg.stall_ms * 1000000ull) {
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

/* Which child runs which threads and writer ids. */
void
plan_children(void)
{
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
}

/*
 * The run: spawn every child, then each TICK_MS reap and respawn, kill
 * (chaos), settle recovery times, watch ops and stalls, print progress;
 * at the end stop (or kill) every child and reap it. @p tp receives the
 * summed counters and @p elapsed_out the run's seconds. 0, or 1 if a child
 * could not be spawned.
 */
int
master_run(FILE *out, struct totals *tp, double *elapsed_out)
{
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
		? t_start + (uint64_t)((double)cfg.kill_every_ms * 1e6 * (0.5 + sup_unit(&master_rng)))
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

	*tp = t;
	*elapsed_out = elapsed;
	return 0;
}
