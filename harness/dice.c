/*
 * dice.c - the Dice coefficient of binary masks (nonzero = foreground) and
 * overlap counts for case-level Dice. Policy for empty masks: hx.h.
 */
#include "hx.h"

#include <math.h>

void hx_overlap_add(hx_overlap *acc, const uint8_t *pred, const uint8_t *gt,
                    size_t n) {
    /* Blocks of at most 2^24 bytes keep the 32-bit partial counts exact and
     * let the compiler vectorise the inner loop. */
    uint64_t ni = 0, np = 0, ng = 0;
    for (size_t i0 = 0; i0 < n;) {
        size_t i1 = n - i0 > ((size_t)1 << 24) ? i0 + ((size_t)1 << 24) : n;
        uint32_t bi = 0, bp = 0, bg = 0;
        for (size_t i = i0; i < i1; i++) {
            uint32_t p = pred[i] != 0, g = gt[i] != 0;
            bi += p & g;
            bp += p;
            bg += g;
        }
        ni += bi;
        np += bp;
        ng += bg;
        i0 = i1;
    }
    acc->n_inter += ni;
    acc->n_pred += np;
    acc->n_gt += ng;
}

double hx_dice_from_overlap(const hx_overlap *o, int *status) {
    int st = HX_DICE_OK;
    double d;
    if (o->n_pred == 0 && o->n_gt == 0) {
        st = HX_DICE_BOTH_EMPTY;
        d = NAN;
    } else {
        if (o->n_gt == 0) st = HX_DICE_GT_EMPTY;
        d = 2.0 * (double)o->n_inter / ((double)o->n_pred + (double)o->n_gt);
    }
    if (status) *status = st;
    return d;
}

double hx_dice(const uint8_t *pred, const uint8_t *gt, size_t n, int *status) {
    hx_overlap o = {0, 0, 0};
    hx_overlap_add(&o, pred, gt, n);
    return hx_dice_from_overlap(&o, status);
}
