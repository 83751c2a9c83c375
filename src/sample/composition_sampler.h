/// @file
/// Sampling formulas from a composition model (model/composition_model.h):
/// the absorbing-state reverse process from an all-masked sequence in
/// `steps` strided steps (each one network evaluation, two with
/// classifier-free guidance at a weight other than 0 or 1), drawing every
/// masked token's clean value from the network's distribution restricted to
/// what the constraints allow, and unmasking it with the posterior's
/// probability (diffusion/type_d3pm.h).
///
/// Constraints hold on every returned formula:
///  - allowed elements, the grammar (element slots take elements or PAD,
///    count slots counts or PAD) and a maximum number of elements: by
///    masking the logits;
///  - a chemical system (exactly these elements): by inpainting, its element
///    tokens are fixed in their canonical order and never masked;
///  - required elements and an atom-count range: by rejection; draws that
///    miss them, and draws that decode to no formula (an element twice, out
///    of order, a pair cut in half), are counted and drawn again.
#pragma once

#include <cstdint>
#include <vector>

#include "chem/composition.h"
#include "model/composition_model.h"

namespace xtaldiff {

struct CompositionConstraints {
  std::vector<int> allowed;   ///< elements a formula may hold (empty: any)
  std::vector<int> required;  ///< elements every formula holds
  std::vector<int> system;    ///< exactly these elements (empty: no system)
  int max_elements = 0;       ///< 0: the vocabulary's
  int min_atoms = 0, max_atoms = 0;  ///< cell atom-count range (0: open)
  /// A usage Error when no formula can satisfy them under `vocab`.
  void check(const FormulaVocabulary& vocab) const;
};

struct CompositionSampleOptions {
  int n = 1;
  int steps = 100;
  uint64_t seed = 0;
  /// Condition values by the model's condition index (raw units); others absent.
  std::vector<std::pair<int, double>> conditions;
  double cfg_weight = 1.0;  ///< guided = uncond + w (cond − uncond); 1: the conditional alone
  int batch = 1024;         ///< sequences per network call
  int max_draw_factor = 50; ///< stop after n × this many draws
  torch::Device device = torch::kCPU;
};

struct SampledCompositions {
  std::vector<Composition> compositions;  ///< cell compositions, in draw order
  long draws = 0;       ///< sequences decoded
  long malformed = 0;   ///< not a formula
  long rejected = 0;    ///< a formula that missed a required element or the atom range
  int network_evaluations = 0;  ///< per draw
  bool exhausted = false;       ///< stopped at the draw limit with fewer than n
};

/// Token sets per position [L, V] (true: allowed) under the constraints.
torch::Tensor allowed_tokens(const FormulaVocabulary& vocab, const CompositionConstraints& constraints);

SampledCompositions sample_compositions(CompositionModel& model, const CompositionConstraints& constraints,
                                        const CompositionSampleOptions& options);

}  // namespace xtaldiff
