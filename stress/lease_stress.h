/* lease_stress.h - forkcache-stress --lease (stress/lease.c). */
#ifndef FC_LEASE_STRESS_H
#define FC_LEASE_STRESS_H

/* Run the lease mode with forkcache-stress's arguments (--lease among
 * them); returns the exit code: 0 pass, 1 fail, 2 usage. */
int fc_stress_lease(int argc, char **argv);

#endif
