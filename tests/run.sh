#!/usr/bin/env bash
# Run every test binary (Criterion) and every end-to-end shell test, then
# print one overall summary line: "N passed, N failed, N skipped".
set -uo pipefail
BUILD=${1:-build}
export SF_BUILD=$BUILD
export SYNTHFM=$PWD/$BUILD/bin/synthfm
passed=0; failed=0; skipped=0
log=$(mktemp -d)
# The suite's temporary files go to a private TMPDIR removed at the end:
# nothing is left behind, even by a test killed on a timeout.
run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/sf_run_XXXXXX")
trap 'rm -rf "$log" "$run_tmp"' EXIT
export TMPDIR=$run_tmp
jobs_flag=()
if [ -n "${SF_SANITIZED:-}" ]; then
    # libtorch's static state is not freed at exit; LSan would report it.
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    jobs_flag=(-j"$(nproc)")
fi
# SF_PROGRESS_S: seconds between the "... N/M tests finished" lines while
# a test binary runs (default 30), so a long binary is never silent.
heartbeat=${SF_PROGRESS_S:-30}
# filter NAME: Criterion's verbose output on stdin -> the lines worth
# showing (failures, skips, messages, the summary) and, every $heartbeat
# seconds, how many of the binary's tests have finished.
filter() {
    local name=$1 line n=0 total=0 t0=$SECONDS last=$SECONDS rc
    while :; do
        if IFS= read -r -t 5 line; then
            case $line in
            "[====] Running "*) set -- $line; total=$((total + $3)) ;;
            "[PASS]"* | "[FAIL]"* | "[SKIP]"*) n=$((n + 1)) ;;
            esac
            if [[ $line =~ ^\[(FAIL|----|SKIP)|Synthesis|Assertion|^\[.*(FAIL|CRASH) ]]; then
                echo "$line"
            fi
        else
            rc=$?
            [ $rc -gt 128 ] || break # end of input (a timeout is > 128)
        fi
        if [ $((SECONDS - last)) -ge "$heartbeat" ]; then
            echo "   ... $name: $n/$total tests finished, $((SECONDS - t0)) s"
            last=$SECONDS
        fi
    done
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    echo "== $name"
    "$t" --verbose "${jobs_flag[@]}" 2>&1 | tee "$log/$name.out" | filter "$name"
    syn=$(grep -E 'Synthesis: Tested' "$log/$name.out" | tail -1)
    if [ -z "$syn" ]; then
        echo "$name: no summary (crashed?)"; failed=$((failed + 1)); continue
    fi
    p=$(sed -E 's/.*Passing: ([0-9]+).*/\1/' <<<"$syn")
    f=$(sed -E 's/.*Failing: ([0-9]+).*/\1/' <<<"$syn")
    c=$(sed -E 's/.*Crashing: ([0-9]+).*/\1/' <<<"$syn")
    t_all=$(sed -E 's/.*Tested: ([0-9]+).*/\1/' <<<"$syn")
    s=$(grep -c '^\[SKIP\]' "$log/$name.out" || true)
    passed=$((passed + p - s)); failed=$((failed + f + c)); skipped=$((skipped + s))
    [ "$t_all" -ge 0 ] || true
done
if [ -n "${SF_SANITIZED:-}" ] && [ -z "${SF_NO_LSAN:-}" ]; then
    # The CLI end-to-end tests run with LeakSanitizer on: zero leaks of
    # ours; third-party ones are listed with reasons in tests/fuzz/lsan.supp.
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0
fi
# SF_SKIP_E2E=1: unit tests only (`make test` runs the end-to-end tests
# once, under the sanitizers). The end-to-end tests run SF_E2E_JOBS at a
# time (default: the core count; each works in its own mktemp folder),
# reported in name order.
e2e=()
[ -z "${SF_SKIP_E2E:-}" ] && for e in tests/e2e/test_*.sh; do [ -f "$e" ] && e2e+=("$e"); done
par=${SF_E2E_JOBS:-$(nproc)}
t0=$SECONDS last=$SECONDS
# every $heartbeat seconds: how many end-to-end scripts have finished
e2e_beat() {
    if [ $((SECONDS - last)) -ge "$heartbeat" ]; then
        echo "   ... e2e: $(find "$log" -name 'test_*.rc' | wc -l)/${#e2e[@]} scripts finished, $((SECONDS - t0)) s"
        last=$SECONDS
    fi
}
[ ${#e2e[@]} -gt 0 ] && echo "== e2e (${#e2e[@]} scripts, $par at a time)"
for e in "${e2e[@]}"; do
    name=$(basename "$e" .sh)
    ( bash "$e" >"$log/$name.out" 2>&1; echo $? >"$log/$name.rc" ) &
    while [ "$(jobs -rp | wc -l)" -ge "$par" ]; do sleep 1; e2e_beat; done
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do sleep 1; e2e_beat; done
wait
for e in "${e2e[@]}"; do
    name=$(basename "$e" .sh)
    out="$log/$name.out"
    rc=$(cat "$log/$name.rc" 2>/dev/null || echo 1)
    if [ "$rc" -eq 0 ]; then
        echo "[PASS] e2e/$name"; passed=$((passed + 1))
    elif [ "$rc" -eq 77 ]; then
        echo "[SKIP] e2e/$name: $(tail -1 "$out")"; skipped=$((skipped + 1))
    else
        echo "[FAIL] e2e/$name (exit $rc)"; tail -20 "$out" | sed 's/^/    /'; failed=$((failed + 1))
    fi
done
echo
echo "synthfm tests${SF_SUITE:+ ($SF_SUITE)}: $passed passed, $failed failed, $skipped skipped"
echo "$passed $failed $skipped" >"$BUILD/test_counts"
[ $failed -eq 0 ]
