/* Noise models: distributions (mean, variance, higher moments, pmf),
 * Perlin field properties, masks, determinism, parameter draws, JSON. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sf_int.h"

/* ------------------------------------------------------------- helpers */

static sf_imgf img_const(int nx, int ny, float v) {
    sf_imgf im;
    cr_assert_eq(sf__imgf_alloc(&im, nx, ny, v), SF_OK);
    return im;
}

static sf_imgf img_random(int nx, int ny, uint64_t seed) {
    sf_imgf im = img_const(nx, ny, 0.0f);
    sf_rng_key k = sf_rng_key_make(seed, 0, 77);
    for (size_t i = 0; i < (size_t)nx * (size_t)ny; i++)
        im.px[i] = sf__u01f((uint32_t)sf_rng_u64(k, i));
    return im;
}

static sf_noise_params params(int model) {
    sf_noise_params p;
    memset(&p, 0, sizeof p);
    p.model = model;
    switch (model) {
    case SF_NOISE_GAUSSIAN: p.sigma = 0.05; break;
    case SF_NOISE_POISSON: p.photons = 120.0; break;
    case SF_NOISE_PERLIN:
        p.amplitude = 0.1;
        p.octaves = 4;
        p.cells = 5.5;
        p.persistence = 0.5;
        break;
    case SF_NOISE_SPECKLE: p.sigma = 0.2; break;
    case SF_NOISE_RICIAN: p.sigma = 0.04; break;
    default: break;
    }
    return p;
}

/* Sample moments of d[0..n): mean, variance, third central moment,
 * kurtosis (m4 / m2^2). Two passes, double. */
typedef struct moments {
    double mean, var, m3, kurt;
} moments;

static moments moments_of(const double *d, size_t n) {
    moments m = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++)
        m.mean += d[i];
    m.mean /= (double)n;
    double m2 = 0, m3 = 0, m4 = 0;
    for (size_t i = 0; i < n; i++) {
        double e = d[i] - m.mean, e2 = e * e;
        m2 += e2;
        m3 += e2 * e;
        m4 += e2 * e2;
    }
    m.var = m2 / (double)(n - 1);
    m.m3 = m3 / (double)n;
    m.kurt = (m4 / (double)n) / ((m2 / (double)n) * (m2 / (double)n));
    return m;
}

/* The change applied to each pixel: out - in, as doubles. */
static double *deltas(const sf_imgf *in, const sf_imgf *out) {
    size_t n = (size_t)in->nx * (size_t)in->ny;
    double *d = malloc(sizeof *d * n);
    cr_assert(d);
    for (size_t i = 0; i < n; i++)
        d[i] = (double)out->px[i] - (double)in->px[i];
    return d;
}

static sf_imgf img_copy(const sf_imgf *a) {
    sf_imgf b = img_const(a->nx, a->ny, 0.0f);
    memcpy(b.px, a->px, sizeof(float) * (size_t)a->nx * (size_t)a->ny);
    return b;
}

static double poisson_pmf(double mu, int k) {
    return exp(-mu + k * log(mu) - lgamma(k + 1.0));
}

/* Check counts x[0..n) (Poisson(mu) claimed) against mean, variance, third
 * central moment (= mu) and the pmf of the 9 values around the mode, each
 * within 5 standard errors. */
static void expect_poisson(const double *x, size_t n, double mu,
                           const char *what) {
    moments m = moments_of(x, n);
    double N = (double)n;
    double se_mean = sqrt(mu / N);
    double se_var = sqrt((mu + 2.0 * mu * mu) / N);
    /* Var(m3) ~ (mu6 - mu3^2 - 6 mu4 mu2 + 9 mu2^3) / N, which for the
     * Poisson central moments is (6 mu^3 + 18 mu^2 + mu) / N. */
    double se_m3 = sqrt((6.0 * mu * mu * mu + 18.0 * mu * mu + mu) / N);
    cr_expect(fabs(m.mean - mu) < 5 * se_mean,
              "%s: mean %.5f vs mu %.5f (se %.5f)", what, m.mean, mu, se_mean);
    cr_expect(fabs(m.var - mu) < 5 * se_var,
              "%s: var %.5f vs mu %.5f (se %.5f)", what, m.var, mu, se_var);
    cr_expect(fabs(m.m3 - mu) < 5 * se_m3, "%s: m3 %.4f vs mu %.4f (se %.4f)",
              what, m.m3, mu, se_m3);
    int mode = (int)floor(mu);
    for (int k = mode - 4; k <= mode + 4; k++) {
        if (k < 0) continue;
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
            c += x[i] == (double)k;
        double p = poisson_pmf(mu, k), f = (double)c / N;
        double se = sqrt(p * (1.0 - p) / N);
        cr_expect(fabs(f - p) < 5 * se + 1e-12,
                  "%s: P(X=%d) %.6f vs %.6f (se %.6f)", what, k, f, p, se);
    }
}

/* --------------------------------------------------------------- poisson */

/* Poisson noise at a constant level: v' * photons ~ Poisson(v * photons). */
static void poisson_pixels(float v, double photons) {
    int nx = 512, ny = 512;
    size_t n = (size_t)nx * ny;
    sf_imgf im = img_const(nx, ny, v);
    sf_noise_params p = params(SF_NOISE_POISSON);
    p.photons = photons;
    sf__noise_apply(&p, &im, NULL, 0,
                    sf_rng_key_make(11, 3, SF_STREAM_NOISE_PIXELS));
    double *x = malloc(sizeof *x * n);
    cr_assert(x);
    for (size_t i = 0; i < n; i++) {
        x[i] = (double)im.px[i] * photons;
        double r = floor(x[i] + 0.5);
        cr_assert(fabs(x[i] - r) < 1e-3 * (1.0 + r),
                  "pixel %zu: %g not a count", i, x[i]);
        x[i] = r;
    }
    char what[64];
    snprintf(what, sizeof what, "pixels mu=%g", (double)v * photons);
    expect_poisson(x, n, (double)v * photons, what);
    free(x);
    sf__imgf_release(&im);
}

Test(noise, poisson_small_mu_pixels) {
    poisson_pixels(0.3f, 10.0);
} /* mu 3 */
Test(noise, poisson_large_mu_pixels) {
    poisson_pixels(0.8f, 250.0);
} /* mu 200 */
Test(noise, poisson_threshold_mu_pixels) {
    poisson_pixels(0.5f, 20.0);
} /* mu 10 */

Test(noise, poisson_variates_several_mu) {
    const double mus[] = {0.05, 0.5, 3.0, 9.9, 10.0, 37.5, 1000.0, 123456.7};
    const size_t n = 200000;
    double *x = malloc(sizeof *x * n);
    cr_assert(x);
    for (size_t j = 0; j < sizeof mus / sizeof mus[0]; j++) {
        sf_rng_key k = sf_rng_key_make(5, j, 9);
        for (size_t i = 0; i < n; i++)
            x[i] = (double)sf__poisson(mus[j], k, i);
        char what[64];
        snprintf(what, sizeof what, "sf__poisson mu=%g", mus[j]);
        expect_poisson(x, n, mus[j], what);
    }
    free(x);
}

Test(noise, poisson_edge_cases) {
    sf_rng_key k = sf_rng_key_make(1, 2, 3);
    cr_expect_eq(sf__poisson(0.0, k, 1), 0u);
    cr_expect_eq(sf__poisson(-4.0, k, 1), 0u);
    cr_expect_eq(sf__poisson(NAN, k, 1), 0u);
    /* a pure function of (mu, key, counter) */
    for (uint64_t c = 0; c < 1000; c++) {
        cr_assert_eq(sf__poisson(3.7, k, c), sf__poisson(3.7, k, c));
        cr_assert_eq(sf__poisson(77.0, k, c), sf__poisson(77.0, k, c));
    }
    /* negative and NaN pixels count as 0 photons */
    sf_imgf im = img_const(4, 1, -0.5f);
    im.px[1] = NAN;
    sf_noise_params p = params(SF_NOISE_POISSON);
    sf__noise_apply(&p, &im, NULL, 0, k);
    for (int i = 0; i < 2; i++)
        cr_expect_eq(im.px[i], 0.0f);
    sf__imgf_release(&im);
}

/* ------------------------------------------------- gaussian and speckle */

Test(noise, gaussian_moments_and_tails) {
    int nx = 1024, ny = 1024;
    size_t n = (size_t)nx * ny;
    sf_imgf in = img_const(nx, ny, 0.5f), im = img_copy(&in);
    sf_noise_params p = params(SF_NOISE_GAUSSIAN);
    sf__noise_apply(&p, &im, NULL, 0,
                    sf_rng_key_make(2, 0, SF_STREAM_NOISE_PIXELS));
    double *d = deltas(&in, &im);
    double s = p.sigma, N = (double)n;
    for (size_t i = 0; i < n; i++)
        d[i] /= s; /* standard normal */
    moments m = moments_of(d, n);
    cr_expect(fabs(m.mean) < 5 / sqrt(N), "mean %g", m.mean);
    cr_expect(fabs(sqrt(m.var) - 1.0) < 5 / sqrt(2 * N), "std %g", sqrt(m.var));
    cr_expect(fabs(m.m3) < 5 * sqrt(6 / N), "m3 %g", m.m3);
    cr_expect(fabs(m.kurt - 3.0) < 5 * sqrt(24 / N), "kurtosis %g", m.kurt);
    /* P(|z| > t) for t inside the ziggurat body, near r (3.44) and in its
     * tail: the wedges and the tail sampler both carry their mass. */
    const double ts[] = {0.5, 1.0, 2.0, 3.0, 3.442, 4.0};
    for (size_t j = 0; j < sizeof ts / sizeof ts[0]; j++) {
        double pr = erfc(ts[j] / sqrt(2.0));
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
            c += fabs(d[i]) > ts[j];
        double f = (double)c / N, se = sqrt(pr * (1 - pr) / N);
        cr_expect(fabs(f - pr) < 5 * se, "P(|z|>%g) %.6g vs %.6g (se %.3g)",
                  ts[j], f, pr, se);
    }
    /* 64 bins of width 1/8 over [-4, 4]: every bin within 5 se */
    for (int b = 0; b < 64; b++) {
        double lo = -4.0 + b * 0.125, hi = lo + 0.125;
        double pr = 0.5 * (erfc(lo / sqrt(2.0)) - erfc(hi / sqrt(2.0)));
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
            c += d[i] >= lo && d[i] < hi;
        double f = (double)c / N, se = sqrt(pr * (1 - pr) / N);
        cr_expect(fabs(f - pr) < 5 * se, "bin [%g,%g): %.6g vs %.6g", lo, hi, f,
                  pr);
    }
    free(d);
    sf__imgf_release(&in);
    sf__imgf_release(&im);
}

Test(noise, speckle_keeps_mean_and_scales_std) {
    int nx = 512, ny = 512;
    size_t n = (size_t)nx * ny;
    const float v = 0.4f;
    sf_imgf in = img_const(nx, ny, v), im = img_copy(&in);
    sf_noise_params p = params(SF_NOISE_SPECKLE);
    sf__noise_apply(&p, &im, NULL, 0,
                    sf_rng_key_make(3, 0, SF_STREAM_NOISE_PIXELS));
    double *d = malloc(sizeof *d * n);
    cr_assert(d);
    for (size_t i = 0; i < n; i++)
        d[i] = im.px[i];
    moments m = moments_of(d, n);
    double sd = p.sigma * v, N = (double)n;
    cr_expect(fabs(m.mean - v) < 5 * sd / sqrt(N), "mean %g vs %g", m.mean,
              (double)v);
    cr_expect(fabs(sqrt(m.var) - sd) < 5 * sd / sqrt(2 * N), "std %g vs %g",
              sqrt(m.var), sd);
    /* zero stays zero: the noise is multiplicative */
    sf_imgf z = img_const(16, 16, 0.0f);
    sf__noise_apply(&p, &z, NULL, 0,
                    sf_rng_key_make(3, 1, SF_STREAM_NOISE_PIXELS));
    for (int i = 0; i < 256; i++)
        cr_expect_eq(z.px[i], 0.0f);
    free(d);
    sf__imgf_release(&z);
    sf__imgf_release(&in);
    sf__imgf_release(&im);
}

/* ---------------------------------------------------------------- rician */

Test(noise, rician_zero_signal_is_rayleigh) {
    int nx = 512, ny = 512;
    size_t n = (size_t)nx * ny;
    sf_imgf im = img_const(nx, ny, 0.0f);
    sf_noise_params p = params(SF_NOISE_RICIAN);
    sf__noise_apply(&p, &im, NULL, 0,
                    sf_rng_key_make(4, 0, SF_STREAM_NOISE_PIXELS));
    double *d = malloc(sizeof *d * n);
    cr_assert(d);
    for (size_t i = 0; i < n; i++) {
        cr_assert(im.px[i] >= 0.0f);
        d[i] = im.px[i];
    }
    moments m = moments_of(d, n);
    double s = p.sigma, N = (double)n;
    double mean = s * sqrt(M_PI / 2), sd = s * sqrt(2 - M_PI / 2);
    cr_expect(fabs(m.mean - mean) < 5 * sd / sqrt(N), "mean %g vs %g", m.mean,
              mean);
    cr_expect(fabs(sqrt(m.var) - sd) < 0.01 * sd, "std %g vs %g", sqrt(m.var),
              sd);
    /* Rayleigh: P(R > t) = exp(-t^2 / (2 s^2)) */
    for (double t = 0.5; t <= 3.0; t += 0.5) {
        double pr = exp(-t * t / 2), se = sqrt(pr * (1 - pr) / N);
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
            c += d[i] > t * s;
        cr_expect(fabs((double)c / N - pr) < 5 * se, "P(R>%g s) %g vs %g", t,
                  (double)c / N, pr);
    }
    free(d);
    sf__imgf_release(&im);
}

Test(noise, rician_high_snr_is_near_gaussian) {
    int nx = 512, ny = 256;
    size_t n = (size_t)nx * ny;
    const float v = 0.6f;
    sf_imgf im = img_const(nx, ny, v);
    sf_noise_params p = params(SF_NOISE_RICIAN);
    p.sigma = 0.01;
    sf__noise_apply(&p, &im, NULL, 0,
                    sf_rng_key_make(4, 1, SF_STREAM_NOISE_PIXELS));
    double *d = malloc(sizeof *d * n);
    cr_assert(d);
    for (size_t i = 0; i < n; i++)
        d[i] = im.px[i];
    moments m = moments_of(d, n);
    /* E|v + s z| ~ v + s^2 / (2 v); std ~ s */
    double mean = v + p.sigma * p.sigma / (2 * v), N = (double)n;
    cr_expect(fabs(m.mean - mean) < 5 * p.sigma / sqrt(N), "mean %g vs %g",
              m.mean, mean);
    cr_expect(fabs(sqrt(m.var) - p.sigma) < 0.02 * p.sigma, "std %g",
              sqrt(m.var));
    free(d);
    sf__imgf_release(&im);
}

/* ---------------------------------------------------------------- perlin */

Test(noise, perlin_is_bounded_smooth_and_not_constant) {
    int nx = 300, ny = 200; /* crosses tile borders in x and y */
    size_t n = (size_t)nx * ny;
    sf_imgf in = img_const(nx, ny, 0.5f), im = img_copy(&in);
    sf_noise_params p = params(SF_NOISE_PERLIN);
    double a = p.amplitude;
    sf__noise_apply(&p, &im, NULL, 0,
                    sf_rng_key_make(6, 0, SF_STREAM_NOISE_PIXELS));
    double *d = deltas(&in, &im);
    double lo = 1, hi = -1, sum = 0, sumsq = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(fabs(d[i]) <= a * (1 + 1e-5),
                  "pixel %zu: %g beyond amplitude", i, d[i]);
        lo = fmin(lo, d[i]);
        hi = fmax(hi, d[i]);
        sum += d[i];
        sumsq += d[i] * d[i];
    }
    double mean = sum / (double)n, sd = sqrt(sumsq / (double)n - mean * mean);
    cr_expect(fabs(mean) < 0.25 * a, "mean %g", mean);
    cr_expect(sd > 0.1 * a, "std %g: not a flat field", sd);
    cr_expect(hi - lo > 0.5 * a, "range %g", hi - lo);
    /* smooth: neighbour differences far below the amplitude (white noise
     * of this std would give mean |dx| ~ 1.13 sd) */
    double dmax = 0, dsum = 0;
    size_t dn = 0;
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
            size_t i = (size_t)y * nx + x;
            if (x + 1 < nx) {
                double e = fabs(d[i + 1] - d[i]);
                dmax = fmax(dmax, e);
                dsum += e;
                dn++;
            }
            if (y + 1 < ny) {
                double e = fabs(d[i + nx] - d[i]);
                dmax = fmax(dmax, e);
                dsum += e;
                dn++;
            }
        }
    cr_expect(dsum / (double)dn < 0.1 * sd,
              "mean |neighbour diff| %g vs std %g", dsum / (double)dn, sd);
    cr_expect(dmax < 0.1 * a, "max |neighbour diff| %g", dmax);
    free(d);
    sf__imgf_release(&in);
    sf__imgf_release(&im);
}

Test(noise, perlin_is_c1_across_cell_borders) {
    /* Ken Perlin's fade 6t^5 - 15t^4 + 10t^3 makes the field C2: second
     * differences stay tiny everywhere (64 px cells here); a linear or
     * cubic-less blend would kink at every cell border (~10x larger). */
    sf_imgf im = img_const(256, 256, 0.0f);
    sf_noise_params p = params(SF_NOISE_PERLIN);
    p.amplitude = 1.0;
    p.octaves = 1;
    p.cells = 4.0;
    sf__noise_apply(&p, &im, NULL, 0,
                    sf_rng_key_make(6, 1, SF_STREAM_NOISE_PIXELS));
    double d2 = 0;
    for (int y = 1; y < 255; y++)
        for (int x = 1; x < 255; x++) {
            size_t i = (size_t)y * 256 + x;
            d2 = fmax(d2, fabs(im.px[i + 1] - 2 * im.px[i] + im.px[i - 1]));
            d2 = fmax(d2, fabs(im.px[i + 256] - 2 * im.px[i] + im.px[i - 256]));
        }
    cr_expect(d2 < 0.006, "max second difference %g", d2);
    sf__imgf_release(&im);
}

Test(noise, perlin_mean_is_zero_over_many_fields) {
    /* One field's mean wanders; over 64 keys the mean of the means and the
     * pooled mean must be ~0 (gradients are symmetric). */
    sf_noise_params p = params(SF_NOISE_PERLIN);
    p.cells = 3.0;
    double total = 0, means[64];
    for (int r = 0; r < 64; r++) {
        sf_imgf im = img_const(96, 96, 0.0f);
        sf__noise_apply(&p, &im, NULL, 0, sf_rng_key_make(7, (uint64_t)r, 1));
        double s = 0;
        for (int i = 0; i < 96 * 96; i++)
            s += im.px[i];
        means[r] = s / (96 * 96);
        total += means[r];
        sf__imgf_release(&im);
    }
    double mm = total / 64, v = 0;
    for (int r = 0; r < 64; r++)
        v += (means[r] - mm) * (means[r] - mm);
    double se = sqrt(v / 63 / 64);
    cr_expect(fabs(mm) < 5 * se + 1e-6, "mean of field means %g (se %g)", mm,
              se);
}

Test(noise, perlin_degenerate_parameters) {
    sf_imgf in = img_random(37, 23, 1), im = img_copy(&in);
    sf_noise_params p = params(SF_NOISE_PERLIN);
    sf_rng_key k = sf_rng_key_make(8, 0, 0);
    /* lattice much finer than the pixels: bounded and finite */
    p.cells = 512;
    p.octaves = 10;
    p.persistence = 1.0;
    sf__noise_apply(&p, &im, NULL, 0, k);
    for (int i = 0; i < 37 * 23; i++)
        cr_assert(fabs(im.px[i] - in.px[i]) <= p.amplitude * (1 + 1e-5));
    /* no octaves, zero amplitude, zero persistence: no change / octave 0 */
    memcpy(im.px, in.px, sizeof(float) * 37 * 23);
    p.octaves = 0;
    sf__noise_apply(&p, &im, NULL, 0, k);
    cr_expect(!memcmp(im.px, in.px, sizeof(float) * 37 * 23));
    p = params(SF_NOISE_PERLIN);
    p.persistence = 0.0;
    sf__noise_apply(&p, &im, NULL, 0, k);
    sf_imgf one = img_copy(&in);
    p.octaves = 1;
    sf__noise_apply(&p, &one, NULL, 0, k);
    cr_expect(!memcmp(im.px, one.px, sizeof(float) * 37 * 23),
              "persistence 0 = the first octave alone");
    sf__imgf_release(&one);
    sf__imgf_release(&in);
    sf__imgf_release(&im);
}

/* ------------------------------------------------- masks, determinism */

/* A label map with values 0..3 in blobs and scattered pixels. */
static uint16_t *labels_for(int nx, int ny) {
    uint16_t *m = malloc(sizeof *m * (size_t)nx * ny);
    cr_assert(m);
    sf_rng_key k = sf_rng_key_make(99, 0, 0);
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
            size_t i = (size_t)y * nx + x;
            uint16_t l = (uint16_t)((x / 40 + y / 30) % 3);
            if ((sf_rng_u64(k, i) & 15) == 0) l = 3;
            m[i] = l;
        }
    return m;
}

Test(noise, mask_leaves_outside_untouched_and_matches_full_apply) {
    int nx = 301, ny = 157;
    size_t n = (size_t)nx * ny;
    uint16_t *lab = labels_for(nx, ny);
    for (int model = 0; model < SF_NOISE_COUNT; model++) {
        sf_noise_params p = params(model);
        sf_rng_key k =
            sf_rng_key_make(10, (uint64_t)model, SF_STREAM_NOISE_PIXELS);
        sf_imgf in = img_random(nx, ny, 5);
        in.px[0] = -0.0f; /* must stay -0.0 where not selected */
        sf_imgf full = img_copy(&in), part = img_copy(&in);
        sf__noise_apply(&p, &full, NULL, 0, k);
        sf__noise_apply(&p, &part, lab, 2, k);
        size_t inside = 0, changed = 0;
        for (size_t i = 0; i < n; i++) {
            if (lab[i] == 2) {
                inside++;
                changed += part.px[i] != in.px[i];
                cr_assert(!memcmp(&part.px[i], &full.px[i], sizeof(float)),
                          "model %d pixel %zu: masked %a != full %a", model, i,
                          (double)part.px[i], (double)full.px[i]);
            } else {
                cr_assert(!memcmp(&part.px[i], &in.px[i], sizeof(float)),
                          "model %d pixel %zu outside the mask changed", model,
                          i);
            }
        }
        cr_expect(inside > 1000 && changed > inside / 2,
                  "model %d: %zu of %zu changed", model, changed, inside);
        sf__imgf_release(&in);
        sf__imgf_release(&full);
        sf__imgf_release(&part);
    }
    free(lab);
}

Test(noise, deterministic_per_key) {
    int nx = 130, ny = 70;
    size_t n = (size_t)nx * ny;
    for (int model = 0; model < SF_NOISE_COUNT; model++) {
        sf_noise_params p = params(model);
        sf_rng_key k1 = sf_rng_key_make(12, 4, SF_STREAM_NOISE_PIXELS);
        sf_rng_key k2 = sf_rng_key_make(12, 5, SF_STREAM_NOISE_PIXELS);
        sf_imgf in = img_random(nx, ny, 6);
        sf_imgf a = img_copy(&in), b = img_copy(&in), c = img_copy(&in);
        sf__noise_apply(&p, &a, NULL, 0, k1);
        sf__noise_apply(&p, &b, NULL, 0, k1);
        sf__noise_apply(&p, &c, NULL, 0, k2);
        cr_expect(!memcmp(a.px, b.px, sizeof(float) * n),
                  "model %d: same key differs", model);
        size_t diff = 0;
        for (size_t i = 0; i < n; i++)
            diff += a.px[i] != c.px[i];
        cr_expect(diff > n / 2, "model %d: other key changes only %zu of %zu",
                  model, diff, n);
        sf__imgf_release(&in);
        sf__imgf_release(&a);
        sf__imgf_release(&b);
        sf__imgf_release(&c);
    }
}

Test(noise, pixel_depends_on_index_not_on_image_size) {
    /* counters are pixel indices: the first rows of a taller image get the
     * same noise as the shorter one (per-pixel models only) */
    const int models[] = {SF_NOISE_GAUSSIAN, SF_NOISE_POISSON, SF_NOISE_SPECKLE,
                          SF_NOISE_RICIAN};
    for (size_t j = 0; j < 4; j++) {
        sf_noise_params p = params(models[j]);
        sf_rng_key k = sf_rng_key_make(13, 0, 1);
        sf_imgf a = img_const(64, 10, 0.3f), b = img_const(64, 33, 0.3f);
        sf__noise_apply(&p, &a, NULL, 0, k);
        sf__noise_apply(&p, &b, NULL, 0, k);
        cr_expect(!memcmp(a.px, b.px, sizeof(float) * 64 * 10), "model %d",
                  models[j]);
        sf__imgf_release(&a);
        sf__imgf_release(&b);
    }
}

Test(noise, empty_and_unknown_are_no_ops) {
    sf_noise_params p = params(SF_NOISE_GAUSSIAN);
    sf_rng_key k = sf_rng_key_make(1, 1, 1);
    sf_imgf none = {0, 0, NULL};
    sf__noise_apply(&p, &none, NULL, 0, k);
    sf__noise_apply(&p, NULL, NULL, 0, k);
    sf_imgf in = img_random(9, 9, 2), im = img_copy(&in);
    p.model = SF_NOISE_COUNT;
    sf__noise_apply(&p, &im, NULL, 0, k);
    p.model = -1;
    sf__noise_apply(&p, &im, NULL, 0, k);
    cr_expect(!memcmp(im.px, in.px, sizeof(float) * 81));
    sf__imgf_release(&in);
    sf__imgf_release(&im);
}

/* ------------------------------------------------------ draws and JSON */

Test(noise, draw_uses_only_the_models_parameters) {
    sf_noise_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.sigma = (sf_range){0.01, 0.02};
    cfg.photons = (sf_range){30, 40};
    cfg.amplitude = (sf_range){0.1, 0.2};
    cfg.octaves = (sf_irange){2, 5};
    cfg.cells = (sf_range){3, 4};
    cfg.persistence = (sf_range){0.4, 0.6};
    const uint64_t n_draws[SF_NOISE_COUNT] = {1, 1, 4, 1, 1};
    for (int m = 0; m < SF_NOISE_COUNT; m++) {
        for (int r = 0; r < 50; r++) {
            sf_draw d;
            sf__draw_init(&d, 3, (uint64_t)r, SF_STREAM_NOISE_PARAMS);
            sf_noise_params p;
            memset(&p, 0x5a, sizeof p);
            sf__noise_draw(&cfg, m, &d, &p);
            cr_assert_eq(p.model, m);
            cr_assert_eq(d.ctr, n_draws[m], "model %d drew %llu", m,
                         (unsigned long long)d.ctr);
            int sig = m == SF_NOISE_GAUSSIAN || m == SF_NOISE_SPECKLE ||
                      m == SF_NOISE_RICIAN;
            int per = m == SF_NOISE_PERLIN;
            if (sig)
                cr_assert(p.sigma >= 0.01 && p.sigma < 0.02);
            else
                cr_assert_eq(p.sigma, 0.0);
            if (m == SF_NOISE_POISSON)
                cr_assert(p.photons >= 30 && p.photons < 40);
            else
                cr_assert_eq(p.photons, 0.0);
            if (per) {
                cr_assert(p.amplitude >= 0.1 && p.amplitude < 0.2);
                cr_assert(p.octaves >= 2 && p.octaves <= 5);
                cr_assert(p.cells >= 3 && p.cells < 4);
                cr_assert(p.persistence >= 0.4 && p.persistence < 0.6);
            } else {
                cr_assert(p.amplitude == 0 && p.octaves == 0 && p.cells == 0 &&
                          p.persistence == 0);
            }
        }
    }
    /* fixed order: perlin's second draw is the octave count */
    sf_draw d1, d2;
    sf__draw_init(&d1, 4, 0, SF_STREAM_NOISE_PARAMS);
    sf__draw_init(&d2, 4, 0, SF_STREAM_NOISE_PARAMS);
    sf_noise_params p;
    sf__noise_draw(&cfg, SF_NOISE_PERLIN, &d1, &p);
    double amp = sf__draw_range(&d2, cfg.amplitude);
    int oct = sf__draw_irange(&d2, cfg.octaves);
    cr_expect_eq(p.amplitude, amp);
    cr_expect_eq(p.octaves, oct);
}

static void expect_json(const sf_noise_params *p, const char *want) {
    sf_buf b = {0};
    sf__noise_json(p, &b);
    char *s = sf_buf_take(&b);
    cr_assert(s);
    cr_expect_str_eq(s, want);
    free(s);
}

Test(noise, json_records_the_models_fields) {
    sf_noise_params p;
    memset(&p, 0, sizeof p);
    p.model = SF_NOISE_GAUSSIAN;
    p.sigma = 0.0123;
    expect_json(&p, "{\"model\":\"gaussian\",\"sigma\":0.0123}");
    p.model = SF_NOISE_SPECKLE;
    expect_json(&p, "{\"model\":\"speckle\",\"sigma\":0.0123}");
    p.model = SF_NOISE_RICIAN;
    expect_json(&p, "{\"model\":\"rician\",\"sigma\":0.0123}");
    memset(&p, 0, sizeof p);
    p.model = SF_NOISE_POISSON;
    p.photons = 300;
    expect_json(&p, "{\"model\":\"poisson\",\"photons\":300}");
    memset(&p, 0, sizeof p);
    p.model = SF_NOISE_PERLIN;
    p.amplitude = 0.05;
    p.octaves = 3;
    p.cells = 4.5;
    p.persistence = 0.5;
    expect_json(
        &p,
        "{\"model\":\"perlin\",\"amplitude\":0.05,\"octaves\":3,\"cells\":4.5,"
        "\"persistence\":0.5}");
}

/* ------------------------------------------------------- per-label apply */

/* A label map with n labels in blobs (0 in a band, a few labels above n
 * that must stay untouched), plus scattered single pixels. */
static uint16_t *labels_many(int nx, int ny, int n) {
    uint16_t *m = malloc(sizeof *m * (size_t)nx * ny);
    cr_assert(m);
    sf_rng_key k = sf_rng_key_make(98, 0, 0);
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
            size_t i = (size_t)y * nx + x;
            int l = 1 + (x / 23 + 7 * (y / 19)) % n;
            uint64_t r = sf_rng_u64(k, i);
            if ((r & 31) == 0) l = 1 + (int)((r >> 8) % (uint64_t)n);
            if (y % 50 >= 47) l = 0;
            if ((r & 1023) == 1) l = n + 1 + (int)((r >> 20) & 3);
            m[i] = (uint16_t)l;
        }
    return m;
}

/* Parameters for label l: every label its own values; perlin labels differ
 * in octaves, cells and persistence too. Label 3 of poisson has invalid
 * photons (its pixels stay as they are in both paths). */
static sf_noise_params params_for(int model, int l) {
    sf_noise_params p = params(model);
    p.sigma *= 0.5 + 0.03 * l;
    p.photons = 15.0 + 37.0 * l;
    if (model == SF_NOISE_POISSON && l == 3) p.photons = 0.0;
    p.amplitude = 0.02 + 0.004 * l;
    p.octaves = 1 + l % 5;
    p.cells = 1.5 + 0.7 * (l % 9);
    p.persistence = 0.3 + 0.05 * (l % 7);
    return p;
}

static void labels_match(int nx, int ny, int n, int noisy) {
    size_t np = (size_t)nx * ny;
    uint16_t *lab = labels_many(nx, ny, n);
    sf_noise_params *ps = calloc((size_t)n + 1, sizeof *ps);
    cr_assert(ps);
    for (int model = 0; model < SF_NOISE_COUNT; model++) {
        for (int l = 1; l <= n; l++)
            ps[l] = params_for(model, l);
        ps[0].model = -1; /* never read */
        ps[0].sigma = NAN;
        sf_rng_key k = sf_rng_key_make(31, (uint64_t)model, 5);
        sf_imgf in = noisy ? img_random(nx, ny, 8) : img_const(nx, ny, 0.0f);
        if (!noisy) /* piecewise constant, like a module's output */
            for (size_t i = 0; i < np; i++)
                in.px[i] = 0.05f + 0.9f * (float)(lab[i] % 7) / 7.0f;
        in.px[0] = -0.0f;
        in.px[np - 1] = NAN;
        sf_imgf one = img_copy(&in), each = img_copy(&in);
        sf__noise_apply_labels(ps, n, &one, lab, k);
        for (int l = 1; l <= n; l++)
            sf__noise_apply(&ps[l], &each, lab, (uint16_t)l, k);
        size_t changed = 0;
        for (size_t i = 0; i < np; i++) {
            cr_assert(!memcmp(&one.px[i], &each.px[i], sizeof(float)),
                      "model %d pixel %zu (label %d): one pass %a, per label "
                      "%a",
                      model, i, lab[i], (double)one.px[i], (double)each.px[i]);
            if (lab[i] == 0 || lab[i] > n)
                cr_assert(!memcmp(&one.px[i], &in.px[i], sizeof(float)),
                          "model %d pixel %zu: label %d touched", model, i,
                          lab[i]);
            changed += memcmp(&one.px[i], &in.px[i], sizeof(float)) != 0;
        }
        cr_expect(changed > np / 2, "model %d: %zu of %zu changed", model,
                  changed, np);
        sf__imgf_release(&in);
        sf__imgf_release(&one);
        sf__imgf_release(&each);
    }
    free(ps);
    free(lab);
}

Test(noise, labels_one_pass_equals_per_label_apply) {
    labels_match(301, 157, 40, 0);  /* odd sizes, piecewise constant */
    labels_match(300, 130, 300, 1); /* many labels (heap scratch), noisy */
    labels_match(7, 5, 3, 1);       /* smaller than a chunk and a tile */
}

Test(noise, labels_edge_cases) {
    sf_imgf in = img_random(20, 10, 3), im = img_copy(&in);
    uint16_t lab[200];
    for (int i = 0; i < 200; i++)
        lab[i] = (uint16_t)(i % 3);
    sf_noise_params ps[3] = {params(SF_NOISE_GAUSSIAN),
                             params(SF_NOISE_GAUSSIAN),
                             params(SF_NOISE_GAUSSIAN)};
    sf_rng_key k = sf_rng_key_make(2, 2, 2);
    sf__noise_apply_labels(ps, 0, &im, lab, k);
    sf__noise_apply_labels(ps, 2, &im, NULL, k);
    sf__noise_apply_labels(NULL, 2, &im, lab, k);
    sf__noise_apply_labels(ps, 2, NULL, lab, k);
    cr_expect(!memcmp(im.px, in.px, sizeof(float) * 200), "no-ops");
    sf__imgf_release(&in);
    sf__imgf_release(&im);
}

/* The pixel path (first trials in SIMD lanes, lists for the rest) gives
 * exactly the scalar sf__poisson draw: pixel 2 c uses words 0, 1 of block
 * c, as sf__poisson(mu, k, c) does. Means on both sides of the inversion
 * threshold, constant (cached constants) and varying per pixel. */
Test(noise, poisson_pixels_equal_scalar_draws) {
    const int nx = 256, ny = 40;
    const double photons = 73.0;
    sf_rng_key k = sf_rng_key_make(17, 1, SF_STREAM_NOISE_PIXELS);
    for (int varying = 0; varying < 2; varying++) {
        sf_imgf in = varying ? img_random(nx, ny, 4) : img_const(nx, ny, 0.0f);
        if (!varying)
            for (int i = 0; i < nx * ny; i++)
                in.px[i] = (float)((i / 64) % 9) * 0.11f; /* 0, 8, 16.1 .. */
        sf_imgf im = img_copy(&in);
        sf_noise_params p = params(SF_NOISE_POISSON);
        p.photons = photons;
        sf__noise_apply(&p, &im, NULL, 0, k);
        for (int i = 0; i < nx * ny; i += 2) {
            double mu = in.px[i] > 0.0f ? (double)in.px[i] * photons : 0.0;
            unsigned x = sf__poisson(mu, k, (uint64_t)i / 2);
            float want = (float)((double)x * (1.0 / photons));
            cr_assert(!memcmp(&im.px[i], &want, sizeof want),
                      "pixel %d (mu %g): %a vs scalar %a", i, mu,
                      (double)im.px[i], (double)want);
        }
        sf__imgf_release(&in);
        sf__imgf_release(&im);
    }
}
