/*
 * stats.c - statistics for the harness: the paired Student's t-test (GSL's
 * t distribution), its formatting and significance marks, and the reader
 * for CSV files of paired values used by `synthfm ttest`.
 *
 * Reference: scipy.stats.ttest_rel (golden values in
 * ../shared/golden/stats/, checked by tests/harness/test_stats.c).
 */
#include "hx.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>

void hx_init(void) {
    gsl_set_error_handler_off();
}

/* ---------------------------------------------------------------- t-test */

/*
 * Two-sided p of Student's t with df degrees of freedom, always as a tail
 * (never 1 - CDF, so a p of 1e-300 keeps its digits):
 *   p = 2 Q(|t|) = I_x(df/2, 1/2),  x = df / (df + t^2)
 *     = 1 - I_(1-x)(1/2, df/2),     1 - x = t^2 / (df + t^2),
 * the second form when t^2 < df so that the small argument is formed
 * directly. This is what 2 * gsl_cdf_tdist_Q(|t|, df) computes too, except
 * that for df > 30 and t^2 < 10 df GSL switches to a Cornish-Fisher
 * expansion whose relative error reaches 1e-7 to 1e-6 for df 31..300
 * (1.4e-10 on golden case 21: t = 8.73, df = 39), while the incomplete beta
 * stays within ~1e-13 there. For large df the roles swap: GSL's incomplete
 * beta loses accuracy (I_x(df/2, 1/2) with df ~ 1e6 returns 0 for p ~ 1e-17)
 * and Cornish-Fisher is accurate (~1e-13 at df 2000, better beyond). Both
 * were checked against mpmath on a grid of t for df in 31..1e5.
 */
#define HX_TTEST_BETA_MAX_DF 2000.0
static double t_two_sided_p(double t, double df) {
    double t2 = t * t;
    if (df > HX_TTEST_BETA_MAX_DF) return 2.0 * gsl_cdf_tdist_Q(fabs(t), df);
    if (t2 < df) return gsl_cdf_beta_Q(t2 / (df + t2), 0.5, 0.5 * df);
    return gsl_cdf_beta_P(df / (df + t2), 0.5 * df, 0.5);
}

static void ttest_set(hx_ttest *r, size_t n, int status, double t, double p) {
    r->n = (int)n;
    r->df = n >= 2 ? (double)(n - 1) : 0.0;
    r->status = status;
    r->t = t;
    r->p = p;
}

int hx_ttest_paired(const double *a, const double *b, size_t n, hx_ttest *out,
                    sf_err *err) {
    int rc = SF_EINVAL;
    if (!out) {
        sf_err_set(err, rc, "hx_ttest_paired: out is NULL");
        goto out;
    }
    ttest_set(out, 0, HX_TTEST_NONFINITE, NAN, NAN);
    if (n > INT_MAX) {
        sf_err_set(err, rc, "hx_ttest_paired: %zu pairs is too many", n);
        goto out;
    }
    if (n > 0 && (!a || !b)) {
        sf_err_set(err, rc, "hx_ttest_paired: NULL sample with n = %zu", n);
        goto out;
    }
    out->n = (int)n;

    /* Pass 1: finiteness, sum of d, the spread of d and the input scale. */
    double sum = 0.0, dmin = INFINITY, dmax = -INFINITY, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = a[i] - b[i];
        if (!isfinite(d)) {
            rc = sf_err_set(err, SF_ERANGE,
                            "paired t-test: pair %zu is not finite "
                            "(a = %g, b = %g, a - b = %g)",
                            i, a[i], b[i], d);
            goto out;
        }
        sum += d;
        dmin = d < dmin ? d : dmin;
        dmax = d > dmax ? d : dmax;
        double m = fmax(fabs(a[i]), fabs(b[i]));
        scale = m > scale ? m : scale;
    }
    rc = SF_OK;
    if (n < 2) {
        ttest_set(out, n, HX_TTEST_TOO_FEW, NAN, NAN);
        goto out;
    }
    double mean = sum / (double)n, spread = dmax - dmin;
    if (!isfinite(mean) || !isfinite(spread)) {
        rc = sf_err_set(err, SF_ERANGE,
                        "paired t-test: the differences overflow a double");
        goto out;
    }
    /* Differences that agree to within the rounding of the inputs carry no
     * variance information: call it exactly zero (see hx.h). */
    double tol = HX_TTEST_ROUNDING * DBL_EPSILON * scale;
    if (spread <= tol) {
        if (fabs(mean) <= tol)
            ttest_set(out, n, HX_TTEST_ZERO_VAR_ZERO_MEAN, 0.0, 1.0);
        else
            ttest_set(out, n, HX_TTEST_ZERO_VAR, copysign(INFINITY, mean), 0.0);
        goto out;
    }

    /* Pass 2: sum of squared deviations. Each deviation is scaled by the
     * power of two 2^-e, spread = f * 2^e with f in [0.5, 1), so the largest
     * square is about 1: no overflow for differences ~1e200, no underflow to
     * 0 for ~1e-200. Scaling by a power of two is exact, so wherever the
     * plain loop neither overflows nor underflows the result is bit-identical
     * to it (the golden t values depend on that summation order). */
    int e;
    (void)frexp(spread, &e);
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) {
        double dev = ldexp((a[i] - b[i]) - mean, -e);
        ss += dev * dev;
    }
    double sd = ldexp(sqrt(ss / (double)(n - 1)), e);
    double t = mean / (sd / sqrt((double)n));
    double df = (double)(n - 1);
    double p = t_two_sided_p(t, df);
    if (!isfinite(t) || !(p >= 0.0)) {
        rc = sf_err_set(err, SF_ERANGE,
                        "paired t-test: t = %g, p = %g out of range", t, p);
        goto out;
    }
    ttest_set(out, n, HX_TTEST_OK, t, p > 1.0 ? 1.0 : p);
out:
    if (rc != SF_OK && out) {
        out->status = HX_TTEST_NONFINITE;
        out->t = out->p = NAN;
    }
    return rc;
}

const char *hx_ttest_status_name(int status) {
    switch (status) {
    case HX_TTEST_OK: return "ok";
    case HX_TTEST_TOO_FEW: return "too_few";
    case HX_TTEST_ZERO_VAR_ZERO_MEAN: return "zero_var_zero_mean";
    case HX_TTEST_ZERO_VAR: return "zero_var";
    case HX_TTEST_NONFINITE: return "nonfinite";
    default: return "unknown";
    }
}

const char *hx_sig_mark(const hx_ttest *r) {
    if (!r || r->status != HX_TTEST_OK || !(r->p >= 0.0)) return "";
    if (r->p < 0.001) return "***";
    if (r->p < 0.01) return "**";
    if (r->p < 0.05) return "*";
    return "";
}

const char *hx_ttest_format(const hx_ttest *r, int digits, char *buf,
                            size_t n) {
    if (!buf || n == 0) return buf;
    if (!r) {
        snprintf(buf, n, "status=unknown");
        return buf;
    }
    digits = digits < 1 ? 1 : digits > 17 ? 17 : digits;
    int has_tp = !isnan(r->t) && !isnan(r->p);
    if (!has_tp)
        snprintf(buf, n, "n=%d status=%s", r->n,
                 hx_ttest_status_name(r->status));
    else if (r->status == HX_TTEST_OK)
        snprintf(buf, n, "t=%.*g df=%.0f p=%.*g n=%d", digits, r->t, r->df,
                 digits, r->p, r->n);
    else
        snprintf(buf, n, "t=%.*g df=%.0f p=%.*g n=%d status=%s", digits, r->t,
                 r->df, digits, r->p, r->n, hx_ttest_status_name(r->status));
    return buf;
}

/* ------------------------------------------------------------ CSV pairs */

void hx_pairs_free(hx_pairs *p) {
    if (!p) return;
    free(p->a);
    free(p->b);
    free(p);
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    size_t k = strlen(s);
    while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t' || s[k - 1] == '\r' ||
                     s[k - 1] == '\n'))
        s[--k] = '\0';
    return s;
}

/* 1 if the whole (trimmed) field is a number for strtod; *v gets it. */
static int parse_num(const char *s, double *v) {
    if (!*s) return 0;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && *end == '\0';
}

/* The line as quoted in messages: at most ~60 characters. */
static void excerpt(const char *line, char *buf, size_t n) {
    size_t k = strlen(line);
    if (k + 1 <= n && k <= 60)
        snprintf(buf, n, "%s", line);
    else
        snprintf(buf, n, "%.57s...", line);
}

static int pairs_push(hx_pairs *p, size_t *cap, double a, double b) {
    if (p->n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        double *na = realloc(p->a, c * sizeof *na);
        if (!na) return SF_ENOMEM;
        p->a = na;
        double *nb = realloc(p->b, c * sizeof *nb);
        if (!nb) return SF_ENOMEM;
        p->b = nb;
        *cap = c;
    }
    p->a[p->n] = a;
    p->b[p->n] = b;
    p->n++;
    return SF_OK;
}

int hx_pairs_read(FILE *f, const char *name, hx_pairs **out, sf_err *err) {
    int rc = SF_EINVAL;
    hx_pairs *p = NULL;
    char *line = NULL;
    size_t line_cap = 0, cap = 0;
    if (!f || !out) {
        sf_err_set(err, rc, "hx_pairs_read: NULL argument");
        goto out;
    }
    *out = NULL;
    if (!name) name = "(input)";
    rc = SF_ENOMEM;
    if (!(p = calloc(1, sizeof *p))) goto out;
    int lineno = 0, seen_content = 0;
    ssize_t len;
    while ((len = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        if ((size_t)len != strlen(line)) {
            rc = sf_err_at(err, SF_EFORMAT, name, lineno, 0,
                           "NUL byte in a text line");
            goto out;
        }
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char shown[64];
        excerpt(s, shown, sizeof shown);
        /* Exactly two fields: "a,b". */
        char *comma = strchr(s, ',');
        int two = comma && !strchr(comma + 1, ',');
        double va = 0.0, vb = 0.0;
        int na = 0, nb = 0;
        const char *fa = s, *fb = "";
        if (two) {
            *comma = '\0';
            fa = trim(s);
            fb = trim(comma + 1);
            na = parse_num(fa, &va);
            nb = parse_num(fb, &vb);
        }
        if (!seen_content++ && two && !na && !nb && *fa && *fb)
            continue; /* a header: two fields, neither a number */
        if (!na || !nb) {
            rc = sf_err_at(err, SF_EFORMAT, name, lineno, 0,
                           "expected two numbers \"a,b\", got \"%s\"", shown);
            goto out;
        }
        if (!isfinite(va) || !isfinite(vb)) {
            rc = sf_err_at(err, SF_EFORMAT, name, lineno, 0,
                           "values must be finite, got \"%s\"", shown);
            goto out;
        }
        if (pairs_push(p, &cap, va, vb) != SF_OK) {
            rc = sf_err_set(err, SF_ENOMEM, "out of memory reading %s", name);
            goto out;
        }
    }
    if (ferror(f)) {
        rc = sf_err_at(err, SF_EIO, name, 0, 0, "read error: %s",
                       strerror(errno));
        goto out;
    }
    rc = SF_OK;
    *out = p;
    p = NULL;
out:
    free(line);
    hx_pairs_free(p);
    return rc;
}
