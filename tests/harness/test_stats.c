/*
 * test_stats.c - the paired t-test against SciPy's ttest_rel (golden values
 * in $SF_SHARED/golden/stats/, default ../shared relative to the repository
 * root), its degenerate-case policy (hx.h), formatting, significance marks,
 * and the CSV reader behind `synthfm ttest`.
 */
#include <criterion/criterion.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fixtures.h"
#include "hx.h"

/* ------------------------------------------------------- golden reader */

#define N_CASES 40

typedef struct golden_case {
    int n;
    double t, df, p; /* SciPy 1.10.1 */
    double *a, *b;   /* the paired samples, n each */
    int n_read;      /* vector rows seen */
} golden_case;

typedef struct golden {
    golden_case c[N_CASES + 1]; /* 1-based */
} golden;

/* golden/stats/<file> from tests/fixtures/ or $SF_SHARED (fixtures.h). */
static FILE *open_golden(const char *file) {
    char rel[256], path[1024];
    snprintf(rel, sizeof rel, "golden/stats/%s", file);
    return sf_test_fixture(rel, path, sizeof path) ? fopen(path, "r") : NULL;
}

static double num(const char *s) {
    char *end;
    double v = strtod(s, &end);
    cr_assert(end != s && (*end == '\0' || *end == '\n' || *end == '\r'),
              "golden: bad number \"%s\"", s);
    return v;
}

/* Split a CSV line in place into at most k fields; returns the count. */
static int split(char *line, char **f, int k) {
    int m = 0;
    char *s = line;
    while (m < k) {
        f[m++] = s;
        char *c = strchr(s, ',');
        if (!c) break;
        *c = '\0';
        s = c + 1;
    }
    return m;
}

static void golden_free(golden *g) {
    for (int i = 0; i <= N_CASES; i++) {
        free(g->c[i].a);
        free(g->c[i].b);
    }
    free(g);
}

/* Loads both golden files, or skips the test when they are absent. */
static golden *golden_load(void) {
    FILE *fr = open_golden("ttest_rel.csv");
    FILE *fv = open_golden("ttest_rel_vectors.csv");
    if (!fr || !fv) {
        if (fr) fclose(fr);
        if (fv) fclose(fv);
        cr_skip_test("golden/stats/: " SF_TEST_FIXTURE_ABSENT);
    }
    golden *g = calloc(1, sizeof *g);
    cr_assert_not_null(g);
    char line[512], *f[6];
    cr_assert_not_null(fgets(line, sizeof line, fr)); /* header */
    int rows = 0;
    while (fgets(line, sizeof line, fr)) {
        cr_assert_eq(split(line, f, 6), 5, "ttest_rel.csv: 5 columns");
        int c = atoi(f[0]);
        cr_assert(c >= 1 && c <= N_CASES, "case %d out of range", c);
        golden_case *gc = &g->c[c];
        gc->n = atoi(f[1]);
        gc->t = num(f[2]);
        gc->df = num(f[3]);
        gc->p = num(f[4]);
        gc->a = calloc((size_t)gc->n, sizeof *gc->a);
        gc->b = calloc((size_t)gc->n, sizeof *gc->b);
        cr_assert(gc->a && gc->b);
        rows++;
    }
    cr_assert_eq(rows, N_CASES, "ttest_rel.csv: %d cases", rows);
    cr_assert_not_null(fgets(line, sizeof line, fv)); /* header */
    while (fgets(line, sizeof line, fv)) {
        cr_assert_eq(split(line, f, 5), 4, "vectors: 4 columns");
        int c = atoi(f[0]), i = atoi(f[1]);
        cr_assert(c >= 1 && c <= N_CASES && i >= 0 && i < g->c[c].n,
                  "vector row case %d i %d", c, i);
        g->c[c].a[i] = num(f[2]);
        g->c[c].b[i] = num(f[3]);
        g->c[c].n_read++;
    }
    for (int c = 1; c <= N_CASES; c++)
        cr_assert_eq(g->c[c].n_read, g->c[c].n, "case %d: %d of %d values", c,
                     g->c[c].n_read, g->c[c].n);
    fclose(fr);
    fclose(fv);
    return g;
}

static hx_ttest run_case(const golden *g, int c) {
    hx_ttest r;
    sf_err err;
    sf_err_clear(&err);
    const golden_case *gc = &g->c[c];
    int rc = hx_ttest_paired(gc->a, gc->b, (size_t)gc->n, &r, &err);
    cr_assert_eq(rc, SF_OK, "case %d: rc %d (%s)", c, rc, err.msg);
    cr_assert_eq(r.n, gc->n, "case %d: n", c);
    cr_assert_eq(r.df, gc->df, "case %d: df %.17g, SciPy %.17g", c, r.df,
                 gc->df);
    return r;
}

static double rel(double x, double ref) {
    return ref == 0.0 ? fabs(x) : fabs(x - ref) / fabs(ref);
}

TestSuite(stats, .init = hx_init);

/* The degenerate golden cases (README "What SciPy says"): checked by
 * policy in golden_degenerate, not by value. */
static int degenerate_case(int c) {
    return c == 7 || c == 8 || c == 9 || c == 10;
}

Test(stats, golden_ordinary_cases_match_scipy) {
    golden *g = golden_load();
    int checked = 0;
    for (int c = 1; c <= N_CASES; c++) {
        if (degenerate_case(c)) continue;
        const golden_case *gc = &g->c[c];
        hx_ttest r = run_case(g, c);
        cr_expect_eq(r.status, HX_TTEST_OK, "case %d: status %s", c,
                     hx_ttest_status_name(r.status));
        cr_expect(isfinite(r.t) && rel(r.t, gc->t) <= 1e-12,
                  "case %d: t = %.17g, SciPy %.17g (rel %.3g)", c, r.t, gc->t,
                  rel(r.t, gc->t));
        /* p below 1e-300 counts as 0 on both sides (underflow). */
        double p = r.p < 1e-300 ? 0.0 : r.p;
        double pref = gc->p < 1e-300 ? 0.0 : gc->p;
        cr_expect(p >= 0.0 && p <= 1.0 && rel(p, pref) <= 1e-10,
                  "case %d: p = %.17g, SciPy %.17g (rel %.3g)", c, r.p, gc->p,
                  rel(p, pref));
        checked++;
    }
    cr_expect_eq(checked, N_CASES - 4);
    golden_free(g);
}

Test(stats, golden_degenerate_cases_follow_policy) {
    golden *g = golden_load();
    hx_ttest r;

    /* 7: every pair tied. SciPy: nan/nan. Ours: no evidence, t = 0, p = 1. */
    r = run_case(g, 7);
    cr_expect(isnan(g->c[7].t) && isnan(g->c[7].p));
    cr_expect_eq(r.status, HX_TTEST_ZERO_VAR_ZERO_MEAN, "7: %s",
                 hx_ttest_status_name(r.status));
    cr_expect(r.t == 0.0 && r.p == 1.0, "7: t %g p %g", r.t, r.p);

    /* 8, 10: exactly constant difference: +-inf and p = 0, as SciPy. */
    r = run_case(g, 8);
    cr_expect_eq(r.status, HX_TTEST_ZERO_VAR);
    cr_expect(isinf(r.t) && r.t > 0 && r.t == g->c[8].t, "8: t %g", r.t);
    cr_expect(r.p == 0.0 && g->c[8].p == 0.0);
    r = run_case(g, 10);
    cr_expect_eq(r.status, HX_TTEST_ZERO_VAR);
    cr_expect(isinf(r.t) && r.t < 0 && r.t == g->c[10].t, "10: t %g", r.t);
    cr_expect(r.p == 0.0 && g->c[10].p == 0.0);

    /* 9: constant difference "0.1" up to rounding. SciPy: a huge finite t
     * (5.9e15) from the rounding noise; ours: zero variance, +inf, p = 0 -
     * the same category (|t| > 1e12, p < 1e-50, same sign). */
    r = run_case(g, 9);
    cr_expect_eq(r.status, HX_TTEST_ZERO_VAR, "9: %s",
                 hx_ttest_status_name(r.status));
    cr_expect(isinf(r.t) && r.t > 0, "9: t %g", r.t);
    cr_expect(r.p == 0.0, "9: p %g", r.p);
    cr_expect(g->c[9].t > 1e12 && g->c[9].p < 1e-50);

    /* 11: mean difference exactly 0 with variance: an ordinary t = 0, p = 1
     * (exactly, as SciPy). */
    r = run_case(g, 11);
    cr_expect_eq(r.status, HX_TTEST_OK);
    cr_expect(r.t == 0.0 && g->c[11].t == 0.0, "11: t %.17g", r.t);
    cr_expect(r.p == 1.0 && g->c[11].p == 1.0, "11: p %.17g", r.p);

    /* 40: t = 131 with df = 1999: p underflows (SciPy: exactly 0). */
    r = run_case(g, 40);
    cr_expect_eq(r.status, HX_TTEST_OK);
    cr_expect(rel(r.t, g->c[40].t) <= 1e-12, "40: t %.17g", r.t);
    cr_expect(r.p >= 0.0 && r.p < 1e-300 && g->c[40].p == 0.0, "40: p %g", r.p);
    cr_expect_str_eq(hx_sig_mark(&r), "***");
    golden_free(g);
}

/* ----------------------------------------------------- policy, no files */

static void expect_no_nan_text(const hx_ttest *r) {
    char line[128];
    hx_ttest_format(r, 17, line, sizeof line);
    cr_expect(!strstr(line, "nan") && !strstr(line, "NAN"),
              "format leaks NaN: \"%s\"", line);
}

Test(stats, too_few_pairs) {
    hx_ttest r;
    sf_err err;
    char line[128];
    /* n = 0, NULL arrays allowed. */
    cr_assert_eq(hx_ttest_paired(NULL, NULL, 0, &r, &err), SF_OK);
    cr_expect_eq(r.status, HX_TTEST_TOO_FEW);
    cr_expect_eq(r.n, 0);
    cr_expect_eq(r.df, 0.0);
    /* Stored: t = p = NaN (no test was possible); only the status and n
     * reach text. */
    cr_expect(isnan(r.t) && isnan(r.p));
    cr_expect_str_eq(hx_ttest_format(&r, 17, line, sizeof line),
                     "n=0 status=too_few");
    cr_expect_str_eq(hx_sig_mark(&r), "");
    expect_no_nan_text(&r);

    const double a[] = {0.7}, b[] = {0.6};
    cr_assert_eq(hx_ttest_paired(a, b, 1, &r, &err), SF_OK);
    cr_expect_eq(r.status, HX_TTEST_TOO_FEW);
    cr_expect_eq(r.n, 1);
    cr_expect_eq(r.df, 0.0);
    cr_expect_str_eq(hx_ttest_format(&r, 6, line, sizeof line),
                     "n=1 status=too_few");
    cr_expect_str_eq(hx_sig_mark(&r), "");
    expect_no_nan_text(&r);
}

Test(stats, nonfinite_input_is_refused) {
    hx_ttest r;
    sf_err err;
    double a[] = {0.8, NAN, 0.7, 0.9}, b[] = {0.6, 0.5, 0.7, 0.4};
    sf_err_clear(&err);
    cr_expect_eq(hx_ttest_paired(a, b, 4, &r, &err), SF_ERANGE);
    cr_expect_eq(err.code, SF_ERANGE);
    cr_expect(strstr(err.msg, "pair 1") != NULL, "msg: %s", err.msg);
    cr_expect_eq(r.status, HX_TTEST_NONFINITE);
    cr_expect_str_eq(hx_sig_mark(&r), "");
    expect_no_nan_text(&r);

    a[1] = 0.5;
    b[3] = -INFINITY;
    cr_expect_eq(hx_ttest_paired(a, b, 4, &r, &err), SF_ERANGE);
    cr_expect_eq(r.status, HX_TTEST_NONFINITE);
    cr_expect(strstr(err.msg, "pair 3") != NULL, "msg: %s", err.msg);

    /* Finite inputs whose difference overflows. */
    const double c[] = {1e308, 1.0}, d[] = {-1e308, 2.0};
    cr_expect_eq(hx_ttest_paired(c, d, 2, &r, NULL), SF_ERANGE);
    cr_expect_eq(r.status, HX_TTEST_NONFINITE);
}

Test(stats, bad_arguments) {
    hx_ttest r;
    const double a[] = {1, 2, 3};
    cr_expect_eq(hx_ttest_paired(a, a, 3, NULL, NULL), SF_EINVAL);
    cr_expect_eq(hx_ttest_paired(NULL, a, 3, &r, NULL), SF_EINVAL);
    cr_expect_eq(hx_ttest_paired(a, NULL, 3, &r, NULL), SF_EINVAL);
}

Test(stats, rounding_noise_counts_as_zero_variance) {
    /* a = x + 0.1 in floating point: differences "0.1" up to rounding. */
    double x[9], a[9], b[9];
    for (int i = 0; i < 9; i++) {
        x[i] = 0.37 * i - 1.3 + 0.011 * i * i;
        a[i] = x[i] + 0.1;
    }
    hx_ttest r;
    cr_assert_eq(hx_ttest_paired(a, x, 9, &r, NULL), SF_OK);
    cr_expect_eq(r.status, HX_TTEST_ZERO_VAR);
    cr_expect(r.t == INFINITY && r.p == 0.0);
    cr_assert_eq(hx_ttest_paired(x, a, 9, &r, NULL), SF_OK);
    cr_expect(r.t == -INFINITY && r.p == 0.0);

    /* Differences of one ulp around 0: tied up to rounding. */
    for (int i = 0; i < 9; i++) {
        a[i] = 0.5 + 0.05 * i;
        b[i] = i % 2 ? nextafter(a[i], 2.0) : a[i];
    }
    cr_assert_eq(hx_ttest_paired(a, b, 9, &r, NULL), SF_OK);
    cr_expect_eq(r.status, HX_TTEST_ZERO_VAR_ZERO_MEAN, "%s",
                 hx_ttest_status_name(r.status));
    cr_expect(r.t == 0.0 && r.p == 1.0);
    cr_expect_str_eq(hx_sig_mark(&r), "");

    /* A real (if tiny) spread, well above the rounding of the inputs, is an
     * ordinary test. */
    for (int i = 0; i < 9; i++)
        b[i] = a[i] - 0.1 - 1e-9 * (i % 3);
    cr_assert_eq(hx_ttest_paired(a, b, 9, &r, NULL), SF_OK);
    cr_expect_eq(r.status, HX_TTEST_OK);
    cr_expect(isfinite(r.t) && r.t > 1e6 && r.p < 1e-20, "t %g p %g", r.t, r.p);
}

Test(stats, scale_invariant_and_safe_at_extreme_magnitudes) {
    /* Scaling both samples by a power of two scales nothing in t: the
     * variance loop is exact under such scaling, and must neither overflow
     * (1e300) nor underflow (1e-300) its squares. */
    const double a[] = {0.81, 0.77, 0.93, 0.64, 0.88, 0.71};
    const double b[] = {0.70, 0.72, 0.85, 0.66, 0.79, 0.69};
    hx_ttest r0, r;
    cr_assert_eq(hx_ttest_paired(a, b, 6, &r0, NULL), SF_OK);
    cr_assert_eq(r0.status, HX_TTEST_OK);
    const int exps[] = {-1000, -600, -60, 60, 600, 1000};
    for (size_t k = 0; k < sizeof exps / sizeof *exps; k++) {
        double as[6], bs[6];
        for (int i = 0; i < 6; i++) {
            as[i] = ldexp(a[i], exps[k]);
            bs[i] = ldexp(b[i], exps[k]);
        }
        cr_assert_eq(hx_ttest_paired(as, bs, 6, &r, NULL), SF_OK);
        cr_expect_eq(r.status, HX_TTEST_OK, "2^%d", exps[k]);
        cr_expect(r.t == r0.t && r.p == r0.p, "2^%d: t %.17g vs %.17g", exps[k],
                  r.t, r0.t);
    }
}

Test(stats, significance_marks) {
    hx_ttest r = {.t = 3.0, .df = 9.0, .n = 10, .status = HX_TTEST_OK};
    const struct {
        double p;
        const char *mark;
    } cases[] = {{0.2, ""},        {0.05, ""},     {0.0499, "*"},
                 {0.01, "*"},      {0.0099, "**"}, {0.001, "**"},
                 {0.00099, "***"}, {0.0, "***"},   {1.0, ""}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        r.p = cases[i].p;
        cr_expect_str_eq(hx_sig_mark(&r), cases[i].mark, "p = %g", r.p);
    }
    cr_expect_str_eq(hx_sig_mark(NULL), "");
    r.p = 0.0;
    r.t = INFINITY;
    r.status = HX_TTEST_ZERO_VAR; /* degenerate: no stars */
    cr_expect_str_eq(hx_sig_mark(&r), "");
    r.status = HX_TTEST_ZERO_VAR_ZERO_MEAN;
    cr_expect_str_eq(hx_sig_mark(&r), "");
}

Test(stats, format_and_status_names) {
    const double a[] = {1, 2, 3, 4}, b[] = {1.5, 1.5, 3.5, 3};
    hx_ttest r;
    char line[160];
    cr_assert_eq(hx_ttest_paired(a, b, 4, &r, NULL), SF_OK);
    /* d = -0.5, 0.5, -0.5, 1: mean 0.125, sd 0.75, t = 1/3. */
    cr_expect(fabs(r.t - 1.0 / 3.0) < 1e-15, "t %.17g", r.t);
    hx_ttest_format(&r, 17, line, sizeof line);
    double t, df, p;
    int n;
    cr_assert_eq(sscanf(line, "t=%lf df=%lf p=%lf n=%d", &t, &df, &p, &n), 4,
                 "%s", line);
    cr_expect(t == r.t && p == r.p && df == 3.0 && n == 4, "%s", line);
    cr_expect(!strstr(line, "status"), "%s", line);
    cr_expect_str_eq(hx_ttest_format(&r, 4, line, sizeof line),
                     "t=0.3333 df=3 p=0.7608 n=4");

    const double c[] = {2, 3, 71}, d[] = {1, 2, 70};
    cr_assert_eq(hx_ttest_paired(c, d, 3, &r, NULL), SF_OK);
    cr_expect_str_eq(hx_ttest_format(&r, 17, line, sizeof line),
                     "t=inf df=2 p=0 n=3 status=zero_var");
    cr_assert_eq(hx_ttest_paired(c, c, 3, &r, NULL), SF_OK);
    cr_expect_str_eq(hx_ttest_format(&r, 17, line, sizeof line),
                     "t=0 df=2 p=1 n=3 status=zero_var_zero_mean");

    cr_expect_str_eq(hx_ttest_status_name(HX_TTEST_OK), "ok");
    cr_expect_str_eq(hx_ttest_status_name(HX_TTEST_TOO_FEW), "too_few");
    cr_expect_str_eq(hx_ttest_status_name(HX_TTEST_ZERO_VAR), "zero_var");
    cr_expect_str_eq(hx_ttest_status_name(HX_TTEST_ZERO_VAR_ZERO_MEAN),
                     "zero_var_zero_mean");
    cr_expect_str_eq(hx_ttest_status_name(HX_TTEST_NONFINITE), "nonfinite");
    cr_expect_str_eq(hx_ttest_status_name(99), "unknown");
    cr_expect_str_eq(hx_ttest_format(NULL, 17, line, sizeof line),
                     "status=unknown");
    /* Truncation is safe. */
    cr_expect_str_eq(hx_ttest_format(&r, 17, line, 4), "t=0");
}

/* -------------------------------------------------------- pairs reader */

static int read_text(const char *text, hx_pairs **out, sf_err *err) {
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    cr_assert_not_null(f);
    sf_err_clear(err);
    int rc = hx_pairs_read(f, "pairs.csv", out, err);
    fclose(f);
    return rc;
}

Test(stats, pairs_reader_accepts_header_comments_whitespace) {
    hx_pairs *p = NULL;
    sf_err err;
    const char *text = "# per-slice Dice\n"
                       "\n"
                       " synthfm , sam \r\n"
                       "0.81,0.70\n"
                       "  0.77 ,\t0.72  # trailing comments are not ok\n";
    cr_expect_eq(read_text(text, &p, &err), SF_EFORMAT);
    cr_expect_str_eq(err.where, "pairs.csv:5");
    cr_expect_null(p);

    text = "# per-slice Dice\n"
           "\n"
           " synthfm , sam \r\n"
           "0.81,0.70\n"
           "  0.77 ,\t0.72  \r\n"
           "   # indented comment\n"
           "1e-3,-2.5E+1\n";
    cr_assert_eq(read_text(text, &p, &err), SF_OK, "%s", err.msg);
    cr_assert_eq(p->n, 3);
    cr_expect(p->a[0] == 0.81 && p->b[0] == 0.70);
    cr_expect(p->a[1] == 0.77 && p->b[1] == 0.72);
    cr_expect(p->a[2] == 1e-3 && p->b[2] == -25.0);
    hx_pairs_free(p);

    /* No trailing newline, no header. */
    cr_assert_eq(read_text("1,2\n3,4", &p, &err), SF_OK);
    cr_expect_eq(p->n, 2);
    hx_pairs_free(p);
    /* Empty input: zero pairs (the t-test reports too_few). */
    cr_assert_eq(read_text("", &p, &err), SF_OK);
    cr_expect_eq(p->n, 0);
    hx_pairs_free(p);
    hx_pairs_free(NULL);
}

Test(stats, pairs_reader_rejects_bad_lines) {
    const struct {
        const char *text;
        const char *where;
    } bad[] = {
        {"a,b\n1,2\n1,2x\n", "pairs.csv:3"}, /* trailing garbage */
        {"1,2\n3\n", "pairs.csv:2"},         /* one field */
        {"1,2,3\n", "pairs.csv:1"},          /* three fields */
        {"1,\n", "pairs.csv:1"},             /* empty field */
        {"1,x\n", "pairs.csv:1"},            /* half a header is no header */
        {"a,b\nc,d\n", "pairs.csv:2"},       /* a header only once */
        {"1 2,3\n", "pairs.csv:1"},          /* space inside a number */
        {"# c\n\n1,nan\n", "pairs.csv:3"},   /* not finite */
        {"inf,1\n", "pairs.csv:1"},
        {"1e999,1\n", "pairs.csv:1"}, /* overflows a double */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        hx_pairs *p = NULL;
        sf_err err;
        cr_expect_eq(read_text(bad[i].text, &p, &err), SF_EFORMAT, "case %zu",
                     i);
        cr_expect_str_eq(err.where, bad[i].where, "case %zu", i);
        cr_expect_null(p);
    }
    hx_pairs *p = NULL;
    sf_err err;
    read_text("1,2\n0.5;0.25\n", &p, &err);
    cr_expect_str_eq(err.msg, "expected two numbers \"a,b\", got \"0.5;0.25\"");
    cr_expect_eq(hx_pairs_read(NULL, "x", &p, &err), SF_EINVAL);
}

/* Fuzz smoke: mutated and random inputs either parse or fail with
 * SF_EFORMAT and a position; never crash (run under ASan by make asan). */
Test(stats, pairs_reader_fuzz_smoke) {
    static const char seed[] = "a,b\n0.81,0.70\n# c\n 0.77 , 0.72\r\n"
                               "1e-3,-2.5E+1\n\n0x1p-3,7\n";
    const char alphabet[] = "0123456789.,-+eE# \t\r\nabnIf,x\0";
    uint64_t s = 0x9e3779b97f4a7c15u; /* xorshift64: a fixed sequence */
    char buf[256];
    for (int iter = 0; iter < 4000; iter++) {
        size_t n;
        if (iter % 2) { /* mutate the seed text */
            n = sizeof seed - 1;
            memcpy(buf, seed, n);
            for (int k = 0; k < 1 + iter % 5; k++) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                buf[s % n] = alphabet[(s >> 32) % (sizeof alphabet - 1)];
            }
        } else { /* random text from the alphabet */
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            n = s % sizeof buf;
            for (size_t i = 0; i < n; i++) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                buf[i] = alphabet[s % (sizeof alphabet - 1)];
            }
        }
        FILE *f = fmemopen(buf, n ? n : 1, "r");
        cr_assert_not_null(f);
        if (!n) (void)fgetc(f);
        hx_pairs *p = NULL;
        sf_err err;
        sf_err_clear(&err);
        int rc = hx_pairs_read(f, "fuzz.csv", &p, &err);
        fclose(f);
        cr_assert(rc == SF_OK || rc == SF_EFORMAT, "iter %d: rc %d", iter, rc);
        if (rc == SF_OK) {
            cr_assert_not_null(p);
            for (size_t i = 0; i < p->n; i++)
                cr_assert(isfinite(p->a[i]) && isfinite(p->b[i]));
            hx_ttest r;
            int trc = hx_ttest_paired(p->a, p->b, p->n, &r, NULL);
            cr_assert(trc == SF_OK || trc == SF_ERANGE, "iter %d", iter);
        } else {
            cr_assert_null(p);
            cr_assert(!strncmp(err.where, "fuzz.csv:", 9), "where %s",
                      err.where);
        }
        hx_pairs_free(p);
    }
}
