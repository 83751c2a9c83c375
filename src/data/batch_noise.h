/// @file
/// Where a training batch's random draws come from. Every draw is made for
/// the whole *global* batch (the crystals of every rank, in rank order) from
/// the epoch's one generator, and each rank keeps the rows of its own
/// crystals or atoms. So a batch split over W data-parallel ranks sees, per
/// crystal, exactly the noise it would see on one process with the whole
/// batch: W ranks with batch B train the same weights as one with batch W·B
/// (src/dist), and a run can resume with another world size. On one process
/// the draws are the plain `torch::randn(shape, gen)` calls they replace.
#pragma once

#include "data/crystal_batch.h"

namespace xtaldiff {

/// Which rows of the global batch are this rank's.
struct BatchShare {
  int64_t global_crystals = 0, global_atoms = 0;
  int64_t first_crystal = 0, first_atom = 0;  ///< this rank's offsets into the global batch
};

class BatchNoise {
 public:
  /// One process: the batch is the whole batch.
  BatchNoise(torch::Generator& gen, const CrystalBatch& batch);
  /// One rank's share of a global batch.
  BatchNoise(torch::Generator& gen, const CrystalBatch& local, const BatchShare& share);

  /// Integers uniform on [low, high), one per crystal: [B] int64.
  torch::Tensor randint_per_crystal(int64_t low, int64_t high);
  /// Standard normal / uniform [0, 1) values, shape [B, trailing...] or
  /// [N, trailing...], on the CPU.
  torch::Tensor randn_per_crystal(at::IntArrayRef trailing, const torch::TensorOptions& options);
  torch::Tensor rand_per_crystal(at::IntArrayRef trailing, const torch::TensorOptions& options);
  torch::Tensor randn_per_atom(at::IntArrayRef trailing, const torch::TensorOptions& options);
  torch::Tensor rand_per_atom(at::IntArrayRef trailing, const torch::TensorOptions& options);

  torch::Generator& generator() { return gen_; }

 private:
  enum class Rows { kCrystals, kAtoms };
  std::vector<int64_t> global_shape(Rows rows, at::IntArrayRef trailing) const;
  torch::Tensor local_rows(const torch::Tensor& global, Rows rows) const;

  torch::Generator& gen_;
  int64_t local_crystals_, local_atoms_;
  BatchShare share_;
};

}  // namespace xtaldiff
