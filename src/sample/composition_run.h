/// @file
/// `xtaldiff sample` with a composition model: the request's options that
/// apply to formulas (-n, --elements, --require, --system, --max-elements,
/// --atoms, --target COLUMN=VALUE, --guidance, --steps, --seed) become
/// the sampler's constraints and conditions (sample/composition_sampler.h),
/// checked before any work; the others are a usage Error. The run writes
/// DIR/compositions.csv (formula, reduced_formula, num_atoms, num_elements,
/// smact_valid, novel against the model's training formulas, the condition
/// values) and DIR/manifest.json, into a folder that appears whole
/// (util/staged_directory.h).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/composition_model.h"
#include "sample/composition_sampler.h"
#include "sample/request.h"

namespace xtaldiff {

struct CompositionRun {
  SampledCompositions sampled;
  CompositionConstraints constraints;
  std::vector<std::pair<std::string, double>> conditions;  ///< requested values by name
  std::vector<std::string> warnings;  ///< outside what the model learned
  int steps = 0;
  double seconds = 0;
};

/// One output row's facts.
struct CompositionRow {
  std::string formula, reduced_formula;
  int num_atoms = 0, num_elements = 0;
  bool smact_valid = false, novel = false;
};

/// The request's constraints and conditions under `model` (see the file comment).
CompositionRun plan_composition_run(const SampleRequest& request, const CompositionModel& model,
                                    const nlohmann::json& metadata);
/// Samples the planned run.
void run_composition_sampling(CompositionRun& run, const SampleRequest& request, CompositionModel& model);
/// Rows of the compositions, novelty against `metadata["training_formulas"]`.
std::vector<CompositionRow> composition_rows(const std::vector<Composition>& compositions,
                                             const nlohmann::json& metadata);
/// Writes DIR/compositions.csv and DIR/manifest.json; returns the manifest.
nlohmann::json write_composition_run(const std::string& out_dir, const SampleRequest& request, const CompositionRun& run,
                                     const nlohmann::json& metadata, const std::string& command_line);

}  // namespace xtaldiff
