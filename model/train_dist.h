// train_dist.h - the trainer's data-parallel part (model/train_dist.cpp):
// rendezvous from the environment (torchrun's variables, else Slurm's),
// a libtorch c10d process group (TCPStore + ProcessGroupGloo; NCCL when
// built with SF_NCCL against a CUDA libtorch), and the few collectives the
// loop needs. Internal to the trainer: only train.cpp and train_dist.cpp
// include it, and only train_dist.cpp includes the c10d headers.
//
// Every collective takes the group's timeout (a rank that died shows as a
// closed connection at once; one that hangs, after the timeout) and turns
// a c10d exception into SF_EIO with a message naming the collective and
// this rank. A world of one has no group: every call is a no-op.
#ifndef SAM_TRAIN_DIST_H
#define SAM_TRAIN_DIST_H

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sf.h"

namespace sam_train {

struct DistEnv {
  int rank = 0, world = 1, local_rank = 0;
  std::string addr; // MASTER_ADDR (or the first Slurm host)
  int port = 0; // MASTER_PORT (or 20000 + SLURM_JOB_ID % 20000)
  std::string source = "single"; // "torchrun", "slurm" or "single"
};

// The rendezvous from the environment, in this order: RANK + WORLD_SIZE
// (+ LOCAL_RANK, MASTER_ADDR, MASTER_PORT), else SLURM_PROCID +
// SLURM_NTASKS (+ SLURM_LOCALID, the first host of SLURM_JOB_NODELIST,
// a port from SLURM_JOB_ID; MASTER_ADDR / MASTER_PORT override them),
// else one process. SF_EINVAL naming the variable on bad input (WORLD_SIZE
// without RANK, a rank outside the world, a missing MASTER_ADDR, ...).
int dist_env(DistEnv* env, sf_err* err);

// The first host name of a Slurm node list ("gpu[07-09,12],cpu1" ->
// "gpu07"). SF_EINVAL on a malformed list.
int slurm_first_host(const char* nodelist, std::string* host, sf_err* err);

struct Dist; // the process group, or nullptr for one process

// Join the group described by env (world > 1): rank 0 listens on the
// port (TCPStore server), the others connect, each within timeout_s.
// cuda: NCCL when built with it, else Gloo (which also reduces CUDA
// tensors). SF_EIO naming MASTER_ADDR:MASTER_PORT when the port is in use
// or the master cannot be reached.
int dist_open(
    const DistEnv& env,
    bool cuda,
    double timeout_s,
    Dist** out,
    sf_err* err);
void dist_close(Dist* d);

// Sum tensors over all ranks, in place, in buckets of at most
// bucket_bytes (flattened per bucket, the buckets reduced concurrently).
// All tensors must have the same dtype and device.
int dist_allreduce(
    Dist* d,
    std::vector<at::Tensor>& ts,
    const char* what,
    sf_err* err);
// Sum of a few doubles over all ranks, in place.
int dist_sum(Dist* d, double* v, size_t n, const char* what, sf_err* err);
// Rank 0's tensors to every rank, in place.
int dist_broadcast(
    Dist* d,
    std::vector<at::Tensor>& ts,
    const char* what,
    sf_err* err);
// Every rank brings (failed, a SHA-256 as 64 hex digits): SF_OK when no
// rank failed and every digest equals rank 0's; else an error naming the first
// rank that failed (the rank reports its own error itself) or differs
// ("<what> differs between rank 0 and rank k").
int dist_agree(
    Dist* d,
    bool failed,
    const std::string& sha256_hex,
    const char* what,
    sf_err* err);
// Seconds spent in collectives so far (for the benchmark).
double dist_comm_s(const Dist* d);

} // namespace sam_train

#endif // SAM_TRAIN_DIST_H
