/// @file
/// Extended XYZ in ASE's convention: per frame, an atom count line, a comment
/// line of key=value pairs (`Lattice="ax ay az bx by bz cx cy cz"`,
/// `Properties=species:S:1:pos:R:3`, `pbc="T T T"`, other keys kept as
/// properties), then one line per atom with Cartesian positions in Å.
#pragma once

#include <string>
#include <string_view>

#include "io/dataset.h"

namespace xtaldiff {

/// All frames. The id of a frame is its `material_id` (or `id`) key, else
/// its index. Throws Error with the line number on malformed input.
Dataset read_extxyz(std::string_view text, const std::string& source);
std::string write_extxyz(const Dataset& data);

}  // namespace xtaldiff
