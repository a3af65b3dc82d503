#!/usr/bin/env bash
# test_eval_shard.sh - `synthfm eval --shard I/N` + `synthfm results merge`:
# three shards of the classical method on synthetic-ood merge into a
# database equal to the single run row for row (slices, prompts,
# predictions apart from timings, failures, the run); refusals: a missing
# shard, a repeated shard, shards of another prompt seed, an existing OUT.
# Exit 0 pass, 1 fail.
. "$(dirname "$0")/lib.sh"

ev() { "$SYNTHFM" eval --dataset synthetic-ood --data-root "$T/ood" --method classical \
    --ood-count 7 --ood-size 64 --settings 1,0:3,3 "$@"; }
expect_exit 0 ev --out "$T/one.sqlite"
for i in 0 1 2; do expect_exit 0 ev --shard $i/3 --out "$T/s$i.sqlite"; done
expect_exit 0 ev --shard 1/3 --seed 5 --out "$T/seed.sqlite"
rows() {
    sqlite3 "$1" "SELECT * FROM slices ORDER BY slice_id;
      SELECT * FROM prompts ORDER BY slice_id, setting;
      SELECT run_id, slice_id, setting, dice, pred_pixels, mask_sha256, status,
        error FROM predictions ORDER BY run_id, slice_id, setting;
      SELECT * FROM failures ORDER BY rowid;
      SELECT run_id, run_key, method, dataset, settings, prompt_seed, git_commit,
        provenance_json, status FROM runs;
      SELECT * FROM dice_scores ORDER BY case_id, slice_index, structure, setting"
}
# shards in any order on the command line
expect_exit 0 "$SYNTHFM" results merge "$T/m.sqlite" "$T/s2.sqlite" "$T/s0.sqlite" "$T/s1.sqlite"
[ "$(rows "$T/one.sqlite")" = "$(rows "$T/m.sqlite")" ] || fail "merged shards differ from the single run"
[ "$(sqlite3 "$T/m.sqlite" "SELECT count(*) FROM predictions")" -gt 0 ] || fail "no predictions"
[ "$(sqlite3 "$T/s1.sqlite" "SELECT count(DISTINCT case_id) FROM slices")" -lt \
  "$(sqlite3 "$T/one.sqlite" "SELECT count(DISTINCT case_id) FROM slices")" ] || fail "a shard holds every case"
# refusals: nothing written
expect_exit 1 "$SYNTHFM" results merge "$T/x.sqlite" "$T/s0.sqlite" "$T/s2.sqlite"
grep -q 'exactly' "$T/err" || fail "gap: $(cat "$T/err")"
expect_exit 1 "$SYNTHFM" results merge "$T/x.sqlite" "$T/s0.sqlite" "$T/s1.sqlite" "$T/s1.sqlite"
grep -q 'overlap\|exactly' "$T/err" || fail "overlap: $(cat "$T/err")"
expect_exit 1 "$SYNTHFM" results merge "$T/x.sqlite" "$T/s0.sqlite" "$T/seed.sqlite" "$T/s2.sqlite"
grep -q 'different evaluations' "$T/err" || fail "other seed: $(cat "$T/err")"
expect_exit 1 "$SYNTHFM" results merge "$T/x.sqlite" "$T/one.sqlite"
grep -q 'not a shard' "$T/err" || fail "unsharded input: $(cat "$T/err")"
[ ! -e "$T/x.sqlite" ] && [ ! -e "$T/x.sqlite.tmp" ] || fail "a refused merge wrote a file"
expect_exit 1 "$SYNTHFM" results merge "$T/m.sqlite" "$T/s0.sqlite" "$T/s1.sqlite" "$T/s2.sqlite"
grep -q 'exists' "$T/err" || fail "existing OUT: $(cat "$T/err")"
expect_exit 2 "$SYNTHFM" eval --shard 3/3 --dataset synthetic-ood --data-root "$T/ood" \
    --method classical --out "$T/y.sqlite"
expect_exit 0 "$SYNTHFM" results --help
echo "ok"
