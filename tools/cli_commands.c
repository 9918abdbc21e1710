/*
 * cli_commands.c - the command table of the forkcache CLI: each command's
 * handler, positional arguments, allowed options, synopsis and help text;
 * and the help pages printed from it.
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

#define SEG_OPTS B(O_FILE)

const struct command cli_commands[] = {
	{"stats", cmd_stats, 1, 1, SEG_OPTS | B(O_JSON),
	 "stats NAME [--json] [--file]",
	 "Show geometry, items, bytes, hit ratio, evictions, expirations,\n"
	 "each size class (pages, chunks used/limbo/free, waste) and the\n"
	 "reader slots (live, dead, stalled). Read-only, lock-free.\n"
	 "\n"
	 "  --json   the same data as one JSON object (see forkcache(1))\n"
	 "\n"
	 "Example: forkcache stats /myapp\n"},
	{"keys", cmd_keys, 1, 1,
	 SEG_OPTS | B(O_JSON) | B(O_PATTERN) | B(O_LIMIT),
	 "keys NAME [--pattern GLOB] [--limit N] [--json] [--file]",
	 "List the keys of live items, one per line, non-printable bytes\n"
	 "escaped (\\xHH). Read-only, lock-free, weakly consistent.\n"
	 "\n"
	 "  --pattern GLOB  only keys matching GLOB (* ? [a-z] [!x] \\xHH)\n"
	 "  --limit N       at most N keys (N >= 1)\n"
	 "  --json          {\"keys\":[...],\"count\":N,\"truncated\":B}\n"
	 "\n"
	 "Example: forkcache keys /myapp --pattern 'user:*' --limit 5\n"},
	{"get", cmd_get, 2, 2,
	 SEG_OPTS | B(O_RAW) | B(O_JSON) | B(O_ESCAPED),
	 "get NAME KEY [--raw] [--json] [--escaped] [--file]",
	 "Show the value of KEY with its TTL left, expiry, cas, size and\n"
	 "size class. Exit 1 if there is no live item. Read-only.\n"
	 "\n"
	 "  --raw      write the value bytes only, nothing else\n"
	 "  --json     one JSON object\n"
	 "  --escaped  KEY uses the escapes of text output (\\xHH \\n)\n"
	 "\n"
	 "Example: forkcache get /myapp user:42\n"},
	{"dump", cmd_dump, 1, 1,
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
	 "Example: forkcache dump /myapp --binary > myapp.dump\n"},
	{"restore", cmd_restore, 1, 1, SEG_OPTS | B(O_RELATIVE),
	 "restore NAME [--relative] [--file] < FILE",
	 "Load a dump (JSON or binary, detected) from standard input and set\n"
	 "each item. An item keeps its recorded expiry time; items already\n"
	 "expired are skipped. The whole dump is checked before any item is\n"
	 "set. Existing items under other keys stay.\n"
	 "\n"
	 "  --relative  use the TTL left at dump time, counted from now\n"
	 "\n"
	 "Example: forkcache restore /myapp < myapp.dump\n"},
	{"set", cmd_set, 3, 3, SEG_OPTS | B(O_TTL) | B(O_ESCAPED),
	 "set NAME KEY VALUE [--ttl MS] [--escaped] [--file]",
	 "Store VALUE under KEY. VALUE '-' reads the value from standard\n"
	 "input (any bytes).\n"
	 "\n"
	 "  --ttl MS   expire after MS milliseconds (default 0: never)\n"
	 "  --escaped  KEY and VALUE use the escapes of text output\n"
	 "\n"
	 "Example: forkcache set /myapp user:42 'ann' --ttl 60000\n"},
	{"delete", cmd_delete, 2, 2, SEG_OPTS | B(O_ESCAPED),
	 "delete NAME KEY [--escaped] [--file]",
	 "Remove the item under KEY. Exit 1 if there is no live item.\n"
	 "\n"
	 "Example: forkcache delete /myapp user:42\n"},
	{"touch", cmd_touch, 2, 2, SEG_OPTS | B(O_TTL) | B(O_ESCAPED),
	 "touch NAME KEY --ttl MS [--escaped] [--file]",
	 "Give the live item under KEY a new TTL of MS milliseconds from now\n"
	 "(0: never expires). Exit 1 if there is no live item.\n"
	 "\n"
	 "Example: forkcache touch /myapp user:42 --ttl 30000\n"},
	{"flush", cmd_flush, 1, 1, SEG_OPTS | B(O_EXPIRED_ONLY),
	 "flush NAME [--expired-only] [--file]",
	 "Remove every item, or with --expired-only only the expired ones.\n"
	 "\n"
	 "Example: forkcache flush /myapp --expired-only\n"},
	{"create", cmd_create, 1, 1,
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
	 "Example: forkcache create /myapp --size 64M\n"},
	{"rm", cmd_rm, 1, 1, SEG_OPTS,
	 "rm NAME [--file]",
	 "Remove the segment's name. Processes that have it open keep using\n"
	 "it until they close it.\n"
	 "\n"
	 "Example: forkcache rm /myapp\n"},
	{"verify", cmd_verify, 1, 1, SEG_OPTS | B(O_JSON),
	 "verify NAME [--json] [--file]",
	 "Check the whole segment (header, geometry, index, items, page map,\n"
	 "free lists, limbo, reader slots) without taking the writer lock,\n"
	 "and list each problem: region, offset, what was expected.\n"
	 "Exit 0 clean, 3 if any problem is found.\n"
	 "\n"
	 "  --json  {\"ok\":B,\"count\":N,\"problems\":[{\"region\",\n"
	 "          \"offset\",\"problem\"}]}\n"
	 "\n"
	 "Example: forkcache verify /myapp\n"},
	{"watch", cmd_watch, 1, 1,
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
	 "Example: forkcache watch /myapp --interval 0.5\n"},
};
const size_t cli_ncommands = sizeof cli_commands / sizeof cli_commands[0];

void
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
	for (k = 0; k < cli_ncommands; k++)
		fprintf(out, "  forkcache %s\n", cli_commands[k].synopsis);
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

void
cmd_help(const struct command *cmd)
{
	printf("usage: forkcache %s\n\n%s", cmd->synopsis, cmd->help);
	printf("\nNAME: shm name (\"/myapp\"), or a file path with --file or a "
	       "'/' inside.\nExit codes: 0 ok, 1 not found or failed, 2 usage,"
	       " 3 corrupt segment.\n");
}
