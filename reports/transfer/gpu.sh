#!/usr/bin/env bash
# gpu.sh - the transfer study on the first GPU at hand: train the recipe's
# architecture (schemas/train/synthfm.yaml: SAM ViT-B at 1024 px) FROM
# SCRATCH on fresh factory samples for at most MINUTES minutes, then score
# it on the real fixtures beside classical (study.sh), on the GPU.
#
#   make TORCH_DIR=/path/to/site-packages/torch      # a CUDA libtorch
#   reports/transfer/gpu.sh [MINUTES]                 # default 8
#
# What it trains: the recipe's model and optimiser with the study's output
# contract (multimask + IoU head, one-click steps, corrective clicks),
# 4 instances per step, bf16 autocast, on-the-fly samples from
# $GPU_FACTORY (schemas/factory/transfer.yaml) at 1024 px, validated every
# 200 steps on 40 held-out images (seed 2). --max-minutes stops it
# resumably; best.pth is the last validation's best. Results:
# reports/out/transfer/gpu-run, the table appended to
# reports/out/transfer/table.md.
# Environment: BUILD (build), DEVICE (cuda; cpu for a dry run),
# GPU_BASE_CONFIG (schemas/train/synthfm.yaml), GPU_FACTORY, GPU_SIZE (1024).
set -euo pipefail
MINUTES=${1:-8}
BUILD=${BUILD:-build}
S=$BUILD/bin/synthfm
DEVICE=${DEVICE:-cuda}
BASE=${GPU_BASE_CONFIG:-schemas/train/synthfm.yaml}
FACTORY=${GPU_FACTORY:-schemas/factory/transfer.yaml}
SIZE=${GPU_SIZE:-1024}
OUT=reports/out/transfer
RUN=$OUT/gpu-run
[ -x "$S" ] || { echo "gpu.sh: $S not built (make TORCH_DIR=...)" >&2; exit 2; }
mkdir -p "$OUT"
echo "gpu.sh: validation corpus $OUT/gpu-val ($SIZE px, seed 2)"
"$S" generate --config "$FACTORY" --out "$OUT/gpu-val" --count 40 \
    --size "$SIZE" --seed 2 -q
sed "s/^image_size:.*/image_size: $SIZE/" "$FACTORY" >"$OUT/gpu-factory.yaml"
grep -q '^image_size:' "$OUT/gpu-factory.yaml" ||
    echo "image_size: $SIZE" >>"$OUT/gpu-factory.yaml"
# The base config with the study's training choices (later keys win).
{
    grep -v '^\(init\|device\|precision\|threads\|epochs\|images_per_epoch\|multimask\|iou_loss_weight\|single_click_frac\|corrective_iters\|instances_per_step\|loss\|lr\|warmup_steps\|val_max_images\):' "$BASE"
    cat <<EOF
lr: 0.0003
warmup_steps: 200
epochs: 100000          # --max-minutes ends the run
images_per_epoch: 200   # a validation every 200 steps
instances_per_step: 4
loss: dice+plain_bce
multimask: true
iou_loss_weight: 1
single_click_frac: 0.5
corrective_iters: 2
val_max_images: 40
device: $DEVICE
precision: $([ "$DEVICE" = cuda ] && echo bf16 || echo fp32)
threads: 0
EOF
} >"$OUT/gpu-train.yaml"
if [ -d "$RUN" ]; then
    echo "gpu.sh: resuming $RUN for $MINUTES more minutes"
    "$S" train --resume "$RUN" --max-minutes "$MINUTES"
else
    echo "gpu.sh: training $BASE's model from scratch for $MINUTES minutes -> $RUN"
    "$S" train --config "$OUT/gpu-train.yaml" --on-the-fly "$OUT/gpu-factory.yaml" \
        --val "$OUT/gpu-val" --out "$RUN" --max-minutes "$MINUTES"
fi
[ -f "$RUN/best.pth" ] || { echo "gpu.sh: no validation finished within $MINUTES minutes" >&2; exit 1; }
STUDY_EVAL_ARGS="--device $DEVICE" BUILD=$BUILD \
    bash reports/transfer/study.sh "$RUN" "gpu-$(date -u +%Y%m%dT%H%M)"
