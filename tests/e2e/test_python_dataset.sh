#!/usr/bin/env bash
# The README's Python example (tests/python/corpus_dataset.py): a
# torch.utils.data.Dataset over a corpus, checked item by item against the
# manifest (sizes, label range, every instance's area). Runs when Debian's
# python3 has torch and PIL (python3-torch, python3-pil); `make deps` does
# not install torch (it is large), so elsewhere this test skips.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || skip "no $PY"
"$PY" -c "import torch, PIL, numpy" 2>/dev/null ||
    skip "Debian python3 lacks torch or PIL (apt-get install python3-torch python3-pil)"

expect_exit 0 "$SYNTHFM" generate --out "$T/c" --count 6 --size 96 --seed 9 -q
expect_exit 0 "$PY" "$(dirname "$0")/../python/corpus_dataset.py" "$T/c"
grep -q "6 samples" "$T/out" || fail "unexpected output: $(cat "$T/out" "$T/err")"
cat "$T/out"
# A manifest that disagrees with a label map: the example's check notices.
sqlite3 "$T/c/manifest.sqlite" "UPDATE instances SET area = area + 1 WHERE label = 1 AND
    sample_index = (SELECT MIN(sample_index) FROM instances)" 2>/dev/null ||
    { echo ok; exit 0; }
expect_exit 1 "$PY" "$(dirname "$0")/../python/corpus_dataset.py" "$T/c"
echo ok
