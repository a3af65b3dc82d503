#!/usr/bin/env bash
# test_report.sh - `synthfm report` end to end on a results database built
# here (sqlite3 + schemas/results.sql): index.md, the three tables in three
# formats, t-test CSVs and valid PNG figures; a table cell checked exactly;
# exit codes (2 usage / config error, 1 unreadable database).
source "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || skip "sqlite3 command-line tool not installed"

db=$T/results.sqlite
sqlite3 "$db" <schemas/results.sql
{
    echo "BEGIN;"
    run=0
    for m in "SynthFM:native:0.8" "SAM:native:0.6" "classical:classical:0.4"; do
        IFS=: read -r name kind base <<<"$m"
        run=$((run + 1))
        echo "INSERT INTO runs (run_id, run_key, method, method_kind, dataset, modality, data_root, settings, prompt_seed, git_commit, status, started_at) VALUES ($run, 'k$run', '$name', '$kind', 'totalseg-ct', 'CT', 'data/totalseg-ct', '1,0:3,0:1,1:3,3', 0, 'c0ffee', 'done', '2026-01-01T00:00:00Z');"
    done
    sid=0
    for c in 1 2 3; do
        for z in 0 1 2; do
            sid=$((sid + 1))
            echo "INSERT INTO slices VALUES ($sid, 'totalseg-ct', 's$c', $z, 'liver', 1, 'ab', 8, 8, 10);"
            for r in 1 2 3; do
                for s in "1,0" "3,0" "1,1" "3,3"; do
                    # Dice = base + small per-slice spread (exactly known).
                    d=$(awk -v r=$r -v c=$c -v z=$z 'BEGIN { b = r == 1 ? 0.8 : r == 2 ? 0.6 : 0.4; printf "%.2f", b + 0.01 * (c + z) }')
                    echo "INSERT INTO predictions (run_id, slice_id, setting, dice, status) VALUES ($r, $sid, '$s', $d, 'ok');"
                done
            done
        done
    done
    echo "COMMIT;"
} | sqlite3 "$db"

out=$T/rep
expect_exit 0 "$SYNTHFM" report --results "$db" --out "$out" --data-root "$T/nodata"
for f in index.md runs.csv table1.md table1.csv table1.tex table1_tests.csv \
    table2.md table2.csv table2.tex table3.md table3.csv table3.tex \
    table3_tests.csv figures/box_CT_liver.png; do
    [ -s "$out/$f" ] || fail "missing $f"
done
# The PNG is a real PNG (signature, IHDR), 8-bit RGB or RGBA, sane size.
sig=$(od -An -tx1 -N8 "$out/figures/box_CT_liver.png" | tr -d ' \n')
[ "$sig" = 89504e470d0a1a0a ] || fail "box plot is not a PNG ($sig)"
read -r w h depth ctype <<<"$(png_info "$out/figures/box_CT_liver.png")"
[ "$w" -ge 400 ] && [ "$h" -ge 300 ] && [ "$depth" = 8 ] ||
    fail "box plot: ${w}x${h} depth $depth"
if command -v file >/dev/null; then
    file "$out/figures/box_CT_liver.png" | grep -q "PNG image data" || fail "file(1) does not see a PNG"
fi
# A Table 1 cell: SynthFM's mean over the 9 slices is 0.8 + 0.01 * 3 = 83.00,
# bold, paper 88.36 for (3,0); the test against SAM (best other) has a
# constant difference 0.2: zero variance, shown by status.
grep -qF '| CT | liver | 3+0 | missing | 50.80 | — | 63.00 | 78.74 | -15.74 | missing | 78.87 | — | **83.00** | 88.36 | -5.36 | 43.00 | SAM: zero_var, n=9 | classical: zero_var, n=9 |' "$out/table1.md" ||
    { grep '| CT | liver | 3+0' "$out/table1.md" >&2; fail "table1.md liver 3+0 row"; }
grep -q '^CT,liver,3+0,SynthFM,83.0000,9,88.36,-5.3600,1,ok,totalseg-ct$' "$out/table1.csv" ||
    fail "table1.csv SynthFM row"
grep -q 'missing' "$out/table3.md" || fail "table3.md: ALFI cells not marked missing"
grep -qF '[Markdown](table1.md)' "$out/index.md" || fail "index.md: no link to table1.md"
grep -qF '![box_CT_liver.png](figures/box_CT_liver.png)' "$out/index.md" || fail "index.md: no box plot"
grep -qF -- '- dataset `alfi`: not evaluated' "$out/index.md" || fail "index.md: ALFI not listed as not evaluated"

# --index elsewhere: links relative to the index's folder.
expect_exit 0 "$SYNTHFM" report --results "$db" --out "$T/a/out" --index "$T/a/index.md"
grep -qF '[Markdown](out/table1.md)' "$T/a/index.md" || fail "--index: links not relative"

# Errors.
expect_exit 2 "$SYNTHFM" report --out "$out"
expect_exit 2 "$SYNTHFM" report --results "$db"
expect_exit 2 "$SYNTHFM" report --results "$db" --out "$out" --bogus
expect_exit 1 "$SYNTHFM" report --results "$T/none.sqlite" --out "$out"
grep -q 'none.sqlite' "$T/err" || fail "missing database not named"
printf 'ours: [SynthFM]\ntabel1: {}\n' >"$T/bad.yaml"
expect_exit 2 "$SYNTHFM" report --results "$db" --out "$out" --config "$T/bad.yaml"
grep -q 'bad.yaml:2:1' "$T/err" || { cat "$T/err" >&2; fail "config error position"; }
expect_exit 0 "$SYNTHFM" report --help
"$SYNTHFM" --help | grep -q '^  report ' || fail "synthfm --help lacks report"
echo "test_report: ok"
