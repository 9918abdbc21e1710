/*
 * errors.c - fc_strerror and fc_errname, generated from the FC_ERRORS
 *            X-macro in include/forkcache.h (one list: code, name, text).
 *
 * DESIGN       Two lookups over the same list; no table to keep in step.
 * INVARIANTS   Every code the library returns has an FC_ERRORS entry.
 * CONCURRENCY  Pure functions; any thread.
 * CRASHES      n/a.
 * LIMITS       none.
 */
#include "forkcache.h"

const char *
fc_strerror(int err)
{
#define FC__ERRMSG(name, val, msg) \
	if (err == (val))          \
		return msg;
	FC_ERRORS(FC__ERRMSG)
#undef FC__ERRMSG
	return "unknown forkcache error";
}

const char *
fc_errname(int err)
{
#define FC__ERRNAME(name, val, msg) \
	if (err == (val))           \
		return "FC_" #name;
	FC_ERRORS(FC__ERRNAME)
#undef FC__ERRNAME
	return "FC_EUNKNOWN";
}
