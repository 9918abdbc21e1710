/*
 * test_3_item_klen_over_max.c - regression: an item header whose 8-bit
 * key length is 251..255 (> FC_KEY_MAX) was accepted as valid, so the
 * iterator handed out 252-byte keys (found by fuzz/segment). Now such an
 * item is corrupt: reads and iteration say FC_ECORRUPT, verify names it.
 */
#include "fc_test.h"
#include "fc_internal.h"

static struct item_shm *
only_item(fc_cache *c)
{
	uint64_t *ix = fc__index(c, (unsigned)(c->hdr->hd_ix_sel & 1));

	for (uint64_t i = 0; i < c->g.nbuckets; i++)
		if (fc__bk_live(ix[i]))
			return fc__ptr(c, fc__bk_off(ix[i]));
	return NULL;
}

static void
key_length_above_max_is_corrupt(void **state)
{
	fc_cache *c = *state;
	char buf[64];
	size_t len = sizeof buf;
	fc_iter *it;
	fc_item item;

	assert_int_equal(fc_set(c, "k", 1, "value", 5, 0), FC_OK);
	struct item_shm *itm = only_item(c);
	assert_non_null(itm);
	fc_test_item_set_klen(itm, FC_KEY_MAX + 2); /* what the fuzzer wrote */

	assert_int_equal(fc_iter_open(c, &it), FC_OK);
	assert_int_equal(fc_iter_next(it, &item), FC_ECORRUPT);
	fc_iter_close(it);
	int rc = fc_get(c, "k", 1, buf, &len);
	assert_true(rc == FC_ECORRUPT || rc == FC_ENOTFOUND);
	assert_true(fc_test_verify_count(c, 0) > 0);

	fc_test_item_set_klen(itm, 1); /* undo, so teardown leaves a sound segment */
	fc_test_verify(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(key_length_above_max_is_corrupt,
						fc_test_open, fc_test_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
