#!/usr/bin/env bash
# test_predict_volume.sh - `synthfm predict --volume` end to end: SAM 2
# (the golden tiny model of ../shared/golden/sam2_tiny, 256 px) propagates
# a click inside the liver of the TotalSegmentator example CT through the
# whole volume in both directions; the NIfTI written must have the input's
# dimensions, spacing and sform, hold 0/1 uint8 voxels on slices before
# and after the prompted one, and bad inputs (slice out of range, click
# outside, a 2-D image, a SAM 1 model or checkpoint) must fail with
# nothing written. Geometry is read from the NIfTI headers by a tiny C
# helper compiled here (no Python at test time).
# Exit 0 pass, 1 fail, 77 skip (no golden data / real data / C compiler).
. "$(dirname "$0")/lib.sh"

G=$SHARED/golden/sam2_tiny
R=$(fixture realdata/totalsegmentator)
[ -f "$G/ckpt.pth" ] || skip_large golden/sam2_tiny "the SAM 2 parity set"
[ -f "$R/example_ct_sm.nii.gz" ] || skip "real data absent ($R; tests/fixtures.h)"
CC=${CC:-cc}
command -v "$CC" >/dev/null || CC=gcc
command -v "$CC" >/dev/null || skip "no C compiler for the NIfTI helper"
CFG=tests/model/sam2_tiny.yaml
VOL=$R/example_ct_sm.nii.gz

# nii KIND FILE...: "hdr A B" prints "same" when the geometry fields of two
# NIfTI-1 files agree (dim, pixdim[1..3], sform_code, srow_*), and the
# output's datatype; "stats F" prints the voxel count, the foreground count
# and the first and last slice holding foreground (uint8 data); "mk2d F"
# writes a 16 x 16 x 1 int16 NIfTI.
cat >"$T/nii.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
static unsigned char *slurp(const char *p, size_t *n) {
    gzFile f = gzopen(p, "rb");
    if (!f) exit(1);
    size_t cap = 1 << 20, k = 0;
    unsigned char *b = malloc(cap);
    int r;
    while ((r = gzread(f, b + k, (unsigned)(cap - k))) > 0) {
        k += (size_t)r;
        if (k == cap) b = realloc(b, cap *= 2);
    }
    gzclose(f);
    *n = k;
    return b;
}
int main(int argc, char **argv) {
    size_t na, nb;
    if (argc == 4 && !strcmp(argv[1], "hdr")) {
        unsigned char *a = slurp(argv[2], &na), *b = slurp(argv[3], &nb);
        int same = !memcmp(a + 40, b + 40, 8) &&     /* dim[0..3] */
                   !memcmp(a + 80, b + 80, 12) &&    /* pixdim[1..3] */
                   !memcmp(a + 254, b + 254, 2) &&   /* sform_code */
                   !memcmp(a + 280, b + 280, 48);    /* srow_x, y, z */
        short dt;
        memcpy(&dt, b + 70, 2);
        printf("%s %d\n", same ? "same" : "differ", dt);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "stats")) {
        unsigned char *a = slurp(argv[2], &na);
        short dim[8];
        float off;
        memcpy(dim, a + 40, 16);
        memcpy(&off, a + 108, 4);
        size_t npx = (size_t)dim[1] * dim[2], n = npx * dim[3], fg = 0, bad = 0;
        int first = -1, last = -1;
        for (size_t i = 0; i < n; i++) {
            unsigned char v = a[(size_t)off + i];
            bad += v > 1;
            if (v) {
                fg++;
                int k = (int)(i / npx);
                if (first < 0) first = k;
                last = k;
            }
        }
        printf("%zu %zu %d %d %zu\n", n, fg, first, last, bad);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "mk2d")) {
        unsigned char h[352] = {0};
        int v = 348;
        memcpy(h, &v, 4);
        short dim[8] = {2, 16, 16, 1, 1, 1, 1, 1}, dt = 4, bp = 16;
        memcpy(h + 40, dim, 16);
        memcpy(h + 70, &dt, 2);
        memcpy(h + 72, &bp, 2);
        float pix[8] = {1, 1, 1, 1, 1, 1, 1, 1}, off = 352;
        memcpy(h + 76, pix, 32);
        memcpy(h + 108, &off, 4);
        memcpy(h + 344, "n+1", 4);
        FILE *f = fopen(argv[2], "wb");
        short px[256];
        for (int i = 0; i < 256; i++) px[i] = (short)(i * 3);
        fwrite(h, 1, 352, f);
        fwrite(px, 2, 256, f);
        return fclose(f) != 0;
    }
    return 2;
}
EOF
"$CC" -O1 -o "$T/nii" "$T/nii.c" -lz || skip "could not build the NIfTI helper"

# The liver's largest slice of example_ct_sm is 24 (TotalSegmentator's
# --fast liver mask), its centroid about (77, 57).
expect_exit 0 "$SYNTHFM" predict --volume "$VOL" --slice 24 --point 77,57,1 \
    --checkpoint "$G/ckpt.pth" --model-config "$CFG" --threads 2 \
    --out "$T/mask.nii.gz"
[ -f "$T/mask.nii.gz" ] || fail "no mask written"
grep -q '"slices": 30' "$T/out" || fail "stdout: $(cat "$T/out")"
grep -q 'per-slice inference seconds' "$T/err" || fail "no per-slice timing"
[ "$("$T/nii" hdr "$VOL" "$T/mask.nii.gz")" = "same 2" ] ||
    fail "geometry or datatype: $("$T/nii" hdr "$VOL" "$T/mask.nii.gz")"
read -r n fg first last bad <<<"$("$T/nii" stats "$T/mask.nii.gz")"
[ "$n" -eq $((122 * 101 * 30)) ] || fail "voxels $n"
[ "$bad" -eq 0 ] || fail "$bad voxels are not 0/1"
grep -q "\"foreground_voxels\": $fg," "$T/out" || fail "foreground $fg vs $(cat "$T/out")"
[ "$fg" -gt 0 ] && [ "$first" -lt 24 ] && [ "$last" -gt 24 ] ||
    fail "propagation did not reach both sides of slice 24 ($fg voxels, slices $first..$last)"

# Bad inputs: clear errors, nothing written.
bad_case() {
    local want=$1 msg=$2; shift 2
    expect_exit "$want" "$SYNTHFM" predict "$@" --out "$T/bad.nii.gz"
    grep -q -- "$msg" "$T/err" || { cat "$T/err" >&2; fail "message lacks '$msg'"; }
    [ ! -e "$T/bad.nii.gz" ] || fail "a mask was written on error: $*"
    ls "$T" | grep -q 'bad.*tmp' && fail "a temporary file was left: $*"
    return 0
}
common=(--checkpoint "$G/ckpt.pth" --model-config "$CFG")
bad_case 2 "outside the volume (slices 0..29)" --volume "$VOL" --slice 30 --point 77,57,1 "${common[@]}"
bad_case 2 "is outside slice 24" --volume "$VOL" --slice 24 --point 122,57,1 "${common[@]}"
bad_case 2 "is outside slice 24" --volume "$VOL" --slice 24 --point 5,-1,1 "${common[@]}"
"$T/nii" mk2d "$T/flat.nii"
bad_case 2 "is a 2-D image" --volume "$T/flat.nii" --slice 0 --point 3,3,1 "${common[@]}"
bad_case 2 "needs a SAM 2 model" --volume "$VOL" --slice 24 --point 77,57,1 \
    --checkpoint "$G/ckpt.pth" --model-config vit_b
if [ -f "$SHARED/golden/sam_tiny/ckpt.pth" ]; then
    bad_case 1 "SAM 1 (segment-anything) checkpoint" --volume "$VOL" --slice 24 \
        --point 77,57,1 --checkpoint "$SHARED/golden/sam_tiny/ckpt.pth" --model-config "$CFG"
fi
bad_case 2 "--slice K is required" --volume "$VOL" --point 77,57,1 "${common[@]}"
expect_exit 2 "$SYNTHFM" predict --volume "$VOL" --slice 24 --point 77,57,1 \
    "${common[@]}" --out "$T/mask.png"
grep -q "must end in .nii" "$T/err" || fail "png output accepted"
# The image predictor still answers without --volume (SAM 1 usage text).
expect_exit 0 "$SYNTHFM" predict --help
grep -q "predict --volume --help" "$T/out" || fail "predict --help does not point to --volume"
expect_exit 0 "$SYNTHFM" predict --volume x --help
grep -q "propagated from slice K" "$T/out" || fail "predict --volume --help"
echo "ok: $fg foreground voxels on slices $first..$last"
