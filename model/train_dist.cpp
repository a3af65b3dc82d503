// train_dist.cpp - data-parallel training's plumbing (train_dist.h):
// the rendezvous from torchrun's or Slurm's variables, libtorch's c10d
// TCPStore + ProcessGroupGloo (ProcessGroupNCCL with SF_NCCL), and the
// collectives of the loop: bucketed gradient all-reduce, small sums, the
// start-up broadcast and the digest agreement. The only file of the
// project with c10d headers.
#include "train_dist.h"

#include <torch/torch.h>

// Gloo is part of every libtorch build we target (Debian's, pip's); the
// header hides it behind torch's own build flag (Debian: libgloo-dev).
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef SF_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "sf_util.h"

namespace sam_train {

namespace {

// DDP's default bucket: big enough to amortise a collective's latency,
// small enough that the flattening copies stay cheap.
constexpr size_t kBucketBytes = 25u << 20;

// A decimal integer from environment variable `name`: 1 and *v when it
// is set, 0 when unset, SF_EINVAL (negative) when set but not an integer.
int env_int(const char* name, long* v, sf_err* err) {
  const char* s = getenv(name);
  if (!s)
    return 0;
  char* end = nullptr;
  errno = 0;
  long x = strtol(s, &end, 10);
  if (!*s || *end || errno || x < 0 || x > 1000000)
    return sf_err_set(
        err, SF_EINVAL, "%s=%s: expected a non-negative integer", name, s);
  *v = x;
  return 1;
}

} // namespace

int slurm_first_host(const char* list, std::string* host, sf_err* err) {
  // The first element ends at the first comma outside brackets; each
  // bracket group "[a-b,c]" contributes its first number, zero padding
  // kept ("nid[0007-0009]" -> "nid0007").
  host->clear();
  const char* p = list;
  while (*p && *p != ',') {
    if (*p == '[') {
      const char* q = ++p;
      while (isdigit((unsigned char)*q))
        q++;
      if (q == p)
        return sf_err_set(
            err,
            SF_EINVAL,
            "SLURM_JOB_NODELIST=%s: expected a number after '['",
            list);
      host->append(p, size_t(q - p));
      p = strchr(q, ']');
      if (!p)
        return sf_err_set(
            err, SF_EINVAL, "SLURM_JOB_NODELIST=%s: unclosed '['", list);
      p++;
    } else {
      host->push_back(*p++);
    }
  }
  if (host->empty())
    return sf_err_set(
        err, SF_EINVAL, "SLURM_JOB_NODELIST=\"%s\": no host name", list);
  return SF_OK;
}

int dist_env(DistEnv* e, sf_err* err) {
  *e = DistEnv();
  long rank = -1, world = -1, local = -1, port = -1, job = -1;
  int r, w, rc;
  if ((r = env_int("RANK", &rank, err)) < 0 ||
      (w = env_int("WORLD_SIZE", &world, err)) < 0)
    return r < 0 ? r : w;
  if (r || w) {
    if (!w)
      return sf_err_set(
          err,
          SF_EINVAL,
          "RANK=%ld is set but WORLD_SIZE is not (torchrun sets both)",
          rank);
    if (!r)
      return sf_err_set(
          err,
          SF_EINVAL,
          "WORLD_SIZE=%ld is set but RANK is not (torchrun sets both)",
          world);
    e->source = "torchrun";
    if ((rc = env_int("LOCAL_RANK", &local, err)) < 0)
      return rc;
  } else {
    if ((r = env_int("SLURM_PROCID", &rank, err)) < 0 ||
        (w = env_int("SLURM_NTASKS", &world, err)) < 0)
      return r < 0 ? r : w;
    if (!r || !w || world <= 1) // not under srun, or one task
      return SF_OK;
    e->source = "slurm";
    if ((rc = env_int("SLURM_LOCALID", &local, err)) < 0)
      return rc;
    const char* nl = getenv("SLURM_JOB_NODELIST");
    if (!nl)
      nl = getenv("SLURM_NODELIST");
    if (!getenv("MASTER_ADDR")) {
      if (!nl)
        return sf_err_set(
            err,
            SF_EINVAL,
            "SLURM_NTASKS=%ld but neither SLURM_JOB_NODELIST nor "
            "MASTER_ADDR is set",
            world);
      if ((rc = slurm_first_host(nl, &e->addr, err)))
        return rc;
    }
    if ((rc = env_int("SLURM_JOB_ID", &job, err)) < 0)
      return rc;
    if (rc)
      e->port = int(20000 + job % 20000);
  }
  if (world < 1)
    return sf_err_set(
        err,
        SF_EINVAL,
        "%s=%ld: the world needs at least one rank",
        e->source == "slurm" ? "SLURM_NTASKS" : "WORLD_SIZE",
        world);
  if (rank >= world)
    return sf_err_set(
        err,
        SF_EINVAL,
        "%s=%ld is outside the world of %s=%ld",
        e->source == "slurm" ? "SLURM_PROCID" : "RANK",
        rank,
        e->source == "slurm" ? "SLURM_NTASKS" : "WORLD_SIZE",
        world);
  e->rank = int(rank);
  e->world = int(world);
  e->local_rank = local >= 0 ? int(local) : int(rank);
  if (const char* a = getenv("MASTER_ADDR"))
    e->addr = a;
  if ((rc = env_int("MASTER_PORT", &port, err)) < 0)
    return rc;
  if (rc) {
    if (port < 1 || port > 65535)
      return sf_err_set(
          err, SF_EINVAL, "MASTER_PORT=%ld: expected 1..65535", port);
    e->port = int(port);
  }
  if (e->world > 1 && e->addr.empty())
    return sf_err_set(
        err,
        SF_EINVAL,
        "WORLD_SIZE=%d but MASTER_ADDR is not set (the host of rank 0)",
        e->world);
  if (e->world > 1 && e->port == 0)
    return sf_err_set(
        err,
        SF_EINVAL,
        "WORLD_SIZE=%d but MASTER_PORT is not set (a free TCP port on "
        "rank 0's host)",
        e->world);
  return SF_OK;
}

struct Dist {
  int rank = 0, world = 1;
  std::string where; // "MASTER_ADDR:MASTER_PORT=host:port"
  std::chrono::milliseconds timeout{0};
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  double comm_s = 0;
};

int dist_open(
    const DistEnv& env,
    bool cuda,
    double timeout_s,
    Dist** out,
    sf_err* err) {
  *out = nullptr;
  if (env.world <= 1)
    return SF_OK;
  auto d = std::make_unique<Dist>();
  d->rank = env.rank;
  d->world = env.world;
  d->timeout = std::chrono::milliseconds(long(timeout_s * 1000.0));
  d->where =
      "MASTER_ADDR:MASTER_PORT=" + env.addr + ":" + std::to_string(env.port);
  try {
    c10d::TCPStoreOptions so;
    so.port = uint16_t(env.port);
    so.isServer = env.rank == 0;
    so.numWorkers = size_t(env.world);
    so.waitWorkers = true;
    so.timeout = d->timeout;
    d->store = c10::make_intrusive<c10d::TCPStore>(env.addr, so);
  } catch (const std::exception& e) {
    // The first line of c10d's text is the reason; the rest is a trace.
    std::string why = e.what();
    why = why.substr(0, why.find('\n'));
    if (env.rank == 0)
      return sf_err_set(
          err,
          SF_EIO,
          "rank 0 cannot serve the rendezvous on %s (port in use, or "
          "not this host's address?), or not all %d ranks joined within "
          "%g s: %.300s",
          d->where.c_str(),
          env.world,
          timeout_s,
          why.c_str());
    return sf_err_set(
        err,
        SF_EIO,
        "rank %d cannot reach the master at %s within %g s (rank 0 not "
        "started, wrong address or port, or a firewall): %.300s",
        env.rank,
        d->where.c_str(),
        timeout_s,
        why.c_str());
  }
  try {
#ifdef SF_NCCL
    if (cuda) {
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = d->timeout;
      d->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          d->store, env.rank, env.world, o);
    }
#else
    (void)cuda;
#endif
    if (!d->pg) {
      auto o = c10d::ProcessGroupGloo::Options::create(d->timeout);
      const char* ifname = getenv("GLOO_SOCKET_IFNAME");
      if (ifname && *ifname)
        o->devices.push_back(
            c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (env.addr == "localhost" || env.addr.rfind("127.", 0) == 0)
        o->devices.push_back(
            c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      o->threads = 2;
      d->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(
          d->store, env.rank, env.world, o);
    }
  } catch (const std::exception& e) {
    std::string why = e.what();
    return sf_err_set(
        err,
        SF_EIO,
        "rank %d: the process group (%s) did not form within %g s: %.300s",
        env.rank,
        d->where.c_str(),
        timeout_s,
        why.substr(0, why.find('\n')).c_str());
  }
  *out = d.release();
  return SF_OK;
}

void dist_close(Dist* d) {
  delete d;
}

double dist_comm_s(const Dist* d) {
  return d ? d->comm_s : 0.0;
}

namespace {

// Wait for works; c10d's exceptions become SF_EIO naming the collective.
int finish(
    Dist* d,
    std::vector<c10::intrusive_ptr<c10d::Work>>& works,
    const char* what,
    double t0,
    sf_err* err) {
  try {
    for (auto& w : works)
      if (!w->wait(d->timeout))
        throw std::runtime_error("timed out");
  } catch (const std::exception& e) {
    std::string why = e.what();
    d->comm_s += sf_clock_s() - t0;
    return sf_err_set(
        err,
        SF_EIO,
        "rank %d of %d: %s failed (another rank died, hung or stopped "
        "for longer than the %g s timeout): %.300s",
        d->rank,
        d->world,
        what,
        double(d->timeout.count()) / 1000.0,
        why.substr(0, why.find('\n')).c_str());
  }
  d->comm_s += sf_clock_s() - t0;
  return SF_OK;
}

} // namespace

int dist_allreduce(
    Dist* d,
    std::vector<at::Tensor>& ts,
    const char* what,
    sf_err* err) {
  if (!d || ts.empty())
    return SF_OK;
  double t0 = sf_clock_s();
  std::vector<std::vector<at::Tensor>> flat; // one per bucket
  std::vector<std::pair<size_t, size_t>> span; // [first, last) of ts
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  try {
    for (size_t i = 0; i < ts.size();) {
      size_t j = i, bytes = 0;
      std::vector<at::Tensor> parts;
      while (j < ts.size() &&
             (j == i || bytes + ts[j].nbytes() <= kBucketBytes)) {
        bytes += ts[j].nbytes();
        parts.push_back(ts[j].reshape({-1}));
        j++;
      }
      flat.push_back({torch::cat(parts)});
      span.push_back({i, j});
      works.push_back(d->pg->allreduce(flat.back()));
      i = j;
    }
  } catch (const std::exception& e) {
    works.clear();
    std::string why = e.what();
    return sf_err_set(
        err,
        SF_EIO,
        "rank %d: %s: %.300s",
        d->rank,
        what,
        why.substr(0, why.find('\n')).c_str());
  }
  int rc = finish(d, works, what, t0, err);
  if (rc)
    return rc;
  for (size_t b = 0; b < flat.size(); b++) {
    int64_t off = 0;
    for (size_t k = span[b].first; k < span[b].second; k++) {
      int64_t n = ts[k].numel();
      ts[k].copy_(flat[b][0].slice(0, off, off + n).view_as(ts[k]));
      off += n;
    }
  }
  return SF_OK;
}

int dist_sum(Dist* d, double* v, size_t n, const char* what, sf_err* err) {
  if (!d || n == 0)
    return SF_OK;
  at::Tensor t = torch::from_blob(v, {int64_t(n)}, torch::kDouble).clone();
  std::vector<at::Tensor> ts{t};
  int rc = dist_allreduce(d, ts, what, err);
  if (rc == SF_OK)
    memcpy(v, t.data_ptr<double>(), n * sizeof(double));
  return rc;
}

int dist_broadcast(
    Dist* d,
    std::vector<at::Tensor>& ts,
    const char* what,
    sf_err* err) {
  if (!d)
    return SF_OK;
  double t0 = sf_clock_s();
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  try {
    for (auto& t : ts) {
      std::vector<at::Tensor> one{t};
      works.push_back(d->pg->broadcast(one));
    }
  } catch (const std::exception& e) {
    works.clear();
    return sf_err_set(
        err, SF_EIO, "rank %d: %s: %.300s", d->rank, what, e.what());
  }
  return finish(d, works, what, t0, err);
}

int dist_agree(
    Dist* d,
    bool failed,
    const std::string& hex,
    const char* what,
    sf_err* err) {
  if (!d)
    return SF_OK;
  // (failed, 64 hex digits as 8 x 8 bytes) per rank, all-gathered.
  const int64_t W = 9;
  at::Tensor mine = torch::zeros({W}, torch::kLong);
  mine[0] = int64_t(failed);
  for (int k = 0; k < 8; k++) {
    uint64_t x = 0;
    for (int b = 0; b < 8; b++)
      x = (x << 8) |
          uint8_t(size_t(k * 8 + b) < hex.size() ? hex[size_t(k * 8 + b)] : 0);
    mine[k + 1] = int64_t(x);
  }
  std::vector<std::vector<at::Tensor>> outs(1);
  for (int r = 0; r < d->world; r++)
    outs[0].push_back(torch::zeros({W}, torch::kLong));
  std::vector<at::Tensor> in{mine};
  double t0 = sf_clock_s();
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  try {
    works.push_back(d->pg->allgather(outs, in));
  } catch (const std::exception& e) {
    return sf_err_set(
        err, SF_EIO, "rank %d: %s: %.300s", d->rank, what, e.what());
  }
  int rc = finish(d, works, what, t0, err);
  if (rc)
    return rc;
  for (int r = 0; r < d->world; r++)
    if (outs[0][size_t(r)][0].item<int64_t>())
      return sf_err_set(
          err,
          SF_EINVAL,
          "rank %d failed before %s (see its own message); rank %d stops "
          "too",
          r,
          what,
          d->rank);
  for (int r = 1; r < d->world; r++)
    if (!torch::equal(outs[0][size_t(r)], outs[0][0]))
      return sf_err_set(
          err,
          SF_EINVAL,
          "%s differs between rank 0 and rank %d: every rank must run "
          "the same build, config and corpora",
          what,
          r);
  return SF_OK;
}

} // namespace sam_train
