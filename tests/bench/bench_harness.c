/*
 * bench_harness.c - throughput of the evaluation harness without the
 * model: MedSAM preprocessing of the volume + click simulation (every
 * default setting) + Dice, in units (slice x structure) per second, on
 * the real CT sample (../shared/realdata/totalsegmentator: example_ct_sm
 * with example_seg_fast/, TotalSegmentator V2 layout made with symlinks).
 * The prediction scored is the ground truth shifted by one pixel (a
 * stand-in: model time is excluded by design).
 *
 *   BENCH_REPS=N   repetitions (default 20); SF_SHARED as in the tests.
 * Prints a skip line and exits 0 when ../shared is absent.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "eval.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const sf_err *e) {
    fprintf(stderr, "bench_harness: %s: %s\n", what, e ? e->msg : "");
    exit(1);
}

int main(void) {
    const char *sh = getenv("SF_SHARED");
    char rel[600], real[PATH_MAX], dir[] = "/tmp/sf_bench_harness_XXXXXX";
    snprintf(rel, sizeof rel, "%s/realdata/totalsegmentator",
             sh && *sh ? sh : "../shared");
    if (!realpath(rel, real)) {
        printf("bench_harness: skipped: %s not found (set SF_SHARED)\n", rel);
        return 0;
    }
    int reps = getenv("BENCH_REPS") ? atoi(getenv("BENCH_REPS")) : 20;
    if (reps < 1) reps = 1;
    if (!mkdtemp(dir)) die("mkdtemp", NULL);
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
                    if (sf_prompts_simulate(mask, d->nx, d->ny, &set[k], key,
                                            c, &nc, &err) != SF_OK)
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
    free(img);
    free(mask);
    free(pred);
    hx_volume_free(v);
    hx_case_data_free(d);
    hx_case_list_free(&l);
    snprintf(p, sizeof p, "rm -rf '%s'", dir);
    if (system(p) != 0) return 1;
    return 0;
}
