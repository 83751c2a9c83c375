/// @file
/// Formulas from a file: a CSV with a `formula` column and no `cif` column
/// (what `sample` writes for a composition model, compositions.csv, or any
/// list of formulas), else the cell compositions of the structures of any
/// file or dataset xtaldiff reads.
#pragma once

#include <string>
#include <vector>

#include "chem/composition.h"

namespace xtaldiff {

/// Throws Error naming the file and line for a formula that does not parse.
std::vector<Composition> read_compositions(const std::string& path);

}  // namespace xtaldiff
