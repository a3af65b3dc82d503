/*
 * train_plot.c - a run's learning curve as a PNG (cairo), from the numbers
 * in RUN/run.sqlite (sam_train_plot, sf_model.h): top panel the per-step
 * training loss (raw, light, and the mean of the last 100 steps, dark: the
 * loss the trainer prints), bottom
 * panel the validation Dice after each epoch, on the same step axis, with the
 * best one (the checkpoint kept as best.pth) marked. The trainer writes
 * RUN/curve.png after every validation; the report (harness) draws the
 * same figure for each run.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_model.h"
#include "sf_plot.h"

typedef struct series {
  double *x, *y;
  long n, cap;
} series;

static int series_push(series* s, double x, double y) {
  if (s->n == s->cap) {
    long cap = s->cap ? 2 * s->cap : 1024;
    double* nx = realloc(s->x, (size_t)cap * sizeof *nx);
    if (!nx)
      return SF_ENOMEM;
    s->x = nx;
    double* ny = realloc(s->y, (size_t)cap * sizeof *ny);
    if (!ny)
      return SF_ENOMEM;
    s->y = ny;
    s->cap = cap;
  }
  s->x[s->n] = x;
  s->y[s->n] = y;
  s->n++;
  return SF_OK;
}

static void series_free(series* s) {
  free(s->x);
  free(s->y);
}

static int read_series(
    sqlite3* db,
    const char* sql,
    series* s,
    const char* path,
    sf_err* err) {
  sqlite3_stmt* st = NULL;
  int rc = SF_OK;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return sf_err_set(err, SF_EDB, "%s: %s", path, sqlite3_errmsg(db));
  while (rc == SF_OK && sqlite3_step(st) == SQLITE_ROW)
    if (sqlite3_column_type(st, 1) != SQLITE_NULL)
      rc = series_push(
          s, sqlite3_column_double(st, 0), sqlite3_column_double(st, 1));
  sqlite3_finalize(st);
  if (rc)
    sf_err_set(err, rc, "out of memory");
  return rc;
}

/* Step ticks and labels under a panel (both panels share the step axis). */
static void draw_step_axis(cairo_t* cr, const sf_plot_frame* f) {
  char buf[32];
  double xs = sf_plot_nice_step(f->x1 - f->x0, 8);
  cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
  for (double x = ceil(f->x0 / xs) * xs; x <= f->x1 + 1e-9; x += xs) {
    snprintf(buf, sizeof buf, "%.0f", x);
    sf_plot_text(cr, sf_plot_fx(f, x), f->y + f->h + 15, 11, 0.5, buf);
  }
  sf_plot_text(cr, f->x + f->w / 2, f->y + f->h + 32, 12, 0.5, "step");
}

/* Top panel: raw loss (light) and its moving average (dark). */
static void draw_loss(
    cairo_t* cr,
    const series* loss,
    double x0,
    double x1,
    int W) {
  char buf[200];
  double lmax = 0;
  for (long i = 0; i < loss->n; i++)
    if (isfinite(loss->y[i]) && loss->y[i] > lmax)
      lmax = loss->y[i];
  sf_plot_frame f = {
      70, 58, W - 70 - 24, 262, x0, x1, 0, lmax > 1 ? lmax * 1.05 : 1};
  sf_plot_draw_frame(cr, &f, "loss", "%.2f");
  draw_step_axis(cr, &f);
  cairo_save(cr);
  cairo_rectangle(cr, f.x, f.y, f.w, f.h);
  cairo_clip(cr);
  cairo_new_path(cr);
  cairo_set_line_width(cr, 0.8);
  cairo_set_source_rgba(cr, 0.34, 0.71, 0.91, 0.45);
  for (long i = 0; i < loss->n; i++) {
    double y = isfinite(loss->y[i]) ? fmin(loss->y[i], f.y1) : f.y1;
    cairo_line_to(cr, sf_plot_fx(&f, loss->x[i]), sf_plot_fy(&f, y));
  }
  cairo_stroke(cr);
  /* The trailing mean of the last <= SAM_TRAIN_LOSS_WINDOW finite
   * losses: the loss the trainer prints (train.h), so the line's end is
   * the number on the last progress line. */
  double sum = 0, mean = NAN;
  long n_in = 0, j = 0;
  cairo_set_line_width(cr, 2);
  cairo_set_source_rgb(cr, 0.0, 0.35, 0.62);
  for (long i = 0; i < loss->n; i++) {
    if (isfinite(loss->y[i]))
      sum += loss->y[i], n_in++;
    for (; loss->x[i] - loss->x[j] >= SAM_TRAIN_LOSS_WINDOW; j++)
      if (isfinite(loss->y[j]))
        sum -= loss->y[j], n_in--;
    if (!n_in)
      continue;
    mean = sum / (double)n_in;
    cairo_line_to(cr, sf_plot_fx(&f, loss->x[i]), sf_plot_fy(&f, mean));
  }
  cairo_stroke(cr);
  cairo_restore(cr);
  snprintf(
      buf,
      sizeof buf,
      "loss per step (light) and the mean of the last %d steps (dark); "
      "final %.4f",
      SAM_TRAIN_LOSS_WINDOW,
      mean);
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  sf_plot_text(cr, f.x, f.y - 7, 11, 0, buf);
}

/* Bottom panel: validation Dice after each epoch, at the step it was
 * measured (the loss panel's x axis, so the two line up), best marked. */
static void draw_val(
    cairo_t* cr,
    const series* val,
    double x0,
    double x1,
    int W) {
  char buf[200];
  sf_plot_frame f = {70, 398, W - 70 - 24, 142, x0, x1, 0, 1};
  sf_plot_draw_frame(cr, &f, "val. Dice", "%.1f");
  draw_step_axis(cr, &f);
  if (!val->n) {
    sf_plot_text(
        cr,
        f.x + f.w / 2,
        f.y + f.h / 2,
        12,
        0.5,
        "no validation epochs recorded");
    return;
  }
  long best = 0;
  for (long i = 0; i < val->n; i++)
    if (val->y[i] > val->y[best])
      best = i;
  cairo_set_line_width(cr, 2);
  cairo_set_source_rgb(cr, 0.84, 0.37, 0.0);
  cairo_new_path(cr); /* show_text left a current point at the label */
  for (long i = 0; i < val->n; i++)
    cairo_line_to(cr, sf_plot_fx(&f, val->x[i]), sf_plot_fy(&f, val->y[i]));
  cairo_stroke(cr);
  for (long i = 0; i < val->n; i++) {
    cairo_arc(
        cr,
        sf_plot_fx(&f, val->x[i]),
        sf_plot_fy(&f, val->y[i]),
        i == best ? 5.5 : 3,
        0,
        2 * M_PI);
    cairo_fill(cr);
  }
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  snprintf(
      buf,
      sizeof buf,
      "validation Dice after each epoch; best %.4f at step %.0f (large "
      "dot: the checkpoint kept as best.pth)",
      val->y[best],
      val->x[best]);
  sf_plot_text(cr, f.x, f.y - 7, 11, 0, buf);
}

int sam_train_plot(const char* run_dir, const char* png_path, sf_err* err) {
  char path[4200], buf[4300];
  snprintf(path, sizeof path, "%s/run.sqlite", run_dir);
  sqlite3* db = NULL;
  series loss = {0}, val = {0};
  sf_plot pl = {0};
  int rc = SF_OK;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    rc = sf_err_set(err, SF_EIO, "%s: cannot open", path);
    goto out;
  }
  if ((rc = read_series(
           db,
           "SELECT step, loss FROM steps ORDER BY step",
           &loss,
           path,
           err)) ||
      (rc = read_series(
           db,
           "SELECT step, val_dice FROM epochs ORDER BY step",
           &val,
           path,
           err)))
    goto out;
  if (loss.n == 0) {
    rc = sf_err_set(err, SF_EFORMAT, "%s: no training steps recorded", path);
    goto out;
  }
  const int W = 820, H = 600;
  if (sf_plot_open(&pl, W, H)) {
    rc = sf_err_set(err, SF_ENOMEM, "cairo: out of memory");
    goto out;
  }
  cairo_t* cr = pl.cr;
  cairo_select_font_face(
      cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
  snprintf(buf, sizeof buf, "Training run %s", run_dir);
  cairo_set_source_rgb(cr, 0, 0, 0);
  sf_plot_text(cr, 12, 22, 14, 0, buf);
  cairo_select_font_face(
      cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  /* the steps' range, shared by both panels (one step: a unit range) */
  double x0 = loss.x[0], x1 = fmax(loss.x[loss.n - 1], x0 + 1);
  draw_loss(cr, &loss, x0, x1, W);
  draw_val(cr, &val, x0, x1, W);
  if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
    rc = sf_err_set(
        err,
        SF_ENOMEM,
        "%s: cairo: %s",
        png_path,
        cairo_status_to_string(cairo_status(cr)));
    goto out;
  }
  rc = sf_plot_save(&pl, png_path, err);
out:
  sf_plot_close(&pl);
  if (db)
    sqlite3_close(db);
  series_free(&loss);
  series_free(&val);
  return rc;
}
