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
 * Lattices. A field at scale s (a fraction of the image resolution, as in
 * draw_perlin) is a lattice of nodes spaced 1/s px, node k at pixel k/s
 * (so about N*s cells span N pixels; the last node lies at or beyond pixel
 * N-1), upsampled linearly. When the spacings are whole multiples of the
 * finest one (the defaults: 1/32 and 1/64; 1/16, 1/32 and 1/64) every
 * coarse cell is a union of fine cells, so the sum of the upsampled scales
 * is itself the bilinear interpolant of one lattice at the finest spacing
 * whose nodes hold that sum: we build that lattice once (exact up to float
 * rounding) and interpolate one lattice per pixel instead of one per
 * scale. Spacings that do not nest keep one lattice per scale.
 *
 * Performance. Upsampled fields are never stored: a pixel evaluates the
 * lattice directly by bilinear interpolation at its displaced position,
 * with one cell index and one set of weights for all labels; the node
 * values of all labels are interleaved, (gy, gx, L), so the per-label loop
 * is contiguous 4-wide vector code. Most pixels skip even that: when the
 * undisplaced map (cheap: fields are linear along a row inside a cell)
 * has one winner on all four pixels around the displaced position, that
 * winner is exact there (see sf__boundary_label_map). Erosion of all
 * clusters at once is a capped city-block distance transform (two raster
 * passes), which equals sf__erode_label applied per label.
 */
#include "sf_int.h"

#include <stdlib.h>
#include <string.h>

enum {
    MAX_SCALES = 4, /* sf_config holds at most 4 scales per field */
    MAX_ERODE = 254 /* erosion steps are capped (uint8 distances) */
};

/* 4 floats, operated on lane by lane (GCC/Clang vector extension; SSE2 on
 * x86-64, NEON on arm64). Lane-wise IEEE operations in a fixed order give
 * the same bits as scalar code, on any target. */
typedef float v4f __attribute__((vector_size(16)));

/* Index of the first maximum of v[0..n-1] (n >= 1, no NaNs): the largest
 * value by four independent max chains (not one long dependency chain),
 * then the first index that holds it. */
static inline int argmax(const float *v, int n) {
    float m0 = v[0], m1 = v[0], m2 = v[0], m3 = v[0];
    int l = 0;
    for (; l + 3 < n; l += 4) {
        m0 = v[l] > m0 ? v[l] : m0;
        m1 = v[l + 1] > m1 ? v[l + 1] : m1;
        m2 = v[l + 2] > m2 ? v[l + 2] : m2;
        m3 = v[l + 3] > m3 ? v[l + 3] : m3;
    }
    for (; l < n; l++) m0 = v[l] > m0 ? v[l] : m0;
    m0 = m1 > m0 ? m1 : m0;
    m2 = m3 > m2 ? m3 : m2;
    m0 = m2 > m0 ? m2 : m0;
    l = 0;
    while (v[l] != m0) l++;
    return l;
}

/* Node values of a field: (gy, gx, stride) floats, 16-byte aligned (the
 * label lattice is read as v4f). */
typedef struct lattice {
    int gx, gy, stride;
    float s;  /* scale: pixel x is lattice coordinate x * s */
    float *v;
} lattice;

/* Nodes per axis so that node g-1 lies at or beyond pixel n-1. */
static int lattice_nodes(int n, double scale) {
    double g = floor((double)(n - 1) * scale) + 2.0;
    return g > 2.0 ? (g < 65536.0 ? (int)g : 65536) : 2;
}

static int lattice_alloc(lattice *t, int nx, int ny, double scale,
                         int stride) {
    t->gx = lattice_nodes(nx, scale);
    t->gy = lattice_nodes(ny, scale);
    t->stride = stride;
    t->s = scale > 0.0 ? (float)scale : 0.0f;
    size_t bytes = (size_t)t->gx * (size_t)t->gy * (size_t)stride *
                   sizeof *t->v;
    bytes = (bytes + 15) & ~(size_t)15;
    if (!(t->v = aligned_alloc(16, bytes))) return SF_ENOMEM;
    memset(t->v, 0, bytes);
    return SF_OK;
}

/* Cell index of lattice coordinate c (clamped into [0, g-1]) and the
 * weight of the cell's far node. */
static inline int cell(float c, int g, float *f) {
    float cmax = (float)(g - 1);
    c = c > 0.0f ? (c < cmax ? c : cmax) : 0.0f;
    int i = (int)c;
    if (i > g - 2) i = g - 2;
    *f = c - (float)i;
    return i;
}

/* Add lattice c, linearly interpolated at the nodes of f, into f (all
 * channels). Exact when c's spacing is a multiple of f's. */
static void lattice_add(lattice *f, const lattice *c) {
    float r = f->s > 0.0f ? c->s / f->s : 0.0f;
    size_t st = (size_t)c->stride;
    for (int j = 0; j < f->gy; j++) {
        float fy;
        int iy = cell((float)j * r, c->gy, &fy);
        for (int i = 0; i < f->gx; i++) {
            float fx;
            int ix = cell((float)i * r, c->gx, &fx);
            float w00 = (1.0f - fx) * (1.0f - fy), w01 = fx * (1.0f - fy);
            float w10 = (1.0f - fx) * fy, w11 = fx * fy;
            const float *p0 = c->v + ((size_t)iy * c->gx + ix) * st;
            const float *p1 = p0 + (size_t)c->gx * st;
            float *o = f->v + ((size_t)j * f->gx + i) * (size_t)f->stride;
            for (size_t ch = 0; ch < st; ch++)
                o[ch] += w00 * p0[ch] + w01 * p0[ch + st] + w10 * p1[ch] +
                         w11 * p1[ch + st];
        }
    }
}

/* ------------------------------------------------------------------ JSON */

/* Members are appended to an object body that may already hold some. */
static void json_key(sf_buf *b, const char *key) {
    if (b->len && b->s[b->len - 1] != '{' && b->s[b->len - 1] != ',')
        sf__buf_puts(b, ",");
    sf__json_str(b, key);
    sf__buf_puts(b, ":");
}

static void json_member(sf_buf *b, const char *key, double v) {
    json_key(b, key);
    sf__json_num(b, v);
}

static void json_array(sf_buf *b, const char *key, const double *v, int n) {
    json_key(b, key);
    sf__buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        if (i) sf__buf_puts(b, ",");
        sf__json_num(b, v[i]);
    }
    sf__buf_puts(b, "]");
}

/* ------------------------------------------------------------- label map */

/* Counter of lattice node `node` of scale `s`: the label fields use
 * label1 = label + 1, the displacement label1 = 0 (its two components are
 * the two normals of one Philox block). Unique while node < 2^32, s < 256
 * and label1 < 2^24. */
static uint64_t lattice_ctr(uint64_t label1, int s, size_t node) {
    return (label1 << 40) | ((uint64_t)s << 32) | (uint64_t)node;
}

/* A field: the sum of its scales' upsampled lattices, held as one merged
 * lattice when the scales nest, else one lattice per scale. */
typedef struct field {
    int n;
    lattice lat[MAX_SCALES];
} field;

static void field_release(field *f) {
    for (int k = 0; k < MAX_SCALES; k++) free(f->lat[k].v);
}

/* Every spacing 1/scales[s] a whole multiple of the finest one? */
static int scales_nest(const double *scales, int n, int fine) {
    for (int s = 0; s < n; s++) {
        if (!(scales[s] > 0.0)) return 0;
        double r = scales[fine] / scales[s];
        if (fabs(r - nearbyint(r)) > 1e-9 * r) return 0;
    }
    return 1;
}

/* Build field f from `n` scales: channel ch of node k at scale s is
 * std[s] times a normal from counter lattice_ctr(ch + 1, s, k) on `key`
 * (`used` channels of `stride`). For the displacement (warp != 0) one
 * block at lattice_ctr(0, s, k) gives both channels. No scales: one
 * all-zero lattice. */
static int build_field(field *f, int nx, int ny, const double *scales,
                       const double *std, int n, int stride, int used,
                       sf_rng_key key, int warp) {
    lattice tmp = {0};
    int rc = SF_OK, fine = 0;
    for (int s = 1; s < n; s++)
        if (scales[s] > scales[fine]) fine = s;
    const int merge = n <= 1 || scales_nest(scales, n, fine);
    f->n = merge ? 1 : n;
    if (merge && (rc = lattice_alloc(&f->lat[0], nx, ny,
                                     n ? scales[fine] : 0.0, stride)))
        goto out;
    for (int s = 0; s < n; s++) {
        lattice *t = merge ? (s == fine ? &f->lat[0] : &tmp) : &f->lat[s];
        if (t != &f->lat[0] || !merge)
            if ((rc = lattice_alloc(t, nx, ny, scales[s], stride))) goto out;
        size_t nodes = (size_t)t->gx * (size_t)t->gy;
        float sd = (float)std[s];
        for (size_t k = 0; k < nodes; k++) {
            float *o = t->v + k * (size_t)stride;
            uint32_t w[4];
            float z0, z1;
            if (warp) {
                sf_rng_block(key, lattice_ctr(0, s, k), w);
                sf__normal2f(w[0], w[1], &z0, &z1);
                o[0] += z0 * sd; /* x displacement, px */
                o[1] += z1 * sd; /* y displacement, px */
                continue;
            }
            for (int ch = 0; ch < used; ch++) {
                sf_rng_block(key, lattice_ctr((uint64_t)ch + 1, s, k), w);
                sf__normal2f(w[0], w[1], &z0, &z1);
                o[ch] += z0 * sd;
            }
        }
        if (t == &tmp) {
            lattice_add(&f->lat[0], &tmp);
            free(tmp.v);
            tmp.v = NULL;
        }
    }
out:
    free(tmp.v);
    return rc;
}

/* Label (0-based) at position (px, py), pixels: every field by bilinear
 * interpolation of each lattice, label lanes interleaved (nv vectors per
 * node), first maximum wins. acc: nv vectors of scratch; bias: 0 in label
 * lanes, -inf in padding lanes. */
static int exact_label(const field *f, int nv, int L, const v4f *bias,
                       v4f *acc, float px, float py) {
    for (int k = 0; k < nv; k++) acc[k] = bias[k];
    for (int q = 0; q < f->n; q++) {
        const lattice *t = &f->lat[q];
        float gx, gy;
        int ix = cell(px * t->s, t->gx, &gx);
        int iy = cell(py * t->s, t->gy, &gy);
        float v00 = (1.0f - gx) * (1.0f - gy), v01 = gx * (1.0f - gy);
        float v10 = (1.0f - gx) * gy, v11 = gx * gy;
        const size_t row = (size_t)t->gx * (size_t)nv;
        const v4f *a = (const v4f *)t->v + (size_t)iy * row + (size_t)ix * nv;
        const v4f *b = a + nv, *c = a + row, *d = c + nv;
        for (int k = 0; k < nv; k++)
            acc[k] += v00 * a[k] + v01 * b[k] + v10 * c[k] + v11 * d[k];
    }
    return argmax((const float *)acc, L);
}

/*
 * The undisplaced map at integer pixels, m0 = 1 + argmax, row by row. On
 * a row, inside one lattice cell, every field is linear in the cell
 * coordinate t: A + B t. The winner at the first pixel of the segment
 * holds until the first label with a steeper slope overtakes it (the
 * smallest crossing time wins, the steeper label on a tie), so a segment
 * costs O(L) per change of winner instead of O(L) per pixel. m0 serves
 * only to recognise pixels deep inside a region (see the main loop), so
 * float rounding at exact ties does not matter here.
 * lix/lfx: lattice cell and coordinate per column; R: 2 * gx * stride.
 */
static void undisplaced_map(const lattice *lf, int L, int nx, int ny,
                            const int *lix, const float *lfx, float *R,
                            uint16_t *m0) {
    const size_t st = (size_t)lf->stride;
    float *B = R + (size_t)lf->gx * st; /* slopes of the current cell */
    for (int y = 0; y < ny; y++) {
        float fy;
        int iy = cell((float)y * lf->s, lf->gy, &fy);
        const float *v0 = lf->v + (size_t)iy * lf->gx * st;
        const float *v1 = v0 + (size_t)lf->gx * st;
        for (size_t k = 0; k < (size_t)lf->gx * st; k++)
            R[k] = (1.0f - fy) * v0[k] + fy * v1[k];
        uint16_t *row = m0 + (size_t)y * (size_t)nx;
        int x = 0;
        while (x < nx) {
            const int i = lix[x];
            const float *A = R + (size_t)i * st, *A1 = A + st;
            for (int l = 0; l < L; l++) B[l] = A1[l] - A[l];
            int w = 0;
            float bv = A[0] + B[0] * lfx[x];
            for (int l = 1; l < L; l++) {
                float v = A[l] + B[l] * lfx[x];
                if (v > bv) {
                    bv = v;
                    w = l;
                }
            }
            for (;;) {
                /* First label to overtake w after the current pixel. */
                float tn = INFINITY;
                int wn = -1;
                for (int m = 0; m < L; m++) {
                    float db = B[m] - B[w];
                    if (!(db > 0.0f)) continue;
                    float tc = (A[w] - A[m]) / db;
                    if (wn < 0 || tc < tn || (tc == tn && B[m] > B[wn])) {
                        tn = tc;
                        wn = m;
                    }
                }
                while (x < nx && lix[x] == i && lfx[x] < tn)
                    row[x++] = (uint16_t)(w + 1);
                if (x >= nx || lix[x] != i) break;
                w = wn; /* pixels remain, so some label overtook w */
            }
        }
    }
}

/*
 * SynthMorph label map: labels (nx * ny) get 1 + argmax over n_labels
 * fields sampled at x + u(x). Draws from d: one std per label scale, then
 * one per warp scale (appended to json as "label_sigma" and
 * "warp_sigma_px" when json is non-NULL). Lattice values come from fkey
 * (counter (label + 1) << 40 | scale << 32 | node) and wkey (counter
 * scale << 32 | node, words 0-1 -> x, y). Returns SF_OK, SF_EINVAL (bad
 * sizes, n_labels or scale counts) or SF_ENOMEM.
 */
int sf__boundary_label_map(const sf_config *c, sf_draw *d, sf_rng_key fkey,
                           sf_rng_key wkey, int n_labels, uint16_t *labels,
                           int nx, int ny, sf_buf *json) {
    const int n_ls = c->boundary.n_label_scales;
    const int n_ws = c->boundary.n_warp_scales;
    field lf = {0}, wf = {0};
    double lsig[MAX_SCALES], wsig[MAX_SCALES];
    int *wix = NULL, *lix = NULL;
    float *wfx = NULL, *wrow = NULL, *urow = NULL, *lfx = NULL, *R = NULL;
    v4f *acc = NULL;
    uint8_t *inner = NULL;
    uint16_t *m0 = NULL;
    int rc = SF_EINVAL;

    if (n_labels < 1 || n_labels > 65535 || nx <= 0 || ny <= 0 ||
        n_ls < 1 || n_ls > MAX_SCALES || n_ws < 0 || n_ws > MAX_SCALES)
        goto out;

    /* One std per scale, shared by the fields of all labels, as in
     * neurite's draw_perlin: all labels are then identically distributed
     * and each keeps its share of the image. Warp stds are pixels at 1024
     * px and scale with the image. */
    const double px_scale = (double)(nx > ny ? nx : ny) / 1024.0;
    for (int s = 0; s < n_ls; s++)
        lsig[s] = sf__draw_range(d, c->boundary.label_sigma);
    for (int s = 0; s < n_ws; s++)
        wsig[s] = sf__draw_range(d, c->boundary.warp_sigma_px) * px_scale;

    /* Labels padded to whole vectors. */
    const int L = n_labels, nv = (n_labels + 3) / 4, Lp = 4 * nv;
    if ((rc = build_field(&lf, nx, ny, c->boundary.label_scales, lsig, n_ls,
                          Lp, L, fkey, 0)) ||
        (rc = build_field(&wf, nx, ny, c->boundary.warp_scales, wsig, n_ws,
                          2, 2, wkey, 1)))
        goto out;

    rc = SF_ENOMEM;
    const size_t n = (size_t)nx * (size_t)ny;
    const lattice *l0 = &lf.lat[0];
    int wgx = 2; /* widest warp lattice */
    for (int q = 0; q < wf.n; q++)
        if (wf.lat[q].gx > wgx) wgx = wf.lat[q].gx;
    wix = malloc((size_t)wf.n * (size_t)nx * sizeof *wix);
    wfx = malloc((size_t)wf.n * (size_t)nx * sizeof *wfx);
    wrow = malloc(2 * (size_t)wgx * sizeof *wrow);
    urow = malloc(2 * (size_t)nx * sizeof *urow);
    acc = malloc(2 * (size_t)nv * sizeof *acc);
    if (!wix || !wfx || !wrow || !urow || !acc) goto out;
    v4f *bias = acc + nv;
    for (int l = 0; l < Lp; l++) ((float *)bias)[l] = l < L ? 0.0f : -INFINITY;
    /* Displacement cells per column (the same for every row). */
    for (int q = 0; q < wf.n; q++)
        for (int x = 0; x < nx; x++)
            wix[q * nx + x] =
                cell((float)x * wf.lat[q].s, wf.lat[q].gx, &wfx[q * nx + x]);

    /* The shortcut below needs one label lattice and 2 x 2 pixels. */
    const int shortcut = lf.n == 1 && nx >= 2 && ny >= 2;
    if (shortcut) {
        lix = malloc((size_t)nx * sizeof *lix);
        lfx = malloc((size_t)nx * sizeof *lfx);
        inner = malloc((size_t)nx + (size_t)ny);
        R = malloc(2 * (size_t)l0->gx * (size_t)Lp * sizeof *R);
        m0 = malloc(n * sizeof *m0);
        if (!lix || !lfx || !inner || !R || !m0) goto out;
        for (int x = 0; x < nx; x++)
            lix[x] = cell((float)x * l0->s, l0->gx, &lfx[x]);
        /* Unit squares [x, x+1] x [y, y+1] inside one lattice cell (no
         * node line strictly inside): inner[x] for columns, inner[nx + y]
         * for rows. With the default scales node lines fall on whole
         * pixels, so every square qualifies. */
        for (int k = 0; k < nx + ny; k++) {
            int q = k < nx ? k : k - nx;
            double node = floor((double)q * l0->s) + 1.0;
            inner[k] = !(node < (double)(q + 1) * l0->s);
        }
        undisplaced_map(l0, L, nx, ny, lix, lfx, R, m0);
    }

    /*
     * Every pixel samples the fields at p = x + u(x). Where the four
     * pixels around p share the winner w of the undisplaced map and their
     * unit square lies in one lattice cell, w wins at p as well: there
     * each difference F_w - F_m is bilinear on the square, so its value at
     * p is a convex combination of its (non-negative) corner values. Only
     * the other pixels, near region boundaries, evaluate every field.
     */
    const float xmax = (float)(nx - 1), ymax = (float)(ny - 1);
    for (int y = 0; y < ny; y++) {
        uint16_t *out_row = labels + (size_t)y * (size_t)nx;
        /* Displacement u(x, y) of the whole row, px: per warp lattice,
         * interpolate its two node rows at y, then along x. */
        for (int x = 0; x < nx; x++) urow[2 * x] = urow[2 * x + 1] = 0.0f;
        for (int q = 0; q < wf.n; q++) {
            const lattice *t = &wf.lat[q];
            float fy;
            int iy = cell((float)y * t->s, t->gy, &fy);
            const float *v0 = t->v + 2 * (size_t)iy * (size_t)t->gx;
            const float *v1 = v0 + 2 * (size_t)t->gx;
            for (int k = 0; k < 2 * t->gx; k++)
                wrow[k] = (1.0f - fy) * v0[k] + fy * v1[k];
            const int *ix = wix + (size_t)q * nx;
            const float *fx = wfx + (size_t)q * nx;
            for (int x = 0; x < nx; x++) {
                const float *a = wrow + 2 * ix[x];
                urow[2 * x] += (1.0f - fx[x]) * a[0] + fx[x] * a[2];
                urow[2 * x + 1] += (1.0f - fx[x]) * a[1] + fx[x] * a[3];
            }
        }
        for (int x = 0; x < nx; x++) {
            float ux = urow[2 * x], uy = urow[2 * x + 1];
            float px = (float)x + ux, py = (float)y + uy;
            px = px > 0.0f ? (px < xmax ? px : xmax) : 0.0f;
            py = py > 0.0f ? (py < ymax ? py : ymax) : 0.0f;

            if (shortcut) {
                int i = (int)px, j = (int)py;
                i = i < nx - 2 ? i : nx - 2;
                j = j < ny - 2 ? j : ny - 2;
                const uint16_t *q = m0 + (size_t)j * (size_t)nx + i;
                uint16_t w = q[0];
                if (inner[i] && inner[nx + j] && q[1] == w && q[nx] == w &&
                    q[nx + 1] == w) {
                    out_row[x] = w;
                    continue;
                }
            }
            out_row[x] =
                (uint16_t)(exact_label(&lf, nv, L, bias, acc, px, py) + 1);
        }
    }

    if (json) {
        json_array(json, "label_sigma", lsig, n_ls);
        json_array(json, "warp_sigma_px", wsig, n_ws);
    }
    rc = SF_OK;

out:
    field_release(&lf);
    field_release(&wf);
    free(wix);
    free(wfx);
    free(wrow);
    free(urow);
    free(acc);
    free(lix);
    free(lfx);
    free(inner);
    free(R);
    free(m0);
    return rc;
}

/* --------------------------------------------------------------- erosion */

/*
 * Erode every label l with iters[l] > 0 by iters[l] cross steps at once.
 * Iterated 4-neighbour erosion removes exactly the pixels within city-block
 * distance iters[l] of a pixel of another value (image borders do not
 * erode). For a pixel of label l that distance is 1 + its distance to the
 * nearest pixel of l that has a 4-neighbour of another value, and no
 * "boundary pixel" of another label lies nearer (reaching it crosses l's
 * own boundary first). So one capped distance transform to all boundary
 * pixels, whatever their label, serves every label: pixel i of label l is
 * eroded iff dist[i] < iters[l]. Two raster passes give the exact
 * city-block distance. dist: nx*ny bytes of scratch.
 */
static void erode_all(uint16_t *labels, int nx, int ny, const int *iters,
                      int kmax, uint8_t *dist) {
    const size_t w = (size_t)nx;
    const unsigned cap = (unsigned)kmax;
    /* 0 on pixels with a 4-neighbour of another value, else the cap. */
    for (int y = 0; y < ny; y++) {
        const uint16_t *r = labels + (size_t)y * w;
        const uint16_t *up = y > 0 ? r - w : r, *dn = y + 1 < ny ? r + w : r;
        uint8_t *dr = dist + (size_t)y * w;
        for (int x = 0; x < nx; x++) {
            uint16_t v = r[x];
            uint16_t lt = x > 0 ? r[x - 1] : v, rt = x + 1 < nx ? r[x + 1] : v;
            int edge = (v != lt) | (v != rt) | (v != up[x]) | (v != dn[x]);
            dr[x] = (uint8_t)(edge ? 0u : cap);
        }
    }
    if (kmax > 1) {
        /* City-block distance, capped: forward (left, up), backward (right,
         * down). Values stay <= cap <= 254, so +1 cannot wrap. */
        for (int y = 0; y < ny; y++) {
            uint8_t *dr = dist + (size_t)y * w;
            const uint8_t *up = y > 0 ? dr - w : dr;
            unsigned left = cap;
            for (int x = 0; x < nx; x++) {
                unsigned d = dr[x], a = left + 1u, b = up[x] + 1u;
                d = a < d ? a : d;
                d = b < d ? b : d;
                dr[x] = (uint8_t)d;
                left = d;
            }
        }
        for (int y = ny - 1; y >= 0; y--) {
            uint8_t *dr = dist + (size_t)y * w;
            const uint8_t *dn = y + 1 < ny ? dr + w : dr;
            unsigned right = cap;
            for (int x = nx - 1; x >= 0; x--) {
                unsigned d = dr[x], a = right + 1u, b = dn[x] + 1u;
                d = a < d ? a : d;
                d = b < d ? b : d;
                dr[x] = (uint8_t)d;
                right = d;
            }
        }
    }
    /* iters[0] = 0: background never erodes. */
    const size_t n = w * (size_t)ny;
    for (size_t i = 0; i < n; i++)
        labels[i] = dist[i] < iters[labels[i]] ? 0 : labels[i];
}

/* ---------------------------------------------------------------- module */

static int oom(sf_err *err) {
    return sf_err_set(err, SF_ENOMEM, "boundary: out of memory");
}

/*
 * One sample: im (nx, ny, px allocated by the caller) gets the image before
 * noise and blur, labels (nx * ny) the instances 1..*n_instances (0 =
 * background), json the drawn parameters as object members, in draw order:
 *   "n_labels", "label_sigma":[per label scale], "warp_sigma_px":[per warp
 *   scale, px at this size], "erode_fraction", "eroded":[[label,steps],..],
 *   "canvas_a", "canvas_b", "outlier_fraction", "canvas_mean" (over the
 *   foreground), "shift" (signed, as applied), "background_level".
 * Scalar draws come from stream SF_STREAM_BOUNDARY, lattices from
 * SF_STREAM_BOUNDARY_FIELD / _WARP, canvas pixels from _CANVAS. Returns
 * SF_OK, SF_ENOMEM, SF_EINVAL (bad n_labels or scales) or SF_ERANGE (more
 * than 65535 instances); err says which. Reentrant.
 */
int sf__boundary_generate(const sf_config *c, uint64_t seed, uint64_t index,
                          sf_imgf *im, uint16_t *labels, int *n_instances,
                          sf_buf *json, sf_err *err) {
    const int nx = im->nx, ny = im->ny;
    const size_t n = (size_t)nx * (size_t)ny;
    int rc = SF_OK, *iters = NULL;
    uint8_t *dist = NULL;
    sf_draw d;
    sf_buf local = {0};
    sf_buf *js = json ? json : &local; /* always record; drop if no json */

    *n_instances = 0;
    sf__draw_init(&d, seed, index, SF_STREAM_BOUNDARY);
    int n_labels = sf__draw_irange(&d, c->boundary.n_labels);
    if (n_labels < 1 || n_labels > 65535) {
        rc = sf_err_set(err, SF_EINVAL, "boundary: n_labels %d out of range",
                        n_labels);
        goto out;
    }
    json_member(js, "n_labels", n_labels);

    /* 1. Label map. */
    rc = sf__boundary_label_map(
        c, &d, sf_rng_key_make(seed, index, SF_STREAM_BOUNDARY_FIELD),
        sf_rng_key_make(seed, index, SF_STREAM_BOUNDARY_WARP), n_labels,
        labels, nx, ny, js);
    if (rc) {
        sf_err_set(err, rc, "boundary: label map: %s", sf_strerror(rc));
        goto out;
    }

    /* 2. Erode a random subset of the clusters: each with probability f,
     * by a random number of steps. */
    iters = calloc((size_t)n_labels + 1, sizeof *iters);
    if (!iters) {
        rc = oom(err);
        goto out;
    }
    double f = sf__draw_range(&d, c->boundary.erode_fraction);
    json_member(js, "erode_fraction", f);
    json_key(js, "eroded");
    sf__buf_puts(js, "[");
    int kmax = 0, first = 1;
    for (int l = 1; l <= n_labels; l++) {
        if (!sf__draw_bernoulli(&d, f)) continue;
        int steps = sf__draw_irange(&d, c->boundary.erode_iterations);
        steps = steps < 0 ? 0 : (steps > MAX_ERODE ? MAX_ERODE : steps);
        iters[l] = steps;
        kmax = steps > kmax ? steps : kmax;
        sf__buf_printf(js, "%s[%d,%d]", first ? "" : ",", l, steps);
        first = 0;
    }
    sf__buf_puts(js, "]");
    if (kmax > 0) {
        if (!(dist = malloc(n))) {
            rc = oom(err);
            goto out;
        }
        erode_all(labels, nx, ny, iters, kmax, dist);
    }

    /* 3. Binary mask; instances are its 4-connected components. */
    for (size_t i = 0; i < n; i++) labels[i] = labels[i] != 0;
    int n_inst = sf__relabel_components(labels, nx, ny, c->min_instance_area);
    if (n_inst < 0) {
        rc = sf_err_set(err, n_inst, "boundary: components: %s",
                        sf_strerror(n_inst));
        goto out;
    }
    *n_instances = n_inst;

    /* 4. Canvas: uniform in [a, b], b = a +- w, with a proportion p of
     * outliers uniform in [0, 1]; only the foreground shows it, so only
     * foreground pixels are drawn. One 32-bit word per pixel, four pixels
     * per Philox block (counter = pixel index / 4, word = index % 4): the
     * high 16 bits give a uniform u (the image ends up 8-bit, so 16 bits
     * are plenty), the low 16 bits the outlier decision; the canvas value
     * is a + (b - a) u, or u itself for an outlier (u is independent of
     * the decision). */
    double a = sf__draw_range(&d, c->boundary.canvas_low);
    double w = sf__draw_range(&d, c->boundary.canvas_width);
    int up = sf__draw_bernoulli(&d, 0.5);
    double p = sf__draw_range(&d, c->boundary.outlier_fraction);
    double shift = sf__draw_range(&d, c->boundary.background_shift);
    int shift_up = sf__draw_bernoulli(&d, 0.5);
    a = a < 0.0 ? 0.0 : (a > 1.0 ? 1.0 : a);
    double b = up ? a + w : a - w;
    b = b < 0.0 ? 0.0 : (b > 1.0 ? 1.0 : b);

    sf_rng_key ck = sf_rng_key_make(seed, index, SF_STREAM_BOUNDARY_CANVAS);
    const float fa = (float)a, fspan = (float)(b - a), fp = (float)p;
    const float k16 = 1.0f / 65536.0f;
    float *px = im->px;
    double sum = 0.0;
    size_t n_fg = 0;
    for (size_t i = 0; i < n; i += 4) {
        size_t m = n - i < 4 ? n - i : 4;
        int any = 0;
        for (size_t j = 0; j < m; j++) any |= labels[i + j] != 0;
        if (!any) continue;
        uint32_t r[4];
        sf__rng_block_inline(ck, i / 4, r);
        for (size_t j = 0; j < m; j++) {
            if (!labels[i + j]) continue;
            float u = (float)(r[j] >> 16) * k16;
            float v = (float)(r[j] & 0xFFFFu) * k16 < fp ? u : fa + fspan * u;
            px[i + j] = v;
            sum += v; /* raster order: deterministic */
            n_fg++;
        }
    }
    /* The canvas mean where it shows (the paper averages the canvas); with
     * no foreground at all, the mean of [a, b]. */
    double mean = n_fg ? sum / (double)n_fg : 0.5 * (a + b);

    /* 5. Background: the canvas mean shifted by at least min_contrast, so
     * the foreground mean and the background level differ by at least
     * min_contrast. The sign flips if the first choice leaves [0, 1]; if
     * neither side has room, the level goes to the bound with more room
     * (at least 0.5 from the mean). */
    double mc = c->contrast.min_contrast;
    double mag = shift > mc ? shift : mc;
    double lvl = shift_up ? mean + mag : mean - mag;
    if (lvl < 0.0 || lvl > 1.0) lvl = shift_up ? mean - mag : mean + mag;
    if (lvl < 0.0 || lvl > 1.0) lvl = mean < 0.5 ? 1.0 : 0.0;
    const float flvl = (float)lvl;
    for (size_t i = 0; i < n; i++)
        if (!labels[i]) px[i] = flvl;

    json_member(js, "canvas_a", a);
    json_member(js, "canvas_b", b);
    json_member(js, "outlier_fraction", p);
    json_member(js, "canvas_mean", mean);
    json_member(js, "shift", lvl - mean);
    json_member(js, "background_level", lvl);
    rc = js->oom ? oom(err) : SF_OK;

out:
    free(iters);
    free(dist);
    sf__buf_release(&local);
    return rc;
}
