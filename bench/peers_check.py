#!/usr/bin/python3
"""peers_check.py - run forkcache-peers and check that every line of its
output is well formed: '#' comments and one 'bench:' line (or, with --json,
one JSON object) per (system, workload, value size, procs) asked for. Speed
is printed, never asserted.

usage: peers_check.py FORKCACHE-PEERS [ARGS...]
"""
import json
import re
import subprocess
import sys

SYSTEMS = ["forkcache", "memcached", "redis", "lmdb", "rwlock_table"]
OPS = {("get", "uniform"), ("get", "zipf"), ("get90_set10", "zipf"),
       ("get50_set50", "zipf"), ("get_under_set", "uniform")}
NUM = r"(?:[0-9]+(?:\.[0-9]+)?|skipped)"
LINE = re.compile(
    r"^bench: system=(?P<system>[a-z_]+) op=(?P<op>[a-z0-9_]+) "
    r"dist=(?P<dist>[a-z]+) vsize=(?P<vsize>[0-9]+) procs=(?P<procs>[0-9]+) "
    rf"ops_per_s=(?P<ops>{NUM}) ns_per_op=(?P<ns>{NUM}) p50_ns=(?P<p50>{NUM}) "
    rf"p99_ns=(?P<p99>{NUM}) p999_ns=(?P<p999>{NUM})$")
FIELDS = ("ops", "ns", "p50", "p99", "p999")


def fail(msg):
    print("peers_check: FAIL: " + msg)
    sys.exit(1)


def check_row(row, where):
    if row["system"] not in SYSTEMS:
        fail(f"{where}: unknown system {row['system']}")
    if (row["op"], row["dist"]) not in OPS:
        fail(f"{where}: unknown op/dist {row['op']}/{row['dist']}")
    vals = [row[f] for f in FIELDS]
    if row["skipped"]:
        if any(v is not None for v in vals):
            fail(f"{where}: a skipped row with figures")
        if row["system"] in ("forkcache", "rwlock_table"):
            fail(f"{where}: {row['system']} cannot be skipped")
        return
    if any(v is None or v <= 0 for v in vals):
        fail(f"{where}: a figure is missing or not positive: {vals}")
    if not row["p50"] <= row["p99"] <= row["p999"]:
        fail(f"{where}: percentiles out of order: {vals}")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    cmd = sys.argv[1:]
    as_json = "--json" in cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    if p.returncode != 0:
        fail(f"exit status {p.returncode}")
    rows = []
    for n, line in enumerate(p.stdout.splitlines(), 1):
        where = f"line {n}"
        if as_json:
            try:
                obj = json.loads(line)
            except ValueError as e:
                fail(f"{where}: not JSON: {e}")
            if (n == 1 and "meta" in obj) or "note" in obj:
                continue
            row = {"system": obj.get("system"), "op": obj.get("op"),
                   "dist": obj.get("dist"), "vsize": obj.get("vsize"),
                   "procs": obj.get("procs"),
                   "skipped": obj.get("skipped") is True}
            for f, k in zip(FIELDS, ("ops_per_s", "ns_per_op", "p50_ns",
                                     "p99_ns", "p999_ns")):
                if k not in obj:
                    fail(f"{where}: no {k}")
                row[f] = obj[k]
        else:
            if line.startswith("# "):
                continue
            m = LINE.match(line)
            if not m:
                fail(f"{where}: malformed: {line!r}")
            row = m.groupdict()
            row["skipped"] = row["ops"] == "skipped"
            if row["skipped"] and any(row[f] != "skipped" for f in FIELDS):
                fail(f"{where}: partly skipped")
            for f in FIELDS:
                row[f] = None if row["skipped"] else float(row[f])
            row["vsize"], row["procs"] = int(row["vsize"]), int(row["procs"])
        check_row(row, where)
        rows.append(row)
    seen = {(r["system"], r["op"], r["dist"]) for r in rows}
    want = {(s, o, d) for s in SYSTEMS for (o, d) in OPS}
    if "--systems" not in cmd and "--workloads" not in cmd and seen != want:
        fail(f"missing results: {sorted(want - seen)}")
    keys = [(r["system"], r["op"], r["dist"], r["vsize"], r["procs"])
            for r in rows]
    if len(keys) != len(set(keys)):
        fail("a result is printed twice")
    live = sum(1 for r in rows if not r["skipped"])
    print(f"peers_check: ok: {len(rows)} results ({live} measured, "
          f"{len(rows) - live} skipped), every line well formed")


main()
