/* tests/api/test_open.c - fc_open flags, names, geometry; fc_close;
 * fc_unlink; FC_FILE segments. */
#include "fc_test.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static void
open_with_null_out_or_name_is_einval(void **state)
{
	fc_options o;
	fc_cache *c = (fc_cache *)0x1;
	char name[64];

	fc_test_default_options(&o);
	fc_test_name(name, sizeof name);
	assert_int_equal(fc_open(NULL, &o, &c), FC_EINVAL);
	assert_int_equal(fc_open(name, &o, NULL), FC_EINVAL);
	/* nothing was created under the name */
	assert_int_equal(fc_open(name, NULL, &c), FC_ENOTFOUND);
}

static void
open_missing_without_create_is_enotfound(void **state)
{
	fc_options o;
	fc_cache *c = NULL;
	char name[64];

	fc_test_name(name, sizeof name);
	assert_int_equal(fc_open(name, NULL, &c), FC_ENOTFOUND);
	fc_options_init(&o);
	assert_int_equal(fc_open(name, &o, &c), FC_ENOTFOUND);
	o.flags = FC_EXCL; /* EXCL alone does not create; the header does not
			    * say whether it is refused as meaningless */
	{
		int rc = fc_open(name, &o, &c);

		assert_true(rc == FC_ENOTFOUND || rc == FC_EINVAL);
	}
	assert_int_equal(fc_open(name, NULL, &c), FC_ENOTFOUND);
	assert_int_equal(fc_unlink(name, 0), FC_ENOTFOUND);
}

static void
create_excl_on_existing_is_eexist_and_create_attaches(void **state)
{
	fc_options o;
	fc_cache *a = NULL, *b = NULL;
	char name[64], buf[8];
	size_t len = sizeof buf;

	fc_test_default_options(&o);
	fc_test_name(name, sizeof name);
	assert_int_equal(fc_open(name, &o, &a), FC_OK);
	assert_int_equal(fc_set(a, "k", 1, "v1", 2, 0), FC_OK);
	assert_int_equal(fc_open(name, &o, &b), FC_EEXIST);
	o.flags = FC_CREATE;
	assert_int_equal(fc_open(name, &o, &b), FC_OK);
	assert_int_equal(fc_get(b, "k", 1, buf, &len), FC_OK);
	assert_int_equal(len, 2);
	assert_memory_equal(buf, "v1", 2);
	assert_int_equal(fc_close(b), FC_OK);
	assert_int_equal(fc_close(a), FC_OK);
	assert_int_equal(fc_unlink(name, 0), FC_OK);
}

static void
one_segment_opened_twice_in_one_process_shares_items(void **state)
{
	fc_options o;
	fc_cache *a = NULL, *b = NULL;
	char name[64], buf[64], key[32];
	size_t len;

	fc_test_default_options(&o);
	fc_test_name(name, sizeof name);
	assert_int_equal(fc_open(name, &o, &a), FC_OK);
	assert_int_equal(fc_open(name, NULL, &b), FC_OK);
	assert_ptr_not_equal(a, b);
	for (unsigned i = 0; i < 200; i++) {
		size_t kl = fc_test_key(key, sizeof key, "k", i);

		assert_int_equal(fc_set(i % 2 ? a : b, key, kl, key, kl, 0),
				 FC_OK);
	}
	for (unsigned i = 0; i < 200; i++) {
		size_t kl = fc_test_key(key, sizeof key, "k", i);

		len = sizeof buf;
		assert_int_equal(fc_get(i % 2 ? b : a, key, kl, buf, &len),
				 FC_OK);
		assert_int_equal(len, kl);
		assert_memory_equal(buf, key, kl);
	}
	assert_int_equal(fc_delete(b, "k7", 2), FC_OK);
	len = sizeof buf;
	assert_int_equal(fc_get(a, "k7", 2, buf, &len), FC_ENOTFOUND);
	assert_int_equal(fc_test_stats(a).items, 199);
	assert_int_equal(fc_test_stats(b).items, 199);
	assert_int_equal(fc_close(a), FC_OK);
	/* b keeps working after a is closed */
	len = sizeof buf;
	assert_int_equal(fc_get(b, "k8", 2, buf, &len), FC_OK);
	fc_test_verify(b);
	assert_int_equal(fc_close(b), FC_OK);
	assert_int_equal(fc_unlink(name, 0), FC_OK);
}

static void
bad_names_are_einval(void **state)
{
	fc_options o;
	fc_cache *c = NULL;
	char longname[300];
	const char *bad[] = {"",  "noslash", "/a/b",     "//x",
			     "/", "x/",      "/fct-bad/"};

	fc_test_default_options(&o);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = fc_open(bad[i], &o, &c);

		if (rc != FC_EINVAL)
			fail_msg("fc_open(\"%s\", FC_CREATE) = %s, want "
				 "FC_EINVAL",
				 bad[i], fc_errname(rc));
		assert_int_equal(fc_unlink(bad[i], 0), FC_EINVAL);
	}
	/* 256 bytes: one too long */
	memset(longname, 'a', sizeof longname);
	longname[0] = '/';
	longname[256] = '\0';
	assert_int_equal(fc_open(longname, &o, &c), FC_EINVAL);
	assert_int_equal(fc_unlink(longname, 0), FC_EINVAL);
	assert_int_equal(fc_unlink(NULL, 0), FC_EINVAL);
}

static void
name_of_255_bytes_is_accepted(void **state)
{
	fc_options o;
	fc_cache *c = NULL;
	char name[256];
	int n;

	fc_test_default_options(&o);
	memset(name, 'n', sizeof name);
	n = snprintf(name, sizeof name, "/fct-%d-long-", (int)getpid());
	name[n] = 'n';
	name[255] = '\0';
	assert_int_equal(strlen(name), 255);
	assert_int_equal(fc_open(name, &o, &c), FC_OK);
	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	assert_int_equal(fc_close(c), FC_OK);
	assert_int_equal(fc_unlink(name, 0), FC_OK);
	assert_int_equal(fc_unlink(name, 0), FC_ENOTFOUND);
}

static void
unknown_flag_bits_are_einval(void **state)
{
	fc_options o;
	fc_cache *c = NULL;
	char name[64];
	static const unsigned bad[] = {0x10u, 0x20u, 0x80000000u,
				       FC_CREATE | 0x100u};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fc_test_default_options(&o);
		o.flags = bad[i];
		fc_test_name(name, sizeof name);
		assert_int_equal(fc_open(name, &o, &c), FC_EINVAL);
		assert_int_equal(fc_open(name, NULL, &c), FC_ENOTFOUND);
	}
}

static void
unknown_unlink_flags_and_nonzero_reserved_are_einval(void **state)
{
	fc_options o;
	fc_cache *c = NULL;
	char name[64];

	fc_test_default_options(&o);
	c = fc_test_create(&o);
	assert_int_equal(fc_unlink(fc_test_cur_name(), 0x80u), FC_EINVAL);
	/* still there */
	{
		fc_cache *d = NULL;

		assert_int_equal(fc_open(fc_test_cur_name(), NULL, &d), FC_OK);
		assert_int_equal(fc_close(d), FC_OK);
	}
	fc_test_destroy(c);
	/* reserved fields must be zero: they become options later */
	fc_test_default_options(&o);
	o.reserved[1] = 1;
	fc_test_name(name, sizeof name);
	assert_int_equal(fc_open(name, &o, &c), FC_EINVAL);
	assert_int_equal(fc_open(name, NULL, &c), FC_ENOTFOUND);
}

static void
check_geometry_einval(const fc_options *o, const char *what)
{
	fc_cache *c = NULL;
	char name[64];
	int rc;

	fc_test_name(name, sizeof name);
	rc = fc_open(name, o, &c);
	if (rc != FC_EINVAL) {
		if (rc == FC_OK) {
			fc_close(c);
			fc_unlink(name, 0);
		}
		fail_msg("fc_open with %s = %s, want FC_EINVAL", what,
			 fc_errname(rc));
	}
	assert_int_equal(fc_open(name, NULL, &c), FC_ENOTFOUND);
}

static void
geometry_out_of_range_is_einval(void **state)
{
	fc_options o;

#define BAD(field, val)                                                        \
	do {                                                                   \
		fc_test_default_options(&o);                                   \
		o.field = (val);                                               \
		check_geometry_einval(&o, #field " = " #val);                  \
	} while (0)
	BAD(segment_bytes, 0);
	BAD(segment_bytes, (1u << 20) - 1);
	BAD(segment_bytes, (1ull << 40) + 1);
	BAD(segment_bytes, UINT64_MAX);
	BAD(reader_slots, 0);
	BAD(reader_slots, 65537);
	BAD(page_bytes, 32u << 10);
	BAD(page_bytes, (64u << 10) + 1);
	BAD(page_bytes, 96u << 10);
	BAD(page_bytes, 32u << 20);
	BAD(page_bytes, 128u << 20);
	BAD(page_bytes, 0x80000000u);
	BAD(avg_item_bytes, 0);
	BAD(avg_item_bytes, 31);
	BAD(avg_item_bytes, (1u << 20) + 1);
#undef BAD
}

static void
geometry_at_the_limits_is_accepted(void **state)
{
	fc_options o;
	fc_cache *c;
	fc_stats st;

	fc_test_default_options(&o);
	o.segment_bytes = 1u << 20;
	o.page_bytes = 64u << 10;
	o.reader_slots = 1;
	o.avg_item_bytes = 32;
	c = fc_test_create(&o);
	st = fc_test_stats(c);
	assert_int_equal(st.segment_bytes, 1u << 20);
	assert_int_equal(st.page_bytes, 64u << 10);
	assert_int_equal(st.reader_slots, 1);
	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	fc_test_verify(c);
	fc_test_destroy(c);

	fc_test_default_options(&o);
	o.segment_bytes = 64u << 20;
	o.page_bytes = 16u << 20;
	o.reader_slots = 65536;
	o.avg_item_bytes = 1u << 20;
	c = fc_test_create(&o);
	st = fc_test_stats(c);
	assert_int_equal(st.reader_slots, 65536);
	assert_int_equal(st.page_bytes, 16u << 20);
	assert_int_equal(st.value_max, (16u << 20) - 16 - FC_KEY_MAX);
	fc_test_destroy(c);
}

static void
page_bytes_zero_picks_the_documented_automatic_page(void **state)
{
	/* 2 MiB for segments of 64 MiB and more, else segment_bytes/32
	 * rounded down (to a power of two), at least 64 KiB */
	static const struct {
		uint64_t seg, page;
	} cases[] = {
		{1u << 20, 64u << 10},  {3u << 20, 64u << 10},
		{8u << 20, 256u << 10}, {16u << 20, 512u << 10},
		{63u << 20, 1u << 20},  {64u << 20, 2u << 20},
		{200u << 20, 2u << 20},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fc_options o;
		fc_cache *c;
		fc_stats st;

		fc_test_default_options(&o);
		o.page_bytes = 0;
		o.segment_bytes = cases[i].seg;
		c = fc_test_create(&o);
		st = fc_test_stats(c);
		if (st.page_bytes != cases[i].page)
			fail_msg("segment %llu: page_bytes %llu, want %llu",
				 (unsigned long long)cases[i].seg,
				 (unsigned long long)st.page_bytes,
				 (unsigned long long)cases[i].page);
		assert_int_equal(st.value_max, cases[i].page - 16 - FC_KEY_MAX);
		fc_test_destroy(c);
	}
}

static void
existing_segment_keeps_its_own_geometry(void **state)
{
	fc_options o;
	fc_cache *a, *b = NULL;
	fc_stats sa, sb;

	fc_test_default_options(&o);
	a = fc_test_create(&o);
	o.flags = FC_CREATE;
	o.segment_bytes = 32u << 20;
	o.page_bytes = 1u << 20;
	o.reader_slots = 7;
	assert_int_equal(fc_open(fc_test_cur_name(), &o, &b), FC_OK);
	sa = fc_test_stats(a);
	sb = fc_test_stats(b);
	assert_int_equal(sb.segment_bytes, 8u << 20);
	assert_int_equal(sb.page_bytes, 64u << 10);
	assert_int_equal(sb.reader_slots, 64);
	assert_int_equal(sa.pages, sb.pages);
	assert_int_equal(fc_close(b), FC_OK);
	fc_test_destroy(a);
}

static void
default_options_segment_has_documented_geometry(void **state)
{
	fc_options o;
	fc_cache *c;
	fc_stats st;

	fc_options_init(&o);
	c = fc_test_create(&o);
	st = fc_test_stats(c);
	assert_int_equal(st.segment_bytes, 64u << 20);
	assert_int_equal(st.page_bytes, 2u << 20);
	assert_int_equal(st.reader_slots, 256);
	assert_true(st.value_max >= FC_VALUE_MAX);
	assert_int_equal(st.value_max, (2u << 20) - 16 - FC_KEY_MAX);
	assert_true(st.pages >= 1);
	assert_true(st.pages * st.page_bytes <= st.segment_bytes);
	assert_int_equal(st.data_capacity, st.pages * st.page_bytes);
	assert_true(st.classes >= 1);
	assert_true(st.layout_version >= 1);
	assert_true(st.buckets >= 1);
	assert_int_equal(st.items, 0);
	fc_test_destroy(c);
}

static void
new_shm_segment_has_requested_mode(void **state)
{
	fc_options o;
	fc_cache *c;
	struct stat sb;
	char path[128];
	mode_t old = umask(022);

	fc_test_default_options(&o);
	c = fc_test_create(&o);
	snprintf(path, sizeof path, "/dev/shm%s", fc_test_cur_name());
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal((uint64_t)sb.st_size, 8u << 20);
	fc_test_destroy(c);
	assert_int_equal(stat(path, &sb), -1);

	o.mode = 0640;
	c = fc_test_create(&o);
	snprintf(path, sizeof path, "/dev/shm%s", fc_test_cur_name());
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	fc_test_destroy(c);
	umask(old);
}

static void
file_backed_segment_persists_across_close_and_unlinks(void **state)
{
	char *dir = fc_test_tmpdir();
	char path[512], buf[16];
	fc_options o;
	fc_cache *c = NULL;
	struct stat sb;
	size_t len;

	snprintf(path, sizeof path, "%s/cache.fc", dir);
	fc_test_default_options(&o);
	o.flags |= FC_FILE;
	o.segment_bytes = 2u << 20;
	assert_int_equal(fc_open(path, &o, &c), FC_OK);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal((uint64_t)sb.st_size, 2u << 20);
	assert_int_equal(fc_set(c, "persist", 7, "yes", 3, 0), FC_OK);
	{
		fc_cache *d = NULL;

		assert_int_equal(fc_open(path, &o, &d), FC_EEXIST);
		assert_null(d);
	}
	assert_int_equal(fc_close(c), FC_OK);

	/* without FC_FILE the path is not a valid shm name */
	assert_int_equal(fc_open(path, NULL, &c), FC_EINVAL);
	o.flags = FC_FILE;
	assert_int_equal(fc_open(path, &o, &c), FC_OK);
	len = sizeof buf;
	assert_int_equal(fc_get(c, "persist", 7, buf, &len), FC_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "yes", 3);
	fc_test_verify(c);
	assert_int_equal(fc_close(c), FC_OK);

	assert_int_equal(fc_unlink(path, FC_FILE), FC_OK);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(fc_unlink(path, FC_FILE), FC_ENOTFOUND);
	assert_int_equal(fc_open(path, &o, &c), FC_ENOTFOUND);
	fc_test_rmtree(dir);
}

static void
file_backed_segment_keeps_absolute_expiry_times(void **state)
{
	char *dir = fc_test_tmpdir();
	char path[512], buf[8];
	fc_options o;
	fc_cache *c = NULL;
	fc_iter *it = NULL;
	fc_item item;
	uint64_t before = fc_now_ms();
	size_t len;

	snprintf(path, sizeof path, "%s/ttl.fc", dir);
	fc_test_default_options(&o);
	o.flags |= FC_FILE;
	o.segment_bytes = 2u << 20;
	assert_int_equal(fc_open(path, &o, &c), FC_OK);
	assert_int_equal(fc_set(c, "t", 1, "v", 1, 60000), FC_OK);
	assert_int_equal(fc_close(c), FC_OK);
	o.flags = FC_FILE;
	assert_int_equal(fc_open(path, &o, &c), FC_OK);
	assert_int_equal(fc_iter_open(c, &it), FC_OK);
	assert_int_equal(fc_iter_next(it, &item), FC_OK);
	/* absolute CLOCK_REALTIME ms, stored in the file */
	assert_true(item.expire_ms >= before + 60000);
	assert_true(item.expire_ms <= fc_now_ms() + 60000);
	assert_int_equal(fc_iter_next(it, &item), FC_ENOTFOUND);
	fc_iter_close(it);
	len = sizeof buf;
	assert_int_equal(fc_get(c, "t", 1, buf, &len), FC_OK);
	fc_test_clock_advance_ms(60001);
	len = sizeof buf;
	assert_int_equal(fc_get(c, "t", 1, buf, &len), FC_ENOTFOUND);
	fc_test_clock_reset();
	assert_int_equal(fc_close(c), FC_OK);
	assert_int_equal(fc_unlink(path, FC_FILE), FC_OK);
	fc_test_rmtree(dir);
}

static void
file_in_missing_directory_is_esys(void **state)
{
	fc_options o;
	fc_cache *c = NULL;
	int rc;

	fc_test_default_options(&o);
	o.flags |= FC_FILE;
	rc = fc_open("/nonexistent-dir-fct/x/cache", &o, &c);
	assert_int_equal(rc, FC_ESYS);
	assert_int_equal(errno, ENOENT);
}

static void
unlinked_segment_stays_usable_while_mapped(void **state)
{
	fc_options o;
	fc_cache *c, *d = NULL;
	char buf[8];
	size_t len = sizeof buf;

	fc_test_default_options(&o);
	c = fc_test_create(&o);
	assert_int_equal(fc_unlink(fc_test_cur_name(), 0), FC_OK);
	assert_int_equal(fc_open(fc_test_cur_name(), NULL, &d), FC_ENOTFOUND);
	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	assert_int_equal(fc_get(c, "k", 1, buf, &len), FC_OK);
	fc_test_verify(c);
	/* a new segment may be made under the same name meanwhile */
	assert_int_equal(fc_open(fc_test_cur_name(), &o, &d), FC_OK);
	len = sizeof buf;
	assert_int_equal(fc_get(d, "k", 1, buf, &len), FC_ENOTFOUND);
	assert_int_equal(fc_close(d), FC_OK);
	fc_test_destroy(c);
}

static void
close_null_is_einval(void **state)
{
	assert_int_equal(fc_close(NULL), FC_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(open_with_null_out_or_name_is_einval),
		cmocka_unit_test(open_missing_without_create_is_enotfound),
		cmocka_unit_test(
			create_excl_on_existing_is_eexist_and_create_attaches),
		cmocka_unit_test(
			one_segment_opened_twice_in_one_process_shares_items),
		cmocka_unit_test(bad_names_are_einval),
		cmocka_unit_test(name_of_255_bytes_is_accepted),
		cmocka_unit_test(unknown_flag_bits_are_einval),
		cmocka_unit_test(geometry_out_of_range_is_einval),
		cmocka_unit_test(
			unknown_unlink_flags_and_nonzero_reserved_are_einval),
		cmocka_unit_test(geometry_at_the_limits_is_accepted),
		cmocka_unit_test(
			page_bytes_zero_picks_the_documented_automatic_page),
		cmocka_unit_test(existing_segment_keeps_its_own_geometry),
		cmocka_unit_test(
			default_options_segment_has_documented_geometry),
		cmocka_unit_test(new_shm_segment_has_requested_mode),
		cmocka_unit_test(
			file_backed_segment_persists_across_close_and_unlinks),
		cmocka_unit_test(file_backed_segment_keeps_absolute_expiry_times),
		cmocka_unit_test(file_in_missing_directory_is_esys),
		cmocka_unit_test(unlinked_segment_stays_usable_while_mapped),
		cmocka_unit_test(close_null_is_einval),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
