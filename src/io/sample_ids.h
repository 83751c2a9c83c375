/// @file
/// How the k-th structure sampled for a source row is named: "<id>_<k>"
/// (its CIF file name in `sample`'s output folder), and how `eval csp`
/// finds the source row again. One place, so writer and reader agree.
#pragma once

#include <functional>
#include <string>

namespace xtaldiff {

/// "<id>_<k>".
std::string sample_file_id(const std::string& source_id, const std::string& k);

/// The source id of a prediction's id: the id itself when `is_source(id)`,
/// else the part before the last '_' when that is a source id, else the id
/// unchanged (the caller reports it as unknown).
std::string source_id_of(const std::string& id, const std::function<bool(const std::string&)>& is_source);

}  // namespace xtaldiff
