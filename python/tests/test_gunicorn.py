"""SharedMemoryCache under a real gunicorn -w 4: with --preload (a private
cache opened in the master, used by the forked workers) and without it (each
worker opens the cache by name)."""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import forkcache
from conftest import unique_name

HERE = os.path.dirname(os.path.abspath(__file__))
pytestmark = pytest.mark.skipif(shutil.which("gunicorn") is None,
                                reason="gunicorn not installed")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read().decode()


def serve_and_probe(tmp_path, preload, shm):
    port = free_port()
    count = tmp_path / "count"
    count.write_bytes(b"")
    env = dict(os.environ, FC_TEST_COUNT=str(count), FC_TEST_SHM=shm,
               PYTHONPATH=os.pathsep.join(
                   [os.path.join(HERE, "apps"),
                    os.path.dirname(os.path.dirname(forkcache.__file__))]))
    cmd = [sys.executable, "-m", "gunicorn", "-w", "4", "-b",
           "127.0.0.1:%d" % port, "--log-level", "warning"]
    if preload:
        cmd.append("--preload")
    proc = subprocess.Popen(cmd + ["preload_app:app"], env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "log", "w"))
    try:
        t0 = time.time()
        while True:
            try:
                get(port, "/pid")
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "log").read_text()
                assert time.time() - t0 < 60, "gunicorn did not start"
                time.sleep(0.1)
        pids, items = set(), []
        lock = threading.Lock()

        def client():
            for _ in range(10):
                st1, p = get(port, "/pid")
                st2, body = get(port, "/item")
                with lock:
                    pids.add(p)
                    items.append((st1, st2, body))
        # until several workers have served requests
        for _ in range(5):
            ts = [threading.Thread(target=client) for _ in range(8)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            if len(pids) >= 3:
                break
        return pids, items, count.stat().st_size
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_preload_private_cache_is_shared_by_the_workers(tmp_path):
    pids, items, computes = serve_and_probe(tmp_path, True, "")
    assert len(pids) >= 2, pids
    assert all(st1 == st2 == 200 for st1, st2, _ in items)
    assert computes == 1, computes              # one cache for 4 workers
    assert len({body for _, _, body in items}) == 1


def test_without_preload_workers_share_by_name(tmp_path):
    name = unique_name("gunicorn")
    try:
        pids, items, computes = serve_and_probe(tmp_path, False, name)
    finally:
        forkcache.unlink(name)
    assert len(pids) >= 2, pids
    assert computes == 1, computes
    assert len({body for _, _, body in items}) == 1


def test_control_without_preload_or_name_each_worker_has_its_own(tmp_path):
    # The check above can fail: private caches made in each worker (no
    # --preload, no name) are not shared, and the item is computed in
    # every worker that serves it.
    pids, items, computes = serve_and_probe(tmp_path, False, "")
    assert len(pids) >= 2, pids
    assert computes >= 2, computes
