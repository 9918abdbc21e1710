/*
 * test_3_slot_table_garbage.c - regression: a reader-slot table full of
 * owners that do not exist made every read fail with FC_EBUSY, because
 * reaping stopped at the (also damaged) high-water mark; fc_stat counted
 * only below that mark while fc_slot_stat saw every slot. Now a full table
 * is reaped whole, and both calls agree.
 */
#include "fc_test.h"
#include "fc_internal.h"

static void
dead_owners_everywhere_are_reaped(void **state)
{
	fc_cache *c = *state;
	char buf[16];
	size_t len = sizeof buf;
	fc_stats st;
	fc_slot_info si;
	uint64_t dead = 0;

	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	/* pid 4194305 is above PID_MAX_LIMIT: never alive. */
	for (uint64_t i = 0; i < c->g.nslots; i++)
		c->slots[i].rs_owner = (7ull << 32) | 4194305u;
	c->hdr->hd_slots_hwm = 1; /* damaged too */

	assert_int_equal(fc_stat(c, &st), FC_OK);
	for (unsigned i = 0; i < st.reader_slots; i++) {
		assert_int_equal(fc_slot_stat(c, i, &si), FC_OK);
		dead += si.state == FC_SLOT_DEAD;
	}
	assert_int_equal(st.readers_dead, dead);
	assert_int_equal(dead, c->g.nslots);

	assert_int_equal(fc_get(c, "k", 1, buf, &len), FC_OK);
	assert_int_equal(fc_stat(c, &st), FC_OK);
	assert_int_equal(st.readers_dead, 0);
	assert_int_equal(st.readers_live, 1);
	fc_test_verify(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(dead_owners_everywhere_are_reaped,
						fc_test_open, fc_test_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
