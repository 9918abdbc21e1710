/*
 * fc_internal.h - every lib/ module header, for the white-box tests
 * (tests/unit, tests/regress, tests/fault). Tests are not layered; lib/
 * files include only the headers below them (scripts/check-deps.sh).
 */
#ifndef FC_TEST_INTERNAL_H
#define FC_TEST_INTERNAL_H

#include "fc_internal.h"
#include "clock.h"
#include "evict.h"
#include "fault.h"
#include "index.h"
#include "item.h"
#include "lease.h"
#include "lock.h"
#include "readers.h"
#include "repair.h"
#include "segment.h"
#include "slab.h"

/*
 * Damage planting for tests: write one field of an item header as a
 * hostile or buggy writer would, bits and all (lib/item.h knows the same
 * bits for the library; nothing else does). Plain relaxed stores: the
 * tests that plant run no concurrent reader on the item.
 */
static inline void
fc_test_item_set_w0_bits(struct item_shm *it, uint64_t mask, uint64_t bits)
{
	fc__st_rlx(&it->it_w0, (fc__ld_rlx(&it->it_w0) & ~mask) | (bits & mask));
}
static inline void
fc_test_item_set_klen(struct item_shm *it, uint64_t klen)
{
	fc_test_item_set_w0_bits(it, 0xffull << FC_W0_KLEN_SHIFT, klen << FC_W0_KLEN_SHIFT);
}
static inline void
fc_test_item_set_vlen(struct item_shm *it, uint64_t vlen)
{
	fc__st_rlx(&it->it_w1, (fc__ld_rlx(&it->it_w1) & FC_W1_EXP_MASK) | vlen << FC_W1_VLEN_SHIFT);
}
static inline void
fc_test_item_set_state(struct item_shm *it, unsigned s)
{
	fc_test_item_set_w0_bits(it, FC_W0_STATE_MASK, (uint64_t)s << FC_W0_STATE_SHIFT);
}
/* A FREE chunk's link (the next free chunk's offset). */
static inline void
fc_test_item_set_link(struct item_shm *it, uint64_t next)
{
	fc_test_item_set_w0_bits(it, FC_W0_CAS_MASK, next >> 3);
}
/* The page map's class of the page holding @p it. */
static inline unsigned
fc_test_item_class(const fc_cache *c, const struct item_shm *it)
{
	return c->pages[fc__page_of(c, fc__off_of(c, it))].pm_class;
}

#endif /* FC_TEST_INTERNAL_H */
