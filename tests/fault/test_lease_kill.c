/*
 * tests/fault/test_lease_kill.c - SIGKILL inside the lease code, at every
 * lease.* fault point (lib/fault.h), and a leader SIGKILLed while others
 * wait: no key stays wedged. After each kill the next caller (or a waiter
 * already asleep) gets the value if it was stored, else becomes the new
 * leader, well under a second later; fc_verify is clean.
 */
#include "fc_test.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

#define KEY "hot"
#define KL 3
#define VLEN 48u
#define NWAIT 3

struct shared {
	uint32_t leading; /* the leader child holds the lease */
	uint32_t proceed; /* parent: leader, go on (fill / abandon) */
	uint32_t leaders, oks, bad;
	uint64_t lead_ns; /* when a waiter became the new leader */
};

static struct shared *sh;

enum lead_end { END_FILL,
		END_ABANDON,
		END_HANG };

struct leader_args {
	fc_cache *c;
	const char *point; /* armed (kill) before the end step; NULL none */
	enum lead_end end;
};

static void
value_of(unsigned char *v, uint32_t writer)
{
	fc_test_value_make(v, VLEN, KEY, KL, writer, 1);
}

static int
leader_child(void *arg)
{
	struct leader_args *a = arg;
	unsigned char buf[VLEN];
	size_t n = sizeof buf;
	fc_lease l;

	FC_CHILD_CHECK_RC(fc_lease_get(a->c, KEY, KL, buf, &n, 0, &l), FC_LEADER);
	__atomic_store_n(&sh->leading, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&sh->proceed, __ATOMIC_SEQ_CST))
		usleep(500);
	if (a->point)
		FC_CHILD_CHECK(fc__fault_arm(a->point, 1, FC__FAULT_KILL) == FC_OK);
	value_of(buf, 1);
	if (a->end == END_FILL)
		fc_lease_fill(a->c, &l, buf, VLEN, 1000);
	else if (a->end == END_ABANDON)
		fc_lease_abandon(a->c, &l);
	else
		pause(); /* hung: the parent kills it */
	_exit(a->point ? FC_TEST_CHILD_NOTREACHED : 0);
}

struct waiter_args {
	fc_cache *c;
	const char *point; /* armed before the wait; NULL none */
};

/* A waiter: returns the leader's value (writer 1), or becomes the new
 * leader and fills writer 2's value. */
static int
waiter_child(void *arg)
{
	struct waiter_args *a = arg;
	unsigned char buf[VLEN], want[VLEN];
	size_t n = sizeof buf;
	fc_lease l;

	if (a->point)
		FC_CHILD_CHECK(fc__fault_arm(a->point, 1, FC__FAULT_KILL) == FC_OK);
	int rc = fc_lease_get(a->c, KEY, KL, buf, &n, 10000, &l);
	if (rc == FC_LEADER) {
		__atomic_store_n(&sh->lead_ns, fc_test_mono_ns(), __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&sh->leaders, 1, __ATOMIC_SEQ_CST);
		value_of(buf, 2);
		FC_CHILD_CHECK_RC(fc_lease_fill(a->c, &l, buf, VLEN, 0), FC_OK);
		return 0;
	}
	FC_CHILD_CHECK_RC(rc, FC_OK);
	uint32_t w = 0;
	FC_CHILD_CHECK(fc_test_value_check(buf, n, KEY, KL, &w, NULL) == 0);
	value_of(want, w);
	FC_CHILD_CHECK(memcmp(buf, want, VLEN) == 0);
	__atomic_add_fetch(&sh->oks, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void
wait_for(uint32_t *flag)
{
	uint64_t t0 = fc_test_mono_ns();

	while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST)) {
		assert_true(fc_test_mono_ns() - t0 < 10000000000ull);
		usleep(500);
	}
}

static void
wait_for_waiters(fc_cache *c, uint64_t n)
{
	uint64_t t0 = fc_test_mono_ns();

	while (fc_test_stats(c).lease_waits < n) {
		assert_true(fc_test_mono_ns() - t0 < 10000000000ull);
		usleep(500);
	}
	usleep(2000); /* from counted to asleep on the futex */
}

/* The key must be readable or leasable now, at once. */
static void
assert_not_wedged(fc_cache *c, int want_value)
{
	unsigned char buf[VLEN];
	size_t n = sizeof buf;
	fc_lease l;
	uint64_t t0 = fc_test_mono_ns();
	int rc = fc_lease_get(c, KEY, KL, buf, &n, 5000, &l);
	uint64_t ms = (fc_test_mono_ns() - t0) / 1000000u;

	print_message("next caller: %s after %" PRIu64 " ms\n",
		      rc == FC_LEADER ? "FC_LEADER" : fc_errname(rc), ms);
	assert_true(ms < 1000);
	if (want_value) {
		assert_int_equal(rc, FC_OK);
		assert_int_equal(fc_test_value_check(buf, n, KEY, KL, NULL, NULL), 0);
	} else {
		assert_int_equal(rc, FC_LEADER);
		value_of(buf, 3);
		assert_int_equal(fc_lease_fill(c, &l, buf, VLEN, 0), FC_OK);
	}
}

static void
setup_shared(void)
{
	sh = fc_test_shared_alloc(sizeof *sh);
}

/* Kill a process as it takes the lease (inside the grant, right after it
 * under the mutex, or on its way out with FC_LEADER): the next caller
 * becomes the leader at once. */
static void
kill_while_acquiring(fc_cache *c, const char *point, int want_takeover)
{
	setup_shared();
	pid_t k = fc_test_fork();
	if (k == 0) {
		unsigned char buf[VLEN];
		size_t n = sizeof buf;
		fc_lease l;
		FC_CHILD_CHECK(fc__fault_arm(point, 1, FC__FAULT_KILL) == FC_OK);
		fc_lease_get(c, KEY, KL, buf, &n, 0, &l);
		_exit(FC_TEST_CHILD_NOTREACHED);
	}
	fc_test_assert_killed(k, SIGKILL, point);
	assert_not_wedged(c, 0);
	fc_stats st = fc_test_stats(c);
	assert_int_equal(st.lease_takeovers, want_takeover ? 1 : 0);
	assert_int_equal(st.leases_active, 0);
	assert_int_equal(st.leases_dead, 0);
	fc_test_verify(c);
	fc_test_shared_free(sh, sizeof *sh);
}

static void
kill_inside_the_grant_leaves_the_key_free(void **state)
{
	kill_while_acquiring(*state, "lease.grant", 0);
}

static void
kill_after_the_grant_under_the_mutex_is_taken_over(void **state)
{
	kill_while_acquiring(*state, "lease.granted", 1);
}

static void
kill_of_a_fresh_leader_is_taken_over(void **state)
{
	kill_while_acquiring(*state, "lease.leader", 1);
}

/* Leader killed at @p point in its fill/abandon while NWAIT waiters
 * sleep; check what the waiters got. */
static void
kill_leader_with_waiters(fc_cache *c, const char *point, enum lead_end end,
			 int value_stored)
{
	struct leader_args la = {c, point, end};
	struct waiter_args wa = {c, NULL};
	pid_t w[NWAIT];

	setup_shared();
	pid_t k = fc_test_spawn(leader_child, &la);
	wait_for(&sh->leading);
	for (unsigned i = 0; i < NWAIT; i++)
		w[i] = fc_test_spawn(waiter_child, &wa);
	wait_for_waiters(c, NWAIT);
	uint64_t t_kill = fc_test_mono_ns();
	__atomic_store_n(&sh->proceed, 1, __ATOMIC_SEQ_CST);
	if (end == END_HANG) {
		kill(k, SIGKILL);
		t_kill = fc_test_mono_ns();
	}
	fc_test_assert_killed(k, SIGKILL, point ? point : "leader");
	for (unsigned i = 0; i < NWAIT; i++)
		fc_test_assert_exit(w[i], 0);
	print_message("%s: waiters: %u new leader(s), %u got the value\n",
		      point ? point : "SIGKILL", sh->leaders, sh->oks);
	if (value_stored) {
		assert_int_equal(sh->leaders, 0);
		assert_int_equal(sh->oks, NWAIT);
	} else {
		assert_int_equal(sh->leaders, 1);
		assert_int_equal(sh->oks, NWAIT - 1);
		print_message("takeover_ms=%.1f (leader killed -> a waiter leads)\n",
			      (double)(sh->lead_ns - t_kill) / 1e6);
		assert_true(sh->lead_ns - t_kill < 1000000000ull);
	}
	fc_stats st = fc_test_stats(c);
	assert_int_equal(st.leases_active, 0);
	fc_test_verify(c);
	fc_test_shared_free(sh, sizeof *sh);
}

static void
leader_killed_while_computing_is_replaced_by_one_waiter(void **state)
{
	kill_leader_with_waiters(*state, NULL, END_HANG, 0);
	assert_int_equal(fc_test_stats(*state).lease_takeovers, 1);
}

static void
kill_between_the_store_and_the_release_serves_the_value(void **state)
{
	fc_cache *c = *state;

	kill_leader_with_waiters(c, "lease.filled", END_FILL, 1);
	/* the dead leader's entry stays until the value expires (ttl 1000):
	 * then the next caller takes the lease over */
	assert_int_equal(fc_test_stats(c).leases_dead, 1);
	assert_not_wedged(c, 1);
	fc_test_clock_advance_ms(1001);
	assert_not_wedged(c, 0);
	assert_int_equal(fc_test_stats(c).lease_takeovers, 1);
	assert_int_equal(fc_test_stats(c).leases_dead, 0);
	fc_test_verify(c);
}

static void
kill_after_the_release_before_the_word_changes_wakes_the_waiters(void **state)
{
	kill_leader_with_waiters(*state, "lease.released", END_FILL, 1);
	assert_not_wedged(*state, 1);
}

static void
kill_after_an_abandon_before_the_wake_up_makes_one_waiter_lead(void **state)
{
	kill_leader_with_waiters(*state, "lease.released", END_ABANDON, 0);
}

static void
kill_after_the_fill_before_the_wake_up_serves_the_value(void **state)
{
	kill_leader_with_waiters(*state, "lease.wake", END_FILL, 1);
}

static void
kill_of_a_waiter_changes_nothing_for_the_others(void **state)
{
	fc_cache *c = *state;
	struct leader_args la = {c, NULL, END_FILL};
	struct waiter_args dying = {c, "lease.wait"}, wa = {c, NULL};

	setup_shared();
	pid_t k = fc_test_spawn(leader_child, &la);
	wait_for(&sh->leading);
	pid_t d = fc_test_spawn(waiter_child, &dying);
	fc_test_assert_killed(d, SIGKILL, "lease.wait");
	pid_t w = fc_test_spawn(waiter_child, &wa);
	wait_for_waiters(c, 2);
	__atomic_store_n(&sh->proceed, 1, __ATOMIC_SEQ_CST);
	fc_test_assert_exit(k, 0);
	fc_test_assert_exit(w, 0);
	assert_int_equal(sh->oks, 1);
	assert_int_equal(sh->leaders, 0);
	assert_int_equal(fc_test_stats(c).leases_active, 0);
	fc_test_verify(c);
	fc_test_shared_free(sh, sizeof *sh);
}

/* A live leader that hangs past lease_ms (the parent's fake clock) is
 * taken over by the next caller; its late fill, from the other process, is
 * refused and changes nothing. */
static void
hung_leader_is_taken_over_after_lease_ms_and_its_late_fill_refused(void **state)
{
	fc_cache *c = *state;
	unsigned char buf[VLEN];
	size_t n = sizeof buf;
	fc_lease l;

	setup_shared();
	pid_t k = fc_test_fork();
	if (k == 0) {
		FC_CHILD_CHECK_RC(fc_lease_get(c, KEY, KL, buf, &n, 0, &l), FC_LEADER);
		__atomic_store_n(&sh->leading, 1, __ATOMIC_SEQ_CST);
		while (!__atomic_load_n(&sh->proceed, __ATOMIC_SEQ_CST))
			usleep(500);
		value_of(buf, 1);
		FC_CHILD_CHECK_RC(fc_lease_fill(c, &l, buf, VLEN, 0), FC_ELEASE);
		_exit(0);
	}
	wait_for(&sh->leading);
	assert_int_equal(fc_lease_get(c, KEY, KL, buf, &n, 0, &l), FC_ETIMEDOUT);
	fc_test_clock_advance_ms(fc_test_stats(c).lease_ms); /* overdue */
	n = sizeof buf;
	assert_int_equal(fc_lease_get(c, KEY, KL, buf, &n, 0, &l), FC_LEADER);
	assert_int_equal(fc_test_stats(c).lease_takeovers, 1);
	__atomic_store_n(&sh->proceed, 1, __ATOMIC_SEQ_CST);
	fc_test_assert_exit(k, 0); /* its fill was refused */
	n = sizeof buf;
	assert_int_equal(fc_get(c, KEY, KL, buf, &n), FC_ENOTFOUND);
	value_of(buf, 2);
	assert_int_equal(fc_lease_fill(c, &l, buf, VLEN, 0), FC_OK);
	n = sizeof buf;
	uint32_t w = 0;
	assert_int_equal(fc_get(c, KEY, KL, buf, &n), FC_OK);
	assert_int_equal(fc_test_value_check(buf, n, KEY, KL, &w, NULL), 0);
	assert_int_equal(w, 2);
	fc_test_verify(c);
	fc_test_shared_free(sh, sizeof *sh);
}

/* A refresher (FC_STALE) killed while others are served the stale value
 * without waiting: no poll runs, yet the refresh lease must pass to another
 * caller promptly, not after lease_ms or the stale window. */
static void
killed_refresher_is_replaced_while_stale_hits_go_on(void **state)
{
	(void)state;
	fc_options o;
	fc_test_default_options(&o);
	o.stale_ms = 60000;
	fc_cache *c = fc_test_create(&o);
	unsigned char buf[VLEN];
	size_t n;
	fc_lease l;

	value_of(buf, 1);
	assert_int_equal(fc_set(c, KEY, KL, buf, VLEN, 1000), FC_OK);
	fc_test_clock_advance_ms(1001); /* children inherit the fake clock */
	setup_shared();
	pid_t k = fc_test_fork();
	if (k == 0) {
		n = sizeof buf;
		FC_CHILD_CHECK_RC(fc_lease_get(c, KEY, KL, buf, &n, 0, &l), FC_STALE);
		__atomic_store_n(&sh->leading, 1, __ATOMIC_SEQ_CST);
		for (;;)
			pause();
	}
	wait_for(&sh->leading);
	n = sizeof buf;
	assert_int_equal(fc_lease_get(c, KEY, KL, buf, &n, 0, &l), FC_OK); /* stale hit */
	kill(k, SIGKILL);
	uint64_t t_kill = fc_test_mono_ns();
	fc_test_assert_killed(k, SIGKILL, "refresher");
	int rc;
	unsigned stale_hits = 0;
	do {
		n = sizeof buf;
		rc = fc_lease_get(c, KEY, KL, buf, &n, 0, &l);
		assert_int_equal(fc_test_value_check(buf, n, KEY, KL, NULL, NULL), 0);
		stale_hits += rc == FC_OK;
		assert_true(fc_test_mono_ns() - t_kill < 1000000000ull);
		if (rc == FC_OK)
			usleep(1000);
	} while (rc == FC_OK);
	assert_int_equal(rc, FC_STALE);
	print_message("refresher killed: new refresher after %.1f ms (%u stale hits meanwhile)\n",
		      (double)(fc_test_mono_ns() - t_kill) / 1e6, stale_hits);
	value_of(buf, 2);
	assert_int_equal(fc_lease_fill(c, &l, buf, VLEN, 1000), FC_OK);
	assert_int_equal(fc_test_stats(c).lease_takeovers, 1);
	fc_test_verify(c);
	fc_test_shared_free(sh, sizeof *sh);
	fc_test_destroy(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
		T(kill_inside_the_grant_leaves_the_key_free),
		T(kill_after_the_grant_under_the_mutex_is_taken_over),
		T(kill_of_a_fresh_leader_is_taken_over),
		T(leader_killed_while_computing_is_replaced_by_one_waiter),
		T(kill_between_the_store_and_the_release_serves_the_value),
		T(kill_after_the_release_before_the_word_changes_wakes_the_waiters),
		T(kill_after_an_abandon_before_the_wake_up_makes_one_waiter_lead),
		T(kill_after_the_fill_before_the_wake_up_serves_the_value),
		T(kill_of_a_waiter_changes_nothing_for_the_others),
		T(hung_leader_is_taken_over_after_lease_ms_and_its_late_fill_refused),
		cmocka_unit_test_teardown(killed_refresher_is_replaced_while_stale_hits_go_on,
					  fc_test_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
