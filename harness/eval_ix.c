/*
 * eval_ix.c - the interactive protocols of `synthfm eval` (issue 18) and
 * the volume setting (issue 19), one unit at a time; eval.c loops over
 * cases and writes the rows.
 *
 * Interactive unit (cvpr25, noc): hx_seq_run (clicks.c) drives the
 * sequence on the 2-D grid (ny, nx) with the slice's spacing: each
 * corrective click is the CVPR 2025 rule's (2D form: 8-connected error
 * components, deepest point, MT19937(42) tie-break) on this method's own
 * previous prediction; the method gets every click so far (and the box,
 * when there is one) and, for SAM-format models, its previous low-res
 * logits as mask_input. Without a box the first click is computed against
 * an empty prediction, so it depends on the ground truth only: every
 * method gets the same first click.
 *
 * Volume unit: a 3-D prediction of one structure from the clicks of one
 * setting; the method's predict_volume (SAM 2: propagation) or, without
 * one, its 2-D predict on every slice with the structure (the paper's
 * protocol), and the 3-D Dice / NSD with the volume's spacing.
 */
#include "eval.h"
#include "eval_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const protocol_names[] = {"fixed", "cvpr25", "noc",
                                             "volume"};

const char *hx_protocol_name(int protocol) {
    if (protocol < 0 || protocol > HX_PROTOCOL_VOLUME) return NULL;
    return protocol_names[protocol];
}

int hx_protocol_parse(const char *name) {
    for (int i = 0; name && i <= HX_PROTOCOL_VOLUME; i++)
        if (!strcmp(name, protocol_names[i])) return i;
    return -1;
}

void hx__ix_seq_opts(int protocol, hx_seq_opts *so) {
    hx_seq_opts_init(so); /* 5 clicks, 2 mm, NSD when DSC > 0.2 */
    if (protocol == HX_PROTOCOL_NOC) {
        so->n_clicks = HX_NOC_MAX_CLICKS;
        so->stop_dsc = 0.90;
    }
}

/* hx_seq_run's callback: the clicks so far as sf_clicks to the method. */
typedef struct ix_ctx {
    hx__method_run *m;
    const uint8_t *img;
    int nx, ny, image_set, first;
    const float *box;
    double seconds;
} ix_ctx;

static int ix_step(void *ctx, const hx_click_info *clicks, int n, uint8_t *pred,
                   sf_err *err) {
    ix_ctx *c = ctx;
    /* No error left: no click, the prediction stays. */
    if (!clicks[n - 1].has_click) return SF_OK;
    sf_click clk[HX_SEQ_MAX_CLICKS];
    int nc = 0;
    for (int i = 0; i < n; i++)
        if (clicks[i].has_click) {
            /* 2-D grid (ny, nx): pos[0] = row, pos[1] = column */
            clk[nc].x = clicks[i].pos[1];
            clk[nc].y = clicks[i].pos[0];
            clk[nc].positive = clicks[i].positive;
            nc++;
        }
    double t0 = sf_clock_s();
    int rc =
        c->m->o->method->predict_ix(c->m, c->img, c->nx, c->ny, &c->image_set,
                                    clk, nc, c->box, c->first, pred, err);
    c->first = 0;
    c->seconds += sf_clock_s() - t0;
    return rc;
}

int hx__ix_unit(hx__method_run *m, int protocol, int box_step,
                const uint8_t *img, const uint8_t *gt, int nx, int ny,
                double sx_mm, double sy_mm, hx_seq *out, double *seconds,
                sf_err *err) {
    const hx_method_ops *ops = m->o->method;
    hx_grid g = {2, {ny, nx, 0}, {sy_mm, sx_mm, 0}};
    hx_seq_opts so;
    hx__ix_seq_opts(protocol, &so);
    ix_ctx c = {m, img, nx, ny, 0, 1, NULL, 0};
    uint8_t *pred0 = NULL;
    float box[4];
    int rc;
    *seconds = 0;
    if (!ops->predict_ix)
        return sf_err_set(err, SF_EUNSUPPORTED,
                          "--method %s cannot run the interactive protocols",
                          ops->option);
    if (box_step) {
        /* The ground truth's bounding box, pixel indices (x0, y0, x1,
         * y1), as the challenge's box prompt. */
        int x0 = nx, y0 = ny, x1 = -1, y1 = -1;
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++)
                if (gt[(size_t)y * nx + x]) {
                    x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
                    y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
                }
        box[0] = (float)x0, box[1] = (float)y0;
        box[2] = (float)x1, box[3] = (float)y1;
        c.box = box;
        if (!(pred0 = malloc((size_t)nx * ny)))
            return sf_err_set(err, SF_ENOMEM, "box prediction");
        double t0 = sf_clock_s();
        rc = ops->predict_ix(m, img, nx, ny, &c.image_set, NULL, 0, box, 1,
                             pred0, err);
        c.seconds += sf_clock_s() - t0;
        c.first = 0;
        if (rc != SF_OK) goto out;
    }
    rc = hx_seq_run(&g, gt, pred0, &so, ix_step, &c, out, err);
    if (rc == SF_OK && box_step) out->step[0].t_predict_s = c.seconds;
out:
    *seconds = c.seconds;
    free(pred0);
    return rc;
}

/* The slice of largest area of bit s (the lowest on a tie); -1 if none. */
int hx__vol_key_slice(const hx_case_data *d, int s, long *area) {
    size_t nxy = (size_t)d->nx * d->ny;
    int key = -1;
    long best = 0;
    for (int z = 0; z < d->nz; z++) {
        long a = 0;
        const uint32_t *b = d->bits + (size_t)z * nxy;
        for (size_t i = 0; i < nxy; i++)
            a += (b[i] >> s) & 1u;
        if (a > best) best = a, key = z;
    }
    if (area) *area = best;
    return key;
}

int hx__vol_metrics(const hx_case_data *d, const uint8_t *gt,
                    const uint8_t *pred, double *dice, double *nsd_2mm,
                    long *pred_voxels, sf_err *err) {
    hx_grid g = {3,
                 {d->nz, d->ny, d->nx},
                 {d->spacing_mm[2], d->spacing_mm[1], d->spacing_mm[0]}};
    hx_surface *s = NULL;
    int rc = hx_surface_compute(&g, gt, pred, &s, err);
    if (rc != SF_OK) return rc;
    *dice = hx_surface_dice(s);
    *nsd_2mm = hx_surface_nsd(s, 2.0);
    *pred_voxels = (long)s->n_vox_pred;
    hx_surface_free(s);
    return SF_OK;
}
