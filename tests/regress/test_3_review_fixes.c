/*
 * test_3_review_fixes.c - regressions for the core review's findings:
 *  #2 a released slot kept its owner's start time, so a reaper judged the
 *     next (live) claimer dead during its claim window (since issue #8 the
 *     claim window is closed by the slot's lock byte, taken before the
 *     owner CAS: the test now plays a claimer between the two);
 *  #3 the reboot reset ran while a handle of this boot was open;
 *  #4 a creator killed mid-format left a segment FC_CREATE could not open;
 *  #9 fc_verify was quadratic in time and memory on a hostile index.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fc_test.h"
#include "fc_internal.h"

static void
claim_window_after_release_is_not_reaped(void **state)
{
	fc_cache *c = *state;
	char buf[8];
	size_t len = sizeof buf;

	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	pid_t pid = fork();
	if (pid == 0) { /* another process reads (claims slot 0), then closes */
		size_t l = sizeof buf;
		int rc = fc_get(c, "k", 1, buf, &l);
		fc_close(c);
		_exit(rc == FC_OK ? 0 : 1);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(WEXITSTATUS(st), 0);
	struct slot_shm *s = &c->slots[0];
	assert_int_equal((uint32_t)s->rs_owner, 0); /* released */
	/* We are mid-claim: the slot's byte locked (through a description of
	 * our own, as a claimer's), then the owner word stored. */
	char path[128];
	snprintf(path, sizeof path, "/dev/shm%s", fc_test_cur_name());
	int fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)c->g.slots_off, .l_len = 1};
	assert_int_equal(fcntl(fd, F_OFD_SETLK, &l), 0);
	uint64_t o = (((s->rs_owner >> 32) + 1) << 32) | (uint32_t)getpid();
	s->rs_owner = o;
	assert_int_equal(fc_reap(c), 0);
	assert_int_equal(s->rs_owner, o);
	close(fd); /* the claimer dies: now provably dead */
	assert_int_equal(fc_reap(c), 1);
	assert_int_equal(s->rs_owner, o & ~0xffffffffull);
	assert_int_equal(fc_get(c, "k", 1, buf, &len), FC_OK);
	fc_test_verify(c);
}

static void
reboot_reset_waits_for_no_open_handle(void **state)
{
	(void)state;
	char dir[] = "/tmp/fct-boot-XXXXXX", path[64], buf[8];
	size_t len = sizeof buf;
	fc_options o;
	fc_cache *a, *b;
	fc_slot_info si;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/seg", dir);
	fc_options_init(&o);
	o.flags = FC_CREATE | FC_EXCL | FC_FILE;
	o.segment_bytes = 2u << 20;
	assert_int_equal(fc_open(path, &o, &a), FC_OK);
	assert_int_equal(fc_set(a, "k", 1, "v", 1, 0), FC_OK);
	assert_int_equal(fc_get(a, "k", 1, buf, &len), FC_OK); /* a slot */
	/* Pretend the segment was made in another boot (or by a creator that
	 * could not read the boot id): an empty id. */
	memset(a->hdr->hd_boot_id, 0, sizeof a->hdr->hd_boot_id);
	o.flags = FC_FILE;
	assert_int_equal(fc_open(path, &o, &b), FC_OK);
	/* a is still open: no reset, its slot is intact. */
	assert_int_equal(fc_slot_stat(b, 0, &si), FC_OK);
	assert_int_equal(si.pid, (uint32_t)getpid());
	assert_int_equal(si.state, FC_SLOT_LIVE);
	fc_close(b);
	fc_close(a);
	/* No handle open now: the next attach may reset (and does). */
	assert_int_equal(fc_open(path, &o, &b), FC_OK);
	char boot[40];
	assert_int_equal(fc__read_boot_id(boot), 0);
	assert_memory_equal(b->hdr->hd_boot_id, boot, sizeof boot);
	len = sizeof buf;
	assert_int_equal(fc_get(b, "k", 1, buf, &len), FC_OK); /* items survive */
	fc_test_verify(b);
	fc_close(b);
	unlink(path);
	rmdir(dir);
}

static void
unfinished_segment_is_remade_by_fc_create(void **state)
{
	(void)state;
	char dir[] = "/tmp/fct-init-XXXXXX", path[64];
	fc_options o;
	fc_cache *c;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/seg", dir);
	/* What a creator killed mid-format leaves: the in-progress magic,
	 * some fields, no final magic. */
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 2u << 20), 0);
	unsigned char head[16] = "FRKCINIT\x01\x00\x00\x00\x00\x20\x00\x00";
	assert_int_equal(pwrite(fd, head, sizeof head, 0), (ssize_t)sizeof head);
	close(fd);
	fc_options_init(&o);
	o.flags = FC_FILE;
	assert_int_equal(fc_open(path, &o, &c), FC_ECORRUPT);
	o.flags = FC_FILE | FC_CREATE;
	o.segment_bytes = 2u << 20;
	assert_int_equal(fc_open(path, &o, &c), FC_OK);
	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	fc_test_verify(c);
	fc_close(c);
	unlink(path);
	rmdir(dir);
}

static long ncb;
static void
count_cb(void *arg, const char *region, uint64_t off, const char *problem)
{
	(void)arg, (void)region, (void)off, (void)problem;
	ncb++;
}

static void
verify_of_a_hostile_index_is_linear_and_bounded(void **state)
{
	fc_cache *c = *state;

	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	uint64_t *ix = fc__index(c, (unsigned)(c->hdr->hd_ix_sel & 1)), w = 0;
	for (uint64_t i = 0; i < c->g.nbuckets; i++)
		if (ix[i] > FC_BK_TOMB)
			w = ix[i];
	for (uint64_t i = 0; i < c->g.nbuckets; i++)
		ix[i] = w; /* every bucket: the same item */
	ncb = 0;
	int64_t n = fc_verify(c, 0, count_cb, NULL);
	assert_true(n >= (int64_t)c->g.nbuckets - 1); /* each duplicate counted */
	assert_true(ncb <= 1001); /* few described */
	for (uint64_t i = 0; i < c->g.nbuckets; i++)
		ix[i] = FC_BK_EMPTY;
	ix[0] = w; /* may be unreachable now; teardown does not verify */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(claim_window_after_release_is_not_reaped,
						fc_test_open, fc_test_close),
		cmocka_unit_test(reboot_reset_waits_for_no_open_handle),
		cmocka_unit_test(unfinished_segment_is_remade_by_fc_create),
		cmocka_unit_test_setup_teardown(verify_of_a_hostile_index_is_linear_and_bounded,
						fc_test_open, fc_test_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
