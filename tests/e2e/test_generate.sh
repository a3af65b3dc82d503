#!/usr/bin/env bash
# synthfm generate: the CLI contract, determinism across threads and shards,
# and bad input (exit 2, nothing written).
. "$(dirname "$0")/lib.sh"

expect_exit 0 "$SYNTHFM" generate --help
grep -q -- "--shard" "$T/out" || fail "--help lacks --shard"
expect_exit 0 "$SYNTHFM" --help
grep -q generate "$T/out" || fail "top-level help lacks generate"

expect_exit 0 "$SYNTHFM" generate --out "$T/a" --count 6 --size 128 --seed 3 --threads 1 -q
expect_exit 0 "$SYNTHFM" generate --out "$T/b" --count 6 --size 128 --seed 3 --threads 2 -q
expect_exit 0 "$SYNTHFM" generate --out "$T/s1" --count 6 --size 128 --seed 3 --shard 1/2 -q
expect_exit 0 "$SYNTHFM" generate --out "$T/s0" --count 6 --size 128 --seed 3 --shard 0/2 -q
grep -q "pairs/s" "$T/err" || fail "no throughput summary line"
expect_exit 0 "$SYNTHFM" merge "$T/s" "$T/s0" "$T/s1"
for i in 000000 000001 000002 000003 000004 000005; do
    for k in images labels; do
        [ -f "$T/a/$k/$i.png" ] || fail "missing $k/$i.png"
        cmp -s "$T/a/$k/$i.png" "$T/b/$k/$i.png" || fail "$k/$i.png differs: threads 1 vs 2"
        cmp -s "$T/a/$k/$i.png" "$T/s/$k/$i.png" || fail "$k/$i.png differs: shards vs single"
    done
    [ "$(png_info "$T/a/images/$i.png")" = "128 128 8 0" ] || fail "image not 8-bit gray: $(png_info "$T/a/images/$i.png")"
    [ "$(png_info "$T/a/labels/$i.png")" = "128 128 16 0" ] || fail "labels not 16-bit gray"
done
[ "$(ls "$T/a/images" | wc -l)" -eq 6 ] || fail "extra files in images/"
for f in manifest.sqlite config.yaml SHA256SUMS README.md croissant.json preview.png samples.csv; do
    [ -s "$T/a/$f" ] || fail "corpus lacks $f"
done
cmp -s "$T/a/SHA256SUMS" "$T/s/SHA256SUMS" || fail "merged SHA256SUMS differs from a single run"
(cd "$T/a" && sha256sum --quiet -c SHA256SUMS) || fail "sha256sum -c fails"
ls "$T/a/images" "$T/a/labels" | grep -q '\.tmp$' && fail "temporary files left behind"
# a different seed gives different images
expect_exit 0 "$SYNTHFM" generate --out "$T/c" --count 1 --size 128 --seed 4 -q
cmp -s "$T/a/images/000000.png" "$T/c/images/000000.png" && fail "seed has no effect"
# modes
expect_exit 0 "$SYNTHFM" generate --out "$T/m" --count 2 --size 96 --mode boundary -q

# bad configs: exit 2, file:line:col and key in the message, nothing written
printf 'image_size: 256\nshape:\n  n_shapez: [1, 2]\n' >"$T/bad1.yaml"
expect_exit 2 "$SYNTHFM" generate --config "$T/bad1.yaml" --out "$T/x1"
grep -q "bad1.yaml:3:3" "$T/err" || fail "no position: $(cat "$T/err")"
grep -q "shape.n_shapez" "$T/err" || fail "no key in message"
[ ! -e "$T/x1" ] || fail "output written for a bad config"
printf 'blur:\n  sigma: [3, 1]\n' >"$T/bad2.yaml"
expect_exit 2 "$SYNTHFM" generate --config "$T/bad2.yaml" --out "$T/x2"
grep -q "blur.sigma" "$T/err" || fail "range error lacks key"
printf 'mode: [unclosed\n' >"$T/bad3.yaml"
expect_exit 2 "$SYNTHFM" generate --config "$T/bad3.yaml" --out "$T/x3"
grep -q "malformed YAML" "$T/err" || fail "syntax error not reported"
[ ! -e "$T/x2" ] && [ ! -e "$T/x3" ] || fail "output written for a bad config"
expect_exit 1 "$SYNTHFM" generate --config "$T/nope.yaml" --out "$T/x4"
# bad options
expect_exit 2 "$SYNTHFM" generate --out "$T/x5" --count zero
# misspelt flags and subcommands get a suggestion
expect_exit 2 "$SYNTHFM" generate --out "$T/x5" --cuont 5
grep -q "did you mean --count?" "$T/err" || fail "no suggestion for --cuont: $(cat "$T/err")"
expect_exit 2 "$SYNTHFM" generat --out "$T/x5"
grep -q "did you mean generate?" "$T/err" || fail "no suggestion for generat: $(cat "$T/err")"
expect_exit 2 "$SYNTHFM" eval --datset x
grep -q "did you mean --dataset?" "$T/err" || fail "no suggestion for --datset: $(cat "$T/err")"
expect_exit 2 "$SYNTHFM" data chek
grep -q "did you mean check?" "$T/err" || fail "no suggestion for chek: $(cat "$T/err")"
expect_exit 2 "$SYNTHFM" generate --out "$T/x5" --zzzzzz 5
grep -q "did you mean" "$T/err" && fail "a suggestion for a far word: $(cat "$T/err")"
# a big run says its expected size first (here it then stops: OUT is a file)
touch "$T/afile"
expect_exit 1 "$SYNTHFM" generate --out "$T/afile" --count 1000 --size 1024
grep -q '^synthfm generate: 1000 samples of 1024 px need about 0.5 GB (~0.45 bytes/pixel); [0-9.]* GB free there' "$T/err" ||
    fail "no disk size note: $(cat "$T/err")"
expect_exit 1 "$SYNTHFM" generate --out "$T/afile" --count 10 --size 64
grep -q 'need about' "$T/err" && fail "a disk note for a small run"
# data check points at data/README.md when datasets are missing
expect_exit 0 "$SYNTHFM" data check --data-root "$T/nodata"
grep -q "data/README.md" "$T/err" || fail "data check: no pointer to data/README.md"
expect_exit 2 "$SYNTHFM" generate --out "$T/x5" --shard 2/2
expect_exit 2 "$SYNTHFM" generate --out "$T/x5" --mode all
expect_exit 2 "$SYNTHFM" generate --count 3
expect_exit 2 "$SYNTHFM" nosuchcommand
echo ok
