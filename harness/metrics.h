/*
 * metrics.h - the interactive-evaluation metrics of libhx (issue 18):
 * surface distances (Dice, normalised surface Dice, HD95, HD100, average
 * surface distances) computed as the DeepMind surface-distance reference
 * does, exact Euclidean distance transforms, the CVPR 2025 corrective-
 * click rule with its 5-click sequence driver, and the statistics that go
 * with them (case-level bootstrap CIs, Wilcoxon signed-rank, Holm).
 *
 * The exact definitions, edge cases and reference values are those of
 * ../shared/golden/metrics/README.md; tests/harness/test_metrics.c and
 * test_clicks.c reproduce every golden value.
 *
 * Conventions as in hx.h: SF_OK or a negative SF_E* code, a caller-owned
 * sf_err (NULL allowed), T **out belongs to the caller, every _free
 * accepts NULL, nothing here prints, no static mutable state (reentrant).
 * Masks are uint8 arrays in C (row-major) order, nonzero = foreground.
 */
#ifndef HX_METRICS_H
#define HX_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "sf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ grid */

/* An image grid: ndim = 2 (n[0] x n[1]) or 3 (n[0] x n[1] x n[2]), array
 * axis i has n[i] voxels of spacing_mm[i] (the last axis varies fastest;
 * for a (z, y, x) volume n = {nz, ny, nx}). Unused entries are ignored. */
typedef struct hx_grid {
    int ndim;
    int n[3];
    double spacing_mm[3];
} hx_grid;

/* Most voxels of a grid the functions here accept (int32 labels). */
#define HX_GRID_MAX_VOXELS ((size_t)INT32_MAX)

/* Check a grid: SF_EINVAL for g NULL, ndim not 2 or 3, a size < 1 or a
 * voxel count above HX_GRID_MAX_VOXELS; SF_ERANGE for a spacing that is
 * not finite and > 0 (zero or negative spacing is never accepted). */
int hx_grid_check(const hx_grid *g, sf_err *err);
/* Voxel count of a grid that passed hx_grid_check. */
size_t hx_grid_voxels(const hx_grid *g);

/* ------------------------------------------------------ distance transform */

/*
 * Exact squared Euclidean distance transform with spacing: out[v] = min
 * over the voxels w with feature[w] != 0 of sum_i ((v_i - w_i) s_i)^2,
 * each term formed as a product, then squared, summed left to right over
 * the axes (as scipy's distance_transform_edt with `sampling` evaluates
 * the distance to its nearest feature); +inf everywhere when there is no
 * feature. Felzenszwalb-Huttenlocher lower envelopes, one pass per axis:
 * O(voxels). out has hx_grid_voxels(g) doubles. Errors: hx_grid_check's,
 * SF_EINVAL for NULL arrays, SF_ENOMEM.
 */
int hx_edt_sq_mm(const hx_grid *g, const uint8_t *feature, double *out,
                 sf_err *err);

/* ------------------------------------------------------- surface metrics */

/*
 * Directed surface distances between a ground truth G and a prediction P
 * (surface-distance's compute_surface_distances): border elements on the
 * voxel-corner grid (neighbour code not 0 or all-ones; outside the image
 * counts as background), each with its marching-cubes area (3D, mm^2) or
 * marching-squares contour length (2D, mm) for the grid's spacing, and
 * the distance (mm) from each element to the nearest border element of
 * the other mask (+inf when the other mask has none). Each list is sorted
 * ascending by (distance, area).
 */
typedef struct hx_surface {
    size_t n_gt, n_pred;       /* border elements of G and of P */
    double *d_gt, *a_gt;       /* G -> P: distance (mm) and area, n_gt each */
    double *d_pred, *a_pred;   /* P -> G, n_pred each */
    double area_gt, area_pred; /* sum of a_gt / a_pred (numpy's pairwise
                                  summation, as np.sum) */
    uint64_t n_vox_gt, n_vox_pred, n_vox_inter; /* voxel counts */
} hx_surface;

/* Compute the surface distances of gt and pred (hx_grid_voxels(g) bytes
 * each). 2D grids use the 2D form (contour elements), 3D grids the 3D
 * form; a one-slice volume is a 3D grid with n[0] = 1 and has surface on
 * both flat faces. Cost O(voxels of the bounding box of G u P).
 * *out belongs to the caller (hx_surface_free). Errors: hx_grid_check's,
 * SF_EINVAL for NULL arguments, SF_ENOMEM. */
int hx_surface_compute(const hx_grid *g, const uint8_t *gt, const uint8_t *pred,
                       hx_surface **out, sf_err *err);
void hx_surface_free(hx_surface *s);

/* Dice from the voxel counts: 2|G n P| / (|G| + |P|), NaN when both are
 * empty (the reference's convention). */
double hx_surface_dice(const hx_surface *s);
/* Normalised surface Dice at tolerance tol_mm (inclusive: d <= tol):
 * (sum of areas within tol, both directions) / (area_gt + area_pred).
 * One mask empty: 0; both empty: NaN (0/0), as the reference. */
double hx_surface_nsd(const hx_surface *s, double tol_mm);
/* Robust Hausdorff distance at `percent` (95: HD95, 100: HD100):
 * max over both directions of the distance at the first element whose
 * running area fraction reaches percent/100; +inf when a list is empty. */
double hx_surface_hd(const hx_surface *s, double percent);
/* Area-weighted average distance of each direction, sum(d a) / sum(a):
 * NaN for an empty list (0/0), +inf when the other mask is empty. */
double hx_surface_asd_gt_to_pred(const hx_surface *s);
double hx_surface_asd_pred_to_gt(const hx_surface *s);

/* All metrics of one pair, for tables. */
typedef struct hx_metrics {
    double dice;
    double nsd_1mm, nsd_2mm;
    double hd95, hd100;
    double asd_gt_to_pred, asd_pred_to_gt;
} hx_metrics;

/* hx_surface_compute + every metric above (nsd at 1 and 2 mm). The NaN /
 * inf conventions are the reference's (golden README A.4): G empty, P not:
 * dice 0, nsd 0, hd +inf, asd_gt_to_pred NaN, asd_pred_to_gt +inf; P
 * empty: the mirror; both empty: dice NaN, nsd NaN, hd +inf, asd NaN.
 * Errors as hx_surface_compute. */
int hx_metrics_compute(const hx_grid *g, const uint8_t *gt, const uint8_t *pred,
                       hx_metrics *out, sf_err *err);

/* The area of each border element code for a spacing: 3D (ndim 3, 256
 * codes, mm^2, marching-cubes normals as surface-distance's lookup table)
 * or 2D (ndim 2, 16 codes, contour length in mm). area has 256 or 16
 * entries. Errors: SF_EINVAL (ndim, NULL), SF_ERANGE (spacing not finite
 * and > 0). */
int hx_surface_area_table(int ndim, const double *spacing_mm, double *area,
                          sf_err *err);

/* numpy's pairwise summation of v[0..n-1] (np.sum / np.add.reduce of a
 * float64 array): bit-identical sums to the reference's. */
double hx_sum_pairwise(const double *v, size_t n);

/* ------------------------------------------------ CVPR 2025 click rule */

/* numpy legacy `np.random.seed(42); np.random.choice(n)`: MT19937
 * init_genrand(42), masked rejection on 32-bit outputs; 0 for n <= 1. */
uint64_t hx_click_tie_index(uint64_t n);

/* One MT19937 generator (Matsumoto-Nishimura 2002), caller-owned state. */
typedef struct hx_mt19937 {
    uint32_t mt[624];
    int mti;
} hx_mt19937;
void hx_mt19937_seed(hx_mt19937 *m, uint32_t seed);
uint32_t hx_mt19937_u32(hx_mt19937 *m);

/* A simulated click and how it was chosen (golden README B). */
typedef struct hx_click_info {
    int has_click;       /* 0: no error, no click (the other fields are 0) */
    int pos[3];          /* array indices (i0, i1[, i2]); pos[2] = 0 in 2D */
    int positive;        /* 1: "fg" (G is the class there), 0: "bg" */
    int n_components;    /* connected components of the error */
    int largest_label;   /* 1-based label of the chosen component */
    size_t largest_size; /* its voxels */
    int64_t max_sq_edt;  /* max q over it (voxel units squared) */
    size_t n_ties;       /* voxels with q = max, row-major */
    size_t tie_index;    /* hx_click_tie_index(n_ties) */
} hx_click_info;

/*
 * The next corrective click of the CVPR 2025 interactive segmentation
 * challenge for one class: error E = (pred != 0) XOR (gt != 0); no click
 * when E is empty; else the largest connected component of E (26-
 * connectivity in 3D, 8 in 2D; components numbered by their first voxel
 * in row-major order; on a size tie the smallest label), q(v) = exact
 * squared distance (voxel units, spacing not used) from v to the nearest
 * voxel of Z^d outside the component (outside the image counts as
 * outside), the voxels with the largest q in row-major order, and the
 * one at hx_click_tie_index(count) of them; positive iff gt is set there.
 * Optional outputs (NULL = not wanted, else hx_grid_voxels(g) entries):
 * labels_out gets the component labels 1..N (0 = no error), sq_edt_out q
 * on the chosen component and 0 elsewhere. The spacing of g is not used
 * but must be valid. Cost O(voxels). Errors: hx_grid_check's, SF_EINVAL
 * for NULL gt/pred/out, SF_ENOMEM.
 */
int hx_click_next(const hx_grid *g, const uint8_t *gt, const uint8_t *pred,
                  hx_click_info *out, int32_t *labels_out, int32_t *sq_edt_out,
                  sf_err *err);

/* -------------------------------------------------- click sequences */

/* Most corrective clicks of one sequence. */
#define HX_SEQ_MAX_CLICKS 32

/*
 * A method under test: called once per corrective click with the clicks
 * so far (clicks[0..n_clicks-1], the newest last; a click with has_click =
 * 0 means the previous prediction had no error left) and the previous
 * prediction in pred (hx_grid_voxels bytes, nonzero = foreground), which
 * it overwrites with its new prediction. Returns SF_OK or an SF_E* code
 * (with err filled), which stops the sequence with that code.
 */
typedef int (*hx_seq_predict_fn)(void *ctx, const hx_click_info *clicks,
                                 int n_clicks, uint8_t *pred, sf_err *err);

typedef struct hx_seq_opts {
    int n_clicks;       /* corrective clicks, 1..HX_SEQ_MAX_CLICKS (5) */
    double tol_mm;      /* NSD tolerance (2.0) */
    double nsd_min_dsc; /* NSD is computed only when DSC > this (0.2),
                           else recorded as 0 (the challenge's rule) */
    double stop_dsc;    /* stop early once DSC >= this (NoC runs); the
                           default 2.0 never stops */
} hx_seq_opts;
/* The challenge's settings: 5 clicks, 2 mm, 0.2, no early stop. */
void hx_seq_opts_init(hx_seq_opts *o);

typedef struct hx_seq_step {
    hx_click_info click; /* the click before this step (none for step 1) */
    double dsc, nsd;     /* of the prediction after this step */
    double t_predict_s;  /* wall time of the method's call */
    double t_metrics_s;  /* wall time of the click + metrics */
} hx_seq_step;

typedef struct hx_seq {
    int has_bbox_step; /* step 1 is a given (bounding-box) prediction */
    int n_steps;       /* steps run: 1 + clicks made */
    hx_seq_step step[HX_SEQ_MAX_CLICKS + 1]; /* step[0] = step 1 */
    double dsc_auc, nsd_auc;     /* trapezoid over the clicks' steps */
    double dsc_final, nsd_final; /* the last step's values */
} hx_seq;

/*
 * Run one interactive sequence (golden README C): step 1 is pred0 (the
 * bounding-box prediction) or, with pred0 NULL, not run (DSC = NSD = 0
 * recorded, and the first click is computed against an empty
 * prediction); then for each of o->n_clicks steps the next click
 * (hx_click_next) from (gt, previous prediction), the method's new
 * prediction, and its DSC and NSD (NSD only when DSC > nsd_min_dsc, else
 * 0). dsc_auc / nsd_auc = trapezoidal area of the clicks' steps against
 * x = 0, 1, ..., summed left to right (maximum n_clicks - 1); final = the
 * last step. With stop_dsc <= 1 the sequence stops after the first step
 * whose DSC >= stop_dsc, the bounding-box step included (AUCs then cover
 * the click steps run; 0 for none). gt must have a
 * foreground voxel. o NULL = hx_seq_opts_init. Errors: hx_grid_check's,
 * SF_EINVAL (NULL gt/fn/out, empty gt, bad options), SF_ENOMEM, and the
 * method's own code.
 */
int hx_seq_run(const hx_grid *g, const uint8_t *gt, const uint8_t *pred0,
               const hx_seq_opts *o, hx_seq_predict_fn fn, void *ctx,
               hx_seq *out, sf_err *err);

/* Number of clicks until DSC >= target_dsc (NoC@85: 0.85): 0 when the
 * bounding-box step already reaches it, else the smallest k >= 1 whose
 * step (after click k) does; the clicks made + 1 (more than the cap: "not
 * reached") when none does. Run with stop_dsc = the largest target and
 * n_clicks = the cap (20) to get NoC@85 and NoC@90 from one run. */
int hx_seq_noc(const hx_seq *s, double target_dsc);

/* ---------------------------------------------------------- statistics */

/* RNG stream of the bootstrap (sf_rng_key_make's stream id; 'BOOT'). To
 * be moved into factory/sf_int.h's enum sf_stream when that registry is
 * opened to libhx. */
#define HX_STREAM_BOOTSTRAP 0x424F4F54u

/* A bootstrap confidence interval of a mean. */
typedef struct hx_ci {
    double mean;       /* the sample's own mean */
    double lo, hi;     /* percentile interval of the resampled means */
    double level;      /* e.g. 0.95 */
    int n_resamples;   /* B */
    size_t n;          /* values */
    size_t n_clusters; /* resampling units (cases) */
    uint64_t seed;
} hx_ci;

/*
 * Percentile bootstrap CI of the mean of x[0..n-1] with cluster (case-
 * level) resampling: the values with the same cluster[i] form one unit
 * (slices of one case are not independent); each of n_resamples
 * resamples draws n_clusters units with replacement and takes the mean
 * of all their values (sum of sums / sum of counts); lo, hi are the
 * (1 - level)/2 and (1 + level)/2 quantiles of the resampled means
 * (numpy's "linear" percentile). cluster NULL: every value is its own
 * unit. Draw j of resample b is sf_rng_u64(sf_rng_key_make(seed, 0,
 * HX_STREAM_BOOTSTRAP), b * n_clusters + j), mapped to a unit by the
 * multiply-high method (bias < n_clusters / 2^64), units numbered in
 * ascending cluster id: the result is a pure function of (x, cluster,
 * seed, n_resamples, level), independent of threads and time; listing the
 * units in another order changes nothing (values inside one unit are
 * summed in input order, so reordering those can move the last bit). The
 * seed and B belong in the table next to the interval. n = 0:
 * SF_OK with every value NaN. Errors: SF_EINVAL (NULL x/out with n > 0,
 * n_resamples < 1, level not in (0, 1)), SF_ERANGE (a value not finite),
 * SF_ENOMEM.
 */
int hx_bootstrap_mean_ci(const double *x, const int64_t *cluster, size_t n,
                         int n_resamples, double level, uint64_t seed,
                         hx_ci *out, sf_err *err);

/* What a Wilcoxon result means. */
enum hx_wilcoxon_status {
    HX_WILCOXON_OK = 0,
    HX_WILCOXON_EMPTY = 1,    /* n = 0: T = p = NaN (as SciPy) */
    HX_WILCOXON_ALL_ZERO = 2, /* every difference 0: T = 0, p = 1 (SciPy
                                 raises; no evidence of a difference) */
    HX_WILCOXON_NONFINITE = 3 /* refused input: T = p = NaN */
};

typedef struct hx_wilcoxon {
    double T;      /* min(R+, R-) (SciPy's two-sided statistic) */
    double r_plus; /* sum of the ranks of the positive differences */
    double z;      /* normal approximation's z (NaN when exact) */
    double p;      /* two-sided p value */
    int exact;     /* 1: exact null distribution, 0: normal approx. */
    int n;         /* pairs */
    int n_zero;    /* pairs with a == b (dropped, zero_method wilcox) */
    int status;    /* enum hx_wilcoxon_status */
} hx_wilcoxon;

/*
 * Wilcoxon signed-rank test of a[i] against b[i] as scipy.stats.wilcoxon
 * (SciPy 1.10.1, defaults: zero_method "wilcox", correction False,
 * two-sided, method "auto"): d = a - b; exact when n <= 50 and no d is 0,
 * else the normal approximation over the non-zero d with the tie
 * correction of the variance and no continuity correction, p =
 * 2 Phi(-|z|). Ranks are average ranks of |d|. As SciPy 1.10 does, the
 * exact branch also runs with tied |d| and then uses R+ truncated to an
 * integer. Errors: SF_EINVAL (NULL out, NULL a/b with n > 0, n >
 * INT_MAX), SF_ERANGE (a non-finite value or difference); *out then has
 * status HX_WILCOXON_NONFINITE.
 */
int hx_wilcoxon_paired(const double *a, const double *b, size_t n,
                       hx_wilcoxon *out, sf_err *err);

/*
 * Holm's step-down adjustment of m p values: with the finite p sorted
 * ascending (ties in input order), adj_(i) = min(1, max_{j <= i} (m' - j
 * + 1) p_(j)), m' = the number of finite p; written to adj[] in the input
 * order (adj may be p). NaN entries are tests that were not done: they
 * stay NaN and do not count in m'. Errors: SF_EINVAL (NULL with m > 0),
 * SF_ERANGE (a p outside [0, 1] or infinite), SF_ENOMEM.
 */
int hx_holm_adjust(const double *p, size_t m, double *adj, sf_err *err);

#ifdef __cplusplus
}
#endif
#endif /* HX_METRICS_H */
