/// @file
/// How `eval gen` reads its inputs, shared by the CLI and the Python
/// module's `eval_gen`: generated samples are scored, never refused (atoms
/// that overlap are kept, unreadable records become empty structures that
/// count invalid), and a sample file may carry each crystal's energy above
/// the hull; the convex hull of a labelled dataset is built from its rows.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "crystal/structure.h"
#include "eval/convex_hull.h"
#include "eval/gen_metrics.h"

namespace xtaldiff {

struct GeneratedSamples {
  std::vector<Structure> structures;  ///< empty Structure: unreadable record
  std::vector<std::string> ids;
  /// Values of the energy column, NaN where missing; empty when the file
  /// has no such column.
  std::vector<double> e_above_hull;
  /// (record index, message) of every unreadable record.
  std::vector<std::pair<std::size_t, std::string>> unreadable;
};

GeneratedSamples read_generated_samples(const std::string& path, const std::string& energy_column = "e_above_hull");

/// A reference or training set: every record must be readable (overlapping
/// atoms allowed), or Error names the file and record.
std::vector<Structure> read_reference_structures(const std::string& path);

/// Hull entries from every row of `path` with a numeric `column` (eV/atom).
/// Error (kUsage) when the column is missing, (kInput) when no row has a value.
ConvexHull convex_hull_of_dataset(const std::string& path, const std::string& column);

}  // namespace xtaldiff
