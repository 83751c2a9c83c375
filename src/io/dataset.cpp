#include "io/dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "io/cif.h"
#include "io/csv.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/strings.h"
#include "util/parallel.h"

namespace xtaldiff {
namespace {

// Columns that pandas wrote as its row index: not properties.
bool is_index_column(const std::string& name) { return name.empty() || name == "Unnamed: 0"; }

}  // namespace

std::optional<std::size_t> Dataset::column(const std::string& name) const {
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return i;
  return std::nullopt;
}

std::optional<double> Dataset::number(std::size_t record, std::size_t col) const {
  const auto& v = records.at(record).values.at(col);
  auto d = parse_double(v);
  if (!d || !std::isfinite(*d)) return std::nullopt;
  return d;
}

namespace {

Dataset parse_cdvae_text(const std::string& path, const std::string& text, int threads, const CifOptions& cif,
                         bool keep_going) {
  if (trim(text).empty()) throw Error(path + ": empty file");
  if (looks_binary(std::string_view(text).substr(0, 4096)))
    throw Error(path + ": binary data where a CSV file was expected");
  std::vector<CsvRecord> rows = parse_csv(text, path);
  if (rows.empty()) throw Error(path + ": no header line");
  const CsvRecord& header = rows[0];
  long cif_col = -1, id_col = -1;
  Dataset data;
  data.source = path;
  std::vector<long> prop_cols;
  for (std::size_t c = 0; c < header.fields.size(); ++c) {
    const std::string& h = header.fields[c];
    if (h == "cif") cif_col = static_cast<long>(c);
    else if (h == "material_id") id_col = static_cast<long>(c);
    else if (!is_index_column(h)) {
      data.columns.push_back(h);
      prop_cols.push_back(static_cast<long>(c));
    }
  }
  if (cif_col < 0) throw Error(located(path, 1, "no 'cif' column in the header (CDVAE layout expected)"));
  const std::size_t nrec = rows.size() - 1;
  data.records.resize(nrec);
  for (std::size_t r = 0; r < nrec; ++r) {
    const CsvRecord& row = rows[r + 1];
    if (row.fields.size() != header.fields.size())
      throw Error(located(path, row.line,
                          "record " + std::to_string(r + 1) + " has " + std::to_string(row.fields.size()) +
                              " fields, the header has " + std::to_string(header.fields.size())));
    Record& rec = data.records[r];
    rec.id = id_col >= 0 ? row.fields[id_col] : std::to_string(r);
    for (long c : prop_cols) rec.values.push_back(row.fields[c]);
  }
  // CIF parsing dominates; records are independent, so split them over threads.
  // With keep_going a bad record is noted and skipped; otherwise the
  // lowest bad record's error ends the read (parallel_for rethrows it).
  std::mutex error_mutex;
  parallel_for(
      nrec, threads,
      [&](std::size_t r) {
        const CsvRecord& row = rows[r + 1];
        try {
          const std::string src = path + " record " + std::to_string(r + 1) + " (material_id " + data.records[r].id + ")";
          data.records[r].structure = read_cif_single(row.fields[cif_col], src, cif, row.field_lines[cif_col]);
        } catch (const Error& e) {
          if (!keep_going) throw;
          std::lock_guard<std::mutex> lock(error_mutex);
          data.errors.emplace_back(r, e.what());
        }
      },
      64);
  std::sort(data.errors.begin(), data.errors.end());
  return data;
}

struct FileStamp {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

std::optional<FileStamp> stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{static_cast<std::uint64_t>(st.st_size),
                   static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec};
}

}  // namespace

Dataset read_cdvae_csv(const std::string& path, const DatasetReadOptions& options) {
  const std::string cache_path = path + ".xtdcache";
  const auto stamp = stamp_of(path);
  // The cache holds structures read with the default CIF options only.
  const CifOptions defaults;
  const bool cacheable = options.use_cache && !options.keep_going && options.cif.allow_partial_occupancy == defaults.allow_partial_occupancy &&
                         options.cif.merge_tolerance == defaults.merge_tolerance;
  if (cacheable && stamp) {
    if (auto cached = read_dataset_cache(cache_path)) {
      // The cache stores the stamp of the CSV it came from in `source`.
      const std::string expect = std::to_string(stamp->size) + ":" + std::to_string(stamp->mtime_ns);
      if (cached->source == expect) {
        cached->source = path;
        return *cached;
      }
    }
  }
  Dataset data = parse_cdvae_text(path, read_file(path), options.threads, options.cif, options.keep_going);
  if (cacheable && stamp) {
    Dataset tagged = data;
    tagged.source = std::to_string(stamp->size) + ":" + std::to_string(stamp->mtime_ns);
    try {
      write_dataset_cache(tagged, cache_path);
    } catch (const Error&) {
      // A read-only data folder only costs speed next time.
    }
  }
  return data;
}

void write_cdvae_csv(const Dataset& data, const std::string& path) {
  std::string out = ",material_id,cif";
  for (const auto& c : data.columns) out += "," + csv_escape(c);
  out += '\n';
  for (std::size_t r = 0; r < data.size(); ++r) {
    const Record& rec = data.records[r];
    out += std::to_string(r) + "," + csv_escape(rec.id) + "," + csv_escape(write_cif_p1(rec.structure, rec.id));
    for (const auto& v : rec.values) out += "," + csv_escape(v);
    out += '\n';
  }
  write_file_atomic(path, out, ends_with(path, ".gz"));
}

}  // namespace xtaldiff
