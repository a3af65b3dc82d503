/*
 * noise_perlin.c - the Perlin model: a smooth fBm field (octaves of
 * improved Perlin noise) added to the image. See noise.c for the lattice
 * counters.
 */
#include "noise_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- perlin */

#define PERLIN_TW          128             /* tile width, px */
#define PERLIN_TH          64              /* tile height, px */
#define PERLIN_LMAX        (PERLIN_TW + 4) /* lattice columns per chunk */
#define PERLIN_MAX_OCTAVES 32         /* octave index uses counter bits 41+ */
#define PERLIN_LMASK       0xFFFFFull /* lattice indices wrap at 2^20 */

/* fBm: v + amplitude * sum_o w_o perlin_o(x, y) / sum_o |w_o|, w_o =
 * persistence^o, octave o with cells * 2^o lattice cells across each axis
 * (pixel centres, offset by a random fraction of a cell per octave so that
 * octaves do not share lattice lines). Computed in tiles (stack only, no
 * allocation): per octave, per lattice row, the x-interpolated terms are
 * computed once per pixel column and reused by every image row in that
 * lattice cell, leaving ~8 flops per pixel and octave. */
typedef struct perlin_oct {
    double sx, sy;  /* lattice cells per pixel */
    double ox, oy;  /* lattice offset in [0,1) */
    float w;        /* persistence^o */
    uint64_t cbase; /* o << 41 */
} perlin_oct;

/* Ken Perlin's improved fade 6t^5 - 15t^4 + 10t^3. */
static inline float fade(float t) {
    return t * t * t * (t * (t * 6.0f - 15.0f) + 10.0f);
}

/* Gradients of lattice row `ly`, columns lx0 .. lx0 + n - 1. */
static void grad_row(sf_rng_key k, uint64_t cbase, uint64_t ly, uint64_t lx0,
                     int n, const float dirs[256][2], float *gx, float *gy) {
    uint32_t w[4];
    uint64_t last = UINT64_MAX;
    for (int i = 0; i < n; i++) {
        uint64_t lx = (lx0 + (uint64_t)i) & PERLIN_LMASK;
        uint64_t ctr = cbase | (ly & PERLIN_LMASK) << 20 | lx >> 4;
        if (ctr != last) {
            sf__rng_block_inline(k, ctr, w);
            last = ctr;
        }
        unsigned b = (w[(lx >> 2) & 3] >> (8 * (lx & 3))) & 255u;
        gx[i] = dirs[b][0];
        gy[i] = dirs[b][1];
    }
}

/* Along lattice row r, the x-interpolated parts of the noise at the
 * chunk's pixels: with corner gradients (gx, gy) of columns c, c + 1,
 *   S(x) = lerp(gx_c fx, gx_{c+1} (fx - 1), u),  T(x) = lerp(gy_c, gy_{c+1}, u)
 * so that the corner terms of row r at height dy are S + dy T. */
static void perlin_lattice_row(const perlin_oct *po, sf_rng_key k,
                               const float dirs[256][2], uint64_t r,
                               uint64_t lx0, int ncol, const int *cix,
                               const float *fx, const float *fxm1,
                               const float *fu, int c0, int c1, float *S,
                               float *T) {
    float gx[PERLIN_LMAX], gy[PERLIN_LMAX];
    grad_row(k, po->cbase, r, lx0, ncol, dirs, gx, gy);
    for (int i = c0; i < c1; i++) {
        int c = cix[i];
        float sl = gx[c] * fx[i], sr = gx[c + 1] * fxm1[i];
        S[i] = sl + fu[i] * (sr - sl);
        T[i] = gy[c] + fu[i] * (gy[c + 1] - gy[c]);
    }
}

/* One octave over columns [c0, c1) of the tile at (tx0, ty0), th rows,
 * accumulated into acc (th x PERLIN_TW). Columns are chosen by the
 * caller so that they span at most PERLIN_LMAX - 2 lattice cells. */
static void perlin_chunk(const perlin_oct *po, sf_rng_key k,
                         const float dirs[256][2], int tx0, int ty0, int c0,
                         int c1, int th, float *acc) {
    float fx[PERLIN_TW], fxm1[PERLIN_TW], fu[PERLIN_TW];
    float sa[PERLIN_TW], ta[PERLIN_TW], sb[PERLIN_TW], tb[PERLIN_TW];
    uint64_t lx[PERLIN_TW];
    int cix[PERLIN_TW];
    if (c0 < 0 || c1 > PERLIN_TW || c1 <= c0) return;
    for (int i = c0; i < c1; i++) {
        double X = ((double)(tx0 + i) + 0.5) * po->sx + po->ox;
        double fl = floor(X);
        lx[i] = (uint64_t)fl;
        fx[i] = (float)(X - fl);
        fxm1[i] = fx[i] - 1.0f;
        fu[i] = fade(fx[i]);
    }
    uint64_t lx0 = lx[c0];
    int ncol = (int)(lx[c1 - 1] - lx0) + 2; /* corners left and right */
    for (int i = c0; i < c1; i++)
        cix[i] = (int)(lx[i] - lx0);

    /* s0, t0: lattice row ly (below); s1, t1: row ly + 1 (above). */
    float *s0 = sa, *t0 = ta, *s1 = sb, *t1 = tb;
    uint64_t cached = UINT64_MAX;
    for (int j = 0; j < th; j++) {
        double Y = ((double)(ty0 + j) + 0.5) * po->sy + po->oy;
        double fl = floor(Y);
        uint64_t ly = (uint64_t)fl;
        float fy = (float)(Y - fl), fv = fade(fy), fym1 = fy - 1.0f;
        if (ly != cached) {
            if (cached != UINT64_MAX && ly == cached + 1) {
                float *t = s0;
                s0 = s1;
                s1 = t;
                t = t0;
                t0 = t1;
                t1 = t;
            } else {
                perlin_lattice_row(po, k, dirs, ly, lx0, ncol, cix, fx, fxm1,
                                   fu, c0, c1, s0, t0);
            }
            perlin_lattice_row(po, k, dirs, ly + 1, lx0, ncol, cix, fx, fxm1,
                               fu, c0, c1, s1, t1);
            cached = ly;
        }
        /* noise = lerp(S0 + fy T0, S1 + (fy - 1) T1, v), weighted by w */
        const float a = po->w * (1.0f - fv), b = po->w * fv;
        float *row = acc + (size_t)j * PERLIN_TW;
#pragma omp simd
        for (int i = c0; i < c1; i++)
            row[i] += a * (s0[i] + fy * t0[i]) + b * (s1[i] + fym1 * t1[i]);
    }
}

/* Octaves and output scale of one parameter set; 0 if it changes nothing
 * (no octaves, bad numbers, all weights zero). off[o] = (ox, oy). */
static int perlin_setup(const sf_noise_params *p, int nx, int ny,
                        const double (*off)[2], perlin_oct *oct, float *scale) {
    int n_oct = p->octaves;
    if (n_oct < 1 || !(p->cells > 0.0) || !isfinite(p->cells) ||
        !isfinite(p->amplitude) || !isfinite(p->persistence))
        return 0;
    if (n_oct > PERLIN_MAX_OCTAVES) n_oct = PERLIN_MAX_OCTAVES;
    double wsum = 0.0, w = 1.0;
    for (int o = 0; o < n_oct; o++) {
        double f = p->cells * ldexp(1.0, o); /* cells across, octave o */
        oct[o].cbase = (uint64_t)o << 41;
        oct[o].sx = f / nx;
        oct[o].sy = f / ny;
        oct[o].ox = off[o][0];
        oct[o].oy = off[o][1];
        oct[o].w = (float)w;
        wsum += fabs((double)oct[o].w);
        w *= p->persistence;
    }
    if (!(wsum > 0.0)) return 0;
    /* Unit-gradient 2-D Perlin noise lies in [-sqrt(2)/2, sqrt(2)/2]; the
     * octave sum of noise * sqrt(2) weighted by w_o / sum |w_o| stays in
     * [-1, 1], so pixels move by at most the amplitude. */
    *scale = (float)(p->amplitude * 1.4142135623730951 / wsum);
    return n_oct;
}

/* Bounding box, within the current tile, of one entry's pixels. */
typedef struct perlin_box {
    uint32_t stamp; /* tile number + 1 when present in the current tile */
    uint8_t x0, x1, y0, y1; /* [x0, x1] x [y0, y1], inclusive */
} perlin_box;

/* fBm of every entry over its own pixels. The field of an entry at a pixel
 * depends only on its parameters, the key and the pixel's position, so it
 * is computed tile by tile, per entry present in the tile, over the
 * entry's bounding box there (one pass over the image however many
 * entries). box has one slot per entry (n_entries + 1). */
static void apply_perlin(sf_imgf *im, const noise_sel *s,
                         const sf_noise_params *tab, sf_rng_key k,
                         perlin_box *box) {
    const int nx = im->nx, ny = im->ny;
    /* 256 unit gradient directions, half a step off the axes. */
    float dirs[256][2];
    for (int b = 0; b < 256; b++) {
        double a = 6.283185307179586 * ((double)b + 0.5) / 256.0;
        dirs[b][0] = (float)cos(a);
        dirs[b][1] = (float)sin(a);
    }
    /* Per-octave lattice offsets: a function of (k, o) alone. */
    double off[PERLIN_MAX_OCTAVES][2];
    for (int o = 0; o < PERLIN_MAX_OCTAVES; o++) {
        uint32_t r[4];
        sf__rng_block_inline(k, (uint64_t)o << 41 | 1ull << 40, r);
        off[o][0] = u01_2w(r[0], r[1]);
        off[o][1] = u01_2w(r[2], r[3]);
    }
    perlin_oct oct[PERLIN_MAX_OCTAVES];
    float acc[PERLIN_TW * PERLIN_TH];
    uint16_t et[PERLIN_TW * PERLIN_TH]; /* entries of the tile's pixels */
    uint16_t present[PERLIN_TW * PERLIN_TH];
    uint32_t tile = 0;
    for (int ty0 = 0; ty0 < ny; ty0 += PERLIN_TH) {
        int th = ny - ty0 < PERLIN_TH ? ny - ty0 : PERLIN_TH;
        for (int tx0 = 0; tx0 < nx; tx0 += PERLIN_TW) {
            int tw = nx - tx0 < PERLIN_TW ? nx - tx0 : PERLIN_TW;
            tile++;
            /* Entries present and their boxes, run by run (the whole
             * image: entry 1 over the whole tile). */
            int np = 0;
            if (!s->lab) {
                box[1].x0 = box[1].y0 = 0;
                box[1].x1 = (uint8_t)(tw - 1);
                box[1].y1 = (uint8_t)(th - 1);
                present[np++] = 1;
            }
            for (int j = 0; j < th && s->lab; j++) {
                uint16_t *er = et + (size_t)j * PERLIN_TW;
                size_t i0 = (size_t)(ty0 + j) * (size_t)nx + (size_t)tx0;
                if (!sel_chunk(s, i0, (size_t)tw, er)) continue;
                unsigned diff = 0; /* one run (whole image, big shapes)? */
                for (int i = 1; i < tw; i++)
                    diff |= er[i] != er[0];
                for (int i = 0; i < tw;) {
                    unsigned l = er[i];
                    int r = diff ? i + 1 : tw;
                    while (r < tw && er[r] == l)
                        r++;
                    if (l) {
                        perlin_box *bx = &box[l];
                        if (bx->stamp != tile) {
                            bx->stamp = tile;
                            bx->x0 = (uint8_t)i;
                            bx->x1 = (uint8_t)(r - 1);
                            bx->y0 = bx->y1 = (uint8_t)j;
                            present[np++] = (uint16_t)l;
                        } else {
                            if (i < bx->x0) bx->x0 = (uint8_t)i;
                            if (r - 1 > bx->x1) bx->x1 = (uint8_t)(r - 1);
                            bx->y1 = (uint8_t)j;
                        }
                    }
                    i = r;
                }
            }
            for (int q = 0; q < np; q++) {
                unsigned l = present[q];
                float scale;
                int n_oct = perlin_setup(&tab[l], nx, ny, off, oct, &scale);
                if (!n_oct) continue;
                const perlin_box *bx = &box[l];
                int x0 = bx->x0, x1 = bx->x1 + 1, y0 = bx->y0, y1 = bx->y1 + 1;
                for (int j = y0; j < y1; j++)
                    memset(acc + (size_t)j * PERLIN_TW + x0, 0,
                           sizeof(float) * (size_t)(x1 - x0));
                for (int o = 0; o < n_oct; o++) {
                    /* A chunk of cw pixels spans < cw * sx + 2 lattice
                     * cells; narrow the chunk when the lattice is finer
                     * than pixels. */
                    int cw = PERLIN_TW;
                    if (oct[o].sx > 1.0) {
                        double c = (double)(PERLIN_LMAX - 4) / oct[o].sx;
                        cw = c < 1.0 ? 1 : (int)c;
                    }
                    for (int c0 = x0; c0 < x1; c0 += cw) {
                        int c1 = x1 - c0 < cw ? x1 : c0 + cw;
                        perlin_chunk(&oct[o], k, dirs, tx0, ty0 + y0, c0, c1,
                                     y1 - y0, acc + (size_t)y0 * PERLIN_TW);
                    }
                }
                for (int j = y0; j < y1; j++) {
                    size_t i0 = (size_t)(ty0 + j) * (size_t)nx + (size_t)tx0;
                    const float *a = acc + (size_t)j * PERLIN_TW;
                    const uint16_t *er = et + (size_t)j * PERLIN_TW;
                    float *px = im->px + i0;
                    if (!s->lab) {
                        for (int i = x0; i < x1; i++)
                            px[i] += scale * a[i];
                        continue;
                    }
                    for (int i = x0; i < x1; i++)
                        px[i] = sel_f(er[i] == l, px[i] + scale * a[i], px[i]);
                }
            }
        }
    }
}

/* ------------------------------------------------------------------- ops */

static void draw_perlin(const sf_noise_cfg *cfg, sf_draw *d,
                        sf_noise_params *p) {
    p->amplitude = sf__draw_range(d, cfg->amplitude);
    p->octaves = sf__draw_irange(d, cfg->octaves);
    p->cells = sf__draw_range(d, cfg->cells);
    p->persistence = sf__draw_range(d, cfg->persistence);
}

static void json_perlin(const sf_noise_params *p, sf_buf *b) {
    sf_buf_puts(b, ",\"amplitude\":");
    sf_json_num(b, p->amplitude);
    sf_buf_printf(b, ",\"octaves\":%d", p->octaves);
    sf_buf_puts(b, ",\"cells\":");
    sf_json_num(b, p->cells);
    sf_buf_puts(b, ",\"persistence\":");
    sf_json_num(b, p->persistence);
}

static void run_perlin(sf_imgf *im, const noise_sel *s,
                       const sf_noise_params *tab, int n, void *scratch,
                       sf_rng_key k) {
    (void)n; /* one box per entry */
    apply_perlin(im, s, tab, k, scratch);
}

const sf_noise_ops sf__noise_perlin = {"perlin",           SF_NOISE_PERLIN,
                                       draw_perlin,        json_perlin,
                                       sizeof(perlin_box), run_perlin};
