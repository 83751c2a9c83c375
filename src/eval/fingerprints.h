/// @file
/// The two fingerprints behind the COV-R / COV-P coverage metrics of CDVAE and
/// DiffCSP, computed natively and matching their Python (matminer on pymatgen):
///
///  - structure: matminer's `CrystalNNFingerprint.from_preset("ops")`, which
///    CDVAE builds with no keyword arguments, so pymatgen's `CrystalNN` runs
///    with its defaults (distance_cutoffs = (0.5, 1) Å beyond the sum of
///    covalent radii, x_diff_weight = 3 on pymatgen electronegativities,
///    porous_adjustment, search_cutoff = 7 Å); per site: the CrystalNN weight
///    of every coordination number 1..24 and, for CN 1..12, that weight times
///    local structure order parameters of the CN's neighbours (pymatgen's
///    `LocalStructOrderParams` with matminer's motif list): 61 numbers,
///    averaged over the sites.
///  - composition: matminer's `ElementProperty.from_preset("magpie")`: 22
///    Magpie element properties (data/reference/magpie/*.table), each reduced
///    by minimum, maximum, range, mean, avg_dev and mode weighted by the
///    element amounts: 132 numbers (NaN where a table says `Missing`); then
///    CDVAE's fixed standardisation (data/reference/cdvae_magpie_scaler.json,
///    NaN → 0).
///
/// CrystalNN's neighbour candidates are the faces of the site's Voronoi cell,
/// built here by clipping a box with the bisector planes of every periodic
/// image within the search cutoff (what scipy's Voronoi of those points gives
/// for the central cell; the cutoff doubles when the cell is open, as in
/// pymatgen's VoronoiNN). Agreement with pymatgen is ~1e-14 except for one
/// feature, "body-centered cubic CN_8": pymatgen's bcc parameter depends on
/// the order of equal-weight neighbours and flips sign for perpendicular ones,
/// so its value there follows qhull's rounding noise (it even differs between
/// symmetry-equivalent sites); we differ by up to ~0.004 on 2 of 8388 shipped
/// crystals. METRICS.md ("De novo generation") states the metric;
/// tools/make_fingerprint_fixtures.py transcribes the Python and writes the
/// fixtures tests/test_fingerprints.cpp compares with.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "chem/composition.h"
#include "crystal/structure.h"

namespace xtaldiff {

constexpr int kCrystalNNFingerprintSize = 61;  ///< matminer "ops" preset, CN 1..24
constexpr int kMagpieFingerprintSize = 132;    ///< 22 properties × 6 statistics

/// pymatgen `CrystalNN` settings; the defaults are CDVAE's (pymatgen's own).
/// For a purely geometric CrystalNN set `use_distance_cutoffs = false` and
/// `x_diff_weight = 0`.
struct CrystalNNOptions {
  bool use_distance_cutoffs = true;
  double distance_cutoff_low = 0.5;   ///< Å beyond the covalent radii sum: weight starts to fall
  double distance_cutoff_high = 1.0;  ///< Å beyond it: weight 0
  double x_diff_weight = 3.0;         ///< electronegativity-difference preference
  bool porous_adjustment = true;      ///< weight × solid angle / face area
  double search_cutoff = 7.0;         ///< Å, first radius for Voronoi candidates
};

/// One CrystalNN neighbour: the site index, its periodic image (the
/// neighbour sits at (frac[site] + image)·L, the centre at frac[centre]·L,
/// fractional coordinates in [0, 1)), its position relative to the centre
/// (Cartesian Å) and its final weight (rounded to 3 decimals as pymatgen does).
struct CrystalNNNeighbor {
  std::size_t site = 0;
  std::array<int, 3> image{};
  Vec3 offset{};
  double weight = 0;
};

/// `CrystalNN.get_nn_data`: the weighted neighbours (highest weight first) and,
/// for each coordination number with non-zero probability, that probability.
/// The neighbours of CN k are the first k entries of `neighbors`. CN 0 holds
/// whatever probability is left. Throws Error when the Voronoi cell cannot be
/// closed within the cell's longest diagonal, or when a neighbour's element has
/// no covalent or atomic radius in pymatgen (Z > 96) — the cases where pymatgen
/// raises and CDVAE counts the crystal as invalid.
struct CrystalNNData {
  std::vector<CrystalNNNeighbor> neighbors;
  std::map<int, double> cn_weights;
};
CrystalNNData crystalnn_data(const Structure& s, std::size_t site, const CrystalNNOptions& options = {});

/// One order parameter of the "ops" preset, by matminer's motif name and the
/// CN it belongs to (`motif_order_parameter(6, "octahedral", offsets)`), for
/// neighbours at `offsets` (Cartesian, from the centre); pymatgen's None (too
/// few neighbours) is 0, as matminer uses it. The "body-centered cubic" value,
/// like pymatgen's, depends on the order of the neighbours. Throws Error for an
/// unknown motif.
double motif_order_parameter(int cn, const std::string& motif, const std::vector<Vec3>& offsets);

/// matminer `CrystalNNFingerprint.featurize(s, site)` ("ops" preset): 61 numbers.
std::vector<double> crystalnn_site_fingerprint(const Structure& s, std::size_t site,
                                               const CrystalNNOptions& options = {});
/// CDVAE's structure fingerprint: the site fingerprints averaged over sites.
std::vector<double> crystalnn_fingerprint(const Structure& s, const CrystalNNOptions& options = {});
/// matminer's feature labels ("wt CN_1", "sgl_bd CN_1", "L-shaped CN_2", ...,
/// "cuboctahedral CN_12", ..., "wt CN_24").
const std::vector<std::string>& crystalnn_fingerprint_labels();

/// matminer `ElementProperty.from_preset("magpie").featurize(c)`: 132 numbers,
/// property-major (Number: min, max, range, mean, avg_dev, mode; then
/// MendeleevNumber ...); NaN where a property is missing for an element.
std::vector<double> magpie_fingerprint(const Composition& c);
/// Labels as matminer's ("MagpieData minimum Number", ...).
const std::vector<std::string>& magpie_fingerprint_labels();
/// CDVAE's CompScaler: (v - mean) / std with its fixed constants, NaN → 0.
std::vector<double> standardize_magpie(std::vector<double> v);

}  // namespace xtaldiff
