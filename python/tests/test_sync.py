"""forkcache.sync.Publisher: delete locally, publish through Redis; and, with
the forkcache-sync daemon of the build, the other "machine" (a second
segment) loses the key. Starts its own redis-server (unix socket in a temp
dir, --save ''), stopped at the end."""
import os
import shutil
import subprocess
import time

import pytest

import forkcache
from conftest import unique_name

redis = pytest.importorskip("redis")
from forkcache.sync import Publisher  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server not installed")


@pytest.fixture(scope="module")
def sock(tmp_path_factory):
    d = tmp_path_factory.mktemp("redis")
    path = str(d / "redis.sock")
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", path,
         "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
         "--dir", str(d)], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                if redis.Redis(unix_socket_path=path).ping():
                    break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        yield path
    finally:
        proc.terminate()
        proc.wait(10)


def subscriber(sock, ns):
    p = redis.Redis(unix_socket_path=sock).pubsub()
    p.subscribe("forkcache:inval:" + ns)
    assert p.get_message(timeout=2)["type"] == "subscribe"
    return p


def next_message(p):
    m = p.get_message(timeout=2)
    assert m is not None and m["type"] == "message"
    return m["data"]


def test_publisher_deletes_locally_and_publishes_in_sequence(sock):
    name = unique_name("sync")
    ns = name[1:]
    c = forkcache.Cache(name, size="4M")
    try:
        for k in ("user:1", "user:2", "item:1", "item:2", "other"):
            c.set(k, b"v")
        p = subscriber(sock, ns)
        pub = Publisher("unix:" + sock, segment=name)
        assert pub.namespace == ns
        pub.invalidate("user:1")
        assert "user:1" not in c and "user:2" in c
        assert next_message(p) == b"1 key user:1"
        pub.invalidate_prefix(b"item:")
        assert sorted(c.keys()) == [b"other", b"user:2"]
        assert next_message(p) == b"2 prefix item:"
        pub.invalidate_all()
        assert c.keys() == []
        assert next_message(p) == b"3 all"
        assert redis.Redis(unix_socket_path=sock).get(
            "forkcache:seq:" + ns) == b"3"
        pub.close()
        with pytest.raises(ValueError):
            pub.invalidate("x")
    finally:
        c.close()
        forkcache.unlink(name)


def test_publisher_errors(sock, tmp_path):
    with pytest.raises(ConnectionError) as e:
        Publisher("unix:" + str(tmp_path / "none.sock"), namespace="x")
    assert e.value.errno in (2, 111)  # ENOENT, ECONNREFUSED
    with pytest.raises(ValueError):
        Publisher("no-port-here", namespace="x")
    with pytest.raises(ValueError):
        Publisher("unix:" + sock)  # no namespace, no segment
    with pytest.raises(FileNotFoundError):
        Publisher("unix:" + sock, segment=unique_name("missing"))
    pub = Publisher("unix:" + sock, namespace="x")
    with pytest.raises(ValueError):
        pub.invalidate(b"")
    with pytest.raises(ValueError):
        pub.invalidate(b"k" * 251)


def test_publisher_works_in_a_forked_child(sock):
    ns = "fork-%d" % os.getpid()
    p = subscriber(sock, ns)
    pub = Publisher("unix:" + sock, namespace=ns)
    pub.invalidate("before")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports by its status
        try:
            pub.invalidate("child")
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    pub.invalidate("after")  # the parent's connection is untouched
    got = sorted(next_message(p) for _ in range(3))
    assert got == [b"1 key before", b"2 key child", b"3 key after"]


def test_the_other_machine_loses_the_key(sock):
    sync = os.path.join(os.environ.get("FORKCACHE_TEST_BUILD", ""), "..",
                        "tools", "forkcache-sync")
    if not os.access(sync, os.X_OK):
        pytest.skip("forkcache-sync not built next to the package")
    a, b = unique_name("A"), unique_name("B")
    ns = "machines-%d" % os.getpid()
    ca, cb = forkcache.Cache(a, size="4M"), forkcache.Cache(b, size="4M")
    d = subprocess.Popen([sync, b, "--redis", "unix:" + sock,
                          "--namespace", ns], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    try:
        assert d.stdout.readline() == b"forkcache-sync: subscribed\n"
        cb.set("product:7", b"old")
        Publisher("unix:" + sock, segment=a,
                  namespace=ns).invalidate("product:7")
        deadline = time.monotonic() + 2
        while "product:7" in cb and time.monotonic() < deadline:
            time.sleep(0.001)
        assert "product:7" not in cb
    finally:
        d.terminate()
        assert d.wait(10) == 0
        for c, n in ((ca, a), (cb, b)):
            c.close()
            forkcache.unlink(n)
