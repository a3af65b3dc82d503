/*
 * report_ix.c - the report's boundary, interactive and volume parts
 * (issues 18, 19), read from the results database's format_version 2
 * views (schemas/results.sql):
 *
 *   table_nsd.{md,csv}, table_nsd_tests.csv   fixed settings: Dice next to
 *       NSD at 1 and 2 mm and HD95 (prediction_scores; our columns, the
 *       paper has no NSD), per dataset x structure x setting x method
 *   table4.{md,csv}, table4_tests.csv   interactive: DSC AUC, NSD AUC,
 *       final DSC / NSD (cvpr25) and NoC@85 / NoC@90 (noc) per dataset x
 *       method (interactive_scores)
 *   table_volume.{md,csv}, table_volume_tests.csv   the volume setting's
 *       3D Dice and NSD per dataset x structure x setting x method
 *       (volume_dice_scores)
 *   figures/curve_<dataset>.png   Dice vs clicks (noc, else cvpr25), one
 *       line per method with its 95 % CI band
 *   figures/noc_<dataset>.png     NoC@90 histograms per method
 *
 * Every mean carries a 95 % percentile bootstrap CI with case-level
 * resampling (hx_bootstrap_mean_ci: B = HX_REPORT_BOOT_B, seed
 * HX_REPORT_BOOT_SEED, both written next to the interval). The tests
 * CSVs hold, per row group and metric, every pair of methods: the
 * Wilcoxon signed-rank test on the units both scored (hx_wilcoxon_paired)
 * with raw and Holm-adjusted p (hx_holm_adjust over the pairs of the
 * group and metric).
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "metrics.h"
#include "report_int.h"
#include "sf_plot.h"

#define HX_REPORT_BOOT_B    2000
#define HX_REPORT_BOOT_SEED 20250418u
#define MAX_CURVE           (HX_SEQ_MAX_CLICKS + 1)
#define MAX_V               MAX_CURVE /* values per row (curves) */

/* One scored unit: group (the row's key columns joined by '\t'), method,
 * unit key (matches units across methods), case (the bootstrap cluster)
 * and its metric values (NaN = not available). */
typedef struct obs {
    char *group, *method, *unit;
    int64_t cluster;
    double v[MAX_V];
} obs;

typedef struct obs_set {
    obs *v;
    size_t n, cap;
    int n_group_cols, n_v;
} obs_set;

static void obs_free(obs_set *s) {
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].group), free(s->v[i].method), free(s->v[i].unit);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int64_t fnv64(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return (int64_t)(h >> 1);
}

static const char *col_text(sqlite3_stmt *st, int i) {
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? t : "";
}

/*
 * Load sql's rows: columns 0..n_group-1 the group, then method, case,
 * unit, then n_v metric columns. Rows must come ordered by group, method.
 */
static int obs_load(sqlite3 *db, const char *sql, int n_group, int n_v,
                    obs_set *s, sf_err *err) {
    sqlite3_stmt *st = NULL;
    memset(s, 0, sizeof *s);
    s->n_group_cols = n_group;
    s->n_v = n_v;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sf_err_set(err, SF_EDB, "report: %s", sqlite3_errmsg(db));
    int rc = SF_OK, r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 256;
            obs *nv = realloc(s->v, cap * sizeof *nv);
            if (!nv) {
                rc = sf_err_set(err, SF_ENOMEM, "report rows");
                break;
            }
            s->v = nv, s->cap = cap;
        }
        obs *o = &s->v[s->n];
        memset(o, 0, sizeof *o);
        sf_buf g = {0}, u = {0};
        for (int i = 0; i < n_group; i++)
            sf_buf_printf(&g, "%s%s", i ? "\t" : "", col_text(st, i));
        sf_buf_printf(&u, "%s", col_text(st, n_group + 2));
        o->group = g.s ? g.s : strdup("");
        o->method = strdup(col_text(st, n_group));
        o->cluster = fnv64(col_text(st, n_group + 1));
        o->unit = u.s ? u.s : strdup("");
        for (int k = 0; k < n_v; k++)
            o->v[k] = sqlite3_column_type(st, n_group + 3 + k) == SQLITE_NULL
                          ? NAN
                          : sqlite3_column_double(st, n_group + 3 + k);
        s->n++;
        if (!o->group || !o->method || !o->unit || g.oom || u.oom) {
            rc = sf_err_set(err, SF_ENOMEM, "report rows");
            break;
        }
    }
    if (rc == SF_OK && r != SQLITE_DONE)
        rc = sf_err_set(err, SF_EDB, "report: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

/* The CI of metric k over rows [b, e) (finite values only). */
static int block_ci(const obs_set *s, size_t b, size_t e, int k, hx_ci *ci,
                    sf_err *err) {
    size_t n = 0;
    double *x = malloc((e - b + 1) * sizeof *x);
    int64_t *c = malloc((e - b + 1) * sizeof *c);
    int rc = SF_ENOMEM;
    if (x && c) {
        for (size_t i = b; i < e; i++)
            if (isfinite(s->v[i].v[k]))
                x[n] = s->v[i].v[k], c[n++] = s->v[i].cluster;
        rc = hx_bootstrap_mean_ci(x, c, n, HX_REPORT_BOOT_B, 0.95,
                                  HX_REPORT_BOOT_SEED, ci, err);
    } else {
        sf_err_set(err, rc, "report CI");
    }
    free(x);
    free(c);
    return rc;
}

static size_t block_end(const obs_set *s, size_t b, int by_method) {
    size_t e = b + 1;
    while (e < s->n && !strcmp(s->v[e].group, s->v[b].group) &&
           (!by_method || !strcmp(s->v[e].method, s->v[b].method)))
        e++;
    return e;
}

static void md_group(sf_buf *b, const char *g) {
    for (; *g; g++)
        sf_buf_printf(b, *g == '\t' ? " | " : "%c", *g);
}

static void csv_group(sf_buf *b, const char *g) {
    char *d = strdup(g), *save = NULL;
    for (char *t = d ? strtok_r(d, "\t", &save) : NULL; t;
         t = strtok_r(NULL, "\t", &save))
        hx__csv_field(b, t, 0);
    free(d);
}

/* A table: group columns, method, n, then "mean [lo, hi]" per metric
 * (fmt, scaled by scale[k]); CSV one row per (group, method, metric). */
typedef struct tdef {
    const char *title, *note;
    const char *const *gcols; /* n_group_cols names */
    const char *const *vnames;
    const double *scale;
    const char *const *fmt;
} tdef;

static int write_table(const obs_set *s, const tdef *t, sf_buf *md, sf_buf *csv,
                       sf_err *err) {
    int rc = SF_OK;
    sf_buf_printf(md, "# %s\n\n| ", t->title);
    for (int i = 0; i < s->n_group_cols; i++)
        sf_buf_printf(md, "%s | ", t->gcols[i]);
    sf_buf_puts(md, "method | n |");
    for (int k = 0; k < s->n_v; k++)
        sf_buf_printf(md, " %s |", t->vnames[k]);
    sf_buf_puts(md, "\n|");
    for (int i = 0; i < s->n_group_cols + 2 + s->n_v; i++)
        sf_buf_puts(md, "---|");
    sf_buf_puts(md, "\n");
    for (int i = 0; i < s->n_group_cols; i++)
        hx__csv_field(csv, t->gcols[i], 0);
    sf_buf_puts(csv, "method,metric,n,mean,ci_lo,ci_hi,ci_level,"
                     "bootstrap_resamples,bootstrap_seed,n_cases\n");
    for (size_t b = 0; b < s->n && rc == SF_OK;) {
        size_t e = block_end(s, b, 1);
        sf_buf_puts(md, "| ");
        md_group(md, s->v[b].group);
        sf_buf_printf(md, " | %s | %zu |", s->v[b].method, e - b);
        for (int k = 0; k < s->n_v && rc == SF_OK; k++) {
            hx_ci ci;
            if ((rc = block_ci(s, b, e, k, &ci, err)) != SF_OK) break;
            const double sc = t->scale[k];
            char cell[120];
            if (ci.n == 0)
                snprintf(cell, sizeof cell, "missing");
            else {
                char f[64];
                snprintf(f, sizeof f, "%s [%s, %s]", t->fmt[k], t->fmt[k],
                         t->fmt[k]);
                snprintf(cell, sizeof cell, f, ci.mean * sc, ci.lo * sc,
                         ci.hi * sc);
            }
            sf_buf_printf(md, " %s |", cell);
            csv_group(csv, s->v[b].group);
            hx__csv_field(csv, s->v[b].method, 0);
            hx__csv_field(csv, t->vnames[k], 0);
            if (ci.n == 0)
                sf_buf_printf(csv, "0,,,,0.95,%d,%u,0\n", HX_REPORT_BOOT_B,
                              HX_REPORT_BOOT_SEED);
            else
                sf_buf_printf(csv, "%zu,%.17g,%.17g,%.17g,0.95,%d,%u,%zu\n",
                              ci.n, ci.mean * sc, ci.lo * sc, ci.hi * sc,
                              HX_REPORT_BOOT_B, HX_REPORT_BOOT_SEED,
                              ci.n_clusters);
        }
        sf_buf_puts(md, "\n");
        b = e;
    }
    sf_buf_printf(md,
                  "\nEach cell: mean [95 %% CI]; the interval is a "
                  "percentile bootstrap of the mean with the cases as "
                  "resampling units (slices of one case are not "
                  "independent), B = %d, seed %u. %s\n",
                  HX_REPORT_BOOT_B, HX_REPORT_BOOT_SEED, t->note);
    return rc;
}

static int cmp_unit(const void *a, const void *b) {
    return strcmp((*(const obs *const *)a)->unit,
                  (*(const obs *const *)b)->unit);
}

/* Tests of metric k in the rows [b, e) of one group: every pair of
 * methods on their shared units, Holm over the pairs. */
static int group_tests(const obs_set *s, size_t b, size_t e, int k,
                       const char *vname, sf_buf *csv, sf_err *err) {
    size_t mb[64], n_m = 0;
    for (size_t i = b; i < e && n_m < 63; i = block_end(s, i, 1))
        mb[n_m++] = i;
    mb[n_m] = e;
    if (n_m < 2) return SF_OK;
    size_t n_pairs = n_m * (n_m - 1) / 2, pi = 0;
    double *p = calloc(n_pairs, sizeof *p), *adj = calloc(n_pairs, sizeof *adj);
    hx_wilcoxon *w = calloc(n_pairs, sizeof *w);
    double *ma = calloc(n_pairs, sizeof *ma),
           *mbv = calloc(n_pairs, sizeof *mb);
    const obs **sa = malloc((e - b) * sizeof *sa);
    double *xa = malloc((e - b) * sizeof *xa),
           *xb = malloc((e - b) * sizeof *xb);
    int rc = SF_ENOMEM;
    if (!p || !adj || !w || !ma || !mbv || !sa || !xa || !xb) {
        sf_err_set(err, rc, "report tests");
        goto out;
    }
    for (size_t i = b; i < e; i++)
        sa[i - b] = &s->v[i];
    /* Sort each method's block by unit to pair by merging. */
    for (size_t m = 0; m < n_m; m++)
        qsort(sa + (mb[m] - b), mb[m + 1] - mb[m], sizeof *sa, cmp_unit);
    for (size_t a = 0; a < n_m; a++)
        for (size_t c = a + 1; c < n_m; c++, pi++) {
            size_t i = mb[a] - b, j = mb[c] - b, n = 0;
            double sa_ = 0, sb_ = 0;
            while (i < mb[a + 1] - b && j < mb[c + 1] - b) {
                int d = strcmp(sa[i]->unit, sa[j]->unit);
                if (d < 0)
                    i++;
                else if (d > 0)
                    j++;
                else {
                    if (isfinite(sa[i]->v[k]) && isfinite(sa[j]->v[k])) {
                        xa[n] = sa[i]->v[k], xb[n] = sa[j]->v[k];
                        sa_ += xa[n], sb_ += xb[n], n++;
                    }
                    i++, j++;
                }
            }
            ma[pi] = n ? sa_ / n : NAN;
            mbv[pi] = n ? sb_ / n : NAN;
            sf_err e2;
            hx_wilcoxon_paired(xa, xb, n, &w[pi], &e2);
            p[pi] = w[pi].p;
        }
    if ((rc = hx_holm_adjust(p, n_pairs, adj, err)) != SF_OK) goto out;
    pi = 0;
    for (size_t a = 0; a < n_m; a++)
        for (size_t c = a + 1; c < n_m; c++, pi++) {
            csv_group(csv, s->v[b].group);
            hx__csv_field(csv, vname, 0);
            hx__csv_field(csv, s->v[mb[a]].method, 0);
            hx__csv_field(csv, s->v[mb[c]].method, 0);
            sf_buf_printf(csv, "%d,", w[pi].n);
            const double v[6] = {ma[pi], mbv[pi], w[pi].T, w[pi].p, adj[pi]};
            for (int q = 0; q < 5; q++)
                if (isfinite(v[q]))
                    sf_buf_printf(csv, "%.17g,", v[q]);
                else
                    sf_buf_puts(csv, ",");
            sf_buf_printf(csv, "%s,%s\n", w[pi].exact ? "exact" : "normal",
                          w[pi].status == HX_WILCOXON_OK      ? "ok"
                          : w[pi].status == HX_WILCOXON_EMPTY ? "no pairs"
                          : w[pi].status == HX_WILCOXON_ALL_ZERO
                              ? "all differences 0"
                              : "refused");
        }
    rc = SF_OK;
out:
    free(p), free(adj), free(w), free(ma), free(mbv), free(sa), free(xa),
        free(xb);
    return rc;
}

static int write_tests(const obs_set *s, const tdef *t, const int *which,
                       int n_which, sf_buf *csv, sf_err *err) {
    for (int i = 0; i < s->n_group_cols; i++)
        hx__csv_field(csv, t->gcols[i], 0);
    sf_buf_puts(csv, "metric,method_a,method_b,n_pairs,mean_a,mean_b,"
                     "wilcoxon_T,p,p_holm,method,status\n");
    int rc = SF_OK;
    for (size_t b = 0; b < s->n && rc == SF_OK;) {
        size_t e = block_end(s, b, 0);
        for (int q = 0; q < n_which && rc == SF_OK; q++)
            rc = group_tests(s, b, e, which[q], t->vnames[which[q]], csv, err);
        b = e;
    }
    return rc;
}

static int save(const char *dir, const char *name, const sf_buf *b,
                sf_err *err) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (b->oom) return sf_err_set(err, SF_ENOMEM, "%s", path);
    return sf_write_atomic(path, b->s ? b->s : "", b->len, 0, err);
}

static int has_view(sqlite3 *db, const char *name) {
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = ?", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

/* Load, write the table and its tests; *n_rows gets the rows loaded. */
static int one_table(sqlite3 *db, const char *dir, const char *stem,
                     const char *sql, int n_group, int n_v, const tdef *t,
                     const int *which, int n_which, size_t *n_rows,
                     sf_err *err) {
    obs_set s;
    sf_buf md = {0}, csv = {0}, tests = {0};
    char name[200];
    int rc = obs_load(db, sql, n_group, n_v, &s, err);
    *n_rows = s.n;
    if (rc == SF_OK && s.n) rc = write_table(&s, t, &md, &csv, err);
    if (rc == SF_OK && s.n)
        rc = write_tests(&s, t, which, n_which, &tests, err);
    if (rc == SF_OK && s.n) {
        snprintf(name, sizeof name, "%s.md", stem);
        if ((rc = save(dir, name, &md, err)) == SF_OK) {
            snprintf(name, sizeof name, "%s.csv", stem);
            if ((rc = save(dir, name, &csv, err)) == SF_OK) {
                snprintf(name, sizeof name, "%s_tests.csv", stem);
                rc = save(dir, name, &tests, err);
            }
        }
    }
    sf_buf_release(&md);
    sf_buf_release(&csv);
    sf_buf_release(&tests);
    obs_free(&s);
    return rc;
}

/* ------------------------------------------------------------- figures */

static const double pal[][3] = {{0.00, 0.45, 0.70}, {0.90, 0.62, 0.00},
                                {0.00, 0.62, 0.45}, {0.80, 0.40, 0.00},
                                {0.35, 0.70, 0.90}, {0.80, 0.60, 0.70},
                                {0.50, 0.50, 0.50}, {0.94, 0.89, 0.26}};
#define N_PAL (sizeof pal / sizeof pal[0])

static void file_safe(const char *s, char *out, size_t n) {
    size_t k = 0;
    for (; *s && k + 1 < n; s++)
        out[k++] = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                           (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'
                       ? *s
                       : '_';
    out[k] = '\0';
}

/* One method's curve: per click k (1..n_k) mean and CI of the Dice after
 * k clicks over its units (a sequence that stopped early keeps its last
 * Dice). rows [b, e) of s hold v[0..MAX_CURVE) per unit (NaN past its
 * last step), v being the curve columns. */
typedef struct curve {
    char method[128];
    int n_k;
    double mean[MAX_CURVE], lo[MAX_CURVE], hi[MAX_CURVE];
} curve;

static int draw_curves(const curve *cv, int n_c, const char *dataset,
                       const char *proto, const char *path, sf_err *err) {
    sf_plot p;
    int rc = sf_plot_open(&p, 760, 460);
    if (rc != SF_OK) {
        sf_plot_close(&p);
        return sf_err_set(err, rc, "%s: canvas", path);
    }
    cairo_t *cr = p.cr;
    int n_k = 1;
    for (int i = 0; i < n_c; i++)
        n_k = cv[i].n_k > n_k ? cv[i].n_k : n_k;
    sf_plot_frame f = {70, 50, 500, 350, 0.5, n_k + 0.5, 0, 1};
    char title[300];
    snprintf(title, sizeof title, "%s: Dice after k corrective clicks (%s)",
             dataset, proto);
    cairo_set_source_rgb(cr, 0, 0, 0);
    sf_plot_text(cr, 380, 30, 15, 0.5, title);
    sf_plot_draw_frame(cr, &f, "mean Dice (95% CI band)", "%.1f");
    for (int k = 1; k <= n_k; k++) {
        char t[16];
        snprintf(t, sizeof t, "%d", k);
        if (n_k <= 10 || k % 2 == 1) {
            cairo_set_source_rgb(cr, 0, 0, 0);
            sf_plot_text(cr, sf_plot_fx(&f, k), f.y + f.h + 18, 11, 0.5, t);
        }
    }
    sf_plot_text(cr, f.x + f.w / 2, f.y + f.h + 38, 12, 0.5, "clicks");
    for (int i = 0; i < n_c; i++) {
        const double *c = pal[i % N_PAL];
        const curve *v = &cv[i];
        cairo_set_source_rgba(cr, c[0], c[1], c[2], 0.18);
        for (int k = 0; k < v->n_k; k++) {
            double x = sf_plot_fx(&f, k + 1);
            if (k == 0)
                cairo_move_to(cr, x, sf_plot_fy(&f, v->hi[k]));
            else
                cairo_line_to(cr, x, sf_plot_fy(&f, v->hi[k]));
        }
        for (int k = v->n_k - 1; k >= 0; k--)
            cairo_line_to(cr, sf_plot_fx(&f, k + 1), sf_plot_fy(&f, v->lo[k]));
        cairo_close_path(cr);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        cairo_set_line_width(cr, 2);
        for (int k = 0; k < v->n_k; k++) {
            double x = sf_plot_fx(&f, k + 1), y = sf_plot_fy(&f, v->mean[k]);
            if (k == 0)
                cairo_move_to(cr, x, y);
            else
                cairo_line_to(cr, x, y);
        }
        cairo_stroke(cr);
        cairo_rectangle(cr, 590, 60 + 22 * i, 14, 10);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        sf_plot_text(cr, 610, 70 + 22 * i, 12, 0, v->method);
    }
    rc = sf_plot_save(&p, path, err);
    sf_plot_close(&p);
    return rc;
}

/* NoC@90 histograms: per method, the share of units at each count 1 ..
 * cap + 1 ("not reached"), grouped bars. */
static int draw_noc(const obs_set *s, size_t b, size_t e, int cap,
                    const char *dataset, const char *path, sf_err *err) {
    sf_plot p;
    int rc = sf_plot_open(&p, 860, 460);
    if (rc != SF_OK) {
        sf_plot_close(&p);
        return sf_err_set(err, rc, "%s: canvas", path);
    }
    cairo_t *cr = p.cr;
    sf_plot_frame f = {70, 50, 600, 350, 0.5, cap + 1.5, 0, 1};
    char title[300];
    snprintf(title, sizeof title,
             "%s: clicks to Dice >= 0.90 (NoC@90; %d = not reached)", dataset,
             cap + 1);
    cairo_set_source_rgb(cr, 0, 0, 0);
    sf_plot_text(cr, 430, 30, 15, 0.5, title);
    sf_plot_draw_frame(cr, &f, "share of units", "%.1f");
    for (int k = 1; k <= cap + 1; k++) {
        char t[16];
        snprintf(t, sizeof t, "%d", k);
        sf_plot_text(cr, sf_plot_fx(&f, k), f.y + f.h + 18, 10, 0.5, t);
    }
    int n_m = 0;
    for (size_t m = b; m < e; m = block_end(s, m, 1))
        n_m++;
    double bw = (f.w / (cap + 1)) * 0.8 / (n_m ? n_m : 1);
    int mi = 0;
    for (size_t m = b; m < e; m = block_end(s, m, 1), mi++) {
        size_t me = block_end(s, m, 1), n = 0;
        double cnt[HX_SEQ_MAX_CLICKS + 2] = {0};
        for (size_t i = m; i < me; i++)
            if (isfinite(s->v[i].v[0])) {
                int k = (int)s->v[i].v[0];
                if (k >= 1 && k <= cap + 1) cnt[k]++, n++;
            }
        const double *c = pal[mi % N_PAL];
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        for (int k = 1; k <= cap + 1 && n; k++) {
            double x = sf_plot_fx(&f, k) - bw * n_m / 2 + bw * mi;
            double y = sf_plot_fy(&f, cnt[k] / n);
            cairo_rectangle(cr, x, y, bw, f.y + f.h - y);
        }
        cairo_fill(cr);
        cairo_rectangle(cr, 690, 60 + 22 * mi, 14, 10);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        char lab[200];
        snprintf(lab, sizeof lab, "%.60s (n=%zu)", s->v[m].method, n);
        sf_plot_text(cr, 710, 70 + 22 * mi, 12, 0, lab);
    }
    rc = sf_plot_save(&p, path, err);
    sf_plot_close(&p);
    return rc;
}

/* Curves of one dataset: rows [b, e) of the curve set (v[k] = Dice after
 * k + 1 clicks). */
static int dataset_curves(const obs_set *s, size_t b, size_t e, int n_v,
                          const char *proto, const char *path, sf_err *err) {
    curve cv[N_PAL * 2];
    int n_c = 0, rc = SF_OK;
    for (size_t m = b; m < e && n_c < (int)(sizeof cv / sizeof cv[0]);
         m = block_end(s, m, 1)) {
        size_t me = block_end(s, m, 1);
        curve *c = &cv[n_c++];
        memset(c, 0, sizeof *c);
        snprintf(c->method, sizeof c->method, "%s", s->v[m].method);
        c->n_k = n_v;
        for (int k = 0; k < n_v && rc == SF_OK; k++) {
            hx_ci ci;
            if ((rc = block_ci(s, m, me, k, &ci, err)) != SF_OK) break;
            c->mean[k] = ci.mean, c->lo[k] = ci.lo, c->hi[k] = ci.hi;
        }
    }
    const char *ds = s->v[b].group;
    return rc == SF_OK ? draw_curves(cv, n_c, ds, proto, path, err) : rc;
}

/* The curve rows: one per unit with Dice after 1..n_k clicks, carried
 * forward past the last step (an early stop reached its target). */
static int curve_load(sqlite3 *db, const char *proto, int n_k, obs_set *s,
                      sf_err *err) {
    char sql[600];
    snprintf(sql, sizeof sql,
             "SELECT dataset, method, case_id, case_id || '/' || slice_index "
             "|| '/' || structure, step, dsc FROM interactive_curve WHERE "
             "protocol = '%s' AND step >= 1 ORDER BY dataset, method, "
             "case_id, slice_index, structure, step",
             proto);
    obs_set raw;
    int rc = obs_load(db, sql, 1, 2, &raw, err);
    memset(s, 0, sizeof *s);
    s->n_group_cols = 1, s->n_v = n_k;
    for (size_t i = 0; i < raw.n && rc == SF_OK;) {
        size_t j = i;
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 256;
            obs *nv = realloc(s->v, cap * sizeof *nv);
            if (!nv) {
                rc = sf_err_set(err, SF_ENOMEM, "curves");
                break;
            }
            s->v = nv, s->cap = cap;
        }
        obs *d = &s->v[s->n++];
        memset(d, 0, sizeof *d);
        for (int k = 0; k < MAX_V; k++)
            d->v[k] = NAN;
        while (j < raw.n && !strcmp(raw.v[j].unit, raw.v[i].unit) &&
               !strcmp(raw.v[j].method, raw.v[i].method) &&
               !strcmp(raw.v[j].group, raw.v[i].group)) {
            int k = (int)raw.v[j].v[0];
            if (k >= 1 && k <= n_k) d->v[k - 1] = raw.v[j].v[1];
            j++;
        }
        for (int k = 1; k < n_k; k++)
            if (isnan(d->v[k])) d->v[k] = d->v[k - 1];
        d->group = strdup(raw.v[i].group);
        d->method = strdup(raw.v[i].method);
        d->unit = strdup(raw.v[i].unit);
        d->cluster = raw.v[i].cluster;
        if (!d->group || !d->method || !d->unit)
            rc = sf_err_set(err, SF_ENOMEM, "curves");
        i = j;
    }
    obs_free(&raw);
    return rc;
}

/* ---------------------------------------------------------------- entry */

static const char *const g_ds[] = {"dataset"};
static const char *const g_dss[] = {"dataset", "structure", "setting"};

int hx__report_ix(const char *db_path, const char *out_dir, const char *fig_dir,
                  const char *pre, sf_buf *idx, sf_err *err) {
    sqlite3 *db = NULL;
    int rc = SF_OK;
    size_t n;
    char path[4400], ds_safe[200];
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) !=
        SQLITE_OK) {
        rc = sf_err_set(err, SF_EDB, "%s: %s", db_path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return rc;
    }
    sf_buf_puts(idx, "\n## Boundary metrics, interactive evaluation and "
                     "the volume setting\n\n");
    if (!has_view(db, "interactive_scores")) {
        sf_buf_puts(idx, "The results database predates format_version 2 "
                         "(no NSD, interactive or volume rows): open it "
                         "once with `synthfm eval` to migrate it.\n");
        goto out;
    }
    /* Fixed settings: Dice next to NSD and HD95. */
    {
        static const char *const vn[] = {"Dice %", "NSD 1 mm %", "NSD 2 mm %",
                                         "HD95 mm"};
        static const char *const fm[] = {"%.2f", "%.2f", "%.2f", "%.2f"};
        static const double sc[] = {100, 100, 100, 1};
        static const int which[] = {0, 2};
        tdef t = {"Fixed click settings: Dice, NSD and HD95 per dataset, "
                  "structure and setting",
                  "NSD (normalised surface Dice at 1 and 2 mm) and HD95 are "
                  "our columns (the paper reports Dice only), computed with "
                  "each slice's pixel spacing as the reader gives it; rows "
                  "written before format_version 2 have none. The tests "
                  "(table_nsd_tests.csv): Wilcoxon signed-rank on the units "
                  "both methods scored, Holm-adjusted over the method pairs "
                  "of each row.",
                  g_dss,
                  vn,
                  sc,
                  fm};
        if ((rc = one_table(db, out_dir, "table_nsd",
                            "SELECT dataset, structure, setting, method, "
                            "case_id, case_id || '/' || slice_index, dice, "
                            "nsd_1mm, nsd_2mm, hd95_mm FROM prediction_scores "
                            "ORDER BY dataset, structure, setting, method",
                            3, 4, &t, which, 2, &n, err)) != SF_OK)
            goto out;
        if (n)
            sf_buf_printf(idx,
                          "- Fixed settings with NSD and HD95: "
                          "[Markdown](%stable_nsd.md), [CSV](%stable_nsd.csv), "
                          "[Wilcoxon + Holm](%stable_nsd_tests.csv)\n",
                          pre, pre, pre);
    }
    /* Table 4: interactive. */
    {
        static const char *const vn[] = {"DSC AUC",     "NSD AUC",
                                         "final DSC %", "final NSD %",
                                         "NoC@85",      "NoC@90"};
        static const char *const fm[] = {"%.3f", "%.3f", "%.2f",
                                         "%.2f", "%.2f", "%.2f"};
        static const double sc[] = {1, 1, 100, 100, 1, 1};
        static const int which[] = {0, 2, 5};
        tdef t = {
            "Table 4: interactive segmentation (CVPR 2025 click "
            "protocol and clicks to Dice)",
            "DSC / NSD AUC: trapezoid over the 5 corrective-click steps "
            "of the CVPR 2025 protocol (`--protocol cvpr25`; maximum "
            "4), final: after the 5th click; NSD at 2 mm, counted only "
            "when DSC > 0.2. NoC@85 / @90 (`--protocol noc`): clicks "
            "until Dice >= 0.85 / 0.90, 21 = not reached within 20. "
            "Each click is at the deepest point of the largest error "
            "of the method's own previous mask; the first one is the "
            "same for every method. A cell is missing when the "
            "protocol was not run; a run with the box step (`--box`) is "
            "its own row, \"method (box)\". Tests (table4_tests.csv): Wilcoxon "
            "signed-rank on shared units, Holm over the method pairs "
            "of each dataset and metric.",
            g_ds,
            vn,
            sc,
            fm};
        if ((rc =
                 one_table(db, out_dir, "table4",
                           "SELECT dataset, method || CASE WHEN has_box THEN "
                           "' (box)' ELSE '' END AS m, case_id, case_id || '/' "
                           "|| slice_index || '/' || structure, "
                           "max(CASE WHEN protocol = 'cvpr25' THEN dsc_auc "
                           "END), max(CASE WHEN protocol = 'cvpr25' THEN "
                           "nsd_auc END), max(CASE WHEN protocol = 'cvpr25' "
                           "THEN dsc_final END), max(CASE WHEN protocol = "
                           "'cvpr25' THEN nsd_final END), max(CASE WHEN "
                           "protocol = 'noc' THEN noc85 END), max(CASE WHEN "
                           "protocol = 'noc' THEN noc90 END) FROM "
                           "interactive_scores GROUP BY dataset, method, "
                           "has_box, case_id, slice_index, structure "
                           "ORDER BY dataset, m",
                           1, 6, &t, which, 3, &n, err)) != SF_OK)
            goto out;
        if (n)
            sf_buf_printf(idx,
                          "- Table 4, interactive: [Markdown](%stable4.md), "
                          "[CSV](%stable4.csv), [Wilcoxon + "
                          "Holm](%stable4_tests.csv)\n",
                          pre, pre, pre);
        else
            sf_buf_puts(idx, "- Table 4, interactive: no `--protocol "
                             "cvpr25` or `noc` run in the database.\n");
    }
    /* The volume setting. */
    {
        static const char *const g[] = {"dataset", "structure", "setting"};
        static const char *const vn[] = {"3D Dice %", "3D NSD 2 mm %"};
        static const char *const fm[] = {"%.2f", "%.2f"};
        static const double sc[] = {100, 100};
        static const int which[] = {0};
        tdef t = {"Volume setting: 3D Dice per case (clicks on the slice of "
                  "largest area)",
                  "SAM 2 propagates the clicks through the volume as video "
                  "frames; 2-D methods get the setting's clicks on every "
                  "slice where the structure has at least --min-pixels "
                  "pixels (the paper's protocol). One value per case; the "
                  "CI resamples cases.",
                  g,
                  vn,
                  sc,
                  fm};
        if ((rc = one_table(db, out_dir, "table_volume",
                            "SELECT dataset, structure, setting, method || "
                            "' (' || mode || ')', case_id, case_id, dice, "
                            "nsd_2mm FROM volume_dice_scores ORDER BY "
                            "dataset, structure, setting, method",
                            3, 2, &t, which, 1, &n, err)) != SF_OK)
            goto out;
        if (n)
            sf_buf_printf(idx,
                          "- Volume setting (3D Dice): "
                          "[Markdown](%stable_volume.md), "
                          "[CSV](%stable_volume.csv), [Wilcoxon + "
                          "Holm](%stable_volume_tests.csv)\n",
                          pre, pre, pre);
    }
    /* Figures: Dice-vs-clicks curves and NoC histograms per dataset. */
    for (int pi = 0; pi < 2 && rc == SF_OK; pi++) {
        const char *proto = pi == 0 ? "noc" : "cvpr25";
        obs_set cs;
        int n_k = pi == 0 ? HX_NOC_MAX_CLICKS : 5;
        if ((rc = curve_load(db, proto, n_k, &cs, err)) != SF_OK) {
            obs_free(&cs);
            break;
        }
        for (size_t b = 0; b < cs.n && rc == SF_OK;) {
            size_t e = block_end(&cs, b, 0);
            file_safe(cs.v[b].group, ds_safe, sizeof ds_safe);
            snprintf(path, sizeof path, "%s/curve_%s_%s.png", fig_dir, ds_safe,
                     proto);
            if ((rc = dataset_curves(&cs, b, e, n_k, proto, path, err)) ==
                SF_OK)
                sf_buf_printf(idx,
                              "\n![Dice vs clicks, %s, %s](%sfigures/"
                              "curve_%s_%s.png)\n",
                              cs.v[b].group, proto, pre, ds_safe, proto);
            b = e;
        }
        obs_free(&cs);
    }
    if (rc == SF_OK) {
        obs_set ns;
        rc = obs_load(db,
                      "SELECT dataset, method, case_id, case_id || '/' || "
                      "slice_index || '/' || structure, noc90 FROM "
                      "interactive_scores WHERE protocol = 'noc' ORDER BY "
                      "dataset, method",
                      1, 1, &ns, err);
        for (size_t b = 0; b < ns.n && rc == SF_OK;) {
            size_t e = block_end(&ns, b, 0);
            file_safe(ns.v[b].group, ds_safe, sizeof ds_safe);
            snprintf(path, sizeof path, "%s/noc_%s.png", fig_dir, ds_safe);
            if ((rc = draw_noc(&ns, b, e, HX_NOC_MAX_CLICKS, ns.v[b].group,
                               path, err)) == SF_OK)
                sf_buf_printf(idx,
                              "\n![NoC@90 histogram, %s](%sfigures/"
                              "noc_%s.png)\n",
                              ns.v[b].group, pre, ds_safe);
            b = e;
        }
        obs_free(&ns);
    }
out:
    sqlite3_close(db);
    return rc;
}
