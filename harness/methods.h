/*
 * methods.h - the evaluation methods behind `synthfm eval --method`
 * (methods.c's table: classical, sam, import) and the weight-free
 * classical click method itself (classical.c, region growing).
 *
 * Conventions as in hx.h: SF_OK or a negative SF_E* code, a caller-owned
 * sf_err (NULL allowed), T **out belongs to the caller, every _free
 * accepts NULL, nothing here prints.
 */
#ifndef HX_METHODS_H
#define HX_METHODS_H

#include <stdint.h>

#include "sf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------- classical */

typedef struct hx_classical_opts {
    int window_radius; /* half side of the click neighbourhood (px) */
    double tol_sigmas; /* accept |I - mean| <= tol_sigmas * sd ... */
    double tol_min;    /* ... but at least this many grey levels */
    double tol_max;    /* ... and at most this many */
    int neg_radius;    /* pixels within this distance of a negative are
                          never grown into */
} hx_classical_opts;
void hx_classical_opts_init(hx_classical_opts *o);

/*
 * The weight-free click method: seeded region growing on an 8-bit image
 * (ny, nx). Seeds are the positive clicks; each click has an intensity
 * model, the mean and sd of its (2r+1)^2 neighbourhood; a pixel joins
 * when it is 4-connected to the region, some positive model accepts it
 * (|I - mean| <= clamp(tol_sigmas * sd, tol_min, tol_max)) and it is no
 * nearer any negative click's neighbourhood mean than to that model's,
 * and it is not within neg_radius of a negative. Holes of
 * the region (background not connected to the image border) are filled.
 * mask (ny * nx) gets 0/1. Errors: SF_EINVAL (no positive click, NULLs),
 * SF_ENOMEM. Deterministic, no RNG.
 */
int hx_classical_segment(const uint8_t *img, int nx, int ny,
                         const sf_click *clicks, int n_clicks,
                         const hx_classical_opts *o, uint8_t *mask,
                         sf_err *err);

/* ------------------------------------------------------------- methods */

/* One evaluation method (opaque; the hx_eval_opts.method of a run). */
typedef struct hx_method_ops hx_method_ops;

/* What a method needs from hx_eval_opts. */
enum {
    HX_METHOD_NEEDS_CHECKPOINT = 1, /* checkpoint (+ model_config, device,
                                       multimask): a SAM-format model */
    HX_METHOD_NEEDS_IMPORT = 2      /* import_dir: masks made outside */
};

/* The methods, NULL-terminated (static storage). */
const hx_method_ops *const *hx_methods(void);
/* The method whose --method name is `name` ("classical", "sam",
 * "import"), or NULL. */
const hx_method_ops *hx_method_by_name(const char *name);
/* Its --method name; its kind as the results database records it
 * (runs.method_kind: classical, native, imported); HX_METHOD_NEEDS_*. */
const char *hx_method_option(const hx_method_ops *m);
const char *hx_method_kind(const hx_method_ops *m);
unsigned hx_method_needs(const hx_method_ops *m);

#ifdef __cplusplus
}
#endif
#endif /* HX_METHODS_H */
