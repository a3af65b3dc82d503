#!/usr/bin/env bash
# test_train.sh - `synthfm train` end to end on two tiny corpora (64 px):
# a finished run has DONE, run.sqlite with status done, and a best.pth that
# `synthfm predict --model-config RUN/model.yaml` loads; Ctrl-C leaves a
# resumable run (no DONE, status interrupted) that --resume finishes; bad
# inputs exit 1 (runtime) or 2 (usage/config) and create no run directory.
# Exit 0 pass, 1 fail.
. "$(dirname "$0")/lib.sh"

"$SYNTHFM" generate --out "$T/tr" --count 6 --size 64 --seed 1 --mode shape -q
"$SYNTHFM" generate --out "$T/va" --count 3 --size 64 --seed 2 --mode shape -q
cat >"$T/cfg.yaml" <<'YAML'
model:
  image_size: 64
  patch_size: 16
  encoder_embed_dim: 32
  encoder_depth: 2
  encoder_num_heads: 2
  encoder_global_attn_indexes: [1]
  window_size: 0
  prompt_embed_dim: 32
epochs: 2
images_per_epoch: 6
min_area_frac: 0.01
lr: 0.001
threads: 1
YAML

SF_PROGRESS_S=0 expect_exit 0 "$SYNTHFM" train --config "$T/cfg.yaml" --corpus "$T/tr" \
    --val "$T/va" --out "$T/run"
# stderr is a file here: progress lines (SF_PROGRESS_S apart; every step
# at 0) with the step, the named loss, steps/s; no "nan" before the first
# validation; epoch lines say what the seconds are
grep -q '^step 1/12  loss [0-9.]* (mean of last 100 steps)  val Dice not yet .* steps/s' "$T/err" ||
    fail "no progress line for step 1: $(head -3 "$T/err")"
[ "$(grep -c '^step [0-9]*/12 ' "$T/err")" -ge 12 ] || fail "not a progress line per step"
grep -q 'nan' "$T/err" && fail "nan on a progress line: $(grep nan "$T/err" | head -1)"
grep -q '^epoch 2: step 12/12  loss .* s since the start$' "$T/err" || fail "epoch line"
# the epoch line's loss is the curve's and the demo table's: the mean of
# the steps' losses in run.sqlite
want=$(sqlite3 "$T/run/run.sqlite" "SELECT printf('%.4f', avg(loss)) FROM steps WHERE step > 12 - 100")
grep -q "^epoch 2: step 12/12  loss $want " "$T/err" ||
    fail "epoch line's loss is not the mean of the last steps ($want): $(grep '^epoch 2' "$T/err")"
grep -q '"finished": true' "$T/out" || fail "no finished JSON line: $(cat "$T/out")"
grep -q 'best val Dice' "$T/err" || fail "no summary line"
[ -f "$T/run/DONE" ] || fail "no DONE"
[ "$(sqlite3 "$T/run/run.sqlite" "SELECT value FROM run WHERE key='status'")" = done ] ||
    fail "status is not done"
[ "$(sqlite3 "$T/run/run.sqlite" "SELECT count(*) FROM steps")" = 12 ] || fail "steps"
[ "$(sqlite3 "$T/run/run.sqlite" "SELECT count(*) FROM epochs")" = 2 ] || fail "epochs"
expect_exit 0 "$SYNTHFM" predict --checkpoint "$T/run/best.pth" \
    --model-config "$T/run/model.yaml" --image "$T/tr/images/$(ls "$T/tr/images" | head -1)" \
    --point 32,32,1 --out "$T/mask.png"
[ -f "$T/mask.png" ] || fail "predict wrote no mask"
# without --model-config, predict takes the model.yaml beside the checkpoint
expect_exit 0 "$SYNTHFM" predict --checkpoint "$T/run/best.pth" \
    --image "$T/tr/images/$(ls "$T/tr/images" | head -1)" --point 32,32,1 --out "$T/mask2.png"
grep -q "using $T/run/model.yaml" "$T/err" || fail "model.yaml beside the checkpoint not said"
cmp -s "$T/mask.png" "$T/mask2.png" || fail "model.yaml beside the checkpoint: another mask"
expect_exit 2 "$SYNTHFM" predict --checkpoint "$T/run/best.pth" --model-config "$T/none.yaml" \
    --image "$T/tr/images/$(ls "$T/tr/images" | head -1)" --point 32,32,1 --out "$T/mask3.png"
[ "$(png_info "$T/run/curve.png" | cut -d' ' -f1)" = 820 ] || fail "no learning curve PNG"

# on the fly: samples from the factory, validation on a corpus of another seed
printf 'image_size: 64\nmode: shape\n' >"$T/factory.yaml"
expect_exit 0 "$SYNTHFM" train --config "$T/cfg.yaml" --on-the-fly "$T/factory.yaml" \
    --val "$T/va" --out "$T/otf" -q
[ -f "$T/otf/DONE" ] && [ -f "$T/otf/factory.yaml" ] || fail "on-the-fly run incomplete"
[ "$(sqlite3 "$T/otf/run.sqlite" "SELECT role FROM corpora WHERE role != 'val'")" = on-the-fly ] ||
    fail "on-the-fly source not recorded"
sed -e 's/^epochs: 2/epochs: 1\non_the_fly_seed: 2/' "$T/cfg.yaml" >"$T/overlap.yaml"
expect_exit 2 "$SYNTHFM" train --config "$T/overlap.yaml" --on-the-fly "$T/factory.yaml" \
    --val "$T/va" --out "$T/r3"
grep -q 'validation' "$T/err" || fail "seed overlap not explained: $(cat "$T/err")"
[ ! -e "$T/r3" ] || fail "a refused on-the-fly run left a run directory"
expect_exit 2 "$SYNTHFM" train --config "$T/cfg.yaml" --on-the-fly "$T/factory.yaml" \
    --corpus "$T/tr" --val "$T/va" --out "$T/r3"

# bad inputs: exit codes, and no run directory left behind
expect_exit 1 "$SYNTHFM" train --config "$T/cfg.yaml" --corpus "$T/tr" --val "$T/va" --out "$T/run"
grep -q exists "$T/err" || fail "overwriting a run: $(cat "$T/err")"
expect_exit 1 "$SYNTHFM" train --config "$T/cfg.yaml" --corpus "$T/nope" --val "$T/va" --out "$T/r2"
[ ! -e "$T/r2" ] || fail "a missing corpus left a run directory"
printf 'model: vit_b\nepochs: zero\n' >"$T/bad.yaml"
expect_exit 2 "$SYNTHFM" train --config "$T/bad.yaml" --corpus "$T/tr" --val "$T/va" --out "$T/r2"
grep -q 'epochs' "$T/err" || fail "config error without the key: $(cat "$T/err")"
[ ! -e "$T/r2" ] || fail "a config error left a run directory"
expect_exit 2 "$SYNTHFM" train --corpus "$T/tr"
# a corrupt corpus (truncated label PNG) and an incompatible --init
cp -r "$T/tr" "$T/trbad"
f=$(ls "$T/trbad/labels" | head -1)
head -c 100 "$T/trbad/labels/$f" >"$T/x" && chmod u+w "$T/trbad/labels/$f" && cp "$T/x" "$T/trbad/labels/$f"
expect_exit 1 "$SYNTHFM" train --config "$T/cfg.yaml" --corpus "$T/trbad" --val "$T/va" --out "$T/r2"
grep -q "$f" "$T/err" || fail "corrupt corpus error does not name the file: $(cat "$T/err")"
[ ! -e "$T/r2" ] || fail "a corrupt corpus left a run directory"
expect_exit 1 "$SYNTHFM" train --config "$T/cfg.yaml" --corpus "$T/tr" --val "$T/va" \
    --init "$T/run/curve.png" --out "$T/r2"
grep -q 'init' "$T/err" || fail "bad --init not named: $(cat "$T/err")"
[ ! -e "$T/r2" ] || fail "a bad --init left a run directory"
expect_exit 1 "$SYNTHFM" train --resume "$T/run"   # finished: not resumable

# Ctrl-C: a resumable state, no DONE; --resume finishes the run
sed -e 's/^epochs: 2/epochs: 20/' "$T/cfg.yaml" >"$T/long.yaml"
"$SYNTHFM" train --config "$T/long.yaml" --corpus "$T/tr" --val "$T/va" \
    --out "$T/int" >"$T/int.out" 2>"$T/int.err" &
pid=$!
for _ in $(seq 100); do
    [ -f "$T/int/state.pt" ] && break   # after the first epoch
    sleep 0.2
done
kill -INT $pid
set +e; wait $pid; rc=$?; set -e
[ $rc -eq 1 ] || { cat "$T/int.err"; fail "Ctrl-C: expected exit 1, got $rc"; }
grep -q 'resumable' "$T/int.err" || fail "Ctrl-C: no resumable message"
[ ! -f "$T/int/DONE" ] || fail "an interrupted run looks finished"
[ "$(sqlite3 "$T/int/run.sqlite" "SELECT value FROM run WHERE key='status'")" = interrupted ] ||
    fail "status is not interrupted"
done_before=$(sqlite3 "$T/int/run.sqlite" "SELECT value FROM run WHERE key='steps_done'")
[ "$done_before" -lt 120 ] || fail "Ctrl-C did not stop the run"
expect_exit 0 "$SYNTHFM" train --resume "$T/int" -q
[ -f "$T/int/DONE" ] || fail "resumed run has no DONE"
[ "$(sqlite3 "$T/int/run.sqlite" "SELECT count(*) FROM steps")" = 120 ] || fail "resumed steps"
echo ok
