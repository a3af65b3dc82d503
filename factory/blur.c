/*
 * blur.c - Gaussian blur: a recursive (IIR) filter whose cost does not grow
 * with sigma, a truncated direct kernel for small sigma, and the direct
 * separable convolution both are tested against.
 *
 * Recursive filter (Deriche's parallel form, our coefficients). The
 * continuous Gaussian exp(-t^2/2), t >= 0, is approximated by three damped
 * cosine pairs (K = 6 complex-conjugate poles):
 *
 *     f(t) = sum_k exp(-c_k t) (a_k cos(d_k t) + b_k sin(d_k t)),
 *
 * fitted by us (variable-projection least squares on t in [0, 20]; the
 * classic K = 4 constants of Deriche 1993 / Getreuer's IPOL 2013 survey
 * leave ~9e-5 of step-response error, over our 1e-4 budget). The sampled
 * kernel h(n) = f(|n| / sigma) is split into a causal part (n >= 0) and an
 * anticausal part (n >= 0, mirrored) that double-counts h(0), each run as
 * three second-order sections in parallel:
 *
 *     y = sum_k causal_k(x) + sum_k anticausal_k(x) - h(0) x.
 *
 * Against the normalised sampled Gaussian the fitted kernel is off by
 * < 1e-5 in L1 and < 2e-6 in step response for every sigma >= 0.5.
 *
 * Boundary: edge replicate, exact. Each pass starts in the steady state of
 * the constant signal its edge sample extends to (the response of a
 * stable recursion to an infinitely long constant past), so the result is
 * the convolution of the replicate-extended signal.
 *
 * Normalisation: the coefficients are scaled so the kernel's DC gain is
 * exactly 1 (closed form), so a constant image stays constant.
 *
 * Layout (float, sigma <= BLUR_FLOAT_UPTO): rows first, then columns,
 * each as a causal then an anticausal sweep, in GCC vector types (plain
 * IEEE operations in a fixed order per sample, so the bits do not depend
 * on the vector width). The row pass runs four rows at a time in the four
 * lanes of a vector, 4 x 4 blocks transposed in registers on the way in
 * and out, the section states in registers. The column pass walks down the
 * rows with all columns of a row at once (SIMD across contiguous columns,
 * blocks of BLUR_BW so the per-column states stay in L1), so memory is
 * read row by row. Both run on x - ref (ref = the signal's first sample)
 * plus a tiny guard (see BLUR_GUARD) and add ref back. Above
 * BLUR_FLOAT_UPTO the recursion runs in double through 16-lane strips.
 *
 * Small sigma: below 0.5 the reference kernel (radius <= 3) is used, below
 * BLUR_RECURSIVE_FROM a truncated direct kernel in float (cheaper than six
 * poles there; see blur_direct_f). sf__blur_gauss_recursive runs the
 * recursion whatever sigma, for the tests. Cost for 1024 x 1024 on one
 * core: ~3 ms (sigma 0.6) to ~6.5 ms (sigma 2.5) direct, ~8 ms recursive.
 */
#include "sf_int.h"

#include <stdlib.h>
#include <string.h>

/* Below this sigma the direct kernel (radius ceil(6 sigma) <= 3) is both
 * exact and cheaper. */
#define BLUR_DIRECT_BELOW 0.5
#define BLUR_NSEC         3
/* Up to this sigma single precision keeps the error < 1e-5; above it the
 * poles near 1 accumulate rounding (~1e-4 at sigma 64) and the recursion
 * runs in double (half the lanes per vector). */
#define BLUR_FLOAT_UPTO 16.0

/* Fitted poles (c, d) and residues (a, b); see the header comment. */
static const double blur_fit[BLUR_NSEC][4] = {
    {2.1820166886284951, 0.52657126162707857, 3.1527163350933072,
     7.29954356397357},
    {2.1509050877596421, 1.6160245827730948, -2.310963128718047,
     -0.91539607574049164},
    {2.0784990353920985, 2.8565383981088592, 0.1582389550916804,
     -0.044271614814662054},
};

typedef struct blur_coef {
    /* Section k: y[n] = n0 x[n] + n1 x[n-1] - d1 y[n-1] - d2 y[n-2]. */
    double n0[BLUR_NSEC], n1[BLUR_NSEC], d1[BLUR_NSEC], d2[BLUR_NSEC];
    double gain[BLUR_NSEC]; /* steady-state output per unit constant input */
    double h0;              /* h(0), counted by both directions */
    int wide;               /* run the recursion in double */
} blur_coef;

static void blur_coef_make(blur_coef *bc, double sigma) {
    double n0[BLUR_NSEC], n1[BLUR_NSEC], d1[BLUR_NSEC], d2[BLUR_NSEC];
    double dc = 0.0, h0 = 0.0;
    for (int k = 0; k < BLUR_NSEC; k++) {
        double c = blur_fit[k][0], d = blur_fit[k][1];
        double a = blur_fit[k][2], b = blur_fit[k][3];
        /* h_k(n) = r^n (a cos(w n) + b sin(w n)), n >= 0, has the z-transform
         * (a + (b r sin w - a r cos w) z^-1) / (1 - 2 r cos w z^-1 + r^2 z^-2).
         */
        double r = exp(-c / sigma), w = d / sigma;
        n0[k] = a;
        n1[k] = r * (b * sin(w) - a * cos(w));
        d1[k] = -2.0 * r * cos(w);
        d2[k] = r * r;
        dc += 2.0 * (n0[k] + n1[k]) / (1.0 + d1[k] + d2[k]);
        h0 += a;
    }
    dc -= h0; /* sum over all n of h(|n|) */
    double s = 1.0 / dc;
    for (int k = 0; k < BLUR_NSEC; k++) {
        bc->n0[k] = s * n0[k];
        bc->n1[k] = s * n1[k];
        bc->d1[k] = d1[k];
        bc->d2[k] = d2[k];
        bc->gain[k] = s * (n0[k] + n1[k]) / (1.0 + d1[k] + d2[k]);
    }
    bc->h0 = s * h0;
    bc->wide = sigma > BLUR_FLOAT_UPTO;
}

/* The recursion runs on strips of BLUR_LANES independent signals
 * ("lanes", one cache line of floats): sample i of lane l is
 * data[i * stride + l]. The lanes are held in GCC vector types, so each
 * operation acts on all lanes at once with plain IEEE arithmetic in a fixed
 * order (no reassociation): the bits do not depend on the vector width.
 * tmp holds the n x BLUR_LANES causal sums. */
#define BLUR_LANES    16
#define BLUR_PREFETCH 32 /* rows ahead */

typedef float blur_v4f __attribute__((vector_size(16)));
typedef double blur_v2d __attribute__((vector_size(16)));

/* Load lanes g of row x into xv and advance the three sections of lane
 * group g by one sample; leaves their summed output in `sum`. The order
 * y = ((n0 x + n1 x') - d2 y'') - d1 y' adds the newest state last, which
 * keeps the loop-carried dependency short. */
#define BLUR_STEP(T, VT)                                                       \
    VT xv;                                                                     \
    for (int l = 0; l < VL; l++)                                               \
        xv[l] = (T)x[g * VL + l];                                              \
    xv -= ref[g];                                                              \
    VT yp = ((a0 * xv + b0 * xe[g]) - e0 * p2[g]) - c0 * p1[g];                \
    VT yq = ((a1 * xv + b1 * xe[g]) - e1 * q2[g]) - c1 * q1[g];                \
    VT yr = ((a2 * xv + b2 * xe[g]) - e2 * r2[g]) - c2 * r1[g];                \
    p2[g] = p1[g];                                                             \
    p1[g] = yp;                                                                \
    q2[g] = q1[g];                                                             \
    q1[g] = yq;                                                                \
    r2[g] = r1[g];                                                             \
    r1[g] = yr;                                                                \
    xe[g] = xv;                                                                \
    VT sum = (yp + yq) + yr

/* Start every section in the steady state of row `edge` repeated
 * forever (the exact state for an edge-replicated signal). */
#define BLUR_START(T, edge)                                                    \
    for (int g = 0; g < G; g++) {                                              \
        for (int l = 0; l < VL; l++)                                           \
            xe[g][l] = (T)(edge)[g * VL + l];                                  \
        xe[g] -= ref[g];                                                       \
        p1[g] = p2[g] = g0 * xe[g];                                            \
        q1[g] = q2[g] = g1 * xe[g];                                            \
        r1[g] = r2[g] = g2 * xe[g];                                            \
    }

#define BLUR_STRIP_FN(NAME, T, VT)                                             \
    static void NAME(const blur_coef *bc, float *data, size_t stride, int n,   \
                     T *tmp) {                                                 \
        enum { VL = (int)(sizeof(VT) / sizeof(T)), G = BLUR_LANES / VL };      \
        VT a0, a1, a2, b0, b1, b2, c0, c1, c2, e0, e1, e2, g0, g1, g2, h0;     \
        for (int l = 0; l < VL; l++) {                                         \
            a0[l] = (T)bc->n0[0], a1[l] = (T)bc->n0[1], a2[l] = (T)bc->n0[2];  \
            b0[l] = (T)bc->n1[0], b1[l] = (T)bc->n1[1], b2[l] = (T)bc->n1[2];  \
            c0[l] = (T)bc->d1[0], c1[l] = (T)bc->d1[1], c2[l] = (T)bc->d1[2];  \
            e0[l] = (T)bc->d2[0], e1[l] = (T)bc->d2[1], e2[l] = (T)bc->d2[2];  \
            g0[l] = (T)bc->gain[0], g1[l] = (T)bc->gain[1];                    \
            g2[l] = (T)bc->gain[2], h0[l] = (T)bc->h0;                         \
        }                                                                      \
        VT xe[G], p1[G], p2[G], q1[G], q2[G], r1[G], r2[G], ref[G];            \
        /* The filter has DC gain 1, so it runs on x - ref (ref = row 0)  */   \
        /* and adds ref back: a constant strip comes out exact, and the   */   \
        /* sections work on smaller numbers.                              */   \
        for (int g = 0; g < G; g++)                                            \
            for (int l = 0; l < VL; l++)                                       \
                ref[g][l] = (T)data[g * VL + l];                               \
        /* Causal pass: sums to tmp. Strided rows defeat the hardware */       \
        /* prefetcher, so fetch BLUR_PREFETCH rows ahead.              */      \
        BLUR_START(T, data)                                                    \
        for (int i = 0; i < n; i++) {                                          \
            const float *x = data + (size_t)i * stride;                        \
            T *t = tmp + (size_t)i * BLUR_LANES;                               \
            if (i + BLUR_PREFETCH < n)                                         \
                __builtin_prefetch(x + BLUR_PREFETCH * stride);                \
            _Pragma("GCC unroll 1") for (int g = 0; g < G; g++) {              \
                BLUR_STEP(T, VT);                                              \
                memcpy(t + g * VL, &sum, sizeof sum);                          \
            }                                                                  \
        }                                                                      \
        /* Anticausal pass (counts h(0) a second time), output in place. */    \
        BLUR_START(T, data + (size_t)(n - 1) * stride)                         \
        for (int i = n - 1; i >= 0; i--) {                                     \
            float *x = data + (size_t)i * stride;                              \
            const T *t = tmp + (size_t)i * BLUR_LANES;                         \
            _Pragma("GCC unroll 1") for (int g = 0; g < G; g++) {              \
                BLUR_STEP(T, VT);                                              \
                VT tv;                                                         \
                memcpy(&tv, t + g * VL, sizeof tv);                            \
                VT out = ((tv + sum) - h0 * xv) + ref[g];                      \
                for (int l = 0; l < VL; l++)                                   \
                    x[g * VL + l] = (float)out[l];                             \
            }                                                                  \
        }                                                                      \
    }

/* cppcheck-suppress uninitvar ; GCC vector temporaries */
BLUR_STRIP_FN(blur_strip_d, double, blur_v2d)

/* The double path (sigma > BLUR_FLOAT_UPTO): rows through a transposed lane
 * buffer, then columns in place, 16 at a time. */
static int blur_gauss_d(sf_imgf *im, const blur_coef *bc) {
    const size_t nx = (size_t)im->nx, ny = (size_t)im->ny, L = BLUR_LANES;
    const size_t nmax = nx > ny ? nx : ny;
    float *lanes = malloc(sizeof(float) * nmax * L);
    double *tmp = malloc(sizeof(double) * nmax * L);
    if (!lanes || !tmp) {
        free(lanes);
        free(tmp);
        return SF_ENOMEM;
    }
    /* Rows: L at a time, transposed into the lane buffer. A short last
     * group repeats its last row in the spare lanes (not written back). */
    for (size_t y0 = 0; y0 < ny; y0 += L) {
        size_t nl = ny - y0 < L ? ny - y0 : L;
        for (size_t l = 0; l < L; l++) {
            const float *src = im->px + (y0 + (l < nl ? l : nl - 1)) * nx;
            for (size_t x = 0; x < nx; x++)
                lanes[x * L + l] = src[x];
        }
        blur_strip_d(bc, lanes, L, (int)nx, tmp);
        for (size_t l = 0; l < nl; l++) {
            float *dst = im->px + (y0 + l) * nx;
            for (size_t x = 0; x < nx; x++)
                dst[x] = lanes[x * L + l];
        }
    }
    /* Columns: L adjacent columns in place; a short last group goes
     * through the lane buffer the same way. */
    size_t x0 = 0;
    for (; x0 + L <= nx; x0 += L)
        blur_strip_d(bc, im->px + x0, nx, (int)ny, tmp);
    if (x0 < nx) {
        size_t nl = nx - x0;
        for (size_t y = 0; y < ny; y++) {
            const float *src = im->px + y * nx + x0;
            for (size_t l = 0; l < L; l++)
                lanes[y * L + l] = src[l < nl ? l : nl - 1];
        }
        blur_strip_d(bc, lanes, L, (int)ny, tmp);
        for (size_t y = 0; y < ny; y++) {
            float *dst = im->px + y * nx + x0;
            for (size_t l = 0; l < nl; l++)
                dst[l] = lanes[y * L + l];
        }
    }
    free(lanes);
    free(tmp);
    return SF_OK;
}

/* ------------------------------------------------------------ float path */

/* The float recursion runs on (x - ref) + BLUR_GUARD: a constant far above
 * the denormal range and far below any non-zero x - ref's ulp, which
 * absorbs it. Where x == ref (constant runs) the input is the guard, which
 * holds the sections at gain * BLUR_GUARD instead of letting them decay
 * through denormals (~100 cycles per operation on x86; the old filter
 * spent up to 2x its time there on piecewise-constant images).
 * Subtracted again on output, before ref is added back. */
#define BLUR_GUARD 0x1p-60f

typedef float blur_v4f __attribute__((vector_size(16)));
typedef int blur_v4i __attribute__((vector_size(16)));

/* The float coefficients, broadcast. */
typedef struct blur_cf {
    blur_v4f a0, a1, a2, b0, b1, b2, c0, c1, c2, e0, e1, e2, g0, g1, g2, h0;
    blur_v4f guard;
} blur_cf;

static void blur_cf_make(const blur_coef *bc, blur_cf *f) {
    for (int l = 0; l < 4; l++) {
        f->a0[l] = (float)bc->n0[0], f->a1[l] = (float)bc->n0[1];
        f->a2[l] = (float)bc->n0[2], f->b0[l] = (float)bc->n1[0];
        f->b1[l] = (float)bc->n1[1], f->b2[l] = (float)bc->n1[2];
        f->c0[l] = (float)bc->d1[0], f->c1[l] = (float)bc->d1[1];
        f->c2[l] = (float)bc->d1[2], f->e0[l] = (float)bc->d2[0];
        f->e1[l] = (float)bc->d2[1], f->e2[l] = (float)bc->d2[2];
        f->g0[l] = (float)bc->gain[0], f->g1[l] = (float)bc->gain[1];
        f->g2[l] = (float)bc->gain[2], f->h0[l] = (float)bc->h0;
        f->guard[l] = BLUR_GUARD;
    }
}

/* One step of the three sections (k = 0, 1, 2) on input x (previous input
 * xe), states y1 (y[n-1]) and y2 (y[n-2]); T is blur_v4f or float, F the
 * coefficient accessor. The order y = ((n0 x + n1 x') - d2 y'') - d1 y'
 * adds the newest state last, which keeps the loop-carried dependency
 * short. */
#define BLUR_SEC(F, k, x, xe, y1, y2)                                          \
    (((F(a##k) * (x) + F(b##k) * (xe)) - F(e##k) * (y2)) - F(c##k) * (y1))

#define BLUR_FV(name) (cf->name)    /* vector coefficient */
#define BLUR_FS(name) (cf->name[0]) /* scalar coefficient */

/* Filter, in place, the columns of an n-row, w-column region (row i at
 * data + i * stride) along the rows: all columns of a row at once (SIMD
 * across columns, a scalar tail with the same operations), the section
 * states in per-column arrays, so every access is to contiguous rows.
 * Columns go in blocks of BLUR_BW (states in L1); the causal sums of a
 * block wait in tmp (n * BLUR_BW floats). */
#define BLUR_BW 256
static void blur_cols_f(const blur_cf *cf, float *data, size_t stride, int n,
                        int w, float *tmp) {
    float st[8][BLUR_BW]; /* p1 p2 q1 q2 r1 r2 x ref */
    for (int c0 = 0; c0 < w; c0 += BLUR_BW) {
        const int bw = w - c0 < BLUR_BW ? w - c0 : BLUR_BW, nv = bw / 4;
        float *p1 = st[0], *p2 = st[1], *q1 = st[2], *q2 = st[3];
        float *r1 = st[4], *r2 = st[5], *xs = st[6], *ref = st[7];
        /* causal: steady state of row 0 repeated before the image */
        for (int c = 0; c < bw; c++) {
            ref[c] = data[c0 + c];
            float x = (data[c0 + c] - ref[c]) + BLUR_GUARD;
            p1[c] = p2[c] = BLUR_FS(g0) * x;
            q1[c] = q2[c] = BLUR_FS(g1) * x;
            r1[c] = r2[c] = BLUR_FS(g2) * x;
        }
        for (int i = 0; i < n; i++) {
            const float *row = data + (size_t)i * stride + c0;
            const float *prev = i ? row - stride : row;
            float *t = tmp + (size_t)i * BLUR_BW;
            for (int v = 0; v < nv; v++) {
                blur_v4f x, xe, a, b, c, d, e, f, rf;
                memcpy(&x, row + 4 * v, sizeof x);
                memcpy(&xe, prev + 4 * v, sizeof xe);
                memcpy(&rf, ref + 4 * v, sizeof rf);
                x = (x - rf) + cf->guard;
                xe = (xe - rf) + cf->guard;
                memcpy(&a, p1 + 4 * v, sizeof a);
                memcpy(&b, p2 + 4 * v, sizeof b);
                memcpy(&c, q1 + 4 * v, sizeof c);
                memcpy(&d, q2 + 4 * v, sizeof d);
                memcpy(&e, r1 + 4 * v, sizeof e);
                memcpy(&f, r2 + 4 * v, sizeof f);
                blur_v4f yp = BLUR_SEC(BLUR_FV, 0, x, xe, a, b);
                blur_v4f yq = BLUR_SEC(BLUR_FV, 1, x, xe, c, d);
                blur_v4f yr = BLUR_SEC(BLUR_FV, 2, x, xe, e, f);
                memcpy(p2 + 4 * v, &yp, sizeof yp); /* the next y1 */
                memcpy(q2 + 4 * v, &yq, sizeof yq);
                memcpy(r2 + 4 * v, &yr, sizeof yr);
                blur_v4f s = (yp + yq) + yr;
                memcpy(t + 4 * v, &s, sizeof s);
            }
            for (int c = 4 * nv; c < bw; c++) {
                float x = (row[c] - ref[c]) + BLUR_GUARD;
                float xe = (prev[c] - ref[c]) + BLUR_GUARD;
                float yp = BLUR_SEC(BLUR_FS, 0, x, xe, p1[c], p2[c]);
                float yq = BLUR_SEC(BLUR_FS, 1, x, xe, q1[c], q2[c]);
                float yr = BLUR_SEC(BLUR_FS, 2, x, xe, r1[c], r2[c]);
                p2[c] = yp;
                q2[c] = yq;
                r2[c] = yr;
                t[c] = (yp + yq) + yr;
            }
            float *sw = p1; /* y[n-2] now holds y[n]: swap the roles */
            p1 = p2, p2 = sw, sw = q1, q1 = q2, q2 = sw;
            sw = r1, r1 = r2, r2 = sw;
        }
        /* anticausal (counts h(0) a second time), output in place; the
         * previous input (row i + 1, already overwritten) kept in xs */
        const float *last = data + (size_t)(n - 1) * stride + c0;
        for (int c = 0; c < bw; c++) {
            float x = (last[c] - ref[c]) + BLUR_GUARD;
            xs[c] = x;
            p1[c] = p2[c] = BLUR_FS(g0) * x;
            q1[c] = q2[c] = BLUR_FS(g1) * x;
            r1[c] = r2[c] = BLUR_FS(g2) * x;
        }
        for (int i = n - 1; i >= 0; i--) {
            float *row = data + (size_t)i * stride + c0;
            const float *t = tmp + (size_t)i * BLUR_BW;
            for (int v = 0; v < nv; v++) {
                blur_v4f x, xe, a, b, c, d, e, f, tv, rf;
                memcpy(&x, row + 4 * v, sizeof x);
                memcpy(&xe, xs + 4 * v, sizeof xe);
                memcpy(&rf, ref + 4 * v, sizeof rf);
                x = (x - rf) + cf->guard;
                memcpy(xs + 4 * v, &x, sizeof x);
                memcpy(&a, p1 + 4 * v, sizeof a);
                memcpy(&b, p2 + 4 * v, sizeof b);
                memcpy(&c, q1 + 4 * v, sizeof c);
                memcpy(&d, q2 + 4 * v, sizeof d);
                memcpy(&e, r1 + 4 * v, sizeof e);
                memcpy(&f, r2 + 4 * v, sizeof f);
                blur_v4f yp = BLUR_SEC(BLUR_FV, 0, x, xe, a, b);
                blur_v4f yq = BLUR_SEC(BLUR_FV, 1, x, xe, c, d);
                blur_v4f yr = BLUR_SEC(BLUR_FV, 2, x, xe, e, f);
                memcpy(p2 + 4 * v, &yp, sizeof yp);
                memcpy(q2 + 4 * v, &yq, sizeof yq);
                memcpy(r2 + 4 * v, &yr, sizeof yr);
                memcpy(&tv, t + 4 * v, sizeof tv);
                blur_v4f out =
                    (((tv + ((yp + yq) + yr)) - cf->h0 * x) - cf->guard) + rf;
                memcpy(row + 4 * v, &out, sizeof out);
            }
            for (int c = 4 * nv; c < bw; c++) {
                float x = (row[c] - ref[c]) + BLUR_GUARD, xe = xs[c];
                xs[c] = x;
                float yp = BLUR_SEC(BLUR_FS, 0, x, xe, p1[c], p2[c]);
                float yq = BLUR_SEC(BLUR_FS, 1, x, xe, q1[c], q2[c]);
                float yr = BLUR_SEC(BLUR_FS, 2, x, xe, r1[c], r2[c]);
                p2[c] = yp;
                q2[c] = yq;
                r2[c] = yr;
                row[c] = (((t[c] + ((yp + yq) + yr)) - BLUR_FS(h0) * x) -
                          BLUR_GUARD) +
                         ref[c];
            }
            float *sw = p1;
            p1 = p2, p2 = sw, sw = q1, q1 = q2, q2 = sw;
            sw = r1, r1 = r2, r2 = sw;
        }
    }
}

/* 4 x 4 transpose: rows r0..r3 to columns. */
#define BLUR_T4(r0, r1, r2, r3)                                                \
    do {                                                                       \
        blur_v4f t0_ = __builtin_shuffle(r0, r1, (blur_v4i){0, 4, 1, 5});      \
        blur_v4f t1_ = __builtin_shuffle(r0, r1, (blur_v4i){2, 6, 3, 7});      \
        blur_v4f t2_ = __builtin_shuffle(r2, r3, (blur_v4i){0, 4, 1, 5});      \
        blur_v4f t3_ = __builtin_shuffle(r2, r3, (blur_v4i){2, 6, 3, 7});      \
        r0 = __builtin_shuffle(t0_, t2_, (blur_v4i){0, 1, 4, 5});              \
        r1 = __builtin_shuffle(t0_, t2_, (blur_v4i){2, 3, 6, 7});              \
        r2 = __builtin_shuffle(t1_, t3_, (blur_v4i){0, 1, 4, 5});              \
        r3 = __builtin_shuffle(t1_, t3_, (blur_v4i){2, 3, 6, 7});              \
    } while (0)

/* Columns x .. x + 3 of rows rw[0..3] as four column vectors (lanes =
 * rows); past the row's end, column nx - 1 repeats. */
static inline void blur_load4(float *const rw[4], int x, int nx,
                              blur_v4f col[4]) {
    if (x + 4 <= nx) {
        for (int l = 0; l < 4; l++)
            memcpy(&col[l], rw[l] + x, sizeof col[l]);
    } else {
        for (int l = 0; l < 4; l++)
            for (int j = 0; j < 4; j++)
                col[l][j] = rw[l][x + j < nx ? x + j : nx - 1];
    }
    BLUR_T4(col[0], col[1], col[2], col[3]);
}

/* Filter the rows of the image along x: four rows at a time in the lanes
 * of one vector, the 4 x 4 blocks transposed in registers on the way in
 * and out, the section states in registers. A row is run as if extended
 * to a multiple of 4 by repeating its last pixel (the state reaching the
 * last pixel from there is its steady state, as the exact boundary
 * wants). tmp: the causal sums of a band, 4 * nx4 floats. The last band
 * repeats its last row in the spare lanes (not written back). */
static void blur_rows_f(const blur_cf *cf, float *px, int nx, int ny,
                        float *tmp) {
    const int nx4 = (nx + 3) & ~3;
    for (int y0 = 0; y0 < ny; y0 += 4) {
        const int nb = ny - y0 < 4 ? ny - y0 : 4;
        float *rw[4];
        for (int l = 0; l < 4; l++)
            rw[l] = px + (size_t)(y0 + (l < nb ? l : nb - 1)) * (size_t)nx;
        blur_v4f col[4], p1, p2, q1, q2, r1, r2, xe, ref;
        /* causal, from the steady state of column 0 */
        blur_load4(rw, 0, nx, col);
        ref = col[0];
        xe = (col[0] - ref) + cf->guard;
        p1 = p2 = cf->g0 * xe;
        q1 = q2 = cf->g1 * xe;
        r1 = r2 = cf->g2 * xe;
        for (int x = 0; x < nx4; x += 4) {
            blur_load4(rw, x, nx, col);
            for (int j = 0; j < 4; j++) {
                blur_v4f xv = (col[j] - ref) + cf->guard;
                blur_v4f yp = BLUR_SEC(BLUR_FV, 0, xv, xe, p1, p2);
                blur_v4f yq = BLUR_SEC(BLUR_FV, 1, xv, xe, q1, q2);
                blur_v4f yr = BLUR_SEC(BLUR_FV, 2, xv, xe, r1, r2);
                p2 = p1, p1 = yp, q2 = q1, q1 = yq, r2 = r1, r1 = yr;
                xe = xv;
                blur_v4f s = (yp + yq) + yr;
                memcpy(tmp + 4 * (size_t)(x + j), &s, sizeof s);
            }
        }
        /* anticausal, from the steady state of the last (padded) column;
         * output transposed back and stored in place */
        blur_load4(rw, nx4 - 4, nx, col);
        xe = (col[3] - ref) + cf->guard;
        p1 = p2 = cf->g0 * xe;
        q1 = q2 = cf->g1 * xe;
        r1 = r2 = cf->g2 * xe;
        for (int x = nx4 - 4; x >= 0; x -= 4) {
            blur_load4(rw, x, nx, col);
            for (int j = 3; j >= 0; j--) {
                blur_v4f xv = (col[j] - ref) + cf->guard, tv;
                blur_v4f yp = BLUR_SEC(BLUR_FV, 0, xv, xe, p1, p2);
                blur_v4f yq = BLUR_SEC(BLUR_FV, 1, xv, xe, q1, q2);
                blur_v4f yr = BLUR_SEC(BLUR_FV, 2, xv, xe, r1, r2);
                p2 = p1, p1 = yp, q2 = q1, q1 = yq, r2 = r1, r1 = yr;
                xe = xv;
                memcpy(&tv, tmp + 4 * (size_t)(x + j), sizeof tv);
                col[j] =
                    (((tv + ((yp + yq) + yr)) - cf->h0 * xv) - cf->guard) + ref;
            }
            BLUR_T4(col[0], col[1], col[2], col[3]);
            if (x + 4 <= nx) {
                for (int l = 0; l < nb; l++)
                    memcpy(rw[l] + x, &col[l], sizeof col[l]);
            } else {
                for (int l = 0; l < nb; l++)
                    for (int j = 0; x + j < nx; j++)
                        rw[l][x + j] = col[l][j];
            }
        }
    }
}

static inline blur_v4f blur_ld4(const float *p) {
    blur_v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Eight lanes: one AVX register where the factory is built for
 * x86-64-v3, two SSE registers otherwise (GCC splits the generic vector);
 * the same IEEE operations per lane either way. Macros, not functions: a
 * 32-byte vector must not cross a call in a build without AVX (ABI). */
typedef float blur_v8f __attribute__((vector_size(32)));
#define BLUR_LD8(v, p) memcpy(&(v), (p), sizeof(blur_v8f))

/* Sixteen outputs as two 8-lane sums of the kernel (the 8-lane twin of
 * BLUR_TAPS): P(o) points at the 16 samples of tap o, -r <= o <= r. */
#define BLUR_TAPS16(a0, a1, w8, r, P)                                          \
    do {                                                                       \
        blur_v8f l0_, l1_, h0_, h1_;                                           \
        BLUR_LD8(l0_, P(0));                                                   \
        BLUR_LD8(l1_, P(0) + 8);                                               \
        a0 = (w8)[0] * l0_;                                                    \
        a1 = (w8)[0] * l1_;                                                    \
        for (int j_ = 1; j_ <= (r); j_++) {                                    \
            BLUR_LD8(l0_, P(-j_));                                             \
            BLUR_LD8(h0_, P(j_));                                              \
            BLUR_LD8(l1_, P(-j_) + 8);                                         \
            BLUR_LD8(h1_, P(j_) + 8);                                          \
            a0 += (w8)[j_] * (l0_ + h0_);                                      \
            a1 += (w8)[j_] * (l1_ + h1_);                                      \
        }                                                                      \
    } while (0)

/* ------------------------------------------------- truncated direct, float */

/* Below BLUR_RECURSIVE_FROM (the configured blurs, sigma <= 2.5 px at 1024)
 * a direct separable convolution in float is cheaper than the six-pole
 * recursion: radius R = ceil(5 sigma) (the tail beyond 5 sigma, 5.7e-7 of
 * the mass, is left out and the kernel renormalised), 3R + 2 flops per
 * pixel and axis, no dependency chains. It runs on x - ref (ref = the
 * row's or column's first pixel) and adds ref back, so that a constant
 * comes out exact. Fixed summation order per pixel: deterministic. */
#define BLUR_RECURSIVE_FROM 3.0
#define BLUR_DIRECT_RMAX    15  /* ceil(5 * 3.0) */
#define BLUR_CB             128 /* columns per block in the column pass */

static int blur_kernel_f(double sigma, float *w) {
    int r = (int)ceil(5.0 * sigma);
    if (r > BLUR_DIRECT_RMAX) r = BLUR_DIRECT_RMAX;
    if (r < 1) r = 1;
    double g[BLUR_DIRECT_RMAX + 1], sum = 0.0;
    for (int j = 0; j <= r; j++) {
        g[j] = exp(-0.5 * (double)j * (double)j / (sigma * sigma));
        sum += j ? 2.0 * g[j] : g[j];
    }
    for (int j = 0; j <= r; j++)
        w[j] = (float)(g[j] / sum);
    return r;
}

/* One output of the kernel at c (centred samples, c[-r .. r] valid);
 * T: blur_v4f or float. */
#define BLUR_TAPS(T, acc, w, r, at)                                            \
    do {                                                                       \
        acc = (w)[0] * at(0);                                                  \
        for (int j_ = 1; j_ <= (r); j_++)                                      \
            acc += (w)[j_] * (at(-j_) + at(j_));                               \
    } while (0)

static int blur_direct_f(sf_imgf *im, double sigma) {
    const int nx = im->nx, ny = im->ny;
    float w[BLUR_DIRECT_RMAX + 1];
    const int r = blur_kernel_f(sigma, w);
    const int ring_n = 2 * r + 1;
    size_t npad = (size_t)nx + 2 * (size_t)r;
    float *pad = malloc(sizeof(float) * npad);
    float *ring = malloc(sizeof(float) * (size_t)ring_n * BLUR_CB);
    if (!pad || !ring) {
        free(pad);
        free(ring);
        return SF_ENOMEM;
    }
    blur_v4f wv[BLUR_DIRECT_RMAX + 1];
    blur_v8f w8[BLUR_DIRECT_RMAX + 1];
    for (int j = 0; j <= r; j++) {
        wv[j] = (blur_v4f){w[j], w[j], w[j], w[j]};
        w8[j] = (blur_v8f){w[j], w[j], w[j], w[j], w[j], w[j], w[j], w[j]};
    }

    /* Rows: through a centred, edge-replicated copy of the row. */
    for (int y = 0; y < ny; y++) {
        float *row = im->px + (size_t)y * (size_t)nx;
        const float ref = row[0];
        float *c = pad + r;
        for (int x = 0; x < nx; x++)
            c[x] = row[x] - ref;
        for (int j = 1; j <= r; j++) {
            c[-j] = c[0];
            c[nx - 1 + j] = c[nx - 1];
        }
        const blur_v4f rv = {ref, ref, ref, ref};
        const blur_v8f rv8 = {ref, ref, ref, ref, ref, ref, ref, ref};
        int x = 0;
        for (; x + 16 <= nx; x += 16) { /* two 8-lane vectors share the taps */
            blur_v8f a0, a1;
#define P(o) (c + x + (o))
            /* cppcheck-suppress uninitvar ; vector taps */
            BLUR_TAPS16(a0, a1, w8, r, P);
#undef P
            a0 += rv8, a1 += rv8;
            memcpy(row + x, &a0, sizeof a0);
            memcpy(row + x + 8, &a1, sizeof a1);
        }
        for (; x + 4 <= nx; x += 4) {
            blur_v4f acc;
#define AT(o) blur_ld4(c + x + (o))
            /* cppcheck-suppress uninitvar ; vector taps */
            BLUR_TAPS(blur_v4f, acc, wv, r, AT);
#undef AT
            acc += rv;
            memcpy(row + x, &acc, sizeof acc);
        }
        for (; x < nx; x++) {
            float acc;
#define AT(o) c[x + (o)]
            BLUR_TAPS(float, acc, w, r, AT);
#undef AT
            row[x] = acc + ref;
        }
    }

    /* Columns: block by block, the centred rows y - r .. y + r (clamped)
     * in a ring, row i in slot i % ring_n; output row y replaces image row
     * y once it is in the ring. */
    for (int x0 = 0; x0 < nx; x0 += BLUR_CB) {
        const int cb = nx - x0 < BLUR_CB ? nx - x0 : BLUR_CB, nv = cb / 4;
        float ref[BLUR_CB];
        memcpy(ref, im->px + x0, sizeof(float) * (size_t)cb);
        for (int i = 0; i <= r && i < ny; i++) {
            const float *src = im->px + (size_t)i * (size_t)nx + x0;
            float *dst = ring + (size_t)(i % ring_n) * BLUR_CB;
            for (int c = 0; c < cb; c++)
                dst[c] = src[c] - ref[c];
        }
        /* tap[r + j]: ring row of image row clamp(y + j) */
        const float *tap[2 * BLUR_DIRECT_RMAX + 1];
        for (int j = -r; j <= r; j++) {
            int i = j < 0 ? 0 : (j >= ny ? ny - 1 : j);
            tap[j + r] = ring + (size_t)(i % ring_n) * BLUR_CB;
        }
        for (int y = 0; y < ny; y++) {
            float *out = im->px + (size_t)y * (size_t)nx + x0;
            int v = 0;
            for (; v + 4 <= nv;
                 v += 4) { /* two 8-lane vectors share the taps */
                const size_t o = 4 * (size_t)v;
                blur_v8f a0, a1, l0, l1;
#define P(k) (tap[r + (k)] + o)
                /* cppcheck-suppress uninitvar ; vector taps */
                BLUR_TAPS16(a0, a1, w8, r, P);
#undef P
                BLUR_LD8(l0, ref + o);
                BLUR_LD8(l1, ref + o + 8);
                a0 += l0, a1 += l1;
                memcpy(out + o, &a0, sizeof a0);
                memcpy(out + o + 8, &a1, sizeof a1);
            }
            for (; v < nv; v++) {
                blur_v4f acc, rf;
#define AT(o) blur_ld4(tap[r + (o)] + 4 * v)
                /* cppcheck-suppress uninitvar ; vector taps */
                BLUR_TAPS(blur_v4f, acc, wv, r, AT);
#undef AT
                memcpy(&rf, ref + 4 * v, sizeof rf);
                acc += rf;
                memcpy(out + 4 * v, &acc, sizeof acc);
            }
            for (int c = 4 * nv; c < cb; c++) {
                float acc;
#define AT(o) tap[r + (o)][c]
                BLUR_TAPS(float, acc, w, r, AT);
#undef AT
                out[c] = acc + ref[c];
            }
            /* row y + r + 1 into the slot of row y - r (no longer needed) */
            int in = y + r + 1;
            float *slot =
                ring + (size_t)((in < ny ? in : ny - 1) % ring_n) * BLUR_CB;
            if (in < ny) {
                const float *src = im->px + (size_t)in * (size_t)nx + x0;
                for (int c = 0; c < cb; c++)
                    slot[c] = src[c] - ref[c];
            }
            for (int j = 0; j < 2 * r; j++)
                tap[j] = tap[j + 1];
            tap[2 * r] = slot;
        }
    }
    free(pad);
    free(ring);
    return SF_OK;
}

int sf__blur_gauss_recursive(sf_imgf *im, double sigma) {
    if (!im || !im->px || im->nx <= 0 || im->ny <= 0 || !(sigma > 0.0))
        return SF_OK;
    if (!isfinite(sigma)) return SF_EINVAL;
    blur_coef bc;
    blur_coef_make(&bc, sigma);
    if (bc.wide) return blur_gauss_d(im, &bc);
    const int nx = im->nx, ny = im->ny, nx4 = (nx + 3) & ~3;
    size_t nt = (size_t)ny * BLUR_BW;
    if (nt < 4 * (size_t)nx4) nt = 4 * (size_t)nx4;
    float *tmp = malloc(sizeof(float) * nt);
    if (!tmp) return SF_ENOMEM;
    blur_cf cf;
    blur_cf_make(&bc, &cf);
    blur_rows_f(&cf, im->px, nx, ny, tmp);
    blur_cols_f(&cf, im->px, (size_t)nx, ny, nx, tmp);
    free(tmp);
    return SF_OK;
}

int sf__blur_gauss(sf_imgf *im, double sigma) {
    if (!im || !im->px || im->nx <= 0 || im->ny <= 0 || !(sigma > 0.0))
        return SF_OK;
    if (!isfinite(sigma)) return SF_EINVAL;
    if (sigma < BLUR_DIRECT_BELOW) return sf__blur_gauss_direct(im, sigma);
    if (sigma < BLUR_RECURSIVE_FROM) return blur_direct_f(im, sigma);
    return sf__blur_gauss_recursive(im, sigma);
}

/* ---------------------------------------------------------------- direct */

int sf__blur_gauss_direct(sf_imgf *im, double sigma) {
    if (!im || !im->px || im->nx <= 0 || im->ny <= 0 || !(sigma > 0.0))
        return SF_OK;
    if (!isfinite(sigma) || sigma > 1.0e6) return SF_EINVAL;

    const int nx = im->nx, ny = im->ny;
    const int r = (int)ceil(6.0 * sigma);
    int rc = SF_ENOMEM;
    double *w = malloc(sizeof(double) * (size_t)(r + 1));
    double *acc = malloc(sizeof(double) * (size_t)nx);
    double *ext = malloc(sizeof(double) * ((size_t)nx + 2 * (size_t)r));
    float *copy = malloc(sizeof(float) * (size_t)nx * (size_t)ny);
    if (!w || !acc || !ext || !copy) goto out;

    /* Normalised sampled Gaussian, radius r. */
    double sum = 0.0;
    for (int j = 0; j <= r; j++) {
        w[j] = exp(-0.5 * (double)j * (double)j / (sigma * sigma));
        sum += j ? 2.0 * w[j] : w[j];
    }
    for (int j = 0; j <= r; j++)
        w[j] /= sum;

    /* Rows: through a replicate-padded copy of the row. */
    for (int y = 0; y < ny; y++) {
        float *row = im->px + (size_t)y * (size_t)nx;
        for (int i = -r; i < nx + r; i++) {
            int x = i < 0 ? 0 : (i >= nx ? nx - 1 : i);
            ext[i + r] = row[x];
        }
        const double *e = ext + r;
        for (int x = 0; x < nx; x++) {
            double s = w[0] * e[x];
            for (int j = 1; j <= r; j++)
                s += w[j] * (e[x - j] + e[x + j]);
            row[x] = (float)s;
        }
    }

    /* Columns: whole rows at a time from an unmodified copy, clamped. */
    memcpy(copy, im->px, sizeof(float) * (size_t)nx * (size_t)ny);
    for (int y = 0; y < ny; y++) {
        const float *c0 = copy + (size_t)y * (size_t)nx;
        for (int x = 0; x < nx; x++)
            acc[x] = w[0] * c0[x];
        for (int j = 1; j <= r; j++) {
            int ya = y - j < 0 ? 0 : y - j, yb = y + j >= ny ? ny - 1 : y + j;
            const float *a = copy + (size_t)ya * (size_t)nx;
            const float *b = copy + (size_t)yb * (size_t)nx;
            for (int x = 0; x < nx; x++)
                acc[x] += w[j] * ((double)a[x] + (double)b[x]);
        }
        float *dst = im->px + (size_t)y * (size_t)nx;
        for (int x = 0; x < nx; x++)
            dst[x] = (float)acc[x];
    }
    rc = SF_OK;
out:
    free(w);
    free(acc);
    free(ext);
    free(copy);
    return rc;
}
