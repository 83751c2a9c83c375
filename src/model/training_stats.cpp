#include "model/training_stats.h"

#include <algorithm>
#include <set>

#include "chem/element.h"
#include "util/error.h"

namespace xtaldiff {

TrainingStats TrainingStats::from_metadata(const nlohmann::json& metadata) {
  TrainingStats s;
  if (!metadata.is_object()) return s;
  const nlohmann::json j = metadata.value("dataset_stats", nlohmann::json::object());
  const nlohmann::json atoms = j.value("num_atoms", nlohmann::json::object());
  const nlohmann::json elements = j.value("elements", nlohmann::json::object());
  try {
    for (const auto& [key, count] : atoms.items()) s.num_atoms[std::stoi(key)] = count.get<long>();
    for (const auto& [key, count] : elements.items()) s.elements.push_back(std::stoi(key));
  } catch (const std::exception& e) {
    throw Error("damaged model file: its dataset statistics are unreadable (" + std::string(e.what()) + ")");
  }
  std::sort(s.elements.begin(), s.elements.end());
  return s;
}

bool TrainingStats::saw(int z) const { return std::binary_search(elements.begin(), elements.end(), z); }

std::string extrapolation_reason(const TrainingStats& stats, const std::vector<int>& species) {
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

std::string atom_count_reason(const TrainingStats& stats, int atoms) {
  if (stats.num_atoms.empty() || (atoms >= stats.min_atoms() && atoms <= stats.max_atoms())) return "";
  return std::to_string(atoms) + " atoms in the cell, training had " + std::to_string(stats.min_atoms()) + "-" +
         std::to_string(stats.max_atoms());
}

}  // namespace xtaldiff
