/// @file
/// JSON structures. Writes xtaldiff's layout:
///   {"format": "xtaldiff.structures", "version": 1, "columns": [...],
///    "structures": [{"id", "lattice": 3×3 rows Å, "species": ["Ti", ...],
///                    "frac_coords": N×3, "properties": {column: text}}]}
/// Reads that layout, and also pymatgen's `Structure.as_dict()` (one object
/// or a list of them: "lattice": {"matrix"}, "sites": [{"species": [{"element",
/// "occu"}], "abc"}]), refusing partial occupancy.
#pragma once

#include <string>
#include <string_view>

#include "io/dataset.h"

namespace xtaldiff {

Dataset read_json_structures(std::string_view text, const std::string& source);
std::string write_json_structures(const Dataset& data);

}  // namespace xtaldiff
