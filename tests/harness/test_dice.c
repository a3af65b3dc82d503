/*
 * test_dice.c - Dice on hand-made masks (dice.c), its empty-mask policy
 * (hx.h) and case-level accumulation.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hx.h"

/* '#' = foreground; any other character is background. */
static void mask(const char *s, uint8_t *m) {
    for (size_t i = 0; s[i]; i++)
        m[i] = s[i] == '#' ? (uint8_t)(1 + i % 7) : 0;
}

Test(dice, hand_made_masks) {
    uint8_t a[16], b[16];
    int st = -1;
    /* |A| = 4, |B| = 6, |A n B| = 3: 6 / 10. */
    mask("####............", a);
    mask(".######.........", b);
    cr_expect_float_eq(hx_dice(a, b, 16, &st), 0.6, 1e-15);
    cr_expect_eq(st, HX_DICE_OK);
    /* Symmetric. */
    cr_expect_float_eq(hx_dice(b, a, 16, &st), 0.6, 1e-15);
    /* Identical: 1, whatever the nonzero values are. */
    uint8_t c[16];
    for (int i = 0; i < 16; i++)
        c[i] = a[i] ? 255 : 0;
    cr_expect_eq(hx_dice(a, c, 16, &st), 1.0);
    cr_expect_eq(st, HX_DICE_OK);
    /* Disjoint: 0. */
    mask("............####", b);
    cr_expect_eq(hx_dice(a, b, 16, &st), 0.0);
    cr_expect_eq(st, HX_DICE_OK);
    /* One pixel of three: 2 * 1 / (1 + 3) = 0.5. */
    mask("#...............", a);
    mask("###.............", b);
    cr_expect_eq(hx_dice(a, b, 16, NULL), 0.5);
}

Test(dice, empty_masks) {
    uint8_t z[8] = {0}, one[8] = {0, 0, 1, 0, 0, 0, 0, 0};
    int st = -1;
    /* A miss is an ordinary 0. */
    cr_expect_eq(hx_dice(z, one, 8, &st), 0.0);
    cr_expect_eq(st, HX_DICE_OK);
    /* Prediction without ground truth: 0, flagged. */
    cr_expect_eq(hx_dice(one, z, 8, &st), 0.0);
    cr_expect_eq(st, HX_DICE_GT_EMPTY);
    /* Both empty: NaN, flagged. */
    cr_expect(isnan(hx_dice(z, z, 8, &st)));
    cr_expect_eq(st, HX_DICE_BOTH_EMPTY);
    cr_expect(isnan(hx_dice(NULL, NULL, 0, &st)));
    cr_expect_eq(st, HX_DICE_BOTH_EMPTY);
}

Test(dice, case_level_accumulation) {
    /* Three slices with Dice 1, 0 and 1 (mean 2/3): the case-level Dice
     * pools the counts, 2 * 6 / (7 + 9) = 0.75. */
    uint8_t a1[4] = {1, 1, 0, 0}, b1[4] = {1, 1, 0, 0};
    uint8_t a2[4] = {1, 0, 0, 0}, b2[4] = {0, 1, 1, 1};
    uint8_t a3[4] = {1, 1, 1, 1}, b3[4] = {1, 1, 1, 1};
    hx_overlap o = {0, 0, 0};
    hx_overlap_add(&o, a1, b1, 4);
    hx_overlap_add(&o, a2, b2, 4);
    hx_overlap_add(&o, a3, b3, 4);
    cr_expect_eq(o.n_inter, 6u);
    cr_expect_eq(o.n_pred, 7u);
    cr_expect_eq(o.n_gt, 9u);
    int st = -1;
    cr_expect_float_eq(hx_dice_from_overlap(&o, &st), 12.0 / 16.0, 1e-15);
    cr_expect_eq(st, HX_DICE_OK);
    hx_overlap e = {0, 0, 0};
    cr_expect(isnan(hx_dice_from_overlap(&e, &st)));
    cr_expect_eq(st, HX_DICE_BOTH_EMPTY);
}

Test(dice, large_masks_count_exactly) {
    /* More than one 2^24-byte block, odd length: counts must be exact. */
    size_t n = ((size_t)1 << 25) + 12345;
    uint8_t *a = malloc(n), *b = malloc(n);
    cr_assert(a && b);
    uint64_t ni = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        a[i] = (uint8_t)(i % 3 == 0);
        b[i] = (uint8_t)(i % 5 == 0 ? 7 : 0);
        na += a[i] != 0;
        nb += b[i] != 0;
        ni += a[i] && b[i];
    }
    hx_overlap o = {0, 0, 0};
    hx_overlap_add(&o, a, b, n);
    cr_expect_eq(o.n_inter, ni);
    cr_expect_eq(o.n_pred, na);
    cr_expect_eq(o.n_gt, nb);
    cr_expect_float_eq(hx_dice(a, b, n, NULL),
                       2.0 * (double)ni / (double)(na + nb), 1e-15);
    free(a);
    free(b);
}
