/* lease_herd.h - forkcache-bench --lease-herd (lease_herd.c). */
#ifndef FC_BENCH_LEASE_HERD_H
#define FC_BENCH_LEASE_HERD_H

/* Run the herd (@p herd processes, one cold key, a compute of
 * @p compute_ms) and @p reps takeover measurements; print one line each.
 * Returns 0 ok, 1 failure (more than one compute, a wrong value), 2 usage. */
int bench_lease_herd(unsigned herd, unsigned compute_ms, unsigned reps, int json);

#endif
