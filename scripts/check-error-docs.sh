#!/usr/bin/env bash
# check-error-docs.sh - every public call's documented error codes
# (include/forkcache.h) are exactly the codes tests/api/test_error_contract.c
# provokes for it (its CONTRACT table is the source; a code the table marks
# ELSEWHERE or UNPROVOKED counts too, with its reason).
#
# The header side: a call's doc comment, its "@return" lines and their
# indented continuation lines; "the errors of fc_x()" and a comment opening
# "As fc_x()" or saying "Errors ...: as fc_x()" take fc_x's codes too.
# FC_OK and codes that are not FC_E*, FC_LEADER or FC_STALE are ignored.
# Exit 1 on any difference (printed per call). Run by scripts/test.sh (deps)
# and ctest (check-error-docs).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
exec /usr/bin/python3 - "$SRC/include/forkcache.h" "$SRC/tests/api/test_error_contract.c" "$@" <<'PY'
import re, sys

header, table = sys.argv[1], sys.argv[2]
hs = open(header).read()
codes = set('FC_' + m for m in re.findall(r'X\((E[A-Z0-9]+),\s*-?\d+', hs))
codes |= {'FC_LEADER', 'FC_STALE'}
CODE = re.compile(r'\bFC_[A-Z0-9]+\b')

def code_set(text):
    return {c for c in CODE.findall(text) if c in codes}

# --- header: doc comment right before each FC_API declaration ---
doc, inherit, has_return = {}, {}, {}
for m in re.finditer(r'(/\*\*(?:(?!\*/).)*\*/)\s*FC_API\s+([a-z_0-9 ]+?)\s*\**\s*(fc_\w+)\s*\(',
                     hs, re.S):
    comment, ret, name = m.group(1), m.group(2).strip(), m.group(3)
    if ret.startswith('void') or 'char' in ret or ret == 'uint64_t':
        continue
    lines = comment.split('\n')
    text, inret = [], False
    for ln in lines:
        body = re.sub(r'^\s*/?\*+/?', '', ln)
        if '@return' in body:
            inret = True
            text.append(body)
        elif inret and re.match(r'^\s{2,}\S', body):
            text.append(body)
        else:
            inret = False
    ret_text = ' '.join(text)
    full = ' '.join(re.sub(r'^\s*/?\*+/?', '', ln) for ln in lines)
    inh = set(re.findall(r'errors of (fc_\w+)\(\)', ret_text))
    s = code_set(ret_text)
    if not text:
        m2 = re.match(r'\s*As (fc_\w+)\(\)([^.]*)', full)
        if m2:
            inh.add(m2.group(1))
            s |= code_set(m2.group(2))
        for m3 in re.finditer(r'Errors[^:.]*: as (fc_\w+)\(\)([^.]*)', full):
            inh.add(m3.group(1))
            s |= code_set(m3.group(2))
    doc[name], inherit[name], has_return[name] = s, inh, bool(text)

def resolve(name, seen=()):
    s = set(doc[name])
    for other in inherit[name]:
        if other in seen or other not in doc:
            sys.exit(f'check-error-docs: {name} inherits unknown {other}')
        s |= resolve(other, seen + (name,))
    return s

# --- table: expand the row macros of test_error_contract.c ---
ts = open(table).read()
ts_flat = re.sub(r'\\\n', ' ', ts)
ts_flat = re.sub(r'"(?:[^"\\]|\\.)*"', '""', ts_flat)  # strings may hold ( )
macros = {}
for m in re.finditer(r'^#define (\w+)\(call(?:, \w+)*\)(.*)$', ts_flat, re.M):
    macros[m.group(1)] = m.group(2)
ROW = ('PROVOKE', 'PROVOKE_PRE', 'ELSEWHERE', 'UNPROVOKED')

def expand(name, call, depth=0):
    out = set()
    for inner, args in re.findall(r'\b([A-Z_]+)\(([^()]*)\)', macros[name]):
        a = [x.strip() for x in args.split(',')]
        if inner in ROW:
            out.add(a[1])
        elif inner in macros and depth < 5:
            out |= expand(inner, call, depth + 1)
    return out

arr = re.search(r'CONTRACT\[\] = \{(.*?)\n\};', ts_flat, re.S)
if not arr:
    sys.exit('check-error-docs: no CONTRACT table in ' + table)
rows = {}
for inner, args in re.findall(r'\b([A-Z_]+)\((fc_\w+[^()]*)\)', arr.group(1)):
    a = [x.strip() for x in args.split(',')]
    call = a[0]
    if inner in ROW:
        got = {a[1]}
    elif inner in macros:
        got = expand(inner, call)
    else:
        sys.exit(f'check-error-docs: unknown row macro {inner}')
    rows.setdefault(call, set()).update(c for c in got if c in codes)

bad = 0
for name in sorted(doc):
    h = resolve(name)
    t = rows.get(name)
    if t is None:
        print(f'check-error-docs: ERROR: {name}: no row in the contract table')
        bad += 1
        continue
    if h == t:
        print(f'  {name:18} {" ".join(sorted(h))}')
        continue
    bad += 1
    if h - t:
        print(f'check-error-docs: ERROR: {name}: documented, not in the table: {" ".join(sorted(h - t))}')
    if t - h:
        print(f'check-error-docs: ERROR: {name}: in the table, not documented: {" ".join(sorted(t - h))}')
for name in sorted(set(rows) - set(doc)):
    print(f'check-error-docs: ERROR: {name}: table rows for a call the header does not document')
    bad += 1
if bad:
    print(f'check-error-docs: FAILED ({bad} calls differ)')
    sys.exit(1)
print(f'check-error-docs: ok ({len(doc)} calls: header and contract table agree)')
PY
