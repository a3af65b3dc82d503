/*
 * report_int.h - internals shared by report_cfg.c, report_tables.c,
 * report_plot.c and report.c (not a public header).
 */
#ifndef HX_REPORT_INT_H
#define HX_REPORT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "report.h"
#include "sf.h"

/* A list of owned strings. */
typedef struct hx__strs {
    char **v;
    int n, cap;
} hx__strs;

int hx__strs_push(hx__strs *s, const char *v);       /* 0 or SF_ENOMEM */
int hx__strs_find(const hx__strs *s, const char *v); /* index or -1 */
void hx__strs_clear(hx__strs *s);

struct hx_report_cfg {
    hx__strs ours, settings, modalities, datasets;
    hx__strs pm_db, pm_paper;     /* paper_methods: db name -> paper key */
    hx__strs st_db, st_name;      /* structures: db name -> table name */
    hx__strs pool_mod, pool_name; /* pooled: modality -> one row name */
    hx__strs t1_methods, t2_settings, t3_methods;
    hx__strs variant[3]; /* shape, boundary, both */
    char *t3_dataset;
};

/* Text buffers are the factory's public sf_buf (sf_util.h). */

/* A CSV field (quoted when it needs it), then ',' or, when last, '\n'. */
void hx__csv_field(sf_buf *b, const char *s, int last);

/* String interning (open addressing): id = index into v. */
typedef struct hx__intern {
    hx__strs s;
    int *slot; /* -1 empty */
    size_t n_slot;
} hx__intern;
int hx__intern_id(hx__intern *t, const char *s);         /* id, or SF_ENOMEM */
int hx__intern_find(const hx__intern *t, const char *s); /* id or -1 */
void hx__intern_free(hx__intern *t);

/* One row of the view dice_scores, names interned. */
typedef struct hx__row {
    int modality, structure, setting, method, dataset, case_id;
    int slice;
    double dice; /* fraction, [0, 1] */
} hx__row;

typedef struct hx__run {
    long long run_id, prompt_seed;
    char *method, *kind, *ckpt_path, *ckpt_sha, *mcfg_sha, *import_dir;
    char *dataset, *modality, *data_root, *split_name, *split_sha;
    char *settings, *git_commit, *prov_json, *status, *started, *finished;
    long long n_ok, n_failed, n_failures;
} hx__run;

typedef struct hx__failure {
    long long run_id;
    char *case_id, *path, *message;
} hx__failure;

struct hx_scores {
    const hx_report_cfg *cfg;
    char *path;
    hx__intern modality, structure, setting, method, dataset, case_id;
    hx__row *rows; /* sorted by (modality, structure, setting, method,
                      dataset, case_id, slice) */
    size_t n_rows;
    hx__run *runs;
    int n_runs;
    hx__failure *failures;
    int n_failures;
};

/* Index of name in the cfg map (db -> value), or NULL. */
const char *hx__cfg_map(const hx__strs *keys, const hx__strs *vals,
                        const char *key);

/* The boundary-metric, interactive (Table 4) and volume tables with
 * their tests, the Dice-vs-clicks curves and NoC histograms
 * (report_ix.c): files into out_dir and fig_dir, a section of links
 * (prefix pre) appended to idx. A database before format_version 2 gets
 * a line saying so. Errors: SF_EDB, SF_EIO, SF_ENOMEM. */
int hx__report_ix(const char *db_path, const char *out_dir, const char *fig_dir,
                  const char *pre, sf_buf *idx, sf_err *err);

#endif
