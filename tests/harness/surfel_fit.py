#!/usr/bin/env python3
"""Derive the 3-D surfel normal table of harness/surface.c from the golden
area tables (../shared/golden/metrics/expected.json, surfel_area_tables).

For each neighbour code the area for spacing s is a sum over marching-cubes
normals n of |(n0 s1 s2, n1 s0 s2, n2 s0 s1)|. The normals have components
that are multiples of 1/8; this script finds, for every code, the smallest
multiset of |n| (components 0..4 eighths, at most four normals) whose areas
match all five 3-D tables to 1e-12, checks that every matching multiset
gives the same area for random spacings (so the choice does not matter),
and prints the C initialiser. Plain Python 3, no NumPy.

    python3 tests/harness/surfel_fit.py [SHARED_DIR] > table.c
"""
import collections
import itertools
import json
import math
import random
import sys

shared = sys.argv[1] if len(sys.argv) > 1 else "../shared"
doc = json.load(open(shared + "/golden/metrics/expected.json"))
tables = [t for t in doc["surfel_area_tables"].values() if t["n_codes"] == 256]
spacings = [t["spacing_mm"] for t in tables]
areas = [t["area"] for t in tables]


def term(n, s):
    a, b, c = (x / 8 for x in n)
    return math.sqrt((a * s[1] * s[2]) ** 2 + (b * s[0] * s[2]) ** 2 +
                     (c * s[0] * s[1]) ** 2)


triples = [t for t in itertools.product(range(5), repeat=3) if any(t)]
val = {t: [term(t, s) for s in spacings] for t in triples}
combos = {(): [0.0] * len(spacings)}
for i, t in enumerate(triples):
    combos[(t,)] = val[t]
    for u in triples[i:]:
        combos[(t, u)] = [x + y for x, y in zip(val[t], val[u])]
G = 2  # index used for the hash: the most irregular spacing
index = collections.defaultdict(list)
for k, v in combos.items():
    index[round(v[G], 7)].append(k)

result = []
for code in range(256):
    target = [a[code] for a in areas]
    sols = set()
    for k1, v1 in combos.items():
        r = round(target[G] - v1[G], 7)
        for key in (r - 1e-7, r, r + 1e-7):
            for k2 in index.get(round(key, 7), []):
                v2 = combos[k2]
                if all(abs(v1[j] + v2[j] - target[j]) <=
                       1e-12 * max(1.0, target[j])
                       for j in range(len(spacings))):
                    sols.add(tuple(sorted(k1 + k2)))
    if not sols:
        sys.exit("code %d: no solution" % code)
    rnd = random.Random(code)
    for _ in range(20):
        s = [rnd.uniform(0.1, 5) for _ in range(3)]
        v = [sum(term(t, s) for t in so) for so in sols]
        if max(v) - min(v) > 1e-9:
            sys.exit("code %d: ambiguous %r" % (code, sols))
    result.append(sorted(min(sols, key=len), reverse=True))

entries = []
for ns in result:
    vals = ["0x%d%d%d" % tuple(n) for n in ns] + ["0"] * (3 - len(ns))
    entries.append("{" + ", ".join(vals) + "}")
for i in range(0, 256, 4):
    print("    " + ", ".join(entries[i:i + 4]) + ",")
