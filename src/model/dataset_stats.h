/// @file
/// What a model's training set held: the typed part of a model card. The
/// trainer computes it (`DatasetStats::of`, plus labels and space groups for
/// conditioned models) and stores it in the model file's metadata as
/// "dataset_stats"; `sample` reads it back to draw de novo atom counts, pick
/// the Z of a CSP composition, clamp lattice steps, draw property-range
/// conditions, and warn when a request lies outside it (an element never
/// seen, a cell larger than any in training): such a result is an
/// extrapolation, and the user is told so. `xtaldiff model` prints it.
///
/// JSON (keys as integers in text, as JSON objects need):
///   {"crystals": n, "num_atoms": {"5": crystals, ...},
///    "elements": {"8": crystals containing Z=8, ...},
///    "lattice_max_length": longest cell vector (Å),
///    "spacegroups": {"221": crystals, ...},                 (space-group conditioned)
///    "properties": {"band_gap": {"labelled": n, "mean": m,  (property conditioned)
///                                "stddev": s, "quantiles": [101 values]}}}
/// Every key is optional on reading (older model files lack some).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crystal/structure.h"

namespace xtaldiff {

/// A property column's training labels: what conditioning standardises
/// with (mean, stddev) and draws ranges from (101 quantiles, 0 %..100 %).
struct LabelStats {
  long labelled = 0;
  double mean = 0, stddev = 1;
  std::vector<double> quantiles;  ///< empty when the file records none

  /// Of the finite values of `labels` (at least two, else Error naming `what`).
  static LabelStats of(std::vector<double> labels, const std::string& what);
  nlohmann::json to_json() const;
  static LabelStats from_json(const nlohmann::json& j);
};

struct DatasetStats {
  long crystals = 0;
  std::map<int, long> num_atoms;    ///< atoms per cell → training crystals
  std::map<int, long> elements;     ///< Z → training crystals containing it
  double lattice_max_length = 0;    ///< Å; 0 = not recorded
  std::map<int, long> spacegroups;  ///< space-group number → crystals (conditioned models)
  std::map<std::string, LabelStats> properties;  ///< conditioning column → its labels

  /// Crystals, atom counts, elements and the longest cell vector of a set.
  static DatasetStats of(const std::vector<Structure>& structures);
  nlohmann::json to_json() const;
  /// Throws Error ("damaged model file: ...") when a present key is unreadable.
  static DatasetStats from_json(const nlohmann::json& j);
  /// From a model file's metadata; empty when it records no statistics.
  static DatasetStats from_metadata(const nlohmann::json& metadata);

  bool empty() const { return num_atoms.empty() && elements.empty(); }
  bool saw(int z) const { return elements.count(z) > 0; }
  /// The atomic numbers seen, ascending.
  std::vector<int> element_list() const;
  int min_atoms() const { return num_atoms.empty() ? 0 : num_atoms.begin()->first; }
  int max_atoms() const { return num_atoms.empty() ? 0 : num_atoms.rbegin()->first; }
};

/// Why a crystal of these atoms lies outside what the model learned, e.g.
/// "Pu never seen in training; 48 atoms, training had 1-20"; "" when it
/// does not (or the model records no statistics).
std::string extrapolation_reason(const DatasetStats& stats, const std::vector<int>& species);

/// The atom-count part alone (de novo requests): "" inside the training range.
std::string atom_count_reason(const DatasetStats& stats, int atoms);

}  // namespace xtaldiff
