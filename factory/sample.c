/*
 * sample.c - one sample = module (shape | boundary) + noise plan + blur +
 * 8-bit quantisation, with every drawn parameter recorded as JSON.
 * A pure function of (config, master seed, index).
 */
#include "sf_int.h"

#include <stdlib.h>
#include <string.h>

void sf_sample_free(sf_sample *s) {
    if (!s) return;
    free(s->image);
    free(s->labels);
    free(s->params_json);
    free(s);
}

/* Noise plan: each model joins with its probability; the plan is shuffled
 * (Fisher-Yates); each planned model acts on the whole image or inside each
 * instance with its own parameters. */
static void apply_noise(const sf_config *c, uint64_t seed, uint64_t index,
                        sf_draw *plan, sf_imgf *im, const uint16_t *labels,
                        int n_instances, sf_buf *json) {
    int order[SF_NOISE_COUNT], n = 0;
    for (int m = 0; m < SF_NOISE_COUNT; m++)
        if (sf__draw_bernoulli(plan, c->noise.model[m].probability))
            order[n++] = m;
    for (int i = n - 1; i > 0; i--) {
        int j = sf__draw_int(plan, 0, i);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    sf_draw dp;
    sf__draw_init(&dp, seed, index, SF_STREAM_NOISE_PARAMS);
    sf_buf_puts(json, ",\"noise\":[");
    for (int a = 0; a < n; a++) {
        int m = order[a];
        int per_shape = n_instances > 0 &&
                        sf__draw_bernoulli(plan, c->noise.shapes_probability);
        sf_rng_key key = sf_rng_key_make(
            seed, index, SF_STREAM_NOISE_PIXELS + 64u * (uint32_t)a);
        sf_buf_printf(json, "%s{\"model\":\"%s\",\"scope\":\"%s\",",
                      a ? "," : "", sf_noise_name(m),
                      per_shape ? "shapes" : "image");
        sf_noise_params p;
        if (!per_shape) {
            sf__noise_draw(&c->noise.model[m], m, &dp, &p);
            sf_buf_puts(json, "\"params\":");
            sf__noise_json(&p, json);
            sf__noise_apply(&p, im, NULL, 0, key);
        } else {
            /* All instances' parameters first (the same draws, in the same
             * order), then one pass over the image for all of them. */
            sf_noise_params *ps =
                malloc(sizeof *ps * ((size_t)n_instances + 1));
            sf_buf_puts(json, "\"params\":[");
            for (int l = 1; l <= n_instances; l++) {
                sf__noise_draw(&c->noise.model[m], m, &dp, &p);
                if (l > 1) sf_buf_puts(json, ",");
                sf__noise_json(&p, json);
                if (ps)
                    ps[l] = p;
                else /* no memory: label by label, the same result */
                    sf__noise_apply(&p, im, labels, (uint16_t)l, key);
            }
            sf_buf_puts(json, "]");
            if (ps) {
                ps[0] = ps[1]; /* never read */
                sf__noise_apply_labels(ps, n_instances, im, labels, key);
                free(ps);
            }
        }
        sf_buf_puts(json, "}");
    }
    sf_buf_puts(json, "]");
}

int sf_sample_generate(const sf_config *c, uint64_t seed, uint64_t index,
                       sf_sample **out, sf_err *err) {
    int rc = SF_OK;
    sf_imgf im = {0};
    sf_buf json = {0};
    sf_sample *s = calloc(1, sizeof *s);
    const int n = c->image_size;
    if (!s) return sf_err_set(err, SF_ENOMEM, "out of memory");
    s->nx = s->ny = n;
    s->seed = sf_sample_seed(seed, index);
    s->labels = calloc((size_t)n * (size_t)n, sizeof *s->labels);
    s->image = malloc((size_t)n * (size_t)n);
    if (!s->labels || !s->image || sf__imgf_alloc(&im, n, n, 0.0f)) {
        rc = sf_err_set(err, SF_ENOMEM, "out of memory for a %dx%d sample", n,
                        n);
        goto out;
    }

    sf_draw plan;
    sf__draw_init(&plan, seed, index, SF_STREAM_PLAN);
    int module = c->mode;
    /* Always draw, so a sample's plan does not depend on the mode. */
    int pick_shape = sf__draw_bernoulli(&plan, c->mix_shape);
    if (module == SF_MODE_BOTH)
        module = pick_shape ? SF_MODE_SHAPE : SF_MODE_BOUNDARY;
    s->module = module;

    sf_buf_printf(&json,
                  "{\"rng_version\":%d,\"index\":%llu,\"sample_seed\":%llu,"
                  "\"module\":\"%s\",\"size\":[%d,%d],\"%s\":{",
                  SF_RNG_VERSION, (unsigned long long)index,
                  (unsigned long long)s->seed, sf_mode_name(module), n, n,
                  sf_mode_name(module));
    /* A texture canvas behind the shapes: the boundary module's image
     * (its structures unlabelled), drawn on its own streams. The plan
     * draw happens only when the option is on, so corpora made without
     * it keep their bytes. */
    int texture = module == SF_MODE_SHAPE && c->shape.texture_probability > 0 &&
                  sf__draw_bernoulli(&plan, c->shape.texture_probability);
    if (texture) {
        sf_imgf tex = {0};
        uint16_t *tl = malloc((size_t)n * (size_t)n * sizeof *tl);
        int n_tex = 0;
        if (!tl || sf__imgf_alloc(&tex, n, n, 0.0f)) {
            free(tl);
            rc = sf_err_set(err, SF_ENOMEM, "out of memory for a texture");
            goto out;
        }
        sf_buf_puts(&json, "\"texture\":{");
        rc =
            sf__boundary_generate(c, seed, index, &tex, tl, &n_tex, &json, err);
        sf_buf_puts(&json, "},");
        free(tl);
        if (rc == SF_OK)
            rc = sf__shape_generate(c, seed, index, &tex, &im, s->labels,
                                    &s->n_instances, &json, err);
        sf__imgf_release(&tex);
    } else if (module == SF_MODE_SHAPE)
        rc = sf__shape_generate(c, seed, index, NULL, &im, s->labels,
                                &s->n_instances, &json, err);
    else
        rc = sf__boundary_generate(c, seed, index, &im, s->labels,
                                   &s->n_instances, &json, err);
    if (rc) goto out;
    sf_buf_printf(&json, "},\"n_instances\":%d", s->n_instances);

    apply_noise(c, seed, index, &plan, &im, s->labels, s->n_instances, &json);

    if (sf__draw_bernoulli(&plan, c->blur.probability)) {
        /* sigma is configured in px at 1024 and scales with the image */
        double sigma = sf__draw_range(&plan, c->blur.sigma) * n / 1024.0;
        sf_buf_puts(&json, ",\"blur\":{\"sigma_px\":");
        sf_json_num(&json, sigma);
        sf_buf_puts(&json, "}");
        if ((rc = sf__blur_gauss(&im, sigma))) {
            sf_err_set(err, rc, "out of memory in blur");
            goto out;
        }
    } else {
        sf_buf_puts(&json, ",\"blur\":null");
    }
    sf_buf_puts(&json, "}");
    sf__imgf_to_u8(&im, s->image);
    s->params_json = sf_buf_take(&json);
    if (!s->params_json) {
        rc = sf_err_set(err, SF_ENOMEM, "out of memory");
        goto out;
    }
    *out = s;
    s = NULL;
out:
    sf__imgf_release(&im);
    sf_buf_release(&json);
    sf_sample_free(s);
    return rc;
}
