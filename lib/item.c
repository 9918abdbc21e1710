/*
 * item.c - chunk and item access: the reader's bounds check, the writer's
 *          ownership check, filling an item, and the one copy-out.
 *
 * DESIGN       A chunk is a 16-byte item_shm header (two words: cas, key
 *              length, state and S3-FIFO bits in it_w0; expiry and value
 *              length in it_w1; every bit is listed at struct item_shm in
 *              internal.h), then the key, then the value, inside one
 *              class-sized slot of one slab page. The class is not stored
 *              in the item: it is the page map's pm_class. Only item.h
 *              knows the bits; everyone else uses its accessors.
 *              Two checks turn an untrusted offset into a pointer:
 *              fc__item_view (readers: bounds only, from the page's class
 *              and the item's lengths, each loaded once into a view that
 *              every later use reads; fc__item_at is the same check for
 *              callers that want the pointer only) and fc__chunk_owned
 *              (writers: the page map says this page belongs to the class
 *              and off is a chunk start). Every read that returns an item's
 *              bytes goes through fc__item_copy_out, from a view.
 * INVARIANTS   P1 A published item is never modified except it_w1's expiry
 *                 (one atomic word, fc_touch, same vlen), it_w0's S3-FIFO
 *                 bits (readers' frequency bump; the writer's frequency and
 *                 small flag) and it_w0's state (LIVE -> LIMBO on unlink).
 *                 cas and klen never change while readers may see it.
 *              P2 A view from fc__item_view has key and value inside its
 *                 chunk, and its chunk inside one page, for the lengths it
 *                 holds; readers use only the view's lengths and class
 *                 (a process that writes the segment may change the
 *                 item's bytes at any moment: docs/design.md, threat
 *                 model).
 *              P3 A page's pm_class changes only while the page is FREE
 *                 (slab.c A3): a reader holding an item found in its read
 *                 section sees the class the item was written under.
 * CONCURRENCY  it_w0: readers CAS the frequency bits (relaxed, lossy);
 *              the writer changes a published w0 only by a relaxed CAS
 *              loop (fc__item_w0_update), so neither side's bits are lost.
 *              it_w1: writer relaxed stores | readers relaxed load.
 *              pm_class: writer relaxed store (page grab) | readers
 *              relaxed load. Unpublished chunks: plain relaxed stores,
 *              ordered before readers see them by the bucket's release
 *              store (index.c, I2).
 * CRASHES      A writer killed in fc__item_fill leaves an unpublished
 *              chunk: a leak the next repair frees. A CAS loop killed
 *              midway leaves the word old or new, never torn.
 * LIMITS       Keys <= FC_KEY_MAX; an item fits one page; values < 16 MiB;
 *              expiry within 2^40 ms (34.8 years) of the segment's
 *              creation (clamped); cas 48 bits (wraps after 2.8e14 writes).
 */
#include <string.h>

#include "item.h"
#include "segment.h"

struct item_shm *
fc__item_at(const fc_cache *c, uint64_t off)
{
	struct fc_iview v;

	return fc__item_view(c, off, &v) == 0 ? v.it : NULL;
}

struct item_shm *
fc__chunk_owned(const fc_cache *c, uint64_t off, unsigned cls)
{
	if (off < c->g.pages_off || off >= fc__pages_end(c) || cls >= c->g.nclasses)
		return NULL;
	uint64_t pg = fc__page_of(c, off);
	const struct page_shm *pm = &c->pages[pg];
	if (pm->pm_state == FC_PG_FREE || fc__page_class(c, pg) != cls)
		return NULL;
	uint64_t in_page = off - fc__page_start(c, pg);
	if (in_page % c->g.class_size[cls] ||
	    in_page / c->g.class_size[cls] >= c->g.class_per_page[cls])
		return NULL;
	return fc__ptr(c, off);
}

void
fc__item_set_expiry_locked(fc_cache *c, struct item_shm *it, uint64_t expire)
{
	uint64_t w1 = fc__item_w1(it);
	uint64_t old = w1 & FC_W1_EXP_MASK, neu = fc__expiry_field(c, expire);

	/* relaxed: one word (vlen unchanged) readers load whole; either the
	 * old or the new expiry is a correct answer during the call. */
	fc__st_rlx(&it->it_w1, (w1 & ~FC_W1_EXP_MASK) | neu);
	if (!old != !neu) {
		if (neu)
			FC_CTR_ADD(c->hdr->hd_ttl_items, 1);
		else
			FC_CTR_SUB(c->hdr->hd_ttl_items, 1);
	}
}
