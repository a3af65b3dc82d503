/*
 * test_labels.c - connected components and per-label erosion (labels.c) on
 * hand-made maps.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sf_int.h"

/* Parse a picture: one string per row, '.' = 0, digits = labels. */
static void from_text(const char *const *rows, int ny, uint16_t *out,
                      int *nx_out) {
    int nx = (int)strlen(rows[0]);
    for (int y = 0; y < ny; y++) {
        cr_assert_eq((int)strlen(rows[y]), nx, "ragged test picture");
        for (int x = 0; x < nx; x++) {
            char ch = rows[y][x];
            out[y * nx + x] = ch == '.' ? 0 : (uint16_t)(ch - '0');
        }
    }
    *nx_out = nx;
}

static void expect_text(const uint16_t *got, const char *const *rows, int ny) {
    int nx = (int)strlen(rows[0]);
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
            char ch = rows[y][x];
            uint16_t want = ch == '.' ? 0 : (uint16_t)(ch - '0');
            cr_assert_eq(got[y * nx + x], want,
                         "pixel (%d,%d): got %u, want %u", x, y,
                         got[y * nx + x], want);
        }
}

/* ------------------------------------------------------------ components */

Test(labels, two_blobs) {
    const char *in[] = {"........", ".11.....", ".11...1.", "......11",
                        "......11"};
    const char *want[] = {"........", ".11.....", ".11...2.", "......22",
                          "......22"};
    uint16_t m[40];
    int nx;
    from_text(in, 5, m, &nx);
    cr_assert_eq(sf__relabel_components(m, nx, 5, 0), 2);
    expect_text(m, want, 5);
}

Test(labels, u_shape_is_one_component) {
    /* Two arms get different provisional labels and meet at the bottom:
     * the union must merge them, and the id stays 1. */
    const char *in[] = {"1...1.1", "1...1.1", "1...1.1", "11111.1"};
    const char *want[] = {"1...1.2", "1...1.2", "1...1.2", "11111.2"};
    uint16_t m[28];
    int nx;
    from_text(in, 4, m, &nx);
    cr_assert_eq(sf__relabel_components(m, nx, 4, 0), 2);
    expect_text(m, want, 4);
}

Test(labels, staircase_merges_many_provisional_labels) {
    /* Each row opens a new provisional label that only joins the others
     * through a later row: a chain of unions. */
    const char *in[] = {"1.1.1.1", "1.1.1.1", "1111111"};
    uint16_t m[21];
    int nx;
    from_text(in, 3, m, &nx);
    cr_assert_eq(sf__relabel_components(m, nx, 3, 0), 1);
    for (int i = 0; i < 21; i++)
        cr_assert_eq(m[i], in[i / 7][i % 7] == '1');
}

Test(labels, diagonal_pixels_are_separate) {
    const char *in[] = {"1...", ".1..", "..1.", "...1"};
    const char *want[] = {"1...", ".2..", "..3.", "...4"};
    uint16_t m[16];
    int nx;
    from_text(in, 4, m, &nx);
    cr_assert_eq(sf__relabel_components(m, nx, 4, 0), 4);
    expect_text(m, want, 4);
}

Test(labels, different_values_are_different_components) {
    /* Touching regions with different labels stay apart; equal values that
     * do not touch split. */
    const char *in[] = {"1122", "1122", "3311"};
    const char *want[] = {"1122", "1122", "3344"};
    uint16_t m[12];
    int nx;
    from_text(in, 3, m, &nx);
    cr_assert_eq(sf__relabel_components(m, nx, 3, 0), 4);
    expect_text(m, want, 3);
}

Test(labels, min_area_drops_small_and_renumbers_in_raster_order) {
    /* A (3 px) first in raster order, B (1 px), C (4 px) whose first pixel
     * comes after B's. min_area 2 drops B; A = 1, C = 2. */
    const char *in[] = {"11..2.", "1.....", "....11", "....11"};
    const char *want[] = {"11....", "1.....", "....22", "....22"};
    uint16_t m[24];
    int nx;
    from_text(in, 4, m, &nx);
    cr_assert_eq(sf__relabel_components(m, nx, 4, 2), 2);
    expect_text(m, want, 4);
}

Test(labels, numbering_follows_first_pixel_not_value_or_bulk) {
    /* The value-2 region starts at (4,0), before the value-1 pixel at
     * (0,1) in raster order, so it becomes component 1. */
    const char *in[] = {"....22", "1...22", "..2222"};
    const char *want[] = {"....11", "2...11", "..1111"};
    uint16_t m[18];
    int nx;
    from_text(in, 3, m, &nx);
    cr_assert_eq(sf__relabel_components(m, nx, 3, 0), 2);
    expect_text(m, want, 3);
}

Test(labels, empty_and_degenerate) {
    uint16_t m[6] = {0};
    cr_assert_eq(sf__relabel_components(m, 3, 2, 0), 0);
    cr_assert_eq(sf__relabel_components(m, 0, 2, 0), 0);
    uint16_t one = 7;
    cr_assert_eq(sf__relabel_components(&one, 1, 1, 0), 1);
    cr_assert_eq(one, 1);
    one = 7;
    cr_assert_eq(sf__relabel_components(&one, 1, 1, 2), 0);
    cr_assert_eq(one, 0);
}

static void checkerboard(uint16_t *m, int nx, int ny) {
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++)
            m[y * nx + x] = (uint16_t)(1 + ((x + y) & 1));
}

Test(labels, too_many_components_is_erange) {
    /* A 2-value checkerboard: every pixel is its own component. */
    const int nx = 512, ny = 512;
    uint16_t *m = malloc((size_t)nx * ny * sizeof *m);
    cr_assert_not_null(m);
    checkerboard(m, nx, ny);
    cr_assert_eq(sf__relabel_components(m, nx, ny, 0), SF_ERANGE);
    /* Dropping them all by area is fine: K = 0. */
    checkerboard(m, nx, ny);
    cr_assert_eq(sf__relabel_components(m, nx, ny, 2), 0);
    for (int i = 0; i < nx * ny; i++)
        cr_assert_eq(m[i], 0);
    free(m);
}

Test(labels, exactly_65535_components_fit) {
    /* Isolated single pixels on a 2-px grid: 256 * 256 = 65536 of them;
     * clearing one leaves 65535, the most that fit in uint16. */
    const int nx = 512, ny = 512;
    uint16_t *m = calloc((size_t)nx * ny, sizeof *m);
    cr_assert_not_null(m);
    for (int y = 0; y < ny; y += 2)
        for (int x = 0; x < nx; x += 2)
            m[y * nx + x] = 1;
    m[0] = 0;
    cr_assert_eq(sf__relabel_components(m, nx, ny, 0), 65535);
    cr_assert_eq(m[2], 1);
    cr_assert_eq(m[(ny - 2) * nx + nx - 2], 65535);
    free(m);
}

/* Reference components: breadth-first flood fill from each unvisited
 * nonzero pixel in raster order (so components are numbered by their
 * first pixel), dropping those under min_area, as the function does. */
static int flood_components(const uint16_t *in, uint16_t *out, int nx, int ny,
                            int min_area) {
    const int n = nx * ny;
    char *seen = calloc((size_t)n, 1);
    int *queue = malloc((size_t)n * sizeof *queue);
    cr_assert(seen && queue);
    int k = 0;
    for (int i = 0; i < n; i++)
        out[i] = 0;
    for (int s = 0; s < n; s++) {
        if (!in[s] || seen[s]) continue;
        /* queue[0..len) ends up holding the whole component. */
        int len = 0, head = 0;
        queue[len++] = s;
        seen[s] = 1;
        while (head < len) {
            int i = queue[head++], x = i % nx, y = i / nx;
            const int nb[4][2] = {
                {x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}};
            for (int q = 0; q < 4; q++) {
                int u = nb[q][0], v = nb[q][1];
                if (u < 0 || u >= nx || v < 0 || v >= ny) continue;
                int j = v * nx + u;
                if (seen[j] || in[j] != in[s]) continue;
                seen[j] = 1;
                queue[len++] = j;
            }
        }
        uint16_t id = len >= min_area ? (uint16_t)++k : 0;
        for (int q = 0; q < len; q++)
            out[queue[q]] = id;
    }
    free(seen);
    free(queue);
    return k;
}

Test(labels, components_match_flood_fill_on_random_maps) {
    /* Random blobby maps of a few values, widths around the vector sizes
     * (run scans take 8 pixels at a time) and wider. */
    static const int sizes[][2] = {{1, 9},   {7, 5},   {8, 8},   {9, 7},
                                   {17, 13}, {64, 40}, {301, 57}};
    uint32_t st = 12345u;
    for (size_t q = 0; q < sizeof sizes / sizeof *sizes; q++)
        for (int rep = 0; rep < 4; rep++) {
            const int nx = sizes[q][0], ny = sizes[q][1], n = nx * ny;
            uint16_t *m = malloc((size_t)n * 2), *ref = malloc((size_t)n * 2);
            cr_assert(m && ref);
            /* Runs of random length and value, rows correlated with the
             * row above: long runs, merges, holes. */
            for (int y = 0; y < ny; y++)
                for (int x = 0; x < nx;) {
                    st = st * 1664525u + 1013904223u;
                    int len = 1 + (int)(st >> 28) * (rep + 1);
                    uint16_t v = (uint16_t)((st >> 20) % (rep < 2 ? 2 : 4));
                    int copy = y > 0 && (st >> 8) % 3 == 0;
                    for (int e = x + len; x < e && x < nx; x++)
                        m[y * nx + x] = copy ? m[(y - 1) * nx + x] : v;
                }
            int min_area = rep % 2 ? 3 : 0;
            int k_ref = flood_components(m, ref, nx, ny, min_area);
            int k = sf__relabel_components(m, nx, ny, min_area);
            cr_assert_eq(k, k_ref, "%dx%d rep %d", nx, ny, rep);
            cr_assert_arr_eq(m, ref, (size_t)n * 2, "%dx%d rep %d", nx, ny,
                             rep);
            free(m);
            free(ref);
        }
}

/* --------------------------------------------------------------- erosion */

Test(labels, erosion_step_removes_exactly_the_rim) {
    const char *in[] = {".........", ".33333...", ".33333.2.", ".33333...",
                        ".33333...", ".33333...", "........."};
    const char *want[] = {".........", ".........", "..333..2.", "..333....",
                          "..333....", ".........", "........."};
    uint16_t m[63];
    uint8_t scratch[63];
    int nx;
    from_text(in, 7, m, &nx);
    sf__erode_label(m, nx, 7, 3, 1, scratch);
    expect_text(m, want, 7);
}

Test(labels, erosion_iterations_compose) {
    /* Two steps = the city-block ball of radius 2, the same as two calls of
     * one step. */
    const char *in[] = {"...........", ".4444444...", ".4444444...",
                        ".4444444...", ".4444444...", ".4444444...",
                        "..........."};
    const char *want[] = {"...........", "...........", "...........",
                          "...444.....", "...........", "...........",
                          "..........."};
    uint16_t a[77], b[77];
    uint8_t scratch[2 * 11];
    int nx;
    from_text(in, 7, a, &nx);
    memcpy(b, a, sizeof a);
    sf__erode_label(a, nx, 7, 4, 2, scratch);
    expect_text(a, want, 7);
    sf__erode_label(b, nx, 7, 4, 1, scratch);
    sf__erode_label(b, nx, 7, 4, 1, scratch);
    cr_assert_arr_eq(a, b, sizeof a);
}

Test(labels, erosion_at_the_image_border) {
    /* The border itself does not erode: a label filling the image stays,
     * and one touching the border only loses its inner rim. */
    uint16_t full[12];
    uint8_t scratch[16]; /* 2 * nx */
    for (int i = 0; i < 12; i++)
        full[i] = 5;
    sf__erode_label(full, 4, 3, 5, 3, scratch);
    for (int i = 0; i < 12; i++)
        cr_assert_eq(full[i], 5);

    const char *in[] = {"11122", "11122", "11122"};
    const char *want[] = {"11.22", "11.22", "11.22"};
    uint16_t m[15];
    int nx;
    from_text(in, 3, m, &nx);
    sf__erode_label(m, nx, 3, 1, 1, scratch);
    expect_text(m, want, 3);
}

Test(labels, erosion_of_a_single_row_needs_nx_bytes_of_scratch) {
    const char *in[] = {"1112211"};
    const char *want[] = {"11.22.1"};
    uint16_t m[7];
    uint8_t *scratch = malloc(7); /* exactly nx * ny: ASan checks it */
    int nx;
    cr_assert_not_null(scratch);
    from_text(in, 1, m, &nx);
    sf__erode_label(m, nx, 1, 1, 1, scratch);
    expect_text(m, want, 1);
    free(scratch);
}

static int four_adjacent(const uint16_t *m, int nx, int ny, uint16_t a,
                         uint16_t b) {
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
            uint16_t v = m[y * nx + x];
            if (v != a) continue;
            if (x + 1 < nx && m[y * nx + x + 1] == b) return 1;
            if (x > 0 && m[y * nx + x - 1] == b) return 1;
            if (y + 1 < ny && m[(y + 1) * nx + x] == b) return 1;
            if (y > 0 && m[(y - 1) * nx + x] == b) return 1;
        }
    return 0;
}

Test(labels, erosion_opens_a_gap_between_touching_clusters) {
    /* Two interlocking clusters share a jagged boundary. */
    const char *in[] = {"111111222", "111112222", "111122222", "111222222",
                        "112222211", "111112111", "111111111"};
    uint16_t m[63];
    uint8_t scratch[18];
    int nx;
    from_text(in, 7, m, &nx);
    cr_assert(four_adjacent(m, nx, 7, 1, 2));
    sf__erode_label(m, nx, 7, 2, 1, scratch);
    cr_assert_not(four_adjacent(m, nx, 7, 1, 2),
                  "eroded cluster still touches its neighbour");
    /* Label 1 is untouched; the binary mask now splits into two or more
     * 4-connected components. */
    for (int i = 0; i < 63; i++)
        if (in[i / 9][i % 9] == '1') cr_assert_eq(m[i], 1);
    for (int i = 0; i < 63; i++)
        m[i] = m[i] != 0;
    cr_assert_geq(sf__relabel_components(m, nx, 7, 0), 2);
}

Test(labels, erosion_of_absent_label_or_zero_steps_is_a_no_op) {
    const char *in[] = {"1122", "1122"};
    uint16_t m[8], ref[8];
    uint8_t scratch[8];
    int nx;
    from_text(in, 2, m, &nx);
    memcpy(ref, m, sizeof m);
    sf__erode_label(m, nx, 2, 3, 2, scratch);
    sf__erode_label(m, nx, 2, 1, 0, scratch);
    cr_assert_arr_eq(m, ref, sizeof m);
}
