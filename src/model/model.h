/// @file
/// What every xtaldiff model is: a LibTorch module (parameters, buffers,
/// `to`, `train` and serialisation come from torch::nn::Module) that names
/// its architecture in the registry (model/registry.h), its task, the JSON
/// configuration that rebuilds it, and its training loss. The one model
/// file (model/model_file.h) and the one training loop (train/train_loop.h)
/// know models only through this interface, so a new architecture (UniMat,
/// CDVAE, a composition model) plugs in by deriving from it and registering
/// its options.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "data/batch_noise.h"
#include "data/crystal_batch.h"

namespace xtaldiff {

/// One batch's training loss and its parts (undefined parts: not this
/// model's); the loop logs the defined ones.
struct LossParts {
  torch::Tensor total, lattice, coord;
  torch::Tensor types;  ///< generation models only
  /// `total` split by what each term averages over: crystals (lattice,
  /// property labels) or atoms (coordinates, types), so that data-parallel
  /// ranks can weight their shares exactly (src/dist/gradient_sync.h).
  /// Undefined: the whole total averages over crystals.
  torch::Tensor crystal_terms, atom_terms;
};

class Model : public torch::nn::Module {
 public:
  /// The architecture's registry name ("diffcsp", "property-gnn").
  virtual std::string arch() const = 0;
  /// "csp", "gen" or "property".
  virtual std::string task() const = 0;
  /// Everything `build_model(arch(), config())` needs to rebuild this model
  /// untrained (weights travel separately).
  virtual nlohmann::json config() const = 0;
  /// The training loss on one batch, every random draw taken from `noise`
  /// (per crystal or per atom, so that a batch split over ranks draws the
  /// same noise); labels, where the task learns them, come in
  /// `batch.properties`.
  virtual LossParts loss(const CrystalBatch& batch, BatchNoise& noise) = 0;
  /// What `xtaldiff model` shows beyond the training metadata.
  virtual nlohmann::json describe() const = 0;
};

/// Copies the values of every parameter and buffer of `from` into `to` (the
/// same architecture and configuration; each stays on its own device): EMA
/// weights, a best-epoch snapshot, a checkpoint's weights into a live model.
void copy_module_state(const torch::nn::Module& from, torch::nn::Module& to);
/// Warm starts (`train --init`): copies every parameter of `from` whose name
/// and shape `to` shares; returns {copied, left as they were}.
std::pair<std::size_t, std::size_t> copy_matching_parameters(const torch::nn::Module& from, torch::nn::Module& to);
/// Where a module's parameters are (the CPU when it has none).
torch::Device module_device(const torch::nn::Module& m);

}  // namespace xtaldiff
