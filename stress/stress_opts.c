/*
 * stress_opts.c - forkcache-stress's options: the configuration and its
 * defaults, the command line, usage, the rerun line, the automatic
 * segment size; and the state every part shares (side mapping, key log,
 * cache handle, Zipf table).
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

struct side *side;
struct keyrec *keys;
size_t side_bytes;
fc_cache *cache;
double *zipf_cdf;

/* the master's state (stress_master.c), here so that every part below
 * the master can read it */
struct child children[MAX_CHILDREN];
struct recov pending[MAX_PENDING_RECOV];
unsigned npending;
pid_t master_pid;
volatile sig_atomic_t interrupted;
uint64_t master_rng;
struct master_tot tot;

struct config cfg = {
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

void
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
char rerun[2048];

void
parse(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char *v = NULL;
#define ARG()                                       \
	do {                                        \
		if (i + 1 >= argc)                  \
			bad("%s needs a value", o); \
		v = argv[++i];                      \
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
uint64_t
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
