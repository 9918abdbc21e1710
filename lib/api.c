/*
 * api.c - the public reads, writes and iteration: argument checks and the
 *         order of the steps; each step is another module's.
 *
 * DESIGN       A read hashes the key (XXH3, per-segment seed: segment.c),
 *              enters a read section on its thread's reader slot
 *              (readers.c; inline from a one-word thread-local cache,
 *              readers.h), finds the item in the live index (index.c),
 *              checks the TTL against the coarse clock and copies the value
 *              out (item.c), and leaves. It writes only its slot (epoch,
 *              counters) and the item's frequency bits (item.h,
 *              fc__item_hit: one CAS, none once they saturate).
 *              A write takes the writer mutex (repair.c), does a bounded
 *              amount of housekeeping (reclaim limbo, the time-driven
 *              expiry sweep over index lines: evict.c), allocates and
 *              fills a new chunk (item.c), and publishes it with one release
 *              store of a bucket word (index.c); the replaced item goes to
 *              limbo (slab.c).
 * INVARIANTS   P2 Bad arguments are rejected before anything is touched.
 *              (P1, an item's immutability once published: item.c.)
 * CONCURRENCY  Reads: any thread, no lock. Writes: under hd_mutex.
 * CRASHES      A write killed before its publishing store loses that
 *              write only (the chunk leaks until the next writer's repair);
 *              after it, the write is done and the old item leaks until
 *              repair. Fault points set.* mark each step.
 * LIMITS       Keys <= FC_KEY_MAX; items <= one page.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "evict.h"
#include "fault.h"
#include "index.h"
#include "item.h"
#include "lease.h"
#include "readers.h"
#include "repair.h"
#include "segment.h"
#include "slab.h"

enum { MODE_SET, MODE_ADD, MODE_REPLACE, MODE_CAS };

static int
check_key(const fc_cache *c, const void *key, size_t klen)
{
	if (!c || !key || klen == 0)
		return FC_EINVAL;
	if (klen > FC_KEY_MAX)
		return FC_E2BIG;
	return FC_OK;
}

static uint64_t
expire_for(uint64_t ttl_ms, uint64_t now)
{
	if (ttl_ms == 0)
		return 0;
	return ttl_ms > UINT64_MAX - now ? UINT64_MAX : now + ttl_ms;
}

/* ------------------------------------------------------------- reads -- */

static void
count(uint64_t *ctr)
{
	/* relaxed: owner-only counter; fc_stat may read a stale value. */
	fc__st_rlx(ctr, fc__ld_rlx(ctr) + 1);
}

/* Inside a read section: find the key, and copy its value out unless it
 * has expired (the one body of get_slow and get_common). */
static inline __attribute__((always_inline)) int
find_copy(fc_cache *c, uint64_t h, const void *key, size_t klen, void *buf, size_t *vlen,
	  uint64_t *cas, fc_item *meta)
{
	struct fc_iview v;
	int rc = fc__index_find(c, h, key, klen, &v);
	if (rc == FC_OK) {
		uint64_t e = fc__w1_expiry(c, v.w1);
		uint64_t now = e ? fc__now_ms() : 0;
		if (fc__expired(e, now)) {
			rc = FC_ENOTFOUND;
		} else {
			rc = fc__item_copy_out(c, &v, e, now, 0, buf, *vlen, vlen, cas, meta);
			if (meta)
				meta->key = key;
			fc__item_hit(&v);
		}
	}
	return rc;
}

/*
 * The whole read, for every case: bad arguments, the first read of a
 * thread (slot claim), a nested read (a signal handler inside a read),
 * armed fault points. Out of line: get_common's fast path comes here only
 * when it cannot do the read itself.
 */
__attribute__((noinline)) static int
get_slow(fc_cache *c, const void *key, size_t klen, void *buf, size_t *vlen,
	 uint64_t *cas, fc_item *meta)
{
	int rc = check_key(c, key, klen);
	if (rc)
		return rc;
	if (!vlen || (!buf && *vlen > 0))
		return FC_EINVAL;
	uint64_t h = fc__hash(c, key, klen);
	int outer;
	struct fc_tls *t = fc__read_enter(c, &rc, &outer);
	if (!t)
		return rc;
	FC_FAULT(READ_INSIDE);
	rc = find_copy(c, h, key, klen, buf, vlen, cas, meta);
	fc__read_exit(t, outer);
	count(rc == FC_OK || rc == FC_ETRUNC ? &t->slot->rs_hits : &t->slot->rs_misses);
	return rc;
}

/*
 * The read path, inlined into each public get: the same steps as
 * get_slow with none of its cases. One test sends bad arguments and armed
 * fault points to get_slow (which checks them one by one), and
 * fc__read_enter_fast sends everything about the thread's slot there.
 */
static inline __attribute__((always_inline)) int
get_common(fc_cache *c, const void *key, size_t klen, void *buf, size_t *vlen,
	   uint64_t *cas, fc_item *meta)
{
	if (__builtin_expect(!c || !key || klen - 1 >= FC_KEY_MAX || !vlen ||
				     (!buf && *vlen > 0) || fc__fault_armed,
			     0))
		return get_slow(c, key, klen, buf, vlen, cas, meta);
	uint64_t h = fc__hash(c, key, klen);
	struct slot_shm *s = fc__read_enter_fast(c);
	if (__builtin_expect(!s, 0))
		return get_slow(c, key, klen, buf, vlen, cas, meta);
	int rc = find_copy(c, h, key, klen, buf, vlen, cas, meta);
	fc__read_exit_fast(s);
	count(rc == FC_OK || rc == FC_ETRUNC ? &s->rs_hits : &s->rs_misses);
	return rc;
}

int
fc_get(fc_cache *c, const void *key, size_t klen, void *buf, size_t *vlen)
{
	return get_common(c, key, klen, buf, vlen, NULL, NULL);
}

int
fc_gets(fc_cache *c, const void *key, size_t klen, void *buf, size_t *vlen,
	uint64_t *cas)
{
	if (!cas)
		return FC_EINVAL;
	return get_common(c, key, klen, buf, vlen, cas, NULL);
}

int
fc_get_item(fc_cache *c, const void *key, size_t klen, void *buf, size_t *vlen,
	    fc_item *meta)
{
	if (!meta)
		return FC_EINVAL;
	return get_common(c, key, klen, buf, vlen, NULL, meta);
}

/* ------------------------------------------------------------ writes -- */

static int
store_locked(fc_cache *c, uint64_t h, const void *key, size_t klen,
	     const void *val, size_t vlen, uint64_t expire, int mode,
	     uint64_t cas_in, unsigned cls)
{
	struct hdr_shm *hd = c->hdr;
	uint64_t now = fc__now_ms();
	struct fc_probe p;
	int rc;

	fc__evict_housekeep_locked(c, now);
	if ((rc = fc__index_probe_locked(c, h, key, klen, now, &p)) != FC_OK)
		return rc;
	int exists = p.pos != UINT64_MAX && !p.expired;
	if (mode == MODE_ADD && exists)
		return FC_EEXIST;
	if ((mode == MODE_REPLACE || mode == MODE_CAS) && !exists)
		return FC_ENOTFOUND;
	if (mode == MODE_CAS && fc__item_cas(p.it) != cas_in)
		return FC_ECAS;
	if ((rc = fc__limbo_room_locked(c)) != FC_OK)
		return rc;
	if (p.pos == UINT64_MAX && (rc = fc__evict_index_room_locked(c, cls)) != FC_OK)
		return rc;

	uint64_t off;
	if ((rc = fc__evict_alloc_locked(c, cls, &off)) != FC_OK)
		return rc;
	FC_FAULT(SET_ALLOC);
	fc__item_fill(c, fc__ptr(c, off), hd->hd_cas_next++, expire, key, klen, val, vlen);
	FC_FAULT(SET_WRITTEN);

	/* Allocation may have evicted or compacted (or index room rebuilt):
	 * bring the probe up to date, probing again only after a rebuild. */
	if ((rc = fc__index_revalidate_locked(c, h, key, klen, now, &p)) != FC_OK ||
	    (p.pos == UINT64_MAX && p.ins == UINT64_MAX)) {
		fc__slab_unalloc_locked(c, off);
		return rc ? rc : FC_EBUSY;
	}
	fc__index_publish_locked(c, &p, h, off);
	if (p.pos != UINT64_MAX) {
		if (p.expired)
			FC_CTR_ADD(hd->hd_expired, 1);
		fc__slab_retire_locked(c, p.it);
	}
	fc__slab_count_live_locked(c, cls, klen + vlen, expire != 0);
	FC_CTR_ADD(hd->hd_sets, 1);
	FC_FAULT(SET_RETIRED);
	return FC_OK;
}

static int
store(fc_cache *c, const void *key, size_t klen, const void *val, size_t vlen,
      uint64_t ttl_ms, int mode, uint64_t cas_in)
{
	int rc = check_key(c, key, klen);
	if (rc)
		return rc;
	if (!val && vlen > 0)
		return FC_EINVAL;
	/* fc_stats.value_max: the largest value that fits with any key. */
	if (vlen > c->g.class_size[c->g.nclasses - 1] - FC_ITEM_HDR - FC_KEY_MAX)
		return FC_E2BIG;
	int cls = fc__class_for(c, FC_ITEM_HDR + klen + vlen);
	if (cls < 0)
		return FC_E2BIG;
	uint64_t h = fc__hash(c, key, klen);
	if ((rc = fc__lock(c)) != FC_OK)
		return rc;
	FC_FAULT(SET_LOCKED);
	rc = store_locked(c, h, key, klen, val, vlen, expire_for(ttl_ms, fc__now_ms()),
			  mode, cas_in, (unsigned)cls);
	fc__unlock(c);
	return rc;
}

int
fc_set(fc_cache *c, const void *key, size_t klen, const void *val, size_t vlen,
       uint64_t ttl_ms)
{
	return store(c, key, klen, val, vlen, ttl_ms, MODE_SET, 0);
}

int
fc_add(fc_cache *c, const void *key, size_t klen, const void *val, size_t vlen,
       uint64_t ttl_ms)
{
	return store(c, key, klen, val, vlen, ttl_ms, MODE_ADD, 0);
}

int
fc_replace(fc_cache *c, const void *key, size_t klen, const void *val,
	   size_t vlen, uint64_t ttl_ms)
{
	return store(c, key, klen, val, vlen, ttl_ms, MODE_REPLACE, 0);
}

int
fc_cas(fc_cache *c, const void *key, size_t klen, const void *val, size_t vlen,
       uint64_t ttl_ms, uint64_t cas)
{
	return store(c, key, klen, val, vlen, ttl_ms, MODE_CAS, cas);
}

/* Lock, sweep, and find the live item under key; *pp filled. An expired
 * item found on the way is reclaimed and reported as absent; one still in
 * its stale window is kept for fc_lease_get, unless @p drop_stale (a
 * delete: an invalidated value must not be served stale). */
static int
find_locked(fc_cache *c, const void *key, size_t klen, struct fc_probe *p,
	    int drop_stale)
{
	uint64_t now = fc__now_ms();
	int rc;

	fc__evict_housekeep_locked(c, now);
	if ((rc = fc__limbo_room_locked(c)) != FC_OK)
		return rc;
	if ((rc = fc__index_probe_locked(c, fc__hash(c, key, klen), key, klen, now, p)) != FC_OK)
		return rc;
	if (p->pos == UINT64_MAX)
		return FC_ENOTFOUND;
	if (p->expired) {
		/* Within the stale window fc_lease_get still serves it. */
		if (drop_stale || fc__reclaimable(c, fc__item_expiry(c, p->it), now)) {
			FC_CTR_ADD(c->hdr->hd_expired, 1);
			fc__index_remove_locked(c, p->pos, p->it);
		}
		return FC_ENOTFOUND;
	}
	return FC_OK;
}

int
fc_delete(fc_cache *c, const void *key, size_t klen)
{
	struct fc_probe p;
	int rc = check_key(c, key, klen);

	if (rc)
		return rc;
	if ((rc = fc__lock(c)) != FC_OK)
		return rc;
	if ((rc = find_locked(c, key, klen, &p, 1)) == FC_OK) {
		fc__index_unlink_locked(c, p.pos);
		FC_FAULT(DELETE_TOMB);
		FC_CTR_ADD(c->hdr->hd_deletes, 1);
		/* Unlinked: done. A failed retire (limbo full, readers stuck)
		 * only leaks the chunk until repair. */
		fc__slab_retire_locked(c, p.it);
	}
	fc__unlock(c);
	return rc;
}

int
fc_touch(fc_cache *c, const void *key, size_t klen, uint64_t ttl_ms)
{
	struct fc_probe p;
	int rc = check_key(c, key, klen);

	if (rc)
		return rc;
	if ((rc = fc__lock(c)) != FC_OK)
		return rc;
	if ((rc = find_locked(c, key, klen, &p, 0)) == FC_OK) {
		uint64_t e = expire_for(ttl_ms, fc__now_ms());
		/* I6 (index.c): the line's summary first, then the expiry. */
		fc__index_exp_note_locked(c, p.pos, e);
		fc__item_set_expiry_locked(c, p.it, e);
	}
	fc__unlock(c);
	return rc;
}

static int
parse_counter(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 20)
		return FC_ENOTNUM;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return FC_ENOTNUM;
		unsigned d = (unsigned)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return FC_ENOTNUM;
		x = x * 10 + d;
	}
	*v = x;
	return FC_OK;
}

int
fc_incr(fc_cache *c, const void *key, size_t klen, int64_t delta, uint64_t *value)
{
	struct fc_probe p;
	int rc = check_key(c, key, klen);

	if (rc)
		return rc;
	uint64_t h = fc__hash(c, key, klen);
	if ((rc = fc__lock(c)) != FC_OK)
		return rc;
	if ((rc = find_locked(c, key, klen, &p, 0)) != FC_OK)
		goto out;
	uint64_t v;
	if ((rc = parse_counter(fc__item_val(p.it), fc__item_vlen(p.it), &v)) != FC_OK)
		goto out;
	if (delta >= 0) {
		v += (uint64_t)delta; /* wraps modulo 2^64, like memcached */
	} else {
		uint64_t d = (uint64_t)(-(delta + 1)) + 1; /* |delta|, INT64_MIN too */
		v = d >= v ? 0 : v - d;                    /* stops at 0 */
	}
	char buf[24];
	int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
	int cls = fc__class_for(c, FC_ITEM_HDR + klen + (size_t)n);
	if (cls < 0) {
		rc = FC_E2BIG;
		goto out;
	}
	rc = store_locked(c, h, key, klen, buf, (size_t)n,
			  fc__item_expiry(c, p.it), MODE_REPLACE, 0, (unsigned)cls);
	if (rc == FC_OK && value)
		*value = v;
out:
	fc__unlock(c);
	return rc;
}

int
fc_flush(fc_cache *c)
{
	if (!c)
		return FC_EINVAL;
	int rc = fc__lock(c);
	if (rc)
		return rc;
	c->hdr->hd_needs_repair = 1; /* a flusher killed midway is finished by repair */
	rc = fc__repair_rebuild_locked(c, 1);
	fc__unlock(c);
	return rc;
}

int64_t
fc_flush_expired(fc_cache *c)
{
	if (!c)
		return FC_EINVAL;
	int rc = fc__lock(c);
	if (rc)
		return rc;
	int64_t n = fc__evict_flush_expired_locked(c);
	fc__unlock(c);
	return n;
}

int
fc_reap(fc_cache *c)
{
	if (!c)
		return FC_EINVAL;
	int rc = fc__lock(c);
	if (rc)
		return rc;
	rc = fc__reap(c);
	fc__reclaim_locked(c);
	fc__unlock(c);
	return rc;
}

/* --------------------------------------------------------- iteration -- */

struct fc_iter {
	fc_cache *c;
	uint64_t pos;
	char *buf;
};

int
fc_iter_open(fc_cache *c, fc_iter **out)
{
	if (!c || !out)
		return FC_EINVAL;
	fc_iter *it = calloc(1, sizeof *it);
	if (!it || !(it->buf = malloc(c->g.page_bytes))) {
		free(it);
		return FC_ESYS;
	}
	it->c = c;
	*out = it;
	return FC_OK;
}

int
fc_iter_next(fc_iter *iter, fc_item *out)
{
	if (!iter || !out)
		return FC_EINVAL;
	fc_cache *c = iter->c;
	int rc;
	for (;;) {
		if (iter->pos >= c->g.nbuckets)
			return FC_ENOTFOUND;
		int outer;
		struct fc_tls *t = fc__read_enter(c, &rc, &outer);
		if (!t)
			return rc;
		const uint64_t *ix = fc__index_read_table(c);
		if (!ix) {
			fc__read_exit(t, outer);
			return FC_ECORRUPT;
		}
		/* Short sections: a reader preempted inside one holds back
		 * every writer's reclamation until it runs again. */
		uint64_t now = fc__now_ms(), stop = iter->pos + FC_ITER_SECTION;
		struct fc_iview v;
		while ((rc = fc__index_next_live(c, ix, &iter->pos, stop, &v)) == FC_OK) {
			uint64_t e = fc__w1_expiry(c, v.w1);
			if (fc__expired(e, now)) {
				iter->pos++;
				continue;
			}
			size_t vl;
			rc = fc__item_copy_out(c, &v, e, now, 1, iter->buf, c->g.page_bytes, &vl, NULL,
					       out);
			if (rc == FC_OK)
				iter->pos++;
			break;
		}
		fc__read_exit(t, outer);
		if (rc != FC_ENOTFOUND)
			return rc;
	}
}

void
fc_iter_close(fc_iter *it)
{
	if (!it)
		return;
	free(it->buf);
	free(it);
}

/* ------------------------------------------------------------ leases -- */

/*
 * The orchestration of get-or-compute (the table itself is lease.c): a
 * fresh hit is fc_get's lock-free path; a miss takes the writer mutex and,
 * in one critical section, probes the index (a value may have landed) and
 * finds or grants the key's lease; a fill stores the item and releases the
 * lease in one critical section. Waiting happens outside the mutex.
 */

#define FC_LEASE_MAGIC 0x4c534531u /* "LSE1" in fc_lease.fc__opaque[0] */
#define STEP_WAIT 100             /* lease_step_locked: someone else leads */

/* Copy the item's value out; the mutex is held, so it cannot change. */
static int
copy_locked(fc_cache *c, const struct item_shm *it, void *buf, size_t *vlen)
{
	size_t n = fc__item_vlen(it); /* read once: the segment is untrusted */

	if (n > c->g.page_bytes)
		return FC_ECORRUPT;
	if (n > *vlen) {
		*vlen = n;
		return FC_ETRUNC;
	}
	if (n)
		memcpy(buf, fc__item_val(it), n);
	*vlen = n;
	return FC_OK;
}

static int
lease_step_locked(fc_cache *c, struct fc_tls *t, uint64_t h, const void *key,
		  size_t klen, void *buf, size_t *vlen, int suspect,
		  struct fc_lease_ref *ref)
{
	struct hdr_shm *hd = c->hdr;
	uint64_t now = fc__now_ms();
	struct fc_probe p;
	int rc, stale = 0;

	if ((rc = fc__index_probe_locked(c, h, key, klen, now, &p)) != FC_OK)
		return rc;
	if (p.pos != UINT64_MAX) {
		if (!p.expired)
			return copy_locked(c, p.it, buf, vlen); /* filled meanwhile */
		stale = !fc__reclaimable(c, fc__item_expiry(c, p.it), now);
	}
	uint64_t lh = h | 1;
	int found = fc__lease_find_locked(c, lh, key, klen, ref);
	if (stale && !suspect) {
		/* Stale hits never wait, so no poll would notice a dead
		 * refresher: test its process here, at most once per
		 * FC_LEASE_POLL_MS per handle (a /proc read under the mutex). */
		uint64_t m = fc__mono_ms();
		if (m - c->lease_check_ms >= FC_LEASE_POLL_MS) {
			c->lease_check_ms = m;
			suspect = 1;
		}
	}
	if (found && fc__lease_holder_gone(c, ref->idx, ref->gen, suspect) == 0) {
		if (!stale)
			return STEP_WAIT;
		/* Being refreshed by a live leader: serve the stale value. */
		if ((rc = copy_locked(c, p.it, buf, vlen)) == FC_OK)
			fc__faa_sc(&hd->hd_lease_stale, 1);
		return rc;
	}
	if (stale && fc__item_vlen(p.it) > *vlen) {
		*vlen = fc__item_vlen(p.it);
		return FC_ETRUNC; /* no lease: the caller retries with room */
	}
	rc = fc__lease_grant_locked(c, lh, key, klen, t, found, ref,
				    stale ? FC_LS_STALE : 0);
	if (rc != FC_OK) {
		if (rc == FC_EBUSY)
			fc__faa_sc(&hd->hd_lease_full, 1);
		return rc;
	}
	FC_FAULT(LEASE_GRANTED);
	if (stale) {
		if ((rc = copy_locked(c, p.it, buf, vlen)) != FC_OK) {
			fc__lease_release_locked(c, ref->idx, ref->gen);
			return rc; /* damaged item: FC_ECORRUPT */
		}
		return FC_STALE;
	}
	*vlen = 0;
	return FC_LEADER;
}

static void
lease_token(fc_cache *c, fc_lease *l, const struct fc_lease_ref *ref, uint64_t h)
{
	l->fc__opaque[0] = (uint64_t)FC_LEASE_MAGIC << 32 | ref->idx;
	l->fc__opaque[1] = ref->gen;
	l->fc__opaque[2] = h | 1;
	l->fc__opaque[3] = c->seed;
}

/* FC_OK and the lease's entry and gen; FC_ELEASE for a spent or zeroed
 * token; FC_EINVAL for one of another segment. */
static int
lease_untoken(fc_cache *c, const fc_lease *l, uint32_t *idx, uint64_t *gen)
{
	if ((uint32_t)(l->fc__opaque[0] >> 32) != FC_LEASE_MAGIC)
		return FC_ELEASE;
	if (l->fc__opaque[3] != c->seed)
		return FC_EINVAL;
	*idx = (uint32_t)l->fc__opaque[0];
	*gen = l->fc__opaque[1];
	return FC_OK;
}

/* The miss path: cold, out of line, so fc_lease_get's hit path stays
 * fc_get's (no extra frame to keep its arguments alive). */
__attribute__((cold, noinline)) static int
lease_slow(fc_cache *c, const void *key, size_t klen, void *buf, size_t *vlen,
	   uint64_t wait_ms, fc_lease *lease)
{
	struct hdr_shm *hd = c->hdr;
	uint64_t h = fc__hash(c, key, klen);
	int rc, waited = 0, suspect = 0;
	struct fc_tls *t = fc__tls_self(c, &rc);

	if (!t) /* the fast path just had a slot: only a fork could lose it */
		return rc;
	uint64_t start = fc__mono_ms();
	uint64_t until = wait_ms > UINT64_MAX - start ? UINT64_MAX : start + wait_ms;
	for (;;) {
		struct fc_lease_ref ref;
		size_t n = *vlen;
		if ((rc = fc__lock(c)) != FC_OK)
			return rc;
		rc = lease_step_locked(c, t, h, key, klen, buf, &n, suspect, &ref);
		fc__unlock(c);
		if (rc != STEP_WAIT) {
			if (rc == FC_OK || rc == FC_ETRUNC || rc == FC_LEADER || rc == FC_STALE)
				*vlen = n;
			if (rc == FC_LEADER || rc == FC_STALE) {
				lease_token(c, lease, &ref, h);
				FC_FAULT(LEASE_LEADER);
			}
			return rc;
		}
		if (!waited++ && wait_ms)
			fc__faa_sc(&hd->hd_lease_waits, 1);
		if (wait_ms == 0 || !fc__lease_wait(c, &ref, until)) {
			fc__faa_sc(&hd->hd_lease_timeouts, 1);
			return FC_ETIMEDOUT;
		}
		suspect = 1; /* the lock step may test the leader's liveness */
		/* Filled? The lock-free read answers without the mutex. */
		rc = get_common(c, key, klen, buf, vlen, NULL, NULL);
		if (rc != FC_ENOTFOUND)
			return rc;
	}
}

int
fc_lease_get(fc_cache *c, const void *key, size_t klen, void *buf,
	     size_t *vlen, uint64_t wait_ms, fc_lease *lease)
{
	if (!lease)
		return FC_EINVAL;
	/* A fresh hit: exactly fc_get's path, no lock, no syscall. */
	int rc = get_common(c, key, klen, buf, vlen, NULL, NULL);
	if (__builtin_expect(rc != FC_ENOTFOUND, 1))
		return rc;
	return lease_slow(c, key, klen, buf, vlen, wait_ms, lease);
}

int
fc_lease_fill(fc_cache *c, fc_lease *lease, const void *val, size_t vlen,
	      uint64_t ttl_ms)
{
	uint32_t idx;
	uint64_t gen, lh;
	char key[FC_KEY_MAX];
	size_t klen;

	if (!c || !lease || (!val && vlen > 0))
		return FC_EINVAL;
	int rc = lease_untoken(c, lease, &idx, &gen);
	if (rc != FC_OK)
		return rc;
	if (vlen > c->g.class_size[c->g.nclasses - 1] - FC_ITEM_HDR - FC_KEY_MAX)
		return FC_E2BIG;
	if ((rc = fc__lock(c)) != FC_OK)
		return rc;
	rc = fc__lease_key_locked(c, idx, gen, key, &klen, &lh);
	if (rc == FC_OK) {
		int cls = fc__class_for(c, FC_ITEM_HDR + klen + vlen);
		if (cls < 0)
			rc = FC_E2BIG;
		else
			rc = store_locked(c, fc__hash(c, key, klen), key, klen, val, vlen,
					  expire_for(ttl_ms, fc__now_ms()), MODE_SET, 0,
					  (unsigned)cls);
	}
	if (rc == FC_OK) {
		FC_FAULT(LEASE_FILLED);
		rc = fc__lease_release_locked(c, idx, gen); /* held: FC_OK */
	}
	fc__unlock(c);
	if (rc == FC_OK) {
		lease->fc__opaque[0] = 0; /* spent */
		FC_FAULT(LEASE_WAKE);
		fc__lease_wake(c, idx);
	}
	return rc;
}

int
fc_lease_abandon(fc_cache *c, fc_lease *lease)
{
	uint32_t idx;
	uint64_t gen;

	if (!c || !lease)
		return FC_EINVAL;
	int rc = lease_untoken(c, lease, &idx, &gen);
	if (rc != FC_OK)
		return rc;
	if ((rc = fc__lock(c)) != FC_OK)
		return rc;
	rc = fc__lease_release_locked(c, idx, gen);
	fc__unlock(c);
	if (rc == FC_OK) {
		lease->fc__opaque[0] = 0;
		FC_FAULT(LEASE_WAKE);
		fc__lease_wake(c, idx);
	}
	return rc;
}

int
fc_get_or_compute(fc_cache *c, const void *key, size_t klen, void *buf,
		  size_t *vlen, uint64_t wait_ms, uint64_t ttl_ms,
		  fc_compute_fn compute, void *arg)
{
	fc_lease l;

	if (!compute)
		return FC_EINVAL;
	size_t cap = vlen ? *vlen : 0;
	int rc = fc_lease_get(c, key, klen, buf, vlen, wait_ms, &l);
	if (rc != FC_LEADER && rc != FC_STALE && rc != FC_EBUSY)
		return rc; /* FC_OK, FC_ETIMEDOUT, FC_ETRUNC, bad input, ... */
	int leased = rc != FC_EBUSY;
	size_t n = cap;
	int crc = compute(arg, key, klen, buf, &n);
	if (crc == FC_OK && n > cap)
		crc = FC_EINVAL; /* compute broke its contract */
	if (crc != FC_OK) {
		if (leased)
			fc_lease_abandon(c, &l);
		return crc;
	}
	if (leased) {
		rc = fc_lease_fill(c, &l, buf, n, ttl_ms);
		if (rc != FC_OK && rc != FC_ELEASE)
			fc_lease_abandon(c, &l); /* not stored: let another try */
	} else {
		(void)fc_set(c, key, klen, buf, n, ttl_ms); /* no single-flight */
	}
	*vlen = n;
	return FC_OK;
}
