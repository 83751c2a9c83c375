/// @file
/// The periodic denoiser of DiffCSP (Jiao et al. 2023): message passing over
/// all ordered atom pairs of each crystal (self pairs included). Edge input:
/// both node states, the 9 entries of L Lᵀ (invariant to rotations of the
/// lattice), and sin/cos Fourier features of (x_j − x_i) mod 1 (invariant to
/// a shift of all coordinates). Pre-LayerNorm residual layers, SiLU, mean
/// aggregation. Outputs: per-atom coordinate score (3, invariant) and the
/// lattice noise M·L from a per-crystal 3×3 M (so it rotates with L).
///
/// Exact speed-ups of `forward` (`forward_reference` keeps the plain form
/// for tests):
///  - the first edge Linear on [h_i, h_j, ips, fd] is split into W_a h_i +
///    W_b h_j (once per atom) + W_c ips (once per crystal) + W_d fd;
///  - W_d fd is computed once per unordered pair: fd(j→i) has the same
///    cosines and negated sines as fd(i→j), since (x_i − x_j) mod 1 =
///    1 − (x_j − x_i) mod 1, so with S = W_sin sin, C = W_cos cos + b the
///    two directions are C + S and C − S; self pairs (all sines 0, cosines
///    1) share one constant row. That removes (n+1)/(2n) of the largest
///    per-edge product.
#pragma once

#include <nlohmann/json.hpp>

#include "data/crystal_batch.h"
#include "ml/torch_pch.h"

namespace xtaldiff {

struct CspNetOptions {
  int hidden = 256;        ///< node/edge width
  int layers = 4;          ///< message-passing layers
  int num_freqs = 128;     ///< Fourier frequencies k = 0..num_freqs-1 of the coordinate differences
  int time_dim = 256;      ///< sinusoidal time embedding width
  int vocab = kMaxAtomicNumber;  ///< atom types Z = 1..vocab
  bool layer_norm = true;  ///< pre-LayerNorm in each layer and before the heads
  /// Generation models (DiffCSP's de novo variant): atoms enter as (noisy)
  /// type vectors [N, vocab] through a Linear layer instead of an embedding
  /// of Z, and a third head predicts the type noise.
  bool diffuse_types = false;
  /// How a generation model diffuses types: "ddpm" (DiffCSP's continuous
  /// one-hot vectors, input [N, vocab]) or "d3pm" (absorbing-state discrete
  /// diffusion; input the one-hot state [N, vocab + 1], the last entry the
  /// mask; the type head gives logits of the clean type).
  std::string type_diffusion = "ddpm";
  bool d3pm() const { return diffuse_types && type_diffusion == "d3pm"; }
  /// Space-group conditioning (classifier-free guidance): learned
  /// embeddings of the space group (1..230) and of its crystal system are
  /// added to the time embedding; index 0 is the "no condition" token that
  /// training substitutes at random (DiffusionOptions::condition_drop).
  bool condition_spacegroup = false;
  /// Property conditioning (classifier-free guidance on property values):
  /// dataset columns whose values, standardised with the training labels'
  /// mean and standard deviation, pass through a small MLP per column and
  /// are added to the time embedding; a crystal without a value (missing
  /// label, dropped in training, not asked for in sampling) gets the
  /// column's learned "no value" vector instead.
  std::vector<std::string> condition_properties;
  std::vector<double> property_mean, property_stddev;
  /// A per-crystal latent vector of this width (CDVAE's decoder: z) enters
  /// through a Linear layer added to the time embedding; 0 = none.
  int latent_dim = 0;
  bool conditioned() const { return condition_spacegroup || !condition_properties.empty() || latent_dim > 0; }
  /// Index of a conditioning column, -1 when absent.
  int property_index(const std::string& column) const;

  nlohmann::json to_json() const;
  static CspNetOptions from_json(const nlohmann::json& j);
  /// "small" (hidden 256, 4 layers, 128 freqs: trains on a CPU) or "base"
  /// (DiffCSP's hidden 512, 6 layers, 128 freqs, 12.3 M parameters).
  static CspNetOptions preset(const std::string& name);
};

/// Fully connected edge list of a batch: every ordered pair (i, j) of atoms
/// of the same crystal, built on the host from the atom counts. Edge order
/// (the pair trick of `forward` relies on it): edges [0, P) are the pairs
/// i < j, edges [P, 2P) the same pairs reversed, edges [2P, 2P + N) the
/// self pairs, atom by atom.
///
/// When every crystal has the same atom count n (all of Perov-5; CSP batches
/// the sampler groups by size) the fast path also runs dense: edge tensors
/// shaped [B, n, n, H], where the per-atom and per-crystal terms of the
/// first edge layer enter by broadcasting and the mean over neighbours is a
/// sum over one axis, instead of three gathers of [E, H] and a scatter-add.
struct EdgeIndex {
  torch::Tensor src, dst;   ///< [E] int64
  torch::Tensor crystal;    ///< [E] int64, crystal of each edge
  torch::Tensor inv_count;  ///< [N, 1] float: 1 / atoms in the atom's crystal (mean aggregation)
  int64_t num_pairs = 0;    ///< P
  /// Dense layout (0 = not used): the common atom count n, and for each
  /// dense position (b, i, j), row-major, the edge i → j's row in the edge
  /// order above [B·n·n] int64.
  int64_t dense_atoms = 0;
  torch::Tensor dense_rows{};
  /// `allow_dense` = false keeps the gathered edge list even for equal
  /// counts (tests and the benchmark compare the two).
  static EdgeIndex fully_connected(const std::vector<int64_t>& counts, const torch::Device& device,
                                   bool allow_dense = true);
};

/// Fourier features of the edges, in one of two forms: `full` [E, 6F] for
/// every edge (reference), or `pair_sin`, `pair_cos` [P, 3F] for the pairs
/// i < j only (fast path).
struct EdgeFeatures {
  torch::Tensor full;
  torch::Tensor pair_sin, pair_cos;
};

struct CspLayerImpl : torch::nn::Module {
  CspLayerImpl(int hidden, int dist_dim, bool layer_norm);
  torch::Tensor forward(const torch::Tensor& h, const EdgeFeatures& features, const torch::Tensor& lattice_ips,
                        const EdgeIndex& edges);

  int hidden;
  torch::nn::Linear edge_in{nullptr}, edge_out{nullptr}, node_in{nullptr}, node_out{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  bool use_norm;
};
TORCH_MODULE(CspLayer);

/// What a conditioned network is told about the crystals it denoises. Each
/// part may be undefined; a space group 0 or a NaN property value is the
/// null token, so an empty Condition is the unconditional prediction.
struct Condition {
  torch::Tensor spacegroup;  ///< [B] int64, 1..230 or 0
  torch::Tensor properties;  ///< [B, K] float in the columns' units, NaN = no value
  torch::Tensor latent;      ///< [B, latent_dim] (networks with CspNetOptions::latent_dim > 0, where it is required)
  Condition() = default;
  /// A space-group label alone (implicit: call sites that pass only labels).
  Condition(torch::Tensor labels) : spacegroup(std::move(labels)) {}  // NOLINT(google-explicit-constructor)
  bool any() const { return spacegroup.defined() || properties.defined() || latent.defined(); }
};

struct DenoiserOutput {
  torch::Tensor lattice;  ///< [B, 3, 3] predicted lattice noise ε̂
  torch::Tensor coords;   ///< [N, 3] predicted normalised negated score
  torch::Tensor types;    ///< [N, vocab] predicted type noise (generation models; undefined otherwise)
};

struct CspNetImpl : torch::nn::Module {
  explicit CspNetImpl(const CspNetOptions& options);
  /// t: [B] float times (1..T); atom types: [N] int64 atomic numbers (CSP
  /// models) or [N, vocab] float type vectors (generation models); frac
  /// [N, 3]; lattice [B, 3, 3].
  /// `condition`: labels for a conditioned network (empty = the
  /// unconditional prediction); labels an unconditioned network cannot
  /// take are an error.
  DenoiserOutput forward(const torch::Tensor& t, const torch::Tensor& atom_types, const torch::Tensor& frac,
                         const torch::Tensor& lattice, const EdgeIndex& edges, const torch::Tensor& crystal_of_atom,
                         int64_t num_crystals, const Condition& condition = {});
  DenoiserOutput forward_reference(const torch::Tensor& t, const torch::Tensor& atom_types, const torch::Tensor& frac,
                                   const torch::Tensor& lattice, const EdgeIndex& edges,
                                   const torch::Tensor& crystal_of_atom, int64_t num_crystals,
                                   const Condition& condition = {});
  /// Node features after the last layer (and final norm) [N, hidden] and
  /// their per-crystal mean [B, hidden]: the invariant encoding the heads
  /// (and a property predictor) read.
  std::pair<torch::Tensor, torch::Tensor> encode(const torch::Tensor& t, const torch::Tensor& atom_types,
                                                 const torch::Tensor& frac, const torch::Tensor& lattice,
                                                 const EdgeIndex& edges, const torch::Tensor& crystal_of_atom,
                                                 int64_t num_crystals, bool reference = false,
                                                 const Condition& condition = {});
  int64_t parameter_count() const;

  CspNetOptions options;
  torch::nn::Embedding atom_embedding{nullptr};  ///< CSP models
  torch::nn::Linear type_in{nullptr}, type_out{nullptr};  ///< generation models
  torch::nn::Linear atom_time_in{nullptr};
  torch::nn::Embedding spacegroup_embedding{nullptr}, crystal_system_embedding{nullptr};  ///< conditioned networks
  std::vector<torch::nn::Linear> property_in, property_out;  ///< per conditioning column: 1 → time_dim → time_dim
  torch::Tensor property_null;  ///< [K, time_dim] the "no value" vectors
  torch::nn::Linear latent_in{nullptr};  ///< latent_dim → time_dim (networks with a latent input)
  std::vector<CspLayer> blocks;
  torch::nn::LayerNorm final_norm{nullptr};
  torch::nn::Linear coord_out{nullptr}, lattice_out{nullptr};

 private:
  DenoiserOutput run(const torch::Tensor& t, const torch::Tensor& atom_types, const torch::Tensor& frac,
                     const torch::Tensor& lattice, const EdgeIndex& edges, const torch::Tensor& crystal_of_atom,
                     int64_t num_crystals, bool reference, const Condition& condition);
  /// The conditioning added to the time embedding [B, time_dim] (an
  /// undefined tensor for an unconditioned network).
  torch::Tensor condition_embedding(const Condition& condition, int64_t num_crystals, const torch::Device& device);
  torch::Tensor crystal_system_of_;  ///< [231] int64: space group → crystal system 1..7 (0 → 0)
  /// [K] float32: the property labels' standardisation, kept on the device
  /// last used so that an evaluation does not rebuild them.
  torch::Tensor property_mean_, property_stddev_;
};
TORCH_MODULE(CspNet);

/// Crystal system of a space group as an index: 1 triclinic, 2 monoclinic,
/// 3 orthorhombic, 4 tetragonal, 5 trigonal, 6 hexagonal, 7 cubic; 0 for 0.
int crystal_system_index(int spacegroup_number);

/// Sinusoidal embedding of times [B] → [B, dim] (sin half, cos half).
torch::Tensor sinusoidal_time_embedding(const torch::Tensor& t, int dim);
/// sin/cos Fourier features of fractional differences [E, 3] → [E, 6F].
torch::Tensor fourier_features(const torch::Tensor& frac_diff, int num_freqs);

}  // namespace xtaldiff
