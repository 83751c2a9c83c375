#include "util/error.h"

namespace xtaldiff {

std::string located(const std::string& source, long line, const std::string& message) {
  std::string out = source;
  if (line > 0) out += ":" + std::to_string(line);
  if (!out.empty()) out += ": ";
  return out + message;
}

}  // namespace xtaldiff
