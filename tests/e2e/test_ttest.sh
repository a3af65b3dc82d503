#!/usr/bin/env bash
# test_ttest.sh - `synthfm ttest FILE.csv` end to end: printed t/df/p against
# known values (hand-computed and SciPy's ttest_rel, golden case 5), header
# and comment handling, stdin, degenerate cases, and the exit codes
# (0 ok, 1 unreadable file, 2 usage error or malformed line).
# $SYNTHFM is the binary under test (set by tests/run.sh).
# Exit 0 pass, 1 fail, 77 skip (binary absent).
set -uo pipefail

SYNTHFM=${SYNTHFM:-build/bin/synthfm}
if [ ! -x "$SYNTHFM" ]; then
    echo "skip: synthfm binary not found at $SYNTHFM (build it first)"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# The value of KEY=... in a "t=.. df=.. p=.. n=.." line.
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# |got - want| <= tol * |want| (tol relative; want 0 means absolute).
close_to() {
    awk -v g="$1" -v w="$2" -v tol="$3" 'BEGIN {
        d = g - w; if (d < 0) d = -d; s = w < 0 ? -w : w;
        exit !(s == 0 ? d <= tol : d <= tol * s) }'
}

# Runs `synthfm ttest ARGS`, keeping stdout, stderr and the exit code.
run() {
    "$SYNTHFM" ttest "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}

check_line() { # name want_t want_df want_p want_n
    local t df p n
    t=$(field "$out" t); df=$(field "$out" df); p=$(field "$out" p)
    n=$(field "$out" n)
    [ "$rc" -eq 0 ] || fail "$1: exit $rc ($err)"
    close_to "$t" "$2" 1e-12 || fail "$1: t=$t, want $2"
    [ "$df" = "$3" ] || fail "$1: df=$df, want $3"
    close_to "$p" "$4" 1e-10 || fail "$1: p=$p, want $4"
    [ "$n" = "$5" ] || fail "$1: n=$n, want $5"
}

# 1. By hand: d = -0.5, 0.5, -0.5, 1; mean 1/8, sd 3/4, t = 1/3, df = 3;
#    p = I_(27/28)(3/2, 1/2) = 0.760820375514510689 (mpmath).
cat >"$tmp/hand.csv" <<'EOF'
synthfm,sam
1,1.5
2,1.5
3,3.5
4,3
EOF
run "$tmp/hand.csv"
check_line "header + hand values" 0.33333333333333331 3 0.76082037551451069 4
[[ "$out" != *status=* ]] || fail "ordinary result has a status word: $out"

# 2. SciPy golden case 5 (n = 4), with comments, blank lines, whitespace
#    and CRLF line ends; read from stdin.
printf '# golden case 5\r\n\r\n a , b \r\n%s\r\n%s\r\n\r\n%s\r\n%s\r\n' \
    '0.77556100072555345, 0.64790620417318667' \
    '1.2710499924769372 ,0.46932079438029012' \
    '0.22377129571077509,-0.64302061074084294' \
    '  -0.52410794686117645,-1.1782586485051316  ' >"$tmp/g5.csv"
"$SYNTHFM" ttest - <"$tmp/g5.csv" >"$tmp/out" 2>"$tmp/err"
rc=$?; out=$(cat "$tmp/out"); err=$(cat "$tmp/err")
check_line "golden case 5 via stdin" 3.6539131888823855 3 \
    0.035395317198009882 4

# 3. Degenerate: constant difference, all ties, too few pairs.
printf '2,1\n3,2\n71,70\n' >"$tmp/const.csv"
run "$tmp/const.csv"
[ "$rc" -eq 0 ] && [ "$out" = "t=inf df=2 p=0 n=3 status=zero_var" ] ||
    fail "constant difference: exit $rc, '$out'"
printf '0.5,0.5\n0.25,0.25\n' >"$tmp/ties.csv"
run "$tmp/ties.csv"
[ "$rc" -eq 0 ] && [ "$out" = "t=0 df=1 p=1 n=2 status=zero_var_zero_mean" ] ||
    fail "all ties: exit $rc, '$out'"
printf 'a,b\n0.5,0.25\n' >"$tmp/one.csv"
run "$tmp/one.csv"
[ "$rc" -eq 0 ] && [ "$out" = "n=1 status=too_few" ] ||
    fail "one pair: exit $rc, '$out'"
[[ "$out" != *nan* ]] || fail "NaN printed: $out"

# 4. A malformed line: exit 2, FILE:LINE and the line in the message.
printf 'a,b\n0.5,0.25\n0.7,0.6x\n' >"$tmp/bad.csv"
run "$tmp/bad.csv"
[ "$rc" -eq 2 ] || fail "bad line: exit $rc, want 2"
[[ "$err" == "$tmp/bad.csv:3: expected two numbers \"a,b\", got \"0.7,0.6x\""* ]] ||
    fail "bad line: message '$err'"
[ -z "$out" ] || fail "bad line: stdout not empty: '$out'"
printf '1,2\n3;4\n' >"$tmp/bad2.csv"
run "$tmp/bad2.csv"
[ "$rc" -eq 2 ] && [[ "$err" == *"bad2.csv:2:"* ]] ||
    fail "semicolon line: exit $rc, '$err'"
printf '1,2\nnan,4\n' >"$tmp/nan.csv"
run "$tmp/nan.csv"
[ "$rc" -eq 2 ] && [[ "$err" == *"nan.csv:2:"* ]] ||
    fail "nan value: exit $rc, '$err'"

# 5. A missing file: exit 1, named in the message.
run "$tmp/does-not-exist.csv"
[ "$rc" -eq 1 ] && [[ "$err" == *does-not-exist.csv* ]] ||
    fail "missing file: exit $rc, '$err'"

# 6. --help and usage errors.
run --help
[ "$rc" -eq 0 ] && [[ "$out" == usage:* ]] || fail "--help: exit $rc"
run
[ "$rc" -eq 2 ] || fail "no FILE: exit $rc, want 2"
run --bogus "$tmp/hand.csv"
[ "$rc" -eq 2 ] || fail "unknown option: exit $rc, want 2"
run "$tmp/hand.csv" "$tmp/hand.csv"
[ "$rc" -eq 2 ] || fail "two FILEs: exit $rc, want 2"

# 7. The dispatcher lists the command.
"$SYNTHFM" --help | grep -q '^  ttest ' || fail "synthfm --help lacks ttest"

if [ "$fails" -ne 0 ]; then
    echo "test_ttest: $fails failure(s)"
    exit 1
fi
echo "test_ttest: ok"
