/// @file
/// The validity checks of the field's generation metrics, exactly as CDVAE and
/// DiffCSP compute them (`structure_validity` and `smact_validity` in their
/// scripts/eval_utils.py, with SMACT 2.2.1 and pymatgen):
///
///  - structural: volume >= 0.1 Å³ and no two distinct sites closer than
///    0.5 Å. Distances follow pymatgen's `Structure.distance_matrix`: sites in
///    the LLL-reduced basis wrapped into [0, 1), 27 neighbouring images. A
///    site's distance to its own images is not tested.
///  - compositional (SMACT 2.2.1 rules), on the counts divided by their gcd,
///    elements in order of Z: one element → valid; every element in SMACT's
///    `metals` list → valid (alloy); more than 1e7 oxidation-state
///    combinations → invalid (DiffCSP's limit); else valid when a choice of
///    one SMACT14 oxidation state per element is charge neutral and passes
///    SMACT's `pauling_test`.
///
/// The Pauling test is SMACT 2.2.1's `eneg_states_test` run under CDVAE's
/// `try/except TypeError`, which matters only for elements without a Pauling
/// value in SMACT's table (Pm, Rn, Lr; He, Ne, Ar have no oxidation states):
/// pairs (i < j) are visited in order and the first that decides wins —
/// cation i / anion j with EN_i >= EN_j (or anion i / cation j with
/// EN_i <= EN_j) fails; such a cation/anion pair with a missing EN passes the
/// whole test (the TypeError); any other pair with a missing EN fails it.
/// So NaPmCl4 is invalid (Na+ and Pm3+ meet first) while PmCl3 is valid.
///
/// METRICS.md ("Structure validity", "Compositional validity") states the
/// rules; tools/make_validity_fixtures.py transcribes the Python this file
/// reproduces and writes the fixtures tests/test_validity.cpp compares with.
#pragma once

#include "chem/composition.h"
#include "crystal/structure.h"

namespace xtaldiff {

/// CDVAE's `structure_validity`: volume >= `min_volume` Å³ and every pair of
/// distinct sites at least `cutoff` Å apart (pymatgen distances, see above).
/// Non-finite cells or coordinates, and structures without sites, are invalid.
bool structure_valid(const Structure& s, double cutoff = 0.5, double min_volume = 0.1);

/// CDVAE/DiffCSP's `smact_validity` with SMACT 2.2.1 (Pauling test on,
/// alloys included). Results are cached per reduced composition (thread
/// safe). An empty composition is invalid; throws Error when an amount is not
/// a positive integer (within 1e-8).
bool composition_valid(const Composition& c);

struct Validity {
  bool structural = false;
  bool compositional = false;
  bool valid() const { return structural && compositional; }
};

/// Both checks on one structure (composition from its sites).
Validity check_validity(const Structure& s);

/// Number of oxidation-state combinations SMACT would enumerate for the
/// elements of `c` (product of the table's list lengths), saturating at
/// 2^62. Above 1e7, composition_valid gives up (as DiffCSP does).
long long oxidation_state_combinations(const Composition& c);

}  // namespace xtaldiff
