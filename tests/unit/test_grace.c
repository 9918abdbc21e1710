/*
 * tests/unit/test_grace.c - the grace-period comparison at its boundary
 * (lib/readers.c fc__grace_wait_locked, invariant R1): a reader holding
 * exactly the stamp keeps the wait from ending; one epoch newer does not.
 */
#include "fc_test.h"
#include "fc_internal.h"

static struct slot_shm *
own_slot(fc_cache *c)
{
	int err = FC_OK, outer;
	struct fc_tls *t = fc__read_enter(c, &err, &outer);

	assert_non_null(t);
	fc__read_exit(t, outer);
	return t->slot;
}

static void
a_reader_at_exactly_the_stamp_holds_the_grace_period(void **state)
{
	fc_cache *c = *state;
	struct slot_shm *s = own_slot(c);
	uint64_t stamp = c->hdr->hd_epoch;

	fc__st_rel(&s->rs_epoch, stamp); /* a reader that entered at the stamp */
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__grace_wait_locked(c, stamp), FC_EBUSY);
	fc__unlock(c);
	fc__st_rel(&s->rs_epoch, stamp + 1); /* entered after the stamp */
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__grace_wait_locked(c, stamp), FC_OK);
	fc__unlock(c);
	fc__st_rel(&s->rs_epoch, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_reader_at_exactly_the_stamp_holds_the_grace_period,
						fc_test_open, fc_test_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
