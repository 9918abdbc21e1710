/*
 * repair.h - the writer section and repair (lib/repair.c).
 */
#ifndef FC_REPAIR_H
#define FC_REPAIR_H

#include "internal.h"

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

#endif /* FC_REPAIR_H */
