/*
 * dice.h - the Dice coefficient of binary masks (dice.c), per slice and
 * accumulated over a volume.
 *
 * Conventions as in hx.h: SF_OK or a negative SF_E* code, a caller-owned
 * sf_err (NULL allowed), T **out belongs to the caller, nothing prints.
 */
#ifndef HX_DICE_H
#define HX_DICE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ dice */

/* What hx_dice's value means. Only HX_DICE_OK is an ordinary score. */
enum hx_dice_status {
    HX_DICE_OK = 0,
    HX_DICE_BOTH_EMPTY = 1, /* |A| = |B| = 0: Dice is 0/0, returned as NaN */
    HX_DICE_GT_EMPTY = 2    /* |B| = 0 < |A|: returned as 0, but a slice
                               without ground truth is never scored (issue
                               6), so the caller should not store it */
};

/*
 * Dice coefficient 2|A n B| / (|A| + |B|) of two masks of n bytes, A =
 * pred, B = gt, nonzero = foreground. An empty prediction against a
 * non-empty ground truth is an ordinary 0. Both empty: NaN with
 * HX_DICE_BOTH_EMPTY (the convention of the DeepMind surface-distance code
 * that MedSAM's evaluation uses); NaN cannot slip silently into a mean.
 * status may be NULL; pred and gt may be NULL only when n = 0.
 */
double hx_dice(const uint8_t *pred, const uint8_t *gt, size_t n, int *status);

/* Overlap counts, for Dice over several slices (case level): add slices
 * with hx_overlap_add, then hx_dice_from_overlap. */
typedef struct hx_overlap {
    uint64_t n_inter; /* |A n B| */
    uint64_t n_pred;  /* |A| */
    uint64_t n_gt;    /* |B| */
} hx_overlap;

/* Add the counts of one pair of masks (n bytes each) to *acc. */
void hx_overlap_add(hx_overlap *acc, const uint8_t *pred, const uint8_t *gt,
                    size_t n);
/* Dice of accumulated counts, with hx_dice's policy and status. */
double hx_dice_from_overlap(const hx_overlap *o, int *status);

#ifdef __cplusplus
}
#endif
#endif /* HX_DICE_H */
