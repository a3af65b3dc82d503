/* Philox4x32-10 known answers (Random123 kat_vectors) and draw streams. */
#include <criterion/criterion.h>
#include <math.h>

#include "sf_int.h"

Test(rng, philox_known_answers) {
    static const uint32_t v[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        sf_philox4x32_10(v[i], v[i] + 4, out);
        for (int j = 0; j < 4; j++)
            cr_expect_eq(out[j], v[i][6 + j], "vector %d word %d: %08x != %08x",
                         i, j, out[j], v[i][6 + j]);
    }
}

Test(rng, streams_are_distinct_and_pure) {
    sf_rng_key a = sf_rng_key_make(1, 7, 3), b = sf_rng_key_make(1, 7, 3);
    sf_rng_key c = sf_rng_key_make(1, 8, 3), d = sf_rng_key_make(1, 7, 4);
    sf_rng_key e = sf_rng_key_make(2, 7, 3);
    cr_expect_eq(sf_rng_u64(a, 5), sf_rng_u64(b, 5));
    cr_expect_neq(sf_rng_u64(a, 5), sf_rng_u64(c, 5));
    cr_expect_neq(sf_rng_u64(a, 5), sf_rng_u64(d, 5));
    cr_expect_neq(sf_rng_u64(a, 5), sf_rng_u64(e, 5));
    cr_expect_neq(sf_rng_u64(a, 5), sf_rng_u64(a, 6));
}

Test(rng, uniform_and_int_draws_in_range) {
    sf_draw d;
    sf__draw_init(&d, 42, 0, 1);
    int hist[7] = {0};
    double sum = 0;
    for (int i = 0; i < 70000; i++) {
        double u = sf__draw_uniform(&d, 2.0, 3.0);
        cr_assert(u >= 2.0 && u < 3.0);
        sum += u;
        int k = sf__draw_int(&d, 3, 9);
        cr_assert(k >= 3 && k <= 9);
        hist[k - 3]++;
    }
    cr_expect(fabs(sum / 70000 - 2.5) < 0.01);
    for (int k = 0; k < 7; k++)
        cr_expect(abs(hist[k] - 10000) < 500, "bin %d: %d", k, hist[k]);
    cr_expect_eq(d.ctr, 140000u, "one counter per draw");
}

Test(rng, normal_moments) {
    sf_draw d;
    sf__draw_init(&d, 9, 1, 2);
    double s = 0, s2 = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double z = sf__draw_normal(&d);
        s += z;
        s2 += z * z;
    }
    cr_expect(fabs(s / n) < 0.01);
    cr_expect(fabs(s2 / n - 1.0) < 0.015);
    float z0, z1;
    double f2 = 0;
    sf_rng_key k = sf_rng_key_make(3, 0, 9);
    for (int i = 0; i < n; i++) {
        uint32_t o[4];
        sf_rng_block(k, (uint64_t)i, o);
        sf__normal2f(o[0], o[1], &z0, &z1);
        cr_assert(isfinite(z0) && isfinite(z1));
        f2 += (double)z0 * z0 + (double)z1 * z1;
    }
    cr_expect(fabs(f2 / (2.0 * n) - 1.0) < 0.015);
}

Test(rng, sample_seed_depends_on_both) {
    cr_expect_neq(sf_sample_seed(1, 0), sf_sample_seed(1, 1));
    cr_expect_neq(sf_sample_seed(1, 0), sf_sample_seed(2, 0));
    cr_expect_eq(sf_sample_seed(5, 9), sf_sample_seed(5, 9));
}
