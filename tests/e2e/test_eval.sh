#!/usr/bin/env bash
# test_eval.sh - `synthfm eval` end to end on the real CT sample of
# ../shared/realdata/totalsegmentator, arranged in TotalSegmentator V2's
# layout with symlinks: the classical method and the golden tiny SAM
# (../shared/golden/sam_tiny) with all four settings on the shipped split
# schemas/splits/totalseg-ct-realdata.yaml -> rows with Dice in [0, 1];
# resume; a corrupt NIfTI case recorded while the run goes on; a split
# whose file changed refused; a missing dataset folder; `synthfm data
# check`; `synthfm prompts export`. Nothing in the database is lost.
# Exit 0 pass, 1 fail, 77 skip (no ../shared).
. "$(dirname "$0")/lib.sh"

RD=$(fixture realdata/totalsegmentator)
[ -f "$RD/example_ct_sm.nii.gz" ] || skip "real data absent ($RD; tests/fixtures.h)"
RD=$(cd "$RD" && pwd)
G=$SHARED/golden/sam_tiny
SPLIT=schemas/splits/totalseg-ct-realdata.yaml
command -v sqlite3 >/dev/null || skip "sqlite3 CLI absent"

ROOT=$T/ts
mkdir -p "$ROOT/example_ct_sm"
ln -s "$RD/example_ct_sm.nii.gz" "$ROOT/example_ct_sm/ct.nii.gz"
ln -s "$RD/example_seg_fast" "$ROOT/example_ct_sm/segmentations"
DB=$T/results.sqlite
q() { sqlite3 "$DB" "$1"; }

# -- classical, the shipped split, all four settings
expect_exit 0 "$SYNTHFM" eval --dataset totalseg-ct --data-root "$ROOT" \
    --method classical --split "$SPLIT" --out "$DB"
grep -q "slices/s" "$T/err" || fail "no summary line with slices/s"
grep -q "no fixed split" "$T/err" && fail "warned about a split although one was given"
n=$(q "SELECT count(*) FROM dice_scores WHERE method = 'classical'")
units=$(q "SELECT count(*) FROM slices")
[ "$units" -gt 100 ] || fail "only $units units"
[ "$n" -eq $((4 * units)) ] || fail "classical: $n rows for $units units x 4 settings"
[ "$(q "SELECT count(DISTINCT setting) FROM dice_scores")" = 4 ] || fail "settings"
[ "$(q "SELECT count(*) FROM dice_scores WHERE dice IS NULL OR dice < 0 OR dice > 1")" = 0 ] \
    || fail "Dice outside [0, 1]"
[ "$(q "SELECT count(*) FROM slices WHERE structure = 'prostate'")" = 0 ] \
    || fail "the empty prostate mask was scored"
[ "$(q "SELECT split_name FROM runs")" = totalseg-ct-realdata ] || fail "split not recorded"
echo "classical: $(q "SELECT setting || ' ' || printf('%.3f', avg(dice)) FROM dice_scores GROUP BY setting" | tr '\n' ';')"

# -- rerun: everything reused
expect_exit 0 "$SYNTHFM" eval --dataset totalseg-ct --data-root "$ROOT" \
    --method classical --split "$SPLIT" --out "$DB"
grep -q "\"reused\":$n" "$T/out" || { cat "$T/out"; fail "rerun did not reuse $n rows"; }
[ "$(q "SELECT count(*) FROM predictions")" = "$n" ] || fail "rerun duplicated rows"

# -- the golden tiny SAM (random weights: Dice is low but must be valid),
# on a smaller split (liver only, slices with >= 2000 px) to keep it short
if [ -f "$G/ckpt.pth" ]; then
    grep -Ev '^  (aorta|gallbladder|left_kidney|right_kidney|spleen|pancreas|prostate): 1$' \
        "$SPLIT" >"$T/liver.yaml"
    expect_exit 0 "$SYNTHFM" eval --dataset totalseg-ct --data-root "$ROOT" \
        --method sam --checkpoint "$G/ckpt.pth" --model-config tests/model/sam_tiny.yaml \
        --name sam_tiny --split "$T/liver.yaml" --min-pixels 2000 --threads 2 \
        --gallery 2 --out "$DB"
    m=$(q "SELECT count(*) FROM dice_scores WHERE method = 'sam_tiny'")
    [ "$m" -gt 0 ] || fail "no sam_tiny rows"
    [ "$(q "SELECT count(DISTINCT setting) FROM dice_scores WHERE method = 'sam_tiny'")" = 4 ] \
        || fail "sam_tiny settings"
    [ "$(q "SELECT count(*) FROM dice_scores WHERE method = 'sam_tiny' AND (dice < 0 OR dice > 1)")" = 0 ] \
        || fail "sam_tiny Dice outside [0, 1]"
    [ "$(q "SELECT count(*) FROM runs WHERE method = 'sam_tiny' AND length(checkpoint_sha256) = 64")" = 1 ] \
        || fail "checkpoint hash not recorded"
    # The gallery: worst, median and best 2 units at the first setting.
    gal=$T/gallery/totalseg-ct_sam_tiny_p1n0.png
    [ -s "$gal" ] || fail "no gallery at $gal"
    grep -q "gallery $gal" "$T/err" || fail "gallery path not reported"
    read -r gw gh _ <<<"$(png_info "$gal")"
    [ "$gw" -gt 400 ] && [ "$gh" -gt 600 ] || fail "gallery size ${gw}x$gh"
    # The same clicks as the classical run on the shared units.
    [ "$(q "SELECT count(*) FROM prompts")" = $((4 * units)) ] || fail "prompts not shared"
    echo "sam_tiny: $m rows, $(q "SELECT setting || ' ' || printf('%.3f', avg(dice)) FROM dice_scores WHERE method = 'sam_tiny' GROUP BY setting" | tr '\n' ';')"
    # One click: an official config scores the best of three masks; a
    # config that says the multimask head was not trained (what our trainer
    # writes with multimask: false) scores the single mask, and forcing
    # --multimask on warns and records that it did so.
    q "SELECT provenance_json FROM runs WHERE method = 'sam_tiny'" | grep -q '"one_click_output":"best of 3 by predicted IoU"' \
        || fail "official config: not the best-of-3 policy"
    { cat tests/model/sam_tiny.yaml; echo "multimask_trained: false"; } >"$T/single.yaml"
    expect_exit 0 "$SYNTHFM" eval --dataset totalseg-ct --data-root "$ROOT" \
        --method sam --checkpoint "$G/ckpt.pth" --model-config "$T/single.yaml" \
        --name sam_single --split "$T/liver.yaml" --min-pixels 2000 --settings 1,0 \
        --multimask on --threads 2 --out "$DB"
    grep -q "warning: --multimask on, but .*multimask_trained: false" "$T/err" \
        || { cat "$T/err"; fail "no warning for an untrained multimask head"; }
    pj=$(q "SELECT provenance_json FROM runs WHERE method = 'sam_single'")
    echo "$pj" | grep -q '"one_click_output":"single mask (token 0)","multimask_option":"on","multimask_trained":false' \
        || fail "policy not recorded: $pj"
    expect_exit 2 "$SYNTHFM" eval --dataset totalseg-ct --data-root "$ROOT" \
        --method sam --checkpoint "$G/ckpt.pth" --multimask maybe --out "$DB"
else
    echo "golden sam_tiny absent: SAM part skipped"
fi
total=$(q "SELECT count(*) FROM predictions")

# -- the MR sample as shipped: TotalSegmentator's multi-label file read
# by class id with the shipped split (no splitting by hand)
MR=$T/mr
mkdir -p "$MR/example_mr_sm"
ln -s "$RD/example_mr_sm.nii.gz" "$MR/example_mr_sm/mri.nii.gz"
ln -s "$RD/example_seg_mr.nii.gz" "$MR/example_mr_sm/segmentations.nii.gz"
DBM=$T/mr.sqlite
expect_exit 0 "$SYNTHFM" eval --dataset totalseg-mr --data-root "$MR" \
    --method classical --split schemas/splits/totalseg-mr-realdata.yaml --out "$DBM"
nm=$(sqlite3 "$DBM" "SELECT count(*) FROM slices")
[ "$nm" -gt 90 ] || fail "MR: only $nm units"
[ "$(sqlite3 "$DBM" "SELECT count(DISTINCT structure) FROM slices")" = 7 ] \
    || fail "MR: not the 7 structures in view"
[ "$(sqlite3 "$DBM" "SELECT count(*) FROM slices WHERE structure = 'liver'")" -gt 10 ] \
    || fail "MR: liver (class 5) not read"
echo "MR classical: $nm units, $(sqlite3 "$DBM" "SELECT setting || ' ' || printf('%.3f', avg(dice)) FROM dice_scores GROUP BY setting" | tr '\n' ';')"

# -- a split whose file changed: refused, naming it; nothing written
CH=$T/changed
mkdir -p "$CH/example_ct_sm/segmentations"
ln -s "$RD/example_ct_sm.nii.gz" "$CH/example_ct_sm/ct.nii.gz"
for f in "$RD"/example_seg_fast/*.nii.gz; do ln -s "$f" "$CH/example_ct_sm/segmentations/"; done
rm "$CH/example_ct_sm/segmentations/liver.nii.gz"
cp "$RD/example_seg_fast/spleen.nii.gz" "$CH/example_ct_sm/segmentations/liver.nii.gz"
expect_exit 1 "$SYNTHFM" eval --dataset totalseg-ct --data-root "$CH" \
    --method classical --name other --split "$SPLIT" --out "$DB"
grep -q "segmentations/liver.nii.gz: changed" "$T/err" || { cat "$T/err"; fail "changed file not named"; }
grep -q "refusing" "$T/err" || fail "no refusal"
[ "$(q "SELECT count(*) FROM predictions")" = "$total" ] || fail "refused run wrote rows"
[ "$(q "SELECT count(*) FROM runs WHERE method = 'other'")" = 0 ] || fail "refused run recorded"
expect_exit 1 "$SYNTHFM" data check --dataset totalseg-ct --data-root "$CH" --split "$SPLIT"
grep -q "wrong" "$T/out" || fail "data check: changed file not reported"
expect_exit 0 "$SYNTHFM" data check --dataset totalseg-ct --data-root "$ROOT" --split "$SPLIT"
grep -q "present" "$T/out" || fail "data check: not present"

# -- a corrupt NIfTI case next to a good one: recorded, the run goes on
BAD=$T/bad
mkdir -p "$BAD/a_good" "$BAD/b_corrupt/segmentations"
ln -s "$RD/example_ct_sm.nii.gz" "$BAD/a_good/ct.nii.gz"
ln -s "$RD/example_seg_fast" "$BAD/a_good/segmentations"
head -c 20000 "$RD/example_ct_sm.nii.gz" >"$BAD/b_corrupt/ct.nii.gz"
ln -s "$RD/example_seg_fast/liver.nii.gz" "$BAD/b_corrupt/segmentations/liver.nii.gz"
DB2=$T/bad.sqlite
expect_exit 1 "$SYNTHFM" eval --dataset totalseg-ct --data-root "$BAD" \
    --method classical --settings 1,0 --out "$DB2"
grep -q "no fixed split" "$T/err" || fail "no warning without --split"
grep -q "b_corrupt/ct.nii.gz" "$T/err" || { cat "$T/err"; fail "corrupt file not named"; }
[ "$(sqlite3 "$DB2" "SELECT count(*) FROM failures WHERE case_id = 'b_corrupt' AND message LIKE '%ct.nii.gz%'")" = 1 ] \
    || fail "failure not recorded"
[ "$(sqlite3 "$DB2" "SELECT count(*) FROM dice_scores WHERE case_id = 'a_good'")" = "$units" ] \
    || fail "the good case was not evaluated"
[ "$(sqlite3 "$DB2" "SELECT count(*) FROM slices WHERE case_id = 'b_corrupt'")" = 0 ] \
    || fail "half-written corrupt case"

# -- a missing dataset folder: a clear error, the database unchanged
expect_exit 1 "$SYNTHFM" eval --dataset totalseg-ct --data-root "$T/nowhere" \
    --method classical --out "$DB"
grep -q "nowhere: data root not found" "$T/err" || { cat "$T/err"; fail "missing folder message"; }
[ "$(q "SELECT count(*) FROM predictions")" = "$total" ] || fail "rows lost"

# -- usage errors exit 2
expect_exit 2 "$SYNTHFM" eval --dataset nope --data-root "$ROOT" --method classical --out "$DB"
expect_exit 2 "$SYNTHFM" eval --dataset totalseg-ct --data-root "$ROOT" --method sam --out "$DB"
expect_exit 2 "$SYNTHFM" eval --dataset totalseg-ct --data-root "$ROOT" --method classical \
    --settings 1,x --out "$DB"
expect_exit 2 "$SYNTHFM" eval --dataset totalseg-ct --data-root "$ROOT" --method classical \
    --split schemas/splits/amos-ct.yaml --out "$DB"

# -- prompts export: one line per unit and setting, images written
expect_exit 0 "$SYNTHFM" prompts export --dataset totalseg-ct --data-root "$ROOT" \
    --split "$SPLIT" --out "$T/exp"
[ "$(wc -l <"$T/exp/prompts.jsonl")" -eq $((4 * units)) ] || fail "export line count"
[ "$(ls "$T/exp/images" | wc -l)" -ge 30 ] || fail "export images"
echo "ok: $units units, $total predictions"
