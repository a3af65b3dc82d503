/*
 * noise_int.h - what the noise model files share (factory-private): the
 * ops table entry every model fills (noise.c holds the table), the pixel
 * selection and chunking, and the small numeric helpers more than one
 * model uses. The counter layouts and the determinism contract are in
 * noise.c's comment.
 */
#ifndef SF_NOISE_INT_H
#define SF_NOISE_INT_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#include <immintrin.h>
#endif

#include "sf_int.h"

/* Pixels are processed in chunks of NOISE_CHUNK (a multiple of 4, so a
 * chunk starts on a block boundary for every counter layout). */
#define NOISE_CHUNK 256

/* Which pixels an application touches, and with which parameters: pixel i
 * gets entry e(i) of a parameter table, entry 0 meaning "untouched".
 *   lab == NULL        every pixel is entry 1;
 *   n_labels == 0      entry 1 where lab[i] == mv, else 0;
 *   n_labels > 0       entry lab[i] where 1 <= lab[i] <= n_labels, else 0. */
typedef struct noise_sel {
    const uint16_t *lab;
    int n_labels;
    uint16_t mv;
} noise_sel;

/* Entries of pixels [i0, i0 + m) into e[0 .. m); returns whether any is
 * non-zero. Plain loops the compiler vectorises. */
static inline int sel_chunk(const noise_sel *s, size_t i0, size_t m,
                            uint16_t *e) {
    unsigned any = 0;
    if (!s->lab) {
        for (size_t j = 0; j < m; j++)
            e[j] = 1;
        return m > 0;
    }
    const uint16_t *lab = s->lab + i0;
    if (s->n_labels == 0) {
        const uint16_t mv = s->mv;
        for (size_t j = 0; j < m; j++) {
            e[j] = (uint16_t)(lab[j] == mv);
            any |= e[j];
        }
    } else {
        const uint16_t n = (uint16_t)s->n_labels;
        for (size_t j = 0; j < m; j++) {
            e[j] = lab[j] <= n ? lab[j] : 0;
            any |= e[j];
        }
    }
    return any != 0;
}

/* Key for rejection retry j >= 1 of a variate whose first try used
 * counter `ctr` of key k: a derived Philox key (streams under distinct
 * keys are independent) with the same counter, so retries never touch a
 * counter another pixel uses and never depend on a sequential state. */
static inline sf_rng_key retry_key(sf_rng_key k, uint32_t j) {
    k.k[0] ^= 0x5851F42Du;
    k.k[1] += 0x9E3779B9u * j;
    return k;
}

/* Uniform [0,1) and (0,1] doubles from one word (exact). */
static inline double u01_w(uint32_t w) {
    return (double)w * 0x1p-32;
}
static inline double u01_open_w(uint32_t w) {
    return ((double)w + 1.0) * 0x1p-32;
}

/* Natural log of u in (0, 1] from IEEE basic operations only, so the bits
 * are the same on every machine (libm's may differ by CPU dispatch):
 * u = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s),
 * s = (m - 1) / (m + 1), |s| < 0.1716; error ~1 ulp. */
static inline double log_ieee(double u) {
    int e;
    double m = frexp(u, &e);
    if (m < 0.70710678118654752440) {
        m *= 2.0;
        e--;
    }
    double s = (m - 1.0) / (m + 1.0), s2 = s * s, p = 1.0 / 25.0;
    for (int k = 11; k >= 0; k--)
        p = p * s2 + 1.0 / (double)(2 * k + 1);
    return (double)e * 6.93147180369123816490e-01 +
           ((double)e * 1.90821492927058770002e-10 + 2.0 * s * p);
}

/* Uniform [0,1) with 53 bits from two words. */
static inline double u01_2w(uint32_t lo, uint32_t hi) {
    return sf__u01d(((uint64_t)hi << 32) | lo);
}

/* Select a where e != 0, else b, bit for bit (a plain conditional is
 * compiled to a branch around the store, which does not vectorise). */
static inline float sel_f(unsigned e, float a, float b) {
    uint32_t ua, ub, m = 0u - (uint32_t)(e != 0);
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, sizeof a);
    return a;
}

/*
 * One noise model (STYLE.md's extension pattern: a const table of
 * vtables, noise.c's noise_table). The configuration side is the schema
 * table of config.c (the model's keys under noise.<name>), so the ops
 * start from drawn parameters:
 *   draw   the model's parameters from its configured ranges, in a fixed
 *          order (the draw count is part of the stream contract);
 *   json   its parameters as `,"key":value` pairs (the record's format);
 *   apply  the noise over the pixels of s, entry e >= 1 with tab[e]
 *          (e <= n), using `scratch`: (n + 1) * scratch_each zeroed bytes.
 * Adding a model: a file with its ops, one line in noise_table, one
 * enum sf_noise_id value (append), its keys in config.c and SCHEMA.md.
 */
typedef struct sf_noise_ops {
    const char *name; /* YAML key and the record's "model" */
    int id;           /* enum sf_noise_id */
    void (*draw)(const sf_noise_cfg *cfg, sf_draw *d, sf_noise_params *p);
    void (*json)(const sf_noise_params *p, sf_buf *b);
    size_t scratch_each; /* bytes per entry, at most 16 */
    void (*apply)(sf_imgf *im, const noise_sel *s, const sf_noise_params *tab,
                  int n, void *scratch, sf_rng_key k);
} sf_noise_ops;

/* noise_normal.c */
extern const sf_noise_ops sf__noise_gaussian, sf__noise_speckle,
    sf__noise_rician;
/* noise_poisson.c */
extern const sf_noise_ops sf__noise_poisson;
/* noise_perlin.c */
extern const sf_noise_ops sf__noise_perlin;

#endif /* SF_NOISE_INT_H */
