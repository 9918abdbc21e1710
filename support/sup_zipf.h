/*
 * support/sup_zipf.h - Zipf-distributed key ranks for workloads.
 *
 * DESIGN       P(rank i) is proportional to 1/(i+1)^s over ranks 0..n-1. The
 *              cumulative table is computed once (a parent computes it and
 *              forked workers inherit it); a draw is one uniform number and
 *              a binary search.
 */
#ifndef FC_SUPPORT_ZIPF_H
#define FC_SUPPORT_ZIPF_H

#include <stdint.h>

/* A malloc'd CDF of @p n (>= 1) ranks with exponent @p s; NULL if out of
 * memory. Its last entry is exactly 1. */
double *sup_zipf_cdf(uint32_t n, double s);

/* The smallest rank whose CDF reaches @p u (uniform in [0, 1)). */
uint32_t sup_zipf_rank(const double *cdf, uint32_t n, double u);

#endif /* FC_SUPPORT_ZIPF_H */
