/* Shape-aware module: Bezier evaluation, polygon fill, contrast heuristic
 * and the visibility rule, and the module's labels. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sf_int.h"

Test(bezier, passes_through_end_control_points) {
    sf_pt c[5] = {{1, 2}, {7, -3}, {4, 9}, {-2, 5}, {6, 6}};
    for (int n = 2; n <= 5; n++) {
        sf_pt a = sf__bezier_eval(c, n, 0.0), b = sf__bezier_eval(c, n, 1.0);
        cr_expect_float_eq(a.x, c[0].x, 1e-12);
        cr_expect_float_eq(a.y, c[0].y, 1e-12);
        cr_expect_float_eq(b.x, c[n - 1].x, 1e-12);
        cr_expect_float_eq(b.y, c[n - 1].y, 1e-12);
    }
}

Test(bezier, matches_de_casteljau_and_stays_in_hull) {
    sf_pt c[4] = {{0, 0}, {1, 3}, {4, 3}, {5, 0}};
    for (int i = 0; i <= 20; i++) {
        double t = i / 20.0;
        sf_pt q[4];
        memcpy(q, c, sizeof q);
        for (int r = 3; r > 0; r--)
            for (int k = 0; k < r; k++) {
                q[k].x = (1 - t) * q[k].x + t * q[k + 1].x;
                q[k].y = (1 - t) * q[k].y + t * q[k + 1].y;
            }
        sf_pt p = sf__bezier_eval(c, 4, t);
        cr_expect_float_eq(p.x, q[0].x, 1e-12);
        cr_expect_float_eq(p.y, q[0].y, 1e-12);
        cr_expect(p.y >= 0 && p.y <= 3 && p.x >= 0 && p.x <= 5);
    }
    /* midpoint of a symmetric cubic: (2.5, 2.25) */
    sf_pt m = sf__bezier_eval(c, 4, 0.5);
    cr_expect_float_eq(m.x, 2.5, 1e-12);
    cr_expect_float_eq(m.y, 2.25, 1e-12);
}

Test(fill, square_and_winding) {
    enum { N = 20 };
    uint8_t m[N * N];
    memset(m, 0, sizeof m);
    sf_pt sq[4] = {{2, 3}, {12, 3}, {12, 9}, {2, 9}};
    long n = sf__fill_polygon(sq, 4, m, N, N, 1);
    cr_expect_eq(n, 60, "10x6 pixel centres inside, got %ld", n);
    cr_expect_eq(m[3 * N + 2], 1);
    cr_expect_eq(m[8 * N + 11], 1);
    cr_expect_eq(m[9 * N + 2], 0);
    cr_expect_eq(m[3 * N + 12], 0);
    /* a polygon outside the image fills nothing and does not crash */
    sf_pt out[3] = {{-50, -50}, {-40, -50}, {-45, -40}};
    cr_expect_eq(sf__fill_polygon(out, 3, m, N, N, 2), 0);
    /* a polygon larger than the image fills all of it */
    memset(m, 0, sizeof m);
    sf_pt big[4] = {{-5, -5}, {30, -5}, {30, 30}, {-5, 30}};
    cr_expect_eq(sf__fill_polygon(big, 4, m, N, N, 1), N * N);
}

Test(contrast, formula_values) {
    cr_expect_float_eq(sf__contrast_raw(SF_CONTRAST_ALTERNATING, 0.5, 1, 0.1),
                       0.4, 1e-12);
    cr_expect_float_eq(sf__contrast_raw(SF_CONTRAST_ALTERNATING, 0.5, 2, 0.1),
                       0.7, 1e-12);
    cr_expect_float_eq(sf__contrast_raw(SF_CONTRAST_ALTERNATING, 0.5, 3, 0.1),
                       0.2, 1e-12);
    cr_expect_float_eq(sf__contrast_raw(SF_CONTRAST_LINEAR, 0.5, 3, 0.1), 0.8,
                       1e-12);
}

Test(contrast, reflects_instead_of_clipping) {
    /* I_b = 0.05, i = 1, delta 0.1 -> raw -0.05: clipping would give 0,
     * the black canvas; reflection gives 0.05 (then kept visible). */
    double s[1] = {0.0};
    double v = sf__contrast_visible(-0.05, 0.05, s, 1, 0.03);
    cr_expect(v >= 0.03 && v <= 1.0, "v=%g", v);
    /* above 1 reflects down */
    double w = sf__contrast_visible(1.2, 0.9, NULL, 0, 0.03);
    cr_expect_float_eq(w, 0.8, 1e-12);
}

Test(contrast, always_visible_against_surround) {
    sf_draw d;
    sf__draw_init(&d, 1, 2, 3);
    for (int trial = 0; trial < 20000; trial++) {
        double i_b = sf__draw_uniform(&d, 0, 1),
               delta = sf__draw_uniform(&d, 0.0, 0.12);
        int i = sf__draw_int(&d, 1, 6), ns = sf__draw_int(&d, 0, 7);
        double s[8];
        for (int j = 0; j < ns; j++)
            s[j] = sf__draw_uniform(&d, 0, 1);
        if (ns > 0) s[0] = 0.0; /* the black canvas is a common neighbour */
        double raw = sf__contrast_raw(SF_CONTRAST_ALTERNATING, i_b, i, delta);
        double v = sf__contrast_visible(raw, i_b, s, ns, 0.03);
        cr_assert(v >= 0.0 && v <= 1.0, "v=%g", v);
        for (int j = 0; j < ns; j++)
            cr_assert(fabs(v - s[j]) >= 0.03, "trial %d: v=%g too close to %g",
                      trial, v, s[j]);
    }
}

static sf_config tiny_shape_config(void) {
    sf_config c;
    sf_err e = {0};
    cr_assert_eq(sf_config_default(&c, &e), SF_OK, "%s", e.msg);
    c.image_size = 256;
    c.mode = SF_MODE_SHAPE;
    for (int m = 0; m < SF_NOISE_COUNT; m++)
        c.noise.model[m].probability = 0;
    c.blur.probability = 0;
    return c;
}

Test(shape_module, labels_visible_and_contrasted) {
    sf_config c = tiny_shape_config();
    int total = 0, invisible = 0;
    for (uint64_t idx = 0; idx < 60; idx++) {
        sf_imgf im;
        cr_assert_eq(sf__imgf_alloc(&im, 256, 256, 0), SF_OK);
        uint16_t *lab = calloc(256 * 256, 2);
        sf_buf j = {0};
        int k = 0;
        sf_err e = {0};
        cr_assert_eq(
            sf__shape_generate(&c, 11, idx, NULL, &im, lab, &k, &j, &e), SF_OK,
            "%s", e.msg);
        cr_assert(k >= 0 && k <= 6);
        long area[8] = {0};
        for (int p = 0; p < 256 * 256; p++) {
            cr_assert(lab[p] <= k);
            area[lab[p]]++;
        }
        for (int l = 1; l <= k; l++) {
            total++;
            cr_expect(area[l] >= c.min_instance_area, "label %d area %ld", l,
                      area[l]);
            /* visible: each object differs from every 4-neighbour outside it */
            for (int y = 0; y < 256; y++)
                for (int x = 0; x + 1 < 256; x++) {
                    int p = y * 256 + x;
                    if ((lab[p] == l) != (lab[p + 1] == l) &&
                        (lab[p] == l || lab[p + 1] == l)) {
                        if (fabs(im.px[p] - im.px[p + 1]) <
                            c.contrast.min_contrast - 1e-6) {
                            invisible++;
                            goto next_label;
                        }
                    }
                }
        next_label:;
        }
        cr_expect(j.len > 50 && strstr(j.s, "\"shapes\":[") != NULL);
        sf_buf_release(&j);
        free(lab);
        sf__imgf_release(&im);
    }
    cr_expect(total > 60, "few shapes: %d", total);
    cr_expect_eq(invisible, 0,
                 "%d of %d objects have an edge below min contrast", invisible,
                 total);
}
