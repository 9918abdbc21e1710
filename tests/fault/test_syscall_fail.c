/*
 * tests/fault/test_syscall_fail.c - "fail" actions at the syscall and
 * allocation points: fc_open gives FC_ESYS (errno EIO) and leaves nothing
 * half-made; a failed slot claim gives FC_EBUSY; a failed page grab leaves
 * the key's item unchanged and the cache verifiable. Each point is failed at its Nth hit,
 * N = 1, 2, ..., once and then persistently, until the call succeeds.
 */
#include "fc_test.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fault.h"

/* Create under a fresh name with @p point failing at hit nth (action
 * @p action) until fc_open succeeds; every failure must be FC_ESYS/EIO
 * and leave no segment behind. */
static void
open_fails_cleanly_until_it_succeeds(const char *point, int action,
				     int file_backed)
{
	char *dir = file_backed ? fc_test_tmpdir() : NULL;
	char name[512];
	unsigned failures = 0;

	for (uint64_t nth = 1; nth < 20; nth++) {
		fc_options o;
		fc_cache *c = NULL, *d = NULL;
		struct stat sb;
		int rc;

		if (file_backed)
			snprintf(name, sizeof name, "%s/seg-%" PRIu64, dir,
				 nth);
		else
			fc_test_name(name, sizeof name);
		fc_test_default_options(&o);
		if (file_backed)
			o.flags |= FC_FILE;
		assert_int_equal(fc__fault_arm(point, nth, action), FC_OK);
		errno = 0;
		rc = fc_open(name, &o, &c);
		fc__fault_disarm();
		if (rc == FC_OK) {
			/* the point was hit fewer than nth times */
			assert_non_null(c);
			assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
			fc_test_verify(c);
			assert_int_equal(fc_close(c), FC_OK);
			assert_int_equal(fc_unlink(name, o.flags), FC_OK);
			break;
		}
		failures++;
		if (rc != FC_ESYS)
			fail_msg("%s fail at hit %" PRIu64
				 ": fc_open = %s, want "
				 "FC_ESYS",
				 point, nth, fc_errname(rc));
		assert_int_equal(errno, EIO);
		assert_null(c);
		/* nothing half-made is left under the name */
		o.flags &= ~(FC_CREATE | FC_EXCL);
		assert_int_equal(fc_open(name, &o, &d), FC_ENOTFOUND);
		if (file_backed)
			assert_int_equal(stat(name, &sb), -1);
		/* and the name can be created afresh */
		o.flags |= FC_CREATE | FC_EXCL;
		assert_int_equal(fc_open(name, &o, &d), FC_OK);
		assert_int_equal(fc_set(d, "k", 1, "v", 1, 0), FC_OK);
		fc_test_verify(d);
		assert_int_equal(fc_close(d), FC_OK);
		assert_int_equal(fc_unlink(name, o.flags), FC_OK);
	}
	/* each point is hit at least once by a create */
	assert_true(failures >= 1);
	fc_test_rmtree(dir);
}

static void
open_ftruncate_failure_is_esys_and_leaves_nothing(void **state)
{
	open_fails_cleanly_until_it_succeeds("open.ftruncate", FC__FAULT_FAIL1,
					     0);
	open_fails_cleanly_until_it_succeeds("open.ftruncate", FC__FAULT_FAIL,
					     0);
	open_fails_cleanly_until_it_succeeds("open.ftruncate", FC__FAULT_FAIL1,
					     1);
}

static void
open_mmap_failure_on_create_is_esys_and_leaves_nothing(void **state)
{
	open_fails_cleanly_until_it_succeeds("open.mmap", FC__FAULT_FAIL1, 0);
	open_fails_cleanly_until_it_succeeds("open.mmap", FC__FAULT_FAIL, 0);
	open_fails_cleanly_until_it_succeeds("open.mmap", FC__FAULT_FAIL1, 1);
}

static void
open_mmap_failure_on_attach_leaves_the_segment_intact(void **state)
{
	fc_cache *c = *state, *d = NULL;
	char buf[8];
	size_t len = sizeof buf;
	fc_stats a, b;

	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	a = fc_test_stats(c);
	assert_int_equal(fc__fault_arm("open.mmap", 1, FC__FAULT_FAIL), FC_OK);
	errno = 0;
	assert_int_equal(fc_open(fc_test_cur_name(), NULL, &d), FC_ESYS);
	assert_int_equal(errno, EIO);
	assert_null(d);
	assert_true(fc__fault_disarm() >= 1);
	b = fc_test_stats(c);
	assert_int_equal(b.items, a.items);
	assert_int_equal(fc_get(c, "k", 1, buf, &len), FC_OK);
	fc_test_verify(c);
	assert_int_equal(fc_open(fc_test_cur_name(), NULL, &d), FC_OK);
	len = sizeof buf;
	assert_int_equal(fc_get(d, "k", 1, buf, &len), FC_OK);
	assert_int_equal(fc_close(d), FC_OK);
}

static void
failed_slot_claim_gives_ebusy(void **state)
{
	fc_cache *c = *state;
	pid_t pid;

	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	pid = fc_test_fork();
	if (pid == 0) {
		/* a new process: its first read claims a slot */
		char buf[8];
		size_t len = sizeof buf;
		uint64_t cas = 0;
		fc_iter *it = NULL;
		fc_item item;

		FC_CHILD_CHECK_RC(
			fc__fault_arm("slot.claim", 1, FC__FAULT_FAIL), FC_OK);
		FC_CHILD_CHECK_RC(fc_get(c, "k", 1, buf, &len), FC_EBUSY);
		len = sizeof buf;
		FC_CHILD_CHECK_RC(fc_gets(c, "k", 1, buf, &len, &cas),
				  FC_EBUSY);
		FC_CHILD_CHECK_RC(fc_iter_open(c, &it), FC_OK);
		FC_CHILD_CHECK_RC(fc_iter_next(it, &item), FC_EBUSY);
		fc_iter_close(it);
		FC_CHILD_CHECK(fc__fault_disarm() >= 1);
		len = sizeof buf;
		FC_CHILD_CHECK_RC(fc_get(c, "k", 1, buf, &len), FC_OK);
		FC_CHILD_CHECK(len == 1 && buf[0] == 'v');
		_exit(0);
	}
	fc_test_assert_exit(pid, 0);
	/* a failed claim counts neither a hit nor a miss */
	assert_int_equal(fc_test_stats(c).hits, 1);
	fc_test_verify(c);
}

static void
failed_page_grab_leaves_the_key_unchanged(void **state)
{
	/* page.grab "fail" gives FC_ENOMEM at the page grab. fc_set: "On
	 * FC_ENOMEM and FC_EBUSY the key's item is unchanged, but making
	 * room may already have evicted or expired other items." Fail the
	 * Nth grab, once and persistently; every fifth set replaces an
	 * earlier key, so a failure must leave that key's old value. */
	for (int action = FC__FAULT_FAIL1; action >= FC__FAULT_FAIL; action--) {
		for (uint64_t nth = 1; nth <= 12; nth++) {
			fc_options o;
			fc_cache *c;
			unsigned char val[20000], buf[20000], old[20000];
			char key[32];
			unsigned failed = 0;

			fc_test_default_options(&o);
			o.segment_bytes = 2u << 20;
			c = fc_test_create(&o);
			assert_int_equal(
				fc__fault_arm("page.grab", nth, action), FC_OK);
			for (unsigned i = 0; i < 60; i++) {
				unsigned k = i % 5 == 4 ? i / 2 : i;
				size_t kl =
					fc_test_key(key, sizeof key, "g:", k);
				size_t vl =
					FC_TEST_VALUE_MIN + (i * 331u) % 19000u;
				size_t len = sizeof buf, oldlen = sizeof old;
				int had = fc_get(c, key, kl, old, &oldlen);
				fc_stats a = fc_test_stats(c), b;
				int rc;

				assert_true(had == FC_OK || had == FC_ENOTFOUND);
				fc_test_value_make(val, vl, key, kl, 0, i);
				rc = fc_set(c, key, kl, val, vl, 0);
				b = fc_test_stats(c);
				if (rc == FC_OK) {
					assert_int_equal(
						fc_get(c, key, kl, buf, &len),
						FC_OK);
					assert_int_equal(len, vl);
					assert_memory_equal(buf, val, vl);
					continue;
				}
				failed++;
				if (rc != FC_ENOMEM && rc != FC_EBUSY)
					fail_msg("page.grab fail at %" PRIu64
						 ": set = %s",
						 nth, fc_errname(rc));
				/* nothing stored: only evictions/expiries may
				 * have removed items */
				assert_int_equal(b.sets, a.sets);
				assert_int_equal(a.items - b.items,
						 (b.evictions - a.evictions) +
							 (b.expired - a.expired));
				/* the key's own item is unchanged (if room
				 * making did not evict it) */
				rc = fc_get(c, key, kl, buf, &len);
				if (had == FC_ENOTFOUND) {
					assert_int_equal(rc, FC_ENOTFOUND);
				} else if (rc == FC_OK) {
					assert_int_equal(len, oldlen);
					assert_memory_equal(buf, old, oldlen);
				} else {
					assert_int_equal(rc, FC_ENOTFOUND);
					assert_true(b.evictions > a.evictions);
				}
			}
			fc__fault_disarm();
			fc_test_verify(c);
			/* the cache works again once the fault is gone */
			assert_int_equal(fc_set(c, "after", 5, val, 15000, 0),
					 FC_OK);
			fc_test_verify(c);
			fc_test_destroy(c);
			/* failing every grab from the first on: an empty
			 * cache cannot store anything (a single failed grab
			 * may be retried or worked around) */
			if (nth == 1 && action == FC__FAULT_FAIL)
				assert_true(failed >= 1);
		}
	}
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			open_ftruncate_failure_is_esys_and_leaves_nothing),
		cmocka_unit_test(
			open_mmap_failure_on_create_is_esys_and_leaves_nothing),
		T(open_mmap_failure_on_attach_leaves_the_segment_intact),
		T(failed_slot_claim_gives_ebusy),
		cmocka_unit_test(failed_page_grab_leaves_the_key_unchanged),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
