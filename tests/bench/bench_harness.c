/*
 * bench_harness.c - throughput of the evaluation harness without the
 * model: MedSAM preprocessing of the volume + click simulation (every
 * default setting) + Dice, in units (slice x structure) per second, on
 * the real CT sample (../shared/realdata/totalsegmentator: example_ct_sm
 * with example_seg_fast/, TotalSegmentator V2 layout made with symlinks).
 * The prediction scored is the ground truth shifted by one pixel (a
 * stand-in: model time is excluded by design).
 *
 * Then the interactive evaluation of issue 18 (metrics.h) on a synthetic
 * 512 x 512 x 100 CT-like volume (spacing 2.0 x 0.8 x 0.8 mm) with a
 * liver-sized structure and a "bounding-box" prediction off by a shift
 * and a shrink: the exact EDT of the whole volume, the surface distances
 * and all metrics, one corrective click, and a 5-click CVPR 2025 sequence
 * with the classical method (2-D region growing on the clicked slice) in
 * 3-D and on one 512 x 512 slice, timed per step: the method's time and
 * the click + DSC + NSD time the harness adds.
 *
 * Last, `synthfm eval --protocol cvpr25` and `--protocol noc` through the
 * driver (hx_eval_run: case load, units, sequences, results database) with
 * the classical method on the real CT sample: per unit and per click
 * step, the method's time and the rest.
 *
 *   BENCH_REPS=N   repetitions (default 20); SF_SHARED as in the tests.
 *   BENCH_INTERACTIVE_REPS=N  repetitions of the interactive part (3).
 * The real-data part prints a skip line when ../shared is absent.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../tmpdir.h"
#include "hx.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of this process: on a shared machine steadier than wall time
 * (the code here is single-threaded). */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const sf_err *e) {
    fprintf(stderr, "bench_harness: %s: %s\n", what, e ? e->msg : "");
    exit(1);
}

/* ------------------------------------------------ interactive (issue 18) */

/* The synthetic volume: a smooth lobed blob, the image 60 outside / 150
 * inside plus uniform noise 0..31 from the counter RNG. */
enum { IZ = 100, IY = 512, IX = 512 };

static int blob(int z, int y, int x, double dz, double dy, double dx,
                double thr, double phase) {
    double a = (z - 50 - dz) / 36.0, b = (y - 250 - dy) / 120.0,
           c = (x - 230 - dx) / 150.0;
    double r2 = a * a + b * b + c * c;
    double lobes = 0.12 * sin(y / 17.0 + phase) * cos(x / 23.0) +
                   0.06 * sin(z / 7.0 + 2 * phase);
    return r2 < thr * (1.0 + lobes);
}

typedef struct classical_ctx {
    const uint8_t *img; /* (nz, ny, nx) or one (ny, nx) slice */
    int ndim, ny, nx;
    uint8_t *slice_mask;
    int failures;
} classical_ctx;

/* The method under test: hx_classical_segment on the slice of the newest
 * click, with the clicks made on that slice; the other slices keep their
 * prediction. */
static int classical_step(void *vctx, const hx_click_info *clicks, int n,
                          uint8_t *pred, sf_err *err) {
    classical_ctx *c = vctx;
    const hx_click_info *last = &clicks[n - 1];
    if (!last->has_click) return SF_OK;
    int z = c->ndim == 3 ? last->pos[0] : 0;
    sf_click sc[HX_SEQ_MAX_CLICKS];
    int k = 0, n_pos = 0;
    for (int i = 0; i < n; i++) {
        const hx_click_info *ci = &clicks[i];
        if (!ci->has_click || (c->ndim == 3 && ci->pos[0] != z)) continue;
        sc[k].y = c->ndim == 3 ? ci->pos[1] : ci->pos[0];
        sc[k].x = c->ndim == 3 ? ci->pos[2] : ci->pos[1];
        sc[k].positive = ci->positive;
        n_pos += ci->positive;
        k++;
    }
    size_t nxy = (size_t)c->ny * c->nx;
    uint8_t *out = pred + (size_t)z * nxy;
    if (!n_pos) { /* only negative clicks here: erase around them */
        for (int i = 0; i < k; i++)
            for (int y = sc[i].y - 3; y <= sc[i].y + 3; y++)
                for (int x = sc[i].x - 3; x <= sc[i].x + 3; x++)
                    if (y >= 0 && x >= 0 && y < c->ny && x < c->nx)
                        out[(size_t)y * c->nx + x] = 0;
        return SF_OK;
    }
    int rc = hx_classical_segment(c->img + (size_t)z * nxy, c->nx, c->ny, sc, k,
                                  NULL, c->slice_mask, err);
    if (rc != SF_OK) return rc;
    memcpy(out, c->slice_mask, nxy);
    return SF_OK;
}

static void print_seq(const char *what, const hx_seq *s, int reps,
                      const double *tp, const double *tm, double cpu) {
    printf("  %s: DSC per step", what);
    for (int k = 0; k < s->n_steps; k++)
        printf(" %.3f", s->step[k].dsc);
    printf(" (NSD final %.3f, DSC AUC %.3f)\n", s->nsd_final, s->dsc_auc);
    printf("    per click step: method %8.2f ms, click + DSC + NSD %8.2f ms "
           "(wall); whole run %8.2f ms CPU per click\n",
           1e3 * *tp / (5.0 * reps), 1e3 * *tm / (5.0 * reps),
           1e3 * cpu / (5.0 * reps));
}

static void bench_interactive(void) {
    int reps = getenv("BENCH_INTERACTIVE_REPS")
                   ? atoi(getenv("BENCH_INTERACTIVE_REPS"))
                   : 3;
    if (reps < 1) reps = 1;
    size_t nv = (size_t)IZ * IY * IX, nxy = (size_t)IY * IX;
    uint8_t *gt = malloc(nv), *p0 = malloc(nv), *img = malloc(nv);
    uint8_t *slice = malloc(nxy);
    double *dist = malloc(nv * sizeof *dist);
    if (!gt || !p0 || !img || !slice || !dist) die("out of memory", NULL);
    sf_rng_key key = sf_rng_key_make(18, 0, 1);
    size_t n_gt = 0;
    for (int z = 0; z < IZ; z++)
        for (int y = 0; y < IY; y++)
            for (int x = 0; x < IX; x++) {
                size_t i = ((size_t)z * IY + y) * IX + x;
                gt[i] = (uint8_t)blob(z, y, x, 0, 0, 0, 1.0, 0.0);
                p0[i] = (uint8_t)blob(z, y, x, 1, 3, -2, 0.93, 0.3);
                img[i] =
                    (uint8_t)((gt[i] ? 150 : 60) + (sf_rng_u64(key, i) & 31));
                n_gt += gt[i];
            }
    hx_grid g = {3, {IZ, IY, IX}, {2.0, 0.8, 0.8}};
    sf_err err;
    double t_edt = 0, t_met = 0, t_click = 0;
    hx_metrics m;
    hx_click_info ci;
    hx_surface *s = NULL;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        if (hx_edt_sq_mm(&g, gt, dist, &err) != SF_OK) die("edt", &err);
        double t1 = now_s();
        if (hx_metrics_compute(&g, gt, p0, &m, &err) != SF_OK)
            die("metrics", &err);
        double t2 = now_s();
        if (hx_click_next(&g, gt, p0, &ci, NULL, NULL, &err) != SF_OK)
            die("click", &err);
        double t3 = now_s();
        t_edt += t1 - t0;
        t_met += t2 - t1;
        t_click += t3 - t2;
    }
    if (hx_surface_compute(&g, gt, p0, &s, &err) != SF_OK) die("surface", &err);
    printf("interactive evaluation, synthetic %dx%dx%d volume (%.1f%% "
           "structure, %zu + %zu surface elements), %d reps:\n",
           IZ, IY, IX, 100.0 * n_gt / nv, s->n_gt, s->n_pred, reps);
    hx_surface_free(s);
    printf("  exact EDT of the whole volume (26.2 M voxels) %8.1f ms\n",
           1e3 * t_edt / reps);
    printf("  surface distances + all metrics               %8.1f ms "
           "(DSC %.3f NSD@2 %.3f HD95 %.2f mm)\n",
           1e3 * t_met / reps, m.dice, m.nsd_2mm, m.hd95);
    printf("  one corrective click                          %8.1f ms "
           "(component of %zu voxels, %zu ties)\n",
           1e3 * t_click / reps, ci.largest_size, ci.n_ties);

    /* 5-click sequences with the classical method, 3-D and one slice. */
    classical_ctx cc = {img, 3, IY, IX, slice, 0};
    hx_seq seq;
    double tp = 0, tm = 0, c0 = cpu_s();
    for (int r = 0; r < reps; r++) {
        if (hx_seq_run(&g, gt, p0, NULL, classical_step, &cc, &seq, &err) !=
            SF_OK)
            die("sequence", &err);
        for (int k = 1; k < seq.n_steps; k++) {
            tp += seq.step[k].t_predict_s;
            tm += seq.step[k].t_metrics_s;
        }
    }
    print_seq("5 clicks, 3-D (classical on the clicked slice)", &seq, reps, &tp,
              &tm, cpu_s() - c0);
    hx_grid g2 = {2, {IY, IX, 0}, {0.8, 0.8, 0}};
    size_t zm = 50 * nxy;
    classical_ctx c2 = {img + zm, 2, IY, IX, slice, 0};
    tp = tm = 0;
    c0 = cpu_s();
    for (int r = 0; r < reps; r++) {
        if (hx_seq_run(&g2, gt + zm, p0 + zm, NULL, classical_step, &c2, &seq,
                       &err) != SF_OK)
            die("sequence 2d", &err);
        for (int k = 1; k < seq.n_steps; k++) {
            tp += seq.step[k].t_predict_s;
            tm += seq.step[k].t_metrics_s;
        }
    }
    print_seq("5 clicks, one 512x512 slice (2-D rule)", &seq, reps, &tp, &tm,
              cpu_s() - c0);
    free(gt);
    free(p0);
    free(img);
    free(slice);
    free(dist);
}

int main(void) {
    bench_interactive();
    const char *sh = getenv("SF_SHARED");
    char rel[600], real[PATH_MAX], dir[64];
    snprintf(rel, sizeof rel, "%s/realdata/totalsegmentator",
             sh && *sh ? sh : "../shared");
    if (!realpath(rel, real)) {
        printf("bench_harness: skipped: %s not found (set SF_SHARED)\n", rel);
        return 0;
    }
    int reps = getenv("BENCH_REPS") ? atoi(getenv("BENCH_REPS")) : 20;
    if (reps < 1) reps = 1;
    if (!sf_test_mkdtemp(dir, sizeof dir, "bench_harness"))
        die("mkdtemp", NULL);
    char p[PATH_MAX + 64], a[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/example_ct_sm", dir);
    mkdir(p, 0755);
    snprintf(a, sizeof a, "%s/example_ct_sm.nii.gz", real);
    snprintf(p, sizeof p, "%s/example_ct_sm/ct.nii.gz", dir);
    if (symlink(a, p)) die("symlink", NULL);
    snprintf(a, sizeof a, "%s/example_seg_fast", real);
    snprintf(p, sizeof p, "%s/example_ct_sm/segmentations", dir);
    if (symlink(a, p)) die("symlink", NULL);

    sf_err err;
    const hx_dataset_ops *ds = hx_dataset_by_name("totalseg-ct");
    hx_case_list l;
    if (hx_dataset_list(ds, dir, &l, &err) != SF_OK || l.n != 1)
        die("list", &err);
    /* Read + canonical + preprocess + labels once (reported apart). */
    double t0 = now_s();
    hx_case_data *d = NULL;
    if (hx_case_load(ds, &l, &l.v[0], &d, &err) != SF_OK) die("load", &err);
    double t_load = now_s() - t0;
    hx_volume *v = NULL;
    if (hx_volume_read(l.v[0].image, &v, &err) != SF_OK ||
        hx_volume_canonical(v, &err) != SF_OK)
        die("read", &err);
    size_t nxy = (size_t)d->nx * d->ny, nvox = nxy * d->nz;
    uint8_t *img = malloc(nvox), *mask = malloc(nxy), *pred = malloc(nxy);
    sf_prompt_opts set[8];
    int n_set;
    if (sf_prompt_settings_parse("all", SF_PROMPT_RING_WIDTH_DEFAULT, set, 8,
                                 &n_set, &err) != SF_OK)
        die("settings", &err);
    hx_prep prep;
    hx_prep_default(&prep, HX_MODALITY_CT);
    long units = 0, clicks = 0;
    double t_prep = 0, t_units = 0, dsum = 0;
    for (int r = 0; r < reps; r++) {
        t0 = now_s();
        if (hx_preprocess_volume(v->data, v->nx, v->ny, v->nz, &prep, img,
                                 &err) != SF_OK)
            die("preprocess", &err);
        double t1 = now_s();
        t_prep += t1 - t0;
        for (int z = 0; z < d->nz; z++)
            for (int s = 0; s < d->n_structures; s++) {
                long gt = hx_case_mask(d, z, s, mask);
                if (gt < HX_MIN_PIXELS_DEFAULT) continue;
                units++;
                char tag[128];
                snprintf(tag, sizeof tag, "totalseg-ct/example_ct_sm/%s",
                         d->st[s].name);
                for (int k = 0; k < n_set; k++) {
                    sf_click c[2 * SF_PROMPT_MAX_CLICKS];
                    int nc;
                    sf_rng_key key = sf_prompt_key(
                        0, tag, (uint64_t)z,
                        (uint64_t)set[k].n_pos * 65536u + set[k].n_neg);
                    if (sf_prompts_simulate(mask, d->nx, d->ny, &set[k], key, c,
                                            &nc, &err) != SF_OK)
                        die("prompts", &err);
                    clicks += nc;
                    memset(pred, 0, nxy);
                    memcpy(pred + 1, mask, nxy - 1);
                    dsum += hx_dice(pred, mask, nxy, NULL);
                }
            }
        t_units += now_s() - t1;
    }
    double per_rep_units = (double)units / reps;
    printf("harness on the real CT sample (%dx%dx%d, %d structures), %d "
           "reps:\n",
           d->nx, d->ny, d->nz, d->n_structures, reps);
    printf("  read + canonical + preprocess + labels (once)  %8.1f ms\n",
           1e3 * t_load);
    printf("  preprocessing (CT window) per volume           %8.2f ms\n",
           1e3 * t_prep / reps);
    printf("  prompting (4 settings) + Dice per unit         %8.1f us\n",
           1e6 * t_units / units);
    printf("  units (slice x structure) per volume           %8.0f\n",
           per_rep_units);
    printf("  throughput: %.0f slices/s (preprocessing + prompting + Dice, "
           "model excluded; %ld clicks, mean Dice %.3f)\n",
           units / (t_prep + t_units), clicks, dsum / (units * n_set));
    /* The driver's interactive protocols, classical method. */
    for (int pr = HX_PROTOCOL_CVPR25; pr <= HX_PROTOCOL_NOC; pr++) {
        hx_eval_opts o;
        hx_eval_opts_init(&o);
        char db[600];
        snprintf(db, sizeof db, "%s/ix_%d.sqlite", dir, pr);
        o.ds = ds;
        o.data_root = dir;
        o.method = hx_method_by_name("classical");
        o.protocol = pr;
        o.out_db = db;
        hx_eval_stats st;
        t0 = now_s();
        if (hx_eval_run(&o, &st, &err) != SF_OK) die("eval protocol", &err);
        double t = now_s() - t0;
        printf("  eval --protocol %-6s (classical, driver + DB): %ld units, "
               "%ld click steps, %.1f ms per unit (method %.1f ms); per "
               "step %.2f ms, of which the method %.2f ms\n",
               hx_protocol_name(pr), st.n_units, st.n_predictions,
               1e3 * t / st.n_units, 1e3 * st.model_seconds / st.n_units,
               1e3 * t / st.n_predictions,
               1e3 * st.model_seconds / st.n_predictions);
    }
    free(img);
    free(mask);
    free(pred);
    hx_volume_free(v);
    hx_case_data_free(d);
    hx_case_list_free(&l);
    if (sf_test_rmtree(dir) != 0) return 1;
    return 0;
}
