#include "data/batch_noise.h"

#include "util/error.h"

namespace xtaldiff {

BatchNoise::BatchNoise(torch::Generator& gen, const CrystalBatch& batch)
    : BatchNoise(gen, batch, BatchShare{batch.num_crystals(), batch.total_atoms(), 0, 0}) {}

BatchNoise::BatchNoise(torch::Generator& gen, const CrystalBatch& local, const BatchShare& share)
    : gen_(gen), local_crystals_(local.num_crystals()), local_atoms_(local.total_atoms()), share_(share) {
  if (share.first_crystal < 0 || share.first_crystal + local_crystals_ > share.global_crystals ||
      share.first_atom < 0 || share.first_atom + local_atoms_ > share.global_atoms)
    throw Error("internal: a rank's share of the batch lies outside the global batch", ErrorKind::kInternal);
}

std::vector<int64_t> BatchNoise::global_shape(Rows rows, at::IntArrayRef trailing) const {
  std::vector<int64_t> shape{rows == Rows::kCrystals ? share_.global_crystals : share_.global_atoms};
  shape.insert(shape.end(), trailing.begin(), trailing.end());
  return shape;
}

torch::Tensor BatchNoise::local_rows(const torch::Tensor& global, Rows rows) const {
  const bool crystals = rows == Rows::kCrystals;
  const int64_t first = crystals ? share_.first_crystal : share_.first_atom;
  const int64_t count = crystals ? local_crystals_ : local_atoms_;
  if (first == 0 && count == global.size(0)) return global;
  return global.narrow(0, first, count).contiguous();
}

torch::Tensor BatchNoise::randint_per_crystal(int64_t low, int64_t high) {
  return local_rows(torch::randint(low, high, {share_.global_crystals}, gen_, torch::TensorOptions(torch::kInt64)),
                    Rows::kCrystals);
}

torch::Tensor BatchNoise::randn_per_crystal(at::IntArrayRef trailing, const torch::TensorOptions& options) {
  return local_rows(torch::randn(global_shape(Rows::kCrystals, trailing), gen_, options), Rows::kCrystals);
}

torch::Tensor BatchNoise::rand_per_crystal(at::IntArrayRef trailing, const torch::TensorOptions& options) {
  return local_rows(torch::rand(global_shape(Rows::kCrystals, trailing), gen_, options), Rows::kCrystals);
}

torch::Tensor BatchNoise::randn_per_atom(at::IntArrayRef trailing, const torch::TensorOptions& options) {
  return local_rows(torch::randn(global_shape(Rows::kAtoms, trailing), gen_, options), Rows::kAtoms);
}

torch::Tensor BatchNoise::rand_per_atom(at::IntArrayRef trailing, const torch::TensorOptions& options) {
  return local_rows(torch::rand(global_shape(Rows::kAtoms, trailing), gen_, options), Rows::kAtoms);
}

}  // namespace xtaldiff
