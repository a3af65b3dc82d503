/*
 * test_report.c - Tables 1-3 from a results database built here (schemas/
 * results.sql) with known Dice values: exact Markdown and CSV cells, bold,
 * significance marks and degenerate tests, missing cells, the paper side
 * by side; the report config; figures (valid PNGs); the report folder.
 * Runs from the repository root (reads schemas/ and reports/).
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
#include "hx.h"
#include "report.h"
#include "sf_model.h"

/* ------------------------------------------------------------ helpers */

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (run from the repository root)",
                       path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert_not_null(s);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static void exec(sqlite3 *db, const char *sql) {
    char *m = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &m), SQLITE_OK, "%s: %s",
                 sql, m ? m : "");
}

static void add_run(sqlite3 *db, int id, const char *method, const char *kind,
                    const char *dataset, const char *modality) {
    char *q = sqlite3_mprintf(
        "INSERT INTO runs (run_id, run_key, method, method_kind, "
        "checkpoint_path, checkpoint_sha256, dataset, modality, data_root, "
        "settings, prompt_seed, git_commit, status, started_at) VALUES "
        "(%d, 'key%d', %Q, %Q, %Q, %Q, %Q, %Q, 'data/x', '1,0:3,0:1,1:3,3', "
        "0, 'cafe', 'done', '2026-01-01T00:00:00Z')",
        id, id, method, kind, strcmp(kind, "native") ? NULL : "models/m.pth",
        strcmp(kind, "native") ? NULL : "0123456789abcdef0123", dataset,
        modality);
    exec(db, q);
    sqlite3_free(q);
}

static void add_score(sqlite3 *db, int run, const char *dataset,
                      const char *case_id, int z, const char *structure,
                      const char *setting, double dice) {
    char *q = sqlite3_mprintf(
        "INSERT OR IGNORE INTO slices (dataset, case_id, slice_index, "
        "structure, label_value, source_sha256, width, height, gt_pixels) "
        "VALUES (%Q, %Q, %d, %Q, 1, 'ab', 8, 8, 10);"
        "INSERT INTO predictions (run_id, slice_id, setting, dice, status) "
        "SELECT %d, slice_id, %Q, %.17g, 'ok' FROM slices WHERE dataset = %Q "
        "AND case_id = %Q AND slice_index = %d AND structure = %Q",
        dataset, case_id, z, structure, run, setting, dice, dataset, case_id, z,
        structure);
    exec(db, q);
    sqlite3_free(q);
}

/* Four slices: (c1, 0), (c1, 1), (c2, 0), (c2, 1). */
static void add4(sqlite3 *db, int run, const char *structure,
                 const char *setting, const double v[4]) {
    for (int i = 0; i < 4; i++)
        add_score(db, run, "amos-ct", i < 2 ? "c1" : "c2", i % 2, structure,
                  setting, v[i]);
}

/* The test database: see each value's comment for what it checks. */
static void make_db(const char *path) {
    sqlite3 *db = NULL;
    unlink(path);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *schema = slurp("schemas/results.sql");
    exec(db, schema);
    free(schema);
    exec(db, "BEGIN");
    add_run(db, 1, "SynthFM", "native", "amos-ct", "CT");
    add_run(db, 2, "SAM", "native", "amos-ct", "CT");
    add_run(db, 3, "SAM 2", "native", "amos-ct", "CT");
    add_run(db, 4, "classical", "classical", "amos-ct", "CT");
    add_run(db, 5, "SynthFM", "native", "alfi", "microscopy");
    add_run(db, 6, "MedSAM", "native", "alfi", "microscopy");
    /* liver 1,0: SynthFM 75, SAM 2 65 (best other), SAM 52.5 (2nd). */
    add4(db, 1, "liver", "1,0", (double[]){0.80, 0.90, 0.70, 0.60});
    add4(db, 2, "liver", "1,0", (double[]){0.50, 0.60, 0.55, 0.45});
    add4(db, 3, "liver", "1,0", (double[]){0.70, 0.65, 0.60, 0.65});
    /* liver 3,0: classical ties SynthFM (both bold, all pairs tied), SAM 2
     * a constant 0.1 below (zero variance); SAM missing. */
    add4(db, 1, "liver", "3,0", (double[]){0.9, 0.9, 0.9, 0.9});
    add4(db, 4, "liver", "3,0", (double[]){0.9, 0.9, 0.9, 0.9});
    add4(db, 3, "liver", "3,0", (double[]){0.8, 0.8, 0.8, 0.8});
    /* liver 1,1: one slice each: too few pairs. */
    add_score(db, 1, "amos-ct", "c1", 0, "liver", "1,1", 0.5);
    add_score(db, 3, "amos-ct", "c1", 0, "liver", "1,1", 0.4);
    /* left_kidney (table name kidney_left): SynthFM, 2 slices, ... */
    add_score(db, 1, "amos-ct", "c1", 0, "left_kidney", "1,0", 0.4);
    add_score(db, 1, "amos-ct", "c1", 1, "left_kidney", "1,0", 0.6);
    /* ... and SAM a constant 0.3 above it: "(ours lower)". */
    add_score(db, 2, "amos-ct", "c1", 0, "left_kidney", "1,0", 0.7);
    add_score(db, 2, "amos-ct", "c1", 1, "left_kidney", "1,0", 0.9);
    /* ALFI (Table 3 only): SynthFM 45, MedSAM 15. */
    add_score(db, 5, "alfi", "f1", 0, "interphase", "1,0", 0.4);
    add_score(db, 5, "alfi", "f2", 0, "interphase", "1,0", 0.5);
    add_score(db, 6, "alfi", "f1", 0, "interphase", "1,0", 0.1);
    add_score(db, 6, "alfi", "f2", 0, "interphase", "1,0", 0.2);
    exec(db, "INSERT INTO failures VALUES (4, 'c3', 'data/x/c3.nii.gz', "
             "'truncated gzip stream')");
    exec(db, "COMMIT");
    sqlite3_close(db);
}

typedef struct fixture {
    char dir[64], db[128];
    hx_report_cfg *cfg;
    hx_scores *r;
    hx_paper *paper;
} fixture;

static void fixture_open(fixture *fx) {
    sf_err err;
    hx_init();
    cr_assert_not_null(sf_test_mkdtemp(fx->dir, sizeof fx->dir, "test_report"));
    snprintf(fx->db, sizeof fx->db, "%s/results.sqlite", fx->dir);
    make_db(fx->db);
    cr_assert_eq(hx_report_cfg_load("reports/report.yaml", &fx->cfg, &err),
                 SF_OK, "%s", err.msg);
    cr_assert_eq(hx_scores_load(fx->db, fx->cfg, &fx->r, &err), SF_OK, "%s",
                 err.msg);
    cr_assert_eq(hx_paper_load("reports/paper", &fx->paper, &err), SF_OK, "%s",
                 err.msg);
}

static void fixture_close(fixture *fx) {
    hx_scores_free(fx->r);
    hx_paper_free(fx->paper);
    hx_report_cfg_free(fx->cfg);
    cr_assert_eq(sf_test_rmtree(fx->dir), 0);
}

/* The table as text. */
static char *table(fixture *fx, int t, int fmt) {
    char *buf = NULL;
    size_t n = 0;
    sf_err err;
    FILE *f = open_memstream(&buf, &n);
    cr_assert_not_null(f);
    cr_assert_eq(hx_table_write(fx->r, fx->paper, t, fmt, f, &err), SF_OK, "%s",
                 err.msg);
    fclose(f);
    return buf;
}

/* The line of text that starts with prefix (a copy), or NULL. */
static char *line_of(const char *text, const char *prefix) {
    for (const char *s = text; s && *s;) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (!strncmp(s, prefix, strlen(prefix))) return strndup(s, n);
        s = e ? e + 1 : NULL;
    }
    return NULL;
}

static void expect_line(const char *text, const char *prefix,
                        const char *want) {
    char *got = line_of(text, prefix);
    cr_assert_not_null(got, "no line starting \"%s\"", prefix);
    cr_expect_str_eq(got, want);
    free(got);
}

/* ------------------------------------------------------------ table 1 */

Test(report, table1_markdown_cells_bold_marks_paper) {
    fixture fx;
    fixture_open(&fx);
    char *md = table(&fx, HX_TABLE1, HX_FMT_MD);
    /* Header: method groups in the config's order, then the rest; ours
     * | paper | diff for methods with a paper name; two test columns. */
    expect_line(md, "| modality",
                "| modality | structure | setting | UnSAM | UnSAM paper | "
                "UnSAM diff | SAM | SAM paper | SAM diff | SAM 2 | SAM 2 "
                "paper | SAM 2 diff | SynthFM | SynthFM paper | SynthFM diff "
                "| classical | SynthFM vs best other | SynthFM vs 2nd other |");
    /* Means, paper values, differences, bold best, the tests: vs SAM 2
     * t = 1.633, df 3, p = 0.20 (n.s.); vs SAM t = 5.196, p = 0.014 (*). */
    expect_line(md, "| CT | liver | 1+0 ",
                "| CT | liver | 1+0 | missing | 40.17 | \xe2\x80\x94 | 52.50 | "
                "49.74 | +2.76 | 65.00 | 45.45 | +19.55 | **75.00** | 73.83 | "
                "+1.17 | missing | SAM 2: p=0.2 n.s. | SAM: p=0.014 \\* |");
    /* Ties all bold; degenerate tests shown by status, never NaN. */
    expect_line(md, "| CT | liver | 3+0 ",
                "| CT | liver | 3+0 | missing | 50.80 | \xe2\x80\x94 | missing "
                "| 78.74 | \xe2\x80\x94 | 80.00 | 78.87 | +1.13 | **90.00** | "
                "88.36 | +1.64 | **90.00** | classical: zero_var_zero_mean, "
                "n=4 | SAM 2: zero_var, n=4 |");
    expect_line(md, "| CT | liver | 1+1 ",
                "| CT | liver | 1+1 | missing | 40.22 | \xe2\x80\x94 | missing "
                "| 54.19 | \xe2\x80\x94 | 40.00 | 48.24 | -8.24 | **50.00** | "
                "80.03 | -30.03 | missing | SAM 2: too_few, n=1 | "
                "\xe2\x80\x94 |");
    /* 'left_kidney' is the paper's 'kidney_left' (config structures). */
    expect_line(md, "| CT | kidney_left | 1+0 ",
                "| CT | kidney_left | 1+0 | missing | 27.46 | \xe2\x80\x94 | "
                "**80.00** | 80.72 | -0.72 | missing | 61.44 | \xe2\x80\x94 | "
                "50.00 | 83.78 | -33.78 | missing | SAM: zero_var, n=2 (ours "
                "lower) | \xe2\x80\x94 |");
    /* A paper row without any scores: every cell of ours missing. */
    expect_line(
        md, "| MR | spleen | 3+3 ",
        "| MR | spleen | 3+3 | missing | 27.52 | \xe2\x80\x94 | missing "
        "| 76.50 | \xe2\x80\x94 | missing | 88.57 | \xe2\x80\x94 | "
        "missing | 86.87 | \xe2\x80\x94 | missing | \xe2\x80\x94 | "
        "\xe2\x80\x94 |");
    /* 19 structures x 4 settings, no microscopy rows, no NaN, no 0.00. */
    int rows = 0;
    for (const char *s = md; (s = strstr(s, "\n| ")); s++)
        rows += strncmp(s, "\n| modality", 11) != 0;
    cr_expect_eq(rows, 76, "rows %d", rows);
    cr_expect_null(strstr(md, "interphase"));
    cr_expect_null(strstr(md, " nan "));
    cr_expect_null(strstr(md, "NaN"));
    cr_expect_null(strstr(md, " 0.00 "));
    /* Provenance legend: per method and dataset, the run. */
    cr_expect_not_null(strstr(md, "- **SynthFM** on `amos-ct` (11 scored "
                                  "predictions): run 1 (native, done; "
                                  "checkpoint `models/m.pth` sha256 "
                                  "`0123456789ab`"));
    cr_expect_not_null(strstr(md, "- UnSAM: not evaluated (no scores)."));
    free(md);
    fixture_close(&fx);
}

Test(report, table1_csv_and_tests_csv) {
    fixture fx;
    fixture_open(&fx);
    char *csv = table(&fx, HX_TABLE1, HX_FMT_CSV);
    expect_line(csv, "modality,",
                "modality,structure,setting,method,dice,n,paper,diff,best,"
                "status,datasets");
    expect_line(csv, "CT,liver,1+0,SynthFM,",
                "CT,liver,1+0,SynthFM,75.0000,4,73.83,1.1700,1,ok,amos-ct");
    expect_line(csv, "CT,liver,1+0,SAM 2,",
                "CT,liver,1+0,SAM 2,65.0000,4,45.45,19.5500,0,ok,amos-ct");
    expect_line(csv, "CT,liver,1+0,UnSAM,",
                "CT,liver,1+0,UnSAM,,0,40.17,,0,missing,");
    expect_line(csv, "CT,liver,3+0,classical,",
                "CT,liver,3+0,classical,90.0000,4,,,1,ok,amos-ct");
    free(csv);
    char *tests = table(&fx, HX_TABLE1, HX_FMT_TESTS);
    char *l = line_of(tests, "CT,liver,1+0,SynthFM,1,");
    cr_assert_not_null(l);
    /* d = 0.10, 0.25, 0.10, -0.05: t = 0.1 / (sqrt(0.015) / 2) */
    double t, p;
    int df;
    cr_assert_eq(sscanf(l,
                        "CT,liver,1+0,SynthFM,1,SAM 2,75.0000,65.0000,4,"
                        "%lf,%d,%lf,ok,",
                        &t, &df, &p),
                 3, "%s", l);
    cr_expect_float_eq(t, 0.1 / (sqrt(0.015) / 2), 1e-9);
    cr_expect_eq(df, 3);
    cr_expect(p > 0.19 && p < 0.21, "p %g", p);
    free(l);
    expect_line(tests, "CT,liver,3+0,SynthFM,2,",
                "CT,liver,3+0,SynthFM,2,SAM 2,90.0000,80.0000,4,inf,3,0,"
                "zero_var,");
    expect_line(tests, "CT,liver,1+1,SynthFM,1,",
                "CT,liver,1+1,SynthFM,1,SAM 2,50.0000,40.0000,1,,0,,too_few,");
    cr_expect_null(strstr(tests, ",nan"));
    free(tests);
    fixture_close(&fx);
}

Test(report, table1_latex) {
    fixture fx;
    fixture_open(&fx);
    char *tex = table(&fx, HX_TABLE1, HX_FMT_TEX);
    cr_expect_not_null(strstr(tex, "\\begin{tabular}{lllrrrrrrrrrrrrrll}"));
    expect_line(tex, "CT & liver & 1+0 ",
                "CT & liver & 1+0 & missing & 40.17 & -- & 52.50 & 49.74 & "
                "+2.76 & 65.00 & 45.45 & +19.55 & \\textbf{75.00} & 73.83 & "
                "+1.17 & missing & SAM 2: p=0.2 n.s. & SAM: p=0.014 * \\\\");
    expect_line(
        tex, "CT & kidney\\_left & 1+0 ",
        "CT & kidney\\_left & 1+0 & missing & 27.46 & -- & "
        "\\textbf{80.00} & 80.72 & -0.72 & missing & 61.44 & -- & 50.00 "
        "& 83.78 & -33.78 & missing & SAM: zero\\_var, n=2 (ours lower) "
        "& -- \\\\");
    free(tex);
    fixture_close(&fx);
}

/* ------------------------------------------------------- tables 2 and 3 */

Test(report, table2_ablation_variants) {
    fixture fx;
    fixture_open(&fx);
    char *md = table(&fx, HX_TABLE2, HX_FMT_MD);
    /* both = SynthFM (first listed with scores): CT 1,0 = mean of liver
     * 75 and kidney_left 50 = 62.50, from 2 of the 8 CT structures. */
    expect_line(md, "| CT ",
                "| CT | missing | 64.09 | \xe2\x80\x94 | missing | 81.12 | "
                "\xe2\x80\x94 | missing | 49.15 | \xe2\x80\x94 | missing | "
                "71.11 | \xe2\x80\x94 | **62.50 (2 of 8)** | 64.29 | -1.79 | "
                "**90.00 (1 of 8)** | 83.48 | +6.52 |");
    cr_expect_not_null(strstr(md, "- shape: not evaluated (no scores for any "
                                  "of: `SynthFM-shape`)"));
    cr_expect_not_null(strstr(md, "- both: method `SynthFM`"));
    free(md);
    char *csv = table(&fx, HX_TABLE2, HX_FMT_CSV);
    expect_line(csv, "CT,both,SynthFM,1+0,",
                "CT,both,SynthFM,1+0,62.5000,2,8,64.29,-1.7900,1,ok");
    expect_line(csv, "CT,shape,", "CT,shape,,1+0,,0,8,64.09,,0,missing");
    free(csv);
    fixture_close(&fx);
}

Test(report, table3_alfi) {
    fixture fx;
    fixture_open(&fx);
    char *md = table(&fx, HX_TABLE3, HX_FMT_MD);
    expect_line(md, "| alfi | interphase | 1+0 ",
                "| alfi | interphase | 1+0 | 15.00 | 12.88 | +2.12 | "
                "**45.00** | 40.73 | +4.27 | MedSAM: zero_var, n=2 | "
                "\xe2\x80\x94 |");
    expect_line(md, "| alfi | mitosis | 3+3 ",
                "| alfi | mitosis | 3+3 | missing | 51.11 | \xe2\x80\x94 | "
                "missing | 69.45 | \xe2\x80\x94 | \xe2\x80\x94 | "
                "\xe2\x80\x94 |");
    cr_expect_null(strstr(md, "liver"));
    free(md);
    fixture_close(&fx);
}

Test(report, without_paper_the_paper_cells_are_dashes) {
    fixture fx;
    fixture_open(&fx);
    hx_paper_free(fx.paper);
    fx.paper = NULL;
    char *md = table(&fx, HX_TABLE1, HX_FMT_MD);
    expect_line(md, "| CT | liver | 1+0 ",
                "| CT | liver | 1+0 | missing | \xe2\x80\x94 | \xe2\x80\x94 | "
                "52.50 | \xe2\x80\x94 | \xe2\x80\x94 | 65.00 | \xe2\x80\x94 | "
                "\xe2\x80\x94 | **75.00** | \xe2\x80\x94 | \xe2\x80\x94 | "
                "missing | SAM 2: p=0.2 n.s. | SAM: p=0.014 \\* |");
    cr_expect_null(strstr(md, "| MR |")); /* no paper: only scored rows */
    free(md);
    fixture_close(&fx);
}

/* ------------------------------------------------------ database checks */

Test(report, one_method_scored_twice_is_refused) {
    fixture fx;
    fixture_open(&fx);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(fx.db, &db), SQLITE_OK);
    add_run(db, 7, "SAM", "native", "amos-ct", "CT");
    add_score(db, 7, "amos-ct", "c1", 0, "liver", "1,0", 0.3);
    sqlite3_close(db);
    hx_scores *r = NULL;
    sf_err err;
    cr_assert_eq(hx_scores_load(fx.db, fx.cfg, &r, &err), SF_ECORRUPT);
    cr_expect_null(r);
    cr_expect_not_null(strstr(err.msg, "method 'SAM' is scored twice"), "%s",
                       err.msg);
    fixture_close(&fx);
}

Test(report, not_a_results_database) {
    fixture fx;
    fixture_open(&fx);
    char path[160];
    snprintf(path, sizeof path, "%s/empty.sqlite", fx.dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    exec(db, "CREATE TABLE x (a)");
    sqlite3_close(db);
    hx_scores *r = NULL;
    sf_err err;
    cr_expect_eq(hx_scores_load(path, fx.cfg, &r, &err), SF_EDB);
    cr_expect_not_null(strstr(err.msg, "dice_scores"), "%s", err.msg);
    fixture_close(&fx);
}

/* ---------------------------------------------------------------- config */

Test(report, builtin_config_equals_reports_yaml) {
    char *file = slurp("reports/report.yaml");
    cr_expect_str_eq(hx_report_cfg_default_text(), file,
                     "harness/report_cfg.c's default_text must be "
                     "reports/report.yaml, byte for byte");
    free(file);
}

Test(report, config_errors_name_file_line_and_key) {
    hx_report_cfg *c = NULL;
    sf_err err;
    const char *bad1 = "ours: [SynthFM]\ntable1:\n  colums: [SAM]\n";
    cr_expect_eq(hx_report_cfg_parse("t.yaml", bad1, strlen(bad1), &c, &err),
                 SF_ECONFIG);
    cr_expect_str_eq(err.where, "t.yaml:3:3");
    cr_expect_not_null(strstr(err.msg, "table1.colums: unknown key"), "%s",
                       err.msg);
    const char *bad2 = "settings: [\"1,0\", \"3\"]\n";
    cr_expect_eq(hx_report_cfg_parse("t.yaml", bad2, strlen(bad2), &c, &err),
                 SF_ECONFIG);
    cr_expect_not_null(strstr(err.msg, "P,N"), "%s", err.msg);
    const char *bad3 = "structures: [a, b]\n";
    cr_expect_eq(hx_report_cfg_parse("t.yaml", bad3, strlen(bad3), &c, &err),
                 SF_ECONFIG);
    const char *bad4 = "ours: [a, a]\n";
    cr_expect_eq(hx_report_cfg_parse("t.yaml", bad4, strlen(bad4), &c, &err),
                 SF_ECONFIG);
    cr_expect_null(c);
}

/* The YAML kit's rules (factory/sf_yaml.h) hold here too: a key twice, a
 * near name suggested, one document. */
Test(report, config_duplicates_typos_and_documents) {
    hx_report_cfg *c = NULL;
    sf_err err;
    const char *dup = "ours: [a]\nmodalities: [CT]\nours: [b]\n";
    cr_expect_eq(hx_report_cfg_parse("t.yaml", dup, strlen(dup), &c, &err),
                 SF_ECONFIG);
    cr_expect_str_eq(err.where, "t.yaml:3:1");
    cr_expect_not_null(strstr(err.msg, "ours: duplicate key"), "%s", err.msg);
    const char *typo = "table2:\n  setings: [\"1,0\"]\n";
    cr_expect_eq(hx_report_cfg_parse("t.yaml", typo, strlen(typo), &c, &err),
                 SF_ECONFIG);
    cr_expect_not_null(strstr(err.msg, "did you mean 'settings'?"), "%s",
                       err.msg);
    const char *two = "ours: [a]\n---\nours: [b]\n";
    cr_expect_eq(hx_report_cfg_parse("t.yaml", two, strlen(two), &c, &err),
                 SF_ECONFIG);
    cr_expect_not_null(strstr(err.msg, "one YAML document"), "%s", err.msg);
    cr_expect_null(c);
}

/* --------------------------------------------------------------- figures */

static void expect_png(const char *path, int min_w, int min_h) {
    uint8_t *rgb = NULL;
    int nx = 0, ny = 0;
    sf_err err;
    cr_assert_eq(sf_png_read_rgb8(path, &rgb, &nx, &ny, &err), SF_OK, "%s: %s",
                 path, err.msg);
    cr_expect(nx >= min_w && ny >= min_h, "%s: %dx%d", path, nx, ny);
    /* Something was drawn: not one flat colour. */
    size_t n_dark = 0;
    for (size_t i = 0; i < (size_t)nx * (size_t)ny; i++)
        n_dark += rgb[3 * i] < 128;
    cr_expect(n_dark > 500, "%s: almost blank (%zu dark pixels)", path, n_dark);
    free(rgb);
}

Test(report, box_plots_one_png_per_structure) {
    fixture fx;
    fixture_open(&fx);
    char **names = NULL;
    int n = 0;
    sf_err err;
    cr_assert_eq(hx_plot_boxes(fx.r, fx.dir, &names, &n, &err), SF_OK, "%s",
                 err.msg);
    cr_assert_eq(n, 3); /* CT kidney_left, CT liver, microscopy interphase */
    int liver = 0;
    for (int i = 0; i < n; i++) {
        char path[300];
        snprintf(path, sizeof path, "%s/%s", fx.dir, names[i]);
        expect_png(path, 400, 300);
        liver |= !strcmp(names[i], "box_CT_liver.png");
    }
    cr_expect(liver);
    hx_strings_free(names, n);
    fixture_close(&fx);
}

Test(report, training_curve_from_run_sqlite) {
    fixture fx;
    fixture_open(&fx);
    char run[160], path[200];
    sf_err err;
    snprintf(run, sizeof run, "%s/run", fx.dir);
    cr_assert_eq(mkdir(run, 0777), 0);
    snprintf(path, sizeof path, "%s/curve.png", fx.dir);
    cr_expect_eq(sam_train_plot(run, path, &err), SF_EIO); /* no run.sqlite */
    snprintf(path, sizeof path, "%s/run.sqlite", run);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    snprintf(path, sizeof path, "%s/curve.png", fx.dir);
    cr_expect_eq(sam_train_plot(run, path, &err), SF_EDB); /* no tables */
    exec(db, "CREATE TABLE run(key TEXT PRIMARY KEY, value TEXT);"
             "CREATE TABLE steps(step INTEGER PRIMARY KEY, epoch INTEGER, "
             "loss REAL, lr REAL, wall_s REAL);"
             "CREATE TABLE epochs(epoch INTEGER PRIMARY KEY, step INTEGER, "
             "val_dice REAL, n_val INTEGER, train_loss REAL, wall_s REAL);");
    snprintf(path, sizeof path, "%s/curve.png", fx.dir);
    cr_expect_eq(sam_train_plot(run, path, &err), SF_EFORMAT);
    exec(db, "BEGIN");
    for (int s = 0; s < 400; s++) {
        char q[200];
        snprintf(q, sizeof q,
                 "INSERT INTO steps VALUES (%d, %d, %.6f, 1e-4, 0)", s, s / 100,
                 0.9 * exp(-s / 150.0) + 0.05 * ((s * 7919) % 13) / 13.0);
        exec(db, q);
    }
    for (int e = 1; e <= 4; e++) {
        char q[200];
        snprintf(q, sizeof q,
                 "INSERT INTO epochs VALUES (%d, %d, %.3f, 40, 0.5, 0)", e,
                 e * 100, 0.3 + 0.1 * e - 0.05 * (e == 4));
        exec(db, q);
    }
    exec(db, "COMMIT");
    sqlite3_close(db);
    cr_assert_eq(sam_train_plot(run, path, &err), SF_OK, "%s", err.msg);
    expect_png(path, 600, 400);
    fixture_close(&fx);
}

/* ---------------------------------------------------------------- report */

Test(report, report_folder_with_index_and_provenance) {
    fixture fx;
    fixture_open(&fx);
    char out[160], path[300];
    snprintf(out, sizeof out, "%s/out", fx.dir);
    hx_report_opts o;
    memset(&o, 0, sizeof o);
    o.results = fx.db;
    o.out_dir = out;
    o.paper_dir = "reports/paper";
    o.config_path = "reports/report.yaml";
    o.cfg = fx.cfg;
    o.data_root = "/nonexistent-data";
    o.models_root = "/nonexistent-models";
    o.git_commit = "testcommit";
    const char *runs[] = {"/nonexistent-run"};
    o.runs = runs;
    o.n_runs = 1;
    sf_err err;
    cr_assert_eq(hx_report_write(&o, &err), SF_OK, "%s", err.msg);
    const char *files[] = {"table1.md",        "table1.csv",
                           "table1.tex",       "table1_tests.csv",
                           "table2.md",        "table2.csv",
                           "table2.tex",       "table3.md",
                           "table3.csv",       "table3.tex",
                           "table3_tests.csv", "runs.csv",
                           "index.md",         "figures/box_CT_liver.png"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", out, files[i]);
        cr_expect(stat(path, &st) == 0 && st.st_size > 0, "%s missing", path);
    }
    snprintf(path, sizeof path, "%s/index.md", out);
    char *idx = slurp(path);
    const char *want[] = {
        "(git `testcommit`)",
        "[Markdown](table1.md), [CSV](table1.csv), [LaTeX](table1.tex), "
        "[t-tests](table1_tests.csv)",
        "![box_CT_liver.png](figures/box_CT_liver.png)",
        "- `/nonexistent-run`: **no curve**: ",
        "| 1 | SynthFM | native | amos-ct | CT | models/m.pth "
        "(`0123456789abcdef`) |",
        "| camus | **missing** | none |",
        "- dataset `camus`: not evaluated (missing under the data root)",
        "- method `UnSAM`: no scores",
        "run 4, case `c3`, `data/x/c3.nii.gz`: truncated gzip stream",
        "- report config: `reports/report.yaml` (sha256 `"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_expect_not_null(strstr(idx, want[i]), "index.md lacks: %s", want[i]);
    free(idx);
    fixture_close(&fx);
}
