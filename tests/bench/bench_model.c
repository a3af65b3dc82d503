/*
 * bench_model - `make bench`: libsam on a vit_b-shaped model with random
 * weights (sam_model_new): image-encoder forward at 1024x1024, mask
 * decoding per prompt, the whole predict call per prompt, peak RSS.
 * Runs itself twice, with OPENBLAS_NUM_THREADS=1 and with it unset
 * (OpenBLAS reads it at start-up, hence a fresh process each).
 *   BENCH_REPS=N     encoder forwards timed (default 3, after 1 warm-up)
 *   BENCH_PROMPTS=N  prompts timed (default 20)
 *   BENCH_DEVICE=cpu|cuda, BENCH_MODEL=vit_b|vit_l|vit_h|FILE.yaml
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sam_int.h"

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

static int child(void) {
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
    return 0;
}

int main(int argc, char **argv) {
    (void)argc;
    if (getenv("SAM_BENCH_CHILD")) return child();
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
    return rc;
}
