#!/usr/bin/env bash
# The README's Python example (tests/python/corpus_dataset.py): a
# torch.utils.data.Dataset over a corpus, checked item by item against the
# manifest (sizes, label range, every instance's area), and the copy of it
# printed in README.md run as it is there. Runs when Debian's
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
# The README's copy of the example runs as it is printed there.
README="$(dirname "$0")/../../README.md"
awk '/^```python$/ {keep = 0; buf = ""; inblock = 1; next}
     /^```$/ && inblock {if (keep) printf "%s", buf; inblock = 0; next}
     inblock {buf = buf $0 "\n"; if ($0 ~ /class SynthfmCorpus/) keep = 1}' "$README" >"$T/readme.py"
grep -q "class SynthfmCorpus" "$T/readme.py" || fail "README has no SynthfmCorpus example"
sed -i "s|\"data/corpora/demo\"|\"$T/c\"|" "$T/readme.py"
cat >>"$T/readme.py" <<'EOF'
batch = next(iter(loader))
assert batch["image"].shape == (6, 1, 96, 96), batch["image"].shape
assert batch["labels"].shape == (6, 96, 96) and batch["labels"].dtype == torch.int64
print("README example: %d samples" % len(loader.dataset))
EOF
expect_exit 0 "$PY" "$T/readme.py"
grep -q "README example: 6 samples" "$T/out" || fail "README example: $(cat "$T/out" "$T/err")"
# A manifest that disagrees with a label map: the example's check notices.
sqlite3 "$T/c/manifest.sqlite" "UPDATE instances SET area = area + 1 WHERE label = 1 AND
    sample_index = (SELECT MIN(sample_index) FROM instances)" 2>/dev/null ||
    { echo ok; exit 0; }
expect_exit 1 "$PY" "$(dirname "$0")/../python/corpus_dataset.py" "$T/c"
echo ok
