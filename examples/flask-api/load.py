#!/usr/bin/python3
"""Compare Flask-Caching backends for the example API under gunicorn -w 4:
SimpleCache (per worker), RedisCache (Debian's redis-server, started and
stopped here) and forkcache's SharedMemoryCache. For each backend, one cold
server:
  1. load: wrk with Zipf product ids -> requests/s, p99, backend queries
  2. stampede: a cold, expensive key (/report), 100 concurrent requests ->
     backend calls
Prints one table (figures from this one run, side by side) and the ratios
the targets are about. Everything listens on 127.0.0.1 / a temp dir and is
stopped at the end.

  /usr/bin/python3 examples/flask-api/load.py [--seconds 20] [--ids 10000]
Uses the forkcache package on PYTHONPATH (default: <repo>/build/python).
"""
import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, proc, log, path="/health", timeout=90):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            with open(log) as f:
                sys.stderr.write(f.read()[-3000:])
            raise RuntimeError("gunicorn exited with %d" % proc.returncode)
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server on port %d did not come up" % port)


def count(dirname, kind):
    try:
        return os.path.getsize(os.path.join(dirname, kind))
    except FileNotFoundError:
        return 0


class Server:
    """gunicorn -w N serving app:app with one backend, cold."""

    def __init__(self, backend, tmp, args, redis_url):
        self.port = free_port()
        self.counts = tempfile.mkdtemp(prefix="counts-", dir=tmp)
        env = dict(os.environ,
                   FLASK_API_CACHE=backend,
                   FLASK_API_DB=os.path.join(tmp, "products.db"),
                   FLASK_API_COUNTS=self.counts,
                   FLASK_API_TTL=str(args.ttl),
                   FLASK_API_BACKEND_MS=str(args.backend_ms),
                   FLASK_API_REPORT_MS=str(args.report_ms),
                   FLASK_API_REDIS_URL=redis_url or "",
                   FLASK_API_SHM="/flask-api-%d" % os.getpid())
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (args.pythonpath, env.get("PYTHONPATH")) if p)
        self.shm = env["FLASK_API_SHM"]
        log = os.path.join(tmp, "gunicorn-%s.log" % backend)
        self.proc = subprocess.Popen(
            [PY, "-m", "gunicorn", "-w", str(args.workers), "-b",
             "127.0.0.1:%d" % self.port, "--chdir", HERE,
             "--log-level", "warning", "app:app"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(log, "a"))
        wait_http(self.port, self.proc, log)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        subprocess.run([PY, "-c", "import forkcache,sys; "
                        "forkcache.unlink(sys.argv[1])", self.shm],
                       env=dict(os.environ, PYTHONPATH=ARGS.pythonpath),
                       check=False)


def run_wrk(port, args):
    out = subprocess.run(
        ["wrk", "-t", str(args.threads), "-c", str(args.connections),
         "-d", "%ds" % args.seconds, "--latency", "-s",
         os.path.join(HERE, "zipf.lua"), "http://127.0.0.1:%d" % port,
         "--", str(args.ids)],
        capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99_ms = float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, p99_ms, reqs, int(non2xx.group(1)) if non2xx else 0


def stampede(port, n):
    """n concurrent GET /report on a cold key; returns the statuses."""
    barrier = threading.Barrier(n)
    statuses = []
    lock = threading.Lock()

    def one():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.connect()
        barrier.wait()
        c.request("GET", "/report")
        st = c.getresponse().status
        with lock:
            statuses.append(st)
    ts = [threading.Thread(target=one) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return statuses


def start_redis(tmp):
    sock = os.path.join(tmp, "redis.sock")
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", sock,
         "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
         "--dir", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(sock):
            return proc, "unix://" + sock
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


ARGS = None


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=20,
                    help="duration of one wrk run")
    ap.add_argument("--rounds", type=int, default=3,
                    help="runs per backend, interleaved; medians reported")
    ap.add_argument("--ids", type=int, default=500)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--ttl", type=int, default=60)
    ap.add_argument("--backend-ms", type=float, default=2)
    ap.add_argument("--report-ms", type=float, default=300)
    ap.add_argument("--stampede", type=int, default=100)
    ap.add_argument("--backends", default="simple,redis,forkcache")
    ap.add_argument("--pythonpath", default=os.path.join(ROOT, "build",
                                                         "python"))
    ARGS = args = ap.parse_args()
    for tool in ("wrk", "redis-server"):
        if not shutil.which(tool):
            sys.exit("load.py: %s not found (scripts/deps.sh)" % tool)

    tmp = tempfile.mkdtemp(prefix="flask-api-")
    # A private copy of the package: a rebuild meanwhile cannot touch it.
    if os.path.isdir(os.path.join(args.pythonpath, "forkcache")):
        shutil.copytree(os.path.join(args.pythonpath, "forkcache"),
                        os.path.join(tmp, "pkg", "forkcache"))
        args.pythonpath = os.path.join(tmp, "pkg")
    subprocess.run([PY, os.path.join(HERE, "app.py"), "--init-db",
                    os.path.join(tmp, "products.db"), str(args.ids)],
                   check=True)
    redis_proc = redis_url = None
    rows = {}
    try:
        if "redis" in args.backends.split(","):
            redis_proc, redis_url = start_redis(tmp)
        backends = args.backends.split(",")
        rows = {b: [] for b in backends}
        for rnd in range(args.rounds):
            for backend in backends:
                if backend == "redis":  # cold for each run
                    subprocess.run(["redis-cli", "-s", redis_url[7:],
                                    "FLUSHALL"], stdout=subprocess.DEVNULL,
                                   check=True)
                srv = Server(backend, tmp, args, redis_url)
                try:
                    rps, p99, reqs, bad = run_wrk(srv.port, args)
                    queries = count(srv.counts, "products")
                    sts = stampede(srv.port, args.stampede)
                    calls = count(srv.counts, "report")
                finally:
                    srv.stop()
                rows[backend].append((rps, p99, reqs, bad, queries, calls,
                                      sum(s == 200 for s in sts)))
                print("round %d %-10s req/s=%.1f p99_ms=%.2f requests=%d "
                      "queries=%d stampede_calls=%d (%d/%d ok)" % (
                          rnd + 1, backend, rps, p99, reqs, queries, calls,
                          sum(s == 200 for s in sts), args.stampede),
                      flush=True)
    finally:
        if redis_proc:
            redis_proc.terminate()
            redis_proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    print("# flask-api load: gunicorn -w %d (sync), wrk -t%d -c%d -d%ds, "
          "Zipf(0.99) over %d ids, ttl %ds, backend query "
          "%g ms; stampede: %d concurrent /report (%g ms) on a cold server; "
          "median of %d interleaved rounds"
          % (args.workers, args.threads, args.connections, args.seconds,
             args.ids, args.ttl, args.backend_ms, args.stampede,
             args.report_ms, args.rounds))
    print("%-10s %10s %9s %9s %8s %16s %14s %15s" % (
        "backend", "req/s", "p99_ms", "requests", "non2xx",
        "backend_queries", "queries/1k_req", "stampede_calls"))
    med = {}
    for b, runs in rows.items():
        cols = list(zip(*runs))
        m = [statistics.median(c) for c in cols]
        med[b] = m
        m.append(statistics.median(r[4] * 1000 / max(r[2], 1)
                                   for r in runs))
        print("%-10s %10.1f %9.2f %9d %8d %16d %14.1f %15s"
              % (b, m[0], m[1], m[2], max(cols[3]), m[4], m[7],
                 "/".join(str(c) for c in cols[5])))
    if "simple" in med and "forkcache" in med:
        per = [(f[0] / s[0], f[4] / max(s[4], 1))
               for s, f in zip(rows["simple"], rows["forkcache"])]
        print("per-round forkcache/simple (adjacent runs): req/s %s; "
              "backend_queries %s" % (
                  " ".join("%.2f" % p[0] for p in per),
                  " ".join("%.3f" % p[1] for p in per)))
        s, f = med["simple"], med["forkcache"]
        print("ratio forkcache/simple: backend_queries=%.3f "
              "queries_per_request=%.3f (target <= 0.333) req/s=%.2f "
              "(target >= 1.00) stampede_calls=%s (target 1)"
              % (f[4] / max(s[4], 1), f[7] / max(s[7], 1e-9), f[0] / s[0],
                 "/".join(str(r[5]) for r in rows["forkcache"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
