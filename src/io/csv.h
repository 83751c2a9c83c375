/// @file
/// RFC 4180 CSV: comma-separated, fields optionally double-quoted, quotes
/// doubled inside quoted fields, newlines allowed inside quotes (CDVAE's CIF
/// column). Each record remembers the line it starts on for error messages.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace xtaldiff {

struct CsvRecord {
  long line = 0;                    ///< 1-based line where the record starts
  std::vector<std::string> fields;
  std::vector<long> field_lines;    ///< line where each field starts
};

/// Parses the whole text. Throws Error naming `source` and the line for an
/// unterminated quote, stray quote or binary data. Empty lines are skipped.
std::vector<CsvRecord> parse_csv(std::string_view text, const std::string& source);
/// Quotes a field when it holds a comma, quote or newline.
std::string csv_escape(std::string_view field);

}  // namespace xtaldiff
