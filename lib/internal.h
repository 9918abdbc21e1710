/*
 * internal.h - the segment layout, struct fc_cache, and the module order
 *              (shared types only; each module declares its calls in its
 *              own header).
 *
 * DESIGN       One mapping of hd_segment_bytes, position independent:
 *
 *                0            header (8 KiB): immutable geometry covered by
 *                             a checksum, then one cache line each for the
 *                             writer mutex, the global epoch, the index
 *                             selector + writer sequence, and writer state
 *                             (counters, limbo ring cursors, class table)
 *                slots_off    reader slots, one 64-byte line each
 *                index_off[2] two arrays of nbuckets 64-bit bucket words
 *                             (nbuckets / 8 lines of 64 bytes);
 *                             hd_ix_sel says which one readers use
 *                exp_off[2]   per array, one uint32 expiry summary per
 *                             line (writer only; index.c I6)
 *                pagemap_off  one page_shm (8 bytes) per slab page
 *                limbo_off    ring of limbo_cap (offset, epoch) pairs
 *                lease_off    nleases lease entries (lease.c), 320 B each
 *                pages_off    npages slab pages of page_bytes each
 *
 *              Everything is an offset from the segment base; fc__ptr()
 *              converts. Every region's position is recomputed from four
 *              numbers (segment_bytes, page_bytes, nslots, nbuckets, nleases) by
 *              fc__geometry() and compared with the header on attach.
 *
 * MODULES      One file per mechanism; a file calls only files BELOW it in
 *              this list (scripts/check-deps.sh reads the list between the
 *              markers and fails the build on an upward call or include).
 *              Each has its own header (lib/<name>.h) unless it only
 *              defines public calls.
 * BEGIN MODULE ORDER (top calls down)
 *   api      public reads and writes: argument checks, write orchestration
 *   open     fc_open/fc_close/fc_unlink: create, attach, reboot reset
 *   verify   fc_verify: the integrity checker
 *   stats    fc_stat, fc_class_stat, fc_slot_stat
 *   lease    the lease table: single-flight grants, takeover, futex waits
 *   repair   the writer section (fc__lock: mutex + repair), rebuild from index
 *   evict    CLOCK (per class), time-driven expiry sweep, flush-expired,
 *            the allocation policy (free list, page, wait, evict, steal)
 *   rebalance  page moves between classes: which page, compaction
 *   index    the table: lock-free find, writer probe/publish/unlink, rebuild
 *   slab     pages, free lists, retire into limbo, reclaim after grace
 *   readers  reader slots, epochs, grace periods, reader liveness
 *   lock     the robust writer mutex and hd_seq
 *   item     chunk access checks (reader bounds, writer ownership), expiry,
 *            the one copy-out
 *   segment  layout, geometry, size classes, header check, key hash
 *   fault    fault injection points
 *   clock    the TTL clock and the monotonic clock
 *   errors   fc_strerror, fc_errname
 * END MODULE ORDER
 * LOCK ORDER   The writer mutex (hd_mutex) is the only shared lock. The
 *              process-local c->tls_lock is taken only without it or inside
 *              it, never the reverse.
 */
#ifndef FC_INTERNAL_H
#define FC_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ck_sequence.h>
#include <urcu/list.h>

#include "forkcache.h"
#include "atomics.h"


#define FC_CACHELINE 64
#define FC_MAGIC "FRKCACHE"
#define FC_MAGIC_INIT "FRKCINIT" /* magic while a creator formats (S1) */
#define FC_LAYOUT_VERSION 5u /* 3: slot liveness by lock bytes (readers.c);
                                4: the 16-byte item header (two words);
                                5: index probed by 64-byte lines, expiry
                                summaries per line (index.c) */
#define FC_HEADER_BYTES 8192u
#define FC_CKSUM_BYTES 248u     /* header bytes [0, 248) are checksummed */
#define FC_MAX_CLASSES 64u
#define FC_MIN_CHUNK 64u        /* smallest size class, bytes */
#define FC_CHUNK_ALIGN 8u       /* every chunk offset is a multiple */
#define FC_GROWTH_NUM 5u        /* size classes grow by 5/4 */
#define FC_GROWTH_DEN 4u
#define FC_ITEM_HDR 16u         /* sizeof(struct item_shm) */
#define FC_MIN_SEGMENT FC_SEGMENT_MIN /* the public limits (forkcache.h) */
#define FC_MAX_SEGMENT FC_SEGMENT_MAX
#define FC_MIN_PAGE FC_PAGE_MIN
#define FC_MAX_PAGE FC_PAGE_MAX
#define FC_SWEEP_PERIOD_MS 100u /* the expiry sweep passes over every index
                                   line once per this many ms of TTL clock:
                                   an item is reclaimed <= 100 ms (+ one
                                   16 ms tick) after its stale window ends */
#define FC_SWEEP_MAX_LINES 4096u /* lines one write's sweep examines at most
                                   (an idle gap is not caught up); bounds
                                   cost: one 4-byte summary read per line
                                   with nothing due. Must cover a coarse
                                   clock tick (4 ms): 512 let a 64 MiB
                                   cache's pass take ~265 ms, and expired
                                   items held 4.4% (forkcache-mem ttl) */
#define FC_EXP_TICK_SHIFT 4u    /* expiry summaries count 16 ms ticks */
#define FC_EXPIRE_AHEAD_LINES 4096u /* lines an eviction searches for
                                   expired items before evicting live ones */
#define FC_RECLAIM_BATCH 32u    /* limbo entries before a write reclaims */
#define FC_EVICT_BATCH 8u       /* victims per eviction round */
#define FC_GRACE_WAIT_MS 100u   /* longest one write waits for readers, in all */
#define FC_FREE_LOW 16u         /* min free+limbo reserve a full class keeps */
#define FC_FREE_RESERVE 64u     /* ... or 1/64 of its chunks, if more */
#define FC_ITER_SECTION 256u    /* buckets per iterator read section */
#define FC_LIVENESS_MS 20u      /* min gap between /proc liveness scans */
#define FC_INDEX_HI_PCT 90u     /* used (live+tomb) buckets that trigger room-making:
                                   8-way lines keep probes short up to ~90% */
#define FC_INDEX_LO_PCT 80u     /* live buckets kept when the index, not the
                                   slab, bounds the item count (evict.c) */
#define FC_IX_WAYS 8u           /* bucket words per index line (64 bytes) */
#define FC_LEASE_PROBE 64u      /* lease entries a key may live in; bounds
                                   the scan of a miss under the mutex */
#define FC_LEASE_MIN 64u        /* lease table entries, min and max */
#define FC_LEASE_MAX (1u << 20)
#define FC_LEASE_AUTO_MAX 16384u /* auto sizing: segment / 16 KiB, at most
                                    2 x reader slots, capped */
#define FC_LEASE_MS_DEFAULT 10000u

/* Bucket words: [tag:16 | chunk offset / 8 : 48], FC_IX_WAYS to a line;
 * a key's tag is never 0 (fc__bk_tag), so EMPTY and TOMB match no tag. */
#define FC_BK_EMPTY 0ull
#define FC_BK_TOMB 1ull
#define FC_BK_OFFMASK ((1ull << 48) - 1)
#define FC_BK_TAGSHIFT 48

/* item_shm.it_w0 state bits (writer only; readers never read them) */
#define FC_IT_FREE 0u
#define FC_IT_LIVE 1u
#define FC_IT_LIMBO 2u

/* page_shm.pm_state */
#define FC_PG_FREE 0u
#define FC_PG_ACTIVE 1u
#define FC_PG_DRAINING 2u

/* ---------------------------------------------------------------- shm -- */

/*
 * The item header: two words, then the key, then the value. Every access
 * goes through lib/item.h (no other file touches the bits); what each bit
 * is for:
 *
 *   it_w0  bits  0-47 cas: the write's number (hd_cas_next, 48 bits; wraps
 *                     after 2.8e14 writes). A FREE chunk keeps its
 *                     next-free chunk offset / 8 here instead.
 *          bits 48-55 klen, 1..FC_KEY_MAX (0 in a FREE chunk)
 *          bits 56-57 state FC_IT_FREE / LIVE / LIMBO (writer only)
 *          bit  58    S3-FIFO "small" (probation) flag (writer only)
 *          bits 59-60 S3-FIFO frequency 0..3: readers add 1 with ONE
 *                     compare-and-swap of the whole word (lossy), so the
 *                     writer changes this word after publication only by
 *                     a CAS loop (item.h)
 *          bits 61-63 spare, zero (fc_verify checks)
 *   it_w1  bits  0-39 expiry in ms after hd_created_ms; 0 = never (an
 *                     absolute expiry is clamped into 1..2^40-1: 34.8
 *                     years after the segment was made)
 *          bits 40-63 vlen (< 16 MiB: a chunk fits in a page <= 16 MiB)
 *          writer only; fc_touch rewrites it whole with the same vlen
 *
 * The size class is not here: it is the page map's pm_class of the page
 * the chunk lies in (item.h, fc__item_view).
 */
struct item_shm {
	uint64_t it_w0;
	uint64_t it_w1;
};
static_assert(sizeof(struct item_shm) == FC_ITEM_HDR, "item header");
static_assert(FC_KEY_MAX <= 255, "klen is 8 bits");
static_assert(FC_MAX_PAGE <= (1u << 24), "vlen is 24 bits");
#define FC_W0_CAS_MASK ((1ull << 48) - 1)
#define FC_W0_KLEN_SHIFT 48
#define FC_W0_STATE_SHIFT 56
#define FC_W0_STATE_MASK (3ull << FC_W0_STATE_SHIFT)
#define FC_W0_SMALL (1ull << 58)
#define FC_W0_FREQ_SHIFT 59
#define FC_W0_FREQ_MASK (3ull << FC_W0_FREQ_SHIFT)
#define FC_W0_SPARE_MASK (7ull << 61)
#define FC_W1_EXP_MASK ((1ull << 40) - 1)
#define FC_W1_VLEN_SHIFT 40
#define FC_IT_FREQ_MAX 3u

struct slot_shm {               /* one per reading thread of each process */
	uint64_t rs_owner;      /* gen << 32 | pid; pid 0 = free */
	uint64_t rs_epoch;      /* epoch of the read in progress; 0 = idle */
	uint64_t rs_resv;       /* zero (layout 1: the owner's start time) */
	uint64_t rs_hits;       /* owner-only writes */
	uint64_t rs_misses;
	uint64_t rs_pad[3];
};
static_assert(sizeof(struct slot_shm) == FC_CACHELINE, "one slot per line");

/* One lease table entry (lease.c). ls_hash != 0 means held. */
struct lease_shm {
	uint64_t ls_hash;       /* key hash | 1 (never 0); 0 = free */
	uint64_t ls_gen;        /* grant number (hd_lease_gen): names a lease */
	uint64_t ls_owner;      /* leader's reader slot owner word at grant */
	uint64_t ls_deadline_ms; /* TTL clock; from then a waiter may take over */
	uint32_t ls_slot;       /* leader's reader slot index */
	uint32_t ls_word;       /* futex word: bumped when the lease is released */
	uint32_t ls_waiters;    /* callers asleep on ls_word (a hint) */
	uint8_t ls_klen;        /* 1..FC_KEY_MAX */
	uint8_t ls_flags;       /* FC_LS_STALE: a refresh lease */
	uint16_t ls_pad;
	uint64_t ls_pad2[2];
	char ls_key[256];       /* the key's bytes */
};
static_assert(sizeof(struct lease_shm) == 320, "lease entry: 5 lines");
#define FC_LS_STALE 1u

struct page_shm {
	uint16_t pm_class;      /* relaxed atomic: readers take an item's
	                           class from here (item.h, fc__item_view) */
	uint8_t pm_state;       /* FC_PG_* */
	uint8_t pm_pad;
	uint32_t pm_used;       /* chunks live or in limbo */
};
static_assert(sizeof(struct page_shm) == 8, "page map entry");

struct limbo_shm {
	uint64_t lb_off;        /* chunk offset */
	uint64_t lb_epoch;      /* global epoch when it was unlinked */
};

struct class_shm {              /* writer only (under hd_mutex) */
	uint64_t cl_free;       /* head of free list (offset), 0 = empty */
	uint64_t cl_nfree;
	uint64_t cl_live;
	uint64_t cl_limbo;
	uint64_t cl_pages;
	uint64_t cl_data;       /* key + value bytes of live items */
	uint64_t cl_hand;       /* CLOCK hand: chunk offset, 0 = start */
	uint64_t cl_victim_age; /* EWMA of the age (writes: hd_cas_next -
	                           it_cas) of the items its CLOCK evicted;
	                           0 = none yet (rebalance.c) */
};
static_assert(sizeof(struct class_shm) == 64, "class entry");

struct hdr_shm {
	/* --- immutable, checksummed: bytes [0, FC_CKSUM_BYTES) --- */
	char hd_magic[8];           /*   0 */
	uint32_t hd_version;        /*   8 */
	uint32_t hd_header_bytes;   /*  12 */
	uint64_t hd_segment_bytes;  /*  16 */
	uint64_t hd_page_bytes;     /*  24 */
	uint64_t hd_npages;         /*  32 */
	uint64_t hd_nbuckets;       /*  40 */
	uint64_t hd_nslots;         /*  48 */
	uint64_t hd_limbo_cap;      /*  56 */
	uint64_t hd_slots_off;      /*  64 */
	uint64_t hd_index_off[2];   /*  72 */
	uint64_t hd_pagemap_off;    /*  88 */
	uint64_t hd_limbo_off;      /*  96 */
	uint64_t hd_pages_off;      /* 104 */
	uint64_t hd_seed;           /* 112: hash seed */
	uint64_t hd_created_ms;     /* 120 */
	uint32_t hd_nclasses;       /* 128 */
	uint32_t hd_abi;            /* 132: sizeof(pthread_mutex_t) etc. */
	uint64_t hd_layout_sig;     /* 136: fc__layout_sig() of the writer */
	uint64_t hd_nleases;        /* 144: lease table entries */
	uint64_t hd_lease_off;      /* 152 */
	uint64_t hd_lease_ms;       /* 160: fc_options.lease_ms */
	uint64_t hd_stale_ms;       /* 168: fc_options.stale_ms */
	uint8_t hd_pad0[FC_CKSUM_BYTES - 176];
	uint64_t hd_checksum;       /* 248: XXH64 of bytes [0, 248) */
	/* --- mutable --- */
	char hd_boot_id[40];        /* 256: kernel boot id at last reset */
	uint8_t hd_pad1[FC_CACHELINE * 5 - 40];
	alignas(FC_CACHELINE) pthread_mutex_t hd_mutex; /* 576 */
	alignas(FC_CACHELINE) uint64_t hd_epoch;        /* global epoch, >= 1 */
	alignas(FC_CACHELINE) uint64_t hd_ix_sel;       /* live index: 0 or 1 */
	uint32_t hd_slots_hwm;      /* highest claimed slot + 1 (atomic max) */
	/* writer state: written only under hd_mutex (but see hd_folded_*);
	 * on other lines than what readers load (hd_epoch, hd_ix_sel) */
	alignas(FC_CACHELINE) struct ck_sequence hd_seq; /* odd mid-update */
	uint32_t hd_pad3;
	uint64_t hd_cas_next;
	uint64_t hd_ttl_items;      /* live items with an expiry (sweep gate) */
	uint64_t hd_items;
	uint64_t hd_bytes_used;
	uint64_t hd_data_bytes;
	uint64_t hd_sets;
	uint64_t hd_deletes;
	uint64_t hd_evictions;
	uint64_t hd_expired;
	uint64_t hd_ix_used;        /* live index buckets not EMPTY */
	uint64_t hd_ix_tombs;
	uint64_t hd_ix_hand;        /* unused since layout 5 (zero) */
	uint64_t hd_sweep;          /* expiry sweep cursor: a line */
	uint64_t hd_spare_epoch;    /* spare index retired at; 0 = reusable */
	uint64_t hd_limbo_head;     /* ring cursors, monotonic */
	uint64_t hd_limbo_tail;
	uint64_t hd_page_hand;
	uint64_t hd_free_pages;
	uint64_t hd_repairs;
	uint64_t hd_rebuilds;
	uint64_t hd_reclaim_waits;
	uint64_t hd_needs_repair;   /* nonzero: next writer rebuilds allocator */
	uint64_t hd_folded_hits;    /* counters of released slots; atomic FAA */
	uint64_t hd_folded_misses;
	uint64_t hd_pages_draining; /* pages DRAINING (slab.c; repair: 0) */
	uint64_t hd_sweep_clock;    /* expiry sweep: TTL clock (ms x 1024) up
	                               to which lines are swept (evict.c) */
	uint64_t hd_exp_max;        /* >= every line summary of the live
	                               array (index.c I6): 0 = nothing expires */
	uint64_t hd_exp_pass;       /* max of the summaries seen in the
	                               sweep's current pass, and notes */
	uint64_t hd_pad2[2];
	/* lease counters: hd_lease_gen, _grants, _takeovers under hd_mutex;
	 * _waits, _timeouts, _stale, _full by FAA from any caller */
	alignas(FC_CACHELINE) uint64_t hd_lease_gen;
	uint64_t hd_lease_grants;
	uint64_t hd_lease_takeovers;
	uint64_t hd_lease_waits;
	uint64_t hd_lease_timeouts;
	uint64_t hd_lease_stale;
	uint64_t hd_lease_full;
	uint64_t hd_pad4;
	alignas(FC_CACHELINE) struct class_shm hd_class[FC_MAX_CLASSES];
	/* rebalance.c, per class, writer only; hints (any value is safe): */
	uint64_t hd_rb_next[FC_MAX_CLASSES];    /* no age check before this
	                                           hd_cas_next */
	uint32_t hd_rb_backoff[FC_MAX_CLASSES]; /* writes after a failed one */
};
static_assert(offsetof(struct hdr_shm, hd_version) == 8, "tools read it");
static_assert(offsetof(struct hdr_shm, hd_segment_bytes) == 16, "tools read it");
static_assert(offsetof(struct hdr_shm, hd_checksum) == FC_CKSUM_BYTES, "checksum");
static_assert(offsetof(struct hdr_shm, hd_boot_id) == 256, "boot id");
static_assert(sizeof(struct hdr_shm) <= FC_HEADER_BYTES, "header fits 8 KiB");

/*
 * Writer counters (header and class records) are written only under the
 * mutex but read by fc_stat()/fc_class_stat() at any time: their stores
 * are relaxed atomic (one word each; a stale read is documented as fine).
 */
#define FC_CTR_ADD(lv, d) fc__st_rlx(&(lv), fc__ld_rlx(&(lv)) + (uint64_t)(d))
#define FC_CTR_SUB(lv, d) fc__st_rlx(&(lv), fc__ld_rlx(&(lv)) - (uint64_t)(d))
#define FC_CTR_SET(lv, v) fc__st_rlx(&(lv), (uint64_t)(v))

/* ------------------------------------------------------- process side -- */

struct fc_geom {                /* derived, validated copy of the geometry */
	uint64_t segment_bytes, page_bytes, npages, nbuckets, nslots, limbo_cap;
	uint32_t page_shift;        /* log2(page_bytes): page of an offset */
	uint64_t nlines;            /* nbuckets / FC_IX_WAYS */
	uint64_t nleases;
	uint64_t slots_off, index_off[2], exp_off[2], pagemap_off, limbo_off, lease_off,
		pages_off;
	uint32_t nclasses;
	uint32_t class_size[FC_MAX_CLASSES];
	uint32_t class_per_page[FC_MAX_CLASSES];
};

struct fc_tls;                  /* one per (thread, handle) */

struct fc_cache {
	char *base;                 /* mapping */
	struct hdr_shm *hdr;
	struct slot_shm *slots;
	struct page_shm *pages;
	struct limbo_shm *limbo;
	struct lease_shm *leases;
	struct fc_geom g;
	uint64_t lease_ms, stale_ms; /* validated copies of the header's */
	uint64_t created_ms;        /* hd_created_ms (checksummed): the base
	                               of item expiry times (item.h) */
	uint64_t seed;
	int fd;                     /* holds LOCK_SH (open.c); reapers probe
	                               slot lock bytes through it */
	int lockfd;                 /* this process's own open file description
	                               of the segment: its slot lock bytes;
	                               -1 until the first claim (and after a
	                               fork, whose child closes its copy) */
	char *name;                 /* to reopen lockfd where /proc is absent */
	uint64_t tls_id;            /* this handle's number in this process
	                               (never 0, never reused): a thread's
	                               fc__tls_last matches it (readers.h) */
	int is_file;                /* FC_FILE */
	struct cds_list_head reg_node; /* in readers.c's handle registry */
	pthread_key_t tls_key;
	pthread_mutex_t tls_lock;   /* guards tls_list, and serializes this
	                               process's slot-byte locking (claims,
	                               releases, reaps) for this handle */
	struct cds_list_head tls_list;
	uint64_t last_liveness_ms;  /* rate limit for liveness scans */
	uint64_t lease_check_ms;    /* last liveness test of a refresher by a
	                               stale hit (lock holder only; api.c) */
	uint64_t wait_deadline_ms;  /* end of this write's grace-wait budget;
	                               set by fc__lock (only the lock holder
	                               touches it, so threads do not race) */
};

struct fc_tls {
	/* id and thread first: the read path's check loads them (readers.h).
	 * Records are type-stable (readers.c): never given back to malloc,
	 * so a stale fc__tls_last may still load these two. */
	uint64_t id;                /* c->tls_id while in use, 0 when free;
	                               stored last (release) */
	uint64_t thread;            /* &fc__tls_last of the owning thread */
	struct cds_list_head node;  /* in c->tls_list, or the free records */
	fc_cache *c;
	struct slot_shm *slot;
	unsigned long forkgen;      /* fc__forkgen when the slot was claimed */
	uint64_t owner;             /* the rs_owner word our claim stored */
	uint32_t sample;            /* CLOCK sampling counter */
};

#endif /* FC_INTERNAL_H */
