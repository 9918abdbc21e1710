/*
 * index.c - the open-addressing table that maps keys to items: the
 *           lock-free read side (find, scan) and the writer side (probe,
 *           publish, revalidate, unlink, remove, rebuild). Nothing else
 *           stores a bucket word or the selector.
 *
 * DESIGN       Linear probing from line-aligned homes. The array is
 *              nbuckets 64-bit bucket words [tag:16 | offset/8:48] in
 *              LINES of FC_IX_WAYS = 8 words, one 64-byte cache line
 *              each. A key's home is the FIRST word of a line (multiply-
 *              shift of the low hash bits over the lines), and its probe
 *              runs word by word from there to the first EMPTY word. So a
 *              line is a bucket of 8 entries that overflows into the next
 *              line only when full: at 90% load a lookup mostly reads one
 *              cache line (bucketized linear probing; with one-word homes
 *              every probe that starts late in a line crosses into the
 *              next), and misses rarely touch an item (16-bit tags with the
 *              low bit set: 1 false match in 32768 per word; EMPTY and
 *              TOMB have tag bits 0). Load (live + TOMB) may reach FC_INDEX_HI_PCT = 90%.
 *              EMPTY (0) ends a probe; TOMB (1) does not. Delete stores a
 *              tombstone, or EMPTY when the next bucket is EMPTY (then
 *              trailing tombstones before it become EMPTY too: no probe
 *              can run through them). Insert takes the first non-live
 *              bucket on the probe. A set probes once: what its own
 *              allocation changes meanwhile (evictions, compaction) is
 *              caught by fc__index_revalidate_locked without probing
 *              again. Rebuild builds the spare array from the live one
 *              (dropping tombstones) and publishes it by one release
 *              store of hd_ix_sel; the old array is reused only after a
 *              grace period (hd_spare_epoch), so readers never stop.
 *              Removing an item is unlink here, then retire (slab.c);
 *              choosing victims is evict.c (through the eviction policy:
 *              never by where a bucket is).
 * INVARIANTS   I1 A bucket is EMPTY, TOMB, or tag+offset of a LIVE item
 *                 whose key hashes to that tag (fc__bk_tag).
 *              I2 Every byte of an item is written before its offset is
 *                 published (release store; readers load with acquire).
 *              I3 For a live key K at bucket q with home h (a line
 *                 start), no bucket in [h, q) (cyclically) is EMPTY.
 *              I4 One live bucket per key, one bucket per chunk.
 *              I5 hd_ix_used = buckets not EMPTY, hd_ix_tombs = TOMB ones.
 *              I6 Expiry summaries: for each line of the live array, its
 *                 uint32 summary >= fc__exp_item_key of every live item
 *                 in the line (the key of its expiry + stale window: larger
 *                 is sooner, 0 = no expiry), and hd_exp_max >= every line
 *                 summary. Raised before the store that needs it (publish,
 *                 fc_touch); lowered only by the line's sweep after it
 *                 looked at all 8 words (evict.c). So a line whose summary
 *                 is below the key of now holds nothing to reclaim, and
 *                 the sweep skips it with one 4-byte read.
 * CONCURRENCY  bucket words  writer, mutex held, release | readers, acquire
 *              hd_ix_sel     writer, release           | readers, acquire
 *              summaries     writer only (relaxed: fc_verify reads them)
 *              A reader never misses a key that is present and not being
 *              written during its lookup: its word stays in its bucket q
 *              from publish to unlink (words never move within an array;
 *              a repoint rewrites the same bucket with the same tag), and
 *              no bucket in [h, q) is EMPTY at any moment (I3 holds after
 *              every single store: unlink stores EMPTY at x only when x+1
 *              is already EMPTY, so never inside [h, q)), so the reader's
 *              walk from h, whatever order it sees stores in, reaches q
 *              and loads the word. A rebuild writes only the OTHER array
 *              and frees the one a reader may be in only a grace period
 *              after the flip. A found item stays intact until all
 *              readers leave its epoch (readers.c).
 * CRASHES      Every step is one aligned store, each leaving I1-I3 true:
 *              a killed writer leaves at worst an unreferenced chunk (a
 *              leak, fixed by the repair rebuild), tombstones that could
 *              have been EMPTY (harmless), or a half-built spare array,
 *              which nobody reads until a later complete rebuild.
 * LIMITS       A probe visits at most nbuckets buckets. Load (used = live
 *              + TOMB) is kept below FC_INDEX_HI_PCT percent: by a rebuild
 *              when tombstones fill it, else by evicting items through the
 *              eviction policy (evict.c).
 */
#include <string.h>

#include "fault.h"
#include "index.h"
#include "item.h"
#include "segment.h"
#include "slab.h"

static uint64_t *
live_index(fc_cache *c)
{
	/* Writer-only store; relaxed load under the mutex is exact. */
	return fc__index(c, (unsigned)(fc__ld_rlx(&c->hdr->hd_ix_sel) & 1));
}

/* ------------------------------------------------------------ reads -- */

int
fc__index_next_live(fc_cache *c, const uint64_t *ix, uint64_t *pos, uint64_t stop,
		    struct fc_iview *out)
{
	for (; *pos < c->g.nbuckets && *pos < stop; ++*pos) {
		/* Acquire: pairs with the publishing store (I2). */
		uint64_t w = fc__ld_acq(&ix[*pos]);
		if (!fc__bk_live(w))
			continue;
		return fc__item_view(c, fc__bk_off(w), out) == 0 ? FC_OK : FC_ECORRUPT;
	}
	return FC_ENOTFOUND;
}

/* ----------------------------------------------------------- writes -- */

/* Which table a probe ran against: a rebuild (or a repair's) changes it. */
static uint64_t
table_id(fc_cache *c)
{
	return fc__ld_rlx(&c->hdr->hd_rebuilds) << 1 | (fc__ld_rlx(&c->hdr->hd_ix_sel) & 1);
}

int
fc__index_probe_locked(fc_cache *c, uint64_t h, const void *key, size_t klen,
		       uint64_t now, struct fc_probe *p)
{
	uint64_t *ix = live_index(c);
	uint64_t i = fc__bk_home(c, h), tag = fc__bk_tag(h);

	p->pos = p->ins = UINT64_MAX;
	p->it = NULL;
	p->expired = 0;
	p->word = 0;
	p->table = table_id(c);
	for (uint64_t n = 0; n < c->g.nbuckets; n++, i = fc__bk_next(c, i)) {
		uint64_t w = fc__ld_rlx(&ix[i]);
		if (!fc__bk_live(w)) {
			if (p->ins == UINT64_MAX)
				p->ins = i;
			if (w == FC_BK_EMPTY)
				return FC_OK; /* I3: the key is not further on */
			continue;
		}
		if ((w >> FC_BK_TAGSHIFT) != tag)
			continue;
		struct item_shm *it = fc__item_at(c, fc__bk_off(w));
		if (!it) {
			c->hdr->hd_needs_repair = 1;
			return FC_ECORRUPT;
		}
		if (fc__item_klen(it) == klen && memcmp(fc__item_key(it), key, klen) == 0) {
			p->pos = i;
			p->it = it;
			p->expired = fc__expired(fc__item_expiry(c, it), now);
			p->word = w;
			return FC_OK;
		}
	}
	return FC_OK;
}

/* Back from non-live bucket @p i over the non-live buckets right before
 * it, but not past the home line start @p home. */
static uint64_t
earliest_free(fc_cache *c, const uint64_t *ix, uint64_t home, uint64_t i)
{
	for (uint64_t n = 0; i != home && n < c->g.nbuckets; n++) {
		uint64_t j = fc__bk_prev(c, i);
		if (fc__bk_live(fc__ld_rlx(&ix[j])))
			break;
		i = j;
	}
	return i;
}

/*
 * Between the probe and the publish, the writer itself may have changed
 * the index (the allocation evicts, compacts, drains), but never by
 * storing a live word for another key (only this write publishes), so
 * the key is still absent if it was, or in the same bucket, which holds
 * the same word, a moved copy (compaction keeps the tag and the bucket:
 * the only live word that can appear there), or TOMB/EMPTY (evicted).
 * The buckets [home, ins) were all live when probed; an unlink among them
 * stored TOMB, or EMPTY only next to an EMPTY bucket, and only through a
 * run reaching ins (unlink's rule, and its trailing tombstones): so the
 * EMPTY buckets now before ins, if any, are the run just before it, and
 * moving ins back over the non-live buckets before it restores "no EMPTY
 * in [home, ins)" (I3 for the new word). A rebuild (index room) changes
 * the table: then probe again.
 */
int
fc__index_revalidate_locked(fc_cache *c, uint64_t h, const void *key, size_t klen,
			    uint64_t now, struct fc_probe *p)
{
	if (p->table != table_id(c))
		return fc__index_probe_locked(c, h, key, klen, now, p);
	const uint64_t *ix = live_index(c);
	if (p->pos != UINT64_MAX) {
		uint64_t w = fc__ld_rlx(&ix[p->pos]);
		if (w == p->word)
			return FC_OK;
		if (fc__bk_live(w)) {
			struct item_shm *it = fc__item_at(c, fc__bk_off(w));
			if (!it || (w >> FC_BK_TAGSHIFT) != (p->word >> FC_BK_TAGSHIFT)) {
				c->hdr->hd_needs_repair = 1;
				return FC_ECORRUPT;
			}
			p->it = it; /* compacted: an exact copy */
			p->word = w;
			return FC_OK;
		}
		p->ins = p->pos; /* evicted by the allocation */
		p->pos = UINT64_MAX;
		p->it = NULL;
		p->expired = 0;
		p->word = 0;
	}
	if (p->ins != UINT64_MAX)
		p->ins = earliest_free(c, ix, fc__bk_home(c, h), p->ins);
	return FC_OK;
}

void
fc__index_publish_locked(fc_cache *c, const struct fc_probe *p, uint64_t h, uint64_t off)
{
	struct hdr_shm *hd = c->hdr;
	uint64_t *ix = live_index(c);
	uint64_t word = fc__bk_word(h, off);

	/* I6 before the word: the summary may be early, never late. */
	fc__index_exp_note_locked(c, p->pos != UINT64_MAX ? p->pos : p->ins,
				  fc__item_expiry(c, fc__ptr(c, off)));
	if (p->pos != UINT64_MAX) {
		/*
		 * Publish over the old item: one store replaces it.
		 * Orders:       the item's bytes (written before) before the word.
		 * Pairs with:   the acquire load in fc__index_find (I2).
		 * If reordered: a reader could copy a half-written value.
		 */
		fc__st_rel(&ix[p->pos], word);
		FC_FAULT(SET_PUBLISHED);
		return;
	}
	int was_empty = fc__ld_rlx(&ix[p->ins]) == FC_BK_EMPTY;
	/* Same ordering as above: publish a new key (I2). */
	fc__st_rel(&ix[p->ins], word);
	FC_FAULT(SET_PUBLISHED);
	if (was_empty)
		FC_CTR_ADD(hd->hd_ix_used, 1);
	else
		FC_CTR_SUB(hd->hd_ix_tombs, 1);
}

void
fc__index_repoint_locked(fc_cache *c, uint64_t pos, uint64_t off)
{
	uint64_t *ix = live_index(c);
	uint64_t w = fc__ld_rlx(&ix[pos]);

	/*
	 * Move a live item to its copy: one store, tag kept (same key).
	 * Orders:       the copy's bytes (written before) before the word.
	 * Pairs with:   the acquire bucket load in fc__index_find (I2).
	 * If reordered: a reader could follow the new word into a chunk
	 *               still being written. A reader that loaded the old
	 *               word reads the old chunk, intact until its grace
	 *               period (the caller retires it after this store).
	 */
	fc__st_rel(&ix[pos], (w & ~FC_BK_OFFMASK) | (off >> 3));
}

void
fc__index_unlink_locked(fc_cache *c, uint64_t pos)
{
	uint64_t *ix = live_index(c);
	struct hdr_shm *h = c->hdr;

	/*
	 * Unlink: one store per bucket.
	 * Orders:       nothing before it needs ordering for readers (the
	 *               item stays intact); release keeps the unlink before
	 *               the retire's limbo stamp and any later epoch advance.
	 * Pairs with:   the acquire bucket loads in fc__index_find.
	 * If reordered: harmless for readers; the epoch FAA in reclaim is the
	 *               barrier that R1 relies on.
	 */
	if (fc__ld_rlx(&ix[fc__bk_next(c, pos)]) != FC_BK_EMPTY) {
		fc__st_rel(&ix[pos], FC_BK_TOMB);
		FC_CTR_ADD(h->hd_ix_tombs, 1);
		return;
	}
	/* The next bucket is EMPTY, so no probe passes pos (I3): EMPTY it,
	 * and the tombstones right before it, which now end nowhere. */
	fc__st_rel(&ix[pos], FC_BK_EMPTY);
	FC_CTR_SUB(h->hd_ix_used, 1);
	for (uint64_t j = fc__bk_prev(c, pos), n = 0;
	     n < c->g.nbuckets && fc__ld_rlx(&ix[j]) == FC_BK_TOMB;
	     j = fc__bk_prev(c, j), n++) {
		fc__st_rel(&ix[j], FC_BK_EMPTY); /* same ordering as above */
		FC_CTR_SUB(h->hd_ix_used, 1);
		FC_CTR_SUB(h->hd_ix_tombs, 1);
	}
}

int
fc__index_remove_locked(fc_cache *c, uint64_t pos, struct item_shm *it)
{
	fc__index_unlink_locked(c, pos);
	return fc__slab_retire_locked(c, it);
}

int
fc__index_find_chunk_locked(fc_cache *c, uint64_t off, struct item_shm **itp, uint64_t *pos)
{
	struct item_shm *it = fc__item_at(c, off);
	if (!it)
		return FC_ECORRUPT;
	uint64_t h = fc__hash(c, fc__item_key(it), fc__item_klen(it));
	uint64_t *ix = live_index(c);
	uint64_t want = fc__bk_word(h, off), i = fc__bk_home(c, h);

	for (uint64_t n = 0; n < c->g.nbuckets; n++, i = fc__bk_next(c, i)) {
		uint64_t w = fc__ld_rlx(&ix[i]);
		if (w == FC_BK_EMPTY)
			break;
		if (w == want) {
			*itp = it;
			*pos = i;
			return FC_OK;
		}
	}
	/* LIVE but unreachable: only a crash leaves this; repair fixes it. */
	c->hdr->hd_needs_repair = 1;
	return FC_ECORRUPT;
}

int
fc__index_rebuild_locked(fc_cache *c)
{
	struct hdr_shm *h = c->hdr;
	uint64_t B = c->g.nbuckets;

	if (h->hd_spare_epoch) {
		fc__reclaim_locked(c);
		if (h->hd_spare_epoch &&
		    fc__limbo_wait_locked(c, h->hd_spare_epoch) != FC_OK)
			return FC_EBUSY;
	}
	unsigned sel = (unsigned)(fc__ld_rlx(&h->hd_ix_sel) & 1);
	uint64_t *old = fc__index(c, sel), *nix = fc__index(c, sel ^ 1u);
	uint64_t live = 0;

	uint32_t *nexp = fc__ix_exp(c, sel ^ 1u), hi = 0;

	/* No reader is in the spare array (grace period above); nobody but
	 * the writer reads summaries. */
	memset(nix, 0, B * sizeof *nix);
	for (uint64_t l = 0; l < c->g.nlines; l++)
		fc__st32_rlx(&nexp[l], 0); /* relaxed: fc_verify's snapshot reads */
	for (uint64_t i = 0; i < B; i++) {
		/* Memory-bound (one random item read per live bucket, to hash
		 * its key): prefetch the item 16 buckets ahead, as repair does. */
		if (i + 16 < B) {
			uint64_t wa = fc__ld_rlx(&old[i + 16]);
			if (fc__bk_live(wa) && fc__bk_off(wa) >= c->g.pages_off &&
			    fc__bk_off(wa) < fc__pages_end(c))
				__builtin_prefetch(fc__ptr(c, fc__bk_off(wa)));
		}
		uint64_t w = fc__ld_rlx(&old[i]);
		if (!fc__bk_live(w))
			continue;
		struct item_shm *it = fc__item_at(c, fc__bk_off(w));
		if (!it)
			continue; /* damaged bucket: left behind */
		uint64_t hh = fc__hash(c, fc__item_key(it), fc__item_klen(it));
		uint64_t j = fc__bk_home(c, hh);
		while (nix[j] != FC_BK_EMPTY) /* live < B: one exists */
			j = fc__bk_next(c, j);
		nix[j] = w;
		uint32_t k = fc__exp_item_key(c, fc__item_expiry(c, it));
		if (k > fc__ld32_rlx(&nexp[j / FC_IX_WAYS]))
			fc__st32_rlx(&nexp[j / FC_IX_WAYS], k);
		if (k > hi)
			hi = k;
		live++;
		if (i == B / 2)
			FC_FAULT(REBUILD_HALF);
	}
	/* The old array becomes the spare; readers that took an epoch up to
	 * now may still be in it. Stamped before the flip, so a crash right
	 * after the flip still protects it. */
	h->hd_spare_epoch = fc__ld_rlx(&h->hd_epoch);
	/*
	 * Publish the new array.
	 * Orders:       every plain store that filled nix[] before the
	 *               selector.
	 * Pairs with:   the acquire load of hd_ix_sel in fc__index_read_table.
	 * If reordered: a reader could probe a half-filled array and miss
	 *               live items, or follow garbage.
	 */
	fc__st_rel(&h->hd_ix_sel, sel ^ 1u);
	FC_FAULT(REBUILD_FLIPPED);
	FC_CTR_SET(h->hd_ix_used, live);
	FC_CTR_SET(h->hd_ix_tombs, 0);
	FC_CTR_ADD(h->hd_rebuilds, 1);
	/* The new array's summaries: a killed writer leaves hd_exp_max high
	 * (early: harmless); the next pass lowers it. */
	FC_CTR_SET(h->hd_exp_max, hi);
	FC_CTR_SET(h->hd_exp_pass, hi);
	return FC_OK;
}

/* ----------------------------------------------------- expiry summary -- */

void
fc__index_exp_note_locked(fc_cache *c, uint64_t pos, uint64_t expire_ms)
{
	struct hdr_shm *h = c->hdr;
	uint32_t k = fc__exp_item_key(c, expire_ms);

	if (!k || pos >= c->g.nbuckets)
		return;
	uint32_t *e = &fc__ix_exp(c, (unsigned)fc__ld_rlx(&h->hd_ix_sel))[pos / FC_IX_WAYS];
	/* relaxed: writer-only words; fc_verify may read them lock-free. */
	if (k > fc__ld32_rlx(e))
		fc__st32_rlx(e, k);
	if (k > fc__ld_rlx(&h->hd_exp_max))
		FC_CTR_SET(h->hd_exp_max, k);
	if (k > fc__ld_rlx(&h->hd_exp_pass))
		FC_CTR_SET(h->hd_exp_pass, k);
}

void
fc__index_exp_rebuild_locked(fc_cache *c)
{
	struct hdr_shm *h = c->hdr;
	unsigned sel = (unsigned)(fc__ld_rlx(&h->hd_ix_sel) & 1);
	const uint64_t *ix = fc__index(c, sel);
	uint32_t *exp = fc__ix_exp(c, sel), hi = 0;

	for (uint64_t l = 0; l < c->g.nlines; l++) {
		uint32_t m = 0;
		for (unsigned k = 0; k < FC_IX_WAYS; k++) {
			uint64_t w = fc__ld_rlx(&ix[l * FC_IX_WAYS + k]);
			struct item_shm *it = fc__bk_live(w) ? fc__item_at(c, fc__bk_off(w)) : NULL;
			uint32_t e = it ? fc__exp_item_key(c, fc__item_expiry(c, it)) : 0;
			if (e > m)
				m = e;
		}
		fc__st32_rlx(&exp[l], m);
		if (m > hi)
			hi = m;
	}
	FC_CTR_SET(h->hd_exp_max, hi);
	FC_CTR_SET(h->hd_exp_pass, hi);
}
