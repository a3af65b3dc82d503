#!/usr/bin/env bash
# test_eval_interactive.sh - `synthfm eval --protocol cvpr25|noc|volume` end
# to end on the real CT sample (liver, its two largest slices) for classical, SAM (the golden
# tiny SAM of ../shared/golden/sam_tiny) and SAM 2 (the golden tiny SAM 2.1
# of ../shared/golden/sam2_tiny; random weights are fine here): sequences
# with 5 clicks (cvpr25, with and without a box), NoC within the cap, the
# same first click for every method, the volume setting's 3D rows (SAM 2
# by propagation, the 2-D methods per slice), a rerun that reuses every
# row, the refusals (usage errors, exit 2, nothing written), and the
# report's interactive table and figures.
# Exit 0 pass, 1 fail, 77 skip (no ../shared, no sqlite3).
. "$(dirname "$0")/lib.sh"

RD=$(fixture realdata/totalsegmentator)
[ -f "$RD/example_ct_sm.nii.gz" ] || skip "real data absent ($RD; tests/fixtures.h)"
command -v sqlite3 >/dev/null || skip "sqlite3 CLI absent"
RD=$(cd "$RD" && pwd)
G1=$SHARED/golden/sam_tiny
G2=$SHARED/golden/sam2_tiny
SPLIT=schemas/splits/totalseg-ct-realdata.yaml
ROOT=$T/ts
mkdir -p "$ROOT/example_ct_sm"
ln -s "$RD/example_ct_sm.nii.gz" "$ROOT/example_ct_sm/ct.nii.gz"
ln -s "$RD/example_seg_fast" "$ROOT/example_ct_sm/segmentations"
grep -Ev '^  (aorta|gallbladder|left_kidney|right_kidney|spleen|pancreas|prostate): 1$' \
    "$SPLIT" >"$T/liver.yaml"
DB=$T/results.sqlite
q() { sqlite3 "$DB" "$1"; }
base=(eval --dataset totalseg-ct --data-root "$ROOT" --split "$T/liver.yaml"
      --min-pixels 2090 --threads 2 --out "$DB")

# Refusals: usage errors before anything is written.
expect_exit 2 "$SYNTHFM" "${base[@]}" --method classical --protocol bogus
grep -q "protocol must be fixed, cvpr25, noc or volume" "$T/err" || fail "bad --protocol"
expect_exit 2 "$SYNTHFM" "${base[@]}" --method classical --protocol noc --box
grep -q -- "--box is for --protocol cvpr25" "$T/err" || fail "--box with noc"
expect_exit 2 "$SYNTHFM" "${base[@]}" --method classical --protocol cvpr25 --box
grep -q "takes no box" "$T/err" || fail "--box with classical"
expect_exit 2 "$SYNTHFM" "${base[@]}" --method classical --protocol volume --settings 1,1
grep -q "no negative" "$T/err" || fail "volume with negatives"
[ ! -e "$DB" ] || fail "a refused run wrote $DB"

methods=(classical)
declare -A margs=([classical]="--method classical")
if [ -f "$G1/ckpt.pth" ]; then
    methods+=(sam_tiny)
    margs[sam_tiny]="--method sam --checkpoint $G1/ckpt.pth --model-config tests/model/sam_tiny.yaml --name sam_tiny"
fi
if [ -f "$G2/ckpt.pth" ]; then
    methods+=(sam2_tiny)
    margs[sam2_tiny]="--method sam2 --checkpoint $G2/ckpt.pth --model-config tests/model/sam2_tiny.yaml --name sam2_tiny"
fi

for m in "${methods[@]}"; do
    # noc (up to 20 clicks a unit) and the per-slice volume setting run
    # through the driver once, with classical (their logic does not depend
    # on the method); the tiny random models run cvpr25, SAM 2 also its
    # propagation (the suite's time budget)
    protocols=(cvpr25)
    [ "$m" = classical ] && protocols=(cvpr25 noc volume)
    [ "$m" = sam2_tiny ] && protocols=(cvpr25 volume)
    # shellcheck disable=SC2086
    for p in "${protocols[@]}"; do
        expect_exit 0 "$SYNTHFM" "${base[@]}" ${margs[$m]} --protocol "$p"
        grep -q "\"protocol\":\"$p\"" "$T/out" || fail "$m $p: summary"
    done
    n=$(q "SELECT count(*) FROM interactive_scores WHERE method = '$m' AND protocol = 'cvpr25'")
    [ "$n" -gt 0 ] || fail "$m: no cvpr25 rows"
    [ "$(q "SELECT count(*) FROM interactive_scores WHERE method = '$m' AND protocol = 'cvpr25' AND (n_clicks != 5 OR dsc_final < 0 OR dsc_final > 1 OR dsc_auc > 4)")" = 0 ] ||
        fail "$m: cvpr25 values"
    [ "$(q "SELECT count(*) FROM interactive_scores WHERE method = '$m' AND protocol = 'noc' AND (noc90 < 1 OR noc90 > 21 OR noc85 > noc90)")" = 0 ] ||
        fail "$m: NoC values"
    [ "$(q "SELECT count(*) FROM interactive_seqs WHERE status != 'ok'")" = 0 ] || fail "$m: failed sequences"
    if [[ " ${protocols[*]} " == *" volume "* ]]; then
        [ "$(q "SELECT count(*) FROM volume_dice_scores WHERE method = '$m'")" = 2 ] || fail "$m: volume rows"
    fi
    # Rerun: every sequence reused.
    # shellcheck disable=SC2086
    expect_exit 0 "$SYNTHFM" "${base[@]}" ${margs[$m]} --protocol cvpr25
    grep -q "\"reused\":$n," "$T/out" || { cat "$T/out"; fail "$m: rerun did not reuse $n sequences"; }
    echo "$m: cvpr25 $(q "SELECT printf('DSC AUC %.3f final %.3f NSD final %.3f', avg(dsc_auc), avg(dsc_final), avg(nsd_final)) FROM interactive_scores WHERE method = '$m' AND protocol = 'cvpr25'");" \
         "noc $(q "SELECT printf('NoC@85 %.2f NoC@90 %.2f', avg(noc85), avg(noc90)) FROM interactive_scores WHERE method = '$m' AND protocol = 'noc'");" \
         "volume $(q "SELECT group_concat(setting || ' ' || mode || ' ' || printf('%.3f', dice), '; ') FROM volume_dice_scores WHERE method = '$m'")"
done
if [ -f "$G2/ckpt.pth" ]; then
    [ "$(q "SELECT mode FROM volume_dice_scores WHERE method = 'sam2_tiny' LIMIT 1")" = propagation ] ||
        fail "sam2: not propagated"
fi
# The same first click for every method (no box: it depends on the
# ground truth only).
[ "$(q "SELECT count(*) FROM (SELECT slice_id FROM interactive_steps WHERE step = 1 GROUP BY slice_id HAVING count(DISTINCT click_x || ',' || click_y || ',' || positive) > 1)")" = 0 ] ||
    fail "first clicks differ between methods"
# cvpr25 with a box (SAM-format models): a step 0 row per sequence.
if [ -f "$G1/ckpt.pth" ]; then
    # shellcheck disable=SC2086
    expect_exit 0 "$SYNTHFM" "${base[@]}" ${margs[sam_tiny]} --name sam_tiny_box --protocol cvpr25 --box
    [ "$(q "SELECT count(*) FROM interactive_seqs q JOIN runs r USING (run_id) WHERE r.method = 'sam_tiny_box' AND q.has_box = 1")" -gt 0 ] ||
        fail "box: no sequences"
    [ "$(q "SELECT count(*) FROM interactive_steps t JOIN runs r USING (run_id) WHERE r.method = 'sam_tiny_box' AND t.step = 0")" = \
      "$(q "SELECT count(*) FROM interactive_seqs q JOIN runs r USING (run_id) WHERE r.method = 'sam_tiny_box'")" ] ||
        fail "box: step 0 rows"
fi
# The fixed settings now carry NSD and HD95.
expect_exit 0 "$SYNTHFM" "${base[@]}" --method classical --settings 1,0
[ "$(q "SELECT count(*) FROM prediction_scores WHERE nsd_2mm IS NULL")" = 0 ] || fail "fixed: NSD missing"
echo "interactive: ${#methods[@]} methods ok"
# The report: Table 4 with a row per method, the volume and NSD tables,
# Wilcoxon + Holm CSVs, the curves and the NoC histogram.
expect_exit 0 "$SYNTHFM" report --results "$DB" --out "$T/rep"
for m in "${methods[@]}"; do
    grep -q "^| totalseg-ct | $m | " "$T/rep/table4.md" || fail "table4: no row for $m"
done
grep -q "bootstrap_resamples" "$T/rep/table4.csv" || fail "table4.csv: no CI columns"
head -1 "$T/rep/table4_tests.csv" | grep -q "p,p_holm" || fail "table4_tests.csv header"
if [ "${#methods[@]}" -gt 1 ]; then
    [ "$(grep -c '^totalseg-ct,final DSC %' "$T/rep/table4_tests.csv")" -ge 1 ] ||
        fail "table4_tests.csv: no final DSC tests"
fi
grep -q "| liver | 1,0 | classical (per-slice) |" "$T/rep/table_volume.md" || fail "volume table"
grep -q "NSD 2 mm" "$T/rep/table_nsd.md" || fail "NSD table"
for f in curve_totalseg-ct_noc.png curve_totalseg-ct_cvpr25.png noc_totalseg-ct.png; do
    [ "$(png_info "$T/rep/figures/$f" | cut -d' ' -f1)" -gt 100 ] || fail "figure $f"
    grep -q "figures/$f" "$T/rep/index.md" || fail "index does not show $f"
done
echo "report: table4, table_volume, table_nsd, curves and NoC histogram ok"
