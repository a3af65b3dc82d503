/*
 * report_plot.c - the report's figures, drawn with cairo: per-structure box
 * plots of per-slice Dice (the method's Figure 2). A run's training curve is
 * the trainer's own figure (sam_train_plot, model/train_plot.c).
 * Text uses the installed "DejaVu Sans" (or its fontconfig substitute).
 */
#include "report_int.h"
#include "sf_plot.h"

#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hx_strings_free(char **v, int n) {
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* Method colours (colour-blind safe, Okabe-Ito), cycled. */
static const double palette[][3] = {{0.00, 0.45, 0.70}, {0.90, 0.62, 0.00},
                                    {0.00, 0.62, 0.45}, {0.80, 0.47, 0.65},
                                    {0.34, 0.71, 0.91}, {0.84, 0.37, 0.00},
                                    {0.94, 0.89, 0.26}, {0.35, 0.35, 0.35}};
#define N_PALETTE (int)(sizeof palette / sizeof *palette)

/* --------------------------------------------------------------- boxes */

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile "linear" on sorted v[0..n-1]. */
static double quant(const double *v, size_t n, double q) {
    double h = (double)(n - 1) * q;
    size_t i = (size_t)floor(h);
    if (i + 1 >= n) return v[n - 1];
    return v[i] + (v[i + 1] - v[i]) * (h - (double)i);
}

static void draw_box(cairo_t *cr, const sf_plot_frame *f, double cx, double bw,
                     double *v, size_t n, const double rgb[3]) {
    qsort(v, n, sizeof *v, cmp_dbl);
    double q1 = quant(v, n, 0.25), med = quant(v, n, 0.5),
           q3 = quant(v, n, 0.75), iqr = q3 - q1, mean = 0;
    double lo = q1, hi = q3;
    for (size_t i = 0; i < n; i++) {
        mean += v[i];
        if (v[i] >= q1 - 1.5 * iqr && v[i] < lo) lo = v[i];
        if (v[i] <= q3 + 1.5 * iqr && v[i] > hi) hi = v[i];
    }
    mean /= (double)n;
    cairo_set_line_width(cr, 1.2);
    /* whiskers */
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_move_to(cr, cx, sf_plot_fy(f, hi));
    cairo_line_to(cr, cx, sf_plot_fy(f, q3));
    cairo_move_to(cr, cx, sf_plot_fy(f, q1));
    cairo_line_to(cr, cx, sf_plot_fy(f, lo));
    cairo_move_to(cr, cx - bw / 4, sf_plot_fy(f, hi));
    cairo_line_to(cr, cx + bw / 4, sf_plot_fy(f, hi));
    cairo_move_to(cr, cx - bw / 4, sf_plot_fy(f, lo));
    cairo_line_to(cr, cx + bw / 4, sf_plot_fy(f, lo));
    cairo_stroke(cr);
    /* box */
    double ytop = sf_plot_fy(f, q3), ybot = sf_plot_fy(f, q1);
    if (ybot - ytop < 1.5) ytop = ybot - 1.5;
    cairo_rectangle(cr, cx - bw / 2, ytop, bw, ybot - ytop);
    cairo_set_source_rgba(cr, rgb[0], rgb[1], rgb[2], 0.55);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, rgb[0] * 0.6, rgb[1] * 0.6, rgb[2] * 0.6);
    cairo_stroke(cr);
    /* median */
    cairo_set_line_width(cr, 2);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_move_to(cr, cx - bw / 2, sf_plot_fy(f, med));
    cairo_line_to(cr, cx + bw / 2, sf_plot_fy(f, med));
    cairo_stroke(cr);
    /* outliers */
    cairo_set_line_width(cr, 1);
    for (size_t i = 0; i < n; i++)
        if (v[i] < lo || v[i] > hi) {
            cairo_arc(cr, cx, sf_plot_fy(f, v[i]), 2.2, 0, 2 * M_PI);
            cairo_set_source_rgb(cr, rgb[0] * 0.6, rgb[1] * 0.6, rgb[2] * 0.6);
            cairo_stroke(cr);
        }
    /* mean: a white diamond */
    double my = sf_plot_fy(f, mean), d = 3.5;
    cairo_move_to(cr, cx, my - d);
    cairo_line_to(cr, cx + d, my);
    cairo_line_to(cr, cx, my + d);
    cairo_line_to(cr, cx - d, my);
    cairo_close_path(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_stroke(cr);
}

/* File-name-safe copy of s. */
static void safe_name(const char *s, char *buf, size_t n) {
    size_t k = 0;
    for (; *s && k + 1 < n; s++)
        buf[k++] = ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_')
                       ? *s
                       : '_';
    buf[k] = '\0';
}

/* A method's place among all methods of the database (the config's Table
 * 1 order, then by name): its colour, the same in every figure. */
static int method_rank(const hx_scores *r, int me) {
    int pm = hx__strs_find(&r->cfg->t1_methods, r->method.s.v[me]), rank = 0;
    for (int o = 0; o < r->method.s.n; o++) {
        if (o == me) continue;
        int po = hx__strs_find(&r->cfg->t1_methods, r->method.s.v[o]);
        if (po >= 0 && (pm < 0 || po < pm))
            rank++;
        else if (po < 0 && pm < 0 &&
                 strcmp(r->method.s.v[o], r->method.s.v[me]) < 0)
            rank++;
    }
    return rank;
}

/* One figure: modality mo, structure st (rows r->rows[b..e) hold exactly
 * that pair). */
static int box_figure(const hx_scores *r, size_t b, size_t e, const char *path,
                      sf_err *err) {
    int rc = SF_OK;
    sf_plot c = {0};
    const hx__row *w0 = &r->rows[b];
    int nm = r->method.s.n, ns = r->setting.s.n;
    unsigned char *has_m = calloc((size_t)nm, 1),
                  *has_s = calloc((size_t)ns, 1);
    int *morder = malloc((size_t)nm * sizeof *morder),
        *sorder = malloc((size_t)ns * sizeof *sorder);
    double *v = malloc((e - b) * sizeof *v);
    if (!has_m || !has_s || !morder || !sorder || !v) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    for (size_t i = b; i < e; i++)
        has_m[r->rows[i].method] = has_s[r->rows[i].setting] = 1;
    /* Order: settings as configured, then the rest; methods by table 1's
     * configured order, then by name. */
    int kS = 0, kM = 0;
    for (int i = 0; i < r->cfg->settings.n; i++) {
        int se = hx__intern_find(&r->setting, r->cfg->settings.v[i]);
        if (se >= 0 && has_s[se]) {
            sorder[kS++] = se;
            has_s[se] = 2;
        }
    }
    for (int se = 0; se < ns; se++)
        if (has_s[se] == 1) sorder[kS++] = se;
    for (int i = 0; i < r->cfg->t1_methods.n; i++) {
        int me = hx__intern_find(&r->method, r->cfg->t1_methods.v[i]);
        if (me >= 0 && has_m[me]) {
            morder[kM++] = me;
            has_m[me] = 2;
        }
    }
    int first_rest = kM;
    for (int me = 0; me < nm; me++)
        if (has_m[me] == 1) morder[kM++] = me;
    for (int i = first_rest; i < kM; i++) /* by name */
        for (int j = i + 1; j < kM; j++)
            if (strcmp(r->method.s.v[morder[j]], r->method.s.v[morder[i]]) <
                0) {
                int t = morder[i];
                morder[i] = morder[j];
                morder[j] = t;
            }
    double bw = 22, gap = 8, group = kM * (bw + gap) + 28;
    int W = (int)fmax(560, 70 + 20 + kS * group), H = 452;
    if ((rc = sf_plot_open(&c, W, H))) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: cairo: out of memory", path);
        goto out;
    }
    cairo_t *cr = c.cr;
    sf_plot_frame f = {70, 56, W - 70 - 20, H - 56 - 88, 0, (double)kS, 0, 1};
    sf_plot_draw_frame(cr, &f, "per-slice Dice", "%.1f");
    char buf[256];
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_BOLD);
    snprintf(buf, sizeof buf, "%s, %s: per-slice Dice",
             r->modality.s.v[w0->modality], r->structure.s.v[w0->structure]);
    sf_plot_text(cr, 12, 22, 14, 0, buf);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    /* Legend, one line under the title. */
    double lx = 12;
    for (int k = 0; k < kM; k++) {
        const double *rgb = palette[method_rank(r, morder[k]) % N_PALETTE];
        cairo_rectangle(cr, lx, 32, 12, 12);
        cairo_set_source_rgba(cr, rgb[0], rgb[1], rgb[2], 0.55);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, rgb[0] * 0.6, rgb[1] * 0.6, rgb[2] * 0.6);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        cairo_text_extents_t te;
        cairo_set_font_size(cr, 12);
        cairo_text_extents(cr, r->method.s.v[morder[k]], &te);
        sf_plot_text(cr, lx + 16, 43, 12, 0, r->method.s.v[morder[k]]);
        lx += 16 + te.x_advance + 18;
    }
    for (int s = 0; s < kS; s++) {
        double gx0 = sf_plot_fx(&f, s), gx1 = sf_plot_fx(&f, s + 1);
        double left = (gx0 + gx1) / 2 - (kM * (bw + gap) - gap) / 2;
        for (int k = 0; k < kM; k++) {
            size_t n = 0;
            for (size_t i = b; i < e; i++)
                if (r->rows[i].setting == sorder[s] &&
                    r->rows[i].method == morder[k])
                    v[n++] = r->rows[i].dice;
            double cx = left + k * (bw + gap) + bw / 2;
            cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
            if (!n) {
                sf_plot_text(cr, cx, sf_plot_fy(&f, 0.5), 9, 0.5, "n/a");
            } else
                draw_box(cr, &f, cx, bw, v, n,
                         palette[method_rank(r, morder[k]) % N_PALETTE]);
            cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
            snprintf(buf, sizeof buf, "%zu", n);
            sf_plot_text(cr, cx, f.y + f.h + 13, 9, 0.5, buf);
        }
        char slab[32];
        snprintf(slab, sizeof slab, "%s", r->setting.s.v[sorder[s]]);
        char *cm = strchr(slab, ',');
        if (cm) *cm = '+';
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        snprintf(buf, sizeof buf, "%s clicks", slab);
        sf_plot_text(cr, (gx0 + gx1) / 2, f.y + f.h + 32, 12, 0.5, buf);
        if (s > 0) {
            cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
            cairo_move_to(cr, floor(gx0) + 0.5, f.y);
            cairo_line_to(cr, floor(gx0) + 0.5, f.y + f.h);
            cairo_stroke(cr);
        }
    }
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    sf_plot_text(
        cr, 12, H - 22, 10, 0,
        "box: quartiles; bar: median; diamond: mean; whiskers: 1.5 IQR;");
    sf_plot_text(
        cr, 12, H - 9, 10, 0,
        "circles: outliers; numbers: slices; P+N: positive+negative clicks");
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: cairo: %s", path,
                        cairo_status_to_string(cairo_status(cr)));
        goto out;
    }
    rc = sf_plot_save(&c, path, err);
out:
    sf_plot_close(&c);
    free(has_m);
    free(has_s);
    free(morder);
    free(sorder);
    free(v);
    return rc;
}

typedef struct block {
    size_t b, e;
    int rank; /* modality's place in the config, else after them */
    const char *modality, *structure;
} block;

static int cmp_block(const void *pa, const void *pb) {
    const block *a = pa, *b = pb;
    if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
    int c = strcmp(a->modality, b->modality);
    return c ? c : strcmp(a->structure, b->structure);
}

int hx_plot_boxes(const hx_scores *r, const char *dir, char ***names,
                  int *n_names, sf_err *err) {
    if (!r || !dir || !names || !n_names)
        return sf_err_set(err, SF_EINVAL, "hx_plot_boxes: NULL argument");
    *names = NULL;
    *n_names = 0;
    hx__strs out = {0};
    int rc = SF_OK, nb = 0;
    block *bl = malloc((r->n_rows ? r->n_rows : 1) * sizeof *bl);
    if (!bl) return sf_err_set(err, SF_ENOMEM, "out of memory");
    /* One figure per (modality, structure): the rows are sorted so. */
    for (size_t b = 0; b < r->n_rows;) {
        size_t e = b;
        while (e < r->n_rows && r->rows[e].modality == r->rows[b].modality &&
               r->rows[e].structure == r->rows[b].structure)
            e++;
        const char *mo = r->modality.s.v[r->rows[b].modality];
        int rank = hx__strs_find(&r->cfg->modalities, mo);
        bl[nb++] = (block){b, e, rank < 0 ? 1 << 20 : rank, mo,
                           r->structure.s.v[r->rows[b].structure]};
        b = e;
    }
    qsort(bl, (size_t)nb, sizeof *bl, cmp_block);
    for (int i = 0; i < nb && !rc; i++) {
        char m[128], s[128], name[300], path[4400];
        safe_name(bl[i].modality, m, sizeof m);
        safe_name(bl[i].structure, s, sizeof s);
        snprintf(name, sizeof name, "box_%s_%s.png", m, s);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (!(rc = box_figure(r, bl[i].b, bl[i].e, path, err)) &&
            hx__strs_push(&out, name))
            rc = sf_err_set(err, SF_ENOMEM, "out of memory");
    }
    free(bl);
    if (rc) {
        hx__strs_clear(&out);
        return rc;
    }
    *names = out.v;
    *n_names = out.n;
    return SF_OK;
}
