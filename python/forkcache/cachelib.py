"""forkcache.cachelib: ForkCache, a cachelib.BaseCache in shared memory.

    from forkcache.cachelib import ForkCache
    cache = ForkCache()                       # fresh, empty, private
    cache = ForkCache(name="/myapp", default_timeout=300, size="64M",
                      key_prefix="app:", threshold=None)

Every process that opens the same name (or is forked after the cache was
made, for a private one) sees the same items. cachelib's conventions hold:
timeout None = default_timeout, 0 = never expire, in seconds; get returns
None on a miss; set/add return a bool (False on a backend failure, e.g. a
value too large for the segment); inc/dec are atomic across processes.
Values go through ``self.serializer`` (dumps/loads), which may be replaced;
the default keeps non-negative ints as decimal text so that inc() is one
library call (fc_incr) and pickles everything else behind a "!".
"""
import pickle
import threading

from cachelib.base import BaseCache
from cachelib.serializers import BaseSerializer

from . import (Cache, Error, NotANumberError, HAVE_LEASES, BusyError,
               LeaseError)
from . import TimeoutError as _LeaseTimeout

__all__ = ["ForkCache", "ForkSerializer"]


class ForkSerializer(BaseSerializer):
    """ints >= 0 as decimal text; everything else b"!" + pickle."""

    def dumps(self, value, protocol=pickle.HIGHEST_PROTOCOL):
        if type(value) is int and value >= 0:
            return b"%d" % value
        return b"!" + pickle.dumps(value, protocol)

    def loads(self, bvalue):
        if bvalue is None:
            return None
        if bvalue[:1] == b"!":
            try:
                return pickle.loads(bvalue[1:])
            except pickle.PickleError as e:
                self._warn(e)
                return None
        return int(bvalue)


class ForkCache(BaseCache):
    """cachelib cache in a forkcache shared-memory segment.

    name             shm name ("/myapp"); None = a private segment, shared
                     only with processes forked after it was made
    default_timeout  seconds (0 = never expire)
    size             segment size for a new segment ("64M", bytes)
    key_prefix       prepended to every key (str)
    threshold        None: no item limit (the segment evicts its coldest
                     items when full). An int: keep about that many items:
                     every 64 writes a process counts the items and, when
                     over, removes expired ones and then others (like
                     cachelib's SimpleCache)
    cache            an open forkcache.Cache to use instead of opening one
    single_flight    False (default): get/set are plain. True: a get that
                     misses takes the key's lease (fc_lease_get) when no
                     other process holds it and returns None, so that this
                     caller computes; callers in other processes (and
                     threads) wait up to lock_timeout seconds in get() and
                     then return the value this caller set(). The caller
                     MUST then set() (fills the lease), delete() or
                     release_leases() (abandons it) in the same thread;
                     the Flask backend does this at the end of every
                     request. A process that dies holding a lease is
                     detected by the library and another caller takes over.
    lock_timeout     seconds a get() waits for another caller's value
    """

    serializer = ForkSerializer()
    _PRUNE_EVERY = 64

    def __init__(self, name=None, default_timeout=300, size="64M",
                 key_prefix="", threshold=None, cache=None,
                 single_flight=False, lock_timeout=10.0):
        BaseCache.__init__(self, default_timeout)
        self._single_flight = bool(single_flight) and HAVE_LEASES
        self._lock_timeout = lock_timeout
        self._tls = threading.local()
        self._cache = cache if cache is not None else Cache(name, size=size)
        self.key_prefix = key_prefix or ""
        self._threshold = threshold if threshold else None
        self._writes = 0
        self._lock = threading.Lock()

    @property
    def cache(self):
        """The underlying forkcache.Cache."""
        return self._cache

    # -- helpers
    def _k(self, key):
        if type(key) is not str:  # cachelib's own tests use int keys too
            key = key.decode() if isinstance(key, bytes) else str(key)
        return self.key_prefix + key if self.key_prefix else key

    def _ttl(self, timeout):
        """Seconds for the library (None = never), or -1: already expired."""
        timeout = self._normalize_timeout(timeout)
        if timeout is None or timeout == 0:
            return None
        if timeout < 0:
            return -1
        return timeout

    def _wrote(self):
        if self._threshold is None:
            return
        with self._lock:
            self._writes += 1
            due = self._writes % self._PRUNE_EVERY == 0
        if due:
            self._prune()

    def _prune(self):
        c = self._cache
        if c.stats()["items"] <= self._threshold:
            return
        c.flush_expired()
        keys = c.keys(self.key_prefix) if self.key_prefix else c.keys()
        over = len(keys) - self._threshold
        # like SimpleCache: drop every third item until under the threshold
        for i, k in enumerate(keys):
            if over <= 0:
                break
            if i % 3 == 0 and c.delete(k):
                over -= 1
        for k in keys:
            if over <= 0:
                break
            if c.delete(k):
                over -= 1

    # -- single-flight leases (see single_flight)
    def _held(self):
        try:
            return self._tls.leases
        except AttributeError:
            self._tls.leases = {}
            return self._tls.leases

    def release_leases(self, *unused):
        """Abandon every lease this thread holds (a get() that missed with
        single_flight and was never followed by set()): a waiting process
        takes the key over. Safe to call at any time."""
        held = self._held()
        while held:
            _, lease = held.popitem()
            self._abandon(lease)

    def _get_leased(self, k):
        held = self._held()
        if k in held:
            return None  # this thread computes it already
        try:
            st, raw, lease = self._cache.lease_get(k, self._lock_timeout)
        except (_LeaseTimeout, BusyError):
            return None  # waited long enough, or the lease table is full:
            # compute without single-flight
        if st == 0:  # FC_OK: fresh, or filled by the leader we waited for
            return self.serializer.loads(raw)
        # FC_LEADER, or FC_STALE (we refresh; the others are served the
        # stale value meanwhile): our caller computes and set()s.
        held[k] = lease
        return None

    def _fill(self, k, data, ttl):
        """set() of a key this thread holds the lease of: fill it."""
        lease = self._held().pop(k)
        try:
            if ttl == -1:
                self._abandon(lease)
                self._cache.delete(k)
            else:
                self._cache.lease_fill(lease, data, ttl)
            return True
        except LeaseError:
            return None  # lease lost (taken over): store it plainly
        except (Error, ValueError):
            self._abandon(lease)  # not stored; the lease was still ours
            return False

    def _abandon(self, lease):
        try:
            self._cache.lease_abandon(lease)
        except LeaseError:
            pass  # already taken over

    # -- the cachelib contract
    def get(self, key):
        k = self._k(key)
        raw = self._cache.get(k)
        if raw is None:
            if self._single_flight:
                return self._get_leased(k)
            return None
        return self.serializer.loads(raw)

    def _store(self, how, key, value, timeout):
        ttl = self._ttl(timeout)
        data = self.serializer.dumps(value)
        k = self._k(key)
        if self._single_flight and k in self._held():
            ok = self._fill(k, data, ttl)
            if ok is not None:
                if ok:
                    self._wrote()
                return ok
        if ttl == -1:  # a negative timeout: the item is expired at once
            if how == "add" and k in self._cache:
                return False
            self._cache.delete(k)
            return True
        try:
            if how == "add":
                ok = self._cache.add(k, data, ttl)
            else:
                self._cache.set(k, data, ttl)
                ok = True
        except (Error, ValueError):
            return False
        if ok:
            self._wrote()
        return ok

    def set(self, key, value, timeout=None):
        return self._store("set", key, value, timeout)

    def add(self, key, value, timeout=None):
        return self._store("add", key, value, timeout)

    def delete(self, key):
        k = self._k(key)
        if self._single_flight:
            lease = self._held().pop(k, None)
            if lease is not None:
                self._abandon(lease)
        return self._cache.delete(k)

    def get_many(self, *keys):
        return [self.get(k) for k in keys]

    def set_many(self, mapping, timeout=None):
        return [k for k, v in mapping.items() if self.set(k, v, timeout)]

    def delete_many(self, *keys):
        return [k for k in keys if self.delete(k)]

    def has(self, key):
        return self._k(key) in self._cache

    def clear(self):
        if self.key_prefix:
            for k in self._cache.keys(self.key_prefix):
                self._cache.delete(k)
        else:
            self._cache.clear()
        return True

    def inc(self, key, delta=1):
        """Atomic across processes: fc_incr for a decimal counter and
        delta >= 0, else a gets/cas loop (keeps the item's TTL). An absent
        key starts at delta with the default timeout."""
        c, ser, k = self._cache, self.serializer, self._k(key)
        native = type(ser) is ForkSerializer and delta >= 0
        new_ttl = self._ttl(None)
        if new_ttl == -1:
            new_ttl = None
        while True:
            if native:
                try:
                    v = c.incr(k, delta)
                except NotANumberError:
                    native = False  # a pickled value: the cas path
                    continue
                if v is not None:
                    return v
            got = c.gets(k)
            if got is None:
                if c.add(k, ser.dumps(delta), new_ttl):
                    self._wrote()
                    return delta
                continue  # another process made it meanwhile
            raw, cas = got
            try:
                ttl = c.ttl(k)
            except KeyError:
                continue
            if ttl is not None and ttl <= 0:
                ttl = 0.001  # about to expire: do not make it permanent
            new = (ser.loads(raw) or 0) + delta
            if c.cas(k, ser.dumps(new), cas, ttl):
                return new

    def dec(self, key, delta=1):
        return self.inc(key, -delta)

    # -- lifetime
    def close(self):
        self.release_leases()
        self._cache.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
