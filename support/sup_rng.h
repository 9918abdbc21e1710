/*
 * support/sup_rng.h - the pseudo-random numbers of tests, stress, bench and the
 * demo: one copy of each generator (header-only: the benchmarks' loops
 * inline them).
 *
 * DESIGN       splitmix64 (Steele, Lea, Flood 2014): one 64-bit word of state,
 *              any seed (0 too), every output well mixed; sup_mix64 is one
 *              step of it on a copy, a cheap 64-bit hash. xorshift64
 *              (Marsaglia 2003) is cheaper and is what the benchmarks draw
 *              keys with; its state must never be 0.
 *              Not for anything secret. Same seed, same sequence, on every
 *              platform: runs that print their seed can be repeated.
 */
#ifndef FC_SUPPORT_RNG_H
#define FC_SUPPORT_RNG_H

#include <stdint.h>

/* The next splitmix64 output; advances *s. */
static inline uint64_t
sup_splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* One splitmix64 step of @p z: a bijective 64-bit mix (hash, seed). */
static inline uint64_t
sup_mix64(uint64_t z)
{
	return sup_splitmix64(&z);
}

/* Uniform in [0, n) by modulo (bias below 2^-32 for n < 2^32); 0 if n is 0. */
static inline uint64_t
sup_below(uint64_t *s, uint64_t n)
{
	return n ? sup_splitmix64(s) % n : 0;
}

/* Uniform in [lo, hi] (hi >= lo, hi - lo < UINT64_MAX). */
static inline uint64_t
sup_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
	return lo + sup_below(s, hi - lo + 1);
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double
sup_unit(uint64_t *s)
{
	return (double)(sup_splitmix64(s) >> 11) * 0x1.0p-53;
}

/* xorshift64 (13, 7, 17); *s must not be 0 (it would stay 0). */
static inline uint64_t
sup_xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

#endif /* FC_SUPPORT_RNG_H */
