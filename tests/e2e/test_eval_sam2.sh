#!/usr/bin/env bash
# test_eval_sam2.sh - `synthfm eval --method sam2`: SAM 2's image predictor
# (the golden tiny SAM 2.1 of ../shared/golden/sam2_tiny, random weights)
# per slice on the real CT sample, liver only, all four click settings:
# rows with Dice in [0, 1] under the method name sam2, a rerun reuses them,
# and a SAM 1 model config for --method sam2 is a usage error.
# Exit 0 pass, 1 fail, 77 skip (no ../shared, no sqlite3).
. "$(dirname "$0")/lib.sh"

RD=$(fixture realdata/totalsegmentator)
G=$SHARED/golden/sam2_tiny
[ -f "$RD/example_ct_sm.nii.gz" ] || skip "real data absent ($RD; tests/fixtures.h)"
[ -f "$G/ckpt.pth" ] || skip_large golden/sam2_tiny "the SAM 2 parity set"
command -v sqlite3 >/dev/null || skip "sqlite3 CLI absent"
RD=$(cd "$RD" && pwd)
SPLIT=schemas/splits/totalseg-ct-realdata.yaml
ROOT=$T/ts
mkdir -p "$ROOT/example_ct_sm"
ln -s "$RD/example_ct_sm.nii.gz" "$ROOT/example_ct_sm/ct.nii.gz"
ln -s "$RD/example_seg_fast" "$ROOT/example_ct_sm/segmentations"
grep -Ev '^  (aorta|gallbladder|left_kidney|right_kidney|spleen|pancreas|prostate): 1$' \
    "$SPLIT" >"$T/liver.yaml"
DB=$T/results.sqlite
q() { sqlite3 "$DB" "$1"; }
args=(eval --dataset totalseg-ct --data-root "$ROOT" --method sam2
      --checkpoint "$G/ckpt.pth" --model-config tests/model/sam2_tiny.yaml
      --split "$T/liver.yaml" --min-pixels 2000 --threads 2 --out "$DB")
expect_exit 0 "$SYNTHFM" "${args[@]}"
m=$(q "SELECT count(*) FROM dice_scores WHERE method = 'sam2'")
[ "$m" -gt 0 ] || fail "no sam2 rows"
[ "$(q "SELECT count(DISTINCT setting) FROM dice_scores WHERE method = 'sam2'")" = 4 ] ||
    fail "sam2: settings"
[ "$(q "SELECT count(*) FROM dice_scores WHERE method = 'sam2' AND (dice IS NULL OR dice < 0 OR dice > 1)")" = 0 ] ||
    fail "sam2: Dice outside [0, 1]"
expect_exit 0 "$SYNTHFM" "${args[@]}"
grep -q "\"reused\":$m" "$T/out" || { cat "$T/out"; fail "rerun did not reuse $m rows"; }
expect_exit 2 "$SYNTHFM" eval --dataset totalseg-ct --data-root "$ROOT" --method sam2 \
    --checkpoint "$G/ckpt.pth" --model-config vit_b --out "$T/x.sqlite"
grep -q "needs a SAM 2 --model-config" "$T/err" || fail "SAM 1 config accepted for sam2"
echo "sam2: $m rows, $(q "SELECT setting || ' ' || printf('%.3f', avg(dice)) FROM dice_scores WHERE method = 'sam2' GROUP BY setting" | tr '\n' ';')"
