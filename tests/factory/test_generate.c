/* Driver: byte-identical files for any thread count and shard split. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static void run(const char *dir, int threads, int shard, int nshard, uint64_t count) {
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
            cr_expect(na == nb && !memcmp(x, y, na), "%s differs from %s", pa, pb);
            free(x);
            free(y);
        }
    }
}

Test(generate, threads_and_shards_byte_identical) {
    char base[] = "/tmp/sf_gen_XXXXXX";
    cr_assert(mkdtemp(base));
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
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    cr_expect_eq(system(cmd), 0);
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
    cr_assert_eq(sf_png_read_gray16(path, &l2, &nx, &ny, &e), SF_OK, "%s", e.msg);
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
