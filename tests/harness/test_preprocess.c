/*
 * test_preprocess.c - exact percentiles (numpy's "linear" definition) and
 * MedSAM-style preprocessing (preprocess.c) against hand-computed values:
 * CT windowing, MR/US percentile clipping, rescaling and truncation, the
 * volume-wide statistics, degenerate data and errors.
 */
#include <criterion/criterion.h>

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hx.h"

static double pct(const float *v, size_t n, double q, int pos) {
    double r = NAN;
    sf_err e;
    int rc = hx_percentile(v, n, q, pos, &r, &e);
    cr_assert_eq(rc, SF_OK, "percentile %g: %s", q, e.msg);
    return r;
}

/* ----------------------------------------------------------- percentile */

Test(percentile, hand_computed) {
    /* Sorted: 1 1 2 3 3 4 5 5 6 9 (m = 10, h = 9 q / 100). */
    const float v[10] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3};
    cr_expect_eq(pct(v, 10, 0, 0), 1.0);
    cr_expect_eq(pct(v, 10, 100, 0), 9.0);
    cr_expect_float_eq(pct(v, 10, 50, 0), 3.5, 1e-12);     /* h 4.5 */
    cr_expect_float_eq(pct(v, 10, 25, 0), 2.25, 1e-12);    /* h 2.25 */
    cr_expect_float_eq(pct(v, 10, 0.5, 0), 1.0, 1e-12);    /* h 0.045 */
    cr_expect_float_eq(pct(v, 10, 99.5, 0), 8.865, 1e-12); /* 6 + 3 * .955 */
    cr_expect_float_eq(pct(v, 10, 90, 0), 6.3, 1e-12);     /* h 8.1 */
    /* numpy's _lerp takes b - (b - a)(1 - t) for t >= 0.5, which here
     * differs from a + (b - a) t in the last bit: h = 0.7. */
    const float two[2] = {527.5492553710938f, -489.8619384765625f};
    cr_expect_eq(pct(two, 2, 70, 0), 222.32589721679682);
    cr_expect_eq(pct(two, 2, 30, 0),
                 -489.8619384765625 + 1017.4111938476562 * 0.3);
    /* One value: every percentile is it; -0 comes back as +0. */
    const float nz = -0.0f;
    cr_expect(!signbit(pct(&nz, 1, 50, 0)));
    const float one = -2.5f;
    cr_expect_eq(pct(&one, 1, 37, 0), -2.5);
}

Test(percentile, positive_only_and_signed_zero) {
    /* Values > 0: 2 4 6. */
    const float v[7] = {0, -1, 2, 4, -0.0f, 6, 0};
    cr_expect_eq(pct(v, 7, 50, 1), 4.0);
    cr_expect_eq(pct(v, 7, 25, 1), 3.0); /* h 0.5 */
    cr_expect_eq(pct(v, 7, 0, 1), 2.0);
    /* All values: -1 -0 0 0 2 4 6 -> the median is 0, and -0 sorts as 0. */
    cr_expect_eq(pct(v, 7, 50, 0), 0.0);
    cr_expect_eq(pct(v, 7, 0, 0), -1.0);
    cr_expect_float_eq(pct(v, 7, 30, 0), 0.0, 1e-15); /* h 1.8, 0 to 0 */
}

static int cmpf(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile "linear" on a sorted array, written out plainly. */
static double ref_pct(const float *s, size_t m, double q) {
    double h = (double)(m - 1) * (q / 100.0);
    size_t i = (size_t)floor(h);
    if (i >= m - 1) return s[m - 1];
    double t = h - floor(h), a = s[i], b = s[i + 1], d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

Test(percentile, matches_a_sort_on_random_data) {
    /* Mixed signs and magnitudes, many duplicates, and a dense cluster of
     * neighbouring floats that share their top 16 bits. */
    enum { N = 200003 };
    float *v = malloc(N * sizeof *v), *s = malloc(N * sizeof *s);
    cr_assert(v && s);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        switch (i % 4) {
        case 0: v[i] = (float)((int64_t)(x % 4001) - 2000); break;
        case 1:
            v[i] = (float)((double)(x >> 11) / 9007199254740992.0 * 1e6 - 3e5);
            break;
        case 2: v[i] = 1.0f + (float)(x % 300) * 1.1920929e-7f; break;
        default: v[i] = (float)(x % 7) * 0.25f; break;
        }
    }
    static const double qs[] = {0,  0.5, 1,  12.5, 25, 33.3,
                                50, 75,  99, 99.5, 100};
    for (int pos = 0; pos < 2; pos++) {
        size_t m = 0;
        for (int i = 0; i < N; i++)
            if (!pos || v[i] > 0) s[m++] = v[i];
        qsort(s, m, sizeof *s, cmpf);
        for (size_t k = 0; k < sizeof qs / sizeof *qs; k++)
            cr_expect_eq(pct(v, N, qs[k], pos), ref_pct(s, m, qs[k]),
                         "q %g positive_only %d", qs[k], pos);
    }
    free(v);
    free(s);
}

Test(percentile, errors) {
    const float v[3] = {1, NAN, 3}, z[2] = {0, -1};
    double r;
    sf_err e;
    cr_expect_eq(hx_percentile(v, 3, 50, 0, &r, &e), SF_ERANGE);
    cr_expect(strstr(e.msg, "1") != NULL, "%s", e.msg);
    cr_expect_eq(hx_percentile(v, 1, -1, 0, &r, &e), SF_EINVAL);
    cr_expect_eq(hx_percentile(v, 1, 100.5, 0, &r, &e), SF_EINVAL);
    cr_expect_eq(hx_percentile(v, 1, NAN, 0, &r, &e), SF_EINVAL);
    cr_expect_eq(hx_percentile(v, 0, 50, 0, &r, &e), SF_EFORMAT);
    cr_expect_eq(hx_percentile(z, 2, 50, 1, &r, &e), SF_EFORMAT);
    cr_expect_eq(hx_percentile(NULL, 2, 50, 0, &r, &e), SF_EINVAL);
    cr_expect_eq(hx_percentile(v, 1, 50, 0, NULL, &e), SF_EINVAL);
    const float inf[2] = {1, INFINITY};
    cr_expect_eq(hx_percentile(inf, 2, 50, 0, &r, NULL), SF_ERANGE);
}

/* ----------------------------------------------------------- preprocess */

static void prep(const float *v, int nx, int ny, int nz, const hx_prep *p,
                 uint8_t *out) {
    sf_err e;
    int rc = hx_preprocess_volume(v, nx, ny, nz, p, out, &e);
    cr_assert_eq(rc, SF_OK, "preprocess: %s", e.msg);
}

Test(preprocess, ct_abdominal_window) {
    hx_prep p;
    hx_prep_default(&p, HX_MODALITY_CT);
    cr_expect_eq(p.window_level, 40.0);
    cr_expect_eq(p.window_width, 400.0);
    /* Window [-160, 240]; the data covers it, so (v + 160) / 400 * 255. */
    const float v[8] = {-1000, -160, 40, 239, 240, 3000, 0, 100};
    static const uint8_t want[8] = {0, 0, 127, 254, 255, 255, 102, 165};
    uint8_t out[8];
    prep(v, 4, 2, 1, &p, out);
    for (int i = 0; i < 8; i++)
        cr_expect_eq(out[i], want[i], "HU %g -> %d, want %d", v[i], out[i],
                     want[i]);
}

Test(preprocess, ct_rescales_by_the_clipped_datas_own_range) {
    /* As MedSAM: (c - min c) / (max c - min c), not by the window bounds.
     * Data in [0, 100] inside the window: 50 -> 127.5 -> 127. */
    hx_prep p;
    hx_prep_default(&p, HX_MODALITY_CT);
    const float v[4] = {0, 50, 100, 25};
    uint8_t out[4];
    prep(v, 2, 2, 1, &p, out);
    cr_expect(out[0] == 0 && out[1] == 127 && out[2] == 255 && out[3] == 63);
    /* Another window: L 50, W 20 -> [40, 60]. */
    p.window_level = 50;
    p.window_width = 20;
    prep(v, 2, 2, 1, &p, out);
    cr_expect(out[0] == 0 && out[1] == 127 && out[2] == 255 && out[3] == 0);
}

Test(preprocess, mr_percentile_clipping) {
    /* 10 zeros, one negative, then 1..200: positives m = 200,
     * lo = 1 + 1 * 0.995 = 1.995 (h 0.995), hi = 199 + 1 * 0.005 = 199.005
     * (h 198.005); out = trunc((clip(v) - lo) / 197.01 * 255). */
    enum { N = 211 };
    float v[N];
    for (int i = 0; i < 10; i++)
        v[i] = 0;
    v[10] = -5;
    for (int i = 0; i < 200; i++)
        v[11 + i] = (float)(i + 1);
    double lo = pct(v, N, 0.5, 1), hi = pct(v, N, 99.5, 1);
    cr_expect_float_eq(lo, 1.995, 1e-12);
    cr_expect_float_eq(hi, 199.005, 1e-12);
    for (int mod = HX_MODALITY_MR; mod <= HX_MODALITY_US; mod++) {
        hx_prep p;
        hx_prep_default(&p, mod);
        uint8_t out[N];
        prep(v, N, 1, 1, &p, out);
        for (int i = 0; i < 10; i++)
            cr_expect_eq(out[i], 0);
        cr_expect_eq(out[10], 0);         /* -5 clips to lo */
        cr_expect_eq(out[11 + 0], 0);     /* 1 -> lo */
        cr_expect_eq(out[11 + 1], 0);     /* 2: 0.0065 */
        cr_expect_eq(out[11 + 2], 1);     /* 3: 1.3008 */
        cr_expect_eq(out[11 + 99], 126);  /* 100: 126.85 */
        cr_expect_eq(out[11 + 198], 254); /* 199: 254.9935 */
        cr_expect_eq(out[11 + 199], 255); /* 200 -> hi */
    }
}

Test(preprocess, zero_voxels_stay_zero_in_mr_only) {
    /* Negative and zero voxels: in MR zeros are forced to 0 even when the
     * rescaled value would not be 0; CT has no such rule. */
    const float v[4] = {-10, 0, 10, 20};
    uint8_t out[4];
    hx_prep p;
    hx_prep_default(&p, HX_MODALITY_MR);
    p.pct_lo = 0;
    p.pct_hi = 100; /* clip to [10, 20] */
    prep(v, 4, 1, 1, &p, out);
    cr_expect(out[0] == 0 && out[1] == 0 && out[2] == 0 && out[3] == 255);
    hx_prep_default(&p, HX_MODALITY_CT); /* [-160, 240]; data [-10, 20] */
    prep(v, 4, 1, 1, &p, out);
    cr_expect(out[0] == 0 && out[1] == 85 && out[2] == 170 && out[3] == 255);
}

Test(preprocess, volume_statistics_span_all_slices) {
    /* Slice 0 holds [0, 100], slice 1 reaches 240: the volume is rescaled
     * as a whole (as MedSAM does), so slice 0 differs from its own 2-D
     * preprocessing. */
    const float v[2 * 4] = {0, 50, 100, 25, 0, 240, 240, 240};
    hx_prep p;
    hx_prep_default(&p, HX_MODALITY_CT);
    uint8_t vol[8], img[4];
    prep(v, 2, 2, 2, &p, vol);
    sf_err e;
    cr_assert_eq(hx_preprocess_image(v, 2, 2, &p, img, &e), SF_OK);
    cr_expect(vol[1] == 53 && vol[2] == 106); /* 50 / 240 * 255 = 53.1 */
    cr_expect(img[1] == 127 && img[2] == 255);
    cr_expect(vol[5] == 255 && vol[4] == 0);
}

Test(preprocess, constant_data_gives_zeros) {
    float v[6];
    uint8_t out[6];
    hx_prep p;
    hx_prep_default(&p, HX_MODALITY_MR);
    for (int i = 0; i < 6; i++)
        v[i] = 5;
    memset(out, 0xAB, sizeof out);
    prep(v, 3, 2, 1, &p, out);
    for (int i = 0; i < 6; i++)
        cr_expect_eq(out[i], 0);
    /* CT entirely below the window: clipped data is constant. */
    hx_prep_default(&p, HX_MODALITY_CT);
    for (int i = 0; i < 6; i++)
        v[i] = -2000 + i;
    memset(out, 0xAB, sizeof out);
    prep(v, 3, 2, 1, &p, out);
    for (int i = 0; i < 6; i++)
        cr_expect_eq(out[i], 0);
}

Test(preprocess, errors_leave_output_untouched) {
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t out[8];
    hx_prep p;
    sf_err e;
    hx_prep_default(&p, HX_MODALITY_CT);
    memset(out, 0xAB, sizeof out);
    v[6] = NAN; /* x 0, y 1, z 1 of a 2x2x2 volume */
    cr_expect_eq(hx_preprocess_volume(v, 2, 2, 2, &p, out, &e), SF_ERANGE);
    cr_expect(strstr(e.msg, "x 0, y 1, z 1") != NULL, "%s", e.msg);
    v[6] = 7;
    const float zeros[4] = {0, 0, -1, 0};
    hx_prep_default(&p, HX_MODALITY_MR);
    cr_expect_eq(hx_preprocess_image(zeros, 2, 2, &p, out, &e), SF_EFORMAT);
    cr_expect(strstr(e.msg, "no voxel > 0") != NULL, "%s", e.msg);
    p.modality = 7;
    cr_expect_eq(hx_preprocess_image(v, 2, 2, &p, out, &e), SF_EINVAL);
    hx_prep_default(&p, HX_MODALITY_CT);
    p.window_width = 0;
    cr_expect_eq(hx_preprocess_image(v, 2, 2, &p, out, &e), SF_EINVAL);
    hx_prep_default(&p, HX_MODALITY_US);
    p.pct_lo = 60;
    p.pct_hi = 40;
    cr_expect_eq(hx_preprocess_image(v, 2, 2, &p, out, &e), SF_EINVAL);
    hx_prep_default(&p, HX_MODALITY_US);
    cr_expect_eq(hx_preprocess_image(v, 0, 2, &p, out, &e), SF_EINVAL);
    cr_expect_eq(hx_preprocess_image(NULL, 2, 2, &p, out, &e), SF_EINVAL);
    cr_expect_eq(hx_preprocess_image(v, 2, 2, NULL, out, &e), SF_EINVAL);
    /* A voxel count that overflows size_t is refused before any read. */
    cr_expect_eq(
        hx_preprocess_volume(v, INT_MAX, INT_MAX, INT_MAX, &p, out, &e),
        SF_ERANGE);
    for (int i = 0; i < 8; i++)
        cr_expect_eq(out[i], 0xAB);
}

Test(preprocess, large_volume_is_deterministic_and_exact) {
    /* A 128 x 96 x 20 MR-like volume (background 0, noisy tissue): the
     * output equals a plain re-computation with sorted percentiles. */
    enum { NX = 128, NY = 96, NZ = 20, N = NX * NY * NZ };
    float *v = malloc(N * sizeof *v), *s = malloc(N * sizeof *s);
    uint8_t *a = malloc(N), *b = malloc(N);
    cr_assert(v && s && a && b);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int px = i % NX;
        v[i] = px < 20 ? 0.0f : (float)(x % 100000) * 0.01f + 0.5f;
    }
    hx_prep p;
    hx_prep_default(&p, HX_MODALITY_MR);
    prep(v, NX, NY, NZ, &p, a);
    prep(v, NX, NY, NZ, &p, b);
    cr_assert_eq(memcmp(a, b, N), 0);
    size_t m = 0;
    for (int i = 0; i < N; i++)
        if (v[i] > 0) s[m++] = v[i];
    qsort(s, m, sizeof *s, cmpf);
    double lo = ref_pct(s, m, 0.5), hi = ref_pct(s, m, 99.5);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        double c = v[i] < lo ? lo : v[i] > hi ? hi : v[i];
        uint8_t w = v[i] == 0 ? 0 : (uint8_t)((c - lo) / (hi - lo) * 255.0);
        bad += a[i] != w;
    }
    cr_expect_eq(bad, 0, "%d voxels differ", bad);
    free(v);
    free(s);
    free(a);
    free(b);
}
