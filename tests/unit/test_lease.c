/*
 * tests/unit/test_lease.c - white-box tests of the lease table
 * (lib/lease.c, L1-L4): fc_verify reports each kind of damage to an entry
 * (region "lease"), and every partial state a killed grant, takeover or
 * release can leave reads as "leader gone" or "changed", never as held.
 */
#include "fc_test.h"
#include "fc_internal.h"

#include <string.h>

struct seen {
	unsigned n;
	char last[256];
};

static void
collect(void *arg, const char *region, uint64_t off, const char *problem)
{
	struct seen *s = arg;

	(void)off;
	if (strcmp(region, "lease") == 0) {
		s->n++;
		snprintf(s->last, sizeof s->last, "%s", problem);
	}
}

static unsigned
held_entry(fc_cache *c)
{
	unsigned found = UINT32_MAX, n = 0;

	for (unsigned i = 0; i < c->g.nleases; i++)
		if (c->leases[i].ls_hash) {
			found = i;
			n++;
		}
	if (n != 1)
		fail_msg("%u held entries, want 1", n);
	return found;
}

static void
expect_problem(fc_cache *c, const char *what)
{
	struct seen s = {0, ""};
	int64_t n = fc_verify(c, FC_VERIFY_LOCK, collect, &s);

	if (n < 1 || s.n < 1 || !strstr(s.last, what))
		fail_msg("want a lease problem with \"%s\"; verify=%lld lease problems=%u last=\"%s\"",
			 what, (long long)n, s.n, s.last);
}

static void
verify_reports_each_kind_of_damage_to_an_entry(void **state)
{
	fc_cache *c = *state;
	char buf[8];
	size_t n = sizeof buf;
	fc_lease l;

	assert_int_equal(fc_lease_get(c, "key", 3, buf, &n, 0, &l), FC_LEADER);
	fc_test_verify(c);
	unsigned i = held_entry(c);
	struct lease_shm *e = &c->leases[i], saved = *e;

	e->ls_klen = 0;
	expect_problem(c, "key length");
	*e = saved;
	e->ls_klen = FC_KEY_MAX + 1;
	expect_problem(c, "key length");
	*e = saved;
	e->ls_key[1] ^= 1;
	expect_problem(c, "does not hash");
	*e = saved;
	e->ls_slot = (uint32_t)c->g.nslots;
	expect_problem(c, "leader slot");
	*e = saved;
	/* the same key in the next entry too (inside its window) */
	unsigned j = (i + 1) % (unsigned)c->g.nleases;
	struct lease_shm saved_j = c->leases[j];
	c->leases[j] = saved;
	expect_problem(c, "also leased");
	c->leases[j] = saved_j;
	/* the key moved out of its window */
	unsigned far = (unsigned)((fc__lease_home(c, saved.ls_hash) + FC_LEASE_PROBE) %
				  c->g.nleases);
	struct lease_shm saved_far = c->leases[far];
	memset(e, 0, sizeof *e);
	c->leases[far] = saved;
	expect_problem(c, "from its home");
	c->leases[far] = saved_far;
	*e = saved;
	fc_test_verify(c);
	assert_int_equal(fc_lease_fill(c, &l, "v", 1, 0), FC_OK);
	fc_test_verify(c);
}

/* CRASHES in lease.c: a grant publishes ls_hash last; a takeover stores
 * ls_deadline_ms = 0 first; a release stores ls_hash = 0 first. Each
 * partial state must read as not held by a live leader. */
static void
every_partial_state_reads_as_gone_or_changed(void **state)
{
	fc_cache *c = *state;
	char buf[8];
	size_t n = sizeof buf;
	fc_lease l;

	assert_int_equal(fc_lease_get(c, "key", 3, buf, &n, 0, &l), FC_LEADER);
	unsigned i = held_entry(c);
	struct lease_shm *e = &c->leases[i], saved = *e;
	uint64_t gen = saved.ls_gen;

	assert_int_equal(fc__lease_holder_gone(c, i, gen, 1), 0); /* held, alive */
	e->ls_deadline_ms = 0; /* takeover, first store */
	assert_int_equal(fc__lease_holder_gone(c, i, gen, 0), 2);
	*e = saved;
	e->ls_owner ^= 1ull << 32; /* takeover, owner of another slot generation */
	assert_int_equal(fc__lease_holder_gone(c, i, gen, 0), 2);
	*e = saved;
	e->ls_slot = (e->ls_slot + 1) % (uint32_t)c->g.nslots; /* slot of someone else */
	assert_int_equal(fc__lease_holder_gone(c, i, gen, 0), 2);
	*e = saved;
	e->ls_gen = gen + 1; /* re-granted */
	assert_int_equal(fc__lease_holder_gone(c, i, gen, 0), 1);
	*e = saved;
	e->ls_hash = 0; /* release, first store */
	assert_int_equal(fc__lease_holder_gone(c, i, gen, 0), 1);
	*e = saved;
	assert_int_equal(fc__lease_holder_gone(c, i, gen, 1), 0);
	assert_int_equal(fc__lease_holder_gone(c, (uint32_t)c->g.nleases, gen, 1), 1);
	assert_int_equal(fc_lease_abandon(c, &l), FC_OK);
	assert_int_equal(fc__lease_holder_gone(c, i, gen, 1), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
		T(verify_reports_each_kind_of_damage_to_an_entry),
		T(every_partial_state_reads_as_gone_or_changed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
