/*
 * prompts.c - click-prompt simulation on binary masks (issue 6 item 5): the
 * one implementation shared by the trainer and the evaluation harness.
 * Contracts are in sf.h ("prompts"); this file says how.
 *
 * 1. One pass over the mask: area, coordinate sums, bounding box, pixels
 *    per row. The centroid is (sx / area, sy / area); every distance to it
 *    is compared exactly as (x * area - sx)^2 + (y * area - sy)^2 in 128-bit
 *    integers (area^2 times the squared distance), so ties are real ties
 *    and the raster-order tie-break is well defined.
 * 2. First positive: the centroid pixel when it is in the structure, else
 *    the maximum of the exact squared Euclidean distance transform (EDT) to
 *    the background, computed on the bounding box grown by one background
 *    pixel on every side (pixels outside the image are background).
 * 3. Extra positives: a partial Fisher-Yates shuffle of the structure's
 *    pixel ranks (raster order, the first positive taken out), touched
 *    entries kept in a small map; a rank becomes a pixel through the
 *    per-row counts.
 * 4. Ring: the EDT to the structure on the bounding box grown by the ring
 *    width (clipped to the image). Distances beyond the ring width are
 *    irrelevant, so column distances are capped at width + 1, which keeps
 *    every value small and finite and every ring decision exact.
 *
 * The EDT is the two-pass separable algorithm of Felzenszwalb and
 * Huttenlocher (Distance Transforms of Sampled Functions, Theory of
 * Computing 8, 2012): column distances (uint16: sides are at most 32768)
 * by a forward and a backward raster sweep (row-major, vectorisable), then
 * per row the lower envelope of the parabolas f(p) + (q - p)^2, in integer
 * arithmetic throughout, so the result is the exact squared distance
 * (tests/factory/test_prompts.c compares with brute force). Only the runs
 * of a row that can matter are transformed (see dt_max and make_ring).
 */
#include "sf_int.h"

#include <stdlib.h>
#include <string.h>

/* The prompt RNG stream ('PRMP'): far from the factory's stream ids. */
#define PROMPT_STREAM ((uint32_t)SF_STREAM_PROMPTS)

typedef unsigned __int128 u128;

/* ------------------------------------------------------------- helpers */

/* SplitMix64 finaliser: a bijective 64-bit mixer. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* 64-bit FNV-1a of a NUL-terminated string. */
static uint64_t fnv1a64(const char *s) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001B3ull;
    }
    return h;
}

sf_rng_key sf_prompt_key(uint64_t seed, const char *tag, uint64_t a,
                         uint64_t b) {
    uint64_t h = mix64(seed ^ 0x70726F6D7074ull);
    h = mix64(h ^ fnv1a64(tag ? tag : ""));
    h = mix64(h + 0x9E3779B97F4A7C15ull * (a + 1));
    return sf_rng_key_make(h, b, PROMPT_STREAM);
}

void sf_mask_from_labels(const uint16_t *labels, size_t n, uint16_t label,
                         uint8_t *mask) {
    for (size_t i = 0; i < n; i++)
        mask[i] = labels[i] == label;
}

void sf_prompt_opts_init(sf_prompt_opts *o, int n_pos, int n_neg) {
    o->n_pos = n_pos;
    o->n_neg = n_neg;
    o->ring_width_px = SF_PROMPT_RING_WIDTH_DEFAULT;
}

/* ------------------------------------------------------------ the EDT */

/*
 * 1-D squared distance transform: d[q] = min_p f[p] + (q - p)^2, p, q < n.
 * f holds non-negative integers below 2^31. Scratch: v (n) the parabolas
 * of the lower envelope, zn/zd (n + 1) their left boundaries as fractions
 * zn / zd (zd > 0; boundary 0 is -inf). Boundaries are compared by cross
 * multiplication (numerators below 2^32, denominators below 2^17), so
 * every decision is exact and there is no division.
 */
static void dt1d(const int64_t *f, int n, int64_t *d, int *v, int64_t *zn,
                 int64_t *zd) {
    int k = 0;
    v[0] = 0;
    for (int q = 1; q < n; q++) {
        int64_t fq = f[q] + (int64_t)q * q, num, den;
        for (;;) {
            int p = v[k];
            num = fq - (f[p] + (int64_t)p * p);
            den = 2 * (int64_t)(q - p);
            /* Keep parabola v[k] while the new boundary num / den lies to
             * the right of its left boundary. */
            if (k == 0 || num * zd[k] > zn[k] * den) break;
            k--;
        }
        k++;
        v[k] = q;
        zn[k] = num;
        zd[k] = den;
    }
    int top = k;
    k = 0;
    for (int q = 0; q < n; q++) {
        while (k < top && zn[k + 1] < (int64_t)q * zd[k + 1])
            k++;
        int64_t dq = q - v[k];
        d[q] = dq * dq + f[v[k]];
    }
}

/* Scratch for one row of dt1d, width w. */
typedef struct edt_row {
    int64_t *f, *d, *zn, *zd;
    int *v;
} edt_row;

static int edt_row_alloc(edt_row *r, int w) {
    r->f = malloc((size_t)w * sizeof *r->f);
    r->d = malloc((size_t)w * sizeof *r->d);
    r->v = malloc((size_t)w * sizeof *r->v);
    r->zn = malloc(((size_t)w + 1) * sizeof *r->zn);
    r->zd = malloc(((size_t)w + 1) * sizeof *r->zd);
    return r->f && r->d && r->v && r->zn && r->zd ? SF_OK : SF_ENOMEM;
}

static void edt_row_release(edt_row *r) {
    free(r->f);
    free(r->d);
    free(r->v);
    free(r->zn);
    free(r->zd);
}

/* ------------------------------------------------------- mask summary */

typedef struct mstats {
    int64_t area, sx, sy; /* pixels, sums of x and of y */
    int x0, y0, x1, y1;   /* bounding box, inclusive */
    int *row_n;           /* (ny) structure pixels per row */
} mstats;

/* area^2 * squared distance of (x, y) to the centroid, exact. */
static u128 cdist(const mstats *m, int x, int y) {
    int64_t dx = (int64_t)x * m->area - m->sx;
    int64_t dy = (int64_t)y * m->area - m->sy;
    return (u128)((__int128)dx * dx) + (u128)((__int128)dy * dy);
}

/* Nearest integer to num / den (den > 0, num >= 0), halves rounding down:
 * ceil(num / den - 1/2) = ceil((2 num - den) / (2 den)). */
static int round_half_down(int64_t num, int64_t den) {
    int64_t a = 2 * num - den, b = 2 * den;
    int64_t q = a / b; /* truncation: ceil for a < 0 */
    if (a > 0 && a % b) q++;
    return (int)q;
}

static int scan_mask(const uint8_t *mask, int nx, int ny, mstats *m) {
    m->row_n = calloc((size_t)ny, sizeof *m->row_n);
    if (!m->row_n) return SF_ENOMEM;
    m->area = m->sx = m->sy = 0;
    m->x0 = nx;
    m->y0 = ny;
    m->x1 = m->y1 = -1;
    for (int y = 0; y < ny; y++) {
        const uint8_t *r = mask + (size_t)y * (size_t)nx;
        int n = 0, first = -1, last = -1;
        int64_t sx = 0;
        int x = 0;
        while (x < nx) {
            /* Skip background 8 bytes at a time (most of a mask). */
            uint64_t w8;
            if (x + 8 <= nx) {
                memcpy(&w8, r + x, 8);
                if (!w8) {
                    x += 8;
                    continue;
                }
                /* No zero byte (the classic has-zero-byte test): all 8 in
                 * the structure (most of a large one). */
                if (!((w8 - 0x0101010101010101ull) & ~w8 &
                      0x8080808080808080ull)) {
                    n += 8;
                    sx += 8 * (int64_t)x + 28;
                    if (first < 0) first = x;
                    last = x + 7;
                    x += 8;
                    continue;
                }
            }
            int end = x + 8 <= nx ? x + 8 : nx;
            for (; x < end; x++) {
                if (!r[x]) continue;
                n++;
                sx += x;
                if (first < 0) first = x;
                last = x;
            }
        }
        if (!n) continue;
        m->row_n[y] = n;
        m->area += n;
        m->sx += sx;
        m->sy += (int64_t)y * n;
        if (first < m->x0) m->x0 = first;
        if (last > m->x1) m->x1 = last;
        if (m->y0 > y) m->y0 = y;
        m->y1 = y;
    }
    return SF_OK;
}

/* --------------------------------------------------------- positives */

/*
 * The structure pixel farthest from the background (pixels outside the
 * image count as background), ties in raster order. Works on the bounding
 * box grown by one pixel on each side, which is background all round, so
 * every column distance is finite and every structure run of a row has a
 * background pixel at each end. Within a row only the structure runs are
 * transformed, each with its two end pixels: for a pixel of a run, a
 * background pixel beyond an end is never nearer than that end (f = 0 at
 * the end, and it is closer), so the run alone gives the exact distance.
 * A run whose upper bound (its largest column distance, or half its
 * length) cannot beat the best so far is skipped: rows are visited in
 * raster order and ties keep the earlier pixel.
 */
static int dt_max(const uint8_t *mask, int nx, const mstats *m, int *bx,
                  int *by) {
    int w = m->x1 - m->x0 + 3, h = m->y1 - m->y0 + 3;
    int ox = m->x0 - 1, oy = m->y0 - 1; /* window origin in the image */
    int rc = SF_ENOMEM;
    uint16_t *g = calloc((size_t)w * (size_t)h, sizeof *g);
    edt_row row = {0};
    if (!g || edt_row_alloc(&row, w) != SF_OK) goto out;

    /* Column distances to the background: forward, then backward sweep.
     * Window rows 0 and h - 1 and columns 0 and w - 1 stay 0 (padding). */
    for (int j = 1; j < h - 1; j++) {
        const uint8_t *mr = mask + (size_t)(oy + j) * (size_t)nx + m->x0;
        uint16_t *gr = g + (size_t)j * w + 1;
        const uint16_t *up = gr - w;
        for (int i = 0; i < w - 2; i++)
            gr[i] = mr[i] ? (uint16_t)(up[i] + 1) : 0;
    }
    for (int j = h - 2; j >= 1; j--) {
        uint16_t *gr = g + (size_t)j * w;
        const uint16_t *dn = gr + w;
        for (int i = 0; i < w; i++) {
            uint16_t v = (uint16_t)(dn[i] + 1);
            gr[i] = gr[i] < v ? gr[i] : v;
        }
    }
    int64_t best = 0;
    for (int j = 1; j < h - 1; j++) {
        const uint16_t *gr = g + (size_t)j * w;
        for (int i = 1; i < w - 1;) {
            if (!gr[i]) {
                i++;
                continue;
            }
            int a = i, gmax = 0;
            for (; gr[i]; i++)
                gmax = gr[i] > gmax ? gr[i] : gmax;
            int b = i - 1, half = (b - a + 2) / 2;
            int64_t ub = (int64_t)gmax * gmax;
            if ((int64_t)half * half < ub) ub = (int64_t)half * half;
            if (ub <= best) continue;
            int n = b - a + 3;
            for (int t = 0; t < n; t++)
                row.f[t] = (int64_t)gr[a - 1 + t] * gr[a - 1 + t];
            dt1d(row.f, n, row.d, row.v, row.zn, row.zd);
            for (int t = 1; t < n - 1; t++)
                if (row.d[t] > best) {
                    best = row.d[t];
                    *bx = ox + a - 1 + t;
                    *by = oy + j;
                }
        }
    }
    rc = SF_OK;
out:
    free(g);
    edt_row_release(&row);
    return rc;
}

/* Pixel of raster rank r among the structure's pixels. */
static void pixel_of_rank(const uint8_t *mask, int nx, const mstats *m,
                          int64_t r, int *px, int *py) {
    int y = m->y0;
    while (r >= m->row_n[y])
        r -= m->row_n[y++];
    const uint8_t *row = mask + (size_t)y * (size_t)nx;
    for (int x = m->x0;; x++)
        if (row[x] && r-- == 0) {
            *px = x;
            *py = y;
            return;
        }
}

/* Raster rank of structure pixel (x, y). */
static int64_t rank_of_pixel(const uint8_t *mask, int nx, const mstats *m,
                             int x, int y) {
    int64_t r = 0;
    for (int j = m->y0; j < y; j++)
        r += m->row_n[j];
    const uint8_t *row = mask + (size_t)y * (size_t)nx;
    for (int i = m->x0; i < x; i++)
        r += row[i] != 0;
    return r;
}

/*
 * k distinct ranks of 0..n-1, uniformly, in draw order: a partial
 * Fisher-Yates shuffle of the virtual array a[i] = i. Only touched entries
 * are stored (at most k), so memory is O(k) whatever n is. Draw i takes
 * counter i of key: j = i + floor(u * (n - i) / 2^64), u a 64-bit word
 * (bias below (n - i) / 2^64).
 */
static void sample_ranks(sf_rng_key key, int64_t n, int k, int64_t *out) {
    int64_t keys[SF_PROMPT_MAX_CLICKS], vals[SF_PROMPT_MAX_CLICKS];
    int nm = 0;
    for (int i = 0; i < k; i++) {
        uint64_t u = sf_rng_u64(key, (uint64_t)i);
        uint64_t span = (uint64_t)(n - i);
        int64_t j = i + (int64_t)(uint64_t)(((u128)u * span) >> 64);
        /* a[j] and a[i], then a[j] = a[i]. */
        int64_t aj = j, ai = i;
        int sj = -1;
        for (int t = 0; t < nm; t++) {
            if (keys[t] == j) aj = vals[t], sj = t;
            if (keys[t] == i) ai = vals[t];
        }
        out[i] = aj;
        if (j == i) continue;
        if (sj < 0) {
            sj = nm++;
            keys[sj] = j;
        }
        vals[sj] = ai; /* a[i] itself is never read again: i only grows */
    }
}

/* --------------------------------------------------------- negatives */

/* Ring pixels, raster order. */
typedef struct ring {
    int *x, *y;
    size_t n, cap;
} ring;

static int ring_push(ring *r, int x, int y) {
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 1024;
        int *nx_ = realloc(r->x, cap * sizeof *nx_);
        if (nx_) r->x = nx_;
        int *ny_ = realloc(r->y, cap * sizeof *ny_);
        if (ny_) r->y = ny_;
        if (!nx_ || !ny_) return SF_ENOMEM;
        r->cap = cap;
    }
    r->x[r->n] = x;
    r->y[r->n] = y;
    r->n++;
    return SF_OK;
}

/*
 * Every pixel within Euclidean distance `width` of the structure and not in
 * it, clipped to the image, in raster order. The window is the bounding box
 * grown by width (outside it every pixel is farther than width). Column
 * distances are capped at width + 1 ("far"). Within a row only the runs of
 * non-structure pixels are transformed, each with the structure pixels that
 * end it (nearer than any structure pixel beyond them), and only over the
 * part that can hold ring pixels: [lo - width, hi + width], lo and hi the
 * first and last pixel of the run (or its end) that is not far. A pixel
 * whose squared distance is at most width^2 has its nearest structure pixel
 * through a not-far pixel, which that part contains, so each decision is
 * exact.
 */
static int make_ring(const uint8_t *mask, int nx, int ny, const mstats *m,
                     int width, ring *out) {
    int wx0 = m->x0 - width < 0 ? 0 : m->x0 - width;
    int wy0 = m->y0 - width < 0 ? 0 : m->y0 - width;
    int wx1 = m->x1 > nx - 1 - width ? nx - 1 : m->x1 + width;
    int wy1 = m->y1 > ny - 1 - width ? ny - 1 : m->y1 + width;
    int w = wx1 - wx0 + 1, h = wy1 - wy0 + 1;
    uint16_t far =
        (uint16_t)(width + 1); /* column distances above width: all alike */
    int64_t w2 = (int64_t)width * width;
    int rc = SF_ENOMEM;
    uint16_t *g = malloc((size_t)w * (size_t)h * sizeof *g);
    edt_row row = {0};
    if (!g || edt_row_alloc(&row, w) != SF_OK) goto out;

    for (int j = 0; j < h; j++) {
        const uint8_t *mr = mask + (size_t)(wy0 + j) * (size_t)nx + wx0;
        uint16_t *gr = g + (size_t)j * w;
        if (!j) {
            for (int i = 0; i < w; i++)
                gr[i] = mr[i] ? 0 : far;
            continue;
        }
        const uint16_t *up = gr - w;
        for (int i = 0; i < w; i++) {
            uint16_t v = (uint16_t)(up[i] + 1);
            v = v > far ? far : v;
            gr[i] = mr[i] ? 0 : v;
        }
    }
    for (int j = h - 2; j >= 0; j--) {
        uint16_t *gr = g + (size_t)j * w;
        const uint16_t *dn = gr + w;
        for (int i = 0; i < w; i++) {
            uint16_t v = (uint16_t)(dn[i] + 1);
            gr[i] = gr[i] < v ? gr[i] : v;
        }
    }
    for (int j = 0; j < h; j++) {
        const uint16_t *gr = g + (size_t)j * w;
        for (int i = 0; i < w;) {
            if (!gr[i]) {
                i++;
                continue;
            }
            /* Run [a, b] of non-structure pixels; [s, e] adds the
             * structure pixels that end it (not at the window's edge). */
            int a = i, s = a > 0 ? a - 1 : a;
            int lo = s < a ? s : -1, hi = lo; /* not-far pixels of [s, e] */
            for (; i < w && gr[i]; i++)
                if (gr[i] < far) {
                    if (lo < 0) lo = i;
                    hi = i;
                }
            int b = i - 1, e = b < w - 1 ? b + 1 : b;
            if (e > b) {
                if (lo < 0) lo = e;
                hi = e;
            }
            if (lo < 0) continue; /* every pixel is far */
            if (lo - width > s) s = lo - width;
            if (hi + width < e) e = hi + width;
            int n = e - s + 1;
            for (int t = 0; t < n; t++)
                row.f[t] = (int64_t)gr[s + t] * gr[s + t];
            dt1d(row.f, n, row.d, row.v, row.zn, row.zd);
            for (int t = 0; t < n; t++)
                if (row.d[t] > 0 && row.d[t] <= w2 &&
                    (rc = ring_push(out, wx0 + s + t, wy0 + j)) != SF_OK)
                    goto out;
        }
    }
    rc = SF_OK;
out:
    free(g);
    edt_row_release(&row);
    return rc;
}

/*
 * Negatives from the ring: the ring pixel farthest from the centroid, then
 * farthest-point sampling on squared distances. Stops early when every
 * ring pixel is taken. Returns the number chosen, or SF_ENOMEM.
 */
static int pick_negatives(const ring *r, const mstats *m, int n_neg,
                          sf_click *out) {
    if (!r->n || n_neg <= 0) return 0;
    size_t best = 0;
    u128 bd = cdist(m, r->x[0], r->y[0]);
    for (size_t i = 1; i < r->n; i++) {
        u128 d = cdist(m, r->x[i], r->y[i]);
        if (d > bd) bd = d, best = i;
    }
    out[0] = (sf_click){r->x[best], r->y[best], 0};
    if (n_neg == 1) return 1;
    int64_t *md = malloc(r->n * sizeof *md); /* min d^2 to chosen ones */
    if (!md) return SF_ENOMEM;
    for (size_t i = 0; i < r->n; i++)
        md[i] = INT64_MAX;
    int k = 1;
    for (; k < n_neg; k++) {
        int cx = out[k - 1].x, cy = out[k - 1].y;
        int64_t bm = 0;
        best = 0;
        for (size_t i = 0; i < r->n; i++) {
            int64_t dx = r->x[i] - cx, dy = r->y[i] - cy;
            int64_t d = dx * dx + dy * dy;
            if (d < md[i]) md[i] = d;
            if (md[i] > bm) bm = md[i], best = i;
        }
        if (bm == 0) break; /* every ring pixel is already a negative */
        out[k] = (sf_click){r->x[best], r->y[best], 0};
    }
    free(md);
    return k;
}

/* ----------------------------------------------------------- simulate */

int sf_prompts_simulate(const uint8_t *mask, int nx, int ny,
                        const sf_prompt_opts *o, sf_rng_key key, sf_click *out,
                        int *n_out, sf_err *err) {
    int rc;
    mstats m = {0};
    ring rg = {0};
    if (n_out) *n_out = 0;
    if (!mask || !o || !out || !n_out) {
        rc = sf_err_set(err, SF_EINVAL, "prompts: NULL argument");
        goto out;
    }
    if (nx < 1 || ny < 1) {
        rc = sf_err_set(err, SF_EINVAL, "prompts: bad mask size %dx%d", nx, ny);
        goto out;
    }
    if (nx > SF_PROMPT_MAX_SIDE || ny > SF_PROMPT_MAX_SIDE) {
        rc = sf_err_set(err, SF_ERANGE,
                        "prompts: mask %dx%d exceeds %d px per side", nx, ny,
                        SF_PROMPT_MAX_SIDE);
        goto out;
    }
    if (o->n_pos < 0 || o->n_pos > SF_PROMPT_MAX_CLICKS || o->n_neg < 0 ||
        o->n_neg > SF_PROMPT_MAX_CLICKS) {
        rc = sf_err_set(err, SF_ERANGE,
                        "prompts: %d positive / %d negative clicks asked; "
                        "each must be in 0..%d",
                        o->n_pos, o->n_neg, SF_PROMPT_MAX_CLICKS);
        goto out;
    }
    if (o->n_neg > 0 && o->ring_width_px < 1) {
        rc = sf_err_set(err, SF_EINVAL,
                        "prompts: ring width %d px; negatives need >= 1",
                        o->ring_width_px);
        goto out;
    }
    if (o->n_neg > 0 && o->ring_width_px > SF_PROMPT_MAX_SIDE) {
        rc = sf_err_set(err, SF_ERANGE, "prompts: ring width %d px > %d",
                        o->ring_width_px, SF_PROMPT_MAX_SIDE);
        goto out;
    }
    if ((rc = scan_mask(mask, nx, ny, &m)) != SF_OK) {
        sf_err_set(err, rc, "prompts: out of memory");
        goto out;
    }
    if (m.area == 0) {
        rc = sf_err_set(err, SF_EINVAL,
                        "prompts: empty structure (no nonzero pixel in the "
                        "%dx%d mask)",
                        nx, ny);
        goto out;
    }

    int n = 0;
    if (o->n_pos > 0) {
        int fx = round_half_down(m.sx, m.area);
        int fy = round_half_down(m.sy, m.area);
        if (!mask[(size_t)fy * (size_t)nx + (size_t)fx] &&
            (rc = dt_max(mask, nx, &m, &fx, &fy)) != SF_OK) {
            sf_err_set(err, rc, "prompts: out of memory");
            goto out;
        }
        out[n++] = (sf_click){fx, fy, 1};
        int64_t others = m.area - 1;
        int k = o->n_pos - 1;
        if (k > others) k = (int)others;
        if (k > 0) {
            int64_t ranks[SF_PROMPT_MAX_CLICKS];
            int64_t r0 = rank_of_pixel(mask, nx, &m, fx, fy);
            sample_ranks(key, others, k, ranks);
            for (int i = 0; i < k; i++) {
                int64_t r = ranks[i] < r0 ? ranks[i] : ranks[i] + 1;
                pixel_of_rank(mask, nx, &m, r, &out[n].x, &out[n].y);
                out[n++].positive = 1;
            }
        }
    }
    if (o->n_neg > 0) {
        if ((rc = make_ring(mask, nx, ny, &m, o->ring_width_px, &rg)) !=
            SF_OK) {
            sf_err_set(err, rc, "prompts: out of memory");
            goto out;
        }
        int k = pick_negatives(&rg, &m, o->n_neg, out + n);
        if (k < 0) {
            rc = sf_err_set(err, k, "prompts: out of memory");
            goto out;
        }
        n += k;
    }
    *n_out = n;
    rc = SF_OK;
out:
    free(m.row_n);
    free(rg.x);
    free(rg.y);
    return rc;
}

/* ----------------------------------------------------------- settings */

void sf_prompt_settings_default(int ring_width_px, sf_prompt_opts *out) {
    static const int defaults[SF_PROMPT_N_DEFAULT_SETTINGS][2] = {
        {1, 0}, {3, 0}, {1, 1}, {3, 3}};
    for (int n = 0; n < SF_PROMPT_N_DEFAULT_SETTINGS; n++)
        out[n] =
            (sf_prompt_opts){defaults[n][0], defaults[n][1], ring_width_px};
}

int sf_prompt_settings_parse(const char *s, int ring_width_px,
                             sf_prompt_opts *out, int max_out, int *n_out,
                             sf_err *err) {
    if (n_out) *n_out = 0;
    if (!s || !out || !n_out)
        return sf_err_set(err, SF_EINVAL, "prompt settings: NULL argument");
    if (ring_width_px < 1 || ring_width_px > SF_PROMPT_MAX_SIDE)
        return sf_err_set(err, SF_ERANGE,
                          "prompt settings: ring width %d px not in 1..%d",
                          ring_width_px, SF_PROMPT_MAX_SIDE);
    int n = 0;
    if (!strcmp(s, "all")) {
        if (max_out < SF_PROMPT_N_DEFAULT_SETTINGS)
            return sf_err_set(err, SF_EINVAL,
                              "prompt settings: room for %d, 'all' has %d",
                              max_out, SF_PROMPT_N_DEFAULT_SETTINGS);
        sf_prompt_settings_default(ring_width_px, out);
        *n_out = SF_PROMPT_N_DEFAULT_SETTINGS;
        return SF_OK;
    }
    const char *p = s;
    for (;;) {
        long v[2];
        for (int i = 0; i < 2; i++) {
            if (*p < '0' || *p > '9') goto bad;
            v[i] = 0;
            while (*p >= '0' && *p <= '9') {
                if (v[i] <= SF_PROMPT_MAX_CLICKS) v[i] = v[i] * 10 + (*p - '0');
                p++;
            }
            if (i == 0 && *p++ != ',') goto bad;
        }
        if (v[0] > SF_PROMPT_MAX_CLICKS || v[1] > SF_PROMPT_MAX_CLICKS ||
            v[0] + v[1] < 1)
            return sf_err_set(err, SF_ERANGE,
                              "prompt settings '%s': each count must be in "
                              "0..%d and a setting needs at least one click",
                              s, SF_PROMPT_MAX_CLICKS);
        if (n == max_out)
            return sf_err_set(err, SF_EINVAL,
                              "prompt settings '%s': more than %d settings", s,
                              max_out);
        out[n++] = (sf_prompt_opts){(int)v[0], (int)v[1], ring_width_px};
        if (!*p) break;
        if (*p++ != ':') goto bad;
    }
    *n_out = n;
    return SF_OK;
bad:
    return sf_err_set(err, SF_EINVAL,
                      "prompt settings '%s': expected 'all' or P,N[:P,N]... "
                      "(e.g. 1,0:3,0:1,1:3,3)",
                      s);
}

const char *sf_prompt_setting_name(const sf_prompt_opts *o, char *buf,
                                   size_t n) {
    if (n) snprintf(buf, n, "%d,%d", o->n_pos, o->n_neg);
    return buf;
}
