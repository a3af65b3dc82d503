/*
 * methods.h - the evaluation methods: the weight-free classical
 * click method (classical.c, region growing) here; the table of methods
 * behind `synthfm eval --method` is eval.h's hx_method_ops.
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

#ifdef __cplusplus
}
#endif
#endif /* HX_METHODS_H */
