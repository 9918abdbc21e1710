/*
 * redis_internal.h - what libforkcache-redis shares with forkcache-sync and
 * the forkcache CLI, but does not export: Redis addresses, connecting with
 * AUTH/SELECT and timeouts, and parsing the invalidation messages.
 *
 * Names are fc__redis_*; the shared library hides them (visibility), the
 * tools link the static library.
 */
#ifndef FC_REDIS_INTERNAL_H
#define FC_REDIS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "forkcache-redis.h"

/** A parsed Redis address. */
struct fc__redis_addr {
	bool is_unix;
	char path[108]; /* sun_path: 108 bytes on Linux */
	char host[256];
	int port; /* 1..65535 */
};

/**
 * Parse "unix:PATH", "HOST:PORT", "[IPV6]:PORT", "redis://HOST:PORT[/]"
 * or "unix://PATH". @return 0, or -1 (malformed, PATH or HOST too long).
 */
int fc__redis_addr_parse(const char *s, struct fc__redis_addr *a);

/** Format @p a back as "unix:PATH" or "HOST:PORT" into @p buf. */
const char *fc__redis_addr_str(const struct fc__redis_addr *a, char *buf,
			       size_t bufsz);

/** True when @p ns is 1..FC_REDIS_NS_MAX bytes before its NUL. */
bool fc__redis_ns_valid(const char *ns);

/**
 * Connect to @p a with a timeout of @p timeout_ms for the connection and
 * for every later command (SO_RCVTIMEO/SO_SNDTIMEO), then AUTH (when
 * @p password is not NULL) and SELECT (when @p db > 0).
 * @return the context, or NULL with errno set (ENOMEM, or the mapping of
 *         forkcache-redis.h ERRORS) and a message in @p err.
 */
redisContext *fc__redis_connect(const struct fc__redis_addr *a,
				const char *user, const char *password,
				uint32_t db, uint32_t timeout_ms, char *err,
				size_t errsz);

/**
 * errno for a failed hiredis context (ECONNRESET for EOF, ETIMEDOUT for a
 * timeout, EPROTO for a protocol error, else the context's errno).
 */
int fc__redis_ctx_errno(const redisContext *ctx);

enum fc__redis_op {
	FC__REDIS_KEY = 1, /* delete one key */
	FC__REDIS_PREFIX = 2, /* delete every key with a prefix */
	FC__REDIS_ALL = 3 /* flush the namespace */
};

/** One parsed invalidation message. arg points into the message. */
struct fc__redis_msg {
	uint64_t seq; /* 1..2^63-1 */
	enum fc__redis_op op;
	const char *arg; /* KEY or prefix bytes; NULL for ALL */
	size_t alen;
};

/**
 * Parse "<seq> key <KEY>", "<seq> prefix <P>" or "<seq> all" from
 * @p s[0..n) (any bytes; not NUL-terminated). @return 0, or -1 with
 * *why set to a static description of the first problem.
 */
int fc__redis_msg_parse(const char *s, size_t n, struct fc__redis_msg *m,
			const char **why);

/** Build the channel (FC_REDIS_CHANNEL_PREFIX NS) or sequence key name. */
void fc__redis_channel(const char *ns, char *buf, size_t bufsz);
void fc__redis_seq_key(const char *ns, char *buf, size_t bufsz);

#define FC__REDIS_NAME_MAX (32 + FC_REDIS_NS_MAX) /* channel/key buffer */

#endif /* FC_REDIS_INTERNAL_H */
