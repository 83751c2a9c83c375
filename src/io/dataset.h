/// @file
/// Datasets of crystals: a table of records, each a structure with an id and
/// named property columns (kept as text, parsed on demand). Reads the CDVAE
/// CSV layout (`material_id`, `cif`, property columns; `.csv` or `.csv.gz`;
/// quoted multi-line CIF fields) and keeps a binary cache beside it so a
/// second load skips CIF parsing.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "crystal/structure.h"
#include "io/cif.h"

namespace xtaldiff {

struct Record {
  std::string id;
  Structure structure;
  std::vector<std::string> values;  ///< one per Dataset::columns (CSV text)
};

struct Dataset {
  std::string source;                ///< file it came from
  std::vector<std::string> columns;  ///< property column names (not id/cif)
  std::vector<Record> records;
  /// Records that could not be read (keep_going only): index and message.
  std::vector<std::pair<std::size_t, std::string>> errors;

  std::size_t size() const { return records.size(); }
  /// Index of a property column, nullopt when absent.
  std::optional<std::size_t> column(const std::string& name) const;
  /// Numeric value of a property (nullopt when empty or not a number).
  std::optional<double> number(std::size_t record, std::size_t column) const;
};

struct DatasetReadOptions {
  bool use_cache = true;  ///< read/write FILE.xtdcache while FILE is unchanged (default CIF options only)
  CifOptions cif;         ///< how each record's CIF is read
  /// Keep going past records whose CIF cannot be read: they stay in the
  /// dataset with an empty structure and their error in Dataset::errors
  /// (evaluation scores them as invalid). Never cached.
  bool keep_going = false;
  int threads = 0;        ///< CIF parsing threads; 0 = all cores
};

/// Reads a CDVAE-layout CSV (plain or gzip). Errors name the file, the CSV
/// record number and line. The id is `material_id` when present, else the
/// first column, else the row number.
Dataset read_cdvae_csv(const std::string& path, const DatasetReadOptions& options = {});
/// Writes a CDVAE-layout CSV (gzip when the name ends in .gz): an index
/// column, `material_id`, `cif` (P1, pymatgen layout) and the property columns.
/// Written to a temporary file and renamed.
void write_cdvae_csv(const Dataset& data, const std::string& path);

/// Binary cache: versioned, checksummed; a stale or damaged cache is ignored.
void write_dataset_cache(const Dataset& data, const std::string& path);
std::optional<Dataset> read_dataset_cache(const std::string& path);

}  // namespace xtaldiff
