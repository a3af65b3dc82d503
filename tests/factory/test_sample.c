/* Whole samples: determinism, mode selection, records, visibility. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sf_int.h"

static sf_config cfg(int size, int mode) {
    sf_config c;
    sf_err e = {0};
    cr_assert_eq(sf_config_default(&c, &e), SF_OK, "%s", e.msg);
    c.image_size = size;
    c.mode = mode;
    return c;
}

static int same(const sf_sample *a, const sf_sample *b) {
    size_t n = (size_t)a->nx * a->ny;
    return a->nx == b->nx && a->ny == b->ny && !memcmp(a->image, b->image, n) &&
           !memcmp(a->labels, b->labels, 2 * n) && !strcmp(a->params_json, b->params_json);
}

Test(sample, deterministic_and_index_dependent) {
    sf_config c = cfg(192, SF_MODE_BOTH);
    for (uint64_t i = 0; i < 8; i++) {
        sf_sample *a = NULL, *b = NULL, *d = NULL;
        sf_err e = {0};
        cr_assert_eq(sf_sample_generate(&c, 5, i, &a, &e), SF_OK, "%s", e.msg);
        cr_assert_eq(sf_sample_generate(&c, 5, i, &b, &e), SF_OK);
        cr_assert_eq(sf_sample_generate(&c, 5, i + 100, &d, &e), SF_OK);
        cr_expect(same(a, b), "sample %llu differs between runs", (unsigned long long)i);
        cr_expect(!same(a, d));
        sf_sample_free(a);
        sf_sample_free(b);
        sf_sample_free(d);
    }
}

Test(sample, modes_and_mix) {
    int n_shape = 0, n_boundary = 0;
    sf_config c = cfg(128, SF_MODE_BOTH);
    for (uint64_t i = 0; i < 40; i++) {
        sf_sample *s = NULL;
        cr_assert_eq(sf_sample_generate(&c, 1, i, &s, NULL), SF_OK);
        n_shape += s->module == SF_MODE_SHAPE;
        n_boundary += s->module == SF_MODE_BOUNDARY;
        cr_expect(strstr(s->params_json, s->module == SF_MODE_SHAPE ? "\"module\":\"shape\""
                                                                     : "\"module\":\"boundary\""));
        sf_sample_free(s);
    }
    cr_expect(n_shape >= 8 && n_boundary >= 8, "mix 0.5 gave %d/%d", n_shape, n_boundary);
    for (int mode = SF_MODE_SHAPE; mode <= SF_MODE_BOUNDARY; mode++) {
        c = cfg(128, mode);
        for (uint64_t i = 0; i < 10; i++) {
            sf_sample *s = NULL;
            cr_assert_eq(sf_sample_generate(&c, 1, i, &s, NULL), SF_OK);
            cr_expect_eq(s->module, mode);
            sf_sample_free(s);
        }
    }
}

Test(sample, labels_in_range_and_present) {
    sf_config c = cfg(256, SF_MODE_BOTH);
    for (uint64_t i = 0; i < 12; i++) {
        sf_sample *s = NULL;
        cr_assert_eq(sf_sample_generate(&c, 3, i, &s, NULL), SF_OK);
        cr_assert(s->n_instances >= 0 && s->n_instances < 65535);
        char *seen = calloc((size_t)s->n_instances + 1, 1);
        for (int p = 0; p < s->nx * s->ny; p++) {
            cr_assert(s->labels[p] <= s->n_instances);
            seen[s->labels[p]] = 1;
        }
        for (int l = 1; l <= s->n_instances; l++)
            cr_expect(seen[l], "label %d of %d absent", l, s->n_instances);
        free(seen);
        cr_expect(strstr(s->params_json, "\"noise\":[") && strstr(s->params_json, "\"blur\":"));
        sf_sample_free(s);
    }
}
