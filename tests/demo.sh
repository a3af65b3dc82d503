#!/usr/bin/env bash
# make demo: generate the embedded default corpus and verify it; then the
# whole loop at CPU scale: a small training corpus and a held-out
# validation corpus (another seed) at the cpu-tiny profile's image size,
# train the cpu-tiny profile from scratch for a few minutes, print the
# validation Dice and where the learning curve is. Rerunning resumes or
# finds each part complete (a finished training run is reported, not
# redone). DEMO_TRAIN=0 skips the training part; DEMO_STEPS sets its
# length (default 1200 steps: ~7 min on 2 cores, where cpu-tiny's validation
# Dice has just started to climb; the full profile runs ~17 min).
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
echo "demo: manifest      $OUT/manifest.sqlite  (sqlite3 $OUT/manifest.sqlite 'SELECT * FROM samples LIMIT 3')"
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
    # the profile, shortened: later keys override earlier ones
    rm -rf "$RUN"
    CFG=$(mktemp /tmp/sf_demo_XXXXXX.yaml)
    trap 'rm -f "$CFG"' EXIT
    { cat "$PROFILE"; printf 'epochs: 4\nimages_per_epoch: %d\nwarmup_steps: 50\n' $((STEPS / 4)); } >"$CFG"
    echo "demo: training cpu-tiny from scratch for $STEPS steps -> $RUN"
    "$SYNTHFM" train --config "$CFG" --corpus "$TR" --val "$VA" --out "$RUN" >/dev/null
fi
echo
echo "demo: validation Dice per epoch (one positive click, held-out seed):"
sqlite3 -separator '  ' "$RUN/run.sqlite" \
    "SELECT 'epoch ' || (epoch + 1), 'step ' || step, printf('val Dice %.4f', val_dice),
            printf('train loss %.4f', train_loss), printf('%.0f s', wall_s) FROM epochs ORDER BY epoch"
echo "demo: best val Dice $(sqlite3 "$RUN/run.sqlite" "SELECT printf('%.4f', max(val_dice)) FROM epochs")" \
    "(the full profile, ~18 minutes: synthfm train --config $PROFILE ...)"
echo "demo: learning curve $RUN/curve.png; model $RUN/best.pth + $RUN/model.yaml"
