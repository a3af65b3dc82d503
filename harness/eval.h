/*
 * eval.h - libhx evaluation: dataset adapters, fixed splits, the results
 * database (schemas/results.sql), the classical click method and the
 * evaluation driver behind `synthfm eval`, `synthfm data` and `synthfm
 * prompts export`.
 *
 * Conventions as in hx.h: SF_OK or a negative SF_E* code, a caller-owned
 * sf_err (NULL allowed), T **out belongs to the caller, every _free
 * accepts NULL, nothing here prints (the driver reports through
 * callbacks).
 *
 * Data model. A dataset adapter lists the cases it finds under a data
 * root (the dataset's own folder layout, data/README.md) and loads one
 * case as a stack of 2-D axial slices: an 8-bit image (MedSAM
 * preprocessing, hx_preprocess_volume) plus, per voxel, a bit set of the
 * structures present (bit s = structure s of the case's list). A unit of
 * evaluation is (case, slice, structure) where the structure has at
 * least min_pixels pixels on the slice; each unit is prompted with every
 * setting (P positive, N negative clicks, sf_prompts_simulate) and the
 * clicks depend only on (seed, dataset, case, structure, slice, setting),
 * so every method sees the same clicks.
 */
#ifndef HX_EVAL_H
#define HX_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "hx.h"
#include "readers.h"
#include "sf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Structures per case (bits of a uint32 voxel set). Synthetic cases with
 * more instances keep the first HX_MAX_STRUCTURES labels. */
#define HX_MAX_STRUCTURES 32
/* Default minimum pixel count of a structure on a slice for the slice to
 * count (issue 6: "configurable"); our choice. */
#define HX_MIN_PIXELS_DEFAULT 10
/* Default prompt seed of `synthfm eval`. */
#define HX_PROMPT_SEED_DEFAULT 0

/* A labelled structure: its name in tables and the label values that
 * mean it (lo..hi inclusive; lo = hi for an exact value). */
typedef struct hx_structure {
    char name[48];
    int lo, hi;
} hx_structure;

/* How a case's ground truth is stored (set by the adapter). */
enum hx_label_kind {
    HX_LABELS_MAP = 0,       /* one label volume/image; values lo..hi */
    HX_LABELS_PER_FILE = 1,  /* one binary file per structure (> 0.5) */
    HX_LABELS_PNG_STACK = 2, /* CHAOS: a folder of PNG slices, one per
                                DICOM file, in file-name order */
    HX_LABELS_HC18 = 3,      /* HC18 outline PNG, filled */
    HX_LABELS_CORPUS = 4     /* synthetic corpus sample: instance ids */
};

/* One case as listed by an adapter. Paths are absolute or relative to the
 * working directory (root joined with the dataset's layout). */
typedef struct hx_case {
    char *id;          /* case id, unique within the dataset */
    char *image;       /* image file or DICOM directory */
    char *labels;      /* label file / PNG folder (HX_LABELS_MAP,
                          PNG_STACK, HC18); NULL otherwise */
    char **struct_files; /* HX_LABELS_PER_FILE: n_structures paths (NULL =
                            the structure has no file in this case) */
    int label_kind;
    int n_structures;
    hx_structure st[HX_MAX_STRUCTURES];
    uint64_t corpus_pos; /* HX_LABELS_CORPUS: sample position */
} hx_case;

typedef struct hx_case_list {
    hx_case *v;
    size_t n;
    char root[HX_VOL_PATH_MAX];
} hx_case_list;
void hx_case_list_free(hx_case_list *l);

/* A dataset: name on the command line, default folder under data/, the
 * modality written to the results database, the preprocessing. */
typedef struct hx_dataset_ops {
    const char *name;     /* "totalseg-ct", "amos-ct", ... */
    const char *folder;   /* default data root: data/<folder> */
    const char *modality; /* 'CT', 'MR', 'US', 'microscopy', 'synthetic' */
    int prep;             /* enum hx_modality, or -1: images are 8-bit
                             already and used as they are */
    const char *summary;  /* one line for --help and data check */
    /* The default structures and label values. */
    const hx_structure *structures;
    int n_structures;
    /* List the cases under root (sorted by id). SF_EIO when root or the
     * layout's folders are missing (err names the path). */
    int (*list)(const struct hx_dataset_ops *ds, const char *root,
                hx_case_list *out, sf_err *err);
} hx_dataset_ops;

/* The datasets, NULL-terminated. Static storage. */
const hx_dataset_ops *const *hx_datasets(void);
/* The dataset called `name`, or NULL. */
const hx_dataset_ops *hx_dataset_by_name(const char *name);
/* List the cases of ds under root into *out (hx_case_list_free). */
int hx_dataset_list(const hx_dataset_ops *ds, const char *root,
                    hx_case_list *out, sf_err *err);

/* A loaded case: nz axial slices of ny x nx pixels, canonical (LPS+)
 * orientation for volumes with a patient geometry. */
typedef struct hx_case_data {
    int nx, ny, nz;
    uint8_t *image;   /* (nz, ny, nx) preprocessed 8-bit */
    uint32_t *bits;   /* (nz, ny, nx): bit s set = structure s */
    int n_structures;
    hx_structure st[HX_MAX_STRUCTURES];
    char source_sha256[65]; /* of the image file (DICOM: of the sorted
                               files' hashes) */
} hx_case_data;

/* Load case c of dataset ds: read the image and labels, check that their
 * grids agree, reorient both to LPS+, preprocess the image. A corrupt,
 * truncated or missing file gives the reader's error, naming the file.
 * *out belongs to the caller (hx_case_data_free). */
int hx_case_load(const hx_dataset_ops *ds, const hx_case_list *l,
                 const hx_case *c, hx_case_data **out, sf_err *err);
void hx_case_data_free(hx_case_data *d);
/* mask[i] = bit s of slice z, nx * ny bytes; returns the pixel count. */
long hx_case_mask(const hx_case_data *d, int z, int s, uint8_t *mask);

/* SHA-256 of a file as 64 hex digits (of a directory: of the sorted list
 * of "name hash\n" lines of its regular files). SF_EIO naming the path. */
int hx_sha256_path(const char *path, char hex[65], sf_err *err);
/* SHA-256 of memory. */
void hx_sha256_mem(const void *p, size_t n, char hex[65]);

/* ------------------------------------------------------- synthetic OOD */

/* The synthetic out-of-distribution split: a corpus made by the factory
 * from schemas/factory/ood.yaml (compiled in) with a held-out seed. */
#define HX_OOD_SEED 900001u
#define HX_OOD_COUNT_DEFAULT 32
/* Make (or resume, or leave alone when complete) the OOD corpus in dir:
 * `count` samples (0 = default) at `size` px (0 = ood.yaml's). SF_EEXIST
 * if dir holds another corpus. */
int hx_ood_generate(const char *dir, uint64_t count, int size, sf_err *err);
/* The embedded ood.yaml text (NUL-terminated, static). */
const char *hx_ood_yaml(void);

/* -------------------------------------------------------------- splits */

typedef struct hx_split_file {
    char *path;       /* relative to the data root */
    char sha256[65];
} hx_split_file;

typedef struct hx_split_case {
    char *id;
    hx_split_file *files;
    int n_files;
} hx_split_case;

typedef struct hx_split {
    char *name, *dataset, *description;
    int template_only; /* `template: true`: no cases yet, not usable */
    int min_pixels;    /* slice_rule.min_pixels */
    int n_structures;
    hx_structure st[HX_MAX_STRUCTURES];
    hx_split_case *cases;
    int n_cases;
    char sha256[65]; /* of the split file's bytes */
} hx_split;

/* Parse a split YAML (schemas/splits/README.md). SF_ECONFIG with
 * file:line:col and the key on a malformed file. */
int hx_split_load(const char *path, hx_split **out, sf_err *err);
void hx_split_free(hx_split *s);
/* Check every file of the split under root against its SHA-256. Each
 * missing or changed file is passed to fn (may be NULL) as "path:
 * missing" / "path: changed (sha256 X, split says Y)"; *n_bad gets their
 * number. Returns SF_OK when the check could run (look at *n_bad). */
int hx_split_verify(const hx_split *s, const char *root,
                    void (*fn)(void *ctx, const char *problem), void *ctx,
                    int *n_bad, sf_err *err);
/* Write a split for the cases listed under root (all of them), hashing
 * every file: the tool that makes schemas/splits/<dataset>.yaml. */
int hx_split_write(const hx_dataset_ops *ds, const char *root,
                   const char *name, const char *description, int min_pixels,
                   const char *out_path, sf_err *err);
/* Keep only the cases of l named in s, in the split's order, with the
 * split's structures; SF_ECORRUPT naming a split case not found. */
int hx_split_apply(const hx_split *s, hx_case_list *l, sf_err *err);

/* ------------------------------------------------------------- results */

typedef struct hx_results hx_results;

/* Open (create) a results database with schemas/results.sql (compiled
 * in); an existing file must have format_version 1 (SF_EFORMAT). */
int hx_results_open(const char *path, hx_results **out, sf_err *err);
void hx_results_close(hx_results *r);
/* The embedded schema text. */
const char *hx_results_schema(void);

/* ----------------------------------------------------------- classical */

typedef struct hx_classical_opts {
    int window_radius;    /* half side of the click neighbourhood (px) */
    double tol_sigmas;    /* accept |I - mean| <= tol_sigmas * sd ... */
    double tol_min;       /* ... but at least this many grey levels */
    double tol_max;       /* ... and at most this many */
    int neg_radius;       /* pixels within this distance of a negative are
                             never grown into */
} hx_classical_opts;
void hx_classical_opts_init(hx_classical_opts *o);

/*
 * The weight-free click method: seeded region growing on an 8-bit image
 * (ny, nx). Seeds are the positive clicks; each click has an intensity
 * model, the mean and sd of its (2r+1)^2 neighbourhood; a pixel joins
 * when it is 4-connected to the region, some positive model accepts it
 * (|I - mean| <= clamp(tol_sigmas * sd, tol_min, tol_max)) and it is no
 * nearer any negative click's neighbourhood mean than to that model's,
 * and it is not within neg_radius of a negative. Holes of
 * the region (background not connected to the image border) are filled.
 * mask (ny * nx) gets 0/1. Errors: SF_EINVAL (no positive click, NULLs),
 * SF_ENOMEM. Deterministic, no RNG.
 */
int hx_classical_segment(const uint8_t *img, int nx, int ny,
                         const sf_click *clicks, int n_clicks,
                         const hx_classical_opts *o, uint8_t *mask,
                         sf_err *err);

/* ------------------------------------------------------------- driver */

enum hx_method_kind {
    HX_METHOD_CLASSICAL = 0,
    HX_METHOD_NATIVE = 1,  /* a SAM-format checkpoint (sf_model.h) */
    HX_METHOD_IMPORTED = 2 /* masks made outside, read back from a folder */
};

/* One click and a SAM-format model: which output is scored. AUTO: the
 * three disambiguating masks and the one of highest predicted IoU when the
 * model config says they were trained (multimask_trained, true for every
 * official checkpoint), else the single mask (token 0). ON asks for the
 * three masks; with an untrained head the run warns (problem callback),
 * scores the single mask and records the refusal in its provenance. OFF:
 * always the single mask. With more clicks the single mask is scored. */
enum hx_multimask { HX_MULTIMASK_AUTO = 0, HX_MULTIMASK_ON, HX_MULTIMASK_OFF };

typedef struct hx_eval_opts {
    const hx_dataset_ops *ds;
    const char *data_root;
    int method_kind;          /* enum hx_method_kind */
    const char *method_name;  /* display name (default by kind) */
    const char *checkpoint;   /* native */
    const char *model_config; /* native: preset or YAML */
    int device;               /* native: enum sam_device */
    int multimask;            /* native: enum hx_multimask */
    const char *import_dir;   /* imported */
    const char *split_path;   /* NULL: every case found */
    const char *settings;     /* "all" or "P,N:P,N..." */
    int ring_width_px;
    int min_pixels;           /* <= 0: the split's, else the default */
    uint64_t seed;
    const char *out_db;
    uint64_t ood_count;       /* synthetic-ood: samples (0 = default) */
    int ood_size;             /* synthetic-ood: px (0 = ood.yaml's) */
    int gallery_n;            /* > 0: draw the worst, median and best
                                 gallery_n units of the first setting */
    const char *gallery_dir;  /* where (created) */
    sf_progress_fn progress;  /* units done / total (per case) */
    void *progress_ctx;
    /* Called once per problem that the run records and goes on after
     * (corrupt case, missing mask, ...). May be NULL. */
    void (*problem)(void *ctx, const char *msg);
    void *problem_ctx;
} hx_eval_opts;

typedef struct hx_eval_stats {
    long n_cases, n_cases_failed;
    long n_units;          /* (slice, structure) units */
    long n_predictions;    /* scored this call */
    long n_reused;         /* already in the database (resume) */
    long n_failed;         /* predictions recorded as failed */
    double mean_dice;      /* over this run's ok rows (all of them) */
    long n_ok_total;
    double seconds, model_seconds;
    long run_id;
    int fixed_split;       /* 0: every case found (warned) */
    char gallery_path[4096]; /* the gallery PNG written, or "" */
} hx_eval_stats;

void hx_eval_opts_init(hx_eval_opts *o);
/*
 * Evaluate one method on one dataset into the results database. Each
 * case is one transaction (slices, prompts, predictions), so an
 * interrupted run leaves whole cases only, and a rerun with the same
 * identity (run_key) reuses the finished rows. A case that cannot be
 * read is recorded in `failures` and the run goes on; an imported mask
 * that is missing or has the wrong size gives a 'failed' prediction row
 * (never a Dice of 0). Errors that stop the run before anything is
 * written: SF_EIO (missing data root), SF_ECORRUPT (split files changed;
 * the problem callback names each), SF_ECONFIG/SF_EINVAL (bad options),
 * model load errors.
 */
int hx_eval_run(const hx_eval_opts *o, hx_eval_stats *st, sf_err *err);

/*
 * Write the exact units and clicks of an evaluation for a method that
 * runs outside: out_dir/images/<unit>.png (the preprocessed slice),
 * out_dir/prompts.jsonl (one JSON object per unit and setting) and
 * out_dir/README.md (the format). The masks come back as
 * DIR/masks/<mask_name>.png (see data/README.md). Uses ds, data_root,
 * split_path, settings, ring_width_px, min_pixels, seed of o.
 */
int hx_prompts_export(const hx_eval_opts *o, const char *out_dir,
                      long *n_prompts, sf_err *err);

#ifdef __cplusplus
}
#endif
#endif /* HX_EVAL_H */
