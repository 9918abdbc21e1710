/*
 * segment.h - layout, geometry, size classes, header check, key hash
 *             (lib/segment.c). The bottom of the module order: it calls
 *             only clock and fault.
 */
#ifndef FC_SEGMENT_H
#define FC_SEGMENT_H

#include "internal.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

int fc__geometry(uint64_t segment_bytes, uint64_t page_bytes, uint64_t nslots,
		 uint64_t nbuckets, uint64_t nleases, struct fc_geom *g);
int fc__classes(uint64_t page_bytes, uint32_t *sizes, uint32_t *per_page);
/* The smallest class whose chunks hold @p bytes, or -1 if none does. */
int fc__class_for(const fc_cache *c, size_t bytes);
/* Page number of an offset known to lie inside the slab pages. */
uint64_t fc__page_of(const fc_cache *c, uint64_t off);
uint64_t fc__header_checksum(const struct hdr_shm *h);
int fc__header_check(const struct hdr_shm *h, uint64_t file_bytes, struct fc_geom *g);
uint32_t fc__abi_tag(void);
uint64_t fc__layout_sig(void);
int fc__read_boot_id(char out[40]);
/* The page size fc_open picks when fc_options.page_bytes is 0. */
uint64_t fc__auto_page_bytes(uint64_t segment_bytes);
/* The lease table size fc_open picks when fc_options.lease_slots is 0. */
uint64_t fc__auto_lease_slots(uint64_t segment_bytes, uint64_t nslots);

/* Creation, in three steps that fc_open (open.c) runs under LOCK_EX with
 * the other modules' init between them: lay out the header (in-progress
 * magic) and clear the metadata regions; [slab and mutex init]; seal
 * (boot id, checksum, final magic last: S1). */
int fc__segment_layout(fc_cache *c, const fc_options *o);
int fc__segment_seal(fc_cache *c);
/* Validate an existing segment's header (a private copy) and map it;
 * LOCK_SH or LOCK_EX held on c->fd. */
int fc__segment_attach(fc_cache *c, uint64_t size);
/* mmap(MAP_SHARED) all @p size bytes of @p fd, advised MADV_HUGEPAGE;
 * MAP_FAILED (errno set) as mmap. */
void *fc__segment_map(int fd, uint64_t size);

/* The key hash: XXH3-64 with the segment's seed. Inline (xxhash's
 * inline build): the read path's first step, ~30 instructions for a
 * 16-byte key. */
static inline uint64_t
fc__hash(const fc_cache *c, const void *key, size_t klen)
{
	return XXH3_64bits_withSeed(key, klen, c->seed);
}

static inline void *
fc__ptr(const fc_cache *c, uint64_t off)
{
	return c->base + off;
}
static inline uint64_t
fc__off_of(const fc_cache *c, const void *p)
{
	return (uint64_t)((const char *)p - c->base);
}
static inline uint64_t
fc__pages_end(const fc_cache *c)
{
	return c->g.pages_off + c->g.npages * c->g.page_bytes;
}
static inline uint64_t
fc__page_start(const fc_cache *c, uint64_t pg)
{
	return c->g.pages_off + pg * c->g.page_bytes;
}

#endif /* FC_SEGMENT_H */
