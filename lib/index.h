/*
 * index.h - the key -> item table (lib/index.c): bucket words, the
 *           lock-free read side and the writer side.
 */
#ifndef FC_INDEX_H
#define FC_INDEX_H

#include <string.h>

#include "internal.h"
#include "item.h"

static inline uint64_t *
fc__index(const fc_cache *c, unsigned which)
{
	return (uint64_t *)(c->base + c->g.index_off[which & 1]);
}
/*
 * A bucket (pos) is one 64-bit word, 0..nbuckets-1; a LINE is FC_IX_WAYS
 * consecutive buckets from a multiple of FC_IX_WAYS (one 64-byte cache
 * line: the arrays are 4096-aligned). Every key's home is a line start.
 */
/* Home: the first bucket of a line chosen by multiply-shift of the low 32
 * hash bits (the tag uses the top 16, so tag and home are independent). */
static inline uint64_t
fc__bk_home(const fc_cache *c, uint64_t hash)
{
	return (((hash & 0xffffffffull) * c->g.nlines) >> 32) * FC_IX_WAYS;
}
static inline uint64_t
fc__bk_next(const fc_cache *c, uint64_t i)
{
	return i + 1 < c->g.nbuckets ? i + 1 : 0;
}
static inline uint64_t
fc__bk_prev(const fc_cache *c, uint64_t i)
{
	return i ? i - 1 : c->g.nbuckets - 1;
}
/* The tag: the top 15 hash bits above a 1 (so 1 false match in 32768
 * per word compared), never 0, so EMPTY (0) and TOMB (1), whose tag bits
 * are 0, never match a key's tag. Two instructions. */
static inline uint64_t
fc__bk_tag(uint64_t hash)
{
	return (hash >> FC_BK_TAGSHIFT) | 1;
}
static inline uint64_t
fc__bk_word(uint64_t hash, uint64_t off)
{
	return (fc__bk_tag(hash) << FC_BK_TAGSHIFT) | (off >> 3);
}
static inline uint64_t
fc__bk_off(uint64_t w)
{
	return (w & FC_BK_OFFMASK) << 3;
}
static inline int
fc__bk_live(uint64_t w)
{
	return w > FC_BK_TOMB;
}

/* --- lock-free read side: call inside a read section (readers.h) --- */

/* The array readers use now (acquire), or NULL if the selector is bad. */
static inline const uint64_t *
fc__index_read_table(fc_cache *c)
{
	/* Acquire: pairs with the release store of hd_ix_sel in
	 * fc__index_rebuild_locked, so the array we probe is complete. */
	uint64_t sel = fc__ld_acq(&c->hdr->hd_ix_sel);

	return sel > 1 ? NULL : fc__index(c, (unsigned)sel);
}

/* Key equality for the read path, inline and without a branch per
 * block: 8-byte blocks XORed and ORed together, the last block loaded so
 * that it ends at the key's end (overlapping the one before: n >= 8 needs
 * no tail loop), and 4-byte or byte loads the same way for n < 8. For 16-
 * to 40-byte keys about half the instructions of the library memcmp
 * call. @p a is the item's key (shared memory; the view checked that @p n
 * bytes lie inside the chunk). */
static inline uint64_t
fc__ld64_una(const char *p)
{
	uint64_t x;

	memcpy(&x, p, 8);
	return x;
}
static inline uint32_t
fc__ld32_una(const char *p)
{
	uint32_t x;

	memcpy(&x, p, 4);
	return x;
}
static inline int
fc__key_eq(const char *a, const char *b, size_t n)
{
	if (n >= 8) {
		uint64_t d = fc__ld64_una(a + n - 8) ^ fc__ld64_una(b + n - 8);
		for (size_t i = 0; i + 8 < n; i += 8)
			d |= fc__ld64_una(a + i) ^ fc__ld64_una(b + i);
		return d == 0;
	}
	if (n >= 4)
		return ((fc__ld32_una(a) ^ fc__ld32_una(b)) |
			(fc__ld32_una(a + n - 4) ^ fc__ld32_una(b + n - 4))) == 0;
	/* n is 1..3: first, middle and last byte cover them all. */
	return ((a[0] ^ b[0]) | (a[n / 2] ^ b[n / 2]) | (a[n - 1] ^ b[n - 1])) == 0;
}

/* The live item under (h, key): FC_OK (*out set), FC_ENOTFOUND, or
 * FC_ECORRUPT (bad selector or bucket). Does not look at the TTL. Inline:
 * it is the read path. From the first word of the home line, word by word
 * until EMPTY (I3): a lookup at up to 90% load mostly reads one line. A
 * tag match on a miss is rare (1 in 32768 per word): its branch predicts
 * well. */
static inline int
fc__index_find(fc_cache *c, uint64_t h, const void *key, size_t klen,
	       struct fc_iview *out)
{
	const uint64_t *ix = fc__index_read_table(c);
	if (!ix)
		return FC_ECORRUPT;
	uint64_t i = fc__bk_home(c, h);
	uint64_t tag = fc__bk_tag(h);

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
		if ((w >> FC_BK_TAGSHIFT) != tag)
			continue; /* also TOMB: its tag bits are 0 */
		if (fc__item_view(c, fc__bk_off(w), out) != 0)
			return FC_ECORRUPT;
		if (out->klen == klen && fc__key_eq(out->key, key, klen))
			return FC_OK;
	}
	return FC_ENOTFOUND;
}

/* The next live bucket at *pos .. stop-1 of @p ix: FC_OK with *out and
 * *pos at it, FC_ENOTFOUND (*pos = stop or nbuckets), FC_ECORRUPT. */
int fc__index_next_live(fc_cache *c, const uint64_t *ix, uint64_t *pos, uint64_t stop,
			struct fc_iview *out);

/* --- expiry summaries (writer side; index.c I6) --- */

/* Summary words of array @p which: one uint32 per line. */
static inline uint32_t *
fc__ix_exp(const fc_cache *c, unsigned which)
{
	return (uint32_t *)(c->base + c->g.exp_off[which & 1]);
}
/* The summary key of TTL-clock time @p ms: larger is sooner, >= 1 (16 ms
 * ticks since the segment's creation, counted down from UINT32_MAX, so
 * 0 can mean "nothing expires" and a fresh zeroed array is right). */
static inline uint32_t
fc__exp_key(const fc_cache *c, uint64_t ms)
{
	uint64_t t0 = c->created_ms; /* validated copy of hd_created_ms */
	uint64_t t = ms > t0 ? (ms - t0) >> FC_EXP_TICK_SHIFT : 0;

	if (t > UINT32_MAX - 1)
		t = UINT32_MAX - 1;
	return (uint32_t)(UINT32_MAX - t);
}
/* The key of when an item with expiry @p expire_ms may be reclaimed (its
 * stale window passed); 0 for no expiry. */
static inline uint32_t
fc__exp_item_key(const fc_cache *c, uint64_t expire_ms)
{
	if (!expire_ms)
		return 0;
	uint64_t r = expire_ms + c->stale_ms;
	return fc__exp_key(c, r < expire_ms ? UINT64_MAX : r);
}
/* Raise the summary of the line holding bucket @p pos of the live array
 * to cover an item expiring at @p expire_ms: call BEFORE the store that
 * publishes the item or its new expiry (a crash in between leaves the
 * summary early, which costs one visit, never late). */
void fc__index_exp_note_locked(fc_cache *c, uint64_t pos, uint64_t expire_ms);
/* Recompute every summary of the live array from its items (repair). */
void fc__index_exp_rebuild_locked(fc_cache *c);

/* --- writer side: writer mutex held --- */

struct fc_probe {
	uint64_t pos;               /* bucket of the key, or UINT64_MAX */
	uint64_t ins;               /* first reusable bucket on the way */
	struct item_shm *it;        /* the item at pos */
	int expired;                /* the item at pos is past its TTL */
	uint64_t word;              /* the bucket word at pos when probed */
	uint64_t table;             /* hd_rebuilds << 1 | hd_ix_sel then */
};
int fc__index_probe_locked(fc_cache *c, uint64_t h, const void *key, size_t klen,
			   uint64_t now, struct fc_probe *p);
/* Bring a probe up to date after the writer did other index work in
 * between (an allocation that evicted or compacted), without probing
 * again unless the table was rebuilt: FC_OK, or the probe's errors. The
 * key's old item may have been evicted (then pos becomes the insertion
 * bucket) or moved by compaction (then it follows the move). */
int fc__index_revalidate_locked(fc_cache *c, uint64_t h, const void *key, size_t klen,
				uint64_t now, struct fc_probe *p);
/* Publish chunk @p off (fully written, I2) under hash @p h at the bucket
 * the probe found: over p->pos (the old item is then the caller's to
 * retire) or at p->ins. */
void fc__index_publish_locked(fc_cache *c, const struct fc_probe *p, uint64_t h,
			      uint64_t off);
/* Point bucket @p pos, which references a live item, at chunk @p off: an
 * exact copy of that item (same key, so the same tag), fully written. One
 * release store; the old chunk is then the caller's to retire. Page
 * compaction (rebalance.c) moves items with it. */
void fc__index_repoint_locked(fc_cache *c, uint64_t pos, uint64_t off);
/* Unlink bucket @p pos (TOMB, or EMPTY with the tombstones before it). */
void fc__index_unlink_locked(fc_cache *c, uint64_t pos);
/* Unlink bucket @p pos and retire its item @p it into limbo (slab.c). */
int fc__index_remove_locked(fc_cache *c, uint64_t pos, struct item_shm *it);
/* The bucket that references chunk @p off (found through its key's
 * chain): FC_OK with *it and *pos, or FC_ECORRUPT (repair marked). */
int fc__index_find_chunk_locked(fc_cache *c, uint64_t off, struct item_shm **it,
				uint64_t *pos);
/* Compact into the spare array and flip the selector; FC_EBUSY if the
 * spare is still in use by readers after the wait budget. */
int fc__index_rebuild_locked(fc_cache *c);

#endif /* FC_INDEX_H */
