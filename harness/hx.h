/*
 * hx.h - the synthfm harness library (libhx): dataset readers,
 * preprocessing, evaluation (Dice), statistics, tables and plots.
 *
 * Conventions as in sf.h (see STYLE.md): fallible calls return SF_OK (0) or
 * a negative SF_E* code and fill a caller-owned sf_err (NULL allowed);
 * results come back through T **out and belong to the caller; every _free
 * accepts NULL; nothing here prints. Call hx_init() once before using the
 * statistics (it switches GSL's abort-on-error handler off).
 */
#ifndef HX_H
#define HX_H

#include <stddef.h>
#include <stdio.h>

#include "sf.h"
#include "metrics.h" /* issue 18: surface metrics, clicks, CIs */

#ifdef __cplusplus
extern "C" {
#endif

/* Process-wide set-up for libhx: turns GSL's default error handler (which
 * aborts) off, so GSL reports through return values and we check them.
 * Idempotent; call it from main-like code (commands, tests), not from
 * library functions. */
void hx_init(void);

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

/* ------------------------------------------------------------------ dice */

/* What hx_dice's value means. Only HX_DICE_OK is an ordinary score. */
enum hx_dice_status {
    HX_DICE_OK = 0,
    HX_DICE_BOTH_EMPTY = 1, /* |A| = |B| = 0: Dice is 0/0, returned as NaN */
    HX_DICE_GT_EMPTY = 2    /* |B| = 0 < |A|: returned as 0, but a slice
                               without ground truth is never scored (issue
                               6), so the caller should not store it */
};

/*
 * Dice coefficient 2|A n B| / (|A| + |B|) of two masks of n bytes, A =
 * pred, B = gt, nonzero = foreground. An empty prediction against a
 * non-empty ground truth is an ordinary 0. Both empty: NaN with
 * HX_DICE_BOTH_EMPTY (the convention of the DeepMind surface-distance code
 * that MedSAM's evaluation uses); NaN cannot slip silently into a mean.
 * status may be NULL; pred and gt may be NULL only when n = 0.
 */
double hx_dice(const uint8_t *pred, const uint8_t *gt, size_t n, int *status);

/* Overlap counts, for Dice over several slices (case level): add slices
 * with hx_overlap_add, then hx_dice_from_overlap. */
typedef struct hx_overlap {
    uint64_t n_inter; /* |A n B| */
    uint64_t n_pred;  /* |A| */
    uint64_t n_gt;    /* |B| */
} hx_overlap;

/* Add the counts of one pair of masks (n bytes each) to *acc. */
void hx_overlap_add(hx_overlap *acc, const uint8_t *pred, const uint8_t *gt,
                    size_t n);
/* Dice of accumulated counts, with hx_dice's policy and status. */
double hx_dice_from_overlap(const hx_overlap *o, int *status);

/* ------------------------------------------------------------ preprocess */

/*
 * Intensity preprocessing as MedSAM does it (bowang-lab/MedSAM,
 * pre_CT_MR.py), to 8-bit images for SAM-style models:
 *  - CT: clip to the window [L - W/2, L + W/2] (default abdominal window
 *    L = 40, W = 400 HU: [-160, 240]);
 *  - MR and US: clip to the [0.5, 99.5] percentiles of the voxels > 0
 *    (strictly positive; hx_percentile, "linear" definition), and voxels
 *    exactly 0 stay 0 (MedSAM's MR rule; we apply it to US too, our
 *    reading of the method);
 * then rescale by the clipped data's own minimum and maximum to [0, 255],
 * (c - min) / (max - min) * 255 in double, and truncate to uint8 (as
 * numpy's uint8 cast does). Minimum and maximum (and the percentiles)
 * are taken over everything the call is given: the whole volume for
 * hx_preprocess_volume, as MedSAM does, or one image.
 */
enum hx_modality { HX_MODALITY_CT = 0, HX_MODALITY_MR = 1, HX_MODALITY_US = 2 };

#define HX_CT_WINDOW_LEVEL 40.0  /* HU, MedSAM's default */
#define HX_CT_WINDOW_WIDTH 400.0 /* HU, MedSAM's default */
#define HX_CLIP_PCT_LO     0.5
#define HX_CLIP_PCT_HI     99.5

typedef struct hx_prep {
    int modality;          /* enum hx_modality */
    double window_level;   /* CT: window centre (HU) */
    double window_width;   /* CT: window width (HU), > 0 */
    double pct_lo, pct_hi; /* MR/US: 0 <= pct_lo <= pct_hi <= 100 */
} hx_prep;

/* The defaults above for `modality`. */
void hx_prep_default(hx_prep *p, int modality);

/*
 * Preprocess a volume (nz, ny, nx) of floats (x fastest) into out, nx * ny
 * * nz bytes in the same layout (slice z at out + z * nx * ny). Degenerate
 * data: when the clipped data is constant (max = min) every output voxel is
 * 0. Errors (out untouched): SF_EINVAL for NULL arguments, a size < 1, an
 * unknown modality or bad window/percentiles; SF_ERANGE for a non-finite
 * voxel (err names its index x, y, z) or a size whose voxel count overflows;
 * SF_EFORMAT for MR/US data with no voxel > 0 (nothing to take percentiles
 * of); SF_ENOMEM.
 */
int hx_preprocess_volume(const float *vox, int nx, int ny, int nz,
                         const hx_prep *p, uint8_t *out, sf_err *err);
/* The same for one 2-D image (ny, nx): hx_preprocess_volume with nz = 1. */
int hx_preprocess_image(const float *px, int nx, int ny, const hx_prep *p,
                        uint8_t *out, sf_err *err);

/*
 * The q-th percentile (0 <= q <= 100) of v[0..n-1], or of its values > 0
 * when positive_only, as numpy.percentile's default ("linear") method:
 * with x the m selected values sorted ascending, h = (m - 1) * (q / 100),
 * i = floor(h), t = h - i: x[i] + (x[i+1] - x[i]) t, computed as
 * x[i+1] - (x[i+1] - x[i]) (1 - t) when t >= 0.5 (numpy's _lerp), in
 * double; x[m-1] when i = m - 1. Exact order statistics by a two-pass
 * radix selection on the float bits (no copy, no sort, O(n)), so it is
 * deterministic. -0.0 counts as 0.0. Errors: SF_EINVAL (NULL, q outside
 * [0, 100] or NaN), SF_ERANGE (a non-finite value), SF_EFORMAT (nothing
 * selected: n = 0, or no value > 0 with positive_only), SF_ENOMEM.
 */
int hx_percentile(const float *v, size_t n, double q, int positive_only,
                  double *out, sf_err *err);

#ifdef __cplusplus
}
#endif
#endif /* HX_H */
