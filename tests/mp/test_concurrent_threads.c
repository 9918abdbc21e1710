/* tests/mp/test_concurrent_threads.c - the concurrency test of
 * test_concurrent_procs with threads in one process, so that TSan can check
 * the protocol: (a) one shared handle, (b) one handle per thread. */
#include "fc_test.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_THREAD__)
#define ITERS 15000
#elif defined(__SANITIZE_ADDRESS__)
#define ITERS 10000
#else
#define ITERS 40000
#endif
#define NTHREAD 4

static void *
thread_main(void *arg)
{
	fc_mix_run(arg);
	return NULL;
}

static void
run_threads(fc_cache *c, unsigned nkeys, size_t vmax, int own_handle,
	    unsigned flush_every, int allow_set_ebusy)
{
	fc_mix_args args[NTHREAD];
	pthread_t th[NTHREAD];
	uint64_t seed = fc_test_seed();
	unsigned char *buf = malloc(vmax);
	fc_stats st;

	assert_non_null(buf);
	memset(args, 0, sizeof args);
	for (unsigned n = 0; n < NTHREAD; n++) {
		fc_mix_args *a = &args[n];

		a->c = c;
		a->writer = n + 1;
		a->iters = ITERS;
		a->nkeys = nkeys;
		a->vmax = vmax;
		a->seed = seed;
		a->open_own = own_handle;
		a->name = fc_test_cur_name();
		a->flush_every = n == 0 ? flush_every : 0;
		a->allow_set_ebusy = allow_set_ebusy;
		assert_int_equal(pthread_create(&th[n], NULL, thread_main, a),
				 0);
	}
	for (unsigned n = 0; n < NTHREAD; n++)
		assert_int_equal(pthread_join(th[n], NULL), 0);
	for (unsigned n = 0; n < NTHREAD; n++) {
		fc_mix_args *a = &args[n];

		print_message("thread %u: gets %" PRIu64 " hits %" PRIu64
			      " sets %" PRIu64 " deletes %" PRIu64
			      " cas %" PRIu64 " iter %" PRIu64 "\n",
			      n, a->gets, a->hits, a->sets, a->deletes,
			      a->cas_ok, a->iter_items);
		assert_int_equal(a->bad_values, 0);
		assert_int_equal(a->errors, 0);
		assert_true(a->sets > 0);
		assert_true(a->set_busy < a->sets);
		assert_true(a->hits > 0);
	}
	for (unsigned i = 0; i < nkeys; i++) {
		char key[32];
		size_t kl = fc_test_key(key, sizeof key, "mk:", i);
		size_t len = vmax;
		int rc = fc_get(c, key, kl, buf, &len);

		if (rc == FC_OK)
			assert_int_equal(fc_test_value_check(buf, len, key, kl,
							     NULL, NULL),
					 0);
		else
			assert_int_equal(rc, FC_ENOTFOUND);
	}
	fc_test_verify(c);
	st = fc_test_stats(c);
	assert_int_equal(st.readers_dead, 0);
	assert_int_equal(st.readers_active, 0);
	assert_int_equal(st.repairs, 0);
	/* finished threads give their slots back (pthread key destructor);
	 * at most this thread's slot may remain */
	assert_true(st.readers_live <= 1);
	free(buf);
}

static void
threads_sharing_one_handle_see_no_torn_values(void **state)
{
	run_threads(*state, 256, 4096, 0, 0, 0);
}

static void
threads_with_a_handle_each_see_no_torn_values(void **state)
{
	run_threads(*state, 256, 4096, 1, 0, 0);
}

static void
threads_under_eviction_pressure_see_no_torn_values(void **state)
{
	fc_options o;
	fc_cache *c;

	fc_test_default_options(&o);
	o.segment_bytes = 4u << 20;
	c = fc_test_create(&o);
	/* Under eviction pressure fc_set may answer FC_EBUSY (forkcache.h):
	 * a reader thread descheduled on a loaded machine holds the room
	 * past the writer's bounded wait. That is counted, not an error;
	 * most sets must still succeed (run_threads checks). */
	run_threads(c, 4096, 16384, 0, 0, 1);
	assert_true(fc_test_stats(c).evictions > 0);
	fc_test_destroy(c);
}

static void
more_threads_than_reader_slots_get_ebusy_or_succeed(void **state)
{
	/* 2 slots, 4 threads each reading once while holding no slot:
	 * a thread finds a free slot or gets FC_EBUSY, never anything else */
	fc_options o;
	fc_cache *c;
	fc_mix_args args[NTHREAD];
	pthread_t th[NTHREAD];

	fc_test_default_options(&o);
	o.reader_slots = 2;
	c = fc_test_create(&o);
	memset(args, 0, sizeof args);
	for (unsigned n = 0; n < NTHREAD; n++) {
		args[n].c = c;
		args[n].writer = n + 1;
		args[n].iters = 200;
		args[n].nkeys = 16;
		args[n].vmax = 256;
		args[n].seed = fc_test_seed();
		args[n].allow_ebusy = 1;
		assert_int_equal(
			pthread_create(&th[n], NULL, thread_main, &args[n]), 0);
	}
	for (unsigned n = 0; n < NTHREAD; n++)
		assert_int_equal(pthread_join(th[n], NULL), 0);
	for (unsigned n = 0; n < NTHREAD; n++) {
		/* reads may be refused with FC_EBUSY, nothing else fails */
		assert_int_equal(args[n].bad_values, 0);
		assert_int_equal(args[n].errors, 0);
		assert_true(args[n].sets > 0);
	}
	fc_test_verify(c);
	fc_test_destroy(c);
}

static void
threads_with_a_flushing_writer_see_no_torn_values(void **state)
{
	run_threads(*state, 256, 4096, 0, 499, 0);
}

struct count_args {
	fc_cache *c;
	int rc;
};

static void *
count_main(void *arg)
{
	struct count_args *ca = arg;

	ca->rc = fc_mix_count(ca->c, "ctr", ITERS / 20);
	return NULL;
}

static void
counter_updates_from_many_threads_are_not_lost(void **state)
{
	fc_cache *c = *state;
	struct count_args ca[NTHREAD];
	pthread_t th[NTHREAD];
	char buf[32];
	size_t len = sizeof buf;

	assert_int_equal(fc_set(c, "ctr", 3, "0", 1, 0), FC_OK);
	for (unsigned n = 0; n < NTHREAD; n++) {
		ca[n].c = c;
		ca[n].rc = -1;
		assert_int_equal(
			pthread_create(&th[n], NULL, count_main, &ca[n]), 0);
	}
	for (unsigned n = 0; n < NTHREAD; n++) {
		assert_int_equal(pthread_join(th[n], NULL), 0);
		assert_int_equal(ca[n].rc, 0);
	}
	assert_int_equal(fc_get(c, "ctr", 3, buf, &len), FC_OK);
	buf[len] = '\0';
	assert_int_equal(strtoull(buf, NULL, 10), NTHREAD * (ITERS / 20));
	fc_test_verify(c);
}

struct hold {
	fc_cache *c;
	pthread_barrier_t got, release;
	int rc;
};

static void *
hold_slot_main(void *arg)
{
	struct hold *h = arg;
	char buf[8];
	size_t len = sizeof buf;

	h->rc = fc_get(h->c, "k", 1, buf, &len);
	pthread_barrier_wait(&h->got);
	pthread_barrier_wait(&h->release);
	return NULL;
}

static void *
read_once_main(void *arg)
{
	struct hold *h = arg;
	char buf[8];
	size_t len = sizeof buf;

	h->rc = fc_get(h->c, "k", 1, buf, &len);
	return NULL;
}

static void
a_full_slot_table_gives_ebusy_until_a_thread_exits(void **state)
{
	fc_options o;
	fc_cache *c;
	struct hold h, r;
	pthread_t holder, reader;
	char buf[8];
	size_t len = sizeof buf;

	fc_test_default_options(&o);
	o.reader_slots = 2;
	c = fc_test_create(&o);
	assert_int_equal(fc_set(c, "k", 1, "v", 1, 0), FC_OK);
	assert_int_equal(fc_get(c, "k", 1, buf, &len), FC_OK); /* slot 1 */
	memset(&h, 0, sizeof h);
	h.c = c;
	pthread_barrier_init(&h.got, NULL, 2);
	pthread_barrier_init(&h.release, NULL, 2);
	assert_int_equal(pthread_create(&holder, NULL, hold_slot_main, &h), 0);
	pthread_barrier_wait(&h.got); /* slot 2 taken */
	assert_int_equal(h.rc, FC_OK);
	assert_int_equal(fc_test_stats(c).readers_live, 2);
	memset(&r, 0, sizeof r);
	r.c = c;
	assert_int_equal(pthread_create(&reader, NULL, read_once_main, &r), 0);
	assert_int_equal(pthread_join(reader, NULL), 0);
	assert_int_equal(r.rc, FC_EBUSY);
	/* the main thread still reads with its own slot */
	len = sizeof buf;
	assert_int_equal(fc_get(c, "k", 1, buf, &len), FC_OK);
	pthread_barrier_wait(&h.release);
	assert_int_equal(pthread_join(holder, NULL), 0);
	/* the holder's exit gave its slot back */
	assert_int_equal(pthread_create(&reader, NULL, read_once_main, &r), 0);
	assert_int_equal(pthread_join(reader, NULL), 0);
	assert_int_equal(r.rc, FC_OK);
	pthread_barrier_destroy(&h.got);
	pthread_barrier_destroy(&h.release);
	fc_test_verify(c);
	fc_test_destroy(c);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fc_test_open, fc_test_close)
	const struct CMUnitTest tests[] = {
		T(threads_sharing_one_handle_see_no_torn_values),
		T(threads_with_a_handle_each_see_no_torn_values),
		cmocka_unit_test(
			threads_under_eviction_pressure_see_no_torn_values),
		T(threads_with_a_flushing_writer_see_no_torn_values),
		T(counter_updates_from_many_threads_are_not_lost),
		cmocka_unit_test(
			more_threads_than_reader_slots_get_ebusy_or_succeed),
		cmocka_unit_test(
			a_full_slot_table_gives_ebusy_until_a_thread_exits),
	};

	fc_test_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
