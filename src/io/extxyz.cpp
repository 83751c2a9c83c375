#include "io/extxyz.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>

#include "chem/element.h"
#include "io/csv.h"
#include "util/error.h"
#include "util/strings.h"

namespace xtaldiff {
namespace {

// key=value pairs; values may be "double quoted" (or {braced}); bare keys are flags.
std::vector<std::pair<std::string, std::string>> parse_info(std::string_view line, const std::string& source, long ln) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i >= line.size()) break;
    std::size_t k = i;
    while (k < line.size() && line[k] != '=' && !std::isspace(static_cast<unsigned char>(line[k]))) ++k;
    std::string key(line.substr(i, k - i));
    i = k;
    while (i < line.size() && line[i] == ' ') ++i;
    if (i >= line.size() || line[i] != '=') {
      out.emplace_back(key, "T");
      continue;
    }
    ++i;
    while (i < line.size() && line[i] == ' ') ++i;
    std::string value;
    if (i < line.size() && (line[i] == '"' || line[i] == '{')) {
      const char close = line[i] == '"' ? '"' : '}';
      const std::size_t end = line.find(close, i + 1);
      if (end == std::string_view::npos) throw Error(located(source, ln, "unterminated quoted value for key '" + key + "'"));
      value = std::string(line.substr(i + 1, end - i - 1));
      i = end + 1;
    } else {
      std::size_t e = i;
      while (e < line.size() && !std::isspace(static_cast<unsigned char>(line[e]))) ++e;
      value = std::string(line.substr(i, e - i));
      i = e;
    }
    out.emplace_back(key, value);
  }
  return out;
}

std::string quote_if_needed(const std::string& v) {
  if (!v.empty() && v.find_first_of(" \t\"=") == std::string::npos) return v;
  std::string q = "\"";
  for (char c : v) q += (c == '"' ? '\'' : c);
  return q + "\"";
}

}  // namespace

Dataset read_extxyz(std::string_view text, const std::string& source) {
  if (trim(text).empty()) throw Error(located(source, 0, "empty file"));
  if (looks_binary(text.substr(0, 1 << 16))) throw Error(located(source, 0, "binary data where extxyz was expected"));
  auto lines = split_char(text, '\n');
  Dataset data;
  data.source = source;
  std::map<std::string, std::size_t> col_index;
  std::size_t i = 0;
  while (i < lines.size()) {
    if (trim(lines[i]).empty()) {
      ++i;
      continue;
    }
    const long count_line = static_cast<long>(i + 1);
    auto natoms = parse_long(lines[i]);
    if (!natoms || *natoms <= 0 || *natoms > 10000000)
      throw Error(located(source, count_line, "expected a positive atom count, got '" + excerpt(trim(lines[i])) + "'"));
    if (i + 1 >= lines.size()) throw Error(located(source, count_line, "frame has no comment line"));
    const long info_line = count_line + 1;
    auto info = parse_info(lines[i + 1], source, info_line);
    Record rec;
    rec.id = std::to_string(data.records.size());
    std::string lattice_text, props = "species:S:1:pos:R:3";
    std::map<std::string, std::string> extra;
    for (auto& [k, v] : info) {
      const std::string lk = to_lower(k);
      if (lk == "lattice") lattice_text = v;
      else if (lk == "properties") props = v;
      else if (lk == "pbc") {
        if (to_lower(trim(v)) != "t t t" && trim(v) != "True True True")
          throw Error(located(source, info_line, "pbc=\"" + v + "\": only fully periodic crystals are supported"));
      } else if (lk == "material_id" || lk == "id") rec.id = v;
      else extra[k] = v;
    }
    if (lattice_text.empty()) throw Error(located(source, info_line, "no Lattice=\"...\" key: not a periodic crystal"));
    auto lat = split_ws(lattice_text);
    if (lat.size() != 9) throw Error(located(source, info_line, "Lattice needs 9 numbers"));
    Mat3 m{};
    for (int k = 0; k < 9; ++k) {
      auto d = parse_double(lat[k]);
      if (!d || !std::isfinite(*d)) throw Error(located(source, info_line, "Lattice entry '" + excerpt(lat[k]) + "' is not a finite number"));
      m[k / 3][k % 3] = *d;
    }
    rec.structure.lattice = Lattice(m);
    try {
      rec.structure.lattice.validate();
    } catch (const Error& e) {
      throw Error(located(source, info_line, e.what()));
    }
    // Column layout from Properties: name:type:width triples.
    auto spec = split_char(props, ':');
    if (spec.size() % 3 != 0) throw Error(located(source, info_line, "malformed Properties=" + excerpt(props)));
    long species_col = -1, pos_col = -1, z_col = -1, col = 0;
    for (std::size_t k = 0; k < spec.size(); k += 3) {
      auto width = parse_long(spec[k + 2]);
      if (!width || *width <= 0) throw Error(located(source, info_line, "malformed Properties=" + excerpt(props)));
      // The columns read below must have the width they are read with: a
      // "pos:R:1" would send the position read past the line's columns.
      const long needed = spec[k] == "pos" ? 3 : (spec[k] == "species" || spec[k] == "Z") ? 1 : *width;
      if (*width != needed)
        throw Error(located(source, info_line, "Properties: column '" + excerpt(spec[k]) + "' must have width " +
                                                   std::to_string(needed) + ", not " + std::to_string(*width)));
      if (spec[k] == "species") species_col = col;
      else if (spec[k] == "pos") pos_col = col;
      else if (spec[k] == "Z") z_col = col;
      col += *width;
    }
    if (pos_col < 0 || (species_col < 0 && z_col < 0))
      throw Error(located(source, info_line, "Properties must include species (or Z) and pos"));
    const Mat3 inv = inverse(m);
    for (long a = 0; a < *natoms; ++a) {
      const std::size_t li = i + 2 + static_cast<std::size_t>(a);
      if (li >= lines.size() || trim(lines[li]).empty()) throw Error(located(source, static_cast<long>(li), "file ends inside a frame (truncated?)"));
      auto t = split_ws(lines[li]);
      if (static_cast<long>(t.size()) < col)
        throw Error(located(source, static_cast<long>(li + 1), "expected " + std::to_string(col) + " columns"));
      int z = 0;
      if (species_col >= 0) {
        auto found = find_element(t[species_col]);
        if (!found) throw Error(located(source, static_cast<long>(li + 1), "unknown element '" + excerpt(t[species_col]) + "'"));
        z = *found;
      } else {
        auto zz = parse_long(t[z_col]);
        if (!zz || *zz < 1 || *zz > kMaxZ) throw Error(located(source, static_cast<long>(li + 1), "bad atomic number"));
        z = static_cast<int>(*zz);
      }
      Vec3 p{};
      for (int k = 0; k < 3; ++k) {
        auto d = parse_double(t[pos_col + k]);
        if (!d || !std::isfinite(*d)) throw Error(located(source, static_cast<long>(li + 1), "position is not a finite number"));
        p[k] = *d;
      }
      rec.structure.species.push_back(z);
      rec.structure.frac.push_back(vecmat(p, inv));
    }
    rec.structure.wrap();
    for (auto& [k, v] : extra) {
      if (!col_index.count(k)) {
        col_index[k] = data.columns.size();
        data.columns.push_back(k);
        for (auto& r : data.records) r.values.emplace_back();
      }
    }
    rec.values.resize(data.columns.size());
    for (auto& [k, v] : extra) rec.values[col_index[k]] = v;
    data.records.push_back(std::move(rec));
    i += 2 + static_cast<std::size_t>(*natoms);
  }
  return data;
}

std::string write_extxyz(const Dataset& data) {
  std::string out;
  char buf[200];
  for (const auto& rec : data.records) {
    const auto& s = rec.structure;
    out += std::to_string(s.size()) + "\nLattice=\"";
    const Mat3& m = s.lattice.matrix();
    for (int k = 0; k < 9; ++k) {
      std::snprintf(buf, sizeof buf, "%s%.16g", k ? " " : "", m[k / 3][k % 3]);
      out += buf;
    }
    out += "\" Properties=species:S:1:pos:R:3 material_id=" + quote_if_needed(rec.id);
    for (std::size_t c = 0; c < data.columns.size() && c < rec.values.size(); ++c)
      if (!rec.values[c].empty()) out += " " + data.columns[c] + "=" + quote_if_needed(rec.values[c]);
    out += " pbc=\"T T T\"\n";
    for (std::size_t i = 0; i < s.size(); ++i) {
      const Vec3 p = s.cart(i);
      std::snprintf(buf, sizeof buf, "%-2s %22.16f %22.16f %22.16f\n", element(s.species[i]).symbol.c_str(), p[0], p[1], p[2]);
      out += buf;
    }
  }
  return out;
}

}  // namespace xtaldiff
