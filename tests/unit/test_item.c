/*
 * tests/unit/test_item.c - white-box tests of chunk access (lib/item.c,
 * lib/item.h): the reader's bounds check fc__item_at, the writer's
 * ownership check fc__chunk_owned, and the one copy-out
 * fc__item_copy_out (each length loaded once and bounded by the page).
 */
#include "fc_test.h"
#include "fc_internal.h"

#include <string.h>

static int
setup(void **state)
{
	fc_options o;

	fc_test_default_options(&o);
	o.segment_bytes = 4u << 20;
	o.reader_slots = 8;
	fc_cache *c = fc_test_create(&o);
	assert_int_equal(fc_set(c, "key", 3, "value", 5, 0), FC_OK);
	*state = c;
	return 0;
}

/* The offset of the chunk that holds "key". */
static uint64_t
key_off(fc_cache *c)
{
	struct fc_probe p;

	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__index_probe_locked(c, fc__hash(c, "key", 3), "key", 3, 0, &p), FC_OK);
	fc__unlock(c);
	assert_non_null(p.it);
	return fc__off_of(c, p.it);
}

static void
item_at_accepts_a_live_item_and_rejects_offsets_outside_the_pages(void **state)
{
	fc_cache *c = *state;
	uint64_t off = key_off(c);

	assert_ptr_equal(fc__item_at(c, off), fc__ptr(c, off));
	assert_null(fc__item_at(c, 0));
	assert_null(fc__item_at(c, c->g.pages_off - 8));
	assert_null(fc__item_at(c, fc__pages_end(c)));
	/* past the last page, in the segment's tail (if it has one): a
	 * valid-looking header there is still outside the pages */
	if (fc__pages_end(c) + 64 <= c->g.segment_bytes) {
		struct item_shm *fake = fc__ptr(c, fc__pages_end(c));
		fc_test_item_set_klen(fake, 1);
		fc_test_item_set_vlen(fake, 1);
		assert_null(fc__item_at(c, fc__pages_end(c)));
	}
}

static void
item_at_rejects_a_misaligned_offset_even_over_a_valid_looking_header(void **state)
{
	fc_cache *c = *state;
	uint64_t off = key_off(c) + 4096 + 4; /* inside the page, misaligned */
	struct item_shm hdr;
	struct item_shm *fake;

	/* planted with memcpy: a struct store at a misaligned address would
	 * itself be undefined behaviour (UBSan); the class is the page's */
	memset(&hdr, 0, sizeof hdr);
	fc_test_item_set_klen(&hdr, 1);
	fc_test_item_set_vlen(&hdr, 1);
	memset(fc__ptr(c, off), 0, 64);
	memcpy(fc__ptr(c, off), &hdr, sizeof hdr);
	assert_null(fc__item_at(c, off));
	/* the same header at an aligned offset passes the bounds check */
	fake = fc__ptr(c, off - 4);
	memset(fake, 0, 64);
	fc_test_item_set_klen(fake, 1);
	fc_test_item_set_vlen(fake, 1);
	assert_non_null(fc__item_at(c, off - 4));
}

static void
item_at_rejects_lengths_that_leave_the_chunk(void **state)
{
	fc_cache *c = *state;
	uint64_t off = key_off(c);
	struct item_shm *it = fc__ptr(c, off);
	struct page_shm *pm = &c->pages[fc__page_of(c, off)];
	uint32_t csz = c->g.class_size[fc_test_item_class(c, it)];

	fc_test_item_set_vlen(it, csz - FC_ITEM_HDR - fc__item_klen(it)); /* exactly fills it */
	assert_non_null(fc__item_at(c, off));
	fc_test_item_set_vlen(it, csz - FC_ITEM_HDR - fc__item_klen(it) + 1);
	assert_null(fc__item_at(c, off));
	fc_test_item_set_vlen(it, 5);
	fc_test_item_set_klen(it, 0);
	assert_null(fc__item_at(c, off));
	fc_test_item_set_klen(it, 3);
	assert_non_null(fc__item_at(c, off));
	/* the class is the page map's: a class out of range there refuses
	 * every item of the page */
	uint16_t cls = pm->pm_class;
	pm->pm_class = (uint16_t)c->g.nclasses;
	assert_null(fc__item_at(c, off));
	pm->pm_class = cls;
	assert_non_null(fc__item_at(c, off));
}

static void
chunk_owned_checks_page_owner_class_and_chunk_start(void **state)
{
	fc_cache *c = *state;
	uint64_t off = key_off(c);
	struct item_shm *it = fc__ptr(c, off);
	unsigned cls = fc_test_item_class(c, it);
	struct page_shm *pm = &c->pages[fc__page_of(c, off)];

	assert_ptr_equal(fc__chunk_owned(c, off, cls), it);
	assert_null(fc__chunk_owned(c, off + 8, cls)); /* not a chunk start */
	assert_null(fc__chunk_owned(c, off, cls + 1)); /* another class */
	assert_null(fc__chunk_owned(c, off, c->g.nclasses));
	assert_null(fc__chunk_owned(c, fc__pages_end(c), cls));
	/* past the page's last whole chunk */
	uint64_t pg_start = fc__page_start(c, fc__page_of(c, off));
	uint64_t last = pg_start + (uint64_t)c->g.class_per_page[cls] * c->g.class_size[cls];
	if (last < pg_start + c->g.page_bytes)
		assert_null(fc__chunk_owned(c, last, cls));
	pm->pm_state = FC_PG_FREE; /* a FREE page is nobody's */
	assert_null(fc__chunk_owned(c, off, cls));
	pm->pm_state = FC_PG_ACTIVE;
	assert_non_null(fc__chunk_owned(c, off, cls));
}

static void
copy_out_copies_key_and_value_or_truncates_and_reports_the_length(void **state)
{
	fc_cache *c = *state;
	struct item_shm *it = fc__ptr(c, key_off(c));
	struct fc_iview v = {0};
	char buf[64];
	size_t vlen = 0;
	uint64_t cas = 0;
	fc_item m;

	assert_int_equal(fc__item_view(c, key_off(c), &v), 0);
	assert_int_equal(fc__item_copy_out(c, &v, 0, 1, 1, buf, sizeof buf, &vlen, &cas, &m), FC_OK);
	assert_memory_equal(buf, "keyvalue", 8);
	assert_int_equal(vlen, 5);
	assert_int_equal(cas, fc__item_cas(it));
	assert_ptr_equal(m.key, buf);
	assert_ptr_equal(m.value, buf + 3);
	assert_int_equal(m.klen, 3);
	assert_int_equal(m.ttl_left_ms, -1);
	assert_int_equal(m.chunk_bytes, c->g.class_size[fc_test_item_class(c, it)]);
	cas = 0;
	assert_int_equal(fc__item_copy_out(c, &v, 0, 1, 0, buf, 4, &vlen, &cas, NULL), FC_ETRUNC);
	assert_int_equal(vlen, 5);
	assert_int_equal(cas, 0); /* not set on ETRUNC */
	assert_int_equal(fc__item_copy_out(c, &v, 0, 1, 0, buf, 5, &vlen, NULL, NULL), FC_OK);
	assert_memory_equal(buf, "value", 5);
}

static void
view_refuses_bad_lengths_and_class_and_copy_out_uses_only_the_view(void **state)
{
	fc_cache *c = *state;
	uint64_t off = key_off(c);
	struct item_shm *it = fc__ptr(c, off);
	struct fc_iview v = {0};
	char buf[64];
	size_t vlen = 0;

	/* The view's own loads are bounded: lengths past the chunk, a bad
	 * class, a zero key length are refused. */
	struct page_shm *pm = &c->pages[fc__page_of(c, off)];
	fc_test_item_set_vlen(it, c->g.page_bytes);
	assert_int_equal(fc__item_view(c, off, &v), -1);
	fc_test_item_set_vlen(it, 5);
	uint16_t cls = pm->pm_class;
	pm->pm_class = (uint16_t)c->g.nclasses;
	assert_int_equal(fc__item_view(c, off, &v), -1);
	pm->pm_class = cls;
	uint32_t kl = fc__item_klen(it);
	fc_test_item_set_klen(it, 0);
	assert_int_equal(fc__item_view(c, off, &v), -1);
	fc_test_item_set_klen(it, kl);
	/* A writer changing the item after the check (issue #8, finding 5):
	 * the copy uses the checked view, not the new bytes. */
	assert_int_equal(fc__item_view(c, off, &v), 0);
	fc_test_item_set_vlen(it, 60000);
	fc_test_item_set_klen(it, 200);
	assert_int_equal(fc__item_copy_out(c, &v, 0, 1, 0, buf, sizeof buf, &vlen, NULL, NULL),
			 FC_OK);
	assert_int_equal(vlen, 5);
	assert_memory_equal(buf, "value", 5);
	fc_test_item_set_vlen(it, 5);
	fc_test_item_set_klen(it, kl);
}

/* The S3-FIFO accessors: a hit saturates at 3, the writer's frequency
 * store keeps the small flag and the flag store keeps the frequency, and
 * fc_get counts as a hit. */
static void
freq_saturates_and_small_flag_is_independent_of_it(void **state)
{
	fc_cache *c = *state;
	struct item_shm *it = fc__ptr(c, key_off(c));
	char buf[16];
	size_t vlen = sizeof buf;

	assert_int_equal(fc__lock(c), FC_OK);
	fc__item_freq_set_locked(it, 0);
	fc__item_set_small_locked(it, 1);
	fc__unlock(c);
	assert_int_equal(fc__item_freq(it), 0);
	assert_true(fc__item_small(it));
	assert_int_equal(fc_get(c, "key", 3, buf, &vlen), FC_OK);
	assert_int_equal(fc__item_freq(it), 1);
	for (int i = 0; i < 5; i++) {
		struct fc_iview v = {0};
		assert_int_equal(fc__item_view(c, key_off(c), &v), 0);
		fc__item_hit(&v);
	}
	assert_int_equal(fc__item_freq(it), 3);
	assert_true(fc__item_small(it));
	assert_int_equal(fc__lock(c), FC_OK);
	fc__item_freq_set_locked(it, 2);
	assert_true(fc__item_small(it));
	fc__item_set_small_locked(it, 0);
	assert_false(fc__item_small(it));
	assert_int_equal(fc__item_freq(it), 2);
	fc__unlock(c);
	vlen = sizeof buf;
	assert_int_equal(fc_get(c, "key", 3, buf, &vlen), FC_OK);
	assert_memory_equal(buf, "value", 5);
}

/* A reader's bump is one CAS against the word its view loaded: when the
 * writer changed the word since (here: the small flag and the state), the
 * bump is lost, never written over the writer's bits; and the writer's
 * CAS loop never loses a bump that landed first. */
static void
hit_from_a_stale_view_never_undoes_the_writers_change(void **state)
{
	fc_cache *c = *state;
	struct item_shm *it = fc__ptr(c, key_off(c));
	struct fc_iview v = {0};

	assert_int_equal(fc__lock(c), FC_OK);
	fc__item_freq_set_locked(it, 0);
	fc__item_set_small_locked(it, 0);
	fc__unlock(c);
	assert_int_equal(fc__item_view(c, key_off(c), &v), 0);
	assert_int_equal(fc__lock(c), FC_OK);
	fc__item_set_small_locked(it, 1); /* after the view's load */
	fc__unlock(c);
	fc__item_hit(&v);
	assert_true(fc__item_small(it));
	assert_int_equal(fc__item_freq(it), 0); /* the bump was lost */
	assert_int_equal(fc__item_state(it), FC_IT_LIVE);
	assert_int_equal(fc__item_klen(it), 3);
	/* A bump first, then the writer's flag change: both kept. */
	assert_int_equal(fc__item_view(c, key_off(c), &v), 0);
	fc__item_hit(&v);
	assert_int_equal(fc__lock(c), FC_OK);
	fc__item_set_small_locked(it, 0);
	fc__unlock(c);
	assert_int_equal(fc__item_freq(it), 1);
	assert_false(fc__item_small(it));
	fc_test_verify(c);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, fc_test_close)
	const struct CMUnitTest tests[] = {
		T(item_at_accepts_a_live_item_and_rejects_offsets_outside_the_pages),
		T(item_at_rejects_a_misaligned_offset_even_over_a_valid_looking_header),
		T(item_at_rejects_lengths_that_leave_the_chunk),
		T(chunk_owned_checks_page_owner_class_and_chunk_start),
		T(copy_out_copies_key_and_value_or_truncates_and_reports_the_length),
		T(view_refuses_bad_lengths_and_class_and_copy_out_uses_only_the_view),
		T(freq_saturates_and_small_flag_is_independent_of_it),
		T(hit_from_a_stale_view_never_undoes_the_writers_change),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
