#!/usr/bin/python3
"""Time one get of a 64-byte value, side by side in one run:

  dict[key]                          plain dict lookup (the floor)
  cachetools.TTLCache.__getitem__    what Python apps use today (per process)
  forkcache.Cache.get                the binding (bytes)
  forkcache.TTLCache[key]            the mapping, value through pickle

Each figure is the median of --reps timeit repeats of --number gets, in ns
per get; the ratio line is forkcache.Cache.get / cachetools (target <= 0.5).
Run: PYTHONPATH=build/python /usr/bin/python3 python/bench/bench_get.py
"""
import argparse
import os
import platform
import statistics
import sys
import timeit

import cachetools

import forkcache


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--number", type=int, default=200000)
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()

    value = os.urandom(64)
    keys = ["user:%06d" % i for i in range(a.keys)]
    key = keys[a.keys // 2]

    d = {k: value for k in keys}
    ct = cachetools.TTLCache(maxsize=a.keys * 2, ttl=600)
    fc = forkcache.Cache(size="16M")
    ft = forkcache.TTLCache(maxsize=a.keys * 2, ttl=600, size="16M")
    for k in keys:
        ct[k] = value
        fc.set(k, value, ttl=600)
        ft[k] = value
    assert fc.get(key) == value and ct[key] == value and ft[key] == value

    cases = [
        ("dict[key]", "d[key]", {"d": d}),
        ("cachetools.TTLCache[key]", "ct[key]", {"ct": ct}),
        ("forkcache.Cache.get(key)", "get(key)", {"get": fc.get}),
        ("forkcache.Cache.get (bound each time)", "fc.get(key)", {"fc": fc}),
        ("forkcache.TTLCache[key] (pickle)", "ft[key]", {"ft": ft}),
    ]
    res = {}
    # Interleave the cases in each repeat so that noise hits all alike.
    samples = {name: [] for name, _, _ in cases}
    for _ in range(a.reps):
        for name, stmt, g in cases:
            g = dict(g, key=key)
            t = timeit.timeit(stmt, globals=g, number=a.number)
            samples[name].append(t / a.number * 1e9)
    print("# bench_get python=%s cpus=%d value=64B keys=%d number=%d reps=%d"
          % (platform.python_version(), os.cpu_count(), a.keys, a.number,
             a.reps))
    for name, _, _ in cases:
        s = samples[name]
        med = statistics.median(s)
        res[name] = med
        print("get=%-40s ns_op=%7.1f min=%7.1f max=%7.1f"
              % (name, med, min(s), max(s)))
    base = res["cachetools.TTLCache[key]"]
    print("ratio forkcache.Cache.get/cachetools=%.2f (target <= 0.50)"
          % (res["forkcache.Cache.get (bound each time)"] / base))
    print("ratio forkcache.TTLCache[key]/cachetools=%.2f"
          % (res["forkcache.TTLCache[key] (pickle)"] / base))
    fc.close()
    ft.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
