/*
 * tests/unit/test_fifo.c - white-box tests of the S3-FIFO policy
 * (lib/fifo.c, lib/evict.c): new keys start on probation, unread ones
 * leave before read ones, a key the ghost remembers skips probation, and
 * in the main queue each unit of frequency buys one more pass of the hand.
 */
#include "fc_test.h"
#include "fc_internal.h"

#include <string.h>

enum { VLEN = 1000 };

static fc_cache *
small_cache(void)
{
	fc_options o;

	fc_test_default_options(&o);
	o.segment_bytes = 2u << 20;
	o.page_bytes = 64u << 10;
	o.avg_item_bytes = VLEN + 64; /* the slab, not the index, is the bound */
	return fc_test_create(&o);
}

static void
set_k(fc_cache *c, const char *prefix, unsigned i)
{
	unsigned char val[VLEN];
	char key[32];
	size_t kl = fc_test_key(key, sizeof key, prefix, i);

	fc_test_value_make(val, VLEN, key, kl, 1, i);
	assert_int_equal(fc_set(c, key, kl, val, VLEN, 0), FC_OK);
}

static void
read_k(fc_cache *c, const char *prefix, unsigned i)
{
	unsigned char buf[VLEN];
	char key[32];
	size_t kl = fc_test_key(key, sizeof key, prefix, i), len = sizeof buf;

	assert_int_equal(fc_get(c, key, kl, buf, &len), FC_OK);
}

/* The live item of prefix:i, found under the lock without reading it (a
 * read would bump its frequency), or NULL. */
static struct item_shm *
item_of(fc_cache *c, const char *prefix, unsigned i)
{
	char key[32];
	size_t kl = fc_test_key(key, sizeof key, prefix, i);
	struct fc_probe p;

	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__index_probe_locked(c, fc__hash(c, key, kl), key, kl, 0, &p),
			 FC_OK);
	fc__unlock(c);
	return p.pos == UINT64_MAX ? NULL : p.it;
}

/* Items the cache holds when full of VLEN values (first eviction). */
static unsigned
fill(fc_cache *c, const char *prefix)
{
	unsigned n = 0;

	while (fc_test_stats(c).evictions == 0)
		set_k(c, prefix, n++);
	return (unsigned)fc_test_stats(c).items;
}

static void
new_keys_start_on_probation_and_a_ghost_hit_skips_it(void **state)
{
	(void)state;
	fc_cache *c = small_cache();

	set_k(c, "g:", 0);
	struct item_shm *it = item_of(c, "g:", 0);
	assert_non_null(it);
	assert_true(fc__item_small(it));
	assert_int_equal(fc__item_freq(it), 0);
	/* new keys, never read: g:0 leaves the small queue unread, its key
	 * goes to the ghost */
	unsigned i = 0;
	while (item_of(c, "g:", 0) != NULL)
		set_k(c, "f:", i++);
	assert_true(fc_test_stats(c).evictions > 0);
	/* back within the main queue's length: straight into main */
	set_k(c, "g:", 0);
	it = item_of(c, "g:", 0);
	assert_non_null(it);
	assert_false(fc__item_small(it));
	/* a key never seen is on probation, and the ghost tag was used up:
	 * g:0 evicted and set again without a second eviction from the small
	 * queue would be on probation */
	set_k(c, "never:", 0);
	it = item_of(c, "never:", 0);
	assert_non_null(it);
	assert_true(fc__item_small(it));
	fc_test_verify(c);
	fc_test_destroy(c);
}

static void
unread_items_leave_before_read_ones(void **state)
{
	(void)state;
	fc_cache *c = small_cache();
	unsigned cap = fill(c, "a:"), base = cap + 100, even = 0, odd = 0, n = 0;

	/* cap keys more, every other one read once on probation */
	for (unsigned i = 0; i < cap; i++) {
		set_k(c, "b:", base + i);
		if (i % 2 == 0)
			read_k(c, "b:", base + i);
	}
	/* half a cache of new keys, never read */
	for (unsigned i = 0; i < cap / 2; i++)
		set_k(c, "z:", i);
	for (unsigned i = 0; i < cap; i++) {
		if (item_of(c, "b:", base + i) == NULL)
			continue;
		if (i % 2 == 0)
			even++;
		else
			odd++;
	}
	for (unsigned i = 0; i < cap / 2; i++)
		n += item_of(c, "z:", i) != NULL;
	print_message("capacity %u: read b: %u of %u kept, unread b: %u of %u kept, "
		      "z: %u of %u kept\n", cap, even, (cap + 1) / 2, odd, cap / 2, n, cap / 2);
	assert_true(even >= (cap + 1) / 2 * 9 / 10);
	assert_true(odd <= cap / 2 / 4);
	fc_test_verify(c);
	fc_test_destroy(c);
}

/* In the main queue the hand spends one unit of frequency per visit: an
 * unread item leaves on the first visit, a frequency-1 item on the second,
 * a frequency-3 item on the fourth. */
static void
frequency_buys_passes_of_the_main_queue_hand(void **state)
{
	(void)state;
	fc_cache *c = small_cache();
	unsigned cap = fill(c, "m:");
	static const unsigned freq[3] = {3, 1, 0};
	struct item_shm *it[3];
	unsigned gone[3] = {0, 0, 0};

	/* everything to the main queue, three keys with chosen frequencies */
	assert_int_equal(fc__lock(c), FC_OK);
	fc__fifo_reset_locked(c);
	fc__unlock(c);
	for (unsigned i = 0; i < cap + 100; i++) {
		struct item_shm *x = item_of(c, "m:", i);
		if (!x)
			continue;
		assert_int_equal(fc__lock(c), FC_OK);
		fc__item_set_small_locked(x, 0);
		fc__item_freq_set_locked(x, 0);
		fc__unlock(c);
	}
	for (unsigned k = 0; k < 3; k++) {
		unsigned i = 0;
		while (!(it[k] = item_of(c, "m:", i + 40 * k)))
			i++;
		assert_int_equal(fc__lock(c), FC_OK);
		fc__item_freq_set_locked(it[k], freq[k]);
		fc__unlock(c);
		it[k] = item_of(c, "m:", i + 40 * k);
		gone[k] = i + 40 * k; /* its key, until it goes */
	}
	fc_test_verify(c);
	unsigned keys[3] = {gone[0], gone[1], gone[2]};
	memset(gone, 0, sizeof gone);
	/* new keys, each read once on probation so the small queue stays
	 * within its share and the main queue's hand does the evicting */
	for (unsigned n = 1; n <= 8 * cap && !gone[0]; n++) {
		set_k(c, "n:", n);
		read_k(c, "n:", n);
		for (unsigned k = 0; k < 3; k++)
			if (!gone[k] && item_of(c, "m:", keys[k]) == NULL)
				gone[k] = n;
	}
	print_message("capacity %u: frequency 0 gone after %u sets, 1 after %u, 3 after %u\n",
		      cap, gone[2], gone[1], gone[0]);
	assert_true(gone[2] > 0 && gone[1] > 0 && gone[0] > 0);
	assert_true(gone[2] < gone[1]);
	assert_true(gone[1] < gone[0]);
	fc_test_verify(c);
	fc_test_destroy(c);
}

/* F1/F2: fc_verify sees a wrong small count and bad ring cursors; repair
 * puts them right (empty ring, nothing on probation). */
static void
verify_checks_the_small_count_and_the_ring_cursors(void **state)
{
	(void)state;
	fc_cache *c = small_cache();

	for (unsigned i = 0; i < 50; i++)
		set_k(c, "v:", i);
	fc_test_verify(c);
	assert_int_equal(fc__lock(c), FC_OK);
	assert_true(c->hdr->hd_fifo_small == 50);
	c->hdr->hd_fifo_small = 7;
	c->hdr->hd_fifo_tail = c->hdr->hd_fifo_head + c->g.fifo_cap + 1;
	fc__unlock(c);
	assert_int_equal(fc_test_verify_count(c, FC_VERIFY_LOCK), 2);
	assert_int_equal(fc__lock(c), FC_OK);
	assert_int_equal(fc__repair_locked(c), FC_OK);
	assert_int_equal(c->hdr->hd_fifo_small, 0);
	assert_int_equal(c->hdr->hd_fifo_tail, c->hdr->hd_fifo_head);
	fc__unlock(c);
	assert_false(fc__item_small(item_of(c, "v:", 3)));
	fc_test_verify(c);
	fc_test_destroy(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(new_keys_start_on_probation_and_a_ghost_hit_skips_it),
		cmocka_unit_test(unread_items_leave_before_read_ones),
		cmocka_unit_test(frequency_buys_passes_of_the_main_queue_hand),
		cmocka_unit_test(verify_checks_the_small_count_and_the_ring_cursors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
