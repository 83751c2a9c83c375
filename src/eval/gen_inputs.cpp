#include "eval/gen_inputs.h"

#include <cmath>

#include "io/formats.h"
#include "util/error.h"

namespace xtaldiff {

GeneratedSamples read_generated_samples(const std::string& path, const std::string& energy_column) {
  ReadOptions ro;
  ro.overlap_tolerance = 0;
  ro.keep_going = true;
  // Generated atoms that coincide are a defect to score, not to merge: only
  // the images of one site under symmetry operations are one atom.
  ro.cif.merge_tolerance = 1e-6;
  ro.cif.merge_distinct_sites = false;
  Dataset d = read_structures(path, ro);
  GeneratedSamples s;
  s.unreadable.assign(d.errors.begin(), d.errors.end());
  if (auto col = d.column(energy_column))
    for (std::size_t i = 0; i < d.size(); ++i) s.e_above_hull.push_back(d.number(i, *col).value_or(NAN));
  for (auto& r : d.records) {
    s.ids.push_back(r.id);
    s.structures.push_back(std::move(r.structure));
  }
  return s;
}

std::vector<Structure> read_reference_structures(const std::string& path) {
  ReadOptions ro;
  ro.overlap_tolerance = 0;
  Dataset d = read_structures(path, ro);
  std::vector<Structure> out;
  out.reserve(d.size());
  for (auto& r : d.records) out.push_back(std::move(r.structure));
  return out;
}

ConvexHull convex_hull_of_dataset(const std::string& path, const std::string& column) {
  const Dataset d = read_structures(path, ReadOptions{});
  const auto col = d.column(column);
  if (!col) throw Error(path + ": no column '" + column + "' for the convex hull (--hull-column)", ErrorKind::kUsage);
  std::vector<HullEntry> entries;
  for (std::size_t i = 0; i < d.size(); ++i)
    if (const auto v = d.number(i, *col); v && std::isfinite(*v))
      entries.push_back({d.records[i].id, d.records[i].structure.composition(), *v});
  if (entries.empty()) throw Error(path + ": no row has a value in column '" + column + "'", ErrorKind::kInput);
  return ConvexHull(std::move(entries));
}

}  // namespace xtaldiff
