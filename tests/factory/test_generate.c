/* Driver: byte-identical files for any thread count and shard split. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tmpdir.h"
#include "sf_int.h"

static char *read_all(const char *path, size_t *n) {
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static void run(const char *dir, int threads, int shard, int nshard,
                uint64_t count) {
    sf_config c;
    sf_err e = {0};
    cr_assert_eq(sf_config_default(&c, &e), SF_OK);
    c.image_size = 160;
    sf_generate_opts o = {0};
    o.out_dir = dir;
    o.seed = 77;
    o.count = count;
    o.shard_index = shard;
    o.shard_count = nshard;
    o.threads = threads;
    o.write_files = 1;
    sf_generate_stats st;
    cr_assert_eq(sf_generate(&c, &o, &st, &e), SF_OK, "%s", e.msg);
}

static void expect_same_files(const char *a, const char *b, uint64_t count) {
    for (uint64_t i = 0; i < count; i++) {
        char name[32], pa[512], pb[512];
        sf_sample_name(i, count, name, sizeof name);
        for (int k = 0; k < 2; k++) {
            const char *sub = k ? "labels" : "images";
            snprintf(pa, sizeof pa, "%s/%s/%s.png", a, sub, name);
            snprintf(pb, sizeof pb, "%s/%s/%s.png", b, sub, name);
            size_t na = 0, nb = 0;
            char *x = read_all(pa, &na), *y = read_all(pb, &nb);
            cr_assert(x && y, "missing %s or %s", pa, pb);
            cr_expect(na == nb && !memcmp(x, y, na), "%s differs from %s", pa,
                      pb);
            free(x);
            free(y);
        }
    }
}

Test(generate, threads_and_shards_byte_identical) {
    char base[64];
    cr_assert(sf_test_mkdtemp(base, sizeof base, "gen"));
    char d1[600], d4[600], ds[600];
    snprintf(d1, sizeof d1, "%s/t1", base);
    snprintf(d4, sizeof d4, "%s/t4", base);
    snprintf(ds, sizeof ds, "%s/sh", base);
    run(d1, 1, 0, 1, 10);
    run(d4, 4, 0, 1, 10);
    run(ds, 2, 1, 3, 10); /* shards in any order into one dir */
    run(ds, 1, 0, 3, 10);
    run(ds, 3, 2, 3, 10);
    expect_same_files(d1, d4, 10);
    expect_same_files(d1, ds, 10);
    cr_expect_eq(sf_test_rmtree(base), 0);
}

Test(generate, shard_ranges_partition) {
    for (uint64_t count = 0; count < 50; count++)
        for (int n = 1; n <= 7; n++) {
            uint64_t prev = 0;
            for (int i = 0; i < n; i++) {
                uint64_t a, b;
                sf_shard_range(count, i, n, &a, &b);
                cr_assert_eq(a, prev);
                cr_assert(b >= a);
                prev = b;
            }
            cr_assert_eq(prev, count);
        }
    char b[32];
    sf_sample_name(42, 100, b, sizeof b);
    cr_expect_str_eq(b, "000042");
    sf_sample_name(42, 12345678, b, sizeof b);
    cr_expect_str_eq(b, "00000042");
}

Test(generate, png_round_trip) {
    char path[] = "/tmp/sf_png_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    uint16_t lab[6 * 5];
    uint8_t img[6 * 5];
    for (int i = 0; i < 30; i++) {
        lab[i] = (uint16_t)(i * 2000 + 1);
        img[i] = (uint8_t)(i * 8);
    }
    sf_err e = {0};
    cr_assert_eq(sf_png_write_gray16(path, lab, 6, 5, 1, &e), SF_OK);
    uint16_t *l2 = NULL;
    int nx, ny;
    cr_assert_eq(sf_png_read_gray16(path, &l2, &nx, &ny, &e), SF_OK, "%s",
                 e.msg);
    cr_expect(nx == 6 && ny == 5 && !memcmp(l2, lab, sizeof lab));
    free(l2);
    uint8_t *i8 = NULL;
    cr_expect_eq(sf_png_read_gray8(path, &i8, &nx, &ny, &e), SF_OK);
    free(i8);
    cr_assert_eq(sf_png_write_gray8(path, img, 6, 5, 9, &e), SF_OK);
    cr_assert_eq(sf_png_read_gray8(path, &i8, &nx, &ny, &e), SF_OK);
    cr_expect(!memcmp(i8, img, sizeof img));
    free(i8);
    /* 8-bit file read as 16-bit label map: clear error */
    cr_expect_eq(sf_png_read_gray16(path, &l2, &nx, &ny, &e), SF_EFORMAT);
    /* truncated file */
    size_t n = 0;
    char *all = read_all(path, &n);
    FILE *f = fopen(path, "wb");
    fwrite(all, 1, n / 2, f);
    fclose(f);
    free(all);
    cr_expect_eq(sf_png_read_gray8(path, &i8, &nx, &ny, &e), SF_EFORMAT);
    cr_expect(strstr(e.msg, path) != NULL, "message names the file: %s", e.msg);
    /* not a PNG */
    f = fopen(path, "wb");
    fputs("hello, not a png at all", f);
    fclose(f);
    cr_expect_eq(sf_png_read_gray8(path, &i8, &nx, &ny, &e), SF_EFORMAT);
    unlink(path);
}

/* The definition, by brute force: two full scans. */
static void stats_reference(const uint16_t *lab, int nx, int ny, int k,
                            sf_instance *in) {
    double *sx = calloc((size_t)k, sizeof *sx),
           *sy = calloc((size_t)k, sizeof *sy);
    double *best = calloc((size_t)k, sizeof *best);
    for (int l = 0; l < k; l++) {
        memset(&in[l], 0, sizeof in[l]);
        in[l].label = l + 1;
        in[l].bbox[0] = nx, in[l].bbox[1] = ny,
        in[l].bbox[2] = in[l].bbox[3] = -1;
        in[l].interior[0] = in[l].interior[1] = -1;
        best[l] = INFINITY;
    }
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
            int l = lab[(size_t)y * nx + x];
            if (!l || l > k) continue;
            sf_instance *p = &in[l - 1];
            p->area++, sx[l - 1] += x, sy[l - 1] += y;
            if (x < p->bbox[0]) p->bbox[0] = x;
            if (y < p->bbox[1]) p->bbox[1] = y;
            if (x > p->bbox[2]) p->bbox[2] = x;
            if (y > p->bbox[3]) p->bbox[3] = y;
        }
    for (int l = 0; l < k; l++)
        if (in[l].area) {
            in[l].centroid[0] = sx[l] / (double)in[l].area;
            in[l].centroid[1] = sy[l] / (double)in[l].area;
        }
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
            int l = lab[(size_t)y * nx + x];
            if (!l || l > k) continue;
            double dx = x - in[l - 1].centroid[0],
                   dy = y - in[l - 1].centroid[1];
            double d2 = dx * dx + dy * dy;
            if (d2 < best[l - 1]) {
                best[l - 1] = d2;
                in[l - 1].interior[0] = x;
                in[l - 1].interior[1] = y;
            }
        }
    free(sx), free(sy), free(best);
}

static void expect_stats_match(const uint16_t *lab, int nx, int ny, int k,
                               const char *what) {
    sf_instance *got = NULL, *want = calloc((size_t)k, sizeof *want);
    cr_assert_eq(sf__instance_stats(lab, nx, ny, k, &got), SF_OK);
    stats_reference(lab, nx, ny, k, want);
    for (int l = 0; l < k; l++) {
        const sf_instance *a = &got[l], *b = &want[l];
        cr_expect(a->label == b->label && a->area == b->area &&
                      !memcmp(a->bbox, b->bbox, sizeof a->bbox) &&
                      a->centroid[0] == b->centroid[0] &&
                      a->centroid[1] == b->centroid[1] &&
                      a->interior[0] == b->interior[0] &&
                      a->interior[1] == b->interior[1],
                  "%s: label %d: area %ld/%ld interior (%d,%d)/(%d,%d)", what,
                  l + 1, a->area, b->area, a->interior[0], a->interior[1],
                  b->interior[0], b->interior[1]);
    }
    free(got);
    free(want);
}

/* The ring search for the interior point gives the full scan's answer:
 * rings and crescents (centroid outside the object), ties, labels above k,
 * absent labels, one-pixel objects, real samples of both modules. */
Test(generate, instance_stats_match_full_scan) {
    enum { N = 97 };
    uint16_t *lab = calloc(N * N, sizeof *lab);
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            double dx = x - 40.3, dy = y - 50.0, r = sqrt(dx * dx + dy * dy);
            uint16_t v = 0;
            if (r > 20 && r < 26) v = 1;                     /* ring */
            if (r < 6 && x > 36) v = 2;                      /* half disc */
            if (x >= 80 && (y == 10 || y == 90)) v = 3;      /* two bars: tie */
            if (x == 5 && y == 5) v = 5;                     /* one pixel */
            if (y > 80 && x < 30 && (x + y) % 7 == 0) v = 6; /* scattered */
            if (x > 90 && y < 5) v = 9;                      /* above k */
            lab[(size_t)y * N + x] = v;
        }
    expect_stats_match(lab, N, N, 7, "synthetic"); /* 4 and 7 absent */
    sf_config c;
    sf_err e = {0};
    cr_assert_eq(sf_config_default(&c, &e), SF_OK);
    c.image_size = 192;
    for (uint64_t i = 0; i < 12; i++) {
        sf_sample *s = NULL;
        cr_assert_eq(sf_sample_generate(&c, 5, i, &s, &e), SF_OK, "%s", e.msg);
        expect_stats_match(s->labels, s->nx, s->ny, s->n_instances, "sample");
        sf_sample_free(s);
    }
    free(lab);
}

/* The libdeflate writer's files decode to the same pixels through libpng
 * (which checks every CRC and the zlib stream) for each kind, odd sizes,
 * every level, noisy and run-length content. */
Test(generate, png_writer_round_trip_kinds_sizes_levels) {
    char path[] = "/tmp/sf_pngw_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    /* 600 x 300: several RLE blocks, runs across their borders */
    static const int sz[][2] = {{1, 1},   {1, 7},   {7, 1},    {33, 17},
                                {257, 3}, {64, 64}, {600, 300}};
    sf_err e = {0};
    uint32_t h = 12345;
    for (size_t t = 0; t < sizeof sz / sizeof sz[0]; t++)
        for (int level = 0; level <= 9; level++)
            for (int noisy = 0; noisy < 3;
                 noisy++) { /* runs of 5, noise, long runs */
                int nx = sz[t][0], ny = sz[t][1];
                size_t n = (size_t)nx * ny;
                uint16_t *l16 = malloc(2 * n);
                uint8_t *g8 = malloc(n), *rgb = malloc(3 * n);
                for (size_t i = 0; i < 3 * n; i++) {
                    h = h * 1664525u + 1013904223u;
                    uint32_t v =
                        noisy == 1 ? h >> 8
                                   : (uint32_t)(noisy ? i / 5000
                                                      : i / 5 % 3 + i / 7000) *
                                         40503u;
                    if (i < n) l16[i] = (uint16_t)v, g8[i] = (uint8_t)(v >> 3);
                    rgb[i] = (uint8_t)(v >> 5);
                }
                uint16_t *b16 = NULL;
                uint8_t *b8 = NULL, *brgb = NULL;
                int mx = 0, my = 0;
                cr_assert_eq(sf_png_write_gray16(path, l16, nx, ny, level, &e),
                             SF_OK);
                cr_assert_eq(sf_png_read_gray16(path, &b16, &mx, &my, &e),
                             SF_OK, "%s", e.msg);
                cr_expect(mx == nx && my == ny && !memcmp(b16, l16, 2 * n),
                          "gray16 %dx%d level %d", nx, ny, level);
                cr_assert_eq(sf_png_write_gray8(path, g8, nx, ny, level, &e),
                             SF_OK);
                cr_assert_eq(sf_png_read_gray8(path, &b8, &mx, &my, &e), SF_OK,
                             "%s", e.msg);
                cr_expect(mx == nx && my == ny && !memcmp(b8, g8, n),
                          "gray8 %dx%d level %d", nx, ny, level);
                cr_assert_eq(sf_png_write_rgb8(path, rgb, nx, ny, level, &e),
                             SF_OK);
                cr_assert_eq(sf_png_read_rgb8(path, &brgb, &mx, &my, &e), SF_OK,
                             "%s", e.msg);
                cr_expect(mx == nx && my == ny && !memcmp(brgb, rgb, 3 * n),
                          "rgb8 %dx%d level %d", nx, ny, level);
                free(b16), free(b8), free(brgb), free(l16), free(g8), free(rgb);
            }
    /* a flipped bit in the IDAT data fails the CRC: a clear error */
    uint8_t img[16 * 16];
    for (int i = 0; i < 256; i++)
        img[i] = (uint8_t)(i * 7);
    cr_assert_eq(sf_png_write_gray8(path, img, 16, 16, 1, &e), SF_OK);
    size_t n = 0;
    char *all = read_all(path, &n);
    all[33 + 8 + 3] ^= 0x10;
    FILE *f = fopen(path, "wb");
    fwrite(all, 1, n, f);
    fclose(f);
    free(all);
    uint8_t *b8 = NULL;
    int mx, my;
    cr_expect_eq(sf_png_read_gray8(path, &b8, &mx, &my, &e), SF_EFORMAT);
    /* bad arguments */
    uint8_t *png = NULL;
    size_t pn = 0;
    cr_expect_eq(sf__png_encode(img, 0, 16, 8, 1, 1, &png, &pn, &e), SF_EINVAL);
    cr_expect_eq(sf__png_encode(img, 16, 16, 8, 1, 10, &png, &pn, &e),
                 SF_EINVAL);
    cr_expect_eq(sf__png_encode(img, 16, 16, 4, 1, 1, &png, &pn, &e),
                 SF_EINVAL);
    unlink(path);
}
