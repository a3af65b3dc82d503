/*
 * test_boundary.c - the boundary-aware module (boundary.c): the SynthMorph
 * label map against a direct double-precision evaluation of its
 * definition, the erosion + components pipeline against labels.c, and the
 * properties every sample must have (separated instances, visible
 * contrast, determinism, a parameter record).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sf_int.h"

static sf_config config(int size) {
    sf_config c;
    sf_err e;
    cr_assert_eq(sf_config_default(&c, &e), SF_OK, "%s", e.msg);
    c.image_size = size;
    return c;
}

typedef struct sample {
    int n;
    sf_imgf im;
    uint16_t *labels;
    int n_instances;
    sf_buf json;
} sample;

static void generate(const sf_config *c, uint64_t seed, uint64_t index,
                     sample *s) {
    int n = c->image_size;
    memset(s, 0, sizeof *s);
    s->n = n;
    cr_assert_eq(sf__imgf_alloc(&s->im, n, n, -1.0f), SF_OK);
    s->labels = malloc((size_t)n * n * sizeof *s->labels);
    cr_assert_not_null(s->labels);
    sf_err e;
    int rc = sf__boundary_generate(c, seed, index, &s->im, s->labels,
                                   &s->n_instances, &s->json, &e);
    cr_assert_eq(rc, SF_OK, "%s", e.msg);
    cr_assert_not_null(s->json.s);
}

static void sample_free(sample *s) {
    sf__imgf_release(&s->im);
    free(s->labels);
    sf_buf_release(&s->json);
}

/* The label map as sf__boundary_generate draws it. */
static int label_map(const sf_config *c, uint64_t seed, uint64_t index,
                     uint16_t *out, int n, sf_buf *json) {
    sf_draw d;
    sf__draw_init(&d, seed, index, SF_STREAM_BOUNDARY);
    int n_labels = sf__draw_irange(&d, c->boundary.n_labels);
    int rc = sf__boundary_label_map(
        c, &d, sf_rng_key_make(seed, index, SF_STREAM_BOUNDARY_FIELD),
        sf_rng_key_make(seed, index, SF_STREAM_BOUNDARY_WARP), n_labels, out, n,
        n, json);
    cr_assert_eq(rc, SF_OK);
    return n_labels;
}

/* ------------------------------------------- reference: the definition */

/* One lattice per scale, node k at pixel k / scale, values in double. */
typedef struct rlat {
    int gx, gy, ch;
    double s;
    double *v;
} rlat;

static void rlat_make(rlat *t, int n, double scale, int ch) {
    t->gx = t->gy = (int)floor((n - 1) * scale) + 2;
    t->ch = ch;
    t->s = scale;
    t->v = calloc((size_t)t->gx * t->gy * ch, sizeof *t->v);
    cr_assert_not_null(t->v);
}

static double rlat_at(const rlat *t, double x, double y, int ch) {
    double X = fmin(fmax(x * t->s, 0.0), t->gx - 1.0);
    double Y = fmin(fmax(y * t->s, 0.0), t->gy - 1.0);
    int i = (int)X < t->gx - 2 ? (int)X : t->gx - 2;
    int j = (int)Y < t->gy - 2 ? (int)Y : t->gy - 2;
    double fx = X - i, fy = Y - j;
    const double *p = t->v + ((size_t)j * t->gx + i) * t->ch + ch;
    size_t r = (size_t)t->gx * t->ch;
    return (1 - fx) * (1 - fy) * p[0] + fx * (1 - fy) * p[t->ch] +
           (1 - fx) * fy * p[r] + fx * fy * p[r + t->ch];
}

/* Straight from the documented recipe: per-scale lattices of N(0, s^2)
 * normals (counter (label + 1, scale, node) on the field stream, (0,
 * scale, node) on the warp stream), summed linearly upsampled fields at
 * x + u(x), argmax. */
static void reference_map(const sf_config *c, uint64_t seed, uint64_t index,
                          uint16_t *out, int n) {
    sf_draw d;
    sf__draw_init(&d, seed, index, SF_STREAM_BOUNDARY);
    int L = sf__draw_irange(&d, c->boundary.n_labels);
    int nls = c->boundary.n_label_scales, nws = c->boundary.n_warp_scales;
    double lsig[4], wsig[4];
    for (int s = 0; s < nls; s++)
        lsig[s] = sf__draw_range(&d, c->boundary.label_sigma);
    for (int s = 0; s < nws; s++)
        wsig[s] = sf__draw_range(&d, c->boundary.warp_sigma_px) * n / 1024.0;
    sf_rng_key fk = sf_rng_key_make(seed, index, SF_STREAM_BOUNDARY_FIELD);
    sf_rng_key wk = sf_rng_key_make(seed, index, SF_STREAM_BOUNDARY_WARP);
    rlat lf[4], wf[4];
    for (int s = 0; s < nls; s++) {
        rlat_make(&lf[s], n, c->boundary.label_scales[s], L);
        for (int k = 0; k < lf[s].gx * lf[s].gy; k++)
            for (int l = 0; l < L; l++) {
                uint32_t w[4];
                float z0, z1;
                sf_rng_block(fk,
                             ((uint64_t)(l + 1) << 40) | ((uint64_t)s << 32) |
                                 (uint64_t)k,
                             w);
                sf__normal2f(w[0], w[1], &z0, &z1);
                lf[s].v[(size_t)k * L + l] = z0 * lsig[s];
            }
    }
    for (int s = 0; s < nws; s++) {
        rlat_make(&wf[s], n, c->boundary.warp_scales[s], 2);
        for (int k = 0; k < wf[s].gx * wf[s].gy; k++) {
            uint32_t w[4];
            float z0, z1;
            sf_rng_block(wk, ((uint64_t)s << 32) | (uint64_t)k, w);
            sf__normal2f(w[0], w[1], &z0, &z1);
            wf[s].v[2 * k] = z0 * wsig[s];
            wf[s].v[2 * k + 1] = z1 * wsig[s];
        }
    }
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            double ux = 0, uy = 0;
            for (int s = 0; s < nws; s++) {
                ux += rlat_at(&wf[s], x, y, 0);
                uy += rlat_at(&wf[s], x, y, 1);
            }
            double px = fmin(fmax(x + ux, 0.0), n - 1.0);
            double py = fmin(fmax(y + uy, 0.0), n - 1.0);
            int best = 0;
            double bv = -INFINITY;
            for (int l = 0; l < L; l++) {
                double v = 0;
                for (int s = 0; s < nls; s++)
                    v += rlat_at(&lf[s], px, py, l);
                if (v > bv) {
                    bv = v;
                    best = l;
                }
            }
            out[(size_t)y * n + x] = (uint16_t)(best + 1);
        }
    for (int s = 0; s < nls; s++)
        free(lf[s].v);
    for (int s = 0; s < nws; s++)
        free(wf[s].v);
}

/* ------------------------------------------------------------- label map */

static int map_mismatches(const sf_config *c, uint64_t seed, uint64_t idx,
                          int n) {
    uint16_t *a = malloc((size_t)n * n * 2), *b = malloc((size_t)n * n * 2);
    cr_assert(a && b);
    label_map(c, seed, idx, a, n, NULL);
    reference_map(c, seed, idx, b, n);
    int diff = 0;
    for (int i = 0; i < n * n; i++)
        diff += a[i] != b[i];
    free(a);
    free(b);
    return diff;
}

Test(boundary, label_map_matches_its_definition) {
    /* The fast path (merged lattices, interior shortcut, float) and a
     * direct double evaluation may only disagree at near-ties. */
    sf_config c = config(256);
    for (uint64_t idx = 0; idx < 6; idx++) {
        int diff = map_mismatches(&c, 7, idx, 256);
        cr_assert_leq(diff, 3, "index %d: %d pixels differ", (int)idx, diff);
    }
    c = config(1024);
    int diff = map_mismatches(&c, 7, 0, 1024);
    cr_assert_leq(diff, 20, "1024: %d pixels differ", diff);
    /* Scales whose lattices do not nest: one lattice per scale, no
     * interior shortcut. */
    c = config(200);
    c.boundary.label_scales[0] = 0.045;
    c.boundary.label_scales[1] = 0.02;
    c.boundary.n_warp_scales = 1;
    c.boundary.warp_scales[0] = 0.05;
    diff = map_mismatches(&c, 7, 1, 200);
    cr_assert_leq(diff, 3, "non-nested scales: %d pixels differ", diff);
}

Test(boundary, label_map_has_all_its_labels_in_fair_shares) {
    const int n = 1024;
    sf_config c = config(n);
    uint16_t *m = malloc((size_t)n * n * 2);
    cr_assert_not_null(m);
    for (uint64_t idx = 0; idx < 8; idx++) {
        int L = label_map(&c, 99, idx, m, n, NULL);
        cr_assert(L >= 10 && L <= 15);
        long area[16] = {0};
        int present = 0;
        for (int i = 0; i < n * n; i++) {
            cr_assert(m[i] >= 1 && m[i] <= L, "label %u of %d", m[i], L);
            area[m[i]]++;
        }
        for (int l = 1; l <= L; l++) {
            present += area[l] > 0;
            /* Identically distributed fields: no label is starved (with a
             * std per label instead, the smallest one typically gets ~10%
             * of its share). */
            cr_assert_geq(area[l] * L, (long)n * n / 5,
                          "index %d: label %d has %ld px", (int)idx, l,
                          area[l]);
        }
        cr_assert_eq(present, L, "index %d: %d of %d labels present", (int)idx,
                     present, L);
    }
    free(m);
}

Test(boundary, label_map_is_spatially_coherent) {
    /* Smooth fields: most pixels have their label all around (the default
     * scales make regions of 30-100 px at 1024, so about 10% of pixels
     * touch a boundary), and tiny fragments cover a negligible area. */
    const int n = 1024;
    sf_config c = config(n);
    uint16_t *m = malloc((size_t)n * n * 2), *cc = malloc((size_t)n * n * 2);
    cr_assert(m && cc);
    for (uint64_t idx = 0; idx < 6; idx++) {
        label_map(&c, 3, idx, m, n, NULL);
        long inner = 0;
        for (int y = 1; y < n - 1; y++)
            for (int x = 1; x < n - 1; x++) {
                const uint16_t *p = m + (size_t)y * n + x;
                inner += p[-1] == p[0] && p[1] == p[0] && p[-n] == p[0] &&
                         p[n] == p[0];
            }
        double frac = (double)inner / ((double)(n - 2) * (n - 2));
        cr_assert_geq(frac, 0.8, "index %d: %.3f interior", (int)idx, frac);

        /* Fragments: 4-connected regions under 16 px. Slivers where a
         * region pinches out along a diagonal split into single pixels, so
         * count their area, not their number. */
        memcpy(cc, m, (size_t)n * n * 2);
        int big = sf__relabel_components(cc, n, n, 16);
        long frag = 0;
        for (int i = 0; i < n * n; i++)
            frag += cc[i] == 0;
        cr_assert_gt(big, 0);
        cr_assert_leq(frag, n * n / 200, "index %d: %ld px in fragments",
                      (int)idx, frag);
    }
    free(m);
    free(cc);
}

Test(boundary, label_map_rejects_bad_arguments) {
    sf_config c = config(64);
    uint16_t m[64 * 64];
    sf_draw d;
    sf__draw_init(&d, 1, 1, SF_STREAM_BOUNDARY);
    sf_rng_key k = sf_rng_key_make(1, 1, SF_STREAM_BOUNDARY_FIELD);
    cr_assert_eq(sf__boundary_label_map(&c, &d, k, k, 0, m, 64, 64, NULL),
                 SF_EINVAL);
    cr_assert_eq(sf__boundary_label_map(&c, &d, k, k, 3, m, 0, 64, NULL),
                 SF_EINVAL);
    c.boundary.n_label_scales = 0;
    cr_assert_eq(sf__boundary_label_map(&c, &d, k, k, 3, m, 64, 64, NULL),
                 SF_EINVAL);
}

/* ---------------------------------------------------------------- sample */

/* The "eroded":[[l,k],...] pairs of a parameter record. */
static int parse_eroded(const char *json, int (*pairs)[2], int max) {
    const char *p = strstr(json, "\"eroded\":[");
    cr_assert_not_null(p, "no eroded list in %s", json);
    p += strlen("\"eroded\":[");
    int n = 0, used;
    while (n < max &&
           sscanf(p, "[%d,%d]%n", &pairs[n][0], &pairs[n][1], &used) == 2) {
        n++;
        p += used;
        if (*p == ',') p++;
    }
    cr_assert_eq(*p, ']', "unparsed eroded list at %s", p);
    return n;
}

static double json_number(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    cr_assert_not_null(p, "no %s in %s", key, json);
    return strtod(p + strlen(pat), NULL);
}

Test(boundary, pipeline_equals_per_label_erosion_and_components) {
    /* generate = label map, sf__erode_label for every recorded (label,
     * steps), binary mask, sf__relabel_components: bit for bit. */
    const int n = 256;
    sf_config c = config(n);
    uint16_t *ref = malloc((size_t)n * n * 2);
    uint8_t *scratch = malloc((size_t)2 * n);
    cr_assert(ref && scratch);
    int checked_erosion = 0;
    for (uint64_t idx = 0; idx < 12; idx++) {
        sample s;
        generate(&c, 11, idx, &s);
        label_map(&c, 11, idx, ref, n, NULL);
        int pairs[64][2];
        int np = parse_eroded(s.json.s, pairs, 64);
        for (int q = 0; q < np; q++) {
            cr_assert(pairs[q][1] >= c.boundary.erode_iterations.lo &&
                      pairs[q][1] <= c.boundary.erode_iterations.hi);
            sf__erode_label(ref, n, n, (uint16_t)pairs[q][0], pairs[q][1],
                            scratch);
        }
        checked_erosion += np > 0;
        for (int i = 0; i < n * n; i++)
            ref[i] = ref[i] != 0;
        int k = sf__relabel_components(ref, n, n, c.min_instance_area);
        cr_assert_eq(k, s.n_instances);
        cr_assert_arr_eq(ref, s.labels, (size_t)n * n * 2, "index %d",
                         (int)idx);
        sample_free(&s);
    }
    cr_assert_gt(checked_erosion, 6);
    free(ref);
    free(scratch);
}

/* The pipeline check of one (nx, ny) sample: generate against the label
 * map, per-label erosion of the recorded pairs, binary mask, components.
 * Returns the number of eroded labels. */
static int check_pipeline(const sf_config *c, int nx, int ny, uint64_t seed,
                          uint64_t idx) {
    const size_t n = (size_t)nx * ny;
    sf_imgf im;
    cr_assert_eq(sf__imgf_alloc(&im, nx, ny, 0.0f), SF_OK);
    uint16_t *lab = malloc(n * 2), *ref = malloc(n * 2);
    uint8_t *scratch = malloc(2 * (size_t)nx);
    int(*pairs)[2] = malloc(1024 * sizeof *pairs);
    cr_assert(lab && ref && scratch && pairs);
    sf_buf js = {0};
    sf_err e;
    int k = -1;
    cr_assert_eq(sf__boundary_generate(c, seed, idx, &im, lab, &k, &js, &e),
                 SF_OK, "%s", e.msg);
    sf_draw d;
    sf__draw_init(&d, seed, idx, SF_STREAM_BOUNDARY);
    int n_labels = sf__draw_irange(&d, c->boundary.n_labels);
    cr_assert_eq(sf__boundary_label_map(
                     c, &d,
                     sf_rng_key_make(seed, idx, SF_STREAM_BOUNDARY_FIELD),
                     sf_rng_key_make(seed, idx, SF_STREAM_BOUNDARY_WARP),
                     n_labels, ref, nx, ny, NULL),
                 SF_OK);
    int np = parse_eroded(js.s, pairs, 1024);
    for (int q = 0; q < np; q++)
        sf__erode_label(ref, nx, ny, (uint16_t)pairs[q][0], pairs[q][1],
                        scratch);
    for (size_t i = 0; i < n; i++)
        ref[i] = ref[i] != 0;
    cr_assert_eq(sf__relabel_components(ref, nx, ny, c->min_instance_area), k);
    cr_assert_arr_eq(ref, lab, n * 2, "%dx%d index %d", nx, ny, (int)idx);
    sf__imgf_release(&im);
    free(lab);
    free(ref);
    free(scratch);
    free(pairs);
    sf_buf_release(&js);
    return np;
}

Test(boundary, pipeline_holds_for_long_erosions_and_many_labels) {
    /* The erosion's distance transform in all its regimes (steps up to
     * 4, up to 128: shifts of up to 64 along rows, beyond: two passes),
     * labels without room for their steps beside them (> 255), and
     * non-square images. */
    static const struct {
        int lo, hi, labels, nx, ny, samples;
        double scale; /* one label scale, so regions are wide enough */
    } cases[] = {
        {1, 1, 0, 97, 64, 3, 0.0},        {5, 9, 0, 128, 96, 3, 0.0},
        {60, 128, 3, 400, 380, 2, 0.006}, {129, 254, 2, 640, 600, 1, 0.003},
        {1, 4, 300, 150, 120, 3, 0.0},    {20, 40, 260, 140, 150, 3, 0.0}};
    for (size_t q = 0; q < sizeof cases / sizeof *cases; q++) {
        sf_config c = config(256);
        c.boundary.erode_iterations = (sf_irange){cases[q].lo, cases[q].hi};
        c.boundary.erode_fraction = (sf_range){0.5, 0.9};
        if (cases[q].labels)
            c.boundary.n_labels = (sf_irange){cases[q].labels, cases[q].labels};
        if (cases[q].scale > 0.0) {
            c.boundary.n_label_scales = 1;
            c.boundary.label_scales[0] = cases[q].scale;
        }
        int eroded = 0;
        for (int idx = 0; idx < cases[q].samples; idx++)
            eroded +=
                check_pipeline(&c, cases[q].nx, cases[q].ny, 13, (uint64_t)idx);
        cr_assert_gt(eroded, 0, "case %d eroded nothing", (int)q);
    }
}

static void check_instances(const sample *s, int min_area) {
    const int n = s->n;
    const uint16_t *m = s->labels;
    int K = s->n_instances;
    cr_assert_geq(K, 0);
    long *area = calloc((size_t)K + 1, sizeof *area);
    cr_assert_not_null(area);
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            uint16_t v = m[(size_t)y * n + x];
            cr_assert_leq(v, K);
            area[v]++;
            /* Different instances never touch (4-neighbourhood). */
            if (!v) continue;
            if (x + 1 < n) {
                uint16_t r = m[(size_t)y * n + x + 1];
                cr_assert(r == 0 || r == v, "instances %u and %u touch", v, r);
            }
            if (y + 1 < n) {
                uint16_t d = m[(size_t)(y + 1) * n + x];
                cr_assert(d == 0 || d == v, "instances %u and %u touch", v, d);
            }
        }
    for (int k = 1; k <= K; k++)
        cr_assert_geq(area[k], min_area, "instance %d has %ld px", k, area[k]);
    free(area);
    /* Every instance is one 4-connected component, numbered in raster
     * order: relabelling reproduces the map exactly. */
    uint16_t *cc = malloc((size_t)n * n * 2);
    cr_assert_not_null(cc);
    memcpy(cc, m, (size_t)n * n * 2);
    cr_assert_eq(sf__relabel_components(cc, n, n, 0), K);
    cr_assert_arr_eq(cc, m, (size_t)n * n * 2);
    free(cc);
}

static void check_contrast(const sample *s, double min_contrast) {
    const size_t n = (size_t)s->n * s->n;
    float bg = -1.0f;
    double sum = 0.0;
    size_t n_fg = 0;
    for (size_t i = 0; i < n; i++) {
        float v = s->im.px[i];
        cr_assert(v >= 0.0f && v <= 1.0f, "pixel %zu = %g", i, v);
        if (s->labels[i]) {
            sum += v;
            n_fg++;
        } else if (bg < 0.0f) {
            bg = v;
        } else {
            cr_assert_eq(v, bg, "background is not one level");
        }
    }
    double level = json_number(s->json.s, "background_level");
    if (bg >= 0.0f) cr_assert_float_eq(bg, level, 1e-6);
    if (n_fg) {
        double mean = sum / (double)n_fg;
        cr_assert_float_eq(mean, json_number(s->json.s, "canvas_mean"), 1e-6);
        cr_assert_geq(fabs(mean - level), min_contrast - 1e-6,
                      "foreground mean %g vs background %g", mean, level);
    }
}

Test(boundary, samples_have_separated_visible_instances) {
    sf_config c = config(256);
    for (uint64_t idx = 0; idx < 16; idx++) {
        sample s;
        generate(&c, 5, idx, &s);
        check_instances(&s, c.min_instance_area);
        check_contrast(&s, c.contrast.min_contrast);
        sample_free(&s);
    }
}

Test(boundary, full_size_sample) {
    sf_config c = config(1024);
    sample s;
    generate(&c, 2024, 1, &s);
    cr_assert_gt(s.n_instances, 0);
    check_instances(&s, c.min_instance_area);
    check_contrast(&s, c.contrast.min_contrast);
    sample_free(&s);
}

Test(boundary, contrast_holds_at_the_edges_of_the_range) {
    /* Canvas pinned near 1 and a shift below min_contrast: the level must
     * still move down by at least min_contrast. */
    sf_config c = config(128);
    c.boundary.canvas_low = (sf_range){0.99, 0.99};
    c.boundary.canvas_width = (sf_range){0.0, 0.0};
    c.boundary.outlier_fraction = (sf_range){0.0, 0.0};
    c.boundary.background_shift = (sf_range){0.0, 0.001};
    c.contrast.min_contrast = 0.05;
    for (uint64_t idx = 0; idx < 6; idx++) {
        sample s;
        generate(&c, 1, idx, &s);
        check_contrast(&s, 0.05);
        double level = json_number(s.json.s, "background_level");
        cr_assert(level <= 0.99 - 0.05 + 1e-6, "level %g", level);
        sample_free(&s);
    }
}

Test(boundary, deterministic) {
    sf_config c = config(256);
    sample a, b, o;
    generate(&c, 77, 3, &a);
    generate(&c, 77, 3, &b);
    generate(&c, 77, 4, &o);
    size_t n = (size_t)256 * 256;
    cr_assert_eq(a.n_instances, b.n_instances);
    cr_assert_arr_eq(a.labels, b.labels, n * 2);
    cr_assert_arr_eq(a.im.px, b.im.px, n * sizeof(float));
    cr_assert_str_eq(a.json.s, b.json.s);
    cr_assert(memcmp(a.labels, o.labels, n * 2) != 0);
    cr_assert(memcmp(a.im.px, o.im.px, n * sizeof(float)) != 0);
    cr_assert_str_neq(a.json.s, o.json.s);
    sample_free(&a);
    sample_free(&b);
    sample_free(&o);
}

Test(boundary, parameter_record) {
    sf_config c = config(128);
    sample s;
    generate(&c, 9, 0, &s);
    const char *j = s.json.s;
    cr_assert_gt(strlen(j), 20);
    cr_assert_eq(j[0], '"', "an object body starts with a key: %s", j);
    static const char *keys[] = {
        "n_labels",    "label_sigma", "warp_sigma_px",   "erode_fraction",
        "eroded",      "canvas_a",    "canvas_b",        "outlier_fraction",
        "canvas_mean", "shift",       "background_level"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        char pat[64];
        snprintf(pat, sizeof pat, "\"%s\":", keys[k]);
        cr_assert_not_null(strstr(j, pat), "missing %s in %s", keys[k], j);
    }
    /* Balanced brackets and quotes, no empty members, no non-numbers. */
    int depth = 0, quotes = 0;
    for (const char *p = j; *p; p++) {
        depth += (*p == '[') - (*p == ']');
        quotes += *p == '"';
        cr_assert_geq(depth, 0);
        cr_assert(!(p[0] == ',' && (p[1] == ',' || p[1] == ']' || !p[1])));
    }
    cr_assert_eq(depth, 0);
    cr_assert_eq(quotes % 2, 0);
    cr_assert_null(strstr(j, "nan"));
    cr_assert_null(strstr(j, "inf"));
    int n_labels = (int)json_number(j, "n_labels");
    cr_assert(n_labels >= c.boundary.n_labels.lo &&
              n_labels <= c.boundary.n_labels.hi);
    sample_free(&s);

    /* Appended to a record that already has members: one comma. */
    sf_buf b = {0};
    sf_buf_puts(&b, "{\"module\":\"boundary\"");
    sf_imgf im;
    cr_assert_eq(sf__imgf_alloc(&im, 64, 64, 0.0f), SF_OK);
    uint16_t lab[64 * 64];
    int k;
    c.image_size = 64;
    cr_assert_eq(sf__boundary_generate(&c, 9, 0, &im, lab, &k, &b, NULL),
                 SF_OK);
    cr_assert_not_null(strstr(b.s, "\"boundary\",\"n_labels\":"), "%s", b.s);
    sf__imgf_release(&im);
    sf_buf_release(&b);
}

Test(boundary, tiny_and_odd_sizes) {
    sf_config c = config(1024);
    static const int sizes[][2] = {{1, 1}, {2, 3}, {17, 5}, {33, 65}};
    for (size_t q = 0; q < sizeof sizes / sizeof *sizes; q++) {
        int nx = sizes[q][0], ny = sizes[q][1];
        sf_imgf im;
        cr_assert_eq(sf__imgf_alloc(&im, nx, ny, 0.0f), SF_OK);
        uint16_t *lab = malloc((size_t)nx * ny * 2);
        cr_assert_not_null(lab);
        int k = -1;
        cr_assert_eq(sf__boundary_generate(&c, 1, q, &im, lab, &k, NULL, NULL),
                     SF_OK);
        cr_assert_geq(k, 0);
        for (int i = 0; i < nx * ny; i++)
            cr_assert(im.px[i] >= 0.0f && im.px[i] <= 1.0f);
        free(lab);
        sf__imgf_release(&im);
    }
}
