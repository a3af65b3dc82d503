#!/usr/bin/env bash
# test_install.sh - `make install PREFIX=...` puts synthfm, the schemas and
# the documents under PREFIX; the dataset card's regeneration commands,
# run as written with the installed synthfm on the PATH, give the same
# files; `make uninstall` removes what was installed.
# Exit 0 pass, 1 fail, 77 skip (make absent, or the build not up to date:
# installing must not rebuild a sanitizer build with other flags).
. "$(dirname "$0")/lib.sh"

command -v make >/dev/null || skip "make absent"
B=${SF_BUILD:-build}
M=(env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory BUILD="$B")
"${M[@]}" -q "$B/bin/synthfm" 2>/dev/null || skip "$B/bin/synthfm is not up to date (make it first)"
P=$T/prefix
"${M[@]}" install PREFIX="$P" >"$T/install.log" 2>&1 || { cat "$T/install.log" >&2; fail "make install"; }
[ -x "$P/bin/synthfm" ] || fail "no PREFIX/bin/synthfm"
[ -f "$P/share/synthfm/schemas/factory/default.yaml" ] || fail "schemas not installed"
[ -f "$P/share/synthfm/schemas/train/cpu-tiny.yaml" ] || fail "training profiles not installed"
[ -f "$P/share/doc/synthfm/README.md" ] || fail "README not installed"

# the card's commands, as written, from the corpus directory
export PATH=$P/bin:$PATH
[ "$(command -v synthfm)" = "$P/bin/synthfm" ] || fail "synthfm on PATH is not the installed one"
(cd "$T" && synthfm generate --out c --count 4 --size 64 --seed 3 -q) 2>"$T/gen.err" ||
    { cat "$T/gen.err" >&2; fail "installed synthfm generate"; }
sed -n '/^## How to regenerate/,/^```$/p' "$T/c/README.md" | sed -n '/^```sh$/,/^```$/p' |
    grep -v '^```' | sed "s|DIR|$T/regen|g" >"$T/regen.sh"
[ "$(wc -l <"$T/regen.sh")" -ge 3 ] || fail "no regeneration commands in the card: $(cat "$T/regen.sh")"
(cd "$T/c" && bash -e "$T/regen.sh") >"$T/regen.log" 2>&1 ||
    { cat "$T/regen.log" >&2; fail "the card's regeneration commands"; }

"${M[@]}" uninstall PREFIX="$P" >/dev/null 2>&1 || fail "make uninstall"
[ ! -e "$P/bin/synthfm" ] && [ ! -e "$P/share/synthfm" ] && [ ! -e "$P/share/doc/synthfm" ] ||
    fail "uninstall left files: $(find "$P" -type f | head -3)"
echo ok
