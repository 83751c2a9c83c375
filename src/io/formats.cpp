#include "io/formats.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>

#include "chem/element.h"
#include "io/extxyz.h"
#include "io/json_io.h"
#include "io/poscar.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/strings.h"

namespace fs = std::filesystem;

namespace xtaldiff {

Format format_from_path(const std::string& path) {
  if (is_directory(path) || ends_with(path, "/")) return Format::kCifFolder;
  const std::string name = fs::path(path).filename().string();
  const std::string lower = to_lower(name);
  if (ends_with(lower, ".cif")) return Format::kCif;
  if (ends_with(lower, ".csv") || ends_with(lower, ".csv.gz")) return Format::kCsv;
  if (ends_with(lower, ".extxyz") || ends_with(lower, ".xyz") || ends_with(lower, ".extxyz.gz")) return Format::kExtxyz;
  if (ends_with(lower, ".json") || ends_with(lower, ".json.gz")) return Format::kJson;
  if (ends_with(lower, ".vasp") || ends_with(lower, ".poscar") || starts_with(name, "POSCAR") ||
      starts_with(name, "CONTCAR"))
    return Format::kPoscar;
  throw Error(path + ": cannot tell the format from the name (use .cif, .vasp, POSCAR, .extxyz, .json, .csv, .csv.gz "
                     "or a folder)",
              ErrorKind::kUsage);
}

const char* format_name(Format f) {
  switch (f) {
    case Format::kCif: return "CIF";
    case Format::kPoscar: return "POSCAR";
    case Format::kExtxyz: return "extxyz";
    case Format::kJson: return "JSON";
    case Format::kCsv: return "CDVAE CSV";
    case Format::kCifFolder: return "folder of CIFs";
  }
  return "?";
}

std::string safe_file_stem(const std::string& id) {
  std::string out;
  for (char c : id) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  if (out.empty() || out == "." || out == "..") out = "structure";
  return out;
}

void check_no_overlap(const Structure& s, double tolerance, const std::string& where) {
  if (!(tolerance > 0)) return;
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t j = i + 1; j < s.size(); ++j) {
      const double d = min_image_distance(s, i, j);
      if (d < tolerance) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.4f", d);
        throw Error(where + ": sites " + std::to_string(i + 1) + " (" + element(s.species[i]).symbol + ") and " +
                    std::to_string(j + 1) + " (" + element(s.species[j]).symbol + ") overlap, " + buf +
                    " Å apart");
      }
    }
}

namespace {

Dataset read_any(const std::string& path, const ReadOptions& options);

}  // namespace

Dataset read_structures(const std::string& path, const ReadOptions& options) {
  Dataset d = read_any(path, options);
  for (std::size_t r = 0; r < d.size(); ++r)
    if (!d.records[r].structure.species.empty())
      check_no_overlap(d.records[r].structure, options.overlap_tolerance,
                     path + ": record " + std::to_string(r + 1) + " ('" + d.records[r].id + "')");
  return d;
}

namespace {

Dataset read_any(const std::string& path, const ReadOptions& options) {
  const Format f = format_from_path(path);
  if (f == Format::kCsv) {
    DatasetReadOptions o;
    o.use_cache = options.use_cache;
    o.cif = options.cif;
    o.keep_going = options.keep_going;
    return read_cdvae_csv(path, o);
  }
  Dataset d;
  d.source = path;
  if (f == Format::kCifFolder) {
    if (!is_directory(path)) throw Error(path + ": no such folder", ErrorKind::kIo);
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(path))
      if (e.is_regular_file() && to_lower(e.path().extension().string()) == ".cif") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw Error(path + ": folder holds no .cif files", ErrorKind::kInput);
    for (const auto& p : files) {
      Record r;
      r.id = p.stem().string();
      try {
        r.structure = read_cif_single(read_file(p.string()), p.string(), options.cif);
      } catch (const Error& e) {
        if (!options.keep_going) throw;
        d.errors.emplace_back(d.records.size(), e.what());
      }
      d.records.push_back(std::move(r));
    }
    return d;
  }
  const std::string text = read_file(path);
  switch (f) {
    case Format::kCif:
      for (auto& ns : read_cif(text, path, options.cif)) d.records.push_back({ns.name, std::move(ns.structure), {}});
      break;
    case Format::kPoscar:
      d.records.push_back({fs::path(path).stem().string(), read_poscar(text, path), {}});
      break;
    case Format::kExtxyz:
      return read_extxyz(text, path);
    case Format::kJson:
      return read_json_structures(text, path);
    default:
      break;
  }
  return d;
}

}  // namespace

void write_structures(const Dataset& data, const std::string& path, const WriteOptions& options) {
  const Format f = format_from_path(path);
  auto cif_text = [&](const Record& r) {
    const std::string block = safe_file_stem(r.id);
    return options.symmetrize ? write_cif_symmetrized(r.structure, block, options.symprec)
                              : write_cif_p1(r.structure, block);
  };
  // Render everything before touching the disk, so a failure writes nothing.
  switch (f) {
    case Format::kCifFolder: {
      std::vector<std::pair<std::string, std::string>> files;
      for (const auto& r : data.records) files.emplace_back(safe_file_stem(r.id) + ".cif", cif_text(r));
      make_directories(path);
      for (const auto& [name, text] : files) write_file_atomic((fs::path(path) / name).string(), text);
      return;
    }
    case Format::kCif: {
      std::string all;
      for (const auto& r : data.records) all += cif_text(r);
      write_file_atomic(path, all);
      return;
    }
    case Format::kPoscar:
      if (data.size() != 1)
        throw Error(path + ": a POSCAR holds one structure, the input has " + std::to_string(data.size()) +
                        " (write a folder, .extxyz or .csv instead)",
                    ErrorKind::kUsage);
      write_file_atomic(path, write_poscar(data.records[0].structure, data.records[0].id));
      return;
    case Format::kExtxyz:
      write_file_atomic(path, write_extxyz(data), ends_with(path, ".gz"));
      return;
    case Format::kJson:
      write_file_atomic(path, write_json_structures(data), ends_with(path, ".gz"));
      return;
    case Format::kCsv:
      write_cdvae_csv(data, path);
      return;
  }
}

}  // namespace xtaldiff
