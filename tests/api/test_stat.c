/* tests/api/test_stat.c - fc_stat, fc_class_stat, fc_slot_stat, fc_reap,
 * fc_verify. */
#include "fc_test.h"

#include <string.h>
#include <sys/wait.h>

static void
stat_counts_hits_misses_sets_deletes_exactly(void **state)
{
	fc_cache *c = *state;
	fc_stats a, b;
	char buf[16];
	size_t len;

	a = fc_test_stats(c);
	assert_int_equal(a.items, 0);
	assert_int_equal(fc_set(c, "a", 1, "12345", 5, 0), FC_OK);
	assert_int_equal(fc_set(c, "bb", 2, "xy", 2, 0), FC_OK);
	assert_int_equal(fc_set(c, "a", 1, "123", 3, 0), FC_OK);
	assert_int_equal(fc_add(c, "ccc", 3, "", 0, 0), FC_OK);
	assert_int_equal(fc_add(c, "ccc", 3, "", 0, 0), FC_EEXIST);
	for (int i = 0; i < 3; i++) {
		len = sizeof buf;
		assert_int_equal(fc_get(c, "a", 1, buf, &len), FC_OK);
	}
	for (int i = 0; i < 2; i++) {
		len = sizeof buf;
		assert_int_equal(fc_get(c, "zz", 2, buf, &len), FC_ENOTFOUND);
	}
	assert_int_equal(fc_delete(c, "bb", 2), FC_OK);
	assert_int_equal(fc_delete(c, "bb", 2), FC_ENOTFOUND);
	b = fc_test_stats(c);
	assert_int_equal(b.items, 2);
	assert_int_equal(b.hits, a.hits + 3);
	assert_int_equal(b.misses, a.misses + 2);
	assert_int_equal(b.sets, a.sets + 4);
	assert_int_equal(b.deletes, a.deletes + 1);
	assert_int_equal(b.data_bytes, (1 + 3) + (3 + 0));
	assert_true(b.bytes_used >= b.data_bytes);
	assert_true(b.bytes_used <= b.data_capacity);
	assert_int_equal(b.evictions, 0);
	assert_int_equal(b.segment_bytes, 8u << 20);
	assert_int_equal(b.page_bytes, 64u << 10);
	assert_int_equal(b.reader_slots, 64);
	assert_true(b.pages_free <= b.pages);
	assert_true(b.tombstones <= b.buckets);
	assert_true(b.buckets >= b.items);
	assert_int_equal(b.readers_dead, 0);
	assert_int_equal(b.readers_active, 0);
	assert_true(b.readers_live >= 1); /* this thread read */
	assert_int_equal(b.repairs, 0);
	fc_test_verify(c);
}

static void
class_stats_add_up_to_the_totals(void **state)
{
	fc_cache *c = *state;
	fc_stats st;
	fc_class_stats cs, prev;
	uint64_t used = 0, data = 0, pages = 0;
	char key[32], val[20000];

	memset(val, 'q', sizeof val);
	for (unsigned i = 0; i < 600; i++) {
		size_t kl = fc_test_key(key, sizeof key, "cls", i);
		size_t vl = (i * 97u) % 12000u;

		assert_int_equal(fc_set(c, key, kl, val, vl, 0), FC_OK);
	}
	st = fc_test_stats(c);
	assert_int_equal(st.items, 600);
	memset(&prev, 0, sizeof prev);
	for (unsigned k = 0; k < st.classes; k++) {
		assert_int_equal(fc_class_stat(c, k, &cs), FC_OK);
		assert_true(cs.chunk_bytes > prev.chunk_bytes);
		assert_true(cs.chunks_per_page >= 1);
		assert_true((uint64_t)cs.chunk_bytes * cs.chunks_per_page <=
			    st.page_bytes);
		assert_true(cs.chunks_used + cs.chunks_limbo + cs.chunks_free <=
			    cs.pages * cs.chunks_per_page);
		assert_true(cs.data_bytes <= cs.chunks_used * cs.chunk_bytes);
		used += cs.chunks_used;
		data += cs.data_bytes;
		pages += cs.pages;
		prev = cs;
	}
	/* the largest class holds the largest value */
	assert_true(prev.chunk_bytes >= st.value_max);
	assert_true(prev.chunk_bytes <= st.page_bytes);
	assert_int_equal(used, st.items);
	assert_int_equal(data, st.data_bytes);
	assert_int_equal(pages + st.pages_free, st.pages);
	fc_test_verify(c);
}

static void
slot_stat_shows_this_process_reading(void **state)
{
	fc_cache *c = *state;
	fc_stats st;
	fc_slot_info si;
	char buf[8];
	size_t len;
	unsigned mine = 0, live = 0;
	uint64_t hits = 0, misses = 0;

	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	for (int i = 0; i < 5; i++) {
		len = sizeof buf;
		assert_int_equal(fc_get(c, "k", 1, buf, &len), FC_OK);
	}
	len = sizeof buf;
	assert_int_equal(fc_get(c, "no", 2, buf, &len), FC_ENOTFOUND);
	st = fc_test_stats(c);
	for (unsigned s = 0; s < st.reader_slots; s++) {
		assert_int_equal(fc_slot_stat(c, s, &si), FC_OK);
		if (si.state == FC_SLOT_FREE) {
			assert_int_equal(si.pid, 0);
			continue;
		}
		assert_true(si.state == FC_SLOT_LIVE ||
			    si.state == FC_SLOT_DEAD);
		if (si.state == FC_SLOT_LIVE)
			live++;
		if (si.pid == (uint32_t)getpid()) {
			mine++;
			assert_int_equal(si.state, FC_SLOT_LIVE);
			assert_int_equal(si.epoch, 0); /* idle */
			hits += si.hits;
			misses += si.misses;
		}
	}
	assert_int_equal(mine, 1); /* one thread, one slot */
	assert_int_equal(live, st.readers_live);
	assert_true(hits >= 5);
	assert_true(misses >= 1);
}

static void
reap_frees_the_slot_of_a_dead_child(void **state)
{
	fc_cache *c = *state;
	fc_stats st;
	fc_slot_info si;
	pid_t pid;
	int found = 0;

	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	assert_int_equal(fc_reap(c), 0);
	pid = fc_test_fork();
	if (pid == 0) {
		char buf[8];
		size_t len = sizeof buf;

		FC_CHILD_CHECK_RC(fc_get(c, "k", 1, buf, &len), FC_OK);
		_exit(0); /* no fc_close: the slot is left behind */
	}
	fc_test_assert_exit(pid, 0);
	st = fc_test_stats(c);
	assert_int_equal(st.readers_dead, 1);
	assert_int_equal(st.hits, 1); /* the dead slot's counters count */
	for (unsigned s = 0; s < st.reader_slots; s++) {
		assert_int_equal(fc_slot_stat(c, s, &si), FC_OK);
		if (si.pid == (uint32_t)pid) {
			assert_int_equal(si.state, FC_SLOT_DEAD);
			assert_true(si.hits >= 1);
			found++;
		}
	}
	assert_int_equal(found, 1);
	assert_int_equal(fc_reap(c), 1);
	assert_int_equal(fc_reap(c), 0);
	st = fc_test_stats(c);
	assert_int_equal(st.readers_dead, 0);
	/* the dead child's hit was folded into the totals */
	assert_int_equal(st.hits, 1);
	for (unsigned s = 0; s < st.reader_slots; s++) {
		assert_int_equal(fc_slot_stat(c, s, &si), FC_OK);
		assert_true(si.pid != (uint32_t)pid);
	}
	fc_test_verify(c);
}

static void
closed_child_leaves_no_dead_slot(void **state)
{
	fc_cache *c = *state;
	pid_t pid;

	pid = fc_test_fork();
	if (pid == 0) {
		char buf[8];
		size_t len = sizeof buf;

		FC_CHILD_CHECK_RC(fc_get(c, "k", 1, buf, &len), FC_ENOTFOUND);
		FC_CHILD_CHECK_RC(fc_close(c), FC_OK);
		_exit(0);
	}
	fc_test_assert_exit(pid, 0);
	assert_int_equal(fc_test_stats(c).readers_dead, 0);
	assert_int_equal(fc_reap(c), 0);
	assert_int_equal(fc_test_stats(c).misses, 1);
}

static int count_cb_calls;
static void
count_cb(void *arg, const char *region, uint64_t offset, const char *problem)
{
	count_cb_calls++;
}

static void
verify_of_a_busy_cache_is_clean(void **state)
{
	fc_cache *c = *state;
	char key[32], val[5000];

	memset(val, 'v', sizeof val);
	for (unsigned i = 0; i < 3000; i++) {
		size_t kl = fc_test_key(key, sizeof key, "v", i % 700);

		if (i % 5 == 4)
			(void)fc_delete(c, key, kl);
		else
			assert_int_equal(fc_set(c, key, kl, val,
						(i * 131u) % sizeof val,
						i % 3 ? 0 : 100),
					 FC_OK);
	}
	count_cb_calls = 0;
	assert_int_equal(fc_verify(c, FC_VERIFY_LOCK, count_cb, NULL), 0);
	assert_int_equal(fc_verify(c, 0, count_cb, NULL), 0);
	assert_int_equal(fc_verify(c, FC_VERIFY_LOCK, NULL, NULL), 0);
	assert_int_equal(count_cb_calls, 0);
	fc_test_clock_advance_ms(200); /* expired items verify clean too */
	fc_test_verify(c);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
	const struct CMUnitTest tests[] = {
		T(stat_counts_hits_misses_sets_deletes_exactly),
		T(class_stats_add_up_to_the_totals),
		T(slot_stat_shows_this_process_reading),
		T(reap_frees_the_slot_of_a_dead_child),
		T(closed_child_leaves_no_dead_slot),
		T(verify_of_a_busy_cache_is_clean),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
