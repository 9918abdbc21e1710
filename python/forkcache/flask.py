"""forkcache.flask: SharedMemoryCache, a Flask-Caching backend that all the
worker processes of a server share.

    app.config.update(
        CACHE_TYPE="forkcache.flask.SharedMemoryCache",
        CACHE_FORKCACHE_NAME="/myapp",    # None/absent: private to the
                                          # process that made it and its
                                          # forked children (gunicorn
                                          # --preload)
        CACHE_FORKCACHE_SIZE="64M",
        CACHE_DEFAULT_TIMEOUT=300,
        CACHE_KEY_PREFIX="flask_cache_",
        CACHE_THRESHOLD=500,
        CACHE_FORKCACHE_SINGLE_FLIGHT=True,  # one worker computes a missed
                                          # key, the others wait for it
        CACHE_FORKCACHE_LOCK_TIMEOUT=10,  # seconds they wait at most
    )
    cache = flask_caching.Cache(app)

@cache.cached and @cache.memoize work unchanged. With single flight (the
default when the library has leases), a get() that misses makes the calling
request the key's leader: requests for the same key in other workers wait
(up to CACHE_FORKCACHE_LOCK_TIMEOUT) for the value it set()s instead of all
computing it. A leader that never set()s (an exception, a filtered
response) gives the lease up when its request ends (teardown_appcontext);
a worker that dies is detected by the library and replaced. Without --preload every
gunicorn worker builds the app itself: give CACHE_FORKCACHE_NAME so that
the workers open the same segment.
"""
from flask_caching.backends.base import BaseCache as _FlaskBaseCache

from .cachelib import ForkCache

__all__ = ["SharedMemoryCache"]


class SharedMemoryCache(ForkCache, _FlaskBaseCache):
    """Flask-Caching backend over a forkcache segment (see module doc)."""

    def __init__(self, name=None, default_timeout=300, size="64M",
                 key_prefix="", threshold=None, ignore_errors=False,
                 cache=None, single_flight=False, lock_timeout=10.0):
        ForkCache.__init__(self, name=name, default_timeout=default_timeout,
                           size=size, key_prefix=key_prefix,
                           threshold=threshold, cache=cache,
                           single_flight=single_flight,
                           lock_timeout=lock_timeout)
        self.ignore_errors = ignore_errors

    @classmethod
    def factory(cls, app, config, args, kwargs):
        kwargs = dict(kwargs)
        kwargs.setdefault("name", config.get("CACHE_FORKCACHE_NAME"))
        kwargs.setdefault("size", config.get("CACHE_FORKCACHE_SIZE") or "64M")
        kwargs.setdefault("key_prefix", config.get("CACHE_KEY_PREFIX") or "")
        kwargs.setdefault("threshold", config.get("CACHE_THRESHOLD"))
        kwargs.setdefault("ignore_errors",
                          config.get("CACHE_IGNORE_ERRORS", False))
        kwargs.setdefault("single_flight",
                          config.get("CACHE_FORKCACHE_SINGLE_FLIGHT", True))
        kwargs.setdefault("lock_timeout",
                          config.get("CACHE_FORKCACHE_LOCK_TIMEOUT", 10.0))
        backend = cls(*args, **kwargs)
        if backend._single_flight and app is not None:
            # a leader whose request ended without set(): give it up
            app.teardown_appcontext(backend.release_leases)
        return backend

    def delete_many(self, *keys):
        return _FlaskBaseCache.delete_many(self, *keys)
