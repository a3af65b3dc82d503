#!/usr/bin/env bash
# make demo: generate the embedded default corpus and say where it is.
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-data/corpora/demo}
SYNTHFM=$BUILD/bin/synthfm
echo "demo: generating 64 samples (1024x1024, modes shape+boundary) into $OUT"
"$SYNTHFM" generate --out "$OUT" --count 64 --seed 0
n_img=$(ls "$OUT"/images/*.png | wc -l)
n_lab=$(ls "$OUT"/labels/*.png | wc -l)
echo "demo: corpus at $OUT: $n_img images, $n_lab label maps"
echo "demo: first image: $OUT/images/000000.png, its labels: $OUT/labels/000000.png"
