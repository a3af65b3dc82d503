/*
 * report.h - the method's Tables 1-3 from a results database, figures, and
 * the report folder behind `synthfm report` (issue 7).
 *
 * Data flow: results DB (schemas/results.sql, read only through the view
 * dice_scores plus the runs and failures tables) -> hx_scores (in memory,
 * names canonicalised by the report config) -> tables (Markdown, CSV,
 * LaTeX; side by side with the paper's numbers from reports/paper/tableN.csv)
 * and figures (cairo PNGs) -> DIR/index.md with provenance.
 *
 * Conventions as in hx.h: SF_OK or a negative SF_E* code, a caller-owned
 * sf_err, results through **out owned by the caller, every _free takes
 * NULL, nothing prints. Call hx_init() first (the tables run t-tests).
 */
#ifndef HX_REPORT_H
#define HX_REPORT_H

#include <stdio.h>

#include "sf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- config */

/*
 * The report config (reports/report.yaml; every key documented there):
 * which database methods are "ours" (the method whose significance is
 * tested against the best and next-best other method), the column order of
 * each table, which DB method is which ablation variant (Table 2), the
 * dataset of Table 3, the DB-name -> paper-name maps for methods and
 * structures, the settings order, and the datasets whose presence the
 * report lists. Unknown keys and wrong shapes are errors (SF_ECONFIG,
 * err->where = "file:line:col").
 */
typedef struct hx_report_cfg hx_report_cfg;

/* Parse YAML text; `name` is used in error positions. */
int hx_report_cfg_parse(const char *name, const char *text, size_t n,
                        hx_report_cfg **out, sf_err *err);
/* Load a file (SF_EIO if unreadable). */
int hx_report_cfg_load(const char *path, hx_report_cfg **out, sf_err *err);
/* The built-in default: the same text as reports/report.yaml (a test keeps
 * them equal). Static storage. */
const char *hx_report_cfg_default_text(void);
void hx_report_cfg_free(hx_report_cfg *c);

/* --------------------------------------------------------------- results */

/*
 * Everything the report reads from a results database: the rows of the
 * view dice_scores (structure names mapped through the config's
 * `structures`, so 'left_kidney' and 'kidney_left' are one row), the runs
 * and failures tables, and per run the count of ok / failed predictions.
 * The database is opened read-only. Two rows with the same (method,
 * dataset, case, slice, structure, setting) are refused (SF_ECORRUPT:
 * two runs gave one method name; every number must trace to one run).
 * `cfg` is borrowed and must outlive the result. Errors: SF_EDB (not a
 * results database: err names the file and SQLite's message), SF_ENOMEM.
 */
typedef struct hx_scores hx_scores;
int hx_scores_load(const char *db_path, const hx_report_cfg *cfg,
                   hx_scores **out, sf_err *err);
void hx_scores_free(hx_scores *r);
/* Number of dice_scores rows loaded. */
size_t hx_scores_count(const hx_scores *r);

/* The paper's published numbers: DIR/table1.csv, table2.csv, table3.csv
 * (format in reports/paper/README.md). SF_EIO when a file is missing,
 * SF_EFORMAT (err->where = "file:line") for a malformed line. */
typedef struct hx_paper hx_paper;
int hx_paper_load(const char *dir, hx_paper **out, sf_err *err);
void hx_paper_free(hx_paper *p);

/* ---------------------------------------------------------------- tables */

enum hx_table_id { HX_TABLE1 = 1, HX_TABLE2 = 2, HX_TABLE3 = 3 };
enum hx_table_fmt {
    HX_FMT_MD = 0,   /* Markdown: the wide table, notes, provenance legend */
    HX_FMT_CSV = 1,  /* long CSV: one row per (row, setting, method) */
    HX_FMT_TEX = 2,  /* LaTeX tabular (booktabs-free, \hline) */
    HX_FMT_TESTS = 3 /* CSV of the paired t-tests behind the marks */
};

/*
 * Write table `table` in format `fmt` to f. Values are mean per-slice Dice
 * in percent (2 decimals). Table 1: rows (modality, structure, setting),
 * one column group per method (ours | paper | difference when the method
 * has a paper name), best value of the row in bold, then for each "ours"
 * method with data the tests against the best and next-best other method
 * of the row (pairs matched by dataset, case, slice). Table 2: rows
 * modality, per ablation variant and setting the mean over the modality's
 * structures of the per-structure means. Table 3: Table 1's layout on the
 * configured dataset (ALFI). A cell without data is "missing", never 0; a
 * paper value that does not exist is a dash; a degenerate t-test shows its
 * status. `paper` may be NULL (no side by side). The exact cell formats
 * are in report.c's header comment.
 */
int hx_table_write(const hx_scores *r, const hx_paper *paper, int table,
                   int fmt, FILE *f, sf_err *err);

/* ---------------------------------------------------------------- figures */

/*
 * Box plots (cairo, PNG) of per-slice Dice, one figure per (modality,
 * structure) with data: one group per setting, one box per method (median,
 * quartiles, whiskers to the last point within 1.5 IQR, outliers as dots,
 * mean as a diamond, n under each box). Writes DIR/box_<modality>_
 * <structure>.png and returns the file names (relative to DIR) in *names
 * (*n_names entries; free with hx_strings_free).
 */
int hx_plot_boxes(const hx_scores *r, const char *dir, char ***names,
                  int *n_names, sf_err *err);

void hx_strings_free(char **v, int n);

/* ---------------------------------------------------------------- report */

typedef struct hx_report_opts {
    const char *results;      /* results DB (required) */
    const char *out_dir;      /* created if absent (required) */
    const char *index_path;   /* NULL: OUT/index.md; else this file, whose
                                 links are relative to its folder */
    const char *paper_dir;    /* reports/paper; NULL or absent: no paper */
    const char *config_path;  /* shown in provenance; NULL: built-in */
    const hx_report_cfg *cfg; /* required */
    const char *const *runs;  /* training run folders (RUN/run.sqlite) */
    int n_runs;
    const char *const *corpora; /* corpus folders (manifest.sqlite) */
    int n_corpora;
    const char *data_root;   /* where datasets are looked for (data/) */
    const char *models_root; /* where checkpoints are looked for */
    const char *git_commit;  /* of the synthfm build writing the report */
} hx_report_opts;

/*
 * Write the report folder: OUT/table{1,2,3}.{md,csv,tex},
 * OUT/table{1,3}_tests.csv, OUT/figures/ PNGs (box plots, the training
 * curve of each run, each corpus' contact sheet copied), OUT/runs.csv and
 * the index (provenance: git commit, config and results DB hashes, every
 * evaluation run with checkpoint / model config / split hashes and its
 * corpus provenance, training runs with their corpora and checkpoint
 * hashes, corpus manifest identities, dataset and checkpoint presence, and
 * what could not be evaluated). A figure that cannot be drawn (e.g. a run
 * without steps) is listed in the index as such; the call still succeeds.
 */
int hx_report_write(const hx_report_opts *o, sf_err *err);

#ifdef __cplusplus
}
#endif
#endif /* HX_REPORT_H */
