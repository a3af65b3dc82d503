/*
 * results.c - the results database writer (schemas/results.sql, compiled
 * in with .incbin so the documented schema and the one created cannot
 * drift). One connection, one thread; each evaluated case is one
 * transaction (hx__results_begin / _commit / _rollback), so a crash
 * leaves whole cases only. Readers (the report) use the view dice_scores.
 */
#include "eval.h"
#include "eval_int.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* hx__results_sql: schemas/results.sql plus a NUL. The build compiles
 * this file from the repository root. */
extern const char hx__results_sql[];
__asm__(".section .rodata\n"
        ".global hx__results_sql\n"
        ".type hx__results_sql, @object\n"
        "hx__results_sql:\n"
        ".incbin \"schemas/results.sql\"\n"
        ".byte 0\n"
        ".previous\n");

const char *hx_results_schema(void) {
    return hx__results_sql;
}

struct hx_results {
    sqlite3 *db;
    char path[HX_VOL_PATH_MAX];
    sqlite3_stmt *ins_slice, *get_slice, *ins_prompt, *get_prompt, *get_pred,
        *put_pred;
};

static int db_err(hx_results *r, sf_err *err, const char *what) {
    return sf_err_set(err, SF_EDB, "%s: %s: %s", r->path, what,
                      sqlite3_errmsg(r->db));
}

static int exec(hx_results *r, const char *sql, sf_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(r->db, sql, NULL, NULL, &msg) == SQLITE_OK) return SF_OK;
    int rc = sf_err_set(err, SF_EDB, "%s: %s", r->path, msg ? msg : "?");
    sqlite3_free(msg);
    return rc;
}

static int prep(hx_results *r, const char *sql, sqlite3_stmt **st,
                sf_err *err) {
    if (sqlite3_prepare_v2(r->db, sql, -1, st, NULL) == SQLITE_OK) return SF_OK;
    return db_err(r, err, "prepare");
}

void hx_results_close(hx_results *r) {
    if (!r) return;
    sqlite3_finalize(r->ins_slice);
    sqlite3_finalize(r->get_slice);
    sqlite3_finalize(r->ins_prompt);
    sqlite3_finalize(r->get_prompt);
    sqlite3_finalize(r->get_pred);
    sqlite3_finalize(r->put_pred);
    sqlite3_close(r->db);
    free(r);
}

/* Inside the open transaction: create what is missing (a new file, or a
 * format_version 1 file getting version 2's tables and views), then
 * stamp or check the version. Never touches existing rows. */
static int migrate(hx_results *r, sf_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = exec(r, hx__results_sql, err);
    if (rc != SF_OK) return rc;
    if ((rc = prep(r, "SELECT value FROM meta WHERE key = 'format_version'",
                   &st, err)) != SF_OK)
        return rc;
    char v[32] = "";
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(v, sizeof v, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (!v[0] || !strcmp(v, "1"))
        return exec(r,
                    "INSERT OR REPLACE INTO meta (key, value) VALUES "
                    "('format_version', '" HX_RESULTS_FORMAT_VERSION "');",
                    err);
    if (strcmp(v, HX_RESULTS_FORMAT_VERSION))
        return sf_err_set(err, SF_EFORMAT,
                          "%s: results database format_version is %s; this "
                          "build reads 1 and " HX_RESULTS_FORMAT_VERSION,
                          r->path, v);
    return SF_OK;
}

int hx_results_open(const char *path, hx_results **out, sf_err *err) {
    int rc = SF_ENOMEM;
    hx_results *r = calloc(1, sizeof *r);
    if (!r) return sf_err_set(err, rc, "results database");
    snprintf(r->path, sizeof r->path, "%s", path);
    if (sqlite3_open_v2(path, &r->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK) {
        rc = db_err(r, err, "cannot open");
        goto out;
    }
    sqlite3_busy_timeout(r->db, 10000);
    if ((rc = exec(r, "PRAGMA foreign_keys = ON;", err)) != SF_OK) goto out;
    if ((rc = exec(r, "BEGIN IMMEDIATE;", err)) != SF_OK) goto out;
    if ((rc = migrate(r, err)) != SF_OK) {
        exec(r, "ROLLBACK;", NULL);
        goto out;
    }
    if ((rc = exec(r, "COMMIT;", err)) != SF_OK) goto out;
    if ((rc = prep(r,
                   "INSERT OR IGNORE INTO slices (dataset, case_id, "
                   "slice_index, structure, label_value, source_sha256, "
                   "width, height, gt_pixels) VALUES (?,?,?,?,?,?,?,?,?)",
                   &r->ins_slice, err)) != SF_OK ||
        (rc = prep(r,
                   "SELECT slice_id, source_sha256, gt_pixels, width, "
                   "height FROM slices WHERE dataset = ? AND case_id = ? "
                   "AND slice_index = ? AND structure = ?",
                   &r->get_slice, err)) != SF_OK ||
        (rc = prep(r,
                   "INSERT OR IGNORE INTO prompts (slice_id, setting, "
                   "prompt_seed, points_json) VALUES (?,?,?,?)",
                   &r->ins_prompt, err)) != SF_OK ||
        (rc = prep(r,
                   "SELECT points_json FROM prompts WHERE slice_id = ? AND "
                   "setting = ? AND prompt_seed = ?",
                   &r->get_prompt, err)) != SF_OK ||
        (rc = prep(r,
                   "SELECT status FROM predictions WHERE run_id = ? AND "
                   "slice_id = ? AND setting = ?",
                   &r->get_pred, err)) != SF_OK ||
        (rc = prep(r,
                   "INSERT OR REPLACE INTO predictions (run_id, slice_id, "
                   "setting, dice, pred_pixels, mask_sha256, seconds, "
                   "status, error) VALUES (?,?,?,?,?,?,?,?,?)",
                   &r->put_pred, err)) != SF_OK)
        goto out;
    *out = r;
    r = NULL;
    rc = SF_OK;
out:
    hx_results_close(r);
    return rc;
}

static void utc_now(char buf[32]) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s) {
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

int hx__results_run_begin(hx_results *r, const hx__run_info *ri, long *run_id,
                          int *resumed, sf_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(r, "SELECT run_id FROM runs WHERE run_key = ?", &st, err);
    if (rc != SF_OK) return rc;
    bind_text(st, 1, ri->run_key);
    *resumed = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *run_id = (long)sqlite3_column_int64(st, 0);
        *resumed = 1;
    }
    sqlite3_finalize(st);
    char now[32];
    utc_now(now);
    if (*resumed) {
        rc = prep(r,
                  "UPDATE runs SET status = 'running', finished_at = NULL, "
                  "git_commit = ? WHERE run_id = ?",
                  &st, err);
        if (rc != SF_OK) return rc;
        bind_text(st, 1, ri->git_commit);
        sqlite3_bind_int64(st, 2, *run_id);
    } else {
        rc = prep(r,
                  "INSERT INTO runs (run_key, method, method_kind, "
                  "checkpoint_path, checkpoint_sha256, model_config_sha256, "
                  "import_dir, dataset, modality, data_root, split_name, "
                  "split_sha256, settings, prompt_seed, git_commit, "
                  "provenance_json, status, started_at) VALUES "
                  "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'running',?)",
                  &st, err);
        if (rc != SF_OK) return rc;
        const char *v[] = {ri->run_key,           ri->method,
                           ri->method_kind,       ri->checkpoint_path,
                           ri->checkpoint_sha256, ri->model_config_sha256,
                           ri->import_dir,        ri->dataset,
                           ri->modality,          ri->data_root,
                           ri->split_name,        ri->split_sha256,
                           ri->settings};
        for (int i = 0; i < 13; i++)
            bind_text(st, i + 1, v[i]);
        sqlite3_bind_int64(st, 14, (sqlite3_int64)ri->prompt_seed);
        bind_text(st, 15, ri->git_commit);
        bind_text(st, 16, ri->provenance_json ? ri->provenance_json : "{}");
        bind_text(st, 17, now);
    }
    if (sqlite3_step(st) != SQLITE_DONE) rc = db_err(r, err, "runs");
    sqlite3_finalize(st);
    if (rc == SF_OK && !*resumed)
        *run_id = (long)sqlite3_last_insert_rowid(r->db);
    return rc;
}

int hx__results_meta_set(hx_results *r, const char *key, const char *value,
                         sf_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(r, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                  &st, err);
    if (rc != SF_OK) return rc;
    bind_text(st, 1, key);
    bind_text(st, 2, value);
    rc = sqlite3_step(st) == SQLITE_DONE ? SF_OK : db_err(r, err, "meta");
    sqlite3_finalize(st);
    return rc;
}

int hx__results_run_end(hx_results *r, long run_id, const char *status,
                        sf_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(r,
                  "UPDATE runs SET status = ?, finished_at = ? WHERE "
                  "run_id = ?",
                  &st, err);
    if (rc != SF_OK) return rc;
    char now[32];
    utc_now(now);
    bind_text(st, 1, status);
    bind_text(st, 2, now);
    sqlite3_bind_int64(st, 3, run_id);
    if (sqlite3_step(st) != SQLITE_DONE) rc = db_err(r, err, "runs");
    sqlite3_finalize(st);
    return rc;
}

int hx__results_begin(hx_results *r, sf_err *err) {
    return exec(r, "BEGIN IMMEDIATE;", err);
}
int hx__results_commit(hx_results *r, sf_err *err) {
    return exec(r, "COMMIT;", err);
}
void hx__results_rollback(hx_results *r) {
    if (!sqlite3_get_autocommit(r->db)) exec(r, "ROLLBACK;", NULL);
}

int hx__results_failure(hx_results *r, long run_id, const char *case_id,
                        const char *path, const char *msg, sf_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(r,
                  "INSERT INTO failures (run_id, case_id, path, message) "
                  "VALUES (?,?,?,?)",
                  &st, err);
    if (rc != SF_OK) return rc;
    sqlite3_bind_int64(st, 1, run_id);
    bind_text(st, 2, case_id);
    bind_text(st, 3, path);
    bind_text(st, 4, msg);
    if (sqlite3_step(st) != SQLITE_DONE) rc = db_err(r, err, "failures");
    sqlite3_finalize(st);
    return rc;
}

int hx__results_clear_failures(hx_results *r, long run_id, const char *case_id,
                               sf_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(r, "DELETE FROM failures WHERE run_id = ? AND case_id = ?",
                  &st, err);
    if (rc != SF_OK) return rc;
    sqlite3_bind_int64(st, 1, run_id);
    bind_text(st, 2, case_id);
    if (sqlite3_step(st) != SQLITE_DONE) rc = db_err(r, err, "failures");
    sqlite3_finalize(st);
    return rc;
}

int hx__results_slice(hx_results *r, const char *dataset, const char *case_id,
                      int slice_index, const char *structure, int label_value,
                      const char *source_sha256, int width, int height,
                      long gt_pixels, long *slice_id, sf_err *err) {
    sqlite3_stmt *a = r->ins_slice, *b = r->get_slice;
    sqlite3_reset(a);
    bind_text(a, 1, dataset);
    bind_text(a, 2, case_id);
    sqlite3_bind_int(a, 3, slice_index);
    bind_text(a, 4, structure);
    sqlite3_bind_int(a, 5, label_value);
    bind_text(a, 6, source_sha256);
    sqlite3_bind_int(a, 7, width);
    sqlite3_bind_int(a, 8, height);
    sqlite3_bind_int64(a, 9, gt_pixels);
    if (sqlite3_step(a) != SQLITE_DONE) return db_err(r, err, "slices");
    sqlite3_reset(b);
    bind_text(b, 1, dataset);
    bind_text(b, 2, case_id);
    sqlite3_bind_int(b, 3, slice_index);
    bind_text(b, 4, structure);
    if (sqlite3_step(b) != SQLITE_ROW) return db_err(r, err, "slices");
    *slice_id = (long)sqlite3_column_int64(b, 0);
    const char *h = (const char *)sqlite3_column_text(b, 1);
    long g = (long)sqlite3_column_int64(b, 2);
    int w = sqlite3_column_int(b, 3), hh = sqlite3_column_int(b, 4);
    int same = h && !strcmp(h, source_sha256) && g == gt_pixels && w == width &&
               hh == height;
    char was[65];
    snprintf(was, sizeof was, "%s", h ? h : "");
    sqlite3_reset(b);
    if (!same)
        return sf_err_set(err, SF_ECORRUPT,
                          "%s: %s/%s slice %d %s is already in the results "
                          "database from other data (source sha256 %.12s.., "
                          "now %.12s..; %ld vs %ld pixels): use another "
                          "--out",
                          r->path, dataset, case_id, slice_index, structure,
                          was, source_sha256, g, gt_pixels);
    return SF_OK;
}

int hx__results_prompt(hx_results *r, long slice_id, const char *setting,
                       uint64_t seed, const char *points_json, sf_err *err) {
    sqlite3_stmt *a = r->ins_prompt, *b = r->get_prompt;
    sqlite3_reset(a);
    sqlite3_bind_int64(a, 1, slice_id);
    bind_text(a, 2, setting);
    sqlite3_bind_int64(a, 3, (sqlite3_int64)seed);
    bind_text(a, 4, points_json);
    if (sqlite3_step(a) != SQLITE_DONE) return db_err(r, err, "prompts");
    sqlite3_reset(b);
    sqlite3_bind_int64(b, 1, slice_id);
    bind_text(b, 2, setting);
    sqlite3_bind_int64(b, 3, (sqlite3_int64)seed);
    if (sqlite3_step(b) != SQLITE_ROW) return db_err(r, err, "prompts");
    int same = !strcmp((const char *)sqlite3_column_text(b, 0), points_json);
    sqlite3_reset(b);
    if (!same)
        return sf_err_set(err, SF_ECORRUPT,
                          "%s: the stored clicks of slice_id %ld setting %s "
                          "differ from the simulator's (%s): the prompt "
                          "rules changed; use another --out",
                          r->path, slice_id, setting, points_json);
    return SF_OK;
}

int hx__results_pred_status(hx_results *r, long run_id, long slice_id,
                            const char *setting) {
    sqlite3_stmt *b = r->get_pred;
    sqlite3_reset(b);
    sqlite3_bind_int64(b, 1, run_id);
    sqlite3_bind_int64(b, 2, slice_id);
    bind_text(b, 3, setting);
    int st = 0;
    if (sqlite3_step(b) == SQLITE_ROW)
        st = strcmp((const char *)sqlite3_column_text(b, 0), "ok") ? 2 : 1;
    sqlite3_reset(b);
    return st;
}

int hx__results_prediction(hx_results *r, long run_id, long slice_id,
                           const char *setting, double dice, long pred_pixels,
                           const char *mask_sha256, double seconds,
                           const char *error, sf_err *err) {
    sqlite3_stmt *a = r->put_pred;
    sqlite3_reset(a);
    sqlite3_bind_int64(a, 1, run_id);
    sqlite3_bind_int64(a, 2, slice_id);
    bind_text(a, 3, setting);
    if (error) {
        sqlite3_bind_null(a, 4);
        sqlite3_bind_null(a, 5);
        sqlite3_bind_null(a, 6);
    } else {
        sqlite3_bind_double(a, 4, dice);
        sqlite3_bind_int64(a, 5, pred_pixels);
        bind_text(a, 6, mask_sha256);
    }
    sqlite3_bind_double(a, 7, seconds);
    bind_text(a, 8, error ? "failed" : "ok");
    bind_text(a, 9, error);
    if (sqlite3_step(a) != SQLITE_DONE) return db_err(r, err, "predictions");
    return SF_OK;
}

int hx__results_protocol_summary(hx_results *r, long run_id, int protocol,
                                 double *mean_dice, long *n_ok, sf_err *err) {
    static const char *const sql[] = {
        "SELECT avg(dice), count(*) FROM predictions WHERE run_id = ? AND "
        "status = 'ok'",
        "SELECT avg(dsc_final), count(*) FROM interactive_seqs WHERE "
        "run_id = ? AND status = 'ok'",
        "SELECT avg(dice), count(*) FROM volume_scores WHERE run_id = ? AND "
        "status = 'ok'"};
    int q = protocol == HX_PROTOCOL_CVPR25 || protocol == HX_PROTOCOL_NOC ? 1
            : protocol == HX_PROTOCOL_VOLUME                              ? 2
                                                                          : 0;
    sqlite3_stmt *st = NULL;
    int rc = prep(r, sql[q], &st, err);
    if (rc != SF_OK) return rc;
    sqlite3_bind_int64(st, 1, run_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *mean_dice = sqlite3_column_double(st, 0);
        *n_ok = (long)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return SF_OK;
}

int hx__results_ranked(hx_results *r, long run_id, const char *setting,
                       hx__ranked **out, size_t *n, sf_err *err) {
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *n = 0;
    int rc = prep(r,
                  "SELECT p.dice, s.case_id, s.slice_index, s.structure "
                  "FROM predictions p JOIN slices s ON s.slice_id = "
                  "p.slice_id WHERE p.run_id = ? AND p.setting = ? AND "
                  "p.status = 'ok' ORDER BY p.dice, s.case_id, "
                  "s.slice_index, s.structure",
                  &st, err);
    if (rc != SF_OK) return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, setting, -1, SQLITE_STATIC);
    size_t cap = 0;
    hx__ranked *v = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            hx__ranked *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                free(v);
                sqlite3_finalize(st);
                return sf_err_set(err, SF_ENOMEM, "ranked rows");
            }
            v = nv;
        }
        hx__ranked *x = &v[(*n)++];
        memset(x, 0, sizeof *x);
        x->dice = sqlite3_column_double(st, 0);
        snprintf(x->case_id, sizeof x->case_id, "%s",
                 (const char *)sqlite3_column_text(st, 1));
        x->slice_index = sqlite3_column_int(st, 2);
        snprintf(x->structure, sizeof x->structure, "%s",
                 (const char *)sqlite3_column_text(st, 3));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(v);
        *n = 0;
        return sf_err_set(err, SF_EDB, "ranked rows: %s",
                          sqlite3_errmsg(r->db));
    }
    *out = v;
    return SF_OK;
}

/* ------------------------------------------------------ format_version 2 */

/* A double or NULL when not finite (the reference's NaN / inf). */
static void bind_real(sqlite3_stmt *st, int i, double v) {
    if (isfinite(v))
        sqlite3_bind_double(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

/* Run one statement with bound values; SF_OK or SF_EDB naming what. */
static int step_done(hx_results *r, sqlite3_stmt *st, const char *what,
                     sf_err *err) {
    int rc = sqlite3_step(st) == SQLITE_DONE ? SF_OK : db_err(r, err, what);
    sqlite3_finalize(st);
    return rc;
}

int hx__results_surface(hx_results *r, long run_id, long slice_id,
                        const char *setting, const hx_metrics *m, double sx_mm,
                        double sy_mm, sf_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(r,
                  "INSERT OR REPLACE INTO surface_scores (run_id, slice_id, "
                  "setting, nsd_1mm, nsd_2mm, hd95_mm, spacing_x_mm, "
                  "spacing_y_mm) VALUES (?,?,?,?,?,?,?,?)",
                  &st, err);
    if (rc != SF_OK) return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, slice_id);
    bind_text(st, 3, setting);
    bind_real(st, 4, m->nsd_1mm);
    bind_real(st, 5, m->nsd_2mm);
    bind_real(st, 6, m->hd95);
    sqlite3_bind_double(st, 7, sx_mm);
    sqlite3_bind_double(st, 8, sy_mm);
    return step_done(r, st, "surface_scores", err);
}

/* 1 when the statement (one ?1..?3 key) finds a row. */
static int exists(hx_results *r, const char *sql, long a, long b,
                  const char *c) {
    sqlite3_stmt *st = NULL;
    if (prep(r, sql, &st, NULL) != SF_OK) return 0;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    bind_text(st, 3, c);
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

int hx__results_has_surface(hx_results *r, long run_id, long slice_id,
                            const char *setting) {
    return exists(r,
                  "SELECT 1 FROM surface_scores WHERE run_id = ?1 AND "
                  "slice_id = ?2 AND setting = ?3",
                  run_id, slice_id, setting);
}

int hx__results_seq_done(hx_results *r, long run_id, long slice_id,
                         const char *protocol) {
    return exists(r,
                  "SELECT 1 FROM interactive_seqs WHERE run_id = ?1 AND "
                  "slice_id = ?2 AND protocol = ?3 AND status = 'ok'",
                  run_id, slice_id, protocol);
}

int hx__results_seq(hx_results *r, long run_id, long slice_id,
                    const char *protocol, int click_cap, const hx_seq *s,
                    double sx_mm, double sy_mm, double seconds,
                    const char *error, sf_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(r,
                  "DELETE FROM interactive_steps WHERE run_id = ? AND "
                  "slice_id = ? AND protocol = ?",
                  &st, err);
    if (rc != SF_OK) return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, slice_id);
    bind_text(st, 3, protocol);
    if ((rc = step_done(r, st, "interactive_steps", err)) != SF_OK) return rc;
    if ((rc = prep(r,
                   "INSERT OR REPLACE INTO interactive_seqs (run_id, "
                   "slice_id, protocol, has_box, n_clicks, dsc_auc, nsd_auc, "
                   "dsc_final, nsd_final, noc85, noc90, click_cap, "
                   "spacing_x_mm, spacing_y_mm, seconds, status, error) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   &st, err)) != SF_OK)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, slice_id);
    bind_text(st, 3, protocol);
    sqlite3_bind_int(st, 4, s ? s->has_bbox_step : 0);
    if (s && !error) {
        sqlite3_bind_int(st, 5, s->n_steps - 1);
        bind_real(st, 6, s->dsc_auc);
        bind_real(st, 7, s->nsd_auc);
        bind_real(st, 8, s->dsc_final);
        bind_real(st, 9, s->nsd_final);
        if (!strcmp(protocol, "noc")) {
            sqlite3_bind_int(st, 10, hx_seq_noc(s, 0.85));
            sqlite3_bind_int(st, 11, hx_seq_noc(s, 0.90));
        }
    }
    sqlite3_bind_int(st, 12, click_cap);
    sqlite3_bind_double(st, 13, sx_mm);
    sqlite3_bind_double(st, 14, sy_mm);
    sqlite3_bind_double(st, 15, seconds);
    bind_text(st, 16, error ? "failed" : "ok");
    bind_text(st, 17, error);
    if ((rc = step_done(r, st, "interactive_seqs", err)) != SF_OK) return rc;
    if (!s || error) return SF_OK;
    for (int k = s->has_bbox_step ? 0 : 1; k < s->n_steps; k++) {
        const hx_seq_step *p = &s->step[k];
        if ((rc = prep(r,
                       "INSERT INTO interactive_steps (run_id, slice_id, "
                       "protocol, step, has_click, click_x, click_y, "
                       "positive, dsc, nsd, seconds) VALUES "
                       "(?,?,?,?,?,?,?,?,?,?,?)",
                       &st, err)) != SF_OK)
            return rc;
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int64(st, 2, slice_id);
        bind_text(st, 3, protocol);
        sqlite3_bind_int(st, 4, k);
        sqlite3_bind_int(st, 5, k > 0 && p->click.has_click);
        if (k > 0 && p->click.has_click) {
            /* 2D grid (ny, nx): pos[0] = row, pos[1] = column */
            sqlite3_bind_int(st, 6, p->click.pos[1]);
            sqlite3_bind_int(st, 7, p->click.pos[0]);
            sqlite3_bind_int(st, 8, p->click.positive);
        }
        /* NaN (never for a non-empty ground truth) would violate NOT
         * NULL: the insert fails and says so. */
        bind_real(st, 9, p->dsc);
        bind_real(st, 10, p->nsd);
        sqlite3_bind_double(st, 11, p->t_predict_s);
        if ((rc = step_done(r, st, "interactive_steps", err)) != SF_OK)
            return rc;
    }
    return SF_OK;
}

int hx__results_volume_done(hx_results *r, long run_id, const char *case_id,
                            const char *structure, const char *setting) {
    sqlite3_stmt *st = NULL;
    if (prep(r,
             "SELECT 1 FROM volume_scores WHERE run_id = ? AND case_id = ? "
             "AND structure = ? AND setting = ? AND status = 'ok'",
             &st, NULL) != SF_OK)
        return 0;
    sqlite3_bind_int64(st, 1, run_id);
    bind_text(st, 2, case_id);
    bind_text(st, 3, structure);
    bind_text(st, 4, setting);
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

int hx__results_volume(hx_results *r, long run_id, const hx__volume_row *v,
                       sf_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(r,
                  "INSERT OR REPLACE INTO volume_scores (run_id, dataset, "
                  "case_id, structure, setting, mode, key_slice, "
                  "points_json, n_slices, gt_voxels, pred_voxels, dice, "
                  "nsd_2mm, seconds, status, error) VALUES "
                  "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  &st, err);
    if (rc != SF_OK) return rc;
    sqlite3_bind_int64(st, 1, run_id);
    bind_text(st, 2, v->dataset);
    bind_text(st, 3, v->case_id);
    bind_text(st, 4, v->structure);
    bind_text(st, 5, v->setting);
    bind_text(st, 6, v->mode);
    sqlite3_bind_int(st, 7, v->key_slice);
    bind_text(st, 8, v->points_json);
    sqlite3_bind_int(st, 9, v->n_slices);
    sqlite3_bind_int64(st, 10, v->gt_voxels);
    if (!v->error) {
        sqlite3_bind_int64(st, 11, v->pred_voxels);
        bind_real(st, 12, v->dice);
        bind_real(st, 13, v->nsd_2mm);
    }
    sqlite3_bind_double(st, 14, v->seconds);
    bind_text(st, 15, v->error ? "failed" : "ok");
    bind_text(st, 16, v->error);
    return step_done(r, st, "volume_scores", err);
}
