/* Config: defaults, overrides, canonical round trip, and bad configs that
 * must fail with file:line:col and the key. */
#include <criterion/criterion.h>
#include <string.h>

#include "sf_int.h"
#include "sf_yaml.h"

Test(config, default_matches_documented_values) {
    sf_config c;
    sf_err e = {0};
    cr_assert_eq(sf_config_default(&c, &e), SF_OK, "%s", e.msg);
    cr_expect_eq(c.image_size, 1024);
    cr_expect_eq(c.mode, SF_MODE_BOTH);
    cr_expect_eq(c.shape.n_shapes.lo, 1);
    cr_expect_eq(c.shape.n_shapes.hi, 6);
    cr_expect_eq(c.shape.n_control_points.lo, 3);
    cr_expect_eq(c.shape.n_control_points.hi, 12);
    cr_expect_eq(c.boundary.n_labels.lo, 10);
    cr_expect_eq(c.boundary.n_labels.hi, 15);
    cr_expect_eq(c.boundary.n_label_scales, 2);
    cr_expect_float_eq(c.boundary.label_scales[0], 1.0 / 32, 1e-12);
    cr_expect_eq(c.boundary.n_warp_scales, 3);
    cr_expect_float_eq(c.boundary.warp_sigma_px.hi, 8.0, 1e-12);
    cr_expect_float_eq(c.contrast.background.lo, 0.0, 1e-12);
    cr_expect_float_eq(c.contrast.background.hi, 1.0, 1e-12);
    cr_expect(c.contrast.min_contrast > 0);
    cr_expect_eq(sf_config_validate(&c, &e), SF_OK);
}

Test(config, partial_file_overrides_defaults) {
    const char *y = "image_size: 256\nmode: shape\nshape:\n  n_shapes: [2, 3]\n"
                    "noise:\n  gaussian: {probability: 1.0}\n";
    sf_config c;
    sf_err e = {0};
    cr_assert_eq(sf_config_parse("t.yaml", y, strlen(y), &c, &e), SF_OK, "%s",
                 e.msg);
    cr_expect_eq(c.image_size, 256);
    cr_expect_eq(c.mode, SF_MODE_SHAPE);
    cr_expect_eq(c.shape.n_shapes.lo, 2);
    cr_expect_eq(c.shape.n_control_points.hi, 12,
                 "untouched key keeps default");
    cr_expect_float_eq(c.noise.model[SF_NOISE_GAUSSIAN].probability, 1.0,
                       1e-12);
    cr_expect(c.noise.model[SF_NOISE_GAUSSIAN].sigma.hi > 0,
              "sibling keeps default");
}

Test(config, canonical_yaml_round_trips) {
    sf_config c, c2;
    sf_err e = {0};
    char *y = NULL, *y2 = NULL;
    cr_assert_eq(sf_config_default(&c, &e), SF_OK);
    c.contrast.delta.lo = 0.1; /* not exactly representable */
    cr_assert_eq(sf_config_to_yaml(&c, &y, &e), SF_OK);
    cr_assert_eq(sf_config_parse("canon", y, strlen(y), &c2, &e), SF_OK,
                 "%s\n%s", e.msg, y);
    cr_assert_eq(sf_config_to_yaml(&c2, &y2, &e), SF_OK);
    cr_expect_str_eq(y, y2);
    cr_expect(memcmp(&c.contrast, &c2.contrast, sizeof c.contrast) == 0);
    cr_expect(strstr(y, "boundary:\n  n_labels: [10, 15]\n") != NULL, "%s", y);
    free(y);
    free(y2);
}

typedef struct bad_case {
    const char *yaml;
    const char *where;  /* expected "line:col" suffix */
    const char *needle; /* expected in the message */
} bad_case;

static const bad_case bad[] = {
    {"image_size: 1024\ncolour: red\n", "2:1", "colour"}, /* unknown key */
    {"shape:\n  n_shapez: [1, 2]\n", "2:3",
     "shape.n_shapez"}, /* unknown nested */
    {"shape:\n  n_control_ponts: [3, 9]\n", "2:3",
     "did you mean 'shape.n_control_points'"}, /* typo */
    {"imagesize: 512\n", "1:1",
     "did you mean 'image_size'"},                        /* typo, top level */
    {"image_size: big\n", "1:13", "expected an integer"}, /* wrong type */
    {"image_size: 100.5\n", "1:13", "expected an integer"}, /* not integral */
    {"image_size: 16\n", "1:13", "out of range"},           /* too small */
    {"shape:\n  n_shapes: [5, 2]\n", "2:13", "lo > hi"},    /* inverted */
    {"shape:\n  n_shapes: [1, 2, 3]\n", "2:13", "two integers"}, /* 3 items */
    {"shape:\n  radius: 0.1\n", "2:11",
     "list of two numbers"}, /* scalar for range */
    {"mode: everything\n", "1:7", "both | shape | boundary"}, /* bad enum */
    {"mix_shape: 1.5\n", "1:12", "out of range"},             /* probability */
    {"shape: [1, 2]\n", "1:8", "expected a mapping"},         /* section type */
    {"image_size: [1024\n", "2:1", "malformed YAML"},         /* syntax */
    {"a: 1\n b: 2\n", "", "malformed YAML"},                  /* bad indent */
    {"- 1\n- 2\n", "1:1", "must be a mapping"},               /* root type */
    {"image_size: 512\nimage_size: 256\n", "2:1", "duplicate"}, /* duplicate */
    {"noise:\n  gaussian:\n    sigma: [0.1, nan]\n", "3:18",
     "expected a number"}, /* nan */
    {"boundary:\n  label_scales: []\n", "2:17",
     "1 to 4 numbers"},                                        /* empty list */
    {"contrast:\n  min_contrast: 0.15\n", "", "too large"},    /* cross-field */
    {"image_size: \"1024\"\n", "1:13", "expected an integer"}, /* quoted */
};

Test(config, bad_configs_name_position_and_key) {
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sf_config c;
        sf_err e = {0};
        int rc = sf_config_parse("bad.yaml", bad[i].yaml, strlen(bad[i].yaml),
                                 &c, &e);
        cr_expect_eq(rc, SF_ECONFIG, "case %zu should fail: %s", i,
                     bad[i].yaml);
        cr_expect(strncmp(e.where, "bad.yaml", 8) == 0, "case %zu where '%s'",
                  i, e.where);
        if (bad[i].where[0]) {
            char want[64];
            snprintf(want, sizeof want, "bad.yaml:%s", bad[i].where);
            cr_expect_str_eq(e.where, want, "case %zu: %s", i, e.msg);
        }
        cr_expect(strstr(e.msg, bad[i].needle) != NULL,
                  "case %zu: '%s' lacks '%s'", i, e.msg, bad[i].needle);
    }
}

Test(config, missing_file_is_io_error) {
    sf_config c;
    sf_err e = {0};
    cr_expect_eq(sf_config_load("/nonexistent/x.yaml", &c, &e), SF_EIO);
    cr_expect(strstr(e.where, "/nonexistent/x.yaml") != NULL);
}

Test(config, empty_file_is_all_defaults) {
    sf_config c, d;
    sf_err e = {0};
    cr_assert_eq(sf_config_parse("empty", "", 0, &c, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(sf_config_default(&d, &e), SF_OK);
    cr_expect(memcmp(&c, &d, sizeof c) == 0);
}

Test(config, unknown_key_suggests_only_a_near_name) {
    sf_config c;
    sf_err e = {0};
    const char *far = "image_size: 1024\ncolour: red\n";
    cr_expect_eq(sf_config_parse("bad.yaml", far, strlen(far), &c, &e),
                 SF_ECONFIG);
    cr_expect(strstr(e.msg, "did you mean") == NULL, "%s", e.msg);
    const char *near = "noise:\n  gausian:\n    sigma: [0.1, 0.2]\n";
    cr_expect_eq(sf_config_parse("bad.yaml", near, strlen(near), &c, &e),
                 SF_ECONFIG);
    cr_expect(strstr(e.msg, "key 'noise.gausian'") != NULL, "%s", e.msg);
    cr_expect(strstr(e.msg, "did you mean 'noise.gaussian'?") != NULL, "%s",
              e.msg);
}

/* The YAML kit every config reader uses (factory/sf_yaml.h). */
Test(yaml_kit, one_document_duplicates_and_near_names) {
    sf_yaml y = {0};
    sf_err e = {0};
    const char *two = "a: 1\n---\nb: 2\n";
    cr_expect_eq(sf_yaml_load(&y, "t.yaml", two, strlen(two), &e), SF_ECONFIG);
    cr_expect_str_eq(e.where, "t.yaml:3:1");
    cr_expect(strstr(e.msg, "only one YAML document") != NULL, "%s", e.msg);
    sf_yaml_free(&y);

    const char *broken = "a: [1\n";
    cr_expect_eq(sf_yaml_load(&y, "t.yaml", broken, strlen(broken), &e),
                 SF_ECONFIG);
    cr_expect(strstr(e.msg, "malformed YAML") != NULL, "%s", e.msg);
    sf_yaml_free(&y);

    const char *dup = "a: 1\nb: 2\na: 3\n";
    cr_assert_eq(sf_yaml_load(&y, "t.yaml", dup, strlen(dup), &e), SF_OK);
    const yaml_node_t *d = sf_yaml_duplicate(&y, sf_yaml_root(&y));
    cr_assert_not_null(d);
    cr_expect_str_eq(sf_yaml_scalar(d), "a");
    cr_expect_eq(d->start_mark.line, 2);
    sf_yaml_free(&y);
    sf_yaml_free(&y); /* twice: no-op */

    const char *const known[] = {"epochs", "lr", "image_size"};
    cr_expect_str_eq(sf_yaml_closest("epochz", known, 3), "epochs");
    cr_expect_str_eq(sf_yaml_closest("image_sise", known, 3), "image_size");
    cr_expect_null(sf_yaml_closest("colour", known, 3));
    cr_expect_null(sf_yaml_closest("l", known, 3)); /* too short to guess */
    char hint[64];
    cr_expect_str_eq(sf_yaml_hint("epochz", known, 3, hint, sizeof hint),
                     "; did you mean 'epochs'?");
    cr_expect_str_eq(sf_yaml_hint("zzz", known, 3, hint, sizeof hint), "");
}

Test(config, duplicate_section_is_refused) {
    sf_config c;
    sf_err e = {0};
    const char *t = "noise:\n  gaussian: {probability: 1}\nnoise:\n"
                    "  poisson: {probability: 1}\n";
    cr_expect_eq(sf_config_parse("d.yaml", t, strlen(t), &c, &e), SF_ECONFIG);
    cr_expect_str_eq(e.where, "d.yaml:3:1");
    cr_expect(strstr(e.msg, "key 'noise': duplicate key") != NULL, "%s", e.msg);
}
