/*
 * noise_poisson.c - the Poisson (shot) noise model: v' = Poisson(v *
 * photons) / photons, by inversion for small means and Hormann's
 * transformed rejection (PTRS) above. See noise.c for the counter layout.
 */
#include "noise_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------------- poisson */

/* Above this mean the variate would not fit comfortably in `unsigned`;
 * means are capped here (far above any photon count we configure). */
#define POISSON_MU_MAX 1.0e9
/* Inversion below, transformed rejection (PTRS) at and above. */
#define POISSON_MU_PTRS 10.0

/* 1 / k, k < 64, as constant expressions (correctly rounded at compile
 * time): keeps divisions off the inversion's dependency chain. */
#define POISSON_NRECIP 64

#define R4(k)  1.0 / (k), 1.0 / ((k) + 1), 1.0 / ((k) + 2), 1.0 / ((k) + 3)
#define R16(k) R4(k), R4((k) + 4), R4((k) + 8), R4((k) + 12)
static const double poisson_recip[POISSON_NRECIP] = {
    0.0,   1.0,    1.0 / 2, 1.0 / 3, R4(4),
    R4(8), R4(12), R16(16), R16(32), R16(48)};
#undef R16
#undef R4

/* Inversion by sequential search (mu < POISSON_MU_PTRS), one 53-bit
 * uniform from the words (lo, hi); exp_neg_mu = exp(-mu) = P(X = 0). */
static unsigned poisson_invert(double mu, double exp_neg_mu, uint32_t lo,
                               uint32_t hi) {
    double u = u01_2w(lo, hi);
    double p = exp_neg_mu, f = p;
    unsigned x = 0;
    /* f saturates just below 1 in floating point; the cap (P(X > 200)
     * < 1e-200 for mu < 10) ends the walk where rounding would not. */
    while (u >= f && x < 200) {
        x++;
        p *= mu * (x < POISSON_NRECIP ? poisson_recip[x] : 1.0 / x);
        f += p;
    }
    return x;
}

/* log Gamma(x) for x >= 1 (x = k + 1, k >= 0): Stirling's series after
 * shifting x to >= 8; absolute error well below 1e-14. Local, because
 * lgamma() writes the global signgam (a data race under OpenMP). */
static double log_gamma(double x) {
    double shift = 0.0;
    while (x < 8.0) {
        shift += log(x);
        x += 1.0;
    }
    double r = 1.0 / x, r2 = r * r;
    /* Bernoulli terms B_2n / (2n (2n - 1)) x^(1 - 2n), n = 1..7. */
    double series =
        r *
        (1.0 / 12.0 +
         r2 * (-1.0 / 360.0 +
               r2 * (1.0 / 1260.0 +
                     r2 * (-1.0 / 1680.0 +
                           r2 * (1.0 / 1188.0 + r2 * (-691.0 / 360360.0 +
                                                      r2 * (1.0 / 156.0)))))));
    return (x - 0.5) * log(x) - x + 0.91893853320467274178 + series - shift;
}

/*
 * PTRS: Hoermann (1993), "The transformed rejection method for generating
 * Poisson random variables", constants as published. A trial takes two
 * uniforms, u in [-1/2, 1/2) and v in [0, 1), each from one 32-bit word:
 *   us = 1/2 - |u|,  k = floor((2 a / us + b) u + mu + 0.43),
 *   reject if us <= 0 or k < 0; accept if us >= 0.07 and v <= v_r
 *   (the fast path, no logs); reject if us < 0.013 and v > us; else accept
 *   iff log(v alpha^-1 / (a / us^2 + b)) <= -mu + k log mu - log k!.
 * 32-bit uniforms (rather than 53-bit) change the variate's law only where
 * a single 2^-32 step of u or v matters: u's step moves k by one only for
 * us < ~2e-5 (k ~ mu + 4e4, probability nil for every mean we allow),
 * and v's step moves the acceptance probability of a k by at most 2^-32.
 * The logs of the last test come from log_fast (IEEE operations, ~1 ulp,
 * with an SSE2 twin), log k! from log_gamma (cached per call for k < 2048):
 * the test decides as the exact one except within ~1e-15 of the boundary,
 * and the SIMD and scalar paths decide alike (sf__poisson = the pixels').
 * The cheap tests run on all pixels of a chunk at once; only the
 * undecided trials (~25-55%, mean-dependent) take the logs.
 */
static inline void ptrs_prepare(double s, double *b, double *a, double *v_r) {
    /* s = sqrt(mu) */
    *b = 0.931 + 2.53 * s;
    *a = -0.059 + 0.02483 * *b;
    *v_r = 0.9277 - 3.6224 / (*b - 2.0);
}

/* u = w 2^-32 - 1/2 and v = w 2^-32, exact, through a signed conversion
 * (the one SSE2 has for packed doubles). */
static inline double ptrs_u(uint32_t w) {
    return (double)(int32_t)(w ^ 0x80000000u) * 0x1p-32;
}
static inline double ptrs_v(uint32_t w) {
    return (double)(int32_t)(w ^ 0x80000000u) * 0x1p-32 + 0.5;
}
static inline double ptrs_x(double mu, double a, double b, double u,
                            double us) {
    return (2.0 * a / us + b) * u + mu + 0.43;
}

/* Natural log of a positive normal double from IEEE operations and bit
 * manipulation only (no libm), error ~1 ulp, as log_ieee; written so that
 * its SSE2 twin log_pd performs the same operations: the same bits. */
#define LOG_SQRTH  0.70710678118654752440
#define LOG_LN2_HI 6.93147180369123816490e-01
#define LOG_LN2_LO 1.90821492927058770002e-10
static inline double log_poly(double s) {
    /* 2 atanh(s) / s - 2 = 2 sum_{k>=1} z^k / (2k + 1), z = s^2 < 0.0295,
     * as z sum_{k<=10} z^k / (2k + 3) in Estrin's scheme (short
     * dependency chains) */
    double z = s * s, z2 = z * z, z4 = z2 * z2, z8 = z4 * z4;
    double q0 = 1.0 / 3.0 + 1.0 / 5.0 * z, q1 = 1.0 / 7.0 + 1.0 / 9.0 * z;
    double q2 = 1.0 / 11.0 + 1.0 / 13.0 * z, q3 = 1.0 / 15.0 + 1.0 / 17.0 * z;
    double q4 = 1.0 / 19.0 + 1.0 / 21.0 * z;
    double r0 = q0 + q1 * z2, r1 = q2 + q3 * z2, r2 = q4 + 1.0 / 23.0 * z2;
    return ((r0 + r1 * z4) + r2 * z8) * z;
}
static inline double log_fast(double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    double e = (double)(int32_t)(bits >> 52) - 1022.0;
    bits = (bits & 0x000FFFFFFFFFFFFFull) | 0x3FE0000000000000ull;
    double m; /* in [1/2, 1) */
    memcpy(&m, &bits, sizeof m);
    if (m < LOG_SQRTH) {
        m = m + m;
        e = e - 1.0;
    }
    double s = (m - 1.0) / (m + 1.0), t = s + s;
    return e * LOG_LN2_HI + (e * LOG_LN2_LO + (t + t * log_poly(s)));
}

#ifdef __SSE2__
static inline __m128d log_poly_pd(__m128d s) {
    __m128d z = _mm_mul_pd(s, s), z2 = _mm_mul_pd(z, z);
    __m128d z4 = _mm_mul_pd(z2, z2), z8 = _mm_mul_pd(z4, z4);
#define LOG_Q(c0, c1)                                                          \
    _mm_add_pd(_mm_set1_pd(c0), _mm_mul_pd(_mm_set1_pd(c1), z))
    __m128d q0 = LOG_Q(1.0 / 3.0, 1.0 / 5.0), q1 = LOG_Q(1.0 / 7.0, 1.0 / 9.0);
    __m128d q2 = LOG_Q(1.0 / 11.0, 1.0 / 13.0);
    __m128d q3 = LOG_Q(1.0 / 15.0, 1.0 / 17.0);
    __m128d q4 = LOG_Q(1.0 / 19.0, 1.0 / 21.0);
#undef LOG_Q
    __m128d r0 = _mm_add_pd(q0, _mm_mul_pd(q1, z2));
    __m128d r1 = _mm_add_pd(q2, _mm_mul_pd(q3, z2));
    __m128d r2 = _mm_add_pd(q4, _mm_mul_pd(_mm_set1_pd(1.0 / 23.0), z2));
    return _mm_mul_pd(
        _mm_add_pd(_mm_add_pd(r0, _mm_mul_pd(r1, z4)), _mm_mul_pd(r2, z8)), z);
}
static inline __m128d log_pd(__m128d x) {
    const __m128i mant = _mm_set1_epi64x(0x000FFFFFFFFFFFFFll);
    const __m128i half = _mm_set1_epi64x(0x3FE0000000000000ll);
    const __m128d one = _mm_set1_pd(1.0);
    __m128i bits = _mm_castpd_si128(x);
    __m128i eb = _mm_shuffle_epi32(_mm_srli_epi64(bits, 52), 0x08);
    __m128d e = _mm_sub_pd(_mm_cvtepi32_pd(eb), _mm_set1_pd(1022.0));
    __m128d m = _mm_castsi128_pd(_mm_or_si128(_mm_and_si128(bits, mant), half));
    __m128d lt = _mm_cmplt_pd(m, _mm_set1_pd(LOG_SQRTH));
    m = _mm_add_pd(m, _mm_and_pd(lt, m));
    e = _mm_sub_pd(e, _mm_and_pd(lt, one));
    __m128d s = _mm_div_pd(_mm_sub_pd(m, one), _mm_add_pd(m, one));
    __m128d t = _mm_add_pd(s, s);
    return _mm_add_pd(_mm_mul_pd(e, _mm_set1_pd(LOG_LN2_HI)),
                      _mm_add_pd(_mm_mul_pd(e, _mm_set1_pd(LOG_LN2_LO)),
                                 _mm_add_pd(t, _mm_mul_pd(t, log_poly_pd(s)))));
}
#endif

/* The log test of a trial that the cheap tests left undecided: with
 * lf = log k! (= log_gamma(kd + 1)), accept iff
 *   log(v inv_alpha us^2 / (a + b us^2)) <= -mu + kd log mu - lf
 * (Hoermann's log(v) + log(inv_alpha) - log(a / us^2 + b), as one log: the
 * value only decides); v = 0 accepts (log 0 = -inf). */
static int ptrs_slow(double mu, double a, double b, double us, double v,
                     double kd, double lf) {
    double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    double us2 = us * us;
    double q = v * inv_alpha * us2 / (a + b * us2);
    double lhs = log_fast(q);
    double rhs = -mu + kd * log_fast(mu) - lf;
    return (lhs <= rhs) | (q == 0.0);
}

/* One PTRS trial from words (wu, wv): 1 and *kd on acceptance. */
static int ptrs_trial(double mu, double a, double b, double v_r, uint32_t wu,
                      uint32_t wv, double *kd) {
    double u = ptrs_u(wu), v = ptrs_v(wv), us = 0.5 - fabs(u);
    if (us <= 0.0) return 0; /* u = -0.5 exactly: the hat is infinite */
    *kd = floor(ptrs_x(mu, a, b, u, us));
    if (*kd < 0.0) return 0;
    if (us >= 0.07 && v <= v_r) return 1;
    if (us < 0.013 && v > us) return 0;
    return ptrs_slow(mu, a, b, us, v, *kd, log_gamma(*kd + 1.0));
}

/* Poisson(mu) from words 2 h, 2 h + 1 (h = 0 or 1) of block `ctr` of key
 * k, retries j >= 1 at the same words of block ctr of retry_key(k, j). */
static unsigned poisson_draw(double mu, sf_rng_key k, uint64_t ctr,
                             unsigned h) {
    uint32_t w[4];
    sf__rng_block_inline(k, ctr, w);
    if (mu < POISSON_MU_PTRS)
        return poisson_invert(mu, exp(-mu), w[2 * h], w[2 * h + 1]);
    double b, a, v_r, kd;
    ptrs_prepare(sqrt(mu), &b, &a, &v_r);
    for (uint32_t j = 1;; j++) {
        if (ptrs_trial(mu, a, b, v_r, w[2 * h], w[2 * h + 1], &kd))
            return (unsigned)kd;
        sf__rng_block_inline(retry_key(k, j), ctr, w);
    }
}

unsigned sf__poisson(double mu, sf_rng_key k, uint64_t ctr) {
    if (!(mu > 0.0)) return 0; /* also NaN */
    if (mu > POISSON_MU_MAX) mu = POISSON_MU_MAX;
    return poisson_draw(mu, k, ctr, 0);
}

/* The PTRS pixels of a chunk as a work list, in rounds: the cheap tests of
 * every item's trial in one SIMD loop, the log test for the undecided ones
 * (SIMD too), results out, and the rejected ones again in a second list
 * with their retry words, until none is left. Only the tail of each
 * round's bookkeeping branches on data. */
typedef struct ptrs_list {
    size_t n;
    uint16_t pix[NOISE_CHUNK];   /* pixel within the chunk */
    uint32_t w[2 * NOISE_CHUNK]; /* the trial's words u, v */
    double mu[NOISE_CHUNK];
    double b[NOISE_CHUNK], a[NOISE_CHUNK], v_r[NOISE_CHUNK];
    double x[NOISE_CHUNK], kd[NOISE_CHUNK]; /* x, floor(x) (if x >= 0) */
    uint8_t st[NOISE_CHUNK]; /* 0 reject, 1 accept, 2 undecided */
} ptrs_list;

/* Floor of x for 0 <= x < 2^52 from IEEE additions (SSE2 has no packed
 * floor); other x give some value the caller does not use. */
static inline double floor_small(double x) {
    double t = (x + 0x1p52) - 0x1p52; /* x rounded to nearest */
    return t > x ? t - 1.0 : t;
}

/* Cheap tests of every trial in the list, as in ptrs_trial: st[t] = 1
 * accept, 0 reject, 2 undecided; x[t] and kd[t] = floor(x[t]) (valid
 * unless rejected). With SSE2 two trials at a time, the same operations in
 * the same order (so the same bits); GCC does not if-convert the compares
 * itself. */
static void ptrs_fast(ptrs_list *L) {
    size_t t = 0;
#ifdef __SSE2__
    const __m128i flip = _mm_set1_epi32((int)0x80000000u);
    const __m128d scale = _mm_set1_pd(0x1p-32), half = _mm_set1_pd(0.5);
    const __m128d two = _mm_set1_pd(2.0), c043 = _mm_set1_pd(0.43);
    const __m128d big = _mm_set1_pd(0x1p52), one = _mm_set1_pd(1.0);
    const __m128d zero = _mm_setzero_pd(), sign = _mm_set1_pd(-0.0);
    const __m128d c007 = _mm_set1_pd(0.07), c0013 = _mm_set1_pd(0.013);
    for (; t + 2 <= L->n; t += 2) {
        /* words u0 v0 u1 v1 -> u0 u1 | v0 v1 */
        __m128i uv = _mm_shuffle_epi32(
            _mm_loadu_si128((const __m128i *)(L->w + 2 * t)), 0xD8);
        uv = _mm_xor_si128(uv, flip);
        __m128d u = _mm_mul_pd(_mm_cvtepi32_pd(uv), scale);
        __m128d v = _mm_add_pd(
            _mm_mul_pd(_mm_cvtepi32_pd(_mm_unpackhi_epi64(uv, uv)), scale),
            half);
        __m128d us = _mm_sub_pd(half, _mm_andnot_pd(sign, u));
        __m128d a = _mm_loadu_pd(L->a + t), b = _mm_loadu_pd(L->b + t);
        __m128d x = _mm_add_pd(_mm_div_pd(_mm_mul_pd(two, a), us), b);
        x = _mm_add_pd(_mm_add_pd(_mm_mul_pd(x, u), _mm_loadu_pd(L->mu + t)),
                       c043);
        __m128d r = _mm_sub_pd(_mm_add_pd(x, big), big);
        r = _mm_sub_pd(r, _mm_and_pd(_mm_cmpgt_pd(r, x), one));
        __m128d acc =
            _mm_and_pd(_mm_and_pd(_mm_cmpge_pd(us, c007),
                                  _mm_cmple_pd(v, _mm_loadu_pd(L->v_r + t))),
                       _mm_cmpge_pd(x, zero));
        __m128d rej =
            _mm_or_pd(_mm_or_pd(_mm_cmple_pd(us, zero), _mm_cmplt_pd(x, zero)),
                      _mm_and_pd(_mm_cmplt_pd(us, c0013), _mm_cmpgt_pd(v, us)));
        _mm_storeu_pd(L->x + t, x);
        _mm_storeu_pd(L->kd + t, r);
        /* st = 1 if acc, else 0 if rej, else 2 */
        int ma = _mm_movemask_pd(acc), mr = _mm_movemask_pd(rej);
        int und = 3 & ~(ma | mr);
        L->st[t] = (uint8_t)((ma & 1) | (und & 1) << 1);
        L->st[t + 1] = (uint8_t)((ma >> 1) | (und & 2));
    }
#endif
    for (; t < L->n; t++) {
        double u = ptrs_u(L->w[2 * t]), v = ptrs_v(L->w[2 * t + 1]);
        double us = 0.5 - fabs(u);
        double x = ptrs_x(L->mu[t], L->a[t], L->b[t], u, us);
        int acc = us >= 0.07 && v <= L->v_r[t] && x >= 0.0;
        int rej = us <= 0.0 || x < 0.0 || (us < 0.013 && v > us);
        L->x[t] = x;
        L->kd[t] = floor_small(x);
        L->st[t] = (uint8_t)(acc ? 1 : (rej ? 0 : 2));
    }
}

/* log k! for small k, filled on demand with exactly log_gamma(k + 1)
 * (a cache: the same values as the scalar path computes). */
#define POISSON_NLF 2048
typedef struct poisson_lf {
    size_t n; /* entries filled */
    double v[POISSON_NLF];
} poisson_lf;

static double logfact_fill(poisson_lf *lf, double kd) {
    if (!(kd < (double)POISSON_NLF)) return log_gamma(kd + 1.0);
    size_t k = (size_t)kd;
    while (lf->n <= k) {
        lf->v[lf->n] = log_gamma((double)lf->n + 1.0);
        lf->n++;
    }
    return lf->v[k];
}
static inline double logfact(poisson_lf *lf, double kd) {
    if (kd < (double)lf->n) return lf->v[(size_t)kd];
    return logfact_fill(lf, kd);
}

#ifdef __AVX2__
/* log_pd four lanes at a time: the same operations, the same bits. */
static inline __m256d log_poly_pd4(__m256d s) {
    __m256d z = _mm256_mul_pd(s, s), z2 = _mm256_mul_pd(z, z);
    __m256d z4 = _mm256_mul_pd(z2, z2), z8 = _mm256_mul_pd(z4, z4);
#define LOG_Q4(c0, c1)                                                         \
    _mm256_add_pd(_mm256_set1_pd(c0), _mm256_mul_pd(_mm256_set1_pd(c1), z))
    __m256d q0 = LOG_Q4(1.0 / 3.0, 1.0 / 5.0);
    __m256d q1 = LOG_Q4(1.0 / 7.0, 1.0 / 9.0);
    __m256d q2 = LOG_Q4(1.0 / 11.0, 1.0 / 13.0);
    __m256d q3 = LOG_Q4(1.0 / 15.0, 1.0 / 17.0);
    __m256d q4 = LOG_Q4(1.0 / 19.0, 1.0 / 21.0);
#undef LOG_Q4
    __m256d r0 = _mm256_add_pd(q0, _mm256_mul_pd(q1, z2));
    __m256d r1 = _mm256_add_pd(q2, _mm256_mul_pd(q3, z2));
    __m256d r2 =
        _mm256_add_pd(q4, _mm256_mul_pd(_mm256_set1_pd(1.0 / 23.0), z2));
    return _mm256_mul_pd(_mm256_add_pd(_mm256_add_pd(r0, _mm256_mul_pd(r1, z4)),
                                       _mm256_mul_pd(r2, z8)),
                         z);
}
static inline __m256d log_pd4(__m256d x) {
    const __m256i mant = _mm256_set1_epi64x(0x000FFFFFFFFFFFFFll);
    const __m256i half = _mm256_set1_epi64x(0x3FE0000000000000ll);
    const __m256d one = _mm256_set1_pd(1.0);
    __m256i bits = _mm256_castpd_si256(x);
    __m128i eb = _mm256_castsi256_si128(
        _mm256_permutevar8x32_epi32(_mm256_srli_epi64(bits, 52),
                                    _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6)));
    __m256d e = _mm256_sub_pd(_mm256_cvtepi32_pd(eb), _mm256_set1_pd(1022.0));
    __m256d m = _mm256_castsi256_pd(
        _mm256_or_si256(_mm256_and_si256(bits, mant), half));
    __m256d lt = _mm256_cmp_pd(m, _mm256_set1_pd(LOG_SQRTH), _CMP_LT_OQ);
    m = _mm256_add_pd(m, _mm256_and_pd(lt, m));
    e = _mm256_sub_pd(e, _mm256_and_pd(lt, one));
    __m256d s = _mm256_div_pd(_mm256_sub_pd(m, one), _mm256_add_pd(m, one));
    __m256d t = _mm256_add_pd(s, s);
    return _mm256_add_pd(
        _mm256_mul_pd(e, _mm256_set1_pd(LOG_LN2_HI)),
        _mm256_add_pd(_mm256_mul_pd(e, _mm256_set1_pd(LOG_LN2_LO)),
                      _mm256_add_pd(t, _mm256_mul_pd(t, log_poly_pd4(s)))));
}

/* ptrs_slow_list's SSE2 pairs, four items at a time: the same operations
 * per lane. Returns the number of items done (a multiple of 4). */
static size_t ptrs_slow4(ptrs_list *L, const uint16_t *und, size_t nu,
                         poisson_lf *lf) {
    const __m128i flip = _mm_set1_epi32((int)0x80000000u);
    const __m256d scale = _mm256_set1_pd(0x1p-32), half = _mm256_set1_pd(0.5);
    const __m256d sign = _mm256_set1_pd(-0.0), zero = _mm256_setzero_pd();
    size_t q = 0;
    for (; q + 4 <= nu; q += 4) {
        size_t t0 = und[q], t1 = und[q + 1], t2 = und[q + 2], t3 = und[q + 3];
        __m128i wu = _mm_setr_epi32((int)L->w[2 * t0], (int)L->w[2 * t1],
                                    (int)L->w[2 * t2], (int)L->w[2 * t3]);
        __m128i wv =
            _mm_setr_epi32((int)L->w[2 * t0 + 1], (int)L->w[2 * t1 + 1],
                           (int)L->w[2 * t2 + 1], (int)L->w[2 * t3 + 1]);
        __m256d u =
            _mm256_mul_pd(_mm256_cvtepi32_pd(_mm_xor_si128(wu, flip)), scale);
        __m256d v = _mm256_add_pd(
            _mm256_mul_pd(_mm256_cvtepi32_pd(_mm_xor_si128(wv, flip)), scale),
            half);
        __m256d us = _mm256_sub_pd(half, _mm256_andnot_pd(sign, u));
#define GATHER4(arr) _mm256_setr_pd(arr[t0], arr[t1], arr[t2], arr[t3])
        __m256d mu = GATHER4(L->mu), a = GATHER4(L->a), b = GATHER4(L->b);
        __m256d kd = GATHER4(L->kd);
#undef GATHER4
        __m256d lf4 =
            _mm256_setr_pd(logfact(lf, L->kd[t0]), logfact(lf, L->kd[t1]),
                           logfact(lf, L->kd[t2]), logfact(lf, L->kd[t3]));
        __m256d inv_alpha =
            _mm256_add_pd(_mm256_set1_pd(1.1239),
                          _mm256_div_pd(_mm256_set1_pd(1.1328),
                                        _mm256_sub_pd(b, _mm256_set1_pd(3.4))));
        __m256d us2 = _mm256_mul_pd(us, us);
        __m256d qq =
            _mm256_div_pd(_mm256_mul_pd(_mm256_mul_pd(v, inv_alpha), us2),
                          _mm256_add_pd(a, _mm256_mul_pd(b, us2)));
        __m256d lhs = log_pd4(qq);
        __m256d rhs =
            _mm256_sub_pd(_mm256_add_pd(_mm256_sub_pd(zero, mu),
                                        _mm256_mul_pd(kd, log_pd4(mu))),
                          lf4);
        int acc = _mm256_movemask_pd(
            _mm256_or_pd(_mm256_cmp_pd(lhs, rhs, _CMP_LE_OQ),
                         _mm256_cmp_pd(qq, zero, _CMP_EQ_OQ)));
        L->st[t0] = (uint8_t)(acc & 1);
        L->st[t1] = (uint8_t)(acc >> 1 & 1);
        L->st[t2] = (uint8_t)(acc >> 2 & 1);
        L->st[t3] = (uint8_t)(acc >> 3);
    }
    return q;
}
#endif

/* The log test (ptrs_slow) for items und[0 .. nu) of L into st (0 or 1).
 * Undecided items have 0 <= x < 2^52 (x >= 0, us >= 2^-33), so kd is
 * exact. */
static void ptrs_slow_list(ptrs_list *L, const uint16_t *und, size_t nu,
                           poisson_lf *lf) {
    size_t q = 0;
#ifdef __AVX2__
    q = ptrs_slow4(L, und, nu, lf);
#endif
#ifdef __SSE2__
    const __m128i flip = _mm_set1_epi32((int)0x80000000u);
    const __m128d scale = _mm_set1_pd(0x1p-32), half = _mm_set1_pd(0.5);
    const __m128d sign = _mm_set1_pd(-0.0), zero = _mm_setzero_pd();
    for (; q + 2 <= nu; q += 2) {
        size_t t0 = und[q], t1 = und[q + 1];
        __m128i uv = _mm_set_epi32((int)L->w[2 * t1 + 1], (int)L->w[2 * t0 + 1],
                                   (int)L->w[2 * t1], (int)L->w[2 * t0]);
        uv = _mm_xor_si128(uv, flip);
        __m128d u = _mm_mul_pd(_mm_cvtepi32_pd(uv), scale);
        __m128d v = _mm_add_pd(
            _mm_mul_pd(_mm_cvtepi32_pd(_mm_unpackhi_epi64(uv, uv)), scale),
            half);
        __m128d us = _mm_sub_pd(half, _mm_andnot_pd(sign, u));
        __m128d mu = _mm_set_pd(L->mu[t1], L->mu[t0]);
        __m128d a = _mm_set_pd(L->a[t1], L->a[t0]);
        __m128d b = _mm_set_pd(L->b[t1], L->b[t0]);
        __m128d kd = _mm_set_pd(L->kd[t1], L->kd[t0]);
        __m128d lf2 =
            _mm_set_pd(logfact(lf, L->kd[t1]), logfact(lf, L->kd[t0]));
        __m128d inv_alpha = _mm_add_pd(
            _mm_set1_pd(1.1239),
            _mm_div_pd(_mm_set1_pd(1.1328), _mm_sub_pd(b, _mm_set1_pd(3.4))));
        __m128d us2 = _mm_mul_pd(us, us);
        __m128d qq = _mm_div_pd(_mm_mul_pd(_mm_mul_pd(v, inv_alpha), us2),
                                _mm_add_pd(a, _mm_mul_pd(b, us2)));
        __m128d lhs = log_pd(qq);
        __m128d rhs = _mm_sub_pd(
            _mm_add_pd(_mm_sub_pd(zero, mu), _mm_mul_pd(kd, log_pd(mu))), lf2);
        int acc = _mm_movemask_pd(
            _mm_or_pd(_mm_cmple_pd(lhs, rhs), _mm_cmpeq_pd(qq, zero)));
        L->st[t0] = (uint8_t)(acc & 1);
        L->st[t1] = (uint8_t)(acc >> 1);
    }
#endif
    for (; q < nu; q++) {
        size_t t = und[q];
        double u = ptrs_u(L->w[2 * t]), v = ptrs_v(L->w[2 * t + 1]);
        L->st[t] = (uint8_t)ptrs_slow(L->mu[t], L->a[t], L->b[t], 0.5 - fabs(u),
                                      v, L->kd[t], logfact(lf, L->kd[t]));
    }
}

/* Select a where m (a 0/1 flag) is set, else 0.0, bit for bit. */
static inline double sel_d0(unsigned m, double a) {
    uint64_t ua;
    memcpy(&ua, &a, sizeof ua);
    ua &= 0ull - (uint64_t)m;
    memcpy(&a, &ua, sizeof a);
    return a;
}

/* Run the list (trials of level j0) to completion: accepted variates into
 * px (the chunk), each times inv[e[pixel]]. R is scratch for the next
 * round's list. */
static void ptrs_run(ptrs_list *L, ptrs_list *R, float *px, const uint16_t *e,
                     const double *inv, sf_rng_key k, uint64_t ctr0,
                     uint32_t j0, poisson_lf *lf) {
    uint16_t und[NOISE_CHUNK], rej[NOISE_CHUNK];
    uint64_t ctr[NOISE_CHUNK];
    uint32_t blk[4 * NOISE_CHUNK];
    for (uint32_t j = j0; L->n > 0; j++) {
        size_t n = L->n, nu = 0, nr = 0;
        ptrs_fast(L);
        for (size_t t = 0; t < n; t++) {
            und[nu] = (uint16_t)t;
            nu += L->st[t] == 2;
        }
        ptrs_slow_list(L, und, nu, lf);
        /* out (a rejected pixel gets 0 for now, overwritten when
         * accepted), and the rejected listed */
        for (size_t t = 0; t < n; t++) {
            unsigned p = L->pix[t], acc = L->st[t];
            px[p] = (float)(sel_d0(acc, L->kd[t]) * inv[e[p]]);
            rej[nr] = (uint16_t)t;
            nr += !acc;
        }
        /* the rejected again, with their retry words (same counter and
         * words) */
        for (size_t q = 0; q < nr; q++) {
            size_t t = rej[q];
            unsigned p = L->pix[t];
            ctr[q] = ctr0 + p / 2;
            R->pix[q] = (uint16_t)p;
            R->mu[q] = L->mu[t];
            R->b[q] = L->b[t];
            R->a[q] = L->a[t];
            R->v_r[q] = L->v_r[t];
        }
        sf__philox_blocks(retry_key(k, j), 0, ctr, nr, blk);
        for (size_t q = 0; q < nr; q++) {
            unsigned h = R->pix[q] & 1u;
            R->w[2 * q] = blk[4 * q + 2 * h];
            R->w[2 * q + 1] = blk[4 * q + 2 * h + 1];
        }
        R->n = nr;
        ptrs_list *T = L;
        L = R;
        R = T;
    }
}

/* The first trials of a chunk, per pixel: mean, constants, trial. */
typedef struct ptrs_chunk {
    double mu[NOISE_CHUNK], b[NOISE_CHUNK], a[NOISE_CHUNK];
    double v_r[NOISE_CHUNK], kd[NOISE_CHUNK];
    /* bit j: pixel j's first trial undecided / rejected; selected but
     * mean < POISSON_MU_PTRS (inversion, or 0) */
    uint64_t und[NOISE_CHUNK / 64], rej[NOISE_CHUNK / 64];
    uint64_t low[NOISE_CHUNK / 64];
} ptrs_chunk;

/* Set bits b (0..3, two pixels) at pixel j of a chunk bit map. */
static inline void bits_put(uint64_t *map, size_t j, unsigned b) {
    map[j >> 6] |= (uint64_t)b << (j & 63);
}

/* One pixel's first trial, scalar (the SSE2 path below does the same
 * operations two pixels at a time). */
static void ptrs_first1(ptrs_chunk *C, float *px, size_t j, double p,
                        double inv, const uint32_t *w) {
    double mu = px[j] > 0.0f ? (double)px[j] * p : 0.0;
    if (!(p > 0.0)) return;
    if (!(mu >= POISSON_MU_PTRS)) {
        C->mu[j] = mu;
        bits_put(C->low, j, 1);
        return;
    }
    mu = mu > POISSON_MU_MAX ? POISSON_MU_MAX : mu;
    double b, a, v_r;
    ptrs_prepare(sqrt(mu), &b, &a, &v_r);
    C->mu[j] = mu;
    C->b[j] = b;
    C->a[j] = a;
    C->v_r[j] = v_r;
    double u = ptrs_u(w[2 * j]), v = ptrs_v(w[2 * j + 1]);
    double us = 0.5 - fabs(u);
    double x = ptrs_x(mu, a, b, u, us);
    int acc = us >= 0.07 && v <= v_r && x >= 0.0;
    int rej = us <= 0.0 || x < 0.0 || (us < 0.013 && v > us);
    C->kd[j] = floor_small(x);
    if (acc)
        px[j] = (float)(C->kd[j] * inv);
    else
        bits_put(rej ? C->rej : C->und, j, 1);
}

#ifdef __AVX2__
/* ptrs_first's two loops four pixels at a time (AVX2), for the pixels
 * [0, m & ~3): the same operations per lane as the SSE2 pairs below, so
 * the same bits. Returns the number of pixels done. */
static size_t ptrs_first4(ptrs_chunk *C, float *px, const uint16_t *e, size_t m,
                          const double *ph, const double *inv,
                          const uint32_t *w) {
    const __m256i flip = _mm256_set1_epi32((int)0x80000000u);
    const __m256i odd_even = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const __m256d scale = _mm256_set1_pd(0x1p-32), half = _mm256_set1_pd(0.5);
    const __m256d two = _mm256_set1_pd(2.0), c043 = _mm256_set1_pd(0.43);
    const __m256d big = _mm256_set1_pd(0x1p52), one = _mm256_set1_pd(1.0);
    const __m256d zero = _mm256_setzero_pd(), sign = _mm256_set1_pd(-0.0);
    const __m256d c007 = _mm256_set1_pd(0.07), c0013 = _mm256_set1_pd(0.013);
    const __m256d lo = _mm256_set1_pd(POISSON_MU_PTRS);
    const __m256d hi = _mm256_set1_pd(POISSON_MU_MAX);
    const __m128i lane_bit = _mm_setr_epi32(1, 2, 4, 8);
    uint8_t elig4[NOISE_CHUNK / 4];
    __m256d pmu = _mm256_set1_pd(-1.0), b = zero, a = zero, v_r = zero;
    size_t j = 0;
    for (; j + 4 <= m; j += 4) {
        __m256d p =
            _mm256_setr_pd(ph[e[j]], ph[e[j + 1]], ph[e[j + 2]], ph[e[j + 3]]);
        __m256d vd = _mm256_cvtps_pd(_mm_loadu_ps(px + j));
        /* mu = v > 0 ? v p : 0 (NaN: 0) */
        __m256d mu = _mm256_mul_pd(
            _mm256_and_pd(_mm256_cmp_pd(vd, zero, _CMP_GT_OQ), vd), p);
        __m256d sel = _mm256_cmp_pd(p, zero, _CMP_GT_OQ);
        __m256d elig = _mm256_cmp_pd(mu, lo, _CMP_GE_OQ);
        mu = _mm256_min_pd(mu, hi);
        _mm256_storeu_pd(C->mu + j, mu);
        int ms = _mm256_movemask_pd(sel), me = _mm256_movemask_pd(elig);
        elig4[j / 4] = (uint8_t)me;
        if (ms & ~me) bits_put(C->low, j, (unsigned)(ms & ~me));
        if (!me) continue;
        if (_mm256_movemask_pd(_mm256_cmp_pd(mu, pmu, _CMP_EQ_OQ)) != 15) {
            /* as ptrs_prepare */
            pmu = mu;
            b = _mm256_add_pd(
                _mm256_set1_pd(0.931),
                _mm256_mul_pd(_mm256_set1_pd(2.53), _mm256_sqrt_pd(mu)));
            a = _mm256_add_pd(_mm256_set1_pd(-0.059),
                              _mm256_mul_pd(_mm256_set1_pd(0.02483), b));
            v_r = _mm256_sub_pd(
                _mm256_set1_pd(0.9277),
                _mm256_div_pd(_mm256_set1_pd(3.6224),
                              _mm256_sub_pd(b, _mm256_set1_pd(2.0))));
        }
        _mm256_storeu_pd(C->b + j, b);
        _mm256_storeu_pd(C->a + j, a);
        _mm256_storeu_pd(C->v_r + j, v_r);
    }
    for (size_t i = 0; i < j; i += 4) {
        int me = elig4[i / 4];
        if (!me) continue;
        __m256d mu = _mm256_loadu_pd(C->mu + i), b4 = _mm256_loadu_pd(C->b + i);
        __m256d a4 = _mm256_loadu_pd(C->a + i);
        __m256d vr4 = _mm256_loadu_pd(C->v_r + i);
        __m256d iv = _mm256_setr_pd(inv[e[i]], inv[e[i + 1]], inv[e[i + 2]],
                                    inv[e[i + 3]]);
        /* the trial, as ptrs_trial; words u0 v0 .. u3 v3 -> u0..u3 | v0..v3 */
        __m256i uv = _mm256_permutevar8x32_epi32(
            _mm256_loadu_si256((const __m256i *)(w + 2 * i)), odd_even);
        uv = _mm256_xor_si256(uv, flip);
        __m256d u = _mm256_mul_pd(
            _mm256_cvtepi32_pd(_mm256_castsi256_si128(uv)), scale);
        __m256d v = _mm256_add_pd(
            _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(uv, 1)),
                          scale),
            half);
        __m256d us = _mm256_sub_pd(half, _mm256_andnot_pd(sign, u));
        __m256d x =
            _mm256_add_pd(_mm256_div_pd(_mm256_mul_pd(two, a4), us), b4);
        x = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(x, u), mu), c043);
        __m256d r = _mm256_sub_pd(_mm256_add_pd(x, big), big);
        r = _mm256_sub_pd(r,
                          _mm256_and_pd(_mm256_cmp_pd(r, x, _CMP_GT_OQ), one));
        _mm256_storeu_pd(C->kd + i, r);
        __m256d acc =
            _mm256_and_pd(_mm256_and_pd(_mm256_cmp_pd(us, c007, _CMP_GE_OQ),
                                        _mm256_cmp_pd(v, vr4, _CMP_LE_OQ)),
                          _mm256_cmp_pd(x, zero, _CMP_GE_OQ));
        __m256d rej =
            _mm256_or_pd(_mm256_or_pd(_mm256_cmp_pd(us, zero, _CMP_LE_OQ),
                                      _mm256_cmp_pd(x, zero, _CMP_LT_OQ)),
                         _mm256_and_pd(_mm256_cmp_pd(us, c0013, _CMP_LT_OQ),
                                       _mm256_cmp_pd(v, us, _CMP_GT_OQ)));
        int ma = _mm256_movemask_pd(acc) & me,
            mr = _mm256_movemask_pd(rej) & me & ~ma;
        bits_put(C->rej, i, (unsigned)mr);
        bits_put(C->und, i, (unsigned)(me & ~(ma | mr)));
        /* accepted: (float)(kd inv) over the old value */
        __m128 out = _mm256_cvtpd_ps(_mm256_mul_pd(r, iv));
        __m128i m32 = _mm_cmpeq_epi32(
            _mm_and_si128(_mm_set1_epi32(ma), lane_bit), lane_bit);
        _mm_storeu_ps(px + i, _mm_blendv_ps(_mm_loadu_ps(px + i), out,
                                            _mm_castsi128_ps(m32)));
    }
    return j;
}
#endif

/* First trials of the chunk's pixels [0, m) (entry e[j], photons ph[],
 * words w[2 j], w[2 j + 1]): accepted ones written, the others marked in
 * C's bit maps. The constants of a mean are computed once per run of
 * equal means (the per-distinct-mean cache of piecewise-constant images);
 * after other noise every mean differs, and they come two at a time from
 * SIMD sqrt and divide. */
static void ptrs_first(ptrs_chunk *C, float *px, const uint16_t *e, size_t m,
                       const double *ph, const double *inv, const uint32_t *w) {
    memset(C->und, 0, sizeof C->und);
    memset(C->rej, 0, sizeof C->rej);
    memset(C->low, 0, sizeof C->low);
    size_t j = 0;
#ifdef __AVX2__
    j = ptrs_first4(C, px, e, m, ph, inv, w);
#endif
#ifdef __SSE2__
    const size_t j0 = j; /* the SSE2 pairs start where AVX2 stopped */
    const __m128i flip = _mm_set1_epi32((int)0x80000000u);
    const __m128d scale = _mm_set1_pd(0x1p-32), half = _mm_set1_pd(0.5);
    const __m128d two = _mm_set1_pd(2.0), c043 = _mm_set1_pd(0.43);
    const __m128d big = _mm_set1_pd(0x1p52), one = _mm_set1_pd(1.0);
    const __m128d zero = _mm_setzero_pd(), sign = _mm_set1_pd(-0.0);
    const __m128d c007 = _mm_set1_pd(0.07), c0013 = _mm_set1_pd(0.013);
    const __m128d lo = _mm_set1_pd(POISSON_MU_PTRS);
    const __m128d hi = _mm_set1_pd(POISSON_MU_MAX);
    /* Two loops, so that the long latencies (sqrt, divide) of many pairs
     * overlap: means and constants, then the trials. */
    uint8_t elig2[NOISE_CHUNK / 2];
    __m128d pmu = _mm_set1_pd(-1.0), b = zero, a = zero, v_r = zero;
    for (; j + 2 <= m; j += 2) {
        __m128d p = _mm_set_pd(ph[e[j + 1]], ph[e[j]]);
        __m128 v2 = _mm_castpd_ps(_mm_load_sd((const double *)(px + j)));
        __m128d vd = _mm_cvtps_pd(v2);
        /* mu = v > 0 ? v p : 0 (NaN: 0) */
        __m128d mu = _mm_mul_pd(_mm_and_pd(_mm_cmpgt_pd(vd, zero), vd), p);
        __m128d sel = _mm_cmpgt_pd(p, zero), elig = _mm_cmpge_pd(mu, lo);
        mu = _mm_min_pd(mu, hi);
        _mm_storeu_pd(C->mu + j, mu);
        int ms = _mm_movemask_pd(sel), me = _mm_movemask_pd(elig);
        elig2[j / 2] = (uint8_t)me;
        if (ms & ~me) bits_put(C->low, j, (unsigned)(ms & ~me));
        if (!me) continue;
        if (_mm_movemask_pd(_mm_cmpeq_pd(mu, pmu)) != 3) {
            /* as ptrs_prepare */
            pmu = mu;
            b = _mm_add_pd(_mm_set1_pd(0.931),
                           _mm_mul_pd(_mm_set1_pd(2.53), _mm_sqrt_pd(mu)));
            a = _mm_add_pd(_mm_set1_pd(-0.059),
                           _mm_mul_pd(_mm_set1_pd(0.02483), b));
            v_r = _mm_sub_pd(_mm_set1_pd(0.9277),
                             _mm_div_pd(_mm_set1_pd(3.6224),
                                        _mm_sub_pd(b, _mm_set1_pd(2.0))));
        }
        _mm_storeu_pd(C->b + j, b);
        _mm_storeu_pd(C->a + j, a);
        _mm_storeu_pd(C->v_r + j, v_r);
    }
    for (size_t i = j0; i + 2 <= j; i += 2) {
        int me = elig2[i / 2];
        if (!me) continue;
        __m128d mu = _mm_loadu_pd(C->mu + i), b2 = _mm_loadu_pd(C->b + i);
        __m128d a2 = _mm_loadu_pd(C->a + i), vr2 = _mm_loadu_pd(C->v_r + i);
        __m128d iv = _mm_set_pd(inv[e[i + 1]], inv[e[i]]);
        /* the trial, as ptrs_trial; words u0 v0 u1 v1 -> u0 u1 | v0 v1 */
        __m128i uv = _mm_shuffle_epi32(
            _mm_loadu_si128((const __m128i *)(w + 2 * i)), 0xD8);
        uv = _mm_xor_si128(uv, flip);
        __m128d u = _mm_mul_pd(_mm_cvtepi32_pd(uv), scale);
        __m128d v = _mm_add_pd(
            _mm_mul_pd(_mm_cvtepi32_pd(_mm_unpackhi_epi64(uv, uv)), scale),
            half);
        __m128d us = _mm_sub_pd(half, _mm_andnot_pd(sign, u));
        __m128d x = _mm_add_pd(_mm_div_pd(_mm_mul_pd(two, a2), us), b2);
        x = _mm_add_pd(_mm_add_pd(_mm_mul_pd(x, u), mu), c043);
        __m128d r = _mm_sub_pd(_mm_add_pd(x, big), big);
        r = _mm_sub_pd(r, _mm_and_pd(_mm_cmpgt_pd(r, x), one));
        _mm_storeu_pd(C->kd + i, r);
        __m128d acc =
            _mm_and_pd(_mm_and_pd(_mm_cmpge_pd(us, c007), _mm_cmple_pd(v, vr2)),
                       _mm_cmpge_pd(x, zero));
        __m128d rej =
            _mm_or_pd(_mm_or_pd(_mm_cmple_pd(us, zero), _mm_cmplt_pd(x, zero)),
                      _mm_and_pd(_mm_cmplt_pd(us, c0013), _mm_cmpgt_pd(v, us)));
        int ma = _mm_movemask_pd(acc) & me,
            mr = _mm_movemask_pd(rej) & me & ~ma;
        acc =
            _mm_and_pd(acc, _mm_castsi128_pd(_mm_set_epi64x(
                                -(long long)(me >> 1), -(long long)(me & 1))));
        bits_put(C->rej, i, (unsigned)mr);
        bits_put(C->und, i, (unsigned)(me & ~(ma | mr)));
        /* accepted: (float)(kd inv) over the old value */
        __m128 v2 = _mm_castpd_ps(_mm_load_sd((const double *)(px + i)));
        __m128 out = _mm_cvtpd_ps(_mm_mul_pd(r, iv));
        __m128 m32 = _mm_castpd_ps(acc);
        m32 = _mm_shuffle_ps(m32, m32, 0x08); /* lanes 0, 2 -> 0, 1 */
        out = _mm_or_ps(_mm_and_ps(m32, out), _mm_andnot_ps(m32, v2));
        _mm_storel_pi((__m64 *)(px + i), out);
    }
#endif
    for (; j < m; j++)
        ptrs_first1(C, px, j, ph[e[j]], inv[e[j]], w);
}

/* Indices of the set bits of a chunk bit map, in order; returns the count. */
static size_t bits_list(const uint64_t *map, uint16_t *idx) {
    size_t n = 0;
    for (size_t q = 0; q < NOISE_CHUNK / 64; q++)
        for (uint64_t b = map[q]; b; b &= b - 1)
            idx[n++] = (uint16_t)(q * 64 + (size_t)__builtin_ctzll(b));
    return n;
}

/* v' = Poisson(max(v, 0) * photons) / photons, pixel i on words
 * 2 (i % 2), 2 (i % 2) + 1 of counter i / 2. ph[e] = photons of entry e
 * (0: invalid, the pixels stay as they are), inv[e] = 1 / ph[e]. Per
 * chunk: the first trials of all pixels in one pass; the undecided ones'
 * log tests; the rest (retries, small means) as lists. */
static void apply_poisson(sf_imgf *im, const noise_sel *s, const double *ph,
                          const double *inv, sf_rng_key k) {
    size_t n = (size_t)im->nx * (size_t)im->ny;
    uint32_t w[2 * NOISE_CHUNK];
    uint16_t e[NOISE_CHUNK], idx[NOISE_CHUNK];
    uint64_t ctr[NOISE_CHUNK];
    uint32_t blk[4 * NOISE_CHUNK];
    ptrs_chunk C;
    ptrs_list L[2]; /* ~30 KB of stack, with C and lf below ~55 KB */
    poisson_lf lf[1];
    double inv_mu = -1.0, exp_neg_mu = 1.0; /* inversion: last mean */
    lf->n = 0;
    for (size_t i0 = 0; i0 < n; i0 += NOISE_CHUNK) {
        size_t m = n - i0 < NOISE_CHUNK ? n - i0 : NOISE_CHUNK;
        if (!sel_chunk(s, i0, m, e)) continue;
        sf__philox_blocks(k, i0 / 2, NULL, (m + 1) / 2, w);
        float *px = im->px + i0;
        ptrs_first(&C, px, e, m, ph, inv, w);
        /* small means: inversion (or 0) */
        size_t nl = bits_list(C.low, idx);
        for (size_t q = 0; q < nl; q++) {
            size_t j = idx[q];
            double mu = C.mu[j];
            if (!(mu > 0.0)) {
                px[j] = 0.0f; /* also NaN */
                continue;
            }
            if (mu != inv_mu) {
                inv_mu = mu;
                exp_neg_mu = exp(-mu);
            }
            unsigned x = poisson_invert(mu, exp_neg_mu, w[2 * j], w[2 * j + 1]);
            px[j] = (float)((double)x * inv[e[j]]);
        }
        /* undecided first trials: the log test, as a list */
        size_t nu = bits_list(C.und, idx);
        if (nu) {
            ptrs_list *U = &L[0];
            for (size_t q = 0; q < nu; q++) {
                size_t j = idx[q];
                U->pix[q] = (uint16_t)j;
                U->w[2 * q] = w[2 * j];
                U->w[2 * q + 1] = w[2 * j + 1];
                U->mu[q] = C.mu[j];
                U->a[q] = C.a[j];
                U->b[q] = C.b[j];
                U->kd[q] = C.kd[j];
                idx[q] = (uint16_t)q;
            }
            U->n = nu;
            ptrs_slow_list(U, idx, nu, lf);
            for (size_t q = 0; q < nu; q++) {
                /* a rejected pixel gets 0 for now, overwritten when
                 * accepted */
                unsigned j = U->pix[q], acc = U->st[q];
                px[j] = (float)(sel_d0(acc, U->kd[q]) * inv[e[j]]);
                bits_put(C.rej, j, !acc);
            }
        }
        /* rejected first trials: again with their retry words */
        size_t nr = bits_list(C.rej, idx);
        if (!nr) continue;
        ptrs_list *R = &L[0];
        for (size_t q = 0; q < nr; q++) {
            size_t j = idx[q];
            ctr[q] = i0 / 2 + j / 2;
            R->pix[q] = (uint16_t)j;
            R->mu[q] = C.mu[j];
            R->b[q] = C.b[j];
            R->a[q] = C.a[j];
            R->v_r[q] = C.v_r[j];
        }
        sf__philox_blocks(retry_key(k, 1), 0, ctr, nr, blk);
        for (size_t q = 0; q < nr; q++) {
            unsigned h = R->pix[q] & 1u;
            R->w[2 * q] = blk[4 * q + 2 * h];
            R->w[2 * q + 1] = blk[4 * q + 2 * h + 1];
        }
        R->n = nr;
        ptrs_run(R, &L[1], px, e, inv, k, i0 / 2, 2, lf);
    }
}

/* ------------------------------------------------------------------- ops */

static void draw_poisson(const sf_noise_cfg *cfg, sf_draw *d,
                         sf_noise_params *p) {
    p->photons = sf__draw_range(d, cfg->photons);
}

static void json_poisson(const sf_noise_params *p, sf_buf *b) {
    sf_buf_puts(b, ",\"photons\":");
    sf_json_num(b, p->photons);
}

/* scratch as ph[0..n] then inv[0..n] (apply_poisson's tables). */
static void run_poisson(sf_imgf *im, const noise_sel *s,
                        const sf_noise_params *tab, int n, void *scratch,
                        sf_rng_key k) {
    double *ph = scratch, *inv = ph + n + 1;
    ph[0] = inv[0] = 0.0; /* entry 0: untouched */
    for (int l = 1; l <= n; l++) {
        double p = tab[l].photons;
        int ok = p > 0.0 && isfinite(p);
        ph[l] = ok ? p : 0.0;
        inv[l] = ok ? 1.0 / p : 0.0;
    }
    apply_poisson(im, s, ph, inv, k);
}

const sf_noise_ops sf__noise_poisson = {"poisson",          SF_NOISE_POISSON,
                                        draw_poisson,       json_poisson,
                                        2 * sizeof(double), run_poisson};
