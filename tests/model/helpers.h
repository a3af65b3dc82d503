/*
 * helpers.h - shared by the model tests: where the golden outputs live,
 * die-on-error loaders (tests only) and difference statistics.
 */
#ifndef TESTS_MODEL_HELPERS_H
#define TESTS_MODEL_HELPERS_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sam_int.h"

/* The tiny-model config, in the reference's parameter names. */
#define SAM_TINY_YAML "tests/model/sam_tiny.yaml"

/* $SF_SHARED/golden/sam_tiny (SF_SHARED defaults to ../shared, relative to
 * the repository root the tests run from); NULL when absent. */
static inline const char *golden_dir(void) {
    static char dir[1024];
    const char *shared = getenv("SF_SHARED");
    snprintf(dir, sizeof dir, "%s/golden/sam_tiny",
             shared && *shared ? shared : "../shared");
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/ckpt.pth", dir);
    struct stat st;
    return stat(probe, &st) == 0 ? dir : NULL;
}

#define REQUIRE_GOLDEN(dir)                                                    \
    const char *dir = golden_dir();                                            \
    if (!dir) {                                                                \
        cr_skip_test("the SAM parity set golden/sam_tiny (42 MB: outputs of "  \
                     "the reference PyTorch code) is not in the repository: "  \
                     "set SF_SHARED to the project's shared/ folder");         \
        return;                                                                \
    }

static inline sam_npy *golden_npy(const char *dir, const char *name) {
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    sam_npy *a = NULL;
    sf_err e = {0};
    int rc = sam_npy_read(p, &a, &e);
    cr_assert_eq(rc, SF_OK, "reading %s: %s", p, e.msg);
    return a;
}

static inline sam_config tiny_config(void) {
    sam_config c;
    sf_err e = {0};
    int rc = sam_config_load(SAM_TINY_YAML, &c, &e);
    cr_assert_eq(rc, SF_OK, "%s: %s %s", SAM_TINY_YAML, e.where, e.msg);
    return c;
}

static inline sam_model *golden_model(const char *dir) {
    sam_config c = tiny_config();
    char p[1100];
    snprintf(p, sizeof p, "%s/ckpt.pth", dir);
    sam_model *m = NULL;
    sf_err e = {0};
    int rc = sam_model_load(p, &c, SAM_DEVICE_CPU, &m, &e);
    cr_assert_eq(rc, SF_OK, "loading %s: %s", p, e.msg);
    return m;
}

static inline double max_abs_diff(const float *a, const float *b, int64_t n,
                                  double *mean) {
    double mx = 0, sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        sum += d;
        if (d > mx || isnan(d)) mx = isnan(d) ? INFINITY : d;
    }
    if (mean) *mean = n ? sum / (double)n : 0;
    return mx;
}

/* A small random-weight model (fast): 64 px input, 4x4 embedding grid. */
static inline sam_config small_config(void) {
    sam_config c;
    sam_config_preset("vit_b", &c, NULL);
    c.image_size = 64;
    c.patch_size = 16;
    c.encoder_embed_dim = 32;
    c.encoder_depth = 2;
    c.encoder_num_heads = 2;
    c.n_encoder_global_attn_indexes = 1;
    c.encoder_global_attn_indexes[0] = 1;
    c.window_size = 3; /* 4 is not a multiple of 3: exercises padding */
    c.prompt_embed_dim = 32;
    c.decoder_mlp_dim = 64;
    c.iou_head_hidden_dim = 32;
    return c;
}

static inline sam_model *small_model(uint64_t seed) {
    sam_config c = small_config();
    sam_model *m = NULL;
    sf_err e = {0};
    int rc = sam_model_new(&c, SAM_DEVICE_CPU, seed, &m, &e);
    cr_assert_eq(rc, SF_OK, "sam_model_new: %s", e.msg);
    return m;
}

/* A deterministic test image (ny, nx, 3). */
static inline uint8_t *test_image(int nx, int ny) {
    uint8_t *px = malloc((size_t)nx * ny * 3);
    cr_assert(px);
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++)
            for (int c = 0; c < 3; c++)
                px[((size_t)y * nx + x) * 3 + c] =
                    (uint8_t)((x * 7 + y * 3 + c * 50 +
                               ((x - nx / 2) * (x - nx / 2) +
                                            (y - ny / 2) * (y - ny / 2) <
                                        (nx * ny) / 16
                                    ? 90
                                    : 0)) &
                              255);
    return px;
}

#endif
