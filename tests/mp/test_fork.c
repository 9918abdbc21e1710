/* tests/mp/test_fork.c - a handle inherited over fork(), and independent
 * attach by name, in child processes. */
#include "fc_test.h"

#include <string.h>
#include <sys/wait.h>

enum { NPARENT = 300,
       NCHILD = 3,
       NPER = 200 };

static int
check_val(fc_cache *c, const char *key, size_t kl, uint32_t writer,
	  uint64_t seq)
{
	unsigned char buf[512];
	size_t len = sizeof buf;
	uint32_t w = 0;
	uint64_t s = 0;
	int rc = fc_get(c, key, kl, buf, &len);

	if (rc != FC_OK)
		return rc;
	if (fc_test_value_check(buf, len, key, kl, &w, &s) != 0)
		return 100;
	if (w != writer || s != seq)
		return 101;
	return 0;
}

static void
put(fc_cache *c, const char *prefix, unsigned i, uint32_t writer, uint64_t seq,
    int in_child)
{
	unsigned char val[512];
	char key[32];
	size_t kl = fc_test_key(key, sizeof key, prefix, i);
	size_t vl = FC_TEST_VALUE_MIN + (i * 13) % 400;
	int rc;

	fc_test_value_make(val, vl, key, kl, writer, seq);
	rc = fc_set(c, key, kl, val, vl, 0);
	if (in_child)
		FC_CHILD_CHECK_RC(rc, FC_OK);
	else
		assert_int_equal(rc, FC_OK);
}

static void
inherited_handle_works_in_children_both_ways(void **state)
{
	fc_cache *c = *state;
	pid_t pids[NCHILD];
	char key[32];

	for (unsigned i = 0; i < NPARENT; i++)
		put(c, "p:", i, 0, i, 0);
	for (unsigned n = 0; n < NCHILD; n++) {
		pids[n] = fc_test_fork();
		if (pids[n] == 0) {
			char prefix[16];

			/* the parent's items are visible (except those
			 * that the other children change meanwhile) */
			for (unsigned i = 0; i < NPARENT; i++) {
				size_t kl =
					fc_test_key(key, sizeof key, "p:", i);

				if (i < NCHILD ||
				    (i >= 100 && i < 100 + NCHILD))
					continue;
				FC_CHILD_CHECK_RC(check_val(c, key, kl, 0, i),
						  0);
			}
			snprintf(prefix, sizeof prefix, "c%u:", n);
			for (unsigned i = 0; i < NPER; i++)
				put(c, prefix, i, n + 1, i, 1);
			/* each child replaces one parent key, deletes another
			 */
			put(c, "p:", n, n + 1, 1000 + n, 1);
			{
				size_t kl = fc_test_key(key, sizeof key,
							"p:", 100 + n);

				FC_CHILD_CHECK_RC(fc_delete(c, key, kl), FC_OK);
			}
			_exit(0);
		}
	}
	for (unsigned n = 0; n < NCHILD; n++)
		fc_test_assert_exit(pids[n], 0);
	for (unsigned n = 0; n < NCHILD; n++) {
		char prefix[16];

		snprintf(prefix, sizeof prefix, "c%u:", n);
		for (unsigned i = 0; i < NPER; i++) {
			size_t kl = fc_test_key(key, sizeof key, prefix, i);

			assert_int_equal(check_val(c, key, kl, n + 1, i), 0);
		}
	}
	for (unsigned i = 0; i < NPARENT; i++) {
		size_t kl = fc_test_key(key, sizeof key, "p:", i);

		if (i < NCHILD)
			assert_int_equal(check_val(c, key, kl, i + 1, 1000 + i),
					 0);
		else if (i >= 100 && i < 100 + NCHILD)
			assert_int_equal(check_val(c, key, kl, 0, i),
					 FC_ENOTFOUND);
		else
			assert_int_equal(check_val(c, key, kl, 0, i), 0);
	}
	assert_int_equal(fc_test_stats(c).items,
			 NPARENT - NCHILD + NCHILD * NPER);
	/* the children exited without fc_close: their slots are dead */
	assert_int_equal(fc_reap(c), NCHILD);
	assert_int_equal(fc_test_stats(c).readers_dead, 0);
	fc_test_verify(c);
}

static void
independent_attach_by_name_in_a_child(void **state)
{
	fc_cache *c = *state;
	const char *name = fc_test_cur_name();
	char key[32];
	pid_t pid;

	for (unsigned i = 0; i < 50; i++)
		put(c, "p:", i, 0, i, 0);
	pid = fc_test_fork();
	if (pid == 0) {
		fc_cache *d = NULL;
		fc_options o;

		fc_options_init(&o);
		FC_CHILD_CHECK_RC(fc_open(name, &o, &d), FC_OK);
		for (unsigned i = 0; i < 50; i++) {
			size_t kl = fc_test_key(key, sizeof key, "p:", i);

			FC_CHILD_CHECK_RC(check_val(d, key, kl, 0, i), 0);
		}
		for (unsigned i = 0; i < 50; i++)
			put(d, "a:", i, 7, i, 1);
		FC_CHILD_CHECK_RC(fc_close(d), FC_OK);
		/* and a second attach in the same child */
		FC_CHILD_CHECK_RC(fc_open(name, NULL, &d), FC_OK);
		FC_CHILD_CHECK_RC(check_val(d, "a:3", 3, 7, 3), 0);
		FC_CHILD_CHECK_RC(fc_close(d), FC_OK);
		_exit(0);
	}
	fc_test_assert_exit(pid, 0);
	for (unsigned i = 0; i < 50; i++) {
		size_t kl = fc_test_key(key, sizeof key, "a:", i);

		assert_int_equal(check_val(c, key, kl, 7, i), 0);
	}
	/* the child closed its handles: nothing to reap */
	assert_int_equal(fc_test_stats(c).readers_dead, 0);
	assert_int_equal(fc_reap(c), 0);
	fc_test_verify(c);
}

static void
closing_an_inherited_handle_in_a_child_leaves_the_parent_working(void **state)
{
	fc_cache *c = *state;
	pid_t pid;
	char buf[16];
	size_t len = sizeof buf;

	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	assert_int_equal(fc_get(c, "k", 1, buf, &len), FC_OK);
	pid = fc_test_fork();
	if (pid == 0) {
		len = sizeof buf;
		FC_CHILD_CHECK_RC(fc_get(c, "k", 1, buf, &len), FC_OK);
		FC_CHILD_CHECK_RC(fc_close(c), FC_OK);
		_exit(0);
	}
	fc_test_assert_exit(pid, 0);
	len = sizeof buf;
	assert_int_equal(fc_get(c, "k", 1, buf, &len), FC_OK);
	assert_int_equal(fc_set(c, "k2", 2, "w", 1, 0), FC_OK);
	assert_int_equal(fc_test_stats(c).readers_dead, 0);
	fc_test_verify(c);
}

static void
grandchild_inherits_the_handle_too(void **state)
{
	fc_cache *c = *state;
	pid_t pid;

	pid = fc_test_fork();
	if (pid == 0) {
		pid_t g;
		int status;

		put(c, "child:", 0, 1, 0, 1);
		fflush(stderr);
		g = fork();
		FC_CHILD_CHECK(g >= 0);
		if (g == 0) {
			FC_CHILD_CHECK_RC(check_val(c, "child:0", 7, 1, 0), 0);
			put(c, "grand:", 0, 2, 0, 1);
			_exit(0);
		}
		FC_CHILD_CHECK(waitpid(g, &status, 0) == g);
		FC_CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		FC_CHILD_CHECK_RC(check_val(c, "grand:0", 7, 2, 0), 0);
		_exit(0);
	}
	fc_test_assert_exit(pid, 0);
	assert_int_equal(check_val(c, "grand:0", 7, 2, 0), 0);
	assert_int_equal(check_val(c, "child:0", 7, 1, 0), 0);
	assert_int_equal(fc_reap(c), 2);
	fc_test_verify(c);
}

static void
processes_racing_to_create_one_segment_all_attach_to_it(void **state)
{
	enum { NRACE = 4 };
	char name[64];
	pid_t pids[NRACE];
	volatile uint32_t *go = fc_test_shared_alloc(4096);
	fc_cache *c = NULL;

	fc_test_name(name, sizeof name);
	for (unsigned n = 0; n < NRACE; n++) {
		pids[n] = fc_test_fork();
		if (pids[n] == 0) {
			fc_options o;
			fc_cache *d = NULL;
			char key[16];
			size_t kl = fc_test_key(key, sizeof key, "racer:", n);

			fc_test_default_options(&o);
			o.flags = FC_CREATE; /* no FC_EXCL: create or attach */
			__atomic_add_fetch(go, 1, __ATOMIC_SEQ_CST);
			while (__atomic_load_n(go, __ATOMIC_SEQ_CST) < NRACE)
				; /* start together */
			FC_CHILD_CHECK_RC(fc_open(name, &o, &d), FC_OK);
			FC_CHILD_CHECK_RC(fc_set(d, key, kl, key, kl, 0), FC_OK);
			FC_CHILD_CHECK_RC(fc_close(d), FC_OK);
			_exit(0);
		}
	}
	for (unsigned n = 0; n < NRACE; n++)
		fc_test_assert_exit(pids[n], 0);
	/* one segment holds every racer's key */
	assert_int_equal(fc_open(name, NULL, &c), FC_OK);
	for (unsigned n = 0; n < NRACE; n++) {
		char key[16], buf[16];
		size_t kl = fc_test_key(key, sizeof key, "racer:", n);
		size_t len = sizeof buf;

		assert_int_equal(fc_get(c, key, kl, buf, &len), FC_OK);
		assert_int_equal(len, kl);
	}
	assert_int_equal(fc_test_stats(c).items, NRACE);
	fc_test_verify(c);
	assert_int_equal(fc_close(c), FC_OK);
	assert_int_equal(fc_unlink(name, 0), FC_OK);
	fc_test_shared_free((void *)go, 4096);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
	const struct CMUnitTest tests[] = {
		T(inherited_handle_works_in_children_both_ways),
		T(independent_attach_by_name_in_a_child),
		T(closing_an_inherited_handle_in_a_child_leaves_the_parent_working),
		T(grandchild_inherits_the_handle_too),
		cmocka_unit_test(
			processes_racing_to_create_one_segment_all_attach_to_it),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
