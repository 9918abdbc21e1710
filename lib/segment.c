/*
 * segment.c - the segment's layout: geometry, size classes, the header
 *             (format, checksum, validation, attach) and the key hash.
 *
 * DESIGN       A segment is a POSIX shm object or a regular file, sized once
 *              with ftruncate and mapped MAP_SHARED whole (open.c does the
 *              files and locks), advised MADV_HUGEPAGE (fc__segment_map).
 *              Its header holds the geometry; every region's offset is
 *              recomputed from four numbers by fc__geometry(), so attach
 *              compares instead of trusting.
 *              A creator writes the in-progress magic "FRKCINIT" first
 *              (fc__segment_layout) and "FRKCACHE" last (fc__segment_seal),
 *              holding LOCK_EX throughout (open.c); an attacher reads the
 *              header under LOCK_SH, so it never sees a half-made one.
 * INVARIANTS   S1 A header whose magic is "FRKCACHE" has every other field
 *                 set and checksummed (the checksum covers that magic).
 *              S2 hd_checksum = XXH64 of bytes [0, FC_CKSUM_BYTES), seed 0.
 *              S3 Regions lie inside the segment, in the order of the layout
 *                 diagram in internal.h, and do not overlap.
 *              S4 hd_boot_id names the boot in which the mutex and reader
 *                 slots were last initialized.
 * CONCURRENCY  Attach reads only immutable fields, from a private copy
 *              taken under LOCK_SH (open.c), and uses only that copy after.
 * CRASHES      A creator killed before the final magic leaves an unfinished
 *              segment (S1): open.c's FC_CREATE openers redo it.
 * LIMITS       Segments of 1 MiB .. 1 TiB; pages 64 KiB .. 16 MiB.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fault.h"
#include "segment.h"

static uint64_t
align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static int
is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

int
fc__classes(uint64_t page_bytes, uint32_t *sizes, uint32_t *per_page)
{
	uint64_t s = FC_MIN_CHUNK;
	int n = 0;

	while (s < page_bytes) {
		if (n == (int)FC_MAX_CLASSES - 1)
			return -1;
		sizes[n] = (uint32_t)s;
		per_page[n] = (uint32_t)(page_bytes / s);
		n++;
		uint64_t next = align_up(s * FC_GROWTH_NUM / FC_GROWTH_DEN, FC_CHUNK_ALIGN);
		s = next > s ? next : s + FC_CHUNK_ALIGN;
	}
	sizes[n] = (uint32_t)page_bytes;
	per_page[n] = 1;
	return n + 1;
}

/*
 * Map a whole segment MAP_SHARED and ask for transparent huge pages. The
 * advice takes effect where the file system allows it: a tmpfs mounted
 * huge=advise (e.g. /dev/shm after `mount -o remount,huge=advise
 * /dev/shm`); huge=always and hugetlbfs need no advice, huge=never ignores
 * it. Its failure (EINVAL: a kernel without THP) changes nothing but the
 * page size, so it is not an error. 2 MiB pages spare a large segment's
 * reads most TLB misses (docs/huge-pages.md).
 */
void *
fc__segment_map(int fd, uint64_t size)
{
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

#ifdef MADV_HUGEPAGE
	if (m != MAP_FAILED)
		(void)madvise(m, size, MADV_HUGEPAGE);
#endif
	return m;
}

int
fc__class_for(const fc_cache *c, size_t bytes)
{
	unsigned lo = 0, hi = c->g.nclasses;

	if (bytes > c->g.class_size[c->g.nclasses - 1])
		return -1;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (c->g.class_size[mid] >= bytes)
			hi = mid;
		else
			lo = mid + 1;
	}
	return (int)lo;
}

uint64_t
fc__page_of(const fc_cache *c, uint64_t off)
{
	return (off - c->g.pages_off) >> c->g.page_shift;
}

int
fc__geometry(uint64_t segment_bytes, uint64_t page_bytes, uint64_t nslots,
	     uint64_t nbuckets, uint64_t nleases, struct fc_geom *g)
{
	memset(g, 0, sizeof *g);
	if (segment_bytes < FC_MIN_SEGMENT || segment_bytes > FC_MAX_SEGMENT ||
	    !is_pow2(page_bytes) || page_bytes < FC_MIN_PAGE ||
	    page_bytes > FC_MAX_PAGE || nslots < 1 || nslots > FC_SLOTS_MAX ||
	    nbuckets < 64 || nbuckets > (1ull << 32) || nbuckets % FC_IX_WAYS ||
	    nleases < FC_LEASE_MIN || nleases > FC_LEASE_MAX)
		return FC_EINVAL;
	int n = fc__classes(page_bytes, g->class_size, g->class_per_page);
	if (n < 0)
		return FC_EINVAL;
	g->nclasses = (uint32_t)n;
	g->segment_bytes = segment_bytes;
	g->page_bytes = page_bytes;
	g->page_shift = (uint32_t)__builtin_ctzll(page_bytes);
	g->nslots = nslots;
	g->nbuckets = nbuckets;
	g->nlines = nbuckets / FC_IX_WAYS;
	g->nleases = nleases;
	g->limbo_cap = nbuckets / 8 < 256 ? 256 : nbuckets / 8;
	g->slots_off = FC_HEADER_BYTES;
	g->index_off[0] = align_up(g->slots_off + nslots * sizeof(struct slot_shm), 4096);
	g->index_off[1] = g->index_off[0] + nbuckets * 8;
	g->exp_off[0] = g->index_off[1] + nbuckets * 8;
	g->exp_off[1] = g->exp_off[0] + g->nlines * 4;
	g->pagemap_off = align_up(g->exp_off[1] + g->nlines * 4, 4096);
	uint64_t max_pages = segment_bytes / page_bytes;
	g->limbo_off = align_up(g->pagemap_off + max_pages * sizeof(struct page_shm), 64);
	g->lease_off = align_up(g->limbo_off + g->limbo_cap * sizeof(struct limbo_shm), 64);
	g->pages_off = align_up(g->lease_off + nleases * sizeof(struct lease_shm), 4096);
	if (g->pages_off >= segment_bytes)
		return FC_EINVAL;
	g->npages = (segment_bytes - g->pages_off) / page_bytes;
	if (g->npages < 1)
		return FC_EINVAL;
	return FC_OK;
}

uint64_t
fc__header_checksum(const struct hdr_shm *h)
{
	return XXH64(h, FC_CKSUM_BYTES, 0);
}

uint32_t
fc__abi_tag(void)
{
	/* Anything that changes the meaning of the shared bytes between two
	 * builds that share a segment: mutex size, endianness, slot size. */
	uint32_t tag = (uint32_t)sizeof(pthread_mutex_t);

	tag |= (uint32_t)sizeof(struct slot_shm) << 8;
	tag |= (uint32_t)(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) << 16;
	tag |= (uint32_t)sizeof(struct item_shm) << 20;
	return tag;
}

/* A hash of every shared struct's size and field offsets: two builds
 * whose layouts differ refuse each other's segments (FC_EINCOMPAT) even
 * if someone forgot to bump FC_LAYOUT_VERSION. */
uint64_t
fc__layout_sig(void)
{
#define F(type, field) offsetof(struct type, field)
	static const uint64_t v[] = {
		sizeof(struct hdr_shm), sizeof(struct slot_shm), sizeof(struct item_shm),
		sizeof(struct page_shm), sizeof(struct limbo_shm), sizeof(struct class_shm),
		F(hdr_shm, hd_mutex), F(hdr_shm, hd_epoch), F(hdr_shm, hd_ix_sel),
		F(hdr_shm, hd_slots_hwm), F(hdr_shm, hd_seq), F(hdr_shm, hd_cas_next),
		F(hdr_shm, hd_ttl_items), F(hdr_shm, hd_items), F(hdr_shm, hd_limbo_head),
		F(hdr_shm, hd_needs_repair), F(hdr_shm, hd_folded_hits), F(hdr_shm, hd_class),
		F(slot_shm, rs_owner), F(slot_shm, rs_epoch), F(slot_shm, rs_resv),
		F(slot_shm, rs_hits), F(item_shm, it_w0), F(item_shm, it_w1),
		FC_W0_CAS_MASK, FC_W0_KLEN_SHIFT, FC_W0_STATE_SHIFT, FC_W0_SMALL,
		FC_W0_FREQ_SHIFT, FC_W0_SPARE_MASK, FC_W1_EXP_MASK, FC_W1_VLEN_SHIFT,
		F(page_shm, pm_class), F(page_shm, pm_state),
		F(page_shm, pm_used), F(class_shm, cl_free), F(class_shm, cl_hand),
		sizeof(struct lease_shm), F(lease_shm, ls_gen), F(lease_shm, ls_owner),
		F(lease_shm, ls_deadline_ms), F(lease_shm, ls_slot), F(lease_shm, ls_word),
		F(lease_shm, ls_waiters), F(lease_shm, ls_klen), F(lease_shm, ls_key),
		F(hdr_shm, hd_nleases), F(hdr_shm, hd_lease_ms), F(hdr_shm, hd_lease_gen),
		F(class_shm, cl_victim_age), F(hdr_shm, hd_pages_draining),
		F(hdr_shm, hd_sweep_clock), F(hdr_shm, hd_exp_max), F(hdr_shm, hd_exp_pass),
		FC_EXP_TICK_SHIFT,
		FC_MIN_CHUNK, FC_GROWTH_NUM, FC_GROWTH_DEN, FC_KEY_MAX,
		FC_IX_WAYS, FC_BK_TAGSHIFT,
	};
#undef F
	return XXH64(v, sizeof v, FC_LAYOUT_VERSION);
}

int
fc__header_check(const struct hdr_shm *h, uint64_t file_bytes, struct fc_geom *g)
{
	if (memcmp(h->hd_magic, FC_MAGIC, 8) != 0)
		return FC_EINCOMPAT;
	if (h->hd_version != FC_LAYOUT_VERSION || h->hd_abi != fc__abi_tag() ||
	    h->hd_layout_sig != fc__layout_sig())
		return FC_EINCOMPAT;
	if (h->hd_header_bytes != FC_HEADER_BYTES ||
	    h->hd_checksum != fc__header_checksum(h))
		return FC_ECORRUPT;
	if (h->hd_segment_bytes != file_bytes)
		return FC_ECORRUPT; /* truncated or extended */
	if (fc__geometry(h->hd_segment_bytes, h->hd_page_bytes, h->hd_nslots,
			 h->hd_nbuckets, h->hd_nleases, g) != FC_OK)
		return FC_ECORRUPT;
	if (h->hd_lease_ms == 0 || h->hd_lease_ms > FC_LEASE_MS_MAX ||
	    h->hd_stale_ms > FC_LEASE_MS_MAX || h->hd_lease_off != g->lease_off)
		return FC_ECORRUPT;
	if (g->npages != h->hd_npages || g->limbo_cap != h->hd_limbo_cap ||
	    g->slots_off != h->hd_slots_off ||
	    g->index_off[0] != h->hd_index_off[0] ||
	    g->index_off[1] != h->hd_index_off[1] ||
	    g->pagemap_off != h->hd_pagemap_off ||
	    g->limbo_off != h->hd_limbo_off || g->pages_off != h->hd_pages_off ||
	    g->nclasses != h->hd_nclasses)
		return FC_ECORRUPT;
	return FC_OK;
}

int
fc__read_boot_id(char out[40])
{
	memset(out, 0, 40);
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, out, 39);
	close(fd);
	if (n <= 0)
		return -1;
	for (ssize_t i = 0; i < n; i++)
		if (out[i] == '\n')
			out[i] = 0;
	return 0;
}

/* Enough buckets that the slab can fill with items of the hinted mean
 * chunk size while the index stays under FC_INDEX_HI_PCT: each item also
 * costs (2 x 8 + 1) bytes / (HI_PCT/100) of index (two arrays, and their
 * 4-byte expiry summary per 8-bucket line). Rounded to a line of buckets. */
static uint64_t
pick_buckets(uint64_t segment_bytes, uint32_t avg)
{
	uint64_t per_item = avg + (17 * 100 + FC_INDEX_HI_PCT - 1) / FC_INDEX_HI_PCT;
	uint64_t items = segment_bytes / per_item;
	uint64_t b = items * 100 / FC_INDEX_HI_PCT + 8;

	b -= b % FC_IX_WAYS;
	if (b < 64)
		b = 64;
	if (b > (1ull << 32))
		b = 1ull << 32;
	return b;
}

static uint64_t
random_seed(void)
{
	uint64_t s = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, &s, sizeof s) != (ssize_t)sizeof s)
			s = 0;
		close(fd);
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return s ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
}

/* Pages: 2 MiB from a 64 MiB segment up (so FC_VALUE_MAX holds), else
 * segment/32 rounded down to a power of two, at least 64 KiB: enough
 * pages that every size class in use can own some (slab.c). */
uint64_t
fc__auto_page_bytes(uint64_t segment_bytes)
{
	return fc_page_bytes_auto(segment_bytes); /* the public rule */
}

/* Lease table entries: segment / 16 KiB, but at most twice the reader
 * slots (each 320 bytes). A lease is held by a reading thread from its
 * miss to its fill, so the keys leased at once are bounded by the threads
 * that read (one slot each), not by the segment: 2 x slots leaves the
 * open-addressed table at most half full when every thread leads one key.
 * (Sized by the segment alone, a 64 MiB segment spent 1.3 MB, 2%, on 4096
 * entries.) A power of two in FC_LEASE_MIN..FC_LEASE_AUTO_MAX. */
uint64_t
fc__auto_lease_slots(uint64_t segment_bytes, uint64_t nslots)
{
	uint64_t n = FC_LEASE_MIN;

	while (n * 2 <= segment_bytes / 16384 && n * 2 <= FC_LEASE_AUTO_MAX && n < 2 * nslots)
		n *= 2;
	return n;
}

/* Lay out a new segment in the mapping; called with LOCK_EX held. */
int
fc__segment_layout(fc_cache *c, const fc_options *o)
{
	struct fc_geom g;
	uint64_t nb = pick_buckets(o->segment_bytes, o->avg_item_bytes);
	uint64_t pb = o->page_bytes ? o->page_bytes : fc__auto_page_bytes(o->segment_bytes);
	uint64_t nl = o->lease_slots ? o->lease_slots : fc__auto_lease_slots(o->segment_bytes, o->reader_slots);
	int rc = fc__geometry(o->segment_bytes, pb, o->reader_slots, nb, nl, &g);
	if (rc)
		return rc;
	struct hdr_shm *h = (struct hdr_shm *)c->base;

	memset(h, 0, FC_HEADER_BYTES);
	memcpy(h->hd_magic, FC_MAGIC_INIT, 8); /* unfinished until the end */
	h->hd_version = FC_LAYOUT_VERSION;
	h->hd_header_bytes = FC_HEADER_BYTES;
	h->hd_segment_bytes = g.segment_bytes;
	h->hd_page_bytes = g.page_bytes;
	h->hd_npages = g.npages;
	h->hd_nbuckets = g.nbuckets;
	h->hd_nslots = g.nslots;
	h->hd_limbo_cap = g.limbo_cap;
	h->hd_slots_off = g.slots_off;
	h->hd_index_off[0] = g.index_off[0];
	h->hd_index_off[1] = g.index_off[1];
	h->hd_pagemap_off = g.pagemap_off;
	h->hd_limbo_off = g.limbo_off;
	h->hd_pages_off = g.pages_off;
	h->hd_nleases = g.nleases;
	h->hd_lease_off = g.lease_off;
	h->hd_lease_ms = o->lease_ms ? o->lease_ms : FC_LEASE_MS_DEFAULT;
	h->hd_stale_ms = o->stale_ms;
	h->hd_seed = random_seed();
	h->hd_created_ms = fc__now_ms();
	h->hd_nclasses = g.nclasses;
	h->hd_abi = fc__abi_tag();
	h->hd_layout_sig = fc__layout_sig();
	h->hd_epoch = 1;
	h->hd_cas_next = 1;
	c->g = g;
	c->hdr = h;
	c->seed = h->hd_seed;
	c->slots = (struct slot_shm *)fc__ptr(c, g.slots_off);
	c->pages = (struct page_shm *)fc__ptr(c, g.pagemap_off);
	c->limbo = (struct limbo_shm *)fc__ptr(c, g.limbo_off);
	c->leases = (struct lease_shm *)fc__ptr(c, g.lease_off);
	c->lease_ms = h->hd_lease_ms;
	c->stale_ms = h->hd_stale_ms;
	c->created_ms = h->hd_created_ms;
	/* A fresh ftruncate'd object is zero: index EMPTY, slots free, pages
	 * FREE. A recycled zero-header file may hold old bytes: clear the
	 * metadata regions (pages are formatted when carved). */
	memset(fc__ptr(c, g.slots_off), 0, g.pages_off - g.slots_off);
	return FC_OK;
}

/* Finish a new segment: boot id, checksum, and the final magic (S1). */
int
fc__segment_seal(fc_cache *c)
{
	struct hdr_shm *h = c->hdr;

	fc__read_boot_id(h->hd_boot_id);
	/* The checksum covers the final magic: compute it on a copy. */
	struct hdr_shm *tmp = malloc(sizeof *tmp);
	if (!tmp)
		return FC_ESYS;
	memcpy(tmp, h, FC_CKSUM_BYTES);
	memcpy(tmp->hd_magic, FC_MAGIC, 8);
	h->hd_checksum = fc__header_checksum(tmp);
	free(tmp);
	/*
	 * Publish the segment: the magic goes last (S1).
	 * Orders:       every store above before the magic.
	 * Pairs with:   attachers read the header only under LOCK_SH, which
	 *               they get after we drop LOCK_EX (flock is a full
	 *               barrier); the fence covers a reader that maps first.
	 * If reordered: an attacher could validate a half-written header.
	 */
	fc__fence_store();
	memcpy(h->hd_magic, FC_MAGIC, 8);
	return FC_OK;
}

/* Map and validate an existing segment; LOCK_SH (or EX) held on fd. */
int
fc__segment_attach(fc_cache *c, uint64_t size)
{
	struct hdr_shm hcopy;

	if (size < FC_HEADER_BYTES) {
		/* Too short for a header: not ours at all (no magic), or ours
		 * and truncated. */
		if (size >= 8 && pread(c->fd, hcopy.hd_magic, 8, 0) == 8 &&
		    memcmp(hcopy.hd_magic, FC_MAGIC, 8) != 0)
			return FC_EINCOMPAT;
		return FC_ECORRUPT;
	}
	if (pread(c->fd, &hcopy, sizeof hcopy, 0) != (ssize_t)sizeof hcopy)
		return FC_ESYS;
	int rc = fc__header_check(&hcopy, size, &c->g);
	if (rc)
		return rc;
	if (FC_FAULT(OPEN_MMAP)) {
		errno = EIO;
		return FC_ESYS;
	}
	void *m = fc__segment_map(c->fd, size);
	if (m == MAP_FAILED)
		return FC_ESYS;
	c->base = m;
	c->hdr = (struct hdr_shm *)m;
	/* Use the validated private copy of the geometry (c->g), never the
	 * live header, for every bound from now on: another process could
	 * scribble on the header after this check. */
	c->seed = hcopy.hd_seed;
	c->slots = (struct slot_shm *)fc__ptr(c, c->g.slots_off);
	c->pages = (struct page_shm *)fc__ptr(c, c->g.pagemap_off);
	c->limbo = (struct limbo_shm *)fc__ptr(c, c->g.limbo_off);
	c->leases = (struct lease_shm *)fc__ptr(c, c->g.lease_off);
	c->lease_ms = hcopy.hd_lease_ms;
	c->stale_ms = hcopy.hd_stale_ms;
	c->created_ms = hcopy.hd_created_ms;
	return FC_OK;
}
