/*
 * tests/api/test_lease.c - fc_lease_get / fill / abandon and
 * fc_get_or_compute in one process: leader, fill, abandon, wait_ms 0 and
 * timeouts, a lease taken over after lease_ms (fake clock) and the late
 * fill refused, the stale path, a full lease table, thousands of leases at
 * once, options stored in the segment, every error.
 * (Several processes: tests/mp/test_lease_mp.c; kills: tests/fault/
 * test_lease_kill.c.)
 */
#include "fc_test.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static fc_cache *
lease_cache(uint64_t lease_ms, uint64_t stale_ms, uint32_t slots)
{
	fc_options o;

	fc_test_default_options(&o);
	o.lease_ms = lease_ms;
	o.stale_ms = stale_ms;
	o.lease_slots = slots;
	return fc_test_create(&o);
}

static void
miss_makes_the_caller_leader_and_its_fill_serves_every_later_caller(void **state)
{
	fc_cache *c = *state;
	char buf[64];
	size_t n = sizeof buf;
	fc_lease l;

	memset(&l, 0, sizeof l);
	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 1000, &l), FC_LEADER);
	assert_int_equal(n, 0);
	fc_stats st = fc_test_stats(c);
	assert_int_equal(st.leases_active, 1);
	assert_int_equal(st.lease_grants, 1);
	/* plain fc_get does not see a lease */
	n = sizeof buf;
	assert_int_equal(fc_get(c, "k", 1, buf, &n), FC_ENOTFOUND);
	assert_int_equal(fc_lease_fill(c, &l, "value", 5, 0), FC_OK);
	n = sizeof buf;
	assert_int_equal(fc_get(c, "k", 1, buf, &n), FC_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "value", 5);
	n = sizeof buf;
	memset(&l, 0x5a, sizeof l);
	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 1000, &l), FC_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "value", 5);
	st = fc_test_stats(c);
	assert_int_equal(st.leases_active, 0);
	assert_int_equal(st.lease_grants, 1);
	assert_int_equal(st.lease_waits, 0);
	fc_test_verify(c);
}

static void
hit_with_a_small_buffer_is_etrunc_and_takes_no_lease(void **state)
{
	fc_cache *c = *state;
	char buf[4];
	size_t n = sizeof buf;
	fc_lease l;

	assert_int_equal(fc_set(c, "k", 1, "0123456789", 10, 0), FC_OK);
	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 0, &l), FC_ETRUNC);
	assert_int_equal(n, 10);
	assert_int_equal(fc_test_stats(c).lease_grants, 0);
}

static void
held_lease_with_wait_ms_0_times_out_at_once(void **state)
{
	fc_cache *c = *state;
	char buf[16];
	size_t n = sizeof buf;
	fc_lease l, l2;

	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 0, &l), FC_LEADER);
	/* this thread leads k: asking again waits for itself */
	uint64_t t0 = fc_test_mono_ns();
	n = sizeof buf;
	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 0, &l2), FC_ETIMEDOUT);
	assert_true(fc_test_mono_ns() - t0 < 50000000u); /* no sleep */
	fc_stats st = fc_test_stats(c);
	assert_int_equal(st.lease_timeouts, 1);
	assert_int_equal(st.lease_waits, 0);
	assert_string_equal(fc_errname(FC_ETIMEDOUT), "FC_ETIMEDOUT");
	assert_int_equal(fc_lease_abandon(c, &l), FC_OK);
}

static void
held_lease_times_out_after_wait_ms(void **state)
{
	fc_cache *c = *state;
	char buf[16];
	size_t n = sizeof buf;
	fc_lease l, l2;

	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 0, &l), FC_LEADER);
	uint64_t t0 = fc_test_mono_ns();
	n = sizeof buf;
	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 40, &l2), FC_ETIMEDOUT);
	assert_true(fc_test_mono_ns() - t0 >= 39000000u);
	fc_stats st = fc_test_stats(c);
	assert_int_equal(st.lease_timeouts, 1);
	assert_int_equal(st.lease_waits, 1);
	/* the lease is still ours */
	assert_int_equal(fc_lease_fill(c, &l, "v", 1, 0), FC_OK);
	fc_test_verify(c);
}

static void
abandon_lets_the_next_caller_lead_and_spends_the_lease(void **state)
{
	fc_cache *c = *state;
	char buf[16];
	size_t n = sizeof buf;
	fc_lease l, l2;

	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 0, &l), FC_LEADER);
	assert_int_equal(fc_lease_abandon(c, &l), FC_OK);
	assert_int_equal(fc_lease_abandon(c, &l), FC_ELEASE);
	assert_int_equal(fc_lease_fill(c, &l, "v", 1, 0), FC_ELEASE);
	n = sizeof buf;
	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 0, &l2), FC_LEADER);
	assert_int_equal(fc_lease_fill(c, &l2, "v2", 2, 0), FC_OK);
	assert_int_equal(fc_lease_fill(c, &l2, "v3", 2, 0), FC_ELEASE);
	n = sizeof buf;
	assert_int_equal(fc_get(c, "k", 1, buf, &n), FC_OK);
	assert_memory_equal(buf, "v2", 2);
	assert_int_equal(fc_test_stats(c).leases_active, 0);
	fc_test_verify(c);
}

static void
overdue_lease_is_taken_over_and_the_late_fill_changes_nothing(void **state)
{
	(void)state;
	fc_cache *c = lease_cache(1000, 0, 0);
	char buf[16];
	size_t n = sizeof buf;
	fc_lease old, nl;

	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 0, &old), FC_LEADER);
	fc_test_clock_advance_ms(999);
	n = sizeof buf;
	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 0, &nl), FC_ETIMEDOUT);
	fc_test_clock_advance_ms(1); /* lease_ms reached: overdue */
	n = sizeof buf;
	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 0, &nl), FC_LEADER);
	fc_stats st = fc_test_stats(c);
	assert_int_equal(st.lease_takeovers, 1);
	assert_int_equal(st.lease_grants, 2);
	assert_int_equal(st.lease_ms, 1000);
	assert_int_equal(fc_lease_fill(c, &old, "late", 4, 0), FC_ELEASE);
	assert_int_equal(fc_lease_abandon(c, &old), FC_ELEASE);
	n = sizeof buf;
	assert_int_equal(fc_get(c, "k", 1, buf, &n), FC_ENOTFOUND);
	assert_int_equal(fc_test_stats(c).sets, 0);
	assert_int_equal(fc_lease_fill(c, &nl, "new", 3, 0), FC_OK);
	n = sizeof buf;
	assert_int_equal(fc_get(c, "k", 1, buf, &n), FC_OK);
	assert_memory_equal(buf, "new", 3);
	fc_test_verify(c);
	fc_test_destroy(c);
}

static void
expired_item_within_stale_ms_is_served_while_one_caller_refreshes(void **state)
{
	(void)state;
	fc_cache *c = lease_cache(0, 5000, 0);
	char buf[16];
	size_t n = sizeof buf;
	fc_lease l, l2;

	assert_int_equal(fc_set(c, "k", 1, "old", 3, 1000), FC_OK);
	fc_test_clock_advance_ms(1500);
	/* plain reads keep TTL semantics */
	assert_int_equal(fc_get(c, "k", 1, buf, &n), FC_ENOTFOUND);
	/* the sweep and fc_flush_expired keep it: it may still be served */
	assert_int_equal(fc_flush_expired(c), 0);
	assert_int_equal(fc_set(c, "other", 5, "x", 1, 0), FC_OK);
	n = sizeof buf;
	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 1000, &l), FC_STALE);
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "old", 3);
	/* everyone else: the stale value at once, no wait */
	for (int i = 0; i < 3; i++) {
		memset(buf, 0, sizeof buf);
		n = sizeof buf;
		assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 1000, &l2), FC_OK);
		assert_int_equal(n, 3);
		assert_memory_equal(buf, "old", 3);
	}
	fc_stats st = fc_test_stats(c);
	assert_int_equal(st.lease_stale_hits, 3);
	assert_int_equal(st.lease_waits, 0);
	assert_int_equal(st.stale_ms, 5000);
	assert_int_equal(fc_lease_fill(c, &l, "fresh", 5, 1000), FC_OK);
	n = sizeof buf;
	assert_int_equal(fc_get(c, "k", 1, buf, &n), FC_OK);
	assert_memory_equal(buf, "fresh", 5);
	fc_test_verify(c);
	fc_test_destroy(c);
}

static void
abandoned_refresh_keeps_serving_stale_and_the_next_caller_refreshes(void **state)
{
	(void)state;
	fc_cache *c = lease_cache(0, 5000, 0);
	char buf[16];
	size_t n = sizeof buf;
	fc_lease l;

	assert_int_equal(fc_set(c, "k", 1, "old", 3, 1000), FC_OK);
	fc_test_clock_advance_ms(1001);
	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 0, &l), FC_STALE);
	assert_int_equal(fc_lease_abandon(c, &l), FC_OK);
	n = sizeof buf;
	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 0, &l), FC_STALE);
	assert_memory_equal(buf, "old", 3);
	/* too small a buffer: FC_ETRUNC, and no refresh lease taken */
	assert_int_equal(fc_lease_abandon(c, &l), FC_OK);
	char small[2];
	n = sizeof small;
	assert_int_equal(fc_lease_get(c, "k", 1, small, &n, 0, &l), FC_ETRUNC);
	assert_int_equal(n, 3);
	assert_int_equal(fc_test_stats(c).leases_active, 0);
	fc_test_destroy(c);
}

static void
item_past_its_stale_window_is_a_plain_miss_and_is_reclaimed(void **state)
{
	(void)state;
	fc_cache *c = lease_cache(0, 2000, 0);
	char buf[16];
	size_t n = sizeof buf;
	fc_lease l;

	assert_int_equal(fc_set(c, "k", 1, "old", 3, 1000), FC_OK);
	assert_int_equal(fc_set(c, "j", 1, "old", 3, 1000), FC_OK);
	fc_test_clock_advance_ms(1000 + 2000);
	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 0, &l), FC_LEADER);
	assert_int_equal(n, 0);
	assert_int_equal(fc_lease_abandon(c, &l), FC_OK);
	assert_int_equal(fc_flush_expired(c), 2);
	fc_test_verify(c);
	fc_test_destroy(c);
}

static void
deleted_stale_item_is_never_served_stale(void **state)
{
	(void)state;
	fc_cache *c = lease_cache(0, 5000, 0);
	char buf[16];
	size_t n = sizeof buf;
	fc_lease l;

	assert_int_equal(fc_set(c, "k", 1, "old", 3, 1000), FC_OK);
	fc_test_clock_advance_ms(1500);
	assert_int_equal(fc_delete(c, "k", 1), FC_ENOTFOUND); /* expired */
	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 0, &l), FC_LEADER);
	assert_int_equal(n, 0);
	assert_int_equal(fc_lease_abandon(c, &l), FC_OK);
	assert_int_equal(fc_test_stats(c).items, 0);
	fc_test_verify(c);
	fc_test_destroy(c);
}

static void
stale_ms_0_serves_nothing_stale(void **state)
{
	fc_cache *c = *state;
	char buf[16];
	size_t n = sizeof buf;
	fc_lease l;

	assert_int_equal(fc_set(c, "k", 1, "old", 3, 1000), FC_OK);
	fc_test_clock_advance_ms(1001);
	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 0, &l), FC_LEADER);
	assert_int_equal(fc_lease_abandon(c, &l), FC_OK);
}

struct counting {
	unsigned calls;
	int fail;
};

static int
compute_value(void *arg, const void *key, size_t klen, void *buf, size_t *vlen)
{
	struct counting *k = arg;

	k->calls++;
	if (k->fail)
		return k->fail;
	if (*vlen < klen + 2)
		return FC_ETRUNC;
	memcpy(buf, "v:", 2);
	memcpy((char *)buf + 2, key, klen);
	*vlen = klen + 2;
	return FC_OK;
}

static int
compute_liar(void *arg, const void *key, size_t klen, void *buf, size_t *vlen)
{
	(void)arg;
	(void)key;
	(void)klen;
	(void)buf;
	*vlen += 1;
	return FC_OK;
}

static void
full_lease_table_is_ebusy_never_a_hang_and_get_or_compute_still_computes(void **state)
{
	(void)state;
	fc_cache *c = lease_cache(0, 0, 64); /* 64 entries = one probe window */
	fc_lease l[64], x;
	char key[32], buf[32];
	size_t n;

	for (unsigned i = 0; i < 64; i++) {
		size_t kl = fc_test_key(key, sizeof key, "full:", i);
		n = sizeof buf;
		assert_int_equal(fc_lease_get(c, key, kl, buf, &n, 0, &l[i]), FC_LEADER);
	}
	assert_int_equal(fc_test_stats(c).leases_active, 64);
	n = sizeof buf;
	uint64_t t0 = fc_test_mono_ns();
	assert_int_equal(fc_lease_get(c, "extra", 5, buf, &n, 5000, &x), FC_EBUSY);
	assert_true(fc_test_mono_ns() - t0 < 1000000000u);
	assert_int_equal(fc_test_stats(c).lease_full, 1);
	/* get_or_compute degrades to computing without single-flight */
	struct counting k = {0, 0};
	n = sizeof buf;
	assert_int_equal(fc_get_or_compute(c, "extra", 5, buf, &n, 5000, 0,
					   compute_value, &k),
			 FC_OK);
	assert_int_equal(k.calls, 1);
	assert_memory_equal(buf, "v:extra", 7);
	n = sizeof buf;
	assert_int_equal(fc_get(c, "extra", 5, buf, &n), FC_OK);
	assert_int_equal(fc_delete(c, "extra", 5), FC_OK);
	/* the held keys still single-flight: a second caller waits, not EBUSY */
	n = sizeof buf;
	assert_int_equal(fc_lease_get(c, "full:3", 6, buf, &n, 0, &x), FC_ETIMEDOUT);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(fc_lease_fill(c, &l[i], "v", 1, 0), FC_OK);
	n = sizeof buf;
	assert_int_equal(fc_lease_get(c, "extra", 5, buf, &n, 0, &x), FC_LEADER);
	assert_int_equal(fc_lease_abandon(c, &x), FC_OK);
	fc_test_verify(c);
	fc_test_destroy(c);
}

static void
get_or_compute_computes_once_then_hits(void **state)
{
	fc_cache *c = *state;
	struct counting k = {0, 0};
	char buf[32];
	size_t n = sizeof buf;

	assert_int_equal(fc_get_or_compute(c, "key", 3, buf, &n, 1000, 0,
					   compute_value, &k),
			 FC_OK);
	assert_int_equal(k.calls, 1);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "v:key", 5);
	memset(buf, 0, sizeof buf);
	n = sizeof buf;
	assert_int_equal(fc_get_or_compute(c, "key", 3, buf, &n, 1000, 0,
					   compute_value, &k),
			 FC_OK);
	assert_int_equal(k.calls, 1);
	assert_memory_equal(buf, "v:key", 5);
	n = sizeof buf;
	assert_int_equal(fc_get(c, "key", 3, buf, &n), FC_OK);
	assert_int_equal(fc_test_stats(c).leases_active, 0);
	fc_test_verify(c);
}

static void
get_or_compute_failure_is_returned_and_the_lease_abandoned(void **state)
{
	fc_cache *c = *state;
	struct counting k = {0, -77};
	char buf[32];
	size_t n = sizeof buf;
	fc_lease l;

	assert_int_equal(fc_get_or_compute(c, "key", 3, buf, &n, 1000, 0,
					   compute_value, &k),
			 -77);
	assert_int_equal(k.calls, 1);
	assert_int_equal(fc_test_stats(c).leases_active, 0);
	n = sizeof buf;
	assert_int_equal(fc_lease_get(c, "key", 3, buf, &n, 0, &l), FC_LEADER);
	assert_int_equal(fc_lease_abandon(c, &l), FC_OK);
	n = sizeof buf;
	assert_int_equal(fc_get_or_compute(c, "key", 3, buf, &n, 1000, 0, NULL, &k),
			 FC_EINVAL);
	/* a compute that claims more bytes than the buffer holds */
	n = sizeof buf;
	assert_int_equal(fc_get_or_compute(c, "key", 3, buf, &n, 1000, 0, compute_liar, NULL),
			 FC_EINVAL);
	assert_int_equal(fc_test_stats(c).leases_active, 0);
	n = sizeof buf;
	assert_int_equal(fc_get(c, "key", 3, buf, &n), FC_ENOTFOUND);
}

static void
thousands_of_keys_leased_at_once(void **state)
{
	(void)state;
	enum { N = 2000 };
	fc_cache *c = lease_cache(0, 0, 4096);
	fc_lease *l = calloc(N, sizeof *l);
	char key[32], buf[32];
	size_t n;

	assert_non_null(l);
	for (unsigned i = 0; i < N; i++) {
		size_t kl = fc_test_key(key, sizeof key, "many:", i);
		n = sizeof buf;
		assert_int_equal(fc_lease_get(c, key, kl, buf, &n, 0, &l[i]), FC_LEADER);
	}
	fc_stats st = fc_test_stats(c);
	assert_int_equal(st.leases_active, N);
	assert_int_equal(st.lease_slots, 4096);
	fc_test_verify(c);
	for (unsigned i = 0; i < N; i++) {
		size_t kl = fc_test_key(key, sizeof key, "many:", i);
		assert_int_equal(fc_lease_fill(c, &l[i], key, kl, 0), FC_OK);
	}
	for (unsigned i = 0; i < N; i += 97) {
		size_t kl = fc_test_key(key, sizeof key, "many:", i);
		n = sizeof buf;
		assert_int_equal(fc_get(c, key, kl, buf, &n), FC_OK);
		assert_int_equal(n, kl);
		assert_memory_equal(buf, key, kl);
	}
	assert_int_equal(fc_test_stats(c).leases_active, 0);
	fc_test_verify(c);
	free(l);
	fc_test_destroy(c);
}

static void *
lead_and_exit(void *arg)
{
	fc_cache *c = arg;
	char buf[8];
	size_t n = sizeof buf;
	fc_lease l;

	return (void *)(intptr_t)fc_lease_get(c, "t", 1, buf, &n, 0, &l);
}

static void
lease_of_a_thread_that_exited_is_taken_over_at_once(void **state)
{
	fc_cache *c = *state;
	pthread_t th;
	void *ret;
	char buf[8];
	size_t n = sizeof buf;
	fc_lease l;

	assert_int_equal(pthread_create(&th, NULL, lead_and_exit, c), 0);
	assert_int_equal(pthread_join(th, &ret), 0);
	assert_int_equal((int)(intptr_t)ret, FC_LEADER);
	assert_int_equal(fc_test_stats(c).leases_dead, 1);
	uint64_t t0 = fc_test_mono_ns();
	assert_int_equal(fc_lease_get(c, "t", 1, buf, &n, 5000, &l), FC_LEADER);
	assert_true(fc_test_mono_ns() - t0 < 1000000000u);
	assert_int_equal(fc_test_stats(c).lease_takeovers, 1);
	assert_int_equal(fc_lease_fill(c, &l, "x", 1, 0), FC_OK);
	fc_test_verify(c);
}

static void
lease_options_are_the_creators_and_bad_ones_are_einval(void **state)
{
	(void)state;
	fc_cache *c = lease_cache(1234, 77, 128), *c2;
	fc_options o;

	fc_options_init(&o);
	assert_int_equal(o.lease_ms, 10000);
	assert_int_equal(o.stale_ms, 0);
	assert_int_equal(o.lease_slots, 0);
	o.lease_ms = 99;
	o.stale_ms = 5;
	assert_int_equal(fc_open(fc_test_cur_name(), &o, &c2), FC_OK);
	fc_stats st;
	assert_int_equal(fc_stat(c2, &st), FC_OK);
	assert_int_equal(st.lease_ms, 1234);
	assert_int_equal(st.stale_ms, 77);
	assert_int_equal(st.lease_slots, 128);
	assert_int_equal(fc_close(c2), FC_OK);
	fc_test_destroy(c);

	/* defaults: 10 s, no stale, auto-sized table */
	fc_test_default_options(&o);
	o.lease_ms = 0;
	c = fc_test_create(&o);
	st = fc_test_stats(c);
	assert_int_equal(st.lease_ms, 10000);
	assert_int_equal(st.stale_ms, 0);
	/* 8 MiB / 16 KiB = 512, but at most 2 x the test's 64 slots */
	assert_int_equal(st.lease_slots, 128);
	fc_test_destroy(c);
	/* fc_options_init's 256 slots: 512, whatever the segment above 8 MiB
	 * (segment / 16 KiB alone gave 4096 = 1.3 MB for 64 MiB) */
	fc_options_init(&o);
	o.segment_bytes = 64u << 20;
	o.flags = FC_CREATE;
	c = fc_test_create(&o);
	st = fc_test_stats(c);
	assert_int_equal(st.lease_slots, 512);
	fc_test_destroy(c);
	fc_options_init(&o);
	o.segment_bytes = 4u << 20; /* 4 MiB / 16 KiB = 256 < 2 x 256 */
	o.flags = FC_CREATE;
	c = fc_test_create(&o);
	st = fc_test_stats(c);
	assert_int_equal(st.lease_slots, 256);
	fc_test_destroy(c);

	char name[64];
	fc_test_name(name, sizeof name);
	fc_test_default_options(&o);
	o.lease_slots = 63;
	assert_int_equal(fc_open(name, &o, &c), FC_EINVAL);
	o.lease_slots = (1u << 20) + 1;
	assert_int_equal(fc_open(name, &o, &c), FC_EINVAL);
	o.lease_slots = 0;
	o.lease_ms = FC_LEASE_MS_MAX + 1;
	assert_int_equal(fc_open(name, &o, &c), FC_EINVAL);
	o.lease_ms = 0;
	o.stale_ms = FC_LEASE_MS_MAX + 1;
	assert_int_equal(fc_open(name, &o, &c), FC_EINVAL);
	assert_int_equal(fc_unlink(name, 0), FC_ENOTFOUND);
}

static void
bad_arguments_are_rejected_and_change_nothing(void **state)
{
	fc_cache *c = *state;
	char buf[16], big[300];
	size_t n = sizeof buf;
	fc_lease l, z;

	memset(big, 'b', sizeof big);
	memset(&z, 0, sizeof z);
	assert_int_equal(fc_lease_get(c, "k", 1, buf, &n, 0, NULL), FC_EINVAL);
	assert_int_equal(fc_lease_get(NULL, "k", 1, buf, &n, 0, &l), FC_EINVAL);
	assert_int_equal(fc_lease_get(c, NULL, 1, buf, &n, 0, &l), FC_EINVAL);
	assert_int_equal(fc_lease_get(c, "k", 0, buf, &n, 0, &l), FC_EINVAL);
	assert_int_equal(fc_lease_get(c, "k", 1, buf, NULL, 0, &l), FC_EINVAL);
	assert_int_equal(fc_lease_get(c, "k", 1, NULL, &n, 0, &l), FC_EINVAL);
	assert_int_equal(fc_lease_get(c, big, FC_KEY_MAX + 1, buf, &n, 0, &l), FC_E2BIG);
	assert_int_equal(fc_lease_fill(c, &z, "v", 1, 0), FC_ELEASE);
	assert_int_equal(fc_lease_abandon(c, &z), FC_ELEASE);
	assert_int_equal(fc_lease_fill(NULL, &z, "v", 1, 0), FC_EINVAL);
	assert_int_equal(fc_lease_fill(c, NULL, "v", 1, 0), FC_EINVAL);
	assert_int_equal(fc_lease_abandon(c, NULL), FC_EINVAL);
	assert_int_equal(fc_test_stats(c).lease_grants, 0);

	/* a key of the longest length works; a fill that fails with E2BIG
	 * keeps the lease */
	n = sizeof buf;
	assert_int_equal(fc_lease_get(c, big, FC_KEY_MAX, buf, &n, 0, &l), FC_LEADER);
	assert_int_equal(fc_lease_fill(c, &l, NULL, 1, 0), FC_EINVAL);
	fc_stats st = fc_test_stats(c);
	char *huge = calloc(1, st.value_max + 1);
	assert_non_null(huge);
	assert_int_equal(fc_lease_fill(c, &l, huge, st.value_max + 1, 0), FC_E2BIG);
	free(huge);
	assert_int_equal(fc_test_stats(c).leases_active, 1);
	assert_int_equal(fc_lease_fill(c, &l, "v", 1, 0), FC_OK);
	n = sizeof buf;
	assert_int_equal(fc_get(c, big, FC_KEY_MAX, buf, &n), FC_OK);

	/* a lease of another segment */
	fc_options o;
	fc_test_default_options(&o);
	char name[64];
	fc_test_name(name, sizeof name);
	fc_cache *other;
	assert_int_equal(fc_open(name, &o, &other), FC_OK);
	n = sizeof buf;
	assert_int_equal(fc_lease_get(other, "k", 1, buf, &n, 0, &l), FC_LEADER);
	assert_int_equal(fc_lease_fill(c, &l, "v", 1, 0), FC_EINVAL);
	assert_int_equal(fc_lease_abandon(c, &l), FC_EINVAL);
	assert_int_equal(fc_lease_fill(other, &l, "v", 1, 0), FC_OK);
	assert_int_equal(fc_close(other), FC_OK);
	assert_int_equal(fc_unlink(name, 0), FC_OK);
	fc_test_verify(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
#define N(f) cmocka_unit_test_teardown(f, fc_test_close)
		T(miss_makes_the_caller_leader_and_its_fill_serves_every_later_caller),
		T(hit_with_a_small_buffer_is_etrunc_and_takes_no_lease),
		T(held_lease_with_wait_ms_0_times_out_at_once),
		T(held_lease_times_out_after_wait_ms),
		T(abandon_lets_the_next_caller_lead_and_spends_the_lease),
		N(overdue_lease_is_taken_over_and_the_late_fill_changes_nothing),
		N(expired_item_within_stale_ms_is_served_while_one_caller_refreshes),
		N(abandoned_refresh_keeps_serving_stale_and_the_next_caller_refreshes),
		N(item_past_its_stale_window_is_a_plain_miss_and_is_reclaimed),
		N(deleted_stale_item_is_never_served_stale),
		T(stale_ms_0_serves_nothing_stale),
		N(full_lease_table_is_ebusy_never_a_hang_and_get_or_compute_still_computes),
		T(get_or_compute_computes_once_then_hits),
		T(get_or_compute_failure_is_returned_and_the_lease_abandoned),
		N(thousands_of_keys_leased_at_once),
		T(lease_of_a_thread_that_exited_is_taken_over_at_once),
		N(lease_options_are_the_creators_and_bad_ones_are_einval),
		T(bad_arguments_are_rejected_and_change_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
