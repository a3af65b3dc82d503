#!/usr/bin/env bash
# section.sh - the transfer section of the report (make_report.sh step 5):
# each of our models (method names SynthFM*) beside the weight-free
# classical method, per dataset and click setting, from the results
# database the report was made from, then the galleries that
# `synthfm eval --gallery` drew (worst, median and best units of each
# model at one click).
#
#   reports/transfer/section.sh DB GALLERY_DIR INDEX.md [CPU_SMALL_DIR]
#
# Appends to INDEX.md (links relative to its folder). Exit 2 on a missing
# database or index; nothing is appended then.
set -euo pipefail
DB=${1:?usage: section.sh DB GALLERY_DIR INDEX.md [CPU_SMALL_DIR]}
GALLERY=${2:?usage: section.sh DB GALLERY_DIR INDEX.md [CPU_SMALL_DIR]}
INDEX=${3:?usage: section.sh DB GALLERY_DIR INDEX.md [CPU_SMALL_DIR]}
SMALL=${4:-}
[ -f "$DB" ] || { echo "section.sh: $DB: no results database" >&2; exit 2; }
[ -f "$INDEX" ] || { echo "section.sh: $INDEX: no report index" >&2; exit 2; }
idx_dir=$(cd "$(dirname "$INDEX")" && pwd)
rel() { realpath --relative-to="$idx_dir" "$1"; }

q="SELECT dataset, method, setting, 100.0 * avg(dice), count(*)
   FROM dice_scores WHERE method = 'classical' OR method LIKE 'SynthFM%'
   GROUP BY 1, 2, 3"
rows=$(sqlite3 -separator '|' "$DB" "$q")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
{
    echo
    echo "## Transfer: our synthetic-only models vs the weight-free floor"
    echo
    echo "Mean per-slice Dice (%) of each model trained on synthetic data"
    echo "only, beside \`classical\` (region growing from the same clicks),"
    echo "same units and clicks; **bold**: the model beats classical in"
    echo "that cell. The study behind these models and every run made:"
    echo "[reports/transfer/README.md]($(rel reports/transfer/README.md))."
    if [ -n "$SMALL" ] && [ -f "$SMALL/README.md" ]; then
        echo "The published cpu-small checkpoint and its card:"
        echo "[$SMALL/README.md]($(rel "$SMALL/README.md"))."
    fi
    echo
    echo "| data | model | units | (1,0) | cl. | (3,0) | cl. | (1,1) | cl. | (3,3) | cl. |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    awk -F'|' '
        { v[$1 "|" $2 "|" $3] = $4; n[$1 "|" $2] = $5; ds[$1] = 1
          if ($2 != "classical") m[$2] = 1 }
        END {
            split("totalseg-ct totalseg-mr hc18 synthetic-ood", order, " ")
            split("1,0 3,0 1,1 3,3", st, " ")
            for (i = 1; i <= 4; i++) {
                d = order[i]; if (!(d in ds)) continue
                for (k in m) {
                    if (!((d "|" k "|1,0") in v)) continue
                    line = "| " d " | " k " | " n[d "|" k]
                    for (j = 1; j <= 4; j++) {
                        a = v[d "|" k "|" st[j]]; c = v[d "|classical|" st[j]]
                        s = (a == "") ? "missing" : sprintf("%.1f", a)
                        if (a != "" && c != "" && a + 0 > c + 0) s = "**" s "**"
                        line = line " | " s " | " (c == "" ? "missing" : sprintf("%.1f", c))
                    }
                    print line " |"
                }
            }
        }' <<<"$rows" | sort
    echo
    echo "### Dice by object size (one click, (1,0))"
    echo
    echo "Object area as a share of the slice; mean Dice (%) and units per"
    echo "bin. Real CT/MR structures are small (median 1.5 % / 1.2 % of the"
    echo "slice), HC18 heads large (median 24 %)."
    echo
    echo "| data | method | < 0.5 % | 0.5-2 % | 2-10 % | >= 10 % |"
    echo "|---|---|---|---|---|---|"
    sqlite3 -separator '|' "$DB" "
        SELECT s.dataset, r.method,
          CASE WHEN 1.0 * s.gt_pixels / (s.width * s.height) < 0.005 THEN 0
               WHEN 1.0 * s.gt_pixels / (s.width * s.height) < 0.02 THEN 1
               WHEN 1.0 * s.gt_pixels / (s.width * s.height) < 0.10 THEN 2
               ELSE 3 END AS bin,
          100.0 * avg(p.dice), count(*)
        FROM predictions p JOIN runs r ON r.run_id = p.run_id
        JOIN slices s ON s.slice_id = p.slice_id
        WHERE p.status = 'ok' AND p.setting = '1,0'
          AND (r.method = 'classical' OR r.method LIKE 'SynthFM%')
        GROUP BY 1, 2, 3" | awk -F'|' '
        { v[$1 "|" $2 "|" $3] = sprintf("%.1f (%d)", $4, $5); k[$1 "|" $2] = 1 }
        END {
            for (d in k) {
                split(d, dm, "|")
                line = "| " dm[1] " | " dm[2]
                for (b = 0; b < 4; b++)
                    line = line " | " ((d "|" b) in v ? v[d "|" b] : "-")
                print line " |"
            }
        }' | sort
    echo
    shopt -s nullglob
    pngs=("$GALLERY"/*.png)
    if [ ${#pngs[@]} -gt 0 ]; then
        echo "### Galleries (one click: worst, median and best units)"
        echo
        echo "Each tile: the slice as the model sees it, the ground-truth"
        echo "outline (green), the predicted outline (red), the clicks and the Dice."
        echo
        for p in "${pngs[@]}"; do
            b=$(basename "$p" .png)
            echo "![$b]($(rel "$p"))"
            echo
        done
    fi
} >"$out"
cat "$out" >>"$INDEX"
echo "section.sh: transfer section ($(grep -c '^| ' "$out") table lines, ${#pngs[@]} galleries) -> $INDEX"
