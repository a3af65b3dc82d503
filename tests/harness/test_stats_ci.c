/*
 * test_stats_ci.c - the statistics of issue 18 (stats_ci.c): the Wilcoxon
 * signed-rank test against SciPy 1.10.1 (tests/harness/wilcoxon_scipy.csv,
 * made by tests/harness/wilcoxon_scipy.py; re-run and compared when
 * python3 with SciPy is installed, skipped otherwise), Holm's correction on
 * textbook cases, and the case-level bootstrap's determinism, invariances
 * and coverage.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hx.h"

TestSuite(stats_ci, .init = hx_init);

static double rel(double x, double ref) {
    if (isnan(x) || isnan(ref)) return isnan(x) && isnan(ref) ? 0 : INFINITY;
    return ref == 0.0 ? fabs(x) : fabs(x - ref) / fabs(ref);
}

/* Parse space-separated numbers into a new array; returns the count. */
static size_t parse_vec(const char *s, double **out) {
    size_t cap = 16, n = 0;
    double *v = malloc(cap * sizeof *v);
    cr_assert_not_null(v);
    for (;;) {
        char *end;
        double x = strtod(s, &end);
        if (end == s) break;
        if (n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
            cr_assert_not_null(v);
        }
        v[n++] = x;
        s = end;
    }
    *out = v;
    return n;
}

/* Check every row of a reference CSV; returns the number of rows. */
static int check_wilcoxon_csv(const char *path, int *checked_exact,
                              double *worst_p) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    int rows = 0, n_exact = 0;
    double worst = 0.0;
    cr_assert(getline(&line, &cap, f) > 0); /* header */
    while (getline(&line, &cap, f) > 0) {
        char *fld[8], *s = line;
        for (int k = 0; k < 8; k++) {
            fld[k] = s;
            char *c = k < 7 ? strchr(s, ',') : NULL;
            if (k < 7) {
                cr_assert_not_null(c, "%s: short row", path);
                *c = 0;
                s = c + 1;
            }
        }
        int n = atoi(fld[1]);
        double T = strtod(fld[3], NULL), p = strtod(fld[4], NULL);
        double *a, *b;
        cr_assert_eq(parse_vec(fld[6], &a), (size_t)n, "case %s", fld[0]);
        cr_assert_eq(parse_vec(fld[7], &b), (size_t)n, "case %s", fld[0]);
        hx_wilcoxon w;
        sf_err err;
        cr_assert_eq(hx_wilcoxon_paired(a, b, (size_t)n, &w, &err), SF_OK,
                     "case %s: %s", fld[0], err.msg);
        cr_expect_eq(w.status, HX_WILCOXON_OK);
        cr_expect(w.T == T, "case %s (%s): T = %.17g, SciPy %.17g", fld[0],
                  fld[2], w.T, T);
        double r = rel(w.p, p);
        worst = r > worst ? r : worst;
        cr_expect(r <= 1e-10, "case %s (%s): p = %.17g, SciPy %.17g (rel %.3g)",
                  fld[0], fld[2], w.p, p, r);
        n_exact += w.exact;
        free(a);
        free(b);
        rows++;
    }
    free(line);
    fclose(f);
    *checked_exact = n_exact;
    *worst_p = worst;
    return rows;
}

#define WILCOXON_CSV "tests/harness/wilcoxon_scipy.csv"

Test(stats_ci, wilcoxon_matches_scipy_committed_cases) {
    int n_exact;
    double worst;
    int rows = check_wilcoxon_csv(WILCOXON_CSV, &n_exact, &worst);
    if (rows < 0)
        cr_skip_test(WILCOXON_CSV " not found (run from the repository "
                                  "root)");
    cr_expect_eq(rows, 26);
    cr_expect(n_exact >= 10, "%d exact cases", n_exact);
    cr_log_info("wilcoxon vs SciPy 1.10.1: %d cases (%d exact), T exact, p "
                "max rel %.3g",
                rows, n_exact, worst);
}

/* Re-make the reference with the SciPy installed here and compare; only
 * where that SciPy is 1.10 (later versions changed the exact branch). */
Test(stats_ci, wilcoxon_matches_scipy_regenerated) {
    const char *py[] = {"python3", "/usr/bin/python3"};
    const char *found = NULL;
    char cmd[1024];
    for (size_t i = 0; i < 2 && !found; i++) {
        snprintf(cmd, sizeof cmd,
                 "%s -c 'import scipy, sys; "
                 "sys.exit(0 if scipy.__version__.startswith(\"1.10\") "
                 "else 3)' >/dev/null 2>&1",
                 py[i]);
        if (system(cmd) == 0) found = py[i];
    }
    if (!found)
        cr_skip_test("python3 with SciPy 1.10 not installed (apt-get install "
                     "python3-scipy on Debian 12): not re-made");
    if (access("tests/harness/wilcoxon_scipy.py", R_OK))
        cr_skip_test("tests/harness/wilcoxon_scipy.py not found");
    char tmp[] = "/tmp/sf_wilcoxon_XXXXXX";
    int fd = mkstemp(tmp);
    cr_assert(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "%s tests/harness/wilcoxon_scipy.py %s", found,
             tmp);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    int n_exact;
    double worst;
    int rows = check_wilcoxon_csv(tmp, &n_exact, &worst);
    cr_expect_eq(rows, 26);
    /* And the committed file is what this SciPy makes. */
    snprintf(cmd, sizeof cmd, "cmp -s %s " WILCOXON_CSV, tmp);
    cr_expect_eq(system(cmd), 0, "%s differs from a fresh run", WILCOXON_CSV);
    unlink(tmp);
}

Test(stats_ci, wilcoxon_policy_cases) {
    hx_wilcoxon w;
    sf_err err;
    /* n = 0: NaN, as SciPy. */
    cr_assert_eq(hx_wilcoxon_paired(NULL, NULL, 0, &w, &err), SF_OK);
    cr_expect_eq(w.status, HX_WILCOXON_EMPTY);
    cr_expect(isnan(w.T) && isnan(w.p));
    /* Every pair tied: SciPy raises; we say "no evidence". */
    const double a[] = {0.5, 0.7, 0.9}, b[] = {0.5, 0.7, 0.9};
    cr_assert_eq(hx_wilcoxon_paired(a, b, 3, &w, &err), SF_OK);
    cr_expect_eq(w.status, HX_WILCOXON_ALL_ZERO);
    cr_expect(w.T == 0.0 && w.p == 1.0);
    cr_expect_eq(w.n_zero, 3);
    /* Non-finite input is refused. */
    const double c[] = {0.5, NAN, 0.9};
    cr_expect_eq(hx_wilcoxon_paired(c, b, 3, &w, &err), SF_ERANGE);
    cr_expect_eq(w.status, HX_WILCOXON_NONFINITE);
    cr_expect(strstr(err.msg, "pair 1") != NULL, "%s", err.msg);
    cr_expect_eq(hx_wilcoxon_paired(a, NULL, 3, &w, &err), SF_EINVAL);
    cr_expect_eq(hx_wilcoxon_paired(a, b, 3, NULL, &err), SF_EINVAL);
    /* Exact: 10 positive differences, p = 2 / 2^10. */
    double x[10], y[10];
    for (int i = 0; i < 10; i++) {
        x[i] = i + 1.5 + 0.01 * i;
        y[i] = 0;
    }
    cr_assert_eq(hx_wilcoxon_paired(x, y, 10, &w, &err), SF_OK);
    cr_expect(w.exact && w.T == 0.0 && w.r_plus == 55.0);
    cr_expect_eq(w.p, 2.0 / 1024.0);
    cr_expect(isnan(w.z));
}

/* ------------------------------------------------------------------ Holm */

static void holm_expect(const double *p, const double *want, size_t m) {
    double adj[16];
    cr_assert_eq(hx_holm_adjust(p, m, adj, NULL), SF_OK);
    for (size_t i = 0; i < m; i++)
        if (isnan(want[i]))
            cr_expect(isnan(adj[i]), "adj[%zu] = %g, want NaN", i, adj[i]);
        else
            cr_expect(fabs(adj[i] - want[i]) < 1e-15,
                      "adj[%zu] = %.17g, want "
                      "%.17g",
                      i, adj[i], want[i]);
}

Test(stats_ci, holm_textbook_cases) {
    /* Holm (1979)-style example, m = 4: sorted 0.005, 0.01, 0.03, 0.04 ->
     * 4 x 0.005, 3 x 0.01, 2 x 0.03, max(1 x 0.04, 0.06). */
    const double p1[] = {0.01, 0.04, 0.03, 0.005};
    const double w1[] = {0.03, 0.06, 0.06, 0.02};
    holm_expect(p1, w1, 4);
    /* Wikipedia's (Holm-Bonferroni method) four hypotheses, alpha 0.05:
     * p = 0.01, 0.04, 0.03, 0.005 rejects H4 and H1 only. */
    double adj[16];
    cr_assert_eq(hx_holm_adjust(p1, 4, adj, NULL), SF_OK);
    cr_expect(adj[3] < 0.05 && adj[0] < 0.05 && adj[1] >= 0.05 &&
              adj[2] >= 0.05);
    /* Clipping at 1 and monotonicity: statsmodels multipletests(holm). */
    const double p2[] = {0.5, 0.2, 0.9, 0.01, 0.6};
    const double w2[] = {1.0, 0.8, 1.0, 0.05, 1.0};
    holm_expect(p2, w2, 5);
    /* Ties keep input order and get the same adjusted value. */
    const double p3[] = {0.02, 0.02, 0.02};
    const double w3[] = {0.06, 0.06, 0.06};
    holm_expect(p3, w3, 3);
    /* NaN = not tested: stays NaN, m counts the others. */
    const double p4[] = {0.01, NAN, 0.04};
    const double w4[] = {0.02, NAN, 0.04};
    holm_expect(p4, w4, 3);
    /* One test: unchanged. adj may alias p. */
    double p5[] = {0.03, 0.001};
    cr_assert_eq(hx_holm_adjust(p5, 2, p5, NULL), SF_OK);
    cr_expect(p5[0] == 0.03 && p5[1] == 0.002);
    cr_assert_eq(hx_holm_adjust(NULL, 0, NULL, NULL), SF_OK);
    const double bad[] = {0.2, 1.5};
    cr_expect_eq(hx_holm_adjust(bad, 2, adj, NULL), SF_ERANGE);
    const double bad2[] = {-0.1};
    cr_expect_eq(hx_holm_adjust(bad2, 1, adj, NULL), SF_ERANGE);
}

/* ------------------------------------------------------------ bootstrap */

/* A normal draw from the project's counter RNG (Box-Muller). */
static double normal(sf_rng_key k, uint64_t ctr) {
    uint32_t w[4];
    sf_rng_block(k, ctr, w);
    double u1 = ((double)w[0] + 1.0) / 4294967297.0;
    double u2 = (double)w[1] / 4294967296.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

Test(stats_ci, bootstrap_determinism_and_invariance) {
    double x[12];
    int64_t cl[12];
    for (int i = 0; i < 12; i++) {
        x[i] = (double)((i * 7) % 12) / 8.0; /* exact binary values */
        cl[i] = 100 + i / 3;                 /* 4 cases of 3 slices */
    }
    hx_ci a, b;
    cr_assert_eq(hx_bootstrap_mean_ci(x, cl, 12, 2000, 0.95, 7, &a, NULL),
                 SF_OK);
    cr_assert_eq(hx_bootstrap_mean_ci(x, cl, 12, 2000, 0.95, 7, &b, NULL),
                 SF_OK);
    cr_expect(a.lo == b.lo && a.hi == b.hi && a.mean == b.mean,
              "same seed, same result");
    cr_expect_eq(a.n_clusters, 4u);
    cr_expect_eq(a.n, 12u);
    cr_expect_eq(a.n_resamples, 2000);
    cr_expect(a.lo <= a.mean && a.mean <= a.hi, "[%g, %g] %g", a.lo, a.hi,
              a.mean);
    cr_expect(a.lo < a.hi);
    /* The order of the values does not matter (units by cluster id). */
    double xr[12];
    int64_t cr[12];
    for (int i = 0; i < 12; i++) {
        xr[i] = x[11 - i];
        cr[i] = cl[11 - i];
    }
    cr_assert_eq(hx_bootstrap_mean_ci(xr, cr, 12, 2000, 0.95, 7, &b, NULL),
                 SF_OK);
    cr_expect(a.lo == b.lo && a.hi == b.hi && a.mean == b.mean);
    /* Another seed: another interval (almost surely, with 30 units). */
    double u[30];
    for (int i = 0; i < 30; i++)
        u[i] = sin(i * 1.7);
    cr_assert_eq(hx_bootstrap_mean_ci(u, NULL, 30, 2000, 0.95, 7, &a, NULL),
                 SF_OK);
    cr_assert_eq(hx_bootstrap_mean_ci(u, NULL, 30, 2000, 0.95, 8, &b, NULL),
                 SF_OK);
    cr_expect(a.lo != b.lo && a.hi != b.hi, "[%.17g, %.17g] [%.17g, %.17g]",
              a.lo, a.hi, b.lo, b.hi);
    /* Constant values: a zero-width interval at the value. */
    double k[5] = {0.75, 0.75, 0.75, 0.75, 0.75};
    cr_assert_eq(hx_bootstrap_mean_ci(k, NULL, 5, 100, 0.95, 1, &b, NULL),
                 SF_OK);
    cr_expect(b.lo == 0.75 && b.hi == 0.75 && b.mean == 0.75);
    /* Nothing to resample. */
    cr_assert_eq(hx_bootstrap_mean_ci(NULL, NULL, 0, 100, 0.95, 1, &b, NULL),
                 SF_OK);
    cr_expect(isnan(b.mean) && isnan(b.lo) && isnan(b.hi));
    /* Bad input. */
    sf_err err;
    k[2] = NAN;
    cr_expect_eq(hx_bootstrap_mean_ci(k, NULL, 5, 100, 0.95, 1, &b, &err),
                 SF_ERANGE);
    cr_expect_eq(hx_bootstrap_mean_ci(x, NULL, 5, 0, 0.95, 1, &b, &err),
                 SF_EINVAL);
    cr_expect_eq(hx_bootstrap_mean_ci(x, NULL, 5, 10, 1.0, 1, &b, &err),
                 SF_EINVAL);
    cr_expect_eq(hx_bootstrap_mean_ci(x, NULL, 5, 10, 0.95, 1, NULL, &err),
                 SF_EINVAL);
}

Test(stats_ci, bootstrap_coverage_sanity) {
    /* 300 data sets of 20 cases x 6 slices: a case effect (sd 0.08) and
     * slice noise (sd 0.05) around 0.7. The case-level 95 % interval must
     * cover 0.7 about 95 % of the time (small-sample percentile intervals
     * run a little under); resampling slices as if independent ignores the
     * case effect and covers far less - why the harness resamples cases. */
    sf_rng_key key = sf_rng_key_make(2024, 0, 77);
    enum { N_SETS = 300, N_CASES = 20, N_SLICES = 6 };
    double x[N_CASES * N_SLICES];
    int64_t cl[N_CASES * N_SLICES];
    int cover_case = 0, cover_naive = 0;
    uint64_t ctr = 0;
    for (int s = 0; s < N_SETS; s++) {
        for (int c = 0; c < N_CASES; c++) {
            double ce = 0.08 * normal(key, ctr++);
            for (int j = 0; j < N_SLICES; j++) {
                x[c * N_SLICES + j] = 0.7 + ce + 0.05 * normal(key, ctr++);
                cl[c * N_SLICES + j] = c;
            }
        }
        hx_ci a, b;
        cr_assert_eq(hx_bootstrap_mean_ci(x, cl, N_CASES * N_SLICES, 400, 0.95,
                                          (uint64_t)s, &a, NULL),
                     SF_OK);
        cr_assert_eq(hx_bootstrap_mean_ci(x, NULL, N_CASES * N_SLICES, 400,
                                          0.95, (uint64_t)s, &b, NULL),
                     SF_OK);
        cover_case += a.lo <= 0.7 && 0.7 <= a.hi;
        cover_naive += b.lo <= 0.7 && 0.7 <= b.hi;
    }
    double pc = (double)cover_case / N_SETS, pn = (double)cover_naive / N_SETS;
    cr_log_info("bootstrap coverage of a 95%% CI: case-level %.3f, "
                "slice-level %.3f",
                pc, pn);
    cr_expect(pc >= 0.88 && pc <= 0.99, "case-level coverage %.3f", pc);
    cr_expect(pn < 0.85, "slice-level coverage %.3f", pn);
}
