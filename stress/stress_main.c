/*
 * stress_main.c - forkcache-stress: multi-process stress and fault-injection harness.
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
 * LAYOUT       stress_main.c (this file: set-up and the phases of a run),
 *              lease.c (--lease), stress_master.c, stress_worker.c,
 *              stress_check.c, stress_report.c, stress_opts.c; each calls
 *              only files after it (stress.h, scripts/check-deps.sh).
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
#include "lease_stress.h"
#include "sup_zipf.h"

/* The side mapping (MAP_SHARED, inherited by every child): header, then
 * the key log; and the Zipf table. 0, or 1 on failure (reported). */
static int
setup_side(void)
{
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

	return 0;
}

/* Create the segment (sized for the run unless --segment-mb / --page-kb)
 * and print the config line. 0, or 1 on failure (reported). */
static int
open_segment(FILE *out)
{
	fc_options o;
	int rc;

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

	return 0;
}

int
main(int argc, char **argv)
{
	FILE *out;
	struct totals t;
	struct outcome r;
	double elapsed;

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
	if (setup_side() != 0 || open_segment(out) != 0)
		return 1;
	plan_children(); /* stress_master.c */
	if (master_run(out, &t, &elapsed) != 0) /* the run, then stop all */
		return 1;
	post_run_checks(out, &r); /* stress_check.c */
	int pass = report_final(out, &r, &t, elapsed); /* stress_report.c */
	free(zipf_cdf);
	munmap(side, side_bytes);
	return pass ? 0 : 1;
}
