#!/usr/bin/env bash
# make demo: generate the embedded default corpus, verify it, and say where
# to look. Rerunning resumes or finds it complete.
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-data/corpora/demo}
SYNTHFM=$BUILD/bin/synthfm
echo "demo: generating 64 samples (1024x1024, shape + boundary modules) into $OUT"
"$SYNTHFM" generate --out "$OUT" --count 64 --seed 0
"$SYNTHFM" verify "$OUT" --regenerate 4
echo
echo "demo: corpus        $OUT  ($(ls "$OUT"/images | wc -l) images, $(ls "$OUT"/labels | wc -l) label maps)"
echo "demo: contact sheet $OUT/preview.png"
echo "demo: dataset card  $OUT/README.md"
echo "demo: manifest      $OUT/manifest.sqlite  (sqlite3 $OUT/manifest.sqlite 'SELECT * FROM samples LIMIT 3')"
