/*
 * stats_ci.c - the statistics of issue 18 next to the paired t-test
 * (stats.c): percentile bootstrap confidence intervals of a mean with
 * case-level (cluster) resampling on the project's counter RNG, the
 * Wilcoxon signed-rank test as scipy.stats.wilcoxon 1.10.1 computes it,
 * and Holm's step-down correction. API and conventions: metrics.h.
 * Reference values: tests/harness/wilcoxon_scipy.csv (made by
 * tests/harness/wilcoxon_scipy.py with Debian's SciPy 1.10.1).
 */
#include "hx.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ bootstrap */

typedef struct keyed {
    int64_t key;
    size_t i;
} keyed;

static int keyed_cmp(const void *a, const void *b) {
    const keyed *p = a, *q = b;
    if (p->key != q->key) return p->key < q->key ? -1 : 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

static int dbl_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* numpy.percentile(v, 100 q), method "linear", of sorted v[0..n-1]. */
static double quantile_sorted(const double *v, size_t n, double q) {
    double h = (double)(n - 1) * q;
    size_t i = (size_t)floor(h);
    if (i >= n - 1) return v[n - 1];
    double t = h - (double)i, a = v[i], b = v[i + 1];
    /* numpy's _lerp: a + (b - a) t, from the upper end when t >= 0.5 */
    return t >= 0.5 ? b - (b - a) * (1.0 - t) : a + (b - a) * t;
}

int hx_bootstrap_mean_ci(const double *x, const int64_t *cluster, size_t n,
                         int n_resamples, double level, uint64_t seed,
                         hx_ci *out, sf_err *err) {
    int rc = SF_EINVAL;
    keyed *ord = NULL;
    double *usum = NULL, *means = NULL;
    size_t *ucnt = NULL;
    if (!out || (n > 0 && !x)) {
        sf_err_set(err, rc, "hx_bootstrap_mean_ci: NULL argument");
        goto out;
    }
    out->mean = out->lo = out->hi = NAN;
    out->level = level;
    out->n_resamples = n_resamples;
    out->n = n;
    out->n_clusters = 0;
    out->seed = seed;
    if (n_resamples < 1 || !(level > 0.0 && level < 1.0)) {
        sf_err_set(err, rc,
                   "bootstrap: %d resamples at level %g (need >= 1 and a "
                   "level in (0, 1))",
                   n_resamples, level);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) {
            rc = sf_err_set(err, SF_ERANGE,
                            "bootstrap: value %zu is not finite (%g)", i, x[i]);
            goto out;
        }
    rc = SF_OK;
    if (n == 0) goto out;
    rc = SF_ENOMEM;
    /* Units in ascending cluster id (values of a unit in input order). */
    if (!(ord = malloc(n * sizeof *ord))) goto nomem;
    for (size_t i = 0; i < n; i++) {
        ord[i].key = cluster ? cluster[i] : (int64_t)i;
        ord[i].i = i;
    }
    if (cluster) qsort(ord, n, sizeof *ord, keyed_cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += i == 0 || ord[i].key != ord[i - 1].key;
    usum = calloc(k, sizeof *usum);
    ucnt = calloc(k, sizeof *ucnt);
    means = malloc((size_t)n_resamples * sizeof *means);
    if (!usum || !ucnt || !means) goto nomem;
    size_t u = 0;
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && ord[i].key != ord[i - 1].key) u++;
        usum[u] += x[ord[i].i];
        ucnt[u]++;
    }
    for (size_t j = 0; j < k; j++)
        total += usum[j];
    out->n_clusters = k;
    out->mean = total / (double)n;
    sf_rng_key key = sf_rng_key_make(seed, 0, HX_STREAM_BOOTSTRAP);
    for (int b = 0; b < n_resamples; b++) {
        double s = 0.0;
        size_t c = 0;
        for (size_t j = 0; j < k; j++) {
            uint64_t r = sf_rng_u64(key, (uint64_t)b * k + j);
            size_t pick = (size_t)(((unsigned __int128)r * k) >> 64);
            s += usum[pick];
            c += ucnt[pick];
        }
        means[b] = s / (double)c;
    }
    qsort(means, (size_t)n_resamples, sizeof *means, dbl_cmp);
    out->lo = quantile_sorted(means, (size_t)n_resamples, (1.0 - level) / 2);
    out->hi = quantile_sorted(means, (size_t)n_resamples, (1.0 + level) / 2);
    rc = SF_OK;
    goto out;
nomem:
    sf_err_set(err, rc, "bootstrap: out of memory (%zu values)", n);
out:
    free(ord);
    free(usum);
    free(ucnt);
    free(means);
    return rc;
}

/* ------------------------------------------------------------- Wilcoxon */

/* scipy.special.ndtr (cephes): the standard normal CDF. */
static double ndtr(double a) {
    double x = a * M_SQRT1_2, z = fabs(x), y;
    if (z < M_SQRT1_2) return 0.5 + 0.5 * erf(x);
    y = 0.5 * erfc(z);
    return x > 0 ? 1.0 - y : y;
}

static int abs_cmp(const void *a, const void *b) {
    double x = fabs(*(const double *)a), y = fabs(*(const double *)b);
    return x < y ? -1 : x > y;
}

/* Exact two-sided p of R+ = r for n pairs (scipy's _get_wilcoxon_distr:
 * the pmf of R+ by halving recursion; every value is a multiple of 2^-n,
 * so for n <= 50 all the sums are exact in double whatever their order). */
static int exact_p(int n, long r, double *p) {
    size_t len = (size_t)n * (size_t)(n + 1) / 2 + 1;
    double *c = calloc(len, sizeof *c), *prev = calloc(len, sizeof *prev);
    if (!c || !prev) {
        free(c);
        free(prev);
        return SF_ENOMEM;
    }
    c[0] = 1.0;
    size_t m = 1;
    for (int k = 1; k <= n; k++) {
        memcpy(prev, c, m * sizeof *c);
        size_t nm = (size_t)k * (size_t)(k + 1) / 2 + 1;
        memset(c, 0, nm * sizeof *c);
        for (size_t i = 0; i < m; i++)
            c[i] = prev[i] * 0.5;
        for (size_t i = 0; i < m; i++)
            c[nm - m + i] += prev[i] * 0.5;
        m = nm;
    }
    if (r == (long)((len - 1) / 2)) {
        *p = 1.0;
    } else {
        double lo = 0.0, hi = 0.0;
        for (long i = 0; i <= r && (size_t)i < len; i++)
            lo += c[i];
        for (size_t i = r < 0 ? 0 : (size_t)r; i < len; i++)
            hi += c[i];
        double q = 2.0 * (lo < hi ? lo : hi);
        *p = q > 1.0 ? 1.0 : q < 0.0 ? 0.0 : q;
    }
    free(c);
    free(prev);
    return SF_OK;
}

int hx_wilcoxon_paired(const double *a, const double *b, size_t n,
                       hx_wilcoxon *out, sf_err *err) {
    int rc = SF_EINVAL;
    double *d = NULL;
    if (!out) {
        sf_err_set(err, rc, "hx_wilcoxon_paired: out is NULL");
        goto out;
    }
    memset(out, 0, sizeof *out);
    out->T = out->r_plus = out->z = out->p = NAN;
    out->status = HX_WILCOXON_NONFINITE;
    if (n > INT_MAX || (n > 0 && (!a || !b))) {
        sf_err_set(err, rc, "hx_wilcoxon_paired: bad arguments (n = %zu)", n);
        goto out;
    }
    out->n = (int)n;
    rc = SF_OK;
    if (n == 0) {
        out->status = HX_WILCOXON_EMPTY;
        goto out;
    }
    rc = SF_ENOMEM;
    if (!(d = malloc(n * sizeof *d))) {
        sf_err_set(err, rc, "wilcoxon: out of memory");
        goto out;
    }
    size_t n_zero = 0;
    for (size_t i = 0; i < n; i++) {
        d[i] = a[i] - b[i];
        if (!isfinite(d[i])) {
            rc = sf_err_set(err, SF_ERANGE,
                            "wilcoxon: pair %zu is not finite (a = %g, b = "
                            "%g, a - b = %g)",
                            i, a[i], b[i], d[i]);
            goto out;
        }
        n_zero += d[i] == 0.0;
    }
    out->n_zero = (int)n_zero;
    /* method "auto": exact for n <= 50, switched to the approximation when
     * a difference is zero. */
    int exact = n <= 50 && n_zero == 0;
    if (n_zero == n) {
        out->status = HX_WILCOXON_ALL_ZERO;
        out->T = out->r_plus = 0.0;
        out->p = 1.0;
        out->exact = 0;
        rc = SF_OK;
        goto out;
    }
    /* zero_method "wilcox": drop the zero differences (only the approx
     * branch has any). */
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++)
        if (d[i] != 0.0) d[cnt++] = d[i];
    qsort(d, cnt, sizeof *d, abs_cmp);
    /* Average ranks of |d| over runs of equal |d|, and the tie term
     * sum t (t^2 - 1) of the variance (integers, exact). */
    double r_plus = 0.0, r_minus = 0.0, ties = 0.0;
    for (size_t i = 0; i < cnt;) {
        size_t j = i + 1;
        while (j < cnt && fabs(d[j]) == fabs(d[i]))
            j++;
        double rank = 0.5 * ((double)(i + 1) + (double)j); /* average */
        for (size_t k = i; k < j; k++) {
            if (d[k] > 0)
                r_plus += rank;
            else
                r_minus += rank;
        }
        double t = (double)(j - i);
        if (j - i > 1) ties += t * (t * t - 1.0);
        i = j;
    }
    double T = r_plus < r_minus ? r_plus : r_minus;
    out->T = T;
    out->r_plus = r_plus;
    out->exact = exact;
    if (exact) {
        /* SciPy 1.10 uses int(r_plus): with tied |d| (half ranks) the
         * statistic is truncated; kept for agreement. */
        rc = exact_p((int)cnt, (long)r_plus, &out->p);
        if (rc != SF_OK) {
            sf_err_set(err, rc, "wilcoxon: out of memory");
            goto out;
        }
    } else {
        double c = (double)cnt;
        double mn = c * (c + 1.0) * 0.25;
        double se = c * (c + 1.0) * (2.0 * c + 1.0);
        if (ties > 0) se -= 0.5 * ties;
        se = sqrt(se / 24);
        double z = (T - mn) / se;
        out->z = z;
        out->p = 2.0 * ndtr(-fabs(z));
        if (out->p > 1.0) out->p = 1.0;
    }
    out->status = HX_WILCOXON_OK;
    rc = SF_OK;
out:
    free(d);
    return rc;
}

/* ------------------------------------------------------------------ Holm */

typedef struct pidx {
    double p;
    size_t i;
} pidx;

static int pidx_cmp(const void *a, const void *b) {
    const pidx *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

int hx_holm_adjust(const double *p, size_t m, double *adj, sf_err *err) {
    if (m > 0 && (!p || !adj))
        return sf_err_set(err, SF_EINVAL, "hx_holm_adjust: NULL argument");
    for (size_t i = 0; i < m; i++)
        if (!isnan(p[i]) && !(p[i] >= 0.0 && p[i] <= 1.0))
            return sf_err_set(err, SF_ERANGE,
                              "holm: p[%zu] = %g is not in [0, 1]", i, p[i]);
    pidx *s = malloc((m ? m : 1) * sizeof *s);
    if (!s) return sf_err_set(err, SF_ENOMEM, "holm: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (!isnan(p[i])) s[k++] = (pidx){p[i], i};
    qsort(s, k, sizeof *s, pidx_cmp);
    for (size_t i = 0; i < m; i++)
        if (isnan(p[i])) adj[i] = NAN;
    double run = 0.0;
    for (size_t j = 0; j < k; j++) {
        double v = (double)(k - j) * s[j].p;
        v = v > 1.0 ? 1.0 : v;
        run = v > run ? v : run;
        adj[s[j].i] = run; /* s holds copies of p: adj may alias p */
    }
    free(s);
    return SF_OK;
}
