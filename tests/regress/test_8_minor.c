/*
 * test_8_minor.c - issue #8, finding 9 (minor items):
 *  - ttl_left_ms_is_clamped: an item with a TTL beyond INT64_MAX ms must
 *    report a large positive ttl_left_ms (-1 is reserved for "never"),
 *    through fc_get_item() and the iterator;
 *  - shipped_library_ignores_fc_fault: the shipped shared library must not
 *    honour the FC_FAULT environment variable (fault injection only in the
 *    test build): a helper linked to it sets a key with
 *    FC_FAULT=set.locked:1:kill in its environment and must live;
 *  - nested_read_before_publish_is_protected: a signal handler that reads
 *    while the interrupted read has loaded but not yet published its epoch
 *    (the fault point read.enter raises the signal exactly there) must read
 *    under a published epoch, and so must the interrupted read after the
 *    handler returns: each is killed inside its read section in turn and
 *    its slot must hold an epoch. (On c334e38, before read.enter existed,
 *    the same state was made by hand: depth 1, epoch 0; the nested read ran
 *    with epoch 0.)
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fc_test.h"
#include "fault.h"

static void
ttl_left_ms_is_clamped(void **state)
{
	fc_cache *c = *state;
	uint64_t ttls[] = {UINT64_MAX, (1ull << 63) + 12345, INT64_MAX};

	for (size_t i = 0; i < sizeof ttls / sizeof ttls[0]; i++) {
		char buf[8];
		size_t len = sizeof buf;
		fc_item meta;
		assert_int_equal(fc_set(c, "k", 1, "v", 1, ttls[i]), FC_OK);
		assert_int_equal(fc_get_item(c, "k", 1, buf, &len, &meta), FC_OK);
		fprintf(stderr, "ttl %llu: ttl_left_ms %lld\n", (unsigned long long)ttls[i],
			(long long)meta.ttl_left_ms);
		assert_true(meta.ttl_left_ms > 0);
		fc_iter *it;
		fc_item item;
		assert_int_equal(fc_iter_open(c, &it), FC_OK);
		assert_int_equal(fc_iter_next(it, &item), FC_OK);
		fc_iter_close(it);
		assert_true(item.ttl_left_ms > 0);
	}
}

static void
shipped_library_ignores_fc_fault(void **state)
{
	(void)state;
	char name[64];

	fc_test_name(name, sizeof name);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("FC_FAULT", "set.locked:1:kill", 1);
		execl(FC_FAULT_ENV_HELPER, FC_FAULT_ENV_HELPER, name, (char *)NULL);
		_exit(127);
	}
	char sb[64];
	int st = fc_test_wait(pid);
	fprintf(stderr, "helper linked to the shipped library, FC_FAULT set: %s\n",
		fc_test_status_str(st, sb, sizeof sb));
	fc_unlink(name, 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static fc_cache *g_c;
static int nested_nth;

/* SIGUSR1, raised by the fault point read.enter: the interrupted read has
 * loaded the global epoch but not yet published it. The handler arms
 * read.inside to kill at its nested_nth-th hit (1: inside the handler's
 * own read; 2: inside the interrupted read, once the handler is done)
 * and reads. */
static void
reading_handler(int sig)
{
	char buf[8];
	size_t len = sizeof buf;
	(void)sig;
	fc__fault_arm("read.inside", (uint64_t)nested_nth, FC__FAULT_KILL);
	(void)fc_get(g_c, "k", 1, buf, &len);
}

static void
nested_read_killed_inside(fc_cache *c, int nth, const char *what)
{
	pid_t pid = fc_test_fork();
	if (pid == 0) {
		char buf[8];
		size_t len = sizeof buf;
		g_c = c;
		nested_nth = nth;
		FC_CHILD_CHECK_RC(fc_get(c, "k", 1, buf, &len), FC_OK); /* a slot */
		signal(SIGUSR1, reading_handler);
		fc__fault_arm("read.enter", 1, FC__FAULT_SIGNAL);
		len = sizeof buf;
		(void)fc_get(c, "k", 1, buf, &len); /* the interrupted read */
		_exit(FC_TEST_CHILD_NOTREACHED);
	}
	fc_test_assert_killed(pid, SIGKILL, what);
	fc_stats st = fc_test_stats(c);
	uint64_t epoch = 0;
	for (unsigned i = 0; i < st.reader_slots; i++) {
		fc_slot_info si;
		assert_int_equal(fc_slot_stat(c, i, &si), FC_OK);
		if (si.pid == (uint32_t)pid)
			epoch = si.epoch;
	}
	fprintf(stderr, "%s: killed inside, slot epoch %llu\n", what, (unsigned long long)epoch);
	assert_int_not_equal(epoch, 0);
	assert_true(fc_reap(c) >= 1);
}

static void
nested_read_before_publish_is_protected(void **state)
{
	fc_cache *c = *state;

	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	nested_read_killed_inside(c, 1, "the handler's read");
	nested_read_killed_inside(c, 2, "the interrupted read, after the handler's");
	fc_test_verify(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(ttl_left_ms_is_clamped, fc_test_open,
						fc_test_close),
		cmocka_unit_test(shipped_library_ignores_fc_fault),
		cmocka_unit_test_setup_teardown(nested_read_before_publish_is_protected,
						fc_test_open, fc_test_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
