/*
 * test_prompts.c - the click simulator (prompts.c) against brute force on
 * small masks: first positive (centroid pixel / distance-transform
 * maximum), ring membership, first negative, farthest-point spacing; plus
 * determinism, the default settings, borders, tiny structures and errors.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sf_int.h"

typedef __int128 i128;

/* -------------------------------------------------------------- helpers */

/* Parse a picture: one string per row, '#' = structure, anything else 0. */
static uint8_t *from_text(const char *const *rows, int ny, int *nx_out) {
    int nx = (int)strlen(rows[0]);
    uint8_t *m = calloc((size_t)nx * ny, 1);
    cr_assert_not_null(m);
    for (int y = 0; y < ny; y++) {
        cr_assert_eq((int)strlen(rows[y]), nx, "ragged test picture");
        for (int x = 0; x < nx; x++)
            m[y * nx + x] = rows[y][x] == '#';
    }
    *nx_out = nx;
    return m;
}

/* A random small mask: a few discs and rectangles, some cut out again. */
static uint8_t *random_mask(uint64_t seed, int *nx_out, int *ny_out) {
    sf_draw d;
    sf__draw_init(&d, seed, 0, 77);
    int nx = sf__draw_int(&d, 1, 40), ny = sf__draw_int(&d, 1, 40);
    uint8_t *m = calloc((size_t)nx * ny, 1);
    cr_assert_not_null(m);
    int n_ops = sf__draw_int(&d, 1, 6);
    for (int k = 0; k < n_ops; k++) {
        int add = k == 0 || sf__draw_bernoulli(&d, 0.7);
        int cx = sf__draw_int(&d, -3, nx + 2),
            cy = sf__draw_int(&d, -3, ny + 2);
        int r = sf__draw_int(&d, 0, 12), disc = sf__draw_bernoulli(&d, 0.5);
        int rx = sf__draw_int(&d, 0, 10), ry = sf__draw_int(&d, 0, 10);
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++) {
                int in =
                    disc ? (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r
                         : abs(x - cx) <= rx && abs(y - cy) <= ry;
                if (in) m[y * nx + x] = (uint8_t)add;
            }
    }
    /* Never empty: keep one pixel. */
    int any = 0;
    for (int i = 0; i < nx * ny; i++)
        any |= m[i];
    if (!any) m[sf__draw_int(&d, 0, nx * ny - 1)] = 1;
    *nx_out = nx;
    *ny_out = ny;
    return m;
}

typedef struct bf {
    int64_t area, sx, sy;
} bf;

static bf bf_stats(const uint8_t *m, int nx, int ny) {
    bf s = {0, 0, 0};
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++)
            if (m[y * nx + x]) s.area++, s.sx += x, s.sy += y;
    return s;
}

/* area^2 * squared distance to the centroid (exact). */
static i128 bf_cdist(bf s, int x, int y) {
    i128 dx = (i128)x * s.area - s.sx, dy = (i128)y * s.area - s.sy;
    return dx * dx + dy * dy;
}

/* Squared distance from (x, y) to the nearest background pixel, pixels
 * outside the image counting as background. */
static int64_t bf_dt(const uint8_t *m, int nx, int ny, int x, int y) {
    int64_t best = (int64_t)(x + 1) * (x + 1);
    int64_t e[3] = {(int64_t)(nx - x) * (nx - x), (int64_t)(y + 1) * (y + 1),
                    (int64_t)(ny - y) * (ny - y)};
    for (int i = 0; i < 3; i++)
        if (e[i] < best) best = e[i];
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++)
            if (!m[j * nx + i]) {
                int64_t d =
                    (int64_t)(i - x) * (i - x) + (int64_t)(j - y) * (j - y);
                if (d < best) best = d;
            }
    return best;
}

/* Ring membership by brute force. */
static int bf_in_ring(const uint8_t *m, int nx, int ny, int r, int x, int y) {
    if (x < 0 || y < 0 || x >= nx || y >= ny || m[y * nx + x]) return 0;
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++)
            if (m[j * nx + i] && (i - x) * (i - x) + (j - y) * (j - y) <= r * r)
                return 1;
    return 0;
}

/* The expected first positive, by brute force. */
static void bf_first_positive(const uint8_t *m, int nx, int ny, int *fx,
                              int *fy, int *centroid_inside) {
    bf s = bf_stats(m, nx, ny);
    /* Nearest pixel to the centroid over the whole image, raster ties. */
    i128 bd = -1;
    int cx = -1, cy = -1;
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
            i128 d = bf_cdist(s, x, y);
            if (bd < 0 || d < bd) bd = d, cx = x, cy = y;
        }
    *centroid_inside = m[cy * nx + cx];
    if (*centroid_inside) {
        /* Then it must also be the nearest structure pixel: check. */
        i128 sd = -1;
        int sxp = -1, syp = -1;
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++)
                if (m[y * nx + x]) {
                    i128 d = bf_cdist(s, x, y);
                    if (sd < 0 || d < sd) sd = d, sxp = x, syp = y;
                }
        cr_assert(sxp == cx && syp == cy);
        *fx = cx;
        *fy = cy;
        return;
    }
    int64_t best = -1;
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++)
            if (m[y * nx + x]) {
                int64_t d = bf_dt(m, nx, ny, x, y);
                if (d > best) best = d, *fx = x, *fy = y;
            }
}

/* The expected negatives (first = farthest ring pixel from the centroid,
 * then farthest-point sampling), by brute force; returns how many. */
static int bf_negatives(const uint8_t *m, int nx, int ny, int r, int n_neg,
                        int *nxs, int *nys) {
    bf s = bf_stats(m, nx, ny);
    int k = 0;
    for (; k < n_neg; k++) {
        int bx = -1, by = -1;
        i128 bd = -1;
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++) {
                if (!bf_in_ring(m, nx, ny, r, x, y)) continue;
                i128 d;
                if (k == 0) {
                    d = bf_cdist(s, x, y);
                } else {
                    d = -1;
                    for (int t = 0; t < k; t++) {
                        i128 e = (i128)(x - nxs[t]) * (x - nxs[t]) +
                                 (i128)(y - nys[t]) * (y - nys[t]);
                        if (d < 0 || e < d) d = e;
                    }
                    if (d == 0) continue; /* already taken */
                }
                if (d > bd) bd = d, bx = x, by = y;
            }
        if (bx < 0) break;
        nxs[k] = bx;
        nys[k] = by;
    }
    return k;
}

static int simulate(const uint8_t *m, int nx, int ny, int n_pos, int n_neg,
                    int ring, sf_rng_key key, sf_click *out) {
    sf_prompt_opts o = {n_pos, n_neg, ring};
    sf_err e;
    int n = -1;
    int rc = sf_prompts_simulate(m, nx, ny, &o, key, out, &n, &e);
    cr_assert_eq(rc, SF_OK, "simulate: %s", e.msg);
    return n;
}

/* ---------------------------------------------------------------- tests */

Test(prompts, clicks_obey_the_rules_on_random_masks) {
    sf_click c[8];
    int n_checked_outside = 0;
    for (uint64_t t = 0; t < 400; t++) {
        int nx, ny;
        uint8_t *m = random_mask(t, &nx, &ny);
        bf s = bf_stats(m, nx, ny);
        int ring = 1 + (int)(t % 5), n_pos = 1 + (int)(t % 4),
            n_neg = (int)(t % 5);
        sf_rng_key key = sf_prompt_key(1, "random", t, 0);
        int n = simulate(m, nx, ny, n_pos, n_neg, ring, key, c);

        int want_pos = n_pos < s.area ? n_pos : (int)s.area;
        int ex[8], ey[8];
        int want_neg = bf_negatives(m, nx, ny, ring, n_neg, ex, ey);
        cr_assert_eq(n, want_pos + want_neg, "mask %d: %d clicks, want %d+%d",
                     (int)t, n, want_pos, want_neg);

        int fx = -1, fy = -1, inside;
        bf_first_positive(m, nx, ny, &fx, &fy, &inside);
        n_checked_outside += !inside;
        cr_assert(c[0].positive && c[0].x == fx && c[0].y == fy,
                  "mask %d: first positive (%d,%d), want (%d,%d)%s", (int)t,
                  c[0].x, c[0].y, fx, fy, inside ? "" : " (DT max)");
        for (int i = 0; i < want_pos; i++) {
            cr_assert(c[i].positive);
            cr_assert(c[i].x >= 0 && c[i].x < nx && c[i].y >= 0 && c[i].y < ny);
            cr_assert(m[c[i].y * nx + c[i].x], "positive %d outside", i);
            for (int j = 0; j < i; j++)
                cr_assert(c[i].x != c[j].x || c[i].y != c[j].y,
                          "mask %d: positives %d and %d coincide", (int)t, i,
                          j);
        }
        for (int i = 0; i < want_neg; i++) {
            const sf_click *q = &c[want_pos + i];
            cr_assert(!q->positive);
            cr_assert(bf_in_ring(m, nx, ny, ring, q->x, q->y),
                      "mask %d: negative %d (%d,%d) not in the ring", (int)t, i,
                      q->x, q->y);
            cr_assert(q->x == ex[i] && q->y == ey[i],
                      "mask %d: negative %d at (%d,%d), want (%d,%d)", (int)t,
                      i, q->x, q->y, ex[i], ey[i]);
        }
        free(m);
    }
    /* The random masks must exercise the distance-transform branch too. */
    cr_assert_gt(n_checked_outside, 20,
                 "only %d masks with the centroid "
                 "outside",
                 n_checked_outside);
}

Test(prompts, first_positive_is_centroid_pixel) {
    static const char *const pic[] = {
        "..........", "..######..", "..######..",
        "..#######.", "..######..", "..........",
    };
    int nx, ny = 6;
    uint8_t *m = from_text(pic, ny, &nx);
    sf_click c[1];
    int n = simulate(m, nx, ny, 1, 0, 1, sf_prompt_key(0, "", 0, 0), c);
    cr_assert_eq(n, 1);
    /* Centroid: x = (18 * 4.5 + 7 * 5) / 25 = 4.64 -> 5; y = (6*1 + 6*2 + 7*3 +
     * 6*4) / 25 = 2.52 -> 3. */
    cr_expect_eq(c[0].x, 5);
    cr_expect_eq(c[0].y, 3);
    free(m);
}

Test(prompts, centroid_tie_goes_to_smaller_row_and_column) {
    /* A 2x2 square: centroid (1.5, 1.5), four pixels at equal distance. */
    static const char *const pic[] = {"....", ".##.", ".##.", "...."};
    int nx, ny = 4;
    uint8_t *m = from_text(pic, ny, &nx);
    sf_click c[1];
    simulate(m, nx, ny, 1, 0, 1, sf_prompt_key(0, "", 0, 0), c);
    cr_expect(c[0].x == 1 && c[0].y == 1);
    free(m);
}

Test(prompts, annulus_and_c_shape_use_the_dt_maximum) {
    /* An annulus, inner radius 6, outer 14, centred at (20, 20): centroid
     * (20, 20) is in the hole. */
    enum { N = 41 };
    uint8_t m[N * N];
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            int d2 = (x - 20) * (x - 20) + (y - 20) * (y - 20);
            m[y * N + x] = d2 >= 36 && d2 <= 196;
        }
    cr_assert_eq(m[20 * N + 20], 0);
    sf_click c[1];
    simulate(m, N, N, 1, 0, 1, sf_prompt_key(0, "", 0, 0), c);
    int fx = -1, fy = -1, inside;
    bf_first_positive(m, N, N, &fx, &fy, &inside);
    cr_assert(!inside);
    cr_expect(c[0].x == fx && c[0].y == fy, "(%d,%d) want (%d,%d)", c[0].x,
              c[0].y, fx, fy);
    int64_t dmax = bf_dt(m, N, N, c[0].x, c[0].y);
    /* The middle of the annulus: distance about 4 from both rims. */
    cr_expect_geq(dmax, 16);
    /* First in raster order among the maxima: the top of the ring. */
    cr_expect_lt(c[0].y, 20);

    static const char *const pic[] = {
        "..............", ".###########..", ".###########..", ".###..........",
        ".###..........", ".###..........", ".###..........", ".###########..",
        ".###########..", "..............",
    };
    int nx, ny = 10;
    uint8_t *cm = from_text(pic, ny, &nx);
    simulate(cm, nx, ny, 1, 0, 1, sf_prompt_key(0, "", 0, 0), c);
    bf_first_positive(cm, nx, ny, &fx, &fy, &inside);
    cr_assert(!inside, "the C's centroid lies in its opening");
    cr_expect(c[0].x == fx && c[0].y == fy);
    cr_expect(cm[c[0].y * nx + c[0].x]);
    free(cm);
}

Test(prompts, first_negative_is_the_farthest_ring_pixel) {
    /* An L shape: the ring pixel farthest from its centroid is unique
     * enough to pin down, and the brute force agrees for several widths. */
    static const char *const pic[] = {
        "................", "................", "................",
        "...##...........", "...##...........", "...##...........",
        "...#######......", "...#######......", "................",
        "................", "................",
    };
    int nx, ny = 11;
    uint8_t *m = from_text(pic, ny, &nx);
    for (int r = 1; r <= 4; r++) {
        sf_click c[2];
        int n = simulate(m, nx, ny, 1, 1, r, sf_prompt_key(0, "", 0, 0), c);
        cr_assert_eq(n, 2);
        int ex[1], ey[1];
        cr_assert_eq(bf_negatives(m, nx, ny, r, 1, ex, ey), 1);
        cr_expect(c[1].x == ex[0] && c[1].y == ey[0] && !c[1].positive,
                  "r=%d: (%d,%d) want (%d,%d)", r, c[1].x, c[1].y, ex[0],
                  ey[0]);
        cr_expect(bf_in_ring(m, nx, ny, r, c[1].x, c[1].y));
    }
    free(m);
}

Test(prompts, farthest_point_spacing) {
    enum { N = 30 };
    uint8_t m[N * N];
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++)
            m[y * N + x] = (x - 14) * (x - 14) + (y - 12) * (y - 12) <= 25;
    sf_click c[1 + 6];
    int n = simulate(m, N, N, 1, 6, 3, sf_prompt_key(0, "", 0, 0), c);
    cr_assert_eq(n, 7);
    const sf_click *neg = c + 1;
    /* Each next negative maximises its minimum distance to the earlier
     * ones: no ring pixel is farther from all of them. */
    for (int k = 1; k < 6; k++) {
        int64_t got = INT64_MAX;
        for (int t = 0; t < k; t++) {
            int64_t dx = neg[k].x - neg[t].x, dy = neg[k].y - neg[t].y;
            if (dx * dx + dy * dy < got) got = dx * dx + dy * dy;
        }
        cr_assert_gt(got, 0, "negative %d repeats an earlier one", k);
        for (int y = 0; y < N; y++)
            for (int x = 0; x < N; x++) {
                if (!bf_in_ring(m, N, N, 3, x, y)) continue;
                int64_t md = INT64_MAX;
                for (int t = 0; t < k; t++) {
                    int64_t dx = x - neg[t].x, dy = y - neg[t].y;
                    if (dx * dx + dy * dy < md) md = dx * dx + dy * dy;
                }
                cr_assert_leq(md, got, "negative %d: (%d,%d) is farther", k, x,
                              y);
            }
    }
    /* Round a ring of outer radius 8: the first four at right angles
     * (top, bottom, left, right), the next two in between, at least 5 px
     * from every other. */
    static const int want[6][2] = {{14, 4},  {14, 20}, {6, 12},
                                   {22, 12}, {9, 7},   {19, 7}};
    for (int i = 0; i < 6; i++) {
        cr_expect(neg[i].x == want[i][0] && neg[i].y == want[i][1],
                  "negative %d at (%d,%d)", i, neg[i].x, neg[i].y);
        for (int j = 0; j < i; j++) {
            int dx = neg[i].x - neg[j].x, dy = neg[i].y - neg[j].y;
            cr_expect_geq(dx * dx + dy * dy, 25, "negatives %d, %d too close",
                          i, j);
        }
    }
}

Test(prompts, same_key_same_clicks_other_key_other_positives) {
    enum { N = 128 };
    uint8_t *m = calloc(N * N, 1);
    for (int y = 20; y < 110; y++)
        for (int x = 10; x < 100; x++)
            m[y * N + x] = 1;
    sf_click a[6], b[6], d[6];
    sf_rng_key k1 = sf_prompt_key(7, "amos/amos_0001/liver", 12, 3);
    sf_rng_key k2 = sf_prompt_key(7, "amos/amos_0001/liver", 12, 3);
    int na = simulate(m, N, N, 3, 3, 5, k1, a);
    int nb = simulate(m, N, N, 3, 3, 5, k2, b);
    cr_assert_eq(na, 6);
    cr_assert_eq(nb, 6);
    cr_assert_eq(memcmp(a, b, sizeof a), 0, "same key, different clicks");

    /* Every argument of the key matters. */
    sf_rng_key other[5] = {
        sf_prompt_key(8, "amos/amos_0001/liver", 12, 3),
        sf_prompt_key(7, "amos/amos_0001/spleen", 12, 3),
        sf_prompt_key(7, "amos/amos_0001/liver", 13, 3),
        sf_prompt_key(7, "amos/amos_0001/liver", 12, 4),
        sf_prompt_key(7, NULL, 12, 3),
    };
    for (int i = 0; i < 5; i++) {
        int nd = simulate(m, N, N, 3, 3, 5, other[i], d);
        cr_assert_eq(nd, 6);
        /* First positive and the negatives are rules, not draws. */
        cr_expect(d[0].x == a[0].x && d[0].y == a[0].y);
        cr_expect_eq(memcmp(d + 3, a + 3, 3 * sizeof *d), 0);
        cr_expect(memcmp(d + 1, a + 1, 2 * sizeof *d) != 0,
                  "key %d: extra positives unchanged", i);
    }
    free(m);
}

Test(prompts, extra_positives_are_uniform) {
    /* A 5-pixel plus sign: the first positive is its centre, the second is
     * one of the 4 arms, each with probability 1/4. */
    static const char *const pic[] = {"...", ".#.", "###", ".#.", "..."};
    int nx, ny = 5;
    uint8_t *m = from_text(pic, ny, &nx);
    int hist[5 * 3] = {0};
    const int trials = 8000;
    for (int t = 0; t < trials; t++) {
        sf_click c[2];
        int n = simulate(m, nx, ny, 2, 0, 1,
                         sf_prompt_key(3, "u", (uint64_t)t, 0), c);
        cr_assert_eq(n, 2);
        cr_assert(c[0].x == 1 && c[0].y == 2);
        cr_assert(m[c[1].y * nx + c[1].x] && !(c[1].x == 1 && c[1].y == 2));
        hist[c[1].y * nx + c[1].x]++;
    }
    int arms[4] = {1 * 3 + 1, 2 * 3 + 0, 2 * 3 + 2, 3 * 3 + 1};
    for (int i = 0; i < 4; i++) /* sd = sqrt(8000 * 3/16) = 39 */
        cr_expect(abs(hist[arms[i]] - trials / 4) < 200, "arm %d: %d", i,
                  hist[arms[i]]);
    free(m);
}

Test(prompts, default_settings_all_work) {
    sf_prompt_opts set[8];
    int n_set = 0;
    sf_err e;
    cr_assert_eq(sf_prompt_settings_parse("all", 7, set, 8, &n_set, &e), SF_OK);
    cr_assert_eq(n_set, SF_PROMPT_N_DEFAULT_SETTINGS);
    static const int want[4][2] = {{1, 0}, {3, 0}, {1, 1}, {3, 3}};
    enum { N = 64 };
    uint8_t *m = calloc(N * N, 1);
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++)
            m[y * N + x] = (x - 30) * (x - 30) + (y - 34) * (y - 34) <= 144;
    for (int i = 0; i < n_set; i++) {
        char name[16];
        cr_expect_eq(set[i].n_pos, want[i][0]);
        cr_expect_eq(set[i].n_neg, want[i][1]);
        cr_expect_eq(set[i].ring_width_px, 7);
        cr_expect_str_eq(sf_prompt_setting_name(&set[i], name, sizeof name),
                         i == 0   ? "1,0"
                         : i == 1 ? "3,0"
                         : i == 2 ? "1,1"
                                  : "3,3");
        sf_click c[6];
        int n = -1;
        cr_assert_eq(sf_prompts_simulate(m, N, N, &set[i],
                                         sf_prompt_key(1, "d", 0, (uint64_t)i),
                                         c, &n, &e),
                     SF_OK, "%s", e.msg);
        cr_assert_eq(n, set[i].n_pos + set[i].n_neg);
        for (int k = 0; k < n; k++) {
            int in = m[c[k].y * N + c[k].x];
            cr_expect_eq(in, k < set[i].n_pos, "setting %d click %d", i, k);
            cr_expect_eq(c[k].positive, k < set[i].n_pos);
            if (!c[k].positive)
                cr_expect(bf_in_ring(m, N, N, 7, c[k].x, c[k].y));
        }
        /* The first positive is the disc's centre. */
        cr_expect(c[0].x == 30 && c[0].y == 34);
    }
    free(m);
}

Test(prompts, structure_touching_the_border) {
    /* A C opening to the right, cut by the top-left corner of the image:
     * pixels outside the image are background for the distance transform,
     * and the ring is clipped to the image. */
    static const char *const pic[] = {
        "#########.....", "#########.....", "###...........", "###...........",
        "###...........", "#########.....", "#########.....", "..............",
    };
    int nx, ny = 8;
    uint8_t *m = from_text(pic, ny, &nx);
    sf_click c[6];
    int n = simulate(m, nx, ny, 3, 3, 2, sf_prompt_key(0, "b", 0, 0), c);
    cr_assert_eq(n, 6);
    int fx = -1, fy = -1, inside;
    bf_first_positive(m, nx, ny, &fx, &fy, &inside);
    cr_expect(c[0].x == fx && c[0].y == fy);
    int ex[3], ey[3];
    cr_assert_eq(bf_negatives(m, nx, ny, 2, 3, ex, ey), 3);
    for (int i = 0; i < 3; i++) {
        cr_expect(c[3 + i].x == ex[i] && c[3 + i].y == ey[i]);
        cr_expect(c[3 + i].x >= 0 && c[3 + i].y >= 0);
    }

    /* The whole image: no ring, so no negatives. */
    uint8_t full[12];
    memset(full, 1, sizeof full);
    n = simulate(full, 4, 3, 1, 3, 2, sf_prompt_key(0, "b", 0, 0), c);
    cr_assert_eq(n, 1);
    cr_expect(c[0].x == 1 && c[0].y == 1); /* centroid (1.5, 1) */

    /* A full-width band along the bottom edge. */
    uint8_t band[6 * 5] = {0};
    for (int x = 0; x < 6; x++)
        band[4 * 6 + x] = band[3 * 6 + x] = 1;
    n = simulate(band, 6, 5, 1, 2, 1, sf_prompt_key(0, "b", 0, 0), c);
    cr_assert_eq(n, 3);
    for (int i = 1; i < 3; i++)
        cr_expect_eq(c[i].y, 2);
    free(m);
}

Test(prompts, one_pixel_structure) {
    enum { N = 15 };
    uint8_t m[N * N] = {0};
    m[7 * N + 6] = 1;
    sf_click c[6];
    int n = simulate(m, N, N, 3, 3, 3, sf_prompt_key(0, "p", 0, 0), c);
    /* One positive only (the structure has one pixel), three negatives. */
    cr_assert_eq(n, 4);
    cr_expect(c[0].positive && c[0].x == 6 && c[0].y == 7);
    /* Farthest ring pixel at distance 3: (6,4), (3,7), (9,7), (6,10);
     * raster order takes (6,4). */
    cr_expect(!c[1].positive && c[1].x == 6 && c[1].y == 4);
    /* Then the pixel farthest from (6,4): (6,10) (distance 6). */
    cr_expect(c[2].x == 6 && c[2].y == 10);
    int ex[3], ey[3];
    cr_assert_eq(bf_negatives(m, N, N, 3, 3, ex, ey), 3);
    for (int i = 0; i < 3; i++)
        cr_expect(c[1 + i].x == ex[i] && c[1 + i].y == ey[i]);

    /* In a corner of a 1x1 image: nothing around it. */
    uint8_t one = 1;
    n = simulate(&one, 1, 1, 3, 3, 2, sf_prompt_key(0, "p", 0, 0), c);
    cr_assert_eq(n, 1);
    cr_expect(c[0].x == 0 && c[0].y == 0 && c[0].positive);
}

Test(prompts, fewer_pixels_than_asked) {
    /* Two pixels, three positives asked: both, once each. A ring of
     * width 1 around a 1x2 bar in a 2x3 image has 4 pixels: all taken. */
    uint8_t m[2 * 3] = {0, 0, 1, 1, 0, 0};
    sf_click c[10];
    int n = simulate(m, 2, 3, 3, 7, 1, sf_prompt_key(0, "f", 0, 0), c);
    cr_assert_eq(n, 2 + 4);
    cr_expect(c[0].positive && c[1].positive);
    cr_expect(c[0].x != c[1].x && c[0].y == 1 && c[1].y == 1);
    for (int i = 2; i < 6; i++) {
        cr_expect(!c[i].positive && !m[c[i].y * 2 + c[i].x]);
        for (int j = 2; j < i; j++)
            cr_expect(c[i].x != c[j].x || c[i].y != c[j].y);
    }
}

Test(prompts, errors) {
    uint8_t z[16] = {0};
    sf_click c[4];
    int n = 99;
    sf_err e;
    sf_prompt_opts o = {1, 1, 2};
    sf_rng_key k = sf_prompt_key(0, "", 0, 0);
    cr_assert_eq(sf_prompts_simulate(z, 4, 4, &o, k, c, &n, &e), SF_EINVAL);
    cr_expect_eq(n, 0);
    cr_expect(strstr(e.msg, "empty structure") != NULL, "%s", e.msg);
    z[5] = 1;
    cr_expect_eq(sf_prompts_simulate(NULL, 4, 4, &o, k, c, &n, &e), SF_EINVAL);
    cr_expect_eq(sf_prompts_simulate(z, 0, 4, &o, k, c, &n, &e), SF_EINVAL);
    cr_expect_eq(sf_prompts_simulate(z, 4, 4, &o, k, c, NULL, &e), SF_EINVAL);
    cr_expect_eq(
        sf_prompts_simulate(z, SF_PROMPT_MAX_SIDE + 1, 1, &o, k, c, &n, &e),
        SF_ERANGE);
    sf_prompt_opts bad = {1, 1, 0};
    cr_expect_eq(sf_prompts_simulate(z, 4, 4, &bad, k, c, &n, NULL), SF_EINVAL);
    bad = (sf_prompt_opts){-1, 0, 1};
    cr_expect_eq(sf_prompts_simulate(z, 4, 4, &bad, k, c, &n, NULL), SF_ERANGE);
    bad = (sf_prompt_opts){1, SF_PROMPT_MAX_CLICKS + 1, 1};
    cr_expect_eq(sf_prompts_simulate(z, 4, 4, &bad, k, c, &n, NULL), SF_ERANGE);
    /* Ring width does not matter without negatives. */
    bad = (sf_prompt_opts){1, 0, 0};
    cr_expect_eq(sf_prompts_simulate(z, 4, 4, &bad, k, c, &n, NULL), SF_OK);
    cr_expect_eq(n, 1);
}

Test(prompts, settings_parse) {
    sf_prompt_opts s[4];
    int n = -1;
    sf_err e;
    cr_assert_eq(sf_prompt_settings_parse("1,0:3,3", 4, s, 4, &n, &e), SF_OK);
    cr_assert_eq(n, 2);
    cr_expect(s[0].n_pos == 1 && s[0].n_neg == 0 && s[1].n_pos == 3 &&
              s[1].n_neg == 3 && s[1].ring_width_px == 4);
    const char *bad[] = {
        "", "1", "1,", ",1", "1,0:", "1,0;3,3", "a,b", "1,0 ", "-1,0"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(sf_prompt_settings_parse(bad[i], 4, s, 4, &n, &e),
                     SF_EINVAL, "'%s'", bad[i]);
        cr_expect_eq(n, 0);
    }
    cr_expect_eq(sf_prompt_settings_parse("0,0", 4, s, 4, &n, &e), SF_ERANGE);
    cr_expect_eq(sf_prompt_settings_parse("1,257", 4, s, 4, &n, &e), SF_ERANGE);
    cr_expect_eq(
        sf_prompt_settings_parse("99999999999999999999,1", 4, s, 4, &n, &e),
        SF_ERANGE);
    cr_expect_eq(sf_prompt_settings_parse("1,0:1,1:3,0", 4, s, 2, &n, &e),
                 SF_EINVAL);
    cr_expect_eq(sf_prompt_settings_parse("all", 0, s, 4, &n, &e), SF_ERANGE);
    cr_expect_eq(sf_prompt_settings_parse("all", 4, s, 3, &n, &e), SF_EINVAL);
}

Test(prompts, mask_from_labels) {
    uint16_t l[6] = {0, 3, 3, 65535, 2, 3};
    uint8_t m[6];
    sf_mask_from_labels(l, 6, 3, m);
    static const uint8_t want[6] = {0, 1, 1, 0, 0, 1};
    cr_expect_eq(memcmp(m, want, 6), 0);
    sf_mask_from_labels(l, 6, 65535, m);
    cr_expect(m[3] == 1 && m[0] == 0 && m[1] == 0);
}

Test(prompts, large_mask_matches_bruteforce_dt_on_a_sample) {
    /* A large ring with an off-centre hole, centroid outside: check the DT
     * maximum against brute force restricted to candidate pixels. */
    enum { N = 300 };
    uint8_t *m = calloc(N * N, 1);
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            int d2 = (x - 150) * (x - 150) + (y - 150) * (y - 150);
            int h2 = (x - 140) * (x - 140) + (y - 150) * (y - 150);
            m[y * N + x] = d2 <= 120 * 120 && h2 > 90 * 90;
        }
    sf_click c[1];
    simulate(m, N, N, 1, 0, 1, sf_prompt_key(0, "", 0, 0), c);
    cr_assert(m[c[0].y * N + c[0].x]);
    /* The right rim is thickest (120 - 100 = 20 px wide at y = 150). */
    int64_t got = bf_dt(m, N, N, c[0].x, c[0].y);
    for (int y = 140; y < 160; y++)
        for (int x = 250; x < 271; x++)
            if (m[y * N + x]) cr_assert_leq(bf_dt(m, N, N, x, y), got);
    cr_expect_geq(got, 9 * 9);
    free(m);
}
