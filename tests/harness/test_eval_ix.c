/*
 * test_eval_ix.c - the interactive protocols and the volume setting of
 * `synthfm eval` (harness/eval_ix.c, eval.c) and the results database's
 * format_version 2 (results.c): a version 1 file migrated in place with
 * every row kept; a cvpr25 / noc run of the classical method on the real
 * CT sample replayed step by step (each stored click recomputed with
 * hx_click_next from the replayed prediction, each Dice recomputed); the
 * same first click for two methods; the fixed settings' NSD / HD95 equal
 * to hx_metrics_compute with the reader's spacing; the volume setting's
 * 3-D Dice equal to a recomputation; and the refusals.
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

#include "../tmpdir.h"
#include "eval.h"
#include "eval_int.h"

static char g_dir[256];

static void mk_tmp(void) {
    cr_assert_not_null(sf_test_mkdtemp(g_dir, sizeof g_dir, "test_eval_ix"));
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

static sqlite3 *db_open(const char *path) {
    sqlite3 *h;
    cr_assert_eq(sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL),
                 SQLITE_OK);
    return h;
}

static long q_long(sqlite3 *h, const char *sql) {
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK, "%s: %s",
                 sql, sqlite3_errmsg(h));
    long v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* ------------------------------------------------------------ migration */

TestSuite(results_db, .init = mk_tmp, .fini = rm_tmp);

/* A file written by format_version 1 (its schema kept in
 * tests/harness/results_v1.sql, as main had it) with one run, one slice,
 * one prompt, one prediction, one failure: opened by this build, it keeps
 * every row, gets version 2's tables and views and says 2. */
Test(results_db, version_1_file_is_migrated_with_every_row) {
    char *v1 = slurp("tests/harness/results_v1.sql");
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(P("v1.sqlite"), &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h, v1, NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(h));
    free(v1);
    const char *rows =
        "INSERT INTO meta VALUES ('format_version', '1');"
        "INSERT INTO runs (run_key, method, method_kind, dataset, modality, "
        "data_root, settings, prompt_seed, git_commit, status, started_at) "
        "VALUES ('k', 'classical', 'classical', 'hc18', 'US', '/d', '1,0', "
        "0, 'abc', 'done', '2025-01-01T00:00:00Z');"
        "INSERT INTO slices (dataset, case_id, slice_index, structure, "
        "label_value, source_sha256, width, height, gt_pixels) VALUES "
        "('hc18', 'c1', 0, 'head', 1, 'ff', 8, 8, 20);"
        "INSERT INTO prompts VALUES (1, '1,0', 0, '[[3,3,1]]');"
        "INSERT INTO predictions VALUES (1, 1, '1,0', 0.5, 20, 'aa', 0.1, "
        "'ok', NULL);"
        "INSERT INTO failures VALUES (1, 'c2', '/d/c2', 'corrupt');";
    cr_assert_eq(sqlite3_exec(h, rows, NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(h));
    sqlite3_close(h);

    hx_results *r = NULL;
    sf_err err;
    cr_assert_eq(hx_results_open(P("v1.sqlite"), &r, &err), SF_OK, "%s",
                 err.msg);
    hx_results_close(r);
    h = db_open(P("v1.sqlite"));
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(h,
                                    "SELECT value FROM meta WHERE key = "
                                    "'format_version'",
                                    -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_expect_str_eq((const char *)sqlite3_column_text(st, 0),
                     HX_RESULTS_FORMAT_VERSION);
    sqlite3_finalize(st);
    cr_expect_eq(q_long(h, "SELECT count(*) FROM runs"), 1);
    cr_expect_eq(q_long(h, "SELECT count(*) FROM slices"), 1);
    cr_expect_eq(q_long(h, "SELECT count(*) FROM prompts"), 1);
    cr_expect_eq(q_long(h, "SELECT count(*) FROM failures"), 1);
    cr_expect_eq(q_long(h, "SELECT count(*) FROM dice_scores"), 1);
    /* Version 1 rows have no boundary metrics: NULL, never 0. */
    cr_expect_eq(q_long(h, "SELECT count(*) FROM prediction_scores WHERE "
                           "nsd_2mm IS NULL AND dice = 0.5"),
                 1);
    const char *v2[] = {"surface_scores",     "interactive_seqs",
                        "interactive_steps",  "volume_scores",
                        "interactive_scores", "interactive_curve",
                        "volume_dice_scores"};
    for (size_t i = 0; i < sizeof v2 / sizeof v2[0]; i++) {
        char sql[200];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM sqlite_master WHERE name = '%s'", v2[i]);
        cr_expect_eq(q_long(h, sql), 1, "%s missing after migration", v2[i]);
    }
    sqlite3_close(h);
    /* Opening again is a no-op. */
    cr_assert_eq(hx_results_open(P("v1.sqlite"), &r, &err), SF_OK, "%s",
                 err.msg);
    hx_results_close(r);
}

Test(results_db, unknown_version_is_refused_and_left_alone) {
    hx_results *r = NULL;
    sf_err err;
    cr_assert_eq(hx_results_open(P("v9.sqlite"), &r, &err), SF_OK);
    hx_results_close(r);
    sqlite3 *h = db_open(P("v9.sqlite"));
    cr_assert_eq(sqlite3_exec(h,
                              "UPDATE meta SET value = '9' WHERE key = "
                              "'format_version'; DROP VIEW volume_dice_scores;",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(h);
    cr_expect_eq(hx_results_open(P("v9.sqlite"), &r, &err), SF_EFORMAT);
    cr_expect_not_null(strstr(err.msg, "format_version is 9"), "%s", err.msg);
    h = db_open(P("v9.sqlite"));
    cr_expect_eq(q_long(h, "SELECT count(*) FROM sqlite_master WHERE name = "
                           "'volume_dice_scores'"),
                 0, "a refused file was changed");
    sqlite3_close(h);
}

/* ---------------------------------------------------------- protocols */

static const char *realdata(void) {
    static char b[512];
    const char *s = getenv("SF_SHARED");
    snprintf(b, sizeof b, "%s/realdata", s && *s ? s : "../shared");
    struct stat st;
    if (stat(b, &st) != 0)
        cr_skip_test("%s not found: real-data protocol tests skipped (set "
                     "SF_SHARED to the shared folder)",
                     b);
    return b;
}

/* The real CT sample in TotalSegmentator's layout (symlinks). */
static void ts_layout(const char *rel) {
    char a[1024], b[1024], real[PATH_MAX];
    cr_assert_not_null(realpath(rel, real));
    mkdir(P("ts"), 0755);
    mkdir(P("ts/example_ct_sm"), 0755);
    snprintf(a, sizeof a, "%s/totalsegmentator/example_ct_sm.nii.gz", real);
    snprintf(b, sizeof b, "%s", P("ts/example_ct_sm/ct.nii.gz"));
    cr_assert_eq(symlink(a, b), 0);
    snprintf(a, sizeof a, "%s/totalsegmentator/example_seg_fast", real);
    snprintf(b, sizeof b, "%s", P("ts/example_ct_sm/segmentations"));
    cr_assert_eq(symlink(a, b), 0);
}

static void opts_ct(hx_eval_opts *o, const char *method, int protocol,
                    const char *db) {
    hx_eval_opts_init(o);
    o->ds = hx_dataset_by_name("totalseg-ct");
    o->data_root = P("ts");
    o->method = hx_method_by_name(method);
    o->protocol = protocol;
    o->min_pixels = 400; /* liver, spleen, kidneys on their larger slices */
    o->out_db = db;
}

/*
 * Replay every stored sequence of the run: from an empty prediction,
 * recompute each click with hx_click_next (the 2-D rule), check it
 * against the stored one, predict with the classical method from the
 * clicks so far and check the stored Dice; the sequence's AUC and final
 * values too. Returns the sequences replayed.
 */
static int replay_classical(const char *db, const char *protocol) {
    const hx_dataset_ops *ds = hx_dataset_by_name("totalseg-ct");
    hx_case_list l;
    sf_err err;
    cr_assert_eq(hx_dataset_list(ds, P("ts"), &l, &err), SF_OK);
    hx_case_data *d = NULL;
    cr_assert_eq(hx_case_load(ds, &l, &l.v[0], &d, &err), SF_OK, "%s", err.msg);
    size_t nxy = (size_t)d->nx * d->ny;
    uint8_t *gt = malloc(nxy), *pred = malloc(nxy);
    hx_classical_opts co;
    hx_classical_opts_init(&co);
    sqlite3 *h = db_open(db);
    sqlite3_stmt *q;
    cr_assert_eq(
        sqlite3_prepare_v2(h,
                           "SELECT q.slice_id, s.slice_index, s.structure, "
                           "q.n_clicks, q.dsc_auc, q.dsc_final, q.noc85, "
                           "q.noc90 FROM interactive_seqs q JOIN slices s ON "
                           "s.slice_id = q.slice_id WHERE q.protocol = ? AND "
                           "q.status = 'ok' ORDER BY q.slice_id",
                           -1, &q, NULL),
        SQLITE_OK);
    sqlite3_bind_text(q, 1, protocol, -1, SQLITE_STATIC);
    int n_seq = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        long sid = (long)sqlite3_column_int64(q, 0);
        int z = sqlite3_column_int(q, 1);
        const char *sname = (const char *)sqlite3_column_text(q, 2);
        int n_clicks = sqlite3_column_int(q, 3);
        double auc = sqlite3_column_double(q, 4),
               fin = sqlite3_column_double(q, 5);
        int s = -1;
        for (int k = 0; k < d->n_structures; k++)
            if (!strcmp(d->st[k].name, sname)) s = k;
        cr_assert_geq(s, 0);
        hx_case_mask(d, z, s, gt);
        memset(pred, 0, nxy);
        hx_grid g = {
            2, {d->ny, d->nx, 0}, {d->spacing_mm[1], d->spacing_mm[0]}};
        sf_click clk[HX_SEQ_MAX_CLICKS];
        int nc = 0;
        double dsc[HX_SEQ_MAX_CLICKS + 1];
        sqlite3_stmt *t;
        cr_assert_eq(sqlite3_prepare_v2(
                         h,
                         "SELECT step, has_click, click_x, click_y, positive, "
                         "dsc FROM interactive_steps WHERE slice_id = ? AND "
                         "protocol = ? ORDER BY step",
                         -1, &t, NULL),
                     SQLITE_OK);
        sqlite3_bind_int64(t, 1, sid);
        sqlite3_bind_text(t, 2, protocol, -1, SQLITE_STATIC);
        int k = 0;
        while (sqlite3_step(t) == SQLITE_ROW) {
            k++;
            cr_assert_eq(sqlite3_column_int(t, 0), k);
            hx_click_info ci;
            cr_assert_eq(hx_click_next(&g, gt, pred, &ci, NULL, NULL, &err),
                         SF_OK);
            cr_assert_eq(sqlite3_column_int(t, 1), ci.has_click);
            if (ci.has_click) {
                cr_expect_eq(sqlite3_column_int(t, 2), ci.pos[1],
                             "z%d %s step %d: x", z, sname, k);
                cr_expect_eq(sqlite3_column_int(t, 3), ci.pos[0],
                             "z%d %s step %d: y", z, sname, k);
                cr_expect_eq(sqlite3_column_int(t, 4), ci.positive);
                clk[nc++] = (sf_click){ci.pos[1], ci.pos[0], ci.positive};
                cr_assert_eq(hx_classical_segment(d->image + (size_t)z * nxy,
                                                  d->nx, d->ny, clk, nc, &co,
                                                  pred, &err),
                             SF_OK);
            }
            hx_metrics mt;
            cr_assert_eq(hx_metrics_compute(&g, gt, pred, &mt, &err), SF_OK);
            dsc[k - 1] = mt.dice;
            cr_expect_float_eq(sqlite3_column_double(t, 5), mt.dice, 1e-12,
                               "z%d %s step %d Dice", z, sname, k);
        }
        sqlite3_finalize(t);
        cr_expect_eq(k, n_clicks);
        double a = 0;
        for (int i = 1; i < k; i++)
            a += (dsc[i - 1] + dsc[i]) / 2;
        cr_expect_float_eq(auc, a, 1e-9);
        cr_expect_float_eq(fin, dsc[k - 1], 1e-12);
        if (!strcmp(protocol, "noc")) {
            int noc90 = sqlite3_column_int(q, 7);
            /* stops at the first step >= 0.90, else the cap + 1 */
            cr_expect(noc90 == k ? dsc[k - 1] >= 0.90
                                 : noc90 == HX_NOC_MAX_CLICKS + 1 &&
                                       k == HX_NOC_MAX_CLICKS);
            for (int i = 0; i + 1 < k; i++)
                cr_expect_lt(dsc[i], 0.90);
            int noc85 = sqlite3_column_int(q, 6);
            cr_expect_leq(noc85, noc90);
        }
        n_seq++;
    }
    sqlite3_finalize(q);
    sqlite3_close(h);
    free(gt);
    free(pred);
    hx_case_data_free(d);
    hx_case_list_free(&l);
    return n_seq;
}

TestSuite(protocol, .init = mk_tmp, .fini = rm_tmp);

Test(protocol, cvpr25_classical_replays_click_by_click) {
    ts_layout(realdata());
    hx_eval_opts o;
    opts_ct(&o, "classical", HX_PROTOCOL_CVPR25, P("r.sqlite"));
    hx_eval_stats st;
    sf_err err;
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    cr_assert_gt(st.n_units, 5);
    cr_expect_eq(st.n_failed, 0);
    sqlite3 *h = db_open(P("r.sqlite"));
    cr_expect_eq(q_long(h, "SELECT count(*) FROM interactive_seqs"),
                 st.n_units);
    cr_expect_eq(q_long(h, "SELECT count(*) FROM interactive_seqs WHERE "
                           "n_clicks != 5 OR click_cap != 5 OR noc90 IS "
                           "NOT NULL"),
                 0);
    /* NSD only when DSC > 0.2, else 0 */
    cr_expect_eq(q_long(h, "SELECT count(*) FROM interactive_steps WHERE "
                           "dsc <= 0.2 AND nsd != 0"),
                 0);
    cr_expect_eq(q_long(h, "SELECT count(*) FROM predictions"), 0);
    sqlite3_close(h);
    cr_expect_eq(replay_classical(P("r.sqlite"), "cvpr25"), st.n_units);
    /* A rerun reuses every sequence. */
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    cr_expect_eq(st.n_reused, st.n_units);
}

Test(protocol, noc_classical_stops_at_90_and_replays) {
    ts_layout(realdata());
    hx_eval_opts o;
    opts_ct(&o, "classical", HX_PROTOCOL_NOC, P("r.sqlite"));
    hx_eval_stats st;
    sf_err err;
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    cr_expect_eq(replay_classical(P("r.sqlite"), "noc"), st.n_units);
}

/* Two methods (classical's default and a variant with other tolerances,
 * recorded under another name) get the same first click on every unit. */
Test(protocol, every_method_gets_the_same_first_click) {
    ts_layout(realdata());
    hx_eval_opts o;
    opts_ct(&o, "classical", HX_PROTOCOL_CVPR25, P("r.sqlite"));
    hx_eval_stats st;
    sf_err err;
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    opts_ct(&o, "classical", HX_PROTOCOL_NOC, P("r.sqlite"));
    o.method_name = "classical-noc";
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    sqlite3 *h = db_open(P("r.sqlite"));
    cr_expect_gt(q_long(h, "SELECT count(*) FROM interactive_steps WHERE "
                           "step = 1"),
                 0);
    cr_expect_eq(q_long(h, "SELECT count(*) FROM interactive_steps a JOIN "
                           "interactive_steps b ON a.slice_id = b.slice_id "
                           "AND a.step = 1 AND b.step = 1 AND a.run_id < "
                           "b.run_id WHERE a.click_x != b.click_x OR "
                           "a.click_y != b.click_y OR a.positive != "
                           "b.positive"),
                 0);
    sqlite3_close(h);
}

/* The fixed settings' NSD and HD95 are hx_metrics_compute's with the
 * reader's pixel spacing (not 1 mm): recomputed for the first row. */
Test(protocol, fixed_settings_record_spacing_aware_nsd_and_hd95) {
    ts_layout(realdata());
    hx_eval_opts o;
    opts_ct(&o, "classical", HX_PROTOCOL_FIXED, P("r.sqlite"));
    o.n_settings = 1; /* 1,0 */
    hx_eval_stats st;
    sf_err err;
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    sqlite3 *h = db_open(P("r.sqlite"));
    cr_expect_eq(q_long(h, "SELECT count(*) FROM prediction_scores WHERE "
                           "nsd_1mm IS NULL OR nsd_2mm IS NULL OR nsd_1mm > "
                           "nsd_2mm"),
                 0);
    const hx_dataset_ops *ds = hx_dataset_by_name("totalseg-ct");
    hx_case_list l;
    cr_assert_eq(hx_dataset_list(ds, P("ts"), &l, &err), SF_OK);
    hx_case_data *d = NULL;
    cr_assert_eq(hx_case_load(ds, &l, &l.v[0], &d, &err), SF_OK);
    cr_expect(d->spacing_mm[0] > 1.5, "the sample's spacing is not 1 mm: %g",
              d->spacing_mm[0]);
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(
                     h,
                     "SELECT s.slice_index, s.structure, p.dice, m.nsd_1mm, "
                     "m.nsd_2mm, m.hd95_mm, m.spacing_x_mm FROM "
                     "predictions p JOIN slices s ON s.slice_id = "
                     "p.slice_id JOIN surface_scores m ON m.slice_id = "
                     "p.slice_id AND m.setting = p.setting ORDER BY "
                     "s.slice_index, s.structure LIMIT 1",
                     -1, &q, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    int z = sqlite3_column_int(q, 0), s = -1;
    for (int k = 0; k < d->n_structures; k++)
        if (!strcmp(d->st[k].name, (const char *)sqlite3_column_text(q, 1)))
            s = k;
    size_t nxy = (size_t)d->nx * d->ny;
    uint8_t *gt = malloc(nxy), *pred = malloc(nxy);
    hx_case_mask(d, z, s, gt);
    sf_click clk[1];
    sf_prompt_opts so;
    sf_prompt_opts_init(&so, 1, 0);
    char tag[200];
    snprintf(tag, sizeof tag, "totalseg-ct/%s/%s", l.v[0].id, d->st[s].name);
    int nc;
    cr_assert_eq(sf_prompts_simulate(gt, d->nx, d->ny, &so,
                                     sf_prompt_key(0, tag, (uint64_t)z, 65536),
                                     clk, &nc, &err),
                 SF_OK);
    hx_classical_opts co;
    hx_classical_opts_init(&co);
    cr_assert_eq(hx_classical_segment(d->image + (size_t)z * nxy, d->nx, d->ny,
                                      clk, nc, &co, pred, &err),
                 SF_OK);
    hx_grid g = {2, {d->ny, d->nx, 0}, {d->spacing_mm[1], d->spacing_mm[0]}};
    hx_metrics m;
    cr_assert_eq(hx_metrics_compute(&g, gt, pred, &m, &err), SF_OK);
    cr_expect_float_eq(sqlite3_column_double(q, 2), m.dice, 1e-12);
    cr_expect_float_eq(sqlite3_column_double(q, 3), m.nsd_1mm, 1e-12);
    cr_expect_float_eq(sqlite3_column_double(q, 4), m.nsd_2mm, 1e-12);
    cr_expect_float_eq(sqlite3_column_double(q, 5), m.hd95, 1e-9);
    cr_expect_float_eq(sqlite3_column_double(q, 6), d->spacing_mm[0], 1e-12);
    sqlite3_finalize(q);
    sqlite3_close(h);
    free(gt);
    free(pred);
    hx_case_data_free(d);
    hx_case_list_free(&l);
}

/* The volume setting for a 2-D method: 3-D Dice of the per-slice masks,
 * recomputed here from the stored key slice and the same rule. */
Test(protocol, volume_setting_per_slice_3d_dice) {
    ts_layout(realdata());
    hx_eval_opts o;
    opts_ct(&o, "classical", HX_PROTOCOL_VOLUME, P("r.sqlite"));
    sf_err err;
    cr_assert_eq(sf_prompt_settings_parse("1,0:3,0", o.ring_width_px,
                                          o.settings, HX_MAX_SETTINGS,
                                          &o.n_settings, &err),
                 SF_OK);
    hx_eval_stats st;
    cr_assert_eq(hx_eval_run(&o, &st, &err), SF_OK, "%s", err.msg);
    sqlite3 *h = db_open(P("r.sqlite"));
    cr_expect_eq(q_long(h, "SELECT count(*) FROM volume_dice_scores WHERE "
                           "mode = 'per-slice'"),
                 2 * st.n_units);
    cr_expect_eq(q_long(h, "SELECT count(*) FROM volume_scores WHERE dice < "
                           "0 OR dice > 1 OR n_slices != 30"),
                 0);
    /* The key slice is the slice of largest area. */
    const hx_dataset_ops *ds = hx_dataset_by_name("totalseg-ct");
    hx_case_list l;
    cr_assert_eq(hx_dataset_list(ds, P("ts"), &l, &err), SF_OK);
    hx_case_data *d = NULL;
    cr_assert_eq(hx_case_load(ds, &l, &l.v[0], &d, &err), SF_OK);
    size_t nxy = (size_t)d->nx * d->ny, nv = nxy * d->nz;
    uint8_t *gt = malloc(nv), *pred = calloc(nv, 1);
    int liver = -1;
    for (int k = 0; k < d->n_structures; k++)
        if (!strcmp(d->st[k].name, "liver")) liver = k;
    long area;
    int key = hx__vol_key_slice(d, liver, &area);
    for (int z = 0; z < d->nz; z++) {
        long a = hx_case_mask(d, z, liver, gt + z * nxy);
        cr_expect(a < area || (a == area && z >= key));
    }
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT key_slice FROM volume_scores WHERE structure = 'liver' "
             "AND setting = '1,0'");
    cr_expect_eq(q_long(h, sql), key);
    /* 3-D Dice recomputed: clicks of 1,0 on each slice with >= 400 px. */
    hx_classical_opts co;
    hx_classical_opts_init(&co);
    for (int z = 0; z < d->nz; z++) {
        uint8_t *m = gt + z * nxy;
        long a = 0;
        for (size_t i = 0; i < nxy; i++)
            a += m[i];
        if (a < o.min_pixels) continue;
        sf_click clk[1];
        sf_prompt_opts so;
        sf_prompt_opts_init(&so, 1, 0);
        int nc;
        char tag[200];
        snprintf(tag, sizeof tag, "totalseg-ct/%s/liver", l.v[0].id);
        cr_assert_eq(
            sf_prompts_simulate(m, d->nx, d->ny, &so,
                                sf_prompt_key(0, tag, (uint64_t)z, 65536), clk,
                                &nc, &err),
            SF_OK);
        cr_assert_eq(hx_classical_segment(d->image + z * nxy, d->nx, d->ny, clk,
                                          nc, &co, pred + z * nxy, &err),
                     SF_OK);
    }
    double dice, nsd;
    long np;
    cr_assert_eq(hx__vol_metrics(d, gt, pred, &dice, &nsd, &np, &err), SF_OK);
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(h,
                                    "SELECT dice, pred_voxels FROM "
                                    "volume_scores WHERE structure = 'liver' "
                                    "AND setting = '1,0'",
                                    -1, &q, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_expect_float_eq(sqlite3_column_double(q, 0), dice, 1e-12);
    cr_expect_eq(sqlite3_column_int64(q, 1), np);
    sqlite3_finalize(q);
    sqlite3_close(h);
    free(gt);
    free(pred);
    hx_case_data_free(d);
    hx_case_list_free(&l);
}

/* Refused before anything is written: a box for the classical method,
 * an interactive protocol for imported masks, negatives in the volume
 * setting. */
Test(protocol, refusals_write_nothing) {
    ts_layout(realdata());
    hx_eval_opts o;
    hx_eval_stats st;
    sf_err err;
    struct stat sst;
    opts_ct(&o, "classical", HX_PROTOCOL_CVPR25, P("a.sqlite"));
    o.box_step = 1;
    cr_expect_eq(hx_eval_run(&o, &st, &err), SF_EINVAL);
    cr_expect_not_null(strstr(err.msg, "no box"), "%s", err.msg);
    opts_ct(&o, "import", HX_PROTOCOL_NOC, P("a.sqlite"));
    o.import_dir = g_dir;
    cr_expect_eq(hx_eval_run(&o, &st, &err), SF_EINVAL);
    cr_expect_not_null(strstr(err.msg, "cannot run --protocol noc"), "%s",
                       err.msg);
    opts_ct(&o, "classical", HX_PROTOCOL_VOLUME, P("a.sqlite"));
    cr_expect_eq(hx_eval_run(&o, &st, &err), SF_EINVAL); /* all: 1,1 ... */
    cr_expect_not_null(strstr(err.msg, "no negative"), "%s", err.msg);
    cr_expect_neq(stat(P("a.sqlite"), &sst), 0, "a refused run wrote a file");
}
