/*
 * metrics_int.h - libhx internals shared by surface.c and clicks.c: a
 * grow-only workspace, so that a sequence of metric and click calls on one
 * volume (hx_seq_run) reuses its large buffers instead of mapping fresh
 * pages every step (on a 512 x 512 x 100 volume the page faults were about
 * half of a step's time). Not part of the public API (metrics.h).
 */
#ifndef HX_METRICS_INT_H
#define HX_METRICS_INT_H

#include <stddef.h>

#include "metrics.h"

/* Buffer slots: one per large array of a call. */
enum {
    HX__WS_CG = 0, /* surface: corner codes of G */
    HX__WS_CP,     /* surface: corner codes of P */
    HX__WS_PAD,    /* surface: padded 0/1 copy of a mask */
    HX__WS_DIST,   /* surface: squared distances on the corner box */
    HX__WS_LIST,   /* surface: (distance, area) pairs to sort */
    HX__WS_SEEN,   /* click: error voxels in their bounding box */
    HX__WS_QUEUE,  /* click: breadth-first queue */
    HX__WS_BOX,    /* click: q on the chosen component's box */
    HX__WS_SLOTS
};

/* Owned by one caller frame (zero-initialise it: `hx__ws w = {0}`); not
 * shared between threads. */
typedef struct hx__ws {
    void *p[HX__WS_SLOTS];
    size_t cap[HX__WS_SLOTS];
} hx__ws;

/* At least `bytes` bytes in slot `slot` (contents undefined), or NULL when
 * out of memory. Valid until the next get of the same slot or free. */
void *hx__ws_get(hx__ws *w, int slot, size_t bytes);
void hx__ws_free(hx__ws *w);

/* hx_surface_compute and hx_click_next with a caller's workspace. */
int hx__surface_compute(const hx_grid *g, const uint8_t *gt,
                        const uint8_t *pred, hx_surface **out, hx__ws *w,
                        sf_err *err);
int hx__click_next(const hx_grid *g, const uint8_t *gt, const uint8_t *pred,
                   hx_click_info *out, int32_t *labels_out, int32_t *sq_edt_out,
                   hx__ws *w, sf_err *err);

#endif /* HX_METRICS_INT_H */
