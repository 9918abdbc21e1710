/*
 * test_8_squatter.c - issue #8, finding 7: a segment that another local
 * user made first under the victim's name (a squatter: it can plant values
 * and read everything the victim stores) must be refused with FC_EPERM,
 * and so must one of the caller's own that grants more access than the
 * requested mode; FC_SHARED_OK opts in to both.
 *
 * The other user is simulated as root: a child makes the segment and
 * chown()s it to nobody (uid 65534); skipped when not root.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fc_test.h"

#ifndef FC_SHARED_OK /* phase 1: not yet in forkcache.h */
#define FC_SHARED_OK 0x8u
#define FC_EPERM (-13)
#endif

static void
plant(const char *name, unsigned flags, mode_t mode, uid_t owner)
{
	fc_options o;
	fc_cache *c;

	fc_options_init(&o);
	o.flags = FC_CREATE | FC_EXCL | flags;
	o.segment_bytes = 2u << 20;
	o.mode = 0600;
	assert_int_equal(fc_open(name, &o, &c), FC_OK);
	assert_int_equal(fc_set(c, "planted", 7, "evil", 4, 0), FC_OK);
	fc_close(c);
	char path[300];
	if (flags & FC_FILE)
		snprintf(path, sizeof path, "%s", name);
	else
		snprintf(path, sizeof path, "/dev/shm%s", name);
	assert_int_equal(chmod(path, mode), 0);
	assert_int_equal(chown(path, owner, owner), 0);
}

static int
victim_open(const char *name, unsigned flags, fc_cache **c)
{
	fc_options o;

	fc_options_init(&o);
	o.flags = FC_CREATE | flags; /* as a service starting up would */
	o.segment_bytes = 2u << 20;
	o.mode = 0600;
	*c = NULL;
	int rc = fc_open(name, &o, c);
	fprintf(stderr, "victim fc_open(%s): %s\n", name, fc_errname(rc));
	return rc;
}

static void
run(unsigned fileflag, mode_t mode, uid_t owner)
{
	char name[256], *dir = NULL;
	fc_cache *c;

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root to simulate another user\n");
		skip();
	}
	if (fileflag) {
		dir = fc_test_tmpdir();
		snprintf(name, sizeof name, "%s/seg", dir);
	} else {
		fc_test_name(name, sizeof name);
	}
	plant(name, fileflag, mode, owner);
	int rc = victim_open(name, fileflag, &c);
	int planted_seen = 0;
	if (rc == FC_OK) {
		char buf[8];
		size_t len = sizeof buf;
		planted_seen = fc_get(c, "planted", 7, buf, &len) == FC_OK;
		fc_close(c);
	}
	/* The opt-in attaches. */
	int rc_ok = victim_open(name, fileflag | FC_SHARED_OK, &c);
	if (rc_ok == FC_OK)
		fc_close(c);
	fc_unlink(name, fileflag);
	if (dir)
		fc_test_rmtree(dir);
	if (planted_seen)
		fprintf(stderr, "the victim attached and read the squatter's planted value\n");
	assert_int_equal(rc, FC_EPERM);
	assert_int_equal(rc_ok, FC_OK);
}

static void
shm_owned_by_another_user(void **state)
{
	(void)state;
	run(0, 0666, 65534);
}

static void
file_owned_by_another_user(void **state)
{
	(void)state;
	run(FC_FILE, 0666, 65534);
}

static void
own_shm_more_permissive_than_mode(void **state)
{
	(void)state;
	run(0, 0666, geteuid());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shm_owned_by_another_user),
		cmocka_unit_test(file_owned_by_another_user),
		cmocka_unit_test(own_shm_more_permissive_than_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
