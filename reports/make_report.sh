#!/usr/bin/env bash
# make_report.sh BUILD - what `make report` runs (issue 7): the whole chain
# from nothing to reports/index.md.
#
# Embedded default (a fresh clone, no datasets, no checkpoints): generate a
# small training corpus and a validation corpus (factory default config),
# train the tiny CPU profile (schemas/train/cpu-tiny.yaml), evaluate it
# ("SynthFM-tiny") and the weight-free classical method on the synthetic
# out-of-distribution split (and on ../shared/realdata when present), then
# `synthfm report`: tables, t-tests, figures, provenance.
#
# With datasets under $DATA_ROOT (data/<folder>/, data/README.md) and
# checkpoints under $MODELS_ROOT (models/, reports/README.md), the same
# command evaluates every method found on every dataset found: the full
# tables.
#
# Environment (all optional):
#   REPORT_OUT          output folder (reports/out); the index is
#                       reports/index.md
#   DATA_ROOT           datasets (data)
#   MODELS_ROOT         checkpoints (models)
#   SF_SHARED           shared fixtures (../shared): realdata/ is evaluated
#   REPORT_CORPUS_COUNT training corpus size (400)
#   REPORT_VAL_COUNT    validation corpus size (40)
#   REPORT_OOD_COUNT    synthetic OOD images (32)
#   REPORT_TRAIN_CONFIG training config (schemas/train/cpu-tiny.yaml)
#   REPORT_EPOCHS       epochs of the embedded run (4; "profile" keeps the
#                       config's own, 32 for cpu-tiny)
#   REPORT_IMAGES_PER_EPOCH  images per epoch (200; cpu-tiny: 250)
#   REPORT_RETRAIN=1    train again even when a finished run exists
set -euo pipefail

BUILD=${1:-build}
S=$PWD/$BUILD/bin/synthfm
OUT=${REPORT_OUT:-reports/out}
DATA_ROOT=${DATA_ROOT:-data}
MODELS_ROOT=${MODELS_ROOT:-models}
SHARED=${SF_SHARED:-../shared}
TRAIN_CONFIG=${REPORT_TRAIN_CONFIG:-schemas/train/cpu-tiny.yaml}
DB=$OUT/results.sqlite
RUN=$OUT/run-tiny
t0=$SECONDS

[ -x "$S" ] || { echo "make_report: $S not built" >&2; exit 2; }
mkdir -p "$OUT"
step() { printf '== [%4ds] %s\n' $((SECONDS - t0)) "$*"; }

# 1. Corpora: training (seed 1) and validation (seed 2, held out).
step "corpus: $OUT/corpus (${REPORT_CORPUS_COUNT:-400} samples, 256 px)"
"$S" generate --out "$OUT/corpus" --count "${REPORT_CORPUS_COUNT:-400}" \
    --seed 1 --size 256 -q
step "validation corpus: $OUT/val"
"$S" generate --out "$OUT/val" --count "${REPORT_VAL_COUNT:-40}" --seed 2 \
    --size 256 -q

# 2. Train the tiny CPU profile (resumed if interrupted, reused if done).
if [ -n "${REPORT_RETRAIN:-}" ]; then rm -rf "$RUN"; fi
if [ -f "$RUN/DONE" ]; then
    step "training: $RUN is finished, reused (REPORT_RETRAIN=1 retrains)"
elif [ -d "$RUN" ]; then
    step "training: resuming $RUN"
    "$S" train --resume "$RUN" -q
else
    # The 20-minute budget of `make report` on 2 cores: the cpu-tiny
    # profile with fewer epochs and images per epoch (the run records the
    # config it used: RUN/config.yaml, in the report's provenance).
    cfg=$TRAIN_CONFIG
    if [ "${REPORT_EPOCHS:-4}" != profile ]; then
        cfg=$OUT/train-embedded.yaml
        sed -e "s/^epochs:.*/epochs: ${REPORT_EPOCHS:-4}  # make report/" \
            -e "s/^images_per_epoch:.*/images_per_epoch: ${REPORT_IMAGES_PER_EPOCH:-200}  # make report/" \
            "$TRAIN_CONFIG" >"$cfg"
    fi
    step "training: $cfg -> $RUN"
    "$S" train --config "$cfg" --corpus "$OUT/corpus" \
        --val "$OUT/val" --out "$RUN" -q
fi
[ -f "$RUN/best.pth" ] || { echo "make_report: no $RUN/best.pth" >&2; exit 1; }

# 3. Evaluate. A fresh results database each time: every number in the
#    tables then comes from this run's checkpoints (one run per method name
#    and dataset; the report refuses two).
rm -f "$DB" "$DB-wal" "$DB-shm" "$OUT/eval.log"
ev() { # ev DATASET ROOT [SPLIT] -- METHOD ARGS...
    local ds=$1 root=$2 split=$3
    shift 4
    local sp=()
    [ -n "$split" ] && sp=(--split "$split")
    step "eval: $ds ($root) ${*}"
    if ! "$S" eval --dataset "$ds" --data-root "$root" "${sp[@]}" "$@" \
        --out "$DB" >"$OUT/eval-last.log" 2>&1; then
        echo "make_report: eval failed (kept going; listed in the report):" >&2
        tail -5 "$OUT/eval-last.log" >&2
    fi
    cat "$OUT/eval-last.log" >>"$OUT/eval.log"
}
tiny=(--method sam --checkpoint "$RUN/best.pth" --model-config "$RUN/model.yaml"
    --name SynthFM-tiny)
for m in classical tiny; do
    args=(--method classical)
    [ $m = tiny ] && args=("${tiny[@]}")
    ev synthetic-ood "$OUT/ood" "" -- "${args[@]}" \
        --ood-count "${REPORT_OOD_COUNT:-32}"
done

# 3b. The real samples in ../shared/realdata, when present.
corpora=("$OUT/corpus" "$OUT/val" "$OUT/ood")
# (Skipped for a dataset that $DATA_ROOT holds: one dataset name, one data.)
if [ -d "$SHARED/realdata/totalsegmentator" ] && [ ! -d "$DATA_ROOT/totalseg-ct" ]; then
    ts=$OUT/realdata-ts
    mkdir -p "$ts/example_ct_sm"
    ln -sfn "$(cd "$SHARED/realdata/totalsegmentator" && pwd)/example_ct_sm.nii.gz" \
        "$ts/example_ct_sm/ct.nii.gz"
    ln -sfn "$(cd "$SHARED/realdata/totalsegmentator" && pwd)/example_seg_fast" \
        "$ts/example_ct_sm/segmentations"
    for m in classical tiny; do
        args=(--method classical)
        [ $m = tiny ] && args=("${tiny[@]}")
        ev totalseg-ct "$ts" schemas/splits/totalseg-ct-realdata.yaml -- "${args[@]}"
    done
fi
if [ -d "$SHARED/realdata/hc18" ] && [ ! -d "$DATA_ROOT/hc18" ]; then
    for m in classical tiny; do
        args=(--method classical)
        [ $m = tiny ] && args=("${tiny[@]}")
        ev hc18 "$SHARED/realdata/hc18" "" -- "${args[@]}"
    done
fi

# 3c. Datasets under $DATA_ROOT with the checkpoints under $MODELS_ROOT
#     (reports/README.md: file names -> method names).
folder_of() { case $1 in amos-*) echo amos ;; chaos-*) echo chaos ;; *) echo "$1" ;; esac; }
methods=()
add_ckpt() { # NAME FILE MODEL_CONFIG
    [ -f "$MODELS_ROOT/$2" ] && methods+=("$1|$MODELS_ROOT/$2|$3") || true
}
add_ckpt SynthFM synthfm.pth "$( [ -f "$MODELS_ROOT/synthfm.yaml" ] && echo "$MODELS_ROOT/synthfm.yaml" || echo vit_b)"
add_ckpt SynthFM-shape synthfm_shape.pth vit_b
add_ckpt SynthFM-boundary synthfm_boundary.pth vit_b
add_ckpt SAM sam_vit_b_01ec64.pth vit_b
add_ckpt MedSAM medsam_vit_b.pth medsam
for ds in amos-ct amos-mr chaos-ct chaos-mr totalseg-ct totalseg-mr camus \
    hc18 fh-ps-aop alfi; do
    root=$DATA_ROOT/$(folder_of "$ds")
    [ -d "$root" ] || continue
    split=schemas/splits/$ds.yaml
    if [ ! -f "$split" ] || grep -q '^template: true' "$split"; then split=""; fi
    ev "$ds" "$root" "$split" -- --method classical
    ev "$ds" "$root" "$split" -- "${tiny[@]}"
    for m in "${methods[@]}"; do
        IFS='|' read -r name ckpt mcfg <<<"$m"
        ev "$ds" "$root" "$split" -- --method sam --checkpoint "$ckpt" \
            --model-config "$mcfg" --name "$name"
    done
    # Methods run outside (SAM 2, UnSAM): their masks for this dataset,
    # exported with `synthfm prompts export` and filled in.
    for imp in "$MODELS_ROOT"/imports/*/"$ds"; do
        [ -d "$imp" ] || continue
        name=$(basename "$(dirname "$imp")")
        ev "$ds" "$root" "$split" -- --method import --import "$imp" --name "$name"
    done
done

# 4. The report: tables, t-tests, figures, provenance -> reports/index.md.
#    (Every evaluation failed: an empty database, so the report still lists
#    what could not be evaluated.)
[ -f "$DB" ] || sqlite3 "$DB" <schemas/results.sql
step "report: $OUT, reports/index.md"
"$S" report --results "$DB" --out "$OUT" --index reports/index.md \
    --runs "$RUN" --corpus "${corpora[@]}" --data-root "$DATA_ROOT" \
    --models "$MODELS_ROOT"
step "done: reports/index.md"
