/*
 * cli_common.c - what every command of the forkcache CLI uses: exit codes
 * from library answers, one-line error reports, usage errors, the check of
 * standard output, attaching to a segment (with the reader-slot check
 * first), the key argument, and the walk over items.
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

int
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
int
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

int
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
int
finish_output(int code)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "forkcache: write error on standard output: "
				"%s\n",
			strerror(errno));
		return code == EX_OK ? EX_FAIL : code;
	}
	return code;
}

/* Report a failed fc_open(): one line, and the exit code. */
int
open_failed(const struct args *a, int rc)
{
	if (rc == FC_ENOTFOUND) {
		fprintf(stderr, "forkcache: %s: FC_ENOTFOUND: no such segment"
				"%s\n",
			a->name, a->flags & FC_FILE ? " file" : "");
		return EX_FAIL;
	}
	if (rc == FC_EINVAL) {
		fprintf(stderr, "forkcache: %s: FC_EINVAL: not a valid segment "
				"name (shm: \"/name\" with no other '/', at most 255 "
				"bytes; or --file PATH)\n",
			a->name);
		return EX_USAGE;
	}
	return report(a->name, NULL, 0, rc);
}

#define PID_LIMIT 4194304u /* PID_MAX_LIMIT: no Linux pid is larger */

/*
 * Is reader slot @p si impossible for the library to have written? The
 * epoch of a read never runs ahead of the global epoch (@p epoch, loaded
 * after the slot), and an owner is a real pid. @return a description of
 * the problem, or NULL.
 */
const char *
slot_problem(const fc_slot_info *si, uint64_t epoch, char *buf, size_t bufsz)
{
	if (si->state > FC_SLOT_DEAD)
		snprintf(buf, bufsz, "state %u is not free, live or dead",
			 si->state);
	else if (si->state != FC_SLOT_FREE &&
		 (si->pid == 0 || si->pid > PID_LIMIT))
		snprintf(buf, bufsz, "owner pid %u is not a valid pid "
				     "(1..%u)",
			 si->pid, PID_LIMIT);
	else if (si->epoch > epoch)
		snprintf(buf, bufsz, "read epoch %llu is ahead of the global "
				     "epoch %llu",
			 (unsigned long long)si->epoch,
			 (unsigned long long)epoch);
	else
		return NULL;
	return buf;
}

int
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
int
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
			continue; /* reload the epoch: it moves */
		if ((p = slot_problem(&si, st.epoch, buf, sizeof buf)) != NULL)
			return slot_corrupt(name, k, p);
	}
	return EX_OK;
}

/*
 * Attach, then check the reader-slot table before any read: a read would
 * otherwise claim a slot and reap garbage owners as dead processes, and
 * the damage would go unreported.
 */
int
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
int
key_arg(struct args *a, const char *s, cli_buf *out)
{
	if (a->seen[O_ESCAPED]) {
		if (cli_unescape(s, out) < 0)
			return usage_error(a->cmd, "malformed escape in '%s' "
						   "(use \\\\ \\n \\r \\t \\0 "
						   "\\xHH)",
					   s);
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

void
sleep_ms(uint64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000),
			      (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Report @p rc; an FC_EBUSY with a corrupt slot table is exit 3. */
int
busy_or_report(fc_cache *c, const char *name, const void *key, size_t klen,
	       int rc)
{
	if (rc == FC_EBUSY && check_slots(c, name) == EX_CORRUPT)
		return EX_CORRUPT;
	return report(name, key, klen, rc);
}

/* Iterate the live items matching --pattern; call @p fn for each until it
 * returns false. @return an exit code. */
int
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
