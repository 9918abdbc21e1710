/*
 * cli_render.c - the stats snapshot (counters, classes, reader slots,
 * stalled readers) and how stats and watch print it, as text and as JSON;
 * byte sizes and UTC times for the commands.
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
#include "cli_args.h"

#define MAX_CLASSES 4096u /* far above any real class count */
#define STALL_PROBE_MS 10u /* a read this old is a stalled reader */

void
snapshot_free(struct snapshot *s)
{
	free(s->cls);
	free(s->slots);
	memset(s, 0, sizeof *s);
}

/*
 * Take a read-only snapshot: counters, every class, every non-free reader
 * slot. A slot is "stalled" when it is inside a read whose epoch is behind
 * the global epoch and is still in that same read STALL_PROBE_MS later: a
 * new read would start at the current epoch, so an unchanged old epoch is
 * one long read (a stopped or wedged process holding back memory reuse).
 */
int
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
				" %llu reader slots)\n",
			name,
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
			return report(what, NULL, 0, rc == FC_EINVAL ? FC_ECORRUPT : rc);
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
		fc_stats later; /* epoch after every slot was read */
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
	case FC_SLOT_FREE:
		return "free";
	case FC_SLOT_LIVE:
		return "live";
	case FC_SLOT_DEAD:
		return "dead";
	default:
		return "unknown";
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

void
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
	       "\"used_ratio\":",
	       U(st->items), U(st->bytes_used),
	       U(st->data_bytes));
	json_ratio(stdout, st->bytes_used, st->data_capacity);
	printf(",\n\"hits\":%llu,\"misses\":%llu,\"hit_ratio\":",
	       U(st->hits), U(st->misses));
	json_ratio(stdout, st->hits, st->hits + st->misses);
	printf(",\"sets\":%llu,\"deletes\":%llu,\"evictions\":%llu,"
	       "\"expired\":%llu,\n",
	       U(st->sets), U(st->deletes),
	       U(st->evictions), U(st->expired));
	printf("\"limbo\":%llu,\"epoch\":%llu,\"repairs\":%llu,"
	       "\"index_rebuilds\":%llu,\"reclaim_waits\":%llu,\n",
	       U(st->limbo), U(st->epoch), U(st->repairs),
	       U(st->index_rebuilds), U(st->reclaim_waits));
	printf("\"readers\":{\"slots\":%llu,\"live\":%llu,\"dead\":%llu,"
	       "\"active\":%llu,\"stalled\":%llu},\n",
	       U(st->reader_slots),
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
		       "\"waste_bytes\":%llu}",
		       k ? "," : "", k,
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
		       "\"stalled\":%s}",
		       k ? "," : "", r->slot, r->info.pid,
		       slot_state(r->info.state), U(r->info.epoch),
		       U(r->info.hits), U(r->info.misses),
		       r->stalled ? "true" : "false");
	}
	printf("]}\n");
}

void
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

void
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
	       "  Expirations: %llu\n",
	       U(st->sets), U(st->deletes),
	       U(st->evictions), U(st->expired));
	printf("Reclamation\n  Epoch: %llu\n  Limbo: %llu\n"
	       "  Reclaim waits: %llu\n  Repairs: %llu\n"
	       "  Index rebuilds: %llu\n",
	       U(st->epoch), U(st->limbo),
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
	       "  Active: %llu\n  Stalled: %llu\n",
	       U(st->reader_slots),
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

static double
rate(uint64_t now, uint64_t before, uint64_t ms)
{
	if (now < before || ms == 0)
		return 0.0; /* counters folded or reset: no rate */
	return (double)(now - before) * 1000.0 / (double)ms;
}

void
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
		       "\"expired_per_s\":%.1f,\"hit_ratio\":",
		       U(frame),
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
			       "\"data_bytes\":%llu}",
			       k ? "," : "", k,
			       cs->chunk_bytes, U(cs->pages),
			       U(cs->chunks_used), U(cs->chunks_limbo),
			       U(cs->chunks_free), U(cs->data_bytes));
		}
		printf("]}\n");
		return;
	}
	if (tty)
		fputs("\033[H\033[2J", stdout); /* home, clear */
	else if (frame > 1)
		putchar('\n');
	printf("Watch %s   every %.2f s   frame %llu\n", a->name,
	       (double)a->interval_ms / 1000.0, U(frame));
	printf("  Gets/s: %.0f (hits %.0f, misses %.0f)\n",
	       rate(s->hits + s->misses, p->hits + p->misses, ms),
	       rate(s->hits, p->hits, ms), rate(s->misses, p->misses, ms));
	printf("  Sets/s: %.0f   Deletes/s: %.0f   Evictions/s: %.0f   "
	       "Expired/s: %.0f\n",
	       rate(s->sets, p->sets, ms),
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

void
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
