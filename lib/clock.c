/*
 * clock.c - the TTL clock and the monotonic clock.
 *
 * DESIGN       The TTL clock is CLOCK_REALTIME_COARSE (a vDSO read, a few ms
 *              of resolution) plus a test offset, so file-backed segments
 *              keep absolute expiry times across restarts. The monotonic
 *              clock bounds waits (grace periods) and rate-limits /proc
 *              liveness scans.
 * INVARIANTS   none shared.
 * CONCURRENCY  Process-local; the offset is read and written with liburcu's
 *              uatomic, so tests may move it while threads run.
 * CRASHES      Nothing shared: nothing to leave behind.
 * LIMITS       Resolution of CLOCK_REALTIME_COARSE (about 4 ms).
 */
#include <time.h>

#include <urcu/uatomic.h>

#include "forkcache.h"
#include "clock.h"

/* The tests' clock offset (fc__clock_set_offset_ms). uatomic set/read,
 * relaxed: it orders nothing; a reader that sees the old offset reads an
 * earlier TTL clock, as a coarse-clock tick would give. */
static int64_t clock_offset_ms;

void
fc__clock_set_offset_ms(int64_t offset_ms)
{
	uatomic_set(&clock_offset_ms, offset_ms);
}

uint64_t
fc__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u +
		(uint64_t)uatomic_read(&clock_offset_ms);
}

uint64_t
fc_now_ms(void)
{
	return fc__now_ms();
}

uint64_t
fc__mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
