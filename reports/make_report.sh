#!/usr/bin/env bash
# make_report.sh BUILD - what `make report` runs: the whole chain
# from nothing to reports/index.md.
#
# Embedded default (a fresh clone, no datasets, no checkpoints): train the
# tiny CPU profile (schemas/train/cpu-tiny.yaml, SAM's output contract) on
# samples drawn on the fly from the transfer study's factory config
# (schemas/factory/transfer.yaml), evaluate it ("SynthFM-tiny"), the
# published cpu-small checkpoint ("SynthFM-cpu-small", reports/cpu-small/,
# not retrained) and the weight-free classical method on the synthetic
# out-of-distribution split and on ../shared/realdata's CT, MR and
# ultrasound samples when present, then `synthfm report`: tables, t-tests,
# figures, provenance, and the transfer section (ours vs classical on real
# data, galleries of the worst, median and best units).
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
#   REPORT_FACTORY      factory config of the on-the-fly training samples
#                       (schemas/factory/transfer.yaml)
#   REPORT_CORPUS_COUNT samples of the training stream kept on disk for the
#                       report's contact sheet (64)
#   REPORT_VAL_COUNT    validation corpus size (40)
#   REPORT_OOD_COUNT    synthetic OOD images (32)
#   REPORT_TRAIN_CONFIG training config (schemas/train/cpu-tiny.yaml)
#   REPORT_EPOCHS       epochs of the embedded run (24; "profile" keeps the
#                       config's own, 48 for cpu-tiny)
#   REPORT_IMAGES_PER_EPOCH  images per epoch (250)
#   REPORT_THREADS      torch threads of training and evaluation (2)
#   REPORT_SMALL        the published checkpoint folder (reports/cpu-small;
#                       "" skips it)
#   REPORT_RETRAIN=1    train again even when a finished run exists
set -euo pipefail

BUILD=${1:-build}
S=$PWD/$BUILD/bin/synthfm
OUT=${REPORT_OUT:-reports/out}
DATA_ROOT=${DATA_ROOT:-data}
MODELS_ROOT=${MODELS_ROOT:-models}
SHARED=${SF_SHARED:-../shared}
TRAIN_CONFIG=${REPORT_TRAIN_CONFIG:-schemas/train/cpu-tiny.yaml}
FACTORY=${REPORT_FACTORY:-schemas/factory/transfer.yaml}
THREADS=${REPORT_THREADS:-2}
SMALL=${REPORT_SMALL-reports/cpu-small}
GALLERY=$OUT/gallery
DB=$OUT/results.sqlite
RUN=$OUT/run-tiny
t0=$SECONDS

[ -x "$S" ] || { echo "make_report: $S not built" >&2; exit 2; }
mkdir -p "$OUT"
step() { printf '== [%4ds] %s\n' $((SECONDS - t0)) "$*"; }

# 1. Corpora. Training draws its samples on the fly ($FACTORY, master
#    seed 0 = the run seed: sample i is step i's image); $OUT/corpus holds
#    the first of them (the same config and seed) for the contact sheet.
#    Validation: held-out shape-module images at the model's 128 px
#    (seed 2), as in the transfer study.
step "corpus: $OUT/corpus (the first ${REPORT_CORPUS_COUNT:-64} training samples, $FACTORY)"
"$S" generate --config "$FACTORY" --out "$OUT/corpus" \
    --count "${REPORT_CORPUS_COUNT:-64}" --seed 0 -q
step "validation corpus: $OUT/val"
"$S" generate --out "$OUT/val" --count "${REPORT_VAL_COUNT:-40}" --seed 2 \
    --size 128 --mode shape -q

# 2. Train the tiny CPU profile (resumed if interrupted, reused if done).
if [ -n "${REPORT_RETRAIN:-}" ]; then rm -rf "$RUN"; fi
if [ -f "$RUN/DONE" ]; then
    step "training: $RUN is finished, reused (REPORT_RETRAIN=1 retrains)"
elif [ -d "$RUN" ]; then
    step "training: resuming $RUN"
    "$S" train --resume "$RUN" --threads "$THREADS" -q
else
    # The 20-minute budget of `make report` on 2 cores: the cpu-tiny
    # profile with fewer epochs and images per epoch (the run records the
    # config it used: RUN/config.yaml, in the report's provenance).
    cfg=$TRAIN_CONFIG
    if [ "${REPORT_EPOCHS:-24}" != profile ]; then
        cfg=$OUT/train-embedded.yaml
        sed -e "s/^epochs:.*/epochs: ${REPORT_EPOCHS:-24}  # make report/" \
            -e "s/^images_per_epoch:.*/images_per_epoch: ${REPORT_IMAGES_PER_EPOCH:-250}  # make report/" \
            "$TRAIN_CONFIG" >"$cfg"
    fi
    step "training: $cfg on the fly from $FACTORY -> $RUN"
    "$S" train --config "$cfg" --on-the-fly "$FACTORY" \
        --val "$OUT/val" --out "$RUN" --threads "$THREADS" -q
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
    --name SynthFM-tiny --threads "$THREADS")
small=()
if [ -n "$SMALL" ] && [ -f "$SMALL/best.pth" ]; then
    small=(--method sam --checkpoint "$SMALL/best.pth" --model-config
        "$SMALL/model.yaml" --name SynthFM-cpu-small --threads "$THREADS")
fi
ours=(tiny)
[ ${#small[@]} -gt 0 ] && ours+=(small)
rm -rf "$GALLERY"
# ev_all DATASET ROOT SPLIT: classical and each of ours (galleries of ours).
ev_all() {
    ev "$1" "$2" "$3" -- --method classical "${@:4}"
    for m in "${ours[@]}"; do
        local a=("${tiny[@]}")
        [ "$m" = small ] && a=("${small[@]}")
        ev "$1" "$2" "$3" -- "${a[@]}" --gallery 4 --gallery-dir "$GALLERY" "${@:4}"
    done
}
ev_all synthetic-ood "$OUT/ood" "" --ood-count "${REPORT_OOD_COUNT:-32}"

# 3b. The real samples in ../shared/realdata, when present.
corpora=("$OUT/corpus" "$OUT/val" "$OUT/ood")
# (Skipped for a dataset that $DATA_ROOT holds: one dataset name, one data.)
if [ -d "$SHARED/realdata/totalsegmentator" ] && [ ! -d "$DATA_ROOT/totalseg-ct" ]; then
    ts=$OUT/realdata-ts
    tsd=$(cd "$SHARED/realdata/totalsegmentator" && pwd)
    mkdir -p "$ts/example_ct_sm"
    ln -sfn "$tsd/example_ct_sm.nii.gz" "$ts/example_ct_sm/ct.nii.gz"
    ln -sfn "$tsd/example_seg_fast" "$ts/example_ct_sm/segmentations"
    ev_all totalseg-ct "$ts" schemas/splits/totalseg-ct-realdata.yaml
fi
if [ -f "$SHARED/realdata/totalsegmentator/example_mr_sm.nii.gz" ] &&
    [ ! -d "$DATA_ROOT/totalseg-mr" ]; then
    tm=$OUT/realdata-mr
    tsd=$(cd "$SHARED/realdata/totalsegmentator" && pwd)
    mkdir -p "$tm/example_mr_sm"
    ln -sfn "$tsd/example_mr_sm.nii.gz" "$tm/example_mr_sm/mri.nii.gz"
    ln -sfn "$tsd/example_seg_mr.nii.gz" "$tm/example_mr_sm/segmentations.nii.gz"
    ev_all totalseg-mr "$tm" schemas/splits/totalseg-mr-realdata.yaml
fi
if [ -d "$SHARED/realdata/hc18" ] && [ ! -d "$DATA_ROOT/hc18" ]; then
    ev_all hc18 "$SHARED/realdata/hc18" ""
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
    [ ${#small[@]} -gt 0 ] && ev "$ds" "$root" "$split" -- "${small[@]}"
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
# 5. The transfer section: ours vs classical per dataset and setting (from
#    the same database) and the galleries.
step "transfer section: reports/index.md"
bash reports/transfer/section.sh "$DB" "$GALLERY" reports/index.md "$SMALL"
step "done: reports/index.md"
