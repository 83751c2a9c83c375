#include "io/csv.h"

#include "util/error.h"

namespace xtaldiff {

std::vector<CsvRecord> parse_csv(std::string_view text, const std::string& source) {
  std::vector<CsvRecord> records;
  std::size_t i = 0;
  long line = 1;
  const std::size_t n = text.size();
  if (n >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;  // UTF-8 byte-order mark
  while (i < n) {
    // Skip blank lines between records.
    if (text[i] == '\n' || text[i] == '\r') {
      if (text[i] == '\n') ++line;
      ++i;
      continue;
    }
    CsvRecord rec;
    rec.line = line;
    for (;;) {
      std::string field;
      rec.field_lines.push_back(line);
      if (i < n && text[i] == '"') {
        const long open_line = line;
        ++i;
        for (;;) {
          // Copy the run up to the next quote in one step.
          std::size_t q = text.find('"', i);
          if (q == std::string_view::npos)
            throw Error(located(source, open_line, "unterminated quoted field (no closing '\"')"));
          for (std::size_t k = i; k < q; ++k) {
            const char c = text[k];
            if (c == '\n') ++line;
            else if (c == '\0') throw Error(located(source, line, "binary data (NUL byte) in CSV"));
          }
          field.append(text.data() + i, q - i);
          i = q + 1;
          if (i < n && text[i] == '"') {  // doubled quote = literal quote
            field.push_back('"');
            ++i;
            continue;
          }
          break;
        }
        if (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
          throw Error(located(source, line, "unexpected character after closing quote"));
      } else {
        std::size_t start = i;
        while (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          if (text[i] == '\0') throw Error(located(source, line, "binary data (NUL byte) in CSV"));
          if (text[i] == '"') throw Error(located(source, line, "stray '\"' inside an unquoted field"));
          ++i;
        }
        field.assign(text.data() + start, i - start);
      }
      rec.fields.push_back(std::move(field));
      if (i < n && text[i] == ',') {
        ++i;
        continue;
      }
      if (i < n && text[i] == '\r') ++i;
      if (i < n && text[i] == '\n') {
        ++i;
        ++line;
      }
      break;
    }
    records.push_back(std::move(rec));
  }
  return records;
}

std::string csv_escape(std::string_view field) {
  if (field.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace xtaldiff
