/*
 * test_9_page_moves.c - issue #9: pages calcified in the class that first
 * got them (lib/rebalance.c moves them now).
 *  - churn: resized overwrites at 43% fill evicted keys while other classes
 *    held free chunks (fails on cf540a3: 3764 of 31095
 *    keys lost at 100 B);
 *  - compaction: a class needing a page while another class's pages are
 *    sparse evicted instead of compacting them (fails on cf540a3:
 *    evictions > 0);
 *  - shift: after a change of value sizes, the new class kept evicting its
 *    own new items while an idle class held the pages (fails on cf540a3:
 *    1 of the newest 511 keys present);
 *  - A6: fc_verify reports a wrong count of DRAINING pages (new invariant)
 *    and repair restores it.
 */
#include <stdlib.h>
#include <string.h>

#include "fc_test.h"
#include "fc_internal.h"

static fc_cache *
make(uint64_t seg, uint32_t avg)
{
	fc_options o;

	fc_test_default_options(&o);
	o.segment_bytes = seg;
	o.page_bytes = 64u << 10;
	if (avg)
		o.avg_item_bytes = avg;
	return fc_test_create(&o);
}

static void
set_x(fc_cache *c, const char *prefix, unsigned i, size_t vl, uint64_t seq)
{
	unsigned char val[16384];
	char key[32];
	size_t kl = fc_test_key(key, sizeof key, prefix, i);

	assert_true(vl <= sizeof val);
	fc_test_value_make(val, vl, key, kl, 1, seq);
	assert_int_equal(fc_set(c, key, kl, val, vl, 0), FC_OK);
}

/* 1 if prefix:i is present with an intact value, 0 if absent. */
static int
has_x(fc_cache *c, const char *prefix, unsigned i)
{
	unsigned char buf[16384];
	char key[32];
	size_t kl = fc_test_key(key, sizeof key, prefix, i), len = sizeof buf;
	int rc = fc_get(c, key, kl, buf, &len);

	if (rc == FC_ENOTFOUND)
		return 0;
	assert_int_equal(rc, FC_OK);
	assert_int_equal(fc_test_value_check(buf, len, key, kl, NULL, NULL), 0);
	return 1;
}

static void
churn_at_43_percent_fill_loses_no_key(void **state)
{
	(void)state;
	static const size_t sizes[] = {100, 1000};

	for (unsigned s = 0; s < 2; s++) {
		fc_cache *c = make(8u << 20, 128); /* the slab is the bound */
		size_t vb = sizes[s];
		unsigned n = (unsigned)((8u << 20) * 43 / 100 / (vb + 16));
		fc_test_rng r;

		fc_test_rng_init(&r, fc_test_seed() + s);
		for (unsigned i = 0; i < n; i++)
			set_x(c, "k:", i, vb, 0);
		for (unsigned i = 0; i < 4 * n; i++)
			set_x(c, "k:", (unsigned)fc_test_rand_range(&r, 0, n - 1),
			      vb / 2 + fc_test_rand_range(&r, 0, vb), i + 1);
		unsigned lost = 0;
		for (unsigned i = 0; i < n; i++)
			lost += !has_x(c, "k:", i);
		fc_stats st = fc_test_stats(c);
		if (lost || st.evictions)
			fail_msg("value %zu B: %u of %u keys lost, %llu evictions",
				 vb, lost, n, (unsigned long long)st.evictions);
		fc_test_verify(c);
		fc_test_destroy(c);
	}
}

static void
a_class_needing_pages_compacts_sparse_pages_and_evicts_nothing(void **state)
{
	(void)state;
	fc_cache *c = make(8u << 20, 96);
	fc_stats st;
	unsigned n = 0;

	/* small values fill all pages but two, then 3 of 4 are deleted */
	do {
		set_x(c, "s:", n++, 80, 0);
		st = fc_test_stats(c);
	} while (st.pages_free > 2);
	unsigned small_cls = 0;
	for (unsigned k = 0; k < st.classes; k++) {
		fc_class_stats cs;
		assert_int_equal(fc_class_stat(c, k, &cs), FC_OK);
		if (cs.pages > st.pages / 2)
			small_cls = k;
	}
	fc_class_stats before, after;
	assert_int_equal(fc_class_stat(c, small_cls, &before), FC_OK);
	for (unsigned i = 0; i < n; i++) {
		if (i % 4 == 0)
			continue;
		char key[32];
		size_t kl = fc_test_key(key, sizeof key, "s:", i);
		assert_int_equal(fc_delete(c, key, kl), FC_OK);
	}
	/* big values: a quarter of the segment, far more than two pages */
	for (unsigned i = 0; i < (2u << 20) / 8192; i++)
		set_x(c, "b:", i, 8000, 0);
	st = fc_test_stats(c);
	assert_int_equal(st.evictions, 0);
	for (unsigned i = 0; i < n; i += 4)
		if (!has_x(c, "s:", i))
			fail_msg("kept key s:%u lost", i);
	for (unsigned i = 0; i < (2u << 20) / 8192; i++)
		if (!has_x(c, "b:", i))
			fail_msg("big key b:%u lost", i);
	assert_int_equal(fc_class_stat(c, small_cls, &after), FC_OK);
	/* 2 free pages, the rest came from the small class */
	assert_true(after.pages + (2u << 20) / (64u << 10) - 4 <= before.pages);
	fc_test_verify(c);
	fc_test_destroy(c);
}

static void
size_shift(uint32_t avg)
{
	const uint64_t seg = 8u << 20;
	fc_cache *c = make(seg, avg);
	unsigned n1 = 0, n2 = 0;

	for (uint64_t put = 0; put < 2 * seg; put += 100 + 8)
		set_x(c, "p1:", n1++, 100, 0);
	for (uint64_t put = 0; put < 2 * seg; put += 8192 + 8)
		set_x(c, "p2:", n2++, 8192, 0);
	/* the newest phase-2 keys worth half the segment must be there */
	unsigned fit = (unsigned)(seg / 2 / 8200), here = 0;
	for (unsigned i = n2 - fit; i < n2; i++)
		here += (unsigned)has_x(c, "p2:", i);
	if (here < fit * 9 / 10)
		fail_msg("%u of the newest %u phase-2 keys present", here, fit);
	fc_test_verify(c);
	fc_test_destroy(c);
}

static void
after_a_size_shift_the_new_class_gets_the_idle_class_s_pages(void **state)
{
	(void)state;
	size_shift(128);
}

/* The same shift with the index, not the slab, the bound (avg_item_bytes
 * 1024: the 100 B items fill the index). Fails on 4da2d4c (index room
 * evicted the writer's own class: 0 of 511 newest phase-2 keys). */
static void
a_size_shift_with_a_full_index_evicts_the_old_small_items(void **state)
{
	(void)state;
	size_shift(1024);
}

static void
verify_reports_a_wrong_draining_page_count_and_repair_fixes_it(void **state)
{
	(void)state;
	fc_cache *c = make(4u << 20, 0);

	for (unsigned i = 0; i < 100; i++)
		set_x(c, "k:", i, 100, 0);
	fc_test_verify(c);
	c->hdr->hd_pages_draining = 3; /* planted damage (A6) */
	assert_true(fc_test_verify_count(c, FC_VERIFY_LOCK) >= 1);
	c->hdr->hd_needs_repair = 1; /* the next writer rebuilds */
	set_x(c, "k:", 0, 100, 1);
	assert_int_equal(c->hdr->hd_pages_draining, 0);
	fc_test_verify(c);
	for (unsigned i = 0; i < 100; i++)
		assert_true(has_x(c, "k:", i));
	fc_test_destroy(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(churn_at_43_percent_fill_loses_no_key),
		cmocka_unit_test(a_class_needing_pages_compacts_sparse_pages_and_evicts_nothing),
		cmocka_unit_test(after_a_size_shift_the_new_class_gets_the_idle_class_s_pages),
		cmocka_unit_test(a_size_shift_with_a_full_index_evicts_the_old_small_items),
		cmocka_unit_test(verify_reports_a_wrong_draining_page_count_and_repair_fixes_it),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
