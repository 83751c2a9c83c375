#include "model/dataset_stats.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "chem/composition.h"
#include "chem/element.h"
#include "util/error.h"

namespace xtaldiff {

namespace {

// {"5": 10, ...} → {5: 10, ...}
std::map<int, long> int_map(const nlohmann::json& j) {
  if (!j.is_object()) throw Error("expected an object of counts, got " + std::string(j.type_name()));
  std::map<int, long> out;
  for (const auto& [key, count] : j.items()) out[std::stoi(key)] = count.get<long>();
  return out;
}

nlohmann::json json_map(const std::map<int, long>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [key, count] : m) j[std::to_string(key)] = count;
  return j;
}

}  // namespace

LabelStats LabelStats::of(std::vector<double> v, const std::string& what) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.size() < 2)
    throw Error(what + " has " + std::to_string(v.size()) + " numeric values; conditioning needs labelled rows",
                ErrorKind::kUsage);
  std::sort(v.begin(), v.end());
  double sum = 0, sq = 0;
  for (double x : v) sum += x, sq += x * x;
  LabelStats s;
  s.labelled = static_cast<long>(v.size());
  s.mean = sum / v.size();
  s.stddev = std::max(1e-6, std::sqrt(std::max(0.0, sq / v.size() - s.mean * s.mean)));
  for (int i = 0; i <= 100; ++i) s.quantiles.push_back(v[static_cast<std::size_t>(std::lround(i / 100.0 * (v.size() - 1)))]);
  return s;
}

nlohmann::json LabelStats::to_json() const {
  return {{"labelled", labelled}, {"mean", mean}, {"stddev", stddev}, {"quantiles", quantiles}};
}

LabelStats LabelStats::from_json(const nlohmann::json& j) {
  LabelStats s;
  s.labelled = j.value("labelled", 0L);
  s.mean = j.value("mean", 0.0);
  s.stddev = j.value("stddev", 1.0);
  if (j.contains("quantiles")) s.quantiles = j.at("quantiles").get<std::vector<double>>();
  return s;
}

DatasetStats DatasetStats::of(const std::vector<Structure>& structures) {
  DatasetStats s;
  s.crystals = static_cast<long>(structures.size());
  for (const auto& c : structures) {
    ++s.num_atoms[static_cast<int>(c.size())];
    const Vec3 len = c.lattice.lengths();
    s.lattice_max_length = std::max({s.lattice_max_length, len[0], len[1], len[2]});
    const Composition comp = c.composition();  // amounts() refers into it
    for (const auto& [z, amount] : comp.amounts()) ++s.elements[z];
  }
  return s;
}

nlohmann::json DatasetStats::to_json() const {
  nlohmann::json j = {{"crystals", crystals},
                      {"num_atoms", json_map(num_atoms)},
                      {"elements", json_map(elements)},
                      {"lattice_max_length", lattice_max_length}};
  if (!spacegroups.empty()) j["spacegroups"] = json_map(spacegroups);
  if (!properties.empty()) {
    j["properties"] = nlohmann::json::object();
    for (const auto& [column, label] : properties) j["properties"][column] = label.to_json();
  }
  return j;
}

DatasetStats DatasetStats::from_json(const nlohmann::json& j) {
  DatasetStats s;
  if (!j.is_object()) return s;
  try {
    s.crystals = j.value("crystals", 0L);
    s.num_atoms = int_map(j.value("num_atoms", nlohmann::json::object()));
    s.elements = int_map(j.value("elements", nlohmann::json::object()));
    s.lattice_max_length = j.value("lattice_max_length", 0.0);
    s.spacegroups = int_map(j.value("spacegroups", nlohmann::json::object()));
    const nlohmann::json properties = j.value("properties", nlohmann::json::object());  // items() must not outlive it
    for (const auto& [column, label] : properties.items()) s.properties[column] = LabelStats::from_json(label);
  } catch (const std::exception& e) {
    throw Error("damaged model file: its dataset statistics are unreadable (" + std::string(e.what()) + ")");
  }
  return s;
}

DatasetStats DatasetStats::from_metadata(const nlohmann::json& metadata) {
  if (!metadata.is_object()) return {};
  return from_json(metadata.value("dataset_stats", nlohmann::json::object()));
}

std::vector<int> DatasetStats::element_list() const {
  std::vector<int> zs;
  for (const auto& [z, count] : elements) zs.push_back(z);
  return zs;
}

std::string extrapolation_reason(const DatasetStats& stats, const std::vector<int>& species) {
  std::string reason;
  if (!stats.elements.empty()) {
    std::set<int> unseen;
    for (int z : species)
      if (!stats.saw(z)) unseen.insert(z);
    std::string names;
    for (int z : unseen) names += (names.empty() ? "" : ", ") + element(z).symbol;
    if (!unseen.empty()) reason = names + (unseen.size() == 1 ? " was" : " were") + " never seen in training";
  }
  const std::string atoms = atom_count_reason(stats, static_cast<int>(species.size()));
  if (!atoms.empty()) reason += (reason.empty() ? "" : "; ") + atoms;
  return reason;
}

std::string atom_count_reason(const DatasetStats& stats, int atoms) {
  if (stats.num_atoms.empty() || (atoms >= stats.min_atoms() && atoms <= stats.max_atoms())) return "";
  return std::to_string(atoms) + " atoms in the cell, training had " + std::to_string(stats.min_atoms()) + "-" +
         std::to_string(stats.max_atoms());
}

}  // namespace xtaldiff
