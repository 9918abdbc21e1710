/*
 * fault.h - fault injection and test hooks (internal; tests and stress/
 * link the static library and include this header).
 *
 * DESIGN       Named points in the library call FC_FAULT(FC__FP_x). When no
 *              point is armed the cost is one load of a process-local flag
 *              and a predicted branch; the read path has two points
 *              (read.enter, read.inside), behind the same flag.
 *              A point is armed from code (fc__fault_arm: tests and the
 *              stress harness link the static library and this header).
 *              Only a library configured with -DFC_FAULT_FROM_ENV=ON (for
 *              fault testing, never shipped; off by default) also reads
 *              FC_FAULT="point:nth:action" from the environment
 *              (secure_getenv), once, at the first fc_open() of the
 *              process: a shipped library cannot be made to kill itself
 *              by its environment.
 * ACTIONS      kill - raise(SIGKILL) at the nth hit of the point.
 *              signal - raise(SIGUSR1) at the nth hit only, so that a
 *                     test's signal handler runs at that very point.
 *              fail - the operation at the point fails (syscall points:
 *                     returns FC_ESYS with errno EIO, or FC_ENOMEM for
 *                     page.grab), from the nth hit on (persistently) or, with
 *                     "fail1", at the nth hit only.
 * CONCURRENCY  Process-local; arm before starting threads.
 * CRASHES      n/a.
 */
#ifndef FC_FAULT_H
#define FC_FAULT_H

#include <stdint.h>

#define FC__FAULT_POINTS(X)                                                  \
	/* writer lock held */                                               \
	X(SET_LOCKED, "set.locked")       /* lock taken, nothing changed */  \
	X(SET_ALLOC, "set.alloc")         /* chunk popped from free list */  \
	X(SET_WRITTEN, "set.written")     /* item bytes written, unpublished */ \
	X(SET_PUBLISHED, "set.published") /* bucket stored, old not retired */ \
	X(SET_RETIRED, "set.retired")     /* old item in limbo, seq odd */   \
	X(DELETE_TOMB, "delete.tomb")     /* tombstone stored, not retired */ \
	X(EVICT, "evict.unlinked")        /* victim unlinked, not retired */ \
	X(RECLAIM, "reclaim.freeing")     /* midway through freeing limbo */ \
	X(REBUILD_HALF, "rebuild.half")   /* spare index half built */       \
	X(REBUILD_FLIPPED, "rebuild.flipped") /* selector flipped */         \
	X(SWEEP_LINE, "sweep.line")       /* expired item of a line unlinked, \
					     line's summary not yet lowered */ \
	X(PAGE_GRAB, "page.grab")         /* free page being carved */       \
	X(PAGE_DRAIN, "page.drain")       /* page half drained */            \
	X(PAGE_MOVE, "page.move")         /* page half compacted: items copied \
	                                     and republished, page DRAINING */ \
	X(FLUSH_HALF, "flush.half")       /* flush midway */                 \
	X(REPAIR_HALF, "repair.half")     /* repair midway (repairer killed) */ \
	X(LEASE_GRANT, "lease.grant")     /* entry half made (grant/takeover) */ \
	X(LEASE_GRANTED, "lease.granted") /* lease granted, mutex still held */ \
	X(LEASE_FILLED, "lease.filled")   /* value stored, lease not released */ \
	X(LEASE_RELEASED, "lease.released") /* entry free, word not bumped */ \
	X(REPAIR_LAST, "repair.last")     /* repair's last step: counters set, limbo not emptied, flag set */ \
	/* no lock */                                                        \
	X(READ_INSIDE, "read.inside")     /* inside a read section */        \
	X(LEASE_LEADER, "lease.leader")   /* leader returning FC_LEADER */   \
	X(LEASE_WAIT, "lease.wait")       /* waiter registered, not asleep */ \
	X(LEASE_WAKE, "lease.wake")       /* released, unlocked, not woken */ \
	X(READ_ENTER, "read.enter")       /* epoch loaded, not yet published */ \
	X(OPEN_FTRUNCATE, "open.ftruncate") /* fail: ftruncate of new segment */ \
	X(OPEN_MMAP, "open.mmap")         /* fail: mmap */                   \
	X(SLOT_CLAIM, "slot.claim")       /* fail: no slot (FC_EBUSY) */

enum fc__fault_point {
#define FC__FP_ENUM(id, name) FC__FP_##id,
	FC__FAULT_POINTS(FC__FP_ENUM)
#undef FC__FP_ENUM
	FC__FP_COUNT
};

#define FC__FAULT_KILL 1
#define FC__FAULT_FAIL 2  /* from the nth hit on */
#define FC__FAULT_FAIL1 3 /* at the nth hit only */
#define FC__FAULT_SIGNAL 4 /* raise(SIGUSR1) at the nth hit only: a test's
                              handler runs exactly there */

/* Arm @p point (its name, e.g. "set.written") to act at its @p nth hit
 * (1 = first) from now on. Returns 0, or FC_EINVAL for an unknown name,
 * nth 0 or a bad action. Arming again replaces the previous point. */
int fc__fault_arm(const char *point, uint64_t nth, int action);
/* Disarm; returns how many times the armed point was hit. */
uint64_t fc__fault_disarm(void);
/* NULL-terminated list of every point name. */
const char *const *fc__fault_point_names(void);
/* Parse "point:nth:action" (action kill|fail|fail1), as FC_FAULT does. */
int fc__fault_arm_spec(const char *spec);

/* Slow path of FC_FAULT; returns nonzero when the point must fail. */
int fc__fault_hit(enum fc__fault_point pt);
extern int fc__fault_armed;

#define FC_FAULT(pt) (__builtin_expect(fc__fault_armed, 0) ? fc__fault_hit(FC__FP_##pt) : 0)

#endif /* FC_FAULT_H */
