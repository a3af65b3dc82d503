/*
 * Parity with the official segment-anything implementation on
 * ../shared/golden/sam_tiny (README there: files, shapes, tolerances).
 * The checkpoint is loaded unchanged; the model config is
 * tests/model/sam_tiny.yaml (meta.json's config in the reference's names).
 * Each test prints the differences it measured (cr_log_info).
 */
#include "helpers.h"

#define EMB    64 /* image embedding side */
#define STRIDE 8  /* the debug arrays sample rows/cols 0, 8, ..., 56 */

Test(parity, preprocess_is_bit_exact) {
    REQUIRE_GOLDEN(dir);
    sam_npy *img = golden_npy(dir, "image_u8.npy");
    sam_npy *rs = golden_npy(dir, "input_resized_u8.npy");
    sam_npy *it = golden_npy(dir, "input_tensor.npy");
    sam_config c = tiny_config();
    cr_assert_eq(img->ndim, 3);
    int ny = (int)img->shape[0], nx = (int)img->shape[1];
    float *t = NULL;
    uint8_t *mine = NULL;
    int in_ny, in_nx;
    sf_err e = {0};
    cr_assert_eq(sam_preprocess_image(&c, img->data, nx, ny, 3, &t, &in_ny,
                                      &in_nx, &mine, &e),
                 SF_OK, "%s", e.msg);
    cr_assert_eq(in_ny, rs->shape[0]);
    cr_assert_eq(in_nx, rs->shape[1]);
    int64_t diff = 0;
    for (int64_t i = 0; i < rs->numel; i++)
        diff += mine[i] != ((uint8_t *)rs->data)[i];
    cr_log_info("input_resized_u8: %lld of %lld values differ", (long long)diff,
                (long long)rs->numel);
    cr_expect_eq(diff, 0, "PIL bilinear emulation: %lld values differ",
                 (long long)diff);
    cr_assert_eq(it->numel, (int64_t)3 * c.image_size * c.image_size);
    diff = 0;
    for (int64_t i = 0; i < it->numel; i++)
        diff += memcmp(&t[i], (float *)it->data + i, 4) != 0;
    cr_log_info("input_tensor: %lld values not bit-identical", (long long)diff);
    cr_expect_eq(diff, 0, "input tensor: %lld values not bit-identical",
                 (long long)diff);
    free(t);
    free(mine);
    sam_npy_free(img);
    sam_npy_free(rs);
    sam_npy_free(it);
}

Test(parity, image_encoder) {
    REQUIRE_GOLDEN(dir);
    sam_model *m = golden_model(dir);
    const sam_config *c = sam_model_config(m);
    int D = c->encoder_embed_dim;
    sf_err e = {0};

    /* Intermediates, from the golden input tensor. */
    sam_npy *it = golden_npy(dir, "input_tensor.npy");
    float *trace = NULL;
    int n_stages = 0;
    cr_assert_eq(sam__model_trace_encoder(m, it->data, &trace, &n_stages, &e),
                 SF_OK, "%s", e.msg);
    cr_assert_eq(n_stages, c->encoder_depth + 2);
    for (int s = 0; s < n_stages; s++) {
        char name[64];
        if (s == 0)
            snprintf(name, sizeof name, "debug/patch_embed_strided.npy");
        else if (s == 1)
            snprintf(name, sizeof name,
                     "debug/patch_embed_plus_pos_strided.npy");
        else
            snprintf(name, sizeof name, "debug/block%d_out_strided.npy", s - 2);
        sam_npy *g = golden_npy(dir, name);
        cr_assert_eq(g->numel, (int64_t)8 * 8 * D);
        const float *st = trace + (size_t)s * EMB * EMB * D;
        const float *gv = g->data;
        double mx = 0;
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++)
                for (int ch = 0; ch < D; ch++) {
                    double d = fabs(
                        st[((size_t)y * STRIDE * EMB + x * STRIDE) * D + ch] -
                        gv[(y * 8 + x) * D + ch]);
                    if (!(d <= mx)) mx = d;
                }
        cr_log_info("%s: max abs diff %.3g (atol 2e-5)", name, mx);
        cr_expect_leq(mx, 2e-5, "%s: max abs diff %.3g > 2e-5", name, mx);
        sam_npy_free(g);
    }
    free(trace);

    /* Embeddings, end to end from the uint8 image. */
    sam_npy *img = golden_npy(dir, "image_u8.npy");
    sam_npy *ge = golden_npy(dir, "image_embeddings.npy");
    cr_assert_eq(sam_model_set_image(m, img->data, (int)img->shape[1],
                                     (int)img->shape[0], 3, &e),
                 SF_OK, "%s", e.msg);
    float *emb = malloc((size_t)ge->numel * 4);
    cr_assert_eq(sam_model_get_embeddings(m, emb, (size_t)ge->numel, &e), SF_OK,
                 "%s", e.msg);
    double mean, mx = max_abs_diff(emb, ge->data, ge->numel, &mean);
    cr_log_info("image_embeddings: max abs diff %.3g (atol 5e-5), mean %.3g "
                "(< 2e-6)",
                mx, mean);
    cr_expect_leq(mx, 5e-5, "image_embeddings max abs diff %.3g", mx);
    cr_expect_lt(mean, 2e-6, "image_embeddings mean abs diff %.3g", mean);

    /* Dense positional encoding. */
    float *pe = NULL;
    cr_assert_eq(sam__model_dense_pe(m, &pe, &e), SF_OK, "%s", e.msg);
    sam_npy *gpe = golden_npy(dir, "debug/dense_pe_strided.npy");
    int C = c->prompt_embed_dim;
    mx = 0;
    for (int ch = 0; ch < C; ch++)
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) {
                double d = fabs(
                    pe[((size_t)ch * EMB + y * STRIDE) * EMB + x * STRIDE] -
                    ((float *)gpe->data)[(ch * 8 + y) * 8 + x]);
                if (!(d <= mx)) mx = d;
            }
    cr_log_info("dense_pe: max abs diff %.3g (atol 1e-5)", mx);
    cr_expect_leq(mx, 1e-5, "dense_pe max abs diff %.3g", mx);

    free(pe);
    free(emb);
    sam_npy_free(gpe);
    sam_npy_free(ge);
    sam_npy_free(img);
    sam_npy_free(it);
    sam_model_free(m);
}

/* One prompt case: the prompt encoder's outputs, then the decoder fed the
 * golden image embeddings (isolates the decoder), then the final masks. */
static void check_case(const char *name, int multimask, int has_box,
                       int has_mask) {
    REQUIRE_GOLDEN(dir);
    char f[256];
    sam_model *m = golden_model(dir);
    sf_err e = {0};
    sam_npy *img = golden_npy(dir, "image_u8.npy");
    int ny = (int)img->shape[0], nx = (int)img->shape[1];
    sam_npy *ge = golden_npy(dir, "image_embeddings.npy");
    cr_assert_eq(sam_model_set_embeddings(m, ge->data, nx, ny, &e), SF_OK, "%s",
                 e.msg);

    snprintf(f, sizeof f, "%s/point_coords_input.npy", name);
    sam_npy *pc = golden_npy(dir, f);
    snprintf(f, sizeof f, "%s/point_labels.npy", name);
    sam_npy *pl = golden_npy(dir, f);
    cr_assert_eq(pl->dtype, 'i');
    sam_npy *bx = NULL, *mi = NULL;
    sam_prompt p = {0};
    p.n_points = (int)pc->shape[0];
    p.points = pc->data;
    p.labels = pl->data;
    p.multimask = multimask;
    p.want_logits = 1;
    if (has_box) {
        snprintf(f, sizeof f, "%s/box_input.npy", name);
        bx = golden_npy(dir, f);
        p.box = bx->data;
    }
    if (has_mask) {
        snprintf(f, sizeof f, "%s/mask_input.npy", name);
        mi = golden_npy(dir, f);
        p.mask_input = mi->data;
    }

    /* Prompt encoder. */
    float *sparse = NULL, *dense = NULL;
    int n_tokens = 0;
    cr_assert_eq(sam__model_embed_prompt(m, &p, &sparse, &n_tokens, &dense, &e),
                 SF_OK, "%s", e.msg);
    snprintf(f, sizeof f, "%s/sparse_embeddings.npy", name);
    sam_npy *gs = golden_npy(dir, f);
    cr_assert_eq(n_tokens, gs->shape[1], "%s: %d sparse tokens, reference %lld",
                 name, n_tokens, (long long)gs->shape[1]);
    double mx = max_abs_diff(sparse, gs->data, gs->numel, NULL);
    cr_log_info("%s sparse_embeddings: max abs diff %.3g (atol 1e-5)", name,
                mx);
    cr_expect_leq(mx, 1e-5, "%s sparse_embeddings max abs diff %.3g", name, mx);
    if (has_mask) {
        sam_npy *gd = golden_npy(
            dir, "debug/case4_point_maskinput_dense_embeddings_strided.npy");
        double md = 0;
        for (int ch = 0; ch < 256; ch++)
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++) {
                    double d =
                        fabs(dense[((size_t)ch * EMB + y * STRIDE) * EMB +
                                   x * STRIDE] -
                             ((float *)gd->data)[(ch * 8 + y) * 8 + x]);
                    if (!(d <= md)) md = d;
                }
        cr_log_info("%s dense_embeddings: max abs diff %.3g (atol 1e-5)", name,
                    md);
        cr_expect_leq(md, 1e-5, "%s dense embeddings max abs diff %.3g", name,
                      md);
        sam_npy_free(gd);
    }

    /* Decoder + postprocessing. */
    sam_prediction *r = NULL;
    cr_assert_eq(sam_model_predict(m, &p, &r, &e), SF_OK, "%s", e.msg);
    snprintf(f, sizeof f, "%s/low_res_masks.npy", name);
    sam_npy *gl = golden_npy(dir, f);
    snprintf(f, sizeof f, "%s/iou_predictions.npy", name);
    sam_npy *gi = golden_npy(dir, f);
    snprintf(f, sizeof f, "%s/masks.npy", name);
    sam_npy *gm = golden_npy(dir, f);
    cr_assert_eq(r->n_masks, gl->shape[0]);
    cr_assert_eq(r->low_res_side, gl->shape[1]);
    cr_assert_eq(r->ny, ny);
    cr_assert_eq(r->nx, nx);
    double ml = max_abs_diff(r->low_res, gl->data, gl->numel, NULL);
    double mi_ = max_abs_diff(r->iou, gi->data, gi->numel, NULL);
    int64_t differ = 0, unexplained = 0;
    for (int64_t i = 0; i < gm->numel; i++)
        if (r->masks[i] != ((uint8_t *)gm->data)[i]) {
            differ++;
            if (fabsf(r->logits[i]) >= 1e-5f) unexplained++;
        }
    cr_log_info("%s: low_res_masks max abs diff %.3g (atol 2e-6), "
                "iou_predictions %.3g (atol 1e-6), mask pixels differing %lld "
                "(%lld with |logit| >= 1e-5)",
                name, ml, mi_, (long long)differ, (long long)unexplained);
    cr_expect_leq(ml, 2e-6, "%s low_res_masks max abs diff %.3g", name, ml);
    cr_expect_leq(mi_, 1e-6, "%s iou_predictions max abs diff %.3g", name, mi_);
    cr_expect_eq(unexplained, 0,
                 "%s: %lld mask pixels differ where |logit| "
                 ">= 1e-5",
                 name, (long long)unexplained);
    int best = 0;
    for (int i = 1; i < r->n_masks; i++)
        if (((float *)gi->data)[i] > ((float *)gi->data)[best]) best = i;
    cr_expect_eq(r->best, best, "best mask %d, reference %d", r->best, best);

    sam_prediction_free(r);
    free(sparse);
    free(dense);
    sam_npy_free(gl);
    sam_npy_free(gi);
    sam_npy_free(gm);
    sam_npy_free(gs);
    sam_npy_free(pc);
    sam_npy_free(pl);
    sam_npy_free(bx);
    sam_npy_free(mi);
    sam_npy_free(ge);
    sam_npy_free(img);
    sam_model_free(m);
}

Test(parity, case1_point_multimask) {
    check_case("case1_point_multimask", 1, 0, 0);
}
Test(parity, case2_points3pos3neg) {
    check_case("case2_points3pos3neg", 0, 0, 0);
}
Test(parity, case3_point_box) {
    check_case("case3_point_box", 0, 1, 0);
}
Test(parity, case4_point_maskinput) {
    check_case("case4_point_maskinput", 0, 0, 1);
}

/* The whole pipeline from the uint8 image (our own embeddings): masks may
 * differ from the reference only where the logit is within float32 noise
 * of the threshold. */
Test(parity, end_to_end_from_image) {
    REQUIRE_GOLDEN(dir);
    sam_model *m = golden_model(dir);
    sf_err e = {0};
    sam_npy *img = golden_npy(dir, "image_u8.npy");
    cr_assert_eq(sam_model_set_image(m, img->data, (int)img->shape[1],
                                     (int)img->shape[0], 3, &e),
                 SF_OK, "%s", e.msg);
    sam_npy *pc =
        golden_npy(dir, "case2_points3pos3neg/point_coords_input.npy");
    sam_npy *pl = golden_npy(dir, "case2_points3pos3neg/point_labels.npy");
    sam_npy *gm = golden_npy(dir, "case2_points3pos3neg/masks.npy");
    sam_npy *gl = golden_npy(dir, "case2_points3pos3neg/low_res_masks.npy");
    sam_prompt p = {0};
    p.n_points = (int)pc->shape[0];
    p.points = pc->data;
    p.labels = pl->data;
    p.want_logits = 1;
    sam_prediction *r = NULL;
    cr_assert_eq(sam_model_predict(m, &p, &r, &e), SF_OK, "%s", e.msg);
    int64_t differ = 0, unexplained = 0;
    for (int64_t i = 0; i < gm->numel; i++)
        if (r->masks[i] != ((uint8_t *)gm->data)[i]) {
            differ++;
            if (fabsf(r->logits[i]) >= 1e-5f) unexplained++;
        }
    double ml = max_abs_diff(r->low_res, gl->data, gl->numel, NULL);
    cr_log_info("end to end (case 2, own embeddings): low_res max abs diff "
                "%.3g, mask pixels differing %lld (%lld with |logit| >= 1e-5)",
                ml, (long long)differ, (long long)unexplained);
    cr_expect_leq(ml, 2e-6, "low_res max abs diff %.3g", ml);
    cr_expect_eq(unexplained, 0, "%lld pixels differ beyond float noise",
                 (long long)unexplained);
    sam_prediction_free(r);
    sam_npy_free(gm);
    sam_npy_free(gl);
    sam_npy_free(pc);
    sam_npy_free(pl);
    sam_npy_free(img);
    sam_model_free(m);
}

/* Loading the golden file, saving it with our writer and reading both back
 * gives the same keys, order, shapes and bytes. */
Test(parity, resave_golden_checkpoint) {
    REQUIRE_GOLDEN(dir);
    char src[1100], dst[] = "/tmp/sam_resave_XXXXXX";
    snprintf(src, sizeof src, "%s/ckpt.pth", dir);
    int fd = mkstemp(dst);
    cr_assert(fd >= 0);
    close(fd);
    sam_model *m = golden_model(dir);
    sf_err e = {0};
    cr_assert_eq(sam_model_save(m, dst, &e), SF_OK, "%s", e.msg);
    sam_ckpt *a = NULL, *b = NULL;
    cr_assert_eq(sam__ckpt_read(src, &a, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(sam__ckpt_read(dst, &b, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(a->n_tensors, b->n_tensors);
    for (int i = 0; i < a->n_tensors; i++) {
        const sam_ckpt_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        cr_assert_str_eq(x->name, y->name, "key %d order", i);
        cr_assert_eq(x->ndim, y->ndim);
        int64_t n = 1;
        for (int d = 0; d < x->ndim; d++) {
            cr_assert_eq(x->shape[d], y->shape[d]);
            n *= x->shape[d];
        }
        /* Both are contiguous float32 here. */
        const float *px =
            (const float *)a->storages[x->storage].data + x->offset;
        const float *py =
            (const float *)b->storages[y->storage].data + y->offset;
        cr_assert_eq(memcmp(px, py, (size_t)n * 4), 0, "%s differs", x->name);
    }
    sam__ckpt_free(a);
    sam__ckpt_free(b);
    sam_model_free(m);
    unlink(dst);
}
