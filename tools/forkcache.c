/*
 * forkcache.c - the forkcache inspector CLI: look inside a live cache.
 *
 * DESIGN       One binary, one subcommand per operation, in the spirit of
 *              redis-cli, memcached-tool and mdb_stat:
 *                forkcache <command> <segment> [args] [options]
 *              It uses the public API only (include/forkcache.h); the man
 *              page is docs/forkcache.1.md.
 * READ-ONLY    stats, keys, get, dump, verify and watch never change an item
 *              and never take the writer lock: they call only fc_stat,
 *              fc_class_stat, fc_slot_stat, fc_get(s), fc_iter_* and
 *              fc_verify without FC_VERIFY_LOCK. Their only shared write is
 *              the reader slot the library gives this thread.
 * UNTRUSTED    The segment may hold any bytes. The library bounds-checks it
 *              and answers FC_ECORRUPT / FC_EINCOMPAT; every such answer is
 *              exit 3 here. Counts the CLI loops over (classes, reader
 *              slots) are checked against the API's limits first.
 * EXIT CODES   0 ok, 1 not found or failed, 2 usage, 3 corrupt or
 *              incompatible segment (verify findings included).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"
#include "cli.h"

#define EX_OK 0
#define EX_FAIL 1
#define EX_USAGE 2
#define EX_CORRUPT 3

#define MAX_CLASSES 4096u       /* far above any real class count */
#define STALL_PROBE_MS 10u      /* a read this old is a stalled reader */
#define VERIFY_KEEP 10000u      /* problems kept for the report */
#define SET_STDIN "-"           /* VALUE that means "read stdin" */

/* ------------------------------------------------------------ options -- */

enum opt_id {
	O_HELP, O_JSON, O_BINARY, O_RAW, O_FILE, O_EXPIRED_ONLY, O_RELATIVE,
	O_ESCAPED, O_PATTERN, O_LIMIT, O_TTL, O_SIZE, O_PAGE, O_SLOTS, O_AVG,
	O_MODE, O_INTERVAL, O_COUNT, O__N
};

static const struct optdef {
	const char *name;
	bool has_arg;
} optdefs[O__N] = {
	[O_HELP] = { "help", false },
	[O_JSON] = { "json", false },
	[O_BINARY] = { "binary", false },
	[O_RAW] = { "raw", false },
	[O_FILE] = { "file", false },
	[O_EXPIRED_ONLY] = { "expired-only", false },
	[O_RELATIVE] = { "relative", false },
	[O_ESCAPED] = { "escaped", false },
	[O_PATTERN] = { "pattern", true },
	[O_LIMIT] = { "limit", true },
	[O_TTL] = { "ttl", true },
	[O_SIZE] = { "size", true },
	[O_PAGE] = { "page-size", true },
	[O_SLOTS] = { "slots", true },
	[O_AVG] = { "avg-item", true },
	[O_MODE] = { "mode", true },
	[O_INTERVAL] = { "interval", true },
	[O_COUNT] = { "count", true },
};

#define B(o) (1u << (o))

struct args {
	const struct command *cmd;
	const char *pos[3];
	int npos;
	bool seen[O__N];
	const char *val[O__N];
	/* resolved */
	const char *name;       /* as given to fc_open */
	char shmname[300];
	unsigned flags;         /* FC_FILE or 0 */
	uint64_t limit, ttl_ms, size, page, slots, avg, interval_ms, count;
	unsigned mode;
};

struct command {
	const char *name;
	int (*run)(struct args *a);
	int min_pos, max_pos;   /* positionals, NAME included */
	unsigned opts;          /* allowed options (B(O_*)) */
	const char *synopsis;
	const char *help;
};

/* ------------------------------------------------------------ errors -- */

static int
exit_for(int err)
{
	switch (err) {
	case FC_OK:
		return EX_OK;
	case FC_ECORRUPT:
	case FC_EINCOMPAT:
		return EX_CORRUPT;
	default:
		return EX_FAIL;
	}
}

/*
 * One stderr line: "forkcache: <what>[<key>]: FC_NAME: message[ (errno)]".
 * @p key (may be NULL) is escaped. Returns the exit code for @p err.
 */
static int
report(const char *what, const void *key, size_t klen, int err)
{
	int saved = errno;

	fputs("forkcache: ", stderr);
	if (what != NULL)
		fputs(what, stderr);
	if (key != NULL) {
		if (what != NULL)
			fputs(": ", stderr);
		cli_escape(stderr, key, klen);
	}
	fprintf(stderr, ": %s: %s", fc_errname(err), fc_strerror(err));
	if (err == FC_ESYS)
		fprintf(stderr, " (%s)", strerror(saved));
	fputc('\n', stderr);
	return exit_for(err);
}

static int
usage_error(const struct command *cmd, const char *fmt, const char *arg)
{
	fputs("forkcache: ", stderr);
	if (cmd != NULL)
		fprintf(stderr, "%s: ", cmd->name);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	if (cmd != NULL) {
		fprintf(stderr, "usage: forkcache %s\n", cmd->synopsis);
		fprintf(stderr, "Try 'forkcache %s --help'.\n", cmd->name);
	} else {
		fputs("Try 'forkcache --help'.\n", stderr);
	}
	return EX_USAGE;
}

/* Check stdout after the command wrote everything: a full disk or a closed
 * pipe is a failure, not a silent truncation. */
static int
finish_output(int code)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "forkcache: write error on standard output: "
			"%s\n", strerror(errno));
		return code == EX_OK ? EX_FAIL : code;
	}
	return code;
}

/* ------------------------------------------------------------ attach -- */

/* Report a failed fc_open(): one line, and the exit code. */
static int
open_failed(const struct args *a, int rc)
{
	if (rc == FC_ENOTFOUND) {
		fprintf(stderr, "forkcache: %s: FC_ENOTFOUND: no such segment"
			"%s\n", a->name, a->flags & FC_FILE ? " file" : "");
		return EX_FAIL;
	}
	if (rc == FC_EINVAL) {
		fprintf(stderr, "forkcache: %s: FC_EINVAL: not a valid segment "
			"name (shm: \"/name\" with no other '/', at most 255 "
			"bytes; or --file PATH)\n", a->name);
		return EX_USAGE;
	}
	return report(a->name, NULL, 0, rc);
}

/*
 * Attach to an existing segment. The only writes fc_open does on a healthy
 * segment are the library's own bookkeeping (reboot reset of a file).
 */
static int check_slots(fc_cache *c, const char *name);

/*
 * Attach, then check the reader-slot table before any read: a read would
 * otherwise claim a slot and reap garbage owners as dead processes, and
 * the damage would go unreported.
 */
static int
attach(struct args *a, fc_cache **out)
{
	fc_options o;
	int rc;

	fc_options_init(&o);
	/* An inspector: attach to whatever segment it is pointed at, also
	 * another user's or a more open one (fc_open refuses those by
	 * default, FC_EPERM). */
	o.flags = a->flags | FC_SHARED_OK;
	rc = fc_open(a->name, &o, out);
	if (rc != FC_OK)
		return open_failed(a, rc);
	if (check_slots(*out, a->name) == EX_CORRUPT) {
		fc_close(*out);
		*out = NULL;
		return EX_CORRUPT;
	}
	return EX_OK;
}

/* Key argument: raw bytes, or with --escaped the text-output escapes. */
static int
key_arg(struct args *a, const char *s, cli_buf *out)
{
	if (a->seen[O_ESCAPED]) {
		if (cli_unescape(s, out) < 0)
			return usage_error(a->cmd, "malformed escape in '%s' "
					   "(use \\\\ \\n \\r \\t \\0 "
					   "\\xHH)", s);
	} else {
		cli_buf_put(out, s, strlen(s));
	}
	if (out->len < 1 || out->len > FC_KEY_MAX) {
		char msg[64];

		snprintf(msg, sizeof msg, "%zu", out->len);
		return usage_error(a->cmd, "key must be 1..250 bytes, not %s",
				   msg);
	}
	return EX_OK;
}

/* ------------------------------------------------------------- stats -- */

#define PID_LIMIT 4194304u      /* PID_MAX_LIMIT: no Linux pid is larger */

/*
 * Is reader slot @p si impossible for the library to have written? The
 * epoch of a read never runs ahead of the global epoch (@p epoch, loaded
 * after the slot), and an owner is a real pid. @return a description of
 * the problem, or NULL.
 */
static const char *
slot_problem(const fc_slot_info *si, uint64_t epoch, char *buf, size_t bufsz)
{
	if (si->state > FC_SLOT_DEAD)
		snprintf(buf, bufsz, "state %u is not free, live or dead",
			 si->state);
	else if (si->state != FC_SLOT_FREE &&
		 (si->pid == 0 || si->pid > PID_LIMIT))
		snprintf(buf, bufsz, "owner pid %u is not a valid pid "
			 "(1..%u)", si->pid, PID_LIMIT);
	else if (si->epoch > epoch)
		snprintf(buf, bufsz, "read epoch %llu is ahead of the global "
			 "epoch %llu", (unsigned long long)si->epoch,
			 (unsigned long long)epoch);
	else
		return NULL;
	return buf;
}

static int
slot_corrupt(const char *name, unsigned slot, const char *problem)
{
	fprintf(stderr, "forkcache: %s: %s: %s (reader slot %u: %s)\n", name,
		fc_errname(FC_ECORRUPT), fc_strerror(FC_ECORRUPT), slot,
		problem);
	return EX_CORRUPT;
}

/*
 * The library answers FC_EBUSY when no reader slot is free, which is also
 * what a slot table full of garbage looks like. Tell the two apart with
 * the checks of slot_problem(): EX_CORRUPT, or EX_OK when the slots look
 * like real (busy) readers.
 */
static int
check_slots(fc_cache *c, const char *name)
{
	fc_stats st;
	fc_slot_info si;
	char buf[128];
	const char *p;
	unsigned k;

	if (fc_stat(c, &st) != FC_OK)
		return EX_OK;
	if (st.reader_slots > FC_SLOTS_MAX)
		return slot_corrupt(name, 0, "more slots than the API allows");
	for (k = 0; k < st.reader_slots; k++) {
		if (fc_slot_stat(c, k, &si) != FC_OK)
			continue;
		if (si.epoch > st.epoch && fc_stat(c, &st) != FC_OK)
			continue;       /* reload the epoch: it moves */
		if ((p = slot_problem(&si, st.epoch, buf, sizeof buf)) != NULL)
			return slot_corrupt(name, k, p);
	}
	return EX_OK;
}

struct slot_row {
	unsigned slot;
	fc_slot_info info;
	bool stalled;
};

struct snapshot {
	fc_stats st;
	fc_class_stats *cls;
	struct slot_row *slots; /* non-free slots only */
	size_t nslots;
	uint64_t stalled;
};

static void
snapshot_free(struct snapshot *s)
{
	free(s->cls);
	free(s->slots);
	memset(s, 0, sizeof *s);
}

static void
sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
			       (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * Take a read-only snapshot: counters, every class, every non-free reader
 * slot. A slot is "stalled" when it is inside a read whose epoch is behind
 * the global epoch and is still in that same read STALL_PROBE_MS later: a
 * new read would start at the current epoch, so an unchanged old epoch is
 * one long read (a stopped or wedged process holding back memory reuse).
 */
static int
snapshot_take(fc_cache *c, const char *name, bool want_slots,
	      struct snapshot *s)
{
	unsigned k;
	bool probe = false;
	int rc;

	memset(s, 0, sizeof *s);
	if ((rc = fc_stat(c, &s->st)) != FC_OK)
		return report(name, NULL, 0, rc);
	if (s->st.classes > MAX_CLASSES || s->st.reader_slots > FC_SLOTS_MAX) {
		fprintf(stderr, "forkcache: %s: FC_ECORRUPT: %s (%llu classes,"
			" %llu reader slots)\n", name,
			fc_strerror(FC_ECORRUPT),
			(unsigned long long)s->st.classes,
			(unsigned long long)s->st.reader_slots);
		return EX_CORRUPT;
	}
	s->cls = cli_xmalloc(s->st.classes * sizeof *s->cls);
	for (k = 0; k < s->st.classes; k++)
		if ((rc = fc_class_stat(c, k, &s->cls[k])) != FC_OK) {
			char what[64];

			snprintf(what, sizeof what, "%s: class %u", name, k);
			return report(what, NULL, 0, rc);
		}
	if (!want_slots)
		return EX_OK;
	s->slots = cli_xmalloc((s->st.reader_slots ? s->st.reader_slots : 1) *
			       sizeof *s->slots);
	for (k = 0; k < s->st.reader_slots; k++) {
		fc_slot_info si;

		if ((rc = fc_slot_stat(c, k, &si)) != FC_OK) {
			char what[64];

			snprintf(what, sizeof what, "%s: reader slot %u", name,
				 k);
			return report(what, NULL, 0, rc == FC_EINVAL ?
				      FC_ECORRUPT : rc);
		}
		if (si.state == FC_SLOT_FREE && si.pid == 0)
			continue;
		s->slots[s->nslots].slot = k;
		s->slots[s->nslots].info = si;
		s->slots[s->nslots].stalled = si.epoch != 0 &&
					      si.epoch < s->st.epoch;
		probe |= s->slots[s->nslots].stalled;
		s->nslots++;
	}
	if (s->nslots) {
		fc_stats later;         /* epoch after every slot was read */
		char buf[128];
		const char *p;

		if (fc_stat(c, &later) != FC_OK)
			later.epoch = s->st.epoch;
		for (k = 0; k < s->nslots; k++)
			if ((p = slot_problem(&s->slots[k].info, later.epoch,
					      buf, sizeof buf)) != NULL)
				return slot_corrupt(name, s->slots[k].slot, p);
	}
	if (!probe)
		return EX_OK;
	sleep_ms(STALL_PROBE_MS);
	for (k = 0; k < s->nslots; k++) {
		struct slot_row *r = &s->slots[k];
		fc_slot_info si;

		if (!r->stalled)
			continue;
		if (fc_slot_stat(c, r->slot, &si) != FC_OK ||
		    si.epoch != r->info.epoch || si.pid != r->info.pid)
			r->stalled = false;
		else
			s->stalled++;
	}
	return EX_OK;
}

static const char *
slot_state(uint32_t state)
{
	switch (state) {
	case FC_SLOT_FREE: return "free";
	case FC_SLOT_LIVE: return "live";
	case FC_SLOT_DEAD: return "dead";
	default: return "unknown";
	}
}

static uint64_t
class_waste(const fc_class_stats *cs)
{
	uint64_t held = cs->chunks_used * cs->chunk_bytes;

	return held > cs->data_bytes ? held - cs->data_bytes : 0;
}

static double
pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void
json_ratio(FILE *out, uint64_t part, uint64_t whole)
{
	if (whole == 0)
		fputs("null", out);
	else
		fprintf(out, "%.6f", (double)part / (double)whole);
}

#define U(x) ((unsigned long long)(x))

static void
stats_json(const struct args *a, const struct snapshot *s)
{
	const fc_stats *st = &s->st;
	size_t k;

	printf("{\"segment\":");
	cli_json_str(stdout, a->name);
	printf(",\"file\":%s,\"layout_version\":%u,\n",
	       a->flags & FC_FILE ? "true" : "false", st->layout_version);
	printf("\"segment_bytes\":%llu,\"page_bytes\":%llu,\"pages\":%llu,"
	       "\"pages_free\":%llu,\"data_capacity\":%llu,\"value_max\":%llu,"
	       "\"buckets\":%llu,\"tombstones\":%llu,\"classes\":%u,\n",
	       U(st->segment_bytes), U(st->page_bytes), U(st->pages),
	       U(st->pages_free), U(st->data_capacity), U(st->value_max),
	       U(st->buckets), U(st->tombstones), st->classes);
	printf("\"items\":%llu,\"bytes_used\":%llu,\"data_bytes\":%llu,"
	       "\"used_ratio\":", U(st->items), U(st->bytes_used),
	       U(st->data_bytes));
	json_ratio(stdout, st->bytes_used, st->data_capacity);
	printf(",\n\"hits\":%llu,\"misses\":%llu,\"hit_ratio\":",
	       U(st->hits), U(st->misses));
	json_ratio(stdout, st->hits, st->hits + st->misses);
	printf(",\"sets\":%llu,\"deletes\":%llu,\"evictions\":%llu,"
	       "\"expired\":%llu,\n", U(st->sets), U(st->deletes),
	       U(st->evictions), U(st->expired));
	printf("\"limbo\":%llu,\"epoch\":%llu,\"repairs\":%llu,"
	       "\"index_rebuilds\":%llu,\"reclaim_waits\":%llu,\n",
	       U(st->limbo), U(st->epoch), U(st->repairs),
	       U(st->index_rebuilds), U(st->reclaim_waits));
	printf("\"readers\":{\"slots\":%llu,\"live\":%llu,\"dead\":%llu,"
	       "\"active\":%llu,\"stalled\":%llu},\n", U(st->reader_slots),
	       U(st->readers_live), U(st->readers_dead),
	       U(st->readers_active), U(s->stalled));
	printf("\"leases\":{\"slots\":%llu,\"active\":%llu,\"dead\":%llu,"
	       "\"grants\":%llu,\"takeovers\":%llu,\"waits\":%llu,"
	       "\"timeouts\":%llu,\"stale_hits\":%llu,\"full\":%llu,"
	       "\"lease_ms\":%llu,\"stale_ms\":%llu},\n",
	       U(st->lease_slots), U(st->leases_active), U(st->leases_dead),
	       U(st->lease_grants), U(st->lease_takeovers), U(st->lease_waits),
	       U(st->lease_timeouts), U(st->lease_stale_hits), U(st->lease_full),
	       U(st->lease_ms), U(st->stale_ms));
	printf("\"size_classes\":[");
	for (k = 0; k < st->classes; k++) {
		const fc_class_stats *cs = &s->cls[k];

		printf("%s\n{\"class\":%zu,\"chunk_bytes\":%u,"
		       "\"chunks_per_page\":%u,\"pages\":%llu,"
		       "\"chunks_used\":%llu,\"chunks_limbo\":%llu,"
		       "\"chunks_free\":%llu,\"data_bytes\":%llu,"
		       "\"waste_bytes\":%llu}", k ? "," : "", k,
		       cs->chunk_bytes, cs->chunks_per_page, U(cs->pages),
		       U(cs->chunks_used), U(cs->chunks_limbo),
		       U(cs->chunks_free), U(cs->data_bytes),
		       U(class_waste(cs)));
	}
	printf("],\n\"reader_slots\":[");
	for (k = 0; k < s->nslots; k++) {
		const struct slot_row *r = &s->slots[k];

		printf("%s\n{\"slot\":%u,\"pid\":%u,\"state\":\"%s\","
		       "\"epoch\":%llu,\"hits\":%llu,\"misses\":%llu,"
		       "\"stalled\":%s}", k ? "," : "", r->slot, r->info.pid,
		       slot_state(r->info.state), U(r->info.epoch),
		       U(r->info.hits), U(r->info.misses),
		       r->stalled ? "true" : "false");
	}
	printf("]}\n");
}

static void
print_bytes_line(const char *label, uint64_t v)
{
	char h[32];

	printf("  %s: %llu (%s)\n", label, U(v),
	       cli_human_bytes(v, h, sizeof h));
}

static void
class_table(const struct snapshot *s)
{
	uint32_t k, inuse = 0;
	char h[32];

	for (k = 0; k < s->st.classes; k++)
		if (s->cls[k].pages || s->cls[k].chunks_used)
			inuse++;
	printf("Size classes (%u of %u in use)\n", inuse, s->st.classes);
	if (inuse == 0)
		return;
	printf("  %5s %8s %8s %6s %9s %7s %9s %10s %10s\n", "CLASS", "CHUNK",
	       "PER_PAGE", "PAGES", "USED", "LIMBO", "FREE", "DATA", "WASTE");
	for (k = 0; k < s->st.classes; k++) {
		const fc_class_stats *cs = &s->cls[k];
		char w[32];

		if (!cs->pages && !cs->chunks_used)
			continue;
		printf("  %5u %8u %8u %6llu %9llu %7llu %9llu %10s %10s\n", k,
		       cs->chunk_bytes, cs->chunks_per_page, U(cs->pages),
		       U(cs->chunks_used), U(cs->chunks_limbo),
		       U(cs->chunks_free),
		       cli_human_bytes(cs->data_bytes, h, sizeof h),
		       cli_human_bytes(class_waste(cs), w, sizeof w));
	}
}

static void
stats_text(const struct args *a, const struct snapshot *s)
{
	const fc_stats *st = &s->st;
	char h[32];
	size_t k;

	printf("Segment %s (%s)\n", a->name,
	       a->flags & FC_FILE ? "file" : "shm");
	print_bytes_line("Size", st->segment_bytes);
	printf("  Layout version: %u\n", st->layout_version);
	print_bytes_line("Page size", st->page_bytes);
	printf("  Pages: %llu\n  Pages free: %llu\n", U(st->pages),
	       U(st->pages_free));
	print_bytes_line("Data capacity", st->data_capacity);
	print_bytes_line("Value max", st->value_max);
	printf("  Index buckets: %llu\n  Tombstones: %llu\n", U(st->buckets),
	       U(st->tombstones));
	printf("Items\n  Items: %llu\n", U(st->items));
	printf("  Bytes used: %llu (%s, %.1f%% of capacity)\n",
	       U(st->bytes_used), cli_human_bytes(st->bytes_used, h, sizeof h),
	       pct(st->bytes_used, st->data_capacity));
	print_bytes_line("Data bytes", st->data_bytes);
	printf("  Hits: %llu\n  Misses: %llu\n", U(st->hits), U(st->misses));
	if (st->hits + st->misses)
		printf("  Hit ratio: %.1f%%\n",
		       pct(st->hits, st->hits + st->misses));
	else
		printf("  Hit ratio: n/a\n");
	printf("  Sets: %llu\n  Deletes: %llu\n  Evictions: %llu\n"
	       "  Expirations: %llu\n", U(st->sets), U(st->deletes),
	       U(st->evictions), U(st->expired));
	printf("Reclamation\n  Epoch: %llu\n  Limbo: %llu\n"
	       "  Reclaim waits: %llu\n  Repairs: %llu\n"
	       "  Index rebuilds: %llu\n", U(st->epoch), U(st->limbo),
	       U(st->reclaim_waits), U(st->repairs), U(st->index_rebuilds));
	printf("Leases\n  Slots: %llu\n  Active: %llu\n  Dead leader: %llu\n"
	       "  Grants: %llu\n  Takeovers: %llu\n  Waits: %llu\n"
	       "  Timeouts: %llu\n  Stale hits: %llu\n  Table full: %llu\n"
	       "  Lease ms: %llu\n  Stale ms: %llu\n",
	       U(st->lease_slots), U(st->leases_active), U(st->leases_dead),
	       U(st->lease_grants), U(st->lease_takeovers), U(st->lease_waits),
	       U(st->lease_timeouts), U(st->lease_stale_hits), U(st->lease_full),
	       U(st->lease_ms), U(st->stale_ms));
	printf("Readers\n  Slots: %llu\n  Live: %llu\n  Dead: %llu\n"
	       "  Active: %llu\n  Stalled: %llu\n", U(st->reader_slots),
	       U(st->readers_live), U(st->readers_dead),
	       U(st->readers_active), U(s->stalled));
	if (s->nslots) {
		printf("  %5s %8s %5s %12s %12s %12s %s\n", "SLOT", "PID",
		       "STATE", "EPOCH", "HITS", "MISSES", "NOTE");
		for (k = 0; k < s->nslots; k++) {
			const struct slot_row *r = &s->slots[k];

			printf("  %5u %8u %5s %12llu %12llu %12llu %s\n",
			       r->slot, r->info.pid, slot_state(r->info.state),
			       U(r->info.epoch), U(r->info.hits),
			       U(r->info.misses), r->stalled ? "stalled" : "");
		}
	}
	class_table(s);
}

static int
cmd_stats(struct args *a)
{
	struct snapshot s;
	fc_cache *c;
	int code;

	if ((code = attach(a, &c)) != EX_OK)
		return code;
	code = snapshot_take(c, a->name, true, &s);
	if (code == EX_OK) {
		if (a->seen[O_JSON])
			stats_json(a, &s);
		else
			stats_text(a, &s);
	}
	snapshot_free(&s);
	fc_close(c);
	return code;
}

/* -------------------------------------------------------------- keys -- */

/* Report @p rc; an FC_EBUSY with a corrupt slot table is exit 3. */
static int
busy_or_report(fc_cache *c, const char *name, const void *key, size_t klen,
	       int rc)
{
	if (rc == FC_EBUSY && check_slots(c, name) == EX_CORRUPT)
		return EX_CORRUPT;
	return report(name, key, klen, rc);
}

/* Iterate the live items matching --pattern; call @p fn for each until it
 * returns false. @return an exit code. */
static int
for_each_item(fc_cache *c, const char *name, const char *pattern,
	      bool (*fn)(void *arg, const fc_item *it), void *arg)
{
	fc_iter *it;
	fc_item item;
	int rc;

	if ((rc = fc_iter_open(c, &it)) != FC_OK)
		return busy_or_report(c, name, NULL, 0, rc);
	while ((rc = fc_iter_next(it, &item)) == FC_OK) {
		if (pattern != NULL &&
		    !cli_glob_match(pattern, item.key, item.klen))
			continue;
		if (!fn(arg, &item)) {
			rc = FC_ENOTFOUND;
			break;
		}
	}
	fc_iter_close(it);
	if (rc != FC_ENOTFOUND)
		return busy_or_report(c, name, NULL, 0, rc);
	return EX_OK;
}

struct keys_ctx {
	bool json;
	uint64_t limit;         /* 0 = none */
	uint64_t count;
	bool truncated;
};

static bool
keys_one(void *arg, const fc_item *it)
{
	struct keys_ctx *k = arg;

	if (k->limit && k->count == k->limit) {
		k->truncated = true;    /* one more match exists */
		return false;
	}
	if (k->json) {
		fputs(k->count ? ",\n" : "\n", stdout);
		cli_json_bytes(stdout, it->key, it->klen);
	} else {
		cli_escape(stdout, it->key, it->klen);
		putchar('\n');
	}
	k->count++;
	return true;
}

static int
cmd_keys(struct args *a)
{
	struct keys_ctx k = { a->seen[O_JSON], a->limit, 0, false };
	fc_cache *c;
	int code;

	if ((code = attach(a, &c)) != EX_OK)
		return code;
	if (k.json) {
		printf("{\"segment\":");
		cli_json_str(stdout, a->name);
		printf(",\"keys\":[");
	}
	code = for_each_item(c, a->name, a->val[O_PATTERN], keys_one, &k);
	if (k.json && code == EX_OK)
		printf("\n],\"count\":%llu,\"truncated\":%s}\n", U(k.count),
		       k.truncated ? "true" : "false");
	fc_close(c);
	return code;
}

/* --------------------------------------------------------------- get -- */

struct find_ctx {
	const void *key;
	size_t klen;
	bool found;
	fc_item item;
};

static bool
find_one(void *arg, const fc_item *it)
{
	struct find_ctx *f = arg;

	if (it->klen != f->klen || memcmp(it->key, f->key, f->klen) != 0)
		return true;
	f->found = true;
	f->item = *it;
	f->item.key = f->item.value = NULL;     /* not valid after the call */
	return false;
}

static void
print_time_utc(uint64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[64];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		printf("%llu ms", U(ms));
	else
		printf("%s.%03uZ", buf, (unsigned)(ms % 1000));
}

/*
 * fc_gets() gives the value and cas; the TTL and size class come only from
 * the iterator (the API has no per-key metadata call), so `get` scans for
 * the key and uses that item when its cas matches. O(items); see the man
 * page.
 */
static int
cmd_get(struct args *a)
{
	cli_buf key = { 0 };
	uint8_t *val = NULL;
	size_t cap = 4096, vlen = 0;
	uint64_t cas = 0;
	struct find_ctx f = { 0 };
	fc_cache *c;
	int code, rc = FC_OK, tries;

	if ((code = key_arg(a, a->pos[1], &key)) != EX_OK ||
	    (code = attach(a, &c)) != EX_OK) {
		cli_buf_free(&key);
		return code;
	}
	for (tries = 0; tries < 3; tries++) {
		val = cli_xrealloc(val, cap);
		vlen = cap;
		rc = fc_gets(c, key.data, key.len, val, &vlen, &cas);
		while (rc == FC_ETRUNC) {       /* value grew: resize */
			cap = vlen;
			val = cli_xrealloc(val, cap);
			rc = fc_gets(c, key.data, key.len, val, &vlen, &cas);
		}
		if (rc != FC_OK || a->seen[O_RAW])
			break;
		f.key = key.data;
		f.klen = key.len;
		f.found = false;
		code = for_each_item(c, a->name, NULL, find_one, &f);
		if (code != EX_OK)
			goto out;
		if (f.found && f.item.cas == cas)
			break;
		f.found = false;        /* changed under us: read again */
	}
	if (rc != FC_OK) {
		code = busy_or_report(c, a->name, key.data, key.len, rc);
		goto out;
	}
	if (a->seen[O_RAW]) {
		fwrite(val, 1, vlen, stdout);
	} else if (a->seen[O_JSON]) {
		printf("{\"key\":");
		cli_json_bytes(stdout, key.data, key.len);
		printf(",\"value\":");
		cli_json_bytes(stdout, val, vlen);
		printf(",\"vlen\":%zu,\"cas\":%llu,", vlen, U(cas));
		if (f.found)
			printf("\"ttl_ms\":%lld,\"expire_ms\":%llu,"
			       "\"size_class\":%u,\"chunk_bytes\":%u}\n",
			       (long long)f.item.ttl_left_ms,
			       U(f.item.expire_ms), f.item.size_class,
			       f.item.chunk_bytes);
		else
			printf("\"ttl_ms\":null,\"expire_ms\":null,"
			       "\"size_class\":null,\"chunk_bytes\":null}\n");
	} else {
		char h[32];

		printf("Item ");
		cli_escape(stdout, key.data, key.len);
		printf("\n  Value: ");
		cli_escape(stdout, val, vlen);
		printf("\n  Size: %zu (%s)\n", vlen,
		       cli_human_bytes(vlen, h, sizeof h));
		if (!f.found) {
			printf("  TTL left: unknown (item changed while "
			       "reading)\n");
		} else if (f.item.ttl_left_ms < 0) {
			printf("  TTL left: never expires\n");
		} else {
			printf("  TTL left: %lld ms (%s)\n  Expires: ",
			       (long long)f.item.ttl_left_ms,
			       cli_human_ms((uint64_t)f.item.ttl_left_ms, h,
					    sizeof h));
			print_time_utc(f.item.expire_ms);
			putchar('\n');
		}
		printf("  CAS: %llu\n", U(cas));
		if (f.found)
			printf("  Size class: %u (%u-byte chunks)\n",
			       f.item.size_class, f.item.chunk_bytes);
	}
	code = EX_OK;
out:
	free(val);
	cli_buf_free(&key);
	fc_close(c);
	return code;
}

/* -------------------------------------------------------------- dump -- */

static bool
dump_one(void *arg, const fc_item *it)
{
	cli_dump_item d = { it->key, it->klen, it->value, it->vlen,
			    it->expire_ms, it->ttl_left_ms, it->cas };

	if (d.ttl_ms < -1)
		d.ttl_ms = 0;
	cli_dump_item_write(arg, &d);
	return true;
}

static int
cmd_dump(struct args *a)
{
	cli_dump_writer w = { stdout, a->seen[O_BINARY], 0 };
	fc_cache *c;
	int code;

	if (a->seen[O_BINARY] && a->seen[O_JSON])
		return usage_error(a->cmd, "%s", "--json and --binary "
				   "exclude each other");
	if (w.binary && isatty(STDOUT_FILENO))
		return usage_error(a->cmd, "%s", "refusing to write a binary "
				   "dump to a terminal; redirect stdout");
	if ((code = attach(a, &c)) != EX_OK)
		return code;
	cli_dump_begin(&w, a->name, fc_now_ms());
	code = for_each_item(c, a->name, a->val[O_PATTERN], dump_one, &w);
	if (code == EX_OK)
		cli_dump_end(&w);       /* a failed dump has no end marker */
	fc_close(c);
	return code;
}

/* ----------------------------------------------------------- restore -- */

/*
 * TTL to store for a dumped item: the time left until its recorded expiry
 * (default), or with --relative its ttl_ms from the dump counted from now.
 * @return false when the item has already expired (skip it).
 */
static bool
restore_ttl(const cli_dump_item *it, bool relative, uint64_t now_ms,
	    uint64_t *ttl_ms)
{
	bool have_exp = it->expire_ms != UINT64_MAX;
	bool have_ttl = it->ttl_ms != INT64_MIN;

	if ((relative && have_ttl) || !have_exp) {
		if (it->ttl_ms == -1) {
			*ttl_ms = 0;
			return true;
		}
		*ttl_ms = (uint64_t)it->ttl_ms;
		return it->ttl_ms > 0;
	}
	if (it->expire_ms == 0) {
		*ttl_ms = 0;
		return true;
	}
	if (it->expire_ms <= now_ms)
		return false;
	*ttl_ms = it->expire_ms - now_ms;
	return true;
}

static int
cmd_restore(struct args *a)
{
	cli_buf in = { 0 };
	cli_dump d;
	char err[256];
	uint64_t restored = 0, expired = 0, failed = 0, now;
	fc_cache *c;
	size_t k;
	int code;

	if (isatty(STDIN_FILENO))
		return usage_error(a->cmd, "%s", "reads a dump from standard "
				   "input: forkcache restore NAME < FILE");
	if (cli_buf_read_all(&in, stdin) < 0) {
		fprintf(stderr, "forkcache: restore: reading standard input: "
			"%s\n", strerror(errno));
		cli_buf_free(&in);
		return EX_FAIL;
	}
	if (cli_dump_parse(&d, &in, err, sizeof err) < 0) {
		fprintf(stderr, "forkcache: restore: %s; nothing restored\n",
			err);
		cli_dump_free(&d);
		return EX_FAIL;
	}
	if ((code = attach(a, &c)) != EX_OK) {
		cli_dump_free(&d);
		return code;
	}
	now = fc_now_ms();
	for (k = 0; k < d.count; k++) {
		const cli_dump_item *it = &d.items[k];
		uint64_t ttl;
		int rc;

		if (!restore_ttl(it, a->seen[O_RELATIVE], now, &ttl)) {
			expired++;
			continue;
		}
		rc = fc_set(c, it->key, it->klen, it->value, it->vlen, ttl);
		if (rc == FC_OK) {
			restored++;
			continue;
		}
		code = report("restore", it->key, it->klen, rc);
		if (code == EX_CORRUPT)
			goto out;
		failed++;
	}
	printf("Restore %s\n  Items in dump: %zu\n  Restored: %llu\n"
	       "  Skipped (expired): %llu\n  Failed: %llu\n", a->name,
	       d.count, U(restored), U(expired), U(failed));
	code = failed ? EX_FAIL : EX_OK;
out:
	fc_close(c);
	cli_dump_free(&d);
	return code;
}

/* ------------------------------------------------------ write commands -- */

static int
cmd_set(struct args *a)
{
	cli_buf key = { 0 }, val = { 0 };
	fc_cache *c;
	int code, rc;

	if ((code = key_arg(a, a->pos[1], &key)) != EX_OK)
		goto out_free;
	if (strcmp(a->pos[2], SET_STDIN) == 0) {
		if (cli_buf_read_all(&val, stdin) < 0) {
			fprintf(stderr, "forkcache: set: reading standard "
				"input: %s\n", strerror(errno));
			code = EX_FAIL;
			goto out_free;
		}
	} else if (a->seen[O_ESCAPED]) {
		if (cli_unescape(a->pos[2], &val) < 0) {
			code = usage_error(a->cmd, "malformed escape in value "
					   "'%s'", a->pos[2]);
			goto out_free;
		}
	} else {
		cli_buf_put(&val, a->pos[2], strlen(a->pos[2]));
	}
	if ((code = attach(a, &c)) != EX_OK)
		goto out_free;
	rc = fc_set(c, key.data, key.len, val.data, val.len,
		    a->seen[O_TTL] ? a->ttl_ms : 0);
	code = rc == FC_OK ? EX_OK : report(a->name, key.data, key.len, rc);
	fc_close(c);
out_free:
	cli_buf_free(&key);
	cli_buf_free(&val);
	return code;
}

static int
cmd_delete(struct args *a)
{
	cli_buf key = { 0 };
	fc_cache *c;
	int code, rc;

	if ((code = key_arg(a, a->pos[1], &key)) != EX_OK)
		goto out;
	if ((code = attach(a, &c)) != EX_OK)
		goto out;
	rc = fc_delete(c, key.data, key.len);
	code = rc == FC_OK ? EX_OK : report(a->name, key.data, key.len, rc);
	fc_close(c);
out:
	cli_buf_free(&key);
	return code;
}

static int
cmd_touch(struct args *a)
{
	cli_buf key = { 0 };
	fc_cache *c;
	int code, rc;

	if (!a->seen[O_TTL])
		return usage_error(a->cmd, "%s", "--ttl MS is required "
				   "(0 = never expires)");
	if ((code = key_arg(a, a->pos[1], &key)) != EX_OK)
		goto out;
	if ((code = attach(a, &c)) != EX_OK)
		goto out;
	rc = fc_touch(c, key.data, key.len, a->ttl_ms);
	code = rc == FC_OK ? EX_OK : report(a->name, key.data, key.len, rc);
	fc_close(c);
out:
	cli_buf_free(&key);
	return code;
}

static int
cmd_flush(struct args *a)
{
	fc_stats before, after;
	fc_cache *c;
	int code, rc;

	if ((code = attach(a, &c)) != EX_OK)
		return code;
	if (a->seen[O_EXPIRED_ONLY]) {
		int64_t n = fc_flush_expired(c);

		if (n < 0) {
			code = report(a->name, NULL, 0, (int)n);
		} else {
			printf("Flush %s\n  Removed (expired): %lld\n",
			       a->name, (long long)n);
		}
		fc_close(c);
		return code;
	}
	fc_stat(c, &before);
	if ((rc = fc_flush(c)) != FC_OK) {
		code = report(a->name, NULL, 0, rc);
	} else {
		fc_stat(c, &after);
		printf("Flush %s\n  Removed: %llu\n", a->name,
		       U(before.items > after.items ?
			 before.items - after.items : 0));
	}
	fc_close(c);
	return code;
}

static int
cmd_create(struct args *a)
{
	fc_options o;
	fc_stats st;
	fc_cache *c;
	int rc;

	if (!a->seen[O_SIZE])
		return usage_error(a->cmd, "%s", "--size SIZE is required "
				   "(e.g. --size 64M)");
	fc_options_init(&o);
	o.flags = FC_CREATE | FC_EXCL | a->flags;
	o.segment_bytes = a->size;
	if (a->seen[O_PAGE])
		o.page_bytes = (uint32_t)a->page;
	if (a->seen[O_SLOTS])
		o.reader_slots = (uint32_t)a->slots;
	if (a->seen[O_AVG])
		o.avg_item_bytes = (uint32_t)a->avg;
	if (a->seen[O_MODE])
		o.mode = a->mode;
	rc = fc_open(a->name, &o, &c);
	if (rc == FC_EINVAL) {
		fprintf(stderr, "forkcache: %s: FC_EINVAL: bad name or geometry"
			" (size 1M..1T; page a power of two 64K..16M; slots "
			"1..65536; avg-item 32..1M)\n", a->name);
		return EX_USAGE;
	}
	if (rc != FC_OK)
		return report(a->name, NULL, 0, rc);
	if ((rc = fc_stat(c, &st)) == FC_OK) {
		printf("Created %s (%s)\n", a->name,
		       a->flags & FC_FILE ? "file" : "shm");
		print_bytes_line("Size", st.segment_bytes);
		print_bytes_line("Page size", st.page_bytes);
		printf("  Pages: %llu\n", U(st.pages));
		print_bytes_line("Data capacity", st.data_capacity);
		print_bytes_line("Value max", st.value_max);
		printf("  Index buckets: %llu\n  Reader slots: %llu\n"
		       "  Size classes: %u\n", U(st.buckets),
		       U(st.reader_slots), st.classes);
	}
	fc_close(c);
	return rc == FC_OK ? EX_OK : report(a->name, NULL, 0, rc);
}

static int
cmd_rm(struct args *a)
{
	int rc = fc_unlink(a->name, a->flags);

	if (rc == FC_ENOTFOUND) {
		fprintf(stderr, "forkcache: %s: FC_ENOTFOUND: no such segment"
			"%s\n", a->name, a->flags & FC_FILE ? " file" : "");
		return EX_FAIL;
	}
	if (rc == FC_EINVAL)
		return usage_error(a->cmd, "not a valid segment name: '%s'",
				   a->name);
	return rc == FC_OK ? EX_OK : report(a->name, NULL, 0, rc);
}

/* ------------------------------------------------------------ verify -- */

struct problem {
	char *region;
	uint64_t offset;
	char *text;
};

struct verify_ctx {
	struct problem *p;
	size_t n, cap;
	uint64_t total;
};

static char *
xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = cli_xmalloc(n);

	memcpy(d, s, n);
	return d;
}

static void
verify_cb(void *arg, const char *region, uint64_t offset, const char *problem)
{
	struct verify_ctx *v = arg;

	v->total++;
	if (v->n == VERIFY_KEEP)
		return;
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		v->p = cli_xrealloc(v->p, v->cap * sizeof *v->p);
	}
	v->p[v->n].region = xstrdup(region ? region : "?");
	v->p[v->n].offset = offset;
	v->p[v->n].text = xstrdup(problem ? problem : "?");
	v->n++;
}

static void
verify_print(const struct args *a, const struct verify_ctx *v)
{
	size_t k;

	if (a->seen[O_JSON]) {
		printf("{\"segment\":");
		cli_json_str(stdout, a->name);
		printf(",\"ok\":%s,\"count\":%llu,\"problems\":[",
		       v->total ? "false" : "true", U(v->total));
		for (k = 0; k < v->n; k++) {
			printf("%s\n{\"region\":", k ? "," : "");
			cli_json_str(stdout, v->p[k].region);
			printf(",\"offset\":%llu,\"problem\":",
			       U(v->p[k].offset));
			cli_json_str(stdout, v->p[k].text);
			putchar('}');
		}
		printf("],\"listed\":%zu}\n", v->n);
		return;
	}
	printf("Verify %s\n", a->name);
	for (k = 0; k < v->n; k++) {
		printf("  Problem: %s at offset %llu (0x%llx): ",
		       v->p[k].region, U(v->p[k].offset), U(v->p[k].offset));
		cli_escape(stdout, v->p[k].text, strlen(v->p[k].text));
		putchar('\n');
	}
	if (v->total > v->n)
		printf("  (%llu more not listed)\n", U(v->total - v->n));
	printf("  Problems: %llu\n  Result: %s\n", U(v->total),
	       v->total ? "CORRUPT" : "OK");
}

static int
cmd_verify(struct args *a)
{
	struct verify_ctx v = { 0 };
	fc_options o;
	fc_cache *c;
	int64_t n;
	int rc, code;
	size_t k;

	fc_options_init(&o);
	o.flags = a->flags | FC_SHARED_OK; /* an inspector, as attach() */
	rc = fc_open(a->name, &o, &c);
	if (rc == FC_ECORRUPT || rc == FC_EINCOMPAT) {
		/* Attach refused the header: that is the finding. */
		char text[160];

		snprintf(text, sizeof text, "attach refused: %s: %s",
			 fc_errname(rc), fc_strerror(rc));
		verify_cb(&v, "header", 0, text);
		verify_print(a, &v);
		code = EX_CORRUPT;
		goto out;
	}
	if (rc != FC_OK)
		return open_failed(a, rc);
	n = fc_verify(c, 0, verify_cb, &v);
	fc_close(c);
	if (n < 0) {
		code = report(a->name, NULL, 0, (int)n);
		goto out;
	}
	if ((uint64_t)n > v.total)
		v.total = (uint64_t)n;  /* problems the callback did not see */
	verify_print(a, &v);
	code = v.total ? EX_CORRUPT : EX_OK;
out:
	for (k = 0; k < v.n; k++) {
		free(v.p[k].region);
		free(v.p[k].text);
	}
	free(v.p);
	return code;
}

/* ------------------------------------------------------------- watch -- */

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static double
rate(uint64_t now, uint64_t before, uint64_t ms)
{
	if (now < before || ms == 0)
		return 0.0;     /* counters folded or reset: no rate */
	return (double)(now - before) * 1000.0 / (double)ms;
}

static void
watch_frame(const struct args *a, const struct snapshot *prev,
	    const struct snapshot *cur, uint64_t ms, uint64_t frame, bool tty)
{
	const fc_stats *p = &prev->st, *s = &cur->st;
	uint64_t dh = s->hits >= p->hits ? s->hits - p->hits : 0;
	uint64_t dm = s->misses >= p->misses ? s->misses - p->misses : 0;
	char h1[32], h2[32];
	uint32_t k;

	if (a->seen[O_JSON]) {
		printf("{\"frame\":%llu,\"time_ms\":%llu,\"interval_ms\":%llu,"
		       "\"gets_per_s\":%.1f,\"hits_per_s\":%.1f,"
		       "\"misses_per_s\":%.1f,\"sets_per_s\":%.1f,"
		       "\"deletes_per_s\":%.1f,\"evictions_per_s\":%.1f,"
		       "\"expired_per_s\":%.1f,\"hit_ratio\":", U(frame),
		       U(fc_now_ms()), U(ms),
		       rate(s->hits + s->misses, p->hits + p->misses, ms),
		       rate(s->hits, p->hits, ms),
		       rate(s->misses, p->misses, ms),
		       rate(s->sets, p->sets, ms),
		       rate(s->deletes, p->deletes, ms),
		       rate(s->evictions, p->evictions, ms),
		       rate(s->expired, p->expired, ms));
		json_ratio(stdout, dh, dh + dm);
		printf(",\"hit_ratio_total\":");
		json_ratio(stdout, s->hits, s->hits + s->misses);
		printf(",\"items\":%llu,\"bytes_used\":%llu,"
		       "\"data_capacity\":%llu,\"limbo\":%llu,"
		       "\"readers_live\":%llu,\"readers_dead\":%llu,"
		       "\"readers_active\":%llu,\"size_classes\":[",
		       U(s->items), U(s->bytes_used), U(s->data_capacity),
		       U(s->limbo), U(s->readers_live), U(s->readers_dead),
		       U(s->readers_active));
		for (k = 0; k < s->classes; k++) {
			const fc_class_stats *cs = &cur->cls[k];

			printf("%s{\"class\":%u,\"chunk_bytes\":%u,"
			       "\"pages\":%llu,\"chunks_used\":%llu,"
			       "\"chunks_limbo\":%llu,\"chunks_free\":%llu,"
			       "\"data_bytes\":%llu}", k ? "," : "", k,
			       cs->chunk_bytes, U(cs->pages),
			       U(cs->chunks_used), U(cs->chunks_limbo),
			       U(cs->chunks_free), U(cs->data_bytes));
		}
		printf("]}\n");
		return;
	}
	if (tty)
		fputs("\033[H\033[2J", stdout);         /* home, clear */
	else if (frame > 1)
		putchar('\n');
	printf("Watch %s   every %.2f s   frame %llu\n", a->name,
	       (double)a->interval_ms / 1000.0, U(frame));
	printf("  Gets/s: %.0f (hits %.0f, misses %.0f)\n",
	       rate(s->hits + s->misses, p->hits + p->misses, ms),
	       rate(s->hits, p->hits, ms), rate(s->misses, p->misses, ms));
	printf("  Sets/s: %.0f   Deletes/s: %.0f   Evictions/s: %.0f   "
	       "Expired/s: %.0f\n", rate(s->sets, p->sets, ms),
	       rate(s->deletes, p->deletes, ms),
	       rate(s->evictions, p->evictions, ms),
	       rate(s->expired, p->expired, ms));
	if (dh + dm)
		printf("  Hit ratio: %.1f%% (interval)", pct(dh, dh + dm));
	else
		printf("  Hit ratio: n/a (interval)");
	if (s->hits + s->misses)
		printf("   %.1f%% (total)\n",
		       pct(s->hits, s->hits + s->misses));
	else
		printf("   n/a (total)\n");
	printf("  Items: %llu   Used: %s of %s (%.1f%%)   Limbo: %llu\n",
	       U(s->items), cli_human_bytes(s->bytes_used, h1, sizeof h1),
	       cli_human_bytes(s->data_capacity, h2, sizeof h2),
	       pct(s->bytes_used, s->data_capacity), U(s->limbo));
	printf("  Readers: live %llu   dead %llu   active %llu\n",
	       U(s->readers_live), U(s->readers_dead), U(s->readers_active));
	class_table(cur);
}

static int
cmd_watch(struct args *a)
{
	struct snapshot prev, cur;
	struct sigaction sa;
	uint64_t frame, t0, t1;
	bool tty = isatty(STDOUT_FILENO);
	fc_cache *c;
	int code;

	if ((code = attach(a, &c)) != EX_OK)
		return code;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;      /* no SA_RESTART: wake the sleep */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if ((code = check_slots(c, a->name)) != EX_OK ||
	    (code = snapshot_take(c, a->name, false, &prev)) != EX_OK)
		goto out;
	t0 = mono_ms();
	for (frame = 1; !stop_flag; frame++) {
		uint64_t due = t0 + a->interval_ms, now;

		while (!stop_flag && (now = mono_ms()) < due)
			sleep_ms(due - now);
		if (stop_flag)
			break;
		if ((code = snapshot_take(c, a->name, false, &cur)) != EX_OK)
			break;
		t1 = mono_ms();
		watch_frame(a, &prev, &cur, t1 - t0, frame, tty);
		fflush(stdout);
		snapshot_free(&prev);
		prev = cur;
		t0 = t1;
		if (a->seen[O_COUNT] && frame >= a->count)
			break;
	}
	snapshot_free(&prev);
out:
	fc_close(c);
	return code;
}

/* ----------------------------------------------------------- commands -- */

#define SEG_OPTS B(O_FILE)

static const struct command commands[] = {
	{ "stats", cmd_stats, 1, 1, SEG_OPTS | B(O_JSON),
	  "stats NAME [--json] [--file]",
	  "Show geometry, items, bytes, hit ratio, evictions, expirations,\n"
	  "each size class (pages, chunks used/limbo/free, waste) and the\n"
	  "reader slots (live, dead, stalled). Read-only, lock-free.\n"
	  "\n"
	  "  --json   the same data as one JSON object (see forkcache(1))\n"
	  "\n"
	  "Example: forkcache stats /myapp\n" },
	{ "keys", cmd_keys, 1, 1,
	  SEG_OPTS | B(O_JSON) | B(O_PATTERN) | B(O_LIMIT),
	  "keys NAME [--pattern GLOB] [--limit N] [--json] [--file]",
	  "List the keys of live items, one per line, non-printable bytes\n"
	  "escaped (\\xHH). Read-only, lock-free, weakly consistent.\n"
	  "\n"
	  "  --pattern GLOB  only keys matching GLOB (* ? [a-z] [!x] \\xHH)\n"
	  "  --limit N       at most N keys (N >= 1)\n"
	  "  --json          {\"keys\":[...],\"count\":N,\"truncated\":B}\n"
	  "\n"
	  "Example: forkcache keys /myapp --pattern 'user:*' --limit 5\n" },
	{ "get", cmd_get, 2, 2,
	  SEG_OPTS | B(O_RAW) | B(O_JSON) | B(O_ESCAPED),
	  "get NAME KEY [--raw] [--json] [--escaped] [--file]",
	  "Show the value of KEY with its TTL left, expiry, cas, size and\n"
	  "size class. Exit 1 if there is no live item. Read-only.\n"
	  "\n"
	  "  --raw      write the value bytes only, nothing else\n"
	  "  --json     one JSON object\n"
	  "  --escaped  KEY uses the escapes of text output (\\xHH \\n)\n"
	  "\n"
	  "Example: forkcache get /myapp user:42\n" },
	{ "dump", cmd_dump, 1, 1,
	  SEG_OPTS | B(O_JSON) | B(O_BINARY) | B(O_PATTERN),
	  "dump NAME [--json|--binary] [--pattern GLOB] [--file] > FILE",
	  "Write every live item with its TTL to standard output, as JSON\n"
	  "(default) or the binary format; `restore` reads both. Read-only.\n"
	  "\n"
	  "  --json          JSON document (default); non-UTF-8 keys/values\n"
	  "                  as {\"base64\":\"...\"}\n"
	  "  --binary        length-prefixed binary format (forkcache(1))\n"
	  "  --pattern GLOB  only keys matching GLOB\n"
	  "\n"
	  "Example: forkcache dump /myapp --binary > myapp.dump\n" },
	{ "restore", cmd_restore, 1, 1, SEG_OPTS | B(O_RELATIVE),
	  "restore NAME [--relative] [--file] < FILE",
	  "Load a dump (JSON or binary, detected) from standard input and set\n"
	  "each item. An item keeps its recorded expiry time; items already\n"
	  "expired are skipped. The whole dump is checked before any item is\n"
	  "set. Existing items under other keys stay.\n"
	  "\n"
	  "  --relative  use the TTL left at dump time, counted from now\n"
	  "\n"
	  "Example: forkcache restore /myapp < myapp.dump\n" },
	{ "set", cmd_set, 3, 3, SEG_OPTS | B(O_TTL) | B(O_ESCAPED),
	  "set NAME KEY VALUE [--ttl MS] [--escaped] [--file]",
	  "Store VALUE under KEY. VALUE '-' reads the value from standard\n"
	  "input (any bytes).\n"
	  "\n"
	  "  --ttl MS   expire after MS milliseconds (default 0: never)\n"
	  "  --escaped  KEY and VALUE use the escapes of text output\n"
	  "\n"
	  "Example: forkcache set /myapp user:42 'ann' --ttl 60000\n" },
	{ "delete", cmd_delete, 2, 2, SEG_OPTS | B(O_ESCAPED),
	  "delete NAME KEY [--escaped] [--file]",
	  "Remove the item under KEY. Exit 1 if there is no live item.\n"
	  "\n"
	  "Example: forkcache delete /myapp user:42\n" },
	{ "touch", cmd_touch, 2, 2, SEG_OPTS | B(O_TTL) | B(O_ESCAPED),
	  "touch NAME KEY --ttl MS [--escaped] [--file]",
	  "Give the live item under KEY a new TTL of MS milliseconds from now\n"
	  "(0: never expires). Exit 1 if there is no live item.\n"
	  "\n"
	  "Example: forkcache touch /myapp user:42 --ttl 30000\n" },
	{ "flush", cmd_flush, 1, 1, SEG_OPTS | B(O_EXPIRED_ONLY),
	  "flush NAME [--expired-only] [--file]",
	  "Remove every item, or with --expired-only only the expired ones.\n"
	  "\n"
	  "Example: forkcache flush /myapp --expired-only\n" },
	{ "create", cmd_create, 1, 1,
	  SEG_OPTS | B(O_SIZE) | B(O_PAGE) | B(O_SLOTS) | B(O_AVG) | B(O_MODE),
	  "create NAME --size SIZE [--page-size SIZE] [--slots N] "
	  "[--avg-item SIZE] [--mode OCTAL] [--file]",
	  "Create a new empty segment (exit 1 if it exists). SIZE takes K, M,\n"
	  "G, T suffixes (powers of 1024).\n"
	  "\n"
	  "  --size SIZE       segment size, 1M..1T (required)\n"
	  "  --page-size SIZE  slab page, power of two 64K..16M (default 2M)\n"
	  "  --slots N         reader slots, 1..65536 (default 256)\n"
	  "  --avg-item SIZE   expected mean item size, sizes the index\n"
	  "  --mode OCTAL      permission bits (default 0600)\n"
	  "\n"
	  "Example: forkcache create /myapp --size 64M\n" },
	{ "rm", cmd_rm, 1, 1, SEG_OPTS,
	  "rm NAME [--file]",
	  "Remove the segment's name. Processes that have it open keep using\n"
	  "it until they close it.\n"
	  "\n"
	  "Example: forkcache rm /myapp\n" },
	{ "verify", cmd_verify, 1, 1, SEG_OPTS | B(O_JSON),
	  "verify NAME [--json] [--file]",
	  "Check the whole segment (header, geometry, index, items, page map,\n"
	  "free lists, limbo, reader slots) without taking the writer lock,\n"
	  "and list each problem: region, offset, what was expected.\n"
	  "Exit 0 clean, 3 if any problem is found.\n"
	  "\n"
	  "  --json  {\"ok\":B,\"count\":N,\"problems\":[{\"region\",\n"
	  "          \"offset\",\"problem\"}]}\n"
	  "\n"
	  "Example: forkcache verify /myapp\n" },
	{ "watch", cmd_watch, 1, 1,
	  SEG_OPTS | B(O_INTERVAL) | B(O_COUNT) | B(O_JSON),
	  "watch NAME [--interval S] [--count N] [--json] [--file]",
	  "Live view, like top: gets/s, hits and misses, sets/s, evictions,\n"
	  "hit ratio, memory by size class, readers. Redraws on a terminal;\n"
	  "otherwise prints one block per interval. Read-only, lock-free.\n"
	  "Stops on Ctrl-C or after --count frames.\n"
	  "\n"
	  "  --interval S  seconds between frames, 0.01..86400 (default 1)\n"
	  "  --count N     stop after N frames\n"
	  "  --json        one JSON object per frame, one per line\n"
	  "\n"
	  "Example: forkcache watch /myapp --interval 0.5\n" },
};
static const size_t ncommands = sizeof commands / sizeof commands[0];

static void
main_help(FILE *out)
{
	size_t k;

	fprintf(out,
		"usage: forkcache <command> NAME [args] [options]\n"
		"\n"
		"Inspect and manage a forkcache shared-memory cache.\n"
		"NAME is a shm name (\"/myapp\"; \"myapp\" means \"/myapp\"),\n"
		"or a file path with --file or with a '/' after the first\n"
		"character.\n"
		"\n"
		"Commands:\n");
	for (k = 0; k < ncommands; k++)
		fprintf(out, "  forkcache %s\n", commands[k].synopsis);
	fprintf(out, "  forkcache %s\n", CLI_INVALIDATE_SYNOPSIS);
	fprintf(out,
		"\n"
		"Read-only: stats keys get dump verify watch (no writer\n"
		"lock).\n"
		"Exit codes: 0 ok, 1 not found or failed, 2 usage error,\n"
		"3 corrupt or incompatible segment.\n"
		"'forkcache <command> --help' describes one command; the\n"
		"manual is docs/forkcache.1.md.\n");
}

static void
cmd_help(const struct command *cmd)
{
	printf("usage: forkcache %s\n\n%s", cmd->synopsis, cmd->help);
	printf("\nNAME: shm name (\"/myapp\"), or a file path with --file or a "
	       "'/' inside.\nExit codes: 0 ok, 1 not found or failed, 2 usage,"
	       " 3 corrupt segment.\n");
}

/* Convert option values; report the first bad one. */
static int
resolve(struct args *a)
{
	const struct command *cmd = a->cmd;
	const char *n = a->pos[0];
	uint64_t v;

	if (*n == '\0')
		return usage_error(cmd, "%s", "empty segment NAME");
	if (a->seen[O_FILE] || strchr(n + 1, '/') != NULL) {
		a->flags = FC_FILE;
		a->name = n;
	} else if (n[0] == '/') {
		a->name = n;
	} else {
		if (strlen(n) + 2 > sizeof a->shmname)
			return usage_error(cmd, "segment name too long: '%s'",
					   n);
		snprintf(a->shmname, sizeof a->shmname, "/%s", n);
		a->name = a->shmname;
	}
	if (a->seen[O_LIMIT] &&
	    (sup_parse_u64(a->val[O_LIMIT], &a->limit) < 0 || a->limit == 0))
		return usage_error(cmd, "--limit wants a count >= 1, not '%s'",
				   a->val[O_LIMIT]);
	if (a->seen[O_TTL] && sup_parse_u64(a->val[O_TTL], &a->ttl_ms) < 0)
		return usage_error(cmd, "--ttl wants milliseconds (a whole "
				   "number >= 0), not '%s'", a->val[O_TTL]);
	if (a->seen[O_SIZE] && sup_parse_size(a->val[O_SIZE], &a->size) < 0)
		return usage_error(cmd, "--size wants a size like 64M, not "
				   "'%s'", a->val[O_SIZE]);
	if (a->seen[O_PAGE] && (sup_parse_size(a->val[O_PAGE], &a->page) < 0 ||
				a->page > UINT32_MAX))
		return usage_error(cmd, "--page-size wants a size like 2M, not "
				   "'%s'", a->val[O_PAGE]);
	if (a->seen[O_SLOTS] &&
	    (sup_parse_u64(a->val[O_SLOTS], &a->slots) < 0 ||
	     a->slots > UINT32_MAX))
		return usage_error(cmd, "--slots wants a count, not '%s'",
				   a->val[O_SLOTS]);
	if (a->seen[O_AVG] && (sup_parse_size(a->val[O_AVG], &a->avg) < 0 ||
			       a->avg > UINT32_MAX))
		return usage_error(cmd, "--avg-item wants a size, not '%s'",
				   a->val[O_AVG]);
	if (a->seen[O_MODE]) {
		char *end;
		unsigned long m;

		errno = 0;
		m = strtoul(a->val[O_MODE], &end, 8);
		if (errno || *end || end == a->val[O_MODE] || m > 07777)
			return usage_error(cmd, "--mode wants octal permission "
					   "bits like 0660, not '%s'",
					   a->val[O_MODE]);
		a->mode = (unsigned)m;
	}
	a->interval_ms = 1000;
	if (a->seen[O_INTERVAL] &&
	    (cli_parse_seconds_ms(a->val[O_INTERVAL], &v) < 0 || v < 10 ||
	     v > 86400000u))
		return usage_error(cmd, "--interval wants seconds 0.01..86400, "
				   "not '%s'", a->val[O_INTERVAL]);
	if (a->seen[O_INTERVAL])
		a->interval_ms = v;
	if (a->seen[O_COUNT] &&
	    (sup_parse_u64(a->val[O_COUNT], &a->count) < 0 || a->count == 0))
		return usage_error(cmd, "--count wants a count >= 1, not '%s'",
				   a->val[O_COUNT]);
	return EX_OK;
}

int
main(int argc, char **argv)
{
	struct args a;
	bool opts_done = false;
	int i, code;
	size_t k;

	memset(&a, 0, sizeof a);
	if (argc < 2) {
		main_help(stderr);
		return EX_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		if (strcmp(argv[1], "help") == 0 && argc > 2) {
			for (k = 0; k < ncommands; k++)
				if (strcmp(argv[2], commands[k].name) == 0) {
					cmd_help(&commands[k]);
					return finish_output(EX_OK);
				}
			return usage_error(NULL, "unknown command '%s'",
					   argv[2]);
		}
		main_help(stdout);
		return finish_output(EX_OK);
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("forkcache %d.%d.%d\n", FC_VERSION_MAJOR,
		       FC_VERSION_MINOR, FC_VERSION_PATCH);
		return finish_output(EX_OK);
	}
	/* Commands with their own option parser (cli.h). */
	if (strcmp(argv[1], "invalidate") == 0)
		return finish_output(cli_cmd_invalidate(argc - 1, argv + 1));
	for (k = 0; k < ncommands; k++)
		if (strcmp(argv[1], commands[k].name) == 0)
			a.cmd = &commands[k];
	if (a.cmd == NULL)
		return usage_error(NULL, "unknown command '%s'", argv[1]);

	/* --help anywhere wins, so every subcommand answers it. */
	for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			cmd_help(a.cmd);
			return finish_output(EX_OK);
		}

	for (i = 2; i < argc; i++) {
		const char *arg = argv[i], *eq, *name;
		size_t nlen;
		int o;

		if (opts_done || arg[0] != '-' || arg[1] == '\0') {
			if (a.npos == a.cmd->max_pos)
				return usage_error(a.cmd, "unexpected argument "
						   "'%s'", arg);
			a.pos[a.npos++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			opts_done = true;
			continue;
		}
		if (arg[1] != '-')
			return usage_error(a.cmd, "unknown option '%s' (options"
					   " are long: --name)", arg);
		name = arg + 2;
		eq = strchr(name, '=');
		nlen = eq ? (size_t)(eq - name) : strlen(name);
		for (o = 0; o < O__N; o++)
			if (strlen(optdefs[o].name) == nlen &&
			    strncmp(optdefs[o].name, name, nlen) == 0)
				break;
		if (o == O__N || !(a.cmd->opts & B(o)))
			return usage_error(a.cmd, "unknown option '%s'", arg);
		if (optdefs[o].has_arg) {
			if (eq) {
				a.val[o] = eq + 1;
			} else if (i + 1 < argc) {
				a.val[o] = argv[++i];
			} else {
				return usage_error(a.cmd, "option '%s' needs a "
						   "value", arg);
			}
		} else if (eq) {
			return usage_error(a.cmd, "option '%s' takes no value",
					   arg);
		}
		a.seen[o] = true;
	}
	if (a.npos < a.cmd->min_pos)
		return usage_error(a.cmd, "%s", a.npos == 0 ? "missing NAME"
				   : "missing argument");
	if ((code = resolve(&a)) != EX_OK)
		return code;
	code = a.cmd->run(&a);
	return finish_output(code);
}
