/*
 * results_merge.c - hx_results_merge (results.h): the shards of one
 * evaluation (`synthfm eval --shard I/N`) into one results database equal
 * to the single run, row for row: the shards' slices are renumbered in
 * shard order (= the case order a single run inserts them in), prompts and
 * predictions, surface scores and interactive rows follow their slices,
 * volume rows and failures are copied.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "results.h"

typedef struct shard {
    const char *path;
    int index, count;
    char key[80], git[80], status[16];
} shard;

static int db_fail(sqlite3 *db, sf_err *err, const char *path) {
    return sf_err_set(err, SF_EDB, "%s: %s", path, sqlite3_errmsg(db));
}

/* The one sharded run of a shard file. */
static int read_shard(shard *s, sf_err *err) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = SF_OK, n = 0;
    if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READONLY, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT substr(m.key, 7), m.value, r.git_commit, "
                           "r.status, (SELECT count(*) FROM runs) FROM meta m "
                           "LEFT JOIN runs r ON r.run_key = substr(m.key, 7) "
                           "WHERE m.key LIKE 'shard:%'",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(db, err, s->path);
        goto out;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        n++;
        const char *v = (const char *)sqlite3_column_text(st, 1);
        const char *g = (const char *)sqlite3_column_text(st, 2);
        const char *stt = (const char *)sqlite3_column_text(st, 3);
        snprintf(s->key, sizeof s->key, "%s", sqlite3_column_text(st, 0));
        snprintf(s->git, sizeof s->git, "%s", g ? g : "");
        snprintf(s->status, sizeof s->status, "%s", stt ? stt : "");
        if (!v || sscanf(v, "%d/%d", &s->index, &s->count) != 2 ||
            sqlite3_column_int(st, 4) != 1)
            n = 99;
    }
    if (n != 1)
        rc = sf_err_set(err, SF_EINVAL,
                        "%s: not a shard file of `synthfm eval --shard I/N` "
                        "(exactly one sharded run expected)",
                        s->path);
    else if (strcmp(s->status, "done"))
        rc = sf_err_set(err, SF_EINVAL,
                        "%s: shard %d/%d is %s, not done: finish it first "
                        "(rerun the same eval command)",
                        s->path, s->index, s->count,
                        s->status[0] ? s->status : "missing");
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

static int by_index(const void *a, const void *b) {
    return ((const shard *)a)->index - ((const shard *)b)->index;
}

static int exec(sqlite3 *db, const char *sql, const char *path, sf_err *err) {
    char *m = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &m) == SQLITE_OK) return SF_OK;
    int rc = sf_err_set(err, SF_EDB, "%s: %s", path, m ? m : "?");
    sqlite3_free(m);
    return rc;
}

int hx_results_merge(const char *out, const char *const *paths, int n,
                     sf_err *err) {
    shard *s = calloc((size_t)(n > 0 ? n : 1), sizeof *s);
    sqlite3 *db = NULL;
    char tmp[4200];
    int rc = SF_OK, made = 0;
    struct stat sb;
    if (!s) return sf_err_set(err, SF_ENOMEM, "merge");
    if (n < 1) {
        rc = sf_err_set(err, SF_EINVAL, "no shard files to merge");
        goto out;
    }
    if (!stat(out, &sb)) {
        rc = sf_err_set(err, SF_EEXIST, "%s exists: merge writes a new file",
                        out);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        s[i].path = paths[i];
        if ((rc = read_shard(&s[i], err)) != SF_OK) goto out;
    }
    qsort(s, (size_t)n, sizeof *s, by_index);
    for (int i = 0; i < n; i++) {
        if (strcmp(s[i].key, s[0].key)) {
            rc = sf_err_set(
                err, SF_EINVAL,
                "%s and %s are shards of different evaluations (method, "
                "checkpoint, dataset, split, settings or prompt seed differ)",
                s[0].path, s[i].path);
            goto out;
        }
        if (strcmp(s[i].git, s[0].git)) {
            rc = sf_err_set(err, SF_EINVAL,
                            "%s and %s were evaluated by different builds "
                            "(%s, %s)",
                            s[0].path, s[i].path, s[0].git, s[i].git);
            goto out;
        }
        if (s[i].count != s[0].count || s[i].count != n || s[i].index != i) {
            if (i && s[i].index == s[i - 1].index)
                rc = sf_err_set(
                    err, SF_EINVAL, "%s and %s are both shard %d/%d (overlap)",
                    s[i - 1].path, s[i].path, s[i].index, s[i].count);
            else
                rc = sf_err_set(err, SF_EINVAL,
                                "the shards are not 0..%d of %d exactly "
                                "once: %s is shard %d/%d (a gap, a missing "
                                "file, or another shard count)",
                                n - 1, n, s[i].path, s[i].index, s[i].count);
            goto out;
        }
    }
    /* The new file: the schema (hx_results_open), then one transaction;
     * written as OUT.tmp and renamed, so a refusal leaves nothing. */
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    unlink(tmp);
    hx_results *r = NULL;
    if ((rc = hx_results_open(tmp, &r, err)) != SF_OK) goto out;
    hx_results_close(r);
    made = 1;
    if (sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        rc = db_fail(db, err, tmp);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        char *q = sqlite3_mprintf("ATTACH %Q AS src", s[i].path);
        rc = exec(db, q, s[i].path, err);
        sqlite3_free(q);
        if (rc || (rc = exec(db, "BEGIN", tmp, err)) != SF_OK) goto out;
        static const char *const copy[] = {
            "INSERT INTO main.runs SELECT * FROM src.runs WHERE %d = 0",
            "UPDATE main.runs SET finished_at = (SELECT finished_at FROM "
            "src.runs) WHERE %d >= 0",
            "INSERT INTO main.slices (dataset, case_id, slice_index, "
            "structure, label_value, source_sha256, width, height, "
            "gt_pixels) SELECT dataset, case_id, slice_index, structure, "
            "label_value, source_sha256, width, height, gt_pixels FROM "
            "src.slices WHERE %d >= 0 ORDER BY slice_id",
            "INSERT INTO main.prompts SELECT m.slice_id, p.setting, "
            "p.prompt_seed, p.points_json FROM src.prompts p JOIN src.slices "
            "s USING (slice_id) JOIN main.slices m ON m.dataset = s.dataset "
            "AND m.case_id = s.case_id AND m.slice_index = s.slice_index AND "
            "m.structure = s.structure WHERE %d >= 0 ORDER BY m.slice_id, "
            "p.setting, p.prompt_seed",
            "INSERT INTO main.predictions SELECT (SELECT run_id FROM "
            "main.runs), m.slice_id, p.setting, p.dice, p.pred_pixels, "
            "p.mask_sha256, p.seconds, p.status, p.error FROM "
            "src.predictions p JOIN src.slices s USING (slice_id) JOIN "
            "main.slices m ON m.dataset = s.dataset AND m.case_id = "
            "s.case_id AND m.slice_index = s.slice_index AND m.structure = "
            "s.structure WHERE %d >= 0",
            "INSERT INTO main.surface_scores SELECT (SELECT run_id FROM "
            "main.runs), "
            "m.slice_id, x.setting, x.nsd_1mm, x.nsd_2mm, x.hd95_mm, "
            "x.spacing_x_mm, x.spacing_y_mm FROM src.surface_scores x "
            "JOIN src.slices s USING (slice_id) JOIN "
            "main.slices m ON m.dataset = s.dataset AND m.case_id = "
            "s.case_id AND m.slice_index = s.slice_index AND m.structure = "
            "s.structure WHERE %d >= 0",
            "INSERT INTO main.interactive_seqs SELECT (SELECT run_id FROM "
            "main.runs), "
            "m.slice_id, x.protocol, x.has_box, x.n_clicks, x.dsc_auc, "
            "x.nsd_auc, x.dsc_final, x.nsd_final, x.noc85, x.noc90, "
            "x.click_cap, x.spacing_x_mm, x.spacing_y_mm, x.seconds, x.status, "
            "x.error FROM src.interactive_seqs x "
            "JOIN src.slices s USING (slice_id) JOIN "
            "main.slices m ON m.dataset = s.dataset AND m.case_id = "
            "s.case_id AND m.slice_index = s.slice_index AND m.structure = "
            "s.structure WHERE %d >= 0",
            "INSERT INTO main.interactive_steps SELECT (SELECT run_id FROM "
            "main.runs), "
            "m.slice_id, x.protocol, x.step, x.has_click, x.click_x, "
            "x.click_y, x.positive, x.dsc, x.nsd, x.seconds FROM "
            "src.interactive_steps x "
            "JOIN src.slices s USING (slice_id) JOIN "
            "main.slices m ON m.dataset = s.dataset AND m.case_id = "
            "s.case_id AND m.slice_index = s.slice_index AND m.structure = "
            "s.structure WHERE %d >= 0",
            "INSERT INTO main.volume_scores SELECT (SELECT run_id FROM "
            "main.runs), dataset, case_id, structure, setting, mode, "
            "key_slice, points_json, n_slices, gt_voxels, pred_voxels, dice, "
            "nsd_2mm, seconds, status, error FROM src.volume_scores WHERE "
            "%d >= 0",
            "INSERT INTO main.failures SELECT (SELECT run_id FROM main.runs), "
            "case_id, path, message FROM src.failures WHERE %d >= 0 ORDER BY "
            "rowid",
            NULL};
        for (int k = 0; copy[k]; k++) {
            char sql[1200];
            snprintf(sql, sizeof sql, copy[k], i);
            if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
                /* slices(dataset, case, slice, structure) is UNIQUE: the
                 * same unit in two shards */
                rc = sf_err_set(err, SF_EINVAL,
                                "%s: cannot merge (%s): shards overlap or "
                                "the file is not a results database",
                                s[i].path, sqlite3_errmsg(db));
                goto out;
            }
        }
        /* one transaction per shard (DETACH needs none open); a failure
         * removes OUT.tmp as a whole */
        if ((rc = exec(db, "COMMIT", tmp, err)) != SF_OK ||
            (rc = exec(db, "DETACH src", s[i].path, err)) != SF_OK)
            goto out;
    }
    sqlite3_close(db);
    db = NULL;
    if (rename(tmp, out)) {
        rc = sf_err_set(err, SF_EIO, "rename %s: cannot", tmp);
        goto out;
    }
    made = 0;
out:
    if (db) sqlite3_close(db);
    if (made) {
        unlink(tmp);
        char side[4300];
        snprintf(side, sizeof side, "%s-wal", tmp);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", tmp);
        unlink(side);
    }
    free(s);
    return rc;
}
