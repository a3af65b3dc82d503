/*
 * surface.c - surface distances and the metrics built on them (Dice, NSD,
 * HD95/HD100, average surface distances), as the DeepMind surface-distance
 * reference (google-deepmind/surface-distance, metrics.py) computes them,
 * and the exact Euclidean distance transform with spacing they rest on.
 * Definitions, conventions and reference values: metrics.h and
 * ../shared/golden/metrics/README.md (part A).
 *
 * Outline (README A.1-A.3): the masks' neighbour codes on the voxel-corner
 * grid of the bounding box of G u P (plus one corner layer), border
 * elements = corners whose code is neither 0 nor all-ones, one exact
 * squared EDT (with spacing) of each mask's border elements, the other
 * mask's elements read it, and the (distance, area) lists are sorted.
 */
#include "hx.h"
#include "metrics_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- grid */

int hx_grid_check(const hx_grid *g, sf_err *err) {
    if (!g) return sf_err_set(err, SF_EINVAL, "grid: NULL");
    if (g->ndim != 2 && g->ndim != 3)
        return sf_err_set(err, SF_EINVAL, "grid: ndim %d (2 or 3)", g->ndim);
    size_t n = 1;
    for (int i = 0; i < g->ndim; i++) {
        if (g->n[i] < 1)
            return sf_err_set(err, SF_EINVAL, "grid: size %d on axis %d",
                              g->n[i], i);
        if (n > HX_GRID_MAX_VOXELS / (size_t)g->n[i])
            return sf_err_set(err, SF_EINVAL, "grid: more than %zu voxels",
                              HX_GRID_MAX_VOXELS);
        n *= (size_t)g->n[i];
        double s = g->spacing_mm[i];
        if (!isfinite(s) || !(s > 0.0))
            return sf_err_set(err, SF_ERANGE,
                              "grid: spacing %g mm on axis %d (must be "
                              "finite and > 0)",
                              s, i);
    }
    return SF_OK;
}

size_t hx_grid_voxels(const hx_grid *g) {
    size_t n = 1;
    for (int i = 0; i < g->ndim; i++)
        n *= (size_t)g->n[i];
    return n;
}

void *hx__ws_get(hx__ws *w, int slot, size_t bytes) {
    if (!bytes) bytes = 1;
    if (w->cap[slot] < bytes) {
        free(w->p[slot]);
        w->p[slot] = malloc(bytes);
        w->cap[slot] = w->p[slot] ? bytes : 0;
    }
    return w->p[slot];
}

void hx__ws_free(hx__ws *w) {
    for (int i = 0; i < HX__WS_SLOTS; i++) {
        free(w->p[i]);
        w->p[i] = NULL;
        w->cap[i] = 0;
    }
}

/* A grid as three axes: a 2-D grid is (1, n0, n1) with axis 0 not a real
 * axis (no surface, no distance along it). */
typedef struct dims3 {
    size_t n[3];
    double s[3];
    int real0; /* axis 0 is a real axis (3-D) */
} dims3;

static dims3 dims_of(const hx_grid *g) {
    dims3 d;
    if (g->ndim == 3) {
        for (int i = 0; i < 3; i++) {
            d.n[i] = (size_t)g->n[i];
            d.s[i] = g->spacing_mm[i];
        }
        d.real0 = 1;
    } else {
        d.n[0] = 1;
        d.s[0] = 1.0;
        for (int i = 0; i < 2; i++) {
            d.n[i + 1] = (size_t)g->n[i];
            d.s[i + 1] = g->spacing_mm[i];
        }
        d.real0 = 0;
    }
    return d;
}

/* ------------------------------------------------------------ pairwise */

/* numpy's pairwise_sum (loops_utils.h): blocks of 8 accumulators up to
 * 128 values, halves (rounded to a multiple of 8) above. np.add.reduce
 * starts from the identity 0.0, which adds nothing. */
static double pw_sum(const double *a, size_t n) {
    if (n < 8) {
        double res = 0.0;
        for (size_t i = 0; i < n; i++)
            res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        size_t i;
        for (int j = 0; j < 8; j++)
            r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++)
                r[j] += a[i + j];
        double res =
            ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pw_sum(a, n2) + pw_sum(a + n2, n - n2);
}

double hx_sum_pairwise(const double *v, size_t n) {
    return v && n ? 0.0 + pw_sum(v, n) : 0.0;
}

/* ------------------------------------------------------------------ EDT */

/* Work space of the 1-D passes: one line. */
typedef struct edt_ws {
    double *f, *h, *zn, *zd;
    size_t *v;
} edt_ws;

static int edt_ws_alloc(edt_ws *w, size_t n) {
    w->f = malloc(n * sizeof *w->f);
    w->h = malloc(n * sizeof *w->h);
    w->zn = malloc((n + 1) * sizeof *w->zn);
    w->zd = malloc((n + 1) * sizeof *w->zd);
    w->v = malloc(n * sizeof *w->v);
    return w->f && w->h && w->zn && w->zd && w->v ? SF_OK : SF_ENOMEM;
}

static void edt_ws_free(edt_ws *w) {
    free(w->f);
    free(w->h);
    free(w->zn);
    free(w->zd);
    free(w->v);
}

/* The value of parabola v at q: ((q - v) s)^2 + f[v]. */
static inline double parab(const double *f, size_t v, size_t q, double s) {
    double t = ((double)q - (double)v) * s;
    return t * t + f[v];
}

/*
 * One 1-D pass (Felzenszwalb & Huttenlocher 2012) over the line of n
 * values at base[i * stride]: d(q) = min_p ((q - p) s)^2 + f(p), +inf
 * values skipped. The lower envelope is built on h(p) = f(p) / s^2 + p^2
 * with each breakpoint kept as a fraction zn / zd (zd > 0), compared by
 * cross-multiplication (no division). That arithmetic only chooses the
 * parabola: the value written is evaluated as the formula, the minimum
 * over the chosen parabola and its two envelope neighbours, so a rounding
 * in a breakpoint can only matter between parabolas that agree to
 * rounding - and is exact where the inputs are exact binary numbers.
 */
static void edt_line(double *base, size_t n, size_t stride, double s,
                     edt_ws *w) {
    double *f = w->f, *h = w->h, *zn = w->zn, *zd = w->zd;
    size_t *v = w->v;
    double inv = 1.0 / (s * s);
    size_t m = 0; /* parabolas in the envelope */
    for (size_t q = 0; q < n; q++) {
        double fq = base[q * stride];
        f[q] = fq;
        if (fq == INFINITY) continue;
        double hq = fq * inv + (double)q * (double)q;
        h[q] = hq;
        double num = 0.0, den = 1.0;
        while (m > 0) {
            size_t p = v[m - 1];
            num = hq - h[p];
            den = 2.0 * ((double)q - (double)p);
            /* pop while the new breakpoint num/den <= the last one */
            if (m > 1 && num * zd[m - 1] <= zn[m - 1] * den)
                m--;
            else
                break;
        }
        v[m] = q;
        zn[m] = num;
        zd[m] = den;
        m++;
    }
    if (m == 0) return; /* no finite value: the line stays +inf */
    size_t k = 0;
    for (size_t q = 0; q < n; q++) {
        /* advance while breakpoint k+1 < q */
        while (k + 1 < m && zn[k + 1] < (double)q * zd[k + 1])
            k++;
        double best = parab(f, v[k], q, s);
        if (k > 0) {
            double b = parab(f, v[k - 1], q, s);
            best = b < best ? b : best;
        }
        if (k + 1 < m) {
            double b = parab(f, v[k + 1], q, s);
            best = b < best ? b : best;
        }
        base[q * stride] = best;
    }
}

/* The first pass, on 0 (feature) / +inf input: the nearest feature on a
 * line is the nearer of the last one before and the first one after, so
 * two sweeps give the same value as the envelope, ((q - p) s)^2. */
static void edt_line_binary(double *base, size_t n, size_t stride, double s,
                            edt_ws *w) {
    size_t *left = w->v, none = (size_t)-1, last = none;
    for (size_t q = 0; q < n; q++) {
        if (base[q * stride] == 0.0) last = q;
        left[q] = last;
    }
    last = none;
    for (size_t q = n; q-- > 0;) {
        if (base[q * stride] == 0.0) last = q;
        double best = INFINITY;
        if (left[q] != none) {
            double t = ((double)q - (double)left[q]) * s;
            best = t * t;
        }
        if (last != none) {
            double t = ((double)last - (double)q) * s;
            best = t * t < best ? t * t : best;
        }
        base[q * stride] = best;
    }
}

/* Lines processed together on a strided axis (EDT_BLOCK doubles = two
 * cache lines per row). */
#define EDT_BLOCK 16

/* The pass along the middle axis of an (outer, nax, inner) array: inner
 * = 1 runs each line in place; otherwise EDT_BLOCK neighbouring lines are
 * copied row by row into buf (nax x EDT_BLOCK), run there and copied back,
 * so every cache line is read once - a power-of-two stride (512 x 512
 * slices) would otherwise map a line's elements to one cache set. */
static void edt_axis(double *a, size_t outer, size_t nax, size_t inner,
                     double s, int binary, double *buf, edt_ws *w) {
    for (size_t o = 0; o < outer; o++) {
        double *base = a + o * nax * inner;
        if (inner == 1) {
            if (binary)
                edt_line_binary(base, nax, 1, s, w);
            else
                edt_line(base, nax, 1, s, w);
            continue;
        }
        for (size_t k0 = 0; k0 < inner; k0 += EDT_BLOCK) {
            size_t wk = inner - k0 < EDT_BLOCK ? inner - k0 : EDT_BLOCK;
            for (size_t i = 0; i < nax; i++)
                memcpy(buf + i * EDT_BLOCK, base + i * inner + k0,
                       wk * sizeof *buf);
            for (size_t c = 0; c < wk; c++) {
                if (binary)
                    edt_line_binary(buf + c, nax, EDT_BLOCK, s, w);
                else
                    edt_line(buf + c, nax, EDT_BLOCK, s, w);
            }
            for (size_t i = 0; i < nax; i++)
                memcpy(base + i * inner + k0, buf + i * EDT_BLOCK,
                       wk * sizeof *buf);
        }
    }
}

/* Squared EDT in place on a (n0, n1, n2) array of 0 (feature) / +inf,
 * axes in order 0, 1, 2 (the terms are summed in that order); axis 0 only
 * when real0. */
static int edt3(double *a, const size_t n[3], const double s[3], int real0) {
    edt_ws w;
    size_t nmax = n[0] > n[1] ? n[0] : n[1];
    nmax = n[2] > nmax ? n[2] : nmax;
    double *buf = malloc(nmax * EDT_BLOCK * sizeof *buf);
    int rc = edt_ws_alloc(&w, nmax);
    if (rc != SF_OK || !buf) {
        rc = SF_ENOMEM;
        goto out;
    }
    /* The first pass that runs sees 0 / +inf only (edt_line_binary). With
     * one voxel along axis 0 its pass changes nothing. */
    int first = 1;
    if (real0 && n[0] > 1) {
        edt_axis(a, 1, n[0], n[1] * n[2], s[0], 1, buf, &w);
        first = 0;
    }
    edt_axis(a, n[0], n[1], n[2], s[1], first, buf, &w);
    edt_axis(a, n[0] * n[1], n[2], 1, s[2], 0, buf, &w);
out:
    free(buf);
    edt_ws_free(&w);
    return rc;
}

int hx_edt_sq_mm(const hx_grid *g, const uint8_t *feature, double *out,
                 sf_err *err) {
    int rc = hx_grid_check(g, err);
    if (rc != SF_OK) return rc;
    if (!feature || !out)
        return sf_err_set(err, SF_EINVAL, "hx_edt_sq_mm: NULL array");
    dims3 d = dims_of(g);
    size_t nv = hx_grid_voxels(g);
    for (size_t i = 0; i < nv; i++)
        out[i] = feature[i] ? 0.0 : INFINITY;
    rc = edt3(out, d.n, d.s, d.real0);
    if (rc != SF_OK) sf_err_set(err, rc, "hx_edt_sq_mm: out of memory");
    return rc;
}

/* --------------------------------------------------- surfel area tables */

/*
 * The marching-cubes surface normals of each 3-D neighbour code (bit 7 =
 * voxel (-1,-1,-1) ... bit 0 = voxel (0,0,0) relative to the corner), as
 * absolute components in units of 1/8: 0xabc = (a, b, c) / 8, up to three
 * per code (0 = none). The area of a code for spacing s is
 *   sum over its normals of |(n0 s1 s2, n1 s0 s2, n2 s0 s1)|,
 * which is surface-distance's create_table_neighbour_code_to_surface_area
 * (its table _NEIGHBOUR_CODE_TO_NORMALS lists the triangles' normals with
 * signs and some split in two; only |n| of collinear sums matters). This
 * table was derived from the 256-entry area tables for five spacings in
 * ../shared/golden/metrics/expected.json (tests/harness/surfel_fit.py,
 * unique up to such sums) and is checked against all of them by
 * tests/harness/test_metrics.c.
 */
static const uint16_t surfel_normals[256][3] = {
    {0, 0, 0},
    {0x111, 0, 0},
    {0x111, 0, 0},
    {0x440, 0, 0},
    {0x111, 0, 0},
    {0x404, 0, 0},
    {0x222, 0, 0},
    {0x400, 0x333, 0},
    {0x111, 0, 0},
    {0x222, 0, 0},
    {0x404, 0, 0},
    {0x400, 0x333, 0},
    {0x440, 0, 0},
    {0x400, 0x333, 0},
    {0x400, 0x333, 0},
    {0x400, 0x400, 0},
    {0x111, 0, 0},
    {0x044, 0, 0},
    {0x222, 0, 0},
    {0x333, 0x040, 0},
    {0x222, 0, 0},
    {0x333, 0x004, 0},
    {0x333, 0, 0},
    {0x333, 0x333, 0},
    {0x222, 0, 0},
    {0x111, 0x044, 0},
    {0x404, 0x111, 0},
    {0x444, 0x202, 0x022},
    {0x440, 0x111, 0},
    {0x444, 0x220, 0x022},
    {0x444, 0x400, 0},
    {0x400, 0x333, 0},
    {0x111, 0, 0},
    {0x222, 0, 0},
    {0x044, 0, 0},
    {0x333, 0x040, 0},
    {0x222, 0, 0},
    {0x404, 0x111, 0},
    {0x111, 0x044, 0},
    {0x444, 0x202, 0x022},
    {0x222, 0, 0},
    {0x333, 0, 0},
    {0x333, 0x004, 0},
    {0x333, 0x333, 0},
    {0x440, 0x111, 0},
    {0x444, 0x400, 0},
    {0x444, 0x220, 0x022},
    {0x400, 0x333, 0},
    {0x440, 0, 0},
    {0x333, 0x040, 0},
    {0x333, 0x040, 0},
    {0x040, 0x040, 0},
    {0x440, 0x111, 0},
    {0x444, 0x220, 0x202},
    {0x444, 0x040, 0},
    {0x333, 0x040, 0},
    {0x440, 0x111, 0},
    {0x444, 0x040, 0},
    {0x444, 0x220, 0x202},
    {0x333, 0x040, 0},
    {0x440, 0x440, 0},
    {0x440, 0x111, 0},
    {0x440, 0x111, 0},
    {0x440, 0, 0},
    {0x111, 0, 0},
    {0x222, 0, 0},
    {0x222, 0, 0},
    {0x440, 0x111, 0},
    {0x044, 0, 0},
    {0x333, 0x004, 0},
    {0x111, 0x044, 0},
    {0x444, 0x220, 0x022},
    {0x222, 0, 0},
    {0x333, 0, 0},
    {0x404, 0x111, 0},
    {0x444, 0x400, 0},
    {0x333, 0x040, 0},
    {0x333, 0x333, 0},
    {0x444, 0x202, 0x022},
    {0x400, 0x333, 0},
    {0x404, 0, 0},
    {0x333, 0x004, 0},
    {0x404, 0x111, 0},
    {0x444, 0x220, 0x202},
    {0x333, 0x004, 0},
    {0x004, 0x004, 0},
    {0x444, 0x004, 0},
    {0x333, 0x004, 0},
    {0x404, 0x111, 0},
    {0x444, 0x004, 0},
    {0x404, 0x404, 0},
    {0x404, 0x111, 0},
    {0x444, 0x220, 0x202},
    {0x333, 0x004, 0},
    {0x404, 0x111, 0},
    {0x404, 0, 0},
    {0x222, 0, 0},
    {0x333, 0, 0},
    {0x111, 0x044, 0},
    {0x444, 0x040, 0},
    {0x111, 0x044, 0},
    {0x444, 0x004, 0},
    {0x044, 0x044, 0},
    {0x111, 0x044, 0},
    {0x333, 0, 0},
    {0x444, 0, 0},
    {0x444, 0x004, 0},
    {0x333, 0, 0},
    {0x444, 0x040, 0},
    {0x333, 0, 0},
    {0x111, 0x044, 0},
    {0x222, 0, 0},
    {0x400, 0x333, 0},
    {0x333, 0x333, 0},
    {0x444, 0x202, 0x022},
    {0x333, 0x040, 0},
    {0x444, 0x220, 0x022},
    {0x333, 0x004, 0},
    {0x111, 0x044, 0},
    {0x044, 0, 0},
    {0x444, 0x400, 0},
    {0x333, 0, 0},
    {0x404, 0x111, 0},
    {0x222, 0, 0},
    {0x440, 0x111, 0},
    {0x222, 0, 0},
    {0x222, 0, 0},
    {0x111, 0, 0},
    {0x111, 0, 0},
    {0x222, 0, 0},
    {0x222, 0, 0},
    {0x440, 0x111, 0},
    {0x222, 0, 0},
    {0x404, 0x111, 0},
    {0x333, 0, 0},
    {0x444, 0x400, 0},
    {0x044, 0, 0},
    {0x111, 0x044, 0},
    {0x333, 0x004, 0},
    {0x444, 0x220, 0x022},
    {0x333, 0x040, 0},
    {0x444, 0x202, 0x022},
    {0x333, 0x333, 0},
    {0x400, 0x333, 0},
    {0x222, 0, 0},
    {0x111, 0x044, 0},
    {0x333, 0, 0},
    {0x444, 0x040, 0},
    {0x333, 0, 0},
    {0x444, 0x004, 0},
    {0x444, 0, 0},
    {0x333, 0, 0},
    {0x111, 0x044, 0},
    {0x044, 0x044, 0},
    {0x444, 0x004, 0},
    {0x111, 0x044, 0},
    {0x444, 0x040, 0},
    {0x111, 0x044, 0},
    {0x333, 0, 0},
    {0x222, 0, 0},
    {0x404, 0, 0},
    {0x404, 0x111, 0},
    {0x333, 0x004, 0},
    {0x444, 0x220, 0x202},
    {0x404, 0x111, 0},
    {0x404, 0x404, 0},
    {0x444, 0x004, 0},
    {0x404, 0x111, 0},
    {0x333, 0x004, 0},
    {0x444, 0x004, 0},
    {0x004, 0x004, 0},
    {0x333, 0x004, 0},
    {0x444, 0x220, 0x202},
    {0x404, 0x111, 0},
    {0x333, 0x004, 0},
    {0x404, 0, 0},
    {0x400, 0x333, 0},
    {0x444, 0x202, 0x022},
    {0x333, 0x333, 0},
    {0x333, 0x040, 0},
    {0x444, 0x400, 0},
    {0x404, 0x111, 0},
    {0x333, 0, 0},
    {0x222, 0, 0},
    {0x444, 0x220, 0x022},
    {0x111, 0x044, 0},
    {0x333, 0x004, 0},
    {0x044, 0, 0},
    {0x440, 0x111, 0},
    {0x222, 0, 0},
    {0x222, 0, 0},
    {0x111, 0, 0},
    {0x440, 0, 0},
    {0x440, 0x111, 0},
    {0x440, 0x111, 0},
    {0x440, 0x440, 0},
    {0x333, 0x040, 0},
    {0x444, 0x220, 0x202},
    {0x444, 0x040, 0},
    {0x440, 0x111, 0},
    {0x333, 0x040, 0},
    {0x444, 0x040, 0},
    {0x444, 0x220, 0x202},
    {0x440, 0x111, 0},
    {0x040, 0x040, 0},
    {0x333, 0x040, 0},
    {0x333, 0x040, 0},
    {0x440, 0, 0},
    {0x400, 0x333, 0},
    {0x444, 0x220, 0x022},
    {0x444, 0x400, 0},
    {0x440, 0x111, 0},
    {0x333, 0x333, 0},
    {0x333, 0x004, 0},
    {0x333, 0, 0},
    {0x222, 0, 0},
    {0x444, 0x202, 0x022},
    {0x111, 0x044, 0},
    {0x404, 0x111, 0},
    {0x222, 0, 0},
    {0x333, 0x040, 0},
    {0x044, 0, 0},
    {0x222, 0, 0},
    {0x111, 0, 0},
    {0x400, 0x333, 0},
    {0x444, 0x400, 0},
    {0x444, 0x220, 0x022},
    {0x440, 0x111, 0},
    {0x444, 0x202, 0x022},
    {0x404, 0x111, 0},
    {0x111, 0x044, 0},
    {0x222, 0, 0},
    {0x333, 0x333, 0},
    {0x333, 0, 0},
    {0x333, 0x004, 0},
    {0x222, 0, 0},
    {0x333, 0x040, 0},
    {0x222, 0, 0},
    {0x044, 0, 0},
    {0x111, 0, 0},
    {0x400, 0x400, 0},
    {0x400, 0x333, 0},
    {0x400, 0x333, 0},
    {0x440, 0, 0},
    {0x400, 0x333, 0},
    {0x404, 0, 0},
    {0x222, 0, 0},
    {0x111, 0, 0},
    {0x400, 0x333, 0},
    {0x222, 0, 0},
    {0x404, 0, 0},
    {0x111, 0, 0},
    {0x440, 0, 0},
    {0x111, 0, 0},
    {0x111, 0, 0},
    {0, 0, 0},
};

static void area_table_3d(const double s[3], double area[256]) {
    for (int c = 0; c < 256; c++) {
        double sum = 0.0;
        for (int j = 0; j < 3; j++) {
            unsigned v = surfel_normals[c][j];
            if (!v) continue;
            double n0 = (double)((v >> 8) & 15) / 8.0 * s[1] * s[2];
            double n1 = (double)((v >> 4) & 15) / 8.0 * s[0] * s[2];
            double n2 = (double)(v & 15) / 8.0 * s[0] * s[1];
            sum += sqrt(n0 * n0 + n1 * n1 + n2 * n2);
        }
        area[c] = sum;
    }
}

/* 2-D contour lengths (marching squares), bit 3 = pixel (-1,-1) ... bit 0
 * = pixel (0,0): one diagonal half-edge for a corner cut, two for the
 * saddles 6 and 9, a straight edge for a half-plane. */
static void area_table_2d(double s0, double s1, double area[16]) {
    double diag = 0.5 * sqrt(s0 * s0 + s1 * s1);
    for (int c = 0; c < 16; c++)
        area[c] = diag;
    area[0] = area[15] = 0.0;
    area[6] = area[9] = 2.0 * diag;
    area[3] = area[12] = s1;
    area[5] = area[10] = s0;
}

int hx_surface_area_table(int ndim, const double *spacing_mm, double *area,
                          sf_err *err) {
    if ((ndim != 2 && ndim != 3) || !spacing_mm || !area)
        return sf_err_set(err, SF_EINVAL, "area table: bad arguments");
    for (int i = 0; i < ndim; i++)
        if (!isfinite(spacing_mm[i]) || !(spacing_mm[i] > 0.0))
            return sf_err_set(err, SF_ERANGE, "area table: spacing %g",
                              spacing_mm[i]);
    if (ndim == 3)
        area_table_3d(spacing_mm, area);
    else
        area_table_2d(spacing_mm[0], spacing_mm[1], area);
    return SF_OK;
}

/* ------------------------------------------------------- surface lists */

void hx_surface_free(hx_surface *s) {
    if (!s) return;
    free(s->d_gt);
    free(s->a_gt);
    free(s->d_pred);
    free(s->a_pred);
    free(s);
}

typedef struct da {
    double d, a;
} da;

static int da_cmp(const void *x, const void *y) {
    const da *p = x, *q = y;
    if (p->d < q->d) return -1;
    if (p->d > q->d) return 1;
    if (p->a < q->a) return -1;
    if (p->a > q->a) return 1;
    return 0;
}

/* Neighbour codes of mask m over the corner box: corner (c0, c1, c2) of
 * the box is image corner (o0 + c0, o1 + c1, o2 + c2), between voxels
 * o + c - 1 and o + c. The mask is first copied (0/1) into a box one
 * voxel larger on each side of the corners' voxels (zero outside the
 * image), so the codes need no bounds checks. pad has (cn0 + 1)(cn1 +
 * 1)(cn2 + 1) bytes in 3-D, cn1 + 1 by cn2 + 1 in 2-D. */
static void corner_codes(const uint8_t *m, const dims3 *d, const size_t o[3],
                         const size_t cn[3], uint8_t *pad, uint8_t *code) {
    size_t p0n = d->real0 ? cn[0] + 1 : 1, p1n = cn[1] + 1, p2n = cn[2] + 1;
    size_t idx = 0;
    for (size_t a = 0; a < p0n; a++)
        for (size_t b = 0; b < p1n; b++) {
            /* voxel (o0 - 1 + a, o1 - 1 + b, o2 - 1 + c); 2-D: axis 0 is
             * the single slice */
            long i0 = d->real0 ? (long)(o[0] + a) - 1 : 0;
            long i1 = (long)(o[1] + b) - 1;
            uint8_t *row = pad + idx;
            idx += p2n;
            if (i0 < 0 || i0 >= (long)d->n[0] || i1 < 0 ||
                i1 >= (long)d->n[1]) {
                memset(row, 0, p2n);
                continue;
            }
            const uint8_t *src =
                m + ((size_t)i0 * d->n[1] + (size_t)i1) * d->n[2];
            for (size_t c = 0; c < p2n; c++) {
                long i2 = (long)(o[2] + c) - 1;
                row[c] = i2 >= 0 && i2 < (long)d->n[2] && src[i2] != 0;
            }
        }
    size_t s1 = p2n, s0 = p1n * p2n;
    idx = 0;
    if (d->real0) {
        for (size_t c0 = 0; c0 < cn[0]; c0++)
            for (size_t c1 = 0; c1 < cn[1]; c1++) {
                const uint8_t *q = pad + c0 * s0 + c1 * s1;
                for (size_t c2 = 0; c2 < cn[2]; c2++, idx++) {
                    const uint8_t *r = q + c2;
                    code[idx] =
                        (uint8_t)(r[0] << 7 | r[1] << 6 | r[s1] << 5 |
                                  r[s1 + 1] << 4 | r[s0] << 3 | r[s0 + 1] << 2 |
                                  r[s0 + s1] << 1 | r[s0 + s1 + 1]);
                }
            }
    } else {
        for (size_t c1 = 0; c1 < cn[1]; c1++) {
            const uint8_t *q = pad + c1 * s1;
            for (size_t c2 = 0; c2 < cn[2]; c2++, idx++) {
                const uint8_t *r = q + c2;
                code[idx] =
                    (uint8_t)(r[0] << 3 | r[1] << 2 | r[s1] << 1 | r[s1 + 1]);
            }
        }
    }
}

/* Border elements of `from` (codes cf) with their distance to the border
 * of the other mask (codes co): EDT of co's border into dist, then the
 * sorted list. */
static int directed(const uint8_t *cf, const uint8_t *co, size_t nc,
                    const size_t cn[3], const dims3 *d, const double *area,
                    int full, double *dist, double **d_out, double **a_out,
                    size_t *n_out, hx__ws *w) {
    size_t nf = 0, no = 0;
    for (size_t i = 0; i < nc; i++) {
        nf += cf[i] != 0 && cf[i] != full;
        no += co[i] != 0 && co[i] != full;
    }
    *n_out = nf;
    *d_out = *a_out = NULL;
    if (!nf) return SF_OK;
    da *l = hx__ws_get(w, HX__WS_LIST, nf * sizeof *l);
    double *dd = malloc(nf * sizeof *dd), *aa = malloc(nf * sizeof *aa);
    int rc = SF_ENOMEM;
    if (!l || !dd || !aa) goto out;
    if (no) {
        for (size_t i = 0; i < nc; i++)
            dist[i] = co[i] != 0 && co[i] != full ? 0.0 : INFINITY;
        /* On the corner grid the axes and spacings are the image's. */
        if ((rc = edt3(dist, cn, d->s, d->real0)) != SF_OK) goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < nc; i++) {
        if (cf[i] == 0 || cf[i] == full) continue;
        l[k].d = no ? sqrt(dist[i]) : INFINITY;
        l[k].a = area[cf[i]];
        k++;
    }
    qsort(l, nf, sizeof *l, da_cmp);
    for (size_t i = 0; i < nf; i++) {
        dd[i] = l[i].d;
        aa[i] = l[i].a;
    }
    *d_out = dd;
    *a_out = aa;
    dd = aa = NULL;
    rc = SF_OK;
out:
    free(dd);
    free(aa);
    return rc;
}

int hx_surface_compute(const hx_grid *g, const uint8_t *gt, const uint8_t *pred,
                       hx_surface **out, sf_err *err) {
    hx__ws w = {0};
    int rc = hx__surface_compute(g, gt, pred, out, &w, err);
    hx__ws_free(&w);
    return rc;
}

int hx__surface_compute(const hx_grid *g, const uint8_t *gt,
                        const uint8_t *pred, hx_surface **out, hx__ws *w,
                        sf_err *err) {
    int rc = hx_grid_check(g, err);
    hx_surface *s = NULL;
    uint8_t *cg = NULL, *cp = NULL, *pad = NULL;
    double *dist = NULL;
    if (rc != SF_OK) goto out;
    rc = SF_EINVAL;
    if (!gt || !pred || !out) {
        sf_err_set(err, rc, "hx_surface_compute: NULL argument");
        goto out;
    }
    *out = NULL;
    rc = SF_ENOMEM;
    if (!(s = calloc(1, sizeof *s))) goto out;
    dims3 d = dims_of(g);
    /* Voxel counts and the bounding box of G u P. */
    size_t lo[3] = {d.n[0], d.n[1], d.n[2]}, hi[3] = {0, 0, 0};
    uint64_t ng = 0, np = 0, ni = 0;
    size_t idx = 0;
    for (size_t i0 = 0; i0 < d.n[0]; i0++)
        for (size_t i1 = 0; i1 < d.n[1]; i1++) {
            const uint8_t *rg = gt + idx, *rp = pred + idx;
            size_t first = d.n[2], last = 0;
            for (size_t i2 = 0; i2 < d.n[2]; i2++) {
                unsigned a = rg[i2] != 0, b = rp[i2] != 0;
                ng += a;
                np += b;
                ni += a & b;
                if (a | b) {
                    if (first == d.n[2]) first = i2;
                    last = i2;
                }
            }
            idx += d.n[2];
            if (first == d.n[2]) continue;
            size_t c[3] = {i0, i1, first};
            for (int a = 0; a < 2; a++) {
                lo[a] = c[a] < lo[a] ? c[a] : lo[a];
                hi[a] = c[a] > hi[a] ? c[a] : hi[a];
            }
            lo[2] = first < lo[2] ? first : lo[2];
            hi[2] = last > hi[2] ? last : hi[2];
        }
    s->n_vox_gt = ng;
    s->n_vox_pred = np;
    s->n_vox_inter = ni;
    if (ng + np == 0) {
        rc = SF_OK; /* no surface on either side */
        goto done;
    }
    /* The corner box: corners lo..hi+1 on each real axis. */
    size_t o[3], cn[3];
    for (int a = 0; a < 3; a++) {
        o[a] = lo[a];
        cn[a] = hi[a] - lo[a] + 2;
    }
    if (!d.real0) { /* 2-D: one "slice", no corners along axis 0 */
        o[0] = 0;
        cn[0] = 1;
    }
    size_t nc = cn[0] * cn[1] * cn[2];
    cg = hx__ws_get(w, HX__WS_CG, nc);
    cp = hx__ws_get(w, HX__WS_CP, nc);
    dist = hx__ws_get(w, HX__WS_DIST, nc * sizeof *dist);
    pad = hx__ws_get(w, HX__WS_PAD, (cn[0] + 1) * (cn[1] + 1) * (cn[2] + 1));
    if (!cg || !cp || !dist || !pad) {
        sf_err_set(err, rc, "surface: out of memory (%zu corners)", nc);
        goto out;
    }
    corner_codes(gt, &d, o, cn, pad, cg);
    corner_codes(pred, &d, o, cn, pad, cp);
    double area[256];
    int full;
    if (d.real0) {
        area_table_3d(d.s, area);
        full = 255;
    } else {
        area_table_2d(d.s[1], d.s[2], area);
        full = 15;
    }
    if ((rc = directed(cg, cp, nc, cn, &d, area, full, dist, &s->d_gt, &s->a_gt,
                       &s->n_gt, w)) != SF_OK ||
        (rc = directed(cp, cg, nc, cn, &d, area, full, dist, &s->d_pred,
                       &s->a_pred, &s->n_pred, w)) != SF_OK) {
        sf_err_set(err, rc, "surface: out of memory");
        goto out;
    }
done:
    s->area_gt = hx_sum_pairwise(s->a_gt, s->n_gt);
    s->area_pred = hx_sum_pairwise(s->a_pred, s->n_pred);
    *out = s;
    s = NULL;
    rc = SF_OK;
out:
    hx_surface_free(s);
    return rc;
}

/* -------------------------------------------------------------- metrics */

double hx_surface_dice(const hx_surface *s) {
    uint64_t sum = s->n_vox_gt + s->n_vox_pred;
    if (!sum) return NAN;
    return 2.0 * (double)s->n_vox_inter / (double)sum;
}

/* numpy: np.sum(a[d <= tol]) - the selected areas in list order. */
static double area_within(const double *d, const double *a, size_t n,
                          double tol) {
    size_t k = 0;
    while (k < n && d[k] <= tol)
        k++; /* sorted ascending by d */
    return hx_sum_pairwise(a, k);
}

double hx_surface_nsd(const hx_surface *s, double tol_mm) {
    double og = area_within(s->d_gt, s->a_gt, s->n_gt, tol_mm);
    double op = area_within(s->d_pred, s->a_pred, s->n_pred, tol_mm);
    return (og + op) / (s->area_gt + s->area_pred);
}

/* surface-distance's compute_robust_hausdorff for one direction: the
 * running sum (np.cumsum, sequential) over the total (np.sum), the first
 * index reaching percent/100 (np.searchsorted, side left). */
static double hd_dir(const double *d, const double *a, size_t n, double total,
                     double percent) {
    if (!n) return INFINITY;
    double q = percent / 100.0, c = 0.0;
    for (size_t k = 0; k < n; k++) {
        c += a[k];
        if (c / total >= q) return d[k];
    }
    return d[n - 1];
}

double hx_surface_hd(const hx_surface *s, double percent) {
    double hg = hd_dir(s->d_gt, s->a_gt, s->n_gt, s->area_gt, percent);
    double hp = hd_dir(s->d_pred, s->a_pred, s->n_pred, s->area_pred, percent);
    return hg > hp ? hg : hp; /* max(); no NaN can occur here */
}

/* np.sum(d * a) / np.sum(a). */
static double asd_dir(const double *d, const double *a, size_t n,
                      double total) {
    if (!n) return NAN; /* 0 / 0 */
    double *p = malloc(n * sizeof *p);
    double num;
    if (p) {
        for (size_t i = 0; i < n; i++)
            p[i] = d[i] * a[i];
        num = hx_sum_pairwise(p, n);
        free(p);
    } else { /* no memory: the same value up to summation order */
        num = 0.0;
        for (size_t i = 0; i < n; i++)
            num += d[i] * a[i];
    }
    return num / total;
}

double hx_surface_asd_gt_to_pred(const hx_surface *s) {
    return asd_dir(s->d_gt, s->a_gt, s->n_gt, s->area_gt);
}

double hx_surface_asd_pred_to_gt(const hx_surface *s) {
    return asd_dir(s->d_pred, s->a_pred, s->n_pred, s->area_pred);
}

int hx_metrics_compute(const hx_grid *g, const uint8_t *gt, const uint8_t *pred,
                       hx_metrics *out, sf_err *err) {
    hx_surface *s = NULL;
    if (!out) return sf_err_set(err, SF_EINVAL, "hx_metrics_compute: NULL");
    int rc = hx_surface_compute(g, gt, pred, &s, err);
    if (rc != SF_OK) return rc;
    out->dice = hx_surface_dice(s);
    out->nsd_1mm = hx_surface_nsd(s, 1.0);
    out->nsd_2mm = hx_surface_nsd(s, 2.0);
    out->hd95 = hx_surface_hd(s, 95.0);
    out->hd100 = hx_surface_hd(s, 100.0);
    out->asd_gt_to_pred = hx_surface_asd_gt_to_pred(s);
    out->asd_pred_to_gt = hx_surface_asd_pred_to_gt(s);
    hx_surface_free(s);
    return SF_OK;
}
