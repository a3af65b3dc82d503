#!/usr/bin/env bash
# Fault injection (issue 8, point 4): generation, merge and eval survive SIGKILL
# at random points, a full disk and a read-only output folder: each stops
# with a clear error (exit 1, the path named), and a rerun completes with
# the corpus byte for byte equal to an undisturbed run (every file, the
# manifest rows, SHA256SUMS), nothing lost, nothing duplicated, no
# temporary files left. The random kill points come from $SF_FAULT_SEED
# (default: a fresh one, printed so a failure can be replayed).
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || fail "sqlite3 CLI missing (make deps)"
SEED=${SF_FAULT_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "fault seed $SEED (SF_FAULT_SEED=$SEED replays the kill points)"
RANDOM=$SEED

N=24; SIZE=160
GEN=(--count $N --size $SIZE --seed 5 -q --threads 2)
dump() {  # manifest content, created_at left out
    sqlite3 "$1/manifest.sqlite" \
        "SELECT format_version, generator, git_commit, rng_version, config_sha256, master_seed,
                sample_count, shard_index, shard_count, first_index, end_index FROM corpus;
         SELECT * FROM samples ORDER BY sample_index;
         SELECT * FROM instances ORDER BY sample_index, label;"
}
# same_corpus REF DIR WHAT: every file of REF in DIR with the same bytes
# (manifest compared by rows), no file in DIR that REF lacks.
same_corpus() {
    local ref=$1 d=$2 what=$3 f rel
    dump "$ref" >"$T/a.rows"; dump "$d" >"$T/b.rows"
    cmp -s "$T/a.rows" "$T/b.rows" || { diff "$T/a.rows" "$T/b.rows" | head -5; fail "$what: manifest rows differ"; }
    for f in "$ref"/images/*.png "$ref"/labels/*.png "$ref"/SHA256SUMS "$ref"/samples.csv "$ref"/config.yaml; do
        rel=${f#"$ref/"}
        cmp -s "$f" "$d/$rel" || fail "$what: $rel differs from the undisturbed run"
    done
    (cd "$ref" && find . -type f ! -name 'manifest.sqlite*' | sort) >"$T/a.files"
    (cd "$d" && find . -type f ! -name 'manifest.sqlite*' | sort) >"$T/b.files"
    cmp -s "$T/a.files" "$T/b.files" || { diff "$T/a.files" "$T/b.files" | head -5; fail "$what: file lists differ (lost or extra files)"; }
}

expect_exit 0 "$SYNTHFM" generate --out "$T/ref" "${GEN[@]}"
# Time of one undisturbed run (ms), to spread the kill points over it.
t0=$(date +%s%N); "$SYNTHFM" generate --out "$T/timing" "${GEN[@]}" 2>/dev/null; t1=$(date +%s%N)
run_ms=$(( (t1 - t0) / 1000000 )); [ $run_ms -gt 50 ] || run_ms=50
rm -rf "$T/timing"

# ------------------------------------------------- 1. SIGKILL, generate
kills=0
for round in 1 2 3 4 5 6; do
    ms=$(( RANDOM % run_ms ))
    "$SYNTHFM" generate --out "$T/k" "${GEN[@]}" 2>/dev/null &
    pid=$!
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
    wait "$pid" 2>/dev/null || true
done
echo "generate: $kills of 6 kills landed mid-run"
expect_exit 0 "$SYNTHFM" generate --out "$T/k" "${GEN[@]}"
same_corpus "$T/ref" "$T/k" "generate after SIGKILL"
[ -z "$(find "$T/k" -name '*.tmp')" ] || fail "temporary files left after resume"

# A kill between opening a new manifest and its first commit (found by the
# random kills above, seed 699634560) leaves a manifest with no tables: the
# rerun starts the corpus over. A manifest that is not a database stays an
# error, its bytes untouched.
mkdir "$T/blank" && sqlite3 "$T/blank/manifest.sqlite" "PRAGMA journal_mode=WAL;" >/dev/null
expect_exit 0 "$SYNTHFM" generate --out "$T/blank" "${GEN[@]}"
same_corpus "$T/ref" "$T/blank" "generate over a blank manifest"
mkdir "$T/junk" && echo junk >"$T/junk/manifest.sqlite"
expect_exit 1 "$SYNTHFM" generate --out "$T/junk" "${GEN[@]}"
[ "$(cat "$T/junk/manifest.sqlite")" = junk ] || fail "a non-database manifest was changed"

# ---------------------------------------------------- 2. SIGKILL, merge
expect_exit 0 "$SYNTHFM" generate --out "$T/s0" "${GEN[@]}" --shard 0/2
expect_exit 0 "$SYNTHFM" generate --out "$T/s1" "${GEN[@]}" --shard 1/2
t0=$(date +%s%N); "$SYNTHFM" merge "$T/mt" "$T/s0" "$T/s1" >/dev/null 2>&1; t1=$(date +%s%N)
merge_ms=$(( (t1 - t0) / 1000000 )); [ $merge_ms -gt 20 ] || merge_ms=20
for round in 1 2 3; do
    ms=$(( RANDOM % merge_ms ))
    "$SYNTHFM" merge "$T/m" "$T/s0" "$T/s1" >/dev/null 2>&1 &
    pid=$!
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # A merge is all or nothing: OUT is complete or absent.
    if [ -e "$T/m" ]; then
        same_corpus "$T/ref" "$T/m" "merge killed at ${ms} ms (OUT present)"
        rm -rf "$T/m"
    fi
done
expect_exit 0 "$SYNTHFM" merge "$T/m" "$T/s0" "$T/s1"
same_corpus "$T/ref" "$T/m" "merge after SIGKILL"
[ ! -e "$T/m.partial" ] || fail "merge left $T/m.partial behind"

# ------------------------------------------ 3. full disk, read-only dir
# A tmpfs made by the test, half the corpus's size; without mount
# permission RLIMIT_FSIZE (ulimit -f, one file) stands in for the full disk
# and a non-root user for the read-only folder.
MNT=$T/mnt; mkdir -p "$MNT"
ref_kb=$(du -sk "$T/ref" | cut -f1)
DISK_KB=$((ref_kb / 2))  # the disk holds half the corpus
if mount -t tmpfs -o size=${DISK_KB}k tmpfs "$MNT" 2>/dev/null; then
    trap 'umount "$MNT" 2>/dev/null || true; rm -rf "$T"' EXIT
    mounted=1
else
    mounted=0
    echo "no mount permission: full disk via ulimit -f"
fi
if [ $mounted -eq 1 ]; then
    expect_exit 1 "$SYNTHFM" generate --out "$MNT/c" "${GEN[@]}"
else
    expect_exit 1 bash -c 'ulimit -f $1; shift; exec "$@"' _ $((DISK_KB / 8)) "$SYNTHFM" generate --out "$T/full/c" "${GEN[@]}"
fi
grep -Eqi "no space|full|too large|file size" "$T/err" || { cat "$T/err"; fail "full disk: no clear error"; }
grep -q "/c" "$T/err" || fail "full disk: the error does not name the output: $(cat "$T/err")"
if [ $mounted -eq 1 ]; then
    # Free space again (the mount grows), rerun: complete and equal.
    mount -o remount,size=64m "$MNT" || fail "cannot grow the tmpfs"
    expect_exit 0 "$SYNTHFM" generate --out "$MNT/c" "${GEN[@]}"
    same_corpus "$T/ref" "$MNT/c" "generate after a full disk"
    # Merge onto a full disk: refused cleanly, no OUT, then completes.
    rm -rf "$MNT/c"
    mount -o remount,size=${DISK_KB}k "$MNT" || fail "cannot shrink the tmpfs"
    expect_exit 1 "$SYNTHFM" merge "$MNT/m" "$T/s0" "$T/s1"
    grep -q "$MNT/m" "$T/err" || fail "merge on a full disk: output not named: $(cat "$T/err")"
    [ ! -e "$MNT/m" ] || fail "a failed merge left $MNT/m"
    mount -o remount,size=64m "$MNT"
    expect_exit 0 "$SYNTHFM" merge "$MNT/m" "$T/s0" "$T/s1"
    same_corpus "$T/ref" "$MNT/m" "merge after a full disk"
    rm -rf "$MNT/m"
    # Read-only folder: the same mount, remounted read-only.
    mkdir -p "$MNT/ro"
    mount -o remount,ro "$MNT" || fail "cannot remount read-only"
    expect_exit 1 "$SYNTHFM" generate --out "$MNT/ro/c" "${GEN[@]}"
    grep -q "$MNT/ro/c" "$T/err" || fail "read-only: output not named: $(cat "$T/err")"
    grep -Eqi "read-only|permission" "$T/err" || fail "read-only: no clear reason: $(cat "$T/err")"
    expect_exit 1 "$SYNTHFM" merge "$MNT/ro/m" "$T/s0" "$T/s1"
    grep -Eqi "read-only|permission" "$T/err" || fail "merge read-only: no clear reason: $(cat "$T/err")"
    mount -o remount,rw "$MNT"
    expect_exit 0 "$SYNTHFM" generate --out "$MNT/ro/c" "${GEN[@]}"
    same_corpus "$T/ref" "$MNT/ro/c" "generate after a read-only folder"
    umount "$MNT"
else
    expect_exit 0 "$SYNTHFM" generate --out "$T/full/c" "${GEN[@]}"
    same_corpus "$T/ref" "$T/full/c" "generate after a full disk"
    command -v setpriv >/dev/null || skip "no mount permission and no setpriv: read-only folder untested"
    mkdir -p "$T/ro"; chmod 755 "$T/ro"; chmod 755 "$T"
    expect_exit 1 setpriv --reuid=65534 --regid=65534 --clear-groups "$SYNTHFM" generate --out "$T/ro/c" "${GEN[@]}"
    grep -q "$T/ro/c" "$T/err" || fail "read-only: output not named: $(cat "$T/err")"
fi
# ------------------------------------------ 4. SIGKILL, eval (real data)
# Each case is one transaction: a killed eval keeps finished cases, the
# rerun scores the rest; the result rows equal an undisturbed run's, each
# once (predictions counted: nothing duplicated).
RD=$SHARED/realdata/totalsegmentator
if [ -f "$RD/example_ct_sm.nii.gz" ] && [ -f schemas/splits/totalseg-ct-realdata.yaml ]; then
    RD=$(cd "$RD" && pwd)
    mkdir -p "$T/ts/example_ct_sm"
    ln -s "$RD/example_ct_sm.nii.gz" "$T/ts/example_ct_sm/ct.nii.gz"
    ln -s "$RD/example_seg_fast" "$T/ts/example_ct_sm/segmentations"
    EV=(eval --dataset totalseg-ct --data-root "$T/ts" --method classical
        --split schemas/splits/totalseg-ct-realdata.yaml)
    rows() { sqlite3 "$1" "SELECT method, dataset, modality, case_id, slice_index, structure,
        setting, printf('%.9f', dice) FROM dice_scores ORDER BY 1, 2, 3, 4, 5, 6, 7"; }
    t0=$(date +%s%N)
    expect_exit 0 "$SYNTHFM" "${EV[@]}" --out "$T/ev_ref.sqlite"
    t1=$(date +%s%N)
    ev_ms=$(( (t1 - t0) / 1000000 ))
    for round in 1 2 3; do
        ms=$(( RANDOM % ev_ms ))
        "$SYNTHFM" "${EV[@]}" --out "$T/ev.sqlite" >/dev/null 2>&1 &
        pid=$!
        sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    expect_exit 0 "$SYNTHFM" "${EV[@]}" --out "$T/ev.sqlite"
    rows "$T/ev_ref.sqlite" >"$T/ev_ref.rows"; rows "$T/ev.sqlite" >"$T/ev.rows"
    [ -s "$T/ev_ref.rows" ] || fail "eval: the undisturbed run has no rows"
    cmp -s "$T/ev_ref.rows" "$T/ev.rows" || { diff "$T/ev_ref.rows" "$T/ev.rows" | head -5; fail "eval after SIGKILL: rows differ"; }
    [ "$(sqlite3 "$T/ev.sqlite" "SELECT count(*) FROM predictions")" = \
      "$(sqlite3 "$T/ev_ref.sqlite" "SELECT count(*) FROM predictions")" ] || fail "eval after SIGKILL: predictions duplicated or lost"
    # A read-only results folder: a clear error naming it.
    if [ "${mounted:-0}" -eq 1 ] && mount -t tmpfs -o size=4m,ro tmpfs "$MNT" 2>/dev/null; then
        expect_exit 1 "$SYNTHFM" "${EV[@]}" --out "$MNT/r.sqlite"
        grep -q "$MNT/r.sqlite" "$T/err" || fail "eval read-only: output not named: $(cat "$T/err")"
        umount "$MNT"
    fi
else
    echo "eval: $RD absent, eval fault injection not run"
fi
echo "faults: ok"
