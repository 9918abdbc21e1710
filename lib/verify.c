/*
 * verify.c - fc_verify, the full integrity check.
 *
 * DESIGN       fc_verify walks every structure and reports each problem
 *              (region, offset, what was expected) through a callback.
 *              With FC_VERIFY_LOCK it holds the writer mutex: exact, and
 *              it proves allocator accounting (every chunk of an owned page
 *              is exactly one of live, free, limbo). Without it, it takes
 *              no lock: it checks a snapshot between two reads of the
 *              writers' sequence counter (ck_sequence) and keeps the result
 *              only if no writer ran meanwhile; if writers never pause, it
 *              falls back to the checks that stay valid under concurrency
 *              (header, and each index entry read inside a read section,
 *              where RCU keeps items intact).
 *              Every offset and length is bounds-checked before use; loops
 *              (free lists) are bounded by the number of chunks.
 * INVARIANTS   Checks I1-I5 (index.c), A1-A6 and R4 (slab.c),
 *              S2-S3 (segment.c).
 * CONCURRENCY  Lock-free mode reads shared words with relaxed loads and
 *              validates by sequence; it never writes the segment except
 *              its own reader slot.
 * CRASHES      Read-only: nothing to repair if killed. Finds what a killed
 *              writer left for the next writer to repair (lock-free mode).
 * LIMITS       Allocates one byte per possible chunk (segment / 64).
 */
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"
#include "item.h"
#include "lease.h"
#include "readers.h"
#include "repair.h"
#include "segment.h"

struct problem {
	const char *region;
	uint64_t off;
	char msg[160];
};

#define FC_VERIFY_KEEP 1000 /* problems described; the rest only counted */

struct vctx {
	fc_cache *c;
	struct problem *p;
	size_t n, cap;
	uint64_t total;         /* problems found, described or not */
	uint32_t *seen;         /* full-hash set for duplicate keys (I4) */
	uint64_t seen_mask;
	uint8_t *mark;          /* per (page, chunk index): 0, or M_* */
	uint64_t per_page_max;  /* page_bytes / FC_MIN_CHUNK */
};

enum { M_LIVE = 1, M_FREE = 2, M_LIMBO = 3 };

static void
problem(struct vctx *v, const char *region, uint64_t off, const char *fmt, ...)
{
	/* Bounded: a hostile segment can hold millions of problems. */
	if (v->total++ >= FC_VERIFY_KEEP)
		return;
	if (v->n == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 64;
		struct problem *np = realloc(v->p, ncap * sizeof *np);
		if (!np)
			return;
		v->p = np;
		v->cap = ncap;
	}
	struct problem *p = &v->p[v->n++];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof p->msg, fmt, ap);
	va_end(ap);
	p->region = region;
	p->off = off;
}

/* Mark chunk @p off (known to be a chunk of an owned page) as @p m. */
static int
mark_chunk(struct vctx *v, uint64_t off, unsigned cls, uint8_t m)
{
	fc_cache *c = v->c;
	uint64_t pg = fc__page_of(c, off);
	uint64_t k = (off - c->g.pages_off - pg * c->g.page_bytes) / c->g.class_size[cls];
	uint8_t *slot = &v->mark[pg * v->per_page_max + k];

	if (*slot) {
		static const char *const names[] = {"", "live", "free", "limbo"};
		problem(v, m == M_FREE ? "freelist" : m == M_LIMBO ? "limbo" : "index", off,
			"chunk already seen as %s (listed twice or loop)", names[*slot]);
		return -1;
	}
	*slot = m;
	return 0;
}

static void
check_header(struct vctx *v)
{
	fc_cache *c = v->c;
	struct hdr_shm copy;
	struct fc_geom g;

	memcpy(&copy, c->hdr, sizeof copy);
	int rc = fc__header_check(&copy, c->g.segment_bytes, &g);
	if (rc != FC_OK)
		problem(v, "header", 0, "header fails validation: %s", fc_strerror(rc));
	else if (memcmp(&g, &c->g, sizeof g) != 0)
		problem(v, "header", 0, "geometry changed since attach");
	uint64_t sel = fc__ld_rlx(&c->hdr->hd_ix_sel);
	if (sel > 1)
		problem(v, "header", offsetof(struct hdr_shm, hd_ix_sel),
			"index selector %llu, expected 0 or 1", (unsigned long long)sel);
	if (fc__ld_rlx(&c->hdr->hd_epoch) == 0)
		problem(v, "header", offsetof(struct hdr_shm, hd_epoch), "epoch is 0, expected >= 1");
}

/* I4: remember bucket @p i under the full hash @p h; report another
 * bucket already there with the same key. Linear in buckets overall. */
static void
check_duplicate(struct vctx *v, const uint64_t *ix, uint64_t i, uint64_t h,
		const struct fc_iview *it)
{
	fc_cache *c = v->c;

	for (uint64_t j = h & v->seen_mask, n = 0; n <= v->seen_mask;
	     j = (j + 1) & v->seen_mask, n++) {
		uint32_t e = v->seen[j];
		if (e == 0) {
			v->seen[j] = (uint32_t)(i + 1);
			return;
		}
		uint64_t wo = fc__ld_rlx(&ix[e - 1]);
		struct fc_iview o;
		if (fc__bk_live(wo) && fc__item_view(c, fc__bk_off(wo), &o) == 0 &&
		    o.klen == it->klen && memcmp(o.key, it->key, it->klen) == 0) {
			problem(v, "index", fc__off_of(c, &ix[i]),
				"bucket %llu: duplicate of the key in bucket %llu",
				(unsigned long long)i, (unsigned long long)(e - 1));
			return;
		}
	}
}

/* The bits of a LIVE or LIMBO item's first word that fc__item_view does
 * not check: the state (@p want), and the spare bits (zero). The S3-FIFO
 * frequency is 2 bits, so any value is in range; the small flag either
 * way. */
static void
check_item_bits(struct vctx *v, uint64_t off, uint64_t w0, unsigned want)
{
	if (fc__w0_state(w0) != want)
		problem(v, "item", off, "state %u, expected %s", fc__w0_state(w0),
			want == FC_IT_LIVE ? "LIVE" : "LIMBO");
	if (w0 & FC_W0_SPARE_MASK)
		problem(v, "item", off, "spare header bits set (%#llx), expected zero",
			(unsigned long long)(w0 & FC_W0_SPARE_MASK));
}

/*
 * One index bucket: bounds, item header, tag; with @p run_start (the
 * first bucket after the nearest EMPTY before i, or UINT64_MAX when the
 * table has no EMPTY bucket), I3 in O(1): the key's home must lie within
 * [run_start, i]. Duplicates (I4) through check_duplicate.
 */
static void
check_bucket(struct vctx *v, const uint64_t *ix, uint64_t i, uint64_t w, int full,
	     uint64_t run_start, uint64_t *live, uint64_t *ttl)
{
	fc_cache *c = v->c;
	uint64_t off = fc__bk_off(w);
	uint64_t ixoff = fc__off_of(c, &ix[i]);
	struct fc_iview iv; /* each length loaded once (a writer may change it) */

	if (fc__item_view(c, off, &iv) != 0) {
		problem(v, "index", ixoff, "bucket %llu: offset %llu is not a valid item "
			"(outside the pages, misaligned, or bad class/lengths)",
			(unsigned long long)i, (unsigned long long)off);
		return;
	}
	(*live)++;
	uint64_t x = fc__w1_expiry(c, iv.w1);
	if (x)
		(*ttl)++;
	if (full) {
		/* I6: the line's summary covers the item's reclaim time. */
		unsigned sel = (unsigned)(fc__ld_rlx(&c->hdr->hd_ix_sel) & 1);
		uint32_t k = fc__exp_item_key(c, x);
		uint32_t s = fc__ld32_rlx(&fc__ix_exp(c, sel)[i / FC_IX_WAYS]);
		if (k > s)
			problem(v, "index", c->g.exp_off[sel] + i / FC_IX_WAYS * 4,
				"bucket %llu: its line's expiry summary %u is later than its "
				"item's reclaim time (key %u): the sweep would skip it",
				(unsigned long long)i, s, k);
		if (k > fc__ld_rlx(&c->hdr->hd_exp_max))
			problem(v, "header", offsetof(struct hdr_shm, hd_exp_max),
				"bucket %llu: hd_exp_max %llu is below its item's reclaim key %u",
				(unsigned long long)i,
				(unsigned long long)fc__ld_rlx(&c->hdr->hd_exp_max), k);
	}
	uint64_t h = fc__hash(c, iv.key, iv.klen);
	if (fc__bk_tag(h) != (w >> FC_BK_TAGSHIFT))
		problem(v, "index", ixoff, "bucket %llu: tag does not match the key's hash",
			(unsigned long long)i);
	if (!full)
		return;
	uint64_t B = c->g.nbuckets, home = fc__bk_home(c, h);
	if (run_start != UINT64_MAX &&
	    (i + B - home) % B > (i + B - run_start) % B)
		problem(v, "index", ixoff, "bucket %llu: unreachable, an EMPTY bucket lies "
			"between its home %llu and it", (unsigned long long)i,
			(unsigned long long)home);
	if (v->seen)
		check_duplicate(v, ix, i, h, &iv);
	if (!fc__chunk_owned(c, off, iv.cls)) {
		problem(v, "index", ixoff, "bucket %llu: item at %llu is not a chunk of class %u "
			"in a page owned by that class", (unsigned long long)i,
			(unsigned long long)off, iv.cls);
		return;
	}
	check_item_bits(v, off, iv.w0, FC_IT_LIVE);
	mark_chunk(v, off, iv.cls, M_LIVE);
}

/* The lease table (lease.c L1, L4): every held entry names a key that
 * hashes to its hash, lies within FC_LEASE_PROBE of that key's home, names
 * a reader slot in range, and no key is held twice. A dead leader is not a
 * problem: the next caller for the key takes the lease over. */
static void
check_leases(struct vctx *v)
{
	fc_cache *c = v->c;
	uint64_t n = c->g.nleases, w = n < FC_LEASE_PROBE ? n : FC_LEASE_PROBE;

	for (uint64_t i = 0; i < n; i++) {
		struct lease_shm *e = &c->leases[i];
		uint64_t at = c->g.lease_off + i * sizeof *e;
		uint64_t hh = fc__ld_rlx(&e->ls_hash);
		if (hh == 0)
			continue;
		size_t kl = e->ls_klen;
		if (kl == 0 || kl > FC_KEY_MAX) {
			problem(v, "lease", at, "entry %llu: key length %zu", (unsigned long long)i, kl);
			continue;
		}
		if ((fc__hash(c, e->ls_key, kl) | 1) != hh) {
			problem(v, "lease", at, "entry %llu: key does not hash to the entry's hash",
				(unsigned long long)i);
			continue;
		}
		uint64_t home = fc__lease_home(c, hh), dist = (i + n - home) % n;
		if (dist >= w)
			problem(v, "lease", at, "entry %llu: %llu entries from its home, window %llu",
				(unsigned long long)i, (unsigned long long)dist, (unsigned long long)w);
		if (fc__ld32_rlx(&e->ls_slot) >= c->g.nslots)
			problem(v, "lease", at, "entry %llu: leader slot %u >= %llu", (unsigned long long)i,
				fc__ld32_rlx(&e->ls_slot), (unsigned long long)c->g.nslots);
		for (uint64_t d = 1; d <= dist && d < w; d++) {
			struct lease_shm *o = &c->leases[(i + n - d) % n];
			if (fc__ld_rlx(&o->ls_hash) == hh && o->ls_klen == kl &&
			    memcmp(o->ls_key, e->ls_key, kl) == 0)
				problem(v, "lease", at, "entry %llu: key also leased in entry %llu",
					(unsigned long long)i, (unsigned long long)((i + n - d) % n));
		}
	}
}

static void
check_full(struct vctx *v)
{
	fc_cache *c = v->c;
	struct hdr_shm *h = c->hdr;
	uint64_t B = c->g.nbuckets, live = 0, used = 0, tombs = 0, ttl = 0;
	uint64_t sel = fc__ld_rlx(&h->hd_ix_sel);
	const uint64_t *ix = fc__index(c, (unsigned)(sel & 1));

	memset(v->mark, 0, c->g.npages * v->per_page_max);
	if (v->seen)
		memset(v->seen, 0, (v->seen_mask + 1) * sizeof *v->seen);
	/* Walk the ring starting right after an EMPTY bucket, so each run's
	 * start is known when its buckets are checked (I3 in one pass). */
	uint64_t e0 = UINT64_MAX;
	for (uint64_t i = 0; i < B && e0 == UINT64_MAX; i++)
		if (fc__ld_rlx(&ix[i]) == FC_BK_EMPTY)
			e0 = i;
	uint64_t run_start = e0 == UINT64_MAX ? UINT64_MAX : fc__bk_next(c, e0);
	for (uint64_t k = 0, i = run_start == UINT64_MAX ? 0 : run_start; k < B;
	     k++, i = fc__bk_next(c, i)) {
		uint64_t w = fc__ld_rlx(&ix[i]);
		if (w == FC_BK_EMPTY) {
			if (run_start != UINT64_MAX)
				run_start = fc__bk_next(c, i);
			continue;
		}
		used++;
		if (w == FC_BK_TOMB)
			tombs++;
		else
			check_bucket(v, ix, i, w, 1, run_start, &live, &ttl);
	}
	check_leases(v);
	int pending = fc__ld_rlx(&h->hd_needs_repair) != 0;
	if (pending)
		problem(v, "header", offsetof(struct hdr_shm, hd_needs_repair),
			"a writer died mid-update; the next writer repairs");
	if (!pending && (used != h->hd_ix_used || tombs != h->hd_ix_tombs))
		problem(v, "index", c->g.index_off[sel & 1], "counted %llu used / %llu tombstones, "
			"header says %llu / %llu", (unsigned long long)used, (unsigned long long)tombs,
			(unsigned long long)h->hd_ix_used, (unsigned long long)h->hd_ix_tombs);
	if (!pending && ttl != h->hd_ttl_items)
		problem(v, "header", offsetof(struct hdr_shm, hd_ttl_items), "counted %llu items "
			"with a TTL, header says %llu", (unsigned long long)ttl,
			(unsigned long long)h->hd_ttl_items);
	if (!pending && live != h->hd_items)
		problem(v, "header", offsetof(struct hdr_shm, hd_items), "counted %llu items, "
			"header says %llu", (unsigned long long)live, (unsigned long long)h->hd_items);

	/* Page map. */
	uint64_t free_pages = 0, draining = 0, cls_pages[FC_MAX_CLASSES] = {0};
	for (uint64_t pg = 0; pg < c->g.npages; pg++) {
		struct page_shm *pm = &c->pages[pg];
		uint64_t at = c->g.pagemap_off + pg * sizeof *pm;
		if (pm->pm_state > FC_PG_DRAINING) {
			problem(v, "pagemap", at, "page %llu: state %u unknown", (unsigned long long)pg,
				pm->pm_state);
		} else if (pm->pm_state == FC_PG_FREE) {
			free_pages++;
		} else if (pm->pm_class >= c->g.nclasses) {
			problem(v, "pagemap", at, "page %llu: class %u >= %u", (unsigned long long)pg,
				pm->pm_class, c->g.nclasses);
		} else {
			cls_pages[pm->pm_class]++;
			draining += pm->pm_state == FC_PG_DRAINING;
		}
	}

	/* Free lists: bounded walk (a loop shows as a chunk seen twice). */
	uint64_t nfree[FC_MAX_CLASSES] = {0};
	for (unsigned cls = 0; cls < c->g.nclasses; cls++) {
		uint64_t off = h->hd_class[cls].cl_free;
		uint64_t bound = c->g.npages * c->g.class_per_page[cls] + 1;
		while (off && bound--) {
			struct item_shm *it = fc__chunk_owned(c, off, cls);
			if (!it) {
				problem(v, "freelist", off, "class %u: entry is not a chunk of this class "
					"in an owned page", cls);
				break;
			}
			/* one load of each word: the walk continues from the
			 * link that was checked */
			uint64_t w0 = fc__item_w0(it), w1 = fc__item_w1(it);
			if (fc__w0_state(w0) != FC_IT_FREE)
				problem(v, "freelist", off, "class %u: state %u, expected FREE", cls,
					fc__w0_state(w0));
			else if ((w0 & ~FC_W0_CAS_MASK & ~FC_W0_STATE_MASK) || w1)
				problem(v, "freelist", off, "class %u: free chunk header has bits "
					"beyond state and link (w0 %#llx, w1 %#llx)", cls,
					(unsigned long long)w0, (unsigned long long)w1);
			if (mark_chunk(v, off, cls, M_FREE) != 0)
				break;
			nfree[cls]++;
			off = fc__w0_cas(w0) << 3;
		}
	}

	/* Limbo ring. */
	uint64_t head = h->hd_limbo_head, tail = h->hd_limbo_tail, prev = 0;
	uint64_t nlimbo[FC_MAX_CLASSES] = {0}, epoch = fc__ld_rlx(&h->hd_epoch);
	if (tail < head || tail - head > c->g.limbo_cap) {
		problem(v, "limbo", c->g.limbo_off, "cursors head %llu tail %llu, capacity %llu",
			(unsigned long long)head, (unsigned long long)tail,
			(unsigned long long)c->g.limbo_cap);
		tail = head;
	}
	for (uint64_t n = head; n < tail; n++) {
		struct limbo_shm *l = &c->limbo[n % c->g.limbo_cap];
		uint64_t at = c->g.limbo_off + (n % c->g.limbo_cap) * sizeof *l;
		uint64_t loff = l->lb_off;
		struct fc_iview iv; /* the class loaded once: it indexes nlimbo */
		if (fc__item_view(c, loff, &iv) != 0 || !fc__chunk_owned(c, loff, iv.cls)) {
			problem(v, "limbo", at, "entry %llu: offset %llu is not a chunk",
				(unsigned long long)n, (unsigned long long)loff);
			continue;
		}
		if (fc__w0_state(iv.w0) != FC_IT_LIMBO)
			problem(v, "limbo", at, "entry %llu: chunk state %u, expected LIMBO",
				(unsigned long long)n, fc__w0_state(iv.w0));
		else
			check_item_bits(v, loff, iv.w0, FC_IT_LIMBO);
		if (l->lb_epoch < prev || l->lb_epoch > epoch)
			problem(v, "limbo", at, "entry %llu: epoch %llu out of order (R4)",
				(unsigned long long)n, (unsigned long long)l->lb_epoch);
		prev = l->lb_epoch;
		if (mark_chunk(v, loff, iv.cls, M_LIMBO) == 0)
			nlimbo[iv.cls]++;
	}
	if (pending)
		return; /* accounting is known to be off until repair */

	/* Accounting: each chunk of an owned page is exactly one thing. */
	uint64_t nlive[FC_MAX_CLASSES] = {0};
	for (uint64_t pg = 0; pg < c->g.npages; pg++) {
		struct page_shm *pm = &c->pages[pg];
		uint64_t at = c->g.pages_off + pg * c->g.page_bytes;
		const uint8_t *m = &v->mark[pg * v->per_page_max];
		if (pm->pm_state == FC_PG_FREE || pm->pm_class >= c->g.nclasses) {
			for (uint64_t k = 0; k < v->per_page_max; k++)
				if (m[k]) {
					problem(v, "page", at, "page %llu is FREE but holds used chunks",
						(unsigned long long)pg);
					break;
				}
			continue;
		}
		unsigned cls = pm->pm_class;
		uint64_t used_here = 0, leaked = 0;
		for (uint64_t k = 0; k < c->g.class_per_page[cls]; k++) {
			if (m[k] == M_LIVE) {
				nlive[cls]++;
				used_here++;
			} else if (m[k] == M_LIMBO) {
				used_here++;
			} else if (m[k] == 0 && pm->pm_state == FC_PG_ACTIVE) {
				leaked++;
			} else if (m[k] != 0 && pm->pm_state == FC_PG_DRAINING && m[k] != M_LIMBO) {
				problem(v, "page", at, "page %llu is DRAINING but chunk %llu is %s",
					(unsigned long long)pg, (unsigned long long)k,
					m[k] == M_LIVE ? "live" : "free");
			}
		}
		if (leaked)
			problem(v, "page", at, "page %llu (class %u): %llu chunks neither live, "
				"free nor in limbo (leak)", (unsigned long long)pg, cls,
				(unsigned long long)leaked);
		if (used_here != pm->pm_used)
			problem(v, "pagemap", c->g.pagemap_off + pg * sizeof *pm,
				"page %llu: pm_used %u, counted %llu live+limbo", (unsigned long long)pg,
				pm->pm_used, (unsigned long long)used_here);
	}
	for (unsigned cls = 0; cls < c->g.nclasses; cls++) {
		struct class_shm *cl = &h->hd_class[cls];
		if (cl->cl_live != nlive[cls] || cl->cl_nfree != nfree[cls] ||
		    cl->cl_limbo != nlimbo[cls] || cl->cl_pages != cls_pages[cls])
			problem(v, "class", offsetof(struct hdr_shm, hd_class) + cls * sizeof *cl,
				"class %u: header says live %llu free %llu limbo %llu pages %llu, "
				"counted %llu %llu %llu %llu", cls,
				(unsigned long long)cl->cl_live, (unsigned long long)cl->cl_nfree,
				(unsigned long long)cl->cl_limbo, (unsigned long long)cl->cl_pages,
				(unsigned long long)nlive[cls], (unsigned long long)nfree[cls],
				(unsigned long long)nlimbo[cls], (unsigned long long)cls_pages[cls]);
	}
	if (free_pages != h->hd_free_pages)
		problem(v, "header", offsetof(struct hdr_shm, hd_free_pages),
			"counted %llu free pages, header says %llu", (unsigned long long)free_pages,
			(unsigned long long)h->hd_free_pages);
	if (draining != h->hd_pages_draining) /* A6 */
		problem(v, "header", offsetof(struct hdr_shm, hd_pages_draining),
			"counted %llu DRAINING pages, header says %llu (A6)",
			(unsigned long long)draining, (unsigned long long)h->hd_pages_draining);
	uint32_t hwm = fc__ld32_acq(&h->hd_slots_hwm);
	if (hwm > c->g.nslots)
		problem(v, "slots", offsetof(struct hdr_shm, hd_slots_hwm),
			"high-water mark %u > %llu slots", hwm, (unsigned long long)c->g.nslots);
	for (uint64_t i = 0; i < c->g.nslots; i++) {
		uint64_t e = fc__ld_rlx(&c->slots[i].rs_epoch);
		if (e > epoch)
			problem(v, "slots", c->g.slots_off + i * sizeof(struct slot_shm),
				"slot %llu: epoch %llu ahead of global %llu", (unsigned long long)i,
				(unsigned long long)e, (unsigned long long)epoch);
		/* An owner clears its epoch before it frees its slot, so a free
		 * slot with an epoch is what a dead reader left (a stray epoch):
		 * it holds back every reclamation until fc_reap() or a waiting
		 * writer clears it. */
		if (e && !(uint32_t)fc__ld_rlx(&c->slots[i].rs_owner))
			problem(v, "slots", c->g.slots_off + i * sizeof(struct slot_shm),
				"slot %llu: free but holds epoch %llu (a dead reader's)",
				(unsigned long long)i, (unsigned long long)e);
	}
}

/* Under concurrent writers: header, plus each bucket inside a read section. */
static int
check_weak(struct vctx *v)
{
	fc_cache *c = v->c;
	uint64_t live = 0, ttl = 0;
	int rc;

	for (uint64_t i = 0; i < c->g.nbuckets;) {
		int outer;
		struct fc_tls *t = fc__read_enter(c, &rc, &outer);
		if (!t)
			return rc;
		uint64_t sel = fc__ld_acq(&c->hdr->hd_ix_sel);
		const uint64_t *ix = fc__index(c, (unsigned)(sel & 1));
		for (uint64_t stop = i + 1024; i < c->g.nbuckets && i < stop; i++) {
			uint64_t w = fc__ld_acq(&ix[i]); /* pairs with publish (I2) */
			if (fc__bk_live(w))
				check_bucket(v, ix, i, w, 0, UINT64_MAX, &live, &ttl);
		}
		fc__read_exit(t, outer);
	}
	return FC_OK;
}

int64_t
fc_verify(fc_cache *c, unsigned flags, fc_verify_cb cb, void *arg)
{
	if (!c || (flags & ~FC_VERIFY_LOCK))
		return FC_EINVAL;
	struct vctx v = {.c = c, .per_page_max = c->g.page_bytes / FC_MIN_CHUNK};
	uint64_t seen_n = 64;
	while (seen_n < 2 * c->g.nbuckets)
		seen_n *= 2;
	v.mark = malloc(c->g.npages * v.per_page_max);
	v.seen = malloc(seen_n * sizeof *v.seen);
	v.seen_mask = seen_n - 1;
	if (!v.mark || !v.seen) {
		free(v.mark);
		free(v.seen);
		return FC_ESYS;
	}
	int64_t rc = FC_OK;

	if (flags & FC_VERIFY_LOCK) {
		if ((rc = fc__lock(c)) != FC_OK)
			goto out;
		check_header(&v);
		check_full(&v);
		fc__unlock(c);
	} else {
		int stable = 0;
		for (int attempt = 0; attempt < 50 && !stable; attempt++) {
			unsigned s0 = fc__ld32_rlx(&c->hdr->hd_seq.sequence);
			if (s0 & 1) {
				sched_yield();
				continue;
			}
			fc__fence_load(); /* sequence before the data (seqlock) */
			v.n = 0;
			v.total = 0;
			check_header(&v);
			check_full(&v);
			/* ck_sequence_read_retry: load fence, then the sequence. */
			stable = !ck_sequence_read_retry(&c->hdr->hd_seq, s0);
		}
		if (!stable) {
			v.n = 0;
			v.total = 0;
			check_header(&v);
			if (v.n == 0 && (rc = check_weak(&v)) != FC_OK)
				goto out;
		}
	}
	for (size_t i = 0; i < v.n; i++)
		if (cb)
			cb(arg, v.p[i].region, v.p[i].off, v.p[i].msg);
	if (cb && v.total > v.n) {
		char more[96];
		snprintf(more, sizeof more, "%llu more problems not described",
			 (unsigned long long)(v.total - v.n));
		cb(arg, "verify", 0, more);
	}
	rc = (int64_t)v.total;
out:
	free(v.mark);
	free(v.seen);
	free(v.p);
	return rc;
}
