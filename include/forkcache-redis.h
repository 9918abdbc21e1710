/*
 * forkcache-redis.h - forkcache as the per-machine near cache in front of
 * Redis: publish invalidations to the other machines (libforkcache-redis).
 *
 * OVERVIEW
 *   Each machine keeps its own forkcache segment (the L1, "near cache").
 *   When an application changes the data behind a key, it calls
 *   fc_invalidate_publish(): the key is deleted from the local segment at
 *   once, and one message is published on the Redis channel of the
 *   segment's namespace. On every machine, a forkcache-sync daemon
 *   (tools/forkcache-sync, docs/redis.md) subscribes to that channel and
 *   deletes the key from its own segment, typically within a millisecond.
 *
 *   This is a companion library, libforkcache-redis, not part of
 *   libforkcache: only applications that use Redis pay for hiredis, and the
 *   core library keeps no network code and no dependency beyond ck, liburcu
 *   and xxhash. Link with `pkg-config --libs forkcache-redis` (it pulls in
 *   libforkcache and hiredis).
 *
 * WIRE FORMAT (stable; other languages may publish it too)
 *   Channel   FC_REDIS_CHANNEL_PREFIX NS     ("forkcache:inval:NS")
 *   Sequence  FC_REDIS_SEQ_PREFIX NS         ("forkcache:seq:NS"), a Redis
 *             integer incremented (INCR) once per message
 *   Message   "<seq> key <KEY>", "<seq> prefix <P>" or "<seq> all", where
 *             seq is the value INCR returned and KEY / P are 1..FC_KEY_MAX
 *             raw bytes (any bytes). The INCR and the PUBLISH run in one
 *             Lua script (EVAL), so sequence order is publication order.
 *   A daemon that sees a gap in the sequence, or finds on reconnect that
 *   the counter moved past the last message it applied, flushes its
 *   segment: see docs/redis.md, "The reconnect rule".
 *
 * CAVEATS
 *   - A publish that fails (Redis down, timeout) has still deleted the key
 *     locally, but the other machines did not hear it: the caller must
 *     retry the publish (or rely on the items' TTLs). A machine whose own
 *     daemon is disconnected flushes by itself (docs/redis.md).
 *   - SIGPIPE: a call never raises it in the application, even when Redis
 *     closed the connection (it blocks SIGPIPE in the calling thread while
 *     it writes and consumes the one it caused).
 *   - One fc_redis handle per thread: it wraps one hiredis connection.
 *     After fork(), a handle inherited by the child reconnects on its first
 *     use there; the parent's connection is not disturbed.
 *   - Pub/sub ignores Redis databases; the sequence key lives in the
 *     database of fc_redis_options.db, which publishers and daemons of one
 *     namespace must share.
 *
 * ERRORS
 *   The calls return FC_OK or a negative FC_E* code of forkcache.h. Redis
 *   and network failures are FC_ESYS with errno set: ECONNREFUSED, ENOENT
 *   (no socket), ECONNRESET (connection lost), ETIMEDOUT, EACCES (AUTH
 *   refused), EPROTO (any other error reply); fc_redis_error() gives the
 *   text Redis or hiredis reported.
 */
#ifndef FORKCACHE_REDIS_H
#define FORKCACHE_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <forkcache.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(FC_BUILDING_REDIS) && defined(__GNUC__)
#define FC_REDIS_API __attribute__((visibility("default")))
#else
#define FC_REDIS_API
#endif

#define FC_REDIS_CHANNEL_PREFIX "forkcache:inval:"
#define FC_REDIS_SEQ_PREFIX "forkcache:seq:"
/** Longest namespace, in bytes (any bytes but NUL). */
#define FC_REDIS_NS_MAX 200

typedef struct fc_redis fc_redis;

/** Options for fc_redis_open(). Initialize with fc_redis_options_init(). */
typedef struct fc_redis_options {
	const char *user;       /* ACL user for AUTH; NULL = default user */
	const char *password;   /* AUTH password; NULL = no AUTH */
	uint32_t db;            /* SELECT db (sequence keys); default 0 */
	uint32_t timeout_ms;    /* connect and per-command timeout; default
	                           1000, 1..3600000 */
	uint32_t reserved[6];   /* zero */
} fc_redis_options;

/** Fill @p opts with defaults: no AUTH, db 0, timeout 1000 ms. */
FC_REDIS_API void fc_redis_options_init(fc_redis_options *opts);

/**
 * Connect to Redis for publishing.
 * @param addr  "unix:PATH", "HOST:PORT", "[IPV6]:PORT" or
 *              "redis://HOST:PORT"
 * @param opts  NULL for defaults; the strings are copied
 * @return FC_OK         *out is a connected handle
 * @return FC_EINVAL     NULL @p addr or @p out, malformed address, options
 *                       out of range
 * @return FC_ESYS       connect, AUTH or SELECT failed (errno as in
 *                       ERRORS); *out is still set, so fc_redis_error()
 *                       can say why, and must be closed
 * Blocking: up to timeout_ms for the connection and each of AUTH and SELECT.
 * Concurrency: any thread; the handle then belongs to the calling thread.
 */
FC_REDIS_API int fc_redis_open(const char *addr, const fc_redis_options *opts,
			       fc_redis **out);

/** Close the connection and free @p r (NULL is ignored). */
FC_REDIS_API void fc_redis_close(fc_redis *r);

/**
 * The last error Redis or hiredis reported on @p r ("" if none); valid
 * until the next call on @p r. Never NULL.
 */
FC_REDIS_API const char *fc_redis_error(const fc_redis *r);

/**
 * Invalidate @p key on every machine of namespace @p ns: delete it from
 * @p c (the local segment; NULL = publish only), then publish
 * "<seq> key <KEY>" with its sequence number.
 * @param ns   namespace, 1..FC_REDIS_NS_MAX bytes, NUL-terminated
 * @return FC_OK         published (the local key is gone, whether it was
 *                       there or not)
 * @return FC_EINVAL     NULL @p r, @p ns or @p key, @p klen 0, bad @p ns
 * @return FC_E2BIG      @p klen > FC_KEY_MAX
 * @return FC_ESYS       the publish failed (errno as in ERRORS), after one
 *                       reconnect attempt; the local delete was done: retry
 * @return FC_ECORRUPT, FC_EBUSY  the local delete failed (fc_delete); the
 *                       message was published anyway
 * Blocking: fc_delete() (writer mutex), then one Redis round trip (up to
 *           timeout_ms; a lost connection is reopened once, another
 *           timeout_ms). Concurrency: one thread per @p r; any thread for
 *           @p c. Fork: @p r reconnects in a child.
 */
FC_REDIS_API int fc_invalidate_publish(fc_cache *c, fc_redis *r,
				       const char *ns, const void *key,
				       size_t klen);

/**
 * As fc_invalidate_publish(), for every key that starts with @p prefix
 * (1..FC_KEY_MAX bytes): local fc_redis_delete_prefix(), then
 * "<seq> prefix <P>". Errors as fc_invalidate_publish(), plus the errors of
 * fc_redis_delete_prefix(). Blocking: also a scan of the local index.
 */
FC_REDIS_API int fc_invalidate_prefix_publish(fc_cache *c, fc_redis *r,
					      const char *ns,
					      const void *prefix, size_t plen);

/**
 * As fc_invalidate_publish(), for the whole namespace: local fc_flush(),
 * then "<seq> all". Errors as fc_invalidate_publish(), plus those of
 * fc_flush().
 */
FC_REDIS_API int fc_invalidate_all_publish(fc_cache *c, fc_redis *r,
					   const char *ns);

/**
 * Delete from @p c every live item whose key starts with @p prefix, using
 * the public iterator and fc_delete(). The iterator can miss an item when
 * the index is rebuilt during the pass (forkcache.h), so a pass during
 * which fc_stats.index_rebuilds moved is repeated; after 4 such passes the
 * whole segment is flushed instead, which is always safe for a cache.
 * An item set concurrently under a matching key may survive (it is newer
 * than the call).
 * @return the number of items deleted (>= 0), or FC_EINVAL (NULL @p c or
 *         @p prefix, @p plen 0), FC_E2BIG (@p plen > FC_KEY_MAX), FC_ESYS
 *         (iterator allocation), FC_EBUSY, FC_ECORRUPT (from the iterator,
 *         fc_delete or fc_flush).
 * Blocking: O(index buckets) reads, and fc_delete() per match.
 */
FC_REDIS_API int64_t fc_redis_delete_prefix(fc_cache *c, const void *prefix,
					    size_t plen);

#ifdef __cplusplus
}
#endif
#endif /* FORKCACHE_REDIS_H */
