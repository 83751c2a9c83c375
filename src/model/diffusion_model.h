/// @file
/// A diffusion model of crystals: the denoiser plus the diffusion processes
/// (lattice DDPM, torus VE and, for generation models, the one-hot type
/// DDPM) and their settings, and the training loss of DiffCSP: for one t per
/// crystal, MSE of the predicted lattice noise plus MSE of the predicted
/// normalised coordinate score (plus cost_type × MSE of the type noise).
/// A CSP model (types given) and a generation model (types diffused) differ
/// only in `CspNetOptions::diffuse_types`; with `coord_objective` "flow"
/// the coordinate term is flow matching's velocity MSE instead; a generation model diffuses types
/// either as DiffCSP's one-hot DDPM or as absorbing-state D3PM
/// (`CspNetOptions::type_diffusion`).
#pragma once

#include <optional>

#include <nlohmann/json.hpp>

#include "data/crystal_batch.h"
#include "diffusion/crystal_processes.h"
#include "diffusion/type_d3pm.h"
#include "diffusion/type_ddpm.h"
#include "model/cspnet.h"
#include "model/model.h"
#include "model/unimat_net.h"

namespace xtaldiff {

struct DiffusionOptions {
  int steps = 1000;            ///< T
  double sigma_begin = 0.005;  ///< σ_1 of the coordinate VE process
  double sigma_end = 0.5;      ///< σ_T
  double cost_lattice = 1.0;   ///< loss weights
  double cost_coord = 1.0;
  double cost_type = 20.0;     ///< generation models with DDPM types (DiffCSP's weight)
  double cost_type_d3pm = 1.0; ///< generation models with D3PM types
  /// λ of D3PM's hybrid loss L_vb + λ L_ce. Austin et al. use 0.01 with
  /// L_vb summed over all T steps; here L_vb is the sampled step's term
  /// (r_t = 1/t of the cross-entropy of masked atoms), so the cross-entropy
  /// term carries the signal at large t and λ = 1 puts the type loss on the
  /// scale of the lattice and coordinate losses.
  double d3pm_lambda = 1.0;
  double step_lr = 1e-5;       ///< Langevin corrector step (DiffCSP: Perov-5 5e-7, Carbon-24 5e-6, MP-20 1e-5)
  /// Conditioned networks: share of training crystals whose label is
  /// replaced by the "no condition" token, so that one network also learns
  /// the unconditional model classifier-free guidance needs (Ho & Salimans).
  double condition_drop = 0.1;
  /// How the fractional coordinates are learned: "score" (DiffCSP's VE
  /// process on the torus, torus_ve.h: the network predicts the normalised
  /// score) or "flow" (geodesic flow matching, torus_flow.h: the network
  /// predicts the velocity; precise in few ODE steps). The lattice and the
  /// types keep their processes either way.
  std::string coord_objective = "score";
  bool flow() const { return coord_objective == "flow"; }

  nlohmann::json to_json() const;
  static DiffusionOptions from_json(const nlohmann::json& j);
};

/// The "diffcsp" architecture: DiffCSP's periodic GNN (model/cspnet.h)
/// with the diffusion processes of the lattice, the coordinates and, for
/// generation, the types. Registered under its submodule name "net".
/// With UniMat options it is the "unimat" architecture instead: the same
/// processes, samplers and loss around UniMat's U-Net over the
/// periodic-table tensor (model/unimat_net.h, submodule "unimat"), so every
/// sampler and `sample` option works with both for CSP; a UniMat generation
/// model diffuses the whole tensor instead (tensor_loss,
/// sample/unimat_sampler.h).
class DiffusionModel : public Model {
 public:
  DiffusionModel(const CspNetOptions& net_options, const DiffusionOptions& diffusion_options,
                 const std::optional<UniMatOptions>& unimat = std::nullopt);
  /// The model file's configuration: {"network": ..., "diffusion": ...}
  /// (+ "unimat": ...).
  static DiffusionModel from_config(const nlohmann::json& config);
  /// Deep copy (weights and buffers, on the same device), e.g. for EMA weights.
  DiffusionModel deep_copy() const;

  std::string arch() const override { return unimat_options_ ? "unimat" : "diffcsp"; }
  std::string task() const override { return generative() ? "gen" : "csp"; }
  nlohmann::json config() const override;
  LossParts loss(const CrystalBatch& batch, BatchNoise& noise) override;
  nlohmann::json describe() const override;
  /// `atoms`: the batch's atomic numbers (CSP) or noisy type vectors [N, V]
  /// (generation); `condition`: labels for a conditioned network
  /// (undefined or 0 = unconditional); see CspNetImpl::forward.
  DenoiserOutput denoise(const torch::Tensor& t, const torch::Tensor& atoms, const CrystalBatch& batch,
                         const torch::Tensor& frac, const torch::Tensor& lattice, const EdgeIndex& edges,
                         const Condition& condition = {});
  bool conditioned() const { return net_options_.conditioned(); }
  bool conditioned_on_spacegroup() const { return net_options_.condition_spacegroup; }
  bool generative() const { return net_options_.diffuse_types; }

  /// DiffCSP's GNN (null for a UniMat model).
  CspNet& net() { return net_; }
  const CspNet& net() const { return net_; }
  /// UniMat's options, or nullopt for DiffCSP's GNN.
  const std::optional<UniMatOptions>& unimat_options() const { return unimat_options_; }
  /// UniMat's network (null for DiffCSP's GNN).
  UniMatNet& unimat() { return unimat_; }
  const CspNetOptions& net_options() const { return net_options_; }
  const DiffusionOptions& diffusion_options() const { return diffusion_options_; }
  const LatticeDdpm& lattice_process() const { return processes_.lattice; }
  const TorusVe& coord_process() const { return processes_.coords; }
  const TorusFlow& coord_flow() const { return processes_.flow; }
  bool flow() const { return diffusion_options_.flow(); }
  const TypeDdpm& type_process() const { return processes_.types; }
  const TypeD3pm& type_d3pm() const { return d3pm_; }
  bool d3pm() const { return net_options_.d3pm(); }
  /// Whether `loss` uses the dense edge layout for batches of equal atom
  /// counts (see EdgeIndex; on by default, off to measure the gain).
  void set_dense_edges(bool on) { dense_edges_ = on; }

 private:
  /// A UniMat generation model's loss: the whole periodic-table tensor and
  /// the lattice noised at one t per crystal; MSE of the predicted clean
  /// tensor over the voxels of cells that hold an element, plus the MSE of
  /// the lattice's predicted noise.
  LossParts tensor_loss(const CrystalBatch& batch, BatchNoise& noise);

  CspNetOptions net_options_;
  DiffusionOptions diffusion_options_;
  std::optional<UniMatOptions> unimat_options_;
  CspNet net_{nullptr};
  UniMatNet unimat_{nullptr};
  CrystalProcesses processes_;
  TypeD3pm d3pm_;
  bool dense_edges_ = true;
};

}  // namespace xtaldiff
