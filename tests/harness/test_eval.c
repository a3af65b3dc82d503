/*
 * test_eval.c - the evaluation driver (harness/eval.c) end to end on
 * small datasets made here in the ALFI layout (images/ + masks/, label
 * values 128 and 255): rows in the results database, resume, failures
 * recorded and the run going on, import with missing / wrong-size masks,
 * split refusal, identical clicks for every method, the synthetic OOD
 * split; and the dataset adapters on the real files of ../shared.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../fixtures.h"
#include "../tmpdir.h"
#include "eval.h"
#include "eval_int.h"

static char g_dir[256];

static void mk_tmp(void) {
    cr_assert_not_null(sf_test_mkdtemp(g_dir, sizeof g_dir, "test_eval"));
}

static void rm_tmp(void) {
    cr_expect_eq(sf_test_rmtree(g_dir), 0);
}

static const char *P(const char *rel) {
    static char buf[8][512];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 512, "%s/%s", g_dir, rel);
    return b;
}

#define N 64

/* Case i: a dark image with a bright disk (label 128) and a mid-grey
 * square (label 255), positions depending on i. */
static void write_case(const char *root, int i) {
    uint8_t img[N * N], lab[N * N];
    int cx = 20 + 2 * i, cy = 22 + i, r = 9;
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            int in_disk = (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;
            int in_sq = x >= 40 && x < 54 && y >= 38 + i && y < 52 + i;
            img[y * N + x] = in_disk ? 200 : in_sq ? 120 : 20 + (x + y) % 7;
            lab[y * N + x] = in_disk ? 128 : in_sq ? 255 : 0;
        }
    char p[512];
    snprintf(p, sizeof p, "%s/images/c%02d.png", root, i);
    cr_assert_eq(sf_png_write_gray8(p, img, N, N, 1, NULL), SF_OK);
    snprintf(p, sizeof p, "%s/masks/c%02d.png", root, i);
    cr_assert_eq(sf_png_write_gray8(p, lab, N, N, 1, NULL), SF_OK);
}

static void make_alfi(int n_cases) {
    mkdir(P("alfi"), 0755);
    mkdir(P("alfi/images"), 0755);
    mkdir(P("alfi/masks"), 0755);
    for (int i = 0; i < n_cases; i++)
        write_case(P("alfi"), i);
}

static long q_long(const char *db, const char *sql) {
    sqlite3 *h;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(h));
    long v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static char g_problems[8192];
static void collect(void *ctx, const char *msg) {
    (void)ctx;
    strncat(g_problems, msg, sizeof g_problems - strlen(g_problems) - 2);
    strcat(g_problems, "\n");
}

static void opts(hx_eval_opts *o, const char *db) {
    hx_eval_opts_init(o);
    o->ds = hx_dataset_by_name("alfi");
    o->data_root = P("alfi");
    o->method = hx_method_by_name("classical");
    o->out_db = db;
    o->problem = collect;
    g_problems[0] = '\0';
}

TestSuite(eval, .init = mk_tmp, .fini = rm_tmp);

Test(eval, classical_rows_then_resume) {
    make_alfi(3);
    hx_eval_opts o;
    opts(&o, P("r.sqlite"));
    hx_eval_stats st;
    sf_err err;
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    cr_expect_eq(st.n_cases, 3);
    cr_expect_eq(st.n_units, 6); /* 3 cases x 2 structures */
    cr_expect_eq(st.n_predictions, 24);
    cr_expect_eq(st.n_failed, 0);
    cr_expect_eq(st.fixed_split, 0);
    const char *db = P("r.sqlite");
    cr_expect_eq(q_long(db, "SELECT count(*) FROM dice_scores"), 24);
    cr_expect_eq(q_long(db, "SELECT count(*) FROM dice_scores WHERE dice < 0 "
                            "OR dice > 1 OR dice IS NULL"),
                 0);
    cr_expect_eq(q_long(db, "SELECT count(DISTINCT setting) FROM dice_scores"),
                 4);
    cr_expect_eq(q_long(db, "SELECT count(*) FROM runs WHERE status = 'done' "
                            "AND modality = 'microscopy'"),
                 1);
    /* Easy shapes: the floor method finds them. */
    cr_expect_gt(st.mean_dice, 0.9, "mean dice %f", st.mean_dice);
    /* Rerun: everything reused, nothing duplicated. */
    hx_eval_stats st2;
    cr_assert_eq(hx_eval_run(&o, &st2, &err), SF_OK, "%s", err.msg);
    cr_expect_eq(st2.n_reused, 24);
    cr_expect_eq(st2.n_predictions, 0);
    cr_expect_eq(st2.run_id, st.run_id);
    cr_expect_eq(q_long(db, "SELECT count(*) FROM predictions"), 24);
    cr_expect_eq(q_long(db, "SELECT count(*) FROM runs"), 1);
}

Test(eval, clicks_obey_rules_and_are_shared_by_methods) {
    make_alfi(2);
    hx_eval_opts o;
    opts(&o, P("r.sqlite"));
    hx_eval_stats st;
    sf_err err;
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    /* A second method (another name = another run) on the same units. */
    o.method_name = "classical-again";
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    const char *db = P("r.sqlite");
    cr_expect_eq(q_long(db, "SELECT count(*) FROM runs"), 2);
    cr_expect_eq(q_long(db, "SELECT count(*) FROM prompts"), 4 * 4);
    cr_expect_eq(q_long(db, "SELECT count(*) FROM predictions"), 2 * 16);
    /* Every stored click against the ground truth. */
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(h,
                                    "SELECT s.case_id, s.label_value, "
                                    "p.setting, p.points_json FROM prompts p "
                                    "JOIN slices s USING (slice_id)",
                                    -1, &q, NULL),
                 SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        rows++;
        char path[512];
        snprintf(path, sizeof path, "%s/alfi/masks/%s.png", g_dir,
                 (const char *)sqlite3_column_text(q, 0));
        uint8_t *lab;
        int w, hh;
        cr_assert_eq(sf_png_read_gray8(path, &lab, &w, &hh, NULL), SF_OK);
        int value = sqlite3_column_int(q, 1), np, nn;
        sscanf((const char *)sqlite3_column_text(q, 2), "%d,%d", &np, &nn);
        const char *s = (const char *)sqlite3_column_text(q, 3);
        int x, y, l, k = 0, got_p = 0, got_n = 0;
        s++; /* [ */
        while (sscanf(s, "[%d,%d,%d]", &x, &y, &l) == 3) {
            int in = lab[y * w + x] == value;
            if (l) {
                cr_expect(in, "positive (%d,%d) outside the structure", x, y);
                cr_expect_eq(got_n, 0, "positives come first");
                got_p++;
            } else {
                cr_expect(!in, "negative (%d,%d) inside the structure", x, y);
                got_n++;
            }
            k++;
            s = strchr(s, ']') + 1;
            if (*s == ',') s++;
        }
        cr_expect_eq(got_p, np);
        cr_expect_eq(got_n, nn);
        free(lab);
    }
    cr_expect_eq(rows, 16);
    sqlite3_finalize(q);
    sqlite3_close(h);
}

Test(eval, corrupt_case_is_recorded_and_the_run_goes_on) {
    make_alfi(3);
    /* Truncate one image. */
    FILE *f = fopen(P("alfi/images/c01.png"), "r+b");
    cr_assert_not_null(f);
    cr_assert_eq(ftruncate(fileno(f), 60), 0);
    fclose(f);
    hx_eval_opts o;
    opts(&o, P("r.sqlite"));
    hx_eval_stats st;
    sf_err err;
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    cr_expect_eq(st.n_cases_failed, 1);
    cr_expect_eq(st.n_predictions, 16);
    cr_expect(strstr(g_problems, "c01.png") != NULL, "%s", g_problems);
    const char *db = P("r.sqlite");
    cr_expect_eq(q_long(db, "SELECT count(*) FROM failures WHERE case_id = "
                            "'c01' AND message LIKE '%c01.png%'"),
                 1);
    cr_expect_eq(q_long(db, "SELECT count(*) FROM slices WHERE case_id = "
                            "'c01'"),
                 0);
    cr_expect_eq(q_long(db, "SELECT count(*) FROM dice_scores"), 16);
}

Test(eval, missing_root_changes_nothing) {
    make_alfi(1);
    hx_eval_opts o;
    opts(&o, P("r.sqlite"));
    hx_eval_stats st;
    sf_err err;
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    o.data_root = P("nowhere");
    cr_expect_eq(hx_eval_run(&o, &st, &err), SF_EIO);
    cr_expect(strstr(err.msg, "nowhere") != NULL, "%s", err.msg);
    cr_expect_eq(q_long(P("r.sqlite"), "SELECT count(*) FROM predictions"), 8);
    cr_expect_eq(q_long(P("r.sqlite"), "SELECT count(*) FROM runs"), 1);
}

Test(eval, import_reports_missing_and_wrong_size_masks) {
    make_alfi(2);
    hx_eval_opts o;
    opts(&o, P("r.sqlite"));
    long n = 0;
    sf_err err;
    cr_assert_eq(hx_prompts_export(&o, P("exp"), &n, &err), SF_OK, "%s",
                 err.msg);
    cr_expect_eq(n, 16);
    /* Answer every prompt with the ground truth, except two. */
    FILE *f = fopen(P("exp/prompts.jsonl"), "r");
    cr_assert_not_null(f);
    char line[4096];
    int k = 0;
    while (fgets(line, sizeof line, f)) {
        char mask[256], cs[64], st_name[64];
        cr_assert_eq(sscanf(line, "{\"mask\":\"%255[^\"]", mask), 1);
        const char *c = strstr(line, "\"case_id\":\"");
        const char *s = strstr(line, "\"structure\":\"");
        cr_assert(c && s);
        sscanf(c, "\"case_id\":\"%63[^\"]", cs);
        sscanf(s, "\"structure\":\"%63[^\"]", st_name);
        int value = !strcmp(st_name, "interphase") ? 128 : 255;
        char path[512];
        snprintf(path, sizeof path, "%s/alfi/masks/%s.png", g_dir, cs);
        uint8_t *lab;
        int w, h;
        cr_assert_eq(sf_png_read_gray8(path, &lab, &w, &h, NULL), SF_OK);
        for (int i = 0; i < w * h; i++)
            lab[i] = lab[i] == value ? 255 : 0;
        snprintf(path, sizeof path, "%s/exp/%s", g_dir, mask);
        if (k == 3) {
            /* missing */
        } else if (k == 5) {
            cr_assert_eq(sf_png_write_gray8(path, lab, w - 1, h, 1, NULL),
                         SF_OK);
        } else if (k == 7) {
            /* a correct mask, but outside the folder behind a link:
             * refused, never followed */
            char out[512];
            snprintf(out, sizeof out, "%s/outside.png", g_dir);
            cr_assert_eq(sf_png_write_gray8(out, lab, w, h, 1, NULL), SF_OK);
            cr_assert_eq(symlink(out, path), 0);
        } else {
            cr_assert_eq(sf_png_write_gray8(path, lab, w, h, 1, NULL), SF_OK);
        }
        free(lab);
        k++;
    }
    fclose(f);
    o.method = hx_method_by_name("import");
    o.import_dir = P("exp");
    o.method_name = "outside";
    hx_eval_stats st;
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    cr_expect_eq(st.n_failed, 3);
    cr_expect_eq(st.n_predictions, 13);
    cr_expect(strstr(g_problems, "missing mask") != NULL, "%s", g_problems);
    cr_expect(strstr(g_problems, "wrong-size mask") != NULL, "%s", g_problems);
    cr_expect(strstr(g_problems, "(symbolic links are refused)") != NULL, "%s",
              g_problems);
    const char *db = P("r.sqlite");
    cr_expect_eq(q_long(db, "SELECT count(*) FROM predictions WHERE status = "
                            "'failed' AND dice IS NULL AND error IS NOT NULL"),
                 3);
    cr_expect_eq(q_long(db, "SELECT count(*) FROM dice_scores"), 13);
    cr_expect_eq(q_long(db, "SELECT count(*) FROM dice_scores WHERE dice = 0"),
                 0);
    cr_expect_eq(q_long(db, "SELECT count(*) FROM dice_scores WHERE dice = 1"),
                 13);
}

Test(eval, import_refuses_a_linked_masks_folder) {
    uint8_t px[4] = {0, 255, 255, 0}, pred[4];
    sf_err err;
    cr_assert_eq(mkdir(P("elsewhere"), 0755), 0);
    cr_assert_eq(sf_png_write_gray8(P("elsewhere/u.png"), px, 2, 2, 1, NULL),
                 SF_OK);
    cr_assert_eq(mkdir(P("imp"), 0755), 0);
    cr_assert_eq(symlink(P("elsewhere"), P("imp/masks")), 0);
    cr_expect_eq(hx__import_mask(P("imp"), "u", 2, 2, pred, &err), SF_EFORMAT);
    cr_expect(strstr(err.msg, "imp/masks: not a folder") != NULL, "%s",
              err.msg);
    /* the same file in a real folder is read */
    cr_assert_eq(unlink(P("imp/masks")), 0);
    cr_assert_eq(mkdir(P("imp/masks"), 0755), 0);
    cr_assert_eq(sf_png_write_gray8(P("imp/masks/u.png"), px, 2, 2, 1, NULL),
                 SF_OK);
    cr_assert_eq(hx__import_mask(P("imp"), "u", 2, 2, pred, &err), SF_OK, "%s",
                 err.msg);
    cr_expect(pred[0] == 0 && pred[1] == 1 && pred[2] == 1 && pred[3] == 0);
    cr_expect_eq(hx__import_mask(P("imp"), "../u", 2, 2, pred, &err),
                 SF_EINVAL);
}

Test(eval, changed_split_file_is_refused_before_writing) {
    make_alfi(2);
    sf_err err;
    cr_assert_eq(hx_split_write(hx_dataset_by_name("alfi"), P("alfi"), "t",
                                "test", 10, P("split.yaml"), &err),
                 SF_OK, "%s", err.msg);
    hx_eval_opts o;
    opts(&o, P("r.sqlite"));
    o.split_path = P("split.yaml");
    hx_eval_stats st;
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    cr_expect_eq(st.fixed_split, 1);
    cr_expect_eq(q_long(P("r.sqlite"), "SELECT count(*) FROM runs WHERE "
                                       "split_name = 't' AND split_sha256 "
                                       "IS NOT NULL"),
                 1);
    long before = q_long(P("r.sqlite"), "SELECT count(*) FROM predictions");
    write_case(P("alfi"), 7); /* another case: not in the split, fine */
    /* Change one file of the split. */
    FILE *f = fopen(P("alfi/masks/c01.png"), "ab");
    fputc(0, f);
    fclose(f);
    o.method_name = "other";
    cr_expect_eq(hx_eval_run(&o, &st, &err), SF_ECORRUPT);
    cr_expect(strstr(g_problems, "masks/c01.png: changed") != NULL, "%s",
              g_problems);
    cr_expect(strstr(g_problems, "c00") == NULL, "%s", g_problems);
    cr_expect_eq(q_long(P("r.sqlite"), "SELECT count(*) FROM predictions"),
                 before);
    cr_expect_eq(q_long(P("r.sqlite"), "SELECT count(*) FROM runs"), 1);
}

Test(eval, split_restricts_cases_and_structures) {
    make_alfi(3);
    FILE *f = fopen(P("s.yaml"), "w");
    char h[65];
    cr_assert_eq(hx_sha256_path(P("alfi/images/c02.png"), h, NULL), SF_OK);
    fprintf(f,
            "split: one\ndataset: alfi\nslice_rule: {axis: axial, "
            "min_pixels: 5}\nstructures:\n  mitosis: 255\ncases:\n  - id: "
            "c02\n    files:\n      images/c02.png: %s\n",
            h);
    fclose(f);
    hx_eval_opts o;
    opts(&o, P("r.sqlite"));
    o.split_path = P("s.yaml");
    o.settings[0] = (sf_prompt_opts){1, 0, o.ring_width_px};
    o.n_settings = 1;
    hx_eval_stats st;
    sf_err err;
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    cr_expect_eq(st.n_cases, 1);
    cr_expect_eq(st.n_units, 1);
    cr_expect_eq(q_long(P("r.sqlite"), "SELECT count(*) FROM dice_scores "
                                       "WHERE case_id = 'c02' AND structure "
                                       "= 'mitosis'"),
                 1);
}

Test(eval, synthetic_ood_is_made_and_evaluated) {
    hx_eval_opts o;
    opts(&o, P("r.sqlite"));
    o.ds = hx_dataset_by_name("synthetic-ood");
    o.data_root = P("ood");
    o.ood_count = 3;
    o.ood_size = 96;
    o.settings[0] = (sf_prompt_opts){1, 0, o.ring_width_px};
    o.settings[1] = (sf_prompt_opts){3, 3, o.ring_width_px};
    o.n_settings = 2;
    hx_eval_stats st;
    sf_err err;
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    cr_expect_eq(st.n_cases, 3);
    cr_expect_gt(st.n_units, 3);
    cr_expect_eq(st.n_failed, 0);
    cr_expect_eq(q_long(P("r.sqlite"), "SELECT count(*) FROM dice_scores "
                                       "WHERE modality = 'synthetic' AND "
                                       "structure LIKE 'instance_%'"),
                 2 * st.n_units);
    struct stat sb;
    cr_expect_eq(stat(P("ood/manifest.sqlite"), &sb), 0);
    /* Made with the held-out seed, and made only once. */
    sf_corpus *c;
    cr_assert_eq(sf_corpus_open(P("ood"), &c, NULL), SF_OK);
    cr_expect_eq(sf_corpus_get_info(c)->master_seed, HX_OOD_SEED);
    cr_expect_eq(sf_corpus_get_info(c)->image_size, 96);
    sf_corpus_close(c);
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    cr_expect_eq(st.n_predictions, 0);
}

/* ------------------------------------------------------------ classical */

Test(classical, grows_a_disk_and_stops_at_negatives) {
    uint8_t img[N * N], m[N * N];
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            int d = (x - 32) * (x - 32) + (y - 32) * (y - 32);
            img[y * N + x] = d <= 100 ? 180 : 30;
        }
    sf_click c[2] = {{32, 32, 1}, {5, 5, 0}};
    cr_assert_eq(hx_classical_segment(img, N, N, c, 1, NULL, m, NULL), SF_OK);
    long k = 0, bad = 0;
    for (int i = 0; i < N * N; i++) {
        k += m[i];
        bad += m[i] != (img[i] == 180);
    }
    cr_expect_eq(bad, 0, "%ld pixels wrong of %ld", bad, k);
    /* A textured bar (170/190 checkerboard, sd 10, so the tolerance is
     * 25 grey levels) whose right half is 160: without a negative click
     * the region takes the whole bar; a negative click in the right half
     * keeps it on the left. */
    memset(img, 30, sizeof img);
    for (int y = 20; y < 44; y++)
        for (int x = 4; x < 60; x++)
            img[y * N + x] = x >= 32 ? 160 : (x + y) % 2 ? 170 : 190;
    sf_click c2[2] = {{10, 31, 1}, {50, 31, 0}};
    cr_assert_eq(hx_classical_segment(img, N, N, c2, 1, NULL, m, NULL), SF_OK);
    cr_expect_eq(m[31 * N + 10], 1);
    cr_expect_eq(m[31 * N + 50], 1, "no negative: the region spreads");
    cr_assert_eq(hx_classical_segment(img, N, N, c2, 2, NULL, m, NULL), SF_OK);
    cr_expect_eq(m[31 * N + 10], 1);
    cr_expect_eq(m[31 * N + 50], 0);
    cr_expect_eq(m[31 * N + 33], 0);
    cr_expect_eq(m[31 * N + 31], 1);
    /* Deterministic. */
    uint8_t m2[N * N];
    cr_assert_eq(hx_classical_segment(img, N, N, c2, 2, NULL, m2, NULL), SF_OK);
    cr_expect_eq(memcmp(m, m2, sizeof m), 0);
}

Test(classical, fills_holes_and_refuses_no_positive) {
    uint8_t img[N * N], m[N * N];
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            int d = (x - 32) * (x - 32) + (y - 32) * (y - 32);
            img[y * N + x] = d <= 225 ? (d <= 9 ? 0 : 200) : 10;
        }
    sf_click c = {32, 20, 1};
    cr_assert_eq(hx_classical_segment(img, N, N, &c, 1, NULL, m, NULL), SF_OK);
    cr_expect_eq(m[32 * N + 32], 1, "the dark hole is filled");
    cr_expect_eq(m[2 * N + 2], 0);
    sf_click neg = {3, 3, 0};
    sf_err err;
    cr_expect_eq(hx_classical_segment(img, N, N, &neg, 1, NULL, m, &err),
                 SF_EINVAL);
}

/* -------------------------------------------------------------- splits */

TestSuite(split, .init = mk_tmp, .fini = rm_tmp);

Test(split, malformed_files_name_the_line_and_key) {
    struct {
        const char *text, *want;
    } cases[] = {
        {"split: a\ndataset: nope\ncases: []\ntemplate: true\n", "dataset"},
        {"split: a\ndataset: alfi\ncases:\n  - id: x\n    files:\n      "
         "a.png: 123\n",
         "64 lower-case hex"},
        {"split: a\ndataset: alfi\nslice_rule: {min_pixels: 0}\n"
         "template: true\n",
         "slice_rule.min_pixels"},
        {"split: a\ndataset: alfi\nbogus: 1\n", "unknown key"},
        {"split: [a\n", "YAML"},
        {"split: a\ndataset: alfi\ncases:\n  - id: x\n    files:\n      "
         "../etc/passwd: "
         "0000000000000000000000000000000000000000000000000000000000000000\n",
         "relative path"},
        /* a key twice (fuzz finding: a second cases list replaced the
         * first's array while the count went on) */
        {"split: a\ndataset: alfi\ncases:\n  - id: x\n    files:\n      "
         "a.png: "
         "0000000000000000000000000000000000000000000000000000000000000000\n"
         "cases:\n  - id: y\n    files:\n      b.png: "
         "0000000000000000000000000000000000000000000000000000000000000000\n",
         "duplicate key"},
        {"split: a\ndataset: alfi\ncases:\n  - id: x\n    files:\n      "
         "a.png: "
         "0000000000000000000000000000000000000000000000000000000000000000\n"
         "    files:\n      b.png: "
         "0000000000000000000000000000000000000000000000000000000000000000\n",
         "duplicate key in a case"},
        {"split: a\ndataset: alfi\ntemplate: true\nstructures:\n  x: 1\n"
         "  x: 2\n",
         "duplicate structure"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(P("s.yaml"), "w");
        fputs(cases[i].text, f);
        fclose(f);
        hx_split *s = NULL;
        sf_err err;
        sf_err_clear(&err);
        cr_expect_eq(hx_split_load(P("s.yaml"), &s, &err), SF_ECONFIG,
                     "case %zu", i);
        cr_expect(strstr(err.msg, cases[i].want) != NULL, "case %zu: %s", i,
                  err.msg);
        cr_expect(strstr(err.where, "s.yaml:") != NULL, "case %zu: %s", i,
                  err.where);
        cr_expect_null(s);
    }
}

Test(split, shipped_splits_parse) {
    const char *files[] = {"schemas/splits/totalseg-ct-realdata.yaml",
                           "schemas/splits/totalseg-ct.yaml",
                           "schemas/splits/amos-ct.yaml",
                           "schemas/splits/hc18.yaml"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        hx_split *s = NULL;
        sf_err err;
        cr_expect_eq(hx_split_load(files[i], &s, &err), SF_OK, "%s: %s",
                     files[i], err.msg);
        hx_split_free(s);
    }
}

/* ------------------------------------------------- real data (../shared) */

/* realdata/<rel> from tests/fixtures/ or $SF_SHARED (fixtures.h), or
 * skip the test. */
static const char *real_path(const char *rel) {
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ & 3], r[600];
    snprintf(r, sizeof r, "realdata/%s", rel);
    if (!sf_test_fixture(r, b, sizeof buf[0]))
        cr_skip_test("%s: " SF_TEST_FIXTURE_ABSENT, r);
    return b;
}

TestSuite(datasets, .init = mk_tmp, .fini = rm_tmp);

/* The real CT sample in TotalSegmentator's layout (symlinks). */
static void ts_layout(void) {
    char a[PATH_MAX], b[1024]; /* symlinks need absolute targets */
    mkdir(P("ts"), 0755);
    mkdir(P("ts/example_ct_sm"), 0755);
    cr_assert_not_null(
        realpath(real_path("totalsegmentator/example_ct_sm.nii.gz"), a));
    snprintf(b, sizeof b, "%s", P("ts/example_ct_sm/ct.nii.gz"));
    cr_assert_eq(symlink(a, b), 0);
    cr_assert_not_null(
        realpath(real_path("totalsegmentator/example_seg_fast"), a));
    snprintf(b, sizeof b, "%s", P("ts/example_ct_sm/segmentations"));
    cr_assert_eq(symlink(a, b), 0);
}

Test(datasets, totalseg_ct_real_sample_orientation_and_counts) {
    ts_layout();
    const hx_dataset_ops *ds = hx_dataset_by_name("totalseg-ct");
    hx_case_list l;
    sf_err err;
    cr_assert_eq(hx_dataset_list(ds, P("ts"), &l, &err), SF_OK, "%s", err.msg);
    cr_assert_eq(l.n, 1);
    hx_case_data *d = NULL;
    cr_assert_eq(hx_case_load(ds, &l, &l.v[0], &d, &err), SF_OK, "%s", err.msg);
    cr_expect_eq(d->nx, 122);
    cr_expect_eq(d->ny, 101);
    cr_expect_eq(d->nz, 30);
    /* PROVENANCE.md voxel counts of example_seg_fast/. */
    const struct {
        const char *name;
        long n;
    } want[] = {{"aorta", 1174},       {"gallbladder", 1349},
                {"left_kidney", 3676}, {"right_kidney", 3996},
                {"liver", 39350},      {"pancreas", 548},
                {"prostate", 0},       {"spleen", 9630}};
    uint8_t *m = malloc((size_t)d->nx * d->ny);
    double ci[HX_MAX_STRUCTURES] = {0};
    for (int s = 0; s < d->n_structures; s++) {
        long tot = 0;
        double si = 0;
        for (int z = 0; z < d->nz; z++) {
            tot += hx_case_mask(d, z, s, m);
            for (int j = 0; j < d->ny; j++)
                for (int i = 0; i < d->nx; i++)
                    if (m[j * d->nx + i]) si += i;
        }
        ci[s] = tot ? si / tot : -1;
        for (size_t w = 0; w < sizeof want / sizeof want[0]; w++)
            if (!strcmp(want[w].name, d->st[s].name))
                cr_expect_eq(tot, want[w].n, "%s: %ld", d->st[s].name, tot);
    }
    /* Canonical LPS+: i grows towards the patient's left, so the left
     * kidney and the spleen lie at larger i than the right kidney and the
     * liver. */
    int lk = -1, rk = -1, sp = -1, lv = -1;
    for (int s = 0; s < d->n_structures; s++) {
        if (!strcmp(d->st[s].name, "left_kidney")) lk = s;
        if (!strcmp(d->st[s].name, "right_kidney")) rk = s;
        if (!strcmp(d->st[s].name, "spleen")) sp = s;
        if (!strcmp(d->st[s].name, "liver")) lv = s;
    }
    cr_expect_gt(ci[lk], ci[rk], "left kidney i %f, right %f", ci[lk], ci[rk]);
    cr_expect_gt(ci[sp], ci[lv], "spleen i %f, liver %f", ci[sp], ci[lv]);
    free(m);
    hx_case_data_free(d);
    hx_case_list_free(&l);
}

Test(datasets, hc18_real_layout) {
    const char *root = real_path("hc18");
    const hx_dataset_ops *ds = hx_dataset_by_name("hc18");
    hx_case_list l;
    sf_err err;
    cr_assert_eq(hx_dataset_list(ds, root, &l, &err), SF_OK, "%s", err.msg);
    cr_expect_eq(l.n, 14);
    hx_case_data *d = NULL;
    cr_assert_eq(hx_case_load(ds, &l, &l.v[0], &d, &err), SF_OK, "%s", err.msg);
    cr_expect_eq(d->nz, 1);
    uint8_t *m = malloc((size_t)d->nx * d->ny);
    long k = hx_case_mask(d, 0, 0, m);
    cr_expect_gt(k, 1000, "filled head %ld px", k);
    free(m);
    hx_case_data_free(d);
    hx_case_list_free(&l);
}

Test(datasets, missing_layouts_name_the_folder) {
    mkdir(P("empty"), 0755);
    const char *names[] = {"amos-ct", "chaos-mr", "hc18", "fh-ps-aop", "alfi"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        hx_case_list l;
        sf_err err;
        sf_err_clear(&err);
        cr_expect_eq(
            hx_dataset_list(hx_dataset_by_name(names[i]), P("empty"), &l, &err),
            SF_EIO, "%s", names[i]);
        cr_expect(strstr(err.msg, "empty") != NULL, "%s: %s", names[i],
                  err.msg);
    }
    hx_case_list l;
    sf_err err;
    cr_expect_eq(hx_dataset_list(hx_dataset_by_name("totalseg-ct"), P("absent"),
                                 &l, &err),
                 SF_EIO);
    cr_expect(strstr(err.msg, "absent") != NULL, "%s", err.msg);
}

/* CHAOS layout from the real DICOM series: one ground-truth PNG per
 * DICOM file (file-name order), made from that file's own pixels (HU >
 * 100 -> 255). After loading, every slice's mask must equal the same
 * threshold of the canonical volume's slice: each PNG landed on its own
 * DICOM file's slice, in the same orientation. */
Test(datasets, chaos_png_slices_follow_their_dicom_files) {
    char src[PATH_MAX];
    cr_assert_not_null(
        realpath(real_path("totalsegmentator/example_ct_dicom"), src));
    mkdir(P("chaos"), 0755);
    mkdir(P("chaos/Train_Sets"), 0755);
    mkdir(P("chaos/Train_Sets/CT"), 0755);
    mkdir(P("chaos/Train_Sets/CT/1"), 0755);
    mkdir(P("chaos/Train_Sets/CT/1/DICOM_anon"), 0755);
    mkdir(P("chaos/Train_Sets/CT/1/Ground"), 0755);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ls '%s' | sort", src);
    FILE *ls = popen(cmd, "r");
    cr_assert_not_null(ls);
    char name[512];
    int k = 0;
    while (fgets(name, sizeof name, ls)) {
        name[strcspn(name, "\n")] = '\0';
        char a[PATH_MAX + 600], b[1024];
        snprintf(a, sizeof a, "%s/%s", src, name);
        snprintf(b, sizeof b, "%s/chaos/Train_Sets/CT/1/DICOM_anon/%s", g_dir,
                 name);
        cr_assert_eq(symlink(a, b), 0);
        hx_volume *one = NULL;
        sf_err err;
        cr_assert_eq(hx_volume_read(a, &one, &err), SF_OK, "%s", err.msg);
        size_t n = (size_t)one->nx * one->ny;
        uint8_t *m = malloc(n);
        for (size_t i = 0; i < n; i++)
            m[i] = one->data[i] > 100 ? 255 : 0;
        snprintf(b, sizeof b, "%s/chaos/Train_Sets/CT/1/Ground/gt_%03d.png",
                 g_dir, k++);
        cr_assert_eq(sf_png_write_gray8(b, m, one->nx, one->ny, 1, NULL),
                     SF_OK);
        free(m);
        hx_volume_free(one);
    }
    pclose(ls);
    cr_assert_eq(k, 20);
    const hx_dataset_ops *ds = hx_dataset_by_name("chaos-ct");
    hx_case_list l;
    sf_err err;
    cr_assert_eq(hx_dataset_list(ds, P("chaos"), &l, &err), SF_OK, "%s",
                 err.msg);
    cr_assert_eq(l.n, 1);
    hx_case_data *d = NULL;
    cr_assert_eq(hx_case_load(ds, &l, &l.v[0], &d, &err), SF_OK, "%s", err.msg);
    hx_volume *v = NULL;
    cr_assert_eq(
        hx_volume_read(P("chaos/Train_Sets/CT/1/DICOM_anon"), &v, &err), SF_OK,
        "%s", err.msg);
    cr_assert_eq(hx_volume_canonical(v, &err), SF_OK);
    cr_assert_eq(d->nz, v->nz);
    size_t nxy = (size_t)d->nx * d->ny;
    uint8_t *m = malloc(nxy);
    long wrong = 0, on = 0;
    for (int z = 0; z < d->nz; z++) {
        on += hx_case_mask(d, z, 0, m);
        for (size_t i = 0; i < nxy; i++)
            wrong += m[i] != (v->data[(size_t)z * nxy + i] > 100);
    }
    cr_expect_gt(on, 1000);
    cr_expect_eq(wrong, 0, "%ld voxels on the wrong slice", wrong);
    free(m);
    hx_volume_free(v);
    hx_case_data_free(d);
    hx_case_list_free(&l);
}

/* Case-level Dice pools the overlap counts of a case's slices (not the mean
 * of slice Dice): slice 1 |A|=10 |B|=20 |AnB|=5, slice 2 |A|=0 |B|=10 ->
 * 2*5 / (10 + 30) = 0.25, where the mean of slice Dice would be 1/6. */
Test(eval, case_level_dice_pools_overlaps) {
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, hx_results_schema(), NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    const char *rows =
        "INSERT INTO runs (run_id, run_key, method, method_kind, dataset,"
        " modality, data_root, settings, prompt_seed, git_commit, status,"
        " started_at) VALUES (1, 'k', 'm', 'classical', 'd', 'CT', '/', '1,0',"
        " 0, 'x', 'done', 't');"
        "INSERT INTO slices VALUES (1, 'd', 'c1', 3, 'liver', 1, 'h', 8, 8, "
        "20);"
        "INSERT INTO slices VALUES (2, 'd', 'c1', 4, 'liver', 1, 'h', 8, 8, "
        "10);"
        "INSERT INTO predictions (run_id, slice_id, setting, dice, pred_pixels,"
        " status) VALUES (1, 1, '1,0', 10.0 / 30.0, 10, 'ok'),"
        " (1, 2, '1,0', 0.0, 0, 'ok');";
    cr_assert_eq(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    sqlite3_stmt *st = NULL;
    cr_assert_eq(
        sqlite3_prepare_v2(db,
                           "SELECT n_slices, dice FROM case_dice_scores"
                           " WHERE case_id = 'c1'",
                           -1, &st, NULL),
        SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_expect_eq(sqlite3_column_int(st, 0), 2);
    cr_expect_float_eq(sqlite3_column_double(st, 1), 0.25, 1e-12);
    cr_expect_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}
