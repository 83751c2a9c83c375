/// @file
/// `xtaldiff discover`: from formulas to ranked crystal structures, the
/// pipeline of Dong et al. and Chemeleon's scans in one resumable command
/// (issue 20). Stages, each counted in the funnel:
///  1. formulas: a file (any list of formulas or structures) or drawn from a
///     composition model under its constraints and conditions;
///  2. screen: distinct reduced formulas, SMACT-valid, elements the CSP model
///     saw in training, and at least one multiple of the formula unit within
///     its training atom counts (a file's formulas are also filtered by the
///     element constraints);
///  3. structures: CSP with the structure model, `per_composition` samples
///     of each of up to `max_formula_units` multiples; in chunks written to
///     DIR/stages/ as they finish, so a killed run resumes at its next chunk;
///  4. structurally valid (0.5 Å, 0.1 Å³);
///  5. predicted formation energy and energy above the hull of a labelled
///     dataset (model/predicted_stability.h; an estimate, never DFT);
///  6. duplicates removed (pymatgen's default StructureMatcher within each
///     reduced formula; the lowest predicted E_hull kept);
/// then DIR/candidates.csv ranked by predicted E_hull, DIR/cifs/, a
/// report.html and manifest.json (options, funnel, seconds per stage).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xtaldiff {

struct DiscoverOptions {
  std::string out;
  // Stage 1.
  std::string compositions;       ///< a file of formulas or structures, or
  std::string composition_model;  ///< a composition model to draw `n` formulas from
  int n = 1000;
  std::string system, elements, require;  ///< constraints (model: enforced; file: a filter)
  int max_elements = 0;
  std::vector<std::string> targets;        ///< composition-model conditions, COLUMN=VALUE
  double cfg_weight = 1.0;
  // Stage 3.
  std::string csp_model;
  int per_composition = 2, max_formula_units = 2;
  std::string sampler = "auto";
  int steps = 0;
  int chunk = 32;  ///< compositions per resumable CSP chunk
  // Stage 5.
  std::string predictor;  ///< property model of `hull_column` ("" = no ranking by energy)
  std::string hull;       ///< labelled entries of the hull ("" = the predictor's training data)
  std::string hull_column = "formation_energy_per_atom";
  double stable_threshold = 0.1;  ///< eV/atom: "predicted stable"
  uint64_t seed = 0;
  std::string device = "cpu";
  bool quiet = false;

  /// What a resumed run must share with the stages on disk.
  nlohmann::json identity() const;
};

/// Runs (or resumes) the pipeline into options.out and returns the manifest.
/// Impossible requests are usage Errors before any work.
nlohmann::ordered_json run_discovery(const DiscoverOptions& options, const std::string& command_line);

}  // namespace xtaldiff
