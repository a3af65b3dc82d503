#!/usr/bin/env bash
# Fuzz smoke (CI) and long runs: replay every regression input, then run
# each libFuzzer target for SECONDS from fresh seeds. One line per target:
#   fuzz_<t>: <execs> execs, cov <c>, ft <f>, corpus <n>  (ok|FAILED)
#
#   tests/fuzz/smoke.sh BUILD_DIR SECONDS [TARGET...]
#
# Seeds are assembled at run time into BUILD_DIR/fuzz/seeds (seedgen, the
# repo's configs, tests/fixtures/realdata, the DICOM series of
# ../shared/realdata when present: nothing is copied into the repository); new inputs found accumulate in BUILD_DIR/fuzz/work/,
# crashes go to BUILD_DIR/fuzz/artifacts/<t>/ (move a fixed one to
# tests/fuzz/regress/<t>/ with a name saying what it was).
# FUZZ_NICE=N runs the targets under nice -n N. Limits: -rss_limit_mb=2048
# -timeout=10 (the issue's out-of-memory and hang thresholds), and
# -malloc_limit_mb=512: no input (<= 256 KiB) may justify one allocation
# that large, so a reader that trusts a size field before checking it
# against the file fails here.
set -uo pipefail
B=${1:?usage: smoke.sh BUILD_DIR SECONDS [TARGET...]}
SECS=${2:-20}
shift 2 || true
cd "$(dirname "$0")/../.."
F=$B/fuzz
SHARED=${SF_SHARED:-../shared}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for x in "$F"/fuzz_*; do [ -x "$x" ] && targets+=("$(basename "$x" | sed 's/^fuzz_//')"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "smoke: no fuzz targets in $F (make fuzz)" >&2; exit 1; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TMPDIR=${FUZZ_TMPDIR:-$(mktemp -d)}
trap 'rm -rf "$TMPDIR"' EXIT
nice_cmd=()
[ -n "${FUZZ_NICE:-}" ] && nice_cmd=(nice -n "$FUZZ_NICE")

# ------------------------------------------------------------ seeds
S=$F/seeds
rm -rf "$S"
ASAN_OPTIONS=detect_leaks=0 "$F/seedgen" "$S" >/dev/null || { echo "smoke: seedgen failed" >&2; exit 1; }
rm -rf "$S/corpus-src"
mkdir -p "$S"/{config,png,nifti,dicom,mha,tiff,ckpt,pickle,corpus,split,import,sam2_config}
cp schemas/factory/*.yaml "$S/config/"
cp schemas/model/sam2*.yaml tests/model/sam2_tiny.yaml "$S/sam2_config/"
for y in schemas/splits/*.yaml; do [ -f "$y" ] && [ "$(stat -c %s "$y")" -le 65536 ] && cp "$y" "$S/split/"; done
# import: flag byte (bit 0: a symbolic link), width - 1, height - 1, PNG
for f in "$S"/png/*.png; do
    { printf '\000\377\377'; cat "$f"; } >"$S/import/$(basename "$f")"
done
{ printf '\000\013\011'; cat "$S/png/gray8.png"; } >"$S/import/gray8-12x10.png"
{ printf '\001\013\011'; cat "$S/png/gray8.png"; } >"$S/import/gray8-link.png"
[ -n "$(ls -A "$S/split")" ] || printf 'name: x\ndataset: hc18\ncases: []\n' >"$S/split/min.yaml"
[ -d tests/fuzz/seeds ] && for d in tests/fuzz/seeds/*/; do cp "$d"* "$S/$(basename "$d")/" 2>/dev/null; done
# real seeds: tests/fixtures/realdata (in the repository), and the DICOM
# series from $SHARED/realdata when present (too large for the repository)
R=tests/fixtures/realdata
find "$R/hc18/annotations" -name '*.png' -size -8k | head -4 | xargs -r cp -t "$S/png/"
find "$R/totalsegmentator" -name '*.nii.gz' -size -8k | head -4 | xargs -r cp -t "$S/nifti/"
if [ -d "$SHARED/realdata/totalsegmentator/example_ct_dicom" ]; then
    find "$SHARED/realdata/totalsegmentator/example_ct_dicom" -type f | sort | head -2 |
        xargs -r cp -t "$S/dicom/"
else
    echo "smoke: $SHARED/realdata absent: no real DICOM seeds (set SF_SHARED to the project's shared/ folder)"
fi

fail=0
for t in "${targets[@]}"; do
    bin=$F/fuzz_$t
    [ -x "$bin" ] || { echo "fuzz_$t: not built"; fail=1; continue; }
    mkdir -p "$F/work/$t" "$F/artifacts/$t" "$F/logs"
    log=$F/logs/$t.log
    leak=(); leak_env=()
    if grep -q "^$t:" tests/fuzz/known_leaks 2>/dev/null; then
        leak=(-detect_leaks=0)
        leak_env=(env "ASAN_OPTIONS=${ASAN_OPTIONS/detect_leaks=1/detect_leaks=0}")
        echo "fuzz_$t: leak detection off (tests/fuzz/known_leaks: $(grep "^$t:" tests/fuzz/known_leaks | cut -d: -f2 | tr -d ' '))"
    fi
    # 1. regression inputs: each must run clean.
    if [ -d "tests/fuzz/regress/$t" ] && [ -n "$(ls -A "tests/fuzz/regress/$t")" ]; then
        if ! "${leak_env[@]}" "$bin" "${leak[@]}" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 tests/fuzz/regress/"$t"/* >"$log.regress" 2>&1; then
            echo "fuzz_$t: a regression input fails again:"; tail -30 "$log.regress" | sed 's/^/    /'
            fail=1; continue
        fi
    fi
    # 2. fuzz for SECS.
    dict=()
    [ -f "tests/fuzz/dict/$t.dict" ] && dict=(-dict="tests/fuzz/dict/$t.dict")
    "${leak_env[@]}" "${nice_cmd[@]}" "$bin" "${leak[@]}" -max_total_time="$SECS" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
        -max_len=262144 -print_final_stats=1 -artifact_prefix="$F/artifacts/$t/" \
        "${dict[@]}" "$F/work/$t" "$S/$t" >"$log" 2>&1
    rc=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
    [ -n "$done_line" ] || done_line=$(grep -E '^#[0-9]+' "$log" | tail -1)
    execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")
    units=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[kKmMb]*).*/\1/p' <<<"$done_line")
    if [ $rc -eq 0 ]; then
        echo "fuzz_$t: ${execs:-?} execs in ${SECS}s, cov ${cov:-?}, ft ${ft:-?}, corpus ${units:-?}  ok"
    else
        echo "fuzz_$t: FAILED (exit $rc) after ${execs:-?} execs; artifacts in $F/artifacts/$t/"
        grep -E 'ERROR|SUMMARY|contract|Test unit written' "$log" | head -8 | sed 's/^/    /'
        fail=1
    fi
done
exit $fail
