/*
 * fc_redis.c - libforkcache-redis: publish invalidations of a forkcache
 * near cache through Redis (include/forkcache-redis.h), and the helpers
 * forkcache-sync and the CLI share (redis_internal.h).
 *
 * DESIGN       One Lua script (EVAL) increments the namespace's sequence
 *              key and publishes the message carrying the new value, so
 *              Redis orders sequence numbers exactly as it delivers the
 *              messages: a subscriber that sees 7 after 5 knows it missed
 *              6. A publisher deletes locally before it publishes, so its
 *              own machine is consistent when the call returns.
 * CONCURRENCY  An fc_redis handle is one hiredis connection: one thread at
 *              a time. hiredis writes with write(2): a write to a
 *              connection Redis closed raises SIGPIPE, whose default
 *              action kills the application. Every call that writes runs
 *              with SIGPIPE blocked in the calling thread and consumes a
 *              SIGPIPE it caused (sigpipe_block/sigpipe_restore), so the
 *              error comes back as EPIPE/ECONNRESET instead. The local
 *              segment is touched only through the public API
 *              (fc_delete, fc_flush, fc_iter_*), which any thread may
 *              call.
 * CRASHES      A publisher killed between its local delete and the publish
 *              leaves the other machines uninformed of a change it may not
 *              have made either; the caller's retry (or the item's TTL)
 *              covers it. Nothing here is shared memory.
 * LIMITS       Messages hold at most 7 + FC_KEY_MAX bytes of payload.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redis_internal.h"

#define DEFAULT_TIMEOUT_MS 1000u
#define MAX_TIMEOUT_MS 3600000u /* one hour */
#define PREFIX_PASSES 4 /* index rebuilds tolerated before a flush */

/*
 * KEYS[1] sequence key, ARGV[1] channel, ARGV[2] "key K" | "prefix P" |
 * "all". %.0f: Lua 5.1 numbers are doubles; "%d" or tostring would switch
 * to exponent notation past 1e14, %.0f is exact up to 2^53.
 */
static const char publish_script[] =
	"local s = redis.call('INCR', KEYS[1])\n"
	"redis.call('PUBLISH', ARGV[1], string.format('%.0f', s) .. ' ' .. "
	"ARGV[2])\n"
	"return s\n";

struct fc_redis {
	struct fc__redis_addr addr;
	char *user, *password;
	uint32_t db, timeout_ms;
	redisContext *ctx; /* NULL = not connected */
	pid_t pid; /* process that made ctx */
	char err[256];
};

/* ----------------------------------------------------------- helpers -- */

struct sigpipe_guard {
	sigset_t old;
	bool was_pending; /* a SIGPIPE not ours: leave it pending */
};

static void
sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t pipe_set, pending;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old);
}

static void
sigpipe_restore(struct sigpipe_guard *g)
{
	sigset_t pipe_set, pending;
	int saved = errno;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	if (!g->was_pending && sigismember(&pending, SIGPIPE) == 1) {
		const struct timespec zero = {0, 0};

		sigtimedwait(&pipe_set, NULL, &zero); /* ours: consume */
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
	errno = saved;
}

int
fc__redis_addr_parse(const char *s, struct fc__redis_addr *a)
{
	const char *host, *colon, *end;
	size_t hlen;
	char *stop;
	long port;

	if (s == NULL || a == NULL)
		return -1;
	memset(a, 0, sizeof *a);
	if (strncmp(s, "unix://", 7) == 0 || strncmp(s, "unix:", 5) == 0) {
		const char *p = s + (s[5] == '/' && s[6] == '/' ? 7 : 5);

		if (*p == '\0' || strlen(p) >= sizeof a->path)
			return -1;
		a->is_unix = true;
		strcpy(a->path, p);
		return 0;
	}
	if (strncmp(s, "redis://", 8) == 0)
		s += 8;
	end = s + strlen(s);
	if (end > s && end[-1] == '/')
		end--; /* "redis://host:6379/" */
	if (*s == '[') { /* [IPv6]:port */
		host = s + 1;
		const char *rb = memchr(host, ']', (size_t)(end - host));

		if (rb == NULL || rb[1] != ':')
			return -1;
		hlen = (size_t)(rb - host);
		colon = rb + 1;
	} else {
		host = s;
		colon = NULL;
		for (const char *p = s; p < end; p++)
			if (*p == ':')
				colon = p;
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - host);
	}
	if (hlen == 0 || hlen >= sizeof a->host || colon + 1 >= end)
		return -1;
	for (const char *p = colon + 1; p < end; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	port = strtol(colon + 1, &stop, 10);
	if (errno || stop != end || port < 1 || port > 65535)
		return -1;
	memcpy(a->host, host, hlen);
	a->host[hlen] = '\0';
	a->port = (int)port;
	return 0;
}

const char *
fc__redis_addr_str(const struct fc__redis_addr *a, char *buf, size_t bufsz)
{
	if (a->is_unix)
		snprintf(buf, bufsz, "unix:%s", a->path);
	else if (strchr(a->host, ':') != NULL)
		snprintf(buf, bufsz, "[%s]:%d", a->host, a->port);
	else
		snprintf(buf, bufsz, "%s:%d", a->host, a->port);
	return buf;
}

bool
fc__redis_ns_valid(const char *ns)
{
	if (ns == NULL)
		return false;
	size_t n = strnlen(ns, FC_REDIS_NS_MAX + 1);
	return n >= 1 && n <= FC_REDIS_NS_MAX;
}

void
fc__redis_channel(const char *ns, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s%s", FC_REDIS_CHANNEL_PREFIX, ns);
}

void
fc__redis_seq_key(const char *ns, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s%s", FC_REDIS_SEQ_PREFIX, ns);
}

int
fc__redis_ctx_errno(const redisContext *ctx)
{
	if (ctx == NULL)
		return ENOMEM;
	switch (ctx->err) {
	case REDIS_ERR_EOF:
		return ECONNRESET;
	case REDIS_ERR_PROTOCOL:
		return EPROTO;
	case REDIS_ERR_OOM:
		return ENOMEM;
	case REDIS_ERR_IO:
		/* hiredis 0.14 keeps no errno of its own; its message is
		 * strerror() of the failing call's errno. */
		if (strstr(ctx->errstr, "temporarily unavailable") ||
		    strstr(ctx->errstr, "timed out"))
			return ETIMEDOUT;
		if (strstr(ctx->errstr, "refused"))
			return ECONNREFUSED;
		if (strstr(ctx->errstr, "No such file"))
			return ENOENT;
		if (strstr(ctx->errstr, "reset") ||
		    strstr(ctx->errstr, "Broken pipe"))
			return ECONNRESET;
		if (strstr(ctx->errstr, "Permission denied"))
			return EACCES;
		return EIO;
	default:
		return EIO;
	}
}

/* errno for an error reply: a refused AUTH is EACCES, the rest EPROTO. */
static int
reply_errno(const redisReply *rep)
{
	if (strncmp(rep->str, "WRONGPASS", 9) == 0 ||
	    strncmp(rep->str, "NOAUTH", 6) == 0 ||
	    strncmp(rep->str, "NOPERM", 6) == 0 ||
	    strstr(rep->str, "invalid password") != NULL)
		return EACCES;
	return EPROTO;
}

/* Run one command on a fresh connection during connect(). */
static int
setup_command(redisContext *ctx, char *err, size_t errsz, const char *what,
	      int argc, const char **argv)
{
	redisReply *rep = redisCommandArgv(ctx, argc, argv, NULL);
	int e;

	if (rep == NULL) {
		e = fc__redis_ctx_errno(ctx);
		snprintf(err, errsz, "%s: %s", what, ctx->errstr);
		errno = e;
		return -1;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		e = reply_errno(rep);
		snprintf(err, errsz, "%s: %s", what, rep->str);
		freeReplyObject(rep);
		errno = e;
		return -1;
	}
	freeReplyObject(rep);
	return 0;
}

redisContext *
fc__redis_connect(const struct fc__redis_addr *a, const char *user,
		  const char *password, uint32_t db, uint32_t timeout_ms,
		  char *err, size_t errsz)
{
	struct timeval tv = {
		.tv_sec = timeout_ms / 1000,
		.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000,
	};
	redisContext *ctx;
	int e;

	errno = 0;
	ctx = a->is_unix ? redisConnectUnixWithTimeout(a->path, tv)
			 : redisConnectWithTimeout(a->host, a->port, tv);
	if (ctx == NULL) {
		snprintf(err, errsz, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	if (ctx->err) {
		e = fc__redis_ctx_errno(ctx);
		snprintf(err, errsz, "connect: %s", ctx->errstr);
		redisFree(ctx);
		errno = e;
		return NULL;
	}
	if (redisSetTimeout(ctx, tv) != REDIS_OK) {
		snprintf(err, errsz, "setsockopt: %s", strerror(errno));
		e = errno;
		redisFree(ctx);
		errno = e;
		return NULL;
	}
	if (password != NULL) {
		const char *argv[3] = {"AUTH", user ? user : password,
				       password};

		if (setup_command(ctx, err, errsz, "AUTH", user ? 3 : 2,
				  argv) < 0)
			goto fail;
	}
	if (db > 0) {
		char dbs[16];
		const char *argv[2] = {"SELECT", dbs};

		snprintf(dbs, sizeof dbs, "%u", db);
		if (setup_command(ctx, err, errsz, "SELECT", 2, argv) < 0)
			goto fail;
	}
	return ctx;
fail:
	e = errno;
	redisFree(ctx);
	errno = e;
	return NULL;
}

static int
parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 19 || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int
fc__redis_msg_parse(const char *s, size_t n, struct fc__redis_msg *m,
		    const char **why)
{
	const char *sp = memchr(s, ' ', n), *op, *rest;
	size_t oplen, restlen;

	memset(m, 0, sizeof *m);
	if (sp == NULL) {
		*why = "no space after the sequence number";
		return -1;
	}
	if (parse_u64(s, (size_t)(sp - s), &m->seq) < 0 || m->seq == 0 ||
	    m->seq > INT64_MAX) {
		*why = "sequence number is not a decimal 1..2^63-1";
		return -1;
	}
	op = sp + 1;
	rest = memchr(op, ' ', n - (size_t)(op - s));
	oplen = rest ? (size_t)(rest - op) : n - (size_t)(op - s);
	restlen = rest ? n - (size_t)(rest + 1 - s) : 0;
	if (oplen == 3 && memcmp(op, "all", 3) == 0) {
		if (rest != NULL) {
			*why = "'all' takes no argument";
			return -1;
		}
		m->op = FC__REDIS_ALL;
		return 0;
	}
	if (oplen == 3 && memcmp(op, "key", 3) == 0)
		m->op = FC__REDIS_KEY;
	else if (oplen == 6 && memcmp(op, "prefix", 6) == 0)
		m->op = FC__REDIS_PREFIX;
	else {
		*why = "operation is not key, prefix or all";
		return -1;
	}
	if (rest == NULL || restlen == 0 || restlen > FC_KEY_MAX) {
		*why = "key or prefix is not 1..250 bytes";
		return -1;
	}
	m->arg = rest + 1;
	m->alen = restlen;
	return 0;
}

/* ------------------------------------------------------------ public -- */

void
fc_redis_options_init(fc_redis_options *opts)
{
	if (opts == NULL)
		return;
	memset(opts, 0, sizeof *opts);
	opts->timeout_ms = DEFAULT_TIMEOUT_MS;
}

const char *
fc_redis_error(const fc_redis *r)
{
	return r ? r->err : "";
}

/* Call with SIGPIPE blocked (sigpipe_block). */
static int
redis_connect(fc_redis *r)
{
	if (r->ctx != NULL && r->pid != getpid()) {
		/* Inherited over fork(): closing our copy of the descriptor
		 * sends nothing, the parent's connection is untouched. */
		redisFree(r->ctx);
		r->ctx = NULL;
	}
	if (r->ctx != NULL)
		return FC_OK;
	r->ctx = fc__redis_connect(&r->addr, r->user, r->password, r->db,
				   r->timeout_ms, r->err, sizeof r->err);
	if (r->ctx == NULL)
		return FC_ESYS;
	r->pid = getpid();
	return FC_OK;
}

int
fc_redis_open(const char *addr, const fc_redis_options *opts, fc_redis **out)
{
	fc_redis_options def;
	fc_redis *r;

	if (out == NULL)
		return FC_EINVAL;
	*out = NULL;
	if (opts == NULL) {
		fc_redis_options_init(&def);
		opts = &def;
	}
	if (addr == NULL || opts->timeout_ms < 1 ||
	    opts->timeout_ms > MAX_TIMEOUT_MS)
		return FC_EINVAL;
	for (size_t i = 0; i < sizeof opts->reserved / sizeof opts->reserved[0]; i++)
		if (opts->reserved[i] != 0)
			return FC_EINVAL;
	if ((r = calloc(1, sizeof *r)) == NULL) {
		errno = ENOMEM;
		return FC_ESYS;
	}
	if (fc__redis_addr_parse(addr, &r->addr) < 0) {
		free(r);
		return FC_EINVAL;
	}
	r->db = opts->db;
	r->timeout_ms = opts->timeout_ms;
	if ((opts->user && !(r->user = strdup(opts->user))) ||
	    (opts->password && !(r->password = strdup(opts->password)))) {
		fc_redis_close(r);
		errno = ENOMEM;
		return FC_ESYS;
	}
	*out = r;
	struct sigpipe_guard g;

	sigpipe_block(&g);
	int rc = redis_connect(r);

	sigpipe_restore(&g);
	return rc;
}

void
fc_redis_close(fc_redis *r)
{
	if (r == NULL)
		return;
	if (r->ctx != NULL)
		redisFree(r->ctx);
	free(r->user);
	free(r->password);
	free(r);
}

/*
 * EVAL the publish script with payload "<op>[ <arg>]". A connection that
 * was open before the call and fails is reopened and the command sent once
 * more: a message published twice is harmless (deletes are idempotent and
 * the second copy has its own sequence number).
 */
static int
publish_locked(fc_redis *r, const char *ns, const char *op, const void *arg,
	       size_t alen);

static int
publish(fc_redis *r, const char *ns, const char *op, const void *arg,
	size_t alen)
{
	struct sigpipe_guard g;
	int rc;

	sigpipe_block(&g);
	rc = publish_locked(r, ns, op, arg, alen);
	sigpipe_restore(&g);
	return rc;
}

/* publish() with SIGPIPE blocked. */
static int
publish_locked(fc_redis *r, const char *ns, const char *op, const void *arg,
	       size_t alen)
{
	char chan[FC__REDIS_NAME_MAX], seqkey[FC__REDIS_NAME_MAX];
	char payload[8 + FC_KEY_MAX];
	size_t oplen = strlen(op), plen = oplen;
	const char *argv[6] = {"EVAL", publish_script, "1", seqkey, chan,
			       payload};
	size_t argl[6];

	memcpy(payload, op, oplen);
	if (arg != NULL) {
		payload[plen++] = ' ';
		memcpy(payload + plen, arg, alen);
		plen += alen;
	}
	fc__redis_channel(ns, chan, sizeof chan);
	fc__redis_seq_key(ns, seqkey, sizeof seqkey);
	for (int i = 0; i < 5; i++)
		argl[i] = strlen(argv[i]);
	argl[5] = plen;
	r->err[0] = '\0';

	for (int attempt = 0; attempt < 2; attempt++) {
		bool was_open = r->ctx != NULL && r->pid == getpid();
		redisReply *rep;
		int e;

		if (redis_connect(r) != FC_OK)
			return FC_ESYS;
		rep = redisCommandArgv(r->ctx, 6, argv, argl);
		if (rep == NULL) {
			e = fc__redis_ctx_errno(r->ctx);
			snprintf(r->err, sizeof r->err, "EVAL: %s",
				 r->ctx->errstr);
			redisFree(r->ctx);
			r->ctx = NULL;
			errno = e;
			if (was_open)
				continue;
			return FC_ESYS;
		}
		if (rep->type != REDIS_REPLY_INTEGER) {
			e = rep->type == REDIS_REPLY_ERROR ? reply_errno(rep)
							   : EPROTO;
			snprintf(r->err, sizeof r->err, "EVAL: %s",
				 rep->type == REDIS_REPLY_ERROR ? rep->str
								: "unexpected reply type");
			freeReplyObject(rep);
			errno = e;
			return FC_ESYS;
		}
		freeReplyObject(rep);
		return FC_OK;
	}
	return FC_ESYS;
}

/* The local result matters only when the publish succeeded. */
static int
combine(int local, int pub)
{
	if (pub != FC_OK)
		return pub;
	return local == FC_ENOTFOUND ? FC_OK : local;
}

int
fc_invalidate_publish(fc_cache *c, fc_redis *r, const char *ns,
		      const void *key, size_t klen)
{
	int local = FC_OK;

	if (r == NULL || key == NULL || klen == 0 || !fc__redis_ns_valid(ns))
		return FC_EINVAL;
	if (klen > FC_KEY_MAX)
		return FC_E2BIG;
	if (c != NULL)
		local = fc_delete(c, key, klen);
	return combine(local, publish(r, ns, "key", key, klen));
}

int
fc_invalidate_prefix_publish(fc_cache *c, fc_redis *r, const char *ns,
			     const void *prefix, size_t plen)
{
	int64_t local = FC_OK;

	if (r == NULL || prefix == NULL || plen == 0 ||
	    !fc__redis_ns_valid(ns))
		return FC_EINVAL;
	if (plen > FC_KEY_MAX)
		return FC_E2BIG;
	if (c != NULL)
		local = fc_redis_delete_prefix(c, prefix, plen);
	return combine(local < 0 ? (int)local : FC_OK,
		       publish(r, ns, "prefix", prefix, plen));
}

int
fc_invalidate_all_publish(fc_cache *c, fc_redis *r, const char *ns)
{
	int local = FC_OK;

	if (r == NULL || !fc__redis_ns_valid(ns))
		return FC_EINVAL;
	if (c != NULL)
		local = fc_flush(c);
	return combine(local, publish(r, ns, "all", NULL, 0));
}

int64_t
fc_redis_delete_prefix(fc_cache *c, const void *prefix, size_t plen)
{
	char key[FC_KEY_MAX];
	int64_t deleted = 0;

	if (c == NULL || prefix == NULL || plen == 0)
		return FC_EINVAL;
	if (plen > FC_KEY_MAX)
		return FC_E2BIG;
	for (int pass = 0; pass < PREFIX_PASSES; pass++) {
		fc_stats before, after;
		fc_iter *it;
		fc_item item;
		int rc;

		if ((rc = fc_stat(c, &before)) != FC_OK)
			return rc;
		if ((rc = fc_iter_open(c, &it)) != FC_OK)
			return rc;
		while ((rc = fc_iter_next(it, &item)) == FC_OK) {
			if (item.klen < plen ||
			    memcmp(item.key, prefix, plen) != 0)
				continue;
			/* Copy: the item's bytes live in the iterator's
			 * buffer. A delete between two fc_iter_next calls
			 * cannot wait on this thread: each call enters and
			 * leaves its read section (lib/api.c). */
			size_t kl = item.klen;
			memcpy(key, item.key, kl);
			int d = fc_delete(c, key, kl);
			if (d == FC_OK)
				deleted++;
			else if (d != FC_ENOTFOUND) {
				rc = d;
				break;
			}
		}
		fc_iter_close(it);
		if (rc != FC_ENOTFOUND)
			return rc;
		if ((rc = fc_stat(c, &after)) != FC_OK)
			return rc;
		/* No rebuild during the pass: every item present for the
		 * whole pass was seen (fc_iter_open's contract). */
		if (after.index_rebuilds == before.index_rebuilds)
			return deleted;
	}
	/* The index kept being rebuilt under us: flush, the safe answer. */
	int rc = fc_flush(c);
	return rc == FC_OK ? deleted : rc;
}
