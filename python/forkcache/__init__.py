"""forkcache: one TTL cache in shared memory for all the worker processes of
a prefork server (gunicorn, uWSGI, multiprocessing), from Python.

    import forkcache
    c = forkcache.Cache("/myapp", size="64M")     # or Cache() for a private one
    c.set("user:42", b"...", ttl=30)              # seconds, floats allowed
    c.get("user:42")                              # b"..." or None

Layers (all over the one C extension, forkcache._forkcache):
  Cache        bytes in, bytes out; the libforkcache API with Python habits
  TTLCache     a MutableMapping like cachetools.TTLCache (values pickled)
  cached       a decorator like cachetools.cached
  forkcache.cachelib.ForkCache, forkcache.flask.SharedMemoryCache
See python/README.md.
"""

import builtins as _builtins
import json as _json
import os as _os
import pickle as _pickle
import re as _re
import secrets as _secrets
import weakref as _weakref
from collections.abc import MutableMapping as _MutableMapping

from . import _forkcache
from ._forkcache import errname, strerror  # noqa: F401

__all__ = [
    "Cache", "TTLCache", "cached", "hashkey", "unlink", "Error", "NotFoundError",
    "ExistsError", "InvalidArgumentError", "TooLargeError", "NoMemoryError",
    "CasMismatchError", "CorruptError", "IncompatibleError",
    "SystemCallError", "BusyError", "NotANumberError", "TimeoutError",
    "LeaseError",
    "HAVE_LEASES", "RAW", "JSON",
    "PICKLE", "KEY_MAX", "VALUE_MAX",
]

KEY_MAX = _forkcache.FC_KEY_MAX
VALUE_MAX = _forkcache.FC_VALUE_MAX


# ----------------------------------------------------------------- errors --

class Error(Exception):
    """A libforkcache error. ``code`` is the FC_E* value, ``name`` its name
    ("FC_EBUSY"); the message is fc_strerror()'s."""
    code = None
    name = None


class NotFoundError(Error, KeyError):
    """FC_ENOTFOUND where absence is an error (attaching to a missing
    segment with create=False)."""


class ExistsError(Error):
    """FC_EEXIST: the segment exists (exclusive=True)."""


class InvalidArgumentError(Error, ValueError):
    """FC_EINVAL: a bad argument (empty key, bad name, size out of range)."""


class TooLargeError(Error, ValueError):
    """FC_E2BIG: key longer than KEY_MAX bytes or value larger than the
    segment's value_max. A ValueError, as in cachetools."""


class NoMemoryError(Error, ValueError):
    """FC_ENOMEM: the item cannot fit even in an empty cache."""


class CasMismatchError(Error):
    """FC_ECAS (Cache.cas returns False instead of raising)."""


class CorruptError(Error):
    """FC_ECORRUPT: the segment is damaged."""


class IncompatibleError(Error):
    """FC_EINCOMPAT: the segment was made by an incompatible version."""


class SystemCallError(Error, OSError):
    """FC_ESYS: a system call failed; ``errno`` holds the cause."""


class BusyError(Error):
    """FC_EBUSY: readers hold back memory, or no reader slot is free."""


class NotANumberError(Error, ValueError):
    """FC_ENOTNUM: incr on a value that is not a decimal counter."""


class TimeoutError(Error, _builtins.TimeoutError):
    """FC_ETIMEDOUT: a lease wait ran out (another process is computing)."""


class LeaseError(Error):
    """FC_ELEASE: fill or abandon of a lease no longer held (it expired and
    another caller took it over); nothing changed."""


_ERRORS = {
    _forkcache.FC_ENOTFOUND: NotFoundError,
    _forkcache.FC_EEXIST: ExistsError,
    _forkcache.FC_EINVAL: InvalidArgumentError,
    _forkcache.FC_E2BIG: TooLargeError,
    _forkcache.FC_ENOMEM: NoMemoryError,
    _forkcache.FC_ECAS: CasMismatchError,
    _forkcache.FC_ECORRUPT: CorruptError,
    _forkcache.FC_EINCOMPAT: IncompatibleError,
    _forkcache.FC_ESYS: SystemCallError,
    _forkcache.FC_EBUSY: BusyError,
    _forkcache.FC_ENOTNUM: NotANumberError,
}
if hasattr(_forkcache, "FC_ETIMEDOUT"):
    _ERRORS[_forkcache.FC_ETIMEDOUT] = TimeoutError
if hasattr(_forkcache, "FC_ELEASE"):
    _ERRORS[_forkcache.FC_ELEASE] = LeaseError
for _code, _cls in _ERRORS.items():
    _cls.code = _code
    _cls.name = errname(_code)
_forkcache._set_errors(Error, _ERRORS)


# ------------------------------------------------------------------ Cache --

_SIZE_RE = _re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", _re.I)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(size):
    """Bytes from an int or a string like "64M", "512KiB", "1G" (binary
    units)."""
    if isinstance(size, int) and not isinstance(size, bool):
        if size <= 0:
            raise ValueError("size must be > 0")
        return size
    if isinstance(size, str):
        m = _SIZE_RE.match(size)
        if m:
            return int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    raise ValueError("size must be bytes (int) or a string like '64M', "
                     "not %r" % (size,))


_live = _weakref.WeakSet()


def _after_fork_in_child():
    for c in list(_live):
        c._after_fork()


if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_after_fork_in_child)


def _seconds_to_ms(s, what):
    if s is None:
        return 0
    if s < 0:
        raise ValueError("%s must be >= 0 seconds" % what)
    return max(1, int(s * 1000 + 0.999)) if s else 0


HAVE_LEASES = hasattr(_forkcache.Cache, "lease_get")


def _private_name():
    return "/forkcache-py-%d-%s" % (_os.getpid(), _secrets.token_hex(8))


class Cache(_forkcache.Cache):
    """A shared-memory TTL cache segment: bytes in, bytes out.

    Cache(name=None, size="64M", create=True, file=False, exclusive=False,
          mode=0o600, reader_slots=None, lease=None, stale=None)

    name      POSIX shm name ("/myapp"), passed to the C library unchanged;
              with file=True a file path. None: a private cache under a
              fresh unique name that is removed at once, so it disappears
              when the last process holding it (this one and the children
              it forks afterwards) closes it or exits, and nothing else can
              attach to it.
    size      size of a new segment: bytes or "64M", "1G"...; an existing
              segment keeps its own size.
    create    create the segment if it does not exist (else NotFoundError).
    exclusive with create: ExistsError if it already exists.
    lease     seconds a leader may hold a lease before a waiter may take it
              over (a new segment's fc_options.lease_ms; None: library
              default, 10 s). Needs a libforkcache with leases.
    stale     seconds past expiry an item may still be served while one
              process refreshes it (fc_options.stale_ms; None/0: never).

    Methods: get(key, default=None), set(key, value, ttl=None),
    add, replace (-> bool), delete(key) -> bool, touch(key, ttl) -> bool,
    incr(key, delta=1) -> int or None, gets(key) -> (value, cas) or None,
    cas(key, value, cas, ttl=None) -> bool, ttl(key), key in cache,
    keys(prefix=b""), stats() -> dict, clear(), flush_expired(), verify(),
    close(); a context manager. Keys are str (UTF-8) or bytes, values
    bytes-like; TTLs are seconds (floats allowed), None or 0 = never expire.
    Safe across os.fork() and in threads; calls that may wait release the
    GIL.
    """

    __slots__ = ()

    def __init__(self, name=None, size="64M", create=True, file=False,
                 exclusive=False, mode=0o600, reader_slots=None, lease=None,
                 stale=None):
        nbytes = parse_size(size)
        lease_ms = _seconds_to_ms(lease, "lease")
        stale_ms = _seconds_to_ms(stale, "stale")
        extra = (lease_ms, stale_ms)
        flags = _forkcache.FC_FILE if file else 0
        if name is None:
            flags |= _forkcache.FC_CREATE | _forkcache.FC_EXCL
            if file:
                raise ValueError("file=True needs a name (a path)")
            for _ in range(8):
                try:
                    self._open(_private_name(), flags, nbytes, mode,
                               reader_slots or 0, True, *extra)
                    break
                except ExistsError:  # pragma: no cover - 64 random bits
                    continue
            else:  # pragma: no cover
                raise ExistsError("no unique private name found")
        else:
            if not isinstance(name, str):
                name = _os.fsdecode(name)
            if create:
                flags |= _forkcache.FC_CREATE
                if exclusive:
                    flags |= _forkcache.FC_EXCL
            try:
                self._open(name, flags, nbytes, mode, reader_slots or 0,
                           False, *extra)
            except NotFoundError:
                raise NotFoundError("no segment %r (create=False)" % name) \
                    from None
        _live.add(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else "open"
        return "<forkcache.Cache %r %s>" % (self.name, state)

    def __getstate__(self):
        raise TypeError("a forkcache.Cache cannot be pickled; open it by "
                        "name in the other process, or fork")


def unlink(name, file=False):
    """Remove a named segment (processes that have it open keep using it).
    Returns False if it did not exist."""
    return _forkcache._unlink(name, _forkcache.FC_FILE if file else 0)


# ----------------------------------------------------------------- codecs --

class _Raw:
    """Values are bytes and stored as they are."""
    name = "raw"

    @staticmethod
    def dumps(v):
        if not isinstance(v, (bytes, bytearray, memoryview)):
            raise TypeError("RAW codec stores bytes-like values, not %s"
                            % type(v).__name__)
        return bytes(v)

    @staticmethod
    def loads(b):
        return b


class _Json:
    """Values through json (UTF-8)."""
    name = "json"

    @staticmethod
    def dumps(v):
        return _json.dumps(v, separators=(",", ":")).encode()

    @staticmethod
    def loads(b):
        return _json.loads(b)


class _Pickle:
    """Values through pickle, highest protocol."""
    name = "pickle"
    dumps = staticmethod(lambda v: _pickle.dumps(v, _pickle.HIGHEST_PROTOCOL))
    loads = staticmethod(_pickle.loads)


RAW = _Raw()
JSON = _Json()
PICKLE = _Pickle()


def _codec_of(codec):
    if codec is None or codec is _pickle:
        return PICKLE
    if codec is _json:
        return JSON
    if not (hasattr(codec, "dumps") and hasattr(codec, "loads")):
        raise TypeError("codec needs dumps() and loads()")
    return codec


# ----------------------------------------------------------- key encoding --
#
# Hashable keys become bytes canonically: keys that compare equal in Python
# (1 == 1.0 == True, equal tuples, equal frozensets) encode to the same bytes,
# and the encoding is reversible (TTLCache iterates its keys). Tags:
#   s str (UTF-8)  b bytes  i int (decimal; integral floats and bools too)
#   f float  n None  t tuple  z frozenset  p anything else (pickle)
# Tuples and frozensets hold length-prefixed encodings of their items (a
# frozenset's sorted). A key longer than KEY_MAX - 1 bytes is stored under
# "H" + its BLAKE2b digest, with the full encoded key in front of the value.

_LONG_TAG = b"H"


def _enc(k):
    t = type(k)
    if t is str:
        return b"s" + k.encode()
    if t is bytes:
        return b"b" + k
    if t is int or t is bool:
        return b"i%d" % k
    if t is float:
        if k.is_integer():
            return b"i%d" % int(k)
        return b"f" + repr(k).encode()
    if k is None:
        return b"n"
    if t is tuple:
        parts = [_enc(x) for x in k]
        return b"t" + b"".join(b"%d:" % len(p) + p for p in parts)
    if t is frozenset:
        parts = sorted(_enc(x) for x in k)
        return b"z" + b"".join(b"%d:" % len(p) + p for p in parts)
    hash(k)  # TypeError for unhashable keys, as a dict would raise
    return b"p" + _pickle.dumps(k, _pickle.HIGHEST_PROTOCOL)


def _split(b):
    out, i = [], 0
    while i < len(b):
        j = b.index(b":", i)
        n = int(b[i:j])
        out.append(_dec(b[j + 1:j + 1 + n]))
        i = j + 1 + n
    return out


def _dec(b):
    tag, rest = b[:1], b[1:]
    if tag == b"s":
        return rest.decode()
    if tag == b"b":
        return bytes(rest)
    if tag == b"i":
        return int(rest)
    if tag == b"f":
        return float(rest)
    if tag == b"n":
        return None
    if tag == b"t":
        return tuple(_split(rest))
    if tag == b"z":
        return frozenset(_split(rest))
    if tag == b"p":
        return _pickle.loads(rest)
    raise ValueError("not an encoded key: %r" % (b[:16],))


def _digest(enc):
    import hashlib
    return _LONG_TAG + hashlib.blake2b(enc, digest_size=32).digest()


# ------------------------------------------------------------- TTLCache --

class TTLCache(_MutableMapping):
    """A mapping with cachetools.TTLCache's habits, in shared memory.

    TTLCache(maxsize, ttl, name=None, size="64M", codec=pickle,
             namespace="")

    c[key] = value; c[key]; c.get(key, default); key in c; del c[key];
    len(c); iter(c); c.ttl; c.maxsize; c.currsize; c.expire(); c.clear().
    Every item lives ``ttl`` seconds from its last write. Keys: any hashable
    (encoded canonically, see above); values: through ``codec`` (pickle by
    default; forkcache.RAW for bytes, json or forkcache.JSON).

    Differences from cachetools: values are copies (mutating a value read
    from the cache does not change the cache); there is no custom timer
    (expiry follows the system clock, millisecond resolution); ``maxsize``
    is kept approximately, by item count, across all processes (checked
    every 64 writes of a process; the segment's ``size`` bounds memory and
    the coldest items are evicted when it is full); getsizeof is not
    supported; popitem() removes an arbitrary item, not the oldest.
    Several TTLCaches may share one named segment under different
    ``namespace`` strings.
    """

    _PRUNE_EVERY = 64

    def __init__(self, maxsize, ttl, name=None, size="64M", codec=_pickle,
                 namespace="", cache=None):
        if maxsize is not None and maxsize <= 0:
            raise ValueError("maxsize must be > 0")
        if ttl is None or ttl <= 0:
            raise ValueError("ttl must be > 0 seconds")
        self.__maxsize = maxsize
        self.__ttl = ttl
        self.__codec = _codec_of(codec)
        self.__cache = cache if cache is not None else Cache(name, size=size)
        self.__owned = cache is None
        ns = namespace.encode() if isinstance(namespace, str) else namespace
        self.__ns = ns
        self.__ns_s = ns + b"s"
        self.__get = self.__cache.get
        self.__loads = self.__codec.loads
        self.__writes = 0

    # -- properties cachetools has
    @property
    def maxsize(self):
        return self.__maxsize

    @property
    def ttl(self):
        return self.__ttl

    @property
    def currsize(self):
        return len(self)

    @property
    def cache(self):
        """The underlying forkcache.Cache."""
        return self.__cache

    @property
    def codec(self):
        return self.__codec

    # -- keys
    def _key(self, key):
        """(stored key bytes, encoded key if stored under a digest)."""
        t = type(key)
        if t is str:
            enc = b"s" + key.encode()
        else:
            enc = _enc(key)
        if len(enc) + len(self.__ns) <= KEY_MAX:
            return self.__ns + enc, None
        return self.__ns + _digest(enc), enc

    def _pack(self, value, long_enc):
        payload = self.__codec.dumps(value)
        if isinstance(payload, str):
            payload = payload.encode()
        if long_enc is None:
            return payload
        return b"%d:" % len(long_enc) + long_enc + payload

    def _unpack(self, stored_key, raw):
        if stored_key[len(self.__ns):len(self.__ns) + 1] == _LONG_TAG:
            j = raw.index(b":")
            n = int(raw[:j])
            return _dec(raw[j + 1:j + 1 + n]), \
                self.__codec.loads(raw[j + 1 + n:])
        return None, self.__codec.loads(raw)

    def _raw_get(self, key):
        sk, long_enc = self._key(key)
        raw = self.__cache.get(sk)
        if raw is None:
            return None, sk, long_enc
        if long_enc is not None:
            j = raw.index(b":")
            n = int(raw[:j])
            if raw[j + 1:j + 1 + n] != long_enc:  # digest collision
                return None, sk, long_enc
        return raw, sk, long_enc

    # -- mapping
    def __getitem__(self, key):
        if type(key) is str:  # the common case, inline
            try:
                raw = self.__get(self.__ns_s + key.encode())
            except TooLargeError:  # long key: stored under its digest
                raw = None
            else:
                if raw is None:
                    return self.__missing__(key)
                return self.__loads(raw)
        raw, sk, _ = self._raw_get(key)
        if raw is None:
            return self.__missing__(key)
        return self._unpack(sk, raw)[1]

    def __missing__(self, key):
        raise KeyError(key)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key):
        sk, long_enc = self._key(key)
        if long_enc is None:
            return sk in self.__cache
        return self._raw_get(key)[0] is not None

    def __setitem__(self, key, value):
        sk, long_enc = self._key(key)
        self.__cache.set(sk, self._pack(value, long_enc), self.__ttl)
        self.__writes += 1
        if self.__maxsize is not None and \
                self.__writes % self._PRUNE_EVERY == 0:
            self._prune()

    def __delitem__(self, key):
        raw, sk, _ = self._raw_get(key)
        if raw is None or not self.__cache.delete(sk):
            raise KeyError(key)

    def _stored_keys(self):
        return self.__cache.keys(self.__ns) if self.__ns else \
            self.__cache.keys()

    def __iter__(self):
        ns = len(self.__ns)
        for sk in self._stored_keys():
            body = sk[ns:]
            if body[:1] == _LONG_TAG:
                raw = self.__cache.get(sk)
                if raw is None:
                    continue
                key = self._unpack(sk, raw)[0]
            else:
                try:
                    key = _dec(body)
                except Exception:
                    continue  # not one of ours (shared segment)
            yield key

    def __len__(self):
        return sum(1 for _ in self._stored_keys())

    def __repr__(self):
        return "TTLCache(maxsize=%r, ttl=%r, name=%r, items=%d)" % (
            self.__maxsize, self.__ttl, self.__cache.name, len(self))

    def expire(self, time=None):
        """Remove expired items now (they are invisible already)."""
        self.__cache.flush_expired()

    def clear(self):
        if self.__ns:
            for sk in self._stored_keys():
                self.__cache.delete(sk)
        else:
            self.__cache.clear()

    def _prune(self):
        over = len(self) - self.__maxsize
        if over <= 0:
            return
        self.__cache.flush_expired()
        keys = self._stored_keys()
        over = len(keys) - self.__maxsize
        for sk in keys[:max(over, 0)]:
            self.__cache.delete(sk)

    def close(self):
        if self.__owned:
            self.__cache.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ----------------------------------------------------------------- cached --

from ._cached import cached, hashkey, CacheInfo  # noqa: E402,F401

