/// @file
/// CIF 1.1 reading and writing for crystal structures.
///
/// The reader takes real-world crystal CIFs, not only pymatgen's P1 output:
/// several data blocks, quoted values and semicolon text fields, numbers
/// with standard uncertainties (`5.431(2)`), symmetry operations under
/// `_symmetry_equiv_pos_as_xyz` or `_space_group_symop_operation_xyz` (sites
/// are expanded and duplicates within 1e-3 fractional, ~0.01 Å, merged),
/// species from `_atom_site_type_symbol` or else from `_atom_site_label`
/// (oxidation-state suffixes such as `Fe3+` are stripped). Fields read:
/// `_cell_length_a/b/c`, `_cell_angle_alpha/beta/gamma`, the symmetry-op loop,
/// `_atom_site_fract_x/y/z`, `_atom_site_occupancy`. Partial occupancy is
/// refused unless CifOptions::allow_partial_occupancy.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "crystal/structure.h"

namespace xtaldiff {

struct CifOptions {
  /// Accept sites with occupancy < 1 by keeping them as full sites (the
  /// caller opted in); by default they are an error.
  bool allow_partial_occupancy = false;
  /// Fractional distance below which expanded sites are merged.
  double merge_tolerance = 1e-3;
  /// Whether two *listed* sites that land within merge_tolerance are one
  /// atom (true, as pymatgen reads database CIFs), or only the images of
  /// one site under the symmetry operations merge (false: how generated
  /// structures are read for evaluation, where two atoms on one spot are a
  /// defect to score, as CDVAE scores the raw arrays).
  bool merge_distinct_sites = true;
};

struct NamedStructure {
  std::string name;  ///< the data block name (or record id)
  Structure structure;
};

/// Parses every data block holding a crystal. `source` names the text in
/// errors ("file.cif:42: ..."), `first_line` offsets the line numbers (for a
/// CIF embedded in a CSV field). Throws Error on malformed input.
std::vector<NamedStructure> read_cif(std::string_view text, const std::string& source, const CifOptions& options = {},
                                     long first_line = 1);
/// One structure: the first crystal block; throws when there is none.
Structure read_cif_single(std::string_view text, const std::string& source, const CifOptions& options = {},
                          long first_line = 1);

/// P1 CIF in pymatgen's layout (all sites listed, `_symmetry_equiv_pos_as_xyz`
/// = x,y,z). Values printed with 8 decimals like pymatgen's CifWriter.
std::string write_cif_p1(const Structure& s, const std::string& block_name);
/// Symmetrised CIF: the space group spglib finds at `symprec`, its symmetry
/// operations in the cell of the standard conventional setting, and one site
/// per Wyckoff orbit (with multiplicity and Wyckoff letter). Reading it back
/// and expanding gives the same crystal (pymatgen and VESTA agree).
std::string write_cif_symmetrized(const Structure& s, const std::string& block_name, double symprec);

}  // namespace xtaldiff
