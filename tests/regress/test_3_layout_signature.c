/*
 * test_3_layout_signature.c - regression: a segment written by a build
 * with another layout (same version number) was attached and read as
 * garbage. The header's layout signature now refuses it.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "fc_test.h"
#include "fc_internal.h"

static void
other_layout_is_incompatible(void **state)
{
	(void)state;
	char dir[] = "/tmp/fct-sig-XXXXXX", path[64];
	fc_options o;
	fc_cache *c;
	struct hdr_shm h;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/seg", dir);
	fc_options_init(&o);
	o.flags = FC_CREATE | FC_EXCL | FC_FILE;
	o.segment_bytes = 2u << 20;
	assert_int_equal(fc_open(path, &o, &c), FC_OK);
	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	fc_close(c);

	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &h, sizeof h, 0), (ssize_t)sizeof h);
	h.hd_layout_sig ^= 1; /* another build's layout */
	h.hd_checksum = fc__header_checksum(&h); /* with a valid checksum */
	assert_int_equal(pwrite(fd, &h, sizeof h, 0), (ssize_t)sizeof h);
	close(fd);

	o.flags = FC_FILE;
	assert_int_equal(fc_open(path, &o, &c), FC_EINCOMPAT);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(other_layout_is_incompatible),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
