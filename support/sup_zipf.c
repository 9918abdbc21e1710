/*
 * support/sup_zipf.c - see sup_zipf.h.
 */
#include <math.h>
#include <stdlib.h>

#include "sup_zipf.h"

double *
sup_zipf_cdf(uint32_t n, double s)
{
	double *cdf = malloc((size_t)n * sizeof *cdf);
	double sum = 0;

	if (cdf == NULL || n == 0) {
		free(cdf);
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++)
		cdf[i] = (sum += 1.0 / pow((double)i + 1, s));
	for (uint32_t i = 0; i < n; i++)
		cdf[i] /= sum;
	cdf[n - 1] = 1.0;
	return cdf;
}

uint32_t
sup_zipf_rank(const double *cdf, uint32_t n, double u)
{
	uint32_t lo = 0, hi = n - 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
