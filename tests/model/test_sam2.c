/*
 * SAM 2: configs, checkpoints, and parity with the official
 * facebookresearch/sam2 code on ../shared/golden/sam2_tiny (README there:
 * files, shapes, the tolerance table, the bfloat16 rule for memory files
 * and the near-zero rule for masks). Every array of the golden set is
 * compared; each comparison logs its max |difference| and the tolerance.
 */
#include <dirent.h>

#include "helpers.h"

#define SAM2_TINY_YAML "tests/model/sam2_tiny.yaml"

/* $SF_SHARED/golden/sam2_tiny, or NULL when absent. */
static const char *sam2_golden_dir(void) {
    static char dir[1024];
    const char *shared = getenv("SF_SHARED");
    snprintf(dir, sizeof dir, "%s/golden/sam2_tiny",
             shared && *shared ? shared : "../shared");
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/ckpt.pth", dir);
    struct stat st;
    return stat(probe, &st) == 0 ? dir : NULL;
}

#define REQUIRE_SAM2_GOLDEN(dir)                                               \
    const char *dir = sam2_golden_dir();                                       \
    if (!dir) {                                                                \
        cr_skip_test("the SAM 2 parity set golden/sam2_tiny (58 MB: outputs "  \
                     "of the reference PyTorch code) is not in the "           \
                     "repository: set SF_SHARED to the project's shared/ "     \
                     "folder");                                                \
        return;                                                                \
    }

static sam2_config tiny2_config(void) {
    sam2_config c;
    sf_err e = {0};
    int rc = sam2_config_load(SAM2_TINY_YAML, &c, &e);
    cr_assert_eq(rc, SF_OK, "%s: %s %s", SAM2_TINY_YAML, e.where, e.msg);
    return c;
}

static sam2_model *golden2_model(const char *dir) {
    sam2_config c = tiny2_config();
    char p[1100];
    snprintf(p, sizeof p, "%s/ckpt.pth", dir);
    sam2_model *m = NULL;
    sf_err e = {0};
    int rc = sam2_model_load(p, &c, SAM_DEVICE_CPU, &m, &e);
    cr_assert_eq(rc, SF_OK, "loading %s: %s", p, e.msg);
    return m;
}

static int file_exists(const char *dir, const char *name) {
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

static int same_numel_shape(const sam_npy *a, const sam_npy *b) {
    return a->numel == b->numel;
}

/* max |mine - ref| over float arrays (ref may be float or int). */
static double npy_max_diff(const sam_npy *mine, const sam_npy *ref) {
    double mx = 0;
    for (int64_t i = 0; i < ref->numel; i++) {
        double r = ref->dtype == 'f'  ? ((const float *)ref->data)[i]
                   : ref->elsize == 4 ? ((const int32_t *)ref->data)[i]
                                      : ((const uint8_t *)ref->data)[i];
        double m = mine->dtype == 'f' ? ((const float *)mine->data)[i]
                                      : ((const int32_t *)mine->data)[i];
        double d = fabs(m - r);
        if (!(d <= mx)) mx = isnan(d) ? INFINITY : d;
    }
    return mx;
}

/* Compare `mine` with golden file `name` within atol; returns the ratio
 * max diff / atol (0 for exact with atol 0). */
static double check_close(const char *dir, const char *name,
                          const sam_npy *mine, double atol) {
    sam_npy *g = golden_npy(dir, name);
    cr_assert(same_numel_shape(mine, g), "%s: %lld values, golden %lld", name,
              (long long)mine->numel, (long long)g->numel);
    double mx = npy_max_diff(mine, g);
    cr_log_info("%s: max abs diff %.3g (atol %.3g)", name, mx, atol);
    cr_expect(mx <= atol, "%s: max abs diff %.3g > atol %.3g", name, mx, atol);
    sam_npy_free(g);
    return atol > 0 ? mx / atol : mx;
}

/* The bfloat16 rule: |d| <= one bf16 step of |ref| + atol elementwise and
 * at most 10 % of the elements differing at all. */
static void check_bf16(const char *dir, const char *name, const sam_npy *mine,
                       double atol) {
    sam_npy *g = golden_npy(dir, name);
    cr_assert(same_numel_shape(mine, g), "%s: %lld values, golden %lld", name,
              (long long)mine->numel, (long long)g->numel);
    const float *a = mine->data, *r = g->data;
    int64_t ndiff = 0, nbad = 0;
    double mx = 0;
    for (int64_t i = 0; i < g->numel; i++) {
        double d = fabs((double)a[i] - r[i]);
        if (d != 0) ndiff++;
        int e;
        frexp(fabs(r[i]), &e); /* |r| in [2^(e-1), 2^e) */
        double step = r[i] != 0 ? ldexp(1.0, e - 1 - 7) : 0;
        if (!(d <= step + atol)) nbad++;
        if (!(d <= mx)) mx = isnan(d) ? INFINITY : d;
    }
    double frac = g->numel ? (double)ndiff / (double)g->numel : 0;
    cr_log_info("%s: max abs diff %.3g, %lld of %lld differ (%.2f %%), %lld "
                "over one bf16 step + %.3g",
                name, mx, (long long)ndiff, (long long)g->numel, 100 * frac,
                (long long)nbad, atol);
    cr_expect(nbad == 0, "%s: %lld values over one bf16 step + atol", name,
              (long long)nbad);
    cr_expect(frac <= 0.10, "%s: %.1f %% of the values differ (> 10 %%)", name,
              100 * frac);
    sam_npy_free(g);
}

/* Masks: equal except where |my logit| <= atol. */
static void check_mask(const char *dir, const char *name, const float *logits,
                       int64_t n, double atol) {
    sam_npy *g = golden_npy(dir, name);
    cr_assert_eq(g->numel, n, "%s: %lld values, mine %lld", name,
                 (long long)g->numel, (long long)n);
    const uint8_t *r = g->data;
    int64_t flipped = 0, near = 0;
    for (int64_t i = 0; i < n; i++) {
        int mine = logits[i] > 0;
        if (mine != (r[i] != 0)) {
            if (fabs(logits[i]) <= atol)
                near++;
            else
                flipped++;
        }
    }
    cr_log_info("%s: %lld pixels differ within |logit| <= %.3g of 0, %lld "
                "elsewhere",
                name, (long long)near, atol, (long long)flipped);
    cr_expect_eq(flipped, 0, "%s: %lld pixels differ away from 0", name,
                 (long long)flipped);
    sam_npy_free(g);
}

static sam_npy *traced(const sam2_model *m, const char *name) {
    sam_npy *a = NULL;
    sf_err e = {0};
    cr_assert_eq(sam2__trace_get(m, name, &a, &e), SF_OK, "%s", e.msg);
    return a;
}

static sam_npy *vtraced(const sam2_video *v, const char *name) {
    sam_npy *a = NULL;
    sf_err e = {0};
    cr_assert_eq(sam2__video_trace_get(v, name, &a, &e), SF_OK, "%s", e.msg);
    return a;
}

/* Strided sample (NCHW) of `full` every `st` rows/cols: for the FPN debug
 * files. */
static sam_npy *strided(const sam_npy *full, int st) {
    int64_t C = full->shape[1], H = full->shape[2], W = full->shape[3];
    int64_t h = (H + st - 1) / st, w = (W + st - 1) / st;
    sam_npy *s = calloc(1, sizeof *s);
    cr_assert(s);
    *s = *full;
    s->shape[2] = h;
    s->shape[3] = w;
    s->numel = C * h * w;
    s->data = malloc((size_t)s->numel * 4);
    cr_assert(s->data);
    const float *src = full->data;
    float *dst = s->data;
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++)
                dst[(c * h + y) * w + x] = src[(c * H + y * st) * W + x * st];
    return s;
}

/* ------------------------------------------------------------- configs */

Test(sam2_config, presets_match_schema_files) {
    const char *names[] = {"sam2.1_hiera_t", "sam2.1_hiera_s",
                           "sam2.1_hiera_b+", "sam2.1_hiera_l"};
    for (int i = 0; i < 4; i++) {
        char path[256];
        snprintf(path, sizeof path, "schemas/model/%s.yaml", names[i]);
        sam2_config a, b;
        sf_err e = {0};
        cr_assert_eq(sam2_config_preset(names[i], &a, &e), SF_OK, "%s", e.msg);
        cr_assert_eq(sam2_config_load(path, &b, &e), SF_OK, "%s %s", e.where,
                     e.msg);
        cr_expect(!memcmp(&a, &b, sizeof a), "%s differs from its preset",
                  path);
        cr_expect(sam2_config_spec_is_sam2(path));
        cr_expect(sam2_config_spec_is_sam2(names[i]));
    }
    cr_expect(!sam2_config_spec_is_sam2("schemas/model/vit_b.yaml"));
    cr_expect(!sam2_config_spec_is_sam2("vit_b"));
}

Test(sam2_config, tiny_fixture_values) {
    sam2_config c = tiny2_config();
    cr_expect_eq(c.image_size, 256);
    cr_expect_eq(c.image_encoder.trunk.embed_dim, 32);
    cr_expect_eq(c.image_encoder.trunk.n_stages, 4);
    cr_expect_eq(c.image_encoder.trunk.stages[2], 3);
    cr_expect_eq(c.image_encoder.trunk.n_global_att_blocks, 1);
    cr_expect_eq(c.image_encoder.trunk.window_spec[2], 14); /* default */
    cr_expect_eq(c.memory_attention.num_layers, 2);
    cr_expect_eq(c.memory_attention.layer.cross_attention.kv_in_dim, 64);
    cr_expect_eq(c.memory_attention.layer.self_attention.kv_in_dim, 0);
    cr_expect_eq(c.fill_hole_area, 8);
}

static void expect_config_error(const char *text, const char *needle,
                                const char *where) {
    sam2_config c;
    sf_err e = {0};
    int rc = sam2_config_parse("t.yaml", text, strlen(text), &c, &e);
    cr_expect_eq(rc, SF_ECONFIG, "accepted: %s", text);
    cr_expect(strstr(e.msg, needle) != NULL, "message '%s' lacks '%s'", e.msg,
              needle);
    if (where)
        cr_expect(strstr(e.where, where) != NULL, "position '%s' not '%s'",
                  e.where, where);
}

Test(sam2_config, errors_name_the_key) {
    /* a real config with one line changed */
    FILE *f = fopen(SAM2_TINY_YAML, "rb");
    cr_assert(f);
    static char base[16384];
    size_t n = fread(base, 1, sizeof base - 1, f);
    fclose(f);
    base[n] = 0;
    char buf[17000];
    /* unknown key */
    char *p = strstr(base, "      embed_dim: 32");
    cr_assert(p);
    snprintf(buf, sizeof buf, "%.*s      embed_dmi: 32%s", (int)(p - base),
             base, p + strlen("      embed_dim: 32"));
    expect_config_error(
        buf, "unknown key 'model.image_encoder.trunk.embed_dmi'", "t.yaml:");
    /* missing required key */
    p = strstr(base, "      dim_feedforward: 2048\n");
    cr_assert(p);
    snprintf(buf, sizeof buf, "%.*s%s", (int)(p - base), base,
             p + strlen("      dim_feedforward: 2048\n"));
    expect_config_error(
        buf, "missing key 'model.memory_attention.layer.dim_feedforward'",
        "t.yaml:");
    /* wrong type */
    p = strstr(base, "  num_maskmem: 7");
    cr_assert(p);
    snprintf(buf, sizeof buf, "%.*s  num_maskmem: seven%s", (int)(p - base),
             base, p + strlen("  num_maskmem: 7"));
    expect_config_error(buf, "model.num_maskmem: expected an integer",
                        "t.yaml:");
    /* wrong class */
    p = strstr(base, "sam2.modeling.backbones.hieradet.Hiera");
    cr_assert(p);
    snprintf(buf, sizeof buf, "%.*ssam2.modeling.backbones.Other%s",
             (int)(p - base), base,
             p + strlen("sam2.modeling.backbones.hieradet.Hiera"));
    expect_config_error(buf, "model.image_encoder.trunk._target_", NULL);
    /* cross-field: neck channels */
    p = strstr(base, "[256, 128, 64, 32]");
    cr_assert(p);
    snprintf(buf, sizeof buf, "%.*s[256, 128, 64, 16]%s", (int)(p - base), base,
             p + strlen("[256, 128, 64, 32]"));
    expect_config_error(buf, "backbone_channel_list[3]", NULL);
    expect_config_error("image_size: 1024\n", "unknown top-level key", NULL);
    expect_config_error("model: [1, 2]\n", "expected a mapping", NULL);
}

/* A second configuration, unlike the golden one in every size the port
 * could hard-code: it must build, run and keep its shapes. */
Test(sam2_model, other_config_runs) {
    sam2_config c = tiny2_config();
    c.image_size = 192;
    c.image_encoder.trunk.embed_dim = 24;
    c.image_encoder.trunk.num_heads = 2;
    c.image_encoder.trunk.n_stages = 3;
    c.image_encoder.trunk.stages[0] = 2;
    c.image_encoder.trunk.stages[1] = 1;
    c.image_encoder.trunk.stages[2] = 2;
    c.image_encoder.trunk.q_pool = 2;
    c.image_encoder.trunk.n_window_spec = 3;
    c.image_encoder.trunk.window_spec[0] = 6;
    c.image_encoder.trunk.window_spec[1] = 4;
    c.image_encoder.trunk.window_spec[2] = 0;
    c.image_encoder.trunk.n_global_att_blocks = 1;
    c.image_encoder.trunk.global_att_blocks[0] = 4;
    c.image_encoder.trunk.window_pos_embed_bkg_spatial_size[0] = 5;
    c.image_encoder.trunk.window_pos_embed_bkg_spatial_size[1] = 3;
    c.image_encoder.scalp = 0;
    c.image_encoder.neck.n_backbone_channel_list = 3;
    c.image_encoder.neck.backbone_channel_list[0] = 96;
    c.image_encoder.neck.backbone_channel_list[1] = 48;
    c.image_encoder.neck.backbone_channel_list[2] = 24;
    c.image_encoder.neck.n_fpn_top_down_levels = -1;
    c.image_encoder.neck.fpn_interp_model = SAM2_INTERP_BILINEAR;
    c.image_encoder.neck.d_model = 64;
    c.image_encoder.neck.position_encoding.num_pos_feats = 64;
    c.memory_attention.d_model = 64;
    c.memory_attention.num_layers = 1;
    c.memory_attention.layer.d_model = 64;
    c.memory_attention.layer.dim_feedforward = 96;
    c.memory_attention.layer.self_attention.embedding_dim = 64;
    c.memory_attention.layer.self_attention.num_heads = 2;
    c.memory_attention.layer.cross_attention.embedding_dim = 64;
    c.memory_attention.layer.cross_attention.num_heads = 2;
    c.memory_attention.layer.cross_attention.kv_in_dim = 32;
    c.memory_encoder.out_dim = 32;
    c.memory_encoder.in_dim = 64;
    c.memory_encoder.position_encoding.num_pos_feats = 32;
    c.memory_encoder.mask_downsampler.embed_dim = 64;
    c.memory_encoder.mask_downsampler.kernel_size = 3;
    c.memory_encoder.mask_downsampler.stride = 2;
    c.memory_encoder.mask_downsampler.padding = 1;
    c.memory_encoder.mask_downsampler.total_stride = 16;
    c.memory_encoder.fuser.layer.dim = 64;
    c.memory_encoder.fuser.num_layers = 1;
    c.num_maskmem = 3;
    c.iou_head_hidden_dim = 32;
    c.decoder_mlp_dim = 64;
    c.decoder_num_heads = 4;
    sf_err e = {0};
    cr_assert_eq(sam2_config_validate(&c, &e), SF_OK, "%s", e.msg);
    sam2_model *m = NULL;
    cr_assert_eq(sam2_model_new(&c, SAM_DEVICE_CPU, 7, &m, &e), SF_OK, "%s",
                 e.msg);
    uint8_t *img = test_image(70, 50);
    cr_assert_eq(sam2_model_set_image(m, img, 70, 50, 3, &e), SF_OK, "%s",
                 e.msg);
    float pt[2] = {30, 20};
    int lb[1] = {1};
    sam_prompt p = {.n_points = 1, .points = pt, .labels = lb, .multimask = 1};
    sam_prediction *pr = NULL;
    cr_assert_eq(sam2_model_predict(m, &p, &pr, &e), SF_OK, "%s", e.msg);
    cr_expect_eq(pr->n_masks, 3);
    cr_expect_eq(pr->low_res_side, 48); /* 4 * 192 / 16 */
    cr_expect_eq(pr->nx, 70);
    sam_prediction_free(pr);
    /* a 5-frame video through the memory (3 slots) */
    uint8_t *frames = malloc((size_t)5 * 50 * 70);
    cr_assert(frames);
    for (int k = 0; k < 5; k++)
        for (int i = 0; i < 50 * 70; i++)
            frames[(size_t)k * 50 * 70 + i] = img[3 * i] ^ (uint8_t)(k * 9);
    sam2_video *v = NULL;
    cr_assert_eq(sam2_video_new(m, frames, 5, 70, 50, 1, &v, &e), SF_OK, "%s",
                 e.msg);
    p.multimask = 0;
    cr_assert_eq(sam2_video_add_points(v, 2, &p, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(sam2_video_propagate(v, -1, -1, 0, NULL, NULL, &e), SF_OK,
                 "%s", e.msg);
    cr_assert_eq(sam2_video_propagate(v, -1, -1, 1, NULL, NULL, &e), SF_OK,
                 "%s", e.msg);
    sam2_video_free(v);
    free(frames);
    free(img);
    sam2_model_free(m);
}

/* ---------------------------------------------------------- checkpoints */

Test(sam2_ckpt, wrong_family_and_shape) {
    REQUIRE_SAM2_GOLDEN(dir);
    char p[1100];
    snprintf(p, sizeof p, "%s/ckpt.pth", dir);
    sf_err e = {0};
    /* SAM 2 checkpoint, SAM 1 config */
    sam_config c1 = small_config();
    sam_model *m1 = NULL;
    cr_expect_eq(sam_model_load(p, &c1, SAM_DEVICE_CPU, &m1, &e), SF_ECORRUPT);
    cr_expect(strstr(e.msg, "missing") && strstr(e.msg, "unexpected"), "%s",
              e.msg);
    /* wrong shape: another trunk width */
    sam2_config c = tiny2_config();
    c.image_encoder.trunk.embed_dim = 16;
    for (int i = 0; i < 4; i++)
        c.image_encoder.neck.backbone_channel_list[i] = 16 << (3 - i);
    sam2_model *m = NULL;
    memset(&e, 0, sizeof e);
    cr_expect_eq(sam2_model_load(p, &c, SAM_DEVICE_CPU, &m, &e), SF_ECORRUPT);
    cr_expect(strstr(e.msg, "image_encoder.trunk.pos_embed: checkpoint "
                            "[1,32,7,7] vs model [1,16,7,7]"),
              "%s", e.msg);
    /* a SAM 1 checkpoint with a SAM 2 config */
    if (golden_dir()) {
        char p1[1100];
        snprintf(p1, sizeof p1, "%s/ckpt.pth", golden_dir());
        memset(&e, 0, sizeof e);
        c = tiny2_config();
        cr_expect_eq(sam2_model_load(p1, &c, SAM_DEVICE_CPU, &m, &e),
                     SF_ECORRUPT);
        cr_expect(strstr(e.msg, "SAM 1"), "%s", e.msg);
    }
    /* truncated */
    char tmp[] = "/tmp/sam2_trunc_XXXXXX";
    int fd = mkstemp(tmp);
    cr_assert(fd >= 0);
    FILE *src = fopen(p, "rb");
    cr_assert(src);
    static char chunk[1 << 16];
    size_t total = 0, k;
    while (total < 20u << 20 && (k = fread(chunk, 1, sizeof chunk, src)) > 0) {
        cr_assert_eq(write(fd, chunk, k), (ssize_t)k);
        total += k;
    }
    fclose(src);
    close(fd);
    memset(&e, 0, sizeof e);
    c = tiny2_config();
    cr_expect_eq(sam2_model_load(tmp, &c, SAM_DEVICE_CPU, &m, &e), SF_EFORMAT,
                 "%s", e.msg);
    unlink(tmp);
}

/* ---------------------------------------------------------- image side */

Test(sam2_parity, image_encoder) {
    REQUIRE_SAM2_GOLDEN(dir);
    sam2_model *m = golden2_model(dir);
    sf_err e = {0};
    sam2__trace(m, 1);
    sam_npy *img = golden_npy(dir, "image_u8.npy");
    cr_assert_eq(sam2_model_set_image(m, img->data, (int)img->shape[1],
                                      (int)img->shape[0], 3, &e),
                 SF_OK, "%s", e.msg);
    static const struct {
        const char *file, *trace;
        double atol;
        int stride;
    } checks[] = {
        {"input_tensor.npy", "input_tensor", 5e-6, 0},
        {"debug/trunk_patch_embed.npy", "debug/trunk_patch_embed", 5e-5, 0},
        {"debug/trunk_pos_embed.npy", "debug/trunk_pos_embed", 5e-5, 0},
        {"debug/trunk_block0_out.npy", "debug/trunk_block0_out", 5e-5, 0},
        {"debug/trunk_block1_out.npy", "debug/trunk_block1_out", 5e-5, 0},
        {"debug/trunk_block2_out.npy", "debug/trunk_block2_out", 5e-5, 0},
        {"debug/trunk_block3_out.npy", "debug/trunk_block3_out", 5e-5, 0},
        {"debug/trunk_block4_out.npy", "debug/trunk_block4_out", 5e-5, 0},
        {"debug/trunk_block5_out.npy", "debug/trunk_block5_out", 5e-5, 0},
        {"debug/trunk_block6_out.npy", "debug/trunk_block6_out", 5e-5, 0},
        {"debug/neck_fpn0_stride4.npy", "debug/neck_fpn0", 5e-5, 4},
        {"debug/neck_fpn1_stride2.npy", "debug/neck_fpn1", 5e-5, 2},
        {"debug/neck_fpn3.npy", "debug/neck_fpn3", 5e-5, 0},
        {"vision_features.npy", "vision_features", 5e-5, 0},
        {"vision_pos_enc.npy", "vision_pos_enc", 1e-5, 0},
        {"image_embed.npy", "image_embed", 5e-5, 0},
        {"feat_s0.npy", "feat_s0", 5e-5, 0},
        {"feat_s1.npy", "feat_s1", 5e-5, 0},
        {"dense_pe.npy", "dense_pe", 1e-5, 0},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        sam_npy *a = traced(m, checks[i].trace);
        if (checks[i].stride) {
            sam_npy *s = strided(a, checks[i].stride);
            sam_npy_free(a);
            a = s;
        }
        check_close(dir, checks[i].file, a, checks[i].atol);
        sam_npy_free(a);
    }
    sam_npy_free(img);
    sam2_model_free(m);
}

static void check_case(const char *name, int multimask, int has_box,
                       int has_mask) {
    REQUIRE_SAM2_GOLDEN(dir);
    sam2_model *m = golden2_model(dir);
    sf_err e = {0};
    sam2__trace(m, 1);
    sam_npy *img = golden_npy(dir, "image_u8.npy");
    int ny = (int)img->shape[0], nx = (int)img->shape[1];
    cr_assert_eq(sam2_model_set_image(m, img->data, nx, ny, 3, &e), SF_OK, "%s",
                 e.msg);
    char f[256];
    snprintf(f, sizeof f, "%s/point_coords_input.npy", name);
    sam_npy *pc = golden_npy(dir, f);
    snprintf(f, sizeof f, "%s/point_labels.npy", name);
    sam_npy *pl = golden_npy(dir, f);
    sam_npy *box = NULL, *mi = NULL;
    if (has_box) {
        snprintf(f, sizeof f, "%s/box_input.npy", name);
        box = golden_npy(dir, f);
    }
    if (has_mask) {
        snprintf(f, sizeof f, "%s/mask_input.npy", name);
        mi = golden_npy(dir, f);
    }
    sam_prompt p = {.n_points = (int)pl->numel,
                    .points = pc->data,
                    .labels = pl->data,
                    .box = box ? box->data : NULL,
                    .mask_input = mi ? mi->data : NULL,
                    .multimask = multimask,
                    .want_logits = 1};
    sam_prediction *pr = NULL;
    cr_assert_eq(sam2_model_predict(m, &p, &pr, &e), SF_OK, "%s", e.msg);
    static const struct {
        const char *file;
        double atol;
    } files[] = {
        {"prompt_coords", 5e-5},       {"prompt_labels", 0},
        {"sparse_embeddings", 5e-4},   {"dense_embeddings", 5e-4},
        {"all_low_res_masks", 1e-4},   {"all_iou_predictions", 2e-5},
        {"object_score_logits", 2e-4},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(f, sizeof f, "%s/%s.npy", name, files[i].file);
        if (!file_exists(dir, f)) continue;
        sam_npy *a = traced(m, files[i].file);
        check_close(dir, f, a, files[i].atol);
        sam_npy_free(a);
    }
    /* returned arrays */
    int64_t L = pr->low_res_side, M = pr->n_masks;
    sam_npy lr = {.dtype = 'f',
                  .elsize = 4,
                  .ndim = 3,
                  .shape = {M, L, L},
                  .numel = M * L * L,
                  .data = pr->low_res};
    snprintf(f, sizeof f, "%s/low_res_masks.npy", name);
    check_close(dir, f, &lr, 1e-4);
    sam_npy io = {.dtype = 'f',
                  .elsize = 4,
                  .ndim = 1,
                  .shape = {M},
                  .numel = M,
                  .data = pr->iou};
    snprintf(f, sizeof f, "%s/iou_predictions.npy", name);
    check_close(dir, f, &io, 2e-5);
    snprintf(f, sizeof f, "%s/masks.npy", name);
    check_mask(dir, f, pr->logits, M * (int64_t)nx * ny, 1e-4);
    if (multimask) { /* case 4's mask_input is case 1's best low-res mask */
        sam_npy best = {.dtype = 'f',
                        .elsize = 4,
                        .ndim = 3,
                        .shape = {1, L, L},
                        .numel = L * L,
                        .data = pr->low_res + (size_t)pr->best * L * L};
        check_close(dir, "case4_point_maskinput/mask_input.npy", &best, 1e-4);
    }
    sam_prediction_free(pr);
    sam_npy_free(pc);
    sam_npy_free(pl);
    sam_npy_free(box);
    sam_npy_free(mi);
    sam_npy_free(img);
    sam2_model_free(m);
}

Test(sam2_parity, case1_point_multimask) {
    check_case("case1_point_multimask", 1, 0, 0);
}
Test(sam2_parity, case2_points3pos3neg) {
    check_case("case2_points3pos3neg", 0, 0, 0);
}
Test(sam2_parity, case3_point_box) {
    check_case("case3_point_box", 0, 1, 0);
}
Test(sam2_parity, case4_point_maskinput) {
    check_case("case4_point_maskinput", 0, 0, 1);
}

/* ---------------------------------------------------------- video side */

/* Tolerance of a per-frame file (README's table). */
static double frame_atol(const char *file, int frame, int scenario_click) {
    int f0 = frame == 0;
    if (!strcmp(file, "pix_feat_with_mem.npy"))
        return f0 && scenario_click ? 5e-5 : 5e-3;
    if (!strcmp(file, "memattn_memory_pos.npy")) return 5e-6;
    if (!strcmp(file, "mask_prompt.npy") ||
        !strcmp(file, "dense_embeddings.npy") ||
        !strcmp(file, "sparse_embeddings.npy"))
        return 5e-4;
    if (!strcmp(file, "all_low_res_masks.npy") ||
        !strcmp(file, "low_res_masks.npy") || !strcmp(file, "pred_masks.npy"))
        return f0 ? 1e-4 : 5e-3;
    if (!strcmp(file, "all_iou_predictions.npy")) return 2e-5;
    if (!strcmp(file, "object_score_logits.npy") ||
        !strcmp(file, "decoder_object_score_logits.npy"))
        return 2e-4;
    if (!strcmp(file, "obj_ptr.npy")) return 5e-4;
    if (!strcmp(file, "maskmem_features_f32.npy")) return 2e-2;
    return -1;
}

static void check_video(const char *scenario) {
    REQUIRE_SAM2_GOLDEN(dir);
    sam2_model *m = golden2_model(dir);
    sf_err e = {0};
    sam_npy *fr = golden_npy(dir, "video/frames_u8.npy");
    int n = (int)fr->shape[0], ny = (int)fr->shape[1], nx = (int)fr->shape[2];
    sam2_video *v = NULL;
    cr_assert_eq(sam2_video_new(m, fr->data, n, nx, ny, 3, &v, &e), SF_OK, "%s",
                 e.msg);
    sam2__video_trace(v, 1);
    int click = !strcmp(scenario, "click"), last = n - 1;
    char f[300];
    if (click) {
        sam_npy *pt = golden_npy(dir, "video/click/click_points.npy");
        sam_npy *lb = golden_npy(dir, "video/click/click_labels.npy");
        sam_prompt p = {
            .n_points = (int)lb->numel, .points = pt->data, .labels = lb->data};
        cr_assert_eq(sam2_video_add_points(v, 0, &p, &e), SF_OK, "%s", e.msg);
        sam_npy_free(pt);
        sam_npy_free(lb);
    } else {
        snprintf(f, sizeof f, "video/%s/mask_input_u8.npy", scenario);
        sam_npy *mk = golden_npy(dir, f);
        cr_assert_eq(sam2_video_add_mask(v, 0, mk->data, &e), SF_OK, "%s",
                     e.msg);
        sam_npy_free(mk);
        if (!strcmp(scenario, "empty")) last = 1;
    }
    cr_assert_eq(sam2_video_propagate(v, -1, last == n - 1 ? -1 : last, 0, NULL,
                                      NULL, &e),
                 SF_OK, "%s", e.msg);
    /* per-frame files */
    for (int k = 0; k <= last; k++) {
        char fdir[300];
        snprintf(fdir, sizeof fdir, "%s/video/%s/frame%d", dir, scenario, k);
        DIR *d = opendir(fdir);
        cr_assert(d, "%s", fdir);
        struct dirent *ent;
        int files = 0;
        while ((ent = readdir(d))) {
            const char *fn = ent->d_name;
            size_t len = strlen(fn);
            if (len < 5 || strcmp(fn + len - 4, ".npy")) continue;
            files++;
            char gname[400], tname[300];
            snprintf(gname, sizeof gname, "video/%s/frame%d/%s", scenario, k,
                     fn);
            if (!strcmp(fn, "masks.npy")) {
                snprintf(tname, sizeof tname, "frame%d/video_res_logits", k);
                sam_npy *lg = vtraced(v, tname);
                check_mask(dir, gname, lg->data, lg->numel,
                           k == 0 ? 1e-4 : 5e-3);
                sam_npy_free(lg);
                continue;
            }
            snprintf(tname, sizeof tname, "frame%d/%.*s", k, (int)(len - 4),
                     fn);
            sam_npy *a = vtraced(v, tname);
            if (!strcmp(fn, "maskmem_features.npy") ||
                !strcmp(fn, "memattn_memory.npy")) {
                check_bf16(dir, gname, a, 2e-2);
            } else {
                double atol = frame_atol(fn, k, click);
                cr_assert(atol >= 0, "no tolerance for %s", gname);
                check_close(dir, gname, a, atol);
            }
            sam_npy_free(a);
        }
        closedir(d);
        cr_expect(files > 0, "%s holds no files", fdir);
    }
    /* frame inputs of the whole video */
    sam_npy *vf = golden_npy(dir, "video/vision_features.npy");
    int64_t per = vf->numel / n;
    double mx = 0;
    for (int k = 0; k <= last; k++) {
        char tname[64];
        snprintf(tname, sizeof tname, "frame%d/vision_features", k);
        sam_npy *a = vtraced(v, tname);
        cr_assert_eq(a->numel, per);
        for (int64_t i = 0; i < per; i++) {
            double dd =
                fabs(((float *)a->data)[i] - ((float *)vf->data)[k * per + i]);
            if (!(dd <= mx)) mx = dd;
        }
        sam_npy_free(a);
    }
    cr_log_info("video/vision_features.npy (frames 0..%d): max abs diff %.3g "
                "(atol 5e-05)",
                last, mx);
    cr_expect(mx <= 5e-5, "video/vision_features: %.3g", mx);
    sam_npy *pe = vtraced(v, "maskmem_pos_enc");
    check_close(dir, "video/maskmem_pos_enc.npy", pe, 1e-5);
    sam_npy_free(pe);
    sam_npy_free(vf);
    sam2_video_free(v);
    sam_npy_free(fr);
    sam2_model_free(m);
}

Test(sam2_parity, video_click, .timeout = 300) {
    check_video("click");
}
Test(sam2_parity, video_mask, .timeout = 300) {
    check_video("mask");
}
Test(sam2_parity, video_empty, .timeout = 300) {
    check_video("empty");
}

/* The video loader's frame resize: Pillow's bicubic filter. */
Test(sam2_image, bicubic_resize_basics) {
    uint8_t src[4 * 3] = {0, 64, 128, 255, 10, 20, 30, 40, 200, 100, 0, 50};
    uint8_t dst[8 * 6];
    sf_err e = {0};
    cr_assert_eq(sam2_resize_bicubic_u8(src, 4, 3, 1, dst, 8, 6, &e), SF_OK);
    /* identity when the size is kept */
    uint8_t same[12];
    cr_assert_eq(sam2_resize_bicubic_u8(src, 4, 3, 1, same, 4, 3, &e), SF_OK);
    cr_expect(!memcmp(src, same, sizeof src));
    /* a constant image stays constant */
    uint8_t flat[100], out[37];
    memset(flat, 77, sizeof flat);
    cr_assert_eq(sam2_resize_bicubic_u8(flat, 10, 10, 1, out, 37, 1, &e),
                 SF_OK);
    for (int i = 0; i < 37; i++)
        cr_expect_eq(out[i], 77);
    cr_expect_eq(sam2_resize_bicubic_u8(src, 0, 3, 1, dst, 8, 6, &e),
                 SF_EINVAL);
}
