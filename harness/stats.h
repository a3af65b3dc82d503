/*
 * stats.h - paired statistics of libhx (stats.c, GSL): the paired
 * Student's t-test with its degenerate cases, significance marks, and
 * reading "a,b" pairs. Call hx_init() first (hx.h).
 *
 * Conventions as in hx.h: SF_OK or a negative SF_E* code, a caller-owned
 * sf_err (NULL allowed), T **out belongs to the caller, nothing prints.
 */
#ifndef HX_STATS_H
#define HX_STATS_H

#include <stddef.h>
#include <stdio.h>

#include "sf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------- stats */

/* Outcome of a paired t-test. Only HX_TTEST_OK is an ordinary test result;
 * the others say why t and p are what they are (see hx_ttest_paired). */
enum hx_ttest_status {
    HX_TTEST_OK = 0,
    HX_TTEST_TOO_FEW = 1,            /* n < 2: t = p = NaN, df = 0 */
    HX_TTEST_ZERO_VAR_ZERO_MEAN = 2, /* every difference ~ 0: t = 0, p = 1 */
    HX_TTEST_ZERO_VAR = 3,           /* every difference the same non-zero
                                        value: t = +-inf, p = 0 */
    HX_TTEST_NONFINITE = 4           /* an input (or a - b) is NaN/inf:
                                        refused, t = p = NaN */
};

typedef struct hx_ttest {
    double t;   /* mean(d) / (sd(d) / sqrt(n)), d = a - b, sd with n - 1 */
    double df;  /* n - 1 (0 when n < 2) */
    double p;   /* two-sided p value */
    int n;      /* number of pairs */
    int status; /* enum hx_ttest_status */
} hx_ttest;

/*
 * Paired Student's t-test of a[i] against b[i], i < n (SciPy's
 * stats.ttest_rel, two-sided): d = a - b; mean and sample sd (ddof 1) by a
 * plain sequential two-pass loop in double; t = mean / (sd / sqrt(n)),
 * df = n - 1, p = 2 Q(|t|) = I_(df/(df+t^2))(df/2, 1/2) from GSL's
 * incomplete beta (df <= 2000) or gsl_cdf_tdist_Q (larger df), always as a
 * tail, so tiny p values keep their precision; p can underflow to 0.
 * Within 1e-13 relative of SciPy on the golden cases (stats.c says why not
 * plain gsl_cdf_tdist_Q: its approximation for 30 < df errs by up to 1e-6).
 *
 * Degenerate cases (status in *out; all return SF_OK):
 *  - n < 2: HX_TTEST_TOO_FEW, t = p = NaN, df = 0. No test is possible;
 *    show the status, never the numbers (hx_ttest_format does this).
 *  - zero variance: the spread of the differences, max d - min d, is at
 *    most HX_TTEST_ROUNDING * DBL_EPSILON * max_i max(|a_i|, |b_i|), i.e.
 *    the differences agree to within the rounding of the inputs and of the
 *    subtraction (a = x + 0.1 computed in floating point gives differences
 *    "0.1" that differ in the last bits). Then the variance is taken as
 *    exactly 0, and
 *      - if |mean d| is also within that bound (all pairs tied):
 *        HX_TTEST_ZERO_VAR_ZERO_MEAN, t = 0, p = 1: the two samples agree
 *        on every pair, so there is no evidence of a difference. (SciPy
 *        returns NaN/NaN here; we report the limit that a table can show.)
 *      - else HX_TTEST_ZERO_VAR, t = copysign(inf, mean), p = 0, as SciPy
 *        does for an exactly constant difference.
 *    A variance that is pure rounding noise therefore never produces a
 *    huge finite t (SciPy gives t = 5.9e15 for such data).
 *
 * Errors: SF_ERANGE if an input or a difference a - b is not finite (err
 * names the first such pair) or the sum of the differences overflows;
 * SF_EINVAL if out is NULL, a or b is NULL with n > 0, or n > INT_MAX. On
 * any error *out (if non-NULL) holds status HX_TTEST_NONFINITE, t = p = NaN:
 * no result, never to be shown as one.
 */
#define HX_TTEST_ROUNDING 8.0
int hx_ttest_paired(const double *a, const double *b, size_t n, hx_ttest *out,
                    sf_err *err);

/* Short lower-case name of a status ("ok", "too_few", "zero_var_zero_mean",
 * "zero_var", "nonfinite"; "unknown" otherwise). Static storage. */
const char *hx_ttest_status_name(int status);

/* Significance mark of a result: "***" for p < 0.001, "**" for p < 0.01,
 * "*" for p < 0.05, and "" when not significant, when r is NULL, or when
 * the status is anything but HX_TTEST_OK (a degenerate test is flagged by
 * its status, not by stars). Static storage. */
const char *hx_sig_mark(const hx_ttest *r);

/* One line (no newline) describing r, for the CLI and tables:
 *   "t=T df=DF p=P n=N"                      for HX_TTEST_OK,
 *   "t=T df=DF p=P n=N status=NAME"          for the zero-variance cases,
 *   "n=N status=NAME"                        when there are no t/p values
 *                                            (too_few, nonfinite).
 * T and P are printed with %.*g at `digits` significant digits (17 round-
 * trips a double; values outside 1..17 are clamped); inf prints as "inf".
 * NaN is never printed. Writes at most n bytes (truncating) and returns buf. */
const char *hx_ttest_format(const hx_ttest *r, int digits, char *buf, size_t n);

/* Paired samples as read from a text file: a[i], b[i] for i < n. */
typedef struct hx_pairs {
    double *a, *b;
    size_t n;
} hx_pairs;

/*
 * Read a CSV of paired values, one "a,b" per line: whitespace around the
 * fields is ignored, as are blank lines, lines starting with '#' and CR
 * before the newline. The first content line may be a header (two fields,
 * neither of them a number, e.g. "synthfm,sam"). Numbers are parsed with
 * strtod and must use the whole field and be finite.
 * `name` is the file name used in error positions ("-" for stdin is fine).
 * Errors: SF_EFORMAT with err->where = "name:line" for a line that is not
 * two finite numbers (the message quotes the line); SF_EIO on a read
 * error; SF_ENOMEM; SF_EINVAL for NULL f/out. *out belongs to the caller
 * (hx_pairs_free).
 */
int hx_pairs_read(FILE *f, const char *name, hx_pairs **out, sf_err *err);
void hx_pairs_free(hx_pairs *p);

#ifdef __cplusplus
}
#endif
#endif /* HX_STATS_H */
