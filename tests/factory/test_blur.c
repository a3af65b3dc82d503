/* Gaussian blur: sf__blur_gauss (truncated float kernel for small sigma,
 * the recursive filter above) and the recursive filter alone, each against
 * the direct convolution; the direct convolution against a naive 2-D
 * reference; constants, mass, small and odd sizes, argument handling. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sf_int.h"

static sf_imgf img_alloc(int nx, int ny) {
    sf_imgf im;
    cr_assert_eq(sf__imgf_alloc(&im, nx, ny, 0.0f), SF_OK);
    return im;
}

static sf_imgf img_copy(const sf_imgf *a) {
    sf_imgf b = img_alloc(a->nx, a->ny);
    memcpy(b.px, a->px, sizeof(float) * (size_t)a->nx * (size_t)a->ny);
    return b;
}

enum {
    PAT_RANDOM,
    PAT_STEP_X,
    PAT_STEP_Y,
    PAT_QUADRANTS,
    PAT_CHECKER,
    PAT_IMPULSES,
    N_PAT
};
static const char *const pat_names[N_PAT] = {"random",   "step-x",  "step-y",
                                             "quadrant", "checker", "impulses"};

static sf_imgf img_pattern(int nx, int ny, int pat) {
    sf_imgf im = img_alloc(nx, ny);
    sf_rng_key k = sf_rng_key_make(21, (uint64_t)pat, 0);
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
            size_t i = (size_t)y * nx + x;
            float v = 0.0f;
            switch (pat) {
            case PAT_RANDOM: v = sf__u01f((uint32_t)sf_rng_u64(k, i)); break;
            case PAT_STEP_X: v = x >= nx / 3 ? 1.0f : 0.0f; break;
            case PAT_STEP_Y: v = y >= ny / 2 ? 1.0f : 0.0f; break;
            case PAT_QUADRANTS:
                v = (x >= nx / 3) != (y >= ny / 2) ? 1.0f : 0.0f;
                break;
            case PAT_CHECKER: v = ((x / 3) + (y / 3)) % 2 ? 1.0f : 0.0f; break;
            case PAT_IMPULSES:
                v = (x % 37 == 5 && y % 29 == 7) ? 1.0f : 0.0f;
                break;
            }
            im.px[i] = v;
        }
    return im;
}

static double max_abs_diff(const sf_imgf *a, const sf_imgf *b) {
    double m = 0;
    for (size_t i = 0; i < (size_t)a->nx * (size_t)a->ny; i++)
        m = fmax(m, fabs((double)a->px[i] - (double)b->px[i]));
    return m;
}

/* The blurs under test: what the factory calls, and the six-pole
 * recursion whatever sigma. */
typedef int (*blur_fn)(sf_imgf *im, double sigma);
static const blur_fn blurs[2] = {sf__blur_gauss, sf__blur_gauss_recursive};
static const char *const blur_names[2] = {"blur", "recursive"};

/* A blur vs direct on one image; returns the max abs difference. */
static double blur_vs_direct(blur_fn f, const sf_imgf *in, double sigma) {
    sf_imgf a = img_copy(in), b = img_copy(in);
    cr_assert_eq(f(&a, sigma), SF_OK);
    cr_assert_eq(sf__blur_gauss_direct(&b, sigma), SF_OK);
    double d = max_abs_diff(&a, &b);
    sf__imgf_release(&a);
    sf__imgf_release(&b);
    return d;
}

Test(blur, recursive_matches_direct) {
    const double sig[] = {0.6, 1.0, 2.5, 2.99, 3.0, 5.0, 8.0};
    for (int f = 0; f < 2; f++)
        for (int pat = 0; pat < N_PAT; pat++) {
            sf_imgf in = img_pattern(257, 193, pat);
            for (size_t s = 0; s < sizeof sig / sizeof sig[0]; s++) {
                double d = blur_vs_direct(blurs[f], &in, sig[s]);
                cr_expect(d < 1e-4, "%s %s sigma %g: max |blur - direct| = %g",
                          blur_names[f], pat_names[pat], sig[s], d);
            }
            sf__imgf_release(&in);
        }
}

Test(blur, recursive_matches_direct_odd_and_small_sizes) {
    /* partial lane groups, single rows/columns, images smaller than the
     * kernel */
    const int sizes[][2] = {{1, 1},   {1, 40},  {40, 1}, {3, 2},  {15, 17},
                            {16, 16}, {17, 33}, {31, 5}, {100, 3}};
    const double sig[] = {0.7, 2.0, 8.0};
    for (int f = 0; f < 2; f++)
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
            sf_imgf in = img_pattern(sizes[z][0], sizes[z][1], PAT_RANDOM);
            for (size_t s = 0; s < sizeof sig / sizeof sig[0]; s++) {
                double d = blur_vs_direct(blurs[f], &in, sig[s]);
                cr_expect(d < 1e-4, "%s %dx%d sigma %g: %g", blur_names[f],
                          sizes[z][0], sizes[z][1], sig[s], d);
            }
            sf__imgf_release(&in);
        }
}

Test(blur, large_sigma_uses_a_stable_recursion) {
    const double sig[] = {12.0, 20.0, 40.0, 64.0};
    sf_imgf in = img_pattern(97, 61, PAT_QUADRANTS);
    for (size_t s = 0; s < sizeof sig / sizeof sig[0]; s++) {
        double d = blur_vs_direct(sf__blur_gauss, &in, sig[s]);
        cr_expect(d < 1e-4, "sigma %g: %g", sig[s], d);
    }
    sf__imgf_release(&in);
}

Test(blur, tiny_sigma_is_the_direct_kernel) {
    sf_imgf in = img_pattern(50, 40, PAT_RANDOM), a = img_copy(&in),
            b = img_copy(&in);
    cr_assert_eq(sf__blur_gauss(&a, 0.3), SF_OK);
    cr_assert_eq(sf__blur_gauss_direct(&b, 0.3), SF_OK);
    cr_expect(!memcmp(a.px, b.px, sizeof(float) * 50 * 40));
    cr_expect(max_abs_diff(&a, &in) > 1e-3, "sigma 0.3 still blurs");
    sf__imgf_release(&in);
    sf__imgf_release(&a);
    sf__imgf_release(&b);
}

Test(blur, constant_image_stays_constant) {
    const double sig[] = {0.3, 0.6, 1.0, 2.5, 8.0, 16.5, 40.0};
    for (int f = 0; f < 2; f++)
        for (size_t s = 0; s < sizeof sig / sizeof sig[0]; s++) {
            sf_imgf im;
            cr_assert_eq(sf__imgf_alloc(&im, 131, 77, 0.7310f), SF_OK);
            cr_assert_eq(blurs[f](&im, sig[s]), SF_OK);
            double m = 0;
            for (int i = 0; i < 131 * 77; i++)
                m = fmax(m, fabs(im.px[i] - 0.7310f));
            cr_expect(m <= 1e-6, "%s sigma %g: constant moved by %g",
                      blur_names[f], sig[s], m);
            sf__imgf_release(&im);
        }
}

/* Zeros next to an edge: the recursions stay clear of denormals (guard)
 * without moving the result; exact zeros far from the edge stay ~0. */
Test(blur, black_regions) {
    for (int f = 0; f < 2; f++) {
        sf_imgf in = img_pattern(200, 120, PAT_STEP_X);
        double d = blur_vs_direct(blurs[f], &in, 2.0);
        cr_expect(d < 1e-4, "%s: %g", blur_names[f], d);
        sf_imgf im = img_copy(&in);
        cr_assert_eq(blurs[f](&im, 2.0), SF_OK);
        for (int y = 0; y < 120; y++)
            cr_expect(fabs(im.px[(size_t)y * 200]) < 1e-12,
                      "%s: far from the step: %g", blur_names[f],
                      (double)im.px[(size_t)y * 200]);
        sf__imgf_release(&im);
        sf__imgf_release(&in);
    }
}

/* With the mass at least 8 sigma from every edge the boundary rule plays
 * no part, so the blur must keep the total exactly (to float rounding),
 * keep the centroid, and spread an impulse to variance sigma^2 per axis
 * (the sampled Gaussian's, for the small sigma). */
Test(blur, interior_mass_centroid_and_spread) {
    const double sig[] = {0.8, 1.5, 3.0, 6.0};
    for (int f = 0; f < 2; f++)
        for (size_t s = 0; s < sizeof sig / sizeof sig[0]; s++) {
            int nx = 160, ny = 140, cx = 73, cy = 64;
            sf_imgf im = img_alloc(nx, ny);
            im.px[(size_t)cy * nx + cx] = 1.0f;
            cr_assert_eq(blurs[f](&im, sig[s]), SF_OK);
            double m = 0, mx = 0, my = 0, vx = 0, vy = 0;
            for (int y = 0; y < ny; y++)
                for (int x = 0; x < nx; x++) {
                    double v = im.px[(size_t)y * nx + x];
                    m += v;
                    mx += v * x;
                    my += v * y;
                    vx += v * (x - cx) * (x - cx);
                    vy += v * (y - cy) * (y - cy);
                }
            /* discrete variance of the normalised sampled Gaussian */
            double w = 0, w2 = 0;
            for (int j = -(int)ceil(6 * sig[s]); j <= (int)ceil(6 * sig[s]);
                 j++) {
                double g = exp(-0.5 * j * j / (sig[s] * sig[s]));
                w += g;
                w2 += g * j * j;
            }
            double var = w2 / w;
            cr_expect(fabs(m - 1.0) < 1e-5, "sigma %g: mass %.9f", sig[s], m);
            cr_expect(fabs(mx / m - cx) < 1e-4 && fabs(my / m - cy) < 1e-4,
                      "sigma %g: centroid (%g, %g)", sig[s], mx / m, my / m);
            cr_expect(fabs(vx / m - var) < 1e-3 * var &&
                          fabs(vy / m - var) < 1e-3 * var,
                      "sigma %g: variance (%g, %g) vs %g", sig[s], vx / m,
                      vy / m, var);
            sf__imgf_release(&im);
        }
}

/* The reference itself against a naive 2-D sum over the clamped
 * neighbourhood, in double. */
Test(blur, direct_matches_naive_2d_reference) {
    const int nx = 23, ny = 17;
    const double sigma = 1.3;
    sf_imgf in = img_pattern(nx, ny, PAT_RANDOM), im = img_copy(&in);
    cr_assert_eq(sf__blur_gauss_direct(&im, sigma), SF_OK);
    int r = (int)ceil(6 * sigma);
    double g[64], gs = 0;
    for (int j = -r; j <= r; j++)
        gs += g[j + r] = exp(-0.5 * j * j / (sigma * sigma));
    double m = 0;
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
            double s = 0;
            for (int j = -r; j <= r; j++)
                for (int i = -r; i <= r; i++) {
                    int xx = x + i < 0 ? 0 : (x + i >= nx ? nx - 1 : x + i);
                    int yy = y + j < 0 ? 0 : (y + j >= ny ? ny - 1 : y + j);
                    s += g[i + r] * g[j + r] * in.px[(size_t)yy * nx + xx];
                }
            m = fmax(m, fabs(s / (gs * gs) - im.px[(size_t)y * nx + x]));
        }
    cr_expect(m < 1e-6, "direct vs naive: %g", m);
    sf__imgf_release(&in);
    sf__imgf_release(&im);
}

Test(blur, edge_replicate_boundary) {
    /* a column of ones on the left edge is, under replicate, a half-plane:
     * at x = 0 the blurred value is sum_{j <= 0} g(j) = (1 + g0) / 2 */
    int nx = 64, ny = 9;
    const double sigma = 3.0;
    sf_imgf im = img_alloc(nx, ny);
    for (int y = 0; y < ny; y++)
        im.px[(size_t)y * nx] = 1.0f;
    cr_assert_eq(sf__blur_gauss(&im, sigma), SF_OK);
    double w = 0, g0 = 1.0;
    for (int j = -18; j <= 18; j++)
        w += exp(-0.5 * j * j / (sigma * sigma));
    double want0 = 0.5 * (1.0 + g0 / w);
    for (int y = 0; y < ny; y++)
        cr_expect(fabs(im.px[(size_t)y * nx] - want0) < 1e-5,
                  "row %d: %g vs %g", y, (double)im.px[(size_t)y * nx], want0);
    sf__imgf_release(&im);
}

Test(blur, deterministic) {
    sf_imgf in = img_pattern(129, 65, PAT_RANDOM), a = img_copy(&in),
            b = img_copy(&in);
    cr_assert_eq(sf__blur_gauss(&a, 2.2), SF_OK);
    cr_assert_eq(sf__blur_gauss(&b, 2.2), SF_OK);
    cr_expect(!memcmp(a.px, b.px, sizeof(float) * 129 * 65));
    sf__imgf_release(&in);
    sf__imgf_release(&a);
    sf__imgf_release(&b);
}

Test(blur, arguments) {
    sf_imgf in = img_pattern(20, 10, PAT_RANDOM), im = img_copy(&in);
    cr_expect_eq(sf__blur_gauss(&im, 0.0), SF_OK);
    cr_expect_eq(sf__blur_gauss(&im, -1.0), SF_OK);
    cr_expect_eq(sf__blur_gauss(&im, NAN), SF_OK);
    cr_expect_eq(sf__blur_gauss_direct(&im, 0.0), SF_OK);
    cr_expect(!memcmp(im.px, in.px, sizeof(float) * 200),
              "sigma <= 0: unchanged");
    cr_expect_eq(sf__blur_gauss(&im, INFINITY), SF_EINVAL);
    cr_expect_eq(sf__blur_gauss_direct(&im, INFINITY), SF_EINVAL);
    sf_imgf none = {0, 0, NULL};
    cr_expect_eq(sf__blur_gauss(&none, 2.0), SF_OK);
    cr_expect_eq(sf__blur_gauss(NULL, 2.0), SF_OK);
    sf__imgf_release(&in);
    sf__imgf_release(&im);
}
