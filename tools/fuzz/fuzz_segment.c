/*
 * fuzz_segment.c - libFuzzer target: a mutated segment image goes through
 * attach, fc_verify, fc_stat, fc_class_stat, fc_slot_stat, iteration and
 * lookups, as `forkcache stats`, `keys`, `get` and `verify` would.
 *
 * DESIGN       The input is a whole segment image. It is written to a file
 *              of this process in /dev/shm and attached with FC_FILE, the
 *              way the CLI attaches a file-backed segment. Every read-only
 *              entry point then walks it; the library must answer with an
 *              error code, never crash, hang or read out of bounds.
 *              Most mutations break the header checksum and stop at attach,
 *              so each input whose header checksum does not match is run a
 *              second time with the checksum recomputed
 *              (fc__header_checksum, lib/segment.c): that lets the fuzzer
 *              reach geometry validation and everything behind it.
 *              Seeds: tools/fuzz/make_seeds.c. Runner: tools/fuzz/run-fuzz.sh.
 * LIMITS       Iteration is cut at MAX_ITEMS; an iterator that returns more
 *              items than the index has buckets is reported as a bug
 *              (abort), as is a verify callback with a NULL string.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"
#include "internal.h"
#include "segment.h"

#define MAX_ITEMS 200000u /* iteration bound; seeds hold a few thousand */
#define MAX_CLASSES 4096u
#define MAX_LOOKUPS 64u /* fc_get of keys seen by the iterator */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char path[64];
static uint8_t *copy;
static size_t copy_cap;

static void
remove_file(void)
{
	unlink(path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof path, "/dev/shm/fc-fuzz-%ld.seg", (long)getpid());
	atexit(remove_file);
	return 0;
}

static void
verify_cb(void *arg, const char *region, uint64_t offset, const char *problem)
{
	size_t *n = arg;

	if (region == NULL || problem == NULL)
		abort(); /* the header promises strings */
	*n += strlen(region) + strlen(problem) + (offset & 1);
}

static volatile uint64_t sink; /* keeps the byte reads below */

static void
touch_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t sum = 0;
	size_t k;

	for (k = 0; k < n; k++)
		sum += b[k];
	sink += sum;
}

static void
run_image(const uint8_t *img, size_t size)
{
	fc_options o;
	fc_cache *c;
	fc_stats st;
	fc_iter *it;
	fc_item item;
	size_t problems = 0, n, k, lookups = 0;
	char keys[MAX_LOOKUPS][FC_KEY_MAX];
	size_t klens[MAX_LOOKUPS];
	int fd, rc;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	for (n = 0; n < size;) {
		ssize_t w = write(fd, img + n, size - n);

		if (w <= 0)
			abort();
		n += (size_t)w;
	}
	close(fd);

	fc_options_init(&o);
	o.flags = FC_FILE;
	if (fc_open(path, &o, &c) != FC_OK)
		return;

	(void)fc_verify(c, 0, verify_cb, &problems);

	if (fc_stat(c, &st) == FC_OK) {
		fc_class_stats cs;
		fc_slot_info si;
		uint64_t cls = st.classes < MAX_CLASSES ? st.classes
							: MAX_CLASSES;
		uint64_t slots = st.reader_slots < FC_SLOTS_MAX ? st.reader_slots
								: FC_SLOTS_MAX;

		for (k = 0; k < cls; k++)
			(void)fc_class_stat(c, (unsigned)k, &cs);
		(void)fc_class_stat(c, (unsigned)cls, &cs); /* one past */
		for (k = 0; k < slots; k++)
			(void)fc_slot_stat(c, (unsigned)k, &si);
	}

	if (fc_iter_open(c, &it) == FC_OK) {
		for (n = 0; n < MAX_ITEMS; n++) {
			rc = fc_iter_next(it, &item);
			if (rc != FC_OK)
				break;
			if (item.klen < 1 || item.klen > FC_KEY_MAX)
				abort(); /* iterator gave a bad key */
			touch_bytes(item.key, item.klen);
			touch_bytes(item.value, item.vlen);
			if (lookups < MAX_LOOKUPS) {
				memcpy(keys[lookups], item.key, item.klen);
				klens[lookups++] = item.klen;
			}
		}
		if (n == MAX_ITEMS && fc_stat(c, &st) == FC_OK &&
		    st.buckets < MAX_ITEMS)
			abort(); /* more items than buckets: a loop */
		fc_iter_close(it);
	}

	for (k = 0; k < lookups; k++) {
		char buf[256];
		size_t len = sizeof buf;
		uint64_t cas;

		(void)fc_gets(c, keys[k], klens[k], buf, &len, &cas);
	}
	{
		char buf[16];
		size_t len = sizeof buf;

		(void)fc_get(c, "key:1", 5, buf, &len);
	}
	fc_close(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hdr_shm h;
	uint64_t sum;

	run_image(data, size);
	if (size < sizeof h)
		return 0;
	memcpy(&h, data, sizeof h);
	sum = fc__header_checksum(&h);
	if (sum == h.hd_checksum)
		return 0;
	if (copy_cap < size) {
		free(copy);
		copy = malloc(size);
		if (copy == NULL)
			abort();
		copy_cap = size;
	}
	memcpy(copy, data, size);
	memcpy(copy + offsetof(struct hdr_shm, hd_checksum), &sum, sizeof sum);
	run_image(copy, size);
	return 0;
}
