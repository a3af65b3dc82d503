/*
 * libsam's C API (sf_model.h): model configs (presets, YAML, errors with
 * positions), argument checking and error strings, predictor contracts
 * (sizes, multimask selection, mask input, set once / predict many),
 * preprocessing helpers, MedSAM mode and .npy I/O.
 */
#include "helpers.h"

/* ---------------------------------------------------------------- config */

Test(config, presets_match_the_reference_builder) {
    sam_config c;
    sf_err e = {0};
    cr_assert_eq(sam_config_preset("vit_h", &c, &e), SF_OK);
    cr_expect_eq(c.encoder_embed_dim, 1280);
    cr_expect_eq(c.encoder_depth, 32);
    cr_expect_eq(c.encoder_num_heads, 16);
    cr_expect_eq(c.n_encoder_global_attn_indexes, 4);
    cr_expect_eq(c.encoder_global_attn_indexes[3], 31);
    cr_assert_eq(sam_config_preset("vit_l", &c, &e), SF_OK);
    cr_expect_eq(c.encoder_embed_dim, 1024);
    cr_expect_eq(c.encoder_global_attn_indexes[0], 5);
    cr_assert_eq(sam_config_preset("vit_b", &c, &e), SF_OK);
    cr_expect_eq(c.encoder_embed_dim, 768);
    cr_expect_eq(c.encoder_depth, 12);
    cr_expect_eq(c.image_size, 1024);
    cr_expect_eq(c.window_size, 14);
    cr_expect_eq(c.prompt_embed_dim, 256);
    cr_expect_eq(c.preprocess, SAM_PREPROCESS_SAM);
    cr_assert_eq(sam_config_preset("medsam", &c, &e), SF_OK);
    cr_expect_eq(c.encoder_embed_dim, 768);
    cr_expect_eq(c.preprocess, SAM_PREPROCESS_MEDSAM);
    cr_expect_eq(sam_config_preset("vit_x", &c, &e), SF_EINVAL);
    cr_expect(strstr(e.msg, "vit_x"), "%s", e.msg);
}

/* schemas/model/<preset>.yaml documents each preset in the reference's
 * parameter names; each must parse to exactly the built-in preset. */
Test(config, schema_files_equal_presets) {
    for (int i = 0; sam__preset_names[i]; i++) {
        char p[256];
        snprintf(p, sizeof p, "schemas/model/%s.yaml", sam__preset_names[i]);
        sam_config a, b;
        sf_err e = {0};
        cr_assert_eq(sam_config_load(p, &a, &e), SF_OK, "%s: %s %s", p, e.where,
                     e.msg);
        cr_assert_eq(sam_config_preset(sam__preset_names[i], &b, &e), SF_OK);
        cr_expect_eq(memcmp(&a, &b, sizeof a), 0, "%s differs from the preset",
                     p);
    }
}

Test(config, yaml_overrides_and_preset_base) {
    const char *y = "encoder_depth: 4\n"
                    "preset: vit_l\n"
                    "encoder_global_attn_indexes: [1, 3]\n"
                    "preprocess: medsam\n";
    sam_config c;
    sf_err e = {0};
    cr_assert_eq(sam_config_parse("t.yaml", y, strlen(y), &c, &e), SF_OK, "%s",
                 e.msg);
    cr_expect_eq(c.encoder_embed_dim, 1024); /* from vit_l */
    cr_expect_eq(c.encoder_depth, 4);
    cr_expect_eq(c.n_encoder_global_attn_indexes, 2);
    cr_expect_eq(c.encoder_global_attn_indexes[1], 3);
    cr_expect_eq(c.preprocess, SAM_PREPROCESS_MEDSAM);
}

Test(config, yaml_errors_have_positions) {
    static const struct {
        const char *text, *where, *what;
    } cases[] = {
        {"image_size: 1024\nencoder_dept: 3\n", "t.yaml:2:1", "encoder_dept"},
        {"window_size: big\n", "t.yaml:1:14", "window_size"},
        {"preprocess: clahe\n", "t.yaml:1:13", "sam or medsam"},
        {"encoder_global_attn_indexes: 3\n", "t.yaml:1:30", "list"},
        {"[1, 2]\n", "t.yaml:1:1", "mapping"},
        {"image_size: [\n", "t.yaml", "YAML"},
        {"preset: vit_q\n", "t.yaml:1:9", "preset"},
        {"encoder_dept: 3\n", "t.yaml:1:1", "did you mean 'encoder_depth'?"},
        {"window_size: 2\nwindow_size: 3\n", "t.yaml:2:1", "duplicate key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sam_config c;
        sf_err e = {0};
        int rc = sam_config_parse("t.yaml", cases[i].text,
                                  strlen(cases[i].text), &c, &e);
        cr_expect_eq(rc, SF_ECONFIG, "case %zu accepted", i);
        cr_expect(strstr(e.where, cases[i].where), "case %zu: where '%s'", i,
                  e.where);
        cr_expect(strstr(e.msg, cases[i].what), "case %zu: msg '%s'", i, e.msg);
    }
}

Test(config, validation) {
    static const char *bad[] = {
        "image_size: 1000\n",                  /* not a multiple of 16 */
        "encoder_num_heads: 7\n",              /* 768 % 7 */
        "encoder_global_attn_indexes: [12]\n", /* depth 12: 0..11 */
        "prompt_embed_dim: 20\n",              /* not a multiple of 8 */
        "window_size: 65\n",                   /* grid is 64 */
        "encoder_depth: 0\n",
        "patch_size: 4\nhigh_res_features: 8\n", /* stem needs patch >= 8 */
        "image_size: 960\npatch_size: 24\nhigh_res_features: 8\n", /* 2^k */
        "high_res_features: -1\n",
        "conv_stem: 1\n", /* needs the stem */
        "high_res_features: 8\nconv_stem: 2\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sam_config c;
        sf_err e = {0};
        cr_expect_eq(sam_config_parse("v.yaml", bad[i], strlen(bad[i]), &c, &e),
                     SF_ECONFIG, "accepted: %s", bad[i]);
        cr_expect_neq(e.msg[0], 0);
    }
    sam_config c;
    sf_err e = {0};
    cr_expect_eq(sam_config_load("/nonexistent/model.yaml", &c, &e), SF_EIO);
    cr_expect(strstr(e.msg, "not a preset"), "%s", e.msg);
}

/* ----------------------------------------------------------------- model */

Test(api, null_and_bad_arguments) {
    sf_err e = {0};
    sam_model *m = NULL;
    sam_config c = small_config();
    cr_expect_eq(sam_model_new(NULL, SAM_DEVICE_CPU, 1, &m, &e), SF_EINVAL);
    cr_expect_eq(sam_model_new(&c, 7, 1, &m, &e), SF_EINVAL);
    cr_expect_eq(sam_model_load(NULL, &c, SAM_DEVICE_CPU, &m, &e), SF_EINVAL);
    sam_config bad = c;
    bad.encoder_num_heads = 5;
    cr_expect_eq(sam_model_new(&bad, SAM_DEVICE_CPU, 1, &m, &e), SF_ECONFIG);
    cr_expect_null(m);
    sam_model_free(NULL);
    sam_prediction_free(NULL);
    cr_expect_null(sam_model_config(NULL));
    cr_expect_eq(sam_device_parse("cpu"), SAM_DEVICE_CPU);
    cr_expect_eq(sam_device_parse("cuda"), SAM_DEVICE_CUDA);
    cr_expect_eq(sam_device_parse("tpu"), -1);
    cr_expect_eq(sam_device_parse(NULL), -1);

    m = small_model(1);
    uint8_t px[12] = {0};
    cr_expect_eq(sam_model_set_image(m, NULL, 2, 2, 3, &e), SF_EINVAL);
    cr_expect_eq(sam_model_set_image(m, px, 0, 2, 3, &e), SF_EINVAL);
    cr_expect(strstr(e.msg, "0x2"), "%s", e.msg);
    cr_expect_eq(sam_model_set_image(m, px, -3, 2, 3, &e), SF_EINVAL);
    cr_expect_eq(sam_model_set_image(m, px, 2, SF_PNG_MAX_SIDE + 1, 3, &e),
                 SF_EINVAL);
    cr_expect_eq(sam_model_set_image(m, px, 2, 2, 2, &e), SF_EINVAL);
    cr_expect(strstr(e.msg, "channels"), "%s", e.msg);

    /* No image yet. */
    float pt[2] = {1, 1};
    int lab[1] = {1};
    sam_prompt p = {.n_points = 1, .points = pt, .labels = lab};
    sam_prediction *r = NULL;
    cr_expect_eq(sam_model_predict(m, &p, &r, &e), SF_EINVAL);
    cr_expect(strstr(e.msg, "no image"), "%s", e.msg);
    float emb[1];
    cr_expect_eq(sam_model_get_embeddings(m, emb, 1, &e), SF_EINVAL);

    cr_assert_eq(sam_model_set_image(m, px, 2, 2, 3, &e), SF_OK, "%s", e.msg);
    cr_expect_eq(sam_model_predict(m, NULL, &r, &e), SF_EINVAL);
    cr_expect_eq(sam_model_predict(m, &p, NULL, &e), SF_EINVAL);
    lab[0] = 5;
    cr_expect_eq(sam_model_predict(m, &p, &r, &e), SF_EINVAL);
    cr_expect(strstr(e.msg, "label 5"), "%s", e.msg);
    lab[0] = 1;
    pt[0] = NAN;
    cr_expect_eq(sam_model_predict(m, &p, &r, &e), SF_EINVAL);
    pt[0] = 1;
    p.n_points = 2;
    p.points = NULL;
    cr_expect_eq(sam_model_predict(m, &p, &r, &e), SF_EINVAL);
    cr_expect_eq(sam_model_get_embeddings(m, emb, 1, &e), SF_EINVAL);
    cr_expect(strstr(e.msg, "floats"), "%s", e.msg);
    cr_expect_null(r);
    /* NULL err is allowed everywhere. */
    cr_expect_eq(sam_model_set_image(m, NULL, 2, 2, 3, NULL), SF_EINVAL);
    sam_model_free(m);
}

Test(api, cuda_unavailable_is_reported) {
    if (sam_cuda_available()) {
        cr_skip_test("CUDA is available here");
        return;
    }
    sam_config c = small_config();
    sam_model *m = NULL;
    sf_err e = {0};
    cr_expect_eq(sam_model_new(&c, SAM_DEVICE_CUDA, 1, &m, &e),
                 SF_EUNSUPPORTED);
    cr_expect(strstr(e.msg, "CUDA"), "%s", e.msg);
    cr_expect_null(m);
}

Test(api, predict_contract) {
    sam_model *m = small_model(2);
    sf_err e = {0};
    int nx = 90, ny = 37;
    uint8_t *img = test_image(nx, ny);
    cr_assert_eq(sam_model_set_image(m, img, nx, ny, 3, &e), SF_OK, "%s",
                 e.msg);
    int C, E;
    sam_model_embedding_shape(m, &C, &E);
    cr_expect_eq(C, 32);
    cr_expect_eq(E, 4);

    float box[4] = {10, 5, 60, 30};
    float pts[4] = {40, 20, 80, 2};
    int lab[2] = {1, 0};
    sam_prompt p = {.n_points = 2,
                    .points = pts,
                    .labels = lab,
                    .box = box,
                    .multimask = 1,
                    .want_logits = 1};
    sam_prediction *r = NULL;
    cr_assert_eq(sam_model_predict(m, &p, &r, &e), SF_OK, "%s", e.msg);
    cr_expect_eq(r->n_masks, 3);
    cr_expect_eq(r->nx, nx);
    cr_expect_eq(r->ny, ny);
    cr_expect_eq(r->low_res_side, 16);
    for (int i = 0; i < r->n_masks; i++)
        cr_expect_leq(r->iou[i], r->iou[r->best]);
    size_t npx = (size_t)nx * ny;
    for (size_t i = 0; i < 3 * npx; i++) {
        cr_assert(r->masks[i] <= 1);
        cr_assert_eq(r->masks[i], r->logits[i] > 0, "mask != logit > 0 at %zu",
                     i);
    }
    /* Single-mask output, then the previous low-res logits as mask input:
     * set once, predict many. */
    p.multimask = 0;
    p.want_logits = 0;
    sam_prediction *r1 = NULL, *r2 = NULL;
    cr_assert_eq(sam_model_predict(m, &p, &r1, &e), SF_OK, "%s", e.msg);
    cr_expect_eq(r1->n_masks, 1);
    cr_expect_eq(r1->best, 0);
    p.mask_input = r->low_res + (size_t)r->best * 16 * 16;
    cr_assert_eq(sam_model_predict(m, &p, &r2, &e), SF_OK, "%s", e.msg);
    cr_expect_neq(memcmp(r1->low_res, r2->low_res, 16 * 16 * 4), 0,
                  "mask input had no effect");
    /* Box only, and no prompt at all (allowed, as in the reference). */
    sam_prompt pb = {.box = box};
    sam_prediction *r3 = NULL, *r4 = NULL;
    cr_expect_eq(sam_model_predict(m, &pb, &r3, &e), SF_OK, "%s", e.msg);
    sam_prompt none = {0};
    cr_expect_eq(sam_model_predict(m, &none, &r4, &e), SF_OK, "%s", e.msg);
    /* Embeddings round trip: the same prediction from set_embeddings. */
    float *emb = malloc((size_t)C * E * E * 4);
    cr_assert_eq(sam_model_get_embeddings(m, emb, (size_t)C * E * E, &e),
                 SF_OK);
    sam_model *m2 = small_model(2);
    cr_assert_eq(sam_model_set_embeddings(m2, emb, nx, ny, &e), SF_OK);
    sam_prediction *r5 = NULL;
    cr_assert_eq(sam_model_predict(m2, &p, &r5, &e), SF_OK);
    cr_expect_eq(memcmp(r2->low_res, r5->low_res, 16 * 16 * 4), 0);
    cr_expect_eq(memcmp(r2->masks, r5->masks, npx), 0);
    cr_expect_null(r1->logits);

    free(emb);
    free(img);
    sam_prediction_free(r);
    sam_prediction_free(r1);
    sam_prediction_free(r2);
    sam_prediction_free(r3);
    sam_prediction_free(r4);
    sam_prediction_free(r5);
    sam_model_free(m2);
    sam_model_free(m);
}

Test(api, gray_equals_replicated_rgb) {
    sam_model *m = small_model(4);
    sf_err e = {0};
    int nx = 33, ny = 21;
    uint8_t *rgb = test_image(nx, ny), *gray = malloc((size_t)nx * ny);
    for (int i = 0; i < nx * ny; i++) {
        gray[i] = rgb[3 * i];
        rgb[3 * i + 1] = rgb[3 * i + 2] = rgb[3 * i];
    }
    float pt[2] = {10, 10};
    int lab[1] = {1};
    sam_prompt p = {.n_points = 1, .points = pt, .labels = lab};
    sam_prediction *a = NULL, *b = NULL;
    cr_assert_eq(sam_model_set_image(m, gray, nx, ny, 1, &e), SF_OK);
    cr_assert_eq(sam_model_predict(m, &p, &a, &e), SF_OK);
    cr_assert_eq(sam_model_set_image(m, rgb, nx, ny, 3, &e), SF_OK);
    cr_assert_eq(sam_model_predict(m, &p, &b, &e), SF_OK);
    cr_expect_eq(memcmp(a->low_res, b->low_res, 16 * 16 * 4), 0);
    sam_prediction_free(a);
    sam_prediction_free(b);
    free(rgb);
    free(gray);
    sam_model_free(m);
}

Test(api, seeded_init_is_deterministic) {
    sam_model *a = small_model(11), *b = small_model(11), *c = small_model(12);
    sf_err e = {0};
    uint8_t *img = test_image(40, 40);
    int n = 32 * 4 * 4;
    float ea[512], eb[512], ec[512];
    cr_assert_eq(sam_model_set_image(a, img, 40, 40, 3, &e), SF_OK);
    cr_assert_eq(sam_model_set_image(b, img, 40, 40, 3, &e), SF_OK);
    cr_assert_eq(sam_model_set_image(c, img, 40, 40, 3, &e), SF_OK);
    sam_model_get_embeddings(a, ea, 512, &e);
    sam_model_get_embeddings(b, eb, 512, &e);
    sam_model_get_embeddings(c, ec, 512, &e);
    cr_expect_eq(memcmp(ea, eb, (size_t)n * 4), 0);
    cr_expect_neq(memcmp(ea, ec, (size_t)n * 4), 0);
    free(img);
    sam_model_free(a);
    sam_model_free(b);
    sam_model_free(c);
}

/* MedSAM mode: square resize without aspect, min-max to [0,1], masks from
 * sigmoid > 0.5 at the original size. */
Test(api, medsam_preprocessing) {
    sam_config c = small_config();
    c.preprocess = SAM_PREPROCESS_MEDSAM;
    int nx = 50, ny = 20;
    uint8_t *img = test_image(nx, ny);
    float *t = NULL;
    uint8_t *rs = NULL;
    int in_ny, in_nx;
    sf_err e = {0};
    cr_assert_eq(
        sam_preprocess_image(&c, img, nx, ny, 3, &t, &in_ny, &in_nx, &rs, &e),
        SF_OK, "%s", e.msg);
    cr_expect_eq(in_ny, 64);
    cr_expect_eq(in_nx, 64);
    float lo = 1, hi = 0;
    for (int i = 0; i < 3 * 64 * 64; i++) {
        lo = t[i] < lo ? t[i] : lo;
        hi = t[i] > hi ? t[i] : hi;
    }
    cr_expect_eq(lo, 0.0f);
    cr_expect_eq(hi, 1.0f);
    free(t);
    free(rs);

    sam_model *m = NULL;
    cr_assert_eq(sam_model_new(&c, SAM_DEVICE_CPU, 5, &m, &e), SF_OK);
    cr_assert_eq(sam_model_set_image(m, img, nx, ny, 3, &e), SF_OK);
    float box[4] = {5, 3, 40, 15};
    sam_prompt p = {.box = box, .want_logits = 1};
    sam_prediction *r = NULL;
    cr_assert_eq(sam_model_predict(m, &p, &r, &e), SF_OK, "%s", e.msg);
    cr_expect_eq(r->nx, nx);
    cr_expect_eq(r->ny, ny);
    for (int i = 0; i < nx * ny; i++) {
        cr_assert(r->logits[i] >= -0.5f && r->logits[i] <= 0.5f);
        cr_assert_eq(r->masks[i], r->logits[i] > 0);
    }
    sam_prediction_free(r);
    sam_model_free(m);
    free(img);
}

/* --------------------------------------------------------- preprocessing */

Test(preprocess, shapes_as_resize_longest_side) {
    int h, w;
    sam_preprocess_shape(500, 700, 1024, &h, &w);
    cr_expect_eq(h, 731);
    cr_expect_eq(w, 1024);
    sam_preprocess_shape(2000, 1000, 1024, &h, &w);
    cr_expect_eq(h, 1024);
    cr_expect_eq(w, 512);
    sam_preprocess_shape(1, 3000, 1024, &h, &w);
    cr_expect_eq(h, 0); /* as the reference: int(1 * 0.3413 + 0.5) */
    cr_expect_eq(w, 1024);
}

Test(preprocess, bilinear_resize_properties) {
    sf_err e = {0};
    /* A constant image stays constant, up and down. */
    uint8_t src[40 * 30], dst[97 * 13];
    memset(src, 77, sizeof src);
    cr_assert_eq(sam_resize_bilinear_u8(src, 40, 30, 1, dst, 97, 13, &e),
                 SF_OK);
    for (size_t i = 0; i < sizeof dst; i++)
        cr_assert_eq(dst[i], 77);
    /* Same size: identity. */
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 37);
    uint8_t same[40 * 30];
    cr_assert_eq(sam_resize_bilinear_u8(src, 40, 30, 1, same, 40, 30, &e),
                 SF_OK);
    cr_expect_eq(memcmp(src, same, sizeof src), 0);
    /* 2x downscale: Pillow's triangle is stretched to support 2, so output
     * 0 (centre 1.0) takes taps 0..2 with weights 3/7, 3/7, 1/7 and
     * output 1 (centre 3.0) taps 1..3 with 1/7, 3/7, 3/7:
     * 0, 0, 200, 200 -> round(200/7) = 29, round(1200/7) = 171. */
    uint8_t row[4] = {0, 0, 200, 200}, half[2];
    cr_assert_eq(sam_resize_bilinear_u8(row, 4, 1, 1, half, 2, 1, &e), SF_OK);
    cr_expect_eq(half[0], 29);
    cr_expect_eq(half[1], 171);
    cr_expect_eq(sam_resize_bilinear_u8(row, 0, 1, 1, half, 2, 1, &e),
                 SF_EINVAL);
}

/* ------------------------------------------------------------------- npy */

Test(npy, write_read_round_trip) {
    char p[] = "/tmp/sam_npy_XXXXXX";
    int fd = mkstemp(p);
    cr_assert(fd >= 0);
    close(fd);
    float v[6] = {1, -2, 3.5f, 0, 1e-8f, 7};
    int64_t shape[2] = {2, 3};
    sf_err e = {0};
    cr_assert_eq(sam_npy_write(p, 'f', 4, 2, shape, v, &e), SF_OK);
    sam_npy *a = NULL;
    cr_assert_eq(sam_npy_read(p, &a, &e), SF_OK, "%s", e.msg);
    cr_expect_eq(a->dtype, 'f');
    cr_expect_eq(a->ndim, 2);
    cr_expect_eq(a->shape[1], 3);
    cr_expect_eq(memcmp(a->data, v, sizeof v), 0);
    sam_npy_free(a);
    /* Truncated data is refused. */
    cr_assert_eq(truncate(p, 100), 0);
    cr_expect_eq(sam_npy_read(p, &a, &e), SF_EFORMAT);
    unlink(p);
}

/* The zoom predictor (sam_model_predict_image): without zoom it is
 * set_image + predict, byte for byte; with zoom the chosen view lies in
 * the image around the positive clicks, the masks are the view's pasted
 * (zero outside it), and bad prompts are refused. */
Test(api, zoom_predictor_contract) {
    sf_err e = {0};
    int nx = 90, ny = 60;
    uint8_t *img = test_image(nx, ny);
    float pts[4] = {60, 20, 5, 55};
    int lab[2] = {1, 0};
    sam_prompt p = {.n_points = 2,
                    .points = pts,
                    .labels = lab,
                    .multimask = 0,
                    .want_logits = 1};
    sam_model *m = small_model(5);
    sam_prediction *a = NULL, *b = NULL;
    int view[4];
    cr_assert_eq(sam_model_predict_image(m, img, nx, ny, 3, &p, &a, view, &e),
                 SF_OK, "%s", e.msg);
    cr_expect(view[0] == 0 && view[1] == 0 && view[2] == nx && view[3] == ny);
    cr_assert_eq(sam_model_set_image(m, img, nx, ny, 3, &e), SF_OK);
    cr_assert_eq(sam_model_predict(m, &p, &b, &e), SF_OK);
    cr_expect_eq(memcmp(a->masks, b->masks, (size_t)nx * ny), 0);
    sam_prediction_free(a);
    sam_prediction_free(b);
    sam_model_free(m);

    sam_config c = small_config();
    c.zoom[0] = 1.0f;
    c.zoom[1] = 0.4f;
    c.n_zoom = 2;
    cr_assert_eq(sam_model_new(&c, SAM_DEVICE_CPU, 5, &m, &e), SF_OK);
    cr_assert_eq(sam_model_predict_image(m, img, nx, ny, 3, &p, &a, view, &e),
                 SF_OK, "%s", e.msg);
    cr_expect_eq(a->nx, nx);
    cr_expect_eq(a->ny, ny);
    cr_expect_eq(a->n_masks, 1);
    int full = view[2] == nx && view[3] == ny;
    if (!full) { /* the 0.4 view: 36 x 36 around (60.5, 20.5), inside */
        cr_expect_eq(view[2], 36);
        cr_expect_eq(view[3], 36);
        cr_expect_eq(view[0], 43);
        cr_expect_eq(view[1], 3);
    }
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
            int in = x >= view[0] && x < view[0] + view[2] && y >= view[1] &&
                     y < view[1] + view[3];
            size_t i = (size_t)y * nx + x;
            if (!in) {
                cr_assert_eq(a->masks[i], 0, "mask outside the view");
                cr_assert_eq(a->logits[i], -1.0f);
            } else {
                cr_assert_eq(a->masks[i], a->logits[i] > 0);
            }
        }
    sam_prediction_free(a);
    /* refused: no positive click; a mask input (one view's frame) */
    int neg[2] = {0, 0};
    sam_prompt q = {.n_points = 2, .points = pts, .labels = neg};
    cr_expect_eq(sam_model_predict_image(m, img, nx, ny, 3, &q, &a, NULL, &e),
                 SF_EINVAL);
    cr_expect(strstr(e.msg, "positive"), "%s", e.msg);
    float low[16 * 16] = {0};
    p.mask_input = low;
    cr_expect_eq(sam_model_predict_image(m, img, nx, ny, 3, &p, &a, NULL, &e),
                 SF_EUNSUPPORTED);
    cr_expect_null(a);
    free(img);
    sam_model_free(m);
}
