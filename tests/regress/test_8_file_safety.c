/*
 * test_8_file_safety.c - issue #8, finding 4: FC_CREATE|FC_FILE must never
 * destroy a file that is not a forkcache segment in the making.
 *
 * The victim is a 16 MiB file that starts with zeros (like a sparse disk
 * image) and holds data near its end. Planted at the cache path as a
 * symlink, as a hard link, or sitting there itself, it must come out of
 * fc_open() unchanged (same size, same bytes), and fc_open() must fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fc_test.h"

#define VICTIM_BYTES (16u << 20)
#define DATA_OFF (VICTIM_BYTES - 4096)

static void
make_victim(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, VICTIM_BYTES), 0);
	assert_int_equal(pwrite(fd, "precious data", 13, DATA_OFF), 13);
	close(fd);
}

/* Returns 0 if the victim is intact, else prints why and returns 1. */
static int
victim_damaged(const char *path)
{
	struct stat st;
	char head[8192], data[13];

	if (stat(path, &st) != 0) {
		fprintf(stderr, "victim gone: %s\n", strerror(errno));
		return 1;
	}
	if ((uint64_t)st.st_size != VICTIM_BYTES) {
		fprintf(stderr, "victim resized: %lld bytes, was %u\n", (long long)st.st_size,
			VICTIM_BYTES);
		return 1;
	}
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, head, sizeof head, 0), (ssize_t)sizeof head);
	assert_int_equal(pread(fd, data, sizeof data, DATA_OFF), (ssize_t)sizeof data);
	close(fd);
	for (size_t i = 0; i < sizeof head; i++)
		if (head[i]) {
			fprintf(stderr, "victim overwritten at byte %zu (%.8s...)\n", i, head + i);
			return 1;
		}
	if (memcmp(data, "precious data", 13) != 0) {
		fprintf(stderr, "victim data overwritten\n");
		return 1;
	}
	return 0;
}

static int
try_open(const char *path, unsigned flags)
{
	fc_options o;
	fc_cache *c = NULL;

	fc_options_init(&o);
	o.flags = flags | FC_FILE;
	o.segment_bytes = 8u << 20;
	int rc = fc_open(path, &o, &c);
	fprintf(stderr, "fc_open(%s, %s%s): %s\n", path, flags & FC_CREATE ? "FC_CREATE|" : "",
		"FC_FILE", fc_errname(rc));
	if (c)
		fc_close(c);
	return rc;
}

static void
symlink_is_not_followed(void **state)
{
	(void)state;
	char *dir = fc_test_tmpdir(), victim[256], path[256];

	snprintf(victim, sizeof victim, "%s/disk.img", dir);
	snprintf(path, sizeof path, "%s/cache", dir);
	make_victim(victim);
	assert_int_equal(symlink(victim, path), 0);
	int rc_create = try_open(path, FC_CREATE);
	int damaged = victim_damaged(victim);
	int rc_attach = try_open(path, 0);
	damaged |= victim_damaged(victim);
	fc_test_rmtree(dir);
	assert_int_equal(damaged, 0);
	assert_int_not_equal(rc_create, FC_OK);
	assert_int_not_equal(rc_attach, FC_OK);
}

static void
hard_link_is_not_taken_over(void **state)
{
	(void)state;
	char *dir = fc_test_tmpdir(), victim[256], path[256];

	snprintf(victim, sizeof victim, "%s/disk.img", dir);
	snprintf(path, sizeof path, "%s/cache", dir);
	make_victim(victim);
	assert_int_equal(link(victim, path), 0);
	int rc = try_open(path, FC_CREATE);
	int damaged = victim_damaged(victim);
	fc_test_rmtree(dir);
	assert_int_equal(damaged, 0);
	assert_int_not_equal(rc, FC_OK);
}

static void
zero_filled_file_is_not_taken_over(void **state)
{
	(void)state;
	char *dir = fc_test_tmpdir(), path[256];

	snprintf(path, sizeof path, "%s/cache", dir);
	make_victim(path);
	int rc = try_open(path, FC_CREATE);
	int damaged = victim_damaged(path);
	fc_test_rmtree(dir);
	assert_int_equal(damaged, 0);
	assert_int_equal(rc, FC_EINCOMPAT);
}

static void
fifo_is_refused_without_blocking(void **state)
{
	(void)state;
	char *dir = fc_test_tmpdir(), path[256];

	snprintf(path, sizeof path, "%s/cache", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	pid_t pid = fc_test_fork(); /* the watchdog ends a child blocked in open */
	if (pid == 0) {
		alarm(5);
		int rc = try_open(path, FC_CREATE);
		_exit(rc == FC_OK ? 1 : 0);
	}
	fc_test_assert_exit(pid, 0);
	fc_test_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(symlink_is_not_followed),
		cmocka_unit_test(hard_link_is_not_taken_over),
		cmocka_unit_test(zero_filled_file_is_not_taken_over),
		cmocka_unit_test(fifo_is_refused_without_blocking),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
