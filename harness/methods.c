/*
 * methods.c - the evaluation methods behind `synthfm eval --method`, as a
 * const table of vtables (STYLE.md): classical (weight-free region growing,
 * classical.c), sam (a SAM-format checkpoint through sf_model.h), sam2
 * (a SAM 2 / 2.1 checkpoint, the image predictor per slice) and import
 * (masks made outside, read back from a folder). Adding one: its ops here,
 * one table line, its name in cmd_eval.c's usage text.
 */
#include "eval.h"
#include "eval_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sf_model.h"

/* The run's problem callback, printf-style. */
static void problem(const hx__method_run *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(const hx__method_run *m, const char *fmt, ...) {
    if (!m->o->problem) return;
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    m->o->problem(m->o->problem_ctx, buf);
}

/* ------------------------------------------------------------- classical */

static int classical_predict(hx__method_run *m, const uint8_t *img, int nx,
                             int ny, int *image_set, const sf_click *clk,
                             int nc, const char *unit, uint8_t *pred,
                             sf_err *err) {
    (void)image_set;
    (void)unit;
    return hx_classical_segment(img, nx, ny, clk, nc, &m->cls, pred, err);
}

/* Interactive step: the clicks so far; no box (region growing has no
 * use for one) and no logits to feed back. */
static int classical_predict_ix(hx__method_run *m, const uint8_t *img, int nx,
                                int ny, int *image_set, const sf_click *clk,
                                int nc, const float *box, int reset,
                                uint8_t *pred, sf_err *err) {
    (void)image_set;
    (void)reset;
    if (box)
        return sf_err_set(err, SF_EUNSUPPORTED,
                          "the classical method takes no box prompt "
                          "(--protocol cvpr25 without --box)");
    return hx_classical_segment(img, nx, ny, clk, nc, &m->cls, pred, err);
}

/* ---------------------------------------------------------- sam, sam2 */

/* Keep the scored mask's low-res logits of r for the next step. */
static int keep_low_res(hx__method_run *m, const sam_prediction *r, int k,
                        sf_err *err) {
    size_t n = (size_t)r->low_res_side * r->low_res_side;
    if (m->prev_side != r->low_res_side) {
        free(m->prev_low_res);
        m->prev_side = 0;
        if (!(m->prev_low_res = malloc(n * sizeof *m->prev_low_res)))
            return sf_err_set(err, SF_ENOMEM, "low-res logits");
        m->prev_side = r->low_res_side;
    }
    memcpy(m->prev_low_res, r->low_res + (size_t)k * n,
           n * sizeof *m->prev_low_res);
    return SF_OK;
}

/* The clicks as a SAM prompt's points: (x, y) pixel indices and labels
 * (1 positive, 0 negative); pts holds 2 * nc floats, lab nc ints. */
static void clicks_to_points(const sf_click *clk, int nc, float *pts,
                             int *lab) {
    for (int i = 0; i < nc; i++) {
        pts[2 * i] = (float)clk[i].x;
        pts[2 * i + 1] = (float)clk[i].y;
        lab[i] = clk[i].positive;
    }
}

/* One SAM-format prediction for an interactive step: every click so
 * far, the box, and (after the first step) the previous step's low-res
 * logits as mask_input, as SAM's interactive training and the
 * reference predictors allow. One click without a box: the best of the
 * three masks (multimask policy), else the single mask. */
static int samfmt_predict_ix(hx__method_run *m, const uint8_t *img, int nx,
                             int ny, int *image_set, const sf_click *clk,
                             int nc, const float *box, int reset, uint8_t *pred,
                             sf_err *err) {
    size_t n = (size_t)nx * ny;
    int rc;
    const int zoom = m->model && sam_model_config(m->model)->n_zoom > 0;
    if (reset) m->prev_side = 0, free(m->prev_low_res), m->prev_low_res = NULL;
    if (!*image_set && !zoom) {
        rc = m->model ? sam_model_set_image(m->model, img, nx, ny, 1, err)
                      : sam2_model_set_image(m->model2, img, nx, ny, 1, err);
        if (rc != SF_OK) return rc;
        *image_set = 1;
    }
    float pts[2 * HX_SEQ_MAX_CLICKS];
    int lab[HX_SEQ_MAX_CLICKS];
    if (nc > HX_SEQ_MAX_CLICKS)
        return sf_err_set(err, SF_EINVAL, "%d clicks (at most %d)", nc,
                          HX_SEQ_MAX_CLICKS);
    clicks_to_points(clk, nc, pts, lab);
    /* The zoom predictor refuses mask_input: no feedback there. */
    m->feeds_logits = !zoom;
    const float *mi = m->feeds_logits && m->prev_side ? m->prev_low_res : NULL;
    sam_prompt p = {nc, pts, lab, box, mi, nc == 1 && !box && m->multimask, 0};
    sam_prediction *r = NULL;
    memset(m->view, 0, sizeof m->view);
    rc = zoom       ? sam_model_predict_image(m->model, img, nx, ny, 1, &p, &r,
                                              m->view, err)
         : m->model ? sam_model_predict(m->model, &p, &r, err)
                    : sam2_model_predict(m->model2, &p, &r, err);
    if (rc != SF_OK) return rc;
    int k = p.multimask ? r->best : 0;
    memcpy(pred, r->masks + (size_t)k * n, n);
    if (m->feeds_logits) rc = keep_low_res(m, r, k, err);
    sam_prediction_free(r);
    return rc;
}

/* ------------------------------------------------------------------- sam */

/* Model config, the hashes that identify the model, the model, and the
 * one-click policy (hx_multimask). */
static int sam_open(hx__method_run *m, sf_err *err) {
    const hx_eval_opts *o = m->o;
    sam_config cfg;
    int rc;
    if (!o->checkpoint)
        return sf_err_set(err, SF_EINVAL, "--method sam needs --checkpoint");
    const char *spec = o->model_config ? o->model_config : "vit_b";
    if ((rc = sam_config_load(spec, &cfg, err)) != SF_OK) return rc;
    if ((rc = hx_sha256_path(o->checkpoint, m->ck_sha, err)) != SF_OK)
        return rc;
    struct stat sst;
    if (stat(spec, &sst) == 0) {
        if ((rc = hx_sha256_path(spec, m->cfg_sha, err)) != SF_OK) return rc;
    } else {
        sf_sha256_hex(spec, strlen(spec), m->cfg_sha); /* a preset name */
    }
    if ((rc = sam_model_load(o->checkpoint, &cfg, o->device, &m->model, err)) !=
        SF_OK)
        return rc;
    m->multimask_trained = cfg.multimask_trained;
    m->multimask = o->multimask != HX_MULTIMASK_OFF && cfg.multimask_trained;
    if (o->multimask == HX_MULTIMASK_ON && !cfg.multimask_trained)
        problem(m,
                "warning: --multimask on, but %s says the multimask "
                "outputs and the IoU head of %s were not trained "
                "(multimask_trained: false): scoring the single-mask "
                "output instead (recorded in the run)",
                spec, o->checkpoint);
    return SF_OK;
}

/* sam and sam2: one encoding per slice (the zoom predictor of a SAM
 * config with `zoom` encodes views around each prompt's clicks instead),
 * the clicks as pixel indices, best of three by predicted IoU at one
 * click when the multimask policy says so, else the single mask. */
static int native_predict(hx__method_run *m, const uint8_t *img, int nx, int ny,
                          int *image_set, const sf_click *clk, int nc,
                          const char *unit, uint8_t *pred, sf_err *err) {
    (void)unit;
    size_t n = (size_t)nx * ny;
    int rc;
    const int zoom = !m->model2 && sam_model_config(m->model)->n_zoom > 0;
    if (!*image_set && !zoom) {
        if ((rc = m->model2
                      ? sam2_model_set_image(m->model2, img, nx, ny, 1, err)
                      : sam_model_set_image(m->model, img, nx, ny, 1, err)) !=
            SF_OK)
            return rc;
        *image_set = 1;
    }
    float pts[2 * 2 * SF_PROMPT_MAX_CLICKS];
    int lab[2 * SF_PROMPT_MAX_CLICKS];
    clicks_to_points(clk, nc, pts, lab);
    sam_prompt p = {nc, pts, lab, NULL, NULL, nc == 1 && m->multimask, 0};
    sam_prediction *r = NULL;
    memset(m->view, 0, sizeof m->view);
    if ((rc = m->model2 ? sam2_model_predict(m->model2, &p, &r, err)
              : zoom ? sam_model_predict_image(m->model, img, nx, ny, 1, &p, &r,
                                               m->view, err)
                     : sam_model_predict(m->model, &p, &r, err)) != SF_OK)
        return rc;
    int k = p.multimask ? r->best : 0;
    memcpy(pred, r->masks + (size_t)k * n, n);
    sam_prediction_free(r);
    return SF_OK;
}

static void sam_provenance(const hx__method_run *m, sf_buf *b) {
    const int mm = m->o->multimask;
    sf_buf_printf(b,
                  ",\"one_click_output\":\"%s\",\"multimask_option\":"
                  "\"%s\",\"multimask_trained\":%s",
                  m->multimask ? "best of 3 by predicted IoU"
                               : "single mask (token 0)",
                  mm == HX_MULTIMASK_ON    ? "on"
                  : mm == HX_MULTIMASK_OFF ? "off"
                                           : "auto",
                  m->multimask_trained ? "true" : "false");
}

static void sam_close(hx__method_run *m) {
    sam_model_free(m->model);
    m->model = NULL;
    free(m->prev_low_res);
    m->prev_low_res = NULL;
}

/* ------------------------------------------------------------------ sam2 */

/* A SAM 2 model config (default sam2.1_hiera_t) and checkpoint. Official
 * SAM 2 checkpoints keep SAM's output contract: multimask trained. */
static int sam2_open(hx__method_run *m, sf_err *err) {
    const hx_eval_opts *o = m->o;
    sam2_config cfg;
    int rc;
    if (!o->checkpoint)
        return sf_err_set(err, SF_EINVAL, "--method sam2 needs --checkpoint");
    const char *spec = o->model_config ? o->model_config : "sam2.1_hiera_t";
    if (!sam2_config_spec_is_sam2(spec))
        return sf_err_set(err, SF_ECONFIG,
                          "--method sam2 needs a SAM 2 --model-config "
                          "(sam2.1_hiera_t, _s, _b+, _l or a SAM 2 YAML), "
                          "got '%s'",
                          spec);
    if ((rc = sam2_config_load(spec, &cfg, err)) != SF_OK) return rc;
    if ((rc = hx_sha256_path(o->checkpoint, m->ck_sha, err)) != SF_OK)
        return rc;
    struct stat sst;
    if (stat(spec, &sst) == 0) {
        if ((rc = hx_sha256_path(spec, m->cfg_sha, err)) != SF_OK) return rc;
    } else {
        sf_sha256_hex(spec, strlen(spec), m->cfg_sha); /* a preset name */
    }
    if ((rc = sam2_model_load(o->checkpoint, &cfg, o->device, &m->model2,
                              err)) != SF_OK)
        return rc;
    m->multimask_trained = 1;
    m->multimask = o->multimask != HX_MULTIMASK_OFF;
    return SF_OK;
}

/* The volume setting: the slices are the frames of SAM 2's video
 * predictor; the clicks on slice key are propagated forward and backward
 * (the reference's propagate_in_video, as `synthfm predict --volume`). */
typedef struct vol_ctx {
    uint8_t *out;
    size_t nxy;
} vol_ctx;

static int vol_frame(void *ctx, int frame, const float *logits, float score,
                     double seconds) {
    (void)score;
    (void)seconds;
    vol_ctx *v = ctx;
    uint8_t *o = v->out + (size_t)frame * v->nxy;
    for (size_t i = 0; i < v->nxy; i++)
        o[i] = logits[i] > 0.0f;
    return 0;
}

static int sam2_predict_volume(hx__method_run *m, const uint8_t *vol, int nx,
                               int ny, int nz, int key, const sf_click *clk,
                               int nc, uint8_t *vol_out, sf_err *err) {
    float pts[2 * 2 * SF_PROMPT_MAX_CLICKS];
    int lab[2 * SF_PROMPT_MAX_CLICKS];
    clicks_to_points(clk, nc, pts, lab);
    sam_prompt p = {nc, pts, lab, NULL, NULL, 0, 0};
    sam2_video *v = NULL;
    vol_ctx c = {vol_out, (size_t)nx * ny};
    memset(vol_out, 0, c.nxy * (size_t)nz);
    int rc = sam2_video_new(m->model2, vol, nz, nx, ny, 1, &v, err);
    if (rc == SF_OK) rc = sam2_video_add_points(v, key, &p, err);
    if (rc == SF_OK)
        rc = sam2_video_propagate(v, key, -1, 0, vol_frame, &c, err);
    if (rc == SF_OK && key > 0)
        rc = sam2_video_propagate(v, key, -1, 1, vol_frame, &c, err);
    sam2_video_free(v);
    return rc;
}

static void sam2_close(hx__method_run *m) {
    sam2_model_free(m->model2);
    m->model2 = NULL;
    free(m->prev_low_res);
    m->prev_low_res = NULL;
}

/* ---------------------------------------------------------------- import */

static int import_open(hx__method_run *m, sf_err *err) {
    const char *dir = m->o->import_dir;
    struct stat sst;
    if (!dir || stat(dir, &sst) != 0 || !S_ISDIR(sst.st_mode))
        return sf_err_set(err, SF_EIO, "%s: import folder not found",
                          dir ? dir : "(none)");
    return SF_OK;
}

static int import_predict(hx__method_run *m, const uint8_t *img, int nx, int ny,
                          int *image_set, const sf_click *clk, int nc,
                          const char *unit, uint8_t *pred, sf_err *err) {
    (void)img;
    (void)image_set;
    (void)clk;
    (void)nc;
    return hx__import_mask(m->o->import_dir, unit, nx, ny, pred, err);
}

/* ----------------------------------------------------------------- table */

static const hx_method_ops classical = {
    "classical", "classical", "classical",
    0,           NULL,        classical_predict,
    NULL,        NULL,        classical_predict_ix,
    NULL};
static const hx_method_ops sam = {"sam",
                                  "native",
                                  "sam",
                                  HX_METHOD_NEEDS_CHECKPOINT,
                                  sam_open,
                                  native_predict,
                                  sam_provenance,
                                  sam_close,
                                  samfmt_predict_ix,
                                  NULL};
static const hx_method_ops sam2 = {"sam2",
                                   "native",
                                   "sam2",
                                   HX_METHOD_NEEDS_CHECKPOINT,
                                   sam2_open,
                                   native_predict,
                                   sam_provenance,
                                   sam2_close,
                                   samfmt_predict_ix,
                                   sam2_predict_volume};
static const hx_method_ops import = {"import",    "imported",
                                     "imported",  HX_METHOD_NEEDS_IMPORT,
                                     import_open, import_predict,
                                     NULL,        NULL,
                                     NULL,        NULL};

/* The only list to edit when a method is added. */
static const hx_method_ops *const methods[] = {&classical, &sam, &sam2, &import,
                                               NULL};

const hx_method_ops *const *hx_methods(void) {
    return methods;
}

const hx_method_ops *hx_method_by_name(const char *name) {
    for (const hx_method_ops *const *m = methods; name && *m; m++)
        if (!strcmp((*m)->option, name)) return *m;
    return NULL;
}

const char *hx_method_option(const hx_method_ops *m) {
    return m->option;
}
const char *hx_method_kind(const hx_method_ops *m) {
    return m->kind;
}
unsigned hx_method_needs(const hx_method_ops *m) {
    return m->needs;
}
