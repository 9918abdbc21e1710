/* tests/api/test_bad_input.c - every call given bad input returns FC_EINVAL
 * or FC_E2BIG and leaves the cache unchanged. */
#include "fc_test.h"

#include <stdlib.h>
#include <string.h>

struct snap {
	fc_stats st;
	uint64_t cas;
	char val[16];
	size_t vlen;
};

static void
take_snap(fc_cache *c, struct snap *s)
{
	memset(s, 0, sizeof *s);
	s->st = fc_test_stats(c);
	s->vlen = sizeof s->val;
	assert_int_equal(fc_gets(c, "keep", 4, s->val, &s->vlen, &s->cas),
			 FC_OK);
}

static void
assert_unchanged(fc_cache *c, const struct snap *a, const char *what)
{
	struct snap b;

	take_snap(c, &b);
	if (a->st.items != b.st.items || a->st.data_bytes != b.st.data_bytes ||
	    a->st.bytes_used != b.st.bytes_used || a->st.sets != b.st.sets ||
	    a->st.deletes != b.st.deletes ||
	    a->st.evictions != b.st.evictions || a->cas != b.cas ||
	    a->vlen != b.vlen || memcmp(a->val, b.val, a->vlen) != 0)
		fail_msg("%s changed the cache: items %llu->%llu data %llu->"
			 "%llu sets %llu->%llu cas %llu->%llu",
			 what, (unsigned long long)a->st.items,
			 (unsigned long long)b.st.items,
			 (unsigned long long)a->st.data_bytes,
			 (unsigned long long)b.st.data_bytes,
			 (unsigned long long)a->st.sets,
			 (unsigned long long)b.st.sets,
			 (unsigned long long)a->cas, (unsigned long long)b.cas);
}

#define EXPECT(call, want)                                             \
	do {                                                           \
		int64_t rc_ = (call);                                  \
		if (rc_ != (want))                                     \
			fail_msg("%s = %s (%lld), want %s", #call,     \
				 fc_errname((int)rc_), (long long)rc_, \
				 fc_errname(want));                    \
		assert_unchanged(c, &before, #call);                   \
	} while (0)

static int
setup(void **state)
{
	fc_test_open(state);
	assert_int_equal(fc_set(*state, "keep", 4, "kept-value", 10, 0), FC_OK);
	return 0;
}

static void
null_handle_is_einval_everywhere(void **state)
{
	fc_cache *c = *state;
	struct snap before;
	char buf[8];
	size_t len = sizeof buf;
	uint64_t cas = 0, v = 0;
	fc_stats st;
	fc_class_stats cs;
	fc_slot_info si;
	fc_iter *it = NULL;

	take_snap(c, &before);
	EXPECT(fc_set(NULL, "k", 1, "v", 1, 0), FC_EINVAL);
	EXPECT(fc_add(NULL, "k", 1, "v", 1, 0), FC_EINVAL);
	EXPECT(fc_replace(NULL, "k", 1, "v", 1, 0), FC_EINVAL);
	EXPECT(fc_cas(NULL, "k", 1, "v", 1, 0, 1), FC_EINVAL);
	EXPECT(fc_get(NULL, "k", 1, buf, &len), FC_EINVAL);
	EXPECT(fc_gets(NULL, "k", 1, buf, &len, &cas), FC_EINVAL);
	EXPECT(fc_delete(NULL, "k", 1), FC_EINVAL);
	EXPECT(fc_touch(NULL, "k", 1, 0), FC_EINVAL);
	EXPECT(fc_incr(NULL, "k", 1, 1, &v), FC_EINVAL);
	EXPECT(fc_flush(NULL), FC_EINVAL);
	EXPECT(fc_flush_expired(NULL), FC_EINVAL);
	EXPECT(fc_stat(NULL, &st), FC_EINVAL);
	EXPECT(fc_stat(c, NULL), FC_EINVAL);
	EXPECT(fc_class_stat(NULL, 0, &cs), FC_EINVAL);
	EXPECT(fc_class_stat(c, 0, NULL), FC_EINVAL);
	EXPECT(fc_slot_stat(NULL, 0, &si), FC_EINVAL);
	EXPECT(fc_slot_stat(c, 0, NULL), FC_EINVAL);
	EXPECT(fc_reap(NULL), FC_EINVAL);
	EXPECT(fc_verify(NULL, 0, NULL, NULL), FC_EINVAL);
	EXPECT(fc_verify(NULL, FC_VERIFY_LOCK, NULL, NULL), FC_EINVAL);
	EXPECT(fc_iter_open(NULL, &it), FC_EINVAL);
	EXPECT(fc_iter_open(c, NULL), FC_EINVAL);
	/* unknown verify flags */
	EXPECT(fc_verify(c, 0x100u, NULL, NULL), FC_EINVAL);
	/* fc_iter_next documents no FC_EINVAL, but must not accept it */
	assert_true(fc_iter_next(NULL, NULL) < 0);
	fc_test_verify(c);
}

static void
null_key_is_einval(void **state)
{
	fc_cache *c = *state;
	struct snap before;
	char buf[8];
	size_t len = sizeof buf;
	uint64_t cas = 0;

	take_snap(c, &before);
	EXPECT(fc_set(c, NULL, 1, "v", 1, 0), FC_EINVAL);
	EXPECT(fc_add(c, NULL, 1, "v", 1, 0), FC_EINVAL);
	EXPECT(fc_replace(c, NULL, 4, "v", 1, 0), FC_EINVAL);
	EXPECT(fc_cas(c, NULL, 4, "v", 1, 0, before.cas), FC_EINVAL);
	EXPECT(fc_get(c, NULL, 4, buf, &len), FC_EINVAL);
	EXPECT(fc_gets(c, NULL, 4, buf, &len, &cas), FC_EINVAL);
	EXPECT(fc_delete(c, NULL, 4), FC_EINVAL);
	EXPECT(fc_touch(c, NULL, 4, 0), FC_EINVAL);
	EXPECT(fc_incr(c, NULL, 4, 1, NULL), FC_EINVAL);
}

static void
zero_length_key_is_einval(void **state)
{
	fc_cache *c = *state;
	struct snap before;
	char buf[8];
	size_t len = sizeof buf;
	uint64_t cas = 0;

	take_snap(c, &before);
	EXPECT(fc_set(c, "keep", 0, "v", 1, 0), FC_EINVAL);
	EXPECT(fc_add(c, "keep", 0, "v", 1, 0), FC_EINVAL);
	EXPECT(fc_replace(c, "keep", 0, "v", 1, 0), FC_EINVAL);
	EXPECT(fc_cas(c, "keep", 0, "v", 1, 0, before.cas), FC_EINVAL);
	EXPECT(fc_get(c, "keep", 0, buf, &len), FC_EINVAL);
	EXPECT(fc_gets(c, "keep", 0, buf, &len, &cas), FC_EINVAL);
	EXPECT(fc_delete(c, "keep", 0), FC_EINVAL);
	EXPECT(fc_touch(c, "keep", 0, 0), FC_EINVAL);
	EXPECT(fc_incr(c, "keep", 0, 1, NULL), FC_EINVAL);
}

static void
key_one_byte_too_long_is_e2big(void **state)
{
	fc_cache *c = *state;
	struct snap before;
	char key[FC_KEY_MAX + 1], buf[8];
	size_t len = sizeof buf;
	uint64_t cas = 0;

	memset(key, 'K', sizeof key);
	take_snap(c, &before);
	EXPECT(fc_set(c, key, FC_KEY_MAX + 1, "v", 1, 0), FC_E2BIG);
	EXPECT(fc_add(c, key, FC_KEY_MAX + 1, "v", 1, 0), FC_E2BIG);
	EXPECT(fc_replace(c, key, FC_KEY_MAX + 1, "v", 1, 0), FC_E2BIG);
	EXPECT(fc_cas(c, key, FC_KEY_MAX + 1, "v", 1, 0, 1), FC_E2BIG);
	EXPECT(fc_get(c, key, FC_KEY_MAX + 1, buf, &len), FC_E2BIG);
	EXPECT(fc_gets(c, key, FC_KEY_MAX + 1, buf, &len, &cas), FC_E2BIG);
	EXPECT(fc_delete(c, key, FC_KEY_MAX + 1), FC_E2BIG);
	EXPECT(fc_touch(c, key, FC_KEY_MAX + 1, 0), FC_E2BIG);
	EXPECT(fc_incr(c, key, FC_KEY_MAX + 1, 1, NULL), FC_E2BIG);
	EXPECT(fc_set(c, key, (size_t)-1, "v", 1, 0), FC_E2BIG);
	/* the prefix of FC_KEY_MAX bytes was not stored meanwhile */
	len = sizeof buf;
	assert_int_equal(fc_get(c, key, FC_KEY_MAX, buf, &len), FC_ENOTFOUND);
}

static void
value_one_byte_too_long_is_e2big(void **state)
{
	fc_cache *c = *state;
	struct snap before;
	fc_stats st = fc_test_stats(c);
	size_t n = (size_t)st.value_max + 1;
	char *big = malloc(n);

	assert_non_null(big);
	memset(big, 'V', n);
	take_snap(c, &before);
	EXPECT(fc_set(c, "keep", 4, big, n, 0), FC_E2BIG);
	EXPECT(fc_set(c, "new", 3, big, n, 0), FC_E2BIG);
	EXPECT(fc_add(c, "new", 3, big, n, 0), FC_E2BIG);
	EXPECT(fc_replace(c, "keep", 4, big, n, 0), FC_E2BIG);
	EXPECT(fc_cas(c, "keep", 4, big, n, 0, before.cas), FC_E2BIG);
	EXPECT(fc_set(c, "new", 3, big, SIZE_MAX, 0), FC_E2BIG);
	EXPECT(fc_set(c, "new", 3, big, (size_t)UINT32_MAX + 2, 0), FC_E2BIG);
	free(big);
	fc_test_verify(c);
}

static void
null_value_with_nonzero_length_is_einval(void **state)
{
	fc_cache *c = *state;
	struct snap before;

	take_snap(c, &before);
	EXPECT(fc_set(c, "keep", 4, NULL, 1, 0), FC_EINVAL);
	EXPECT(fc_set(c, "new", 3, NULL, 5, 0), FC_EINVAL);
	EXPECT(fc_add(c, "new", 3, NULL, 5, 0), FC_EINVAL);
	EXPECT(fc_replace(c, "keep", 4, NULL, 5, 0), FC_EINVAL);
	EXPECT(fc_cas(c, "keep", 4, NULL, 5, 0, before.cas), FC_EINVAL);
}

static void
get_with_null_length_or_null_buffer_is_einval(void **state)
{
	fc_cache *c = *state;
	struct snap before;
	char buf[8];
	size_t len = 4;
	uint64_t cas = 0;

	take_snap(c, &before);
	EXPECT(fc_get(c, "keep", 4, buf, NULL), FC_EINVAL);
	EXPECT(fc_gets(c, "keep", 4, buf, NULL, &cas), FC_EINVAL);
	EXPECT(fc_get(c, "keep", 4, NULL, &len), FC_EINVAL);
	EXPECT(fc_gets(c, "keep", 4, NULL, &len, &cas), FC_EINVAL);
	/* also for a missing key: the arguments are checked first */
	EXPECT(fc_get(c, "none", 4, NULL, &len), FC_EINVAL);
}

static void
bad_reads_count_neither_hit_nor_miss(void **state)
{
	fc_cache *c = *state;
	fc_stats a, b;
	char buf[8], key[FC_KEY_MAX + 1];
	size_t len = 4;

	memset(key, 'x', sizeof key);
	a = fc_test_stats(c);
	assert_int_equal(fc_get(c, "keep", 4, NULL, &len), FC_EINVAL);
	assert_int_equal(fc_get(c, "keep", 0, buf, &len), FC_EINVAL);
	assert_int_equal(fc_get(c, key, sizeof key, buf, &len), FC_E2BIG);
	assert_int_equal(fc_get(c, NULL, 4, buf, &len), FC_EINVAL);
	b = fc_test_stats(c);
	assert_int_equal(b.hits, a.hits);
	assert_int_equal(b.misses, a.misses);
	len = sizeof buf;
	assert_int_equal(fc_get(c, "keep", 4, buf, &len), FC_ETRUNC);
	len = sizeof buf;
	assert_int_equal(fc_get(c, "nope", 4, buf, &len), FC_ENOTFOUND);
	b = fc_test_stats(c);
	assert_int_equal(b.misses, a.misses + 1);
}

static void
class_and_slot_out_of_range_are_einval(void **state)
{
	fc_cache *c = *state;
	fc_stats st = fc_test_stats(c);
	fc_class_stats cs;
	fc_slot_info si;

	assert_int_equal(fc_class_stat(c, st.classes, &cs), FC_EINVAL);
	assert_int_equal(fc_class_stat(c, UINT32_MAX, &cs), FC_EINVAL);
	assert_int_equal(fc_slot_stat(c, (unsigned)st.reader_slots, &si),
			 FC_EINVAL);
	assert_int_equal(fc_slot_stat(c, UINT32_MAX, &si), FC_EINVAL);
	assert_int_equal(fc_class_stat(c, st.classes - 1, &cs), FC_OK);
	assert_int_equal(fc_slot_stat(c, (unsigned)st.reader_slots - 1, &si),
			 FC_OK);
}

static void
incr_of_a_non_number_changes_nothing(void **state)
{
	fc_cache *c = *state;
	struct snap before;
	uint64_t v = 12345;

	take_snap(c, &before);
	EXPECT(fc_incr(c, "keep", 4, 1, &v), FC_ENOTNUM);
	EXPECT(fc_incr(c, "absent", 6, 1, &v), FC_ENOTFOUND);
}

static void
refused_add_replace_cas_change_nothing(void **state)
{
	/* fc_set: "On FC_EINVAL, FC_E2BIG, FC_EEXIST, FC_ENOTFOUND and
	 * FC_ECAS nothing changed." */
	fc_cache *c = *state;
	struct snap before;

	take_snap(c, &before);
	EXPECT(fc_add(c, "keep", 4, "other", 5, 0), FC_EEXIST);
	EXPECT(fc_replace(c, "absent", 6, "other", 5, 0), FC_ENOTFOUND);
	EXPECT(fc_cas(c, "keep", 4, "other", 5, 0, before.cas + 1), FC_ECAS);
	EXPECT(fc_cas(c, "absent", 6, "other", 5, 0, before.cas), FC_ENOTFOUND);
	EXPECT(fc_touch(c, "absent", 6, 5), FC_ENOTFOUND);
	EXPECT(fc_delete(c, "absent", 6), FC_ENOTFOUND);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, fc_test_close)
	const struct CMUnitTest tests[] = {
		T(null_handle_is_einval_everywhere),
		T(null_key_is_einval),
		T(zero_length_key_is_einval),
		T(key_one_byte_too_long_is_e2big),
		T(value_one_byte_too_long_is_e2big),
		T(null_value_with_nonzero_length_is_einval),
		T(get_with_null_length_or_null_buffer_is_einval),
		T(bad_reads_count_neither_hit_nor_miss),
		T(class_and_slot_out_of_range_are_einval),
		T(incr_of_a_non_number_changes_nothing),
		T(refused_add_replace_cas_change_nothing),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
