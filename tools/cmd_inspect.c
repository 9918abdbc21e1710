/*
 * cmd_inspect.c - the read-only commands: stats, keys, get, verify, watch.
 * They never change an item and never take the writer lock (cli_main.c).
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

#define VERIFY_KEEP 10000u /* problems kept for the report */

int
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

struct keys_ctx {
	bool json;
	uint64_t limit; /* 0 = none */
	uint64_t count;
	bool truncated;
};

static bool
keys_one(void *arg, const fc_item *it)
{
	struct keys_ctx *k = arg;

	if (k->limit && k->count == k->limit) {
		k->truncated = true; /* one more match exists */
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

int
cmd_keys(struct args *a)
{
	struct keys_ctx k = {a->seen[O_JSON], a->limit, 0, false};
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
	f->item.key = f->item.value = NULL; /* not valid after the call */
	return false;
}

/*
 * fc_gets() gives the value and cas; the TTL and size class come only from
 * the iterator (the API has no per-key metadata call), so `get` scans for
 * the key and uses that item when its cas matches. O(items); see the man
 * page.
 */
int
cmd_get(struct args *a)
{
	cli_buf key = {0};
	uint8_t *val = NULL;
	size_t cap = 4096, vlen = 0;
	uint64_t cas = 0;
	struct find_ctx f = {0};
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
		while (rc == FC_ETRUNC) { /* value grew: resize */
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
		f.found = false; /* changed under us: read again */
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

int
cmd_verify(struct args *a)
{
	struct verify_ctx v = {0};
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
		v.total = (uint64_t)n; /* problems the callback did not see */
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

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

int
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
	sa.sa_handler = on_signal; /* no SA_RESTART: wake the sleep */
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
