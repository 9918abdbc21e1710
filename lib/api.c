/*
 * api.c - the public entry points: the lock-free read path and the writes.
 *
 * DESIGN       A read hashes the key (XXH3, per-segment seed), enters a
 *              read section on its thread's reader slot, probes the live
 *              index with acquire loads, bounds-checks the item, compares
 *              the key, checks the TTL against the coarse clock, copies the
 *              value out and leaves. It writes only its slot (epoch,
 *              counters) and, once per item per CLOCK round, the item's
 *              reference byte (load first; store only if clear).
 *              A write takes the writer mutex, does a bounded amount of
 *              housekeeping (reclaim limbo, sweep FC_SWEEP_BUDGET buckets
 *              for expired items), allocates and fills a new chunk, and
 *              publishes it with one release store of a bucket word; the
 *              replaced item goes to limbo.
 * INVARIANTS   P1 A published item is never modified except it_expire_ms
 *                 (one atomic word, fc_touch) and it_ref (a hint).
 *              P2 Bad arguments are rejected before anything is touched.
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

#include "internal.h"

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

/* Lock-free probe; caller is inside a read section. */
static int
probe_read(fc_cache *c, uint64_t h, const void *key, size_t klen,
	   struct item_shm **out)
{
	/* Acquire: pairs with the release store of hd_ix_sel in
	 * fc__index_rebuild_locked, so the array we probe is complete. */
	uint64_t sel = fc__ld_acq(&c->hdr->hd_ix_sel);
	if (sel > 1)
		return FC_ECORRUPT;
	const uint64_t *ix = fc__index(c, (unsigned)sel);
	uint64_t i = fc__bk_home(c, h);
	uint64_t tag = h >> FC_BK_TAGSHIFT;

	for (uint64_t n = 0; n < c->g.nbuckets; n++, i = fc__bk_next(c, i)) {
		/*
		 * Orders:       the bucket word before the item loads that
		 *               follow it.
		 * Pairs with:   the release store that published the item (I2).
		 * If reordered: we could read the chunk's previous contents.
		 */
		uint64_t w = fc__ld_acq(&ix[i]);
		if (w == FC_BK_EMPTY)
			return FC_ENOTFOUND;
		if (w == FC_BK_TOMB || (w >> FC_BK_TAGSHIFT) != tag)
			continue;
		struct item_shm *it = fc__item_at(c, fc__bk_off(w));
		if (!it)
			return FC_ECORRUPT;
		if (it->it_klen == klen && memcmp(fc__item_key(it), key, klen) == 0) {
			*out = it;
			return FC_OK;
		}
	}
	return FC_ENOTFOUND;
}

static void
count(uint64_t *ctr)
{
	/* relaxed: owner-only counter; fc_stat may read a stale value. */
	fc__st_rlx(ctr, fc__ld_rlx(ctr) + 1);
}

static int
get_common(fc_cache *c, const void *key, size_t klen, void *buf, size_t *vlen,
	   uint64_t *cas, fc_item *meta)
{
	int rc = check_key(c, key, klen);
	if (rc)
		return rc;
	if (!vlen || (!buf && *vlen > 0))
		return FC_EINVAL;
	uint64_t h = fc__hash(c, key, klen);
	struct fc_tls *t = fc__read_enter(c, &rc);
	if (!t)
		return rc;
	FC_FAULT(READ_INSIDE);
	struct item_shm *it = NULL;
	rc = probe_read(c, h, key, klen, &it);
	if (rc == FC_OK) {
		/* relaxed: fc_touch may change it concurrently; either value
		 * is one that some write stored. */
		uint64_t e = fc__ld_rlx(&it->it_expire_ms);
		uint64_t now = e ? fc__now_ms() : 0;
		if (e && e <= now) {
			rc = FC_ENOTFOUND;
		} else {
			size_t n = it->it_vlen;
			if (n > *vlen) {
				rc = FC_ETRUNC;
			} else {
				if (n) /* buf may be NULL when n is 0 */
					memcpy(buf, fc__item_val(it), n);
				if (cas)
					*cas = it->it_cas;
			}
			*vlen = n;
			if (meta) {
				meta->key = key;
				meta->klen = klen;
				meta->value = rc == FC_OK ? buf : NULL;
				meta->vlen = n;
				meta->cas = it->it_cas;
				meta->expire_ms = e;
				meta->ttl_left_ms = e ? (int64_t)(e - now) : -1;
				meta->size_class = it->it_class;
				meta->chunk_bytes = c->g.class_size[it->it_class];
			}
			/* relaxed: a CLOCK hint; store only when clear so a hot
			 * item's line stays shared between processes. */
			if (!fc__ld8_rlx(&it->it_ref))
				fc__st8_rlx(&it->it_ref, 1);
		}
	}
	fc__read_exit(t);
	count(rc == FC_OK || rc == FC_ETRUNC ? &t->slot->rs_hits : &t->slot->rs_misses);
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

static void
housekeeping(fc_cache *c, uint64_t now)
{
	struct hdr_shm *h = c->hdr;

	if (h->hd_limbo_tail - h->hd_limbo_head >= FC_RECLAIM_BATCH ||
	    h->hd_spare_epoch)
		fc__reclaim_locked(c);
	if (h->hd_ttl_items) /* nothing can expire: skip the bucket reads */
		fc__sweep_locked(c, FC_SWEEP_BUDGET, now);
}

/* Keep room in limbo for one write's worth of retirements. */
static int
limbo_room(fc_cache *c)
{
	struct hdr_shm *h = c->hdr;
	uint64_t need = 4 * FC_EVICT_BATCH + 8;

	if (h->hd_limbo_tail - h->hd_limbo_head + need <= c->g.limbo_cap)
		return FC_OK;
	fc__reclaim_locked(c);
	if (h->hd_limbo_tail - h->hd_limbo_head + need <= c->g.limbo_cap)
		return FC_OK;
	return fc__grace_wait_locked(c, c->limbo[h->hd_limbo_head % c->g.limbo_cap].lb_epoch);
}

static int
store_locked(fc_cache *c, uint64_t h, const void *key, size_t klen,
	     const void *val, size_t vlen, uint64_t expire, int mode,
	     uint64_t cas_in, unsigned cls)
{
	struct hdr_shm *hd = c->hdr;
	uint64_t now = fc__now_ms();
	struct fc_probe p;
	int rc;

	housekeeping(c, now);
	if ((rc = fc__index_probe_locked(c, h, key, klen, now, &p)) != FC_OK)
		return rc;
	int exists = p.pos != UINT64_MAX && !p.expired;
	if (mode == MODE_ADD && exists)
		return FC_EEXIST;
	if ((mode == MODE_REPLACE || mode == MODE_CAS) && !exists)
		return FC_ENOTFOUND;
	if (mode == MODE_CAS && p.it->it_cas != cas_in)
		return FC_ECAS;
	if ((rc = limbo_room(c)) != FC_OK)
		return rc;
	if (p.pos == UINT64_MAX && (rc = fc__index_room_locked(c)) != FC_OK)
		return rc;

	uint64_t off;
	if ((rc = fc__slab_alloc_locked(c, cls, &off)) != FC_OK)
		return rc;
	FC_FAULT(SET_ALLOC);
	struct item_shm *it = fc__ptr(c, off);
	it->it_cas = hd->hd_cas_next++;
	fc__st_rlx(&it->it_expire_ms, expire);
	it->it_vlen = (uint32_t)vlen;
	it->it_klen = (uint8_t)klen;
	it->it_class = (uint8_t)cls;
	fc__st8_rlx(&it->it_ref, 0);
	memcpy((char *)(it + 1), key, klen);
	if (vlen)
		memcpy((char *)(it + 1) + klen, val, vlen);
	FC_FAULT(SET_WRITTEN);

	/* Allocation may have evicted or compacted: look again. */
	if ((rc = fc__index_probe_locked(c, h, key, klen, now, &p)) != FC_OK ||
	    (p.pos == UINT64_MAX && p.ins == UINT64_MAX)) {
		fc__slab_unalloc_locked(c, off);
		return rc ? rc : FC_EBUSY;
	}
	uint64_t *ix = fc__index(c, (unsigned)(fc__ld_rlx(&hd->hd_ix_sel) & 1));
	uint64_t word = fc__bk_word(h, off);
	if (p.pos != UINT64_MAX) {
		/*
		 * Publish over the old item: one store replaces it.
		 * Orders:       the item's bytes (above) before the word.
		 * Pairs with:   the acquire load in probe_read (I2).
		 * If reordered: a reader could copy a half-written value.
		 */
		fc__st_rel(&ix[p.pos], word);
		FC_FAULT(SET_PUBLISHED);
		if (p.expired)
			FC_CTR_ADD(hd->hd_expired, 1);
		fc__item_retire_locked(c, p.it);
	} else {
		int was_empty = fc__ld_rlx(&ix[p.ins]) == FC_BK_EMPTY;
		/* Same ordering as above: publish a new key (I2). */
		fc__st_rel(&ix[p.ins], word);
		FC_FAULT(SET_PUBLISHED);
		if (was_empty)
			FC_CTR_ADD(hd->hd_ix_used, 1);
		else
			FC_CTR_SUB(hd->hd_ix_tombs, 1);
	}
	struct class_shm *cl = &hd->hd_class[cls];
	FC_CTR_ADD(cl->cl_data, klen + vlen);
	FC_CTR_ADD(hd->hd_items, 1);
	FC_CTR_ADD(hd->hd_bytes_used, c->g.class_size[cls]);
	FC_CTR_ADD(hd->hd_data_bytes, klen + vlen);
	FC_CTR_ADD(hd->hd_sets, 1);
	if (expire)
		FC_CTR_ADD(hd->hd_ttl_items, 1);
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
 * item found on the way is reclaimed and reported as absent. */
static int
find_locked(fc_cache *c, const void *key, size_t klen, struct fc_probe *p)
{
	uint64_t now = fc__now_ms();
	int rc;

	housekeeping(c, now);
	if ((rc = limbo_room(c)) != FC_OK)
		return rc;
	if ((rc = fc__index_probe_locked(c, fc__hash(c, key, klen), key, klen, now, p)) != FC_OK)
		return rc;
	if (p->pos == UINT64_MAX)
		return FC_ENOTFOUND;
	if (p->expired) {
		FC_CTR_ADD(c->hdr->hd_expired, 1);
		fc__retire_item_locked(c, p->pos, p->it);
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
	if ((rc = find_locked(c, key, klen, &p)) == FC_OK) {
		fc__index_unlink_locked(c, p.pos);
		FC_FAULT(DELETE_TOMB);
		FC_CTR_ADD(c->hdr->hd_deletes, 1);
		/* Unlinked: done. A failed retire (limbo full, readers stuck)
		 * only leaks the chunk until repair. */
		fc__item_retire_locked(c, p.it);
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
	if ((rc = find_locked(c, key, klen, &p)) == FC_OK) {
		/* relaxed: a single word readers load atomically; either the
		 * old or the new expiry is a correct answer during the call. */
		uint64_t old = fc__ld_rlx(&p.it->it_expire_ms);
		uint64_t nexp = expire_for(ttl_ms, fc__now_ms());
		fc__st_rlx(&p.it->it_expire_ms, nexp);
		if (!old != !nexp) {
			if (nexp)
				FC_CTR_ADD(c->hdr->hd_ttl_items, 1);
			else
				FC_CTR_SUB(c->hdr->hd_ttl_items, 1);
		}
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
	if ((rc = find_locked(c, key, klen, &p)) != FC_OK)
		goto out;
	uint64_t v;
	if ((rc = parse_counter(fc__item_val(p.it), p.it->it_vlen, &v)) != FC_OK)
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
			  fc__ld_rlx(&p.it->it_expire_ms), MODE_REPLACE, 0, (unsigned)cls);
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
	rc = fc__slab_rebuild_locked(c, 1);
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
	uint64_t *ix = fc__index(c, (unsigned)(fc__ld_rlx(&c->hdr->hd_ix_sel) & 1));
	uint64_t now = fc__now_ms();
	int64_t n = 0;
	for (uint64_t i = 0; i < c->g.nbuckets; i++) {
		uint64_t w = fc__ld_rlx(&ix[i]);
		if (!fc__bk_live(w))
			continue;
		struct item_shm *it = fc__item_at(c, fc__bk_off(w));
		if (!it) {
			c->hdr->hd_needs_repair = 1;
			n = FC_ECORRUPT;
			break;
		}
		uint64_t e = fc__ld_rlx(&it->it_expire_ms);
		if (e && e <= now) {
			if (limbo_room(c) != FC_OK) {
				n = FC_EBUSY;
				break;
			}
			FC_CTR_ADD(c->hdr->hd_expired, 1);
			fc__retire_item_locked(c, i, it);
			n++;
		}
	}
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
	rc = fc__reap_locked(c);
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
		struct fc_tls *t = fc__read_enter(c, &rc);
		if (!t)
			return rc;
		/* Acquire: pairs with the selector's release store (rebuild). */
		uint64_t sel = fc__ld_acq(&c->hdr->hd_ix_sel);
		if (sel > 1) {
			fc__read_exit(t);
			return FC_ECORRUPT;
		}
		const uint64_t *ix = fc__index(c, (unsigned)sel);
		/* Short sections: a reader preempted inside one holds back
		 * every writer's reclamation until it runs again. */
		uint64_t now = fc__now_ms(), stop = iter->pos + FC_ITER_SECTION;
		rc = FC_EBUSY; /* "keep going" marker */
		for (; iter->pos < c->g.nbuckets && iter->pos < stop; iter->pos++) {
			/* Acquire: pairs with the publishing store (I2). */
			uint64_t w = fc__ld_acq(&ix[iter->pos]);
			if (!fc__bk_live(w))
				continue;
			struct item_shm *it = fc__item_at(c, fc__bk_off(w));
			if (!it) {
				rc = FC_ECORRUPT;
				break;
			}
			uint64_t e = fc__ld_rlx(&it->it_expire_ms);
			if (e && e <= now)
				continue;
			/* Read each length once: the copy is bounded by the
			 * values fc__item_at checked, even on a damaged segment. */
			size_t kl = it->it_klen, vl = it->it_vlen;
			if (kl + vl > c->g.page_bytes) {
				rc = FC_ECORRUPT;
				break;
			}
			memcpy(iter->buf, (const char *)(it + 1), kl);
			memcpy(iter->buf + kl, (const char *)(it + 1) + kl, vl);
			out->key = iter->buf;
			out->klen = kl;
			out->value = iter->buf + kl;
			out->vlen = vl;
			out->cas = it->it_cas;
			out->expire_ms = e;
			out->ttl_left_ms = e ? (int64_t)(e - now) : -1;
			out->size_class = it->it_class;
			out->chunk_bytes = c->g.class_size[it->it_class];
			iter->pos++;
			rc = FC_OK;
			break;
		}
		fc__read_exit(t);
		if (rc != FC_EBUSY)
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
