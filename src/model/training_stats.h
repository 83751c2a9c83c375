/// @file
/// What a model's training set held, as the trainer records it in the model
/// file's metadata ("dataset_stats", see train/trainer.h): the histogram of
/// atoms per cell and the elements seen. `sample` draws de novo atom counts
/// from it, picks the Z of a CSP composition by it, and warns when a request
/// lies outside it (an element never seen, a cell larger than any in
/// training): such a result is an extrapolation, and the user is told so.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xtaldiff {

struct TrainingStats {
  std::map<int, long> num_atoms;  ///< atoms per cell → training crystals
  std::vector<int> elements;      ///< atomic numbers seen, sorted

  /// From a model file's metadata; empty when it records no statistics
  /// (files older than the statistics). Throws Error when they are damaged.
  static TrainingStats from_metadata(const nlohmann::json& metadata);

  bool empty() const { return num_atoms.empty() && elements.empty(); }
  bool saw(int z) const;
  int min_atoms() const { return num_atoms.empty() ? 0 : num_atoms.begin()->first; }
  int max_atoms() const { return num_atoms.empty() ? 0 : num_atoms.rbegin()->first; }
};

/// Why a crystal of these atoms lies outside what the model learned, e.g.
/// "Pu never seen in training; 48 atoms, training had 1-20"; "" when it
/// does not (or the model records no statistics).
std::string extrapolation_reason(const TrainingStats& stats, const std::vector<int>& species);

/// The atom-count part alone (de novo requests): "" inside the training range.
std::string atom_count_reason(const TrainingStats& stats, int atoms);

}  // namespace xtaldiff
