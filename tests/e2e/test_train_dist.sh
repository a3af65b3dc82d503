#!/usr/bin/env bash
# test_train_dist.sh - data-parallel `synthfm train` on the loopback (c10d
# TCPStore + Gloo, 1 libtorch thread per rank): 2 ranks (--nproc 2) equal
# 1 rank with the same global batch (same last.pth bytes, same run.sqlite
# apart from timings; the sum of two gradients does not depend on the
# order); SIGTERM stops every rank resumably and --resume ends where an
# uninterrupted run ends; so does a resume after SIGKILL of the whole job;
# a killed rank makes the other exit non-zero within --dist-timeout; bad
# rendezvous inputs are named and leave no run directory.
# Exit 0 pass, 1 fail.
. "$(dirname "$0")/lib.sh"

"$SYNTHFM" generate --out "$T/tr" --count 8 --size 64 --seed 1 --mode shape -q
"$SYNTHFM" generate --out "$T/va" --count 3 --size 64 --seed 2 --mode shape -q
write_cfg() { # write_cfg FILE EPOCHS
    cat >"$1" <<YAML
model:
  image_size: 64
  patch_size: 16
  encoder_embed_dim: 32
  encoder_depth: 2
  encoder_num_heads: 2
  encoder_global_attn_indexes: [1]
  window_size: 0
  prompt_embed_dim: 32
epochs: $2
images_per_epoch: 16
batch_size: 2
min_area_frac: 0.01
lr: 0.001
threads: 1
val_max_images: 3
YAML
}
write_cfg "$T/cfg.yaml" 3
train() { "$SYNTHFM" train --config "$T/cfg.yaml" --corpus "$T/tr" --val "$T/va" "$@"; }
# everything of a run but its timings and world size
content() {
    sqlite3 "$1/run.sqlite" "SELECT step, epoch, loss, lr FROM steps ORDER BY step;
      SELECT epoch, step, val_dice, n_val, train_loss FROM epochs ORDER BY epoch;
      SELECT * FROM val_instances ORDER BY epoch, sample, label;
      SELECT role, identity, n_samples FROM corpora ORDER BY rowid;
      SELECT key, value FROM run WHERE key NOT IN ('started_at', 'finished_at',
        'wall_s', 'world_size', 'rendezvous') ORDER BY key"
}
port() { echo $((20000 + (RANDOM * 7 + $$) % 40000)); }

# 1 rank vs 2 ranks, same global batch (24 steps of 2 samples)
expect_exit 0 train --out "$T/r1" -q
expect_exit 0 train --out "$T/r2" -q --nproc 2 --dist-timeout 30
grep -q '"world_size": 2' "$T/out" || fail "no 2-rank summary: $(cat "$T/out")"
[ "$(wc -l <"$T/out")" = 1 ] || fail "rank 1 printed a summary too"
cmp -s "$T/r1/last.pth" "$T/r2/last.pth" || fail "2-rank weights differ from 1-rank"
cmp -s "$T/r1/best.pth" "$T/r2/best.pth" || fail "2-rank best.pth differs"
[ "$(content "$T/r1")" = "$(content "$T/r2")" ] || fail "run.sqlite differs"
[ "$(sqlite3 "$T/r2/run.sqlite" "SELECT count(*) FROM steps")" = 24 ] || fail steps
[ "$(sqlite3 "$T/r2/run.sqlite" "SELECT value FROM run WHERE key='world_size'")" = 2 ] ||
    fail "world size not recorded"

# SIGTERM (Slurm's pre-emption) to the launcher: every rank stops after the
# same step, rank 0 saves; --resume (2 ranks) ends as the uninterrupted run.
write_cfg "$T/long.yaml" 6
"$SYNTHFM" train --config "$T/long.yaml" --corpus "$T/tr" --val "$T/va" --out "$T/lu" \
    -q --nproc 2 >/dev/null 2>&1 || fail "uninterrupted long run failed"
"$SYNTHFM" train --config "$T/long.yaml" --corpus "$T/tr" --val "$T/va" --out "$T/ls" \
    -q --nproc 2 >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 100); do [ -f "$T/ls/state.pt" ] && break; sleep 0.1; done
kill -TERM "$pid"
set +e; wait "$pid"; rc=$?; set -e
[ "$rc" = 1 ] || fail "SIGTERM: exit $rc, not 1: $(cat "$T/err")"
grep -q 'interrupted, resumable' "$T/err" || fail "SIGTERM: $(cat "$T/err")"
[ ! -f "$T/ls/DONE" ] || fail "SIGTERM left DONE"
expect_exit 0 "$SYNTHFM" train --resume "$T/ls" -q --nproc 2
cmp -s "$T/lu/last.pth" "$T/ls/last.pth" || fail "resume after SIGTERM differs"

# SIGKILL of the whole job (launcher and ranks) once an epoch is saved
setsid "$SYNTHFM" train --config "$T/long.yaml" --corpus "$T/tr" --val "$T/va" \
    --out "$T/lk" -q --nproc 2 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [ -f "$T/lk/state.pt" ] && break; sleep 0.1; done
sleep 0.$((RANDOM % 9))
kill -KILL -- "-$pid"
wait "$pid" 2>/dev/null || true
[ ! -f "$T/lk/DONE" ] || fail "the killed job finished before the kill"
expect_exit 0 "$SYNTHFM" train --resume "$T/lk" -q --nproc 2
cmp -s "$T/lu/last.pth" "$T/lk/last.pth" || fail "resume after SIGKILL differs"

# a rank killed: the other exits non-zero, naming the failure, in time
p=$(port)
env RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p \
    "$SYNTHFM" train --config "$T/long.yaml" --corpus "$T/tr" --val "$T/va" \
    --out "$T/k" -q --dist-timeout 5 >/dev/null 2>"$T/err0" &
r0=$!
env RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p \
    "$SYNTHFM" train --config "$T/long.yaml" --corpus "$T/tr" --val "$T/va" \
    --out "$T/k" -q --dist-timeout 5 >/dev/null 2>&1 &
r1=$!
for _ in $(seq 100); do [ -f "$T/k/run.sqlite" ] && break; sleep 0.1; done
sleep 0.5
kill -KILL "$r1"
t0=$SECONDS
set +e; wait "$r0"; rc=$?; set -e
[ "$rc" != 0 ] || fail "rank 0 exited 0 after its peer died"
[ $((SECONDS - t0)) -le 15 ] || fail "rank 0 took $((SECONDS - t0)) s to notice"
grep -q 'rank 0 of 2' "$T/err0" || fail "no message naming the rank: $(cat "$T/err0")"

# bad rendezvous inputs: named, exit != 0, no run directory
WORLD_SIZE=2 expect_exit 2 train --out "$T/b"
grep -q 'RANK' "$T/err" || fail "WORLD_SIZE without RANK: $(cat "$T/err")"
RANK=2 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1234 expect_exit 2 train --out "$T/b"
grep -q 'RANK=2' "$T/err" || fail "rank outside the world: $(cat "$T/err")"
RANK=1 WORLD_SIZE=2 MASTER_PORT=1234 expect_exit 2 train --out "$T/b"
grep -q 'MASTER_ADDR' "$T/err" || fail "no MASTER_ADDR: $(cat "$T/err")"
p=$(port)
RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p \
    expect_exit 1 train --out "$T/b" --dist-timeout 1
grep -q "127.0.0.1:$p" "$T/err" || fail "unreachable master not named: $(cat "$T/err")"
# port in use: a waiting rank 0 holds it
RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p \
    "$SYNTHFM" train --config "$T/cfg.yaml" --corpus "$T/tr" --val "$T/va" \
    --out "$T/b0" --dist-timeout 4 >/dev/null 2>&1 &
holder=$!
sleep 1
RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p \
    expect_exit 1 train --out "$T/b" --dist-timeout 1
grep -q "in use" "$T/err" || fail "port in use not explained: $(cat "$T/err")"
wait "$holder" 2>/dev/null || true
[ ! -e "$T/b" ] && [ ! -e "$T/b0" ] || fail "a failed rendezvous left a run directory"
# batch_size below the world size
sed -i 's/^batch_size: 2/batch_size: 1/' "$T/cfg.yaml"
expect_exit 2 train --out "$T/b" --nproc 2 --dist-timeout 10
grep -q 'world size' "$T/err" || fail "batch < world: $(cat "$T/err")"
[ ! -e "$T/b" ] || fail "batch < world left a run directory"
echo "ok"
