/*
 * preprocess.c - MedSAM-style intensity preprocessing (CT windowing, MR/US
 * percentile clipping, rescaling to 8 bits) and exact percentiles. The
 * facts come from MedSAM's pre_CT_MR.py (bowang-lab/MedSAM): CT window
 * level 40 / width 400 by default; MR bounds are np.percentile(x[x > 0],
 * 0.5) and (..., 99.5); the clipped data is rescaled by its own min and max
 * times 255; MR voxels equal to 0 are set back to 0; np.uint8 truncates.
 *
 * Percentiles are order statistics found by radix selection on the float
 * bits: a float maps to a 32-bit key whose unsigned order is the numeric
 * order (sign bit flipped for positives, all bits for negatives); one pass
 * histograms the top 16 bits, which names the bucket holding each wanted
 * rank, and a second pass histograms the low 16 bits inside those buckets.
 * Two passes over the data whatever its size, nothing copied or sorted.
 */
#include "hx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NBIN = 1 << 16, MAX_RANKS = 4 };

/* Order-preserving key of a finite float; -0.0 is 0.0. */
static inline uint32_t fkey(float f) {
    uint32_t u;
    if (f == 0.0f) f = 0.0f;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : u | 0x80000000u;
}

static inline float fval(uint32_t k) {
    uint32_t u = (k & 0x80000000u) ? k & 0x7FFFFFFFu : ~k;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The value of rank r of a histogram: its bin, and the rank inside it. */
static uint32_t hist_find(const size_t *h, uint64_t *r) {
    uint32_t b = 0;
    while (*r >= h[b])
        *r -= h[b++];
    return b;
}

/*
 * Values of ranks ks[0..nk-1] (each < m, the count of selected values)
 * among the selected values of v: all of them, or those > 0.
 */
static int select_ranks(const float *v, size_t n, int positive_only,
                        const uint64_t *ks, int nk, float *out) {
    int rc = SF_ENOMEM;
    size_t *hi = calloc(NBIN, sizeof *hi), *lo = NULL;
    uint32_t bin[MAX_RANKS];
    uint64_t res[MAX_RANKS];
    int nb = 0, which[MAX_RANKS];
    if (!hi) goto out;
    for (size_t i = 0; i < n; i++)
        if (!positive_only || v[i] > 0.0f) hi[fkey(v[i]) >> 16]++;
    for (int r = 0; r < nk; r++) {
        res[r] = ks[r];
        uint32_t b = hist_find(hi, &res[r]);
        int j = 0;
        while (j < nb && bin[j] != b)
            j++;
        if (j == nb) bin[nb++] = b;
        which[r] = j;
    }
    lo = calloc((size_t)nb * NBIN, sizeof *lo);
    if (!lo) goto out;
    for (size_t i = 0; i < n; i++) {
        if (positive_only && !(v[i] > 0.0f)) continue;
        uint32_t k = fkey(v[i]);
        for (int j = 0; j < nb; j++)
            if (k >> 16 == bin[j]) {
                lo[(size_t)j * NBIN + (k & 0xFFFFu)]++;
                break;
            }
    }
    for (int r = 0; r < nk; r++) {
        int j = which[r];
        uint32_t l = hist_find(lo + (size_t)j * NBIN, &res[r]);
        out[r] = fval(bin[j] << 16 | l);
    }
    rc = SF_OK;
out:
    free(hi);
    free(lo);
    return rc;
}

/* numpy's linear interpolation between neighbours a <= b at fraction t. */
static double lerp_np(double a, double b, double t) {
    double diff = b - a;
    return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

/* Percentiles qs[0..nq-1] (nq <= 2) of the m selected values. */
static int percentiles(const float *v, size_t n, uint64_t m, int positive_only,
                       const double *qs, int nq, double *out, sf_err *err) {
    uint64_t ks[MAX_RANKS];
    double t[2];
    for (int i = 0; i < nq; i++) {
        double h = (double)(m - 1) * (qs[i] / 100.0);
        double f = floor(h);
        uint64_t k = (uint64_t)f;
        if (k > m - 1) k = m - 1; /* q = 100 with rounding */
        t[i] = h - f;
        ks[2 * i] = k;
        ks[2 * i + 1] = k + 1 < m ? k + 1 : k;
    }
    float x[MAX_RANKS];
    int rc = select_ranks(v, n, positive_only, ks, 2 * nq, x);
    if (rc != SF_OK) return sf_err_set(err, rc, "percentile: out of memory");
    for (int i = 0; i < nq; i++)
        out[i] = lerp_np(x[2 * i], x[2 * i + 1], t[i]);
    return SF_OK;
}

int hx_percentile(const float *v, size_t n, double q, int positive_only,
                  double *out, sf_err *err) {
    if (!out || (!v && n) || !(q >= 0.0 && q <= 100.0))
        return sf_err_set(err, SF_EINVAL,
                          "percentile: NULL argument or q = %g not in [0, 100]",
                          q);
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            return sf_err_set(err, SF_ERANGE,
                              "percentile: value %zu is not finite", i);
        m += !positive_only || v[i] > 0.0f;
    }
    if (!m)
        return sf_err_set(err, SF_EFORMAT, "percentile: no %svalues",
                          positive_only ? "positive " : "");
    return percentiles(v, n, m, positive_only, &q, 1, out, err);
}

/* ------------------------------------------------------------ preprocess */

void hx_prep_default(hx_prep *p, int modality) {
    p->modality = modality;
    p->window_level = HX_CT_WINDOW_LEVEL;
    p->window_width = HX_CT_WINDOW_WIDTH;
    p->pct_lo = HX_CLIP_PCT_LO;
    p->pct_hi = HX_CLIP_PCT_HI;
}

static double clampd(double x, double lo, double hi) {
    return x < lo ? lo : x > hi ? hi : x;
}

int hx_preprocess_volume(const float *vox, int nx, int ny, int nz,
                         const hx_prep *p, uint8_t *out, sf_err *err) {
    if (!vox || !p || !out)
        return sf_err_set(err, SF_EINVAL, "preprocess: NULL argument");
    if (nx < 1 || ny < 1 || nz < 1)
        return sf_err_set(err, SF_EINVAL, "preprocess: bad size %dx%dx%d", nx,
                          ny, nz);
    size_t plane = (size_t)nx * (size_t)ny;
    if (plane / (size_t)nx != (size_t)ny || plane > SIZE_MAX / (size_t)nz)
        return sf_err_set(err, SF_ERANGE, "preprocess: %dx%dx%d is too large",
                          nx, ny, nz);
    size_t n = plane * (size_t)nz;
    int ct = p->modality == HX_MODALITY_CT;
    if (ct && !(p->window_width > 0.0 && isfinite(p->window_width) &&
                isfinite(p->window_level)))
        return sf_err_set(err, SF_EINVAL,
                          "preprocess: bad CT window (level %g, width %g)",
                          p->window_level, p->window_width);
    if (!ct && p->modality != HX_MODALITY_MR && p->modality != HX_MODALITY_US)
        return sf_err_set(err, SF_EINVAL, "preprocess: unknown modality %d",
                          p->modality);
    if (!ct &&
        !(p->pct_lo >= 0.0 && p->pct_lo <= p->pct_hi && p->pct_hi <= 100.0))
        return sf_err_set(err, SF_EINVAL,
                          "preprocess: bad clip percentiles [%g, %g]",
                          p->pct_lo, p->pct_hi);

    /* Finite check, extremes and the count of voxels > 0 in one pass. */
    float vmin = vox[0], vmax = vox[0];
    uint64_t n_pos = 0;
    for (size_t i = 0; i < n; i++) {
        float f = vox[i];
        if (!isfinite(f)) {
            size_t z = i / plane, r = i % plane;
            return sf_err_set(err, SF_ERANGE,
                              "preprocess: voxel (x %zu, y %zu, z %zu) is not "
                              "finite",
                              r % (size_t)nx, r / (size_t)nx, z);
        }
        vmin = f < vmin ? f : vmin;
        vmax = f > vmax ? f : vmax;
        n_pos += f > 0.0f;
    }

    double lo, hi;
    if (ct) {
        lo = p->window_level - p->window_width / 2.0;
        hi = p->window_level + p->window_width / 2.0;
    } else {
        if (!n_pos)
            return sf_err_set(err, SF_EFORMAT,
                              "preprocess: no voxel > 0 to take the %g-%g "
                              "percentiles of (blank %s data?)",
                              p->pct_lo, p->pct_hi,
                              p->modality == HX_MODALITY_MR ? "MR" : "US");
        double qs[2] = {p->pct_lo, p->pct_hi}, b[2];
        int rc = percentiles(vox, n, n_pos, 1, qs, 2, b, err);
        if (rc != SF_OK) return rc;
        lo = b[0];
        hi = b[1];
    }
    /* min and max of the clipped data: clipping is monotone. */
    double cmin = clampd(vmin, lo, hi), cmax = clampd(vmax, lo, hi);
    double range = cmax - cmin;
    if (!(range > 0.0)) {
        memset(out, 0, n); /* constant after clipping: MedSAM's 0/0 */
        return SF_OK;
    }
    for (size_t i = 0; i < n; i++) {
        double c = clampd(vox[i], lo, hi);
        double s = (c - cmin) / range * 255.0; /* in [0, 255] */
        out[i] = (uint8_t)s;                   /* truncation, as np.uint8 */
        if (!ct && vox[i] == 0.0f) out[i] = 0;
    }
    return SF_OK;
}

int hx_preprocess_image(const float *px, int nx, int ny, const hx_prep *p,
                        uint8_t *out, sf_err *err) {
    return hx_preprocess_volume(px, nx, ny, 1, p, out, err);
}
