/// @file
/// A property predictor for guidance and for `xtaldiff predict`: the
/// denoiser's periodic GNN encoder (type vectors in, time-conditioned) with a
/// per-crystal MLP head, trained on structures noised by the same lattice /
/// torus / type processes: half of each batch clean (t = 0, what `predict`
/// sees), half at t ~ U{1..T}, so it also predicts from the noisy crystals a
/// sampler holds along the way.
/// Targets are standardised per column; the file keeps the means and
/// standard deviations, the columns, and the held-out error.
///
/// Guidance (classifier guidance, Dhariwal & Nichol 2021): for a penalty
/// E(y) of the predicted properties y, the sampler adds s·∇E to the
/// predicted noise of the lattice and the types (scaled by sqrt(1 − ᾱ_t))
/// and to the negated coordinate score (divided by sqrt(λ_t)), which steers
/// each step towards low E. `PropertyTarget` writes E for a value
/// ((y − v)²), an upper bound (relu(y − v)²) or a lower bound.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/crystal_batch.h"
#include "diffusion/crystal_processes.h"
#include "diffusion/torus_ve.h"
#include "diffusion/type_ddpm.h"
#include "model/cspnet.h"
#include "model/model.h"

namespace xtaldiff {

struct PropertyOptions {
  std::vector<std::string> columns;  ///< dataset columns predicted, in order
  std::vector<double> mean, stddev;  ///< standardisation of each column
  int steps = 1000;                  ///< T of the noising processes (the generator's)
  double sigma_begin = 0.005, sigma_end = 0.5;
  nlohmann::json to_json() const;
  static PropertyOptions from_json(const nlohmann::json& j);
};

/// "band_gap=3.0", "formation_energy_per_atom<-1.0", "heat_ref>0.5".
struct PropertyTarget {
  enum class Kind { kEqual, kBelow, kAbove } kind = Kind::kEqual;
  std::string column;
  double value = 0;
  static PropertyTarget parse(const std::string& text);
  /// Penalty per crystal from predictions y [B] (in the column's units, over its std).
  torch::Tensor penalty(const torch::Tensor& y, double scale) const;
  /// Whether a predicted value meets the target (equality: within `tolerance`).
  bool met(double y, double tolerance) const;
  std::string describe() const;
};

/// The "property-gnn" architecture; submodules "encoder" and "head".
class PropertyModel : public Model {
 public:
  PropertyModel(const CspNetOptions& encoder, const PropertyOptions& options);
  /// The model file's configuration: {"encoder": ..., "property": ...}.
  static PropertyModel from_config(const nlohmann::json& config);

  std::string arch() const override { return "property-gnn"; }
  std::string task() const override { return "property"; }
  nlohmann::json config() const override;
  /// `loss(batch, batch.properties, noise)`.
  LossParts loss(const CrystalBatch& batch, BatchNoise& noise) override;
  nlohmann::json describe() const override;
  /// Predictions [B, K] in the columns' units. `types`: [N, V] type vectors.
  torch::Tensor predict(const torch::Tensor& t, const torch::Tensor& types, const torch::Tensor& frac,
                        const torch::Tensor& lattice, const EdgeIndex& edges, const torch::Tensor& crystal_of_atom,
                        int64_t num_crystals);
  /// Predictions for clean crystals (t = 0).
  torch::Tensor predict_clean(const CrystalBatch& batch);
  /// MSE of the standardised predictions on noised crystals against
  /// `labels` [B, K] (NaN = missing, left out).
  torch::Tensor loss(const CrystalBatch& batch, const torch::Tensor& labels, BatchNoise& noise);
  /// Index of a column, or throws Error naming the columns it has.
  int column_index(const std::string& name) const;

  CspNet& encoder() { return encoder_; }
  torch::nn::Sequential& head() { return head_; }
  const CspNetOptions& encoder_options() const { return encoder_options_; }
  const PropertyOptions& options() const { return options_; }

 private:
  /// Per-column means and standard deviations [K] as tensors of `o`.
  std::pair<torch::Tensor, torch::Tensor> standardisation(const torch::TensorOptions& o) const;

  CspNetOptions encoder_options_;
  PropertyOptions options_;
  CspNet encoder_;
  torch::nn::Sequential head_;
  CrystalProcesses processes_;
};

/// Predictions [structures][columns] for clean structures (canonicalised
/// first, as in training), in batches, without gradients.
std::vector<std::vector<double>> predict_structures(PropertyModel& model, const std::vector<Structure>& structures,
                                                    const torch::Device& device, int batch = 256);

/// A property model read from a model file (model/model_file.h).
struct LoadedPropertyModel {
  std::unique_ptr<PropertyModel> model;
  nlohmann::json metadata;
};
/// Reads a model file that holds a property model; any other file is an
/// Error naming it.
LoadedPropertyModel load_property_model(const std::string& path);

}  // namespace xtaldiff
