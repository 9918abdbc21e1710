#!/usr/bin/python3
"""peers_table.py - the Markdown tables of bench/RESULTS.md from the text
output of forkcache-peers: throughput per system with the ratios
forkcache/peer, and the latency percentiles at one process.

usage: peers_table.py RESULTS.txt > tables.md
"""
import sys

SYSTEMS = ["forkcache", "rwlock_table", "lmdb", "memcached", "redis"]
PEERS = SYSTEMS[1:]
WORKLOADS = [("get", "uniform"), ("get", "zipf"), ("get90_set10", "zipf"),
             ("get50_set50", "zipf"), ("get_under_set", "uniform")]


def si(x):
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def ns(x):
    if x >= 1e6:
        return f"{x / 1e6:.3g} ms"
    return f"{x / 1000:.3g} µs" if x >= 1000 else f"{x:.0f} ns"


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    rows = {}
    for line in open(sys.argv[1]):
        if not line.startswith("bench: "):
            continue
        f = dict(kv.split("=", 1) for kv in line.split()[1:])
        key = (f["system"], f["op"], f["dist"], int(f["vsize"]),
               int(f["procs"]))
        rows[key] = None if f["ops_per_s"] == "skipped" else {
            k: float(f[k]) for k in ("ops_per_s", "ns_per_op", "p50_ns",
                                     "p99_ns", "p999_ns")}
    vsizes = sorted({k[3] for k in rows})
    procs = sorted({k[4] for k in rows})

    print("Throughput, ops/s summed over the processes (per process at "
          "procs=1), and forkcache's rate divided by each peer's "
          "(`x` > 1: forkcache faster).\n")
    print("| op | dist | vsize | procs | " + " | ".join(SYSTEMS) + " | " +
          " | ".join(f"fc/{p}" for p in PEERS) + " |")
    print("|---" * (4 + len(SYSTEMS) + len(PEERS)) + "|")
    for op, dist in WORKLOADS:
        for vs in vsizes:
            for pr in procs:
                cells = [rows.get((s, op, dist, vs, pr), "absent")
                         for s in SYSTEMS]
                if all(c == "absent" for c in cells):
                    continue
                out = [op, dist, str(vs), str(pr)]
                for c in cells:
                    out.append("—" if c == "absent" else
                               "skipped" if c is None else si(c["ops_per_s"]))
                fc = cells[0]
                for c in cells[1:]:
                    if isinstance(fc, dict) and isinstance(c, dict):
                        r = fc["ops_per_s"] / c["ops_per_s"]
                        out.append(f"{r:.0f}x" if r >= 10 else f"{r:.2g}x")
                    else:
                        out.append("—")
                print("| " + " | ".join(out) + " |")

    print("\nGet latency at 1 reading process, p50 / p99 / p99.9 "
          "(every 16th op timed with the TSC; every op of memcached and Redis).\n")
    print("| op | vsize | " + " | ".join(SYSTEMS) + " |")
    print("|---" * (2 + len(SYSTEMS)) + "|")
    for op in ("get", "get_under_set"):
        for vs in vsizes:
            out = [op, str(vs)]
            for s in SYSTEMS:
                c = rows.get((s, op, "uniform", vs, 1), "absent")
                out.append("—" if c == "absent" else "skipped" if c is None
                           else f"{ns(c['p50_ns'])} / {ns(c['p99_ns'])} / "
                                f"{ns(c['p999_ns'])}")
            print("| " + " | ".join(out) + " |")


main()
