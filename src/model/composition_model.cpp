#include "model/composition_model.h"

#include <cmath>

#include "model/cspnet.h"
#include "util/error.h"

namespace xtaldiff {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CompositionOptions, max_elements, max_count, dim, layers, heads,
                                                feedforward, dropout, steps, ce_weight, conditions, mean, stddev,
                                                condition_drop)

nlohmann::json CompositionOptions::to_json() const { return *this; }

CompositionOptions CompositionOptions::from_json(const nlohmann::json& j) {
  const CompositionOptions o = j.get<CompositionOptions>();
  if (o.mean.size() != o.conditions.size() || o.stddev.size() != o.conditions.size() || o.dim % o.heads != 0 ||
      o.steps < 1 || o.max_elements < 0 || o.max_count < 0)
    throw Error("composition model options are inconsistent: " + j.dump());
  return o;
}

CompositionModel::CompositionModel(const CompositionOptions& o)
    : options_(o), vocab_(o.vocabulary()), d3pm_(o.steps, vocab_.size()) {
  const int64_t d = o.dim, k = static_cast<int64_t>(o.conditions.size());
  token_embedding_ = register_module("token_embedding", torch::nn::Embedding(d3pm_.num_states(), d));
  position_embedding_ = register_module("position_embedding", torch::nn::Embedding(vocab_.length(), d));
  time_mlp_ = register_module("time_mlp", torch::nn::Sequential(torch::nn::Linear(d, d), torch::nn::SiLU(),
                                                                 torch::nn::Linear(d, d)));
  condition_weight_ = register_parameter("condition_weight", torch::randn({k, d}) * 0.02);
  condition_bias_ = register_parameter("condition_bias", torch::zeros({k, d}));
  condition_absent_ = register_parameter("condition_absent", torch::randn({k, d}) * 0.02);
  auto layer = torch::nn::TransformerEncoderLayerOptions(d, o.heads).dim_feedforward(o.feedforward).dropout(o.dropout);
  encoder_ = register_module("encoder", torch::nn::TransformerEncoder(
                                            torch::nn::TransformerEncoderOptions(layer, o.layers)));
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  head_ = register_module("head", torch::nn::Linear(d, vocab_.size()));
}

CompositionModel CompositionModel::from_config(const nlohmann::json& config) {
  return CompositionModel(CompositionOptions::from_json(config));
}

nlohmann::json CompositionModel::describe() const {
  int64_t params = 0;
  for (const auto& p : parameters()) params += p.numel();
  return {{"kind", "composition"},
          {"parameters", params},
          {"transformer", {{"dim", options_.dim}, {"layers", options_.layers}, {"heads", options_.heads},
                       {"feedforward", options_.feedforward}, {"parameters", params}}},
          {"vocabulary", {{"max_elements", options_.max_elements}, {"max_count", options_.max_count},
                          {"tokens", vocab_.size()}, {"length", vocab_.length()}}},
          {"diffusion", {{"steps", options_.steps}, {"process", "absorbing-state D3PM over formula tokens"}}},
          {"conditions", options_.conditions}};
}

int CompositionModel::condition_index(const std::string& name) const {
  for (std::size_t i = 0; i < options_.conditions.size(); ++i)
    if (options_.conditions[i] == name) return static_cast<int>(i);
  return -1;
}

torch::Tensor CompositionModel::logits(const torch::Tensor& tokens, const torch::Tensor& t,
                                       const torch::Tensor& conditions) {
  const int64_t b = tokens.size(0), l = tokens.size(1);
  auto positions = torch::arange(l, tokens.options());
  auto h = token_embedding_(tokens) + position_embedding_(positions).unsqueeze(0);
  torch::Tensor context = time_mlp_->forward(sinusoidal_time_embedding(t.to(torch::kFloat32) / options_.steps, options_.dim));
  if (!options_.conditions.empty()) {
    // [B, K, dim]: value · w + b where given, the absent embedding where NaN.
    auto given = conditions.isnan().logical_not().unsqueeze(2);
    auto value = torch::nan_to_num(conditions, 0.0).unsqueeze(2);
    auto embedded = torch::where(given, value * condition_weight_ + condition_bias_, condition_absent_.unsqueeze(0));
    context = context + embedded.sum(1);
  }
  h = h + context.unsqueeze(1);
  h = encoder_(h.transpose(0, 1)).transpose(0, 1);  // LibTorch's encoder takes [L, B, dim]
  return head_(norm_(h)).view({b, l, vocab_.size()});
}

torch::Tensor CompositionModel::batch_tokens(const CrystalBatch& batch) const {
  const auto types = batch.atom_types.to(torch::kCPU).contiguous();
  const int64_t* z = types.data_ptr<int64_t>();
  const int64_t l = vocab_.length();
  auto out = torch::empty({batch.num_crystals(), l}, torch::kInt64);
  int64_t* dst = out.data_ptr<int64_t>();
  int64_t offset = 0;
  for (int64_t c = 0; c < batch.num_crystals(); ++c) {
    const int64_t n = batch.counts[c];
    const std::vector<int> species(z + offset, z + offset + n);
    offset += n;
    const auto tokens = vocab_.encode(Composition::from_species(species));
    std::copy(tokens.begin(), tokens.end(), dst + c * l);
  }
  return out;
}

torch::Tensor CompositionModel::batch_conditions(const CrystalBatch& batch, const torch::Tensor& tokens) const {
  const int64_t b = tokens.size(0), k = static_cast<int64_t>(options_.conditions.size());
  auto out = torch::empty({b, k}, torch::kFloat32);
  int64_t column = 0;  // the batch's label columns hold the non-derived conditions, in order
  const auto labels = batch.properties.defined() ? batch.properties.to(torch::kCPU) : torch::Tensor();
  for (int64_t i = 0; i < k; ++i) {
    torch::Tensor raw;
    if (options_.conditions[i] == kNumElementsCondition) {
      raw = tokens.index({torch::indexing::Slice(), torch::indexing::Slice(0, torch::indexing::None, 2)})
                .ne(FormulaVocabulary::kPad)
                .sum(1)
                .to(torch::kFloat32);
    } else {
      if (!labels.defined() || column >= labels.size(1))
        throw Error("composition model: the batch lacks the label column " + options_.conditions[i]);
      raw = labels.select(1, column++);
    }
    out.select(1, i).copy_((raw - options_.mean[i]) / options_.stddev[i]);
  }
  return out;
}

LossParts CompositionModel::loss(const CrystalBatch& batch, BatchNoise& noise) {
  const torch::Device dev = batch.atom_types.device();
  const auto x0_cpu = batch_tokens(batch);
  const int64_t b = x0_cpu.size(0), l = x0_cpu.size(1);
  const auto x0 = x0_cpu.to(dev);
  const auto t = noise.randint_per_crystal(1, options_.steps + 1).to(dev);
  const auto u = noise.rand_per_crystal({l}, torch::kFloat32).to(dev);
  const auto t_tokens = t.unsqueeze(1).expand({b, l}).reshape(-1);
  const auto xt = d3pm_.noise(x0.reshape(-1), t_tokens, u.reshape(-1)).view({b, l});
  auto cond = batch_conditions(batch, x0_cpu);
  if (cond.size(1) > 0) {
    // All conditions absent with probability p (the unconditional model),
    // else each absent with probability p (any subset can be asked for).
    const int64_t k = cond.size(1);
    const auto r = noise.rand_per_crystal({k + 1}, torch::kFloat32) < options_.condition_drop;
    const auto drop = r.narrow(1, 0, k).logical_or(r.narrow(1, k, 1));
    cond = torch::where(drop, torch::full_like(cond, NAN), cond);
  }
  const auto out = logits(xt, t, cond.to(dev));
  LossParts parts;
  parts.total = d3pm_.loss(out.reshape({b * l, -1}), x0.reshape(-1), xt.reshape(-1), t_tokens, options_.ce_weight);
  parts.types = parts.total;
  return parts;
}

}  // namespace xtaldiff
