#include "dist/distributed.h"

// The Gloo process group's declarations are compiled only with this macro;
// Debian's libtorch is built with Gloo (libgloo-dev has its headers).
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <thread>


namespace xtaldiff {
namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

int env_int(const char* name, int min, int max) {
  const char* v = env(name);
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  // Slurm writes counts per node like "2(x3)": the count is the leading integer.
  if (end == v || errno != 0 || x < min || x > max || (*end != '\0' && *end != '('))
    throw Error(fmt::format("environment variable {}='{}': expected an integer in {}..{}", name, v, min, max),
                ErrorKind::kUsage);
  return static_cast<int>(x);
}

// c10 errors append a backtrace: the first line says what happened.
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

}  // namespace

std::optional<RankLayout> rank_layout_from_environment() {
  RankLayout l;
  if (env("WORLD_SIZE") || env("RANK")) {  // torchrun, or set by hand / by `--nproc`
    if (!env("WORLD_SIZE") || !env("RANK"))
      throw Error("environment: RANK and WORLD_SIZE must be set together (torchrun's variables)", ErrorKind::kUsage);
    l.world_size = env_int("WORLD_SIZE", 1, 1 << 16);
    l.rank = env_int("RANK", 0, l.world_size - 1);
    l.local_rank = env("LOCAL_RANK") ? env_int("LOCAL_RANK", 0, l.world_size - 1) : l.rank;
    l.local_world_size = env("LOCAL_WORLD_SIZE") ? env_int("LOCAL_WORLD_SIZE", 1, l.world_size) : l.world_size;
  } else if (env("SLURM_PROCID") && env("SLURM_NTASKS")) {  // srun
    l.world_size = env_int("SLURM_NTASKS", 1, 1 << 16);
    l.rank = env_int("SLURM_PROCID", 0, l.world_size - 1);
    l.local_rank = env("SLURM_LOCALID") ? env_int("SLURM_LOCALID", 0, l.world_size - 1) : 0;
    l.local_world_size = env("SLURM_NTASKS_PER_NODE") ? env_int("SLURM_NTASKS_PER_NODE", 1, l.world_size)
                         : env("SLURM_TASKS_PER_NODE") ? env_int("SLURM_TASKS_PER_NODE", 1, l.world_size)
                                                       : 1;
  } else {
    return std::nullopt;
  }
  if (l.world_size == 1) return std::nullopt;
  if (l.local_rank >= l.local_world_size)
    throw Error(fmt::format("environment: LOCAL_RANK {} is not below LOCAL_WORLD_SIZE {}", l.local_rank,
                            l.local_world_size), ErrorKind::kUsage);
  if (env("MASTER_ADDR")) {
    l.master_addr = env("MASTER_ADDR");
  } else if (l.local_world_size != l.world_size) {
    throw Error("environment: MASTER_ADDR (rank 0's host name or address) must be set for a run over several machines",
                ErrorKind::kUsage);
  }
  if (env("MASTER_PORT")) l.master_port = env_int("MASTER_PORT", 1, 65535);
  return l;
}

Distributed::Distributed(const RankLayout& layout, std::chrono::milliseconds timeout)
    : layout_(layout), timeout_(timeout) {
  const std::string where = fmt::format("{}:{}", layout.master_addr, layout.master_port);
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(layout.master_port);
  so.isServer = is_root();
  so.numWorkers = layout.world_size;
  so.waitWorkers = true;
  so.timeout = timeout;
  try {
    store_ = c10::make_intrusive<c10d::TCPStore>(layout.master_addr, so);
  } catch (const std::exception& e) {
    const std::string m = e.what();
    if (is_root() && (m.find("in use") != std::string::npos || m.find("failed to listen") != std::string::npos ||
                      m.find("bind") != std::string::npos))
      throw Error(fmt::format("rank 0: cannot listen on {} for the other ranks: the port is in use (another run?); "
                              "set MASTER_PORT (or --master-port) to a free port",
                              where), ErrorKind::kPeer);
    throw Error(fmt::format("rank {} of {}: the rendezvous at {} failed within {} s ({}); {}", rank(), world_size(),
                            where, timeout.count() / 1000.0,
                            is_root() ? "not every rank joined" : "is rank 0 running, and MASTER_ADDR / MASTER_PORT right?",
                            first_line(m)), ErrorKind::kPeer);
  }
  // A port held by another program, or another run's store: the ranks
  // must agree on what they joined.
  const std::string run_key = "xtaldiff/world_size";
  try {
    if (is_root()) {
      const std::string w = std::to_string(layout.world_size);
      store_->set(run_key, std::vector<uint8_t>(w.begin(), w.end()));
    } else {
      const auto w = store_->get(run_key);
      if (std::string(w.begin(), w.end()) != std::to_string(layout.world_size))
        throw Error(fmt::format("rank {}: the run at {} has WORLD_SIZE {}, this rank was started with {}", rank(), where,
                                std::string(w.begin(), w.end()), layout.world_size), ErrorKind::kPeer);
    }
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    if (const char* ifname = env("GLOO_SOCKET_IFNAME"))
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (is_loopback(layout.master_addr))
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    options->threads = 2;
    group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, layout.rank, layout.world_size, options);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw peer_error("joining the process group", e.what());
  }
}

Distributed::~Distributed() = default;

int Distributed::threads_per_rank() const {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, layout_.local_world_size));
}

Error Distributed::peer_error(const char* what, const std::string& detail) const {
  return Error(fmt::format("rank {} of {}: {} failed: another rank exited, crashed or did not answer within {} s "
                           "(--dist-timeout); {}",
                           rank(), world_size(), what, timeout_.count() / 1000.0, first_line(detail)),
               ErrorKind::kPeer);
}

void Distributed::wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
  try {
    work->wait(timeout_);
  } catch (const std::exception& e) {
    throw peer_error(what, e.what());
  }
}

void Distributed::broadcast(std::vector<torch::Tensor>& tensors, const char* what) {
  if (tensors.empty()) return;
  try {
    c10d::BroadcastOptions o;
    o.rootRank = 0;
    o.timeout = timeout_;
    // A Gloo call takes one tensor per device: one call per tensor, all
    // started before any is waited for.
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& t : tensors) {
      if (!t.is_contiguous()) throw Error("internal: broadcast of a non-contiguous tensor", ErrorKind::kInternal);
      std::vector<torch::Tensor> one{t};
      works.push_back(group_->broadcast(one, o));
    }
    for (auto& w : works) wait(w, what);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw peer_error(what, e.what());
  }
}

c10::intrusive_ptr<c10d::Work> Distributed::all_reduce_sum_async(std::vector<torch::Tensor>& tensors) {
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  o.timeout = timeout_;
  try {
    return group_->allreduce(tensors, o);
  } catch (const std::exception& e) {
    throw peer_error("an all-reduce", e.what());
  }
}

void Distributed::all_reduce_sum(std::vector<torch::Tensor>& tensors, const char* what) {
  if (tensors.empty()) return;
  wait(all_reduce_sum_async(tensors), what);
}

void Distributed::barrier(const char* what) {
  // An all-reduce of one number: Gloo's barrier takes no per-call timeout.
  std::vector<torch::Tensor> one{torch::ones({1})};
  all_reduce_sum(one, what);
}

std::vector<std::string> Distributed::gather_to_root(const std::string& mine, const std::string& key) {
  // Through the store: values of any size, no shape agreement needed.
  const std::string prefix = fmt::format("xtaldiff/gather/{}/{}/", key, gathers_++);
  std::vector<std::string> all;
  try {
    if (!is_root()) {
      store_->set(prefix + std::to_string(rank()), std::vector<uint8_t>(mine.begin(), mine.end()));
    } else {
      all.push_back(mine);
      for (int r = 1; r < world_size(); ++r) {
        const auto v = store_->get(prefix + std::to_string(r));
        all.emplace_back(v.begin(), v.end());
        store_->deleteKey(prefix + std::to_string(r));
      }
    }
  } catch (const std::exception& e) {
    throw peer_error(("gathering " + key).c_str(), e.what());
  }
  // Rank 0 has read every value when this returns on any rank.
  barrier(("gathering " + key).c_str());
  return all;
}

}  // namespace xtaldiff
