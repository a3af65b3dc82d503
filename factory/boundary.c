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
 * Performance (about 13 ms per 1024 x 1024 sample on one core, from 35).
 * Upsampled fields are never stored. Each cell of the merged label
 * lattice keeps only its candidates: inside a cell every field is
 * bilinear, so a label that another beats at all four corner nodes never
 * wins there, which leaves 3-6 of 10-15 labels. A row's sample points
 * x + u(x) are taken in runs that share a cell, and every pixel evaluates
 * that cell's candidates exactly (no shortcut that could miss a label),
 * 8 pixels at a time in vector code, each candidate as its difference to
 * the cell's first one. The labels carry their erosion steps (label << 8
 * | steps), so erosion of all clusters at once is a capped city-block
 * distance transform (separable: column passes, then doubling shifts
 * along rows) plus a compare per pixel, and equals sf__erode_label
 * applied per label. The canvas takes its Philox blocks from the shared
 * vector kernel (sf__philox_blocks: the same bits as sf__rng_block_inline,
 * the fallback), and its mean comes from exact integer sums.
 */
#include "sf_int.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#ifdef __AVX2__
#include <immintrin.h>
#endif

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
    for (; l < n; l++)
        m0 = v[l] > m0 ? v[l] : m0;
    m0 = m1 > m0 ? m1 : m0;
    m2 = m3 > m2 ? m3 : m2;
    m0 = m2 > m0 ? m2 : m0;
    l = 0;
    while (v[l] != m0)
        l++;
    return l;
}

/* Node values of a field: (gy, gx, stride) floats, 16-byte aligned (the
 * label lattice is read as v4f). */
typedef struct lattice {
    int gx, gy, stride;
    float s; /* scale: pixel x is lattice coordinate x * s */
    float *v;
} lattice;

/* Nodes per axis so that node g-1 lies at or beyond pixel n-1. */
static int lattice_nodes(int n, double scale) {
    double g = floor((double)(n - 1) * scale) + 2.0;
    return g > 2.0 ? (g < 65536.0 ? (int)g : 65536) : 2;
}

static int lattice_alloc(lattice *t, int nx, int ny, double scale, int stride) {
    t->gx = lattice_nodes(nx, scale);
    t->gy = lattice_nodes(ny, scale);
    t->stride = stride;
    t->s = scale > 0.0 ? (float)scale : 0.0f;
    size_t bytes =
        (size_t)t->gx * (size_t)t->gy * (size_t)stride * sizeof *t->v;
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
        sf_buf_puts(b, ",");
    sf_json_str(b, key);
    sf_buf_puts(b, ":");
}

static void json_member(sf_buf *b, const char *key, double v) {
    json_key(b, key);
    sf_json_num(b, v);
}

static void json_array(sf_buf *b, const char *key, const double *v, int n) {
    json_key(b, key);
    sf_buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        if (i) sf_buf_puts(b, ",");
        sf_json_num(b, v[i]);
    }
    sf_buf_puts(b, "]");
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
    for (int k = 0; k < MAX_SCALES; k++)
        free(f->lat[k].v);
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
    if (merge && (rc = lattice_alloc(&f->lat[0], nx, ny, n ? scales[fine] : 0.0,
                                     stride)))
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
                sf__rng_block_inline(key, lattice_ctr(0, s, k), w);
                sf__normal2f(w[0], w[1], &z0, &z1);
                o[0] += z0 * sd; /* x displacement, px */
                o[1] += z1 * sd; /* y displacement, px */
                continue;
            }
            for (int ch = 0; ch < used; ch++) {
                sf__rng_block_inline(key, lattice_ctr((uint64_t)ch + 1, s, k),
                                     w);
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
 * lanes, -inf in padding lanes. The general path (scales that do not
 * nest); one merged lattice uses the cell candidates below instead. */
static int exact_label(const field *f, int nv, int L, const v4f *bias, v4f *acc,
                       float px, float py) {
    for (int k = 0; k < nv; k++)
        acc[k] = bias[k];
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
 * Candidates of the cells of one merged label lattice. Inside a cell every
 * field is bilinear, so a label that another label beats at all four
 * corner nodes (strictly) is beaten everywhere in the cell and never wins
 * there: only the others, typically 3-6 of 10-15, are evaluated. Per
 * cell, its candidates in label order (so the first maximum is still the
 * first label), each as 5 vectors, every lane alike: the coefficients of
 * its field minus the first candidate's (0 for the first), bilinear in
 * the cell coordinates (x, y): with the difference's corner values a
 * (node 00), b (01, x + 1), c (10, y + 1), d (11), a + x (b - a) +
 * y (c - a) + x y ((d - c) - (b - a)); and the label + 1 or its code (as
 * a float; codes increase with the label and stay below 2^16).
 */
typedef struct cands {
    int *off; /* (cells + 1): first candidate of each cell */
    v4f *v;   /* 5 per candidate */
} cands;

static void cands_release(cands *cd) {
    free(cd->off);
    free(cd->v);
}

/* Does label a beat label b at all four corners p[0..3]? */
static inline int dominates(const float *const p[4], int a, int b) {
    return p[0][a] > p[0][b] && p[1][a] > p[1][b] && p[2][a] > p[2][b] &&
           p[3][a] > p[3][b];
}

static int cands_build(cands *cd, const lattice *t, int L,
                       const uint16_t *code) {
    const size_t st = (size_t)t->stride, gx = (size_t)t->gx;
    const int ncx = t->gx - 1, ncy = t->gy - 1;
    const size_t nc = (size_t)ncx * (size_t)ncy;
    size_t cap = 4 * nc + (size_t)L, len = 0;
    uint16_t *list = malloc(cap * sizeof *list); /* candidates, all cells */
    int *c0 = malloc((size_t)L * sizeof *c0);
    int rc = SF_ENOMEM;
    cd->off = malloc((nc + 1) * sizeof *cd->off);
    if (!list || !c0 || !cd->off) goto out;

    for (int j = 0; j < ncy; j++)
        for (int i = 0; i < ncx; i++) {
            const float *p[4];
            p[0] = t->v + ((size_t)j * gx + (size_t)i) * st;
            p[1] = p[0] + st;
            p[2] = p[0] + gx * st;
            p[3] = p[2] + st;
            int w[4];
            for (int k = 0; k < 4; k++)
                w[k] = argmax(p[k], L);
            /* Not beaten by a corner winner; then not by another such
             * label (enough: whatever beats a label that a corner winner
             * beats is beaten by that winner too). */
            int n0 = 0;
            for (int m = 0; m < L; m++) {
                int out = 0;
                for (int k = 0; k < 4 && !out; k++)
                    out = dominates(p, w[k], m);
                if (!out) c0[n0++] = m;
            }
            if (len + (size_t)n0 > cap) {
                size_t ncap = 2 * cap + (size_t)n0;
                uint16_t *nl = realloc(list, ncap * sizeof *list);
                if (!nl) goto out;
                list = nl;
                cap = ncap;
            }
            cd->off[(size_t)j * (size_t)ncx + (size_t)i] = (int)len;
            for (int a = 0; a < n0; a++) {
                int out = 0;
                for (int b = 0; b < n0 && !out; b++)
                    out = b != a && dominates(p, c0[b], c0[a]);
                if (!out) list[len++] = (uint16_t)c0[a];
            }
        }
    cd->off[nc] = (int)len;

    if (!(cd->v = aligned_alloc(16, 5 * (len ? len : 1) * sizeof *cd->v)))
        goto out;
    for (size_t c = 0; c < nc; c++) {
        const size_t j = c / (size_t)ncx, i = c % (size_t)ncx;
        const float *p00 = t->v + (j * gx + i) * st, *p01 = p00 + st;
        const float *p10 = p00 + gx * st, *p11 = p10 + st;
        const int f = list[cd->off[c]]; /* the cell's first candidate */
        for (int k = cd->off[c]; k < cd->off[c + 1]; k++) {
            const int m = list[k];
            const float e00 = p00[m] - p00[f], e01 = p01[m] - p01[f];
            const float e10 = p10[m] - p10[f], e11 = p11[m] - p11[f];
            const float a = e00, ba = e01 - e00, ca = e10 - e00;
            const float dd = (e11 - e10) - ba;
            const float w = (float)(code ? code[m + 1] : m + 1);
            v4f *o = cd->v + 5 * (size_t)k;
            o[0] = (v4f){a, a, a, a};
            o[1] = (v4f){ba, ba, ba, ba};
            o[2] = (v4f){ca, ca, ca, ca};
            o[3] = (v4f){dd, dd, dd, dd};
            o[4] = (v4f){w, w, w, w};
        }
    }
    rc = SF_OK;
out:
    free(list);
    free(c0);
    return rc;
}

/* Vector helpers. */
typedef int32_t v4i __attribute__((vector_size(16)));
typedef uint16_t v4u16 __attribute__((vector_size(8)));

static inline v4f load4(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The 4-lane helpers serve the paths for machines without AVX2 (the
 * AVX2 paths use 8 lanes): compiled only there, so that no build has
 * unused functions (clang warns about unused static inline ones). */
#ifndef __AVX2__
/* p[0..7] = the lanes of a, then b (values in [0, 65535]). */
static inline void store8u16(uint16_t *p, v4i a, v4i b) {
#ifdef __SSE2__
    /* Signed saturating pack of the values shifted by -32768. */
    const __m128i h = _mm_set1_epi32(32768);
    __m128i q = _mm_packs_epi32(_mm_sub_epi32((__m128i)a, h),
                                _mm_sub_epi32((__m128i)b, h));
    q = _mm_xor_si128(q, _mm_set1_epi16((short)0x8000));
    _mm_storeu_si128((__m128i *)p, q);
#else
    for (int k = 0; k < 4; k++) {
        p[k] = (uint16_t)a[k];
        p[4 + k] = (uint16_t)b[k];
    }
#endif
}

/* Bit k set where lane k of comparison mask m is set. */
static inline unsigned mask4(v4i m) {
#ifdef __SSE2__
    return (unsigned)_mm_movemask_ps((__m128)m);
#else
    return (unsigned)(m[0] & 1) | (unsigned)(m[1] & 2) | (unsigned)(m[2] & 4) |
           (unsigned)(m[3] & 8);
#endif
}
#endif

/* For a 4-bit mask m: the positions of its set bits in lanes 0 .. (the
 * rest 0). */
static const v4i set_bits4[16] = {
    {0, 0, 0, 0}, {0, 0, 0, 0}, {1, 0, 0, 0}, {0, 1, 0, 0},
    {2, 0, 0, 0}, {0, 2, 0, 0}, {1, 2, 0, 0}, {0, 1, 2, 0},
    {3, 0, 0, 0}, {0, 3, 0, 0}, {1, 3, 0, 0}, {0, 1, 3, 0},
    {2, 3, 0, 0}, {0, 2, 3, 0}, {1, 2, 3, 0}, {0, 1, 2, 3},
};

#ifndef __AVX2__
#ifndef __SSE2__
static inline v4f sel4f(v4i m, v4f a, v4f b) {
    return (v4f)(((v4i)a & m) | ((v4i)b & ~m));
}
#endif

/* Lane-wise maximum and minimum (no NaNs): maxps/minps on SSE2, the same
 * lanes by select elsewhere. */
static inline v4f max4f(v4f a, v4f b) {
#ifdef __SSE2__
    return (v4f)_mm_max_ps((__m128)a, (__m128)b); /* a > b ? a : b */
#else
    return sel4f(a > b, a, b);
#endif
}

static inline v4f min4f(v4f a, v4f b) {
#ifdef __SSE2__
    return (v4f)_mm_min_ps((__m128)a, (__m128)b); /* a < b ? a : b */
#else
    return sel4f(a < b, a, b);
#endif
}
#endif /* !__AVX2__ */

/*
 * Labels + 1 of the pixels [x, x1) of a row whose sample points all lie in
 * cell c of the merged lattice, at cell coordinates (fx, fy) (7 readable
 * floats past x1): the first maximum over the cell's candidates, 8 pixels
 * at a time (two independent dependency chains). out gets whole groups of
 * 8 (up to 7 values past x1, which the caller overwrites or ignores).
 */
static void cell_run(const cands *cd, size_t c, int x, int x1, const float *fxa,
                     const float *fya, uint16_t *out) {
    const int nk = cd->off[c + 1] - cd->off[c];
    const v4f *B = cd->v + 5 * (size_t)cd->off[c];
    if (nk == 1) {
        const uint16_t w = (uint16_t)B[4][0];
        for (; x < x1; x++)
            out[x] = w;
        return;
    }
#ifdef __AVX2__
    /* 8 lanes in one vector: the same operations per lane as the two
     * 4-lane chains below */
    for (; x < x1; x += 8) {
        const __m256 g = _mm256_loadu_ps(fxa + x), h = _mm256_loadu_ps(fya + x);
        const __m256 kk = _mm256_mul_ps(g, h);
        __m256 best = _mm256_setzero_ps(), win = _mm256_set1_ps(B[4][0]);
        for (int k = 1; k < nk; k++) {
            const v4f *b = B + 5 * k;
            const __m256 v = _mm256_add_ps(
                _mm256_add_ps(
                    _mm256_add_ps(_mm256_set1_ps(b[0][0]),
                                  _mm256_mul_ps(g, _mm256_set1_ps(b[1][0]))),
                    _mm256_mul_ps(h, _mm256_set1_ps(b[2][0]))),
                _mm256_mul_ps(kk, _mm256_set1_ps(b[3][0])));
            win = _mm256_max_ps(
                win, _mm256_and_ps(_mm256_set1_ps(b[4][0]),
                                   _mm256_cmp_ps(v, best, _CMP_GT_OQ)));
            best = _mm256_max_ps(v, best);
        }
        const __m256i wi = _mm256_cvttps_epi32(win); /* in [0, 65535] */
        _mm_storeu_si128((__m128i *)(out + x),
                         _mm_packus_epi32(_mm256_castsi256_si128(wi),
                                          _mm256_extracti128_si256(wi, 1)));
    }
#else
    for (; x < x1; x += 8) {
        const v4f ga = load4(fxa + x), ha = load4(fya + x), ka = ga * ha;
        const v4f gb = load4(fxa + x + 4), hb = load4(fya + x + 4);
        const v4f kb = gb * hb;
        v4f besta = {0.0f, 0.0f, 0.0f, 0.0f}, bestb = besta;
        v4f wina = B[4], winb = B[4];
        for (int k = 1; k < nk; k++) {
            const v4f *b = B + 5 * k;
            const v4f va = b[0] + ga * b[1] + ha * b[2] + ka * b[3];
            const v4f vb = b[0] + gb * b[1] + hb * b[2] + kb * b[3];
            /* Labels (or codes) increase with k: the winner so far is
             * the largest one that improved on the best. */
            wina = max4f(wina, (v4f)((v4i)b[4] & (va > besta)));
            winb = max4f(winb, (v4f)((v4i)b[4] & (vb > bestb)));
            besta = max4f(va, besta);
            bestb = max4f(vb, bestb);
        }
        store8u16(out + x, __builtin_convertvector(wina, v4i),
                  __builtin_convertvector(winb, v4i));
    }
#endif
}

/*
 * The scalar draws of a label map, from d: one std per label scale, then
 * one per warp scale (appended to json as "label_sigma" and
 * "warp_sigma_px" when json is non-NULL). Returns SF_OK or SF_EINVAL (bad
 * sizes, n_labels or scale counts; nothing drawn).
 */
static int map_draws(const sf_config *c, sf_draw *d, int n_labels, int nx,
                     int ny, double *lsig, double *wsig, sf_buf *json) {
    const int n_ls = c->boundary.n_label_scales;
    const int n_ws = c->boundary.n_warp_scales;
    if (n_labels < 1 || n_labels > 65535 || nx <= 0 || ny <= 0 || n_ls < 1 ||
        n_ls > MAX_SCALES || n_ws < 0 || n_ws > MAX_SCALES)
        return SF_EINVAL;
    /* One std per scale, shared by the fields of all labels, as in
     * neurite's draw_perlin: all labels are then identically distributed
     * and each keeps its share of the image. Warp stds are pixels at 1024
     * px and scale with the image. */
    const double px_scale = (double)(nx > ny ? nx : ny) / 1024.0;
    for (int s = 0; s < n_ls; s++)
        lsig[s] = sf__draw_range(d, c->boundary.label_sigma);
    for (int s = 0; s < n_ws; s++)
        wsig[s] = sf__draw_range(d, c->boundary.warp_sigma_px) * px_scale;
    if (json) {
        json_array(json, "label_sigma", lsig, n_ls);
        json_array(json, "warp_sigma_px", wsig, n_ws);
    }
    return SF_OK;
}

/*
 * Render the label map of map_draws' stds: labels (nx * ny) get 1 +
 * argmax over n_labels fields sampled at x + u(x), or code[1 + argmax]
 * when code (n_labels + 1 values, strictly increasing, below 2^16) is
 * non-NULL. Lattice values come from fkey (counter (label + 1) << 40 |
 * scale << 32 | node) and wkey (counter scale << 32 | node, words 0-1 ->
 * x, y). Returns SF_OK or SF_ENOMEM.
 */
/* Long by design (~235 lines): the boundary module's hot loop nest (most
 * of its time), whose per-row and per-cell state stays in registers;
 * helpers would pass a dozen arrays and lose the vector code's layout. */
static int render_map(const sf_config *c, sf_rng_key fkey, sf_rng_key wkey,
                      int n_labels, const double *lsig, const double *wsig,
                      const uint16_t *code, uint16_t *labels, int nx, int ny) {
    const int n_ls = c->boundary.n_label_scales;
    const int n_ws = c->boundary.n_warp_scales;
    field lf = {0}, wf = {0};
    cands cd = {0};
    int *wix = NULL, *wrun = NULL, *cid = NULL, *run0 = NULL;
    float *wfx = NULL, *wrow = NULL, *ux = NULL, *fxa = NULL;
    v4f *acc = NULL;
    uint16_t *lrow = NULL;
    int rc;

    /* Labels padded to whole vectors. */
    const int L = n_labels, nv = (n_labels + 3) / 4, Lp = 4 * nv;
    if ((rc = build_field(&lf, nx, ny, c->boundary.label_scales, lsig, n_ls, Lp,
                          L, fkey, 0)) ||
        (rc = build_field(&wf, nx, ny, c->boundary.warp_scales, wsig, n_ws, 2,
                          2, wkey, 1)))
        goto out;
    const lattice *l0 = &lf.lat[0];
    /* One merged lattice (and cell ids exact in float): candidates. */
    const int merged =
        lf.n == 1 && (double)(l0->gx - 1) * (double)(l0->gy - 1) < 16777216.0;
    if (merged && (rc = cands_build(&cd, l0, L, code))) goto out;

    rc = SF_ENOMEM;
    int wgx = 2; /* widest warp lattice */
    for (int q = 0; q < wf.n; q++)
        if (wf.lat[q].gx > wgx) wgx = wf.lat[q].gx;
    const size_t wn = (size_t)wf.n * (size_t)nx, nx4 = (size_t)nx + 8;
    wix = malloc(wn * sizeof *wix);
    wfx = calloc(wn + 4, sizeof *wfx); /* 3 readable floats past the end */
    wrun = malloc((wn + (size_t)wf.n) * sizeof *wrun);
    wrow = malloc(2 * (size_t)wgx * sizeof *wrow);
    /* Row buffers, padded for whole quads: u_x, u_y, cell x and y
     * coordinates; cell ids; labels. */
    ux = calloc(4 * nx4, sizeof *ux);
    cid = malloc(nx4 * sizeof *cid);
    run0 = malloc(nx4 * sizeof *run0);
    lrow = malloc(nx4 * sizeof *lrow);
    acc = aligned_alloc(16, 2 * (size_t)nv * sizeof *acc);
    if (!wix || !wfx || !wrun || !wrow || !ux || !cid || !run0 || !lrow || !acc)
        goto out;
    float *uy = ux + nx4;
    fxa = uy + nx4;
    float *fya = fxa + nx4;
    v4f *bias = acc + nv;
    for (int l = 0; l < Lp; l++)
        ((float *)bias)[l] = l < L ? 0.0f : -INFINITY;
    /* Displacement cells per column (the same for every row), and the
     * runs of columns in one cell: wrun[q * (nx + 1) + r], ending at nx. */
    int nwrun[MAX_SCALES];
    for (int q = 0; q < wf.n; q++) {
        int *ix = wix + (size_t)q * nx, *rn = wrun + (size_t)q * (nx + 1);
        float *fx = wfx + (size_t)q * nx;
        nwrun[q] = 0;
        for (int x = 0; x < nx; x++) {
            ix[x] = cell((float)x * wf.lat[q].s, wf.lat[q].gx, &fx[x]);
            if (!x || ix[x] != ix[x - 1]) rn[nwrun[q]++] = x;
        }
        rn[nwrun[q]] = nx;
    }

    /*
     * Every pixel samples the fields at p = x + u(x), clamped to the
     * image. With one merged lattice, a row's pixels are taken in runs
     * whose points p share a lattice cell, and evaluate only that cell's
     * candidates (cell_run); otherwise every label, pixel by pixel.
     */
    const float xmax = (float)(nx - 1), ymax = (float)(ny - 1);
    const float ls = l0->s;
    const float cxm = (float)(l0->gx - 1), cym = (float)(l0->gy - 1);
    const int ncx = l0->gx - 1;
    const float fgx2 = (float)(l0->gx - 2), fgy2 = (float)(l0->gy - 2);
    const float fncx = (float)ncx; /* cell ids exact in float below 2^24 */
    for (int y = 0; y < ny; y++) {
        uint16_t *out_row = labels + (size_t)y * (size_t)nx;
        /* Displacement u(x, y) of the whole row, px: per warp lattice,
         * interpolate its two node rows at y, then along x, one cell (a
         * run of columns with the same two nodes) at a time. */
        for (int q = 0; q < wf.n; q++) {
            const lattice *t = &wf.lat[q];
            float fy;
            int iy = cell((float)y * t->s, t->gy, &fy);
            const float *v0 = t->v + 2 * (size_t)iy * (size_t)t->gx;
            const float *v1 = v0 + 2 * (size_t)t->gx;
            for (int k = 0; k < 2 * t->gx; k++)
                wrow[k] = (1.0f - fy) * v0[k] + fy * v1[k];
            const int *ix = wix + (size_t)q * nx;
            const int *rn = wrun + (size_t)q * (nx + 1);
            const float *fx = wfx + (size_t)q * nx;
            for (int r = 0; r < nwrun[q]; r++) {
                const float *a = wrow + 2 * ix[rn[r]];
                const float ax = a[0], ay = a[1], bx = a[2], by = a[3];
                int x = rn[r];
                if (!q) /* 4 at a time, spilling into the next run */
                    for (; x < rn[r + 1]; x += 4) {
                        const v4f f = load4(fx + x);
                        const v4f vx = (1.0f - f) * ax + f * bx;
                        const v4f vy = (1.0f - f) * ay + f * by;
                        memcpy(ux + x, &vx, sizeof vx);
                        memcpy(uy + x, &vy, sizeof vy);
                    }
                for (; x < rn[r + 1]; x++) {
                    ux[x] += (1.0f - fx[x]) * ax + fx[x] * bx;
                    uy[x] += (1.0f - fx[x]) * ay + fx[x] * by;
                }
            }
        }
        if (!merged) {
            for (int x = 0; x < nx; x++) {
                float px = (float)x + ux[x], py = (float)y + uy[x];
                px = px > 0.0f ? (px < xmax ? px : xmax) : 0.0f;
                py = py > 0.0f ? (py < ymax ? py : ymax) : 0.0f;
                const int l = exact_label(&lf, nv, L, bias, acc, px, py) + 1;
                out_row[x] = code ? code[l] : (uint16_t)l;
            }
            continue;
        }
        /* Sample points, 4 at a time: the arithmetic of cell() on the
         * clamped point, cell id and coordinates. */
        const float fy0 = (float)y;
        int nrun = 0, last = -1; /* ids are >= 0: x = 0 starts a run */
#ifdef __AVX2__
        /* 8 at a time: the same operations per lane as the loop below
         * (the buffers have room for 7 past nx) */
        __m256 X8 =
            _mm256_setr_ps(0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f);
        const __m256 Y8 = _mm256_set1_ps(fy0), z8 = _mm256_setzero_ps();
        const __m256i rot = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
        for (int x = 0; x < nx; x += 8) {
            __m256 px = _mm256_add_ps(X8, _mm256_loadu_ps(ux + x));
            __m256 py = _mm256_add_ps(Y8, _mm256_loadu_ps(uy + x));
            X8 = _mm256_add_ps(X8, _mm256_set1_ps(8.0f));
            px = _mm256_min_ps(_mm256_max_ps(px, z8), _mm256_set1_ps(xmax));
            py = _mm256_min_ps(_mm256_max_ps(py, z8), _mm256_set1_ps(ymax));
            __m256 cx = _mm256_mul_ps(px, _mm256_set1_ps(ls));
            __m256 cy = _mm256_mul_ps(py, _mm256_set1_ps(ls));
            cx = _mm256_min_ps(_mm256_max_ps(cx, z8), _mm256_set1_ps(cxm));
            cy = _mm256_min_ps(_mm256_max_ps(cy, z8), _mm256_set1_ps(cym));
            const __m256 ix =
                _mm256_min_ps(_mm256_cvtepi32_ps(_mm256_cvttps_epi32(cx)),
                              _mm256_set1_ps(fgx2));
            const __m256 iy =
                _mm256_min_ps(_mm256_cvtepi32_ps(_mm256_cvttps_epi32(cy)),
                              _mm256_set1_ps(fgy2));
            const __m256i id = _mm256_cvttps_epi32(
                _mm256_add_ps(_mm256_mul_ps(iy, _mm256_set1_ps(fncx)), ix));
            _mm256_storeu_ps(fxa + x, _mm256_sub_ps(cx, ix));
            _mm256_storeu_ps(fya + x, _mm256_sub_ps(cy, iy));
            _mm256_storeu_si256((__m256i *)(cid + x), id);
            /* Runs start where the id changes. */
            const __m256i prev =
                _mm256_blend_epi32(_mm256_permutevar8x32_epi32(id, rot),
                                   _mm256_set1_epi32(last), 1);
            const unsigned m =
                255u & ~(unsigned)_mm256_movemask_ps(
                           _mm256_castsi256_ps(_mm256_cmpeq_epi32(id, prev)));
            /* the starts, stored whole (run0 has room for 7 past nx): no
             * branch per start */
            const v4i s0 = set_bits4[m & 15u] + x,
                      s1 = set_bits4[m >> 4] + (x + 4);
            memcpy(run0 + nrun, &s0, sizeof s0);
            nrun += __builtin_popcount(m & 15u);
            memcpy(run0 + nrun, &s1, sizeof s1);
            nrun += __builtin_popcount(m >> 4);
            last = _mm256_extract_epi32(id, 7);
        }
#else
        const v4f gx2 = {fgx2, fgx2, fgx2, fgx2},
                  gy2 = {fgy2, fgy2, fgy2, fgy2};
        const v4f zero = {0.0f, 0.0f, 0.0f, 0.0f};
        const v4f Y = {fy0, fy0, fy0, fy0};
        v4f X = {0.0f, 1.0f, 2.0f, 3.0f};
        for (int x = 0; x < nx; x += 4, X += 4.0f) {
            v4f px = X + load4(ux + x), py = Y + load4(uy + x);
            px = min4f(max4f(px, zero), (v4f){xmax, xmax, xmax, xmax});
            py = min4f(max4f(py, zero), (v4f){ymax, ymax, ymax, ymax});
            v4f cx = px * ls, cy = py * ls;
            cx = min4f(max4f(cx, zero), (v4f){cxm, cxm, cxm, cxm});
            cy = min4f(max4f(cy, zero), (v4f){cym, cym, cym, cym});
            /* Whole parts (at most g - 2), in float: exact integers. */
            const v4f ix = min4f(
                __builtin_convertvector(__builtin_convertvector(cx, v4i), v4f),
                gx2);
            const v4f iy = min4f(
                __builtin_convertvector(__builtin_convertvector(cy, v4i), v4f),
                gy2);
            const v4f fx = cx - ix, fy = cy - iy;
            const v4i id = __builtin_convertvector(iy * fncx + ix, v4i);
            memcpy(fxa + x, &fx, sizeof fx);
            memcpy(fya + x, &fy, sizeof fy);
            memcpy(cid + x, &id, sizeof id);
            /* Runs start where the id changes. */
            const v4i prev = {last, id[0], id[1], id[2]};
            const unsigned m = mask4(id != prev);
            /* the starts x + k, for the set bits k of m, stored whole
             * (run0 has room for 3 past nx): no branch per start */
            const v4i st = set_bits4[m] + x;
            memcpy(run0 + nrun, &st, sizeof st);
            nrun += __builtin_popcount(m);
            last = id[3];
        }
#endif
        /* Whole groups of 8 may spill up to 7 labels past a run's end:
         * into the next run or row (rewritten later), or past the image
         * on the last rows (so those go through lrow). */
        uint16_t *dst = (size_t)(ny - 1 - y) * (size_t)nx >= 8 ? out_row : lrow;
        for (int r = 0; r < nrun && run0[r] < nx; r++) {
            const int x0 = run0[r], x1 = r + 1 < nrun ? run0[r + 1] : nx;
            cell_run(&cd, (size_t)cid[x0], x0, x1 < nx ? x1 : nx, fxa, fya,
                     dst);
        }
        if (dst == lrow) memcpy(out_row, lrow, (size_t)nx * sizeof *lrow);
    }

    rc = SF_OK;

out:
    field_release(&lf);
    field_release(&wf);
    cands_release(&cd);
    free(wix);
    free(wfx);
    free(wrun);
    free(wrow);
    free(ux);
    free(cid);
    free(run0);
    free(lrow);
    free(acc);
    return rc;
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
    double lsig[MAX_SCALES], wsig[MAX_SCALES];
    int rc = map_draws(c, d, n_labels, nx, ny, lsig, wsig, json);
    return rc ? rc
              : render_map(c, fkey, wkey, n_labels, lsig, wsig, NULL, labels,
                           nx, ny);
}

/* --------------------------------------------------------------- erosion */

/*
 * Erode every label l with iters[l] > 0 by iters[l] cross steps at once,
 * and reduce the result to the binary foreground (1 = kept). Iterated
 * 4-neighbour erosion removes exactly the pixels within city-block
 * distance iters[l] of a pixel of another value (image borders do not
 * erode). For a pixel of label l that distance is 1 + its distance to the
 * nearest pixel of l that has a 4-neighbour of another value, and no
 * "boundary pixel" of another label lies nearer (reaching it crosses l's
 * own boundary first). So one distance transform to all boundary pixels,
 * whatever their label, serves every label: pixel i of label l is eroded
 * iff dist[i] < iters[l] <= kmax, and distances only matter below kmax.
 * City-block distance is separable: exact 1-D distances down the columns
 * (two raster passes, whole rows at a time), then along each row the
 * minimum of d[x + k] + |k| over |k| < kmax (shifts 1, 2, 4, ... reach
 * every |k| < 2^m at cost |k|). labels: 1..n on entry (no 0), or, when
 * coded, label << 8 | steps (the steps of each pixel at hand: no table
 * lookup per pixel). dist: nx * ny bytes; tmp: 2 * (nx + 128) bytes.
 */
static void erode_all(uint16_t *labels, int nx, int ny, const uint8_t *iters,
                      int coded, int kmax, uint8_t *dist, uint8_t *tmp) {
    const size_t w = (size_t)nx;
    const uint8_t cap = (uint8_t)kmax;
    if (kmax <= 0) {
        for (size_t i = 0; i < w * (size_t)ny; i++)
            labels[i] = 1;
        return;
    }
    /* 0 on pixels with a 4-neighbour of another value, else the cap; then
     * the distance down the columns, from above. */
    for (int y = 0; y < ny; y++) {
        const uint16_t *r = labels + (size_t)y * w;
        const uint16_t *up = y > 0 ? r - w : r, *dn = y + 1 < ny ? r + w : r;
        uint8_t *dr = dist + (size_t)y * w;
        for (int e = 0; e < 2; e++) { /* the two end columns */
            const int x = e ? nx - 1 : 0;
            uint16_t v = r[x];
            uint16_t lt = x > 0 ? r[x - 1] : v, rt = x + 1 < nx ? r[x + 1] : v;
            int edge = (v != lt) | (v != rt) | (v != up[x]) | (v != dn[x]);
            dr[x] = edge ? 0 : cap;
        }
        for (int x = 1; x < nx - 1; x++) {
            uint16_t v = r[x];
            int edge =
                (v != r[x - 1]) | (v != r[x + 1]) | (v != up[x]) | (v != dn[x]);
            dr[x] = edge ? 0 : cap;
        }
        if (y > 0 && kmax > 1) {
            const uint8_t *du = dr - w;
            for (int x = 0; x < nx; x++) {
                uint8_t a = (uint8_t)(du[x] + 1); /* <= 255: no wrap */
                dr[x] = a < dr[x] ? a : dr[x];
            }
        }
    }
    /* Bottom-up: the column distance from below, then along the row, then
     * the binary foreground of the row. */
    const int pad = 64, dbl = kmax <= 2 * pad;
    uint8_t *s0 = tmp + pad, *s1 = tmp + (w + 2 * (size_t)pad) + pad;
    if (dbl)
        for (int k = 0; k < pad; k++)
            s0[-1 - k] = s0[nx + k] = s1[-1 - k] = s1[nx + k] = cap;
    for (int y = ny - 1; y >= 0; y--) {
        uint8_t *dr = dist + (size_t)y * w;
        uint16_t *r = labels + (size_t)y * w;
        if (y + 1 < ny && kmax > 1) {
            const uint8_t *dd = dr + w;
            for (int x = 0; x < nx; x++) {
                uint8_t a = (uint8_t)(dd[x] + 1);
                dr[x] = a < dr[x] ? a : dr[x];
            }
        }
        const uint8_t *h = dr;
        if (kmax > 1 && dbl) {
            /* Values stay below cap + 2 * pad <= 255. */
            uint8_t *src = s0, *dst = s1;
            memcpy(src, dr, w);
            for (int s = 1; s < kmax; s *= 2) {
                for (int x = 0; x < nx; x++) {
                    uint8_t a = (uint8_t)(src[x - s] + s);
                    uint8_t b = (uint8_t)(src[x + s] + s), v = src[x];
                    v = a < v ? a : v;
                    dst[x] = b < v ? b : v;
                }
                uint8_t *t = src;
                src = dst;
                dst = t;
            }
            h = src;
        } else if (kmax > 1) {
            /* Long erosions: exact two-pass distance along the row. */
            unsigned left = cap;
            for (int x = 0; x < nx; x++) {
                unsigned v = dr[x], a = left + 1u;
                left = s0[x] = (uint8_t)(a < v ? a : v);
            }
            unsigned right = cap;
            for (int x = nx - 1; x >= 0; x--) {
                unsigned v = s0[x], a = right + 1u;
                right = s0[x] = (uint8_t)(a < v ? a : v);
            }
            h = s0;
        }
        if (coded)
            for (int x = 0; x < nx; x++)
                r[x] = (uint16_t)(h[x] >= (uint8_t)r[x]);
        else
            for (int x = 0; x < nx; x++)
                r[x] = h[x] >= iters[r[x]];
    }
}

/* ---------------------------------------------------------------- canvas */

/*
 * Canvas values of the m pixels from i (i % 4 == 0; the Philox block of
 * counter c gives pixels 4c..4c+3, one word each) written to px, and
 * added to the sums over those with fg[] != 0: s[0] outlier count, s[1]
 * their u16 sum, s[2] non-outlier count, s[3] their u16 sum. Word r: u16 =
 * r >> 16, the canvas value u16 / 65536 for an outlier (r & 0xFFFF < thr),
 * else fa + fspan * u16 / 65536. The scalar form; the SSE2 form below
 * gives the same bits.
 */
static void canvas_scalar(sf_rng_key k, size_t i, size_t m, const uint16_t *fg,
                          float *px, uint32_t thr, float fa, float fspan,
                          uint64_t s[4]) {
    const float k16 = 1.0f / 65536.0f;
    for (size_t q = 0; q < m; q += 4) {
        uint32_t r[4];
        sf__rng_block_inline(k, (i + q) / 4, r);
        for (size_t j = 0; j < 4 && q + j < m; j++) {
            uint32_t u = r[j] >> 16, out = (r[j] & 0xFFFFu) < thr;
            float uf = (float)u * k16;
            px[q + j] = out ? uf : fa + fspan * uf;
            if (!fg[q + j]) continue;
            s[out ? 0 : 2]++;
            s[out ? 1 : 3] += u;
        }
    }
}

#ifdef __SSE2__
/* canvas_scalar for the 32 pixels of eight Philox blocks w (pixel order:
 * block q's words are pixels 4q..4q+3); counts and u16 sums in 32-bit
 * lanes (each lane takes 8 values per call). */
static inline void canvas32_sse2(const uint32_t *w, const uint16_t *fg,
                                 float *px, __m128i thr, __m128 fa,
                                 __m128 fspan, __m128i *cnt, __m128i *sum) {
    const __m128i lo16 = _mm_set1_epi32(0xFFFF), zero = _mm_setzero_si128();
    const __m128 k16 = _mm_set1_ps(1.0f / 65536.0f);
    for (int q = 0; q < 8; q++) {
        const __m128i wq = _mm_loadu_si128((const __m128i *)(w + 4 * q));
        __m128i u = _mm_srli_epi32(wq, 16);
        __m128i out = _mm_cmplt_epi32(_mm_and_si128(wq, lo16), thr);
        __m128 uf = _mm_mul_ps(_mm_cvtepi32_ps(u), k16);
        __m128 in = _mm_add_ps(fa, _mm_mul_ps(fspan, uf));
        __m128 om = _mm_castsi128_ps(out);
        _mm_storeu_ps(px + 4 * q,
                      _mm_or_ps(_mm_and_ps(om, uf), _mm_andnot_ps(om, in)));
        /* Foreground lanes: 16-bit labels != 0, widened to 32 bits. */
        const __m128i f16 = _mm_loadl_epi64((const __m128i *)(fg + 4 * q));
        const __m128i z = _mm_cmpeq_epi16(f16, zero);
        const __m128i f =
            _mm_andnot_si128(_mm_unpacklo_epi16(z, z), _mm_set1_epi32(-1));
        __m128i fo = _mm_and_si128(f, out), fi = _mm_andnot_si128(out, f);
        cnt[0] = _mm_sub_epi32(cnt[0], fo);
        cnt[1] = _mm_sub_epi32(cnt[1], fi);
        sum[0] = _mm_add_epi32(sum[0], _mm_and_si128(u, fo));
        sum[1] = _mm_add_epi32(sum[1], _mm_and_si128(u, fi));
    }
}

/* 1 when one of the 32 labels from fg is not 0. */
static inline int any32_sse2(const uint16_t *fg) {
    __m128i a = _mm_setzero_si128();
    for (int v = 0; v < 4; v++)
        a = _mm_or_si128(a, _mm_loadu_si128((const __m128i *)(fg + 8 * v)));
    return _mm_movemask_epi8(_mm_cmpeq_epi16(a, _mm_setzero_si128())) != 0xFFFF;
}
#endif

/* The canvas of all foreground pixels (fg[i] != 0), and its sums (see
 * canvas_scalar). Pixels in 32-pixel groups (16 at the end) without
 * foreground are left as they are; others get canvas values, background
 * ones included (the caller overwrites them). With SSE2 the blocks of up
 * to eight groups at a time come from the shared kernel
 * (sf__philox_blocks, 64 blocks per call). */
static void canvas(sf_rng_key k, size_t n, const uint16_t *fg, float *px,
                   uint32_t thr, float fa, float fspan, uint64_t s[4]) {
    size_t i = 0;
    s[0] = s[1] = s[2] = s[3] = 0;
#ifdef __SSE2__
    enum { GROUPS = 8 }; /* groups of 32 pixels (8 blocks) per kernel call */
    const __m128i vthr = _mm_set1_epi32((int)thr);
    const __m128 va = _mm_set1_ps(fa), vspan = _mm_set1_ps(fspan);
    const __m128i zero = _mm_setzero_si128();
    for (; i + 32 <= n;) {
        /* 32-bit lanes: flush every 2^13 groups, before sums could wrap. */
        __m128i cnt[2] = {zero, zero}, sum[2] = {zero, zero};
        size_t end = n - i > ((size_t)1 << 18) ? i + ((size_t)1 << 18) : n;
        while (i + 32 <= end) {
            size_t at[GROUPS];
            uint64_t ctr[8 * GROUPS];
            uint32_t w[32 * GROUPS];
            int ng = 0;
            for (; ng < GROUPS && i + 32 <= end; i += 32) {
                if (!any32_sse2(fg + i)) continue;
                at[ng] = i;
                for (int b = 0; b < 8; b++)
                    ctr[8 * ng + b] = i / 4 + (uint64_t)b;
                ng++;
            }
            sf__philox_blocks(k, 0, ctr, 8 * (size_t)ng, w);
            for (int g = 0; g < ng; g++)
                canvas32_sse2(w + 32 * g, fg + at[g], px + at[g], vthr, va,
                              vspan, cnt, sum);
        }
        uint32_t v[4][4];
        _mm_storeu_si128((__m128i *)v[0], cnt[0]);
        _mm_storeu_si128((__m128i *)v[1], sum[0]);
        _mm_storeu_si128((__m128i *)v[2], cnt[1]);
        _mm_storeu_si128((__m128i *)v[3], sum[1]);
        for (int q = 0; q < 4; q++)
            for (int l = 0; l < 4; l++)
                s[q] += v[q][l];
    }
#endif
    for (; i < n; i += 16) {
        size_t m = n - i < 16 ? n - i : 16;
        int any = 0;
        for (size_t j = 0; j < m; j++)
            any |= fg[i + j] != 0;
        if (any) canvas_scalar(k, i, m, fg + i, px + i, thr, fa, fspan, s);
    }
}

/* px[i] = level where labels[i] == 0 (few pixels): labels are skipped
 * 16 at a time (SSE2) or 4 at a time (a 16-bit lane of w is 0 iff its
 * bit 15 survives the test) while none is 0. */
static void background(const uint16_t *labels, size_t n, float *px,
                       float level) {
    size_t i = 0;
#ifdef __SSE2__
    const __m128i zero = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        const __m128i a = _mm_loadu_si128((const __m128i *)(labels + i));
        const __m128i b = _mm_loadu_si128((const __m128i *)(labels + i + 8));
        const __m128i z =
            _mm_packs_epi16(_mm_cmpeq_epi16(a, zero), _mm_cmpeq_epi16(b, zero));
        for (unsigned m = (unsigned)_mm_movemask_epi8(z); m; m &= m - 1)
            px[i + (unsigned)__builtin_ctz(m)] = level;
    }
#endif
    const uint64_t ones = 0x0001000100010001u, highs = 0x8000800080008000u;
    for (; i < n; i += 4) {
        uint64_t w4 = 0;
        if (n - i >= 4) {
            memcpy(&w4, labels + i, sizeof w4);
            if (!((w4 - ones) & ~w4 & highs)) continue;
        }
        for (size_t j = i; j < n && j < i + 4; j++)
            if (!labels[j]) px[j] = level;
    }
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
 * than 65535 instances); err says which. Reentrant. im->px doubles as the
 * erosion's scratch before it gets the image.
 */
int sf__boundary_generate(const sf_config *c, uint64_t seed, uint64_t index,
                          sf_imgf *im, uint16_t *labels, int *n_instances,
                          sf_buf *json, sf_err *err) {
    const int nx = im->nx, ny = im->ny;
    const size_t n = (size_t)nx * (size_t)ny;
    int rc = SF_OK;
    uint8_t *iters = NULL, *tmp = NULL;
    uint16_t *code = NULL;
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

    /* 1. Label map: its draws; the erosion's draws; then the map, each
     * label coded with its erosion steps when they fit. */
    double lsig[MAX_SCALES], wsig[MAX_SCALES];
    if ((rc = map_draws(c, &d, n_labels, nx, ny, lsig, wsig, js))) {
        sf_err_set(err, rc, "boundary: label map: %s", sf_strerror(rc));
        goto out;
    }

    /* 2. Erode a random subset of the clusters: each with probability f,
     * by a random number of steps. The result is the binary foreground. */
    iters = calloc((size_t)n_labels + 1, sizeof *iters);
    code = malloc(((size_t)n_labels + 1) * sizeof *code);
    tmp = malloc(2 * ((size_t)nx + 128));
    if (!iters || !code || !tmp) {
        rc = oom(err);
        goto out;
    }
    double f = sf__draw_range(&d, c->boundary.erode_fraction);
    json_member(js, "erode_fraction", f);
    json_key(js, "eroded");
    sf_buf_puts(js, "[");
    int kmax = 0, first = 1;
    for (int l = 1; l <= n_labels; l++) {
        if (!sf__draw_bernoulli(&d, f)) continue;
        int steps = sf__draw_irange(&d, c->boundary.erode_iterations);
        steps = steps < 0 ? 0 : (steps > MAX_ERODE ? MAX_ERODE : steps);
        iters[l] = (uint8_t)steps;
        kmax = steps > kmax ? steps : kmax;
        sf_buf_printf(js, "%s[%d,%d]", first ? "" : ",", l, steps);
        first = 0;
    }
    sf_buf_puts(js, "]");
    const int coded = n_labels <= 255;
    for (int l = 0; l <= n_labels && coded; l++)
        code[l] = (uint16_t)(l << 8 | iters[l]);
    rc = render_map(c, sf_rng_key_make(seed, index, SF_STREAM_BOUNDARY_FIELD),
                    sf_rng_key_make(seed, index, SF_STREAM_BOUNDARY_WARP),
                    n_labels, lsig, wsig, coded ? code : NULL, labels, nx, ny);
    if (rc) {
        sf_err_set(err, rc, "boundary: label map: %s", sf_strerror(rc));
        goto out;
    }
    /* Distances: the image, 1 byte per pixel, before it gets the image. */
    erode_all(labels, nx, ny, iters, coded, kmax, (uint8_t *)im->px, tmp);

    /* 3. Instances: the 4-connected components of the foreground. */
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
     * are plenty), the low 16 bits the outlier decision (outlier when
     * below p * 65536); the canvas value is a + (b - a) u, or u itself
     * for an outlier (u is independent of the decision). */
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
    /* (float)lo / 65536 < fp  <=>  lo < ceil(fp * 65536), exactly. */
    const float pt = ceilf(fp * 65536.0f);
    const uint32_t thr =
        pt > 0.0f ? (pt < 65536.0f ? (uint32_t)pt : 65536u) : 0u;
    uint64_t s[4];
    float *px = im->px;
    canvas(ck, n, labels, px, thr, fa, fspan, s);
    /* The canvas mean where it shows (the paper averages the canvas), from
     * exact integer sums: u = u16 / 65536, the outliers' u plus a + (b - a)
     * u over the others; with no foreground at all, the mean of [a, b]. */
    const uint64_t n_fg = s[0] + s[2];
    const double k16 = 1.0 / 65536.0;
    double mean = n_fg ? ((double)s[1] * k16 + (double)s[2] * fa +
                          (double)fspan * ((double)s[3] * k16)) /
                             (double)n_fg
                       : 0.5 * (a + b);

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
    background(labels, n, px, flvl);

    json_member(js, "canvas_a", a);
    json_member(js, "canvas_b", b);
    json_member(js, "outlier_fraction", p);
    json_member(js, "canvas_mean", mean);
    json_member(js, "shift", lvl - mean);
    json_member(js, "background_level", lvl);
    rc = js->oom ? oom(err) : SF_OK;

out:
    free(iters);
    free(code);
    free(tmp);
    sf_buf_release(&local);
    return rc;
}
