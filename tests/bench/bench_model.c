/*
 * bench_model - `make bench`: libsam on a vit_b-shaped model with random
 * weights (sam_model_new): image-encoder forward at 1024x1024, mask
 * decoding per prompt, the whole predict call per prompt, peak RSS.
 * Runs itself twice, with OPENBLAS_NUM_THREADS=1 and with it unset
 * (OpenBLAS reads it at start-up, hence a fresh process each).
 *   BENCH_REPS=N     encoder forwards timed (default 3, after 1 warm-up)
 *   BENCH_PROMPTS=N  prompts timed (default 20)
 *   BENCH_DEVICE=cpu|cuda, BENCH_MODEL=vit_b|vit_l|vit_h|FILE.yaml
 * Then training (model/train.h, a fresh process, OPENBLAS_NUM_THREADS=1):
 * steps/s and images/s (batch 1: one image per step) of the cpu-tiny
 * profile (schemas/train/cpu-tiny.yaml, 128 px corpus, trained from
 * scratch) and of a vit_b-shaped model at 1024 px with the image encoder
 * frozen + its embedding cache (steps after every image was encoded once)
 * and trained in full. Timed between progress callbacks, so validation and
 * checkpointing are excluded.
 *   BENCH_TRAIN=0        skip training; BENCH_TRAIN_VITB=0 skip vit_b
 *   BENCH_TRAIN_STEPS=N  timed tiny steps (default 40); vit_b full: 2
 * SAM 2 in the same process as SAM 1 (same threads), random weights:
 * Hiera image encoder at its image_size, mask decoder per click, and the
 * video predictor on a synthetic volume of 512 x 512 slices (one click on
 * slice 0, propagated): seconds per propagated slice, per slice once the
 * memory bank is full, and the cost of a 100-slice volume against SAM 1
 * run slice by slice (encoder + one prompt per slice).
 *   BENCH_SAM2=0 skip; BENCH_SAM2_MODEL=sam2.1_hiera_t|...|FILE.yaml
 *   BENCH_SLICES=N       slices propagated (default 10)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tmpdir.h"
#include "sam_int.h"
#include "sf.h"
#include "train.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int env_int(const char *k, int def) {
    const char *v = getenv(k);
    return v && atoi(v) > 0 ? atoi(v) : def;
}

static void die(const char *what, const sf_err *e) {
    fprintf(stderr, "bench_model: %s: %s\n", what, e->msg);
    exit(1);
}

typedef struct slice_times {
    double *t;
    int n;
} slice_times;

static int on_slice(void *ctx, int frame, const float *logits, float score,
                    double seconds) {
    (void)logits, (void)score;
    slice_times *st = ctx;
    if (frame >= 0 && frame < st->n) st->t[frame] = seconds;
    return 0;
}

/* SAM 2 with the same threads as the SAM 1 figures above; `sam1_slice` is
 * SAM 1's encoder + one predict, the cost of one slice done slice by
 * slice. */
static void sam2_bench(int reps, int n_prompts, int device, double sam1_slice) {
    const char *spec = getenv("BENCH_SAM2_MODEL") ? getenv("BENCH_SAM2_MODEL")
                                                  : "sam2.1_hiera_t";
    int n_slices = env_int("BENCH_SLICES", 10), side = 512;
    sf_err e = {0};
    sam2_config c;
    if (sam2_config_load(spec, &c, &e)) die("sam2 config", &e);
    sam2_model *m = NULL;
    double t0 = now_s();
    if (sam2_model_new(&c, device, 0, &m, &e)) die("sam2 model", &e);
    double t_build = now_s() - t0;
    int S = c.image_size;
    uint8_t *img = malloc((size_t)S * S * 3);
    for (size_t i = 0; i < (size_t)S * S * 3; i++)
        img[i] = (uint8_t)((i * 2654435761u) >> 24);
    if (sam2_model_set_image(m, img, S, S, 3, &e)) die("sam2 set_image", &e);
    double best = 1e30, sum = 0;
    for (int r = 0; r < reps; r++) {
        t0 = now_s();
        if (sam2_model_set_image(m, img, S, S, 3, &e))
            die("sam2 set_image", &e);
        double t = now_s() - t0;
        sum += t;
        if (t < best) best = t;
    }
    float pt[2] = {100, 100};
    int lab = 1;
    sam_prompt p = {
        .n_points = 1, .points = pt, .labels = &lab, .multimask = 1};
    if (sam2__model_decode_only(m, &p, &e)) die("sam2 decode", &e);
    t0 = now_s();
    for (int i = 0; i < n_prompts; i++) {
        pt[0] = (float)(37 * i % S);
        pt[1] = (float)(101 * i % S);
        if (sam2__model_decode_only(m, &p, &e)) die("sam2 decode", &e);
    }
    double t_dec = (now_s() - t0) / n_prompts;
    /* a volume of smooth 512 x 512 slices with a drifting bright disc */
    size_t npx = (size_t)side * side;
    uint8_t *vol = malloc(npx * (size_t)n_slices);
    for (int k = 0; k < n_slices; k++)
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++) {
                int dx = x - 256 - 3 * k, dy = y - 240;
                vol[(size_t)k * npx + (size_t)y * side + x] =
                    (uint8_t)(dx * dx + dy * dy < 90 * 90
                                  ? 200
                                  : 60 + ((x * 7 + y * 13 + k) & 31));
            }
    sam2_video *v = NULL;
    if (sam2_video_new(m, vol, n_slices, side, side, 1, &v, &e))
        die("sam2 video", &e);
    pt[0] = 256;
    pt[1] = 240;
    p.multimask = 0;
    t0 = now_s();
    if (sam2_video_add_points(v, 0, &p, &e)) die("sam2 add_points", &e);
    double t_prompt = now_s() - t0;
    slice_times st = {calloc((size_t)n_slices, sizeof(double)), n_slices};
    if (sam2_video_propagate(v, 0, -1, 0, on_slice, &st, &e))
        die("sam2 propagate", &e);
    double prop = 0, full = 0;
    int n_full = 0;
    for (int k = 1; k < n_slices; k++) {
        prop += st.t[k];
        if (k >= c.num_maskmem) { /* the bank holds num_maskmem frames */
            full += st.t[k];
            n_full++;
        }
    }
    double per = n_slices > 1 ? prop / (n_slices - 1) : 0;
    double per_full = n_full ? full / n_full : per;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%s (SAM 2, Hiera embed_dim %d, %d memory-attention layers, "
           "%d memory frames), same threads\n",
           spec, c.image_encoder.trunk.embed_dim, c.memory_attention.num_layers,
           c.num_maskmem);
    printf("  build (random init)        %8.2f s\n", t_build);
    printf("  image encoder %dx%d      %8.2f s  (best of %d; mean %.2f s)\n", S,
           S, best, reps, sum / reps);
    printf("  mask decoder per click     %8.1f ms (prompt encoder + decoder, "
           "3 masks)\n",
           1e3 * t_dec);
    printf("  prompted slice (512x512)   %8.2f s  (encoder + decoder)\n",
           t_prompt);
    printf("  propagation per slice      %8.2f s  (mean of %d; %.2f s with "
           "the bank full, %d slices)\n",
           per, n_slices - 1, per_full, n_full);
    printf("  100-slice volume           %8.1f s  SAM 2 propagation vs "
           "%.1f s SAM 1 slice by slice (encoder + 1 prompt each)\n",
           t_prompt + 99 * per_full, 100 * sam1_slice);
    printf("  peak RSS                   %8.0f MiB\n", ru.ru_maxrss / 1024.0);
    fflush(stdout);
    free(st.t);
    sam2_video_free(v);
    free(vol);
    free(img);
    sam2_model_free(m);
}

static int child(void) {
    sf_tune_allocator(); /* as the synthfm binary does */
    const char *spec = getenv("BENCH_MODEL") ? getenv("BENCH_MODEL") : "vit_b";
    int device = sam_device_parse(
        getenv("BENCH_DEVICE") ? getenv("BENCH_DEVICE") : "cpu");
    int reps = env_int("BENCH_REPS", 3),
        n_prompts = env_int("BENCH_PROMPTS", 20);
    const char *ob = getenv("OPENBLAS_NUM_THREADS");
    sf_err e = {0};
    sam_config c;
    if (sam_config_load(spec, &c, &e)) die("config", &e);
    sam_model *m = NULL;
    double t0 = now_s();
    if (sam_model_new(&c, device, 0, &m, &e)) die("model", &e);
    double t_build = now_s() - t0;

    int S = c.image_size;
    uint8_t *img = malloc((size_t)S * S * 3);
    for (size_t i = 0; i < (size_t)S * S * 3; i++)
        img[i] = (uint8_t)((i * 2654435761u) >> 24);
    /* warm-up, then timed forwards (set_image = preprocess + encoder) */
    if (sam_model_set_image(m, img, S, S, 3, &e)) die("set_image", &e);
    double best = 1e30, sum = 0;
    for (int r = 0; r < reps; r++) {
        t0 = now_s();
        if (sam_model_set_image(m, img, S, S, 3, &e)) die("set_image", &e);
        double t = now_s() - t0;
        sum += t;
        if (t < best) best = t;
    }
    /* prompts: one positive click each, multimask (the common case) */
    float pt[2];
    int lab = 1;
    sam_prompt p = {
        .n_points = 1, .points = pt, .labels = &lab, .multimask = 1};
    pt[0] = pt[1] = 100;
    if (sam__model_decode_only(m, &p, &e)) die("decode", &e); /* warm-up */
    t0 = now_s();
    for (int i = 0; i < n_prompts; i++) {
        pt[0] = (float)(37 * i % S);
        pt[1] = (float)(101 * i % S);
        if (sam__model_decode_only(m, &p, &e)) die("decode", &e);
    }
    double t_dec = (now_s() - t0) / n_prompts;
    t0 = now_s();
    for (int i = 0; i < n_prompts; i++) {
        sam_prediction *r = NULL;
        pt[0] = (float)(53 * i % S);
        pt[1] = (float)(29 * i % S);
        if (sam_model_predict(m, &p, &r, &e)) die("predict", &e);
        sam_prediction_free(r);
    }
    double t_pred = (now_s() - t0) / n_prompts;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%s (%s, %d encoder layers, dim %d), device %s, "
           "OPENBLAS_NUM_THREADS=%s, "
           "%ld cores\n",
           spec, sam_preprocess_name(c.preprocess), c.encoder_depth,
           c.encoder_embed_dim, device == SAM_DEVICE_CUDA ? "cuda" : "cpu",
           ob ? ob : "(unset)", sysconf(_SC_NPROCESSORS_ONLN));
    printf("  build (random init)        %8.2f s\n", t_build);
    printf("  image encoder %dx%d      %8.2f s  (best of %d; mean %.2f s)\n", S,
           S, best, reps, sum / reps);
    printf("  mask decoder per prompt    %8.1f ms (prompt encoder + decoder, "
           "3 masks)\n",
           1e3 * t_dec);
    printf("  predict per prompt         %8.1f ms (+ postprocess to %dx%d)\n",
           1e3 * t_pred, S, S);
    printf("  peak RSS                   %8.0f MiB\n", ru.ru_maxrss / 1024.0);
    fflush(stdout);
    sam_model_free(m);
    free(img);
    const char *b2 = getenv("BENCH_SAM2");
    if (!b2 || strcmp(b2, "0"))
        sam2_bench(reps, n_prompts, device, best + t_pred);
    return 0;
}

/* ---------------------------------------------------------------- train */

typedef struct timing {
    long from, to; /* steps between which time is taken */
    double t_from, t_to;
} timing;

static int on_step(void *ctx, const sam_train_progress *p) {
    timing *t = ctx;
    if (p->step == t->from) t->t_from = now_s();
    if (p->step == t->to) t->t_to = now_s();
    return 0;
}

static void make_corpus(const char *dir, int size, uint64_t seed, int n) {
    sf_config c;
    sf_err e = {0};
    if (sf_config_default(&c, &e)) die("factory config", &e);
    c.image_size = size;
    c.mode = SF_MODE_SHAPE;
    sf_generate_opts o = {0};
    o.out_dir = dir;
    o.seed = seed;
    o.count = (uint64_t)n;
    o.shard_count = 1;
    o.threads = 1;
    o.write_files = 1;
    sf_generate_stats st;
    sf_corpus_result res;
    if (sf_corpus_generate(&c, &o, &st, &res, &e)) die("corpus", &e);
}

/* Train `steps` steps (one epoch) with config text `cfg`; time steps
 * (from, to]. Prints one line. */
static void train_case(const char *tmp, const char *name, const char *cfg,
                       const char *train_dir, const char *val_dir, long steps,
                       long from) {
    char cfg_path[600], run[600];
    snprintf(cfg_path, sizeof cfg_path, "%s/%s.yaml", tmp, name);
    snprintf(run, sizeof run, "%s/run-%s", tmp, name);
    FILE *f = fopen(cfg_path, "w");
    if (!f) exit(1);
    fprintf(f,
            "%sepochs: 1\nimages_per_epoch: %ld\nval_max_images: 1\n"
            "val_instances_per_image: 1\n",
            cfg, steps);
    fclose(f);
    const char *corpora[1] = {train_dir};
    timing t = {from, steps - 1, 0, 0};
    sam_train_opts o = {0};
    o.config = cfg_path;
    o.corpora = corpora;
    o.n_corpora = 1;
    o.val_dir = val_dir;
    o.out_dir = run;
    o.device = -1;
    o.progress = on_step;
    o.progress_ctx = &t;
    sam_train_result r;
    sf_err e = {0};
    if (sam_train_run(&o, &r, &e)) die(name, &e);
    double sps = (double)(t.to - t.from) / (t.t_to - t.t_from);
    printf("  %-34s %8.3f steps/s %8.3f images/s  (%ld steps timed, "
           "%ld encoder passes in all)\n",
           name, sps, sps, t.to - t.from, r.encoder_calls);
    fflush(stdout);
    if (sf_test_rmtree(run))
        fprintf(stderr, "bench_model: cannot remove %s\n", run);
}

static int train_child(void) {
    char tmp[64];
    if (!sf_test_mkdtemp(tmp, sizeof tmp, "bench_train")) return 1;
    char tr[600], va[600], tr1k[600], va1k[600];
    snprintf(tr, sizeof tr, "%s/train128", tmp);
    snprintf(va, sizeof va, "%s/val128", tmp);
    snprintf(tr1k, sizeof tr1k, "%s/train1024", tmp);
    snprintf(va1k, sizeof va1k, "%s/val1024", tmp);
    long steps = env_int("BENCH_TRAIN_STEPS", 40);
    printf("training (batch 1: images/s = steps/s), device cpu, threads: "
           "cpu-tiny's (its threads: key), vit_b libtorch's default; "
           "%ld cores\n",
           sysconf(_SC_NPROCESSORS_ONLN));
    make_corpus(tr, 128, 1, 16); /* the profile's image_size */
    make_corpus(va, 128, 2, 1);
    /* the cpu-tiny profile: its config file with our epoch settings
     * appended (later keys win) */
    FILE *f = fopen("schemas/train/cpu-tiny.yaml", "r");
    static char tiny[8192];
    size_t n = f ? fread(tiny, 1, sizeof tiny - 1, f) : 0;
    if (f) fclose(f);
    tiny[n] = 0;
    if (!n) {
        fprintf(stderr, "bench_model: schemas/train/cpu-tiny.yaml not "
                        "readable (run from the repository root)\n");
        return 1;
    }
    train_case(tmp, "cpu-tiny (full, from scratch)", tiny, tr, va, steps + 2,
               1);
    const char *vb = getenv("BENCH_TRAIN_VITB");
    if (!vb || strcmp(vb, "0")) {
        make_corpus(tr1k, 1024, 1, 3);
        make_corpus(va1k, 1024, 2, 1);
        /* frozen + cache: 3 images encoded in the first 3 steps, then
         * decoder-only steps 4..11 */
        train_case(tmp, "vit_b 1024 frozen encoder + cache",
                   "model: vit_b\nfreeze_image_encoder: true\n", tr1k, va1k, 12,
                   4);
        train_case(tmp, "vit_b 1024 full", "model: vit_b\n", tr1k, va1k, 3, 1);
    }
    return sf_test_rmtree(tmp) ? 1 : 0;
}

int main(int argc, char **argv) {
    (void)argc;
    const char *child_kind = getenv("SAM_BENCH_CHILD");
    if (child_kind && !strcmp(child_kind, "train")) return train_child();
    if (child_kind) return child();
    const char *modes[2] = {"1", NULL};
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) {
            setenv("SAM_BENCH_CHILD", "1", 1);
            if (modes[i])
                setenv("OPENBLAS_NUM_THREADS", modes[i], 1);
            else
                unsetenv("OPENBLAS_NUM_THREADS");
            execv("/proc/self/exe", argv);
            _exit(127);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) rc = 1;
    }
    const char *bt = getenv("BENCH_TRAIN");
    if (bt && !strcmp(bt, "0")) return rc;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        setenv("SAM_BENCH_CHILD", "train", 1);
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) rc = 1;
    return rc;
}
