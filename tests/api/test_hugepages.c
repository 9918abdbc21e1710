/* tests/api/test_hugepages.c - every mapping of a segment is advised
 * MADV_HUGEPAGE (shm name, FC_FILE, created and attached), so a huge=advise
 * tmpfs gives it 2 MiB pages (docs/huge-pages.md). The advice shows as the
 * "hg" flag of the mapping's VmFlags in /proc/self/smaps, whatever the file
 * system; a kernel without transparent huge pages skips the test. */
#include "fc_test.h"

#include <string.h>

/* 1: the mapping of the file named @p suffix has "hg" in its VmFlags; 0:
 * it has not; -1: no mapping of that file. Reads /proc/self/smaps. */
static int
mapping_advised(const char *suffix)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[1024];
	int in = 0, found = -1;
	size_t sl = strlen(suffix);

	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL) {
		size_t n = strcspn(line, "\n");

		line[n] = '\0';
		if (n >= sl && strcmp(line + n - sl, suffix) == 0 &&
		    strchr(line, '-') != NULL && strchr(line, '-') < strchr(line, ' ')) {
			in = 1; /* a VMA header line naming the file */
		} else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			found = strstr(line, " hg") != NULL;
			in = 0;
			if (!found)
				break;
		}
	}
	fclose(f);
	return found;
}

static int
thp_kernel(void)
{
	return access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;
}

static void
shm_segment_is_advised_when_created_and_attached(void **state)
{
	fc_options o;
	fc_cache *c, *again;
	char path[128];

	if (!thp_kernel())
		skip();
	fc_test_default_options(&o);
	c = fc_test_create(&o);
	snprintf(path, sizeof path, "/dev/shm%s", fc_test_cur_name());
	assert_int_equal(mapping_advised(path), 1);
	/* A second handle (attach path) is advised too. */
	assert_int_equal(fc_open(fc_test_cur_name(), NULL, &again), FC_OK);
	assert_int_equal(mapping_advised(path), 1);
	assert_int_equal(fc_close(again), FC_OK);
	fc_test_destroy(c);
}

static void
file_segment_is_advised(void **state)
{
	fc_options o;
	fc_cache *c;
	char *dir = fc_test_tmpdir(), path[512];

	if (!thp_kernel()) {
		fc_test_rmtree(dir);
		skip();
	}
	snprintf(path, sizeof path, "%s/seg", dir);
	fc_test_default_options(&o);
	o.flags = FC_CREATE | FC_EXCL | FC_FILE;
	assert_int_equal(fc_open(path, &o, &c), FC_OK);
	assert_int_equal(mapping_advised(path), 1);
	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	assert_int_equal(fc_close(c), FC_OK);
	assert_int_equal(mapping_advised(path), -1); /* unmapped */
	assert_int_equal(fc_unlink(path, FC_FILE), FC_OK);
	fc_test_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			shm_segment_is_advised_when_created_and_attached),
		cmocka_unit_test(file_segment_is_advised),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
