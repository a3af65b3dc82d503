#!/usr/bin/env bash
# make demo: generate the embedded default corpus and verify it; then the
# whole loop at CPU scale: a small training corpus and a held-out
# validation corpus (another seed) at the cpu-tiny profile's image size,
# train the cpu-tiny profile from scratch for a few minutes, print the
# validation Dice and where the learning curve is. Rerunning resumes or
# finds each part complete (a finished training run is reported, not
# redone). DEMO_TRAIN=0 skips the training part; DEMO_STEPS sets its
# length (default 1200 steps, where cpu-tiny's validation Dice has just
# started to climb; README "Quick start" gives measured times).
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-data/corpora/demo}
SYNTHFM=$BUILD/bin/synthfm
echo "demo: generating 64 samples (1024x1024, shape + boundary modules) into $OUT"
"$SYNTHFM" generate --out "$OUT" --count 64 --seed 0
"$SYNTHFM" verify "$OUT" --regenerate 4
echo
echo "demo: corpus        $OUT  ($(ls "$OUT"/images | wc -l) images, $(ls "$OUT"/labels | wc -l) label maps)"
echo "demo: contact sheet $OUT/preview.png"
echo "demo: dataset card  $OUT/README.md"
echo "demo: manifest      $OUT/manifest.sqlite, e.g.:"
echo "  sqlite3 -header -column $OUT/manifest.sqlite \\"
echo "    'SELECT sample_index, module, n_instances, image_path, label_path FROM samples LIMIT 3'"
sqlite3 -header -column "$OUT/manifest.sqlite" \
    'SELECT sample_index, module, n_instances, image_path, label_path FROM samples LIMIT 3' |
    sed 's/^/  /'
echo "  (params_json holds every drawn parameter of a sample: one JSON object per row)"
[ "${DEMO_TRAIN:-1}" = 0 ] && exit 0

# --- training: cpu-tiny on a small corpus, validation on another seed
PROFILE=schemas/train/cpu-tiny.yaml
PX=$(awk '/^  image_size:/ {print $2; exit}' "$PROFILE")
STEPS=${DEMO_STEPS:-1200}
TR=$OUT-train$PX VA=$OUT-val$PX RUN=$OUT-run
echo
echo "demo: training corpus $TR (1000 samples, ${PX}px, shape module, seed 1)"
"$SYNTHFM" generate --out "$TR" --count 1000 --size "$PX" --mode shape --seed 1 -q
echo "demo: validation corpus $VA (40 samples, seed 2: held out)"
"$SYNTHFM" generate --out "$VA" --count 40 --size "$PX" --mode shape --seed 2 -q
if [ -f "$RUN/DONE" ]; then
    echo "demo: $RUN is finished already (delete it to train again)"
elif [ -f "$RUN/state.pt" ]; then
    echo "demo: resuming $RUN"
    "$SYNTHFM" train --resume "$RUN" >/dev/null
else
    # the profile, shortened: its schedule keys get the demo's values (a
    # config may not repeat a key)
    rm -rf "$RUN"
    CFG=$(mktemp "${TMPDIR:-/tmp}/sf_demo_XXXXXX.yaml")
    trap 'rm -f "$CFG"' EXIT
    awk -v ipe=$((STEPS / 4)) '
        /^epochs:/ { print "epochs: 4"; next }
        /^images_per_epoch:/ { print "images_per_epoch: " ipe; next }
        /^warmup_steps:/ { print "warmup_steps: 50"; next }
        { print }' "$PROFILE" >"$CFG"
    echo "demo: training cpu-tiny from scratch for $STEPS steps -> $RUN"
    echo "      (a progress line every 30 s; the loss is the mean of the last 100 steps)"
    "$SYNTHFM" train --config "$CFG" --corpus "$TR" --val "$VA" --out "$RUN" >/dev/null
fi
echo
echo "demo: validation Dice per epoch (one positive click, held-out seed); loss:"
echo "      the mean of the last 100 steps' losses, as on the progress lines and"
echo "      the learning curve; seconds: since the start of training"
sqlite3 -header -column "$RUN/run.sqlite" \
    "SELECT e.epoch + 1 AS epoch, e.step AS step, printf('%.4f', e.val_dice) AS val_dice,
            printf('%.4f', (SELECT avg(s.loss) FROM steps s
                            WHERE s.step > e.step - 100 AND s.step <= e.step)) AS loss_last_100,
            printf('%.0f', e.wall_s) AS seconds_since_start
     FROM epochs e ORDER BY e.epoch" | sed 's/^/  /'
echo "demo: best val Dice $(sqlite3 "$RUN/run.sqlite" "SELECT printf('%.4f', max(val_dice)) FROM epochs")"
echo "demo: learning curve $RUN/curve.png; model $RUN/best.pth + $RUN/model.yaml"
echo "demo: try the model on a validation image (predict reads $RUN/model.yaml):"
echo "  $SYNTHFM predict --checkpoint $RUN/best.pth --image $VA/images/000000.png \\"
echo "      --point 64,64,1 --out mask.png"
echo "demo: the full profile (48 epochs; README gives its time):"
echo "  $SYNTHFM train --config $PROFILE --corpus $TR --val $VA --out $OUT-full"
