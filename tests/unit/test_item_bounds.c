/*
 * tests/unit/test_item_bounds.c - the bounds the reader's item view
 * (lib/item.h fc__item_view) and the writer's ownership check (lib/item.c
 * fc__chunk_owned) put on an offset read from the segment: nothing at or
 * past the end of the last page (the segment's tail), no chunk that runs
 * past its page. Each plants a well-formed item header where the check
 * alone must refuse it (scripts/mutants.sh survivors of the page-end and
 * chunk-in-page checks: the 8 MiB fixture has no tail, and a header placed
 * on a class boundary never crosses a page).
 */
#include "fc_test.h"
#include "fc_internal.h"

#include <string.h>

/* A segment whose pages end before the segment does (a tail of at least
 * 256 bytes after the last page). */
static fc_cache *
segment_with_tail(void)
{
	for (uint64_t extra = 8192; extra < (64u << 10); extra += 8192) {
		fc_options o;
		fc_test_default_options(&o);
		o.segment_bytes = (8u << 20) + extra;
		fc_cache *c = fc_test_create(&o);
		uint64_t end = fc__pages_end(c);
		if (end + 256 <= c->g.segment_bytes)
			return c;
		fc_test_destroy(c);
	}
	fail_msg("no segment size gave a tail after the last page");
	return NULL;
}

/* A header that passes every check of its own: a 1-byte key, no value,
 * in a page the page map gives to class 0 (the class is the page's). */
static void
plant_header(fc_cache *c, uint64_t off)
{
	struct item_shm *it = (struct item_shm *)(c->base + off);

	memset(it, 0, sizeof *it);
	fc_test_item_set_klen(it, 1);
	fc_test_item_set_vlen(it, 0);
	c->base[off + sizeof *it] = 'k';
}

static void
an_item_in_the_tail_after_the_last_page_is_refused(void **state)
{
	fc_cache *c = segment_with_tail();
	uint64_t end = fc__pages_end(c);
	struct fc_iview v;

	(void)state;
	/* the same header inside a page of class 0 is accepted: the plant
	 * is valid */
	c->pages[0].pm_class = 0;
	plant_header(c, c->g.pages_off);
	assert_int_equal(fc__item_view(c, c->g.pages_off, &v), 0);
	/* the page map's entry past the last page says class 0 too (the map
	 * is sized segment/page, so it has one) */
	assert_true(c->g.npages < c->g.segment_bytes / c->g.page_bytes);
	c->pages[c->g.npages].pm_class = 0;
	plant_header(c, end);
	assert_int_equal(fc__item_view(c, end, &v), -1);
	fc_test_destroy(c);
}

static void
the_writer_never_owns_a_chunk_in_the_tail(void **state)
{
	fc_cache *c = segment_with_tail();
	uint64_t end = fc__pages_end(c), np = c->g.npages;
	struct page_shm saved;

	(void)state;
	/* the page map has an entry past the last page (sized by
	 * segment/page): make it look like a page of class 0 */
	assert_true(np < c->g.segment_bytes / c->g.page_bytes);
	saved = c->pages[np];
	c->pages[np].pm_state = FC_PG_ACTIVE;
	c->pages[np].pm_class = 0;
	c->pages[0].pm_state = FC_PG_ACTIVE;
	c->pages[0].pm_class = 0;
	/* the same test passes inside a page of class 0 */
	assert_non_null(fc__chunk_owned(c, c->g.pages_off, 0));
	assert_null(fc__chunk_owned(c, end, 0));
	c->pages[np] = saved;
	c->pages[0].pm_state = FC_PG_FREE;
	fc_test_destroy(c);
}

static void
a_chunk_that_would_run_past_its_page_is_refused(void **state)
{
	fc_cache *c = segment_with_tail();
	uint64_t off = c->g.pages_off + c->g.page_bytes - 32; /* header fits */
	struct fc_iview v;

	(void)state;
	assert_true(c->g.class_size[0] > 32);
	c->pages[0].pm_class = 0;
	plant_header(c, off);
	assert_int_equal(fc__item_view(c, off, &v), -1);
	fc_test_destroy(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_item_in_the_tail_after_the_last_page_is_refused),
		cmocka_unit_test(the_writer_never_owns_a_chunk_in_the_tail),
		cmocka_unit_test(a_chunk_that_would_run_past_its_page_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
