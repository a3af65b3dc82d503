/*
 * plot.c - the cairo kit (sf_plot.h) shared by the contact sheet, the
 * learning curve and the report's box plots.
 */
#include "sf_plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int sf_plot_open(sf_plot *p, int w, int h) {
    p->sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    p->cr = cairo_create(p->sf);
    if (cairo_status(p->cr) != CAIRO_STATUS_SUCCESS) return SF_ENOMEM;
    cairo_set_source_rgb(p->cr, 1, 1, 1);
    cairo_paint(p->cr);
    cairo_select_font_face(p->cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    return SF_OK;
}

int sf_plot_save(sf_plot *p, const char *path, sf_err *err) {
    char tmp[4200];
    cairo_surface_flush(p->sf);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cairo_status_t s = cairo_surface_write_to_png(p->sf, tmp);
    if (s != CAIRO_STATUS_SUCCESS) {
        remove(tmp);
        return sf_err_set(err, SF_EIO, "%s: cairo: %s", path,
                          cairo_status_to_string(s));
    }
    if (rename(tmp, path))
        return sf_err_set(err, SF_EIO, "%s: %s", path, strerror(errno));
    return SF_OK;
}

void sf_plot_close(sf_plot *p) {
    if (!p) return;
    if (p->cr) cairo_destroy(p->cr);
    if (p->sf) cairo_surface_destroy(p->sf);
    p->cr = NULL;
    p->sf = NULL;
}

void sf_plot_text(cairo_t *cr, double x, double y, double size, double ax,
                  const char *s) {
    cairo_text_extents_t e;
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * (e.width + e.x_bearing), y);
    cairo_show_text(cr, s);
}

double sf_plot_nice_step(double range, int n) {
    double raw = range / (n > 0 ? n : 1), p = pow(10, floor(log10(raw)));
    double f = raw / p;
    return p * (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10);
}

double sf_plot_fx(const sf_plot_frame *f, double v) {
    return f->x + (v - f->x0) / (f->x1 - f->x0) * f->w;
}

double sf_plot_fy(const sf_plot_frame *f, double v) {
    return f->y + f->h - (v - f->y0) / (f->y1 - f->y0) * f->h;
}

void sf_plot_draw_frame(cairo_t *cr, const sf_plot_frame *f, const char *ylabel,
                        const char *yfmt) {
    char buf[64];
    double step = sf_plot_nice_step(f->y1 - f->y0, 5);
    cairo_set_line_width(cr, 1);
    for (double v = ceil(f->y0 / step) * step; v <= f->y1 + 1e-9; v += step) {
        double y = floor(sf_plot_fy(f, v)) + 0.5;
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, f->x, y);
        cairo_line_to(cr, f->x + f->w, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(buf, sizeof buf, yfmt, v);
        sf_plot_text(cr, f->x - 6, y + 4, 11, 1, buf);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_rectangle(cr, floor(f->x) + 0.5, floor(f->y) + 0.5, f->w, f->h);
    cairo_stroke(cr);
    cairo_save(cr);
    cairo_translate(cr, 16, f->y + f->h / 2);
    cairo_rotate(cr, -M_PI / 2);
    sf_plot_text(cr, 0, 0, 12, 0.5, ylabel);
    cairo_restore(cr);
}
