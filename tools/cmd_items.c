/*
 * cmd_items.c - the item commands: set, delete, touch, and dump and
 * restore (every item out to a file, and back in).
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

#define SET_STDIN "-" /* VALUE that means "read stdin" */

int
cmd_set(struct args *a)
{
	cli_buf key = {0}, val = {0};
	fc_cache *c;
	int code, rc;

	if ((code = key_arg(a, a->pos[1], &key)) != EX_OK)
		goto out_free;
	if (strcmp(a->pos[2], SET_STDIN) == 0) {
		if (cli_buf_read_all(&val, stdin) < 0) {
			fprintf(stderr, "forkcache: set: reading standard "
					"input: %s\n",
				strerror(errno));
			code = EX_FAIL;
			goto out_free;
		}
	} else if (a->seen[O_ESCAPED]) {
		if (cli_unescape(a->pos[2], &val) < 0) {
			code = usage_error(a->cmd, "malformed escape in value "
						   "'%s'",
					   a->pos[2]);
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

int
cmd_delete(struct args *a)
{
	cli_buf key = {0};
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

int
cmd_touch(struct args *a)
{
	cli_buf key = {0};
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

static bool
dump_one(void *arg, const fc_item *it)
{
	cli_dump_item d = {it->key, it->klen, it->value, it->vlen,
			   it->expire_ms, it->ttl_left_ms, it->cas};

	if (d.ttl_ms < -1)
		d.ttl_ms = 0;
	cli_dump_item_write(arg, &d);
	return true;
}

int
cmd_dump(struct args *a)
{
	cli_dump_writer w = {stdout, a->seen[O_BINARY], 0};
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
		cli_dump_end(&w); /* a failed dump has no end marker */
	fc_close(c);
	return code;
}

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

int
cmd_restore(struct args *a)
{
	cli_buf in = {0};
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
				"%s\n",
			strerror(errno));
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
	       "  Skipped (expired): %llu\n  Failed: %llu\n",
	       a->name,
	       d.count, U(restored), U(expired), U(failed));
	code = failed ? EX_FAIL : EX_OK;
out:
	fc_close(c);
	cli_dump_free(&d);
	return code;
}
