/*
 * fifo.c - S3-FIFO's side structures (Yang et al., SOSP '23): the small
 *          (probationary) queue's ring and the ghost of hashed tags. The
 *          policy that uses them is evict.c's.
 *
 * DESIGN       S3-FIFO keeps three FIFOs: a small queue S (~10% of the
 *              items) where new keys wait on probation, a main queue M with
 *              reinsertion on a 2-bit frequency, and a ghost G of keys S
 *              evicted unread. Readers only bump the frequency (item.h,
 *              one lossy CAS, none once saturated); every queue move is the
 *              writer's. Items have no room for links (the 16-byte header
 *              of internal.h), so:
 *              - M is a CLOCK over each class's chunks (evict.c): the hand
 *                skips small items, spends one unit of frequency on a read
 *                item (FIFO reinsertion), evicts an unread one. A CLOCK with
 *                a 2-bit counter is the known equivalent of a FIFO with
 *                reinsertion.
 *              - S is the ring here: fifo_cap entries of [cas bits 0-23 :
 *                24 | chunk offset / 8 : 40] in insertion order, cursors
 *                hd_fifo_head (oldest) and hd_fifo_tail (next free), both
 *                monotonic. An item is in S iff it carries the small flag
 *                (item.h). An entry whose chunk is no longer that item
 *                (deleted, overwritten, evicted, moved: not LIVE, no small
 *                flag, or other cas bits) is stale and dropped when it
 *                reaches the head. A push into a full ring first moves the
 *                oldest live small item to M (never evicts: pushes happen
 *                while allocating, and the cache may not be full). If it
 *                was unread, S3-FIFO would have evicted it from S: the
 *                debt hd_fifo_debt counts it, and evict.c repays the debt
 *                with victims of M's CLOCK before it turns to S (else a
 *                stream of new keys, S always over its share, would never
 *                run M's hand and such items would stay for good).
 *              Admission (a set, before publishing): an overwrite of a
 *              live key is an access - the new item goes to M with the old
 *              frequency + 1, as S3-FIFO moves a read item out of S; a key
 *              the ghost remembers goes to M; any other key enters S.
 *              - G is ghost_sets sets of 4 tags of 32 bits: [16-bit key
 *                fingerprint : 16-bit stamp]. The stamp is the ghost
 *                clock (hd_ghost_clock, one tick per tag added) in units of
 *                2^q ticks, q chosen so 2^16 units cover 4 x the tags. A
 *                tag is live while its age in ticks <= the main queue's
 *                item count (hd_items - hd_fifo_small: S3-FIFO's ghost is
 *                as long as M), so the ghost follows the items actually
 *                held, whatever their size. Adding replaces the set's
 *                oldest (or empty) tag; a hit uses the tag up.
 *              Memory: ring 8 B x nbuckets/4 and ghost 4 B x (nbuckets/4
 *              .. nbuckets/2): 3-4 bytes per index bucket, 4-5.3 bytes per
 *              item at the index's 75% load cap; plus 3 bits of the item
 *              header (frequency, small flag).
 * INVARIANTS   F1 hd_fifo_small = LIVE items with the small flag.
 *              F2 hd_fifo_tail - hd_fifo_head <= fifo_cap.
 *              F3 Every LIVE item with the small flag has an entry in
 *                 [head, tail) that names it (so S drains: an item cannot
 *                 stay on probation forever). Kept by pushing before the
 *                 flag is set, and by clearing the flag (promote, or evict
 *                 through retire) of every item popped.
 *              Entries' contents and the ghost are hints: any value is
 *              safe (checked before use, or only ever a hint).
 * CONCURRENCY  Writer only (hd_mutex). Readers never read the ring or the
 *              ghost; they change only the frequency bits (item.h).
 *              fc_verify reads the cursors lock-free (relaxed loads; a
 *              torn pair fails its sequence check).
 * CRASHES      A writer killed between an entry's store and the tail's
 *              advance (fault point fifo.push) leaves an entry outside the
 *              ring: ignored. Killed after a pop, before the item's flag
 *              is cleared (fifo.promote: flag cleared, count not yet), F1
 *              or F3 may be broken: every writer death is repaired
 *              (repair.c), which empties the ring by one store, clears
 *              every live item's small flag and recounts F1: all items
 *              are in M afterwards, which costs some hit ratio, never
 *              memory. Repair also empties it when F2 fails.
 * LIMITS       A pop drops at most the ring's stale entries; a push moves
 *              at most one item; a ghost lookup or add reads one 16-byte
 *              set.
 */
#include <string.h>

#include "fault.h"
#include "fifo.h"
#include "item.h"
#include "segment.h"

#define FC_FIFO_OFF_BITS 40
#define FC_FIFO_OFF_MASK ((1ull << FC_FIFO_OFF_BITS) - 1)
#define FC_FIFO_CHECK_MASK 0xffffffull /* cas bits kept in an entry */
#define FC_GHOST_WAYS 4u

static uint64_t
entry_of(const fc_cache *c, const struct item_shm *it)
{
	return (fc__off_of(c, it) / 8) | (fc__item_cas(it) & FC_FIFO_CHECK_MASK) << FC_FIFO_OFF_BITS;
}

/* The live small item entry @p e names, or NULL if it is stale. */
static struct item_shm *
entry_item(fc_cache *c, uint64_t e)
{
	uint64_t off = (e & FC_FIFO_OFF_MASK) * 8;
	struct fc_iview v; /* class from the page map, lengths checked */

	if (fc__item_view(c, off, &v) != 0 || !fc__chunk_owned(c, off, v.cls) ||
	    fc__w0_state(v.w0) != FC_IT_LIVE || !fc__item_small(v.it) ||
	    (fc__w0_cas(v.w0) & FC_FIFO_CHECK_MASK) != e >> FC_FIFO_OFF_BITS)
		return NULL;
	return v.it;
}

struct item_shm *
fc__fifo_pop_locked(fc_cache *c)
{
	struct hdr_shm *h = c->hdr;
	uint64_t tail = h->hd_fifo_tail;

	if (!fc__fifo_cursors_ok(c, h->hd_fifo_head, tail)) {
		h->hd_needs_repair = 1; /* F2: repair empties the ring */
		return NULL;
	}
	while (h->hd_fifo_head != tail) {
		uint64_t e = c->fifo[h->hd_fifo_head % c->g.fifo_cap];
		/* One store retires the entry (fc_verify reads it relaxed). */
		FC_CTR_ADD(h->hd_fifo_head, 1);
		struct item_shm *it = entry_item(c, e);
		if (it)
			return it;
	}
	return NULL;
}

void
fc__fifo_promote_locked(fc_cache *c, struct item_shm *it)
{
	fc__item_set_small_locked(it, 0);
	FC_FAULT(FIFO_PROMOTE);
	FC_CTR_SUB(c->hdr->hd_fifo_small, 1);
}

/* Append @p it to the ring and flag it (F3: entry first, then flag). */
static void
enter_small(fc_cache *c, struct item_shm *it, int unpublished)
{
	struct hdr_shm *h = c->hdr;

	if (!fc__fifo_cursors_ok(c, h->hd_fifo_head, h->hd_fifo_tail)) {
		h->hd_needs_repair = 1; /* F2 */
		return;                 /* the item stays in M */
	}
	while (h->hd_fifo_tail - h->hd_fifo_head >= c->g.fifo_cap) {
		/* Full: the oldest live small item moves to M (no eviction
		 * here: we may be allocating). */
		struct item_shm *old = fc__fifo_pop_locked(c);
		if (!old)
			break;
		if (!fc__item_freq(old))
			h->hd_fifo_debt++; /* evict.c repays it from M */
		fc__fifo_promote_locked(c, old);
	}
	c->fifo[h->hd_fifo_tail % c->g.fifo_cap] = entry_of(c, it);
	FC_FAULT(FIFO_PUSH);
	/* relaxed: fc_verify reads the cursors lock-free; one store each. */
	FC_CTR_ADD(h->hd_fifo_tail, 1);
	if (unpublished)
		fc__item_s3_init_locked(it, 0, 1);
	else
		fc__item_set_small_locked(it, 1);
	FC_CTR_ADD(h->hd_fifo_small, 1);
}

/* ------------------------------------------------------------- ghost -- */

/* The stamp unit 2^q: 2^16 units cover 4 x the tags (ghost_sets is a
 * power of two, >= 16: geometry). */
static unsigned
ghost_q(const fc_cache *c)
{
	unsigned lg = (unsigned)__builtin_ctzll(c->g.ghost_sets * FC_GHOST_WAYS * 4);

	return lg > 16 ? lg - 16 : 0;
}

static uint32_t *
ghost_set(fc_cache *c, uint64_t h)
{
	return c->ghost + ((h >> 32) & (c->g.ghost_sets - 1)) * FC_GHOST_WAYS;
}

static uint32_t
ghost_fp(uint64_t h)
{
	uint32_t fp = (uint32_t)(h >> 16) & 0xffff;

	return fp ? fp : 1; /* a tag is never 0 (0 = empty) */
}

/* Age in ghost ticks of tag @p t (rounded down to 2^q). */
static uint64_t
ghost_age(uint64_t units_now, unsigned q, uint32_t t)
{
	return ((units_now - (t & 0xffff)) & 0xffff) << q;
}

/* Is the key of hash @p h in the ghost? Its tag is used up. */
static int
ghost_hit(fc_cache *c, uint64_t h)
{
	struct hdr_shm *hd = c->hdr;
	uint32_t *set = ghost_set(c, h), fp = ghost_fp(h);
	unsigned q = ghost_q(c);
	uint64_t units = hd->hd_ghost_clock >> q;
	uint64_t main = hd->hd_items > hd->hd_fifo_small ? hd->hd_items - hd->hd_fifo_small : 0;

	for (unsigned w = 0; w < FC_GHOST_WAYS; w++) {
		uint32_t t = set[w];
		if (t && t >> 16 == fp && ghost_age(units, q, t) <= main) {
			set[w] = 0;
			return 1;
		}
	}
	return 0;
}

void
fc__fifo_ghost_add_locked(fc_cache *c, uint64_t h)
{
	struct hdr_shm *hd = c->hdr;
	uint32_t *set = ghost_set(c, h);
	unsigned q = ghost_q(c), pick = 0;
	uint64_t units = hd->hd_ghost_clock >> q, oldest = 0;

	for (unsigned w = 0; w < FC_GHOST_WAYS; w++) {
		uint64_t a = set[w] ? ghost_age(units, q, set[w]) : UINT64_MAX;
		if (a >= oldest) {
			oldest = a;
			pick = w;
		}
	}
	set[pick] = ghost_fp(h) << 16 | (uint32_t)(units & 0xffff);
	hd->hd_ghost_clock++;
}

/* ---------------------------------------------------------- admission -- */

void
fc__fifo_admit_new_locked(fc_cache *c, struct item_shm *it, uint64_t h)
{
	if (ghost_hit(c, h))
		return; /* seen lately: straight into M (fill left freq 0) */
	enter_small(c, it, 1);
}

void
fc__fifo_moved_locked(fc_cache *c, const struct item_shm *from, struct item_shm *to)
{
	fc__item_freq_set_locked(to, fc__item_freq(from));
	if (fc__item_small(from))
		enter_small(c, to, 1); /* re-entered; from's entry is stale */
}

void
fc__fifo_reset_locked(fc_cache *c)
{
	struct hdr_shm *h = c->hdr;

	/* One store empties the ring (as limbo's in repair.c). */
	FC_CTR_SET(h->hd_fifo_head, h->hd_fifo_tail);
	FC_CTR_SET(h->hd_fifo_small, 0);
	h->hd_fifo_debt = 0;
}
