#!/usr/bin/env bash
# cli_test.sh - drive the forkcache CLI through every subcommand.
#
#   cli_test.sh FORKCACHE_BINARY FC_FUZZ_SEEDS_BINARY
#
# Runs under ctest (label cli). Every check compares an exit code or parsed
# output with an expected value written here; JSON is parsed back with
# python3's json module. Segments: one shm segment and file segments in a
# temporary directory, all removed on exit. Exit 0 all passed, 1 a check
# failed, 2 usage.
set -u

[ $# -eq 2 ] || { echo "usage: cli_test.sh FORKCACHE FC_FUZZ_SEEDS" >&2; exit 2; }
F=$(realpath "$1")
SEEDER=$(realpath "$2")
PY=${FC_PYTHON3:-python3}
T=$(mktemp -d "${TMPDIR:-/tmp}/fc-cli-test.XXXXXX")
N="/fc-cli-test-$$"
failures=0
checks=0

cleanup() {
  "$F" rm "$N" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run CMD...: run the CLI with stdin from /dev/null unless redirected by
# the caller; stdout in $T/out, stderr in $T/err, exit code in $rc.
run() {
  "$F" "$@" >"$T/out" 2>"$T/err"
  rc=$?
}

# expect CODE ARGS...: run the CLI and check its exit code.
expect() {
  local want=$1
  shift
  checks=$((checks + 1))
  run "$@" </dev/null
  if [ "$rc" -ne "$want" ]; then
    fail "forkcache $* -> exit $rc, want $want"
    sed 's/^/    stderr: /' "$T/err" | head -5 >&2
    sed 's/^/    stdout: /' "$T/out" | head -5 >&2
    return 1
  fi
  return 0
}

# check DESC PYTHON-EXPR: evaluate a Python expression with `out` (stdout
# of the last run, str), `raw` (bytes), `err` and `j` (parsed JSON, if any).
check() {
  local desc=$1 expr=$2
  checks=$((checks + 1))
  if ! "$PY" - "$T/out" "$T/err" "$expr" <<'EOF'
import json, sys
raw = open(sys.argv[1], 'rb').read()
out = raw.decode('utf-8', 'replace')
err = open(sys.argv[2], 'rb').read().decode('utf-8', 'replace')
try:
    j = json.loads(raw)
except ValueError:
    j = None
ok = eval(sys.argv[3])
if not ok:
    sys.stderr.write("    stdout: %r\n    stderr: %r\n" % (out[:400], err[:300]))
sys.exit(0 if ok else 1)
EOF
  then
    fail "$desc  [$expr]"
  fi
}

# ---------------------------------------------------------------- help ----
cmds="stats keys get dump restore set delete touch flush create rm verify watch"
expect 0 --help && check "main help lists commands" "'forkcache watch' in out"
expect 0 help get && check "help get" "out.startswith('usage: forkcache get')"
expect 0 --version && check "version" "out.startswith('forkcache ')"
for c in $cmds; do
  expect 0 "$c" --help && check "$c --help" "out.startswith('usage: forkcache $c') and 'Example:' in out"
  expect 0 "$c" "$N" -h
done

# --------------------------------------------------------------- usage ----
expect 2
expect 2 frobnicate "$N"
expect 2 stats
expect 2 stats "$N" --bogus && check "usage names option" "'--bogus' in err and 'usage:' in err"
expect 2 stats "$N" extra
expect 2 get "$N"
expect 2 set "$N" k
expect 2 set "$N" k v --ttl -5
expect 2 set "$N" k v --ttl 12x
expect 2 keys "$N" --limit 0
expect 2 keys "$N" --limit
expect 2 touch "$N" k
expect 2 create "$N"
expect 2 create "$N" --size 12Q
expect 2 dump "$N" --json --binary
expect 2 watch "$N" --interval 0
expect 2 watch "$N" --count 0
expect 2 get "$N" "$(printf 'k%.0s' $(seq 251))"
expect 2 get "$N" 'bad\q' --escaped
expect 2 stats "$N" -x
expect 2 stats ""
expect 2 stats "$N" --json=yes

# ---------------------------------------------------- missing segment ----
expect 1 stats "/fc-cli-test-missing-$$" && check "no such segment" "'no such segment' in err"
expect 1 keys "$T/missing.seg"
expect 1 rm "/fc-cli-test-missing-$$"

# -------------------------------------------------------------- create ----
expect 0 create "$N" --size 4M && check "create output" "'Created $N (shm)' in out and 'Size: 4194304' in out"
expect 1 create "$N" --size 4M && check "create twice" "'FC_EEXIST' in err"
expect 2 create "$T/bad.seg" --size 4M --page-size 3000
expect 0 create "$T/a.seg" --size 1M --page-size 64K --slots 8 --mode 0640
check "file segment" "'(file)' in out"
[ -f "$T/a.seg" ] || fail "create did not make $T/a.seg"
[ "$(stat -c %a "$T/a.seg")" = 640 ] || fail "--mode 0640 not applied"
(cd "$T" && "$F" create rel.seg --file --size 1M --page-size 64K >/dev/null) || fail "create --file rel.seg"
[ -f "$T/rel.seg" ] || fail "--file did not make a file"
( cd "$T" && "$F" stats rel.seg --file >/dev/null ) || fail "stats --file rel.seg"
( cd "$T" && "$F" rm rel.seg --file ) || fail "rm --file"
[ ! -e "$T/rel.seg" ] || fail "rm --file left the file"

# ------------------------------------------------------- set/get/delete ----
expect 0 set "$N" hello world
expect 0 get "$N" hello --raw && check "get --raw" "raw == b'world'"
expect 0 get "$N" hello && check "get text" "out.startswith('Item hello') and 'Value: world' in out and 'never expires' in out and 'CAS: ' in out"
expect 0 get "$N" hello --json
check "get --json" "j['key'] == 'hello' and j['value'] == 'world' and j['vlen'] == 5 and j['ttl_ms'] == -1 and j['expire_ms'] == 0 and j['cas'] > 0 and j['chunk_bytes'] >= 5"
expect 0 set "$N" ttlkey v --ttl 600000
expect 0 get "$N" ttlkey --json && check "ttl left" "0 < j['ttl_ms'] <= 600000 and j['expire_ms'] > 0"
expect 0 get "$N" ttlkey && check "ttl text" "'TTL left: ' in out and 'Expires: ' in out"
expect 1 get "$N" nokey && check "missing key message" "'FC_ENOTFOUND' in err and 'nokey' in err"
expect 1 delete "$N" nokey
expect 1 touch "$N" nokey --ttl 100
expect 0 delete "$N" hello
expect 1 get "$N" hello
# touch to 1 ms: gone once it passes
expect 0 set "$N" shortlived v
expect 0 touch "$N" shortlived --ttl 1
sleep 0.05
expect 1 get "$N" shortlived
expect 0 flush "$N" --expired-only && check "expired-only removes it" "'Removed (expired): 1' in out"
# touch --ttl 0 makes an item permanent
expect 0 touch "$N" ttlkey --ttl 0
expect 0 get "$N" ttlkey --json && check "touch 0 = never" "j['ttl_ms'] == -1"

# binary keys and values: escapes in text, base64 marker in JSON
expect 0 set "$N" 'bin\x01\xff\n' 'va\x00lue\x80' --escaped
expect 0 get "$N" 'bin\x01\xff\n' --escaped --raw && check "escaped value bytes" "raw == b'va\\x00lue\\x80'"
expect 0 get "$N" 'bin\x01\xff\n' --escaped
check "text escapes" "'Item bin\\\\x01\\\\xff\\\\n' in out and 'Value: va\\\\x00lue\\\\x80' in out"
expect 0 get "$N" 'bin\x01\xff\n' --escaped --json
check "base64 marker" "j['key'] == {'base64': 'YmluAf8K'} and j['value'] == {'base64': 'dmEAbHVlgA=='}"
# value from stdin, any bytes
checks=$((checks + 1))
printf 'std\000in\377' | "$F" set "$N" fromstdin - || fail "set from stdin"
expect 0 get "$N" fromstdin --raw && check "stdin value" "raw == b'std\\x00in\\xff'"
# UTF-8 passes through text output and is a JSON string
expect 0 set "$N" 'ключ' 'значение'
expect 0 get "$N" 'ключ' && check "utf8 text" "'Item ключ' in out and 'Value: значение' in out"
expect 0 get "$N" 'ключ' --json && check "utf8 json" "j['key'] == 'ключ'"
# a key that looks like an option, after --
expect 0 set "$N" -- --dash v
expect 0 get "$N" --raw -- --dash && check "dash key" "raw == b'v'"

# ------------------------------------------------------- bulk load --------
# 300 items restored from a hand-made JSON dump (a bare array of items).
"$PY" - "$T/load.json" <<'EOF'
import json, sys
items = [{"key": "user:%d" % i, "value": "v%d" % i * (i % 7 + 1),
          "ttl_ms": 3600000 if i % 2 else -1} for i in range(300)]
items += [{"key": "sess:%d" % i, "value": "s" * (i * 13 % 900)} for i in range(100)]
json.dump(items, open(sys.argv[1], "w"))
EOF
checks=$((checks + 1))
"$F" restore "$N" <"$T/load.json" >"$T/out" 2>"$T/err" || fail "restore of hand-made dump"
check "restore summary" "'Restored: 400' in out and 'Failed: 0' in out"

expect 0 keys "$N" && check "keys count" "len(out.splitlines()) == 405"
expect 0 keys "$N" --pattern 'user:*' && check "pattern" "len(out.splitlines()) == 300 and all(l.startswith('user:') for l in out.splitlines())"
expect 0 keys "$N" --pattern 'user:1?' && check "pattern ?" "sorted(out.split()) == ['user:%d' % i for i in range(10, 20)]"
expect 0 keys "$N" --pattern 'user:[0-2]' && check "pattern set" "sorted(out.split()) == ['user:0', 'user:1', 'user:2']"
expect 0 keys "$N" --pattern 'bin\x01*' && check "pattern escape" "out == 'bin\\\\x01\\\\xff\\\\n\\n'"
expect 0 keys "$N" --limit 5 && check "limit 5" "len(out.splitlines()) == 5"
expect 0 keys "$N" --limit 5 --json
check "keys --json limit" "j['count'] == 5 and len(j['keys']) == 5 and j['truncated'] is True"
expect 0 keys "$N" --json
check "keys --json" "j['count'] == 405 and j['truncated'] is False and {'base64': 'YmluAf8K'} in j['keys'] and 'ключ' in j['keys']"
expect 0 keys "$N" --pattern 'nomatch*' && check "no match" "out == ''"

# --------------------------------------------------------------- stats ----
expect 0 stats "$N"
check "stats text" "'Items: 405' in out and 'Hit ratio: ' in out and 'Size classes (' in out and 'CLASS' in out and 'Stalled: 0' in out and 'Leases' in out and 'Takeovers: 0' in out"
expect 0 stats "$N" --json
check "stats json" "j['items'] == 405 and j['segment'] == '$N' and j['file'] is False and j['segment_bytes'] == 4194304 and j['layout_version'] >= 1"
check "stats classes" "len(j['size_classes']) == j['classes'] and sum(c['chunks_used'] for c in j['size_classes']) == j['items'] and all(c['waste_bytes'] >= 0 for c in j['size_classes'])"
check "stats readers" "j['readers']['slots'] == 256 and j['readers']['stalled'] == 0 and isinstance(j['reader_slots'], list)"
check "stats ratios" "j['hit_ratio'] is None or 0 <= j['hit_ratio'] <= 1"
check "stats leases" "j['leases'] == {'slots': 256, 'active': 0, 'dead': 0, 'grants': 0, 'takeovers': 0, 'waits': 0, 'timeouts': 0, 'stale_hits': 0, 'full': 0, 'lease_ms': 10000, 'stale_ms': 0}"

# -------------------------------------------------------------- verify ----
expect 0 verify "$N" && check "verify ok" "'Problems: 0' in out and 'Result: OK' in out"
expect 0 verify "$N" --json && check "verify json" "j['ok'] is True and j['count'] == 0 and j['problems'] == []"

# --------------------------------------------------------------- watch ----
expect 0 watch "$N" --count 2 --interval 0.05
check "watch frames" "out.count('Watch $N') == 2 and 'Gets/s:' in out and 'Hit ratio:' in out and '\\x1b' not in out"
expect 0 watch "$N" --count 3 --interval 0.02 --json
check "watch json lines" "[json.loads(l)['frame'] for l in out.splitlines()] == [1, 2, 3] and all('gets_per_s' in json.loads(l) for l in out.splitlines())"

# ------------------------------------------- dump -> flush -> restore ----
expect 0 keys "$N" && sort "$T/out" >"$T/keys.before"
expect 0 dump "$N" && cp "$T/out" "$T/d.json"
check "dump json" "j['format'] == 'forkcache-dump' and j['version'] == 1 and j['count'] == 405 and len(j['items']) == 405"
check "dump item fields" "all(set(i) == {'key', 'value', 'ttl_ms', 'expire_ms', 'cas'} for i in j['items'])"
check "dump ttl" "any(i['ttl_ms'] == -1 and i['expire_ms'] == 0 for i in j['items']) and any(i['ttl_ms'] > 0 for i in j['items'])"
expect 0 dump "$N" --binary && cp "$T/out" "$T/d.bin"
check "binary magic" "raw.startswith(b'forkcache-dump binary 1\\n')"
expect 0 dump "$N" --pattern 'sess:*' && check "dump pattern" "j['count'] == 100"

expect 0 flush "$N" && check "flush count" "'Removed: 405' in out"
expect 0 keys "$N" && check "empty after flush" "out == ''"
checks=$((checks + 1))
"$F" restore "$N" <"$T/d.json" >"$T/out" 2>"$T/err" || fail "restore json"
check "restore json" "'Restored: 405' in out"
expect 0 keys "$N" && sort "$T/out" >"$T/keys.json"
cmp -s "$T/keys.before" "$T/keys.json" || fail "keys differ after JSON round trip"
expect 0 get "$N" 'bin\x01\xff\n' --escaped --raw && check "binary survives json" "raw == b'va\\x00lue\\x80'"
expect 0 get "$N" user:1 --json && check "ttl kept" "0 < j['ttl_ms'] <= 3600000"
expect 0 get "$N" user:0 --json && check "no-ttl kept" "j['ttl_ms'] == -1"

expect 0 flush "$N"
checks=$((checks + 1))
"$F" restore "$N" <"$T/d.bin" >"$T/out" 2>"$T/err" || fail "restore binary"
check "restore binary" "'Restored: 405' in out"
expect 0 keys "$N" && sort "$T/out" >"$T/keys.bin"
cmp -s "$T/keys.before" "$T/keys.bin" || fail "keys differ after binary round trip"
expect 0 get "$N" fromstdin --raw && check "binary dump value" "raw == b'std\\x00in\\xff'"

# malformed dumps change nothing and fail with 1
head -c -5 "$T/d.bin" >"$T/cut.bin"
head -c 3000 "$T/d.json" >"$T/cut.json"
printf 'hello' >"$T/junk"
expect 0 flush "$N"
for bad in cut.bin cut.json junk; do
  checks=$((checks + 1))
  "$F" restore "$N" <"$T/$bad" >"$T/out" 2>"$T/err"
  [ $? -eq 1 ] || fail "restore of $bad should exit 1"
  grep -q 'nothing restored' "$T/err" || fail "restore of $bad: no message"
done
expect 0 keys "$N" && check "nothing restored" "out == ''"

# expired items are skipped; --relative counts the TTL from now
"$PY" - "$T/ttl.json" <<'EOF'
import json, sys
json.dump({"format": "forkcache-dump", "version": 1, "items": [
    {"key": "past", "value": "x", "ttl_ms": 50000, "expire_ms": 1000},
    {"key": "future", "value": "y", "ttl_ms": 600000, "expire_ms": 2524608000000},
    {"key": {"base64": "AAE="}, "value": {"base64": ""}, "ttl_ms": -1, "expire_ms": 0}]},
    open(sys.argv[1], "w"))
EOF
checks=$((checks + 1))
"$F" restore "$N" <"$T/ttl.json" >"$T/out" 2>"$T/err" || fail "restore ttl.json"
check "skip expired" "'Restored: 2' in out and 'Skipped (expired): 1' in out"
expect 1 get "$N" past
expect 0 get "$N" future --json && check "absolute expiry kept" "abs(j['expire_ms'] - 2524608000000) < 60000"
expect 0 get "$N" '\x00\x01' --escaped --raw && check "base64 key" "raw == b''"
checks=$((checks + 1))
"$F" restore "$N" --relative <"$T/ttl.json" >"$T/out" 2>"$T/err" || fail "restore --relative"
check "relative" "'Restored: 3' in out"
# The dumped TTL (10 min) is long enough that the item outlives any delay on
# a loaded machine; --relative is told apart from absolute by the expiry:
# relative gives now + <= 10 min, absolute would keep the year 2050.
expect 0 get "$N" future --json && check "relative ttl" "0 < j['ttl_ms'] <= 600000 and j['expire_ms'] < 2524608000000"

# flush --expired-only removes only what has expired
expect 0 set "$N" dies v --ttl 1
expect 0 set "$N" stays v
sleep 0.05
expect 0 flush "$N" --expired-only && check "expired-only" "'Removed (expired): ' in out"
expect 0 get "$N" stays
expect 1 get "$N" dies

# ------------------------------------------------- seeds and corruption ----
mkdir -p "$T/seeds"
"$SEEDER" "$T/seeds" >/dev/null || fail "fc_fuzz_seeds"
for s in "$T"/seeds/*.seg; do
  expect 0 verify "$s" || true
done
expect 0 stats "$T/seeds/full.seg" --json && check "full seed evicted" "j['evictions'] > 0 and j['items'] > 0"
expect 0 stats "$T/seeds/deadreader.seg" --json && check "dead reader shown" "any(r['state'] == 'dead' for r in j['reader_slots'])"

"$PY" - "$T/seeds/small.seg" "$T" <<'EOF'
import random, sys
src, out = sys.argv[1], sys.argv[2]
d = bytes(open(src, 'rb').read())
r = random.Random(20240501)
def rnd(n): return bytes(r.getrandbits(8) for _ in range(n))
def put(name, b): open('%s/%s.seg' % (out, name), 'wb').write(b)
put('garbage', rnd(len(d)))
put('empty', b'')
put('trunc-header', d[:4096])
put('trunc-body', d[:len(d) - 65536])
b = bytearray(d); b[8:12] = (99).to_bytes(4, 'little'); put('version', bytes(b))
b = bytearray(d); b[0:8] = b'FRKCACHX'; put('magic', bytes(b))
b = bytearray(d); b[16] ^= 0x40; put('checksum', bytes(b))
put('slots-garbage', d[:8192] + rnd(len(d) - 8192))
put('zeros', bytes(len(d)))
EOF
readcmds=("stats" "stats --json" "keys" "keys --json" "get key:1" "get key:1 --raw"
          "dump" "dump --binary" "verify" "verify --json"
          "watch --count 1 --interval 0.01")
for img in garbage empty trunc-header trunc-body version magic checksum slots-garbage zeros; do
  cmdlist=("${readcmds[@]}")
  # Writers do not read the slot table; a damaged header stops them too.
  [ "$img" = slots-garbage ] || cmdlist+=("set k v" "delete k" "touch k --ttl 5" "flush")
  for c in "${cmdlist[@]}"; do
    # shellcheck disable=SC2086
    set -- $c
    expect 3 "$1" "$T/$img.seg" "${@:2}" || true
  done
  run verify "$T/$img.seg" --json </dev/null
  check "verify --json on $img" "j is not None and j['ok'] is False and j['count'] >= 1 and j['problems'][0]['region']"
  run stats "$T/$img.seg" </dev/null
  check "one clear line for $img" "len(err.splitlines()) == 1 and err.startswith('forkcache: ') and ('FC_ECORRUPT' in err or 'FC_EINCOMPAT' in err)"
done

# damage behind a valid header and slot table: verify names each problem
"$PY" - "$T/seeds/small.seg" "$T/index.seg" <<'EOF'
import random, sys
d = bytearray(open(sys.argv[1], 'rb').read())
r = random.Random(7)
d[9216:] = bytes(r.getrandbits(8) for _ in range(len(d) - 9216))
open(sys.argv[2], 'wb').write(d)
EOF
expect 3 verify "$T/index.seg" && check "verify lists problems" "'Result: CORRUPT' in out and 'Problem: ' in out and ' at offset ' in out"
expect 3 verify "$T/index.seg" --json && check "verify json problems" "j['ok'] is False and j['count'] >= 1 and all(set(p) == {'region', 'offset', 'problem'} for p in j['problems'])"
expect 3 keys "$T/index.seg"
expect 3 dump "$T/index.seg"

# ---------------------------------------------------------------- rm ------
expect 0 rm "$N"
expect 1 rm "$N"
expect 1 stats "$N"
expect 0 rm "$T/a.seg"

echo "cli_test: $checks checks, $failures failed"
[ "$failures" -eq 0 ]
