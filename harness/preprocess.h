/*
 * preprocess.h - MedSAM-style preprocessing of volumes and images to
 * 8-bit slices (preprocess.c): windowing by modality, percentiles.
 *
 * Conventions as in hx.h: SF_OK or a negative SF_E* code, a caller-owned
 * sf_err (NULL allowed), T **out belongs to the caller, nothing prints.
 */
#ifndef HX_PREPROCESS_H
#define HX_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "sf.h"

#ifdef __cplusplus
extern "C" {
#endif

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
#endif /* HX_PREPROCESS_H */
