/*
 * tests/unit/test_segment.c - white-box tests of the segment geometry, the
 * size classes and header validation (lib/segment.c, invariants S2, S3).
 *
 * fc__geometry() must lay out every region in the order of internal.h's
 * diagram, aligned, inside the segment and without overlap, and refuse
 * every out-of-range input. fc__classes() must give 8-byte aligned sizes
 * growing by at most 5/4 (+ rounding) up to exactly one page.
 * fc__header_check() must refuse a header with any immutable byte changed:
 * FC_EINCOMPAT for magic, version, ABI tag and layout signature, FC_ECORRUPT
 * for the rest, even with the checksum recomputed whenever the geometry no
 * longer recomputes to the stored offsets.
 */
#include "fc_test.h"
#include "fc_internal.h"

#include <inttypes.h>
#include <string.h>

/* ------------------------------------------------------------ geometry -- */

struct geom_case {
	uint64_t seg, page, nslots, nbuckets;
};

static const struct geom_case legal[] = {
	{FC_MIN_SEGMENT, FC_MIN_PAGE, 1, 64}, /* every minimum */
	{FC_MIN_SEGMENT + 4096, FC_MIN_PAGE, 3, 72}, /* odd sizes */
	{8u << 20, 64u << 10, 64, 40240}, /* the test fixture */
	{16u << 20, FC_MIN_PAGE, 65536, 64}, /* most slots */
	{64u << 20, 2u << 20, 256, 300000}, /* library default */
	{FC_MAX_SEGMENT, FC_MAX_PAGE, 65536, 1ull << 32}, /* every maximum */
	{FC_MAX_SEGMENT, FC_MIN_PAGE, 1, 64}, /* most pages */
};

static void
assert_layout_sound(const struct geom_case *k, const struct fc_geom *g)
{
	char what[160];

	snprintf(what, sizeof what,
		 "seg %" PRIu64 " page %" PRIu64 " slots %" PRIu64
		 " buckets %" PRIu64,
		 k->seg, k->page, k->nslots, k->nbuckets);
	if (g->segment_bytes != k->seg || g->page_bytes != k->page ||
	    g->nslots != k->nslots || g->nbuckets != k->nbuckets)
		fail_msg("%s: inputs not copied into the geometry", what);
	/* S3: regions in the diagram's order, not overlapping. */
	assert_int_equal(g->slots_off, FC_HEADER_BYTES);
	if (g->slots_off + g->nslots * sizeof(struct slot_shm) >
		    g->index_off[0] ||
	    g->index_off[0] + g->nbuckets * 8 > g->index_off[1] ||
	    g->index_off[1] + g->nbuckets * 8 > g->pagemap_off ||
	    g->pagemap_off + g->npages * sizeof(struct page_shm) >
		    g->limbo_off ||
	    g->limbo_off + g->limbo_cap * sizeof(struct limbo_shm) >
		    g->pages_off ||
	    g->pages_off + g->npages * g->page_bytes > g->segment_bytes)
		fail_msg("%s: regions overlap, are out of order or leave the "
			 "segment "
			 "(slots %" PRIu64 " ix0 %" PRIu64 " ix1 %" PRIu64
			 " pagemap %" PRIu64 " limbo %" PRIu64 " pages %" PRIu64
			 " npages %" PRIu64 ")",
			 what, g->slots_off, g->index_off[0], g->index_off[1],
			 g->pagemap_off, g->limbo_off, g->pages_off, g->npages);
	/* Alignment: pages and index on 4 KiB, slots and limbo on a line. */
	if (g->slots_off % FC_CACHELINE || g->index_off[0] % 4096 ||
	    g->index_off[1] % 8 || g->pagemap_off % 4096 || g->limbo_off % 64 ||
	    g->pages_off % 4096)
		fail_msg("%s: a region is misaligned", what);
	/* As many pages as fit, at least one. */
	assert_true(g->npages >= 1);
	if (g->pages_off + (g->npages + 1) * g->page_bytes <= g->segment_bytes)
		fail_msg("%s: room for page %" PRIu64 " left unused", what,
			 g->npages);
	assert_int_equal(g->limbo_cap,
			 g->nbuckets / 8 < 256 ? 256 : g->nbuckets / 8);
	/* A chunk offset is never 0 or 1 (EMPTY/TOMB words) and fits the
	 * 48-bit offset/8 field of a bucket word. */
	assert_true(g->pages_off >= FC_HEADER_BYTES);
	assert_true(((g->segment_bytes - 1) >> 3) <= FC_BK_OFFMASK);
	/* The class table is the one fc__classes gives for the page. */
	uint32_t sizes[FC_MAX_CLASSES], per[FC_MAX_CLASSES];
	int n = fc__classes(g->page_bytes, sizes, per);
	assert_int_equal(n, (int)g->nclasses);
	assert_memory_equal(sizes, g->class_size, (size_t)n * sizeof sizes[0]);
	assert_memory_equal(per, g->class_per_page, (size_t)n * sizeof per[0]);
}

static void
geometry_lays_out_regions_in_order_aligned_and_inside_the_segment(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof legal / sizeof legal[0]; i++) {
		struct fc_geom g;
		int rc = fc__geometry(legal[i].seg, legal[i].page,
				      legal[i].nslots, legal[i].nbuckets,
				      FC_LEASE_MIN, &g);
		if (rc != FC_OK)
			fail_msg("legal case %zu refused: %s", i,
				 fc_errname(rc));
		assert_layout_sound(&legal[i], &g);
	}
}

static void
geometry_rejects_every_out_of_range_input(void **state)
{
	static const struct {
		const char *why;
		struct geom_case k;
	} bad[] = {
		{"segment 0", {0, FC_MIN_PAGE, 1, 64}},
		{"segment below 1 MiB",
		 {FC_MIN_SEGMENT - 1, FC_MIN_PAGE, 1, 64}},
		{"segment above 1 TiB",
		 {FC_MAX_SEGMENT + 1, FC_MIN_PAGE, 1, 64}},
		{"page 0", {8u << 20, 0, 1, 64}},
		{"page below 64 KiB", {8u << 20, FC_MIN_PAGE / 2, 1, 64}},
		{"page above 16 MiB", {1ull << 30, FC_MAX_PAGE * 2, 1, 64}},
		{"page not a power of two", {8u << 20, FC_MIN_PAGE + 8, 1, 64}},
		{"page 3 x 64 KiB", {8u << 20, 3 * FC_MIN_PAGE, 1, 64}},
		{"no slots", {8u << 20, FC_MIN_PAGE, 0, 64}},
		{"65537 slots", {16u << 20, FC_MIN_PAGE, 65537, 64}},
		{"56 buckets", {8u << 20, FC_MIN_PAGE, 1, 56}},
		{"63 buckets", {8u << 20, FC_MIN_PAGE, 1, 63}},
		{"buckets not a multiple of 8",
		 {8u << 20, FC_MIN_PAGE, 1, 100}},
		{"2^32 + 8 buckets",
		 {FC_MAX_SEGMENT, FC_MIN_PAGE, 1, (1ull << 32) + 8}},
		{"index larger than the segment",
		 {FC_MIN_SEGMENT, FC_MIN_PAGE, 1, 1u << 17}},
		{"slots larger than the segment",
		 {FC_MIN_SEGMENT, FC_MIN_PAGE, 65536, 64}},
		{"no room for one page",
		 {FC_MIN_SEGMENT, FC_MIN_SEGMENT, 1, 64}},
		{"16 MiB page in 16 MiB", {16u << 20, FC_MAX_PAGE, 1, 64}},
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct fc_geom g;
		int rc = fc__geometry(bad[i].k.seg, bad[i].k.page,
				      bad[i].k.nslots, bad[i].k.nbuckets,
				      FC_LEASE_MIN, &g);
		if (rc != FC_EINVAL)
			fail_msg("%s: fc__geometry returned %s, want FC_EINVAL",
				 bad[i].why, fc_errname(rc));
	}
}

/* ------------------------------------------------------------- classes -- */

static void
classes_grow_by_at_most_five_quarters_up_to_one_page_for_every_legal_page(
	void **state)
{
	(void)state;
	for (uint64_t page = FC_MIN_PAGE; page <= FC_MAX_PAGE; page *= 2) {
		uint32_t sizes[FC_MAX_CLASSES], per[FC_MAX_CLASSES];
		int n = fc__classes(page, sizes, per);

		if (n < 2 || n > (int)FC_MAX_CLASSES)
			fail_msg("page %" PRIu64 ": %d classes", page, n);
		assert_int_equal(sizes[0], FC_MIN_CHUNK);
		assert_int_equal(sizes[n - 1], page);
		for (int i = 0; i < n; i++) {
			if (sizes[i] % FC_CHUNK_ALIGN)
				fail_msg(
					"page %" PRIu64
					": class %d size %u not 8-byte aligned",
					page, i, sizes[i]);
			if (per[i] != page / sizes[i])
				fail_msg("page %" PRIu64 ": class %d: %u per "
					 "page, want %" PRIu64,
					 page, i, per[i], page / sizes[i]);
			if (i == 0)
				continue;
			if (sizes[i] <= sizes[i - 1])
				fail_msg("page %" PRIu64
					 ": class %d size %u <= previous %u",
					 page, i, sizes[i], sizes[i - 1]);
			if ((uint64_t)sizes[i] * FC_GROWTH_DEN >
			    (uint64_t)sizes[i - 1] * FC_GROWTH_NUM +
				    8 * FC_GROWTH_DEN)
				fail_msg("page %" PRIu64
					 ": class %d size %u grows more than "
					 "5/4 + 8 from %u",
					 page, i, sizes[i], sizes[i - 1]);
		}
		assert_int_equal(per[n - 1], 1);
	}
}

static void
classes_refuse_a_page_that_needs_more_than_the_class_table(void **state)
{
	uint32_t sizes[FC_MAX_CLASSES], per[FC_MAX_CLASSES];

	(void)state;
	/* 64 B x (5/4)^63 is far below 2^40: more than 64 classes needed. */
	assert_int_equal(fc__classes(1ull << 40, sizes, per), -1);
}

/* -------------------------------------------------------------- header -- */

static void
copy_header(fc_cache *c, struct hdr_shm *h)
{
	memcpy(h, c->hdr, sizeof *h);
}

static void
header_copy_of_a_live_segment_checks_and_gives_the_attach_geometry(void **state)
{
	fc_cache *c = *state;
	struct hdr_shm h;
	struct fc_geom g;

	copy_header(c, &h);
	assert_int_equal(h.hd_checksum, fc__header_checksum(&h));
	assert_int_equal(fc__header_check(&h, c->g.segment_bytes, &g), FC_OK);
	assert_memory_equal(&g, &c->g, sizeof g);
	fc_test_verify(c);
}

/* Which code a change of header byte @p b must give (no recompute). */
static int
want_for_byte(size_t b)
{
	if (b < 8)
		return FC_EINCOMPAT; /* magic */
	if (b >= offsetof(struct hdr_shm, hd_version) &&
	    b < offsetof(struct hdr_shm, hd_version) + 4)
		return FC_EINCOMPAT;
	if (b >= offsetof(struct hdr_shm, hd_abi) &&
	    b < offsetof(struct hdr_shm, hd_abi) + 4)
		return FC_EINCOMPAT;
	if (b >= offsetof(struct hdr_shm, hd_layout_sig) &&
	    b < offsetof(struct hdr_shm, hd_layout_sig) + 8)
		return FC_EINCOMPAT;
	return FC_ECORRUPT; /* checksum (S2) */
}

static void
header_with_any_checksummed_byte_flipped_is_refused(void **state)
{
	fc_cache *c = *state;
	struct fc_geom g;

	for (size_t b = 0; b < FC_CKSUM_BYTES + 8; b++) {
		for (unsigned bit = 0; bit < 8; bit += 7) {
			struct hdr_shm h;
			copy_header(c, &h);
			((unsigned char *)&h)[b] ^= (unsigned char)(1u << bit);
			int rc = fc__header_check(&h, c->g.segment_bytes, &g);
			if (rc != want_for_byte(b))
				fail_msg("header byte %zu bit %u flipped: %s, "
					 "want %s",
					 b, bit, fc_errname(rc),
					 fc_errname(want_for_byte(b)));
		}
	}
	fc_test_verify(c);
}

static void
header_with_incompatible_identity_is_refused_even_with_a_good_checksum(
	void **state)
{
	fc_cache *c = *state;
	struct fc_geom g;
	struct hdr_shm h;

	copy_header(c, &h);
	h.hd_magic[0] = 'X';
	h.hd_checksum = fc__header_checksum(&h);
	assert_int_equal(fc__header_check(&h, c->g.segment_bytes, &g),
			 FC_EINCOMPAT);

	copy_header(c, &h);
	h.hd_version = FC_LAYOUT_VERSION + 1;
	h.hd_checksum = fc__header_checksum(&h);
	assert_int_equal(fc__header_check(&h, c->g.segment_bytes, &g),
			 FC_EINCOMPAT);

	copy_header(c, &h);
	h.hd_abi = fc__abi_tag() ^ 0x100u; /* another slot size */
	h.hd_checksum = fc__header_checksum(&h);
	assert_int_equal(fc__header_check(&h, c->g.segment_bytes, &g),
			 FC_EINCOMPAT);

	copy_header(c, &h);
	h.hd_layout_sig = fc__layout_sig() + 1;
	h.hd_checksum = fc__header_checksum(&h);
	assert_int_equal(fc__header_check(&h, c->g.segment_bytes, &g),
			 FC_EINCOMPAT);

	/* An all-zero header (creator died before the magic) is not ours. */
	memset(&h, 0, sizeof h);
	assert_int_equal(fc__header_check(&h, c->g.segment_bytes, &g),
			 FC_EINCOMPAT);
	fc_test_verify(c);
}

/* One immutable field and a change that leaves the geometry unable to
 * recompute to the header's numbers. */
struct field_change {
	const char *name;
	size_t off, size;
	uint64_t delta; /* added (u32/u64) */
};

#define FIELD(f, d)                                           \
	{                                                     \
#f, offsetof(struct hdr_shm, f),              \
			sizeof(((struct hdr_shm *)0)->f), (d) \
	}

static void
add_to_field(struct hdr_shm *h, const struct field_change *f)
{
	char *p = (char *)h + f->off;

	if (f->size == 4) {
		uint32_t v;
		memcpy(&v, p, 4);
		v += (uint32_t)f->delta;
		memcpy(p, &v, 4);
	} else {
		uint64_t v;
		memcpy(&v, p, 8);
		v += f->delta;
		memcpy(p, &v, 8);
	}
}

static void
header_with_changed_geometry_is_corrupt_even_with_a_recomputed_checksum(
	void **state)
{
	fc_cache *c = *state;
	uint64_t pb = c->g.page_bytes;
	const struct field_change ch[] = {
		FIELD(hd_header_bytes, 8),
		FIELD(hd_segment_bytes, pb), /* file size unchanged */
		FIELD(hd_page_bytes, pb), /* legal page, other npages */
		FIELD(hd_page_bytes, 8), /* not a power of two */
		FIELD(hd_npages, 1),
		FIELD(hd_npages, (uint64_t)-1),
		FIELD(hd_nbuckets, 8),
		FIELD(hd_nbuckets, 4), /* not a multiple of 8 */
		FIELD(hd_nslots, 1), /* 65 slots move the index */
		FIELD(hd_nslots, 65536), /* > 65536 */
		FIELD(hd_limbo_cap, 1),
		FIELD(hd_slots_off, 64),
		FIELD(hd_index_off[0], 4096),
		FIELD(hd_index_off[1], 8),
		FIELD(hd_pagemap_off, 4096),
		FIELD(hd_limbo_off, 64),
		FIELD(hd_pages_off, 4096),
		FIELD(hd_nclasses, 1),
		FIELD(hd_nclasses, (uint64_t)-1),
	};
	struct fc_geom g;

	assert_int_equal(c->g.nslots, 64); /* hd_nslots + 1 relies on it */
	for (size_t i = 0; i < sizeof ch / sizeof ch[0]; i++) {
		struct hdr_shm h;
		copy_header(c, &h);
		add_to_field(&h, &ch[i]);
		/* Without a new checksum: the checksum catches it. */
		int rc = fc__header_check(&h, c->g.segment_bytes, &g);
		if (rc != FC_ECORRUPT)
			fail_msg("%s += %" PRId64
				 ", old checksum: %s, want FC_ECORRUPT",
				 ch[i].name, (int64_t)ch[i].delta,
				 fc_errname(rc));
		/* With one: the recomputed geometry catches it. */
		h.hd_checksum = fc__header_checksum(&h);
		rc = fc__header_check(&h, c->g.segment_bytes, &g);
		if (rc != FC_ECORRUPT)
			fail_msg("%s += %" PRId64
				 ", checksum recomputed: %s, want FC_ECORRUPT",
				 ch[i].name, (int64_t)ch[i].delta,
				 fc_errname(rc));
	}
	fc_test_verify(c);
}

static void
header_segment_size_matching_the_file_but_not_the_geometry_is_corrupt(
	void **state)
{
	fc_cache *c = *state;
	struct fc_geom g;
	struct hdr_shm h;
	uint64_t grown = c->g.segment_bytes + c->g.page_bytes;

	copy_header(c, &h);
	h.hd_segment_bytes = grown;
	h.hd_checksum = fc__header_checksum(&h);
	/* The file really is that long: only the stored npages and offsets
	 * betray the change. */
	assert_int_equal(fc__header_check(&h, grown, &g), FC_ECORRUPT);
	fc_test_verify(c);
}

static void
header_fields_outside_the_geometry_are_covered_by_the_checksum_only(
	void **state)
{
	fc_cache *c = *state;
	struct fc_geom g;
	struct hdr_shm h;

	copy_header(c, &h);
	h.hd_seed ^= 1;
	assert_int_equal(fc__header_check(&h, c->g.segment_bytes, &g),
			 FC_ECORRUPT);
	h.hd_checksum = fc__header_checksum(&h);
	assert_int_equal(fc__header_check(&h, c->g.segment_bytes, &g), FC_OK);

	copy_header(c, &h);
	h.hd_created_ms += 1;
	assert_int_equal(fc__header_check(&h, c->g.segment_bytes, &g),
			 FC_ECORRUPT);
	h.hd_checksum = fc__header_checksum(&h);
	assert_int_equal(fc__header_check(&h, c->g.segment_bytes, &g), FC_OK);

	copy_header(c, &h);
	h.hd_pad0[3] = 0x5a;
	assert_int_equal(fc__header_check(&h, c->g.segment_bytes, &g),
			 FC_ECORRUPT);
	fc_test_verify(c);
}

static void
header_mutable_fields_are_outside_the_checksum(void **state)
{
	fc_cache *c = *state;
	struct fc_geom g;
	struct hdr_shm h;

	copy_header(c, &h);
	h.hd_boot_id[0] ^= 1;
	h.hd_epoch += 1000;
	h.hd_ix_sel ^= 1;
	h.hd_items += 7;
	h.hd_class[0].cl_free = 12345;
	assert_int_equal(fc__header_check(&h, c->g.segment_bytes, &g), FC_OK);
	assert_memory_equal(&g, &c->g, sizeof g);
	fc_test_verify(c);
}

static void
header_with_a_file_size_other_than_the_segment_is_corrupt(void **state)
{
	fc_cache *c = *state;
	uint64_t s = c->g.segment_bytes, pb = c->g.page_bytes;
	const uint64_t sizes[] = {0, FC_HEADER_BYTES, s - 1, s + 1,
				  s - pb, s + pb, 2 * s};
	struct fc_geom g;
	struct hdr_shm h;

	copy_header(c, &h);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		int rc = fc__header_check(&h, sizes[i], &g);
		if (rc != FC_ECORRUPT)
			fail_msg("file of %" PRIu64 " bytes for a %" PRIu64
				 "-byte segment: %s, "
				 "want FC_ECORRUPT",
				 sizes[i], s, fc_errname(rc));
	}
	assert_int_equal(fc__header_check(&h, s, &g), FC_OK);
	fc_test_verify(c);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			geometry_lays_out_regions_in_order_aligned_and_inside_the_segment),
		cmocka_unit_test(geometry_rejects_every_out_of_range_input),
		cmocka_unit_test(
			classes_grow_by_at_most_five_quarters_up_to_one_page_for_every_legal_page),
		cmocka_unit_test(
			classes_refuse_a_page_that_needs_more_than_the_class_table),
		T(header_copy_of_a_live_segment_checks_and_gives_the_attach_geometry),
		T(header_with_any_checksummed_byte_flipped_is_refused),
		T(header_with_incompatible_identity_is_refused_even_with_a_good_checksum),
		T(header_with_changed_geometry_is_corrupt_even_with_a_recomputed_checksum),
		T(header_segment_size_matching_the_file_but_not_the_geometry_is_corrupt),
		T(header_fields_outside_the_geometry_are_covered_by_the_checksum_only),
		T(header_mutable_fields_are_outside_the_checksum),
		T(header_with_a_file_size_other_than_the_segment_is_corrupt),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
