/*
 * clock.h - the TTL clock and the monotonic clock (lib/clock.c).
 */
#ifndef FC_CLOCK_H
#define FC_CLOCK_H

#include <stdint.h>

/* TTL clock: CLOCK_REALTIME_COARSE in ms, plus the test offset. */
uint64_t fc__now_ms(void);
/* Monotonic ms: grace-wait budgets and liveness-scan rate limits. */
uint64_t fc__mono_ms(void);
/* Test clock: add @p offset_ms to the TTL clock of this process
 * (fc_now_ms and every expiry check). Tests use it instead of sleeping. */
void fc__clock_set_offset_ms(int64_t offset_ms);

#endif /* FC_CLOCK_H */
