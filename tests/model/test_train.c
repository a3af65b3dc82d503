/*
 * test_train.c - the trainer (model/train.h) on tiny corpora and a tiny
 * model (64 px, 2 blocks): run records, exact resume, freezing + the
 * embedding cache, --init, bad inputs. libtorch runs with 1 thread here so
 * that the resume comparison is bit-exact (our rule for CPU determinism
 * checks: same thread count, same bits).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tmpdir.h"
#include "helpers.h"
#include "sam_int.h"
#include "sf.h"
#include "train.h"

static char g_dir[256];
static char g_train[300], g_val[300], g_cfg[300];

static void make_corpus(const char *dir, uint64_t seed, uint64_t count) {
    sf_config c;
    sf_err e = {0};
    cr_assert_eq(sf_config_default(&c, &e), SF_OK, "%s", e.msg);
    c.image_size = 64;
    c.mode = SF_MODE_SHAPE;
    sf_generate_opts o = {0};
    o.out_dir = dir;
    o.seed = seed;
    o.count = count;
    o.shard_count = 1;
    o.threads = 1;
    o.write_files = 1;
    sf_generate_stats st;
    sf_corpus_result res;
    cr_assert_eq(sf_corpus_generate(&c, &o, &st, &res, &e), SF_OK, "%s", e.msg);
}

static const char kModel[] = "model:\n"
                             "  image_size: 64\n"
                             "  patch_size: 16\n"
                             "  encoder_embed_dim: 32\n"
                             "  encoder_depth: 2\n"
                             "  encoder_num_heads: 2\n"
                             "  encoder_global_attn_indexes: [1]\n"
                             "  window_size: 3\n"
                             "  prompt_embed_dim: 32\n";

/* Write a config: the tiny model plus `extra` lines. */
/* 1 when the top-level key of `line` ("key: ...") starts a line of text. */
static int has_key(const char *text, const char *line) {
    size_t n = strcspn(line, ":");
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : l)
        if (!strncmp(l, line, n + 1)) return 1;
    return 0;
}

/* The test config with `extra`'s top-level keys replacing the defaults
 * (a key twice is an error: the YAML kit's rule). */
static void write_config(const char *path, const char *extra) {
    static const char *const defaults[] = {"seed: 3\n",
                                           "lr: 0.001\n",
                                           "warmup_steps: 2\n",
                                           "epochs: 1\n",
                                           "images_per_epoch: 6\n",
                                           "min_area_frac: 0.01\n",
                                           "val_max_images: 3\n",
                                           "val_instances_per_image: 2\n",
                                           "threads: 1\n"};
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(kModel, f);
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++)
        if (!extra || !has_key(extra, defaults[i])) fputs(defaults[i], f);
    fputs(extra ? extra : "", f);
    fclose(f);
}

static void setup(void) {
    cr_assert(sf_test_mkdtemp(g_dir, sizeof g_dir, "test_train"));
    snprintf(g_train, sizeof g_train, "%s/train", g_dir);
    snprintf(g_val, sizeof g_val, "%s/val", g_dir);
    snprintf(g_cfg, sizeof g_cfg, "%s/cfg.yaml", g_dir);
    make_corpus(g_train, 1, 6);
    make_corpus(g_val, 2, 3);
    sam_set_num_threads(1);
}

static void teardown(void) {
    cr_assert_eq(sf_test_rmtree(g_dir), 0);
}

TestSuite(train, .init = setup, .fini = teardown, .timeout = 120);

static int train(const char *cfg, const char *out, int resume, long stop,
                 const char *init, sam_train_result *r, sf_err *e) {
    const char *corpora[1] = {g_train};
    sam_train_opts o = {0};
    o.config = resume ? NULL : cfg;
    o.corpora = resume ? NULL : corpora;
    o.n_corpora = resume ? 0 : 1;
    o.val_dir = resume ? NULL : g_val;
    o.out_dir = out;
    o.resume = resume;
    o.init = init;
    o.device = -1;
    o.stop_after_steps = stop;
    return sam_train_run(&o, r, e);
}

static int file_exists(const char *dir, const char *name) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    cr_assert(b);
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    b[len] = 0; /* text files are read with strstr */
    *n = (size_t)len;
    return b;
}

static long db_long(const char *run, const char *sql) {
    char p[600];
    snprintf(p, sizeof p, "%s/run.sqlite", run);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    long v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Compare the tensors whose names start with `prefix` in two
 * checkpoints: returns the number of differing tensors. */
static int n_differ(const char *a, const char *b, const char *prefix,
                    int *n_seen) {
    sam_ckpt *x = NULL, *y = NULL;
    sf_err e = {0};
    cr_assert_eq(sam__ckpt_read(a, &x, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(sam__ckpt_read(b, &y, &e), SF_OK, "%s", e.msg);
    int differ = 0, seen = 0;
    for (int i = 0; i < x->n_tensors; i++) {
        const sam_ckpt_tensor *t = &x->tensors[i];
        if (strncmp(t->name, prefix, strlen(prefix))) continue;
        int j = sam__ckpt_find(y, t->name);
        cr_assert(j >= 0, "%s missing", t->name);
        const sam_ckpt_tensor *u = &y->tensors[j];
        int64_t n = 1;
        for (int d = 0; d < t->ndim; d++)
            n *= t->shape[d];
        const float *p =
            (const float *)x->storages[t->storage].data + t->offset;
        const float *q =
            (const float *)y->storages[u->storage].data + u->offset;
        seen++;
        differ += memcmp(p, q, (size_t)n * sizeof(float)) != 0;
    }
    sam__ckpt_free(x);
    sam__ckpt_free(y);
    if (n_seen) *n_seen = seen;
    return differ;
}

Test(train, run_records_and_predict_loads_best) {
    write_config(g_cfg, NULL);
    char run[400];
    snprintf(run, sizeof run, "%s/run", g_dir);
    sam_train_result r;
    sf_err e = {0};
    cr_assert_eq(train(g_cfg, run, 0, 0, NULL, &r, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(r.steps, 6);
    cr_assert(r.finished);
    cr_assert(!isnan(r.best_val_dice) && r.best_val_dice >= 0 &&
              r.best_val_dice <= 1);
    const char *files[] = {"DONE",       "run.sqlite",  "best.pth", "last.pth",
                           "model.yaml", "config.yaml", "state.pt"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        cr_assert(file_exists(run, files[i]), "%s missing", files[i]);
    cr_assert_eq(db_long(run, "SELECT count(*) FROM steps"), 6);
    cr_assert_eq(db_long(run, "SELECT count(*) FROM epochs"), 1);
    /* the per-instance validation rows give the epoch's mean */
    cr_assert_eq(db_long(run, "SELECT count(*) FROM val_instances"),
                 db_long(run, "SELECT n_val FROM epochs"));
    cr_assert_eq(db_long(run, "SELECT count(*) FROM (SELECT epoch FROM "
                              "val_instances v JOIN epochs e USING (epoch) "
                              "GROUP BY epoch HAVING abs(avg(v.dice) - "
                              "max(e.val_dice)) < 1e-12)"),
                 1);
    cr_assert_eq(db_long(run, "SELECT count(*) FROM val_instances WHERE "
                              "area <= 0 OR pred_area < 0 OR dice < 0 OR "
                              "dice > 1"),
                 0);
    cr_assert_eq(db_long(run, "SELECT count(*) FROM corpora"), 2);
    cr_assert_eq(db_long(run, "SELECT count(*) FROM run WHERE key = "
                              "'status' AND value = 'done'"),
                 1);
    cr_assert_eq(db_long(run, "SELECT count(*) FROM steps WHERE loss >= 0 "
                              "AND loss <= 1 AND lr > 0"),
                 6);
    /* what `synthfm predict --checkpoint RUN/best.pth --model-config
     * RUN/model.yaml` does */
    char p[500], q[500];
    snprintf(p, sizeof p, "%s/model.yaml", run);
    snprintf(q, sizeof q, "%s/best.pth", run);
    sam_config c;
    cr_assert_eq(sam_config_load(p, &c, &e), SF_OK, "%s", e.msg);
    sam_model *m = NULL;
    cr_assert_eq(sam_model_load(q, &c, SAM_DEVICE_CPU, &m, &e), SF_OK, "%s",
                 e.msg);
    sam_model_free(m);
    /* a finished run is neither overwritten nor resumed */
    cr_assert_eq(train(g_cfg, run, 0, 0, NULL, &r, &e), SF_EEXIST);
    cr_assert_eq(train(NULL, run, 1, 0, NULL, &r, &e), SF_EEXIST);
}

Test(train, resume_is_bit_exact) {
    write_config(g_cfg, "n_neg: [0, 2]\n");
    char a[400], b[400], pa[500], pb[500];
    snprintf(a, sizeof a, "%s/a", g_dir);
    snprintf(b, sizeof b, "%s/b", g_dir);
    sam_train_result r;
    sf_err e = {0};
    cr_assert_eq(train(g_cfg, a, 0, 0, NULL, &r, &e), SF_OK, "%s", e.msg);
    /* N = 3 steps, stop, resume to 2N = 6 */
    cr_assert_eq(train(g_cfg, b, 0, 3, NULL, &r, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(r.steps, 3);
    cr_assert(!r.finished);
    cr_assert(!file_exists(b, "DONE"), "a stopped run must not look done");
    cr_assert_eq(db_long(b, "SELECT count(*) FROM run WHERE key = "
                            "'status' AND value = 'interrupted'"),
                 1);
    cr_assert_eq(train(NULL, b, 1, 0, NULL, &r, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(r.steps, 6);
    cr_assert_eq(r.steps_this_run, 3);
    cr_assert(r.finished);
    snprintf(pa, sizeof pa, "%s/last.pth", a);
    snprintf(pb, sizeof pb, "%s/last.pth", b);
    int seen = 0;
    cr_assert_eq(n_differ(pa, pb, "", &seen), 0,
                 "resumed weights differ from the uninterrupted run");
    cr_assert(seen > 50);
    size_t na, nb;
    char *x = slurp(pa, &na), *y = slurp(pb, &nb);
    cr_assert(na == nb && !memcmp(x, y, na), "checkpoint bytes differ");
    free(x);
    free(y);
    cr_assert_eq(db_long(b, "SELECT count(*) FROM steps"), 6);
}

Test(train, frozen_encoder_is_unchanged_and_cached) {
    write_config(g_cfg, "freeze_image_encoder: true\nepochs: 2\n");
    /* the trainer's initial weights: sam_model_new with the run seed */
    char cfgm[400], init[400], run[400], last[500];
    snprintf(cfgm, sizeof cfgm, "%s/m.yaml", g_dir);
    FILE *f = fopen(cfgm, "w");
    cr_assert(f);
    fputs(kModel + strlen("model:\n"), f); /* indented: still valid YAML */
    fclose(f);
    sam_config c;
    sf_err e = {0};
    cr_assert_eq(sam_config_load(cfgm, &c, &e), SF_OK, "%s %s", e.where, e.msg);
    sam_model *m = NULL;
    cr_assert_eq(sam_model_new(&c, SAM_DEVICE_CPU, 3, &m, &e), SF_OK);
    snprintf(init, sizeof init, "%s/init.pth", g_dir);
    cr_assert_eq(sam_model_save(m, init, &e), SF_OK, "%s", e.msg);
    sam_model_free(m);
    snprintf(run, sizeof run, "%s/run", g_dir);
    sam_train_result r;
    cr_assert_eq(train(g_cfg, run, 0, 0, NULL, &r, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(r.steps, 12);
    snprintf(last, sizeof last, "%s/last.pth", run);
    int seen = 0;
    cr_assert_eq(n_differ(init, last, "image_encoder.", &seen), 0,
                 "a frozen encoder changed");
    cr_assert(seen > 10);
    cr_assert(n_differ(init, last, "mask_decoder.", NULL) > 0,
              "the decoder did not train");
    /* the encoder ran once per image: 6 training + 3 validation images,
     * though 12 steps and 2 validations ran */
    cr_assert_eq(r.encoder_calls, 6 + 3, "encoder calls %ld", r.encoder_calls);
}

Test(train, init_loads_encoders_and_keeps_a_fresh_decoder) {
    /* lr 0: the weights stay what initialisation made them */
    write_config(g_cfg, "lr: 0\nlr_min: 0\n");
    char src[400], fresh[400], run[400], last[500], cfgm[400];
    snprintf(cfgm, sizeof cfgm, "%s/m.yaml", g_dir);
    FILE *f = fopen(cfgm, "w");
    cr_assert(f);
    fputs(kModel + strlen("model:\n"), f);
    fclose(f);
    sam_config c;
    sf_err e = {0};
    cr_assert_eq(sam_config_load(cfgm, &c, &e), SF_OK, "%s", e.msg);
    sam_model *m = NULL;
    snprintf(src, sizeof src, "%s/src.pth", g_dir);
    snprintf(fresh, sizeof fresh, "%s/fresh.pth", g_dir);
    cr_assert_eq(sam_model_new(&c, SAM_DEVICE_CPU, 99, &m, &e), SF_OK);
    cr_assert_eq(sam_model_save(m, src, &e), SF_OK);
    sam_model_free(m);
    cr_assert_eq(sam_model_new(&c, SAM_DEVICE_CPU, 3, &m, &e), SF_OK);
    cr_assert_eq(sam_model_save(m, fresh, &e), SF_OK);
    sam_model_free(m);
    snprintf(run, sizeof run, "%s/run", g_dir);
    sam_train_result r;
    cr_assert_eq(train(g_cfg, run, 0, 0, src, &r, &e), SF_OK, "%s", e.msg);
    snprintf(last, sizeof last, "%s/last.pth", run);
    cr_assert_eq(n_differ(src, last, "image_encoder.", NULL), 0);
    cr_assert_eq(n_differ(src, last, "prompt_encoder.", NULL), 0);
    cr_assert_eq(n_differ(fresh, last, "mask_decoder.", NULL), 0,
                 "the decoder must be freshly initialised");
    cr_assert(n_differ(src, last, "mask_decoder.", NULL) > 0);
}

Test(train, bad_inputs_leave_no_run) {
    char run[400], bad[400];
    snprintf(run, sizeof run, "%s/run", g_dir);
    sam_train_result r;
    sf_err e = {0};
    /* config errors */
    write_config(g_cfg, "learning_rate: 1\n");
    cr_assert_eq(train(g_cfg, run, 0, 0, NULL, &r, &e), SF_ECONFIG);
    cr_assert(strstr(e.msg, "learning_rate"), "%s", e.msg);
    write_config(g_cfg, "batch_size: 4\n");
    cr_assert_eq(train(g_cfg, run, 0, 0, NULL, &r, &e), SF_ECONFIG);
    write_config(g_cfg, "n_pos: [0, 2]\n");
    cr_assert_eq(sam_train_config_check(g_cfg, &e), SF_ECONFIG);
    write_config(g_cfg, "precision: fp16\n");
    cr_assert_eq(sam_train_config_check(g_cfg, &e), SF_ECONFIG);
    /* bf16 is CUDA mixed precision: refused on the CPU, before RUN */
    write_config(g_cfg, "precision: bf16\n");
    cr_assert_eq(train(g_cfg, run, 0, 0, NULL, &r, &e), SF_ECONFIG);
    cr_assert(strstr(e.msg, "cuda"), "%s", e.msg);
    cr_assert(!file_exists(run, ""), "run dir created on a config error");
    /* missing corpus */
    write_config(g_cfg, NULL);
    const char *missing[1] = {"/nonexistent/corpus"};
    sam_train_opts o = {0};
    o.config = g_cfg;
    o.corpora = missing;
    o.n_corpora = 1;
    o.val_dir = g_val;
    o.out_dir = run;
    o.device = -1;
    cr_assert_neq(sam_train_run(&o, &r, &e), SF_OK);
    cr_assert(!file_exists(run, ""));
    /* training corpus = validation corpus */
    o.corpora = (const char *const *)&o.val_dir;
    cr_assert_neq(sam_train_run(&o, &r, &e), SF_OK);
    cr_assert(!file_exists(run, ""));
    /* a corrupt corpus file */
    snprintf(bad, sizeof bad, "%s/train/manifest.sqlite", g_dir);
    FILE *f = fopen(bad, "r+");
    cr_assert(f);
    fputs("garbage garbage garbage", f);
    fclose(f);
    cr_assert_neq(train(g_cfg, run, 0, 0, NULL, &r, &e), SF_OK);
    cr_assert(!file_exists(run, ""));
}

Test(train, incompatible_init_is_refused) {
    write_config(g_cfg, NULL);
    char run[400], ck[400];
    snprintf(run, sizeof run, "%s/run", g_dir);
    snprintf(ck, sizeof ck, "%s/other.pth", g_dir);
    sam_config c;
    sf_err e = {0};
    sam_config_preset("vit_b", &c, NULL);
    c.image_size = 64;
    c.encoder_embed_dim = 48;
    c.encoder_depth = 1;
    c.encoder_num_heads = 2;
    c.n_encoder_global_attn_indexes = 1;
    c.encoder_global_attn_indexes[0] = 0;
    c.window_size = 0;
    c.prompt_embed_dim = 32;
    sam_model *m = NULL;
    cr_assert_eq(sam_model_new(&c, SAM_DEVICE_CPU, 1, &m, &e), SF_OK, "%s",
                 e.msg);
    cr_assert_eq(sam_model_save(m, ck, &e), SF_OK);
    sam_model_free(m);
    sam_train_result r;
    cr_assert_eq(train(g_cfg, run, 0, 0, ck, &r, &e), SF_ECORRUPT, "%s", e.msg);
    cr_assert(strstr(e.msg, "--init"), "%s", e.msg);
    cr_assert(!file_exists(run, ""));
}

static double db_double(const char *run, const char *sql) {
    char p[600];
    snprintf(p, sizeof p, "%s/run.sqlite", run);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    double v =
        sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_double(st, 0) : NAN;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The one-image overfit check: a from-scratch model on ONE image with two
 * instances, both decoded every step (instances_per_step: 2), must drive
 * the loss to ~0, which it can only do if its masks follow the clicks. (It
 * is the check that found the trainer's old failure: with Dice alone and
 * one instance per step the decoder learnt one mask per image whatever the
 * click.) */
Test(train, overfits_one_image_and_follows_the_clicks) {
    /* the first seed whose single 64 px sample has >= 2 instances of at
     * least 3% of the image */
    char one[400], val[400], run[400];
    snprintf(one, sizeof one, "%s/one", g_dir);
    snprintf(val, sizeof val, "%s/oneval", g_dir);
    uint64_t seed = 0;
    for (uint64_t s = 10; s < 60 && !seed; s++) {
        char d[400], cmd[500];
        snprintf(d, sizeof d, "%s/probe%llu", g_dir, (unsigned long long)s);
        make_corpus(d, s, 1);
        sf_corpus *c = NULL;
        sf_err e = {0};
        cr_assert_eq(sf_corpus_open(d, &c, &e), SF_OK, "%s", e.msg);
        sf_instance *in = NULL;
        int n = 0, big = 0;
        cr_assert_eq(sf_corpus_instances(c, 0, &in, &n, &e), SF_OK);
        for (int i = 0; i < n; i++)
            big += in[i].area >= 0.03 * 64 * 64;
        free(in);
        sf_corpus_close(c);
        if (big >= 2) {
            seed = s;
            snprintf(cmd, sizeof cmd, "mv '%s' '%s'", d, one);
            cr_assert_eq(system(cmd), 0);
        }
    }
    cr_assert(seed, "no seed gave an image with two instances");
    make_corpus(val, seed + 1000, 2);
    write_config(g_cfg, "min_area_frac: 0.03\nimages_per_epoch: 150\n"
                        "loss: dice+bce\ninstances_per_step: 2\n"
                        "n_pos: [1, 1]\nn_neg: [0, 0]\nlr: 0.002\n"
                        "warmup_steps: 10\n");
    snprintf(run, sizeof run, "%s/run", g_dir);
    const char *corpora[1] = {one};
    sam_train_opts o = {0};
    o.config = g_cfg;
    o.corpora = corpora;
    o.n_corpora = 1;
    o.val_dir = val;
    o.out_dir = run;
    o.device = -1;
    sam_train_result r;
    sf_err e = {0};
    cr_assert_eq(sam_train_run(&o, &r, &e), SF_OK, "%s", e.msg);
    double first = db_double(run, "SELECT avg(loss) FROM steps WHERE step "
                                  "<= 10");
    double last = db_double(run, "SELECT avg(loss) FROM steps WHERE step "
                                 "> 130");
    cr_assert(first > 0.5, "initial loss %g", first);
    cr_assert(last < 0.15, "the loss did not go to ~0: %g -> %g", first, last);
}

/* --init from the official-format checkpoint of ../shared/golden/sam_tiny:
 * the image and prompt encoders are the checkpoint's, the mask decoder is
 * a fresh initialisation (lr 0 keeps every weight as initialised); with a
 * frozen encoder and lr > 0 the encoder still equals the checkpoint after
 * training while the decoder moves. */
Test(train, init_from_golden_sam_tiny_and_freezing, .timeout = 600) {
    REQUIRE_GOLDEN(gdir);
    char ck[1200], cfgm[700], run[400], run2[400], fresh[400], last[500];
    snprintf(ck, sizeof ck, "%s/ckpt.pth", gdir);
    char cwd[512];
    cr_assert(getcwd(cwd, sizeof cwd));
    snprintf(cfgm, sizeof cfgm, "%s/" SAM_TINY_YAML, cwd);
    FILE *f = fopen(g_cfg, "w");
    cr_assert(f);
    fprintf(f,
            "model: %s\nseed: 5\nlr: 0\nlr_min: 0\nepochs: 1\n"
            "images_per_epoch: 2\nmin_area_frac: 0.01\n"
            "val_max_images: 1\nval_instances_per_image: 1\n"
            "freeze_image_encoder: true\nthreads: 1\n",
            cfgm);
    fclose(f);
    sam_config c = tiny_config();
    sam_model *m = NULL;
    sf_err e = {0};
    snprintf(fresh, sizeof fresh, "%s/fresh.pth", g_dir);
    cr_assert_eq(sam_model_new(&c, SAM_DEVICE_CPU, 5, &m, &e), SF_OK);
    cr_assert_eq(sam_model_save(m, fresh, &e), SF_OK, "%s", e.msg);
    sam_model_free(m);
    snprintf(run, sizeof run, "%s/run", g_dir);
    sam_train_result r;
    cr_assert_eq(train(g_cfg, run, 0, 0, ck, &r, &e), SF_OK, "%s", e.msg);
    snprintf(last, sizeof last, "%s/last.pth", run);
    int seen = 0;
    cr_assert_eq(n_differ(ck, last, "image_encoder.", &seen), 0);
    cr_assert(seen > 10);
    cr_assert_eq(n_differ(ck, last, "prompt_encoder.", &seen), 0);
    cr_assert(seen > 3);
    cr_assert_eq(n_differ(fresh, last, "mask_decoder.", &seen), 0,
                 "the decoder must be freshly initialised");
    cr_assert(seen > 10);
    cr_assert(n_differ(ck, last, "mask_decoder.", NULL) > 0,
              "the decoder came from the checkpoint");
    /* frozen + lr > 0: encoder unchanged, decoder trained */
    f = fopen(g_cfg, "w");
    cr_assert(f);
    fprintf(f,
            "model: %s\nseed: 5\nlr: 0.001\nepochs: 1\n"
            "images_per_epoch: 2\nmin_area_frac: 0.01\n"
            "val_max_images: 1\nval_instances_per_image: 1\n"
            "freeze_image_encoder: true\nthreads: 1\n",
            cfgm);
    fclose(f);
    snprintf(run2, sizeof run2, "%s/run2", g_dir);
    cr_assert_eq(train(g_cfg, run2, 0, 0, ck, &r, &e), SF_OK, "%s", e.msg);
    snprintf(last, sizeof last, "%s/last.pth", run2);
    cr_assert_eq(n_differ(ck, last, "image_encoder.", NULL), 0,
                 "a frozen encoder changed");
    cr_assert(n_differ(fresh, last, "mask_decoder.", NULL) > 0,
              "the decoder did not train");
}

static void write_factory(const char *path) {
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("image_size: 64\nmode: shape\n", f);
    fclose(f);
}

static int train_otf(const char *fac, const char *out, int resume, long stop,
                     sam_train_result *r, sf_err *e) {
    sam_train_opts o = {0};
    o.config = resume ? NULL : g_cfg;
    o.on_the_fly = resume ? NULL : fac;
    o.val_dir = resume ? NULL : g_val;
    o.out_dir = out;
    o.resume = resume;
    o.device = -1;
    o.stop_after_steps = stop;
    return sam_train_run(&o, r, e);
}

/* On-the-fly: samples straight from the factory, recorded as such,
 * resumable bit-exactly; a seed equal to the validation corpus's is
 * refused before anything is written. */
Test(train, on_the_fly_draws_from_the_factory_and_resumes_exactly) {
    char fac[400], a[400], b[400], pa[500], pb[500];
    snprintf(fac, sizeof fac, "%s/factory.yaml", g_dir);
    write_factory(fac);
    snprintf(a, sizeof a, "%s/a", g_dir);
    snprintf(b, sizeof b, "%s/b", g_dir);
    sam_train_result r;
    sf_err e = {0};
    /* the validation corpus has master seed 2 */
    write_config(g_cfg, "on_the_fly_seed: 2\n");
    cr_assert_eq(train_otf(fac, a, 0, 0, &r, &e), SF_EINVAL);
    cr_assert(strstr(e.msg, "validation"), "%s", e.msg);
    cr_assert(!file_exists(a, ""));
    write_config(g_cfg, "on_the_fly_seed: 7\nepochs: 2\nimages_per_epoch: 3\n"
                        "freeze_image_encoder: true\n");
    cr_assert_eq(train_otf(fac, a, 0, 0, &r, &e), SF_OK, "%s", e.msg);
    cr_assert(r.finished);
    cr_assert_eq(r.steps, 6);
    /* no cache on the fly: one encoder pass per step (+ 3 validation
     * images, cached) */
    cr_assert_eq(r.encoder_calls, 6 + 3, "%ld", r.encoder_calls);
    cr_assert(file_exists(a, "factory.yaml"));
    cr_assert(file_exists(a, "curve.png"));
    cr_assert_eq(db_long(a, "SELECT count(*) FROM corpora WHERE role = "
                            "'on-the-fly' AND n_samples = 6"),
                 1);
    cr_assert_eq(train_otf(fac, b, 0, 3, &r, &e), SF_OK, "%s", e.msg);
    cr_assert(!r.finished);
    cr_assert_eq(train_otf(NULL, b, 1, 0, &r, &e), SF_OK, "%s", e.msg);
    cr_assert(r.finished);
    snprintf(pa, sizeof pa, "%s/last.pth", a);
    snprintf(pb, sizeof pb, "%s/last.pth", b);
    cr_assert_eq(n_differ(pa, pb, "", NULL), 0,
                 "resumed on-the-fly weights differ");
    /* images_per_epoch is required on the fly */
    write_config(g_cfg, "on_the_fly_seed: 7\nimages_per_epoch: 0\n");
    snprintf(b, sizeof b, "%s/c", g_dir);
    cr_assert_eq(train_otf(fac, b, 0, 0, &r, &e), SF_ECONFIG, "%s", e.msg);
    cr_assert(!file_exists(b, ""));
}

/* RMS of one tensor of a checkpoint. */
static double tensor_rms(const char *path, const char *name) {
    sam_ckpt *x = NULL;
    sf_err e = {0};
    cr_assert_eq(sam__ckpt_read(path, &x, &e), SF_OK, "%s", e.msg);
    int j = sam__ckpt_find(x, name);
    cr_assert(j >= 0, "%s missing", name);
    const sam_ckpt_tensor *t = &x->tensors[j];
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    const float *p = (const float *)x->storages[t->storage].data + t->offset;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)p[i] * p[i];
    sam__ckpt_free(x);
    return sqrt(s / (double)n);
}

Test(train, encoder_lr_scale_moves_the_encoder_faster_and_resumes) {
    /* pos_embed starts at zero (SAM's init): after a few Adam steps its
     * size is ~ steps x the encoder's lr, so 4x the lr shows as > 2x. */
    char a[400], b[400], c[400], p[500];
    snprintf(a, sizeof a, "%s/a", g_dir);
    snprintf(b, sizeof b, "%s/b", g_dir);
    snprintf(c, sizeof c, "%s/c", g_dir);
    sam_train_result r;
    sf_err e = {0};
    write_config(g_cfg, NULL);
    cr_assert_eq(train(g_cfg, a, 0, 0, NULL, &r, &e), SF_OK, "%s", e.msg);
    write_config(g_cfg, "encoder_lr_scale: 4\n");
    cr_assert_eq(train(g_cfg, b, 0, 0, NULL, &r, &e), SF_OK, "%s", e.msg);
    snprintf(p, sizeof p, "%s/last.pth", a);
    double ra = tensor_rms(p, "image_encoder.pos_embed");
    snprintf(p, sizeof p, "%s/last.pth", b);
    double rb = tensor_rms(p, "image_encoder.pos_embed");
    cr_assert(ra > 0 && rb > 2.0 * ra, "pos_embed rms %g (x1) vs %g (x4)", ra,
              rb);
    /* two parameter groups survive a resume bit for bit */
    cr_assert_eq(train(g_cfg, c, 0, 3, NULL, &r, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(train(NULL, c, 1, 0, NULL, &r, &e), SF_OK, "%s", e.msg);
    char pc[500];
    snprintf(pc, sizeof pc, "%s/last.pth", c);
    cr_assert_eq(n_differ(p, pc, "", NULL), 0);
    /* out of range: refused with the key */
    write_config(g_cfg, "encoder_lr_scale: 0\n");
    snprintf(c, sizeof c, "%s/d", g_dir);
    cr_assert_eq(train(g_cfg, c, 0, 0, NULL, &r, &e), SF_ECONFIG);
    cr_assert(strstr(e.msg, "encoder_lr_scale") ||
                  strstr(e.where, "encoder_lr_scale"),
              "%s", e.msg);
}

/* SAM 2's high-res path on the tiny model: the stem and the decoder's
 * conv_s0 / conv_s1 are trained, saved under their names, written to
 * model.yaml, loaded by predict, and resume bit for bit; with conv_stem the
 * patch embedding reads the stem (a 2x2 convolution on its 16 channels). */
static void check_high_res(int conv_stem) {
    FILE *f = fopen(g_cfg, "w");
    cr_assert(f);
    fprintf(f,
            "%s  high_res_features: 8\n  conv_stem: %d\nseed: 3\nlr: 0.001\n"
            "warmup_steps: 2\nepochs: 1\nimages_per_epoch: 6\n"
            "min_area_frac: 0.01\nval_max_images: 3\n"
            "val_instances_per_image: 2\nthreads: 1\n",
            kModel, conv_stem);
    fclose(f);
    char a[400], b[400], pa[500], pb[500];
    snprintf(a, sizeof a, "%s/a", g_dir);
    snprintf(b, sizeof b, "%s/b", g_dir);
    sam_train_result r;
    sf_err e = {0};
    cr_assert_eq(train(g_cfg, a, 0, 0, NULL, &r, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(train(g_cfg, b, 0, 3, NULL, &r, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(train(NULL, b, 1, 0, NULL, &r, &e), SF_OK, "%s", e.msg);
    snprintf(pa, sizeof pa, "%s/last.pth", a);
    snprintf(pb, sizeof pb, "%s/last.pth", b);
    int seen = 0;
    cr_assert_eq(n_differ(pa, pb, "", &seen), 0);
    /* 64 px, patch 16: stages at strides 2, 4 (s0, width 8), 8 (s1, 16) */
    sam_ckpt *ck = NULL;
    cr_assert_eq(sam__ckpt_read(pa, &ck, &e), SF_OK, "%s", e.msg);
    static const char *keys[] = {"image_encoder.high_res_stem.0.0.weight",
                                 "image_encoder.high_res_stem.1.1.weight",
                                 "image_encoder.high_res_stem.2.0.weight",
                                 "mask_decoder.conv_s0.weight",
                                 "mask_decoder.conv_s1.weight"};
    static const int64_t dim0[] = {8, 8, 16, 4, 8};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        int j = sam__ckpt_find(ck, keys[i]);
        cr_assert(j >= 0, "%s missing", keys[i]);
        cr_expect_eq(ck->tensors[j].shape[0], dim0[i], "%s", keys[i]);
    }
    cr_expect_eq(sam__ckpt_find(ck, "image_encoder.high_res_stem.3.0.weight"),
                 -1);
    int pe = sam__ckpt_find(ck, "image_encoder.patch_embed.proj.weight");
    cr_assert(pe >= 0);
    cr_expect_eq(ck->tensors[pe].shape[1], conv_stem ? 16 : 3);
    cr_expect_eq(ck->tensors[pe].shape[2], conv_stem ? 2 : 16);
    sam__ckpt_free(ck);
    /* the stem learned: every tensor left the run seed's init */
    char cfgm[500], init[500];
    snprintf(cfgm, sizeof cfgm, "%s/model.yaml", a);
    size_t n;
    char *y = slurp(cfgm, &n);
    cr_assert(strstr(y, "high_res_features: 8"), "%s", y);
    cr_assert(!conv_stem == !strstr(y, "conv_stem: 1"), "%s", y);
    free(y);
    sam_config c;
    cr_assert_eq(sam_config_load(cfgm, &c, &e), SF_OK, "%s", e.msg);
    sam_model *m = NULL;
    cr_assert_eq(sam_model_new(&c, SAM_DEVICE_CPU, 3, &m, &e), SF_OK);
    snprintf(init, sizeof init, "%s/fresh.pth", g_dir);
    cr_assert_eq(sam_model_save(m, init, &e), SF_OK, "%s", e.msg);
    sam_model_free(m);
    cr_assert_eq(n_differ(init, pa, "image_encoder.high_res_stem.", &seen), 12);
    cr_assert_eq(seen, 12); /* 3 x (conv weight, bias, norm weight, bias) */
    /* predict loads it and decodes through the stem */
    cr_assert_eq(sam_model_load(pa, &c, SAM_DEVICE_CPU, &m, &e), SF_OK, "%s",
                 e.msg);
    uint8_t img[64 * 64];
    for (int i = 0; i < 64 * 64; i++)
        img[i] = (uint8_t)((i % 64) < 32 ? 40 : 200);
    cr_assert_eq(sam_model_set_image(m, img, 64, 64, 1, &e), SF_OK, "%s",
                 e.msg);
    float pt[2] = {16, 32};
    int lab = 1;
    sam_prompt p = {0};
    p.n_points = 1;
    p.points = pt;
    p.labels = &lab;
    sam_prediction *pr = NULL;
    cr_assert_eq(sam_model_predict(m, &p, &pr, &e), SF_OK, "%s", e.msg);
    sam_prediction_free(pr);
    /* embeddings alone cannot drive this decoder: refused, not wrong */
    float emb[32 * 4 * 4];
    cr_assert_eq(sam_model_get_embeddings(m, emb, 32 * 4 * 4, &e),
                 SF_EUNSUPPORTED);
    cr_assert_eq(sam_model_set_embeddings(m, emb, 64, 64, &e), SF_EUNSUPPORTED);
    cr_assert(strstr(e.msg, "high_res_features"), "%s", e.msg);
    sam_model_free(m);
}

Test(train, high_res_features_train_save_predict_and_resume) {
    check_high_res(0);
}

Test(train, conv_stem_train_save_predict_and_resume) {
    check_high_res(1);
}

/* SAM's output contract (issue 16): with multimask one-click prompts
 * train the three disambiguating masks (best of three) and the IoU head
 * learns every mask's true IoU; corrective clicks with the previous mask
 * as input; zoomed views (crop_scale); model.yaml records the contract
 * and the zoom views; an interrupted run resumes bit-exactly. Without
 * multimask the IoU head keeps its initial weights: what the harness
 * must not rank masks with. */
Test(train, output_contract_multimask_iou_corrective_crops) {
    write_config(g_cfg, NULL);
    FILE *f = fopen(g_cfg, "w");
    cr_assert(f);
    fprintf(f,
            "%s  zoom: [1, 0.5]\nseed: 3\nlr: 0.001\nwarmup_steps: 2\n"
            "epochs: 1\nimages_per_epoch: 6\nmin_area_frac: 0.01\n"
            "val_max_images: 3\nval_instances_per_image: 2\nthreads: 1\n"
            "instances_per_step: 2\nmultimask: true\niou_loss_weight: 1\n"
            "single_click_frac: 0.5\ncorrective_iters: 2\n"
            "crop_scale: [0.5, 1]\n",
            kModel);
    fclose(f);
    char a[400], b[400], c[400], pa[500], pb[500], pc[500], fresh[500];
    snprintf(a, sizeof a, "%s/a", g_dir);
    snprintf(b, sizeof b, "%s/b", g_dir);
    snprintf(c, sizeof c, "%s/c", g_dir);
    sam_train_result r;
    sf_err e = {0};
    cr_assert_eq(train(g_cfg, a, 0, 0, NULL, &r, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(train(g_cfg, b, 0, 3, NULL, &r, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(train(NULL, b, 1, 0, NULL, &r, &e), SF_OK, "%s", e.msg);
    snprintf(pa, sizeof pa, "%s/last.pth", a);
    snprintf(pb, sizeof pb, "%s/last.pth", b);
    int seen = 0;
    cr_assert_eq(n_differ(pa, pb, "", &seen), 0, "resume is not exact");
    char my[500];
    snprintf(my, sizeof my, "%s/model.yaml", a);
    size_t n;
    char *y = slurp(my, &n);
    cr_assert(strstr(y, "multimask_trained: true"), "%s", y);
    cr_assert(strstr(y, "zoom: [1, 0.5]"), "%s", y);
    free(y);
    snprintf(my, sizeof my, "%s/config.yaml", a);
    y = slurp(my, &n);
    cr_assert(strstr(y, "corrective_iters: 2") &&
                  strstr(y, "crop_scale: [0.5, 1]"),
              "%s", y);
    free(y);
    /* the heads the contract needs left their initial weights */
    sam_config mc;
    snprintf(my, sizeof my, "%s/model.yaml", a);
    cr_assert_eq(sam_config_load(my, &mc, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(mc.n_zoom, 2);
    cr_assert(mc.multimask_trained);
    sam_model *m = NULL;
    cr_assert_eq(sam_model_new(&mc, SAM_DEVICE_CPU, 3, &m, &e), SF_OK);
    snprintf(fresh, sizeof fresh, "%s/fresh.pth", g_dir);
    cr_assert_eq(sam_model_save(m, fresh, &e), SF_OK, "%s", e.msg);
    sam_model_free(m);
    int n_iou = 0, n_tok = 0;
    cr_assert_eq(
        n_differ(fresh, pa, "mask_decoder.iou_prediction_head.", &n_iou),
        n_iou);
    cr_assert_eq(n_differ(fresh, pa,
                          "mask_decoder.output_hypernetworks_mlps.2.", &n_tok),
                 n_tok);
    cr_assert(n_iou > 0 && n_tok > 0);
    /* validation scored the policy the harness uses and recorded it */
    cr_assert(db_long(a, "SELECT count(*) FROM val_instances") > 0);
    /* without multimask: those heads never get a gradient */
    write_config(g_cfg, NULL);
    cr_assert_eq(train(g_cfg, c, 0, 0, NULL, &r, &e), SF_OK, "%s", e.msg);
    snprintf(pc, sizeof pc, "%s/last.pth", c);
    snprintf(my, sizeof my, "%s/model.yaml", c);
    y = slurp(my, &n);
    cr_assert(strstr(y, "multimask_trained: false"), "%s", y);
    free(y);
    cr_assert_eq(sam_config_load(my, &mc, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(sam_model_new(&mc, SAM_DEVICE_CPU, 3, &m, &e), SF_OK);
    cr_assert_eq(sam_model_save(m, fresh, &e), SF_OK, "%s", e.msg);
    sam_model_free(m);
    cr_assert_eq(n_differ(fresh, pc, "mask_decoder.iou_prediction_head.", NULL),
                 0);
    /* (the multimask tokens' MLPs get a zero gradient there: only AdamW's
     * weight decay moves them) */
}

Test(train, output_contract_config_errors) {
    sf_err e = {0};
    static const struct {
        const char *extra, *says;
    } bad[] = {
        {"multimask: true\n", "iou_loss_weight"},
        {"single_click_frac: 0.5\n", "multimask"},
        {"crop_scale: [0, 1]\n", "crop_scale"},
        {"crop_scale: [0.5]\n", "crop_scale"},
        {"corrective_iters: 17\n", "corrective_iters"},
        {"iou_loss_weight: -1\n", "iou_loss_weight"},
        {"model_x: 1\n", "model_x"},
        {"epochz: 1\n", "did you mean 'epochs'?"},
        {"loss: dice\nloss: dice\n", "duplicate key 'loss'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_config(g_cfg, bad[i].extra);
        cr_assert_eq(sam_train_config_check(g_cfg, &e), SF_ECONFIG, "%s",
                     bad[i].extra);
        cr_assert(strstr(e.msg, bad[i].says), "%s: %s", bad[i].extra, e.msg);
    }
    /* a model config's zoom list is checked where it is read */
    FILE *f = fopen(g_cfg, "w");
    cr_assert(f);
    fprintf(f, "%s  zoom: [1, 1.5]\nthreads: 1\n", kModel);
    fclose(f);
    cr_assert_eq(sam_train_config_check(g_cfg, &e), SF_ECONFIG);
    cr_assert(strstr(e.msg, "zoom"), "%s", e.msg);
}
