#!/usr/bin/env bash
# study.sh - score one trained run on the real fixtures and the synthetic
# OOD split beside the weight-free classical method: the transfer study's
# measuring stick (reports/transfer/README.md).
#
#   reports/transfer/study.sh RUN [NAME]
#
# RUN is a `synthfm train` run directory (best.pth + model.yaml). Every
# method sees the same units and clicks (shipped splits for CT and MR, all
# 14 HC18 images, the built-in synthetic-ood split). Results go to
# $STUDY_DB (default reports/out/transfer/results.sqlite; classical is
# evaluated once and reused); the table (mean per-slice Dice, %) is
# printed and appended to reports/out/transfer/table.md.
# Environment: SF_SHARED (../shared), BUILD (build), STUDY_DB, STUDY_EVAL_ARGS
# (extra `synthfm eval` arguments for the model, e.g. --multimask off).
set -euo pipefail
RUN=${1:?usage: study.sh RUN [NAME]}
NAME=${2:-$(basename "$RUN")}
BUILD=${BUILD:-build}
S=$BUILD/bin/synthfm
SHARED=${SF_SHARED:-../shared}
OUT=reports/out/transfer
DB=${STUDY_DB:-$OUT/results.sqlite}
TS=$SHARED/realdata/totalsegmentator
[ -d "$TS" ] || { echo "study: $TS not found (set SF_SHARED)" >&2; exit 2; }
[ -f "$RUN/best.pth" ] || { echo "study: $RUN/best.pth not found" >&2; exit 2; }
mkdir -p "$OUT/ct/example_ct_sm" "$OUT/mr/example_mr_sm"
abs() { (cd "$(dirname "$1")" && echo "$PWD/$(basename "$1")"); }
ln -sfn "$(abs "$TS/example_ct_sm.nii.gz")" "$OUT/ct/example_ct_sm/ct.nii.gz"
ln -sfn "$(abs "$TS/example_seg_fast")" "$OUT/ct/example_ct_sm/segmentations"
ln -sfn "$(abs "$TS/example_mr_sm.nii.gz")" "$OUT/mr/example_mr_sm/mri.nii.gz"
ln -sfn "$(abs "$TS/example_seg_mr.nii.gz")" "$OUT/mr/example_mr_sm/segmentations.nii.gz"
sets=("totalseg-ct|$OUT/ct|schemas/splits/totalseg-ct-realdata.yaml"
    "totalseg-mr|$OUT/mr|schemas/splits/totalseg-mr-realdata.yaml"
    "hc18|$SHARED/realdata/hc18|"
    "synthetic-ood|$OUT/ood|")
for s in "${sets[@]}"; do
    IFS='|' read -r ds root split <<<"$s"
    sp=()
    [ -n "$split" ] && sp=(--split "$split")
    for m in classical "$NAME"; do
        if [ "$m" = classical ]; then
            args=(--method classical)
        else
            # shellcheck disable=SC2206
            args=(--method sam --checkpoint "$RUN/best.pth" --model-config
                "$RUN/model.yaml" --name "$NAME" ${STUDY_EVAL_ARGS:-})
        fi
        "$S" eval --dataset "$ds" --data-root "$root" "${sp[@]}" "${args[@]}" \
            --out "$DB" >/dev/null 2>"$OUT/eval-last.log" ||
            { cat "$OUT/eval-last.log" >&2; exit 1; }
    done
done
q="SELECT dataset, method, setting, 100.0 * avg(dice), count(*)
   FROM dice_scores WHERE method IN ('classical', '$NAME') GROUP BY 1, 2, 3"
{
    echo
    echo "### $NAME ($(date -u +%Y-%m-%dT%H:%MZ), $RUN)"
    echo
    echo "| data | units | (1,0) | (1,0) classical | (3,0) | (3,0) cl. | (1,1) | (1,1) cl. | (3,3) | (3,3) cl. |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    sqlite3 -separator '|' "$DB" "$q" | awk -F'|' -v name="$NAME" '
        { v[$1 "|" $2 "|" $3] = sprintf("%.1f", $4); n[$1] = $5; ds[$1] = 1 }
        END {
            split("totalseg-ct totalseg-mr hc18 synthetic-ood", order, " ")
            split("1,0 3,0 1,1 3,3", st, " ")
            for (i = 1; i <= 4; i++) {
                d = order[i]; if (!(d in ds)) continue
                line = "| " d " | " n[d]
                for (j = 1; j <= 4; j++)
                    line = line " | " v[d "|" name "|" st[j]] " | " v[d "|classical|" st[j]]
                print line " |"
            }
        }'
} | tee -a "$OUT/table.md"
