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

#endif /* FC_TEST_INTERNAL_H */
