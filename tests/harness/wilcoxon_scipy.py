#!/usr/bin/env python3
"""Reference values for the harness's Wilcoxon signed-rank test
(hx_wilcoxon_paired): paired samples made with NumPy's default_rng(18) and
scipy.stats.wilcoxon(a, b) with its defaults (zero_method "wilcox",
correction False, two-sided, method "auto"), computed on the values as
parsed back from their text, so the CSV is exactly what SciPy saw.

    python3 tests/harness/wilcoxon_scipy.py [OUT.csv]

Columns: case, n, what, statistic, pvalue, scipy (version), a, b (the
samples, space-separated shortest round-trip decimals). Made once with
Debian 12's python3-scipy (SciPy 1.10.1, NumPy 1.24.2) into
tests/harness/wilcoxon_scipy.csv; tests/harness/test_stats_ci.c reads it,
and re-runs this script to compare when SciPy is installed.
"""
import sys
import warnings

import numpy as np
import scipy
from scipy import stats

rng = np.random.default_rng(18)


def dice_like(n, mu, sd):
    return np.clip(rng.normal(mu, sd, n), 0.0, 1.0)


cases = []


def add(what, a, b):
    cases.append((what, np.asarray(a, float), np.asarray(b, float)))


add("n=1, positive", [0.8], [0.6])
add("n=2, mixed signs", [0.8, 0.3], [0.6, 0.5])
add("n=3, R+ at the centre (p = 1)", [1.0, 2.0, 0.0], [0.0, 0.0, 3.0])
add("n=5, continuous", rng.normal(0.3, 1, 5), rng.normal(0, 1, 5))
add("n=6, every difference positive", rng.normal(2, 1, 6) + 5,
    rng.normal(0, 1, 6))
x = rng.normal(0, 1, 10)
add("n=10, all negative", x, x + rng.uniform(0.1, 1, 10))
add("n=10, null", rng.normal(0, 1, 10), rng.normal(0, 1, 10))
add("n=12, ties in |d| (half ranks), no zeros",
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    [0, 3, 2, 5, 4, 4, 8, 7, 9.5, 9.5, 10, 14])
add("n=20, moderate effect", rng.normal(0.5, 1, 20), rng.normal(0, 1, 20))
add("n=25, Dice-like", dice_like(25, 0.82, 0.08), dice_like(25, 0.78, 0.1))
a = np.round(rng.normal(0.5, 0.3, 30), 1)
b = a + np.round(rng.choice([-0.3, -0.2, -0.1, 0.1, 0.2, 0.3, 0.4], 30), 1)
add("n=30, rounded differences: ties, no zeros (exact branch)", a, b)
add("n=40, Dice-like, model A better", dice_like(40, 0.85, 0.06),
    dice_like(40, 0.8, 0.08))
add("n=50, largest exact n", rng.normal(0.2, 1, 50), rng.normal(0, 1, 50))
add("n=51, smallest approximate n", rng.normal(0.2, 1, 51),
    rng.normal(0, 1, 51))
a = rng.normal(0, 1, 8)
b = a.copy()
b[:6] += rng.normal(0.5, 1, 6)
add("n=8, two zero differences (approximate, 6 left)", a, b)
a = rng.normal(0, 1, 9)
b = a + rng.normal(0.4, 1, 9)
b[4] = a[4]
add("n=9, one zero difference", a, b)
a = rng.normal(0, 1, 15)
b = a + rng.normal(-0.3, 1, 15)
b[::5] = a[::5]
add("n=15, three zeros", a, b)
a = rng.integers(1, 6, 60).astype(float)
b = np.clip(a + rng.integers(-2, 3, 60), 1, 5).astype(float)
add("n=60, Likert scores: zeros and heavy ties", a, b)
add("n=100, null", rng.normal(0, 1, 100), rng.normal(0, 1, 100))
add("n=200, small effect", rng.normal(0.15, 1, 200), rng.normal(0, 1, 200))
add("n=300, integer differences", rng.integers(0, 10, 300).astype(float),
    rng.integers(0, 10, 300).astype(float))
add("n=500, huge effect (tiny p)", rng.normal(3, 1, 500),
    rng.normal(0, 1, 500))
add("n=750, Dice-like, tiny effect", dice_like(750, 0.8, 0.1),
    dice_like(750, 0.798, 0.1))
x = 1e6 + rng.normal(0, 1, 35)
add("n=35, values near 1e6, differences ~1e-3", x + rng.normal(1e-3, 1e-3, 35),
    x)
add("n=1000, null", rng.normal(0, 1, 1000), rng.normal(0, 1, 1000))
add("n=1000, values rounded to 2 decimals", np.round(rng.normal(0.6, 0.2,
                                                                1000), 2),
    np.round(rng.normal(0.59, 0.2, 1000), 2))


def fmt(v):
    return repr(float(v))


out = open(sys.argv[1], "w") if len(sys.argv) > 1 else sys.stdout
out.write("case,n,what,statistic,pvalue,scipy,a,b\n")
for k, (what, a, b) in enumerate(cases, 1):
    ta = " ".join(fmt(v) for v in a)
    tb = " ".join(fmt(v) for v in b)
    a2 = np.array([float(t) for t in ta.split()])
    b2 = np.array([float(t) for t in tb.split()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = stats.wilcoxon(a2, b2)
    out.write("%d,%d,%s,%s,%s,%s,%s,%s\n" % (k, len(a2), what.replace(",", ";"),
                                             fmt(r.statistic), fmt(r.pvalue),
                                             scipy.__version__, ta, tb))
