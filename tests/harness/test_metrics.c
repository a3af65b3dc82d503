/*
 * test_metrics.c - surface metrics (surface.c) against the golden values
 * of the DeepMind surface-distance reference ($SF_SHARED/golden/metrics/,
 * part A: 23 mask pairs, 2D and 3D, anisotropic spacing, every empty-mask
 * convention, exact ties at the tolerance), the surfel area tables, the
 * exact EDT against brute force, and bad input.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_io.h"
#include "hx.h"

#define TOL      1e-9  /* the bar for every golden value */
#define TOL_LIST 1e-12 /* README: what a faithful implementation meets */

/* The value after `"key": [` ... in expected.json for one area table. */
static double *area_table_golden(const char *json, const char *key, int n) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": {", key);
    const char *s = strstr(json, pat);
    cr_assert_not_null(s, "expected.json: no table %s", key);
    s = strstr(s, "\"area\": [");
    cr_assert_not_null(s);
    s += 9;
    double *v = calloc((size_t)n, sizeof *v);
    cr_assert_not_null(v);
    for (int i = 0; i < n; i++) {
        char *end;
        v[i] = strtod(s, &end);
        cr_assert(end != s, "table %s: entry %d", key, i);
        s = end;
        while (*s == ',' || *s == ' ' || *s == '\n')
            s++;
    }
    return v;
}

static char *read_all(const char *rel) {
    char path[1024];
    golden_path(path, sizeof path, rel);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    return b;
}

Test(metrics, surfel_area_tables_match_golden) {
    golden_require();
    char *json = read_all("expected.json");
    static const struct {
        const char *key;
        int ndim;
        double s[3];
    } t[] = {
        {"1.5,1.5", 2, {1.5, 1.5, 0}},
        {"0.5,1.25", 2, {0.5, 1.25, 0}},
        {"2.5,0.8,0.8", 3, {2.5, 0.8, 0.8}},
        {"0.8,0.8,2.5", 3, {0.8, 0.8, 2.5}},
        {"2.0,0.7,0.9", 3, {2.0, 0.7, 0.9}},
        {"1.0,1.0,1.0", 3, {1.0, 1.0, 1.0}},
        {"2.5,1.5,1.5", 3, {2.5, 1.5, 1.5}},
    };
    double worst = 0.0;
    for (size_t k = 0; k < sizeof t / sizeof *t; k++) {
        int n = t[k].ndim == 3 ? 256 : 16;
        double *ref = area_table_golden(json, t[k].key, n), area[256];
        cr_assert_eq(hx_surface_area_table(t[k].ndim, t[k].s, area, NULL),
                     SF_OK);
        for (int c = 0; c < n; c++) {
            double r = golden_rel(area[c], ref[c]);
            worst = r > worst ? r : worst;
            cr_expect(r <= TOL_LIST, "table %s code %d: %.17g vs %.17g",
                      t[k].key, c, area[c], ref[c]);
        }
        free(ref);
    }
    cr_log_info("surfel area tables: max relative error %.3g", worst);
    free(json);
}

/* ------------------------------------------------------------ golden A */

enum {
    C_ID,
    C_NDIM,
    C_N0,
    C_N1,
    C_N2,
    C_S0,
    C_S1,
    C_S2,
    C_DICE,
    C_NSD1,
    C_NSD2,
    C_HD95,
    C_HD100,
    C_ASD_GP,
    C_ASD_PG,
    C_NSG,
    C_NSP,
    C_AREA_G,
    C_AREA_P,
    C_COLS
};

static int compare_list(const char *id, const char *what, const npy *ref,
                        const double *d, const double *a, size_t n,
                        double *worst) {
    cr_expect_eq(ref->count, 2 * n, "%s %s: %zu rows, ours %zu", id, what,
                 ref->count / 2, n);
    if (ref->count != 2 * n) return 1;
    const double *r = ref->data;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double e1 = golden_rel(d[i], r[2 * i]),
               e2 = golden_rel(a[i], r[2 * i + 1]);
        double e = e1 > e2 ? e1 : e2;
        *worst = e > *worst ? e : *worst;
        if (e > TOL_LIST && bad++ < 3)
            cr_expect(0, "%s %s row %zu: (%.17g, %.17g) vs (%.17g, %.17g)", id,
                      what, i, d[i], a[i], r[2 * i], r[2 * i + 1]);
    }
    return bad;
}

Test(metrics, golden_surface_cases) {
    golden_require();
    char path[1024];
    golden_path(path, sizeof path, "surface.csv");
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[2048], *c[C_COLS + 1];
    cr_assert_not_null(fgets(line, sizeof line, f));
    int cases = 0, values = 0, passed = 0, exact = 0;
    double worst = 0.0, worst_list = 0.0;
    char worst_what[128] = "";
    while (fgets(line, sizeof line, f)) {
        cr_assert_eq(csv_split(line, c, C_COLS + 1), C_COLS);
        hx_grid g;
        memset(&g, 0, sizeof g);
        g.ndim = atoi(c[C_NDIM]);
        for (int i = 0; i < g.ndim; i++) {
            g.n[i] = atoi(c[C_N0 + i]);
            g.spacing_mm[i] = csv_num(c[C_S0 + i]);
        }
        char rel[512];
        snprintf(rel, sizeof rel, "surface/%s_gt.npy", c[C_ID]);
        npy gt = npy_load(rel);
        snprintf(rel, sizeof rel, "surface/%s_pred.npy", c[C_ID]);
        npy pr = npy_load(rel);
        cr_assert_eq(gt.count, hx_grid_voxels(&g), "%s: shape", c[C_ID]);
        hx_surface *s = NULL;
        sf_err err;
        cr_assert_eq(hx_surface_compute(&g, gt.data, pr.data, &s, &err), SF_OK,
                     "%s: %s", c[C_ID], err.msg);
        /* Integers: exactly. */
        cr_expect_eq(s->n_gt, (size_t)atol(c[C_NSG]), "%s: surfels gt %zu",
                     c[C_ID], s->n_gt);
        cr_expect_eq(s->n_pred, (size_t)atol(c[C_NSP]), "%s: surfels pred %zu",
                     c[C_ID], s->n_pred);
        /* The full sorted (distance, area) lists. */
        snprintf(rel, sizeof rel, "surface/%s_gt_to_pred.npy", c[C_ID]);
        npy lg = npy_load(rel);
        snprintf(rel, sizeof rel, "surface/%s_pred_to_gt.npy", c[C_ID]);
        npy lp = npy_load(rel);
        compare_list(c[C_ID], "gt_to_pred", &lg, s->d_gt, s->a_gt, s->n_gt,
                     &worst_list);
        compare_list(c[C_ID], "pred_to_gt", &lp, s->d_pred, s->a_pred,
                     s->n_pred, &worst_list);
        /* The metrics and the areas. */
        hx_metrics m;
        cr_assert_eq(hx_metrics_compute(&g, gt.data, pr.data, &m, &err), SF_OK);
        const struct {
            const char *name;
            double ours;
            int col;
        } v[] = {
            {"dice", m.dice, C_DICE},
            {"nsd_1mm", m.nsd_1mm, C_NSD1},
            {"nsd_2mm", m.nsd_2mm, C_NSD2},
            {"hd95", m.hd95, C_HD95},
            {"hd100", m.hd100, C_HD100},
            {"asd_gt_to_pred", m.asd_gt_to_pred, C_ASD_GP},
            {"asd_pred_to_gt", m.asd_pred_to_gt, C_ASD_PG},
            {"surface_area_gt", s->area_gt, C_AREA_G},
            {"surface_area_pred", s->area_pred, C_AREA_P},
        };
        for (size_t k = 0; k < sizeof v / sizeof *v; k++) {
            double ref = csv_num(c[v[k].col]);
            double r = golden_rel(v[k].ours, ref);
            values++;
            if (r <= TOL) passed++;
            if (r == 0.0) exact++;
            if (r > worst) {
                worst = r;
                snprintf(worst_what, sizeof worst_what, "%s %s", c[C_ID],
                         v[k].name);
            }
            cr_expect(r <= TOL, "%s %s: %.17g, reference %.17g (rel %.3g)",
                      c[C_ID], v[k].name, v[k].ours, ref, r);
        }
        hx_surface_free(s);
        npy_free(&gt);
        npy_free(&pr);
        npy_free(&lg);
        npy_free(&lp);
        cases++;
    }
    fclose(f);
    cr_expect_eq(cases, 23);
    cr_log_info("surface golden: %d cases, %d/%d values within %g "
                "(%d bit-identical), max rel %.3g (%s); lists max rel %.3g",
                cases, passed, values, TOL, exact, worst, worst_what,
                worst_list);
}

/* ------------------------------------------------- conventions, no files */

Test(metrics, empty_mask_conventions) {
    hx_grid g = {2, {6, 5, 0}, {1.0, 2.0, 0}};
    uint8_t z[30] = {0}, one[30] = {0};
    one[7] = 1;
    hx_metrics m;
    /* P empty, G not (README A.4). */
    cr_assert_eq(hx_metrics_compute(&g, one, z, &m, NULL), SF_OK);
    cr_expect(m.dice == 0.0 && m.nsd_1mm == 0.0 && m.nsd_2mm == 0.0);
    cr_expect(isinf(m.hd95) && isinf(m.hd100) && m.hd95 > 0);
    cr_expect(isinf(m.asd_gt_to_pred) && isnan(m.asd_pred_to_gt));
    /* G empty, P not. */
    cr_assert_eq(hx_metrics_compute(&g, z, one, &m, NULL), SF_OK);
    cr_expect(m.dice == 0.0 && m.nsd_2mm == 0.0 && isinf(m.hd100));
    cr_expect(isnan(m.asd_gt_to_pred) && isinf(m.asd_pred_to_gt));
    /* Both empty. */
    cr_assert_eq(hx_metrics_compute(&g, z, z, &m, NULL), SF_OK);
    cr_expect(isnan(m.dice) && isnan(m.nsd_1mm) && isnan(m.nsd_2mm));
    cr_expect(isinf(m.hd95) && isinf(m.hd100));
    cr_expect(isnan(m.asd_gt_to_pred) && isnan(m.asd_pred_to_gt));
    /* Identical single pixel: perfect. 2D: 4 corners of a pixel. */
    hx_surface *s = NULL;
    cr_assert_eq(hx_surface_compute(&g, one, one, &s, NULL), SF_OK);
    cr_expect_eq(s->n_gt, 4u);
    /* Contour of a 1 x 2 mm pixel: 4 corner cuts of half a diagonal. */
    cr_expect(fabs(s->area_gt - 2.0 * sqrt(5.0)) < 1e-12, "%.17g", s->area_gt);
    cr_expect_eq(hx_surface_hd(s, 100), 0.0);
    hx_surface_free(s);
    hx_surface_free(NULL);
}

Test(metrics, bad_input_is_an_error) {
    uint8_t a[8] = {1}, b[8] = {0};
    hx_metrics m;
    hx_surface *s = NULL;
    sf_err err;
    hx_grid g = {3, {2, 2, 2}, {1, 1, 1}};
    cr_expect_eq(hx_metrics_compute(&g, a, b, NULL, &err), SF_EINVAL);
    cr_expect_eq(hx_metrics_compute(&g, NULL, b, &m, &err), SF_EINVAL);
    cr_expect_eq(hx_metrics_compute(NULL, a, b, &m, &err), SF_EINVAL);
    cr_expect_eq(hx_surface_compute(&g, a, b, NULL, &err), SF_EINVAL);
    g.spacing_mm[1] = 0.0;
    cr_expect_eq(hx_metrics_compute(&g, a, b, &m, &err), SF_ERANGE);
    cr_expect(strstr(err.msg, "spacing") != NULL, "%s", err.msg);
    g.spacing_mm[1] = -1.0;
    cr_expect_eq(hx_metrics_compute(&g, a, b, &m, &err), SF_ERANGE);
    g.spacing_mm[1] = NAN;
    cr_expect_eq(hx_surface_compute(&g, a, b, &s, &err), SF_ERANGE);
    cr_expect_null(s);
    g.spacing_mm[1] = 1.0;
    g.n[2] = 0;
    cr_expect_eq(hx_metrics_compute(&g, a, b, &m, &err), SF_EINVAL);
    g.n[2] = 2;
    g.ndim = 4;
    cr_expect_eq(hx_metrics_compute(&g, a, b, &m, &err), SF_EINVAL);
    g.ndim = 3;
    g.n[0] = g.n[1] = g.n[2] = 1 << 12; /* 2^36 voxels */
    cr_expect_eq(hx_metrics_compute(&g, a, b, &m, &err), SF_EINVAL);
    double area[256];
    const double sp[3] = {1, -1, 1};
    cr_expect_eq(hx_surface_area_table(3, sp, area, NULL), SF_ERANGE);
    cr_expect_eq(hx_surface_area_table(1, sp, area, NULL), SF_EINVAL);
}

/* ------------------------------------------------- EDT vs brute force */

static uint64_t xs(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

Test(metrics, edt_matches_brute_force) {
    /* Random sparse features on anisotropic grids, 2D and 3D: the exact
     * minimum of the formula, term by term, as README A.2 evaluates it. */
    uint64_t st = 0x1234567u;
    for (int iter = 0; iter < 40; iter++) {
        hx_grid g;
        memset(&g, 0, sizeof g);
        g.ndim = 2 + iter % 2;
        static const double sp[] = {0.5, 0.7, 0.8, 1.25, 2.5, 3.0, 0.9};
        for (int i = 0; i < g.ndim; i++) {
            g.n[i] = 1 + (int)(xs(&st) % (g.ndim == 3 ? 9 : 23));
            g.spacing_mm[i] = sp[xs(&st) % 7];
        }
        size_t n = hx_grid_voxels(&g);
        uint8_t *f = calloc(n, 1);
        double *d = malloc(n * sizeof *d);
        cr_assert(f && d);
        int dens = 1 + (int)(xs(&st) % 20), any = 0;
        for (size_t i = 0; i < n; i++) {
            f[i] = xs(&st) % 100 < (uint64_t)dens;
            any |= f[i];
        }
        cr_assert_eq(hx_edt_sq_mm(&g, f, d, NULL), SF_OK);
        int n1 = g.ndim == 3 ? g.n[1] : g.n[0],
            n2 = g.ndim == 3 ? g.n[2] : g.n[1], n0 = g.ndim == 3 ? g.n[0] : 1;
        for (size_t v = 0; v < n; v++) {
            int v0 = (int)(v / ((size_t)n1 * n2)), v1 = (int)(v / n2 % n1),
                v2 = (int)(v % n2);
            double best = INFINITY;
            for (size_t w = 0; w < n; w++) {
                if (!f[w]) continue;
                int w0 = (int)(w / ((size_t)n1 * n2)), w1 = (int)(w / n2 % n1),
                    w2 = (int)(w % n2);
                double t;
                if (g.ndim == 3) {
                    double a = (double)(v0 - w0) * g.spacing_mm[0],
                           b = (double)(v1 - w1) * g.spacing_mm[1],
                           c = (double)(v2 - w2) * g.spacing_mm[2];
                    t = a * a + b * b + c * c;
                } else {
                    double a = (double)(v1 - w1) * g.spacing_mm[0],
                           b = (double)(v2 - w2) * g.spacing_mm[1];
                    t = a * a + b * b;
                }
                best = t < best ? t : best;
            }
            (void)n0;
            if (!any)
                cr_assert(isinf(d[v]));
            else
                cr_assert(d[v] == best, "iter %d voxel %zu: %.17g vs %.17g",
                          iter, v, d[v], best);
        }
        free(f);
        free(d);
    }
}

Test(metrics, pairwise_sum_is_numpys) {
    /* np.sum(np.full(1000, 0.1)) is 100.00000000000001 (NumPy 1.24);
     * a sequential loop gives 99.9999999999986. */
    double *v = malloc(1000 * sizeof *v);
    cr_assert_not_null(v);
    for (int i = 0; i < 1000; i++)
        v[i] = 0.1;
    double s = hx_sum_pairwise(v, 1000);
    cr_expect(s == 100.00000000000001, "%.17g", s);
    cr_expect_eq(hx_sum_pairwise(NULL, 0), 0.0);
    free(v);
}
