/// @file
/// Data-parallel ranks over PyTorch's distributed engine (c10d): the
/// rendezvous through a `TCPStore` on rank 0 and a Gloo process group for
/// the collectives. Ranks are described as `torchrun` does (RANK,
/// WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), or
/// by Slurm's SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID under `srun`.
/// Every collective waits at most the group's timeout: a rank that exits or
/// hangs makes the others throw an `Error` of kind kPeer that says which
/// operation failed, instead of hanging.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "ml/torch_pch.h"
#include "util/error.h"

namespace xtaldiff {

/// Where this process sits among the ranks of a run.
struct RankLayout {
  int rank = 0, world_size = 1;
  int local_rank = 0, local_world_size = 1;  ///< among the ranks of this machine
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

/// The layout the environment describes (torchrun's variables, else
/// Slurm's), or nothing when it describes no multi-rank run. Throws a usage
/// Error naming the variable when one is malformed or inconsistent.
std::optional<RankLayout> rank_layout_from_environment();

class Distributed {
 public:
  /// Joins the run: rank 0 listens on master_port, the others connect;
  /// returns when all world_size ranks are in. `timeout` bounds the
  /// rendezvous and every later collective.
  Distributed(const RankLayout& layout, std::chrono::milliseconds timeout);
  ~Distributed();
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

  int rank() const { return layout_.rank; }
  int world_size() const { return layout_.world_size; }
  bool is_root() const { return layout_.rank == 0; }
  const RankLayout& layout() const { return layout_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  /// LibTorch threads for this rank: the machine's cores shared by its local ranks.
  int threads_per_rank() const;

  /// Rank 0's values into every rank's tensors (CPU, in place).
  void broadcast(std::vector<torch::Tensor>& tensors, const char* what);
  /// The sum over ranks, in place, on every rank.
  void all_reduce_sum(std::vector<torch::Tensor>& tensors, const char* what);
  /// Starts a sum over ranks; `wait` it (in launch order) before reading.
  c10::intrusive_ptr<c10d::Work> all_reduce_sum_async(std::vector<torch::Tensor>& tensors);
  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what);
  /// Every rank's bytes, in rank order, on rank 0 (an empty list elsewhere).
  std::vector<std::string> gather_to_root(const std::string& mine, const std::string& key);
  /// Returns when every rank has called it.
  void barrier(const char* what);

  /// The Error a failed collective becomes (kind kPeer, naming `what`).
  Error peer_error(const char* what, const std::string& detail) const;

 private:
  RankLayout layout_;
  std::chrono::milliseconds timeout_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
  long gathers_ = 0;
};

}  // namespace xtaldiff
