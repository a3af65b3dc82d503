# Shared helpers for the end-to-end tests (sourced).
set -euo pipefail
: "${SYNTHFM:?run through tests/run.sh (SYNTHFM unset)}"
SHARED=${SF_SHARED:-../shared}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "skipped: $*"; exit 77; }
# fixture REL: where a test file is (tests/fixtures.h): tests/fixtures/REL
# when the repository has it, else $SHARED/REL
fixture() { if [ -e "tests/fixtures/$1" ]; then echo "$PWD/tests/fixtures/$1"; else echo "$SHARED/$1"; fi; }
# skip_large REL WHAT: skip, naming the shared folder's set the test needs
skip_large() { skip "$2 ($1) is not in the repository (too large): set SF_SHARED to the project's shared/ folder"; }
# expect_exit CODE CMD...: run CMD, check its exit code, keep its stderr in $T/err
expect_exit() {
    local want=$1; shift
    set +e; "$@" >"$T/out" 2>"$T/err"; local got=$?; set -e
    [ "$got" -eq "$want" ] || { cat "$T/err" >&2; fail "expected exit $want, got $got: $*"; }
}
# png_info FILE -> "WIDTH HEIGHT DEPTH COLORTYPE" from the IHDR chunk
png_info() {
    local w h
    w=$(od -An -tu1 -j16 -N4 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
    h=$(od -An -tu1 -j20 -N4 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
    echo "$w $h $(od -An -tu1 -j24 -N2 "$1" | awk '{print $1, $2}')"
}
