/// @file
/// Data-parallel gradients: after each rank's backward pass on its share of
/// a batch, every rank holds the gradient of the whole batch's loss. Each
/// rank weights its loss by its share (crystals for per-crystal terms,
/// atoms for per-atom terms: `share_weighted_loss`), so the sum over ranks
/// is the gradient one process would get on the whole batch. Parameters are
/// packed into flat buckets (about 25 MB, last parameters first, as
/// PyTorch's DDP does); a hook on every parameter copies its gradient into
/// its bucket as the backward pass produces it, and a full bucket's
/// all-reduce starts at once, overlapped with the rest of the backward pass.
/// Buckets start in index order on every rank (the collectives must match),
/// so a bucket waits for those before it.
#pragma once

#include <mutex>
#include <vector>

#include "dist/distributed.h"
#include "model/model.h"

namespace xtaldiff {

/// The loss whose gradient, summed over ranks, is the global batch's:
/// crystal terms × (local crystals / global crystals) + atom terms ×
/// (local atoms / global atoms).
torch::Tensor share_weighted_loss(const LossParts& parts, const BatchShare& share, int64_t local_crystals,
                                  int64_t local_atoms);

class GradientSync {
 public:
  GradientSync(std::vector<torch::Tensor> parameters, Distributed& dist, std::size_t bucket_bytes = 25u << 20);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  /// Before the backward pass (also when this rank has no crystals in the batch).
  void begin_step();
  /// After it: starts what is left, waits for every bucket and writes the
  /// summed gradients into the parameters' `.grad` (a parameter no rank
  /// produced a gradient for keeps its undefined or earlier gradient, as on
  /// one process). `scalars` are summed over ranks in the same collective.
  void finish_step(std::vector<double>& scalars);

 private:
  struct Bucket {
    std::vector<std::size_t> params;  ///< indices into parameters_
    torch::Tensor flat;               ///< float32, all of them back to back
    std::size_t ready = 0;
    bool launched = false;
    c10::intrusive_ptr<c10d::Work> work;
  };
  void on_gradient(std::size_t param, const torch::Tensor& grad);
  void launch_ready_buckets();  // under mutex_
  void launch(Bucket& b);

  std::vector<torch::Tensor> parameters_;
  Distributed& dist_;
  std::vector<Bucket> buckets_;
  std::vector<std::size_t> bucket_of_, offset_of_;
  std::vector<uint8_t> has_grad_;  ///< this rank produced a gradient this step
  std::size_t next_launch_ = 0;
  bool in_step_ = false;
  std::vector<unsigned> hook_ids_;
  std::mutex mutex_;  // hooks run on the autograd engine's threads for CUDA
};

}  // namespace xtaldiff
