/*
 * gallery.c - contact sheets of evaluated units (`synthfm eval
 * --gallery N`): each tile is the slice as the method saw it (after the
 * dataset's preprocessing), the ground-truth outline (green), the
 * predicted outline (red), the clicks (positive: green dot, negative: red
 * ring), the zoom predictor's chosen view (yellow, when it used one) and
 * the unit's Dice. Rows are the worst, median and best units of a run.
 */
#include "eval_int.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_plot.h"

enum { TILE = 224, PAD = 6, CAP = 30, HEAD = 34, LEFT = 70 };

/* Pixels of mask m on its boundary (a 4-neighbour outside or the image
 * edge) painted with rgb into the ARGB32 buffer (stride in uint32s). */
static void outline(uint32_t *px, int stride, const uint8_t *m, int nx, int ny,
                    double scale, uint32_t rgb) {
    int tw = (int)(nx * scale), th = (int)(ny * scale);
    for (int ty = 0; ty < th; ty++)
        for (int tx = 0; tx < tw; tx++) {
            int x = (int)(tx / scale), y = (int)(ty / scale);
            if (x >= nx || y >= ny || !m[(size_t)y * nx + x]) continue;
            /* tile pixels whose source neighbour (one tile pixel away)
             * is outside: a 1-px line at any scale */
            int xs[4] = {(int)((tx - 1) / scale), (int)((tx + 1) / scale), x,
                         x};
            int ys[4] = {y, y, (int)((ty - 1) / scale),
                         (int)((ty + 1) / scale)};
            int edge = tx == 0 || ty == 0 || tx == tw - 1 || ty == th - 1;
            for (int k = 0; k < 4 && !edge; k++)
                edge = xs[k] < 0 || ys[k] < 0 || xs[k] >= nx || ys[k] >= ny ||
                       !m[(size_t)ys[k] * nx + xs[k]];
            if (edge) px[(size_t)ty * stride + tx] = 0xFF000000u | rgb;
        }
}

static void tile_draw(cairo_t *cr, const hx__tile *t, double x0, double y0) {
    double scale = fmin((double)TILE / t->nx, (double)TILE / t->ny);
    int tw = (int)(t->nx * scale), th = (int)(t->ny * scale);
    if (tw < 1 || th < 1) return;
    cairo_surface_t *s =
        cairo_image_surface_create(CAIRO_FORMAT_ARGB32, tw, th);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) return;
    cairo_surface_flush(s);
    uint32_t *px = (uint32_t *)cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s) / 4;
    for (int ty = 0; ty < th; ty++)
        for (int tx = 0; tx < tw; tx++) {
            int x = (int)(tx / scale), y = (int)(ty / scale);
            uint32_t g = t->image[(size_t)y * t->nx + x];
            px[(size_t)ty * stride + tx] = 0xFF000000u | g << 16 | g << 8 | g;
        }
    outline(px, stride, t->gt, t->nx, t->ny, scale, 0x00E040u);
    outline(px, stride, t->pred, t->nx, t->ny, scale, 0xFF3030u);
    cairo_surface_mark_dirty(s);
    double ox = x0 + (TILE - tw) / 2.0, oy = y0 + (TILE - th) / 2.0;
    cairo_set_source_surface(cr, s, ox, oy);
    cairo_paint(cr);
    cairo_surface_destroy(s);
    if (t->view[2] > 0 && (t->view[2] < t->nx || t->view[3] < t->ny)) {
        cairo_set_source_rgb(cr, 1, 0.85, 0.1);
        cairo_set_line_width(cr, 1.5);
        cairo_new_path(cr);
        cairo_rectangle(cr, ox + t->view[0] * scale, oy + t->view[1] * scale,
                        t->view[2] * scale, t->view[3] * scale);
        cairo_stroke(cr);
    }
    for (int i = 0; i < t->n_clicks; i++) {
        double cx = ox + (t->clicks[i].x + 0.5) * scale,
               cy = oy + (t->clicks[i].y + 0.5) * scale;
        cairo_new_path(cr); /* no line from the last text's point */
        cairo_arc(cr, cx, cy, 3.5, 0, 2 * M_PI);
        if (t->clicks[i].positive) {
            cairo_set_source_rgb(cr, 0.2, 1, 0.3);
            cairo_fill_preserve(cr);
            cairo_set_source_rgb(cr, 0, 0, 0);
        } else {
            cairo_set_source_rgb(cr, 1, 0.2, 0.2);
        }
        cairo_set_line_width(cr, 1.5);
        cairo_stroke(cr);
    }
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    char dl[32];
    snprintf(dl, sizeof dl, "Dice %.3f", t->dice);
    sf_plot_text(cr, x0, y0 + TILE + 12, 11, 0, dl);
    sf_plot_text(cr, x0, y0 + TILE + 24, 9, 0, t->caption);
}

int hx__gallery_draw(const char *path, const char *title,
                     const char *const *row_names, int rows, int cols,
                     const hx__tile *tiles, sf_err *err) {
    int w = LEFT + cols * (TILE + PAD) + PAD;
    int h = HEAD + rows * (TILE + CAP + PAD) + PAD;
    sf_plot p;
    if (sf_plot_open(&p, w, h) != SF_OK) {
        sf_plot_close(&p);
        return sf_err_set(err, SF_ENOMEM, "%s: cairo surface", path);
    }
    cairo_t *cr = p.cr;
    cairo_set_source_rgb(cr, 0, 0, 0);
    sf_plot_text(cr, PAD, 20, 14, 0, title);
    sf_plot_text(cr, PAD, 31, 10, 0,
                 "green: ground truth, red: prediction, dots: positive "
                 "clicks, rings: negative, yellow: zoom view");
    for (int r = 0; r < rows; r++) {
        double y0 = HEAD + r * (TILE + CAP + PAD);
        cairo_set_source_rgb(cr, 0, 0, 0);
        sf_plot_text(cr, PAD, y0 + TILE / 2.0, 13, 0, row_names[r]);
        for (int c = 0; c < cols; c++) {
            const hx__tile *t = &tiles[r * cols + c];
            if (t->image) tile_draw(cr, t, LEFT + c * (TILE + PAD), y0);
        }
    }
    int rc = sf_plot_save(&p, path, err);
    sf_plot_close(&p);
    return rc;
}
