/*
 * l2.c - the optional shared second tier of forkcache-api: Redis between
 * the machines' forkcache segments (L1) and the database (--l2 ADDR).
 *
 * DESIGN       With several machines, each keeps its L1 segment; Redis holds
 *              (1) the responses every machine computed ("fcapi:" + the L1
 *              key, PX = the TTL), so a key computed on A is not computed
 *              again on B, and (2) the generation counters the keys embed
 *              ("fcapi:" + "gen:<name>"), so both machines build the same
 *              key for the same data. A machine's L1 caches generations
 *              too; a PUT INCRs the generation in Redis, then
 *              fc_invalidate_publish()es "gen:<name>": its own copy goes
 *              at once, the other machines' forkcache-sync daemons drop
 *              theirs, and their next request reads the new value from
 *              Redis (docs/redis.md). Responses under old generations are
 *              never looked up again and expire.
 * GENERATIONS  A generation missing in Redis starts at the wall clock in
 *              ns (SET NX), and a bump on a missing one does the same before
 *              INCR, so a value is never reused after Redis loses it (same
 *              argument as respcache.c, INVALIDATION).
 * THREADS      One hiredis connection and one fc_redis publisher per thread
 *              (thread-local), opened on first use in the worker, reopened
 *              after an error. Redis errors make the caller fall back to the
 *              database: the L2 is an accelerator, never a point of failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "api.h"
#include "forkcache-redis.h"

#define L2_PREFIX "fcapi:"
#define L2_TIMEOUT_MS 200 /* per Redis command: then the database */

static const char gen_get_script[] =
	"redis.call('SET', KEYS[1], ARGV[1], 'NX')\n"
	"return redis.call('GET', KEYS[1])\n";
static const char gen_bump_script[] =
	"if redis.call('EXISTS', KEYS[1]) == 0 then\n"
	"  redis.call('SET', KEYS[1], ARGV[1])\n"
	"end\n"
	"return redis.call('INCR', KEYS[1])\n";

static struct {
	int on;
	int is_unix;
	char path[108];
	char host[256];
	int port;
	const char *addr; /* as given: fc_redis_open parses it too */
	const char *ns;
} l2;

struct l2_tls {
	redisContext *ctx;
	fc_redis *pub;
	pid_t pid;
};
static _Thread_local struct l2_tls tls;

int
l2_configure(const char *addr, const char *ns)
{
	const char *s = addr, *colon;
	char *end;
	long port;

	if (strncmp(s, "unix://", 7) == 0 || strncmp(s, "unix:", 5) == 0) {
		s += s[5] == '/' && s[6] == '/' ? 7 : 5;
		if (*s == '\0' || strlen(s) >= sizeof l2.path)
			return -1;
		l2.is_unix = 1;
		snprintf(l2.path, sizeof l2.path, "%s", s);
	} else {
		if (strncmp(s, "redis://", 8) == 0)
			s += 8;
		colon = strrchr(s, ':');
		if (colon == NULL || colon == s ||
		    (size_t)(colon - s) >= sizeof l2.host)
			return -1;
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno || (*end != '\0' && strcmp(end, "/") != 0) ||
		    port < 1 || port > 65535)
			return -1;
		memcpy(l2.host, s, (size_t)(colon - s));
		l2.host[colon - s] = '\0';
		l2.port = (int)port;
	}
	l2.addr = addr;
	l2.ns = ns;
	l2.on = 1;
	return 0;
}

int
l2_enabled(void)
{
	return l2.on;
}

static void
drop(void)
{
	if (tls.ctx)
		redisFree(tls.ctx);
	tls.ctx = NULL;
}

static redisContext *
conn(void)
{
	struct timeval tv = {0, L2_TIMEOUT_MS * 1000};

	if (tls.pid != getpid()) { /* inherited over fork: not ours */
		tls.ctx = NULL;
		tls.pub = NULL;
		tls.pid = getpid();
	}
	if (tls.ctx && !tls.ctx->err)
		return tls.ctx;
	drop();
	tls.ctx = l2.is_unix ? redisConnectUnixWithTimeout(l2.path, tv)
			     : redisConnectWithTimeout(l2.host, l2.port, tv);
	if (tls.ctx == NULL || tls.ctx->err) {
		drop();
		return NULL;
	}
	redisSetTimeout(tls.ctx, tv);
	return tls.ctx;
}

/* One command; the reply, or NULL (the connection is dropped on error). */
static redisReply *
command(int argc, const char **argv, const size_t *argl)
{
	redisContext *c = conn();
	redisReply *r;

	if (c == NULL)
		return NULL;
	r = redisCommandArgv(c, argc, argv, argl);
	if (r == NULL) {
		drop();
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static size_t
l2_key(char *out, const char *k, size_t klen)
{
	memcpy(out, L2_PREFIX, sizeof L2_PREFIX - 1);
	memcpy(out + sizeof L2_PREFIX - 1, k, klen);
	return sizeof L2_PREFIX - 1 + klen;
}

int
l2_get(const char *k, size_t klen, struct buf *out)
{
	char key[sizeof L2_PREFIX + FC_KEY_MAX];
	const char *argv[2] = {"GET", key};
	size_t argl[2] = {3, l2_key(key, k, klen)};
	redisReply *r = command(2, argv, argl);
	int ret;

	if (r == NULL) {
		api_count(&api_my_stats()->l2_errors);
		return -1;
	}
	ret = 0;
	if (r->type == REDIS_REPLY_STRING) {
		out->len = 0;
		ret = buf_put(out, r->str, r->len) == 0 ? 1 : -1;
	}
	freeReplyObject(r);
	return ret;
}

void
l2_set(const char *k, size_t klen, const void *v, size_t vlen,
       uint64_t ttl_ms)
{
	char key[sizeof L2_PREFIX + FC_KEY_MAX], px[24];
	const char *argv[5] = {"SET", key, v, "PX", px};
	size_t argl[5] = {3, l2_key(key, k, klen), vlen, 2, 0};
	redisReply *r;

	argl[4] = (size_t)snprintf(px, sizeof px, "%" PRIu64, ttl_ms);
	if ((r = command(5, argv, argl)) == NULL)
		api_count(&api_my_stats()->l2_errors);
	else
		freeReplyObject(r);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* EVAL @p script on the generation key; its integer or string result. */
static uint64_t
gen_eval(const char *script, const char *k, size_t klen)
{
	char key[sizeof L2_PREFIX + FC_KEY_MAX], now[24];
	const char *argv[5] = {"EVAL", script, "1", key, now};
	size_t argl[5] = {4, strlen(script), 1, l2_key(key, k, klen), 0};
	redisReply *r;
	uint64_t v = 0;

	argl[4] = (size_t)snprintf(now, sizeof now, "%" PRIu64, now_ns());
	if ((r = command(5, argv, argl)) == NULL) {
		api_count(&api_my_stats()->l2_errors);
		return 0;
	}
	if (r->type == REDIS_REPLY_INTEGER)
		v = (uint64_t)r->integer;
	else if (r->type == REDIS_REPLY_STRING)
		v = strtoull(r->str, NULL, 10);
	freeReplyObject(r);
	return v;
}

uint64_t
l2_gen_get(const char *k, size_t klen)
{
	return gen_eval(gen_get_script, k, klen);
}

void
l2_gen_bump(fc_cache *gen_cache, const char *k, size_t klen)
{
	/* Redis first: a machine that drops its copy must find the new
	 * value when it reads again. */
	if (gen_eval(gen_bump_script, k, klen) == 0) {
		(void)fc_delete(gen_cache, k, klen);
		return;
	}
	if (tls.pid != getpid()) {
		tls.ctx = NULL;
		tls.pub = NULL;
		tls.pid = getpid();
	}
	if (tls.pub == NULL) {
		fc_redis_options o;

		fc_redis_options_init(&o);
		o.timeout_ms = L2_TIMEOUT_MS;
		if (fc_redis_open(l2.addr, &o, &tls.pub) != FC_OK) {
			fc_redis_close(tls.pub);
			tls.pub = NULL;
		}
	}
	/* Deletes our copy, then tells the other machines. A failed
	 * publish leaves them on the old generation until their daemons'
	 * rule flushes or the responses expire (docs/redis.md). */
	if (tls.pub == NULL ||
	    fc_invalidate_publish(gen_cache, tls.pub, l2.ns, k, klen) !=
		    FC_OK) {
		api_count(&api_my_stats()->l2_errors);
		(void)fc_delete(gen_cache, k, klen);
	}
}
