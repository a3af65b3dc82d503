/*
 * bench_factory - `make bench`: factory throughput at 1024x1024.
 * Pairs/s for each mode, generation only and with PNG writing, one thread
 * and all threads; then ms per call of the hot kernels.
 * Wall-clock figures depend on what else runs on the machine, so each is
 * paired with the CPU time per pair (all threads, getrusage), and the
 * load average is printed: on a shared machine, cores / (CPU s per pair)
 * estimates what an idle one would do when the work scales.
 *   BENCH_COUNT=N  samples per measurement (default 48)
 *   BENCH_QUICK=1  mode `both` only, no corpus line, no kernels
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../tmpdir.h"
#include "sf_int.h"

typedef struct rate {
    double pairs_s; /* wall clock */
    double cpu_ms;  /* CPU time (user + system, all threads) per pair */
} rate;

static double cpu_s(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec +
           (double)u.ru_stime.tv_sec + 1e-6 * (double)u.ru_stime.tv_usec;
}

static rate pairs_per_s(const sf_config *c, int threads, int write,
                        uint64_t count) {
    char dir[64];
    rate r = {-1, -1};
    if (write && !sf_test_mkdtemp(dir, sizeof dir, "bench")) return r;
    sf_generate_opts o = {0};
    o.out_dir = dir;
    o.seed = 1;
    o.count = count;
    o.shard_count = 1;
    o.threads = threads;
    o.write_files = write;
    sf_generate_stats st;
    sf_err e = {0};
    double c0 = cpu_s();
    int rc = sf_generate(c, &o, &st, &e);
    double c1 = cpu_s();
    if (write && sf_test_rmtree(dir)) fprintf(stderr, "cleanup failed\n");
    if (rc) {
        fprintf(stderr, "bench: %s\n", e.msg);
        exit(1);
    }
    r.pairs_s = st.n_generated / st.seconds;
    r.cpu_ms = 1000.0 * (c1 - c0) / (double)st.n_generated;
    return r;
}

/* Full corpus: files + manifest rows + sync + derived files. */
static double corpus_pairs_per_s(const sf_config *c, int threads,
                                 uint64_t count) {
    char dir[64];
    if (!sf_test_mkdtemp(dir, sizeof dir, "bench")) return -1;
    char out[64];
    snprintf(out, sizeof out, "%s/c", dir);
    sf_generate_opts o = {0};
    o.out_dir = out;
    o.seed = 1;
    o.count = count;
    o.shard_count = 1;
    o.threads = threads;
    sf_generate_stats st;
    sf_corpus_result res;
    sf_err e = {0};
    double t0 = sf_clock_s();
    int rc = sf_corpus_generate(c, &o, &st, &res, &e);
    double t = sf_clock_s() - t0;
    if (sf_test_rmtree(dir)) fprintf(stderr, "cleanup failed\n");
    if (rc) {
        fprintf(stderr, "bench: %s\n", e.msg);
        exit(1);
    }
    return st.n_generated / t;
}

static double ms_per(double t0, int reps) {
    return 1000.0 * (sf_clock_s() - t0) / reps;
}

int main(void) {
    sf_tune_allocator(); /* as the CLI */
    sf_config c;
    sf_err e = {0};
    if (sf_config_default(&c, &e)) return 1;
    const char *s = getenv("BENCH_COUNT");
    uint64_t count = s ? strtoull(s, NULL, 10) : 48;
    int all = sf__ncores();
    int quick = getenv("BENCH_QUICK") && atoi(getenv("BENCH_QUICK"));
    double la[3] = {0, 0, 0};
    if (getloadavg(la, 3) < 0) la[0] = la[1] = la[2] = -1;
    printf("factory throughput, %dx%d, %llu samples per figure, %d cores, load "
           "average"
           " %.2f %.2f %.2f\n",
           c.image_size, c.image_size, (unsigned long long)count, all, la[0],
           la[1], la[2]);
    printf("wall pairs/s [CPU ms per pair, all threads]\n");
    printf("%-9s %18s %18s %18s %18s\n", "mode", "gen 1 thr", "gen all thr",
           "+png 1 thr", "+png all thr");
    for (int mode = 0; mode < 3; mode++) {
        if (quick && mode != SF_MODE_BOTH) continue;
        c.mode = mode;
        rate r[4] = {
            pairs_per_s(&c, 1, 0, count), pairs_per_s(&c, all, 0, count),
            pairs_per_s(&c, 1, 1, count), pairs_per_s(&c, all, 1, count)};
        printf("%-9s", sf_mode_name(mode));
        for (int k = 0; k < 4; k++)
            printf(" %9.1f [%5.1f]", r[k].pairs_s, r[k].cpu_ms);
        printf("\n");
        if (mode == SF_MODE_BOTH) {
            /* the CPU-bound estimate for an idle machine */
            double cg = r[1].cpu_ms > r[0].cpu_ms ? r[1].cpu_ms : r[0].cpu_ms;
            double cw = r[3].cpu_ms > r[2].cpu_ms ? r[3].cpu_ms : r[2].cpu_ms;
            printf("%-9s idle-machine estimate, %d threads (cores x 1000 / CPU "
                   "ms per pair,"
                   " the larger of the two): gen %.1f, +png %.1f pairs/s\n",
                   "", all, all * 1000.0 / cg, all * 1000.0 / cw);
        }
    }
    if (quick) return 0;
    c.mode = SF_MODE_BOTH;
    double plain = pairs_per_s(&c, all, 1, count).pairs_s;
    double corpus = corpus_pairs_per_s(&c, all, count);
    printf("\ncorpus (manifest, sync, SHA256SUMS, card, preview), both, all "
           "threads: %.1f pairs/s"
           " = %.0f%% of plain PNG writing (%.1f pairs/s)\n",
           corpus, 100.0 * corpus / plain, plain);

    /* Kernels, one thread, 1024x1024. */
    const int n = 1024, reps = 10;
    sf_imgf im;
    if (sf__imgf_alloc(&im, n, n, 0.5f)) return 1;
    printf("\nkernels at %dx%d, one thread (ms per call)\n", n, n);
    for (int m = 0; m < SF_NOISE_COUNT; m++) {
        sf_noise_params p;
        sf_draw d;
        sf__draw_init(&d, 1, 0, 99);
        sf__noise_draw(&c.noise.model[m], m, &d, &p);
        double t0 = sf_clock_s();
        for (int r = 0; r < reps; r++)
            sf__noise_apply(&p, &im, NULL, 0,
                            sf_rng_key_make(1, (uint64_t)r, 5));
        printf("  noise %-10s %8.2f\n", sf_noise_name(m), ms_per(t0, reps));
        for (size_t i = 0; i < (size_t)n * n; i++)
            im.px[i] = 0.5f;
    }
    double sig[] = {1.0, 2.5, 8.0};
    for (int k = 0; k < 3; k++) {
        double t0 = sf_clock_s();
        for (int r = 0; r < reps; r++)
            sf__blur_gauss(&im, sig[k]);
        double fast = ms_per(t0, reps);
        t0 = sf_clock_s();
        sf__blur_gauss_direct(&im, sig[k]);
        double direct = ms_per(t0, 1);
        printf("  blur sigma %-5.1f %8.2f  (direct convolution %.2f, %.1fx)\n",
               sig[k], fast, direct, direct / fast);
    }
    uint16_t *lab = malloc(sizeof *lab * (size_t)n * n);
    int k = 0;
    for (int mod = 0; mod < 2; mod++) {
        double t0 = sf_clock_s();
        for (int r = 0; r < reps; r++) {
            sf_buf j = {0};
            if (mod == 0)
                sf__shape_generate(&c, 1, (uint64_t)r, NULL, &im, lab, &k, &j,
                                   &e);
            else
                sf__boundary_generate(&c, 1, (uint64_t)r, &im, lab, &k, &j, &e);
            sf_buf_release(&j);
        }
        printf("  module %-9s %8.2f\n", mod ? "boundary" : "shape",
               ms_per(t0, reps));
    }
    uint8_t *u8 = malloc((size_t)n * n), *png;
    size_t np;
    sf__imgf_to_u8(&im, u8);
    double t0 = sf_clock_s();
    for (int r = 0; r < reps; r++) {
        sf__png_encode(u8, n, n, 8, 1, c.png_level, &png, &np, &e);
        free(png);
    }
    printf("  png encode 8-bit  %8.2f  (%zu bytes)\n", ms_per(t0, reps), np);
    t0 = sf_clock_s();
    for (int r = 0; r < reps; r++) {
        sf__png_encode(lab, n, n, 16, 1, c.png_level, &png, &np, &e);
        free(png);
    }
    printf("  png encode 16-bit %8.2f  (%zu bytes)\n", ms_per(t0, reps), np);
    free(u8);
    free(lab);
    sf__imgf_release(&im);
    return 0;
}
