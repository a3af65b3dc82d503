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
 * draw_perlin) is a lattice of nodes spaced 1/s px, node k at x = k/s, so
 * about N*s cells span the image; it is upsampled linearly. When the
 * spacings are integer multiples of the finest one (the defaults: 1/32 and
 * 1/64; 1/16, 1/32 and 1/64) every coarse cell is a union of fine cells, so
 * the sum of the upsampled scales is itself the bilinear interpolant of one
 * lattice at the finest spacing whose nodes hold that sum. We build that
 * lattice once (exact, up to float rounding) and interpolate one lattice
 * per pixel instead of one per scale. For spacings that do not nest, the
 * coarser scales are resampled onto the finest lattice, a smooth field of
 * the same kind.
 *
 * Performance. Upsampled fields are never stored: a pixel evaluates the
 * lattice directly by bilinear interpolation at its displaced position,
 * with one cell index and one set of weights for all labels; the node
 * values of all labels are interleaved, (gy, gx, L), so the per-label loop
 * is contiguous 4-wide vector code. Erosion of all clusters at once is a
 * capped city-block distance transform (two raster passes), which equals
 * sf__erode_label applied per label.
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

/* Node values of a field: (gy, gx, stride) floats; 16-byte aligned (malloc
 * on glibc), as the label lattice is read as v4f. */
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
    t->v = calloc((size_t)t->gx * (size_t)t->gy * (size_t)stride,
                  sizeof *t->v);
    return t->v ? SF_OK : SF_ENOMEM;
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

/* Build the summed lattice of `n` scales into *out (stride channels, of
 * which `used` are drawn: channel ch of node k at scale s is std[s] times a
 * normal from counter lattice_ctr(label1(ch), s, k)). For the displacement
 * (label1 = 0) one block gives both channels. */
static int build_field(lattice *out, int nx, int ny, const double *scales,
                       const double *std, int n, int stride, int used,
                       sf_rng_key key, int warp) {
    lattice tmp = {0};
    int rc = SF_OK, fine = 0;
    for (int s = 1; s < n; s++)
        if (scales[s] > scales[fine]) fine = s;
    if ((rc = lattice_alloc(out, nx, ny, n ? scales[fine] : 0.0, stride)))
        goto out;
    for (int s = 0; s < n; s++) {
        lattice *t = s == fine ? out : &tmp;
        if (t == &tmp && (rc = lattice_alloc(t, nx, ny, scales[s], stride)))
            goto out;
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
            lattice_add(out, &tmp);
            free(tmp.v);
            tmp.v = NULL;
        }
    }
out:
    free(tmp.v);
    return rc;
}

int sf__boundary_label_map(const sf_config *c, sf_draw *d, sf_rng_key fkey,
                           sf_rng_key wkey, int n_labels, uint16_t *labels,
                           int nx, int ny, sf_buf *json) {
    const int n_ls = c->boundary.n_label_scales;
    const int n_ws = c->boundary.n_warp_scales;
    lattice lf = {0}, wf = {0};
    double lsig[MAX_SCALES], wsig[MAX_SCALES];
    int *wix = NULL;
    float *wfx = NULL;
    v4f *acc = NULL;
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

    /* Displacement cell per column (the same for every row). */
    rc = SF_ENOMEM;
    wix = malloc((size_t)nx * sizeof *wix);
    wfx = malloc((size_t)nx * sizeof *wfx);
    if (!wix || !wfx) goto out;
    for (int x = 0; x < nx; x++) wix[x] = cell((float)x * wf.s, wf.gx, &wfx[x]);

    /* acc: one value per label lane; bias: 0 in label lanes, -inf in the
     * padding lanes, which then never win the argmax. */
    acc = malloc(2 * (size_t)nv * sizeof *acc);
    if (!acc) goto out;
    v4f *bias = acc + nv;
    for (int l = 0; l < Lp; l++) ((float *)bias)[l] = l < L ? 0.0f : -INFINITY;

    const float xmax = (float)(nx - 1), ymax = (float)(ny - 1);
    const size_t lrow = (size_t)lf.gx * (size_t)nv;
    for (int y = 0; y < ny; y++) {
        uint16_t *out_row = labels + (size_t)y * (size_t)nx;
        float wfy;
        int wiy = cell((float)y * wf.s, wf.gy, &wfy);
        const float *wrow = wf.v + 2 * (size_t)wiy * (size_t)wf.gx;
        for (int x = 0; x < nx; x++) {
            /* Displacement u(x, y), px. */
            float fx = wfx[x];
            float w00 = (1.0f - fx) * (1.0f - wfy), w01 = fx * (1.0f - wfy);
            float w10 = (1.0f - fx) * wfy, w11 = fx * wfy;
            const float *p0 = wrow + 2 * (size_t)wix[x];
            const float *p1 = p0 + 2 * (size_t)wf.gx;
            float ux = w00 * p0[0] + w01 * p0[2] + w10 * p1[0] + w11 * p1[2];
            float uy = w00 * p0[1] + w01 * p0[3] + w10 * p1[1] + w11 * p1[3];

            /* All label fields at the displaced position (clamped). */
            float px = (float)x + ux, py = (float)y + uy;
            px = px > 0.0f ? (px < xmax ? px : xmax) : 0.0f;
            py = py > 0.0f ? (py < ymax ? py : ymax) : 0.0f;
            float gx, gy;
            int ix = cell(px * lf.s, lf.gx, &gx);
            int iy = cell(py * lf.s, lf.gy, &gy);
            float v00 = (1.0f - gx) * (1.0f - gy), v01 = gx * (1.0f - gy);
            float v10 = (1.0f - gx) * gy, v11 = gx * gy;
            const v4f *a = (const v4f *)lf.v + (size_t)iy * lrow +
                           (size_t)ix * (size_t)nv;
            const v4f *b = a + nv, *cc = a + lrow, *dd = cc + nv;
            for (int k = 0; k < nv; k++)
                acc[k] = bias[k] + (v00 * a[k] + v01 * b[k] + v10 * cc[k] +
                                    v11 * dd[k]);
            out_row[x] = (uint16_t)(argmax((const float *)acc, L) + 1);
        }
    }

    if (json) {
        json_array(json, "label_sigma", lsig, n_ls);
        json_array(json, "warp_sigma_px", wsig, n_ws);
    }
    rc = SF_OK;

out:
    free(lf.v);
    free(wf.v);
    free(wix);
    free(wfx);
    free(acc);
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
    const size_t n = (size_t)nx * (size_t)ny, w = (size_t)nx;
    const uint8_t cap = (uint8_t)kmax;
    memset(dist, cap, n);
    for (int y = 0; y < ny; y++) {
        const uint16_t *r = labels + (size_t)y * w;
        uint8_t *dr = dist + (size_t)y * w;
        for (int x = 0; x + 1 < nx; x++)
            if (r[x] != r[x + 1]) dr[x] = dr[x + 1] = 0;
        if (y + 1 < ny)
            for (int x = 0; x < nx; x++)
                if (r[x] != r[x + w]) dr[x] = dr[x + w] = 0;
    }
    for (int y = 0; y < ny; y++) { /* forward: left and up */
        uint8_t *dr = dist + (size_t)y * w;
        for (int x = 0; x < nx; x++) {
            unsigned d = dr[x];
            if (x > 0 && dr[x - 1] + 1u < d) d = dr[x - 1] + 1u;
            if (y > 0 && dr[x - w] + 1u < d) d = dr[x - w] + 1u;
            dr[x] = (uint8_t)d;
        }
    }
    for (int y = ny - 1; y >= 0; y--) { /* backward: right and down */
        uint8_t *dr = dist + (size_t)y * w;
        for (int x = nx - 1; x >= 0; x--) {
            unsigned d = dr[x];
            if (x + 1 < nx && dr[x + 1] + 1u < d) d = dr[x + 1] + 1u;
            if (y + 1 < ny && dr[x + w] + 1u < d) d = dr[x + w] + 1u;
            dr[x] = (uint8_t)d;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (labels[i] && dist[i] < iters[labels[i]]) labels[i] = 0;
}

/* ---------------------------------------------------------------- module */

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
    rc = SF_ENOMEM;
    iters = calloc((size_t)n_labels + 1, sizeof *iters);
    if (!iters) goto nomem;
    double f = sf__draw_range(&d, c->boundary.erode_fraction);
    json_member(js, "erode_fraction", f);
    json_key(js, "eroded");
    sf__buf_puts(js, "[");
    int kmax = 0, first = 1;
    for (int l = 1; l <= n_labels; l++) {
        if (!sf__draw_bernoulli(&d, f)) continue;
        int k = sf__draw_irange(&d, c->boundary.erode_iterations);
        k = k < 0 ? 0 : (k > MAX_ERODE ? MAX_ERODE : k);
        iters[l] = k;
        kmax = k > kmax ? k : kmax;
        sf__buf_printf(js, "%s[%d,%d]", first ? "" : ",", l, k);
        first = 0;
    }
    sf__buf_puts(js, "]");
    if (kmax > 0) {
        if (!(dist = malloc(n))) goto nomem;
        erode_all(labels, nx, ny, iters, kmax, dist);
    }

    /* 3. Binary mask; instances are its 4-connected components. */
    for (size_t i = 0; i < n; i++) labels[i] = labels[i] != 0;
    int k = sf__relabel_components(labels, nx, ny, c->min_instance_area);
    if (k < 0) {
        rc = sf_err_set(err, k, "boundary: components: %s", sf_strerror(k));
        goto out;
    }
    *n_instances = k;

    /* 4. Canvas: uniform in [a, b], b = a +- w, with a proportion p of
     * outliers uniform in [0, 1]. Two pixels per Philox block (counter =
     * pixel index / 2; words 0-1 for the even pixel, 2-3 for the odd):
     * the first word gives the value, the second the outlier decision. An
     * outlier reuses the first word as a uniform value in [0, 1], which is
     * independent of the decision. */
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
    float *px = im->px;
    double sum = 0.0;
    for (size_t i = 0; i < n; i += 2) {
        uint32_t r[4];
        sf_rng_block(ck, i / 2, r);
        for (size_t j = 0; j < 2 && i + j < n; j++) {
            float u = sf__u01f(r[2 * j]);
            float v = sf__u01f(r[2 * j + 1]) < fp ? u : fa + fspan * u;
            px[i + j] = v;
            sum += v;
        }
    }
    double mean = sum / (double)n;

    /* 5. Background: the canvas mean shifted by at least min_contrast, the
     * sign flipped if the first choice leaves [0, 1]; if neither side has
     * room for the drawn shift, the level goes to the bound with more room
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
    if (js->oom) goto nomem;
    rc = SF_OK;
    goto out;

nomem:
    rc = sf_err_set(err, SF_ENOMEM, "boundary: out of memory");
out:
    free(iters);
    free(dist);
    sf__buf_release(&local);
    return rc;
}
