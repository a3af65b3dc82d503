/*
 * Checkpoints: round trip through our writer, strict loading (missing,
 * unexpected, mismatched keys in one message), dtype and strided-storage
 * handling, and refusal of everything that is not a state_dict: truncated
 * and corrupt files, non-zip files, forbidden pickle globals and opcodes,
 * plus a fuzz smoke over the pickle reader. Self-contained: the files are
 * made from a small random-weight model in a temporary directory.
 */
#include <zip.h>

#include "../tmpdir.h"
#include "helpers.h"

static char tmpdir[64];

static void mk_tmpdir(void) {
    cr_assert(sf_test_mkdtemp(tmpdir, sizeof tmpdir, "ckpt"));
}

static void rm_tmpdir(void) {
    cr_assert_eq(sf_test_rmtree(tmpdir), 0);
}

TestSuite(ckpt, .init = mk_tmpdir, .fini = rm_tmpdir);

static const char *tpath(const char *name) {
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

/* Save a fresh small model to `name`; returns its path. */
static const char *save_small(const char *name, uint64_t seed) {
    sam_model *m = small_model(seed);
    const char *p = tpath(name);
    sf_err e = {0};
    cr_assert_eq(sam_model_save(m, p, &e), SF_OK, "%s", e.msg);
    sam_model_free(m);
    return p;
}

static sam_ckpt *read_ckpt(const char *p) {
    sam_ckpt *ck = NULL;
    sf_err e = {0};
    cr_assert_eq(sam__ckpt_read(p, &ck, &e), SF_OK, "%s: %s", p, e.msg);
    return ck;
}

static int load_small(const char *p, sam_model **out, sf_err *e) {
    sam_config c = small_config();
    return sam_model_load(p, &c, SAM_DEVICE_CPU, out, e);
}

static void remove_tensor(sam_ckpt *ck, const char *name) {
    int i = sam__ckpt_find(ck, name);
    cr_assert(i >= 0, "no key %s", name);
    free(ck->tensors[i].name);
    memmove(&ck->tensors[i], &ck->tensors[i + 1],
            (size_t)(ck->n_tensors - i - 1) * sizeof ck->tensors[0]);
    ck->n_tensors--;
}

static void rename_tensor(sam_ckpt *ck, const char *from, const char *to) {
    int i = sam__ckpt_find(ck, from);
    cr_assert(i >= 0, "no key %s", from);
    free(ck->tensors[i].name);
    ck->tensors[i].name = strdup(to);
}

/* Run one prediction on a fixed image and prompt. */
static sam_prediction *predict_fixed(sam_model *m) {
    sf_err e = {0};
    uint8_t *img = test_image(50, 40);
    cr_assert_eq(sam_model_set_image(m, img, 50, 40, 3, &e), SF_OK, "%s",
                 e.msg);
    free(img);
    float pts[] = {25, 20, 5, 5};
    int lab[] = {1, 0};
    sam_prompt p = {
        .n_points = 2, .points = pts, .labels = lab, .multimask = 1};
    sam_prediction *r = NULL;
    cr_assert_eq(sam_model_predict(m, &p, &r, &e), SF_OK, "%s", e.msg);
    return r;
}

static void expect_same_prediction(const sam_prediction *a,
                                   const sam_prediction *b) {
    cr_assert_eq(a->n_masks, b->n_masks);
    size_t lr = (size_t)a->n_masks * a->low_res_side * a->low_res_side;
    cr_expect_eq(memcmp(a->low_res, b->low_res, lr * 4), 0, "low-res differ");
    cr_expect_eq(memcmp(a->iou, b->iou, (size_t)a->n_masks * 4), 0,
                 "iou differ");
    cr_expect_eq(memcmp(a->masks, b->masks, (size_t)a->n_masks * a->nx * a->ny),
                 0, "masks differ");
}

Test(ckpt, save_load_round_trip_is_exact) {
    const char *a = save_small("a.pth", 7);
    sam_model *m1 = small_model(7), *m2 = NULL;
    sf_err e = {0};
    cr_assert_eq(load_small(a, &m2, &e), SF_OK, "%s", e.msg);
    const char *b = tpath("b.pth");
    cr_assert_eq(sam_model_save(m2, b, &e), SF_OK, "%s", e.msg);
    sam_ckpt *ca = read_ckpt(a), *cb = read_ckpt(b);
    cr_assert_eq(ca->n_tensors, cb->n_tensors);
    cr_assert_gt(ca->n_tensors, 50);
    for (int i = 0; i < ca->n_tensors; i++) {
        sam_ckpt_tensor *x = &ca->tensors[i], *y = &cb->tensors[i];
        cr_assert_str_eq(x->name, y->name);
        sam_ckpt_storage *sx = &ca->storages[x->storage];
        sam_ckpt_storage *sy = &cb->storages[y->storage];
        cr_assert_eq(sx->numel, sy->numel);
        cr_assert_eq(memcmp(sx->data, sy->data, (size_t)sx->numel * 4), 0,
                     "%s differs after save -> load -> save", x->name);
    }
    /* The reference's key names and order (spot checks). */
    cr_expect_str_eq(ca->tensors[0].name, "image_encoder.pos_embed");
    cr_expect_str_eq(ca->tensors[1].name,
                     "image_encoder.patch_embed.proj.weight");
    cr_expect(sam__ckpt_find(ca, "image_encoder.blocks.0.attn.rel_pos_h") >= 0);
    cr_expect(sam__ckpt_find(ca, "prompt_encoder.pe_layer.positional_encoding_"
                                 "gaussian_matrix") >= 0);
    cr_expect(sam__ckpt_find(ca, "prompt_encoder.mask_downscaling.6.bias") >=
              0);
    cr_expect(sam__ckpt_find(ca, "mask_decoder.output_hypernetworks_mlps.3."
                                 "layers.2.weight") >= 0);
    cr_expect_str_eq(ca->tensors[ca->n_tensors - 1].name,
                     "mask_decoder.iou_prediction_head.layers.2.bias");
    /* Same weights, same outputs. */
    sam_prediction *r1 = predict_fixed(m1), *r2 = predict_fixed(m2);
    expect_same_prediction(r1, r2);
    sam_prediction_free(r1);
    sam_prediction_free(r2);
    sam__ckpt_free(ca);
    sam__ckpt_free(cb);
    sam_model_free(m1);
    sam_model_free(m2);
}

static void expect_load_error(const char *p, int code,
                              const char *const *want) {
    sam_model *m = NULL;
    sf_err e = {0};
    int rc = load_small(p, &m, &e);
    cr_assert_eq(rc, code, "load %s: rc %d (%s), expected %d", p, rc, e.msg,
                 code);
    cr_assert_null(m);
    for (int i = 0; want && want[i]; i++)
        cr_expect(strstr(e.msg, want[i]) != NULL, "message lacks '%s': %s",
                  want[i], e.msg);
}

Test(ckpt, missing_key_is_listed) {
    sam_ckpt *ck = read_ckpt(save_small("a.pth", 1));
    remove_tensor(ck, "mask_decoder.iou_token.weight");
    sf_err e = {0};
    const char *p = tpath("missing.pth");
    cr_assert_eq(sam__ckpt_write(p, ck, &e), SF_OK, "%s", e.msg);
    expect_load_error(p, SF_ECORRUPT,
                      (const char *const[]){
                          "1 missing (mask_decoder.iou_token.weight)", NULL});
    sam__ckpt_free(ck);
}

Test(ckpt, renamed_key_is_missing_and_unexpected) {
    sam_ckpt *ck = read_ckpt(save_small("a.pth", 1));
    rename_tensor(ck, "image_encoder.neck.1.bias", "image_encoder.neck.9.bias");
    sf_err e = {0};
    const char *p = tpath("renamed.pth");
    cr_assert_eq(sam__ckpt_write(p, ck, &e), SF_OK, "%s", e.msg);
    expect_load_error(p, SF_ECORRUPT,
                      (const char *const[]){
                          "1 missing (image_encoder.neck.1.bias)",
                          "1 unexpected (image_encoder.neck.9.bias)", NULL});
    sam__ckpt_free(ck);
}

Test(ckpt, wrong_shape_is_listed) {
    sam_ckpt *ck = read_ckpt(save_small("a.pth", 1));
    int i = sam__ckpt_find(ck, "prompt_encoder.no_mask_embed.weight");
    cr_assert(i >= 0);
    cr_assert_eq(ck->tensors[i].shape[1], 32);
    ck->tensors[i].shape[1] = 16; /* a view of half the storage */
    sf_err e = {0};
    const char *p = tpath("shape.pth");
    cr_assert_eq(sam__ckpt_write(p, ck, &e), SF_OK, "%s", e.msg);
    expect_load_error(
        p, SF_ECORRUPT,
        (const char *const[]){
            "1 mismatched (prompt_encoder.no_mask_embed.weight: checkpoint "
            "[1,16] vs model [1,32])",
            NULL});
    sam__ckpt_free(ck);
}

Test(ckpt, all_problems_in_one_message) {
    sam_ckpt *ck = read_ckpt(save_small("a.pth", 1));
    remove_tensor(ck, "mask_decoder.mask_tokens.weight");
    rename_tensor(ck, "mask_decoder.iou_token.weight", "iou_token.weight");
    int i = sam__ckpt_find(ck, "image_encoder.pos_embed");
    ck->tensors[i].shape[3] = 16;
    sf_err e = {0};
    const char *p = tpath("all.pth");
    cr_assert_eq(sam__ckpt_write(p, ck, &e), SF_OK, "%s", e.msg);
    expect_load_error(
        p, SF_ECORRUPT,
        (const char *const[]){"2 missing (", "mask_decoder.mask_tokens.weight",
                              "mask_decoder.iou_token.weight",
                              "1 unexpected (iou_token.weight)",
                              "1 mismatched (image_encoder.pos_embed", NULL});
    sam__ckpt_free(ck);
}

Test(ckpt, wrong_config_for_checkpoint) {
    const char *a = save_small("a.pth", 1);
    sam_config c = small_config();
    c.encoder_depth = 3; /* one block more than the checkpoint has */
    sam_model *m = NULL;
    sf_err e = {0};
    cr_assert_eq(sam_model_load(a, &c, SAM_DEVICE_CPU, &m, &e), SF_ECORRUPT);
    cr_expect(strstr(e.msg, "missing") &&
                  strstr(e.msg, "image_encoder.blocks.2."),
              "%s", e.msg);
}

/* float64 storages, and every tensor a strided view into ONE shared
 * storage at its own offset: converted and placed exactly. */
Test(ckpt, float64_shared_storage_with_offsets) {
    const char *a = save_small("a.pth", 3);
    sam_ckpt *ck = read_ckpt(a);
    int64_t total = 0;
    for (int i = 0; i < ck->n_tensors; i++)
        total += ck->storages[ck->tensors[i].storage].numel;
    double *all = malloc((size_t)total * sizeof *all);
    cr_assert(all);
    sam_ckpt *out = calloc(1, sizeof *out);
    out->borrowed = 1;
    cr_assert_eq(sam__ckpt_add_storage(out, "0", SAM_DT_F64, total, all), 0);
    int64_t off = 0;
    for (int i = 0; i < ck->n_tensors; i++) {
        sam_ckpt_tensor *t = &ck->tensors[i];
        sam_ckpt_storage *s = &ck->storages[t->storage];
        for (int64_t j = 0; j < s->numel; j++)
            all[off + j] = ((float *)s->data)[j];
        cr_assert(sam__ckpt_add_tensor(out, t->name, 0, off, t->ndim, t->shape,
                                       t->stride) >= 0);
        off += s->numel;
    }
    sf_err e = {0};
    const char *p = tpath("f64.pth");
    cr_assert_eq(sam__ckpt_write(p, out, &e), SF_OK, "%s", e.msg);
    sam_model *m1 = NULL, *m2 = NULL;
    cr_assert_eq(load_small(a, &m1, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(load_small(p, &m2, &e), SF_OK, "%s", e.msg);
    sam_prediction *r1 = predict_fixed(m1), *r2 = predict_fixed(m2);
    expect_same_prediction(r1, r2);
    sam_prediction_free(r1);
    sam_prediction_free(r2);
    sam_model_free(m1);
    sam_model_free(m2);
    sam__ckpt_free(out);
    sam__ckpt_free(ck);
    free(all);
}

static void write_file(const char *p, const void *d, size_t n) {
    FILE *f = fopen(p, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(d, 1, n, f), n);
    fclose(f);
}

static uint8_t *slurp(const char *p, size_t *n) {
    FILE *f = fopen(p, "rb");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

Test(ckpt, truncated_files_are_refused) {
    size_t n;
    uint8_t *b = slurp(save_small("a.pth", 1), &n);
    size_t cuts[] = {0,     3,     4,       30,     100,  1000,
                     n / 3, n / 2, n - 100, n - 23, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        const char *p = tpath("cut.pth");
        write_file(p, b, cuts[i]);
        sam_model *m = NULL;
        sf_err e = {0};
        int rc = load_small(p, &m, &e);
        cr_expect_eq(rc, SF_EFORMAT, "cut at %zu of %zu: rc %d (%s)", cuts[i],
                     n, rc, e.msg);
        cr_expect_neq(e.msg[0], '\0');
        cr_expect_null(m);
    }
    free(b);
}

Test(ckpt, corrupt_storage_fails_crc) {
    const char *a = save_small("a.pth", 1);
    size_t n;
    uint8_t *b = slurp(a, &n);
    b[n / 2] ^= 0x5a; /* inside a storage: only the CRC can tell */
    const char *p = tpath("crc.pth");
    write_file(p, b, n);
    free(b);
    expect_load_error(p, SF_EFORMAT, NULL);
}

Test(ckpt, non_checkpoint_files_are_refused) {
    const char *txt = tpath("notes.txt");
    write_file(txt, "hello, not a checkpoint\n", 24);
    expect_load_error(txt, SF_EFORMAT,
                      (const char *const[]){"not a torch checkpoint", NULL});
    sam_model *m = NULL;
    sf_err e = {0};
    cr_expect_eq(load_small(tpath("does-not-exist.pth"), &m, &e), SF_EIO);
    /* A legacy (torch < 1.6) file starts with a pickled magic number. */
    const uint8_t legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                              0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
    const char *lp = tpath("legacy.pth");
    write_file(lp, legacy, sizeof legacy);
    expect_load_error(lp, SF_EFORMAT, (const char *const[]){"legacy", NULL});
}

/* A zip archive with the given entries (name, bytes, length). */
static void make_zip(const char *p, int n, const char *const *names,
                     const void *const *data, const size_t *len) {
    int ze = 0;
    zip_t *z = zip_open(p, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    cr_assert(z, "zip_open %d", ze);
    for (int i = 0; i < n; i++) {
        zip_source_t *s = zip_source_buffer(z, data[i], len[i], 0);
        cr_assert(s);
        cr_assert(zip_file_add(z, names[i], s, ZIP_FL_OVERWRITE) >= 0);
    }
    cr_assert_eq(zip_close(z), 0);
}

Test(ckpt, zip_without_pickle_is_refused) {
    const char *p = tpath("other.zip");
    make_zip(p, 1, (const char *const[]){"a/readme.txt"},
             (const void *const[]){"hi"}, (size_t[]){2});
    expect_load_error(p, SF_EFORMAT, (const char *const[]){"data.pkl", NULL});
}

/* pickle: os.system('ls') via GLOBAL + REDUCE, the classic payload. */
#define B(lit) lit, sizeof(lit) - 1

static const uint8_t evil_global[] = "\x80\x02"
                                     "cos\nsystem\n"
                                     "q\x00"
                                     "X\x02\x00\x00\x00ls"
                                     "q\x01"
                                     "\x85"
                                     "q\x02"
                                     "R"
                                     "q\x03"
                                     ".";

Test(ckpt, forbidden_global_is_refused) {
    sam_ckpt *ck = calloc(1, sizeof *ck);
    sf_err e = {0};
    cr_assert_eq(sam__pickle_parse(evil_global, sizeof evil_global - 1, ck, &e),
                 SF_EFORMAT);
    cr_expect(strstr(e.msg, "forbidden global 'os.system'"), "%s", e.msg);
    /* The same inside a real-looking checkpoint file. */
    const char *p = tpath("evil.pth");
    make_zip(p, 2, (const char *const[]){"archive/data.pkl", "archive/version"},
             (const void *const[]){evil_global, "3\n"},
             (size_t[]){sizeof evil_global - 1, 2});
    expect_load_error(
        p, SF_EFORMAT,
        (const char *const[]){"forbidden global 'os.system'", NULL});
    /* Other ways to name a callable: STACK_GLOBAL, builtins. */
    static const uint8_t stack_global[] = "\x80\x04\x8c\x08"
                                          "builtins"
                                          "\x8c\x04"
                                          "eval"
                                          "\x93"
                                          ".";
    cr_expect_eq(
        sam__pickle_parse(stack_global, sizeof stack_global - 1, ck, &e),
        SF_EFORMAT);
    cr_expect(strstr(e.msg, "builtins.eval"), "%s", e.msg);
    static const uint8_t torch_other[] = "\x80\x02"
                                         "ctorch\nload\n"
                                         ".";
    cr_expect_eq(sam__pickle_parse(torch_other, sizeof torch_other - 1, ck, &e),
                 SF_EFORMAT);
    cr_expect(strstr(e.msg, "torch.load"), "%s", e.msg);
    sam__ckpt_free(ck);
}

Test(ckpt, forbidden_opcodes_are_refused) {
    static const struct {
        const char *what;
        const char *bytes;
        size_t n;
    } cases[] = {
        {"EMPTY_LIST", B("\x80\x02]")},
        {"INST", B("\x80\x02(ios\nsystem\n")},
        {"OBJ", B("\x80\x02(o.")},
        {"BINFLOAT", B("\x80\x02G\x3f\xf0\0\0\0\0\0\0.")},
        {"EXT1", B("\x80\x02\x82\x01.")},
        {"PERSID text", B("\x80\x02P1\n.")},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sam_ckpt *ck = calloc(1, sizeof *ck);
        sf_err e = {0};
        int rc = sam__pickle_parse((const uint8_t *)cases[i].bytes, cases[i].n,
                                   ck, &e);
        cr_expect_eq(rc, SF_EFORMAT, "%s accepted (rc %d)", cases[i].what, rc);
        cr_expect(strstr(e.msg, "not allowed"), "%s: %s", cases[i].what, e.msg);
        sam__ckpt_free(ck);
    }
}

Test(ckpt, pickle_limits_checked_before_allocating) {
    static const struct {
        const char *what;
        const char *bytes;
        size_t n;
    } cases[] = {
        {"4 GiB string", B("\x80\x02X\xff\xff\xff\xff")},
        {"huge memo index", B("\x80\x02}r\xff\xff\xff\x7f.")},
        {"get unset memo", B("\x80\x02h\x05.")},
        {"LONG1 of 200 bytes", B("\x80\x02\x8a\xc8")},
        {"no STOP", B("\x80\x02}")},
        {"stack underflow", B("\x80\x02s")},
        {"not a dict at STOP", B("\x80\x02K\x05.")},
        {"protocol 9", B("\x80\x09")},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sam_ckpt *ck = calloc(1, sizeof *ck);
        sf_err e = {0};
        int rc = sam__pickle_parse((const uint8_t *)cases[i].bytes, cases[i].n,
                                   ck, &e);
        cr_expect_eq(rc, SF_EFORMAT, "%s: rc %d (%s)", cases[i].what, rc,
                     e.msg);
        sam__ckpt_free(ck);
    }
}

/* Fuzz smoke: every single-byte corruption and every truncation of a real
 * state_dict pickle is either parsed or refused, never a crash or leak
 * (run under ASan by `make asan`). */
Test(ckpt, pickle_fuzz_smoke, .timeout = 120) {
    sam_ckpt *ck = read_ckpt(save_small("a.pth", 1));
    /* The first 24 entries: every construct, a pickle of a few KiB. */
    for (int i = 24; i < ck->n_tensors; i++)
        free(ck->tensors[i].name);
    ck->n_tensors = 24;
    uint8_t *pkl = NULL;
    size_t n = 0;
    sf_err e = {0};
    cr_assert_eq(sam__pickle_write(ck, &pkl, &n, &e), SF_OK);
    sam_ckpt *back = calloc(1, sizeof *back);
    cr_assert_eq(sam__pickle_parse(pkl, n, back, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(back->n_tensors, ck->n_tensors);
    sam__ckpt_free(back);
    int ok = 0, refused = 0;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            uint8_t *b = malloc(n);
            memcpy(b, pkl, n);
            b[i] ^= k ? 0xff : 0x01;
            sam_ckpt *t = calloc(1, sizeof *t);
            int rc = sam__pickle_parse(b, n, t, &e);
            cr_assert(rc == SF_OK || rc == SF_EFORMAT || rc == SF_ERANGE,
                      "byte %zu: rc %d", i, rc);
            rc == SF_OK ? ok++ : refused++;
            sam__ckpt_free(t);
            free(b);
        }
        {
            sam_ckpt *t = calloc(1, sizeof *t);
            cr_assert_neq(sam__pickle_parse(pkl, i, t, &e), SF_OK,
                          "truncation at %zu accepted", i);
            sam__ckpt_free(t);
        }
    }
    cr_log_info("pickle fuzz: %zu bytes, %d mutants parsed, %d refused", n, ok,
                refused);
    cr_expect_gt(refused, 0);
    free(pkl);
    sam__ckpt_free(ck);
}
