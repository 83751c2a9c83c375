/// @file
/// CDVAE (Xie et al., ICLR 2022): a variational autoencoder whose decoder is
/// a noise-conditional score network, sampled by annealed Langevin dynamics
/// (sample/cdvae_sampler.h).
///
///  - Encoder: the periodic GNN of DiffCSP (model/cspnet.h, atomic numbers
///    in, time fixed at 0); the mean of its node states → μ and log σ² of a
///    latent z (reparameterised in training, KL to N(0, I) weighted by β).
///  - Heads from z (MLPs): the number of atoms (classes 0..max_atoms), the
///    composition (logits over elements: each atom's type is a draw from
///    it), the lattice (lengths / N^(1/3) and angles in degrees,
///    standardised with the training set's mean and deviation), and
///    optional property columns (standardised).
///  - Decoder: the same GNN with type vectors in and z added to its
///    noise-level embedding (CspNetOptions::latent_dim); it sees the true
///    lattice and atom count (teacher forcing, as CDVAE), atoms displaced in
///    Cartesian space by N(0, σ²) and types drawn from one-hot + σ_type ×
///    the predicted composition, and predicts (per atom) the minimum-image
///    displacement back to the clean position over σ, and the clean type.
///    The invariant per-atom output u becomes a Cartesian vector as
///    u · L / V^(1/3), so it rotates with the lattice and keeps O(1) scale.
///    Noise levels: geometric, σ 10 → 0.01 Å and σ_type 5 → 0.01, 50 levels
///    (CDVAE's); one level per crystal in training.
///
/// Loss (CDVAE's weights by default): cost_natom·CE + cost_lattice·MSE +
/// cost_composition·CE + cost_coord·½|u − d/σ|² + cost_type·CE + β·KL
/// (+ cost_property·MSE + cost_prior·NLL of the detached z under the
/// conditioned prior, without the ½ log 2π constant); per-atom terms are
/// averaged per crystal first.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/cspnet.h"
#include "model/model.h"

namespace xtaldiff {

struct CdvaeOptions {
  int latent_dim = 256;
  int head_hidden = 256;
  int head_layers = 2;   ///< hidden layers of each head's MLP
  int max_atoms = 20;    ///< the atom-count head's classes are 0..max_atoms (set from the training set)
  int noise_levels = 50;
  double sigma_begin = 10, sigma_end = 0.01;            ///< coordinate noise (Å), geometric
  double type_sigma_begin = 5, type_sigma_end = 0.01;   ///< type noise, geometric
  double beta = 0.01;                                   ///< KL weight
  double cost_natom = 1, cost_lattice = 10, cost_composition = 1, cost_coord = 10, cost_type = 1,
         cost_property = 1;
  /// Standardisation of the lattice head's six targets (a, b, c over
  /// N^(1/3) in Å, then α, β, γ in degrees): the training set's.
  std::vector<double> lattice_mean{1, 1, 1, 90, 90, 90}, lattice_stddev{1, 1, 1, 1, 1, 1};
  /// Property columns the property head predicts, and their standardisation.
  std::vector<std::string> properties;
  std::vector<double> property_mean, property_stddev;
  /// Con-CDVAE's conditioned prior (Ye et al. 2024), for models with
  /// property columns: a network from the (standardised) values and a
  /// "given" mask per column to μ_p, log σ²_p of z, trained on the
  /// encoder's latents (detached, so the VAE is unchanged) with each label
  /// hidden with probability prior_drop, so any subset of the columns can
  /// be conditioned on.
  bool conditional_prior = true;
  double prior_drop = 0.1;
  double cost_prior = 1;
  /// Annealed Langevin defaults (sample/cdvae_sampler.h).
  double step_lr = 1e-4;
  int steps_per_level = 5;

  nlohmann::json to_json() const;
  /// Throws Error naming what is out of range.
  static CdvaeOptions from_json(const nlohmann::json& j);
  /// σ_k (coordinates) and σ_type,k for k = 0 (largest) .. noise_levels − 1.
  std::vector<double> sigmas() const;
  std::vector<double> type_sigmas() const;
  /// Index of a property column, −1 when absent.
  int property_index(const std::string& column) const;
};

/// What the heads read from z.
struct CdvaeHeads {
  torch::Tensor num_atoms;    ///< [B, max_atoms + 1] logits
  torch::Tensor lattice;      ///< [B, 6] standardised (see CdvaeOptions::lattice_mean)
  torch::Tensor composition;  ///< [B, vocab] logits over Z = 1..vocab
  torch::Tensor properties;   ///< [B, K] standardised (undefined without columns)
};

/// The decoder's prediction at one noise level.
struct CdvaeDecoded {
  torch::Tensor displacement;  ///< [N, 3] Cartesian (Å), the clean position minus the input over σ
  torch::Tensor type_logits;   ///< [N, vocab]
};

/// The "cdvae" architecture. Submodules: "encoder", "to_mu", "to_logvar",
/// "natom_head", "lattice_head", "composition_head", ("property_head",
/// "prior_net"), "decoder".
class CdvaeModel : public Model {
 public:
  CdvaeModel(const CspNetOptions& encoder, const CspNetOptions& decoder, const CdvaeOptions& options);
  /// {"encoder": ..., "decoder": ..., "cdvae": ...}.
  static CdvaeModel from_config(const nlohmann::json& config);
  /// The encoder and decoder networks of a GNN preset (tiny, small, base)
  /// for CDVAE: the decoder with type vectors in and a latent input.
  static std::pair<CspNetOptions, CspNetOptions> networks(const std::string& preset, int latent_dim);

  std::string arch() const override { return "cdvae"; }
  std::string task() const override { return "gen"; }
  nlohmann::json config() const override;
  LossParts loss(const CrystalBatch& batch, BatchNoise& noise) override;
  nlohmann::json describe() const override;

  /// μ and log σ² of z [B, latent] for clean crystals.
  std::pair<torch::Tensor, torch::Tensor> encode(const CrystalBatch& batch);
  CdvaeHeads heads(const torch::Tensor& z);
  /// The decoder at noise level `level` [B] (0 = largest σ): atoms of types
  /// `types` (Z, [N] int64) at `frac` in `lattice` [B, 3, 3].
  CdvaeDecoded decode(const torch::Tensor& z, const torch::Tensor& level, const torch::Tensor& types,
                      const torch::Tensor& frac, const torch::Tensor& lattice, const EdgeIndex& edges,
                      const torch::Tensor& crystal_of_atom);
  /// The lattice head's standardised [B, 6] → lattice matrices [B, 3, 3]
  /// (pymatgen orientation) for crystals of `num_atoms` atoms, on the CPU
  /// in float64.
  torch::Tensor lattice_from_head(const torch::Tensor& standardised, const std::vector<int64_t>& num_atoms) const;
  /// The lattice head's targets [B, 6] (standardised) of a batch.
  torch::Tensor lattice_targets(const CrystalBatch& batch) const;
  /// Whether the model has Con-CDVAE's conditioned prior.
  bool has_prior() const { return !prior_net_.is_empty(); }
  /// μ_p and log σ²_p [B, latent] of the conditioned prior for values `y`
  /// [B, K] in the columns' units (NaN: not conditioned on that column).
  std::pair<torch::Tensor, torch::Tensor> prior(const torch::Tensor& y);
  /// Property predictions [B, K] in the columns' units from the property head.
  torch::Tensor properties_from_head(const torch::Tensor& standardised) const;

  const CdvaeOptions& options() const { return options_; }
  const CspNetOptions& encoder_options() const { return encoder_options_; }
  const CspNetOptions& decoder_options() const { return decoder_options_; }
  int vocab() const { return decoder_options_.vocab; }

 private:
  CspNetOptions encoder_options_, decoder_options_;
  CdvaeOptions options_;
  CspNet encoder_{nullptr}, decoder_{nullptr};
  torch::nn::Linear to_mu_{nullptr}, to_logvar_{nullptr};
  torch::nn::Sequential natom_head_{nullptr}, lattice_head_{nullptr}, composition_head_{nullptr},
      property_head_{nullptr}, prior_net_{nullptr};
  torch::Tensor sigmas_, type_sigmas_;  ///< buffers [levels]
};

/// Lattice lengths (Å) and angles (degrees) of matrices [B, 3, 3] → [B, 6].
torch::Tensor lattice_parameters(const torch::Tensor& lattice);
/// The Cartesian minimum-image vector of fractional differences `dfrac`
/// [N, 3] in the atoms' cells `lattice_of_atom` [N, 3, 3] (over the 27
/// neighbouring images of the wrapped difference).
torch::Tensor minimum_image_cartesian(const torch::Tensor& dfrac, const torch::Tensor& lattice_of_atom);
/// The KL divergence of N(μ, σ²) from N(0, I), summed over the latent
/// dimensions, per crystal [B].
torch::Tensor gaussian_kl(const torch::Tensor& mu, const torch::Tensor& logvar);
/// Atom types of one crystal of `n` atoms from composition probabilities
/// `probs` (over Z = 1..V): each element gets floor(p·n) atoms, the rest go
/// to the largest remainders (ties to the lower Z); at least one atom.
std::vector<int> composition_to_types(const std::vector<double>& probs, int n);

}  // namespace xtaldiff
