/// @file
/// `report.html`: one self-contained page (inline CSS, no scripts, no
/// network) describing a set of structures the way a materials scientist
/// looks at them first: what was run, how many are valid, which space
/// groups and compositions came out, how the requested targets fared, and
/// one row per structure (formula, cell, density, shortest distance,
/// validity, extra columns) linking to its CIF. `sample` writes it beside
/// the CIFs; it only reads the structures and the run's manifest.
#pragma once

#include <string>

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
  /// recognised; every other column is shown as it is.
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
  /// At most this many structure rows (the summary covers all of them).
  std::size_t max_rows = 2000;
};

/// Summary numbers of a report, for callers and tests.
struct SampleReportSummary {
  std::size_t structures = 0, structurally_valid = 0, compositionally_valid = 0, valid = 0;
  std::size_t distinct_formulas = 0, distinct_spacegroups = 0;
};

/// The page's HTML, and its summary numbers in `summary` when given.
std::string sample_report_html(const SampleReportInput& input, SampleReportSummary* summary = nullptr);

/// Escapes &, <, >, " and ' for HTML text and attribute values.
std::string html_escape(const std::string& text);

}  // namespace xtaldiff
