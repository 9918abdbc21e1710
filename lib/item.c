/*
 * item.c - chunk and item access: the reader's bounds check, the writer's
 *          ownership check, filling an item, and the one copy-out.
 *
 * DESIGN       A chunk is a 24-byte item_shm header, then the key, then the
 *              value, inside one class-sized slot of one slab page. Two
 *              checks turn an untrusted offset into a pointer:
 *              fc__item_view (readers: bounds only, from the item's own
 *              class and lengths, each loaded once into a view that every
 *              later use reads; fc__item_at is the same check for callers
 *              that want the pointer only) and fc__chunk_owned (writers:
 *              the page map says this page belongs to the class and off is
 *              a chunk start). Every read that returns an item's bytes goes
 *              through fc__item_copy_out, from a view.
 * INVARIANTS   P1 A published item is never modified except it_expire_ms
 *                 (one atomic word, fc_touch) and the S3-FIFO bits in it_ref
 *                 (a hint: item.h).
 *              P2 A view from fc__item_view has key and value inside its
 *                 chunk, and its chunk inside one page, for the lengths it
 *                 holds; readers use only the view's lengths and class
 *                 (a process that writes the segment may change the
 *                 item's bytes at any moment: docs/design.md, threat
 *                 model).
 * CONCURRENCY  it_expire_ms: writer relaxed store | readers relaxed load.
 *              it_ref: readers bump the frequency by one relaxed CAS,
 *              the writer changes it by a CAS loop (item.h).
 *              Other fields: written before publication (index.c, I2).
 * CRASHES      A writer killed in fc__item_fill leaves an unpublished
 *              chunk: a leak the next repair frees.
 * LIMITS       Keys <= FC_KEY_MAX; an item fits one page.
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
	if (pm->pm_state == FC_PG_FREE || pm->pm_class != cls)
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
	/* relaxed: a single word readers load atomically; either the old or
	 * the new expiry is a correct answer during the call. */
	uint64_t old = fc__item_expiry(it);

	fc__st_rlx(&it->it_expire_ms, expire);
	if (!old != !expire) {
		if (expire)
			FC_CTR_ADD(c->hdr->hd_ttl_items, 1);
		else
			FC_CTR_SUB(c->hdr->hd_ttl_items, 1);
	}
}
