/*
 * cli_main.c - the forkcache inspector CLI: look inside a live cache.
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
 * LAYOUT       cli_main.c (this file: the command word, options, values),
 *              cli_commands.c (the table and help), cmd_*.c (the commands),
 *              cli_render.c, cli_common.c, then dump.c, json.c, text.c;
 *              each calls only files after it (cli_args.h, check-deps.sh).
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
#include "cli_args.h"

static const struct optdef {
	const char *name;
	bool has_arg;
} optdefs[O__N] = {
	[O_HELP] = {"help", false},
	[O_JSON] = {"json", false},
	[O_BINARY] = {"binary", false},
	[O_RAW] = {"raw", false},
	[O_FILE] = {"file", false},
	[O_EXPIRED_ONLY] = {"expired-only", false},
	[O_RELATIVE] = {"relative", false},
	[O_ESCAPED] = {"escaped", false},
	[O_PATTERN] = {"pattern", true},
	[O_LIMIT] = {"limit", true},
	[O_TTL] = {"ttl", true},
	[O_SIZE] = {"size", true},
	[O_PAGE] = {"page-size", true},
	[O_SLOTS] = {"slots", true},
	[O_AVG] = {"avg-item", true},
	[O_MODE] = {"mode", true},
	[O_INTERVAL] = {"interval", true},
	[O_COUNT] = {"count", true},
};

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
					"number >= 0), not '%s'",
				   a->val[O_TTL]);
	if (a->seen[O_SIZE] && sup_parse_size(a->val[O_SIZE], &a->size) < 0)
		return usage_error(cmd, "--size wants a size like 64M, not "
					"'%s'",
				   a->val[O_SIZE]);
	if (a->seen[O_PAGE] && (sup_parse_size(a->val[O_PAGE], &a->page) < 0 || a->page > UINT32_MAX))
		return usage_error(cmd, "--page-size wants a size like 2M, not "
					"'%s'",
				   a->val[O_PAGE]);
	if (a->seen[O_SLOTS] &&
	    (sup_parse_u64(a->val[O_SLOTS], &a->slots) < 0 ||
	     a->slots > UINT32_MAX))
		return usage_error(cmd, "--slots wants a count, not '%s'",
				   a->val[O_SLOTS]);
	if (a->seen[O_AVG] && (sup_parse_size(a->val[O_AVG], &a->avg) < 0 || a->avg > UINT32_MAX))
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
					"not '%s'",
				   a->val[O_INTERVAL]);
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
			for (k = 0; k < cli_ncommands; k++)
				if (strcmp(argv[2], cli_commands[k].name) == 0) {
					cmd_help(&cli_commands[k]);
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
	for (k = 0; k < cli_ncommands; k++)
		if (strcmp(argv[1], cli_commands[k].name) == 0)
			a.cmd = &cli_commands[k];
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
							  "'%s'",
						   arg);
			a.pos[a.npos++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			opts_done = true;
			continue;
		}
		if (arg[1] != '-')
			return usage_error(a.cmd, "unknown option '%s' (options"
						  " are long: --name)",
					   arg);
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
							  "value",
						   arg);
			}
		} else if (eq) {
			return usage_error(a.cmd, "option '%s' takes no value",
					   arg);
		}
		a.seen[o] = true;
	}
	if (a.npos < a.cmd->min_pos)
		return usage_error(a.cmd, "%s", a.npos == 0 ? "missing NAME" : "missing argument");
	if ((code = resolve(&a)) != EX_OK)
		return code;
	code = a.cmd->run(&a);
	return finish_output(code);
}
