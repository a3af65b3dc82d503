#!/usr/bin/env bash
# Paths and trust (issue 8, point 5): a corpus can never make synthfm read
# or write outside the folders the user named. Manifest paths with '..',
# absolute paths, other names; symbolic links for a sample file, for
# images/ and for the manifest; all refused with the offending name in
# the error, by verify (reading) and merge (reading + writing). Shard
# directory names with URI characters ('?', '#', '%') are names, not
# SQLite URI syntax. Splits: '..' and absolute paths refused.
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || fail "sqlite3 CLI missing (make deps)"

GEN=(--count 6 --size 64 --seed 3 -q --threads 1)
expect_exit 0 "$SYNTHFM" generate --out "$T/c" "${GEN[@]}"
expect_exit 0 "$SYNTHFM" verify "$T/c"

# bad_path NAME: a copy of the corpus whose sample 2 image is NAME.
bad_path() {
    rm -rf "$T/b"; cp -a "$T/c" "$T/b"
    sqlite3 "$T/b/manifest.sqlite" "UPDATE samples SET image_path='$1' WHERE sample_index=2"
}
for p in '../c/images/000002.png' 'images/../../c/images/000002.png' \
         "$T/c/images/000002.png" '/etc/passwd' 'images/000002.png/..' 'labels/000002.png' \
         'images/x.png'; do
    bad_path "$p"
    expect_exit 1 "$SYNTHFM" verify "$T/b"
    grep -qF -- "$p" "$T/err" "$T/out" || fail "verify: path '$p' not named: $(cat "$T/err")"
    grep -q "refused" "$T/err" || fail "verify: '$p' not refused: $(cat "$T/err")"
done

# A symbolic link for a sample file, pointing outside the corpus at a
# byte-identical copy (so only the link itself is wrong).
rm -rf "$T/b"; cp -a "$T/c" "$T/b"
cp "$T/c/images/000004.png" "$T/outside.png"
ln -sf "$T/outside.png" "$T/b/images/000004.png"
expect_exit 1 "$SYNTHFM" verify "$T/b"
grep -q "images/000004.png: a symbolic link" "$T/out" "$T/err" || fail "verify: symlinked file not refused: $(cat "$T/out" "$T/err")"
# ... and merge refuses a shard holding one, writing nothing.
expect_exit 1 "$SYNTHFM" merge "$T/m" "$T/b"
grep -q "images/000004.png: a symbolic link" "$T/err" || fail "merge: symlinked file not refused: $(cat "$T/err")"
[ ! -e "$T/m" ] || fail "a refused merge left its output"
# images/ itself a link; the manifest a link.
rm -rf "$T/b"; cp -a "$T/c" "$T/b"
mv "$T/b/images" "$T/imgs"; ln -s "$T/imgs" "$T/b/images"
expect_exit 1 "$SYNTHFM" verify "$T/b"
grep -q "$T/b/images: a symbolic link" "$T/err" || fail "verify: symlinked images/ not refused: $(cat "$T/err")"
rm -rf "$T/b" "$T/imgs"; cp -a "$T/c" "$T/b"
mv "$T/b/manifest.sqlite" "$T/manifest.sqlite"; ln -s "$T/manifest.sqlite" "$T/b/manifest.sqlite"
expect_exit 1 "$SYNTHFM" verify "$T/b"
grep -q "$T/b/manifest.sqlite: a symbolic link" "$T/err" || fail "verify: symlinked manifest not refused: $(cat "$T/err")"

# A manifest claiming a huge sample range with few rows: refused as
# corrupt at once (no allocation for the claimed range).
rm -rf "$T/b"; cp -a "$T/c" "$T/b"
sqlite3 "$T/b/manifest.sqlite" "UPDATE corpus SET end_index=99999999, sample_count=99999999"
if [ -n "${SF_SANITIZED:-}" ]; then  # ASan reserves terabytes of address space
    expect_exit 1 "$SYNTHFM" verify "$T/b"
else
    expect_exit 1 bash -c 'ulimit -v 4000000; exec "$@"' _ "$SYNTHFM" verify "$T/b"
fi
grep -q "6 of 99999999\|missing\|incomplete" "$T/out" "$T/err" || fail "huge range: no clear problem: $(cat "$T/out" "$T/err")"

# Shard directories whose names hold URI syntax merge like any other.
D="$T/odd?mode=rw#x%41"
mkdir -p "$D"
expect_exit 0 "$SYNTHFM" generate --out "$D/s0" "${GEN[@]}" --shard 0/2
expect_exit 0 "$SYNTHFM" generate --out "$D/s1" "${GEN[@]}" --shard 1/2
expect_exit 0 "$SYNTHFM" merge "$T/mm" "$D/s0" "$D/s1"
cmp -s "$T/c/SHA256SUMS" "$T/mm/SHA256SUMS" || fail "merge of oddly named shards differs from a single run"
[ ! -e "$D/s0/manifest.sqlite-journal" ] && [ ! -e "$D/s0/manifest.sqlite-wal" ] || fail "merge wrote into a shard"

echo "paths: ok"
