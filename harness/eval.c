/*
 * eval.c - the evaluation driver of `synthfm eval` and `synthfm prompts
 * export`: cases -> axial slices -> (slice, structure) units with at least
 * min_pixels pixels -> the clicks of every setting (sf_prompts_simulate,
 * the simulator the trainer uses) -> one method's masks -> Dice, written
 * to the results database one case per transaction.
 *
 * Clicks: key = sf_prompt_key(seed, "dataset/case/structure", slice,
 * P * 65536 + N), so they depend on (dataset, case, slice, structure,
 * setting, seed) only, never on the method, the order of the settings or
 * which cases are evaluated.
 *
 * SAM-format models get the clicks as (x, y) pixel indices (the reference
 * predictor adds the half-pixel itself), one call per unit and setting, no
 * box and no mask input; with a single click the three disambiguating
 * masks are asked for and the one with the highest predicted IoU is kept
 * (SAM's recommendation for ambiguous prompts), otherwise one mask.
 */
#include "eval.h"
#include "eval_int.h"
#include "dice.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "sf_model.h"

void hx_eval_opts_init(hx_eval_opts *o) {
    memset(o, 0, sizeof *o);
    o->ring_width_px = SF_PROMPT_RING_WIDTH_DEFAULT;
    sf_prompt_settings_default(o->ring_width_px, o->settings);
    o->n_settings = SF_PROMPT_N_DEFAULT_SETTINGS;
    o->seed = HX_PROMPT_SEED_DEFAULT;
    o->device = SAM_DEVICE_CPU;
}

typedef struct ectx {
    const hx_eval_opts *o;
    sf_prompt_opts set[HX_MAX_SETTINGS];
    char set_name[HX_MAX_SETTINGS][24];
    int n_set;
    int min_pixels;
    hx_results *db;
    long run_id;
    hx__method_run m;       /* the method's state (methods.c) */
    const char *export_dir; /* export mode when non-NULL */
    FILE *jsonl;
    long n_prompts;
    hx_eval_stats *st;
} ectx;

static void problem(const ectx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(const ectx *x, const char *fmt, ...) {
    if (!x->o->problem) return;
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    x->o->problem(x->o->problem_ctx, buf);
}

/* File-name-safe copy of s. */
static void safe_name(const char *s, char *out, size_t n) {
    size_t k = 0;
    for (; *s && k + 1 < n; s++)
        out[k++] = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                           (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' ||
                           *s == '_'
                       ? *s
                       : '_';
    out[k] = '\0';
}

static void unit_name(const char *case_id, int z, const char *structure,
                      const sf_prompt_opts *so, char *out, size_t n) {
    char c[160], s[64];
    safe_name(case_id, c, sizeof c);
    safe_name(structure, s, sizeof s);
    snprintf(out, n, "%s_z%04d_%s_p%dn%d", c, z, s, so->n_pos, so->n_neg);
}

static void slice_name(const char *case_id, int z, char *out, size_t n) {
    char c[160];
    safe_name(case_id, c, sizeof c);
    snprintf(out, n, "%s_z%04d", c, z);
}

static void points_json(const sf_click *c, int n, sf_buf *b) {
    sf_buf_puts(b, "[");
    for (int i = 0; i < n; i++)
        sf_buf_printf(b, "%s[%d,%d,%d]", i ? "," : "", c[i].x, c[i].y,
                      c[i].positive);
    sf_buf_puts(b, "]");
}

/* The clicks of one unit and setting k: a pure function of (seed,
 * dataset, case, structure, slice, setting). */
static int unit_clicks(const ectx *x, const char *case_id, int z,
                       const char *structure, const uint8_t *mask, int nx,
                       int ny, int k, sf_click *clk, int *nc, sf_err *err) {
    const sf_prompt_opts *so = &x->set[k];
    char tag[400];
    snprintf(tag, sizeof tag, "%s/%s/%s", x->o->ds->name, case_id, structure);
    sf_rng_key key =
        sf_prompt_key(x->o->seed, tag, (uint64_t)z,
                      (uint64_t)so->n_pos * 65536u + (uint64_t)so->n_neg);
    return sf_prompts_simulate(mask, nx, ny, so, key, clk, nc, err);
}

/* Predict one unit into pred. Returns SF_OK, or an error whose text is
 * stored as the prediction's failure (the run goes on). */
static int predict(ectx *x, const hx_case *c, const uint8_t *img, int nx,
                   int ny, int z, int *image_set, const sf_click *clk, int nc,
                   const char *uname, uint8_t *pred, double *secs,
                   sf_err *err) {
    double t0 = sf_clock_s();
    const hx_method_ops *m = x->o->method;
    (void)c;
    (void)z;
    int rc =
        m ? m->predict(&x->m, img, nx, ny, image_set, clk, nc, uname, pred, err)
          : sf_err_set(err, SF_EINVAL, "unknown method kind");
    *secs = sf_clock_s() - t0;
    return rc;
}

static int export_image(ectx *x, const hx_case *c, const uint8_t *img, int nx,
                        int ny, int z, sf_err *err) {
    char sn[200], path[HX_VOL_PATH_MAX], tmp[HX_VOL_PATH_MAX + 8];
    slice_name(c->id, z, sn, sizeof sn);
    snprintf(path, sizeof path, "%s/images/%s.png", x->export_dir, sn);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = sf_png_write_gray8(tmp, img, nx, ny, 1, err);
    if (rc == SF_OK && rename(tmp, path) != 0)
        rc = sf_err_set(err, SF_EIO, "%s: rename: %s", path, strerror(errno));
    return rc;
}

static int eval_case_ix(ectx *x, const hx_case_list *l, const hx_case *c,
                        sf_err *err);
static int eval_case_volume(ectx *x, const hx_case_list *l, const hx_case *c,
                            sf_err *err);

/* One case: every unit and setting, one transaction. */
static int eval_case(ectx *x, const hx_case_list *l, const hx_case *c,
                     sf_err *err) {
    const hx_eval_opts *o = x->o;
    if (!x->export_dir &&
        (o->protocol == HX_PROTOCOL_CVPR25 || o->protocol == HX_PROTOCOL_NOC))
        return eval_case_ix(x, l, c, err);
    if (!x->export_dir && o->protocol == HX_PROTOCOL_VOLUME)
        return eval_case_volume(x, l, c, err);
    hx_case_data *d = NULL;
    uint8_t *mask = NULL, *pred = NULL;
    sf_buf js = {0};
    int rc = hx_case_load(o->ds, l, c, &d, err), in_tx = 0;
    if (rc != SF_OK) goto out;
    size_t nxy = (size_t)d->nx * d->ny;
    mask = malloc(nxy);
    pred = malloc(nxy);
    if (!mask || !pred) {
        rc = sf_err_set(err, SF_ENOMEM, "case %s", c->id);
        goto out;
    }
    if (x->db) {
        if ((rc = hx__results_begin(x->db, err)) != SF_OK) goto out;
        in_tx = 1;
        if ((rc = hx__results_clear_failures(x->db, x->run_id, c->id, err)) !=
            SF_OK)
            goto out;
    }
    for (int z = 0; z < d->nz; z++) {
        const uint8_t *img = d->image + (size_t)z * nxy;
        int image_set = 0, exported = 0;
        for (int s = 0; s < d->n_structures; s++) {
            long gt = hx_case_mask(d, z, s, mask);
            if (gt < x->min_pixels) continue;
            x->st->n_units++;
            long slice_id = 0;
            if (x->db && (rc = hx__results_slice(x->db, o->ds->name, c->id, z,
                                                 d->st[s].name, d->st[s].lo,
                                                 d->source_sha256, d->nx, d->ny,
                                                 gt, &slice_id, err)) != SF_OK)
                goto out;
            for (int k = 0; k < x->n_set; k++) {
                const sf_prompt_opts *so = &x->set[k];
                sf_click clk[2 * SF_PROMPT_MAX_CLICKS];
                int nc = 0;
                if ((rc = unit_clicks(x, c->id, z, d->st[s].name, mask, d->nx,
                                      d->ny, k, clk, &nc, err)) != SF_OK)
                    goto out;
                sf_buf_release(&js);
                points_json(clk, nc, &js);
                if (js.oom) {
                    rc = sf_err_set(err, SF_ENOMEM, "points");
                    goto out;
                }
                char uname[400];
                unit_name(c->id, z, d->st[s].name, so, uname, sizeof uname);
                if (x->export_dir) {
                    if (!exported) {
                        if ((rc = export_image(x, c, img, d->nx, d->ny, z,
                                               err)) != SF_OK)
                            goto out;
                        exported = 1;
                    }
                    char sn[200];
                    slice_name(c->id, z, sn, sizeof sn);
                    fprintf(x->jsonl,
                            "{\"mask\":\"masks/%s.png\",\"image\":\"images/"
                            "%s.png\",\"dataset\":",
                            uname, sn);
                    sf_buf meta = {0};
                    sf_json_str(&meta, o->ds->name);
                    sf_buf_puts(&meta, ",\"case_id\":");
                    sf_json_str(&meta, c->id);
                    sf_buf_printf(&meta,
                                  ",\"slice_index\":%d,\"structure\":", z);
                    sf_json_str(&meta, d->st[s].name);
                    fprintf(x->jsonl,
                            "%s,\"setting\":\"%s\",\"width\":%d,\"height\":%d,"
                            "\"gt_pixels\":%ld,\"points\":%s}\n",
                            meta.s ? meta.s : "\"\"", x->set_name[k], d->nx,
                            d->ny, gt, js.s);
                    sf_buf_release(&meta);
                    x->n_prompts++;
                    continue;
                }
                if ((rc = hx__results_prompt(x->db, slice_id, x->set_name[k],
                                             o->seed, js.s, err)) != SF_OK)
                    goto out;
                if (hx__results_pred_status(x->db, x->run_id, slice_id,
                                            x->set_name[k]) == 1 &&
                    hx__results_has_surface(x->db, x->run_id, slice_id,
                                            x->set_name[k])) {
                    x->st->n_reused++;
                    continue;
                }
                double secs = 0;
                sf_err perr;
                sf_err_clear(&perr);
                int prc = predict(x, c, img, d->nx, d->ny, z, &image_set, clk,
                                  nc, uname, pred, &secs, &perr);
                x->st->model_seconds += secs;
                if (prc != SF_OK) {
                    char msg[1200];
                    sf_err_text(&perr, msg, sizeof msg);
                    problem(x, "%s slice %d %s %s: %s", c->id, z, d->st[s].name,
                            x->set_name[k], msg);
                    x->st->n_failed++;
                    rc = hx__results_prediction(x->db, x->run_id, slice_id,
                                                x->set_name[k], 0, 0, NULL,
                                                secs, msg, err);
                } else {
                    int ds;
                    double dice = hx_dice(pred, mask, nxy, &ds);
                    long np = 0;
                    for (size_t i = 0; i < nxy; i++)
                        np += pred[i] != 0;
                    char h[65];
                    sf_sha256_hex(pred, nxy, h);
                    x->st->n_predictions++;
                    rc = hx__results_prediction(x->db, x->run_id, slice_id,
                                                x->set_name[k], dice, np, h,
                                                secs, NULL, err);
                    /* Boundary metrics with the slice's pixel spacing. */
                    hx_grid g = {2,
                                 {d->ny, d->nx, 0},
                                 {d->spacing_mm[1], d->spacing_mm[0], 0}};
                    hx_metrics mt;
                    if (rc == SF_OK && (rc = hx_metrics_compute(
                                            &g, mask, pred, &mt, err)) == SF_OK)
                        rc = hx__results_surface(
                            x->db, x->run_id, slice_id, x->set_name[k], &mt,
                            d->spacing_mm[0], d->spacing_mm[1], err);
                }
                if (rc != SF_OK) goto out;
            }
        }
    }
    if (x->db) {
        rc = hx__results_commit(x->db, err);
        in_tx = 0;
    }
out:
    if (in_tx) hx__results_rollback(x->db);
    sf_buf_release(&js);
    free(mask);
    free(pred);
    hx_case_data_free(d);
    return rc;
}

/* One case under an interactive protocol: every unit's sequence, one
 * transaction. A unit whose method call fails gets a 'failed' row. */
static int eval_case_ix(ectx *x, const hx_case_list *l, const hx_case *c,
                        sf_err *err) {
    const hx_eval_opts *o = x->o;
    const char *proto = hx_protocol_name(o->protocol);
    hx_case_data *d = NULL;
    uint8_t *mask = NULL;
    hx_seq *seq = malloc(sizeof *seq);
    int rc = seq ? hx_case_load(o->ds, l, c, &d, err)
                 : sf_err_set(err, SF_ENOMEM, "sequence");
    int in_tx = 0;
    if (rc != SF_OK) goto out;
    size_t nxy = (size_t)d->nx * d->ny;
    if (!(mask = malloc(nxy))) {
        rc = sf_err_set(err, SF_ENOMEM, "case %s", c->id);
        goto out;
    }
    if ((rc = hx__results_begin(x->db, err)) != SF_OK) goto out;
    in_tx = 1;
    if ((rc = hx__results_clear_failures(x->db, x->run_id, c->id, err)) !=
        SF_OK)
        goto out;
    const int cap = o->protocol == HX_PROTOCOL_NOC ? HX_NOC_MAX_CLICKS : 5;
    for (int z = 0; z < d->nz; z++) {
        const uint8_t *img = d->image + (size_t)z * nxy;
        for (int s = 0; s < d->n_structures; s++) {
            long gt = hx_case_mask(d, z, s, mask);
            if (gt < x->min_pixels) continue;
            x->st->n_units++;
            long slice_id = 0;
            if ((rc = hx__results_slice(x->db, o->ds->name, c->id, z,
                                        d->st[s].name, d->st[s].lo,
                                        d->source_sha256, d->nx, d->ny, gt,
                                        &slice_id, err)) != SF_OK)
                goto out;
            if (hx__results_seq_done(x->db, x->run_id, slice_id, proto)) {
                x->st->n_reused++;
                continue;
            }
            double secs = 0;
            sf_err perr;
            sf_err_clear(&perr);
            int prc = hx__ix_unit(&x->m, o->protocol, o->box_step, img, mask,
                                  d->nx, d->ny, d->spacing_mm[0],
                                  d->spacing_mm[1], seq, &secs, &perr);
            x->st->model_seconds += secs;
            char msg[1200] = "";
            if (prc != SF_OK) {
                sf_err_text(&perr, msg, sizeof msg);
                problem(x, "%s slice %d %s %s: %s", c->id, z, d->st[s].name,
                        proto, msg);
                x->st->n_failed++;
            } else {
                x->st->n_predictions += seq->n_steps - !seq->has_bbox_step;
            }
            if ((rc = hx__results_seq(x->db, x->run_id, slice_id, proto, cap,
                                      prc == SF_OK ? seq : NULL,
                                      d->spacing_mm[0], d->spacing_mm[1], secs,
                                      prc == SF_OK ? NULL : msg, err)) != SF_OK)
                goto out;
        }
    }
    rc = hx__results_commit(x->db, err);
    in_tx = 0;
out:
    if (in_tx) hx__results_rollback(x->db);
    free(seq);
    free(mask);
    hx_case_data_free(d);
    return rc;
}

/* The 3-D prediction of structure s with setting k into vol (nz, ny,
 * nx): the method's predict_volume from the clicks on slice key, or its
 * 2-D predict on every slice where s has at least min_pixels pixels
 * (each slice its own clicks of the setting, as the fixed settings'
 * units). */
static int predict_volume(ectx *x, const hx_case *c, const hx_case_data *d,
                          int s, int k, int key, const sf_click *kclk, int knc,
                          uint8_t *vol, uint8_t *mask, double *secs,
                          sf_err *err) {
    const hx_method_ops *m = x->o->method;
    size_t nxy = (size_t)d->nx * d->ny;
    double t0 = sf_clock_s();
    int rc = SF_OK;
    if (m->predict_volume) {
        rc = m->predict_volume(&x->m, d->image, d->nx, d->ny, d->nz, key, kclk,
                               knc, vol, err);
        *secs = sf_clock_s() - t0;
        return rc;
    }
    memset(vol, 0, nxy * (size_t)d->nz);
    for (int z = 0; z < d->nz && rc == SF_OK; z++) {
        if (hx_case_mask(d, z, s, mask) < x->min_pixels) continue;
        sf_click clk[2 * SF_PROMPT_MAX_CLICKS];
        int nc = 0, image_set = 0;
        char uname[400];
        unit_name(c->id, z, d->st[s].name, &x->set[k], uname, sizeof uname);
        if ((rc = unit_clicks(x, c->id, z, d->st[s].name, mask, d->nx, d->ny, k,
                              clk, &nc, err)) == SF_OK)
            rc = m->predict(&x->m, d->image + (size_t)z * nxy, d->nx, d->ny,
                            &image_set, clk, nc, uname, vol + (size_t)z * nxy,
                            err);
    }
    *secs = sf_clock_s() - t0;
    return rc;
}

/* One case in the volume setting: per structure and setting one 3-D
 * prediction and its 3-D Dice / NSD, one transaction. */
static int eval_case_volume(ectx *x, const hx_case_list *l, const hx_case *c,
                            sf_err *err) {
    const hx_eval_opts *o = x->o;
    hx_case_data *d = NULL;
    uint8_t *mask = NULL, *gt = NULL, *vol = NULL;
    sf_buf js = {0};
    int rc = hx_case_load(o->ds, l, c, &d, err), in_tx = 0;
    if (rc != SF_OK) goto out;
    size_t nxy = (size_t)d->nx * d->ny, nv = nxy * (size_t)d->nz;
    mask = malloc(nxy);
    gt = malloc(nv);
    vol = malloc(nv);
    if (!mask || !gt || !vol) {
        rc = sf_err_set(err, SF_ENOMEM, "case %s: %zu voxels", c->id, nv);
        goto out;
    }
    if ((rc = hx__results_begin(x->db, err)) != SF_OK) goto out;
    in_tx = 1;
    if ((rc = hx__results_clear_failures(x->db, x->run_id, c->id, err)) !=
        SF_OK)
        goto out;
    const char *mode = o->method->predict_volume ? "propagation" : "per-slice";
    for (int s = 0; s < d->n_structures; s++) {
        long area = 0;
        int key = hx__vol_key_slice(d, s, &area);
        if (key < 0 || area < x->min_pixels) continue;
        long n_gt = 0;
        for (int z = 0; z < d->nz; z++)
            n_gt += hx_case_mask(d, z, s, gt + (size_t)z * nxy);
        x->st->n_units++;
        for (int k = 0; k < x->n_set; k++) {
            if (hx__results_volume_done(x->db, x->run_id, c->id, d->st[s].name,
                                        x->set_name[k])) {
                x->st->n_reused++;
                continue;
            }
            sf_click clk[2 * SF_PROMPT_MAX_CLICKS];
            int nc = 0;
            if ((rc = unit_clicks(x, c->id, key, d->st[s].name,
                                  gt + (size_t)key * nxy, d->nx, d->ny, k, clk,
                                  &nc, err)) != SF_OK)
                goto out;
            sf_buf_release(&js);
            points_json(clk, nc, &js);
            if (js.oom) {
                rc = sf_err_set(err, SF_ENOMEM, "points");
                goto out;
            }
            double secs = 0;
            sf_err perr;
            sf_err_clear(&perr);
            int prc = predict_volume(x, c, d, s, k, key, clk, nc, vol, mask,
                                     &secs, &perr);
            x->st->model_seconds += secs;
            hx__volume_row row = {
                o->ds->name, c->id, d->st[s].name, x->set_name[k],
                mode,        key,   js.s,          d->nz,
                n_gt,        0,     NAN,           NAN,
                secs,        NULL};
            char msg[1200] = "";
            if (prc == SF_OK)
                prc = hx__vol_metrics(d, gt, vol, &row.dice, &row.nsd_2mm,
                                      &row.pred_voxels, &perr);
            if (prc != SF_OK) {
                sf_err_text(&perr, msg, sizeof msg);
                problem(x, "%s %s volume %s: %s", c->id, d->st[s].name,
                        x->set_name[k], msg);
                x->st->n_failed++;
                row.error = msg;
            } else {
                x->st->n_predictions++;
            }
            if ((rc = hx__results_volume(x->db, x->run_id, &row, err)) != SF_OK)
                goto out;
        }
    }
    rc = hx__results_commit(x->db, err);
    in_tx = 0;
out:
    if (in_tx) hx__results_rollback(x->db);
    sf_buf_release(&js);
    free(mask);
    free(gt);
    free(vol);
    hx_case_data_free(d);
    return rc;
}

/* The gallery (o->gallery_n > 0): the worst, median and best units of
 * the run at its first setting, predicted again (the same clicks, the
 * same method: deterministic) and drawn by hx__gallery_draw into
 * o->gallery_dir/<dataset>_<method>_p<P>n<N>.png. */
static int gallery(ectx *x, const hx_case_list *l, const char *method,
                   char *path_out, size_t path_n, sf_err *err) {
    const hx_eval_opts *o = x->o;
    hx__ranked *rk = NULL;
    size_t n = 0;
    int rc = hx__results_ranked(x->db, x->run_id, x->set_name[0], &rk, &n, err);
    if (rc != SF_OK || n == 0) return rc;
    int N = o->gallery_n;
    if ((size_t)N > n) N = (int)n;
    static const char *const row_names[3] = {"worst", "median", "best"};
    size_t pick[3][64];
    for (int i = 0; i < N; i++) {
        pick[0][i] = (size_t)i;
        size_t m0 = n / 2 >= (size_t)N / 2 ? n / 2 - (size_t)N / 2 : 0;
        pick[1][i] = m0 + (size_t)i < n ? m0 + (size_t)i : n - 1;
        pick[2][i] = n - 1 - (size_t)i;
    }
    hx__tile *tiles = calloc((size_t)3 * N, sizeof *tiles);
    sf_click *clk =
        calloc((size_t)3 * N * 2 * SF_PROMPT_MAX_CLICKS, sizeof *clk);
    uint8_t **bufs = calloc((size_t)9 * N, sizeof *bufs);
    hx_case_data *d = NULL;
    const char *loaded = NULL;
    if (!tiles || !clk || !bufs) {
        rc = sf_err_set(err, SF_ENOMEM, "gallery");
        goto out;
    }
    for (int r = 0; r < 3 && rc == SF_OK; r++)
        for (int i = 0; i < N && rc == SF_OK; i++) {
            const hx__ranked *u = &rk[pick[r][i]];
            const hx_case *c = NULL;
            for (size_t j = 0; j < l->n && !c; j++)
                if (!strcmp(l->v[j].id, u->case_id)) c = &l->v[j];
            if (!c) continue;
            if (!loaded || strcmp(loaded, c->id)) {
                hx_case_data_free(d);
                d = NULL;
                loaded = NULL;
                if ((rc = hx_case_load(o->ds, l, c, &d, err)) != SF_OK) break;
                loaded = c->id;
            }
            int s = -1;
            for (int k = 0; k < d->n_structures; k++)
                if (!strcmp(d->st[k].name, u->structure)) s = k;
            if (s < 0 || u->slice_index >= d->nz) continue;
            size_t nxy = (size_t)d->nx * d->ny, t = (size_t)r * N + i;
            uint8_t *img = malloc(nxy), *gt = malloc(nxy), *pr = malloc(nxy);
            bufs[3 * t] = img, bufs[3 * t + 1] = gt, bufs[3 * t + 2] = pr;
            if (!img || !gt || !pr) {
                rc = sf_err_set(err, SF_ENOMEM, "gallery");
                break;
            }
            memcpy(img, d->image + (size_t)u->slice_index * nxy, nxy);
            hx_case_mask(d, u->slice_index, s, gt);
            sf_click *ck = clk + t * 2 * SF_PROMPT_MAX_CLICKS;
            int nc = 0, image_set = 0;
            double secs;
            char uname[400];
            unit_name(c->id, u->slice_index, u->structure, &x->set[0], uname,
                      sizeof uname);
            if ((rc = unit_clicks(x, c->id, u->slice_index, u->structure, gt,
                                  d->nx, d->ny, 0, ck, &nc, err)) != SF_OK ||
                (rc = predict(x, c, img, d->nx, d->ny, u->slice_index,
                              &image_set, ck, nc, uname, pr, &secs, err)) !=
                    SF_OK)
                break;
            hx__tile *tl = &tiles[t];
            tl->image = img, tl->gt = gt, tl->pred = pr;
            tl->nx = d->nx, tl->ny = d->ny;
            tl->clicks = ck, tl->n_clicks = nc;
            memcpy(tl->view, x->m.view, sizeof tl->view);
            tl->dice = u->dice;
            snprintf(tl->caption, sizeof tl->caption, "%.40s z%d %s", c->id,
                     u->slice_index, u->structure);
        }
    if (rc == SF_OK) {
        char dir[HX_VOL_PATH_MAX], title[400], mname[128], sname[24];
        safe_name(method, mname, sizeof mname);
        snprintf(sname, sizeof sname, "p%dn%d", x->set[0].n_pos,
                 x->set[0].n_neg);
        snprintf(dir, sizeof dir, "%s", o->gallery_dir);
        if ((rc = sf_mkdir_p(dir, err)) == SF_OK) {
            snprintf(path_out, path_n, "%s/%s_%s_%s.png", dir, o->ds->name,
                     mname, sname);
            snprintf(title, sizeof title,
                     "%s on %s, clicks (%s): worst, median and best of %zu "
                     "units",
                     method, o->ds->name, x->set_name[0], n);
            rc = hx__gallery_draw(path_out, title, row_names, 3, N, tiles, err);
        }
    }
out:
    if (bufs)
        for (int i = 0; i < 9 * N; i++)
            free(bufs[i]);
    free(bufs);
    free(clk);
    free(tiles);
    free(rk);
    hx_case_data_free(d);
    return rc;
}

/* Cases of o (data root checked, OOD made, split verified and applied). */
static int prepare_cases(ectx *x, hx_case_list *l, hx_split **split,
                         sf_err *err) {
    const hx_eval_opts *o = x->o;
    int rc;
    *split = NULL;
    if (!o->ds || !o->data_root)
        return sf_err_set(err, SF_EINVAL, "no dataset or data root");
    if (o->n_settings < 1 || o->n_settings > HX_MAX_SETTINGS)
        return sf_err_set(err, SF_EINVAL, "%d prompt settings (1..%d)",
                          o->n_settings, HX_MAX_SETTINGS);
    x->n_set = o->n_settings;
    memcpy(x->set, o->settings, (size_t)x->n_set * sizeof *x->set);
    for (int k = 0; k < x->n_set; k++)
        sf_prompt_setting_name(&x->set[k], x->set_name[k],
                               sizeof x->set_name[k]);
    if (!strcmp(o->ds->name, "synthetic-ood") &&
        (rc = hx_ood_generate(o->data_root, o->ood_count, o->ood_size, err)) !=
            SF_OK)
        return rc;
    if (o->split_path) {
        if ((rc = hx_split_load(o->split_path, split, err)) != SF_OK) return rc;
        if ((*split)->template_only)
            return sf_err_set(err, SF_ECONFIG,
                              "%s: a template split (no cases yet): fill it "
                              "with `synthfm data split` (data/README.md)",
                              o->split_path);
        if (strcmp((*split)->dataset, o->ds->name))
            return sf_err_set(err, SF_ECONFIG,
                              "%s: split for dataset %s, not %s", o->split_path,
                              (*split)->dataset, o->ds->name);
    }
    if ((rc = hx_dataset_list(o->ds, o->data_root, l, err)) != SF_OK) return rc;
    if (*split) {
        int n_bad = 0;
        if ((rc = hx_split_verify(*split, o->data_root, o->problem,
                                  o->problem_ctx, &n_bad, err)) != SF_OK)
            return rc;
        if (n_bad)
            return sf_err_set(err, SF_ECORRUPT,
                              "split %s (%s): %d file(s) missing or changed "
                              "under %s; refusing to evaluate",
                              (*split)->name, o->split_path, n_bad,
                              o->data_root);
        if ((rc = hx_split_apply(*split, l, err)) != SF_OK) return rc;
    }
    x->min_pixels = o->min_pixels > 0 ? o->min_pixels
                    : *split          ? (*split)->min_pixels
                                      : HX_MIN_PIXELS_DEFAULT;
    return SF_OK;
}

/* What the protocol asks of the method and the settings, before
 * anything is loaded or written. */
static int check_protocol(const ectx *x, sf_err *err) {
    const hx_eval_opts *o = x->o;
    const char *name = hx_protocol_name(o->protocol);
    if (!name)
        return sf_err_set(err, SF_EINVAL, "unknown protocol %d", o->protocol);
    if (o->box_step && o->protocol != HX_PROTOCOL_CVPR25)
        return sf_err_set(err, SF_EINVAL,
                          "--box is for --protocol cvpr25 (not %s)", name);
    if ((o->protocol == HX_PROTOCOL_CVPR25 || o->protocol == HX_PROTOCOL_NOC) &&
        !o->method->predict_ix)
        return sf_err_set(err, SF_EINVAL,
                          "--method %s cannot run --protocol %s (its masks "
                          "are made outside, without corrective clicks)",
                          o->method->option, name);
    if (o->box_step && o->method->predict_ix &&
        !(o->method->needs & HX_METHOD_NEEDS_CHECKPOINT))
        return sf_err_set(err, SF_EINVAL,
                          "--method %s takes no box prompt (--box is for "
                          "SAM-format models)",
                          o->method->option);
    if (o->protocol == HX_PROTOCOL_VOLUME) {
        if (o->method->needs & HX_METHOD_NEEDS_IMPORT)
            return sf_err_set(err, SF_EINVAL,
                              "--method %s cannot run --protocol volume",
                              o->method->option);
        for (int k = 0; k < x->n_set; k++)
            if (x->set[k].n_neg != 0 || x->set[k].n_pos < 1 ||
                x->set[k].n_pos > 3)
                return sf_err_set(err, SF_EINVAL,
                                  "--protocol volume takes settings of 1 to 3 "
                                  "positive clicks and no negative (1,0:3,0), "
                                  "got %s",
                                  x->set_name[k]);
    }
    if (o->gallery_n > 0 && o->protocol != HX_PROTOCOL_FIXED)
        return sf_err_set(err, SF_EINVAL,
                          "--gallery is for the fixed settings, not "
                          "--protocol %s",
                          name);
    return SF_OK;
}

int hx_eval_run(const hx_eval_opts *o, hx_eval_stats *st, sf_err *err) {
    ectx x;
    memset(&x, 0, sizeof x);
    memset(st, 0, sizeof *st);
    x.o = o;
    x.st = st;
    x.m.o = o;
    hx_classical_opts_init(&x.m.cls);
    hx_case_list l;
    memset(&l, 0, sizeof l);
    hx_split *split = NULL;
    const hx_method_ops *method = o->method;
    char key[65], root_abs[PATH_MAX];
    sf_buf id = {0}, prov = {0};
    double t0 = sf_clock_s();
    int rc;
    if (!o->out_db) {
        rc = sf_err_set(err, SF_EINVAL, "no results database (--out)");
        goto out;
    }
    if ((rc = prepare_cases(&x, &l, &split, err)) != SF_OK) goto out;
    st->fixed_split = split != NULL;
    if (!method) {
        rc = sf_err_set(err, SF_EINVAL, "unknown method kind");
        goto out;
    }
    if ((rc = check_protocol(&x, err)) != SF_OK) goto out;
    if (method->open && (rc = method->open(&x.m, err)) != SF_OK) goto out;
    if (!realpath(o->data_root, root_abs))
        snprintf(root_abs, sizeof root_abs, "%s", o->data_root);
    const char *name = o->method_name ? o->method_name : method->display;
    /* The run's identity: a rerun of the same command resumes. */
    sf_buf_printf(&id,
                  "synthfm-eval-v1\nmethod=%s\nkind=%s\nckpt=%s\ncfg=%s\n"
                  "policy=%d\n"
                  "import=%s\ndataset=%s\nroot=%s\nsplit=%s\nsettings=",
                  name, method->kind, x.m.ck_sha, x.m.cfg_sha, x.m.multimask,
                  o->import_dir ? o->import_dir : "", o->ds->name, root_abs,
                  split ? split->sha256 : "");
    for (int k = 0; k < x.n_set; k++)
        sf_buf_printf(&id, "%s%s", k ? ":" : "", x.set_name[k]);
    sf_buf_printf(&id, "\nring=%d\nseed=%llu\nmin_pixels=%d\n",
                  o->ring_width_px, (unsigned long long)o->seed, x.min_pixels);
    /* Version 1 keys stay as they were: a fixed run resumes its rows. */
    if (o->protocol != HX_PROTOCOL_FIXED)
        sf_buf_printf(&id, "protocol=%s\nbox=%d\n",
                      hx_protocol_name(o->protocol), o->box_step);
    if (id.oom) {
        rc = sf_err_set(err, SF_ENOMEM, "run key");
        goto out;
    }
    sf_sha256_hex(id.s, id.len, key);
    sf_buf_printf(
        &prov,
        "{\"min_pixels\":%d,\"ring_width_px\":%d,\"n_cases\":%zu,"
        "\"classical\":{\"window_radius\":%d,\"tol_sigmas\":%g,\"tol_max\":%g,"
        "\"tol_min\":%g,\"neg_radius\":%d}",
        x.min_pixels, o->ring_width_px, l.n, x.m.cls.window_radius,
        x.m.cls.tol_sigmas, x.m.cls.tol_max, x.m.cls.tol_min,
        x.m.cls.neg_radius);
    if (!strcmp(o->ds->name, "synthetic-ood"))
        sf_buf_printf(&prov, ",\"ood_seed\":%u", (unsigned)HX_OOD_SEED);
    if (method->provenance) method->provenance(&x.m, &prov);
    if (o->protocol == HX_PROTOCOL_CVPR25 || o->protocol == HX_PROTOCOL_NOC) {
        hx_seq_opts so;
        hx__ix_seq_opts(o->protocol, &so);
        sf_buf_printf(
            &prov,
            ",\"protocol\":{\"name\":\"%s\",\"box\":%s,"
            "\"clicks\":%d,\"stop_dsc\":%g,\"nsd_tol_mm\":%g,"
            "\"nsd_min_dsc\":%g,\"click_rule\":\"CVPR 2025 "
            "(2D, 8-connected, MT19937 seed 42)\","
            "\"logits_fed_back\":%s}",
            hx_protocol_name(o->protocol), o->box_step ? "true" : "false",
            so.n_clicks, so.stop_dsc <= 1 ? so.stop_dsc : 0, so.tol_mm,
            so.nsd_min_dsc,
            method->needs & HX_METHOD_NEEDS_CHECKPOINT ? "true" : "false");
    } else if (o->protocol == HX_PROTOCOL_VOLUME) {
        sf_buf_printf(&prov,
                      ",\"protocol\":{\"name\":\"volume\",\"mode\":"
                      "\"%s\"}",
                      method->predict_volume ? "propagation" : "per-slice");
    }
    sf_buf_puts(&prov, "}");
    /* runs.settings: the click settings, or the protocol ("cvpr25",
     * "cvpr25+box", "noc", "volume:1,0:3,0"). */
    char settings[HX_MAX_SETTINGS * 24 + 32] = "";
    if (o->protocol == HX_PROTOCOL_CVPR25 || o->protocol == HX_PROTOCOL_NOC)
        snprintf(settings, sizeof settings, "%s%s",
                 hx_protocol_name(o->protocol), o->box_step ? "+box" : "");
    else if (o->protocol == HX_PROTOCOL_VOLUME)
        strcpy(settings, "volume:");
    if (o->protocol == HX_PROTOCOL_FIXED || o->protocol == HX_PROTOCOL_VOLUME)
        for (int k = 0; k < x.n_set; k++) {
            if (k) strcat(settings, ":");
            strcat(settings, x.set_name[k]);
        }
    if ((rc = hx_results_open(o->out_db, &x.db, err)) != SF_OK) goto out;
    hx__run_info ri = {
        key,
        name,
        method->kind,
        method->needs & HX_METHOD_NEEDS_CHECKPOINT ? o->checkpoint : NULL,
        x.m.ck_sha[0] ? x.m.ck_sha : NULL,
        x.m.cfg_sha[0] ? x.m.cfg_sha : NULL,
        o->import_dir,
        o->ds->name,
        o->ds->modality,
        root_abs,
        split ? split->name : NULL,
        split ? split->sha256 : NULL,
        settings,
        sf_git_commit(),
        prov.s,
        o->seed};
    int resumed = 0;
    if ((rc = hx__results_run_begin(x.db, &ri, &x.run_id, &resumed, err)) !=
        SF_OK)
        goto out;
    st->run_id = x.run_id;
    /* --shard I/N: the I-th contiguous block of the case list; the run's
     * key is the whole run's, so that the shards merge into it. */
    size_t lo = 0, hi = l.n;
    if (o->shard_count > 1) {
        char k[80], v[40];
        lo = l.n * (size_t)o->shard_index / (size_t)o->shard_count;
        hi = l.n * (size_t)(o->shard_index + 1) / (size_t)o->shard_count;
        snprintf(k, sizeof k, "shard:%s", key);
        snprintf(v, sizeof v, "%d/%d", o->shard_index, o->shard_count);
        if ((rc = hx__results_meta_set(x.db, k, v, err)) != SF_OK) goto out;
    }
    for (size_t i = lo; i < hi; i++) {
        sf_err cerr;
        sf_err_clear(&cerr);
        st->n_cases++;
        int crc = eval_case(&x, &l, &l.v[i], &cerr);
        if (crc == SF_EDB) { /* the database itself: stop */
            *err = cerr;
            rc = crc;
            hx__results_run_end(x.db, x.run_id, "failed", NULL);
            goto out;
        }
        if (crc != SF_OK) {
            char msg[1200] = "";
            sf_err_text(&cerr, msg, sizeof msg);
            st->n_cases_failed++;
            problem(&x, "case %s: %s", l.v[i].id, msg);
            if ((rc = hx__results_failure(x.db, x.run_id, l.v[i].id,
                                          l.v[i].image, msg, err)) != SF_OK)
                goto out;
        }
        if (o->progress && o->progress(o->progress_ctx, i + 1 - lo, hi - lo)) {
            rc = sf_err_set(err, SF_ECANCEL, "cancelled");
            hx__results_run_end(x.db, x.run_id, "failed", NULL);
            goto out;
        }
    }
    rc = hx__results_run_end(x.db, x.run_id, "done", err);
    if (rc == SF_OK)
        rc = hx__results_protocol_summary(x.db, x.run_id, o->protocol,
                                          &st->mean_dice, &st->n_ok_total, err);
    if (rc == SF_OK && o->gallery_n > 0)
        rc = gallery(&x, &l, name, st->gallery_path, sizeof st->gallery_path,
                     err);
out:
    st->seconds = sf_clock_s() - t0;
    sf_buf_release(&id);
    sf_buf_release(&prov);
    hx_results_close(x.db);
    if (method && method->close) method->close(&x.m);
    hx_split_free(split);
    hx_case_list_free(&l);
    return rc;
}

static const char export_readme[] =
    "# Exported evaluation prompts (synthfm prompts export)\n"
    "\n"
    "For methods that run outside synthfm (SAM 2, UnSAM, ...): run the\n"
    "method on exactly these slices and clicks, write the masks, and score\n"
    "them with `synthfm eval --method import --import DIR --name NAME` and\n"
    "the same --dataset/--data-root/--split/--settings/--seed.\n"
    "\n"
    "- `images/<case>_zNNNN.png`: the preprocessed 8-bit slice (MedSAM\n"
    "  preprocessing; axial slice NNNN of the canonical LPS+ volume).\n"
    "- `prompts.jsonl`: one JSON object per (slice, structure, setting):\n"
    "  `mask` (where the mask must be written, relative to this folder),\n"
    "  `image`, `dataset`, `case_id`, `slice_index`, `structure`, `setting`\n"
    "  (\"P,N\"), `width`, `height`, `gt_pixels`, and `points`:\n"
    "  [[x, y, label], ...] with x = column, y = row (0-based pixel\n"
    "  indices of the image), label 1 positive, 0 negative, positives\n"
    "  first.\n"
    "- Masks: `masks/<name>.png`, 8-bit gray, the image's width x height,\n"
    "  nonzero = structure. A missing or wrong-size mask is reported as a\n"
    "  failed prediction, never scored as 0.\n";

int hx_prompts_export(const hx_eval_opts *o, const char *out_dir,
                      long *n_prompts, sf_err *err) {
    ectx x;
    memset(&x, 0, sizeof x);
    hx_eval_stats st;
    memset(&st, 0, sizeof st);
    x.o = o;
    x.st = &st;
    x.export_dir = out_dir;
    hx_case_list l;
    memset(&l, 0, sizeof l);
    hx_split *split = NULL;
    char path[HX_VOL_PATH_MAX];
    int rc = prepare_cases(&x, &l, &split, err);
    if (rc != SF_OK) goto out;
    snprintf(path, sizeof path, "%s/images", out_dir);
    if ((rc = sf_mkdir_p(path, err)) != SF_OK) goto out;
    snprintf(path, sizeof path, "%s/masks", out_dir);
    if ((rc = sf_mkdir_p(path, err)) != SF_OK) goto out;
    snprintf(path, sizeof path, "%s/README.md", out_dir);
    if ((rc = sf_write_atomic(path, export_readme, strlen(export_readme), 0,
                              err)) != SF_OK)
        goto out;
    snprintf(path, sizeof path, "%s/prompts.jsonl.tmp", out_dir);
    if (!(x.jsonl = fopen(path, "w"))) {
        rc = sf_err_set(err, SF_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < l.n; i++) {
        sf_err cerr;
        sf_err_clear(&cerr);
        if (eval_case(&x, &l, &l.v[i], &cerr) != SF_OK) {
            char msg[1200] = "";
            problem(&x, "case %s: %s", l.v[i].id,
                    sf_err_text(&cerr, msg, sizeof msg));
        }
        if (o->progress) o->progress(o->progress_ctx, i + 1, l.n);
    }
    if (fclose(x.jsonl) != 0) {
        x.jsonl = NULL;
        rc = sf_err_set(err, SF_EIO, "%s: write failed", path);
        goto out;
    }
    x.jsonl = NULL;
    char final[HX_VOL_PATH_MAX];
    snprintf(final, sizeof final, "%s/prompts.jsonl", out_dir);
    if (rename(path, final) != 0)
        rc = sf_err_set(err, SF_EIO, "%s: rename: %s", final, strerror(errno));
    if (n_prompts) *n_prompts = x.n_prompts;
out:
    if (x.jsonl) fclose(x.jsonl);
    hx_split_free(split);
    hx_case_list_free(&l);
    return rc;
}
