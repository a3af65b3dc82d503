#!/usr/bin/env bash
# Corpus CLI: SIGKILL at several points then resume == uninterrupted run
# (files and manifest rows); rerun of a finished corpus does nothing;
# verify names damage; a different seed into an existing corpus is refused.
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || fail "sqlite3 CLI missing (make deps)"

dump() {  # manifest rows, created_at left out
    sqlite3 "$1/manifest.sqlite" \
        "SELECT format_version, generator, git_commit, rng_version, config_sha256, master_seed,
                sample_count, shard_index, shard_count, first_index, end_index FROM corpus;
         SELECT * FROM samples ORDER BY sample_index;
         SELECT * FROM instances ORDER BY sample_index, label;"
}

N=40
expect_exit 0 "$SYNTHFM" generate --out "$T/ref" --count $N --size 192 --seed 11 -q

# Kill at several points (delays in ms), resuming in between.
for delay in 0.15 0.4 0.8 1.3; do
    "$SYNTHFM" generate --out "$T/k" --count $N --size 192 --seed 11 -q 2>/dev/null &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
expect_exit 0 "$SYNTHFM" generate --out "$T/k" --count $N --size 192 --seed 11 -q
dump "$T/ref" >"$T/ref.rows"; dump "$T/k" >"$T/k.rows"
cmp -s "$T/ref.rows" "$T/k.rows" || { diff "$T/ref.rows" "$T/k.rows" | head; fail "manifest rows differ after kill+resume"; }
cmp -s "$T/ref/SHA256SUMS" "$T/k/SHA256SUMS" || fail "SHA256SUMS differs after kill+resume"
for f in "$T"/ref/images/*.png "$T"/ref/labels/*.png; do
    rel=${f#"$T/ref/"}
    cmp -s "$f" "$T/k/$rel" || fail "$rel differs after kill+resume"
done
[ -z "$(find "$T/k" -name '*.tmp')" ] || fail "temporary files left after resume"

# Rerun of a finished corpus: nothing to do, says so.
expect_exit 0 "$SYNTHFM" generate --out "$T/k" --count $N --size 192 --seed 11
grep -q "nothing to do" "$T/err" || fail "rerun did not say nothing to do: $(cat "$T/err")"
# Another seed or config into it: refused, nothing changed.
expect_exit 2 "$SYNTHFM" generate --out "$T/k" --count $N --size 192 --seed 12 -q
grep -q "seed" "$T/err" || fail "seed mismatch not explained"
expect_exit 2 "$SYNTHFM" generate --out "$T/k" --count $N --size 128 --seed 11 -q
grep -q "different config" "$T/err" || fail "config mismatch not explained"
dump "$T/k" >"$T/k2.rows"
cmp -s "$T/ref.rows" "$T/k2.rows" || fail "a refused run changed the manifest"

# verify: clean, then each kind of damage is named.
expect_exit 0 "$SYNTHFM" verify "$T/k" --regenerate 4
cp "$T/k/images/000007.png" "$T/saved.png"
printf '\x00' | dd of="$T/k/images/000007.png" bs=1 seek=60 conv=notrunc status=none
expect_exit 1 "$SYNTHFM" verify "$T/k"
grep -q "images/000007.png" "$T/out" || fail "flipped byte not named"
cp "$T/saved.png" "$T/k/images/000007.png"
rm "$T/k/labels/000003.png"
expect_exit 1 "$SYNTHFM" verify "$T/k"
grep -q "labels/000003.png: missing" "$T/out" || fail "missing file not named"
cp "$T/ref/labels/000003.png" "$T/k/labels/000003.png"
touch "$T/k/images/stray.png"
expect_exit 1 "$SYNTHFM" verify "$T/k"
grep -q "images/stray.png: extra file" "$T/out" || fail "extra file not named"
rm "$T/k/images/stray.png"
sqlite3 "$T/k/manifest.sqlite" "DELETE FROM instances WHERE sample_index=5; DELETE FROM samples WHERE sample_index=5;"
expect_exit 1 "$SYNTHFM" verify "$T/k"
grep -q "no row for sample 5" "$T/out" || fail "deleted row not named"
expect_exit 1 "$SYNTHFM" verify "$T/nowhere"
expect_exit 2 "$SYNTHFM" verify
expect_exit 0 "$SYNTHFM" verify --help
expect_exit 0 "$SYNTHFM" merge --help
# merge refuses an incomplete set of shards
expect_exit 0 "$SYNTHFM" generate --out "$T/p0" --count 6 --size 96 --seed 1 --shard 0/3 -q
expect_exit 1 "$SYNTHFM" merge "$T/m" "$T/p0"
grep -q "gap" "$T/err" || fail "gap not reported"
[ ! -e "$T/m" ] || fail "refused merge left output"
echo ok
