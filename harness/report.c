/*
 * report.c - the report folder: tables, figures and index.md with
 * provenance (hx_report_write).
 */
#include "report_int.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hx.h"
#include "sf_model.h" /* sam_train_plot: each run's learning curve */

/* The last component of path p, made file-name safe, into b (n bytes);
 * returns b. */
static const char *base_name(const char *p, char *b, size_t n) {
    size_t e = strlen(p);
    while (e > 1 && p[e - 1] == '/')
        e--;
    size_t s = e;
    while (s > 0 && p[s - 1] != '/')
        s--;
    snprintf(b, n, "%.*s", (int)(e - s), p + s);
    for (char *c = b; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.'))
            *c = '_';
    return b;
}

/* One table file through NAME.tmp + rename. */
static int write_table(const hx_scores *r, const hx_paper *p, int table,
                       int fmt, const char *path, sf_err *err) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return sf_err_set(err, SF_EIO, "%s: %s", tmp, strerror(errno));
    int rc = hx_table_write(r, p, table, fmt, f, err);
    if (fclose(f) && !rc) rc = sf_err_set(err, SF_EIO, "%s: write error", tmp);
    if (!rc && rename(tmp, path))
        rc = sf_err_set(err, SF_EIO, "%s: %s", path, strerror(errno));
    if (rc) remove(tmp);
    return rc;
}

static int copy_file(const char *from, const char *to, sf_err *err) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", to);
    FILE *in = fopen(from, "rb");
    if (!in) return sf_err_set(err, SF_EIO, "%s: %s", from, strerror(errno));
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        fclose(in);
        return sf_err_set(err, SF_EIO, "%s: %s", tmp, strerror(errno));
    }
    char buf[1 << 16];
    size_t k;
    int ok = 1;
    while (ok && (k = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, k, out) == k;
    ok = ok && !ferror(in);
    fclose(in);
    ok = !fclose(out) && ok;
    if (!ok || rename(tmp, to)) {
        remove(tmp);
        return sf_err_set(err, SF_EIO, "%s: copy failed", to);
    }
    return SF_OK;
}

/* Markdown table cell text: no '|' or newline. */
static void md_cell(sf_buf *b, const char *s) {
    for (; *s; s++)
        sf_buf_printf(b, "%s",
                      *s == '|'    ? "\\|"
                      : *s == '\n' ? " "
                                   : (char[]){*s, 0});
}

/* Training run: run.sqlite's key-values, corpora, checkpoint hashes. */
static void describe_run(const hx_scores *r, const char *dir, sf_buf *b) {
    char path[4200], hex[65];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    sf_err e;
    sf_buf_printf(b, "\n### Training run `%s`\n\n", dir);
    snprintf(path, sizeof path, "%s/run.sqlite", dir);
    if (!sf_path_is_file(path) ||
        sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sf_buf_printf(b, "- run.sqlite: **missing** (`%s`)\n", path);
        sqlite3_close(db);
        return;
    }
    if (sqlite3_prepare_v2(db, "SELECT key, value FROM run ORDER BY key", -1,
                           &st, NULL) == SQLITE_OK) {
        sf_buf_printf(b, "| key | value |\n|---|---|\n");
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *k = (const char *)sqlite3_column_text(st, 0);
            const char *v = (const char *)sqlite3_column_text(st, 1);
            char shortv[400];
            snprintf(shortv, sizeof shortv, "%s", v ? v : "");
            if (v && strlen(v) >= sizeof shortv - 1)
                snprintf(shortv + sizeof shortv - 8, 8, "...");
            sf_buf_printf(b, "| %s | `", k ? k : "");
            md_cell(b, shortv);
            sf_buf_printf(b, "` |\n");
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (sqlite3_prepare_v2(db,
                           "SELECT role, dir, identity, n_samples FROM corpora",
                           -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            sf_buf_printf(b,
                          "- corpus (%s): `%s`, identity sha256 `%s`, %lld "
                          "samples\n",
                          (const char *)sqlite3_column_text(st, 0),
                          (const char *)sqlite3_column_text(st, 1),
                          (const char *)sqlite3_column_text(st, 2),
                          (long long)sqlite3_column_int64(st, 3));
        sqlite3_finalize(st);
        st = NULL;
    }
    sqlite3_close(db);
    const char *files[] = {"best.pth", "last.pth", "model.yaml", "config.yaml"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (!sf_path_is_file(path)) {
            if (i < 3) sf_buf_printf(b, "- %s: **missing**\n", files[i]);
        } else if (sf_sha256_file(path, hex, &e) == SF_OK) {
            sf_buf_printf(b, "- %s: sha256 `%s`", files[i], hex);
            /* The evaluation runs of this checkpoint: the link from a
             * table's number back to this run and its corpora. */
            int k = 0;
            for (int j = 0; i < 2 && j < r->n_runs; j++)
                if (!strcmp(r->runs[j].ckpt_sha, hex))
                    sf_buf_printf(b, "%s %lld (%s on %s)",
                                  k++ ? "," : "; evaluated in runs",
                                  r->runs[j].run_id, r->runs[j].method,
                                  r->runs[j].dataset);
            sf_buf_printf(b, "\n");
        }
    }
}

static void describe_corpus(const char *dir, const char *fig_dir,
                            const char *link_prefix, sf_buf *b) {
    sf_corpus *c = NULL;
    sf_err e;
    char hex[65], from[4200], to[4400], name[600], msg[1200];
    sf_buf_printf(b, "\n### Corpus `%s`\n\n", dir);
    if (sf_corpus_open(dir, &c, &e) != SF_OK) {
        sf_buf_printf(b, "- not readable: %s\n",
                      sf_err_text(&e, msg, sizeof msg));
        return;
    }
    const sf_corpus_info *in = sf_corpus_get_info(c);
    if (sf_corpus_identity(c, hex, &e) != SF_OK) snprintf(hex, sizeof hex, "?");
    sf_buf_printf(b,
                  "- %s, master seed %llu, %llu samples (%llu in this "
                  "folder), %d px; config sha256 `%s`; manifest identity "
                  "sha256 `%s`; git `%s`\n",
                  in->generator, (unsigned long long)in->master_seed,
                  (unsigned long long)in->sample_count,
                  (unsigned long long)sf_corpus_count(c), in->image_size,
                  in->config_sha256, hex, in->git_commit);
    sf_corpus_close(c);
    snprintf(from, sizeof from, "%s/manifest.sqlite", dir);
    if (sf_sha256_file(from, hex, &e) == SF_OK)
        sf_buf_printf(b, "- manifest.sqlite sha256 `%s`\n", hex);
    snprintf(from, sizeof from, "%s/preview.png", dir);
    char base[512];
    snprintf(name, sizeof name, "corpus_%s.png",
             base_name(dir, base, sizeof base));
    snprintf(to, sizeof to, "%s/%s", fig_dir, name);
    if (!sf_path_is_file(from))
        sf_buf_printf(b, "- contact sheet: **missing** (`%s`)\n", from);
    else if (copy_file(from, to, &e) != SF_OK)
        sf_buf_printf(b, "- contact sheet: not copied: %s\n",
                      sf_err_text(&e, msg, sizeof msg));
    else
        sf_buf_printf(b, "\n![contact sheet of %s](%sfigures/%s)\n", dir,
                      link_prefix, name);
}

/* Path of `out` as seen from the folder of the index file: "" when the
 * index is in out, "SUB/" when out is below it, else out's path + "/". */
static void link_prefix(const char *index_path, const char *out, char *buf,
                        size_t n) {
    char idir[4096];
    snprintf(idir, sizeof idir, "%s", index_path);
    char *sl = strrchr(idir, '/');
    if (sl)
        *sl = '\0';
    else
        snprintf(idir, sizeof idir, ".");
    size_t L = strlen(idir);
    if (!strcmp(idir, out))
        buf[0] = '\0';
    else if (!strcmp(idir, ".") && out[0] != '/')
        snprintf(buf, n, "%s/", out);
    else if (!strncmp(out, idir, L) && out[L] == '/')
        snprintf(buf, n, "%s/", out + L + 1);
    else
        snprintf(buf, n, "%s/", out);
}

/* path.tmp + rename (the factory's atomic write); an oom buffer is an error. */
static int write_text_file(const char *path, const sf_buf *b, sf_err *err) {
    if (b->oom) return sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
    return sf_write_atomic(path, b->s ? b->s : "", b->len, 0, err);
}

/* The report's tables: table1-3 as Markdown, CSV and LaTeX, and the
 * t-tests of tables 1 and 3, into o->out_dir. */
static int write_tables(const hx_report_opts *o, const hx_scores *r,
                        const hx_paper *paper, sf_err *err) {
    char path[4400];
    int rc = SF_OK;
    /* Tables. */
    static const char *const ext[4] = {"md", "csv", "tex", "tests.csv"};
    for (int t = 1; t <= 3; t++)
        for (int fm = HX_FMT_MD; fm <= HX_FMT_TESTS; fm++) {
            if (t == 2 && fm == HX_FMT_TESTS) continue;
            snprintf(path, sizeof path, "%s/table%d%s%s", o->out_dir, t,
                     fm == HX_FMT_TESTS ? "_" : ".", ext[fm]);
            if (fm == HX_FMT_TESTS)
                snprintf(path, sizeof path, "%s/table%d_tests.csv", o->out_dir,
                         t);
            if ((rc = write_table(r, paper, t, fm, path, err))) return rc;
        }
    return rc;
}

/* index.md: the title and the inputs (results database, report config,
 * paper tables) with their hashes. */
static void index_inputs(sf_buf *b, const hx_report_opts *o, const hx_scores *r,
                         int have_paper) {
    char hex[65];
    sf_err e;
    time_t now = time(NULL);
    struct tm tmv;
    char ts[64];
    gmtime_r(&now, &tmv);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    sf_buf_printf(b,
                  "# synthfm report\n\nGenerated %s by synthfm %s (git "
                  "`%s`).\n\n## Inputs\n\n",
                  ts, SF_VERSION, o->git_commit ? o->git_commit : "unknown");
    if (sf_sha256_file(o->results, hex, &e)) snprintf(hex, sizeof hex, "?");
    sf_buf_printf(b,
                  "- results database: `%s` (sha256 `%s`): %zu scored "
                  "predictions from %d evaluation runs, %d recorded "
                  "failures\n",
                  o->results, hex, r->n_rows, r->n_runs, r->n_failures);
    if (o->config_path && sf_sha256_file(o->config_path, hex, &e) == SF_OK)
        sf_buf_printf(b, "- report config: `%s` (sha256 `%s`)\n",
                      o->config_path, hex);
    else {
        const char *d = hx_report_cfg_default_text();
        sf_sha256_hex(d, strlen(d), hex);
        sf_buf_printf(b,
                      "- report config: built-in default (= "
                      "reports/report.yaml, sha256 `%s`)\n",
                      hex);
    }
    if (have_paper)
        sf_buf_printf(b,
                      "- paper tables: `%s` (typed from arXiv "
                      "2504.08177; see its README.md)\n",
                      o->paper_dir);
    else
        sf_buf_printf(b,
                      "- paper tables: **not found** (`%s`): the tables "
                      "have no side-by-side columns' values\n",
                      o->paper_dir ? o->paper_dir : "none given");
}

/* index.md: links to the tables, the box plots and each run's training
 * curve (drawn here into fig_dir). */
static void index_tables_figures(sf_buf *b, const hx_report_opts *o, char **box,
                                 int n_box, const char *fig_dir,
                                 const char *pre) {
    char path[4400], msg[1200];
    sf_err e;
    sf_buf_printf(b, "\n## Tables\n\nEach table's Markdown file ends with a "
                     "provenance legend: for every method and dataset the "
                     "evaluation run(s) behind its numbers (checkpoint, "
                     "split, prompt seed, corpus provenance).\n\n");
    static const char *const tname[4] = {
        "", "Table 1: modality x structure x method x prompt setting",
        "Table 2: ablation (shape-only, boundary-only, both)",
        "Table 3: ALFI (microscopy), MedSAM vs SynthFM"};
    for (int t = 1; t <= 3; t++) {
        sf_buf_printf(b,
                      "- %s: [Markdown](%stable%d.md), [CSV](%stable%d.csv), "
                      "[LaTeX](%stable%d.tex)",
                      tname[t], pre, t, pre, t, pre, t);
        if (t != 2)
            sf_buf_printf(b, ", [t-tests](%stable%d_tests.csv)", pre, t);
        sf_buf_printf(b, "\n");
    }
    sf_buf_printf(b, "- all evaluation runs: [runs.csv](%sruns.csv)\n", pre);

    sf_buf_printf(b, "\n## Figures\n\n### Per-slice Dice by method and "
                     "prompt setting (cf. the paper's Figure 2)\n\n");
    if (!n_box)
        sf_buf_printf(b, "No scores in the results database: no box plots.\n");
    for (int i = 0; i < n_box; i++)
        sf_buf_printf(b, "![%s](%sfigures/%s)\n\n", box[i], pre, box[i]);
    sf_buf_printf(b, "### Training curves\n\n");
    if (!o->n_runs) sf_buf_printf(b, "No training run given (--runs).\n");
    for (int i = 0; i < o->n_runs; i++) {
        char name[600], base[512];
        snprintf(name, sizeof name, "train_%s.png",
                 base_name(o->runs[i], base, sizeof base));
        snprintf(path, sizeof path, "%s/%s", fig_dir, name);
        if (sam_train_plot(o->runs[i], path, &e) == SF_OK)
            sf_buf_printf(b, "![training curve of %s](%sfigures/%s)\n\n",
                          o->runs[i], pre, name);
        else
            sf_buf_printf(b, "- `%s`: **no curve**: %s\n", o->runs[i],
                          sf_err_text(&e, msg, sizeof msg));
    }
}

/* index.md: the evaluation runs as a table (and runs.csv into csv), each
 * run's provenance JSON. */
static void index_runs(sf_buf *b, sf_buf *csv, const hx_scores *r) {
    sf_buf_printf(b, "\n## Provenance\n\n### Evaluation runs\n\n");
    if (!r->n_runs)
        sf_buf_printf(b, "None: the results database is empty.\n");
    else
        sf_buf_printf(b, "| run | method | kind | dataset | modality | "
                         "checkpoint (sha256) | model config sha256 | split "
                         "(sha256) | settings | prompt seed | git | status | "
                         "failures |\n|---:|---|---|---|---|---|---|---|---|"
                         "---:|---|---|---:|\n");
    sf_buf_printf(csv, "run_id,method,method_kind,checkpoint_path,checkpoint_"
                       "sha256,model_config_sha256,import_dir,dataset,modality,"
                       "data_root,split_name,split_sha256,settings,prompt_seed,"
                       "git_commit,status,started_at,finished_at,n_failures,"
                       "provenance_json\n");
    for (int i = 0; i < r->n_runs; i++) {
        const hx__run *u = &r->runs[i];
        sf_buf_printf(b, "| %lld | ", u->run_id);
        md_cell(b, u->method);
        sf_buf_printf(b, " | %s | %s | %s | ", u->kind, u->dataset,
                      u->modality);
        if (*u->ckpt_sha) {
            md_cell(b, u->ckpt_path);
            sf_buf_printf(b, " (`%.16s`)", u->ckpt_sha);
        } else if (*u->import_dir) {
            sf_buf_printf(b, "imported: ");
            md_cell(b, u->import_dir);
        } else
            sf_buf_printf(b, "none");
        sf_buf_printf(b, " | %s%.16s%s | ", *u->mcfg_sha ? "`" : "",
                      *u->mcfg_sha ? u->mcfg_sha : "none",
                      *u->mcfg_sha ? "`" : "");
        if (*u->split_name)
            sf_buf_printf(b, "%s (`%.16s`)", u->split_name, u->split_sha);
        else
            sf_buf_printf(b, "none: every case found");
        sf_buf_printf(b, " | %s | %lld | `%.12s` | %s | %lld |\n", u->settings,
                      u->prompt_seed, u->git_commit, u->status, u->n_failures);
        char num[32];
        snprintf(num, sizeof num, "%lld", u->run_id);
        const char *f1[] = {num,           u->method,     u->kind,
                            u->ckpt_path,  u->ckpt_sha,   u->mcfg_sha,
                            u->import_dir, u->dataset,    u->modality,
                            u->data_root,  u->split_name, u->split_sha,
                            u->settings};
        for (int k = 0; k < 13; k++)
            hx__csv_field(csv, f1[k], 0);
        snprintf(num, sizeof num, "%lld", u->prompt_seed);
        hx__csv_field(csv, num, 0);
        const char *f2[] = {u->git_commit, u->status, u->started, u->finished};
        for (int k = 0; k < 4; k++)
            hx__csv_field(csv, f2[k], 0);
        snprintf(num, sizeof num, "%lld", u->n_failures);
        hx__csv_field(csv, num, 0);
        hx__csv_field(csv, u->prov_json, 1);
    }
    for (int i = 0; i < r->n_runs; i++)
        if (*r->runs[i].prov_json && strcmp(r->runs[i].prov_json, "{}")) {
            sf_buf_printf(b, "\nRun %lld provenance: `", r->runs[i].run_id);
            md_cell(b, r->runs[i].prov_json);
            sf_buf_printf(b, "`\n");
        }
}

/* index.md: which datasets are under the data root and which runs used
 * them; the checkpoints folder. */
static void index_datasets(sf_buf *b, const hx_report_opts *o,
                           const hx_scores *r) {
    char path[4400];
    sf_buf_printf(b,
                  "\n### Datasets (data root `%s`)\n\n| dataset | "
                  "under the data root | evaluated runs (their data "
                  "roots) |\n|---|---|---|\n",
                  o->data_root ? o->data_root : "data");
    for (int i = 0; i < o->cfg->datasets.n; i++) {
        const char *d = o->cfg->datasets.v[i];
        snprintf(path, sizeof path, "%s/%s",
                 o->data_root ? o->data_root : "data", d);
        sf_buf_printf(b, "| %s | %s | ", d,
                      sf_path_is_dir(path) ? "present" : "**missing**");
        int nr = 0;
        for (int k = 0; k < r->n_runs; k++)
            if (!strcmp(r->runs[k].dataset, d))
                sf_buf_printf(b, "%s%lld (`%s`)", nr++ ? ", " : "",
                              r->runs[k].run_id, r->runs[k].data_root);
        sf_buf_printf(b, "%s |\n", nr ? "" : "none");
    }
    for (int k = 0; k < r->n_runs; k++) {
        int listed = hx__strs_find(&o->cfg->datasets, r->runs[k].dataset) >= 0;
        for (int j = 0; j < k && !listed; j++)
            listed = !strcmp(r->runs[j].dataset, r->runs[k].dataset);
        if (!listed)
            sf_buf_printf(b,
                          "| %s | (not a listed dataset) | see the runs "
                          "table (`%s`) |\n",
                          r->runs[k].dataset, r->runs[k].data_root);
    }
    if (o->models_root) {
        sf_buf_printf(b, "\n### Checkpoints (under `%s`)\n\n", o->models_root);
        if (!sf_path_is_dir(o->models_root))
            sf_buf_printf(b, "The folder is **missing**: no pretrained "
                             "checkpoint (SAM, SAM 2, MedSAM, SynthFM) was "
                             "evaluated from it.\n");
        else
            sf_buf_printf(b, "Present. Checkpoints actually evaluated, with "
                             "their sha256, are in the runs table above.\n");
    }
}

/* index.md: what could not be evaluated (datasets, methods, unfinished
 * runs, recorded failures). SF_OK or SF_ENOMEM. */
static int index_not_evaluated(sf_buf *b, const hx_report_opts *o,
                               const hx_scores *r, sf_err *err) {
    char path[4400];
    sf_buf_printf(b, "\n## Not evaluated\n\n");
    int n_missing = 0;
    for (int i = 0; i < o->cfg->datasets.n; i++) {
        const char *d = o->cfg->datasets.v[i];
        int nr = 0;
        for (int k = 0; k < r->n_runs; k++)
            nr += !strcmp(r->runs[k].dataset, d);
        if (!nr) {
            snprintf(path, sizeof path, "%s/%s",
                     o->data_root ? o->data_root : "data", d);
            sf_buf_printf(b, "- dataset `%s`: %s\n", d,
                          sf_path_is_dir(path)
                              ? "present but not evaluated"
                              : "not evaluated (missing under the data root)");
            n_missing++;
        }
    }
    const hx__strs *lists[] = {&o->cfg->t1_methods, &o->cfg->t3_methods,
                               &o->cfg->variant[0], &o->cfg->variant[1],
                               &o->cfg->variant[2]};
    hx__strs named = {0};
    for (int l = 0; l < 5; l++)
        for (int i = 0; i < lists[l]->n; i++) {
            const char *m = lists[l]->v[i];
            if (hx__strs_find(&named, m) >= 0) continue;
            if (hx__strs_push(&named, m)) {
                hx__strs_clear(&named);
                return sf_err_set(err, SF_ENOMEM, "out of memory");
            }
            if (hx__intern_find(&r->method, m) < 0) {
                sf_buf_printf(b,
                              "- method `%s`: no scores (no checkpoint or "
                              "imported masks evaluated); its table cells "
                              "read \"missing\"\n",
                              m);
                n_missing++;
            }
        }
    hx__strs_clear(&named);
    for (int k = 0; k < r->n_runs; k++)
        if (strcmp(r->runs[k].status, "done")) {
            sf_buf_printf(b, "- run %lld (%s on %s): status %s\n",
                          r->runs[k].run_id, r->runs[k].method,
                          r->runs[k].dataset, r->runs[k].status);
            n_missing++;
        }
    if (r->n_failures) {
        sf_buf_printf(b,
                      "- %d recorded failures (files or cases that could "
                      "not be read or scored):\n",
                      r->n_failures);
        for (int i = 0; i < r->n_failures && i < 50; i++) {
            sf_buf_printf(
                b, "  - run %lld, case `%s`, `%s`: ", r->failures[i].run_id,
                r->failures[i].case_id, r->failures[i].path);
            md_cell(b, r->failures[i].message);
            sf_buf_printf(b, "\n");
        }
        if (r->n_failures > 50)
            sf_buf_printf(b, "  - ... and %d more (table failures)\n",
                          r->n_failures - 50);
        n_missing++;
    }
    if (!n_missing)
        sf_buf_printf(b, "Nothing: every configured dataset and "
                         "method has scores.\n");
    return SF_OK;
}

int hx_report_write(const hx_report_opts *o, sf_err *err) {
    int rc;
    hx_scores *r = NULL;
    hx_paper *paper = NULL;
    sf_buf idx = {0}, runs_csv = {0};
    char **box = NULL;
    int n_box = 0;
    char path[4400], fig_dir[4200], pre[4200];
    if (!o || !o->results || !o->out_dir || !o->cfg)
        return sf_err_set(err, SF_EINVAL,
                          "report: results, out and config "
                          "are required");
    if (!sf_path_is_file(o->results))
        return sf_err_set(err, SF_EIO, "%s: no such results database",
                          o->results);
    if ((rc = hx_scores_load(o->results, o->cfg, &r, err))) goto out;
    snprintf(fig_dir, sizeof fig_dir, "%s/figures", o->out_dir);
    if ((rc = sf_mkdir_p(fig_dir, err))) goto out;
    int have_paper = 0;
    if (o->paper_dir && sf_path_is_dir(o->paper_dir)) {
        if ((rc = hx_paper_load(o->paper_dir, &paper, err))) goto out;
        have_paper = 1;
    }
    if ((rc = write_tables(o, r, paper, err))) goto out;
    /* Box plots. */
    if ((rc = hx_plot_boxes(r, fig_dir, &box, &n_box, err))) goto out;

    char index_default[4200];
    snprintf(index_default, sizeof index_default, "%s/index.md", o->out_dir);
    const char *index_path = o->index_path ? o->index_path : index_default;
    link_prefix(index_path, o->out_dir, pre, sizeof pre);

    index_inputs(&idx, o, r, have_paper);
    index_tables_figures(&idx, o, box, n_box, fig_dir, pre);
    if ((rc = hx__report_ix(o->results, o->out_dir, fig_dir, pre, &idx, err)))
        goto out;
    index_runs(&idx, &runs_csv, r);
    for (int i = 0; i < o->n_runs; i++)
        describe_run(r, o->runs[i], &idx);
    for (int i = 0; i < o->n_corpora; i++)
        describe_corpus(o->corpora[i], fig_dir, pre, &idx);
    index_datasets(&idx, o, r);
    if ((rc = index_not_evaluated(&idx, o, r, err))) goto out;

    snprintf(path, sizeof path, "%s/runs.csv", o->out_dir);
    if ((rc = write_text_file(path, &runs_csv, err))) goto out;
    rc = write_text_file(index_path, &idx, err);
out:
    hx_strings_free(box, n_box);
    sf_buf_release(&idx);
    sf_buf_release(&runs_csv);
    hx_paper_free(paper);
    hx_scores_free(r);
    return rc;
}
