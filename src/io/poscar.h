/// @file
/// VASP 5 POSCAR/CONTCAR: comment, scale (negative = target volume), three
/// lattice vectors, species line, counts line, optional "Selective dynamics",
/// Direct/Cartesian coordinates. VASP 4 files (no species line) are refused
/// with a message saying so, since their species live in a POTCAR.
#pragma once

#include <string>
#include <string_view>

#include "crystal/structure.h"

namespace xtaldiff {

Structure read_poscar(std::string_view text, const std::string& source);
/// VASP 5 layout, Direct coordinates, species grouped in first-appearance order.
std::string write_poscar(const Structure& s, const std::string& comment);

}  // namespace xtaldiff
