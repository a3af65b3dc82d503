/*
 * sf.h - the SynthFM factory: deterministic synthetic medical-like images
 * with instance label maps.
 *
 * Every sample is a pure function of (master seed, sample index, resolved
 * config): same inputs give byte-identical images, labels and parameter
 * records, whatever the thread count or shard split.
 *
 * Conventions (see STYLE.md): fallible calls return SF_OK (0) or a negative
 * SF_E* code and fill a caller-owned sf_err (NULL allowed); results come back
 * through T **out and belong to the caller; every _free accepts NULL.
 */
#ifndef SF_H
#define SF_H

#include <stddef.h>
#include <stdint.h>

#include "sf_util.h" /* text buffer, JSON, files, SHA-256, clock */

#ifdef __cplusplus
extern "C" {
#endif

#define SF_VERSION "0.1.0"
/* Bumped whenever any draw, or the bytes of a written file, changes;
 * recorded in every manifest. 2: PNGs written with libdeflate. */
#define SF_RNG_VERSION 2

/* ---------------------------------------------------------------- errors */

enum {
    SF_OK = 0,
    SF_ENOMEM = -1,   /* allocation failed */
    SF_EINVAL = -2,   /* bad argument (programmer or CLI input) */
    SF_EIO = -3,      /* read/write/rename failed */
    SF_ECONFIG = -4,  /* config file invalid: file:line:col + key in msg */
    SF_EFORMAT = -5,  /* input file is not what it claims (PNG, YAML, ...) */
    SF_ECORRUPT = -6, /* integrity check failed (hash, count, manifest) */
    SF_EEXIST = -7,   /* output exists and belongs to something else */
    SF_ECANCEL = -8,  /* a progress callback asked to stop */
    SF_ERANGE = -9,   /* a value or size is outside its allowed range */
    SF_EDB = -10,     /* SQLite error */
    SF_EUNSUPPORTED = -11
};

/* Error detail, owned by the caller. `where` holds file:line:col when the
 * error is about a position in an input file, else "". */
typedef struct sf_err {
    int code;
    char where[512];
    char msg[512];
} sf_err;

/* Fill `e` (if non-NULL) with code and printf-style message; returns code. */
int sf_err_set(sf_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, with a position "file:line:col" (line/col 1-based, 0 = unknown). */
int sf_err_at(sf_err *e, int code, const char *file, int line, int col,
              const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Prefix the message with more context ("while writing X: ..."). */
int sf_err_wrap(sf_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sf_err_clear(sf_err *e);
const char *sf_strerror(int code);
/* "where: msg" or "msg" into buf; returns buf. */
const char *sf_err_text(const sf_err *e, char *buf, size_t n);

/* ----------------------------------------------------------------- log */

enum { SF_LOG_DEBUG = 0, SF_LOG_INFO, SF_LOG_WARN, SF_LOG_ERROR };
/* stderr logging; level from SF_LOG=debug|info|warn|error (default info)
 * or sf_log_set_level. Used by CLI and drivers, never inside kernels. */
void sf_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sf_log_set_level(int level);
int sf_log_level(void);

/* Progress callback: non-zero return cancels the long call (SF_ECANCEL). */
typedef int (*sf_progress_fn)(void *ctx, size_t done, size_t total);

/* ------------------------------------------------------------------ RNG */

/* Counter-based Philox4x32-10. A key names one independent stream:
 * (master seed, sample index, stream id). Draw n of that stream is
 * sf_rng_block(key, n). Stream ids are a fixed enum (sf_int.h), never
 * renumbered. */
typedef struct sf_rng_key {
    uint32_t k[2];  /* Philox key: a hash of (seed, stream) */
    uint32_t id[2]; /* sample index, in counter words 2..3 */
} sf_rng_key;

sf_rng_key sf_rng_key_make(uint64_t seed, uint64_t index, uint32_t stream);
/* Raw Philox4x32-10 on an explicit counter and key (for known-answer tests). */
void sf_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                      uint32_t out[4]);
/* Four independent 32-bit words for counter `ctr` of stream `k`. */
void sf_rng_block(sf_rng_key k, uint64_t ctr, uint32_t out[4]);
uint64_t sf_rng_u64(sf_rng_key k, uint64_t ctr);

/* Per-sample seed recorded in the manifest: hash of (master seed, index). */
uint64_t sf_sample_seed(uint64_t master_seed, uint64_t index);

/* --------------------------------------------------------------- config */

typedef struct sf_range {
    double lo, hi;
} sf_range;
typedef struct sf_irange {
    int lo, hi;
} sf_irange;

enum sf_mode { SF_MODE_BOTH = 0, SF_MODE_SHAPE = 1, SF_MODE_BOUNDARY = 2 };
/* Contrast functions for the shape module (config key contrast.function). */
enum sf_contrast_fn { SF_CONTRAST_ALTERNATING = 0, SF_CONTRAST_LINEAR = 1 };

/* One noise model's configuration; which fields apply depends on the
 * model (see schemas/factory/SCHEMA.md). */
typedef struct sf_noise_cfg {
    double probability;   /* chance the model is in a sample's plan */
    sf_range sigma;       /* gaussian, speckle, rician: std of the noise */
    sf_range photons;     /* poisson: photon count at intensity 1 */
    sf_range amplitude;   /* perlin: peak amplitude */
    sf_irange octaves;    /* perlin */
    sf_range cells;       /* perlin: lattice cells across the image, octave 0 */
    sf_range persistence; /* perlin: amplitude ratio between octaves */
} sf_noise_cfg;

enum sf_noise_id {
    /* Ids are part of the RNG streams: append, never renumber. */
    SF_NOISE_GAUSSIAN = 0,
    SF_NOISE_POISSON = 1,
    SF_NOISE_PERLIN = 2,
    SF_NOISE_SPECKLE = 3,
    SF_NOISE_RICIAN = 4,
    SF_NOISE_COUNT
};

typedef struct sf_config {
    int image_size;        /* px, square images */
    int mode;              /* enum sf_mode */
    double mix_shape;      /* mode both: P(shape module) */
    int min_instance_area; /* px: smaller visible objects are dropped */

    struct {
        sf_irange n_shapes;
        sf_irange n_control_points;
        sf_range radius;        /* mean radius, fraction of image size */
        sf_range radius_jitter; /* per-point radius factor range, x mean */
        sf_range smoothness;    /* Bezier handle length, fraction of chord */
        double phantom_probability;
        sf_range phantom_radius; /* fraction of image size */
        sf_range phantom_aspect; /* minor/major axis ratio */
        /* P(the canvas behind the shapes is a boundary-module texture,
         * unlabelled, instead of the flat level I_b) */
        double texture_probability;
    } shape;

    struct {
        int function;        /* enum sf_contrast_fn */
        sf_range background; /* I_b ~ U(lo, hi) */
        sf_range delta;      /* delta ~ U(lo, hi) */
        double min_contrast; /* |I_i - surround| >= this, always */
    } contrast;

    struct {
        sf_irange n_labels;
        double label_scales[4]; /* fractions of image size, 0-terminated */
        int n_label_scales;
        sf_range label_sigma; /* per-scale std ~ U(lo, hi) */
        double warp_scales[4];
        int n_warp_scales;
        sf_range warp_sigma_px;  /* per-scale std ~ U(lo, hi), pixels */
        sf_range erode_fraction; /* share of labels eroded ~ U(lo, hi) */
        sf_irange erode_iterations;
        sf_range canvas_low;   /* a ~ U(lo, hi) */
        sf_range canvas_width; /* |b - a| ~ U(lo, hi), sign random */
        sf_range outlier_fraction;
        sf_range background_shift; /* |shift| ~ U(lo, hi), sign random */
    } boundary;

    struct {
        double shapes_probability; /* P(a planned model acts per shape) */
        sf_noise_cfg model[SF_NOISE_COUNT];
    } noise;

    struct {
        double probability;
        sf_range sigma; /* px */
    } blur;

    int png_level; /* deflate level 0..9 for written PNGs (1: RLE coder) */
} sf_config;

/* The embedded default (schemas/factory/default.yaml, compiled in). */
int sf_config_default(sf_config *out, sf_err *err);
/* Parse and validate a YAML file on top of the defaults. Unknown keys,
 * wrong types, out-of-range values and malformed YAML fail with
 * SF_ECONFIG and file:line:col + key in err. */
int sf_config_load(const char *path, sf_config *out, sf_err *err);
/* Same from a memory buffer; `name` is used in error positions. */
int sf_config_parse(const char *name, const char *text, size_t n,
                    sf_config *out, sf_err *err);
/* Check cross-field constraints (lo <= hi, sizes); SF_ECONFIG. */
int sf_config_validate(const sf_config *c, sf_err *err);
/* The resolved config as canonical YAML (every key, fixed order and number
 * format): the text hashed into corpus identities. Caller frees. */
int sf_config_to_yaml(const sf_config *c, char **out, sf_err *err);
const char *sf_mode_name(int mode);
int sf_mode_parse(const char *s); /* -1 if unknown */
const char *sf_noise_name(int id);

/* ---------------------------------------------------------------- sample */

typedef struct sf_sample {
    int nx, ny;
    uint8_t *image;   /* (ny, nx) 8-bit gray */
    uint16_t *labels; /* (ny, nx) 0 = background, 1..n_instances */
    int n_instances;
    int module;        /* SF_MODE_SHAPE or SF_MODE_BOUNDARY */
    uint64_t seed;     /* per-sample seed = sf_sample_seed(master, index) */
    char *params_json; /* every drawn parameter, canonical JSON */
} sf_sample;

/* Generate sample `index` of the corpus with master seed `seed`. */
int sf_sample_generate(const sf_config *c, uint64_t seed, uint64_t index,
                       sf_sample **out, sf_err *err);
void sf_sample_free(sf_sample *s);

/* ------------------------------------------------------------------ PNG */

/* Write an 8-bit gray or 16-bit gray PNG atomically enough for a caller
 * that renames: writes exactly `path`. level = deflate level 0..9. */
int sf_png_write_gray8(const char *path, const uint8_t *px, int nx, int ny,
                       int level, sf_err *err);
int sf_png_write_gray16(const char *path, const uint16_t *px, int nx, int ny,
                        int level, sf_err *err);
int sf_png_write_rgb8(const char *path, const uint8_t *rgb, int nx, int ny,
                      int level, sf_err *err);
/* Read a PNG as 8-bit gray (RGB is converted, 16-bit is refused unless
 * want16). Limits: at most SF_PNG_MAX_SIDE per side. Corrupt or truncated
 * files give SF_EFORMAT naming the file. Caller frees *px. */
#define SF_PNG_MAX_SIDE 16384
int sf_png_read_gray8(const char *path, uint8_t **px, int *nx, int *ny,
                      sf_err *err);
int sf_png_read_gray16(const char *path, uint16_t **px, int *nx, int *ny,
                       sf_err *err);
/* Read any 8-bit PNG as RGB (gray is replicated). */
int sf_png_read_rgb8(const char *path, uint8_t **rgb, int *nx, int *ny,
                     sf_err *err);

/* --------------------------------------------------------------- driver */

/* Process-wide allocator setting for a process that generates many
 * samples (the CLI and the benchmark call it first thing): each sample
 * allocates and frees the same multi-megabyte planes, which glibc's
 * per-thread arenas return to the kernel and fault in again (measured
 * ~15% of generation's CPU at 1024 px, 2 threads). Keeps up to 256 MB of
 * freed memory per arena instead. Never fails; no effect on output. */
void sf_tune_allocator(void);

/* One instance of a sample, as the manifest records it. */
typedef struct sf_instance {
    int label;          /* 1..n_instances */
    long area;          /* px */
    int bbox[4];        /* x0, y0, x1, y1 inclusive */
    double centroid[2]; /* x, y (px, pixel index units) */
    int interior[2];    /* x, y: the instance's pixel nearest its centroid */
} sf_instance;

/* One sample of a corpus, as the manifest records it (the reading API's
 * sf_corpus_sample_at fills it; the driver's sf_record holds one). */
typedef struct sf_corpus_sample {
    uint64_t index, seed;
    int module, nx, ny, n_instances;
    char image_path[64], label_path[64]; /* relative to the corpus dir */
    char image_sha256[65], label_sha256[65];
    uint64_t image_bytes, label_bytes;
} sf_corpus_sample;

/* What the driver knows about one made sample: its manifest row, its
 * parameter record and its instances. */
typedef struct sf_record {
    sf_corpus_sample s;
    char *params_json;
    sf_instance *instances;
} sf_record;

typedef struct sf_generate_opts {
    const char *out_dir;
    uint64_t seed;
    uint64_t count;  /* samples in the whole corpus */
    int shard_index; /* 0-based; shard_count 1 = no sharding */
    int shard_count;
    int threads;     /* <= 0: all cores */
    int write_files; /* 0: no files (benchmarks) */
    int encode_only; /* benchmarks: encode + hash PNGs, write nothing */
    int sync;        /* fsync each file before its rename */
    sf_progress_fn progress;
    void *progress_ctx;
    /* Resume and commit hooks (the corpus layer): is_done(index) skips a
     * sample; commit gets each batch in index order (need[i] = made). */
    int (*is_done)(void *ctx, uint64_t index);
    int (*commit)(void *ctx, const sf_record *recs, const unsigned char *need,
                  uint64_t n, sf_err *err);
    void *hook_ctx;
} sf_generate_opts;

typedef struct sf_generate_stats {
    uint64_t n_generated; /* samples made by this call */
    uint64_t n_skipped;   /* already present (resume) */
    uint64_t bytes_written;
    double seconds;
} sf_generate_stats;

/* Make samples [first, end) of shard opts->shard_index/shard_count.
 * With write_files, writes OUT/images/NAME.png (8-bit) and
 * OUT/labels/NAME.png (16-bit) through temporary names. */
int sf_generate(const sf_config *c, const sf_generate_opts *opts,
                sf_generate_stats *stats, sf_err *err);

/* Samples of shard i/N: [first, end). Contiguous blocks, so sharded runs
 * name and fill exactly the files a single run would. */
void sf_shard_range(uint64_t count, int shard_index, int shard_count,
                    uint64_t *first, uint64_t *end);
/* File base name of sample `index` in a corpus of `count` samples:
 * zero-padded, at least 6 digits. */
void sf_sample_name(uint64_t index, uint64_t count, char *buf, size_t n);

/* --------------------------------------------------------------- corpus */

/* A corpus directory: images/, labels/, manifest.sqlite (schemas/
 * manifest.sql), config.yaml, SHA256SUMS, README.md, croissant.json,
 * samples.csv, preview.png. */
typedef struct sf_corpus sf_corpus;

typedef struct sf_corpus_info {
    char generator[64];
    char git_commit[64];
    int rng_version;
    uint64_t master_seed;
    uint64_t sample_count; /* of the whole corpus */
    uint64_t first, end;   /* this directory's index range */
    int shard_index, shard_count;
    int image_size;
    char config_sha256[65];
    char created_at[32];
} sf_corpus_info;

/* What `synthfm generate` did. */
typedef struct sf_corpus_result {
    int created;      /* new corpus directory */
    int was_complete; /* nothing to do: every sample was already there */
} sf_corpus_result;

/* Generate (or resume) the corpus in o->out_dir: creates the manifest on
 * first use; refuses (SF_EEXIST) a directory that holds another corpus
 * (different config, seed, count or shard) or foreign files. Samples
 * already in the manifest are skipped; a sample's row is committed only
 * after its files are renamed into place and synced. When all samples of
 * the directory are present, writes SHA256SUMS, README.md, croissant.json,
 * samples.csv and preview.png. */
int sf_corpus_generate(const sf_config *c, const sf_generate_opts *o,
                       sf_generate_stats *st, sf_corpus_result *res,
                       sf_err *err);

/* Open a corpus for reading (read-only). Checks the manifest's format and
 * that every recorded path is a plain relative name under images/ or
 * labels/. */
int sf_corpus_open(const char *dir, sf_corpus **out, sf_err *err);
void sf_corpus_close(sf_corpus *c);
/* Borrowed until sf_corpus_close. */
const sf_corpus_info *sf_corpus_get_info(const sf_corpus *c);
const char *sf_corpus_config_yaml(const sf_corpus *c);
const char *sf_corpus_dir(const sf_corpus *c);
/* Samples present, in index order; pos is 0..count-1. */
uint64_t sf_corpus_count(const sf_corpus *c);
int sf_corpus_sample_at(const sf_corpus *c, uint64_t pos, sf_corpus_sample *out,
                        sf_err *err);
/* Decode sample pos: 8-bit image and 16-bit labels (caller frees both).
 * A missing, corrupt or truncated PNG, or one whose size or labels do not
 * match the manifest, fails with SF_EFORMAT / SF_ECORRUPT naming the file. */
int sf_corpus_load(const sf_corpus *c, uint64_t pos, uint8_t **image,
                   uint16_t **labels, int *nx, int *ny, sf_err *err);
/* Instances of sample pos (caller frees *out). */
int sf_corpus_instances(const sf_corpus *c, uint64_t pos, sf_instance **out,
                        int *n, sf_err *err);
/* Identity of the corpus content: SHA-256 over config hash, seed, count and
 * every file's hash in index order (what training runs record). */
int sf_corpus_identity(const sf_corpus *c, char hex[65], sf_err *err);

/* Verification problem callback: one call per problem found. */
typedef void (*sf_problem_fn)(void *ctx, const char *problem);
/* Check files against manifest and SHA256SUMS, manifest integrity
 * (counts, missing rows, orphans) and, with regenerate > 0, re-create that
 * many samples (picked by pick_seed) and compare bytes. *n_problems gets
 * the count; returns SF_OK when the check itself could run. */
int sf_corpus_verify(const char *dir, int regenerate, uint64_t pick_seed,
                     sf_problem_fn fn, void *ctx, long *n_problems,
                     sf_err *err);

/* Merge shard directories into a new corpus `out`, equal to a single run.
 * Refuses shards of different configs, seeds, counts or generator builds,
 * incomplete shards, gaps and overlaps. */
int sf_corpus_merge(const char *out, const char *const *shards, int n_shards,
                    sf_progress_fn progress, void *progress_ctx, sf_err *err);

/* -------------------------------------------------------------- prompts */

/*
 * Click-prompt simulation on binary masks (prompts.c): the one
 * implementation that the trainer and the evaluation harness share, so a
 * model is trained and scored on clicks made by the same rules.
 *
 * Coordinates are pixel indices of the mask: x = column, y = row, (0, 0)
 * the first pixel of the first row. Distances are Euclidean between pixel
 * centres. "Raster order" means smallest row first, then smallest column;
 * every tie below is broken by it. Everything is exact (integer
 * arithmetic), so results do not depend on the compiler or the platform.
 */
typedef struct sf_click {
    int x, y;     /* column, row */
    int positive; /* 1 = inside the structure, 0 = a negative (background) */
} sf_click;

/* At most this many clicks of each kind per call. */
#define SF_PROMPT_MAX_CLICKS 256
/* Largest mask side sf_prompts_simulate accepts (px). */
#define SF_PROMPT_MAX_SIDE 32768
/* Default width of the negative ring (px): our choice, not the paper's. */
#define SF_PROMPT_RING_WIDTH_DEFAULT 10

typedef struct sf_prompt_opts {
    int n_pos;         /* positive clicks, 0..SF_PROMPT_MAX_CLICKS */
    int n_neg;         /* negative clicks, 0..SF_PROMPT_MAX_CLICKS */
    int ring_width_px; /* >= 1 when n_neg > 0: negatives come from the ring
                          of pixels within this Euclidean distance of the
                          structure, structure excluded */
} sf_prompt_opts;

/* o = {n_pos, n_neg, SF_PROMPT_RING_WIDTH_DEFAULT}. */
void sf_prompt_opts_init(sf_prompt_opts *o, int n_pos, int n_neg);

/*
 * Simulate clicks on the structure mask (ny, nx) (nonzero = structure).
 * out (room for o->n_pos + o->n_neg clicks) gets the positives first, then
 * the negatives; *n_out gets the number written.
 *
 * Positives, at most min(n_pos, area):
 *  1. The first: the centroid pixel, i.e. the pixel whose centre is nearest
 *     the structure's centroid (mean of its pixel coordinates; a centroid
 *     exactly between two pixels takes the smaller row/column), when that
 *     pixel belongs to the structure: then it is also the structure pixel
 *     nearest the centroid. Otherwise (C shapes, rings, several pieces) the
 *     structure pixel farthest from the background: the maximum of the exact
 *     Euclidean distance transform, pixels outside the image counting as
 *     background; ties in raster order.
 *  2. The others: distinct structure pixels other than the first, drawn
 *     uniformly without replacement (a partial Fisher-Yates shuffle of the
 *     structure's pixels in raster order; draw i uses counter i of `key`).
 *     A structure with fewer pixels than n_pos gives every pixel once.
 * Negatives, at most min(n_neg, ring size): the ring is every pixel of the
 * image within distance ring_width_px of the structure (a Euclidean disk
 * dilation, d <= ring_width_px between pixel centres) and not in it; it is
 * clipped to the image. The first negative is the ring pixel farthest from
 * the centroid; each next one maximises its smallest squared distance to
 * the negatives chosen so far (farthest-point sampling). Negatives draw no
 * random numbers. A ring smaller than n_neg gives every ring pixel once;
 * an empty ring (structure covering the image) gives none.
 *
 * Deterministic: same (mask, opts, key) -> same clicks, whatever the
 * thread count. key comes from sf_prompt_key. Reentrant; allocates
 * scratch proportional to the structure's bounding box (plus ring).
 * Cost: one pass over the mask, plus a distance transform of the bounding
 * box only when the centroid pixel is outside, plus one of the bounding
 * box grown by the ring width when n_neg > 0.
 *
 * Errors: SF_EINVAL for NULL mask/o/out/n_out, nx or ny < 1, n_neg > 0 with
 * ring_width_px < 1, or an empty structure (no nonzero pixel; the message
 * says so); SF_ERANGE for a side above SF_PROMPT_MAX_SIDE, n_pos or n_neg
 * outside 0..SF_PROMPT_MAX_CLICKS, or a ring width above
 * SF_PROMPT_MAX_SIDE; SF_ENOMEM. On error *n_out (if non-NULL) is 0.
 */
int sf_prompts_simulate(const uint8_t *mask, int nx, int ny,
                        const sf_prompt_opts *o, sf_rng_key key, sf_click *out,
                        int *n_out, sf_err *err);

/*
 * The RNG key for one prompt: a hash of (seed, tag, a, b) on a stream of
 * its own. tag names what is prompted (may be NULL = ""), hashed with
 * 64-bit FNV-1a, e.g. "amos/amos_0507/liver" with a = slice, b = setting
 * index for the harness, or "train" with a = corpus sample index and
 * b = step * 65536 + instance for the trainer. Any change to any argument
 * gives an independent stream.
 */
sf_rng_key sf_prompt_key(uint64_t seed, const char *tag, uint64_t a,
                         uint64_t b);

/* mask[i] = labels[i] == label ? 1 : 0 for i < n. */
void sf_mask_from_labels(const uint16_t *labels, size_t n, uint16_t label,
                         uint8_t *mask);

/* The default evaluation settings, (positive, negative) clicks:
 * (1,0), (3,0), (1,1), (3,3) (our reading of the method). */
#define SF_PROMPT_N_DEFAULT_SETTINGS 4

/* The default settings into out[0 .. SF_PROMPT_N_DEFAULT_SETTINGS), each
 * with ring_width_px: what "all" parses to. */
void sf_prompt_settings_default(int ring_width_px, sf_prompt_opts *out);

/*
 * Parse a settings list: "all" (the default settings) or
 * "P,N[:P,N]..." with 0 <= P, N <= SF_PROMPT_MAX_CLICKS and P + N >= 1,
 * e.g. "1,0:3,3". Each gets ring_width_px. Writes at most max_out settings
 * to out and their number to *n_out. Errors: SF_EINVAL (NULL s/out/n_out,
 * malformed text, or more than max_out settings; the message quotes the
 * text), SF_ERANGE (a count out of range, or ring_width_px < 1).
 */
int sf_prompt_settings_parse(const char *s, int ring_width_px,
                             sf_prompt_opts *out, int max_out, int *n_out,
                             sf_err *err);

/* "P,N" of a setting into buf (n bytes); returns buf. */
const char *sf_prompt_setting_name(const sf_prompt_opts *o, char *buf,
                                   size_t n);

#ifdef __cplusplus
}
#endif
#endif /* SF_H */
