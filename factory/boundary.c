/*
 * boundary.c - the boundary-aware module (paper section 3.1.2): adjacent
 * structures with shared, low-contrast boundaries.
 *
 * 1. A SynthMorph label map (Hoffmann et al. 2021; neurite's draw_perlin):
 *    one smooth random field per label, the sum over a few coarse scales of
 *    lattices of i.i.d. normals, linearly upsampled; every field is sampled
 *    through one smooth random displacement field (the same recipe at finer
 *    scales) and each pixel takes 1 + argmax over the fields.
 * 2. A random subset of the clusters is eroded a random number of 4-neighbour
 *    steps, which opens background rims between adjacent structures; all
 *    remaining cluster pixels are foreground. Instances are the 4-connected
 *    foreground components (small ones dropped).
 * 3. Contrast and texture: foreground pixels show a random canvas (uniform
 *    in [a, b], a few outliers anywhere in [0, 1]); background pixels show
 *    the canvas mean shifted slightly up or down.
 *
 * Performance: the upsampled fields are never stored. Each pixel evaluates
 * the coarse lattices directly by bilinear interpolation at its displaced
 * position (identical to sampling the linearly upsampled field there),
 * with the lattice values of all labels interleaved, (gy, gx, L), so the
 * per-label inner loop is contiguous. Erosion of all clusters at once is a
 * capped city-block distance transform (two raster passes).
 */
#include "sf_int.h"

#include <stdlib.h>
#include <string.h>

/* 8 floats, operated on lane by lane (GCC/Clang vector extension; the
 * compiler splits it into whatever SIMD width the target has). */
typedef float v8f __attribute__((vector_size(32)));

/* Lattice values of a field: (gy, gx, stride) floats, stride >= channels. */
typedef struct lattice {
    int gx, gy, stride;
    float sx, sy; /* pixel -> lattice coordinate: x * sx (align corners) */
    float *v;
} lattice;

/* Lattice nodes per axis for `n` pixels at `scale` (fraction of the image
 * size): ceil(n * scale) as in neurite's draw_perlin, at least 2 so that
 * linear interpolation is defined. */
static int lattice_size(int n, double scale) {
    double g = ceil((double)n * scale);
    if (!(g >= 2.0)) return 2;
    if (g > (double)n) g = n < 2 ? 2 : n;
    return (int)g;
}

/* Align-corners mapping: pixel 0 -> node 0, pixel n-1 -> node g-1 (the
 * mapping of neurite's resize, linspace(0, g-1, n)). */
static float lattice_step(int n, int g) {
    return n > 1 ? (float)(g - 1) / (float)(n - 1) : 0.0f;
}

static int lattice_alloc(lattice *t, int nx, int ny, double scale,
                         int stride) {
    t->gx = lattice_size(nx, scale);
    t->gy = lattice_size(ny, scale);
    t->stride = stride;
    t->sx = lattice_step(nx, t->gx);
    t->sy = lattice_step(ny, t->gy);
    /* 32-byte aligned: label lattices are read as v8f vectors. */
    size_t bytes = (size_t)t->gx * (size_t)t->gy * (size_t)stride * sizeof *t->v;
    bytes = (bytes + 31) & ~(size_t)31;
    t->v = aligned_alloc(32, bytes);
    if (!t->v) return SF_ENOMEM;
    memset(t->v, 0, bytes);
    return SF_OK;
}

/* Cell index and weight of lattice coordinate c in [0, g-1]. */
static inline int cell(float c, int g, float *f) {
    int i = (int)c;
    if (i > g - 2) i = g - 2;
    if (i < 0) i = 0;
    *f = c - (float)i;
    return i;
}

/* Append a JSON member separator unless the object body is empty so far. */
static void json_sep(sf_buf *b) {
    if (b->len && b->s[b->len - 1] != '{' && b->s[b->len - 1] != ',')
        sf__buf_puts(b, ",");
}

static void json_key(sf_buf *b, const char *key) {
    json_sep(b);
    sf__json_str(b, key);
    sf__buf_puts(b, ":");
}

/* Counter layout of the lattice streams: (label + 1, scale, node) for the
 * label fields, (0, scale, node) for the displacement (the two components
 * of a node are the two normals of one Philox block). Unique as long as
 * node < 2^32, scale < 256 and label < 2^24. */
static uint64_t lattice_ctr(uint64_t label1, int scale, size_t node) {
    return (label1 << 40) | ((uint64_t)scale << 32) | (uint64_t)node;
}

int sf__boundary_label_map(const sf_config *c, sf_draw *d, sf_rng_key fkey,
                           sf_rng_key wkey, int n_labels, uint16_t *labels,
                           int nx, int ny, sf_buf *json) {
    enum { MAX_SCALES = 4 };
    const int n_ls = c->boundary.n_label_scales;
    const int n_ws = c->boundary.n_warp_scales;
    lattice lf[MAX_SCALES], wf[MAX_SCALES];
    double lsig[MAX_SCALES], wsig[MAX_SCALES];
    int rc = SF_ENOMEM;
    v8f *acc = NULL;
    memset(lf, 0, sizeof lf);
    memset(wf, 0, sizeof wf);

    if (n_labels < 1 || n_labels > 65535 || nx <= 0 || ny <= 0 ||
        n_ls < 1 || n_ls > MAX_SCALES || n_ws < 0 || n_ws > MAX_SCALES) {
        rc = SF_EINVAL;
        goto out;
    }

    /* Per-scale standard deviations, shared by all labels of a scale as in
     * neurite's draw_perlin (one std per scale for every channel): the
     * fields of all labels are then identically distributed, so every label
     * keeps its share of the image. Warp sigmas are in pixels at 1024 and
     * scale with the image. */
    const double px_scale = (double)(nx > ny ? nx : ny) / 1024.0;
    for (int s = 0; s < n_ls; s++)
        lsig[s] = sf__draw_range(d, c->boundary.label_sigma);
    for (int s = 0; s < n_ws; s++)
        wsig[s] = sf__draw_range(d, c->boundary.warp_sigma_px) * px_scale;

    /* Labels padded to a multiple of 8 so the inner loop has no tail;
     * padding lanes stay 0 and are never compared. */
    const int L = n_labels, Lp = (n_labels + 7) & ~7;
    for (int s = 0; s < n_ls; s++) {
        lattice *t = &lf[s];
        if (lattice_alloc(t, nx, ny, c->boundary.label_scales[s], Lp)) goto out;
        size_t nodes = (size_t)t->gx * (size_t)t->gy;
        for (int l = 0; l < L; l++) {
            for (size_t k = 0; k < nodes; k++) {
                uint32_t w[4];
                float z0, z1;
                sf_rng_block(fkey, lattice_ctr((uint64_t)l + 1, s, k), w);
                sf__normal2f(w[0], w[1], &z0, &z1);
                t->v[k * (size_t)Lp + (size_t)l] = z0 * (float)lsig[s];
            }
        }
    }
    for (int s = 0; s < n_ws; s++) {
        lattice *t = &wf[s];
        if (lattice_alloc(t, nx, ny, c->boundary.warp_scales[s], 2)) goto out;
        size_t nodes = (size_t)t->gx * (size_t)t->gy;
        for (size_t k = 0; k < nodes; k++) {
            uint32_t w[4];
            float z0, z1;
            sf_rng_block(wkey, lattice_ctr(0, s, k), w);
            sf__normal2f(w[0], w[1], &z0, &z1);
            t->v[2 * k] = z0 * (float)wsig[s];     /* x displacement, px */
            t->v[2 * k + 1] = z1 * (float)wsig[s]; /* y displacement, px */
        }
    }

    const int nv = Lp / 8; /* 8-float vectors per lattice node */
    acc = aligned_alloc(32, (size_t)Lp * sizeof *acc);
    if (!acc) goto out;
    const float xmax = (float)(nx - 1), ymax = (float)(ny - 1);
    for (int y = 0; y < ny; y++) {
        uint16_t *lrow = labels + (size_t)y * (size_t)nx;
        for (int x = 0; x < nx; x++) {
            /* Displacement u(x, y): sum over the warp scales. */
            float ux = 0.0f, uy = 0.0f;
            for (int s = 0; s < n_ws; s++) {
                const lattice *t = &wf[s];
                float fx, fy;
                int ix = cell((float)x * t->sx, t->gx, &fx);
                int iy = cell((float)y * t->sy, t->gy, &fy);
                const float *p0 = t->v + 2 * ((size_t)iy * t->gx + ix);
                const float *p1 = p0 + 2 * (size_t)t->gx;
                float w00 = (1.0f - fx) * (1.0f - fy), w01 = fx * (1.0f - fy);
                float w10 = (1.0f - fx) * fy, w11 = fx * fy;
                ux += w00 * p0[0] + w01 * p0[2] + w10 * p1[0] + w11 * p1[2];
                uy += w00 * p0[1] + w01 * p0[3] + w10 * p1[1] + w11 * p1[3];
            }
            /* Sample position, clamped at the edges. */
            float px = (float)x + ux, py = (float)y + uy;
            px = px > 0.0f ? (px < xmax ? px : xmax) : 0.0f;
            py = py > 0.0f ? (py < ymax ? py : ymax) : 0.0f;

            for (int k = 0; k < nv; k++) acc[k] = (v8f){0};
            for (int s = 0; s < n_ls; s++) {
                const lattice *t = &lf[s];
                float fx, fy;
                int ix = cell(px * t->sx, t->gx, &fx);
                int iy = cell(py * t->sy, t->gy, &fy);
                const v8f *a =
                    (const v8f *)t->v + ((size_t)iy * t->gx + ix) * (size_t)nv;
                const v8f *b = a + nv;
                const v8f *cc = a + (size_t)t->gx * (size_t)nv;
                const v8f *dd = cc + nv;
                float w00 = (1.0f - fx) * (1.0f - fy), w01 = fx * (1.0f - fy);
                float w10 = (1.0f - fx) * fy, w11 = fx * fy;
                /* Lane-wise, in a fixed order: same bits as scalar code. */
                for (int k = 0; k < nv; k++)
                    acc[k] += w00 * a[k] + w01 * b[k] + w10 * cc[k] +
                              w11 * dd[k];
            }
            /* First maximum wins ties. */
            const float *af = (const float *)acc;
            int best = 0;
            float bv = af[0];
            for (int l = 1; l < L; l++) {
                if (af[l] > bv) {
                    bv = af[l];
                    best = l;
                }
            }
            lrow[x] = (uint16_t)(best + 1);
        }
    }

    if (json) {
        json_key(json, "label_sigma");
        sf__buf_puts(json, "[");
        for (int s = 0; s < n_ls; s++) {
            if (s) sf__buf_puts(json, ",");
            sf__json_num(json, lsig[s]);
        }
        sf__buf_puts(json, "]");
        json_key(json, "warp_sigma_px");
        sf__buf_puts(json, "[");
        for (int s = 0; s < n_ws; s++) {
            if (s) sf__buf_puts(json, ",");
            sf__json_num(json, wsig[s]);
        }
        sf__buf_puts(json, "]");
    }
    rc = SF_OK;

out:
    for (int s = 0; s < MAX_SCALES; s++) {
        free(lf[s].v);
        free(wf[s].v);
    }
    free(acc);
    return rc;
}
