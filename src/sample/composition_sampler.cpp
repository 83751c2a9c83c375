#include "sample/composition_sampler.h"

#include <algorithm>
#include <cmath>

#include "chem/element.h"
#include "util/error.h"

namespace xtaldiff {

void CompositionConstraints::check(const FormulaVocabulary& vocab) const {
  auto allowed_z = [&](int z) { return allowed.empty() || std::count(allowed.begin(), allowed.end(), z) > 0; };
  const int limit = max_elements > 0 ? std::min(max_elements, vocab.max_elements()) : vocab.max_elements();
  for (int z : required)
    if (!allowed_z(z))
      throw Error("--require " + element(z).symbol + " is not among the allowed elements", ErrorKind::kUsage);
  if (static_cast<int>(required.size()) > limit)
    throw Error("--require names " + std::to_string(required.size()) + " elements, more than the " +
                    std::to_string(limit) + " a formula may hold here",
                ErrorKind::kUsage);
  if (!system.empty()) {
    if (static_cast<int>(system.size()) > limit)
      throw Error("the system has " + std::to_string(system.size()) + " elements; the model writes formulas of at most " +
                      std::to_string(limit),
                  ErrorKind::kUsage);
    for (int z : system)
      if (!allowed_z(z))
        throw Error("--system element " + element(z).symbol + " is not among the allowed elements", ErrorKind::kUsage);
    for (int z : required)
      if (std::count(system.begin(), system.end(), z) == 0)
        throw Error("--require " + element(z).symbol + " is not in the system", ErrorKind::kUsage);
  }
  for (int z : allowed)
    if (z < 1 || z > kMaxZ) throw Error("element Z = " + std::to_string(z) + " is outside the vocabulary", ErrorKind::kUsage);
  const int fewest = std::max<int>(1, system.empty() ? static_cast<int>(required.size()) : static_cast<int>(system.size()));
  const int most = (system.empty() ? limit : static_cast<int>(system.size())) * vocab.max_count();
  if (max_atoms > 0 && (max_atoms < fewest || max_atoms < min_atoms))
    throw Error("no formula fits the atom range " + std::to_string(min_atoms) + "-" + std::to_string(max_atoms) +
                    " with the required elements",
                ErrorKind::kUsage);
  if (min_atoms > most)
    throw Error("at least " + std::to_string(min_atoms) + " atoms asked, but the model writes at most " +
                    std::to_string(most) + " here",
                ErrorKind::kUsage);
}

torch::Tensor allowed_tokens(const FormulaVocabulary& vocab, const CompositionConstraints& c) {
  const int l = vocab.length(), v = vocab.size();
  auto table = torch::zeros({l, v}, torch::kBool);
  auto a = table.accessor<bool, 2>();
  const int limit = c.max_elements > 0 ? std::min(c.max_elements, vocab.max_elements()) : vocab.max_elements();
  for (int pair = 0; pair < vocab.max_elements(); ++pair) {
    const int e = 2 * pair, n = e + 1;
    if (!c.system.empty()) {
      // Inpainted: the system's elements in Z order, then PAD pairs.
      std::vector<int> sorted = c.system;
      std::sort(sorted.begin(), sorted.end());
      if (pair < static_cast<int>(sorted.size())) {
        a[e][FormulaVocabulary::element_token(sorted[pair])] = true;
        for (int k = 1; k <= vocab.max_count(); ++k) a[n][vocab.count_token(k)] = true;
      } else {
        a[e][FormulaVocabulary::kPad] = a[n][FormulaVocabulary::kPad] = true;
      }
      continue;
    }
    a[e][FormulaVocabulary::kPad] = a[n][FormulaVocabulary::kPad] = true;
    if (pair >= limit) continue;
    if (pair == 0) a[e][FormulaVocabulary::kPad] = a[n][FormulaVocabulary::kPad] = false;  // at least one element
    for (int z = 1; z <= kMaxZ; ++z)
      if (c.allowed.empty() || std::count(c.allowed.begin(), c.allowed.end(), z) > 0)
        a[e][FormulaVocabulary::element_token(z)] = true;
    for (int k = 1; k <= vocab.max_count(); ++k) a[n][vocab.count_token(k)] = true;
  }
  return table;
}

namespace {

// True when `c` meets the constraints that masking cannot express.
bool accepted(const Composition& c, const CompositionConstraints& k) {
  for (int z : k.required)
    if (c.amount(z) <= 0) return false;
  const double atoms = c.num_atoms();
  if (k.min_atoms > 0 && atoms < k.min_atoms) return false;
  if (k.max_atoms > 0 && atoms > k.max_atoms) return false;
  return true;
}

}  // namespace

SampledCompositions sample_compositions(CompositionModel& model, const CompositionConstraints& constraints,
                                        const CompositionSampleOptions& o) {
  const FormulaVocabulary& vocab = model.vocabulary();
  const TypeD3pm& d3pm = model.process();
  constraints.check(vocab);
  if (o.n < 1) throw Error("-n must be at least 1", ErrorKind::kUsage);
  if (o.steps < 1 || o.steps > d3pm.steps())
    throw Error("--steps " + std::to_string(o.steps) + ": between 1 and the model's T = " + std::to_string(d3pm.steps()),
                ErrorKind::kUsage);
  if (!std::isfinite(o.cfg_weight) || o.cfg_weight < 0)
    throw Error("--guidance must be a finite number ≥ 0", ErrorKind::kUsage);
  const int64_t l = vocab.length(), k = static_cast<int64_t>(model.options().conditions.size());
  const torch::Device dev = o.device;
  model.to(dev);
  model.eval();
  c10::InferenceMode inference;

  const auto allowed = allowed_tokens(vocab, constraints).to(dev);
  // Positions whose token is fixed (a system's inpainted element slots and
  // the PAD pairs after them): exactly one allowed token.
  const auto fixed = allowed.sum(1).eq(1);
  const auto fixed_token = allowed.to(torch::kInt64).argmax(1);
  auto cond = torch::full({k}, NAN, torch::kFloat32);
  for (const auto& [index, value] : o.conditions) {
    if (index < 0 || index >= k) throw Error("composition model: no condition #" + std::to_string(index));
    cond[index] = static_cast<float>((value - model.options().mean[index]) / model.options().stddev[index]);
  }
  const bool conditioned = !o.conditions.empty();
  const bool guided = conditioned && o.cfg_weight != 1.0 && o.cfg_weight != 0.0;
  const auto cond_dev = (conditioned && o.cfg_weight != 0.0 ? cond : torch::full({k}, NAN)).to(dev);
  const auto uncond_dev = torch::full({k}, NAN, torch::kFloat32).to(dev);

  // Integer times T = t_0 > t_1 > ... > t_steps = 0.
  std::vector<int> times;
  for (int i = 0; i <= o.steps; ++i) {
    const int t = static_cast<int>(std::lround(d3pm.steps() * (1.0 - double(i) / o.steps)));
    if (times.empty() || t < times.back()) times.push_back(t);
  }
  SampledCompositions out;
  out.network_evaluations = static_cast<int>(times.size() - 1) * (guided ? 2 : 1);
  auto gen = at::detail::createCPUGenerator(o.seed);
  const long max_draws = static_cast<long>(o.n) * o.max_draw_factor;
  while (static_cast<int>(out.compositions.size()) < o.n && out.draws < max_draws) {
    const int64_t b = std::min<int64_t>(o.batch, std::max<int64_t>(o.n - out.compositions.size(), 16));
    auto xt = torch::full({b, l}, d3pm.mask_state(), torch::TensorOptions().dtype(torch::kInt64).device(dev));
    xt = torch::where(fixed.unsqueeze(0), fixed_token.unsqueeze(0).expand({b, l}), xt);
    for (std::size_t i = 0; i + 1 < times.size(); ++i) {
      const int t = times[i], s = times[i + 1];
      const auto tt = torch::full({b}, t, torch::TensorOptions().dtype(torch::kInt64).device(dev));
      auto logits = model.logits(xt, tt, cond_dev.unsqueeze(0).expand({b, k}));
      if (guided) {
        const auto un = model.logits(xt, tt, uncond_dev.unsqueeze(0).expand({b, k}));
        logits = un + o.cfg_weight * (logits - un);
      }
      logits = logits.masked_fill(allowed.logical_not().unsqueeze(0), -INFINITY);
      const auto probs = torch::softmax(logits.to(torch::kFloat64), -1).reshape({b * l, -1}).to(torch::kCPU);
      const auto draw = torch::multinomial(probs, 1, false, gen).view({b, l}).to(dev);
      const auto u = torch::rand({b * l}, gen, torch::kFloat32).to(dev);
      xt = d3pm.step(xt.reshape(-1), draw.reshape(-1), t, s, u).view({b, l});
    }
    const auto tokens = xt.to(torch::kCPU).contiguous();
    const int64_t* p = tokens.data_ptr<int64_t>();
    for (int64_t r = 0; r < b && static_cast<int>(out.compositions.size()) < o.n; ++r) {
      ++out.draws;
      const auto c = vocab.decode(std::vector<int>(p + r * l, p + (r + 1) * l));
      if (!c) {
        ++out.malformed;
      } else if (!accepted(*c, constraints)) {
        ++out.rejected;
      } else {
        out.compositions.push_back(*c);
      }
    }
  }
  out.exhausted = static_cast<int>(out.compositions.size()) < o.n;
  return out;
}

}  // namespace xtaldiff
