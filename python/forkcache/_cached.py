"""forkcache.cached: a memoizing decorator like cachetools.cached, over a
shared-memory cache, so every process of a prefork server shares results."""

import collections
import functools
import threading

import time

from . import (Cache, TTLCache, _codec_of, _enc, _digest, KEY_MAX,
               HAVE_LEASES, TimeoutError as _LeaseTimeout, Error, BusyError,
               LeaseError)

__all__ = ["cached", "hashkey", "CacheInfo"]

CacheInfo = collections.namedtuple(
    "CacheInfo", ["hits", "misses", "maxsize", "currsize"])


class _KwMark:
    """Separates positional from keyword arguments in a hashkey."""
    __slots__ = ()


def hashkey(*args, **kwargs):
    """Like cachetools.keys.hashkey, as a plain tuple (encodable)."""
    if kwargs:
        return args + (("__kwargs__",) + tuple(sorted(kwargs.items())),)
    return args


def cached(cache, key=hashkey, ttl=None, stale=None, lock_timeout=10.0,
           info=True):
    """Decorator: memoize a function's results in a forkcache cache.

    cache         a forkcache.TTLCache (keys and values as the mapping
                  stores them, its ttl by default) or a forkcache.Cache
                  (values pickled under "<module>.<qualname>:" + key).
    key           key(*args, **kwargs) -> hashable (default: hashkey).
    ttl           seconds a computed value lives (None: the TTLCache's ttl,
                  or never for a Cache).
    stale         seconds past expiry a value may still be served while one
                  process recomputes it (stale-while-revalidate). The
                  window is the segment's (Cache(..., stale=S) when it is
                  created, so that every process agrees); this checks that
                  it is at least ``stale`` (ValueError otherwise).
    lock_timeout  seconds a caller waits for another process computing the
                  same key before it computes the value itself.

    The wrapper has cache_info() (hits, misses: this process's counts;
    maxsize; currsize) and cache_clear() like functools.lru_cache.
    """
    if isinstance(cache, TTLCache):
        raw = cache.cache
        mapping = cache
    elif isinstance(cache, Cache):
        raw = cache
        mapping = None
    else:
        raise TypeError("cached() needs a forkcache.Cache or TTLCache")
    if ttl is None and mapping is not None:
        ttl = mapping.ttl
    if ttl is not None and ttl < 0:
        raise ValueError("ttl must be >= 0")
    if stale is not None and stale < 0:
        raise ValueError("stale must be >= 0")
    if lock_timeout is None or lock_timeout < 0:
        raise ValueError("lock_timeout must be >= 0 seconds")

    if stale:
        if not HAVE_LEASES:
            raise ValueError("stale= needs a libforkcache with leases")
        seg_stale = raw.stats().get("stale_ms", 0) / 1000.0
        if seg_stale < stale:
            raise ValueError(
                "stale=%g: the segment serves stale values for %g s only; "
                "the window is the segment's, set when it is created: open "
                "it with forkcache.Cache(..., stale=%g)"
                % (stale, seg_stale, stale))

    def decorator(func):
        prefix = ("%s.%s:" % (func.__module__, func.__qualname__)).encode()
        codec = mapping.codec if mapping is not None else _codec_of(None)
        stats = [0, 0]
        stats_lock = threading.Lock()

        def stored_key(k):
            if mapping is not None:
                return mapping._key(k)
            enc = _enc(k)
            if len(prefix) + len(enc) <= KEY_MAX:
                return prefix + enc, None
            return prefix + _digest(enc), enc

        def pack(value, long_enc):
            if mapping is not None:
                return mapping._pack(value, long_enc)
            payload = codec.dumps(value)
            if long_enc is None:
                return payload
            return b"%d:" % len(long_enc) + long_enc + payload

        def unpack(raw, long_enc):
            """The value, or a miss (_MISS) if a digest collided."""
            if long_enc is None:
                return codec.loads(raw)
            j = raw.index(b":")
            n = int(raw[:j])
            if raw[j + 1:j + 1 + n] != long_enc:
                return _MISS
            return codec.loads(raw[j + 1 + n:])

        def count(hit):
            with stats_lock:
                stats[0 if hit else 1] += 1

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            sk, long_enc = stored_key(key(*args, **kwargs))
            raw = raw_cache.get(sk)
            if raw is not None:
                v = unpack(raw, long_enc)
                if v is not _MISS:
                    if info:
                        count(True)
                    return v
            if info:
                count(False)
            if not HAVE_LEASES:
                # TODO(#13): this libforkcache has no leases (#11): every
                # process that misses computes; no single-flight.
                return store_plain(sk, long_enc, func(*args, **kwargs))
            return compute_once(sk, long_enc, args, kwargs)

        def store_plain(sk, long_enc, value):
            try:
                raw_cache.set(sk, pack(value, long_enc), ttl)
            except ValueError:
                pass  # too large to cache: return it uncached
            return value

        def compute_once(sk, long_enc, args, kwargs):
            """Single-flight across processes through the library's
            leases: one caller (FC_LEADER) computes and fills, the others
            wait in lease_get and return the filled value. A leader that
            raises abandons (a waiter takes over); one that dies is seen
            dead by the library and replaced. With stale-while-revalidate
            (FC_STALE) the caller holding the refresh lease recomputes while
            everyone else is served the stale value at once."""
            deadline = time.monotonic() + lock_timeout
            while True:
                left = max(0.0, deadline - time.monotonic())
                try:
                    st, got, lease = raw_cache.lease_get(sk, left)
                except (_LeaseTimeout, BusyError):
                    # waited lock_timeout for another process, or the lease
                    # table is full: compute here, without single-flight
                    return store_plain(sk, long_enc, func(*args, **kwargs))
                if st == 0:  # FC_OK: a fresh value, or the one filled
                    v = unpack(got, long_enc)
                    if v is not _MISS:
                        return v
                    return func(*args, **kwargs)  # digest collision
                try:
                    value = func(*args, **kwargs)
                except BaseException:
                    _abandon(raw_cache, lease)
                    raise
                try:
                    raw_cache.lease_fill(lease, pack(value, long_enc), ttl)
                except LeaseError:
                    pass  # lease lost (taken over): the value is still ours
                except (Error, ValueError):
                    # not stored (too large, no room): the lease is still
                    # ours; give it up so that a waiter goes on
                    _abandon(raw_cache, lease)
                return value

        raw_cache = raw

        def cache_info():
            with stats_lock:
                h, m = stats
            if mapping is not None:
                return CacheInfo(h, m, mapping.maxsize, len(mapping))
            return CacheInfo(h, m, None, len(raw.keys(prefix)))

        def cache_clear():
            if mapping is not None:
                mapping.clear()
            else:
                for k in raw.keys(prefix):
                    raw.delete(k)
            with stats_lock:
                stats[0] = stats[1] = 0

        wrapper.cache = cache
        wrapper.cache_key = key
        wrapper.cache_info = cache_info
        wrapper.cache_clear = cache_clear
        return wrapper

    return decorator


_MISS = object()


def _abandon(cache, lease):
    try:
        cache.lease_abandon(lease)
    except LeaseError:
        pass  # already taken over
