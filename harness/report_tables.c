/*
 * report_tables.c - results database -> Tables 1-3 (Markdown, CSV, LaTeX),
 * side by side with the paper, with paired t-tests.
 *
 * What a table shows (and the exact cell formats the tests check):
 *  - values: mean per-slice Dice x 100, "%.2f" ("72.12"); the slices of a
 *    (modality, structure, setting) are pooled over the modality's datasets
 *    (the paper reports one number per modality and structure);
 *  - a cell with no score: "missing" (never 0); a paper value that does not
 *    exist (a method or row the paper does not have): an em dash in
 *    Markdown, "--" in LaTeX, empty in CSV;
 *  - difference: ours - paper, "%+.2f" ("-3.41");
 *  - bold: every method value of the row whose printed value equals the
 *    row's printed maximum (ties all bold); Markdown "**72.12**", LaTeX
 *    "\textbf{72.12}";
 *  - tests ("ours" methods only): "NAME: p=P MARK" with P "%.2g" and MARK
 *    "***" p < 0.001, "**" p < 0.01, "*" p < 0.05, "n.s." otherwise
 *    (Markdown escapes the stars: "\*\*"); a degenerate test
 *    "NAME: STATUS, n=N" with hx_ttest_status_name's word (no NaN ever);
 *    either followed by " (ours lower)" when t < 0;
 *    no other method with scores, or ours missing: a dash;
 *  - settings are printed "P+N" as in reports/paper (no comma in a CSV).
 */
#include "report_int.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "hx.h"

#define DASH "\x01" /* a cell "not published / not applicable" */

/* -------------------------------------------------------------- results */

static char *dup_col(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return strdup(t ? (const char *)t : "");
}

static int cmp_row(const void *pa, const void *pb) {
    const hx__row *a = pa, *b = pb;
    const int ka[7] = {a->modality, a->structure, a->setting, a->method,
                       a->dataset,  a->case_id,   a->slice};
    const int kb[7] = {b->modality, b->structure, b->setting, b->method,
                       b->dataset,  b->case_id,   b->slice};
    for (int i = 0; i < 7; i++)
        if (ka[i] != kb[i]) return ka[i] < kb[i] ? -1 : 1;
    return 0;
}

void hx_scores_free(hx_scores *r) {
    if (!r) return;
    hx__intern *all[] = {&r->modality, &r->structure, &r->setting,
                         &r->method,   &r->dataset,   &r->case_id};
    for (int i = 0; i < 6; i++)
        hx__intern_free(all[i]);
    for (int i = 0; i < r->n_runs; i++) {
        hx__run *u = &r->runs[i];
        char *f[] = {u->method,     u->kind,       u->ckpt_path, u->ckpt_sha,
                     u->mcfg_sha,   u->import_dir, u->dataset,   u->modality,
                     u->data_root,  u->split_name, u->split_sha, u->settings,
                     u->git_commit, u->prov_json,  u->status,    u->started,
                     u->finished};
        for (size_t k = 0; k < sizeof f / sizeof *f; k++)
            free(f[k]);
    }
    for (int i = 0; i < r->n_failures; i++) {
        free(r->failures[i].case_id);
        free(r->failures[i].path);
        free(r->failures[i].message);
    }
    free(r->runs);
    free(r->failures);
    free(r->rows);
    free(r->path);
    free(r);
}

size_t hx_scores_count(const hx_scores *r) {
    return r ? r->n_rows : 0;
}

static int db_fail(sqlite3 *db, const char *path, sf_err *err) {
    return sf_err_set(err, SF_EDB, "%s: %s", path,
                      db ? sqlite3_errmsg(db) : "cannot open");
}

/* Long by design (~175 lines): the results database's runs, failures and
 * scores read in one read transaction, each query next to the checks of
 * its rows, with one cleanup path. */
int hx_scores_load(const char *db_path, const hx_report_cfg *cfg,
                   hx_scores **out, sf_err *err) {
    int rc = SF_OK;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    hx_scores *r = NULL;
    size_t cap = 0;
    if (!db_path || !cfg || !out)
        return sf_err_set(err, SF_EINVAL, "hx_scores_load: NULL argument");
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) !=
        SQLITE_OK) {
        rc = db_fail(db, db_path, err);
        goto out;
    }
    if (!(r = calloc(1, sizeof *r)) || !(r->path = strdup(db_path))) goto oom;
    r->cfg = cfg;
    if (sqlite3_prepare_v2(db,
                           "SELECT method, dataset, modality, case_id, "
                           "slice_index, structure, setting, dice FROM "
                           "dice_scores",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(db, db_path, err);
        goto out;
    }
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (r->n_rows == cap) {
            cap = cap ? 2 * cap : 4096;
            hx__row *nr = realloc(r->rows, cap * sizeof *nr);
            if (!nr) goto oom;
            r->rows = nr;
        }
        const char *col[7];
        for (int i = 0; i < 7; i++) {
            col[i] = (const char *)sqlite3_column_text(st, i);
            if (!col[i]) col[i] = "";
        }
        if (sqlite3_column_type(st, 7) == SQLITE_NULL) {
            rc = sf_err_set(err, SF_ECORRUPT,
                            "%s: dice_scores row without a Dice (method %s, "
                            "dataset %s, case %s, slice %s, %s, %s)",
                            db_path, col[0], col[1], col[3], col[4], col[5],
                            col[6]);
            goto out;
        }
        const char *stn = hx__cfg_map(&cfg->st_db, &cfg->st_name, col[5]);
        const char *pool = hx__cfg_map(&cfg->pool_mod, &cfg->pool_name, col[2]);
        char case_key[1024];
        /* Pooled modality: one row; the structure joins the case key so
         * that slices still pair exactly. */
        snprintf(case_key, sizeof case_key, pool ? "%s/%s" : "%s", col[3],
                 col[5]);
        if (pool) stn = pool;
        hx__row *w = &r->rows[r->n_rows];
        w->method = hx__intern_id(&r->method, col[0]);
        w->dataset = hx__intern_id(&r->dataset, col[1]);
        w->modality = hx__intern_id(&r->modality, col[2]);
        w->case_id = hx__intern_id(&r->case_id, case_key);
        w->slice = sqlite3_column_int(st, 4);
        w->structure = hx__intern_id(&r->structure, stn ? stn : col[5]);
        w->setting = hx__intern_id(&r->setting, col[6]);
        w->dice = sqlite3_column_double(st, 7);
        if (w->method < 0 || w->dataset < 0 || w->modality < 0 ||
            w->case_id < 0 || w->structure < 0 || w->setting < 0)
            goto oom;
        if (!(w->dice >= 0 && w->dice <= 1)) {
            rc = sf_err_set(err, SF_ECORRUPT, "%s: Dice %g outside [0, 1]",
                            db_path, w->dice);
            goto out;
        }
        r->n_rows++;
    }
    if (s != SQLITE_DONE) {
        rc = db_fail(db, db_path, err);
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (r->n_rows) qsort(r->rows, r->n_rows, sizeof *r->rows, cmp_row);
    for (size_t i = 1; i < r->n_rows; i++)
        if (!cmp_row(&r->rows[i - 1], &r->rows[i])) {
            const hx__row *w = &r->rows[i];
            rc = sf_err_set(
                err, SF_ECORRUPT,
                "%s: method '%s' is scored twice on dataset %s, case %s, "
                "slice %d, %s, setting %s (two runs share a method name; "
                "give each run its own name so every number traces to one "
                "run)",
                db_path, r->method.s.v[w->method], r->dataset.s.v[w->dataset],
                r->case_id.s.v[w->case_id], w->slice,
                r->structure.s.v[w->structure], r->setting.s.v[w->setting]);
            goto out;
        }

    /* Runs and failures: provenance. */
    if (sqlite3_prepare_v2(
            db,
            "SELECT run_id, method, method_kind, checkpoint_path, "
            "checkpoint_sha256, model_config_sha256, import_dir, dataset, "
            "modality, data_root, split_name, split_sha256, settings, "
            "prompt_seed, git_commit, provenance_json, status, started_at, "
            "finished_at, (SELECT count(*) FROM failures f WHERE f.run_id = "
            "r.run_id) FROM runs r ORDER BY run_id",
            -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(db, db_path, err);
        goto out;
    }
    int rcap = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (r->n_runs == rcap) {
            rcap = rcap ? 2 * rcap : 16;
            hx__run *nr = realloc(r->runs, (size_t)rcap * sizeof *nr);
            if (!nr) goto oom;
            r->runs = nr;
        }
        hx__run *u = &r->runs[r->n_runs++];
        memset(u, 0, sizeof *u);
        u->run_id = sqlite3_column_int64(st, 0);
        char **f[] = {&u->method,     &u->kind,      &u->ckpt_path,
                      &u->ckpt_sha,   &u->mcfg_sha,  &u->import_dir,
                      &u->dataset,    &u->modality,  &u->data_root,
                      &u->split_name, &u->split_sha, &u->settings};
        for (int i = 0; i < 12; i++)
            if (!(*f[i] = dup_col(st, 1 + i))) goto oom;
        u->prompt_seed = sqlite3_column_int64(st, 13);
        char **g[] = {&u->git_commit, &u->prov_json, &u->status, &u->started,
                      &u->finished};
        for (int i = 0; i < 5; i++)
            if (!(*g[i] = dup_col(st, 14 + i))) goto oom;
        u->n_failures = sqlite3_column_int64(st, 19);
    }
    if (s != SQLITE_DONE) {
        rc = db_fail(db, db_path, err);
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT run_id, case_id, path, message FROM "
                           "failures ORDER BY run_id, rowid",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(db, db_path, err);
        goto out;
    }
    int fcap = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (r->n_failures == fcap) {
            fcap = fcap ? 2 * fcap : 16;
            hx__failure *nf = realloc(r->failures, (size_t)fcap * sizeof *nf);
            if (!nf) goto oom;
            r->failures = nf;
        }
        hx__failure *u = &r->failures[r->n_failures++];
        memset(u, 0, sizeof *u);
        u->run_id = sqlite3_column_int64(st, 0);
        if (!(u->case_id = dup_col(st, 1)) || !(u->path = dup_col(st, 2)) ||
            !(u->message = dup_col(st, 3)))
            goto oom;
    }
    if (s != SQLITE_DONE) {
        rc = db_fail(db, db_path, err);
        goto out;
    }
    *out = r;
    r = NULL;
    goto out;
oom:
    rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", db_path);
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    hx_scores_free(r);
    return rc;
}

/* ---------------------------------------------------------------- paper */

typedef struct prow {
    char *k[3];       /* t1: modality, structure, method; t2: modality, variant;
                         t3: structure, method */
    char setting[16]; /* "P,N" */
    double dice;
} prow;

struct hx_paper {
    prow *t[4];
    int n[4];
};

void hx_paper_free(hx_paper *p) {
    if (!p) return;
    for (int t = 1; t <= 3; t++) {
        for (int i = 0; i < p->n[t]; i++)
            for (int k = 0; k < 3; k++)
                free(p->t[t][i].k[k]);
        free(p->t[t]);
    }
    free(p);
}

static int paper_table(hx_paper *p, const char *dir, int t, sf_err *err) {
    static const int n_keys[4] = {0, 3, 2, 2};
    char path[4200], line[512];
    snprintf(path, sizeof path, "%s/table%d.csv", dir, t);
    FILE *f = fopen(path, "r");
    if (!f) return sf_err_set(err, SF_EIO, "%s: cannot open", path);
    int rc = SF_OK, ln = 0, cap = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        line[strcspn(line, "\r\n")] = '\0';
        if (ln == 1 || !line[0]) continue; /* header */
        char *fld[6];
        int m = 0;
        for (char *s = line; m < 6;) {
            fld[m++] = s;
            char *c = strchr(s, ',');
            if (!c) break;
            *c = '\0';
            s = c + 1;
        }
        int nk = n_keys[t];
        char *end = NULL;
        double v = m == nk + 2 ? strtod(fld[nk + 1], &end) : NAN;
        int pp, nn, used = 0;
        if (m != nk + 2 || !end || *end || !(v >= 0 && v <= 100) ||
            sscanf(fld[nk], "%d+%d%n", &pp, &nn, &used) != 2 || fld[nk][used]) {
            rc = sf_err_at(err, SF_EFORMAT, path, ln, 0,
                           "expected %d names, a setting P+N and a Dice in "
                           "[0, 100]",
                           nk);
            break;
        }
        if (p->n[t] == cap) {
            cap = cap ? 2 * cap : 64;
            prow *nr = realloc(p->t[t], (size_t)cap * sizeof *nr);
            if (!nr) {
                rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
                break;
            }
            p->t[t] = nr;
        }
        prow *w = &p->t[t][p->n[t]++];
        memset(w, 0, sizeof *w);
        snprintf(w->setting, sizeof w->setting, "%d,%d", pp, nn);
        w->dice = v;
        for (int k = 0; k < nk; k++)
            if (!(w->k[k] = strdup(fld[k]))) {
                rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
                break;
            }
        if (rc) break;
    }
    fclose(f);
    return rc;
}

int hx_paper_load(const char *dir, hx_paper **out, sf_err *err) {
    hx_paper *p = calloc(1, sizeof *p);
    if (!p) return sf_err_set(err, SF_ENOMEM, "out of memory");
    int rc = SF_OK;
    for (int t = 1; t <= 3 && !rc; t++)
        rc = paper_table(p, dir, t, err);
    if (rc) {
        hx_paper_free(p);
        return rc;
    }
    *out = p;
    return SF_OK;
}

/* The paper's value, or NAN. k2 is NULL for Table 2 only; a method
 * without a paper name (k2 NULL in Tables 1 and 3) has no value. */
static double paper_value(const hx_paper *p, int t, const char *k0,
                          const char *k1, const char *k2, const char *setting) {
    if (!p || !k0 || !k1 || (t == 1 && !k2)) return NAN;
    for (int i = 0; i < p->n[t]; i++) {
        const prow *w = &p->t[t][i];
        if (!strcmp(w->k[0], k0) && !strcmp(w->k[1], k1) &&
            (!k2 || !strcmp(w->k[2], k2)) && !strcmp(w->setting, setting))
            return w->dice;
    }
    return NAN;
}

/* ------------------------------------------------------ cell statistics */

enum { SCOPE_T1 = 1, SCOPE_T3 = 3 };

static int in_scope(const hx_scores *r, const hx__row *w, int scope) {
    const char *ds = r->dataset.s.v[w->dataset];
    int t3 = !strcmp(ds, r->cfg->t3_dataset);
    if (scope == SCOPE_T3) return t3;
    return !t3 && strcmp(r->modality.s.v[w->modality], "microscopy") != 0;
}

/* The scores of one method in one table cell. */
typedef struct mcell {
    size_t *idx; /* into r->rows, sorted by (dataset, case, slice) */
    size_t n;
    double mean; /* fraction; NAN when n = 0 */
} mcell;

static const hx_scores *sort_ctx;
static int cmp_idx(const void *pa, const void *pb) {
    const hx__row *a = &sort_ctx->rows[*(const size_t *)pa];
    const hx__row *b = &sort_ctx->rows[*(const size_t *)pb];
    if (a->dataset != b->dataset) return a->dataset < b->dataset ? -1 : 1;
    if (a->case_id != b->case_id) return a->case_id < b->case_id ? -1 : 1;
    return (a->slice > b->slice) - (a->slice < b->slice);
}

/* First row index with (modality, structure, setting, method) >= key. */
static size_t lower(const hx_scores *r, int mo, int st, int se, int me) {
    size_t lo = 0, hi = r->n_rows;
    const int k[4] = {mo, st, se, me};
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const hx__row *w = &r->rows[mid];
        const int v[4] = {w->modality, w->structure, w->setting, w->method};
        int c = 0;
        for (int i = 0; i < 4 && !c; i++)
            c = (v[i] > k[i]) - (v[i] < k[i]);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Scores of method me at (modality mo or any when -1, structure, setting)
 * within scope. Names not in the database give an empty cell. */
static int collect(const hx_scores *r, int mo, int st, int se, int me,
                   int scope, mcell *c) {
    memset(c, 0, sizeof *c);
    c->mean = NAN;
    if (st < 0 || se < 0 || me < 0) return SF_OK;
    size_t cap = 0;
    double sum = 0;
    for (int m = mo < 0 ? 0 : mo; m < (mo < 0 ? r->modality.s.n : mo + 1);
         m++) {
        for (size_t i = lower(r, m, st, se, me);
             i < r->n_rows && r->rows[i].modality == m &&
             r->rows[i].structure == st && r->rows[i].setting == se &&
             r->rows[i].method == me;
             i++) {
            if (!in_scope(r, &r->rows[i], scope)) continue;
            if (c->n == cap) {
                cap = cap ? 2 * cap : 64;
                size_t *ni = realloc(c->idx, cap * sizeof *ni);
                if (!ni) return SF_ENOMEM;
                c->idx = ni;
            }
            c->idx[c->n++] = i;
            sum += r->rows[i].dice;
        }
    }
    if (c->n) {
        c->mean = sum / (double)c->n;
        sort_ctx = r;
        qsort(c->idx, c->n, sizeof *c->idx, cmp_idx);
    }
    return SF_OK;
}

/* Paired t-test of two cells on the slices both scored. */
static int cell_ttest(const hx_scores *r, const mcell *a, const mcell *b,
                      hx_ttest *out, sf_err *err) {
    size_t m = a->n < b->n ? a->n : b->n, k = 0;
    double *x = malloc((m ? m : 1) * sizeof *x),
           *y = malloc((m ? m : 1) * sizeof *y);
    int rc = SF_ENOMEM;
    if (!x || !y) goto out;
    sort_ctx = r;
    for (size_t i = 0, j = 0; i < a->n && j < b->n;) {
        int c = cmp_idx(&a->idx[i], &b->idx[j]);
        if (c < 0)
            i++;
        else if (c > 0)
            j++;
        else {
            x[k] = r->rows[a->idx[i++]].dice;
            y[k++] = r->rows[b->idx[j++]].dice;
        }
    }
    rc = hx_ttest_paired(x, y, k, out, err);
out:
    free(x);
    free(y);
    return rc;
}

/* ------------------------------------------------------------------ grid */

typedef struct grid {
    hx__strs head;
    int *right; /* per column: right-aligned (numbers) */
    hx__strs cell;
    unsigned char *bold;
    int ncol, nrow, cap_bold;
    sf_buf notes; /* Markdown text after the table */
} grid;

static void grid_free(grid *g) {
    hx__strs_clear(&g->head);
    hx__strs_clear(&g->cell);
    free(g->right);
    free(g->bold);
    sf_buf_release(&g->notes);
}

static int grid_col(grid *g, const char *name, int right) {
    int *nr = realloc(g->right, (size_t)(g->ncol + 1) * sizeof *nr);
    if (!nr) return SF_ENOMEM;
    g->right = nr;
    g->right[g->ncol++] = right;
    return hx__strs_push(&g->head, name);
}

static int grid_put(grid *g, const char *text, int bold) {
    if (g->cell.n >= g->cap_bold) {
        int cap = g->cap_bold ? 2 * g->cap_bold : 256;
        unsigned char *nb = realloc(g->bold, (size_t)cap);
        if (!nb) return SF_ENOMEM;
        g->bold = nb;
        g->cap_bold = cap;
    }
    g->bold[g->cell.n] = (unsigned char)bold;
    return hx__strs_push(&g->cell, text);
}

static void md_text(FILE *f, const char *s) {
    if (!strcmp(s, DASH)) {
        fputs("\xe2\x80\x94", f); /* em dash */
        return;
    }
    for (; *s; s++) {
        if (*s == '*' || *s == '|' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
}

static void tex_text(FILE *f, const char *s) {
    if (!strcmp(s, DASH)) {
        fputs("--", f);
        return;
    }
    for (; *s; s++) {
        switch (*s) {
        case '_':
        case '&':
        case '%':
        case '#':
        case '$':
        case '{':
        case '}':
            fputc('\\', f);
            fputc(*s, f);
            break;
        case '~': fputs("\\textasciitilde{}", f); break;
        case '^': fputs("\\textasciicircum{}", f); break;
        case '\\': fputs("\\textbackslash{}", f); break;
        default: fputc(*s, f);
        }
    }
}

static void grid_md(const grid *g, const char *title, FILE *f) {
    fprintf(f, "# %s\n\n|", title);
    for (int c = 0; c < g->ncol; c++) {
        fputc(' ', f);
        md_text(f, g->head.v[c]);
        fputs(" |", f);
    }
    fputs("\n|", f);
    for (int c = 0; c < g->ncol; c++)
        fputs(g->right[c] ? "---:|" : "---|", f);
    fputc('\n', f);
    for (int i = 0; i < g->cell.n; i++) {
        if (i % g->ncol == 0) fputc('|', f);
        fputc(' ', f);
        if (g->bold[i]) fputs("**", f);
        md_text(f, g->cell.v[i]);
        if (g->bold[i]) fputs("**", f);
        fputs(i % g->ncol == g->ncol - 1 ? " |\n" : " |", f);
    }
    if (g->notes.s) fprintf(f, "\n%s", g->notes.s);
}

static void grid_tex(const grid *g, const char *title, FILE *f) {
    fputs("% ", f);
    fputs(title, f);
    fputs("\n\\begin{tabular}{", f);
    for (int c = 0; c < g->ncol; c++)
        fputc(g->right[c] ? 'r' : 'l', f);
    fputs("}\n\\hline\n", f);
    for (int c = 0; c < g->ncol; c++) {
        tex_text(f, g->head.v[c]);
        fputs(c == g->ncol - 1 ? " \\\\\n\\hline\n" : " & ", f);
    }
    for (int i = 0; i < g->cell.n; i++) {
        if (g->bold[i]) fputs("\\textbf{", f);
        tex_text(f, g->cell.v[i]);
        if (g->bold[i]) fputc('}', f);
        fputs(i % g->ncol == g->ncol - 1 ? " \\\\\n" : " & ", f);
    }
    fputs("\\hline\n\\end{tabular}\n", f);
}

void hx__csv_field(sf_buf *b, const char *s, int last) {
    if (strpbrk(s, ",\"\n")) {
        sf_buf_printf(b, "\"");
        for (; *s; s++)
            sf_buf_printf(b, *s == '"' ? "\"\"" : "%c", *s);
        sf_buf_printf(b, "\"");
    } else
        sf_buf_printf(b, "%s", s);
    sf_buf_printf(b, last ? "\n" : ",");
}

/* ----------------------------------------------------------- orderings */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append to `out` the names of `have` (a name table) not yet in `out`,
 * sorted, that pass keep(). */
static int append_rest(hx__strs *out, const hx__intern *have,
                       const unsigned char *keep) {
    hx__strs extra = {0};
    int rc = SF_OK;
    for (int i = 0; i < have->s.n && !rc; i++)
        if (keep[i] && hx__strs_find(out, have->s.v[i]) < 0)
            rc = hx__strs_push(&extra, have->s.v[i]);
    if (!rc && extra.n)
        qsort(extra.v, (size_t)extra.n, sizeof *extra.v, cmp_str);
    for (int i = 0; i < extra.n && !rc; i++)
        rc = hx__strs_push(out, extra.v[i]);
    hx__strs_clear(&extra);
    return rc;
}

static int copy_strs(hx__strs *out, const hx__strs *in) {
    for (int i = 0; i < in->n; i++)
        if (hx__strs_find(out, in->v[i]) < 0 && hx__strs_push(out, in->v[i]))
            return SF_ENOMEM;
    return SF_OK;
}

/* Which names of each table occur in the scope's rows. */
typedef struct seen {
    unsigned char *mo, *st, *se, *me, *ds;
} seen;

static void seen_free(seen *s) {
    free(s->mo);
    free(s->st);
    free(s->se);
    free(s->me);
    free(s->ds);
}

static int seen_make(const hx_scores *r, int scope, int mo, seen *s) {
    s->mo = calloc((size_t)r->modality.s.n + 1, 1);
    s->st = calloc((size_t)r->structure.s.n + 1, 1);
    s->se = calloc((size_t)r->setting.s.n + 1, 1);
    s->me = calloc((size_t)r->method.s.n + 1, 1);
    s->ds = calloc((size_t)r->dataset.s.n + 1, 1);
    if (!s->mo || !s->st || !s->se || !s->me || !s->ds) return SF_ENOMEM;
    for (size_t i = 0; i < r->n_rows; i++) {
        const hx__row *w = &r->rows[i];
        if (!in_scope(r, w, scope) || (mo >= 0 && w->modality != mo)) continue;
        s->mo[w->modality] = s->st[w->structure] = s->se[w->setting] = 1;
        s->me[w->method] = s->ds[w->dataset] = 1;
    }
    return SF_OK;
}

static void setting_label(const char *s, char *buf, size_t n) {
    snprintf(buf, n, "%s", s);
    char *c = strchr(buf, ',');
    if (c) *c = '+';
}

static void fmt_pct(double frac, char *buf, size_t n) {
    if (isnan(frac))
        snprintf(buf, n, "missing");
    else
        snprintf(buf, n, "%.2f", 100.0 * frac);
}

/* Markdown/LaTeX text of a test against `other`. */
static void test_text(const hx_ttest *t, const char *other, char *buf,
                      size_t n) {
    /* t < 0: ours is the lower of the two (the test is two-sided). */
    const char *lower = t->t < 0 ? " (ours lower)" : "";
    if (t->status == HX_TTEST_OK) {
        const char *m = hx_sig_mark(t);
        snprintf(buf, n, "%s: p=%.2g %s%s", other, t->p, *m ? m : "n.s.",
                 lower);
    } else
        snprintf(buf, n, "%s: %s, n=%d%s", other,
                 hx_ttest_status_name(t->status), t->n, lower);
}

static void num_or_empty(sf_buf *b, double v, const char *fmt, int last) {
    char tmp[64];
    if (isnan(v))
        tmp[0] = '\0';
    else if (isinf(v))
        snprintf(tmp, sizeof tmp, "%s", v > 0 ? "inf" : "-inf");
    else
        snprintf(tmp, sizeof tmp, fmt, v);
    hx__csv_field(b, tmp, last);
}

/* Provenance legend (Markdown) for the methods of a table: per method and
 * dataset the run(s) that produced the numbers. */
static void legend(const hx_scores *r, const hx__strs *methods, int scope,
                   sf_buf *b) {
    sf_buf_printf(b, "\n## Provenance (what produced each number)\n\n");
    int any = 0;
    for (int m = 0; m < methods->n; m++) {
        int me = hx__intern_find(&r->method, methods->v[m]);
        seen s = {0};
        if (me < 0 || seen_make(r, scope, -1, &s)) {
            seen_free(&s);
            continue;
        }
        for (int d = 0; d < r->dataset.s.n; d++) {
            if (!s.ds[d]) continue;
            size_t n = 0;
            for (size_t i = 0; i < r->n_rows; i++)
                n += r->rows[i].method == me && r->rows[i].dataset == d &&
                     in_scope(r, &r->rows[i], scope);
            if (!n) continue;
            any = 1;
            sf_buf_printf(b, "- **%s** on `%s` (%zu scored predictions):",
                          methods->v[m], r->dataset.s.v[d], n);
            for (int k = 0; k < r->n_runs; k++) {
                const hx__run *u = &r->runs[k];
                if (strcmp(u->method, methods->v[m]) ||
                    strcmp(u->dataset, r->dataset.s.v[d]))
                    continue;
                sf_buf_printf(b, " run %lld (%s, %s", u->run_id, u->kind,
                              u->status);
                if (*u->ckpt_sha)
                    sf_buf_printf(b, "; checkpoint `%s` sha256 `%.12s`",
                                  u->ckpt_path, u->ckpt_sha);
                if (*u->mcfg_sha)
                    sf_buf_printf(b, "; model config sha256 `%.12s`",
                                  u->mcfg_sha);
                if (*u->import_dir)
                    sf_buf_printf(b, "; imported masks `%s`", u->import_dir);
                if (*u->split_name)
                    sf_buf_printf(b, "; split `%s` sha256 `%.12s`",
                                  u->split_name, u->split_sha);
                else
                    sf_buf_printf(b, "; no fixed split (every case found)");
                sf_buf_printf(b, "; settings %s, prompt seed %lld; git `%.12s`",
                              u->settings, u->prompt_seed, u->git_commit);
                if (*u->prov_json && strcmp(u->prov_json, "{}"))
                    sf_buf_printf(b, "; provenance `%s`", u->prov_json);
                sf_buf_printf(b, ")");
            }
            sf_buf_printf(b, "\n");
        }
        seen_free(&s);
    }
    if (!any) sf_buf_printf(b, "No method has scores in this table.\n");
}

/* --------------------------------------------------------- tables 1 and 3 */

typedef struct tbl {
    grid g;
    sf_buf csv, tests;
    char title[256];
} tbl;

static void tbl_free(tbl *t) {
    grid_free(&t->g);
    sf_buf_release(&t->csv);
    sf_buf_release(&t->tests);
}

/* Table 1 or 3 while it is built: the scope, the columns and row groups
 * chosen, the current row's cells. */
typedef struct tm_ctx {
    const hx_scores *r;
    const hx_paper *p;
    int scope; /* SCOPE_T1: groups = modalities; SCOPE_T3: one dataset */
    tbl *t;
    hx__strs groups, methods, settings, structs, ours;
    seen all;     /* what has scores in the whole scope */
    mcell *cells; /* per method, the current row's */
} tm_ctx;

/* Columns (configured methods, then the others with scores), settings,
 * our methods with scores, and the row groups. 0 or SF_ENOMEM. */
static int tm_columns(tm_ctx *c) {
    const hx_scores *r = c->r;
    const hx_paper *p = c->p;
    const int scope = c->scope;
    const hx_report_cfg *cfg = r->cfg;
    hx__strs *methods = &c->methods, *settings = &c->settings;
    seen *all = &c->all;
    /* Columns: configured methods, then the others with scores. */
    if (copy_strs(methods,
                  scope == SCOPE_T1 ? &cfg->t1_methods : &cfg->t3_methods) ||
        append_rest(methods, &r->method, all->me))
        return SF_ENOMEM;
    if (copy_strs(settings, &cfg->settings) ||
        append_rest(settings, &r->setting, all->se))
        return SF_ENOMEM;
    for (int m = 0; m < methods->n; m++) {
        int me = hx__intern_find(&r->method, methods->v[m]);
        if (hx__strs_find(&cfg->ours, methods->v[m]) >= 0 && me >= 0 &&
            all->me[me] && hx__strs_push(&c->ours, methods->v[m]))
            return SF_ENOMEM;
    }
    /* Row groups. */
    if (scope == SCOPE_T1) {
        for (int i = 0; i < cfg->modalities.n; i++) {
            int mo = hx__intern_find(&r->modality, cfg->modalities.v[i]);
            int in_paper = 0;
            for (int k = 0; p && k < p->n[1]; k++)
                in_paper |= !strcmp(p->t[1][k].k[0], cfg->modalities.v[i]);
            if ((in_paper || (mo >= 0 && all->mo[mo])) &&
                hx__strs_push(&c->groups, cfg->modalities.v[i]))
                return SF_ENOMEM;
        }
        if (append_rest(&c->groups, &r->modality, all->mo)) return SF_ENOMEM;
    } else if (hx__strs_push(&c->groups, cfg->t3_dataset))
        return SF_ENOMEM;
    return SF_OK;
}

/* The title, the grid's columns and the CSV headers. 0 or SF_ENOMEM. */
static int tm_header(tm_ctx *c) {
    const hx_scores *r = c->r;
    const int scope = c->scope;
    tbl *t = c->t;
    const hx_report_cfg *cfg = r->cfg;
    const hx__strs methods = c->methods, ours = c->ours;
    char buf[512];
    snprintf(t->title, sizeof t->title, "%s",
             scope == SCOPE_T1
                 ? "Table 1: mean Dice (%) per modality, structure, prompt "
                   "setting and method"
                 : "Table 3: mean Dice (%) on the microscopy dataset "
                   "(interphase, mitosis)");
    if (scope == SCOPE_T3) {
        snprintf(buf, sizeof buf,
                 "Table 3: mean Dice (%%) on %s, per structure, prompt "
                 "setting and method",
                 cfg->t3_dataset);
        snprintf(t->title, sizeof t->title, "%s", buf);
    }
    grid *g = &t->g;
    if (grid_col(g, scope == SCOPE_T1 ? "modality" : "dataset", 0) ||
        grid_col(g, "structure", 0) || grid_col(g, "setting", 0))
        return SF_ENOMEM;
    for (int m = 0; m < methods.n; m++) {
        const char *pk = hx__cfg_map(&cfg->pm_db, &cfg->pm_paper, methods.v[m]);
        if (grid_col(g, methods.v[m], 1)) return SF_ENOMEM;
        if (pk) {
            snprintf(buf, sizeof buf, "%s paper", methods.v[m]);
            if (grid_col(g, buf, 1)) return SF_ENOMEM;
            snprintf(buf, sizeof buf, "%s diff", methods.v[m]);
            if (grid_col(g, buf, 1)) return SF_ENOMEM;
        }
    }
    for (int o = 0; o < ours.n; o++) {
        snprintf(buf, sizeof buf, "%s vs best other", ours.v[o]);
        if (grid_col(g, buf, 0)) return SF_ENOMEM;
        snprintf(buf, sizeof buf, "%s vs 2nd other", ours.v[o]);
        if (grid_col(g, buf, 0)) return SF_ENOMEM;
    }
    sf_buf_printf(&t->csv,
                  "%s,structure,setting,method,dice,n,paper,diff,"
                  "best,status,datasets\n",
                  scope == SCOPE_T1 ? "modality" : "dataset");
    sf_buf_printf(&t->tests,
                  "%s,structure,setting,ours,rank,other,ours_dice,"
                  "other_dice,n_pairs,t,df,p,status,mark\n",
                  scope == SCOPE_T1 ? "modality" : "dataset");
    return SF_OK;
}

/* The row's cell of each method (grid, and the CSV line with the
 * datasets that contributed); best_txt: the row's best value. 0 or
 * SF_ENOMEM. */
static int tm_row_cells(tm_ctx *c, int gi, int si, int ti, const char *slab,
                        const char *best_txt) {
    const hx_scores *r = c->r;
    const hx_paper *p = c->p;
    const int scope = c->scope;
    tbl *t = c->t;
    const hx_report_cfg *cfg = r->cfg;
    const hx__strs groups = c->groups, methods = c->methods,
                   settings = c->settings, structs = c->structs;
    mcell *cells = c->cells;
    grid *g = &t->g;
    for (int m = 0; m < methods.n; m++) {
        const char *pk = hx__cfg_map(&cfg->pm_db, &cfg->pm_paper, methods.v[m]);
        double pv =
            scope == SCOPE_T1
                ? paper_value(p, 1, groups.v[gi], structs.v[si], pk,
                              settings.v[ti])
                : paper_value(p, 3, structs.v[si], pk, NULL, settings.v[ti]);
        char v[32], pvs[32], dv[32];
        fmt_pct(cells[m].mean, v, sizeof v);
        int is_best = cells[m].n && !strcmp(v, best_txt);
        if (grid_put(g, v, is_best)) return SF_ENOMEM;
        snprintf(pvs, sizeof pvs, isnan(pv) ? DASH : "%.2f", pv);
        if (cells[m].n && !isnan(pv))
            snprintf(dv, sizeof dv, "%+.2f", 100.0 * cells[m].mean - pv);
        else
            snprintf(dv, sizeof dv, DASH);
        if (pk && (grid_put(g, pvs, 0) || grid_put(g, dv, 0))) return SF_ENOMEM;
        /* CSV: datasets that contributed. */
        sf_buf ds = {0};
        int last_ds = -1;
        for (size_t i = 0; i < cells[m].n; i++) {
            int d = r->rows[cells[m].idx[i]].dataset;
            if (d == last_ds) continue;
            sf_buf_printf(&ds, "%s%s", ds.len ? ";" : "", r->dataset.s.v[d]);
            last_ds = d;
        }
        hx__csv_field(&t->csv, groups.v[gi], 0);
        hx__csv_field(&t->csv, structs.v[si], 0);
        hx__csv_field(&t->csv, slab, 0);
        hx__csv_field(&t->csv, methods.v[m], 0);
        num_or_empty(&t->csv, 100.0 * cells[m].mean, "%.4f", 0);
        sf_buf_printf(&t->csv, "%zu,", cells[m].n);
        num_or_empty(&t->csv, pv, "%.2f", 0);
        num_or_empty(&t->csv, cells[m].n ? 100.0 * cells[m].mean - pv : NAN,
                     "%.4f", 0);
        sf_buf_printf(&t->csv, "%d,%s,", is_best,
                      cells[m].n ? "ok" : "missing");
        hx__csv_field(&t->csv, ds.s ? ds.s : "", 1);
        if (ds.oom) return SF_ENOMEM;
        sf_buf_release(&ds);
    }
    return SF_OK;
}

/* The row's tests: each of our methods against the best and next-best
 * other method (grid and tests CSV). 0 or an error code. */
static int tm_row_tests(tm_ctx *c, int gi, int si, const char *slab,
                        sf_err *err) {
    const hx_scores *r = c->r;
    tbl *t = c->t;
    const hx_report_cfg *cfg = r->cfg;
    const hx__strs groups = c->groups, methods = c->methods,
                   structs = c->structs, ours = c->ours;
    mcell *cells = c->cells;
    grid *g = &t->g;
    char buf[512];
    for (int o = 0; o < ours.n; o++) {
        int om = hx__strs_find(&methods, ours.v[o]);
        int rank[2] = {-1, -1};
        for (int m = 0; m < methods.n; m++) {
            if (!cells[m].n || hx__strs_find(&cfg->ours, methods.v[m]) >= 0)
                continue;
            for (int k = 0; k < 2; k++) {
                int cur = rank[k];
                if (cur < 0 || cells[m].mean > cells[cur].mean ||
                    (cells[m].mean == cells[cur].mean &&
                     strcmp(methods.v[m], methods.v[cur]) < 0)) {
                    if (k == 0) rank[1] = rank[0];
                    rank[k] = m;
                    break;
                }
            }
        }
        for (int k = 0; k < 2; k++) {
            if (!cells[om].n || rank[k] < 0) {
                if (grid_put(g, DASH, 0)) return SF_ENOMEM;
                continue;
            }
            hx_ttest tt;
            int trc = cell_ttest(r, &cells[om], &cells[rank[k]], &tt, err);
            if (trc) return trc;
            test_text(&tt, methods.v[rank[k]], buf, sizeof buf);
            if (grid_put(g, buf, 0)) return SF_ENOMEM;
            hx__csv_field(&t->tests, groups.v[gi], 0);
            hx__csv_field(&t->tests, structs.v[si], 0);
            hx__csv_field(&t->tests, slab, 0);
            hx__csv_field(&t->tests, ours.v[o], 0);
            sf_buf_printf(&t->tests, "%d,", k + 1);
            hx__csv_field(&t->tests, methods.v[rank[k]], 0);
            sf_buf_printf(&t->tests, "%.4f,%.4f,%d,", 100.0 * cells[om].mean,
                          100.0 * cells[rank[k]].mean, tt.n);
            int has_tp = tt.status == HX_TTEST_OK ||
                         tt.status == HX_TTEST_ZERO_VAR ||
                         tt.status == HX_TTEST_ZERO_VAR_ZERO_MEAN;
            num_or_empty(&t->tests, has_tp ? tt.t : NAN, "%.17g", 0);
            sf_buf_printf(&t->tests, "%d,", (int)tt.df);
            num_or_empty(&t->tests, has_tp ? tt.p : NAN, "%.17g", 0);
            sf_buf_printf(&t->tests, "%s,%s\n", hx_ttest_status_name(tt.status),
                          hx_sig_mark(&tt));
        }
    }
    return SF_OK;
}

/* Group gi: its structures (the paper's rows, then the data's) and, per
 * structure and setting, a row. 0 or an error code. */
static int tm_group(tm_ctx *c, int gi, sf_err *err) {
    const hx_scores *r = c->r;
    const hx_paper *p = c->p;
    const int scope = c->scope;
    grid *g = &c->t->g;
    hx__strs *structs = &c->structs;
    const hx__strs groups = c->groups, methods = c->methods,
                   settings = c->settings;
    mcell *cells = c->cells;
    int rc;
    int mo =
        scope == SCOPE_T1 ? hx__intern_find(&r->modality, groups.v[gi]) : -1;
    seen gs = {0};
    hx__strs_clear(structs);
    /* Structures: the paper's rows of this group, then the data's. */
    for (int k = 0; p && k < p->n[scope]; k++) {
        const prow *w = &p->t[scope][k];
        const char *sname = scope == SCOPE_T1 ? w->k[1] : w->k[0];
        if (scope == SCOPE_T1 && strcmp(w->k[0], groups.v[gi])) continue;
        if (hx__strs_find(structs, sname) < 0 && hx__strs_push(structs, sname))
            return SF_ENOMEM;
    }
    if (!(scope == SCOPE_T1 && mo < 0) && seen_make(r, scope, mo, &gs)) {
        seen_free(&gs);
        return SF_ENOMEM;
    }
    if (gs.st && append_rest(structs, &r->structure, gs.st)) {
        seen_free(&gs);
        return SF_ENOMEM;
    }
    seen_free(&gs);
    for (int si = 0; si < structs->n; si++)
        for (int ti = 0; ti < settings.n; ti++) {
            int st = hx__intern_find(&r->structure, structs->v[si]);
            int se = hx__intern_find(&r->setting, settings.v[ti]);
            char slab[32], best_txt[32] = "";
            setting_label(settings.v[ti], slab, sizeof slab);
            double best = -1;
            for (int m = 0; m < methods.n; m++) {
                int me = hx__intern_find(&r->method, methods.v[m]);
                free(cells[m].idx);
                if (scope == SCOPE_T1 && mo < 0) { /* paper rows only */
                    memset(&cells[m], 0, sizeof cells[m]);
                    cells[m].mean = NAN;
                } else if (collect(r, mo, st, se, me, scope, &cells[m]))
                    return SF_ENOMEM;
                if (cells[m].n) {
                    char v[32];
                    fmt_pct(cells[m].mean, v, sizeof v);
                    double pv = strtod(v, NULL);
                    if (pv > best) {
                        best = pv;
                        snprintf(best_txt, sizeof best_txt, "%s", v);
                    }
                }
            }
            if (grid_put(g, groups.v[gi], 0) ||
                grid_put(g, structs->v[si], 0) || grid_put(g, slab, 0))
                return SF_ENOMEM;
            if ((rc = tm_row_cells(c, gi, si, ti, slab, best_txt)) ||
                (rc = tm_row_tests(c, gi, si, slab, err)))
                return rc;
        }
    return SF_OK;
}

/* The notes under the table: what the values and tests mean, methods
 * without scores, the provenance legend. */
static void tm_notes(tm_ctx *c) {
    const hx_scores *r = c->r;
    const int scope = c->scope;
    tbl *t = c->t;
    const hx_report_cfg *cfg = r->cfg;
    const hx__strs methods = c->methods, ours = c->ours;
    const seen all = c->all;
    grid *g = &t->g;
    /* Notes. */
    sf_buf *nb = &g->notes;
    sf_buf_printf(nb,
                  "Values: mean per-slice Dice in percent (slices pooled over "
                  "the datasets of a row); setting P+N = P positive, N "
                  "negative clicks. **Bold**: best value of the row. "
                  "\"missing\": not evaluated (no scores in the results "
                  "database), never 0. \"paper\": the published value "
                  "(reports/paper/table%d.csv), \"diff\" = ours - paper; a "
                  "dash: no published value.\n\n",
                  scope);
    if (ours.n)
        sf_buf_printf(nb,
                      "Tests: two-sided paired t-test on per-slice Dice "
                      "(pairs matched by dataset, case, slice, structure, "
                      "setting) of each of our methods against the best and "
                      "the next-best other method of the row; * p < 0.05, "
                      "** p < 0.01, *** p < 0.001, n.s. not significant; a "
                      "degenerate test shows its status (too_few: fewer than "
                      "2 matched slices; zero_var: constant difference; "
                      "zero_var_zero_mean: every pair tied); \"(ours "
                      "lower)\": our mean is the lower one. Full statistics: "
                      "table%d_tests.csv.\n\n",
                      scope);
    else
        sf_buf_printf(nb,
                      "Tests: none of the methods listed as ours (%s) "
                      "has scores here.\n\n",
                      cfg->ours.n ? cfg->ours.v[0] : "none configured");
    for (int m = 0; m < methods.n; m++) {
        int me = hx__intern_find(&r->method, methods.v[m]);
        if (me < 0 || !all.me[me])
            sf_buf_printf(nb, "- %s: not evaluated (no scores).\n",
                          methods.v[m]);
    }
    legend(r, &methods, scope, nb);
}

/* Table 1 (scope T1: groups = modalities) or Table 3 (scope T3: one group,
 * the configured dataset). */
static int table_methods(const hx_scores *r, const hx_paper *p, int scope,
                         tbl *t, sf_err *err) {
    tm_ctx c;
    memset(&c, 0, sizeof c);
    c.r = r;
    c.p = p;
    c.scope = scope;
    c.t = t;
    int rc = SF_ENOMEM;
    if (seen_make(r, scope, -1, &c.all) || tm_columns(&c) || tm_header(&c))
        goto out;
    if (!(c.cells = calloc((size_t)c.methods.n + 1, sizeof *c.cells))) goto out;
    for (int gi = 0; gi < c.groups.n; gi++)
        if ((rc = tm_group(&c, gi, err))) goto out;
    tm_notes(&c);
    rc = SF_ENOMEM;
    if (t->g.notes.oom || t->csv.oom || t->tests.oom) goto out;
    rc = SF_OK;
out:
    if (rc == SF_ENOMEM) sf_err_set(err, rc, "tables: out of memory");
    for (int m = 0; c.cells && m < c.methods.n; m++)
        free(c.cells[m].idx);
    free(c.cells);
    seen_free(&c.all);
    hx__strs_clear(&c.groups);
    hx__strs_clear(&c.methods);
    hx__strs_clear(&c.settings);
    hx__strs_clear(&c.structs);
    hx__strs_clear(&c.ours);
    return rc;
}

/* ------------------------------------------------------------- table 2 */

static const char *const variant_name[3] = {"shape", "boundary", "both"};

/* Long (~180 lines), not split yet: Table 2 built in one pass, the shape
 * table_methods had before its split into tm_* steps; the same split
 * applies (columns, header, rows, notes). */
static int table_ablation(const hx_scores *r, const hx_paper *p, tbl *t,
                          sf_err *err) {
    const hx_report_cfg *cfg = r->cfg;
    int rc = SF_ENOMEM;
    hx__strs groups = {0}, structs = {0};
    seen all = {0};
    int vm[3] = {-1, -1, -1}; /* the DB method of each variant */
    char buf[256];
    if (seen_make(r, SCOPE_T1, -1, &all)) goto out;
    for (int v = 0; v < 3; v++)
        for (int i = 0; i < cfg->variant[v].n && vm[v] < 0; i++) {
            int me = hx__intern_find(&r->method, cfg->variant[v].v[i]);
            if (me >= 0 && all.me[me]) vm[v] = me;
        }
    for (int i = 0; i < cfg->modalities.n; i++) {
        int mo = hx__intern_find(&r->modality, cfg->modalities.v[i]);
        int in_paper = 0;
        for (int k = 0; p && k < p->n[2]; k++)
            in_paper |= !strcmp(p->t[2][k].k[0], cfg->modalities.v[i]);
        if ((in_paper || (mo >= 0 && all.mo[mo])) &&
            hx__strs_push(&groups, cfg->modalities.v[i]))
            goto out;
    }
    if (append_rest(&groups, &r->modality, all.mo)) goto out;
    snprintf(t->title, sizeof t->title,
             "Table 2: ablation, mean Dice (%%) over each modality's "
             "structures per generator variant");
    grid *g = &t->g;
    if (grid_col(g, "modality", 0)) goto out;
    for (int v = 0; v < 3; v++)
        for (int s = 0; s < cfg->t2_settings.n; s++) {
            char slab[32];
            setting_label(cfg->t2_settings.v[s], slab, sizeof slab);
            snprintf(buf, sizeof buf, "%s %s", variant_name[v], slab);
            if (grid_col(g, buf, 1)) goto out;
            snprintf(buf, sizeof buf, "%s %s paper", variant_name[v], slab);
            if (grid_col(g, buf, 1)) goto out;
            snprintf(buf, sizeof buf, "%s %s diff", variant_name[v], slab);
            if (grid_col(g, buf, 1)) goto out;
        }
    sf_buf_printf(&t->csv, "modality,variant,method,setting,dice,"
                           "n_structures,n_structures_expected,paper,diff,"
                           "best,status\n");
    for (int gi = 0; gi < groups.n; gi++) {
        int mo = hx__intern_find(&r->modality, groups.v[gi]);
        /* Structures of this modality: the paper's Table 1 rows + data. */
        hx__strs_clear(&structs);
        for (int k = 0; p && k < p->n[1]; k++)
            if (!strcmp(p->t[1][k].k[0], groups.v[gi]) &&
                hx__strs_find(&structs, p->t[1][k].k[1]) < 0 &&
                hx__strs_push(&structs, p->t[1][k].k[1]))
                goto out;
        if (mo >= 0) {
            seen gs = {0};
            if (seen_make(r, SCOPE_T1, mo, &gs) ||
                append_rest(&structs, &r->structure, gs.st)) {
                seen_free(&gs);
                goto out;
            }
            seen_free(&gs);
        }
        if (grid_put(g, groups.v[gi], 0)) goto out;
        int ncs = cfg->t2_settings.n;
        double *val = calloc((size_t)(3 * ncs) + 1, sizeof *val);
        int *nst = calloc((size_t)(3 * ncs) + 1, sizeof *nst);
        if (!val || !nst) {
            free(val);
            free(nst);
            goto out;
        }
        for (int v = 0; v < 3; v++)
            for (int s = 0; s < ncs; s++) {
                int se = hx__intern_find(&r->setting, cfg->t2_settings.v[s]);
                double sum = 0;
                int k = 0;
                for (int si = 0; si < structs.n && mo >= 0; si++) {
                    mcell c;
                    int st = hx__intern_find(&r->structure, structs.v[si]);
                    if (collect(r, mo, st, se, vm[v], SCOPE_T1, &c)) {
                        free(val);
                        free(nst);
                        goto out;
                    }
                    if (c.n) {
                        sum += c.mean;
                        k++;
                    }
                    free(c.idx);
                }
                val[v * ncs + s] = k ? sum / k : NAN;
                nst[v * ncs + s] = k;
            }
        for (int v = 0; v < 3; v++)
            for (int s = 0; s < ncs; s++) {
                double x = val[v * ncs + s], best = -1;
                for (int w = 0; w < 3; w++) {
                    char tmp[32];
                    fmt_pct(val[w * ncs + s], tmp, sizeof tmp);
                    if (!isnan(val[w * ncs + s]) && strtod(tmp, NULL) > best)
                        best = strtod(tmp, NULL);
                }
                char vs[64], ps[32], dv[32], slab[32];
                fmt_pct(x, vs, sizeof vs);
                int is_best = !isnan(x) && strtod(vs, NULL) == best;
                if (!isnan(x) && nst[v * ncs + s] < structs.n) {
                    size_t L = strlen(vs);
                    snprintf(vs + L, sizeof vs - L, " (%d of %d)",
                             nst[v * ncs + s], structs.n);
                }
                double pv = paper_value(p, 2, groups.v[gi], variant_name[v],
                                        NULL, cfg->t2_settings.v[s]);
                snprintf(ps, sizeof ps, isnan(pv) ? DASH : "%.2f", pv);
                if (!isnan(x) && !isnan(pv))
                    snprintf(dv, sizeof dv, "%+.2f", 100.0 * x - pv);
                else
                    snprintf(dv, sizeof dv, DASH);
                if (grid_put(g, vs, is_best) || grid_put(g, ps, 0) ||
                    grid_put(g, dv, 0)) {
                    free(val);
                    free(nst);
                    goto out;
                }
                setting_label(cfg->t2_settings.v[s], slab, sizeof slab);
                hx__csv_field(&t->csv, groups.v[gi], 0);
                hx__csv_field(&t->csv, variant_name[v], 0);
                hx__csv_field(&t->csv, vm[v] >= 0 ? r->method.s.v[vm[v]] : "",
                              0);
                hx__csv_field(&t->csv, slab, 0);
                num_or_empty(&t->csv, 100.0 * x, "%.4f", 0);
                sf_buf_printf(&t->csv, "%d,%d,", nst[v * ncs + s], structs.n);
                num_or_empty(&t->csv, pv, "%.2f", 0);
                num_or_empty(&t->csv, 100.0 * x - pv, "%.4f", 0);
                sf_buf_printf(&t->csv, "%d,%s\n", is_best,
                              isnan(x) ? "missing" : "ok");
            }
        free(val);
        free(nst);
    }
    sf_buf *nb = &g->notes;
    sf_buf_printf(nb,
                  "Values: for each modality, the mean over its structures "
                  "of the per-structure mean per-slice Dice (percent), as the "
                  "paper averages over organs; \"(k of K)\": only k of the "
                  "modality's K structures have scores, so the value is not "
                  "comparable with the paper's. **Bold**: best variant per "
                  "modality and setting. \"missing\": not evaluated. "
                  "\"paper\": reports/paper/table2.csv; \"diff\" = ours - "
                  "paper.\n\nVariants (reports/report.yaml, table2):\n");
    for (int v = 0; v < 3; v++) {
        sf_buf_printf(nb, "- %s: ", variant_name[v]);
        if (vm[v] >= 0)
            sf_buf_printf(nb, "method `%s`\n", r->method.s.v[vm[v]]);
        else {
            sf_buf_printf(nb, "not evaluated (no scores for any of:");
            for (int i = 0; i < cfg->variant[v].n; i++)
                sf_buf_printf(nb, " `%s`", cfg->variant[v].v[i]);
            sf_buf_printf(nb, ")\n");
        }
    }
    {
        hx__strs used = {0};
        for (int v = 0; v < 3; v++)
            if (vm[v] >= 0 && hx__strs_find(&used, r->method.s.v[vm[v]]) < 0 &&
                hx__strs_push(&used, r->method.s.v[vm[v]])) {
                hx__strs_clear(&used);
                goto out;
            }
        legend(r, &used, SCOPE_T1, nb);
        hx__strs_clear(&used);
    }
    if (nb->oom || t->csv.oom) goto out;
    rc = SF_OK;
out:
    if (rc == SF_ENOMEM) sf_err_set(err, rc, "table 2: out of memory");
    seen_free(&all);
    hx__strs_clear(&groups);
    hx__strs_clear(&structs);
    return rc;
}

/* ---------------------------------------------------------------- entry */

int hx_table_write(const hx_scores *r, const hx_paper *paper, int table,
                   int fmt, FILE *f, sf_err *err) {
    if (!r || !f || table < HX_TABLE1 || table > HX_TABLE3 || fmt < HX_FMT_MD ||
        fmt > HX_FMT_TESTS || (table == HX_TABLE2 && fmt == HX_FMT_TESTS))
        return sf_err_set(err, SF_EINVAL, "hx_table_write: bad arguments");
    tbl t;
    memset(&t, 0, sizeof t);
    int rc =
        table == HX_TABLE2
            ? table_ablation(r, paper, &t, err)
            : table_methods(r, paper, table == HX_TABLE1 ? SCOPE_T1 : SCOPE_T3,
                            &t, err);
    if (!rc) {
        if (fmt == HX_FMT_MD)
            grid_md(&t.g, t.title, f);
        else if (fmt == HX_FMT_TEX)
            grid_tex(&t.g, t.title, f);
        else if (fmt == HX_FMT_CSV)
            fputs(t.csv.s ? t.csv.s : "", f);
        else
            fputs(t.tests.s ? t.tests.s : "", f);
        if (ferror(f))
            rc = sf_err_set(err, SF_EIO, "table %d: write error", table);
    }
    tbl_free(&t);
    return rc;
}
