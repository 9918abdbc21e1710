/*
 * test_8_hostile_lengths.c - issue #8, finding 5: a process that can write
 * the segment flips an item's length bytes, or the class byte of its page
 * in the page map (where an item's class lives), while readers read.
 * A reader must return the item's real value or an error (FC_ECORRUPT,
 * FC_ENOTFOUND), never bytes from outside the item, never crash.
 *
 * The hostile writer is a thread that writes the item header through a
 * second mapping of the segment (so the library's loads and its stores are
 * to different addresses, as between processes). fc_get, fc_get_item and
 * the iterator are each checked for about a second. Each run is in a child
 * so that a SIGSEGV fails the test with the signal named.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fc_test.h"

#define VLEN 100u
#define HOSTILE_VLEN 60000u
#define KEY "victim"
#define KLEN 6u

/* The layout this test writes as a hostile process would (lib/internal.h):
 * item header = two little-endian words; klen is byte 6 of the first
 * (bits 48-55), vlen bits 40-63 of the second; the segment header holds
 * page_bytes at byte 24, the page map's offset at 88 and the pages' at
 * 104; a page map entry is 8 bytes, its class the u16 at its start. */
struct item_hdr {
	uint8_t w0[8];
	uint64_t w1;
};
#define HDR_PAGE_BYTES 24
#define HDR_PAGEMAP_OFF 88
#define HDR_PAGES_OFF 104

static atomic_int stop;
static volatile struct item_hdr *hostile;
static volatile uint16_t *hostile_cls; /* the item's page's pm_class */
static uint16_t real_cls;
static int mode; /* 0: vlen, 1: klen, 2: class */

/* Busy-wait about @p n loop turns: the hostile value and the real one each
 * stay put for a random while, so a reader's validation and its use of a
 * field can see different ones. */
static void
spin(unsigned n)
{
	for (volatile unsigned i = 0; i < n; i++)
		;
}

static void *
flipper(void *arg)
{
	uint64_t x = 88172645463325252ull;
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		unsigned a = (unsigned)(x & 255), b = (unsigned)((x >> 8) & 255);
		switch (mode) {
		case 0:
			hostile->w1 = (uint64_t)HOSTILE_VLEN << 40;
			spin(a);
			hostile->w1 = (uint64_t)VLEN << 40;
			break;
		case 1:
			hostile->w0[6] = 200;
			spin(a);
			hostile->w0[6] = KLEN;
			break;
		default:
			*hostile_cls = 250;
			spin(a);
			*hostile_cls = real_cls;
			break;
		}
		spin(b);
	}
	return NULL;
}

static int
run(fc_cache *c, const char *name, int which)
{
	char val[VLEN];
	fc_test_value_make(val, VLEN, KEY, KLEN, 1, 1);
	if (fc_set(c, KEY, KLEN, val, VLEN, 0) != FC_OK)
		return 90;
	fc_item meta;
	size_t len = VLEN;
	char tmp[VLEN];
	if (fc_get_item(c, KEY, KLEN, tmp, &len, &meta) != FC_OK)
		return 91;
	real_cls = (uint16_t)meta.size_class;
	fc_stats st;
	fc_stat(c, &st);
	char path[128];
	snprintf(path, sizeof path, "/dev/shm%s", name);
	int fd = open(path, O_RDWR);
	if (fd < 0)
		return 92;
	char *m = mmap(NULL, st.segment_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 93;
	char *hit = memmem(m, st.segment_bytes, val, VLEN);
	if (!hit || memcmp(hit - KLEN, KEY, KLEN) != 0)
		return 94;
	hostile = (volatile struct item_hdr *)(hit - KLEN - sizeof(struct item_hdr));
	if (hostile->w1 != (uint64_t)VLEN << 40 || hostile->w0[6] != KLEN)
		return 95;
	uint64_t pb, pm_off, pages_off;
	memcpy(&pb, m + HDR_PAGE_BYTES, 8);
	memcpy(&pm_off, m + HDR_PAGEMAP_OFF, 8);
	memcpy(&pages_off, m + HDR_PAGES_OFF, 8);
	uint64_t ioff = (uint64_t)((char *)hostile - m);
	if (!pb || ioff < pages_off)
		return 97;
	hostile_cls = (volatile uint16_t *)(m + pm_off + (ioff - pages_off) / pb * 8);
	if (*hostile_cls != real_cls)
		return 98;

	size_t cap = 1u << 20;
	char *buf = malloc(cap);
	uint64_t reads = 0, wrong = 0, corrupt = 0;
	pthread_t th;
	mode = which;
	atomic_store(&stop, 0);
	pthread_create(&th, NULL, flipper, NULL);
	uint64_t t0 = fc_test_mono_ns();
	while (fc_test_mono_ns() - t0 < 1000000000ull) {
		for (int i = 0; i < 100; i++, reads++) {
			size_t l = cap;
			int rc;
			if (which == 2) {
				rc = fc_get_item(c, KEY, KLEN, buf, &l, &meta);
				if (rc == FC_OK && meta.size_class != real_cls) {
					if (wrong++ < 3)
						fprintf(stderr, "fc_get_item: class %u, chunk %u (real class %u)\n",
							meta.size_class, meta.chunk_bytes, real_cls);
					continue;
				}
			} else {
				rc = fc_get(c, KEY, KLEN, buf, &l);
			}
			if (rc == FC_ECORRUPT || rc == FC_ENOTFOUND) {
				corrupt++;
			} else if (rc != FC_OK || l != VLEN || memcmp(buf, val, VLEN) != 0) {
				if (wrong++ < 3)
					fprintf(stderr, "read returned %s with %zu bytes (real: %u)\n",
						fc_errname(rc), l, VLEN);
			}
		}
		/* the iterator */
		fc_iter *it;
		if (fc_iter_open(c, &it) != FC_OK)
			return 96;
		fc_item item;
		int rc;
		while ((rc = fc_iter_next(it, &item)) == FC_OK) {
			reads++;
			if (item.klen != KLEN || item.vlen != VLEN || item.size_class != real_cls) {
				if (wrong++ < 6)
					fprintf(stderr, "iterator returned klen %zu vlen %zu class %u\n",
						item.klen, item.vlen, item.size_class);
			}
		}
		if (rc == FC_ECORRUPT)
			corrupt++;
		fc_iter_close(it);
	}
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	fprintf(stderr, "hostile %s: %llu reads, %llu wrong, %llu refused as corrupt/missing\n",
		which == 0 ? "vlen" : which == 1 ? "klen" : "class", (unsigned long long)reads,
		(unsigned long long)wrong, (unsigned long long)corrupt);
	munmap(m, st.segment_bytes);
	close(fd);
	free(buf);
	return wrong ? 1 : 0;
}

static void
check(void **state, int which)
{
	fc_cache *c = *state;
	const char *name = fc_test_cur_name();
	pid_t pid = fc_test_fork();
	if (pid == 0)
		_exit(run(c, name, which));
	char sb[64];
	int st = fc_test_wait(pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("hostile writer: reader child %s", fc_test_status_str(st, sb, sizeof sb));
}

static void
hostile_vlen(void **state)
{
	check(state, 0);
}
static void
hostile_klen(void **state)
{
	check(state, 1);
}
static void
hostile_class(void **state)
{
	check(state, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(hostile_vlen, fc_test_open, fc_test_close),
		cmocka_unit_test_setup_teardown(hostile_klen, fc_test_open, fc_test_close),
		cmocka_unit_test_setup_teardown(hostile_class, fc_test_open, fc_test_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
