/*
 * train_plot.c - a run's learning curve as a PNG (cairo), from the numbers
 * in RUN/run.sqlite (model/train.h): top panel the per-step training loss
 * (raw, light, and an exponential moving average, dark), bottom panel the
 * validation Dice after each epoch, on the same step axis, with the best
 * one (the checkpoint kept as best.pth) marked. The trainer writes
 * RUN/curve.png after every validation; the report (harness) draws the
 * same figure for each run.
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

/* Text anchored at (x, y): ax 0 left, 0.5 centre, 1 right (baseline y). */
static void text(cairo_t *cr, double x, double y, double size, double ax,
                 const char *s) {
    cairo_text_extents_t e;
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * (e.width + e.x_bearing), y);
    cairo_show_text(cr, s);
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) for a range. */
static double nice_step(double range, int n) {
    double raw = range / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return p * (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10);
}

/* A plot panel: its box in pixels and the data range it shows. */
typedef struct frame {
    double x, y, w, h;
    double x0, x1, y0, y1;
} frame;

static double fx(const frame *f, double v) {
    return f->x + (v - f->x0) / (f->x1 - f->x0) * f->w;
}
static double fy(const frame *f, double v) {
    return f->y + f->h - (v - f->y0) / (f->y1 - f->y0) * f->h;
}

/* Box, horizontal grid, y tick labels and the rotated y label. */
static void draw_frame(cairo_t *cr, const frame *f, const char *ylabel,
                       const char *yfmt) {
    char buf[64];
    double step = nice_step(f->y1 - f->y0, 5);
    cairo_set_line_width(cr, 1);
    for (double v = ceil(f->y0 / step) * step; v <= f->y1 + 1e-9; v += step) {
        double y = floor(fy(f, v)) + 0.5;
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, f->x, y);
        cairo_line_to(cr, f->x + f->w, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(buf, sizeof buf, yfmt, v);
        text(cr, f->x - 6, y + 4, 11, 1, buf);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_rectangle(cr, floor(f->x) + 0.5, floor(f->y) + 0.5, f->w, f->h);
    cairo_stroke(cr);
    cairo_save(cr);
    cairo_translate(cr, 16, f->y + f->h / 2);
    cairo_rotate(cr, -M_PI / 2);
    text(cr, 0, 0, 12, 0.5, ylabel);
    cairo_restore(cr);
}

/* Step ticks and labels under a panel (both panels share the step axis). */
static void draw_step_axis(cairo_t *cr, const frame *f) {
    char buf[32];
    double xs = nice_step(f->x1 - f->x0, 8);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    for (double x = ceil(f->x0 / xs) * xs; x <= f->x1 + 1e-9; x += xs) {
        snprintf(buf, sizeof buf, "%.0f", x);
        text(cr, fx(f, x), f->y + f->h + 15, 11, 0.5, buf);
    }
    text(cr, f->x + f->w / 2, f->y + f->h + 32, 12, 0.5, "step");
}

/* Top panel: raw loss (light) and its moving average (dark). */
static void draw_loss(cairo_t *cr, const series *loss, double x0, double x1,
                      int W) {
    char buf[200];
    double lmax = 0;
    for (long i = 0; i < loss->n; i++)
        if (isfinite(loss->y[i]) && loss->y[i] > lmax) lmax = loss->y[i];
    frame f = {70, 58, W - 70 - 24, 262, x0, x1, 0,
               lmax > 1 ? lmax * 1.05 : 1};
    draw_frame(cr, &f, "loss", "%.2f");
    draw_step_axis(cr, &f);
    cairo_save(cr);
    cairo_rectangle(cr, f.x, f.y, f.w, f.h);
    cairo_clip(cr);
    cairo_new_path(cr);
    cairo_set_line_width(cr, 0.8);
    cairo_set_source_rgba(cr, 0.34, 0.71, 0.91, 0.45);
    for (long i = 0; i < loss->n; i++) {
        double y = isfinite(loss->y[i]) ? fmin(loss->y[i], f.y1) : f.y1;
        cairo_line_to(cr, fx(&f, loss->x[i]), fy(&f, y));
    }
    cairo_stroke(cr);
    /* EMA, span ~ n/40 steps (at least 5); non-finite losses skipped */
    double span = fmax(5, (double)loss->n / 40), a = 2 / (span + 1), ema = NAN;
    cairo_set_line_width(cr, 2);
    cairo_set_source_rgb(cr, 0.0, 0.35, 0.62);
    for (long i = 0; i < loss->n; i++) {
        if (!isfinite(loss->y[i])) continue;
        ema = isnan(ema) ? loss->y[i] : a * loss->y[i] + (1 - a) * ema;
        cairo_line_to(cr, fx(&f, loss->x[i]), fy(&f, ema));
    }
    cairo_stroke(cr);
    cairo_restore(cr);
    snprintf(buf, sizeof buf,
             "per-step loss (light) and its moving average (dark, span %.0f "
             "steps); final average %.4f",
             span, ema);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, f.x, f.y - 7, 11, 0, buf);
}

/* Bottom panel: validation Dice after each epoch, at the step it was
 * measured (the loss panel's x axis, so the two line up), best marked. */
static void draw_val(cairo_t *cr, const series *val, double x0, double x1,
                     int W) {
    char buf[200];
    frame f = {70, 398, W - 70 - 24, 142, x0, x1, 0, 1};
    draw_frame(cr, &f, "val. Dice", "%.1f");
    draw_step_axis(cr, &f);
    if (!val->n) {
        text(cr, f.x + f.w / 2, f.y + f.h / 2, 12, 0.5,
             "no validation epochs recorded");
        return;
    }
    long best = 0;
    for (long i = 0; i < val->n; i++)
        if (val->y[i] > val->y[best]) best = i;
    cairo_set_line_width(cr, 2);
    cairo_set_source_rgb(cr, 0.84, 0.37, 0.0);
    cairo_new_path(cr); /* show_text left a current point at the label */
    for (long i = 0; i < val->n; i++)
        cairo_line_to(cr, fx(&f, val->x[i]), fy(&f, val->y[i]));
    cairo_stroke(cr);
    for (long i = 0; i < val->n; i++) {
        cairo_arc(cr, fx(&f, val->x[i]), fy(&f, val->y[i]),
                  i == best ? 5.5 : 3, 0, 2 * M_PI);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    snprintf(buf, sizeof buf,
             "validation Dice after each epoch; best %.4f at step %.0f (large "
             "dot: the checkpoint kept as best.pth)",
             val->y[best], val->x[best]);
    text(cr, f.x, f.y - 7, 11, 0, buf);
}

int sam_train_plot(const char *run_dir, const char *png_path, sf_err *err) {
    char path[4200], tmp[4200], buf[4300];
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
    const int W = 820, H = 600;
    sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cr = cairo_create(sf);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        rc = sf_err_set(err, SF_ENOMEM, "cairo: out of memory");
        goto out;
    }
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_BOLD);
    snprintf(buf, sizeof buf, "Training run %s", run_dir);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text(cr, 12, 22, 14, 0, buf);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    /* the steps' range, shared by both panels (one step: a unit range) */
    double x0 = loss.x[0], x1 = fmax(loss.x[loss.n - 1], x0 + 1);
    draw_loss(cr, &loss, x0, x1, W);
    draw_val(cr, &val, x0, x1, W);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: cairo: %s", png_path,
                        cairo_status_to_string(cairo_status(cr)));
        goto out;
    }
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
