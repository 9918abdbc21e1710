/*
 * atomics.h - the one vocabulary for words in the shared segment.
 *
 * DESIGN       Segment words are accessed only through these wrappers, which
 *              map to Concurrency Kit's ck_pr (loads, stores, fences, CAS,
 *              FAA, FAS). ck_pr on x86-64 is inline assembly, which
 *              ThreadSanitizer cannot see; a TSan build (FC_TSAN, set by
 *              CMake for -DFC_SANITIZE=thread) maps the same wrappers to the
 *              compiler's __atomic builtins with the same orderings, so TSan
 *              checks the real protocol. This file is the only place raw
 *              builtins or ck_pr calls appear in lib/ (docs/design.md,
 *              "Memory model"); scripts/check-atomics.sh fails CI otherwise.
 *              Every 64-bit word is naturally aligned and lock-free on the
 *              target (static_assert below), so these work across processes:
 *              no libatomic locks, which are process-local.
 * INVARIANTS   none of its own.
 * CONCURRENCY  Callers document what each use orders and pairs with.
 * CRASHES      A single aligned 64-bit store is never torn by SIGKILL.
 * LIMITS       64-bit targets with lock-free 8-byte atomics only.
 */
#ifndef FC_ATOMICS_H
#define FC_ATOMICS_H

#include <assert.h>
#include <stdint.h>

#include <ck_pr.h>

static_assert(sizeof(void *) == 8, "forkcache needs a 64-bit target");
static_assert(__atomic_always_lock_free(8, 0), "8-byte atomics must be lock-free");

#ifdef FC_TSAN
static inline uint64_t fc__ld_acq(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline uint64_t fc__ld_rlx(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void fc__st_rel(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void fc__st_rlx(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline uint64_t fc__fas_sc(uint64_t *p, uint64_t v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline uint64_t fc__faa_sc(uint64_t *p, uint64_t d) { return __atomic_fetch_add(p, d, __ATOMIC_SEQ_CST); }
static inline int fc__cas_sc(uint64_t *p, uint64_t o, uint64_t n)
{
	return __atomic_compare_exchange_n(p, &o, n, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
/* GCC's TSan does not model fences. Every fc__fence_sc() caller runs
 * right after a seq_cst FAA on hd_epoch (readers.c), which is the barrier
 * TSan sees; so the fence is empty here. */
static inline void fc__fence_sc(void) {}
static inline uint8_t fc__ld8_rlx(const uint8_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void fc__st8_rlx(uint8_t *p, uint8_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
/* 16-bit words: the page map's pm_class. Relaxed: they order nothing; the
 * writer's store happens while the page is FREE and reaches readers only
 * through the bucket's release store that publishes an item of that page
 * (I2), which pairs with the reader's acquire load of the bucket word
 * (item.h fc__page_class, slab.c page grab). */
static inline uint16_t fc__ld16_rlx(const uint16_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void fc__st16_rlx(uint16_t *p, uint16_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
/* A 64-bit CAS that orders nothing (item.h: the readers' lossy frequency
 * bump and the writer's read-modify-write of an item's first word; both
 * only need the word's atomicity, and the writer's stores that matter are
 * published by the index's release store). */
static inline int fc__cas_rlx(uint64_t *p, uint64_t o, uint64_t n)
{
	return __atomic_compare_exchange_n(p, &o, n, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}
/* 32-bit words (lease futex word and waiter count, hd_seq, the slot
 * high-water mark). Relaxed: fc__ld32_rlx/fc__st32_rlx/fc__cas32_rlx order
 * nothing; their users re-check under the writer mutex or treat the value
 * as a hint (hd_slots_hwm only bounds scans, ls_waiters only decides
 * whether to FUTEX_WAKE). fc__faa32_sc is a full barrier: it pairs with a
 * waiter's acquire load of ls_word before FUTEX_WAIT, so a release that
 * frees the entry is seen by any waiter that sees the bumped word; if
 * reordered, a waiter could sleep on a word already changed and wait one
 * poll period. fc__ld32_acq/fc__st32_rel are the usual acquire/release
 * pair. */
static inline uint32_t fc__ld32_acq(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline uint32_t fc__ld32_rlx(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void fc__st32_rel(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void fc__st32_rlx(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline uint32_t fc__faa32_sc(uint32_t *p, uint32_t d) { return __atomic_fetch_add(p, d, __ATOMIC_SEQ_CST); }
static inline int fc__cas32_rlx(uint32_t *p, uint32_t o, uint32_t n)
{
	return __atomic_compare_exchange_n(p, &o, n, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}
/* Load-load and store-store fences (seqlock read side, segment publish).
 * Orders: fence_load keeps fc_verify's snapshot loads between its two
 * hd_seq reads (pairs with the writer's ck_sequence store fences; if
 * reordered a torn snapshot could pass the retry check); fence_store keeps
 * the creator's header stores before the final magic (pairs with the
 * attacher's load of the magic under flock).
 * GCC rejects __atomic_thread_fence under TSan (-Wtsan), so these stay
 * ck_pr's, which TSan does not see: their users (fc_verify's seqlock
 * retry, the creator's final magic under flock) are not what TSan checks. */
static inline void fc__fence_load(void) { ck_pr_fence_load(); }
static inline void fc__fence_store(void) { ck_pr_fence_store(); }
/* A spin-wait pause (no ordering). */
static inline void fc__pause(void) { ck_pr_stall(); }
#else
/* Load, then an acquire fence: later loads and stores stay after it. */
static inline uint64_t
fc__ld_acq(const uint64_t *p)
{
	uint64_t v = ck_pr_load_64(p);

	ck_pr_fence_acquire();
	return v;
}
static inline uint64_t fc__ld_rlx(const uint64_t *p) { return ck_pr_load_64(p); }
/* A release fence, then the store: earlier loads and stores stay before it. */
static inline void
fc__st_rel(uint64_t *p, uint64_t v)
{
	ck_pr_fence_release();
	ck_pr_store_64(p, v);
}
static inline void fc__st_rlx(uint64_t *p, uint64_t v) { ck_pr_store_64(p, v); }
/* Exchange with a full fence on both sides (ck_pr_fas is a locked xchg). */
static inline uint64_t
fc__fas_sc(uint64_t *p, uint64_t v)
{
	ck_pr_fence_atomic();
	v = ck_pr_fas_64(p, v);
	ck_pr_fence_atomic_load();
	return v;
}
static inline uint64_t
fc__faa_sc(uint64_t *p, uint64_t d)
{
	ck_pr_fence_memory();
	d = ck_pr_faa_64(p, d);
	ck_pr_fence_memory();
	return d;
}
static inline int
fc__cas_sc(uint64_t *p, uint64_t o, uint64_t n)
{
	ck_pr_fence_memory();
	int ok = ck_pr_cas_64(p, o, n);
	ck_pr_fence_memory();
	return ok;
}
static inline void fc__fence_sc(void) { ck_pr_fence_memory(); }
static inline uint8_t fc__ld8_rlx(const uint8_t *p) { return ck_pr_load_8(p); }
static inline void fc__st8_rlx(uint8_t *p, uint8_t v) { ck_pr_store_8(p, v); }
/* Relaxed 16-bit words (pm_class; see the TSan branch for what orders them). */
static inline uint16_t fc__ld16_rlx(const uint16_t *p) { return ck_pr_load_16(p); }
static inline void fc__st16_rlx(uint16_t *p, uint16_t v) { ck_pr_store_16(p, v); }
/* CAS without fences of its own (see the TSan branch for its users). */
static inline int fc__cas_rlx(uint64_t *p, uint64_t o, uint64_t n) { return ck_pr_cas_64(p, o, n); }
static inline uint32_t
fc__ld32_acq(const uint32_t *p)
{
	uint32_t v = ck_pr_load_32(p);

	ck_pr_fence_acquire();
	return v;
}
static inline uint32_t fc__ld32_rlx(const uint32_t *p) { return ck_pr_load_32(p); }
/* A release fence, then the store (pairs with fc__ld32_acq; see the TSan
 * branch's comment on the 32-bit words for the users). */
static inline void
fc__st32_rel(uint32_t *p, uint32_t v)
{
	ck_pr_fence_release();
	ck_pr_store_32(p, v);
}
static inline void fc__st32_rlx(uint32_t *p, uint32_t v) { ck_pr_store_32(p, v); }
static inline uint32_t
fc__faa32_sc(uint32_t *p, uint32_t d)
{
	ck_pr_fence_memory();
	d = ck_pr_faa_32(p, d);
	ck_pr_fence_memory();
	return d;
}
/* CAS without fences of its own (a locked cmpxchg on x86 is one anyway). */
static inline int fc__cas32_rlx(uint32_t *p, uint32_t o, uint32_t n) { return ck_pr_cas_32(p, o, n); }
/* Load-load and store-store fences (seqlock read side, segment publish). */
static inline void fc__fence_load(void) { ck_pr_fence_load(); }
static inline void fc__fence_store(void) { ck_pr_fence_store(); }
/* A spin-wait pause (no ordering). */
static inline void fc__pause(void) { ck_pr_stall(); }
#endif

#endif /* FC_ATOMICS_H */
