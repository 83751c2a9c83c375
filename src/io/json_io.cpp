#include "io/json_io.h"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "chem/element.h"
#include "util/error.h"
#include "util/strings.h"

namespace xtaldiff {
namespace {

using nlohmann::json;

double finite(const json& v, const std::string& where) {
  if (!v.is_number()) throw Error(where + ": expected a number");
  const double d = v.get<double>();
  if (!std::isfinite(d)) throw Error(where + ": non-finite number");
  return d;
}

Mat3 matrix3(const json& v, const std::string& where) {
  if (!v.is_array() || v.size() != 3) throw Error(where + ": expected a 3×3 array");
  Mat3 m{};
  for (int i = 0; i < 3; ++i) {
    if (!v[i].is_array() || v[i].size() != 3) throw Error(where + ": expected a 3×3 array");
    for (int j = 0; j < 3; ++j) m[i][j] = finite(v[i][j], where);
  }
  return m;
}

Vec3 vec3(const json& v, const std::string& where) {
  if (!v.is_array() || v.size() != 3) throw Error(where + ": expected 3 numbers");
  return {finite(v[0], where), finite(v[1], where), finite(v[2], where)};
}

int species_z(const json& v, const std::string& where) {
  if (!v.is_string()) throw Error(where + ": species must be an element symbol");
  auto z = find_element(v.get<std::string>());
  if (!z) throw Error(where + ": unknown element '" + excerpt(v.get<std::string>()) + "'");
  return *z;
}

Record from_xtaldiff(const json& j, const std::string& where, std::vector<std::string>& columns) {
  Record rec;
  rec.id = j.value("id", "");
  rec.structure.lattice = Lattice(matrix3(j.at("lattice"), where + " lattice"));
  const json& sp = j.at("species");
  const json& fc = j.at("frac_coords");
  if (!sp.is_array() || !fc.is_array() || sp.size() != fc.size())
    throw Error(where + ": 'species' and 'frac_coords' must be arrays of the same length");
  for (std::size_t i = 0; i < sp.size(); ++i) {
    rec.structure.species.push_back(species_z(sp[i], where + " site " + std::to_string(i + 1)));
    rec.structure.frac.push_back(vec3(fc[i], where + " site " + std::to_string(i + 1)));
  }
  rec.values.assign(columns.size(), "");
  if (j.contains("properties") && j["properties"].is_object()) {
    for (auto& [k, v] : j["properties"].items()) {
      auto it = std::find(columns.begin(), columns.end(), k);
      if (it == columns.end()) continue;
      rec.values[static_cast<std::size_t>(it - columns.begin())] = v.is_string() ? v.get<std::string>() : v.dump();
    }
  }
  return rec;
}

Record from_pymatgen(const json& j, const std::string& where) {
  Record rec;
  rec.structure.lattice = Lattice(matrix3(j.at("lattice").at("matrix"), where + " lattice.matrix"));
  const json& sites = j.at("sites");
  for (std::size_t i = 0; i < sites.size(); ++i) {
    const std::string w = where + " site " + std::to_string(i + 1);
    const json& spl = sites[i].at("species");
    if (!spl.is_array() || spl.size() != 1) throw Error(w + ": disordered site (several species) is not supported");
    const double occ = spl[0].value("occu", 1.0);
    if (occ < 1.0 - 1e-6) throw Error(w + ": partial occupancy " + std::to_string(occ) + " is not supported");
    rec.structure.species.push_back(species_z(spl[0].at("element"), w));
    rec.structure.frac.push_back(vec3(sites[i].at("abc"), w));
  }
  if (j.contains("properties") && j["properties"].is_object() && j["properties"].contains("material_id"))
    rec.id = j["properties"]["material_id"].dump();
  return rec;
}

}  // namespace

Dataset read_json_structures(std::string_view text, const std::string& source) {
  if (trim(text).empty()) throw Error(located(source, 0, "empty file"));
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for a number beyond double's range
    // (found by fuzz/fuzz_json: -2.4e5613).
    throw Error(located(source, 0, std::string("invalid JSON: ") + e.what()));
  }
  Dataset d;
  d.source = source;
  try {
    if (j.is_object() && j.contains("structures")) {
      if (j.contains("columns"))
        for (const auto& c : j["columns"]) d.columns.push_back(c.get<std::string>());
      std::size_t k = 0;
      for (const auto& s : j["structures"]) {
        Record r = from_xtaldiff(s, located(source, 0, "structure " + std::to_string(k + 1)), d.columns);
        if (r.id.empty()) r.id = std::to_string(k);
        d.records.push_back(std::move(r));
        ++k;
      }
    } else {
      const json list = j.is_array() ? j : json::array({j});
      std::size_t k = 0;
      for (const auto& s : list) {
        Record r = from_pymatgen(s, located(source, 0, "structure " + std::to_string(k + 1)));
        if (r.id.empty()) r.id = std::to_string(k);
        d.records.push_back(std::move(r));
        ++k;
      }
    }
  } catch (const json::exception& e) {
    throw Error(located(source, 0, std::string("unexpected JSON layout: ") + e.what()));
  }
  for (auto& r : d.records) {
    r.structure.wrap();
    try {
      r.structure.validate();
    } catch (const Error& e) {
      throw Error(located(source, 0, "structure '" + r.id + "': " + e.what()));
    }
  }
  return d;
}

std::string write_json_structures(const Dataset& data) {
  json out;
  out["format"] = "xtaldiff.structures";
  out["version"] = 1;
  out["columns"] = data.columns;
  json list = json::array();
  for (const auto& rec : data.records) {
    json s;
    s["id"] = rec.id;
    json lat = json::array();
    for (const auto& row : rec.structure.lattice.matrix()) lat.push_back({row[0], row[1], row[2]});
    s["lattice"] = lat;
    json sp = json::array(), fc = json::array();
    for (std::size_t i = 0; i < rec.structure.size(); ++i) {
      sp.push_back(element(rec.structure.species[i]).symbol);
      const Vec3& f = rec.structure.frac[i];
      fc.push_back({f[0], f[1], f[2]});
    }
    s["species"] = sp;
    s["frac_coords"] = fc;
    json props = json::object();
    for (std::size_t c = 0; c < data.columns.size() && c < rec.values.size(); ++c) props[data.columns[c]] = rec.values[c];
    s["properties"] = props;
    list.push_back(s);
  }
  out["structures"] = list;
  return out.dump(1) + "\n";
}

}  // namespace xtaldiff
