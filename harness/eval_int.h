/*
 * eval_int.h - internals shared by the evaluation files of libhx
 * (results.c, eval.c, split.c); not for callers of libhx.
 */
#ifndef HX_EVAL_INT_H
#define HX_EVAL_INT_H

#include "eval.h"
#include "metrics.h"

typedef struct sam_model sam_model;
typedef struct sam2_model sam2_model;

/* One method's state during a run (methods.c). */
typedef struct hx__method_run {
    const hx_eval_opts *o;
    hx_classical_opts cls; /* classical; in every run's provenance */
    sam_model *model;      /* sam */
    sam2_model *model2;    /* sam2: the image predictor */
    int view[4];           /* sam: the zoom predictor's last view (w 0:
                              none), what the gallery draws */
    int multimask;         /* sam: one click scores the best of three */
    int multimask_trained; /* sam: what the model config says */
    char ck_sha[65];       /* sam: the checkpoint's SHA-256, else "" */
    char cfg_sha[65];      /* sam: the model config's (file or preset) */
    /* Interactive protocols: the previous step's low-res logits (the
     * scored mask's), fed back as mask_input when the model allows it. */
    float *prev_low_res; /* (prev_side, prev_side) or NULL */
    int prev_side;
    int feeds_logits; /* 1: this method feeds prev_low_res back */
} hx__method_run;

/* An evaluation method (methods.h). open (NULL: nothing to do) loads and
 * checks what the method needs before anything is written (it may warn
 * through o->problem); predict writes one unit's mask (nx * ny, 0/1)
 * into pred, *image_set telling whether img is already the model's image;
 * provenance (may be NULL) appends the method's fields to the run's
 * provenance JSON; close (may be NULL) frees what open made. */
struct hx_method_ops {
    const char *option;  /* --method NAME */
    const char *kind;    /* runs.method_kind */
    const char *display; /* the method's name when --name is not given */
    unsigned needs;      /* HX_METHOD_NEEDS_* */
    int (*open)(hx__method_run *m, sf_err *err);
    int (*predict)(hx__method_run *m, const uint8_t *img, int nx, int ny,
                   int *image_set, const sf_click *clk, int nc,
                   const char *unit, uint8_t *pred, sf_err *err);
    void (*provenance)(const hx__method_run *m, sf_buf *b);
    void (*close)(hx__method_run *m);
    /* Interactive step (NULL: the method cannot run the interactive
     * protocols): as predict, plus box (NULL or x0, y0, x1, y1 in
     * pixels; SF_EUNSUPPORTED when the method takes no box) and reset (1
     * at a sequence's first call: forget the previous step's logits;
     * later calls feed them back when the method can). */
    int (*predict_ix)(hx__method_run *m, const uint8_t *img, int nx, int ny,
                      int *image_set, const sf_click *clk, int nc,
                      const float *box, int reset, uint8_t *pred, sf_err *err);
    /* Volume setting (NULL: slice by slice with predict): segment the
     * (nz, ny, nx) 8-bit volume from clicks on slice key into vol_out
     * (nz * ny * nx, 0/1). */
    int (*predict_volume)(hx__method_run *m, const uint8_t *vol, int nx, int ny,
                          int nz, int key, const sf_click *clk, int nc,
                          uint8_t *vol_out, sf_err *err);
};

/* Interactive protocols and the volume setting (eval_ix.c). */
/* The sequence options of protocol (CVPR25: 5 clicks; NOC: 20, stop at
 * Dice 0.90; both NSD at 2 mm when DSC > 0.2). */
void hx__ix_seq_opts(int protocol, hx_seq_opts *so);
/* One unit's interactive sequence on the slice img (ny, nx) with ground
 * truth gt (0/1) and pixel spacing (sx, sy) mm; box_step: step 0 is the
 * method's prediction from the ground truth's bounding box. *seconds:
 * the method's time. Errors: the method's (SF_EUNSUPPORTED for one
 * without predict_ix or without a box prompt), hx_seq_run's. */
int hx__ix_unit(hx__method_run *m, int protocol, int box_step,
                const uint8_t *img, const uint8_t *gt, int nx, int ny,
                double sx_mm, double sy_mm, hx_seq *out, double *seconds,
                sf_err *err);
/* The slice with the most voxels of structure bit s (lowest z on a tie),
 * its area in *area; -1 when the structure is absent. */
int hx__vol_key_slice(const hx_case_data *d, int s, long *area);
/* 3-D Dice and NSD (2 mm) of pred against gt ((nz, ny, nx) 0/1) with the
 * case's spacing; the predicted voxel count. */
int hx__vol_metrics(const hx_case_data *d, const uint8_t *gt,
                    const uint8_t *pred, double *dice, double *nsd_2mm,
                    long *pred_voxels, sf_err *err);

/* What a run is: written to `runs` (strings may be NULL). */
typedef struct hx__run_info {
    const char *run_key, *method, *method_kind, *checkpoint_path,
        *checkpoint_sha256, *model_config_sha256, *import_dir, *dataset,
        *modality, *data_root, *split_name, *split_sha256, *settings,
        *git_commit, *provenance_json;
    uint64_t prompt_seed;
} hx__run_info;

/* Find the run with ri->run_key (resumed = 1, status back to 'running')
 * or insert it. */
int hx__results_run_begin(hx_results *r, const hx__run_info *ri, long *run_id,
                          int *resumed, sf_err *err);
/* meta(key, value), replaced: e.g. a shard's "shard:<run_key>" = "I/N". */
int hx__results_meta_set(hx_results *r, const char *key, const char *value,
                         sf_err *err);
int hx__results_run_end(hx_results *r, long run_id, const char *status,
                        sf_err *err);
int hx__results_begin(hx_results *r, sf_err *err);
int hx__results_commit(hx_results *r, sf_err *err);
void hx__results_rollback(hx_results *r);
int hx__results_failure(hx_results *r, long run_id, const char *case_id,
                        const char *path, const char *msg, sf_err *err);
int hx__results_clear_failures(hx_results *r, long run_id, const char *case_id,
                               sf_err *err);
/* Insert the unit (or find it); SF_ECORRUPT if it exists with another
 * source hash, size or pixel count. */
int hx__results_slice(hx_results *r, const char *dataset, const char *case_id,
                      int slice_index, const char *structure, int label_value,
                      const char *source_sha256, int width, int height,
                      long gt_pixels, long *slice_id, sf_err *err);
/* Insert the clicks (or check them against the stored ones). */
int hx__results_prompt(hx_results *r, long slice_id, const char *setting,
                       uint64_t seed, const char *points_json, sf_err *err);
/* 0 no row, 1 an 'ok' row, 2 a 'failed' row. */
int hx__results_pred_status(hx_results *r, long run_id, long slice_id,
                            const char *setting);
/* error == NULL: an 'ok' row with dice; else a 'failed' row. */
int hx__results_prediction(hx_results *r, long run_id, long slice_id,
                           const char *setting, double dice, long pred_pixels,
                           const char *mask_sha256, double seconds,
                           const char *error, sf_err *err);

/* Boundary metrics of one fixed-setting prediction (surface_scores). */
int hx__results_surface(hx_results *r, long run_id, long slice_id,
                        const char *setting, const hx_metrics *m, double sx_mm,
                        double sy_mm, sf_err *err);
int hx__results_has_surface(hx_results *r, long run_id, long slice_id,
                            const char *setting);
/* 1 when an 'ok' interactive sequence row exists. */
int hx__results_seq_done(hx_results *r, long run_id, long slice_id,
                         const char *protocol);
/* Write one sequence (replacing a previous one and its steps): error ==
 * NULL: s's values and steps; else a 'failed' row with the error. */
int hx__results_seq(hx_results *r, long run_id, long slice_id,
                    const char *protocol, int click_cap, const hx_seq *s,
                    double sx_mm, double sy_mm, double seconds,
                    const char *error, sf_err *err);

/* One row of volume_scores (strings borrowed). */
typedef struct hx__volume_row {
    const char *dataset, *case_id, *structure, *setting, *mode;
    int key_slice;
    const char *points_json;
    int n_slices;
    long gt_voxels, pred_voxels;
    double dice, nsd_2mm, seconds;
    const char *error; /* NULL: ok */
} hx__volume_row;
int hx__results_volume_done(hx_results *r, long run_id, const char *case_id,
                            const char *structure, const char *setting);
int hx__results_volume(hx_results *r, long run_id, const hx__volume_row *v,
                       sf_err *err);
/* Mean and count of the run's scored rows of its protocol: Dice of
 * 'ok' predictions (fixed), final Dice of 'ok' sequences (cvpr25, noc),
 * 3D Dice of 'ok' volume rows (volume). */
int hx__results_protocol_summary(hx_results *r, long run_id, int protocol,
                                 double *mean_dice, long *n_ok, sf_err *err);

/* The scored units of one run and setting, lowest Dice first (ties by
 * case, slice, structure). *out is malloc'd. */
typedef struct hx__ranked {
    double dice;
    char case_id[160];
    int slice_index;
    char structure[64];
} hx__ranked;
int hx__results_ranked(hx_results *r, long run_id, const char *setting,
                       hx__ranked **out, size_t *n, sf_err *err);

/* One tile of an evaluation gallery: the slice as the method saw it, the
 * ground truth and the prediction (0/1, nx x ny), the clicks, the view
 * the zoom predictor chose (w = 0: none) and a caption. */
typedef struct hx__tile {
    const uint8_t *image, *gt, *pred;
    int nx, ny;
    const sf_click *clicks;
    int n_clicks;
    int view[4];
    double dice;
    char caption[200];
} hx__tile;
/* Draw rows x cols tiles (image == NULL: an empty cell) with row names
 * into a PNG at path (written to path.tmp, renamed). */
int hx__gallery_draw(const char *path, const char *title,
                     const char *const *row_names, int rows, int cols,
                     const hx__tile *tiles, sf_err *err);

/* Read the imported mask DIR/masks/UNIT.png (nx x ny, 8-bit) into pred
 * as 0/1; symbolic links for masks/ or the file are refused. */
int hx__import_mask(const char *import_dir, const char *unit, int nx, int ny,
                    uint8_t *pred, sf_err *err);

#endif
