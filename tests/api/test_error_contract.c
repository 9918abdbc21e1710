/*
 * tests/api/test_error_contract.c - every error code each public call
 * documents (include/forkcache.h) is provoked here and checked.
 *
 * DESIGN       One table, CONTRACT below: a row is (call, code, how). PROVOKE
 *              rows run a function on a fresh segment that makes the call
 *              return the code, and assert that it does. ELSEWHERE rows name
 *              the test file that provokes a code this file cannot (a full
 *              file system, a failing system call); that file must mention
 *              the call and the code.
 *              scripts/check-error-docs.sh reads this table and the header
 *              and fails when a call's set of documented codes differs from
 *              its set of rows: the table is the source, the header must say
 *              the same.
 * HOW          Write calls share four provocations that reach them through
 *              the writer section (lib/repair.c fc__lock): a mutex whose
 *              owner died and was never made consistent (FC_ECORRUPT), a
 *              mutex of unknown kind (pthread answers EINVAL: FC_ESYS), and a
 *              pending repair held back by a stuck reader (FC_EBUSY). Reads
 *              get FC_EBUSY from a one-slot segment whose slot this process
 *              holds, asked from a second thread; FC_ECORRUPT from an item
 *              whose size class is out of range.
 */
#include "fc_test.h"
#include "fc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define KEY "contract-key-0123456789abcdef"
#define KLEN (sizeof KEY - 1)
#define COMPUTE_FAILED (-1000) /* a code of the caller's, not an FC_E* */

static fc_lease lease;
static int compute_calls;

/* ---------------------------------------------------- segment damage -- */

/* A robust mutex whose owner died and whose next owner unlocked it without
 * pthread_mutex_consistent: every later lock is ENOTRECOVERABLE. */
static void
poison_mutex(fc_cache *c)
{
	pthread_mutex_t *m = &c->hdr->hd_mutex;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_mutex_lock(m);
		_exit(0);
	}
	assert_int_equal(fc_test_wait(pid), 0);
	assert_int_equal(pthread_mutex_lock(m), EOWNERDEAD);
	pthread_mutex_unlock(m); /* not made consistent */
}

/* A mutex of a kind pthread does not know: lock answers EINVAL. */
static void
bad_kind_mutex(fc_cache *c)
{
	c->hdr->hd_mutex.__data.__kind = 0x7c; /* no such type */
}

/* A repair is pending and a reader of this process sits at the current
 * epoch: the repair's grace wait runs out (FC_GRACE_WAIT_MS). */
static void
stuck_repair(fc_cache *c)
{
	int err = FC_OK, outer;
	struct fc_tls *t = fc__read_enter(c, &err, &outer);

	assert_non_null(t);
	fc__read_exit(t, outer);
	fc__st_rel(&t->slot->rs_epoch, c->hdr->hd_epoch);
	c->hdr->hd_needs_repair = 1;
}

/* Find the item of KEY in the pages and give it a class out of range
 * (the class of its page, in the page map). */
static void
damage_item(fc_cache *c)
{
	char *p = c->base + c->g.pages_off, *end = c->base + c->g.segment_bytes;
	char *k = memmem(p, (size_t)(end - p), KEY, KLEN);

	assert_non_null(k);
	struct item_shm *it = (struct item_shm *)(k - FC_ITEM_HDR);
	assert_int_equal(fc__item_klen(it), KLEN);
	c->pages[fc__page_of(c, fc__off_of(c, it))].pm_class = 250;
}

/* --------------------------------------------------------- the calls -- */

/* Each op makes one well-formed call; the provocation decides the state. */
typedef int64_t (*op_fn)(fc_cache *c);

static int64_t
op_set(fc_cache *c)
{
	return fc_set(c, KEY, KLEN, "v", 1, 0);
}
static int64_t
op_add(fc_cache *c)
{
	return fc_add(c, KEY, KLEN, "v", 1, 0);
}
static int64_t
op_replace(fc_cache *c)
{
	return fc_replace(c, KEY, KLEN, "v", 1, 0);
}
static int64_t
op_cas(fc_cache *c)
{
	return fc_cas(c, KEY, KLEN, "v", 1, 0, 1);
}
static int64_t
op_incr(fc_cache *c)
{
	uint64_t v;
	return fc_incr(c, KEY, KLEN, 1, &v);
}
static int64_t
op_delete(fc_cache *c)
{
	return fc_delete(c, KEY, KLEN);
}
static int64_t
op_touch(fc_cache *c)
{
	return fc_touch(c, KEY, KLEN, 0);
}
static int64_t
op_flush(fc_cache *c)
{
	return fc_flush(c);
}
static int64_t
op_flush_expired(fc_cache *c)
{
	return fc_flush_expired(c);
}
static int64_t
op_reap(fc_cache *c)
{
	return fc_reap(c);
}
static int64_t
op_verify_lock(fc_cache *c)
{
	return fc_verify(c, FC_VERIFY_LOCK, NULL, NULL);
}
static int64_t
op_get(fc_cache *c)
{
	char b[8];
	size_t n = sizeof b;
	return fc_get(c, KEY, KLEN, b, &n);
}
static int64_t
op_gets(fc_cache *c)
{
	char b[8];
	size_t n = sizeof b;
	uint64_t cas;
	return fc_gets(c, KEY, KLEN, b, &n, &cas);
}
static int64_t
op_get_item(fc_cache *c)
{
	char b[8];
	size_t n = sizeof b;
	fc_item m;
	return fc_get_item(c, KEY, KLEN, b, &n, &m);
}
static int64_t
op_lease_get(fc_cache *c)
{
	char b[8];
	size_t n = sizeof b;
	return fc_lease_get(c, KEY, KLEN, b, &n, 0, &lease);
}
static int
compute_ok(void *arg, const void *key, size_t klen, void *buf, size_t *vlen)
{
	(void)arg, (void)key, (void)klen;
	compute_calls++;
	memcpy(buf, "c", 1);
	*vlen = 1;
	return FC_OK;
}
static int64_t
op_get_or_compute(fc_cache *c)
{
	char b[8];
	size_t n = sizeof b;
	return fc_get_or_compute(c, KEY, KLEN, b, &n, 0, 0, compute_ok, NULL);
}
static int64_t
op_lease_fill(fc_cache *c)
{
	return fc_lease_fill(c, &lease, "v", 1, 0);
}
static int64_t
op_lease_abandon(fc_cache *c)
{
	return fc_lease_abandon(c, &lease);
}
static int64_t
op_iter_next(fc_cache *c)
{
	fc_iter *it;
	fc_item m;
	int rc;

	assert_int_equal(fc_iter_open(c, &it), FC_OK);
	rc = fc_iter_next(it, &m);
	fc_iter_close(it);
	return rc;
}

/* Leases must exist before the segment is damaged: take one first. */
static void
take_lease(fc_cache *c)
{
	assert_int_equal(op_lease_get(c), FC_LEADER);
}

/* ------------------------------------------------------ provocations -- */

struct row;
typedef int64_t (*prov_fn)(fc_cache *c, const struct row *r);

struct row {
	const char *call;   /* the public call */
	int code;           /* the code it must return */
	prov_fn prov;       /* NULL: ELSEWHERE */
	op_fn op;           /* the call, for the shared provocations */
	void (*pre)(fc_cache *c); /* before the damage (take a lease) */
	const char *where;  /* ELSEWHERE: the test that provokes it */
};

static int64_t
p_poisoned(fc_cache *c, const struct row *r)
{
	poison_mutex(c);
	return r->op(c);
}
static int64_t
p_bad_mutex(fc_cache *c, const struct row *r)
{
	bad_kind_mutex(c);
	return r->op(c);
}
static int64_t
p_stuck(fc_cache *c, const struct row *r)
{
	stuck_repair(c);
	return r->op(c);
}
static int64_t
p_damaged(fc_cache *c, const struct row *r)
{
	assert_int_equal(fc_set(c, KEY, KLEN, "v", 1, 0), FC_OK);
	damage_item(c);
	return r->op(c);
}
static int64_t
p_missing(fc_cache *c, const struct row *r)
{
	return r->op(c); /* KEY was never set */
}

/* A second thread asks while this thread holds the only reader slot. */
struct other {
	fc_cache *c;
	const struct row *r;
	int64_t rc;
};
static void *
other_thread(void *arg)
{
	struct other *o = arg;
	o->rc = o->r->op(o->c);
	return NULL;
}
static int64_t
p_no_slot(fc_cache *unused, const struct row *r)
{
	fc_options o;
	fc_cache *c;
	char name[64];
	pthread_t th;
	char b[4];
	size_t n = sizeof b;

	(void)unused;
	fc_test_default_options(&o);
	o.reader_slots = 1;
	fc_test_name(name, sizeof name);
	assert_int_equal(fc_open(name, &o, &c), FC_OK);
	assert_int_equal(fc_set(c, KEY, KLEN, "v", 1, 0), FC_OK);
	assert_int_equal(fc_get(c, "x", 1, b, &n), FC_ENOTFOUND); /* our slot */
	struct other ot = {c, r, 0};
	assert_int_equal(pthread_create(&th, NULL, other_thread, &ot), 0);
	pthread_join(th, NULL);
	fc_close(c);
	fc_unlink(name, 0);
	return ot.rc;
}

/* Null handle / bad arguments, one per call. */
static int64_t
p_null_c(fc_cache *c, const struct row *r)
{
	(void)c;
	return r->op(NULL);
}

/* The remaining rows each provoke one code of one call. */
static int64_t
key_too_long(fc_cache *c, const struct row *r)
{
	static char k[FC_KEY_MAX + 1];
	char b[8];
	size_t n = sizeof b;
	uint64_t v;
	fc_item m;

	memset(k, 'k', sizeof k);
	if (!strcmp(r->call, "fc_set"))
		return fc_set(c, k, sizeof k, "v", 1, 0);
	if (!strcmp(r->call, "fc_add"))
		return fc_add(c, k, sizeof k, "v", 1, 0);
	if (!strcmp(r->call, "fc_replace"))
		return fc_replace(c, k, sizeof k, "v", 1, 0);
	if (!strcmp(r->call, "fc_cas"))
		return fc_cas(c, k, sizeof k, "v", 1, 0, 1);
	if (!strcmp(r->call, "fc_incr"))
		return fc_incr(c, k, sizeof k, 1, &v);
	if (!strcmp(r->call, "fc_delete"))
		return fc_delete(c, k, sizeof k);
	if (!strcmp(r->call, "fc_touch"))
		return fc_touch(c, k, sizeof k, 0);
	if (!strcmp(r->call, "fc_get"))
		return fc_get(c, k, sizeof k, b, &n);
	if (!strcmp(r->call, "fc_gets"))
		return fc_gets(c, k, sizeof k, b, &n, &v);
	if (!strcmp(r->call, "fc_get_item"))
		return fc_get_item(c, k, sizeof k, b, &n, &m);
	if (!strcmp(r->call, "fc_lease_get"))
		return fc_lease_get(c, k, sizeof k, b, &n, 0, &lease);
	if (!strcmp(r->call, "fc_get_or_compute"))
		return fc_get_or_compute(c, k, sizeof k, b, &n, 0, 0, compute_ok,
					 NULL);
	fail_msg("key_too_long: no case for %s", r->call);
	return 0;
}
static int64_t
value_too_big(fc_cache *c, const struct row *r)
{
	fc_stats st = fc_test_stats(c);
	size_t n = (size_t)st.value_max + 1;
	char *v = calloc(1, n);
	int64_t rc;

	assert_non_null(v);
	if (!strcmp(r->call, "fc_lease_fill")) {
		take_lease(c);
		rc = fc_lease_fill(c, &lease, v, n, 0);
	} else if (!strcmp(r->call, "fc_add")) {
		rc = fc_add(c, KEY, KLEN, v, n, 0);
	} else if (!strcmp(r->call, "fc_replace")) {
		assert_int_equal(fc_set(c, KEY, KLEN, "v", 1, 0), FC_OK);
		rc = fc_replace(c, KEY, KLEN, v, n, 0);
	} else if (!strcmp(r->call, "fc_cas")) {
		assert_int_equal(fc_set(c, KEY, KLEN, "v", 1, 0), FC_OK);
		rc = fc_cas(c, KEY, KLEN, v, n, 0, 1);
	} else {
		assert_string_equal(r->call, "fc_set");
		rc = fc_set(c, KEY, KLEN, v, n, 0);
	}
	free(v);
	return rc;
}
static int64_t
add_exists(fc_cache *c, const struct row *r)
{
	(void)r;
	assert_int_equal(fc_set(c, KEY, KLEN, "v", 1, 0), FC_OK);
	return fc_add(c, KEY, KLEN, "w", 1, 0);
}
static int64_t
cas_changed(fc_cache *c, const struct row *r)
{
	char b[8];
	size_t n = sizeof b;
	uint64_t cas;

	(void)r;
	assert_int_equal(fc_set(c, KEY, KLEN, "v", 1, 0), FC_OK);
	assert_int_equal(fc_gets(c, KEY, KLEN, b, &n, &cas), FC_OK);
	assert_int_equal(fc_set(c, KEY, KLEN, "w", 1, 0), FC_OK);
	return fc_cas(c, KEY, KLEN, "x", 1, 0, cas);
}
static int64_t
incr_not_number(fc_cache *c, const struct row *r)
{
	uint64_t v;

	(void)r;
	assert_int_equal(fc_set(c, KEY, KLEN, "12a", 3, 0), FC_OK);
	return fc_incr(c, KEY, KLEN, 1, &v);
}
static int64_t
get_truncated(fc_cache *c, const struct row *r)
{
	char b[2];
	size_t n = sizeof b;
	uint64_t cas;
	fc_item m;

	assert_int_equal(fc_set(c, KEY, KLEN, "long value", 10, 0), FC_OK);
	if (!strcmp(r->call, "fc_gets"))
		return fc_gets(c, KEY, KLEN, b, &n, &cas);
	if (!strcmp(r->call, "fc_get_item"))
		return fc_get_item(c, KEY, KLEN, b, &n, &m);
	if (!strcmp(r->call, "fc_lease_get"))
		return fc_lease_get(c, KEY, KLEN, b, &n, 0, &lease);
	if (!strcmp(r->call, "fc_get_or_compute"))
		return fc_get_or_compute(c, KEY, KLEN, b, &n, 0, 0, compute_ok,
					 NULL);
	return fc_get(c, KEY, KLEN, b, &n);
}
static int64_t
get_null_vlen(fc_cache *c, const struct row *r)
{
	char b[8];
	uint64_t cas;

	if (!strcmp(r->call, "fc_gets"))
		return fc_gets(c, KEY, KLEN, b, NULL, &cas);
	if (!strcmp(r->call, "fc_get_item"))
		return fc_get_item(c, KEY, KLEN, b, NULL, NULL);
	if (!strcmp(r->call, "fc_lease_get"))
		return fc_lease_get(c, KEY, KLEN, b, NULL, 0, NULL);
	if (!strcmp(r->call, "fc_get_or_compute"))
		return fc_get_or_compute(c, KEY, KLEN, b, NULL, 0, 0, NULL, NULL);
	return fc_get(c, KEY, KLEN, b, NULL);
}
static int64_t
lease_leader(fc_cache *c, const struct row *r)
{
	(void)r;
	return op_lease_get(c);
}
static int64_t
lease_stale(fc_cache *unused, const struct row *r)
{
	fc_options o;
	fc_cache *c;
	char name[64];
	int64_t rc;

	(void)unused, (void)r;
	fc_test_default_options(&o);
	o.stale_ms = 60000;
	fc_test_name(name, sizeof name);
	assert_int_equal(fc_open(name, &o, &c), FC_OK);
	assert_int_equal(fc_set(c, KEY, KLEN, "v", 1, 1000), FC_OK);
	fc_test_clock_advance_ms(2000);
	rc = op_lease_get(c);
	fc_test_clock_reset();
	fc_close(c);
	fc_unlink(name, 0);
	return rc;
}
static int64_t
lease_timeout(fc_cache *c, const struct row *r)
{
	take_lease(c); /* we lead; asking again waits for ourselves */
	return r->op(c);
}
static int64_t
lease_spent(fc_cache *c, const struct row *r)
{
	take_lease(c);
	assert_int_equal(fc_lease_abandon(c, &lease), FC_OK);
	return r->op(c);
}
static int64_t
lease_null(fc_cache *c, const struct row *r)
{
	if (!strcmp(r->call, "fc_lease_fill"))
		return fc_lease_fill(c, NULL, "v", 1, 0);
	return fc_lease_abandon(c, NULL);
}
static int
compute_fails(void *arg, const void *key, size_t klen, void *buf,
	      size_t *vlen)
{
	(void)arg, (void)key, (void)klen, (void)buf, (void)vlen;
	return COMPUTE_FAILED; /* the caller's own code comes back */
}
static int64_t
compute_failure(fc_cache *c, const struct row *r)
{
	char b[8];
	size_t n = sizeof b;

	(void)r;
	return fc_get_or_compute(c, KEY, KLEN, b, &n, 0, 0, compute_fails,
				 NULL);
}
static int64_t
open_null_out(fc_cache *c, const struct row *r)
{
	(void)c, (void)r;
	return fc_open("/fc-contract", NULL, NULL);
}
static int64_t
open_missing(fc_cache *c, const struct row *r)
{
	fc_cache *d;
	char name[64];

	(void)c, (void)r;
	fc_test_name(name, sizeof name);
	return fc_open(name, NULL, &d);
}
static int64_t
open_exists(fc_cache *c, const struct row *r)
{
	fc_options o;
	fc_cache *d;

	(void)c, (void)r;
	fc_test_default_options(&o);
	return fc_open(fc_test_cur_name(), &o, &d);
}
/* A file at @p path of @p bytes: a segment truncated (ECORRUPT), zeros
 * (EINCOMPAT) or a symlink to one (EPERM). */
static int64_t
open_file(const char *what)
{
	char *dir = fc_test_tmpdir(), path[512], link[512];
	fc_options o;
	fc_cache *d;
	int64_t rc;

	snprintf(path, sizeof path, "%s/seg", dir);
	snprintf(link, sizeof link, "%s/link", dir);
	fc_test_default_options(&o);
	o.flags |= FC_FILE;
	assert_int_equal(fc_open(path, &o, &d), FC_OK);
	assert_int_equal(fc_close(d), FC_OK);
	if (!strcmp(what, "truncated")) {
		assert_int_equal(truncate(path, 4u << 20), 0);
	} else if (!strcmp(what, "zeros")) {
		assert_int_equal(truncate(path, 0), 0);
		assert_int_equal(truncate(path, 8u << 20), 0);
	} else {
		assert_int_equal(symlink(path, link), 0);
		snprintf(path, sizeof path, "%s", link);
	}
	fc_options_init(&o);
	o.flags = FC_FILE;
	rc = fc_open(path, &o, &d);
	if (rc == FC_OK)
		fc_close(d);
	fc_test_rmtree(dir);
	return rc;
}
static int64_t
open_truncated(fc_cache *c, const struct row *r)
{
	(void)c, (void)r;
	return open_file("truncated");
}
static int64_t
open_zeros(fc_cache *c, const struct row *r)
{
	(void)c, (void)r;
	return open_file("zeros");
}
static int64_t
open_symlink(fc_cache *c, const struct row *r)
{
	(void)c, (void)r;
	return open_file("symlink");
}
static int64_t
close_null(fc_cache *c, const struct row *r)
{
	(void)c, (void)r;
	return fc_close(NULL);
}
static int64_t
unlink_bad_name(fc_cache *c, const struct row *r)
{
	(void)c, (void)r;
	return fc_unlink("no-slash", 0);
}
static int64_t
unlink_missing(fc_cache *c, const struct row *r)
{
	char name[64];

	(void)c, (void)r;
	fc_test_name(name, sizeof name);
	return fc_unlink(name, 0);
}
static int64_t
unlink_not_a_dir(fc_cache *c, const struct row *r)
{
	(void)c, (void)r;
	return fc_unlink("/dev/null/segment", FC_FILE); /* ENOTDIR */
}
static int64_t
stat_null(fc_cache *c, const struct row *r)
{
	fc_class_stats cs;
	fc_slot_info si;

	if (!strcmp(r->call, "fc_class_stat"))
		return fc_class_stat(c, 9999, &cs);
	if (!strcmp(r->call, "fc_slot_stat"))
		return fc_slot_stat(c, 1u << 30, &si);
	return fc_stat(c, NULL);
}
static int64_t
verify_null(fc_cache *c, const struct row *r)
{
	(void)c, (void)r;
	return fc_verify(NULL, 0, NULL, NULL);
}
static int64_t
iter_open_null(fc_cache *c, const struct row *r)
{
	(void)r;
	return fc_iter_open(c, NULL);
}
static int64_t
iter_next_null(fc_cache *c, const struct row *r)
{
	(void)c, (void)r;
	return fc_iter_next(NULL, NULL);
}
static int64_t
iter_end(fc_cache *c, const struct row *r)
{
	(void)r;
	return op_iter_next(c); /* empty segment */
}

/* -------------------------------------------------------- the table -- */

#define PROVOKE(call, code, prov, op) {#call, code, prov, op, NULL, NULL},
#define PROVOKE_PRE(call, code, prov, op, pre) {#call, code, prov, op, pre, NULL},
#define ELSEWHERE(call, code, file) {#call, code, NULL, NULL, NULL, file},
/* Documented, reachable in the code, not provoked by any test: the reason
 * is the last field (printed by the test; a row to turn into PROVOKE). */
#define UNPROVOKED(call, code, why) {#call, code, NULL, NULL, NULL, "-" why},
/* The codes every write that takes the writer section can return. */
#define WRITER(call, op)                                                     \
	PROVOKE(call, FC_EINVAL, p_null_c, op)                               \
	PROVOKE(call, FC_EBUSY, p_stuck, op)                                 \
	PROVOKE(call, FC_ECORRUPT, p_poisoned, op)                           \
	PROVOKE(call, FC_ESYS, p_bad_mutex, op)
#define READER(call, op)                                                     \
	PROVOKE(call, FC_ENOTFOUND, p_missing, op)                           \
	PROVOKE(call, FC_ETRUNC, get_truncated, op)                          \
	PROVOKE(call, FC_EINVAL, get_null_vlen, op)                          \
	PROVOKE(call, FC_E2BIG, key_too_long, op)                            \
	PROVOKE(call, FC_EBUSY, p_no_slot, op)                               \
	PROVOKE(call, FC_ECORRUPT, p_damaged, op)                            \
	UNPROVOKED(call, FC_ESYS, "a thread's first read cannot allocate its " \
		   "record or reopen the segment for its slot locks")
#define SETTER(call, op)                                                     \
	WRITER(call, op)                                                     \
	PROVOKE(call, FC_E2BIG, key_too_long, op)                            \
	PROVOKE(call, FC_E2BIG, value_too_big, op)                           \
	NOMEM(call)
/* fc_incr's value is at most 20 digits: E2BIG comes from the key only */
#define COUNTER(call, op)                                                    \
	WRITER(call, op)                                                     \
	PROVOKE(call, FC_E2BIG, key_too_long, op)                            \
	NOMEM(call)
#define NOMEM(call)                                                          \
	UNPROVOKED(call, FC_ENOMEM, "no live item in the class, no free " \
		   "page and no page to steal (tests/api/test_limits.c " \
		   "accepts it from a 1 MiB segment but does not force it)")

static const struct row CONTRACT[] = {
	PROVOKE(fc_open, FC_EINVAL, open_null_out, NULL)
	PROVOKE(fc_open, FC_ENOTFOUND, open_missing, NULL)
	PROVOKE(fc_open, FC_EEXIST, open_exists, NULL)
	PROVOKE(fc_open, FC_EPERM, open_symlink, NULL)
	PROVOKE(fc_open, FC_ECORRUPT, open_truncated, NULL)
	PROVOKE(fc_open, FC_EINCOMPAT, open_zeros, NULL)
	ELSEWHERE(fc_open, FC_ENOMEM, "tests/regress/test_8_small_tmpfs.c")
	ELSEWHERE(fc_open, FC_ESYS, "tests/fault/test_syscall_fail.c")
	PROVOKE(fc_close, FC_EINVAL, close_null, NULL)
	PROVOKE(fc_unlink, FC_EINVAL, unlink_bad_name, NULL)
	PROVOKE(fc_unlink, FC_ENOTFOUND, unlink_missing, NULL)
	PROVOKE(fc_unlink, FC_ESYS, unlink_not_a_dir, NULL)

	SETTER(fc_set, op_set)
	SETTER(fc_add, op_add)
	PROVOKE(fc_add, FC_EEXIST, add_exists, NULL)
	SETTER(fc_replace, op_replace)
	PROVOKE(fc_replace, FC_ENOTFOUND, p_missing, op_replace)
	SETTER(fc_cas, op_cas)
	PROVOKE(fc_cas, FC_ENOTFOUND, p_missing, op_cas)
	PROVOKE(fc_cas, FC_ECAS, cas_changed, NULL)
	COUNTER(fc_incr, op_incr)
	PROVOKE(fc_incr, FC_ENOTFOUND, p_missing, op_incr)
	PROVOKE(fc_incr, FC_ENOTNUM, incr_not_number, NULL)

	WRITER(fc_delete, op_delete)
	PROVOKE(fc_delete, FC_ENOTFOUND, p_missing, op_delete)
	PROVOKE(fc_delete, FC_E2BIG, key_too_long, op_delete)
	WRITER(fc_touch, op_touch)
	PROVOKE(fc_touch, FC_ENOTFOUND, p_missing, op_touch)
	PROVOKE(fc_touch, FC_E2BIG, key_too_long, op_touch)
	WRITER(fc_flush, op_flush)
	WRITER(fc_flush_expired, op_flush_expired)
	WRITER(fc_reap, op_reap)

	READER(fc_get, op_get)
	READER(fc_gets, op_gets)
	READER(fc_get_item, op_get_item)

	PROVOKE(fc_lease_get, FC_LEADER, lease_leader, NULL)
	PROVOKE(fc_lease_get, FC_STALE, lease_stale, NULL)
	PROVOKE(fc_lease_get, FC_ETIMEDOUT, lease_timeout, op_lease_get)
	PROVOKE(fc_lease_get, FC_ETRUNC, get_truncated, op_lease_get)
	PROVOKE(fc_lease_get, FC_EBUSY, p_no_slot, op_lease_get)
	PROVOKE(fc_lease_get, FC_EINVAL, get_null_vlen, op_lease_get)
	PROVOKE(fc_lease_get, FC_E2BIG, key_too_long, op_lease_get)
	PROVOKE(fc_lease_get, FC_ECORRUPT, p_poisoned, op_lease_get)
	PROVOKE(fc_lease_get, FC_ESYS, p_bad_mutex, op_lease_get)

	PROVOKE_PRE(fc_lease_fill, FC_EBUSY, p_stuck, op_lease_fill, take_lease)
	PROVOKE_PRE(fc_lease_fill, FC_ECORRUPT, p_poisoned, op_lease_fill, take_lease)
	PROVOKE_PRE(fc_lease_fill, FC_ESYS, p_bad_mutex, op_lease_fill, take_lease)
	PROVOKE(fc_lease_fill, FC_ELEASE, lease_spent, op_lease_fill)
	PROVOKE(fc_lease_fill, FC_EINVAL, lease_null, NULL)
	PROVOKE(fc_lease_fill, FC_E2BIG, value_too_big, NULL)
	UNPROVOKED(fc_lease_fill, FC_ENOMEM, "as fc_set")

	PROVOKE_PRE(fc_lease_abandon, FC_EBUSY, p_stuck, op_lease_abandon, take_lease)
	PROVOKE_PRE(fc_lease_abandon, FC_ECORRUPT, p_poisoned, op_lease_abandon, take_lease)
	PROVOKE_PRE(fc_lease_abandon, FC_ESYS, p_bad_mutex, op_lease_abandon, take_lease)
	PROVOKE(fc_lease_abandon, FC_ELEASE, lease_spent, op_lease_abandon)
	PROVOKE(fc_lease_abandon, FC_EINVAL, lease_null, NULL)

	PROVOKE(fc_get_or_compute, COMPUTE_FAILED, compute_failure, NULL)
	PROVOKE(fc_get_or_compute, FC_EINVAL, get_null_vlen, op_get_or_compute)
	PROVOKE(fc_get_or_compute, FC_ETIMEDOUT, lease_timeout, op_get_or_compute)
	PROVOKE(fc_get_or_compute, FC_ETRUNC, get_truncated, op_get_or_compute)
	PROVOKE(fc_get_or_compute, FC_E2BIG, key_too_long, op_get_or_compute)
	PROVOKE(fc_get_or_compute, FC_ECORRUPT, p_poisoned, op_get_or_compute)
	PROVOKE(fc_get_or_compute, FC_ESYS, p_bad_mutex, op_get_or_compute)

	PROVOKE(fc_stat, FC_EINVAL, stat_null, NULL)
	PROVOKE(fc_class_stat, FC_EINVAL, stat_null, NULL)
	PROVOKE(fc_slot_stat, FC_EINVAL, stat_null, NULL)

	PROVOKE(fc_verify, FC_EINVAL, verify_null, NULL)
	PROVOKE(fc_verify, FC_EBUSY, p_stuck, op_verify_lock)
	PROVOKE(fc_verify, FC_ECORRUPT, p_poisoned, op_verify_lock)
	PROVOKE(fc_verify, FC_ESYS, p_bad_mutex, op_verify_lock)

	PROVOKE(fc_iter_open, FC_EINVAL, iter_open_null, NULL)
	UNPROVOKED(fc_iter_open, FC_ESYS, "malloc of the iterator fails")
	PROVOKE(fc_iter_next, FC_ENOTFOUND, iter_end, NULL)
	PROVOKE(fc_iter_next, FC_EINVAL, iter_next_null, NULL)
	PROVOKE(fc_iter_next, FC_ECORRUPT, p_damaged, op_iter_next)
	PROVOKE(fc_iter_next, FC_EBUSY, p_no_slot, op_iter_next)
	UNPROVOKED(fc_iter_next, FC_ESYS, "as fc_get's first read")
};
#define NROWS (sizeof CONTRACT / sizeof CONTRACT[0])

static const char *
code_name(int code)
{
	return code == FC_LEADER ? "FC_LEADER"
	       : code == FC_STALE ? "FC_STALE"
	       : code == COMPUTE_FAILED ? "compute's own code"
				  : fc_errname(code);
}

static void
every_documented_code_is_returned_where_documented(void **state)
{
	unsigned provoked = 0, elsewhere = 0, unprovoked = 0, failed = 0;

	(void)state;
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *r = &CONTRACT[i];
		if (!r->prov) {
			if (r->where[0] == '-') {
				fprintf(stderr, "contract: %s %s not provoked: %s\n",
					r->call, code_name(r->code), r->where + 1);
				unprovoked++;
			} else {
				elsewhere++;
			}
			continue;
		}
		fc_options o;
		fc_test_default_options(&o);
		fc_cache *c = fc_test_create(&o);
		memset(&lease, 0, sizeof lease);
		if (r->pre)
			r->pre(c);
		if (getenv("FC_CONTRACT_TRACE"))
			fprintf(stderr, "contract: row %zu: %s %s\n", i, r->call,
				code_name(r->code));
		int64_t rc = r->prov(c, r);
		if (rc != r->code) {
			fprintf(stderr, "contract: %s: want %s, got %s (%lld)\n",
				r->call, code_name(r->code),
				rc > 0 ? "a count" : code_name((int)rc),
				(long long)rc);
			failed++;
		}
		provoked++;
		/* a damaged mutex or a pending repair: start the next row on
		 * a fresh segment (unlinked by name, never locked again) */
		fc_test_destroy(c);
	}
	fprintf(stderr, "contract: %u rows provoked, %u provoked elsewhere, "
		"%u not provoked, %u failed\n", provoked, elsewhere, unprovoked,
		failed);
	assert_int_equal(failed, 0);
}

/* An ELSEWHERE row's test file names the call and the code. */
static void
elsewhere_rows_name_a_test_that_provokes_them(void **state)
{
	(void)state;
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *r = &CONTRACT[i];
		if (r->prov || r->where[0] == '-')
			continue;
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", FC_SOURCE_DIR, r->where);
		FILE *f = fopen(path, "r");
		if (!f)
			fail_msg("%s %s: no file %s", r->call,
				 code_name(r->code), path);
		static char text[1 << 20];
		size_t n = fread(text, 1, sizeof text - 1, f);
		text[n] = '\0';
		fclose(f);
		if (!strstr(text, code_name(r->code)) || !strstr(text, r->call))
			fail_msg("%s: does not mention %s and %s", r->where,
				 r->call, code_name(r->code));
	}
}

/* The public limits are the ones fc_open enforces, and fc_page_bytes_auto
 * is the page it picks. */
static void
geometry_limits_are_the_ones_fc_open_enforces(void **state)
{
	static const struct {
		uint64_t seg;
		uint32_t page, slots, avg;
		int rc;
	} cases[] = {
		{FC_SEGMENT_MIN, 0, 1, 256, FC_OK},
		{FC_SEGMENT_MIN - 1, 0, 1, 256, FC_EINVAL},
		{FC_SEGMENT_MAX + 1, 0, 1, 256, FC_EINVAL},
		{8u << 20, FC_PAGE_MIN, 1, 256, FC_OK},
		{8u << 20, FC_PAGE_MIN / 2, 1, 256, FC_EINVAL},
		{64u << 20, FC_PAGE_MAX, 1, 256, FC_OK},
		{64u << 20, FC_PAGE_MAX * 2u, 1, 256, FC_EINVAL},
		{16u << 20, FC_PAGE_MIN, FC_SLOTS_MAX, 256, FC_OK},
		{16u << 20, FC_PAGE_MIN, FC_SLOTS_MAX + 1, 256, FC_EINVAL},
		{8u << 20, 0, 1, FC_AVG_ITEM_MIN, FC_OK},
		{8u << 20, 0, 1, FC_AVG_ITEM_MIN - 1, FC_EINVAL},
		{8u << 20, 0, 1, FC_AVG_ITEM_MAX, FC_OK},
		{8u << 20, 0, 1, FC_AVG_ITEM_MAX + 1, FC_EINVAL},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fc_options o;
		fc_cache *c;
		char name[64];

		fc_options_init(&o);
		o.flags = FC_CREATE | FC_EXCL;
		o.segment_bytes = cases[i].seg;
		o.page_bytes = cases[i].page;
		o.reader_slots = cases[i].slots;
		o.avg_item_bytes = cases[i].avg;
		fc_test_name(name, sizeof name);
		assert_int_equal(fc_open(name, &o, &c), cases[i].rc);
		if (cases[i].rc == FC_OK) {
			fc_close(c);
			fc_unlink(name, 0);
		}
	}
	for (uint64_t seg = FC_SEGMENT_MIN; seg <= (256ull << 20); seg *= 2) {
		fc_options o;
		fc_cache *c;
		char name[64];

		fc_options_init(&o);
		o.flags = FC_CREATE | FC_EXCL;
		o.segment_bytes = seg;
		fc_test_name(name, sizeof name);
		assert_int_equal(fc_open(name, &o, &c), FC_OK);
		assert_int_equal(fc_test_stats(c).page_bytes,
				 fc_page_bytes_auto(seg));
		fc_close(c);
		fc_unlink(name, 0);
	}
	assert_int_equal(fc_page_bytes_auto(64u << 20), FC_PAGE_AUTO_MAX);
	assert_int_equal(fc_page_bytes_auto(FC_SEGMENT_MIN), FC_PAGE_MIN);
	assert_int_equal(fc_page_bytes_auto(FC_SEGMENT_MAX), FC_PAGE_AUTO_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_documented_code_is_returned_where_documented),
		cmocka_unit_test(elsewhere_rows_name_a_test_that_provokes_them),
		cmocka_unit_test(geometry_limits_are_the_ones_fc_open_enforces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
