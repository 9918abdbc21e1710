/*
 * cmd_admin.c - the segment commands: create, rm, flush.
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
		       U(before.items > after.items ? before.items - after.items : 0));
	}
	fc_close(c);
	return code;
}

int
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
				"1..65536; avg-item 32..1M)\n",
			a->name);
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
		       "  Size classes: %u\n",
		       U(st.buckets),
		       U(st.reader_slots), st.classes);
	}
	fc_close(c);
	return rc == FC_OK ? EX_OK : report(a->name, NULL, 0, rc);
}

int
cmd_rm(struct args *a)
{
	int rc = fc_unlink(a->name, a->flags);

	if (rc == FC_ENOTFOUND) {
		fprintf(stderr, "forkcache: %s: FC_ENOTFOUND: no such segment"
				"%s\n",
			a->name, a->flags & FC_FILE ? " file" : "");
		return EX_FAIL;
	}
	if (rc == FC_EINVAL)
		return usage_error(a->cmd, "not a valid segment name: '%s'",
				   a->name);
	return rc == FC_OK ? EX_OK : report(a->name, NULL, 0, rc);
}
