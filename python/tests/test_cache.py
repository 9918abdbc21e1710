"""forkcache.Cache: the bytes API, errors, TTLs, fork, threads, close."""
import os
import subprocess
import sys
import threading
import time

import pytest

import forkcache
from conftest import run_in_child, unique_name


def test_set_get_roundtrip_with_str_and_bytes_keys(cache):
    cache.set("k", b"v1")
    assert cache.get("k") == b"v1"
    assert cache.get(b"k") == b"v1"            # str keys are UTF-8
    cache.set("clé", b"x")
    assert cache.get("clé".encode()) == b"x"
    assert cache.get("absent") is None
    assert cache.get("absent", b"d") == b"d"
    assert cache.get(key="absent", default=7) == 7


def test_values_of_every_size_come_back_exact(cache):
    top = cache.stats()["value_max"]
    for n in (0, 1, 63, 64, 4095, 4096, 4097, 100000, top):
        v = os.urandom(n)
        cache.set("v%d" % n, v)
        assert cache.get("v%d" % n) == v


def test_bytes_like_values_are_accepted_and_str_values_refused(cache):
    cache.set("ba", bytearray(b"abc"))
    cache.set("mv", memoryview(b"xyz"))
    assert cache.get("ba") == b"abc" and cache.get("mv") == b"xyz"
    with pytest.raises(TypeError):
        cache.set("s", "text")
    with pytest.raises(TypeError):
        cache.get(42)


def test_add_replace_delete_touch_report_booleans(cache):
    assert cache.add("a", b"1") is True
    assert cache.add("a", b"2") is False
    assert cache.get("a") == b"1"
    assert cache.replace("a", b"3") is True
    assert cache.replace("nope", b"3") is False
    assert cache.get("nope") is None
    assert cache.touch("a", 100) is True
    assert 99 < cache.ttl("a") <= 100
    assert cache.touch("nope", 1) is False
    assert cache.delete("a") is True
    assert cache.delete("a") is False
    assert "a" not in cache


def test_incr_counts_and_reports_absent_and_non_numbers(cache):
    assert cache.incr("n") is None
    cache.set("n", b"41")
    assert cache.incr("n") == 42
    assert cache.incr("n", delta=8) == 50
    assert cache.incr("n", -60) == 0           # stops at 0, as memcached
    cache.set("t", b"text")
    with pytest.raises(forkcache.NotANumberError) as ei:
        cache.incr("t")
    assert ei.value.code == forkcache.NotANumberError.code
    assert cache.get("t") == b"text"


def test_cas_stores_only_over_the_version_read(cache):
    cache.set("c", b"1")
    v, cas = cache.gets("c")
    assert v == b"1"
    assert cache.cas("c", b"2", cas) is True
    assert cache.cas("c", b"3", cas) is False  # changed since
    assert cache.get("c") == b"2"
    assert cache.gets("absent") is None
    assert cache.cas("absent", b"x", cas) is False


def test_ttl_in_seconds_expires_items(cache):
    cache.set("short", b"x", ttl=0.15)
    cache.set("long", b"y", ttl=30)
    cache.set("never", b"z")
    cache.set("never0", b"z", ttl=0)
    assert cache.get("short") == b"x"
    assert cache.ttl("never") is None and cache.ttl("never0") is None
    time.sleep(0.3)
    assert cache.get("short") is None
    assert "short" not in cache
    assert cache.get("long") == b"y"
    with pytest.raises(KeyError):
        cache.ttl("short")


def test_tiny_ttl_expires_instead_of_living_forever(cache):
    cache.set("tiny", b"x", ttl=0.0001)        # rounds up to 1 ms
    time.sleep(0.05)
    assert cache.get("tiny") is None


def test_bad_ttl_and_keys_raise_value_errors(cache):
    with pytest.raises(ValueError):
        cache.set("k", b"v", ttl=-1)
    with pytest.raises(ValueError):
        cache.set("k", b"v", ttl=float("nan"))
    with pytest.raises(forkcache.TooLargeError):
        cache.set("k" * (forkcache.KEY_MAX + 1), b"v")
    with pytest.raises(forkcache.InvalidArgumentError):
        cache.get("")
    assert cache.get("k") is None              # nothing stored on failure


def test_value_too_large_is_a_value_error_and_changes_nothing(cache):
    cache.set("big", b"old")
    limit = cache.stats()["value_max"]
    with pytest.raises(ValueError) as ei:
        cache.set("big", b"x" * (limit + 1))
    assert isinstance(ei.value, forkcache.Error)
    assert ei.value.name in ("FC_E2BIG", "FC_ENOMEM")
    assert cache.get("big") == b"old"
    cache.set("big", b"x" * limit)
    assert len(cache.get("big")) == limit


def test_stats_clear_keys_verify(cache):
    for i in range(100):
        cache.set("k%d" % i, b"v")
    cache.get("k1"), cache.get("missing")
    s = cache.stats()
    assert s["items"] == 100 and s["hits"] >= 1 and s["misses"] >= 1
    assert sorted(cache.keys(b"k9")) == [b"k9"] + [b"k9%d" % i
                                                   for i in range(10)]
    assert len(cache.keys()) == 100
    cache.clear()
    assert cache.keys() == [] and cache.get("k1") is None
    assert cache.verify() == 0


def test_closed_cache_raises_and_context_manager_closes():
    with forkcache.Cache(size="2M") as c:
        c.set("a", b"1")
    assert c.closed
    with pytest.raises(ValueError):
        c.get("a")
    c.close()                                  # idempotent


def test_error_hierarchy_maps_library_codes():
    assert issubclass(forkcache.TooLargeError, ValueError)
    assert issubclass(forkcache.SystemCallError, OSError)
    for cls in (forkcache.NotFoundError, forkcache.BusyError,
                forkcache.CorruptError):
        assert issubclass(cls, forkcache.Error)
        assert forkcache.errname(cls.code) == cls.name
    with pytest.raises(forkcache.InvalidArgumentError):
        forkcache.Cache("no-leading-slash")
    with pytest.raises(forkcache.InvalidArgumentError):
        forkcache.Cache(unique_name(), size="64K")   # below the 1 MiB minimum


def test_named_segment_attach_create_false_and_exclusive(name):
    with pytest.raises(forkcache.NotFoundError):
        forkcache.Cache(name, create=False)
    a = forkcache.Cache(name, size="2M")
    with pytest.raises(forkcache.ExistsError):
        forkcache.Cache(name, exclusive=True)
    b = forkcache.Cache(name, create=False)    # one segment, two handles
    a.set("x", b"1")
    assert b.get("x") == b"1"
    b.close()
    assert a.get("x") == b"1"
    a.close()
    assert os.path.exists("/dev/shm" + name)   # named: outlives handles
    assert forkcache.unlink(name) is True
    assert forkcache.unlink(name) is False


def test_private_cache_has_no_name_left_and_is_shared_with_forked_children():
    c = forkcache.Cache(size="2M")
    assert not os.path.exists("/dev/shm" + c.name)   # already removed
    with pytest.raises(forkcache.NotFoundError):
        forkcache.Cache(c.name, create=False)        # nobody else attaches
    c.set("from-parent", b"p")

    def child():
        assert c.get("from-parent") == b"p"
        c.set("from-child", b"c")
        c.close()                  # the child's close leaves the parent's
        return 0
    assert run_in_child(child) == 0
    assert c.get("from-child") == b"c"
    # two private caches are two segments
    d = forkcache.Cache(size="2M")
    assert d.get("from-parent") is None
    d.close()
    c.close()


def test_private_segment_memory_goes_with_the_last_process():
    c = forkcache.Cache(size="2M")
    seg = c.name
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                   # child keeps the mapping after the parent
        os.close(w)
        os.read(r, 1)              # wait for the parent to close
        ok = c.get("k") == b"v"
        ok = ok and any(seg in line for line in open("/proc/self/maps"))
        c.close()
        ok = ok and not any(seg in line for line in open("/proc/self/maps"))
        os._exit(0 if ok else 1)
    os.close(r)
    c.set("k", b"v")
    c.close()
    assert not any(seg in line for line in open("/proc/self/maps"))
    os.write(w, b"x")
    os.close(w)
    _, st = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(st) == 0


def test_fork_after_open_like_gunicorn_preload():
    c = forkcache.Cache(size="4M")
    pids = []
    for w in range(4):
        pid = os.fork()
        if pid == 0:
            code = 0
            for i in range(200):
                c.set("w%d-%d" % (w, i), b"%d" % i)
            for i in range(200):
                if c.get("w%d-%d" % (w, i)) != b"%d" % i:
                    code = 1
            os._exit(code)
        pids.append(pid)
    for pid in pids:
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    for w in range(4):
        assert c.get("w%d-199" % w) == b"199"
    assert c.stats()["items"] == 800
    assert c.verify() == 0
    c.close()


CHILD = r"""
import sys, forkcache
c = forkcache.Cache(sys.argv[1])          # opens by name, creating if first
c.set("pid-" + sys.argv[2], sys.argv[2].encode())
print(c.get("shared").decode() if c.get("shared") else "none")
"""


def test_unrelated_processes_open_by_name_like_workers_without_preload(name):
    c = forkcache.Cache(name, size="2M")
    c.set("shared", b"hello")
    outs = [subprocess.run([sys.executable, "-c", CHILD, name, str(i)],
                           capture_output=True, text=True, check=True,
                           env=dict(os.environ)).stdout.strip()
            for i in range(3)]
    assert outs == ["hello"] * 3
    assert [c.get("pid-%d" % i) for i in range(3)] == [b"0", b"1", b"2"]
    c.close()


def test_threads_share_one_handle_without_torn_values(cache):
    vals = [bytes([i]) * (100 + i) for i in range(8)]
    errors = []

    def run(t):
        try:
            for i in range(3000):
                cache.set("hot", vals[(t + i) % 8])
                v = cache.get("hot")
                if v not in vals:
                    errors.append(v)
        except Exception as e:     # pragma: no cover
            errors.append(e)
    ts = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    assert cache.verify() == 0


def test_close_while_other_threads_write_is_deferred_and_safe():
    c = forkcache.Cache(size="2M")
    stop = threading.Event()
    seen = []

    def writer():
        try:
            while not stop.is_set():
                c.set("k", b"v" * 100)
        except ValueError as e:    # closed: the expected way out
            seen.append(str(e))
    ts = [threading.Thread(target=writer) for _ in range(3)]
    for t in ts:
        t.start()
    time.sleep(0.05)
    c.close()
    stop.set()
    for t in ts:
        t.join()
    assert c.closed
    assert all("closed" in s for s in seen)


def test_gil_is_released_while_a_set_waits_for_the_writer_lock(cache):
    # A thread doing sets must not keep others from running Python code.
    stop = threading.Event()
    n = [0]

    def setter():
        while not stop.is_set():
            cache.set("x", b"y" * 1000)
            n[0] += 1
    t = threading.Thread(target=setter)
    t.start()
    spins = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.2:
        spins += 1
    stop.set()
    t.join()
    assert n[0] > 0 and spins > 1000


def test_cache_cannot_be_pickled(cache):
    import pickle
    with pytest.raises(TypeError):
        pickle.dumps(cache)
