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
 * A reader's view of an item: its lengths, class, cas and expiry, from ONE
 * load of each header word and one of its page's pm_class (a hostile or
 * damaged writer may change them at any time), checked; every later use
 * (key compare, copy, meta) uses only these copies, so the bounds that
 * were checked are the bounds that are used.
 */
struct fc_iview {
	struct item_shm *it;
	const char *key;            /* it + 1 */
	const char *val;            /* key + klen */
	uint32_t klen;              /* 1..FC_KEY_MAX */
	uint32_t vlen;              /* FC_ITEM_HDR + klen + vlen <= chunk */
	uint32_t cls;               /* < nclasses: the page map's class */
	uint64_t w0, w1;            /* the words as loaded (cas, expiry) */
};
/* The READER's bounds check (no lock): @p off is an item whose header and
 * class-sized chunk lie inside one slab page, the class being its page's
 * pm_class, with a key length in 1..FC_KEY_MAX and key + value inside the
 * chunk. Fills *v from one load of each field and returns 0, or -1 if not.
 * Cheap (no division); enough to stay in bounds, not proof of ownership. */
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

/* ------------------------------------------------ the two header words --
 * Only this file knows the bits (layout: internal.h, struct item_shm).
 * it_w0 is the one word both sides write after publication (readers bump
 * the frequency bits by CAS), so the writer changes a published item's
 * w0 only by a CAS loop (w0_update); an unpublished chunk (free, or popped
 * and not yet published) has no reader and takes plain relaxed stores.
 * it_w1 is written by the writer alone. All loads and stores are relaxed
 * atomics: each is one untorn word; what orders an item's words before
 * readers see them is the index's release store of the bucket (I2) paired
 * with the reader's acquire load of it. */

static inline uint64_t
fc__w0_cas(uint64_t w0)
{
	return w0 & FC_W0_CAS_MASK;
}
static inline uint32_t
fc__w0_klen(uint64_t w0)
{
	return (uint32_t)(w0 >> FC_W0_KLEN_SHIFT) & 0xff;
}
static inline unsigned
fc__w0_state(uint64_t w0)
{
	return (unsigned)((w0 & FC_W0_STATE_MASK) >> FC_W0_STATE_SHIFT);
}
static inline unsigned
fc__w0_freq(uint64_t w0)
{
	return (unsigned)((w0 & FC_W0_FREQ_MASK) >> FC_W0_FREQ_SHIFT);
}
static inline uint32_t
fc__w1_vlen(uint64_t w1)
{
	return (uint32_t)(w1 >> FC_W1_VLEN_SHIFT);
}
/* The absolute expiry (TTL clock ms; 0 = never) that word @p w1 holds. */
static inline uint64_t
fc__w1_expiry(const fc_cache *c, uint64_t w1)
{
	uint64_t d = w1 & FC_W1_EXP_MASK;

	return d ? c->created_ms + d : 0;
}
/* The 40-bit field for absolute expiry @p e: ms after the segment's
 * creation, clamped into 1..2^40-1 (a time before creation, possible only
 * if the realtime clock stepped back, becomes creation + 1 ms). */
static inline uint64_t
fc__expiry_field(const fc_cache *c, uint64_t e)
{
	if (e == 0)
		return 0;
	if (e <= c->created_ms)
		return 1;
	return e - c->created_ms > FC_W1_EXP_MASK ? FC_W1_EXP_MASK : e - c->created_ms;
}
/* The expiry fc_item reports for a request of @p e: what is stored. */
static inline uint64_t
fc__expiry_clamp(const fc_cache *c, uint64_t e)
{
	return fc__w1_expiry(c, fc__expiry_field(c, e));
}

static inline uint64_t
fc__item_w0(const struct item_shm *it)
{
	return fc__ld_rlx(&it->it_w0);
}
static inline uint64_t
fc__item_w1(const struct item_shm *it)
{
	return fc__ld_rlx(&it->it_w1);
}
/* The writer's read-modify-write of a published w0: replace the bits of
 * @p mask by @p bits. A CAS loop, because a reader's frequency bump (one
 * CAS) may land in between; a plain store would undo it or, worse, be
 * undone by it (the reader's CAS would then fail instead, being on the
 * whole word: it never overwrites what the writer stored). relaxed: the
 * word's own atomicity is all it needs (item.h's opening note). */
static inline void
fc__item_w0_update(struct item_shm *it, uint64_t mask, uint64_t bits)
{
	uint64_t o = fc__item_w0(it);

	while (!fc__cas_rlx(&it->it_w0, o, (o & ~mask) | bits))
		o = fc__item_w0(it);
}

/* 48-bit write number (fc_gets's cas). Never changes after publication. */
static inline uint64_t
fc__item_cas(const struct item_shm *it)
{
	return fc__w0_cas(fc__item_w0(it));
}
/* Writer-side lengths (mutex held: the writer alone stores them, and the
 * caller's fc__item_at/fc__chunk_owned checked them in bounds or they are
 * bounded before use). */
static inline uint32_t
fc__item_klen(const struct item_shm *it)
{
	return fc__w0_klen(fc__item_w0(it));
}
static inline uint32_t
fc__item_vlen(const struct item_shm *it)
{
	return fc__w1_vlen(fc__item_w1(it));
}
/* FC_IT_FREE / LIVE / LIMBO: the writer's record of the chunk. */
static inline unsigned
fc__item_state(const struct item_shm *it)
{
	return fc__w0_state(fc__item_w0(it));
}
/* Change the state of a chunk readers may still touch (LIVE -> LIMBO). */
static inline void
fc__item_set_state_locked(struct item_shm *it, unsigned s)
{
	fc__item_w0_update(it, FC_W0_STATE_MASK, (uint64_t)s << FC_W0_STATE_SHIFT);
}
/* A FREE chunk's link: the next free chunk's offset (0 = end of list). */
static inline uint64_t
fc__item_next_free(const struct item_shm *it)
{
	return fc__w0_cas(fc__item_w0(it)) << 3;
}
/* Make a chunk no reader can reach (after its grace period, A4, or never
 * published) FREE with link @p next; w1 zero. relaxed stores: no reader,
 * so nothing to order. */
static inline void
fc__item_set_free_locked(struct item_shm *it, uint64_t next)
{
	fc__st_rlx(&it->it_w0, ((uint64_t)FC_IT_FREE << FC_W0_STATE_SHIFT) |
				       ((next >> 3) & FC_W0_CAS_MASK));
	fc__st_rlx(&it->it_w1, 0);
}
/* A chunk just popped off its free list: LIVE, nothing else yet (the
 * writer fills it before publishing; no reader can reach it). */
static inline void
fc__item_set_popped_locked(struct item_shm *it)
{
	fc__st_rlx(&it->it_w0, (uint64_t)FC_IT_LIVE << FC_W0_STATE_SHIFT);
	fc__st_rlx(&it->it_w1, 0);
}
/* S3-FIFO frequency, 0..FC_IT_FREQ_MAX. relaxed: a hint; readers bump it. */
static inline unsigned
fc__item_freq(const struct item_shm *it)
{
	return fc__w0_freq(fc__item_w0(it));
}
/* The reader's hit on the item of view @p v: frequency + 1, saturating at
 * FC_IT_FREQ_MAX. At most one CAS, against the word the view loaded, and none
 * once saturated, so a hot item's line stays shared between processes; a
 * failed CAS (another reader's bump, or the writer's update since the
 * view's load) is not retried: the count is lossy by design. relaxed: a
 * hint that orders nothing (the opening note above). */
static inline void
fc__item_hit(const struct fc_iview *v)
{
	if (~v->w0 & FC_W0_FREQ_MASK) /* below FC_IT_FREQ_MAX (both bits set) */
		(void)fc__cas_rlx(&v->it->it_w0, v->w0, v->w0 + (1ull << FC_W0_FREQ_SHIFT));
}
/* The writer's frequency store (a CAS loop against readers' bumps). */
static inline void
fc__item_freq_set_locked(struct item_shm *it, unsigned f)
{
	fc__item_w0_update(it, FC_W0_FREQ_MASK,
			   (uint64_t)(f > FC_IT_FREQ_MAX ? FC_IT_FREQ_MAX : f) << FC_W0_FREQ_SHIFT);
}
/* S3-FIFO probation flag (writer only). */
static inline int
fc__item_small(const struct item_shm *it)
{
	return (fc__item_w0(it) & FC_W0_SMALL) != 0;
}
static inline void
fc__item_set_small_locked(struct item_shm *it, int small)
{
	fc__item_w0_update(it, FC_W0_SMALL, small ? FC_W0_SMALL : 0);
}

static inline const char *
fc__item_key(const struct item_shm *it)
{
	return (const char *)(it + 1);
}
/* Writer side (the reader uses its view's val). */
static inline const char *
fc__item_val(const struct item_shm *it)
{
	return (const char *)(it + 1) + fc__item_klen(it);
}
/* The absolute expiry (TTL clock ms; 0 = never). relaxed: fc_touch may
 * change it concurrently; either value is one that some write stored. */
static inline uint64_t
fc__item_expiry(const fc_cache *c, const struct item_shm *it)
{
	return fc__w1_expiry(c, fc__item_w1(it));
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

/* The one copy-out (reads and iteration), inside a read section, from a
 * view (fc__item_view: each word loaded once and checked). With
 * @p with_key, copies key then value into @p buf (the key at buf, the value
 * right after it), else the value only; @p cap is buf's size. Sets *vlen
 * to the value's length, *cas (if not NULL) on success, and fills *meta
 * (if not NULL; key = buf or NULL, value = NULL unless copied). Returns
 * FC_OK or FC_ETRUNC (the value does not fit; *vlen is the length
 * needed). @p e is the view's expiry (fc__w1_expiry of v->w1), checked by
 * the caller against @p now. Inline: it is the hit path, and a plain get
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
	/* cas bits are written before publication (I2) and never after
	 * (P1): the view's load of w0 holds them. */
	if (meta) {
		meta->key = with_key ? buf : NULL;
		meta->klen = kl;
		meta->value = rc == FC_OK && buf ? buf + koff : NULL;
		meta->vlen = vl;
		meta->cas = fc__w0_cas(v->w0);
		meta->expire_ms = e;
		/* -1 means "never": a far expiry is clamped, never negative */
		meta->ttl_left_ms = !e ? -1 : e - now > (uint64_t)INT64_MAX ? INT64_MAX
									   : (int64_t)(e - now);
		meta->size_class = v->cls;
		meta->chunk_bytes = c->g.class_size[v->cls];
	}
	*vlen = vl;
	if (cas && rc == FC_OK)
		*cas = fc__w0_cas(v->w0);
	return rc;
}

/* Write a freshly allocated, unpublished chunk (I2: before publishing):
 * LIVE, frequency 0, not small; @p cas is cut to 48 bits, @p expire
 * (absolute, 0 = never) stored as fc__expiry_field. relaxed stores: no
 * reader can reach the chunk before the index's release store. */
static inline void
fc__item_fill(const fc_cache *c, struct item_shm *it, uint64_t cas, uint64_t expire,
	      const void *key, size_t klen, const void *val, size_t vlen)
{
	fc__st_rlx(&it->it_w0, (cas & FC_W0_CAS_MASK) | (uint64_t)klen << FC_W0_KLEN_SHIFT |
				       (uint64_t)FC_IT_LIVE << FC_W0_STATE_SHIFT);
	fc__st_rlx(&it->it_w1, (uint64_t)vlen << FC_W1_VLEN_SHIFT | fc__expiry_field(c, expire));
	memcpy((char *)(it + 1), key, klen);
	if (vlen)
		memcpy((char *)(it + 1) + klen, val, vlen);
}

/* The page map entry's class, as readers load it: once, relaxed (a page
 * changes class only while FREE, after a drain and a grace period, so a
 * reader inside its read section sees the class its item was written
 * under; pairs with the relaxed store in fc__slab_page_grab_locked, which
 * the bucket's release store orders before any item of the page is
 * published). */
static inline unsigned
fc__page_class(const fc_cache *c, uint64_t pg)
{
	return fc__ld16_rlx(&c->pages[pg].pm_class);
}

/* Inline: the read path's hot check, and fc__item_at's body. */
static inline int
fc__item_view(const fc_cache *c, uint64_t off, struct fc_iview *v)
{
	/* below pages_off, rel wraps to a huge value: one test for both ends */
	uint64_t rel = off - c->g.pages_off, pg = rel >> c->g.page_shift;
	if (pg >= c->g.npages || (off & 7))
		return -1;
	uint64_t in_page = rel & (c->g.page_bytes - 1);
	/* relaxed atomic loads: exactly one load each (the compiler may not
	 * load a plain field again later); the checks below and every use
	 * after them see the same values (finding 5 of issue #8). The class
	 * first: its chunk (>= FC_ITEM_HDR bytes) inside the page keeps the
	 * header loads inside it too. */
	uint32_t cls = fc__page_class(c, pg);
	if (cls >= c->g.nclasses)
		return -1;
	uint64_t csz = c->g.class_size[cls];
	if (in_page + csz > c->g.page_bytes)
		return -1;
	struct item_shm *it = fc__ptr(c, off);
	uint64_t w0 = fc__item_w0(it), w1 = fc__item_w1(it);
	uint32_t kl = fc__w0_klen(w0), vl = fc__w1_vlen(w1);
	if (kl == 0 || kl > FC_KEY_MAX || FC_ITEM_HDR + (uint64_t)kl + vl > csz)
		return -1;
	v->it = it;
	v->key = (const char *)(it + 1);
	v->val = v->key + kl;
	v->klen = kl;
	v->vlen = vl;
	v->cls = cls;
	v->w0 = w0;
	v->w1 = w1;
	return 0;
}

#endif /* FC_ITEM_H */
