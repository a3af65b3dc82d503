/*
 * sf_int.h - factory internals shared between the factory sources (and the
 * unit tests). Not installed, not stable.
 */
#ifndef SF_INT_H
#define SF_INT_H

#include "sf.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------- streams */

/* RNG stream ids. Part of the on-disk contract (corpora regenerate from
 * them): append new ids, never renumber or reuse. */
enum sf_stream {
    SF_STREAM_PLAN = 1,            /* module choice, noise plan, blur */
    SF_STREAM_SHAPE = 2,           /* shape geometry draws */
    SF_STREAM_CONTRAST = 3,        /* I_b, delta, phantom */
    SF_STREAM_BOUNDARY = 4,        /* boundary scalar draws */
    SF_STREAM_BOUNDARY_FIELD = 5,  /* label field lattice values */
    SF_STREAM_BOUNDARY_WARP = 6,   /* displacement lattice values */
    SF_STREAM_BOUNDARY_CANVAS = 7, /* per-pixel canvas values */
    SF_STREAM_NOISE_PARAMS = 8,    /* noise model parameter draws */
    /* per-pixel noise: SF_STREAM_NOISE_PIXELS + 64 * application + sub */
    SF_STREAM_NOISE_PIXELS = 0x10000,
    SF_STREAM_PROMPTS = 0x50524D50, /* 'PRMP': click simulation (prompts.c) */
    SF_STREAM_VERIFY_PICK = 0x7FFF0001 /* verify --regenerate sample choice */
};

/* Philox4x32-10 (Salmon et al., SC'11): the one scalar kernel. Counter
 * (c0, c1, c2, c3), key (k0, k1); inline and unrolled for per-pixel loops.
 * sf_philox4x32_10 and sf_rng_block are this; sf__philox_blocks (rng.c) is
 * its SSE2/AVX2 form for many blocks and gives the same words. */
#define SF__PHILOX_ROUND(c0, c1, c2, c3, k0, k1)                               \
    do {                                                                       \
        uint64_t p0_ = (uint64_t)0xD2511F53u * (c0);                           \
        uint64_t p1_ = (uint64_t)0xCD9E8D57u * (c2);                           \
        uint32_t n0_ = (uint32_t)(p1_ >> 32) ^ (c1) ^ (k0);                    \
        uint32_t n2_ = (uint32_t)(p0_ >> 32) ^ (c3) ^ (k1);                    \
        (c1) = (uint32_t)p1_;                                                  \
        (c3) = (uint32_t)p0_;                                                  \
        (c0) = n0_;                                                            \
        (c2) = n2_;                                                            \
    } while (0)

static inline void sf__philox_inline(uint32_t c0, uint32_t c1, uint32_t c2,
                                     uint32_t c3, uint32_t k0, uint32_t k1,
                                     uint32_t out[4]) {
    SF__PHILOX_ROUND(c0, c1, c2, c3, k0, k1);
    for (int r = 1; r < 10; r++) {
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
        SF__PHILOX_ROUND(c0, c1, c2, c3, k0, k1);
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* Block `ctr` of stream k: counter (ctr, k.id), key k.k. */
static inline void sf__rng_block_inline(sf_rng_key k, uint64_t ctr,
                                        uint32_t out[4]) {
    sf__philox_inline((uint32_t)ctr, (uint32_t)(ctr >> 32), k.id[0], k.id[1],
                      k.k[0], k.k[1], out);
}

/* Blocks of counters ctr0 .. ctr0 + n - 1 (or, when ctr is not NULL,
 * ctr[0 .. n)) of stream k, block b's words at out[4 b .. 4 b + 3]:
 * exactly sf__rng_block_inline's words, 16 blocks at a time with AVX2
 * (when the CPU has it), 8 with SSE2, the rest scalar. Reentrant. */
void sf__philox_blocks(sf_rng_key k, uint64_t ctr0, const uint64_t *ctr,
                       size_t n, uint32_t *out);

/* Sequential scalar draws on one stream: draw i uses counter i. Used for
 * per-sample parameters (not per-pixel work). */
typedef struct sf_draw {
    sf_rng_key key;
    uint64_t ctr;
} sf_draw;

void sf__draw_init(sf_draw *d, uint64_t seed, uint64_t index, uint32_t stream);
double sf__draw_u01(sf_draw *d); /* [0,1) */
double sf__draw_uniform(sf_draw *d, double lo, double hi);
double sf__draw_range(sf_draw *d, sf_range r);
int sf__draw_int(sf_draw *d, int lo, int hi); /* inclusive */
int sf__draw_irange(sf_draw *d, sf_irange r);
int sf__draw_bernoulli(sf_draw *d, double p);
double sf__draw_normal(sf_draw *d); /* N(0,1) */

/* Uniform [0,1) float from the top 24 bits of a word. */
static inline float sf__u01f(uint32_t u) {
    return (float)(u >> 8) * (1.0f / 16777216.0f);
}
/* Uniform (0,1] float: never 0, safe for log. */
static inline float sf__u01f_open0(uint32_t u) {
    return ((float)(u >> 8) + 1.0f) * (1.0f / 16777216.0f);
}
static inline double sf__u01d(uint64_t u) {
    return (double)(u >> 11) * (1.0 / 9007199254740992.0);
}
/* Two N(0,1) floats from two words (Box-Muller). */
void sf__normal2f(uint32_t u0, uint32_t u1, float *z0, float *z1);

/* ------------------------------------------------------------- images */

/* Float working image, row-major (ny, nx), values nominally in [0,1]. */
typedef struct sf_imgf {
    int nx, ny;
    float *px;
} sf_imgf;

int sf__imgf_alloc(sf_imgf *im, int nx, int ny, float fill);
void sf__imgf_release(sf_imgf *im);
/* Quantise to 8 bits: round(clamp(v,0,1)*255). */
void sf__imgf_to_u8(const sf_imgf *im, uint8_t *out);

/* --------------------------------------------------------------- bezier */

typedef struct sf_pt {
    double x, y;
} sf_pt;

/* Point at t in [0,1] of the Bezier curve with n control points (degree
 * n-1), evaluated in Bernstein form. */
sf_pt sf__bezier_eval(const sf_pt *ctrl, int n, double t);

/* Fill a closed polygon (nonzero winding, pixel centres) into `mask`
 * (ny, nx) with value `v`. Returns number of pixels set. */
long sf__fill_polygon(const sf_pt *poly, int n, uint8_t *mask, int nx, int ny,
                      uint8_t v);

/* ------------------------------------------------------------- contrast */

/* The paper's contrast heuristic, our reading (named, swappable):
 * ALTERNATING: I_i = I_b + (-1)^i * i * delta;  LINEAR: I_b + i * delta.
 * Raw value, may leave [0,1]; see sf__contrast_visible. */
double sf__contrast_raw(int function, double i_b, int i, double delta);
/* Bring a raw intensity into [0,1] by reflecting at the bounds and keep it
 * at least min_contrast from every value in `surround` (n values): flip the
 * sign of the offset first, then move to the nearest admissible value.
 * Deterministic; always succeeds when n*2*min_contrast < 1. */
double sf__contrast_visible(double raw, double i_b, const double *surround,
                            int n, double min_contrast);

/* ---------------------------------------------------------------- noise */

/* One noise application in a sample's plan, parameters already drawn. */
typedef struct sf_noise_params {
    int model;          /* enum sf_noise_id */
    double sigma;       /* gaussian/speckle/rician */
    double photons;     /* poisson */
    double amplitude;   /* perlin */
    int octaves;        /* perlin */
    double cells;       /* perlin */
    double persistence; /* perlin */
} sf_noise_params;

/* Draw the parameters of `model` from its configured ranges. */
void sf__noise_draw(const sf_noise_cfg *cfg, int model, sf_draw *d,
                    sf_noise_params *p);
/* Apply to `im` where mask == NULL, or where mask[i] == mask_value.
 * Per-pixel draws come from stream key `k` (counter = pixel index based),
 * so the result does not depend on threads. */
void sf__noise_apply(const sf_noise_params *p, sf_imgf *im,
                     const uint16_t *mask, uint16_t mask_value, sf_rng_key k);
/* One model with its own parameters per label, in one pass over the image:
 * params[l] (l = 1 .. n_labels; params[0] is never read) applies to the
 * pixels whose label is l; pixels labelled 0 or above n_labels are not
 * written. Every params[l].model must be the same (asserted). The result
 * equals, bit for bit, sf__noise_apply(&params[l], im, labels, l, k) for
 * each l. Never fails: without memory for its scratch it falls back to
 * exactly that loop. */
void sf__noise_apply_labels(const sf_noise_params *params, int n_labels,
                            sf_imgf *im, const uint16_t *labels, sf_rng_key k);
/* Append the parameters as a JSON object. */
void sf__noise_json(const sf_noise_params *p, sf_buf *b);

/* Poisson variate with mean mu from words 0 and 1 of block `ctr` of key k
 * (retries: the same words under derived keys); the noise model's draw
 * for an even pixel 2 ctr. */
unsigned sf__poisson(double mu, sf_rng_key k, uint64_t ctr);

/* ----------------------------------------------------------------- blur */

/* Gaussian blur, std `sigma` px, edge-replicate boundary, in place; cost
 * bounded whatever sigma: the reference kernel below sigma 0.5, a
 * truncated (5 sigma) direct kernel in float below 3, the six-pole
 * recursive filter above. Max abs difference to sf__blur_gauss_direct
 * < 1e-4 (tested). Returns SF_OK, SF_EINVAL (non-finite sigma) or
 * SF_ENOMEM. */
int sf__blur_gauss(sf_imgf *im, double sigma);
/* The six-pole recursive filter alone, whatever sigma (its fit holds for
 * sigma >= 0.5); for tests and benchmarks. Same returns. */
int sf__blur_gauss_recursive(sf_imgf *im, double sigma);
/* Reference: direct separable convolution, kernel radius ceil(6 sigma),
 * edge-replicate; slow, for tests and benchmarks. */
int sf__blur_gauss_direct(sf_imgf *im, double sigma);

/* ------------------------------------------------------------- modules */

/* Shape-aware module: fills image (before noise/blur) and labels.
 * Appends drawn parameters to json (an object body, no braces). canvas
 * (NULL: the flat level I_b) is what lies behind the shapes inside the
 * phantom (everywhere without one); I_b is then the canvas's mean. */
int sf__shape_generate(const sf_config *c, uint64_t seed, uint64_t index,
                       const sf_imgf *canvas, sf_imgf *im, uint16_t *labels,
                       int *n_instances, sf_buf *json, sf_err *err);

/* Boundary-aware module: SynthMorph-style adjacent structures. */
int sf__boundary_generate(const sf_config *c, uint64_t seed, uint64_t index,
                          sf_imgf *im, uint16_t *labels, int *n_instances,
                          sf_buf *json, sf_err *err);

/* SynthMorph label map (before erosion): argmax of warped smooth fields.
 * labels get 1..n_labels. Exposed for tests. */
int sf__boundary_label_map(const sf_config *c, sf_draw *d, sf_rng_key fkey,
                           sf_rng_key wkey, int n_labels, uint16_t *labels,
                           int nx, int ny, sf_buf *json);
/* Erode label `l` of `labels` by `iters` 4-neighbour steps; eroded pixels
 * become 0. Borders of the image do not erode. */
void sf__erode_label(uint16_t *labels, int nx, int ny, uint16_t l, int iters,
                     uint8_t *scratch);

/* Connected components (4-connectivity) of labels > 0 into 1..K, dropping
 * components smaller than min_area (set to 0). In place. Returns K or a
 * negative SF_E* code. */
int sf__relabel_components(uint16_t *labels, int nx, int ny, int min_area);

/* ------------------------------------------------------------------ PNG */

/* Encode pixels (8/16-bit, 1 or 3 channels) as PNG bytes in memory;
 * caller frees *out. */
int sf__png_encode(const void *px, int nx, int ny, int bit_depth, int channels,
                   int level, uint8_t **out, size_t *out_n, sf_err *err);
/* Write bytes to path (plain fopen/fwrite/fclose; no rename). */
int sf__write_file(const char *path, const void *data, size_t n, sf_err *err);

/* ------------------------------------------------------------------ files */

void sf__record_free(sf_record *r);
/* Per-instance area, bbox, centroid and interior point (the instance's
 * pixel nearest its centroid, first in raster order among equals) of
 * labels 1..k of a (ny, nx) map into a new array of k (NULL when k = 0);
 * SF_OK or SF_ENOMEM. */
int sf__instance_stats(const uint16_t *labels, int nx, int ny, int k,
                       sf_instance **out);

/* --------------------------------------------------------------- corpus */

/* images/DIGITS.png style check for manifest paths (sub = "images"). */
int sf__corpus_path_ok(const char *p, const char *sub);

/* The manifest, shared by the reader (corpus_read.c) and the writer
 * (corpus_write.c). */
typedef struct sqlite3 sqlite3;
#define SF__CORPUS_FORMAT 1 /* corpus.format_version */
/* DIR/manifest.sqlite read-only (SF_EIO when missing) or read-write,
 * created when missing (SF_EDB). */
int sf__corpus_db_open(const char *dir, int readonly, sqlite3 **out,
                       sf_err *err);
/* The corpus row into info (and, when config_yaml is not NULL, the config
 * text, caller frees): SF_ECORRUPT for a foreign or inconsistent
 * manifest, SF_EUNSUPPORTED for another format version. */
int sf__corpus_read_info(sqlite3 *db, const char *dir, sf_corpus_info *info,
                         char **config_yaml, sf_err *err);
/* SF_EDB "FILE: what: sqlite message" / an exec of sql; return SF_EDB. */
int sf__corpus_db_fail(sqlite3 *db, sf_err *err, const char *what);
int sf__corpus_db_exec(sqlite3 *db, const char *sql, sf_err *err);
/* Write the derived files of a complete corpus directory from its
 * manifest: SHA256SUMS, samples.csv, README.md (dataset card),
 * croissant.json, preview.png (publish.c). Each written atomically. */
int sf__corpus_publish(const char *dir, sf_err *err);

/* ----------------------------------------------------------------- misc */

int sf__ncores(void);

/* Embedded default config text (generated from schemas/factory/default.yaml
 * at build time). */
extern const char sf__default_yaml[];
extern const size_t sf__default_yaml_len;
extern const char sf__manifest_sql[]; /* schemas/manifest.sql */

/* A corpus's dataset name, the identity a person reads:
 * "synthfm-seed<S>-n<N>" (+ "-shard<I>of<K>"); publish.c, export.c. */
void sf__dataset_name(const sf_corpus_info *in, char *buf, size_t n);

#endif /* SF_INT_H */
