#!/usr/bin/env bash
# test_predict.sh - `synthfm predict` end to end on the golden tiny SAM
# (../shared/golden/sam_tiny): the image is turned into a PNG by a tiny C
# helper compiled here (no Python at test time); the mask must have the
# image's size, the printed IoU and mask area must match the reference's
# case 1, and usage errors must exit 2, runtime errors 1.
# Exit 0 pass, 1 fail, 77 skip (no golden data, no C compiler).
. "$(dirname "$0")/lib.sh"

G=$SHARED/golden/sam_tiny
[ -f "$G/ckpt.pth" ] || skip_large golden/sam_tiny "the SAM parity set"
CC=${CC:-cc}
command -v "$CC" >/dev/null || CC=gcc
command -v "$CC" >/dev/null || skip "no C compiler for the npy -> PNG helper"
CFG=tests/model/sam_tiny.yaml

# image_u8.npy (H, W, 3) -> RGB PNG and gray (channel 0) PNG.
cat >"$T/npy2png.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
static void chunk(FILE *f, const char *t, const unsigned char *d, unsigned n) {
    unsigned char b[4] = {n >> 24, n >> 16, n >> 8, n};
    fwrite(b, 1, 4, f);
    uLong c = crc32(crc32(0, (const Bytef *)t, 4), d, n);
    fwrite(t, 1, 4, f);
    if (n) fwrite(d, 1, n, f);
    unsigned char e[4] = {c >> 24, c >> 16, c >> 8, c};
    fwrite(e, 1, 4, f);
}
static int png(const char *p, const unsigned char *px, int w, int h, int ch) {
    size_t row = (size_t)w * ch + 1, n = row * h;
    unsigned char *raw = malloc(n), *z;
    for (int y = 0; y < h; y++) {
        raw[y * row] = 0;
        memcpy(raw + y * row + 1, px + (size_t)y * w * ch, (size_t)w * ch);
    }
    uLongf zn = compressBound(n);
    z = malloc(zn);
    if (compress(z, &zn, raw, n) != Z_OK) return 1;
    FILE *f = fopen(p, "wb");
    if (!f) return 1;
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
    unsigned char ih[13] = {w >> 24, w >> 16, w >> 8, w, h >> 24, h >> 16,
                            h >> 8, h, 8, ch == 3 ? 2 : 0, 0, 0, 0};
    chunk(f, "IHDR", ih, 13);
    chunk(f, "IDAT", z, (unsigned)zn);
    chunk(f, "IEND", (const unsigned char *)"", 0); /* crc32(.., NULL, 0) is 0 */
    free(raw), free(z);
    return fclose(f) != 0;
}
int main(int argc, char **argv) {
    if (argc != 4) return 2;
    FILE *f = fopen(argv[1], "rb");
    unsigned char pre[10];
    if (!f || fread(pre, 1, 10, f) != 10) return 1;
    unsigned hl = pre[8] | pre[9] << 8;
    char *hdr = calloc(hl + 1, 1);
    if (fread(hdr, 1, hl, f) != hl || !strstr(hdr, "'|u1'")) return 1;
    int h, w, c;
    if (sscanf(strstr(hdr, "'shape': (") + 10, "%d, %d, %d", &h, &w, &c) != 3 ||
        c != 3) return 1;
    unsigned char *px = malloc((size_t)h * w * 3), *g = malloc((size_t)h * w);
    if (fread(px, 1, (size_t)h * w * 3, f) != (size_t)h * w * 3) return 1;
    for (size_t i = 0; i < (size_t)h * w; i++) g[i] = px[3 * i];
    return png(argv[2], px, w, h, 3) || png(argv[3], g, w, h, 1);
}
EOF
"$CC" -O1 -o "$T/npy2png" "$T/npy2png.c" -lz || skip "could not build the PNG helper"
"$T/npy2png" "$G/image_u8.npy" "$T/img.png" "$T/gray.png" || fail "npy2png"
[ "$(png_info "$T/img.png")" = "700 500 8 2" ] || fail "helper PNG: $(png_info "$T/img.png")"

# Case 1 of the golden set: one positive click, multimask, best mask.
expect_exit 0 "$SYNTHFM" predict --checkpoint "$G/ckpt.pth" --model-config "$CFG" \
    --image "$T/img.png" --point 513,356,1 --multimask --out "$T/mask.png"
[ -f "$T/mask.png" ] || fail "no mask written"
[ "$(png_info "$T/mask.png")" = "700 500 8 0" ] || fail "mask PNG: $(png_info "$T/mask.png")"
out=$(cat "$T/out")
iou=$(sed -n 's/.*"iou": \([-0-9.e]*\).*/\1/p' <<<"$out")
fg=$(sed -n 's/.*"foreground_pixels": \([0-9]*\).*/\1/p' <<<"$out")
idx=$(sed -n 's/.*"mask_index": \([0-9]*\).*/\1/p' <<<"$out")
[ -n "$iou" ] && [ -n "$fg" ] || fail "no iou/foreground_pixels in: $out"
# reference: IoU 0.037307147 for mask 0 (of 3), 132846 pixels; masks may
# differ only where |logit| < 1e-5 (at most 1581 pixels in case 1)
awk -v a="$iou" 'BEGIN { d = a - 0.037307147; exit !(d < 1e-6 && d > -1e-6) }' ||
    fail "iou $iou, reference 0.037307147"
[ "$idx" = 0 ] || fail "best mask $idx, reference 0"
awk -v a="$fg" 'BEGIN { d = a - 132846; exit !(d <= 1581 && d >= -1581) }' ||
    fail "foreground pixels $fg, reference 132846"
ls "$T" | grep -q 'tmp' && fail "temporary file left behind: $(ls "$T")"

# Gray input, single mask with a box.
expect_exit 0 "$SYNTHFM" predict --checkpoint "$G/ckpt.pth" --model-config "$CFG" \
    --image "$T/gray.png" --point 513,356,1 --box 410,265,595,453 --out "$T/m2.png"
[ "$(png_info "$T/m2.png")" = "700 500 8 0" ] || fail "gray mask PNG"

# Usage errors: exit 2.
P=("$SYNTHFM" predict --checkpoint "$G/ckpt.pth" --model-config "$CFG" --image "$T/img.png")
expect_exit 2 "$SYNTHFM" predict
expect_exit 2 "${P[@]}" --point 513,356,1
grep -q -- "--out" "$T/err" || fail "missing --out not explained"
expect_exit 2 "${P[@]}" --point 513,356 --out "$T/x.png"
expect_exit 2 "${P[@]}" --point 513,356,3 --out "$T/x.png"
expect_exit 2 "${P[@]}" --box 1,2,3 --out "$T/x.png"
expect_exit 2 "${P[@]}" --out "$T/x.png"
expect_exit 2 "${P[@]}" --point 1,1,1 --device tpu --out "$T/x.png"
expect_exit 2 "${P[@]}" --point 1,1,1 --bogus --out "$T/x.png"
printf 'encoder_depth: [\n' >"$T/bad.yaml"
expect_exit 2 "$SYNTHFM" predict --checkpoint "$G/ckpt.pth" --model-config "$T/bad.yaml" \
    --image "$T/img.png" --point 1,1,1 --out "$T/x.png"
expect_exit 0 "$SYNTHFM" predict --help
grep -q "usage: synthfm predict" "$T/out" || fail "--help text"

# Runtime errors: exit 1 with a message.
expect_exit 1 "$SYNTHFM" predict --checkpoint "$G/ckpt.pth" --model-config "$CFG" \
    --image "$T/none.png" --point 1,1,1 --out "$T/x.png"
echo "not a checkpoint" >"$T/bad.pth"
expect_exit 1 "$SYNTHFM" predict --checkpoint "$T/bad.pth" --model-config "$CFG" \
    --image "$T/img.png" --point 1,1,1 --out "$T/x.png"
grep -q "not a torch checkpoint" "$T/err" || fail "bad checkpoint message: $(cat "$T/err")"
expect_exit 1 "$SYNTHFM" predict --checkpoint "$G/ckpt.pth" --model-config vit_b \
    --image "$T/img.png" --point 1,1,1 --out "$T/x.png"
grep -q "missing" "$T/err" || fail "wrong-config message: $(cat "$T/err")"
[ ! -e "$T/x.png" ] || fail "output written on failure"
echo "ok"
