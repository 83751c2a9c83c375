#include "io/sample_ids.h"

namespace xtaldiff {

std::string sample_file_id(const std::string& source_id, const std::string& k) { return source_id + "_" + k; }

std::string source_id_of(const std::string& id, const std::function<bool(const std::string&)>& is_source) {
  if (is_source(id)) return id;
  const auto us = id.rfind('_');
  if (us != std::string::npos && is_source(id.substr(0, us))) return id.substr(0, us);
  return id;
}

}  // namespace xtaldiff
