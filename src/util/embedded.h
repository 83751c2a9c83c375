/// @file
/// Reference data files compiled into the library (see cmake/embed_data.cmake),
/// so an installed `xtaldiff` needs no data path at run time. The originals
/// live in data/reference and are the files to edit.
#pragma once

#include <string_view>

namespace xtaldiff {

/// Contents of data/reference/NAME (e.g. "elements.tsv",
/// "smact-2.2.1/oxidation_states.txt"); throws Error for an unknown name.
std::string_view embedded_file(std::string_view name);

}  // namespace xtaldiff
