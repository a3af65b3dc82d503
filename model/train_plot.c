/*
 * train_plot.c - a run's learning curve as a PNG (cairo), from the numbers
 * in RUN/run.sqlite (model/train.h): the per-step training loss (raw in
 * grey, an exponential moving average in blue) over the validation Dice
 * of each epoch (orange, right axis, 0..1). The trainer writes
 * RUN/curve.png after every validation; the report (harness) draws its
 * own figures from the same tables.
 */
#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

typedef struct series {
    double *x, *y;
    long n, cap;
} series;

static int series_push(series *s, double x, double y) {
    if (s->n == s->cap) {
        long cap = s->cap ? 2 * s->cap : 1024;
        double *nx = realloc(s->x, (size_t)cap * sizeof *nx);
        if (!nx) return SF_ENOMEM;
        s->x = nx;
        double *ny = realloc(s->y, (size_t)cap * sizeof *ny);
        if (!ny) return SF_ENOMEM;
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
    return SF_OK;
}

static void series_free(series *s) {
    free(s->x);
    free(s->y);
}

static int read_series(sqlite3 *db, const char *sql, series *s,
                       const char *path, sf_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = SF_OK;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sf_err_set(err, SF_EDB, "%s: %s", path, sqlite3_errmsg(db));
    while (rc == SF_OK && sqlite3_step(st) == SQLITE_ROW)
        if (sqlite3_column_type(st, 1) != SQLITE_NULL)
            rc = series_push(s, sqlite3_column_double(st, 0),
                             sqlite3_column_double(st, 1));
    sqlite3_finalize(st);
    if (rc) sf_err_set(err, rc, "out of memory");
    return rc;
}

static void text(cairo_t *cr, double x, double y, double size, double ax,
                 const char *s) {
    cairo_text_extents_t e;
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * (e.width + e.x_bearing), y);
    cairo_show_text(cr, s);
}

static double nice_step(double range, int n) {
    double raw = range / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return p * (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10);
}

int sam_train_plot(const char *run_dir, const char *png_path, sf_err *err) {
    char path[4200], tmp[4200], buf[160];
    snprintf(path, sizeof path, "%s/run.sqlite", run_dir);
    sqlite3 *db = NULL;
    series loss = {0}, val = {0};
    cairo_surface_t *sf = NULL;
    cairo_t *cr = NULL;
    int rc = SF_OK;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = sf_err_set(err, SF_EIO, "%s: cannot open", path);
        goto out;
    }
    if ((rc = read_series(db, "SELECT step, loss FROM steps ORDER BY step",
                          &loss, path, err)) ||
        (rc = read_series(db,
                          "SELECT step, val_dice FROM epochs ORDER BY step",
                          &val, path, err)))
        goto out;
    if (loss.n == 0) {
        rc = sf_err_set(err, SF_EFORMAT, "%s: no training steps recorded",
                        path);
        goto out;
    }
    const int W = 900, H = 520;
    const double L = 70, R = W - 70, T = 50, B = H - 60;
    sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cr = cairo_create(sf);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        rc = sf_err_set(err, SF_ENOMEM, "cairo: out of memory");
        goto out;
    }
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    double xmax = loss.x[loss.n - 1], ymax = 0;
    for (long i = 0; i < loss.n; i++)
        if (isfinite(loss.y[i]) && loss.y[i] > ymax) ymax = loss.y[i];
    ymax = ymax > 1 ? ceil(ymax * 4) / 4 : 1;
    if (xmax < 1) xmax = 1;
#define PX(v) (L + (R - L) * (v) / xmax)
#define PYL(v) (B - (B - T) * (v) / ymax)
#define PYR(v) (B - (B - T) * (v))
    /* axes, grid, ticks */
    cairo_set_line_width(cr, 1);
    double xs = nice_step(xmax, 8);
    for (double v = 0; v <= xmax * 1.0001; v += xs) {
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, PX(v), T);
        cairo_line_to(cr, PX(v), B);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        snprintf(buf, sizeof buf, "%.0f", v);
        text(cr, PX(v), B + 16, 11, 0.5, buf);
    }
    for (int k = 0; k <= 4; k++) {
        double f = k / 4.0;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, L, PYR(f));
        cairo_line_to(cr, R, PYR(f));
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.0, 0.45, 0.70);
        snprintf(buf, sizeof buf, "%.2f", f * ymax);
        text(cr, L - 6, PYR(f) + 4, 11, 1, buf);
        cairo_set_source_rgb(cr, 0.84, 0.37, 0.0);
        snprintf(buf, sizeof buf, "%.2f", f);
        text(cr, R + 6, PYR(f) + 4, 11, 0, buf);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, L, T, R - L, B - T);
    cairo_stroke(cr);
    text(cr, (L + R) / 2, H - 18, 13, 0.5, "step");
    cairo_set_source_rgb(cr, 0.0, 0.45, 0.70);
    text(cr, 12, T - 12, 13, 0, "training loss");
    cairo_set_source_rgb(cr, 0.84, 0.37, 0.0);
    text(cr, W - 12, T - 12, 13, 1, "validation Dice");
    /* raw loss */
    cairo_save(cr);
    cairo_rectangle(cr, L, T, R - L, B - T);
    cairo_clip(cr);
    cairo_set_source_rgb(cr, 0.82, 0.82, 0.82);
    cairo_set_line_width(cr, 0.6);
    for (long i = 0; i < loss.n; i++)
        if (isfinite(loss.y[i]))
            cairo_line_to(cr, PX(loss.x[i]), PYL(loss.y[i]));
    cairo_stroke(cr);
    /* EMA of the loss, span ~ n/40 steps (at least 5) */
    double span = fmax(5, (double)loss.n / 40), a = 2 / (span + 1), ema = NAN;
    cairo_set_source_rgb(cr, 0.0, 0.45, 0.70);
    cairo_set_line_width(cr, 2);
    for (long i = 0; i < loss.n; i++) {
        if (!isfinite(loss.y[i])) continue;
        ema = isnan(ema) ? loss.y[i] : a * loss.y[i] + (1 - a) * ema;
        cairo_line_to(cr, PX(loss.x[i]), PYL(ema));
    }
    cairo_stroke(cr);
    /* validation Dice */
    cairo_set_source_rgb(cr, 0.84, 0.37, 0.0);
    for (long i = 0; i < val.n; i++)
        cairo_line_to(cr, PX(val.x[i]), PYR(val.y[i]));
    cairo_stroke(cr);
    for (long i = 0; i < val.n; i++) {
        cairo_arc(cr, PX(val.x[i]), PYR(val.y[i]), 3.5, 0, 2 * M_PI);
        cairo_fill(cr);
    }
    cairo_restore(cr);
    /* title */
    double best = NAN;
    long best_i = -1;
    for (long i = 0; i < val.n; i++)
        if (isnan(best) || val.y[i] > best) best = val.y[best_i = i];
    const char *name = strrchr(run_dir, '/');
    name = name && name[1] ? name + 1 : run_dir;
    if (best_i >= 0)
        snprintf(buf, sizeof buf,
                 "%s: %ld steps, loss EMA %.4f, best val Dice %.4f (step "
                 "%.0f)",
                 name, loss.n, ema, best, val.x[best_i]);
    else
        snprintf(buf, sizeof buf, "%s: %ld steps, loss EMA %.4f", name,
                 loss.n, ema);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text(cr, W / 2.0, 22, 14, 0.5, buf);
#undef PX
#undef PYL
#undef PYR
    cairo_surface_flush(sf);
    snprintf(tmp, sizeof tmp, "%s.tmp", png_path);
    cairo_status_t s = cairo_surface_write_to_png(sf, tmp);
    if (s != CAIRO_STATUS_SUCCESS) {
        remove(tmp);
        rc = sf_err_set(err, SF_EIO, "%s: cairo: %s", png_path,
                        cairo_status_to_string(s));
    } else if (rename(tmp, png_path)) {
        rc = sf_err_set(err, SF_EIO, "%s: %s", png_path, strerror(errno));
    }
out:
    if (cr) cairo_destroy(cr);
    if (sf) cairo_surface_destroy(sf);
    if (db) sqlite3_close(db);
    series_free(&loss);
    series_free(&val);
    return rc;
}
