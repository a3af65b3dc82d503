/*
 * noise.c - per-pixel noise models: gaussian, poisson, perlin (fBm),
 * speckle, rician.
 *
 * Every model is a pure function of (parameters, stream key, input pixel,
 * pixel position): per-pixel randomness comes from the counter-based RNG
 * (Philox4x32-10, as sf_rng_block) with a counter derived from the pixel
 * index, never from a sequential state. So the result does not depend on
 * threads, on the order pixels are visited, or on which other pixels a mask
 * selects: applying a model inside a mask gives, there, exactly the values
 * the unmasked apply gives. Pixels outside the mask are not written at all.
 * The same holds per label: sf__noise_apply_labels, one pass with a
 * parameter set per label, equals one masked apply per label.
 *
 * Counter layout per model (i = y * nx + x, the row-major pixel index):
 *   gaussian, speckle  ctr = i / 4, word i % 4: one ziggurat normal.
 *   rician             ctr = i / 2, words 2 (i % 2) and 2 (i % 2) + 1:
 *                      the normals z1, z2.
 *   poisson            ctr = i / 2, words 2 (i % 2) and 2 (i % 2) + 1:
 *                      PTRS's two 32-bit uniforms u, v, or (mean < 10)
 *                      one 53-bit uniform for inversion.
 *   perlin             no per-pixel draws. Lattice gradients: counter
 *                      o << 41 | ly << 20 | lx >> 4, byte lx % 16 of the
 *                      block picks one of 256 unit directions (o = octave,
 *                      lx, ly lattice indices mod 2^20). Per-octave lattice
 *                      offset: counter o << 41 | 1 << 40.
 * Rare rejection steps (ziggurat wedges and tail, Poisson PTRS retries)
 * take their words from derived keys (see retry_key): the ziggurat's at the
 * variate's own counter q (q = i for gaussian/speckle, 2 i + t for
 * rician), Poisson's at the pixel's counter and words.
 *
 * Speed (1024 x 1024, one core): pixels go in chunks of NOISE_CHUNK. The
 * Philox blocks of a chunk are generated together (eight at a time in SSE2
 * lanes when available: the same bits as the scalar Philox), then consumed
 * by loops without data-dependent branches (SIMD where GCC will not
 * vectorise by itself, always with a scalar twin doing the same IEEE
 * operations in the same order, so SSE2 and fallback builds agree bit for
 * bit); the rare slow paths (ziggurat rejections, Poisson log tests and
 * retries) are listed and run after, in batches. One pass serves any
 * number of labels: a pixel's label picks its parameter set, chunks
 * without a selected pixel are skipped, and Perlin works per tile on each
 * label's bounding box there.
 *
 * Values are not clamped to [0,1]: the quantiser clamps at the end.
 *
 * Files: noise.c the table and the dispatch (parameters, records, one
 * pass per application); noise_normal.c gaussian, speckle, rician;
 * noise_poisson.c poisson; noise_perlin.c perlin; noise_int.h what they
 * share (sf_noise_ops, the pixel selection, helpers).
 */
#include "noise_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* The models by id (enum sf_noise_id): the only list to edit. */
static const sf_noise_ops *const noise_table[SF_NOISE_COUNT] = {
    [SF_NOISE_GAUSSIAN] = &sf__noise_gaussian,
    [SF_NOISE_POISSON] = &sf__noise_poisson,
    [SF_NOISE_PERLIN] = &sf__noise_perlin,
    [SF_NOISE_SPECKLE] = &sf__noise_speckle,
    [SF_NOISE_RICIAN] = &sf__noise_rician,
};

static const sf_noise_ops *noise_ops(int model) {
    return model >= 0 && model < SF_NOISE_COUNT ? noise_table[model] : NULL;
}

const char *sf_noise_name(int id) {
    const sf_noise_ops *ops = noise_ops(id);
    return ops ? ops->name : "?";
}

/* ------------------------------------------------------------ parameters */

void sf__noise_draw(const sf_noise_cfg *cfg, int model, sf_draw *d,
                    sf_noise_params *p) {
    const sf_noise_ops *ops = noise_ops(model);
    memset(p, 0, sizeof *p);
    p->model = model;
    if (ops) ops->draw(cfg, d, p);
}

void sf__noise_json(const sf_noise_params *p, sf_buf *b) {
    const sf_noise_ops *ops = noise_ops(p->model);
    sf_buf_puts(b, "{\"model\":");
    sf_json_str(b, sf_noise_name(p->model)); /* the YAML key; "?" if unknown */
    if (ops) ops->json(p, b);
    sf_buf_puts(b, "}");
}

/* ----------------------------------------------------------------- apply */

/* One application of model `ops` over the pixels and parameter table of s:
 * entry e >= 1 uses tab[e] (every tab[e].model is the model); n_entries =
 * the largest entry. The model's scratch (ops->scratch_each bytes per
 * entry) comes from the stack when small. Returns -1 (nothing done)
 * without memory for it. */
static int noise_run(const sf_noise_ops *ops, const noise_sel *s,
                     const sf_noise_params *tab, int n_entries, sf_imgf *im,
                     sf_rng_key k) {
    enum { SMALL = 256, EACH_MAX = 16 };
    union {
        double d[(SMALL + 1) * EACH_MAX / sizeof(double)];
        float f[1];
    } small;
    void *scratch = &small, *heap = NULL;
    assert(ops->scratch_each <= EACH_MAX);
    if (n_entries > SMALL) {
        scratch = heap = calloc((size_t)n_entries + 1, ops->scratch_each);
        if (!heap) return -1;
    } else {
        memset(&small, 0, sizeof small);
    }
    ops->apply(im, s, tab, n_entries, scratch, k);
    free(heap);
    return 0;
}

void sf__noise_apply(const sf_noise_params *p, sf_imgf *im,
                     const uint16_t *mask, uint16_t mask_value, sf_rng_key k) {
    const sf_noise_ops *ops = p ? noise_ops(p->model) : NULL;
    if (!ops || !im || !im->px || im->nx <= 0 || im->ny <= 0) return;
    sf_noise_params tab[2];
    tab[0] = tab[1] = *p;
    noise_sel s = {mask, 0, mask_value};
    (void)noise_run(ops, &s, tab, 1, im, k); /* 1 entry: no heap */
}

void sf__noise_apply_labels(const sf_noise_params *params, int n_labels,
                            sf_imgf *im, const uint16_t *labels, sf_rng_key k) {
    if (!params || n_labels <= 0 || !im || !im->px || im->nx <= 0 ||
        im->ny <= 0 || !labels)
        return;
    if (n_labels > UINT16_MAX) n_labels = UINT16_MAX;
    const int model = params[1].model;
    for (int l = 2; l <= n_labels; l++)
        assert(params[l].model == model && "one model per application");
    const sf_noise_ops *ops = noise_ops(model);
    if (!ops) return;
    noise_sel s = {labels, n_labels, 0};
    if (noise_run(ops, &s, params, n_labels, im, k) == 0) return;
    /* No memory for the scratch: label by label (the same result). */
    for (int l = 1; l <= n_labels; l++)
        sf__noise_apply(&params[l], im, labels, (uint16_t)l, k);
}
