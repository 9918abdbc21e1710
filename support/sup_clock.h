/*
 * support/sup_clock.h - elapsed time for tests, stress and benchmarks.
 */
#ifndef FC_SUPPORT_CLOCK_H
#define FC_SUPPORT_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t
sup_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif /* FC_SUPPORT_CLOCK_H */
