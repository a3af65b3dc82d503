/*
 * eval.h - libhx evaluation: the driver behind `synthfm eval` and
 * `synthfm prompts export`, over the area headers it includes: datasets.h
 * (dataset adapters, the synthetic OOD corpus), split.h (fixed splits),
 * results.h (the results database) and methods.h (the classical method).
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

#include "datasets.h"
#include "methods.h"
#include "results.h"
#include "split.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- driver */

/* At most this many prompt settings per evaluation. */
#define HX_MAX_SETTINGS 64

/* One click and a SAM-format model: which output is scored. AUTO: the
 * three disambiguating masks and the one of highest predicted IoU when the
 * model config says they were trained (multimask_trained, true for every
 * official checkpoint), else the single mask (token 0). ON asks for the
 * three masks; with an untrained head the run warns (problem callback),
 * scores the single mask and records the refusal in its provenance. OFF:
 * always the single mask. With more clicks the single mask is scored. */
enum hx_multimask { HX_MULTIMASK_AUTO = 0, HX_MULTIMASK_ON, HX_MULTIMASK_OFF };

/* What a run measures (`synthfm eval --protocol`).
 * FIXED: the click settings (Dice, NSD at 1 and 2 mm, HD95 per unit).
 * CVPR25: the CVPR 2025 interactive challenge per unit (2D form of its
 *   click rule, metrics.h hx_seq_run): an optional box step (box_step;
 *   the ground truth's bounding box), then 5 corrective clicks, each at
 *   the deepest point of the largest error component of the method's
 *   own previous prediction; DSC and NSD (2 mm, only when DSC > 0.2)
 *   per step, their AUCs and final values.
 * NOC: corrective clicks until Dice >= 0.90 (at most 20): NoC@85,
 *   NoC@90 and the Dice-vs-clicks curve.
 * VOLUME: per case and structure, the settings' clicks (at most 3
 *   positive, no negative; default 1,0 and 3,0) on the slice of largest
 *   area; SAM 2 propagates through the volume, the 2-D methods get
 *   clicks of the same setting on every slice where the structure is
 *   present; 3D Dice and NSD (2 mm) per case and structure. */
enum hx_protocol {
    HX_PROTOCOL_FIXED = 0,
    HX_PROTOCOL_CVPR25 = 1,
    HX_PROTOCOL_NOC = 2,
    HX_PROTOCOL_VOLUME = 3
};
/* The click cap of NOC. */
#define HX_NOC_MAX_CLICKS 20

/* "fixed", "cvpr25", "noc", "volume"; NULL for another value. */
const char *hx_protocol_name(int protocol);
/* The protocol called name, or -1. */
int hx_protocol_parse(const char *name);

typedef struct hx_eval_opts {
    const hx_dataset_ops *ds;
    const char *data_root;
    const hx_method_ops *method; /* hx_method_by_name (methods.h) */
    const char *method_name;     /* display name (default by kind) */
    const char *checkpoint;      /* native */
    const char *model_config;    /* native: preset or YAML */
    int device;                  /* native: enum sam_device */
    int multimask;               /* native: enum hx_multimask */
    const char *import_dir;      /* imported */
    const char *split_path;      /* NULL: every case found */
    /* The prompt settings, in order (hx_eval_opts_init: the default four,
     * sf_prompt_settings_default; `synthfm eval --settings` text is parsed
     * by the command, sf_prompt_settings_parse). Their ring width should
     * be ring_width_px. */
    sf_prompt_opts settings[HX_MAX_SETTINGS];
    int n_settings;
    int ring_width_px;
    int min_pixels; /* <= 0: the split's, else the default */
    uint64_t seed;
    const char *out_db;
    uint64_t ood_count;           /* synthetic-ood: samples (0 = default) */
    int ood_size;                 /* synthetic-ood: px (0 = ood.yaml's) */
    int protocol;                 /* enum hx_protocol (FIXED) */
    int box_step;                 /* CVPR25: step 0 is a box prediction (SAM-
                                     format methods only) */
    int gallery_n;                /* > 0: draw the worst, median and best
                                     gallery_n units of the first setting */
    const char *gallery_dir;      /* where (created) */
    int shard_index, shard_count; /* shard_count > 1: evaluate only the
                                     shard_index-th of shard_count
                                     contiguous blocks of the case list
                                     (`synthfm results merge` joins them) */
    sf_progress_fn progress;      /* units done / total (per case) */
    void *progress_ctx;
    /* Called once per problem that the run records and goes on after
     * (corrupt case, missing mask, ...). May be NULL. */
    void (*problem)(void *ctx, const char *msg);
    void *problem_ctx;
} hx_eval_opts;

typedef struct hx_eval_stats {
    long n_cases, n_cases_failed;
    long n_units;       /* (slice, structure) units */
    long n_predictions; /* scored this call */
    long n_reused;      /* already in the database (resume) */
    long n_failed;      /* predictions recorded as failed */
    double mean_dice;   /* over this run's ok rows (all of them); the
                           final Dice of sequences (cvpr25, noc), the 3D
                           Dice (volume) */
    long n_ok_total;
    double seconds, model_seconds;
    long run_id;
    int fixed_split;         /* 0: every case found (warned) */
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
