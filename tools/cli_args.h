/*
 * cli_args.h - what the files of the forkcache CLI share: exit codes, the
 * options, the parsed arguments, the command table's entry, the stats
 * snapshot, and each file's exported calls. (cli.h is the layer below:
 * text, JSON and dump formats, exit codes, and `forkcache invalidate`.)
 *
 * BEGIN MODULE ORDER (top calls down; scripts/check-deps.sh)
 *   cli_main        main(): the command word, the option parser, resolve()
 *   cli_commands    the command table (options, synopsis, help) and help
 *   cmd_inspect     stats, keys, get, verify, watch (read-only)
 *   cmd_items       set, delete, touch, dump, restore
 *   cmd_admin       create, rm, flush
 *   cmd_invalidate  invalidate (its own options; libforkcache-redis)
 *   cli_render      the stats snapshot and its text and JSON; time, bytes
 *   cli_common      exit codes, error lines, attach, key argument, items
 *   dump            the dump formats (binary and JSON), read and written
 *   json            a small JSON reader and writer
 *   text            escapes, base64, globs, numbers, buffers
 * NOT IN ORDER: forkcache-sync (another program: the sync daemon)
 * END MODULE ORDER
 */
#ifndef FC_CLI_ARGS_H
#define FC_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "forkcache.h"
#include "cli.h"

/* ------------------------------------------------------------ options -- */

enum opt_id {
	O_HELP,
	O_JSON,
	O_BINARY,
	O_RAW,
	O_FILE,
	O_EXPIRED_ONLY,
	O_RELATIVE,
	O_ESCAPED,
	O_PATTERN,
	O_LIMIT,
	O_TTL,
	O_SIZE,
	O_PAGE,
	O_SLOTS,
	O_AVG,
	O_MODE,
	O_INTERVAL,
	O_COUNT,
	O__N
};

#define B(o) (1u << (o))

struct args {
	const struct command *cmd;
	const char *pos[3];
	int npos;
	bool seen[O__N];
	const char *val[O__N];
	/* resolved */
	const char *name; /* as given to fc_open */
	char shmname[300];
	unsigned flags; /* FC_FILE or 0 */
	uint64_t limit, ttl_ms, size, page, slots, avg, interval_ms, count;
	unsigned mode;
};

struct command {
	const char *name;
	int (*run)(struct args *a);
	int min_pos, max_pos; /* positionals, NAME included */
	unsigned opts; /* allowed options (B(O_*)) */
	const char *synopsis;
	const char *help;
};

/* ------------------------------------------------------ cli_commands.c */

extern const struct command cli_commands[];
extern const size_t cli_ncommands;
void main_help(FILE *out);
void cmd_help(const struct command *cmd);

/* ---------------------------------------------- cmd_inspect.c, cmd_items.c,
 * cmd_admin.c: one handler per command (struct command.run) */

int cmd_stats(struct args *a);
int cmd_keys(struct args *a);
int cmd_get(struct args *a);
int cmd_verify(struct args *a);
int cmd_watch(struct args *a);
int cmd_set(struct args *a);
int cmd_delete(struct args *a);
int cmd_touch(struct args *a);
int cmd_dump(struct args *a);
int cmd_restore(struct args *a);
int cmd_flush(struct args *a);
int cmd_create(struct args *a);
int cmd_rm(struct args *a);

/* -------------------------------------------------------- cli_render.c */

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

#define U(x) ((unsigned long long)(x))

/* Read-only snapshot of counters, classes and (@p want_slots) non-free
 * reader slots, stalled ones probed; EX_OK or the exit code (reported). */
int snapshot_take(fc_cache *c, const char *name, bool want_slots,
		  struct snapshot *s);
void snapshot_free(struct snapshot *s);
void stats_json(const struct args *a, const struct snapshot *s);
void stats_text(const struct args *a, const struct snapshot *s);
void watch_frame(const struct args *a, const struct snapshot *prev,
		 const struct snapshot *cur, uint64_t ms, uint64_t frame,
		 bool tty);
void print_bytes_line(const char *label, uint64_t v);
void print_time_utc(uint64_t ms);

/* -------------------------------------------------------- cli_common.c */

int report(const char *what, const void *key, size_t klen, int err);
int usage_error(const struct command *cmd, const char *fmt, const char *arg);
int finish_output(int code);
const char *slot_problem(const fc_slot_info *si, uint64_t epoch, char *buf,
			 size_t bufsz);
int slot_corrupt(const char *name, unsigned slot, const char *problem);
int check_slots(fc_cache *c, const char *name);
int open_failed(const struct args *a, int rc);
int attach(struct args *a, fc_cache **out);
int key_arg(struct args *a, const char *s, cli_buf *out);
void sleep_ms(uint64_t ms);
uint64_t mono_ms(void);
int busy_or_report(fc_cache *c, const char *name, const void *key,
		   size_t klen, int rc);
int for_each_item(fc_cache *c, const char *name, const char *pattern,
		  bool (*fn)(void *arg, const fc_item *it), void *arg);

#endif /* FC_CLI_ARGS_H */
