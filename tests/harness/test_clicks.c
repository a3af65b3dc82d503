/*
 * test_clicks.c - the CVPR 2025 corrective click (clicks.c) against the
 * golden clicks and 5-click sequences ($SF_SHARED/golden/metrics/, parts B
 * and C): MT19937 and numpy's choice, component labels, the squared EDT
 * of the chosen component, ties, signs, the one-slice-volume variant, the
 * challenge's step metrics and AUCs; plus bad input and a brute-force
 * check of the click rule on random masks.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_io.h"
#include "hx.h"

#define TOL 1e-9

Test(clicks, mt19937_and_numpy_choice) {
    /* expected.json rng.mt19937_seed42_first_outputs */
    static const uint32_t first[8] = {1608637542u, 3421126067u, 4083286876u,
                                      787846414u,  3143890026u, 3348747335u,
                                      2571218620u, 2563451924u};
    hx_mt19937 m;
    hx_mt19937_seed(&m, 42);
    for (int i = 0; i < 8; i++)
        cr_expect_eq(hx_mt19937_u32(&m), first[i], "output %d", i);
    /* The classic check value: the 10000th output of seed 5489. */
    hx_mt19937_seed(&m, 5489);
    uint32_t u = 0;
    for (int i = 0; i < 10000; i++)
        u = hx_mt19937_u32(&m);
    cr_expect_eq(u, 4123659995u);
    cr_expect_eq(hx_click_tie_index(0), 0u);
    cr_expect_eq(hx_click_tie_index(1), 0u);

    golden_require();
    npy r = npy_load("rng_choice_seed42.npy");
    cr_assert_str_eq(r.descr, "<i8");
    cr_assert_eq(r.count, 4096u);
    const int64_t *v = r.data;
    int bad = 0;
    for (uint64_t n = 1; n <= 4096; n++)
        if ((int64_t)hx_click_tie_index(n) != v[n - 1] && bad++ < 5)
            cr_expect(0, "R(%lu) = %lu, numpy %ld", (unsigned long)n,
                      (unsigned long)hx_click_tie_index(n), (long)v[n - 1]);
    cr_expect_eq(bad, 0);
    npy_free(&r);
}

/* ------------------------------------------------------------ golden B */

enum {
    K_ID,
    K_NDIM,
    K_N0,
    K_N1,
    K_N2,
    K_CLS,
    K_HAS,
    K_I0,
    K_I1,
    K_I2,
    K_TYPE,
    K_NCOMP,
    K_LABEL,
    K_SIZE,
    K_MAXQ,
    K_TIES,
    K_TIE,
    K_DSC,
    K_NSD,
    K_SI0,
    K_SI1,
    K_SI2,
    K_STYPE,
    K_SMAXQ,
    K_STIES,
    K_STIE,
    K_COLS
};

static const double SPACING_3D[3] = {2.5, 0.8, 0.8}, SPACING_2D[2] = {1.5, 1.5};

/* Binary mask of label c. */
static uint8_t *class_mask(const npy *a, int c) {
    uint8_t *m = malloc(a->count);
    cr_assert_not_null(m);
    const uint8_t *v = a->data;
    for (size_t i = 0; i < a->count; i++)
        m[i] = v[i] == c;
    return m;
}

Test(clicks, golden_clicks) {
    golden_require();
    char path[1024];
    golden_path(path, sizeof path, "clicks.csv");
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[2048], *c[K_COLS + 1];
    cr_assert_not_null(fgets(line, sizeof line, f));
    int rows = 0, clicked = 0, slices = 0, cases = 0;
    char prev[128] = "";
    double dsc_sum[8], nsd_sum[8];
    int n_cls = 0;
    double ref_dsc = NAN, ref_nsd = NAN, worst = 0.0;
    hx_grid g;
    for (;;) {
        char *ok = fgets(line, sizeof line, f);
        int nf = ok ? csv_split(line, c, K_COLS + 1) : 0;
        if (ok) cr_assert_eq(nf, K_COLS, "clicks.csv: %d columns", nf);
        /* A case ends: its challenge DSC / NSD = the means over its
         * classes (np.mean), NSD only when the DSC > 0.2. */
        if (prev[0] && (!ok || strcmp(prev, c[K_ID]))) {
            double dsc = hx_sum_pairwise(dsc_sum, (size_t)n_cls) / n_cls;
            double nsd = dsc > 0.2
                             ? hx_sum_pairwise(nsd_sum, (size_t)n_cls) / n_cls
                             : 0.0;
            double r1 = golden_rel(dsc, ref_dsc), r2 = golden_rel(nsd, ref_nsd);
            worst = fmax(worst, fmax(r1, r2));
            cr_expect(r1 <= TOL, "%s: challenge DSC %.17g vs %.17g", prev, dsc,
                      ref_dsc);
            cr_expect(r2 <= TOL, "%s: challenge NSD %.17g vs %.17g", prev, nsd,
                      ref_nsd);
            cases++;
            n_cls = 0;
        }
        if (!ok) break;
        snprintf(prev, sizeof prev, "%s", c[K_ID]);
        memset(&g, 0, sizeof g);
        g.ndim = atoi(c[K_NDIM]);
        for (int i = 0; i < g.ndim; i++) {
            g.n[i] = atoi(c[K_N0 + i]);
            g.spacing_mm[i] = g.ndim == 3 ? SPACING_3D[i] : SPACING_2D[i];
        }
        int cls = atoi(c[K_CLS]);
        char rel[512];
        snprintf(rel, sizeof rel, "clicks/%s_gt.npy", c[K_ID]);
        npy gt = npy_load(rel);
        snprintf(rel, sizeof rel, "clicks/%s_pred.npy", c[K_ID]);
        npy pr = npy_load(rel);
        size_t nv = hx_grid_voxels(&g);
        cr_assert_eq(gt.count, nv);
        uint8_t *gm = class_mask(&gt, cls), *pm = class_mask(&pr, cls);
        int32_t *lab = malloc(nv * sizeof *lab), *q = malloc(nv * sizeof *q);
        cr_assert(lab && q);
        hx_click_info ci;
        sf_err err;
        cr_assert_eq(hx_click_next(&g, gm, pm, &ci, lab, q, &err), SF_OK,
                     "%s: %s", c[K_ID], err.msg);
        const char *id = c[K_ID];
        cr_expect_eq(ci.has_click, atoi(c[K_HAS]), "%s cls %d: has_click", id,
                     cls);
        if (ci.has_click && atoi(c[K_HAS])) {
            clicked++;
            for (int i = 0; i < g.ndim; i++)
                cr_expect_eq(ci.pos[i], atoi(c[K_I0 + i]),
                             "%s cls %d: click axis %d: %d vs %s", id, cls, i,
                             ci.pos[i], c[K_I0 + i]);
            cr_expect_eq(ci.positive, !strcmp(c[K_TYPE], "fg"), "%s: type", id);
            cr_expect_eq(ci.n_components, atoi(c[K_NCOMP]), "%s: comps", id);
            cr_expect_eq(ci.largest_label, atoi(c[K_LABEL]), "%s: label", id);
            cr_expect_eq(ci.largest_size, (size_t)atol(c[K_SIZE]), "%s: size",
                         id);
            cr_expect_eq(ci.max_sq_edt, atol(c[K_MAXQ]), "%s: max q", id);
            cr_expect_eq(ci.n_ties, (size_t)atol(c[K_TIES]), "%s: ties %zu", id,
                         ci.n_ties);
            cr_expect_eq(ci.tie_index, (size_t)atol(c[K_TIE]), "%s: tie", id);
            /* The label map and the q map, voxel for voxel. */
            snprintf(rel, sizeof rel, "clicks/%s_cls%d_error_labels.npy", id,
                     cls);
            npy rl = npy_load(rel);
            snprintf(rel, sizeof rel, "clicks/%s_cls%d_sq_edt.npy", id, cls);
            npy rq = npy_load(rel);
            cr_assert_eq(rl.count, nv);
            cr_assert_eq(rq.count, nv);
            size_t bl = 0, bq = 0;
            for (size_t i = 0; i < nv; i++) {
                bl += lab[i] != ((int32_t *)rl.data)[i];
                bq += q[i] != ((int32_t *)rq.data)[i];
            }
            cr_expect_eq(bl, 0u, "%s: %zu labels differ", id, bl);
            cr_expect_eq(bq, 0u, "%s: %zu q values differ", id, bq);
            npy_free(&rl);
            npy_free(&rq);
        }
        /* 2D cases: the reference's answer for the slice stored as a
         * (1, n0, n1) volume. */
        if (g.ndim == 2 && *c[K_STYPE]) {
            hx_grid v = {3, {1, g.n[0], g.n[1]}, {2.5, 1.5, 1.5}};
            hx_click_info si;
            cr_assert_eq(hx_click_next(&v, gm, pm, &si, NULL, NULL, NULL),
                         SF_OK);
            cr_expect(si.has_click && si.pos[0] == atoi(c[K_SI0]) &&
                          si.pos[1] == atoi(c[K_SI1]) &&
                          si.pos[2] == atoi(c[K_SI2]),
                      "%s slice volume: click (%d,%d,%d)", id, si.pos[0],
                      si.pos[1], si.pos[2]);
            cr_expect_eq(si.positive, !strcmp(c[K_STYPE], "fg"));
            cr_expect_eq(si.max_sq_edt, atol(c[K_SMAXQ]));
            cr_expect_eq(si.n_ties, (size_t)atol(c[K_STIES]));
            cr_expect_eq(si.tie_index, (size_t)atol(c[K_STIE]));
            slices++;
        }
        /* This class's step metrics (README C.1). */
        hx_metrics m;
        cr_assert_eq(hx_metrics_compute(&g, gm, pm, &m, NULL), SF_OK);
        cr_assert(n_cls < 8);
        dsc_sum[n_cls] = m.dice;
        nsd_sum[n_cls] = m.nsd_2mm;
        n_cls++;
        ref_dsc = csv_num(c[K_DSC]);
        ref_nsd = csv_num(c[K_NSD]);
        free(gm);
        free(pm);
        free(lab);
        free(q);
        npy_free(&gt);
        npy_free(&pr);
        rows++;
    }
    fclose(f);
    cr_expect_eq(cases, 16);
    cr_expect_eq(rows, 18);
    cr_expect_eq(slices, 3);
    cr_log_info("click golden: %d cases, %d class rows (%d clicks, labels "
                "and q maps compared), %d one-slice variants; DSC/NSD max "
                "rel %.3g",
                cases, rows, clicked, slices, worst);
}

/* ------------------------------------------------------------ golden C */

/* The README's deterministic "model": a ball of r^2 around the newest
 * click, added (fg) or removed (bg); every step is compared with the
 * reference's prediction. */
typedef struct ball_ctx {
    const hx_grid *g;
    long r2;
    const uint8_t *preds; /* (6, voxels) */
    size_t nv;
    int step;
    int mismatches;
} ball_ctx;

static int ball_model(void *vctx, const hx_click_info *clicks, int n,
                      uint8_t *pred, sf_err *err) {
    ball_ctx *x = vctx;
    (void)err;
    const hx_click_info *c = &clicks[n - 1];
    const hx_grid *g = x->g;
    int n0 = g->ndim == 3 ? g->n[0] : 1, n1 = g->ndim == 3 ? g->n[1] : g->n[0],
        n2 = g->ndim == 3 ? g->n[2] : g->n[1];
    int c0 = g->ndim == 3 ? c->pos[0] : 0,
        c1 = g->ndim == 3 ? c->pos[1] : c->pos[0],
        c2 = g->ndim == 3 ? c->pos[2] : c->pos[1];
    if (c->has_click)
        for (int a = 0; a < n0; a++)
            for (int b = 0; b < n1; b++)
                for (int d = 0; d < n2; d++) {
                    long q = (long)(a - c0) * (a - c0) +
                             (long)(b - c1) * (b - c1) +
                             (long)(d - c2) * (d - c2);
                    if (q <= x->r2)
                        pred[((size_t)a * n1 + b) * n2 + d] =
                            (uint8_t)c->positive;
                }
    x->step++;
    const uint8_t *ref = x->preds + (size_t)x->step * x->nv;
    for (size_t i = 0; i < x->nv; i++)
        if ((pred[i] != 0) != (ref[i] != 0)) {
            x->mismatches++;
            break;
        }
    return SF_OK;
}

enum {
    S_ID,
    S_NDIM,
    S_N0,
    S_N1,
    S_N2,
    S_S0,
    S_S1,
    S_S2,
    S_BBOX,
    S_R2,
    S_DAUC,
    S_NAUC,
    S_DFIN,
    S_NFIN,
    S_COLS
};
enum {
    T_ID,
    T_STEP,
    T_HAS,
    T_I0,
    T_I1,
    T_I2,
    T_TYPE,
    T_TIES,
    T_TIE,
    T_DSC,
    T_NSD,
    T_COLS
};

Test(clicks, golden_sequences) {
    golden_require();
    char path[1024];
    golden_path(path, sizeof path, "sequences_summary.csv");
    FILE *f = fopen(path, "r");
    golden_path(path, sizeof path, "sequences.csv");
    FILE *fs = fopen(path, "r");
    cr_assert(f && fs);
    char line[2048], sline[1024], *c[S_COLS + 1], *t[T_COLS + 1];
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert_not_null(fgets(sline, sizeof sline, fs));
    int seqs = 0, values = 0, passed = 0;
    double worst = 0.0;
    while (fgets(line, sizeof line, f)) {
        cr_assert_eq(csv_split(line, c, S_COLS + 1), S_COLS);
        hx_grid g;
        memset(&g, 0, sizeof g);
        g.ndim = atoi(c[S_NDIM]);
        for (int i = 0; i < g.ndim; i++) {
            g.n[i] = atoi(c[S_N0 + i]);
            g.spacing_mm[i] = csv_num(c[S_S0 + i]);
        }
        const char *id = c[S_ID];
        int bbox = atoi(c[S_BBOX]);
        char rel[512];
        snprintf(rel, sizeof rel, "sequences/%s_gt.npy", id);
        npy gt = npy_load(rel);
        snprintf(rel, sizeof rel, "sequences/%s_preds.npy", id);
        npy preds = npy_load(rel);
        npy p0 = {0};
        if (bbox) {
            snprintf(rel, sizeof rel, "sequences/%s_pred0.npy", id);
            p0 = npy_load(rel);
        }
        size_t nv = hx_grid_voxels(&g);
        cr_assert_eq(preds.count, 6 * nv);
        ball_ctx x = {&g, atol(c[S_R2]), preds.data, nv, 0, 0};
        hx_seq s;
        hx_seq_opts o;
        hx_seq_opts_init(&o);
        sf_err err;
        cr_assert_eq(hx_seq_run(&g, gt.data, bbox ? p0.data : NULL, &o,
                                ball_model, &x, &s, &err),
                     SF_OK, "%s: %s", id, err.msg);
        cr_expect_eq(x.mismatches, 0, "%s: %d predictions differ", id,
                     x.mismatches);
        cr_expect_eq(s.n_steps, 6);
        cr_expect_eq(s.has_bbox_step, bbox);
        for (int k = 0; k < 6; k++) {
            cr_assert_not_null(fgets(sline, sizeof sline, fs));
            cr_assert_eq(csv_split(sline, t, T_COLS + 1), T_COLS);
            cr_assert_str_eq(t[T_ID], id);
            cr_assert_eq(atoi(t[T_STEP]), k + 1);
            const hx_seq_step *st = &s.step[k];
            if (k > 0) {
                cr_expect_eq(st->click.has_click, atoi(t[T_HAS]), "%s step %d",
                             id, k + 1);
                if (atoi(t[T_HAS])) {
                    for (int i = 0; i < g.ndim; i++)
                        cr_expect_eq(st->click.pos[i], atoi(t[T_I0 + i]),
                                     "%s step %d axis %d", id, k + 1, i);
                    cr_expect_eq(st->click.positive, !strcmp(t[T_TYPE], "fg"));
                    cr_expect_eq(st->click.n_ties, (size_t)atol(t[T_TIES]));
                    cr_expect_eq(st->click.tie_index, (size_t)atol(t[T_TIE]));
                }
            }
            double vals[2] = {st->dsc, st->nsd};
            double refs[2] = {csv_num(t[T_DSC]), csv_num(t[T_NSD])};
            for (int j = 0; j < 2; j++) {
                double r = golden_rel(vals[j], refs[j]);
                worst = fmax(worst, r);
                values++;
                passed += r <= TOL;
                cr_expect(r <= TOL, "%s step %d %s: %.17g vs %.17g", id, k + 1,
                          j ? "nsd" : "dsc", vals[j], refs[j]);
            }
        }
        double sv[4] = {s.dsc_auc, s.nsd_auc, s.dsc_final, s.nsd_final};
        for (int j = 0; j < 4; j++) {
            double ref = csv_num(c[S_DAUC + j]), r = golden_rel(sv[j], ref);
            worst = fmax(worst, r);
            values++;
            passed += r <= TOL;
            cr_expect(r <= TOL, "%s summary %d: %.17g vs %.17g", id, j, sv[j],
                      ref);
        }
        /* NoC: the number of clicks to reach a DSC. */
        if (!strcmp(id, "S4_3d_no_bbox_perfect_after_one")) {
            cr_expect_eq(hx_seq_noc(&s, 0.90), 1);
            cr_expect_eq(s.step[2].click.has_click, 0);
        }
        npy_free(&gt);
        npy_free(&preds);
        npy_free(&p0);
        seqs++;
    }
    fclose(f);
    fclose(fs);
    cr_expect_eq(seqs, 4);
    cr_log_info("sequence golden: %d sequences, %d/%d step and summary "
                "values within %g, max rel %.3g; every prediction equal",
                seqs, passed, values, TOL, worst);
}

/* ---------------------------------------------------------- no files */

static uint64_t xs(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The README B rule by brute force (flood fill per voxel, q by search
 * over the padded box), for random small 2D/3D masks. */
Test(clicks, rule_matches_brute_force) {
    uint64_t st = 99;
    for (int iter = 0; iter < 60; iter++) {
        hx_grid g;
        memset(&g, 0, sizeof g);
        g.ndim = 2 + iter % 2;
        for (int i = 0; i < g.ndim; i++) {
            g.n[i] = 1 + (int)(xs(&st) % (g.ndim == 3 ? 7 : 14));
            g.spacing_mm[i] = 1.0;
        }
        size_t nv = hx_grid_voxels(&g);
        uint8_t *gt = calloc(nv, 1), *pr = calloc(nv, 1);
        int32_t *lab = malloc(nv * sizeof *lab);
        cr_assert(gt && pr && lab);
        for (size_t i = 0; i < nv; i++) {
            gt[i] = xs(&st) % 3 == 0;
            pr[i] = xs(&st) % 4 == 0;
        }
        hx_click_info ci;
        cr_assert_eq(hx_click_next(&g, gt, pr, &ci, lab, NULL, NULL), SF_OK);
        int n0 = g.ndim == 3 ? g.n[0] : 1, n1 = g.n[g.ndim - 2],
            n2 = g.n[g.ndim - 1];
        /* q(v) for v in the chosen component, brute force over a box one
         * voxel larger than the image (outside = background). */
        int64_t qmax = 0;
        size_t ties = 0;
        for (size_t v = 0; v < nv; v++) {
            if (lab[v] != ci.largest_label || !ci.has_click) continue;
            int v0 = (int)(v / ((size_t)n1 * n2)), v1 = (int)(v / n2 % n1),
                v2 = (int)(v % n2);
            int64_t q = INT64_MAX;
            int lo0 = g.ndim == 3 ? -1 : 0, hi0 = g.ndim == 3 ? n0 : 0;
            for (int a = lo0; a <= hi0; a++)
                for (int b = -1; b <= n1; b++)
                    for (int d = -1; d <= n2; d++) {
                        int in = a >= 0 && a < n0 && b >= 0 && b < n1 &&
                                 d >= 0 && d < n2 &&
                                 lab[((size_t)a * n1 + b) * n2 + d] ==
                                     ci.largest_label;
                        if (in) continue;
                        int64_t e = (int64_t)(a - v0) * (a - v0) +
                                    (int64_t)(b - v1) * (b - v1) +
                                    (int64_t)(d - v2) * (d - v2);
                        q = e < q ? e : q;
                    }
            if (q > qmax) {
                qmax = q;
                ties = 0;
            }
            if (q == qmax) ties++;
        }
        if (ci.has_click) {
            cr_expect_eq(ci.max_sq_edt, qmax, "iter %d", iter);
            cr_expect_eq(ci.n_ties, ties, "iter %d", iter);
            cr_expect_eq(ci.tie_index, hx_click_tie_index(ties));
            size_t p = g.ndim == 3 ? ((size_t)ci.pos[0] * n1 + ci.pos[1]) * n2 +
                                         ci.pos[2]
                                   : (size_t)ci.pos[0] * n2 + ci.pos[1];
            cr_expect_eq(lab[p], ci.largest_label);
            cr_expect_eq(ci.positive, gt[p] != 0);
            cr_expect((gt[p] != 0) != (pr[p] != 0), "a click is an error");
        }
        free(gt);
        free(pr);
        free(lab);
    }
}

Test(clicks, no_error_no_click_and_bad_input) {
    hx_grid g = {3, {2, 3, 4}, {1, 1, 1}};
    uint8_t a[24] = {0}, b[24] = {0};
    a[5] = b[5] = 1;
    hx_click_info ci;
    cr_assert_eq(hx_click_next(&g, a, b, &ci, NULL, NULL, NULL), SF_OK);
    cr_expect_eq(ci.has_click, 0);
    sf_err err;
    cr_expect_eq(hx_click_next(&g, NULL, b, &ci, NULL, NULL, &err), SF_EINVAL);
    cr_expect_eq(hx_click_next(&g, a, b, NULL, NULL, NULL, &err), SF_EINVAL);
    g.spacing_mm[0] = -2;
    cr_expect_eq(hx_click_next(&g, a, b, &ci, NULL, NULL, &err), SF_ERANGE);
    g.spacing_mm[0] = 1;
    g.n[1] = -3;
    cr_expect_eq(hx_click_next(&g, a, b, &ci, NULL, NULL, &err), SF_EINVAL);
}

static int never(void *ctx, const hx_click_info *c, int n, uint8_t *p,
                 sf_err *err) {
    (void)ctx, (void)c, (void)n, (void)p;
    return sf_err_set(err, SF_ECANCEL, "method failed");
}

Test(clicks, sequence_bad_input_and_method_errors) {
    hx_grid g = {2, {4, 4, 0}, {1, 1, 0}};
    uint8_t gt[16] = {0};
    hx_seq s;
    sf_err err;
    /* Empty ground truth: no class to click on. */
    cr_expect_eq(hx_seq_run(&g, gt, NULL, NULL, never, NULL, &s, &err),
                 SF_EINVAL);
    cr_expect(strstr(err.msg, "empty") != NULL, "%s", err.msg);
    gt[5] = 1;
    /* The method's error stops the run with its code. */
    cr_expect_eq(hx_seq_run(&g, gt, NULL, NULL, never, NULL, &s, &err),
                 SF_ECANCEL);
    hx_seq_opts o;
    hx_seq_opts_init(&o);
    o.n_clicks = HX_SEQ_MAX_CLICKS + 1;
    cr_expect_eq(hx_seq_run(&g, gt, NULL, &o, never, NULL, &s, &err),
                 SF_EINVAL);
    cr_expect_eq(hx_seq_run(&g, gt, NULL, NULL, NULL, NULL, &s, &err),
                 SF_EINVAL);
}

/* A method that gets one voxel of the error right per click: it sets the
 * clicked voxel (fg) or clears it (bg). On a 3-voxel object from an empty
 * start it reaches Dice 2/4, 4/5, 1 after clicks 1, 2, 3. */
static int one_voxel(void *ctx, const hx_click_info *c, int n, uint8_t *pred,
                     sf_err *err) {
    const hx_grid *g = ctx;
    (void)err;
    const hx_click_info *k = &c[n - 1];
    if (!k->has_click) return SF_OK;
    size_t p =
        g->ndim == 3
            ? ((size_t)k->pos[0] * g->n[1] + k->pos[1]) * g->n[2] + k->pos[2]
            : (size_t)k->pos[0] * g->n[1] + k->pos[1];
    pred[p] = (uint8_t)k->positive;
    return SF_OK;
}

Test(clicks, noc_and_early_stop) {
    hx_grid g = {2, {5, 7, 0}, {1.0, 1.0, 0}};
    uint8_t gt[35] = {0};
    gt[8] = gt[9] = gt[10] = 1;
    hx_seq s;
    hx_seq_opts o;
    hx_seq_opts_init(&o);
    o.n_clicks = 20;
    cr_assert_eq(hx_seq_run(&g, gt, NULL, &o, one_voxel, &g, &s, NULL), SF_OK);
    cr_expect_eq(s.n_steps, 21, "no early stop by default");
    cr_expect(s.step[1].dsc == 0.5 && s.step[2].dsc == 0.8 &&
                  s.step[3].dsc == 1.0,
              "%g %g %g", s.step[1].dsc, s.step[2].dsc, s.step[3].dsc);
    cr_expect_eq(hx_seq_noc(&s, 0.85), 3);
    cr_expect_eq(hx_seq_noc(&s, 0.75), 2);
    cr_expect_eq(s.step[4].click.has_click, 0, "nothing left to correct");
    /* NSD only above DSC 0.2, AUC over the 20 click steps. */
    /* 19 intervals: (0.5 + 0.8) / 2, (0.8 + 1) / 2, then 17 of 1. */
    cr_expect(fabs(s.dsc_auc - (0.65 + 0.9 + 17.0)) < 1e-12, "%.17g",
              s.dsc_auc);
    /* Early stop at 0.9: three clicks, AUC over the steps run. */
    o.stop_dsc = 0.9;
    cr_assert_eq(hx_seq_run(&g, gt, NULL, &o, one_voxel, &g, &s, NULL), SF_OK);
    cr_expect_eq(s.n_steps, 4);
    cr_expect_eq(hx_seq_noc(&s, 0.9), 3);
    cr_expect_eq(s.dsc_final, 1.0);
    /* Never reached: clicks made + 1. */
    o.n_clicks = 1;
    cr_assert_eq(hx_seq_run(&g, gt, NULL, &o, one_voxel, &g, &s, NULL), SF_OK);
    cr_expect_eq(hx_seq_noc(&s, 0.9), 2);
    /* A bounding-box step that is already perfect: no click, NoC 0. */
    o.n_clicks = 5;
    cr_assert_eq(hx_seq_run(&g, gt, gt, &o, one_voxel, &g, &s, NULL), SF_OK);
    cr_expect_eq(s.n_steps, 1);
    cr_expect_eq(hx_seq_noc(&s, 0.9), 0);
    cr_expect_eq(s.dsc_final, 1.0);
    cr_expect_eq(s.dsc_auc, 0.0);
}
