#include "io/composition_file.h"

#include <algorithm>

#include "io/csv.h"
#include "io/formats.h"
#include "util/error.h"
#include "util/file_io.h"

namespace xtaldiff {

std::vector<Composition> read_compositions(const std::string& path) {
  const bool csv_name = path.find(".csv") != std::string::npos;
  if (csv_name) {
    const std::string text = read_file(path);
    const auto records = parse_csv(text, path);
    if (!records.empty()) {
      const auto& header = records[0].fields;
      const auto formula = std::find(header.begin(), header.end(), "formula");
      const bool has_cif = std::find(header.begin(), header.end(), "cif") != header.end();
      if (formula != header.end() && !has_cif) {
        const std::size_t col = formula - header.begin();
        std::vector<Composition> out;
        for (std::size_t i = 1; i < records.size(); ++i) {
          const auto& r = records[i];
          if (col >= r.fields.size())
            throw Error(path + ":" + std::to_string(r.line) + ": no formula field", ErrorKind::kInput);
          try {
            out.push_back(Composition::parse(r.fields[col]));
          } catch (const Error& e) {
            throw Error(path + ":" + std::to_string(r.line) + ": " + e.what(), ErrorKind::kInput);
          }
          if (out.back().empty())
            throw Error(path + ":" + std::to_string(r.line) + ": empty formula", ErrorKind::kInput);
        }
        return out;
      }
    }
  }
  const Dataset d = read_structures(path);
  std::vector<Composition> out;
  for (const auto& r : d.records) out.push_back(r.structure.composition());
  return out;
}

}  // namespace xtaldiff
