/*
 * repair.h - the writer section and repair (lib/repair.c).
 */
#ifndef FC_REPAIR_H
#define FC_REPAIR_H

#include "internal.h"
#include "readers.h"

/* Enter the writer section: take hd_mutex, repair if the last owner died
 * or damage was marked. FC_OK, FC_EBUSY (repair could not finish: readers
 * held it back), FC_ECORRUPT (mutex unrecoverable) or FC_ESYS. */
int fc__lock(fc_cache *c);
void fc__unlock(fc_cache *c);
/* Repair now (L1: marks, rebuilds, clears). Writer mutex held. */
int fc__repair_locked(fc_cache *c);
/* Rebuild every allocator structure and counter from the live index,
 * after emptying it when @p drop_index (fc_flush). Writer mutex held. */
int fc__repair_rebuild_locked(fc_cache *c, int drop_index);

struct fc_tls *fc__read_begin_slow(fc_cache *c, int *err);
/* Enter a read section; if every reader slot is taken, reap dead owners
 * under the writer lock and claim once more (FC_EBUSY if still full). */
static inline struct fc_tls *
fc__read_begin(fc_cache *c, int *err)
{
	struct fc_tls *t = fc__read_enter(c, err);

	if (__builtin_expect(!t && *err == FC__ESLOTS_FULL, 0))
		t = fc__read_begin_slow(c, err);
	return t;
}

#endif /* FC_REPAIR_H */
