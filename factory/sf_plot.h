/*
 * sf_plot.h - the small cairo kit behind every figure of synthfm: the
 * corpus contact sheet (factory/publish.c), a training run's learning curve
 * (model/train_plot.c) and the report's box plots (harness/report_plot.c).
 * A white canvas written as PNG through a temporary name, anchored text,
 * "nice" tick steps, and a plot frame (box, horizontal grid, y ticks and a
 * rotated y label). Text uses the installed "DejaVu Sans" (or its
 * fontconfig substitute). Public (libsf); drawing calls never fail on their
 * own: cairo keeps an error state that sf_plot_save reports.
 */
#ifndef SF_PLOT_H
#define SF_PLOT_H

#include <cairo.h>

#include "sf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A canvas: an RGB24 image surface and its context. */
typedef struct sf_plot {
    cairo_surface_t *sf;
    cairo_t *cr;
} sf_plot;

/* A w x h canvas painted white, font "DejaVu Sans" (normal weight).
 * SF_ENOMEM when cairo could not make it (close it anyway). */
int sf_plot_open(sf_plot *p, int w, int h);
/* Write the canvas as PNG to path through path.tmp + rename: SF_EIO
 * "PATH: cairo: ..." or "PATH: <strerror>". */
int sf_plot_save(sf_plot *p, const char *path, sf_err *err);
/* Destroy the context and surface; NULL and a closed canvas allowed. */
void sf_plot_close(sf_plot *p);

/* Text of the current font at `size` anchored at (x, y): ax 0 left, 0.5
 * centre, 1 right of the ink; y is the baseline. Leaves the current point
 * after the text. */
void sf_plot_text(cairo_t *cr, double x, double y, double size, double ax,
                  const char *s);

/* A "nice" tick step for `range` split in about n parts: 1, 2 or 5 times a
 * power of ten. */
double sf_plot_nice_step(double range, int n);

/* A plot panel: its box in pixels and the data range it shows. */
typedef struct sf_plot_frame {
    double x, y, w, h;     /* pixels */
    double x0, x1, y0, y1; /* data */
} sf_plot_frame;

/* Pixel column / row of a data value. */
double sf_plot_fx(const sf_plot_frame *f, double v);
double sf_plot_fy(const sf_plot_frame *f, double v);

/* The frame's box, horizontal grid lines at nice steps of the y range with
 * their labels (printf format yfmt, one double) left of the box, and
 * ylabel rotated at the left edge of the canvas. */
void sf_plot_draw_frame(cairo_t *cr, const sf_plot_frame *f, const char *ylabel,
                        const char *yfmt);

#ifdef __cplusplus
}
#endif
#endif /* SF_PLOT_H */
