/// @file
/// The composition language model (issue 20; after Dong et al., "Generative
/// design of inorganic compounds using deep diffusion language models", and
/// DiffusionBERT): absorbing-state discrete diffusion (D3PM,
/// diffusion/type_d3pm.h) over the formula token sequences of
/// chem/formula_tokens.h, with a small transformer encoder as denoiser. The
/// network sees the partly masked sequence, the time and optional condition
/// values, and predicts every token of the clean formula.
///
/// Conditions (classifier-free guidance, Ho & Salimans 2022): dataset
/// columns (band gap, formation energy...) and the derived "num_elements",
/// each standardised and embedded, or replaced by a learned "absent"
/// embedding; in training all are dropped with probability `condition_drop`
/// (the unconditional model) and otherwise each with that probability, so
/// any subset can be asked for at sampling time.
///
/// It trains on the cell compositions of a structure dataset through the
/// shared loop (train/train_loop.h): a batch's "crystals" give their
/// compositions, and only the atom types are read.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chem/formula_tokens.h"
#include "diffusion/type_d3pm.h"
#include "model/model.h"

namespace xtaldiff {

/// The derived condition: the number of distinct elements of a formula.
constexpr const char* kNumElementsCondition = "num_elements";

struct CompositionOptions {
  int max_elements = 8;  ///< pairs per sequence (the vocabulary's)
  int max_count = 20;    ///< largest per-element count in a cell
  int dim = 128, layers = 4, heads = 4, feedforward = 512;
  double dropout = 0.1;
  int steps = 1000;          ///< T of the absorbing process
  double ce_weight = 1.0;    ///< λ of the hybrid loss L_vb + λ L_ce
  std::vector<std::string> conditions;  ///< columns and/or "num_elements", in order
  std::vector<double> mean, stddev;     ///< standardisation of each condition
  double condition_drop = 0.1;

  FormulaVocabulary vocabulary() const { return {max_elements, max_count}; }
  nlohmann::json to_json() const;
  static CompositionOptions from_json(const nlohmann::json& j);
};

/// The "composition-d3pm" architecture.
class CompositionModel : public Model {
 public:
  explicit CompositionModel(const CompositionOptions& options);
  static CompositionModel from_config(const nlohmann::json& config);

  std::string arch() const override { return "composition-d3pm"; }
  std::string task() const override { return "composition"; }
  nlohmann::json config() const override { return options_.to_json(); }
  LossParts loss(const CrystalBatch& batch, BatchNoise& noise) override;
  nlohmann::json describe() const override;

  /// Logits over the vocabulary [B, L, V] of the clean tokens, from tokens
  /// [B, L] (0..V, V = masked), times [B] (1..T) and standardised condition
  /// values [B, K] (NaN: not given; K may be 0).
  torch::Tensor logits(const torch::Tensor& tokens, const torch::Tensor& t, const torch::Tensor& conditions);

  /// The clean token sequences [B, L] of a batch's cell compositions (on
  /// the CPU); an Error naming the formula when one does not fit the vocabulary.
  torch::Tensor batch_tokens(const CrystalBatch& batch) const;
  /// Standardised condition values [B, K] of a batch: its property labels
  /// and, for "num_elements", the element count of `tokens`.
  torch::Tensor batch_conditions(const CrystalBatch& batch, const torch::Tensor& tokens) const;
  /// Index of a condition, or -1.
  int condition_index(const std::string& name) const;

  const CompositionOptions& options() const { return options_; }
  const FormulaVocabulary& vocabulary() const { return vocab_; }
  const TypeD3pm& process() const { return d3pm_; }

 private:
  CompositionOptions options_;
  FormulaVocabulary vocab_;
  TypeD3pm d3pm_;
  torch::nn::Embedding token_embedding_{nullptr}, position_embedding_{nullptr};
  torch::nn::Sequential time_mlp_{nullptr};
  /// Per condition k: embedding = value · weight[k] + bias[k], or absent[k]; [K, dim] each.
  torch::Tensor condition_weight_, condition_bias_, condition_absent_;
  torch::nn::TransformerEncoder encoder_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};

}  // namespace xtaldiff
