/// @file
/// UniMat's denoiser (Yang et al., ICLR 2024): a 3D U-Net over the
/// periodic-table tensor of crystal/unimat_tensor.h, with convolutions over
/// (slots × rows × groups), self-attention at the coarsest levels and a
/// time embedding added in every residual block.
///
/// It is a drop-in denoiser for DiffusionModel: it takes the same atoms,
/// fractional coordinates, lattice and time as DiffCSP's GNN and returns
/// the same outputs. Each atom is scattered into its element's cell at its
/// slot as features of its coordinates (sin and cos of 2πk·x, k = 1..K,
/// and an occupancy channel), a learnt embedding of each cell says which
/// element and slot it is, the lattice (log lengths, cos angles) joins the
/// time embedding, and the U-Net's last feature map is gathered back at
/// the atoms for the coordinate output; the lattice output is a head on
/// the atoms' mean features, the coarsest level's mean and the time +
/// lattice embedding, times the lattice (as DiffCSP's).
/// Downsampling halves rows and groups (9 × 18 → 5 × 9 → 3 × 5) and keeps
/// the slots.
///
/// Two uses. CSP (`forward`): the occupied slots are the composition and
/// only the atoms' coordinates are noised. De novo generation
/// (`forward_dense`, UniMatOptions::generate): the paper's scheme, the whole
/// tensor (coordinates in [0, 1), −1 in empty slots) is noised by a
/// Gaussian DDPM, so which slots end up occupied (the composition and the
/// atom count) is itself generated. The network predicts the clean tensor
/// (x0), not the paper's noise ε: trained on two crystals, the tiny preset
/// predicting ε gave 1 of 8 de novo samples with a right formula (the
/// final GroupNorm loses the noisy input's scale that ε = (x_t −
/// sqrt(ᾱ) x0)/sqrt(1 − ᾱ) needs), predicting x0 gave 8 of 8, and the
/// cells no crystal uses are then a constant the cell embedding carries.
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "model/cspnet.h"

namespace xtaldiff {

struct UniMatOptions {
  int slots = 0;                     ///< L: slots per element (the training set's largest count of one element)
  int width = 24;                    ///< channels at the finest level
  std::vector<int> multipliers{1, 2, 4};  ///< channels per level, × width
  int res_blocks = 1;                ///< residual blocks per level (down and up)
  int attention_levels = 2;          ///< self-attention after the blocks of this many coarsest levels (and the middle)
  int heads = 4;
  int time_dim = 128;
  int frequencies = 4;               ///< K of the coordinate features
  /// De novo generation: the whole tensor is diffused (forward_dense);
  /// false = CSP (forward). Set by DiffusionModel from the task.
  bool generate = false;

  nlohmann::json to_json() const;
  static UniMatOptions from_json(const nlohmann::json& j);
  /// "tiny" (tests), "small" (this CPU), "base" (the public reimplementation's
  /// widths: 64, multipliers 1 2 4, 3 residual blocks).
  static UniMatOptions preset(const std::string& name);
};

struct UniMatResBlockImpl : torch::nn::Module {
  UniMatResBlockImpl(int in, int out, int emb);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb);
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv3d conv1{nullptr}, conv2{nullptr}, skip{nullptr};
  torch::nn::Linear emb_proj{nullptr};
};
TORCH_MODULE(UniMatResBlock);

struct UniMatAttentionImpl : torch::nn::Module {
  UniMatAttentionImpl(int channels, int heads);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::GroupNorm norm{nullptr};
  torch::nn::Conv3d qkv{nullptr}, out{nullptr};
  int heads;
};
TORCH_MODULE(UniMatAttention);

struct UniMatNetImpl : torch::nn::Module {
  explicit UniMatNetImpl(const UniMatOptions& options);
  /// `atom_types`: atomic numbers [N] (1..kMaxZ); `frac` [N, 3];
  /// `lattice` [B, 3, 3]; `t` [B]. Throws an Error when a crystal has more
  /// atoms of one element than the layout's slots.
  DenoiserOutput forward(const torch::Tensor& t, const torch::Tensor& atom_types, const torch::Tensor& frac,
                         const torch::Tensor& lattice, const torch::Tensor& crystal_of_atom, int64_t num_crystals);
  /// De novo generation: `grid` [B, 3, L, rows, groups] the noisy tensor,
  /// `lattice` [B, 3, 3] the noisy lattice, `t` [B]. Returns the predicted
  /// clean tensor in `coords` ([B, 3, L, rows, groups]) and the lattice's
  /// predicted noise ε̂ in `lattice`.
  DenoiserOutput forward_dense(const torch::Tensor& t, const torch::Tensor& grid, const torch::Tensor& lattice);
  /// The clean tensor of a batch [B, 3, L, rows, groups]: each atom's
  /// coordinates (wrapped into [0, 1)) in its element's cell at its slot,
  /// kUniMatNull elsewhere (crystal/unimat_tensor.h's layout, channels
  /// first). Throws as `forward` when an element has more atoms than slots.
  torch::Tensor clean_grid(const torch::Tensor& atom_types, const torch::Tensor& frac,
                           const torch::Tensor& crystal_of_atom, int64_t num_crystals) const;
  int64_t parameter_count() const;

  UniMatOptions options;
  torch::nn::Linear time_in{nullptr}, time_out{nullptr}, lattice_in{nullptr};
  torch::nn::Conv3d input{nullptr}, coord_out{nullptr};
  torch::Tensor cell_embedding;  ///< [E, L, rows, groups]
  std::vector<std::vector<UniMatResBlock>> down_blocks, up_blocks;
  std::vector<UniMatAttention> down_attention, up_attention;  ///< null where a level has none
  std::vector<torch::nn::Conv3d> downsample, upsample;
  UniMatResBlock mid1{nullptr}, mid2{nullptr};
  UniMatAttention mid_attention{nullptr};
  torch::nn::GroupNorm out_norm{nullptr};
  torch::nn::Linear lattice_hidden{nullptr}, lattice_out{nullptr};

 private:
  /// Each atom's voxel in the flattened [B, L, rows, groups] grid.
  torch::Tensor voxel_index(const torch::Tensor& atom_types, const torch::Tensor& crystal_of_atom) const;
  /// The time + lattice embedding [B, time_dim].
  torch::Tensor embed(const torch::Tensor& t, const torch::Tensor& lattice, c10::ScalarType dtype);
  /// The U-Net from the input features [B, width, L, rows, groups] to the
  /// last feature map (same shape); `coarse` gets the coarsest level's mean.
  torch::Tensor unet(torch::Tensor h, const torch::Tensor& emb, torch::Tensor& coarse);
  /// The lattice head: per-crystal pooled features → ε̂ of the lattice.
  torch::Tensor lattice_head(const torch::Tensor& pooled, const torch::Tensor& coarse, const torch::Tensor& emb,
                             const torch::Tensor& lattice);
};
TORCH_MODULE(UniMatNet);

/// [rows, groups] bool: the cells of the table that hold an element of
/// atomic number 1..vocab (and, when given, `allowed` by it).
torch::Tensor unimat_element_cells(int vocab, const std::function<bool(int)>& allowed = {});

}  // namespace xtaldiff
