/// @file
/// What report.html shows, as one JSON document (the page's script,
/// src/report/assets/report.js, draws it): the run, summary counts, one
/// compact record per structure (formula, cell, density, shortest distance,
/// validity, space group, extra columns, its atoms as a string decoded only
/// when the structure is viewed), the reference set's distributions
/// (density, volume per atom, atoms, elements, space groups, property
/// columns) and, for CSP runs, each prediction's ground truth, match and
/// RMS with the run's match rate, RMSE and space-group recovery as
/// `eval csp --only-predicted` computes them.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/validity.h"
#include "io/dataset.h"

namespace xtaldiff {

struct SampleReportInput {
  std::string title = "xtaldiff sample report";
  /// The run's manifest.json; its "command", "model", "sampler", "steps",
  /// "network_evaluations_per_crystal", "seconds", "crystals" and the
  /// condition / target reports are shown when present.
  nlohmann::json manifest = nlohmann::json::object();
  /// The structures. A column "spacegroup" (spglib number) and "sample" are
  /// recognised; every other column is shown as it is (and plotted when
  /// every value is a number).
  const Dataset* structures = nullptr;
  /// Validity of each structure when the caller has checked it already
  /// (`validate`); null: the report checks them.
  const std::vector<Validity>* validity = nullptr;
  /// Folder of the CIFs relative to the report, named `ID_SAMPLE.cif` as
  /// `sample` writes them; empty: no links.
  std::string cif_folder = "cifs";
  /// Folder of the symmetrised CIFs (same names); empty: none.
  std::string symmetrized_folder;
  /// Without a "spacegroup" column, find each structure's group with spglib
  /// (symprec 0.1) when true; otherwise leave space groups out.
  bool find_spacegroups = true;
  /// A set to compare the distributions with (e.g. the test split), or null.
  const Dataset* reference = nullptr;
  /// Ground truth of a CSP run (structures named by id, or `<id>_<k>`), or
  /// null: each prediction is matched against its own crystal.
  const Dataset* ground_truth = nullptr;
  int threads = 0;  ///< spglib and StructureMatcher threads; 0: all cores
  /// Called as work completes: (items done, items in all).
  std::function<void(std::size_t, std::size_t)> progress;
};

/// Summary numbers of a report, for callers and tests.
struct SampleReportSummary {
  std::size_t structures = 0, structurally_valid = 0, compositionally_valid = 0, valid = 0;
  std::size_t distinct_formulas = 0, distinct_spacegroups = 0;
};

/// The page's data, and its summary numbers in `summary` when given.
nlohmann::json report_data(const SampleReportInput& input, SampleReportSummary* summary = nullptr);

}  // namespace xtaldiff
