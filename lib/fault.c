/*
 * fault.c - fault injection points.
 *
 * DESIGN       See fault.h. The armed point, its countdown and its action
 *              are process-local globals; FC_FAULT() tests one flag first.
 * INVARIANTS   none shared.
 * CONCURRENCY  Process-local; tests arm before starting threads. The
 *              countdown uses liburcu's uatomic so threads may hit a point.
 * CRASHES      A "kill" point raises SIGKILL: that is its purpose.
 * LIMITS       One armed point per process.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <urcu/uatomic.h>

#include "forkcache.h"
#include "fault.h"

int fc__fault_armed;
static enum fc__fault_point armed_point;
static unsigned long armed_nth;
static unsigned long armed_hits;
static int armed_action;

static const char *const point_names[] = {
#define FC__FP_NAME(id, name) name,
	FC__FAULT_POINTS(FC__FP_NAME)
#undef FC__FP_NAME
		NULL};

const char *const *
fc__fault_point_names(void)
{
	return point_names;
}

int
fc__fault_arm(const char *point, uint64_t nth, int action)
{
	if (!point || nth == 0 || action < FC__FAULT_KILL || action > FC__FAULT_SIGNAL)
		return FC_EINVAL;
	for (int i = 0; i < FC__FP_COUNT; i++) {
		if (strcmp(point_names[i], point) == 0) {
			fc__fault_armed = 0;
			armed_point = (enum fc__fault_point)i;
			armed_nth = (unsigned long)nth;
			armed_action = action;
			uatomic_set(&armed_hits, 0);
			fc__fault_armed = 1;
			return FC_OK;
		}
	}
	return FC_EINVAL;
}

uint64_t
fc__fault_disarm(void)
{
	fc__fault_armed = 0;
	return uatomic_read(&armed_hits);
}

int
fc__fault_arm_spec(const char *spec)
{
	char buf[96], *nth, *act;

	if (!spec || strlen(spec) >= sizeof buf)
		return FC_EINVAL;
	strcpy(buf, spec);
	if (!(nth = strchr(buf, ':')))
		return FC_EINVAL;
	*nth++ = 0;
	if (!(act = strchr(nth, ':')))
		return FC_EINVAL;
	*act++ = 0;
	char *end;
	unsigned long long n = strtoull(nth, &end, 10);
	if (*end || n == 0)
		return FC_EINVAL;
	int a = strcmp(act, "kill") == 0     ? FC__FAULT_KILL
		: strcmp(act, "fail") == 0   ? FC__FAULT_FAIL
		: strcmp(act, "fail1") == 0  ? FC__FAULT_FAIL1
		: strcmp(act, "signal") == 0 ? FC__FAULT_SIGNAL
					     : 0;
	return fc__fault_arm(buf, n, a);
}

int
fc__fault_hit(enum fc__fault_point pt)
{
	if (pt != armed_point)
		return 0;
	unsigned long n = uatomic_add_return(&armed_hits, 1);
	if (n < armed_nth)
		return 0;
	switch (armed_action) {
	case FC__FAULT_KILL:
		raise(SIGKILL);
		for (;;)
			pause();
	case FC__FAULT_FAIL:
		return 1;
	case FC__FAULT_FAIL1:
		return n == armed_nth;
	case FC__FAULT_SIGNAL:
		if (n == armed_nth)
			raise(SIGUSR1);
		return 0;
	}
	return 0;
}
