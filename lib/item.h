/*
 * item.h - access to chunks and items (lib/item.c). The segment is
 *          untrusted input: every chunk pointer comes from one of the two
 *          checks below, whose names say whose check it is.
 */
#ifndef FC_ITEM_H
#define FC_ITEM_H

#include <string.h>

#include "internal.h"
#include "segment.h"

/*
 * A reader's view of an item: its lengths and class, each loaded ONCE from
 * the segment (a hostile or damaged writer may change them at any time)
 * and checked; every later use (key compare, copy, meta) uses only these
 * copies, so the bounds that were checked are the bounds that are used.
 */
struct fc_iview {
	struct item_shm *it;
	const char *key;            /* it + 1 */
	const char *val;            /* key + klen */
	uint32_t klen;              /* 1..FC_KEY_MAX */
	uint32_t vlen;              /* FC_ITEM_HDR + klen + vlen <= chunk */
	uint32_t cls;               /* < nclasses */
};
/* The READER's bounds check (no lock, no page map): @p off is an item
 * whose header and class-sized chunk lie inside one slab page, with a key
 * length in 1..FC_KEY_MAX and key + value inside the chunk. Fills *v from
 * one load of each field and returns 0, or -1 if not. Cheap (no
 * division); enough to stay in bounds, not proof of ownership. */
static inline int fc__item_view(const fc_cache *c, uint64_t off, struct fc_iview *v);
/* fc__item_view's check, for callers that need only the pointer (writers
 * under the mutex, repair, verify's walks): NULL if it fails. */
struct item_shm *fc__item_at(const fc_cache *c, uint64_t off);
/* The WRITER's ownership check (mutex held or lock-free snapshot): @p off
 * is the start of a chunk of class @p cls in a page the page map gives to
 * that class. Does not look at the chunk's bytes. NULL if not. */
struct item_shm *fc__chunk_owned(const fc_cache *c, uint64_t off, unsigned cls);

/* fc_touch's store: a new expiry for a live item, and the TTL-item count
 * (hd_ttl_items) kept in step; writer mutex held. */
void fc__item_set_expiry_locked(fc_cache *c, struct item_shm *it, uint64_t expire);

static inline const char *
fc__item_key(const struct item_shm *it)
{
	return (const char *)(it + 1);
}
static inline const char *
fc__item_val(const struct item_shm *it)
{
	return (const char *)(it + 1) + it->it_klen;
}
/* relaxed: fc_touch may change it concurrently; either value is one that
 * some write stored. */
static inline uint64_t
fc__item_expiry(const struct item_shm *it)
{
	return fc__ld_rlx(&it->it_expire_ms);
}
/* THE expiry test: an expiry of 0 never expires; else expired from its
 * own millisecond on. */
static inline int
fc__expired(uint64_t expire_ms, uint64_t now)
{
	return expire_ms != 0 && expire_ms <= now;
}
/* May an expired item be reclaimed (sweep, fc_flush_expired, a write's
 * lazy reclaim)? Expired, and past the stale window (hd_stale_ms) in which
 * fc_lease_get still serves it. With stale_ms 0 this is fc__expired. */
static inline int
fc__reclaimable(const fc_cache *c, uint64_t expire_ms, uint64_t now)
{
	return fc__expired(expire_ms, now) && now - expire_ms >= c->stale_ms;
}
/*
 * S3-FIFO metadata (evict.c). Layout 3 keeps it in the it_ref byte: bits
 * 0-1 the frequency 0..3, bit 2 the small (probationary) flag; bits 3-7
 * zero. These five calls are the only access to it (the 16-byte header of
 * docs/ITEM-LAYOUT re-implements them on its word).
 * Readers change only the frequency, by one CAS that is never retried (a
 * hit lost to a race costs a hint); the writer (mutex held) changes either
 * part with a CAS loop, so it never undoes a reader's bump and a reader
 * never undoes the writer's flag.
 */
#define FC_IT_FREQ_MAX 3u
#define FC_IT_SMALL_BIT 4u
/* relaxed: a hint; any value a reader or the writer stored is a right
 * answer. */
static inline unsigned
fc__item_freq(const struct item_shm *it)
{
	return fc__ld8_rlx(&it->it_ref) & FC_IT_FREQ_MAX;
}
/* A reader's hit: frequency + 1, saturating at 3. Once saturated it is a
 * load and a compare: the item's line stays shared between processes. The
 * CAS (relaxed: orders nothing, pairs with nothing; the byte is a hint) is
 * not retried: a lost race loses one hit. */
static inline void
fc__item_hit(struct item_shm *it)
{
	uint8_t r = fc__ld8_rlx(&it->it_ref);

	if ((r & FC_IT_FREQ_MAX) != FC_IT_FREQ_MAX)
		(void)fc__cas8_rlx(&it->it_ref, r, (uint8_t)(r + 1));
}
/* The writer's store of frequency @p f (0..3), mutex held: a CAS loop
 * against readers' bumps (relaxed: the bits are a hint; the loop only
 * keeps the small flag intact). */
static inline void
fc__item_freq_set_locked(struct item_shm *it, unsigned f)
{
	uint8_t r;

	do
		r = fc__ld8_rlx(&it->it_ref);
	while (!fc__cas8_rlx(&it->it_ref, r,
			     (uint8_t)((r & ~FC_IT_FREQ_MAX) | (f & FC_IT_FREQ_MAX))));
}
/* The probationary flag: set only by the writer; relaxed like the rest of
 * the byte. */
static inline int
fc__item_small(const struct item_shm *it)
{
	return (fc__ld8_rlx(&it->it_ref) & FC_IT_SMALL_BIT) != 0;
}
static inline void
fc__item_set_small_locked(struct item_shm *it, int on)
{
	uint8_t r;

	do
		r = fc__ld8_rlx(&it->it_ref);
	while (!fc__cas8_rlx(&it->it_ref, r,
			     (uint8_t)(on ? r | FC_IT_SMALL_BIT : r & ~FC_IT_SMALL_BIT)));
}

/* The one copy-out (reads and iteration), inside a read section, from a
 * view (fc__item_view: lengths and class loaded once and checked). With
 * @p with_key, copies key then value into @p buf (the key at buf, the value
 * right after it), else the value only; @p cap is buf's size. Sets *vlen
 * to the value's length, *cas (if not NULL) on success, and fills *meta
 * (if not NULL; key = buf or NULL, value = NULL unless copied). Returns
 * FC_OK or FC_ETRUNC (the value does not fit; *vlen is the length
 * needed). @p e is the expiry the caller loaded (fc__item_expiry) and
 * checked against @p now. Inline: it is the hit path, and a plain get
 * needs only a few of the fields. */
static inline int
fc__item_copy_out(const fc_cache *c, const struct fc_iview *v, uint64_t e,
		  uint64_t now, int with_key, char *buf, size_t cap, size_t *vlen,
		  uint64_t *cas, fc_item *meta)
{
	size_t kl = v->klen, vl = v->vlen;
	size_t koff = with_key ? kl : 0;
	int rc = FC_OK;

	if (koff + vl > cap) {
		rc = FC_ETRUNC;
	} else {
		if (with_key)
			memcpy(buf, v->key, kl);
		if (vl) /* buf may be NULL when nothing is copied */
			memcpy(buf + koff, v->val, vl);
	}
	/* relaxed: cas is written before publication (I2) and never after
	 * (P1); one load, and it bounds nothing. */
	uint64_t cv = fc__ld_rlx(&v->it->it_cas);
	if (meta) {
		meta->key = with_key ? buf : NULL;
		meta->klen = kl;
		meta->value = rc == FC_OK && buf ? buf + koff : NULL;
		meta->vlen = vl;
		meta->cas = cv;
		meta->expire_ms = e;
		/* -1 means "never": a far expiry is clamped, never negative */
		meta->ttl_left_ms = !e ? -1 : e - now > (uint64_t)INT64_MAX ? INT64_MAX
									   : (int64_t)(e - now);
		meta->size_class = v->cls;
		meta->chunk_bytes = c->g.class_size[v->cls];
	}
	*vlen = vl;
	if (cas && rc == FC_OK)
		*cas = cv;
	return rc;
}

/* Write a freshly allocated, unpublished chunk (I2: before publishing). */
static inline void
fc__item_fill(struct item_shm *it, uint64_t cas, uint64_t expire, unsigned cls,
	      const void *key, size_t klen, const void *val, size_t vlen)
{
	it->it_cas = cas;
	fc__st_rlx(&it->it_expire_ms, expire);
	it->it_vlen = (uint32_t)vlen;
	it->it_klen = (uint8_t)klen;
	it->it_class = (uint8_t)cls;
	fc__st8_rlx(&it->it_ref, 0);
	memcpy((char *)(it + 1), key, klen);
	if (vlen)
		memcpy((char *)(it + 1) + klen, val, vlen);
}

/* Inline: the read path's hot check, and fc__item_at's body. */
static inline int
fc__item_view(const fc_cache *c, uint64_t off, struct fc_iview *v)
{
	if (off < c->g.pages_off || off >= fc__pages_end(c) || (off & 7))
		return -1;
	uint64_t in_page = (off - c->g.pages_off) & (c->g.page_bytes - 1);
	if (in_page + FC_ITEM_HDR > c->g.page_bytes)
		return -1; /* the header itself would cross the page */
	struct item_shm *it = fc__ptr(c, off);
	/* relaxed atomic loads: exactly one load each (the compiler may not
	 * load a plain field again later); the checks below and every use
	 * after them see the same values (finding 5 of issue #8). */
	uint32_t cls = fc__ld8_rlx(&it->it_class);
	uint32_t kl = fc__ld8_rlx(&it->it_klen);
	uint32_t vl = fc__ld32_rlx(&it->it_vlen);
	if (cls >= c->g.nclasses)
		return -1;
	uint64_t csz = c->g.class_size[cls];
	if (in_page + csz > c->g.page_bytes || kl == 0 || kl > FC_KEY_MAX ||
	    FC_ITEM_HDR + (uint64_t)kl + vl > csz)
		return -1;
	v->it = it;
	v->key = (const char *)(it + 1);
	v->val = v->key + kl;
	v->klen = kl;
	v->vlen = vl;
	v->cls = cls;
	return 0;
}

#endif /* FC_ITEM_H */
