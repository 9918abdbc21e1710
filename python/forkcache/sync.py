"""forkcache.sync - cross-machine invalidation through Redis (docs/redis.md).

Each machine keeps its own segment and runs ``forkcache-sync NAME --redis
ADDR`` for it. A process that changes the data behind a key calls
``Publisher.invalidate(key)``: the key is deleted from the local segment at
once, and the forkcache-sync daemon of every machine in the namespace
deletes it too (typically within a millisecond).

    from forkcache.sync import Publisher
    pub = Publisher("unix:/run/redis/redis-server.sock", segment="/myapp")
    pub.invalidate(b"user:42")          # or invalidate_prefix, invalidate_all

Publisher(redis, segment=None, namespace=None, file=False, password=None,
          user=None, db=0, timeout_ms=1000)

redis      "unix:PATH", "HOST:PORT" or "redis://HOST:PORT"
segment    the local segment to delete from (attached by name); None:
           publish only
namespace  defaults to segment without its leading "/" (as the daemon's)

Errors: ConnectionError(errno, text) when Redis cannot be reached or
refuses (the local delete was done: retry), ValueError for a bad key or
address, FileNotFoundError for a missing segment. One Publisher may be used
from several threads (calls are serialized) and across os.fork() (the
child reconnects). A thin layer over libforkcache-redis
(include/forkcache-redis.h), the same calls C programs use.
"""
from forkcache._redis import Publisher

__all__ = ["Publisher"]
