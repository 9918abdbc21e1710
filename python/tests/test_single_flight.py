"""Cross-process single-flight through the library's leases: forkcache.cached
and SharedMemoryCache. Herds are forked processes released at once."""
import os
import signal
import threading
import time

import pytest

import forkcache
from forkcache import cached

pytestmark = pytest.mark.skipif(not forkcache.HAVE_LEASES,
                                reason="libforkcache without leases (#11)")


class Counter:
    """Counts events across processes: one byte appended per event."""

    def __init__(self, tmp_path, name="count"):
        self.path = str(tmp_path / name)
        open(self.path, "wb").close()

    def bump(self):
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"x")
        os.close(fd)

    @property
    def value(self):
        return os.path.getsize(self.path)


def herd(n, fn):
    """Fork n children that call fn() at the same moment; return their
    (pid, exit code, output line) list."""
    go_r, go_w = os.pipe()
    kids = []
    for _ in range(n):
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            os.close(out_r)
            code = 0
            try:
                os.read(go_r, 1)
                res = fn()
                os.write(out_w, repr(res).encode())
            except BaseException as e:  # noqa: B902
                os.write(out_w, ("EXC " + repr(e)).encode())
                code = 2
            os._exit(code)
        os.close(out_w)
        kids.append((pid, out_r))
    os.close(go_r)
    os.write(go_w, b"x" * n)
    os.close(go_w)
    res = []
    for pid, out_r in kids:
        data = b""
        while True:
            chunk = os.read(out_r, 4096)
            if not chunk:
                break
            data += chunk
        os.close(out_r)
        _, st = os.waitpid(pid, 0)
        res.append((pid, os.waitstatus_to_exitcode(st), data.decode()))
    return res


def test_herd_of_processes_computes_once(tmp_path):
    c = forkcache.Cache(size="4M")
    computes = Counter(tmp_path)

    @cached(c, ttl=60)
    def slow(x):
        computes.bump()
        time.sleep(0.3)
        return "value-%d-%d" % (x, os.getpid())
    t0 = time.monotonic()
    res = herd(12, lambda: slow(1))
    assert [code for _, code, _ in res] == [0] * 12, res
    assert computes.value == 1
    assert len({out for _, _, out in res}) == 1      # everyone got one value
    assert time.monotonic() - t0 < 5
    c.close()


def test_exception_in_the_leader_reaches_only_the_leader(tmp_path):
    c = forkcache.Cache(size="4M")
    computes = Counter(tmp_path)
    first = Counter(tmp_path, "first")

    @cached(c, ttl=60)
    def flaky(x):
        computes.bump()
        time.sleep(0.2)
        if first.value == 0:
            first.bump()
            raise RuntimeError("backend down")
        return "ok"
    res = herd(6, lambda: flaky(1))
    outs = sorted(out for _, _, out in res)
    assert sum("RuntimeError" in o for o in outs) == 1   # the first leader
    assert outs.count("'ok'") == 5
    assert computes.value == 2                # one failed, one took over
    c.close()


def test_sigkilled_leader_is_taken_over(tmp_path):
    c = forkcache.Cache(size="4M")
    started = Counter(tmp_path, "started")

    @cached(c, ttl=60, lock_timeout=30)
    def slow(x):
        started.bump()
        if started.value == 1:
            time.sleep(60)                    # the leader hangs: killed below
        return "from-%d" % os.getpid()
    leader = os.fork()
    if leader == 0:
        slow(1)
        os._exit(0)
    while started.value == 0:
        time.sleep(0.01)
    r, w = os.pipe()
    waiter = os.fork()
    if waiter == 0:
        os.close(r)
        t = time.monotonic()
        v = slow(1)
        os.write(w, ("%s %.3f" % (v, time.monotonic() - t)).encode())
        os._exit(0)
    os.close(w)
    time.sleep(0.3)                           # the waiter is blocked now
    assert started.value == 1
    t_kill = time.monotonic()
    os.kill(leader, signal.SIGKILL)
    os.waitpid(leader, 0)
    out = os.read(r, 200).decode()
    os.waitpid(waiter, 0)
    takeover = time.monotonic() - t_kill
    assert out.startswith("from-%d" % waiter), out
    assert started.value == 2
    assert takeover < 5, takeover             # not lease_ms or lock_timeout
    assert c.get(list(c.keys())[0]) is not None
    c.close()


def test_lock_timeout_lets_a_waiter_compute_itself(tmp_path):
    c = forkcache.Cache(size="4M")
    started = Counter(tmp_path, "started")

    @cached(c, ttl=60, lock_timeout=0.3)
    def slow(x):
        started.bump()
        if started.value == 1:
            time.sleep(3)
        return os.getpid()
    leader = os.fork()
    if leader == 0:
        slow(1)
        os._exit(0)
    while started.value == 0:
        time.sleep(0.01)
    t = time.monotonic()
    assert slow(1) == os.getpid()              # computed here after 0.3 s
    assert 0.25 < time.monotonic() - t < 2.5
    os.kill(leader, signal.SIGKILL)
    os.waitpid(leader, 0)
    c.close()


def test_flask_backend_herd_calls_the_view_once(tmp_path):
    import flask
    import flask_caching
    computes = Counter(tmp_path)
    app = flask.Flask(__name__)
    app.config.update(CACHE_TYPE="forkcache.flask.SharedMemoryCache",
                      CACHE_FORKCACHE_SIZE="4M", CACHE_DEFAULT_TIMEOUT=60)
    cache = flask_caching.Cache(app)

    @app.route("/report")
    @cache.cached()
    def report():
        computes.bump()
        time.sleep(0.3)
        return "report-%d" % os.getpid()

    @app.route("/boom")
    @cache.cached()
    def boom():
        computes.bump()
        raise RuntimeError("no")
    # gunicorn --preload: the app (and its cache) made here, workers forked
    res = herd(8, lambda: app.test_client().get("/report").data.decode())
    assert [code for _, code, _ in res] == [0] * 8
    assert computes.value == 1
    assert len({out for _, _, out in res}) == 1
    # a view that raises gives its lease up at teardown
    for _ in range(2):
        assert app.test_client().get("/boom").status_code == 500
    assert cache.cache._held() == {}
    raw = cache.cache.cache
    got = []
    t = threading.Thread(target=lambda: got.append(
        raw.lease_get("flask_cache_view//boom", 0)))
    t.start()
    t.join()
    assert got[0][0] == forkcache._forkcache.FC_LEADER  # free, not held
    raw.lease_abandon(got[0][2])


def test_stale_while_revalidate_serves_the_old_value_during_a_refresh(
        tmp_path):
    c = forkcache.Cache(size="4M", stale=30)
    assert c.stats()["stale_ms"] == 30000
    computes = Counter(tmp_path)
    served_stale = Counter(tmp_path, "stale")
    with pytest.raises(ValueError):
        cached(c, stale=60)                   # wider than the segment's

    @cached(c, ttl=0.2, stale=30)
    def value(x):
        computes.bump()
        if computes.value == 1:
            return 1
        # The refresh finishes only once the 5 other callers have been
        # served: if they waited for it instead, this would run out.
        t = time.monotonic()
        while served_stale.value < 5:
            if time.monotonic() - t > 20:
                return -1
            time.sleep(0.01)
        return 2

    def call():
        v = value(1)
        if v == 1:
            served_stale.bump()
        return v
    assert value(1) == 1
    time.sleep(0.35)                          # expired, inside the window
    res = herd(6, call)
    values = sorted(int(out) for _, _, out in res)
    assert computes.value == 2                # exactly one refresh
    assert values == [1] * 5 + [2]            # old value while refreshing
    assert value(1) == 2                      # then the refreshed one
    c.close()
