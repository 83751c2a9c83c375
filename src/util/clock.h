/// @file
/// Wall-clock helpers for logs, manifests and model metadata.
#pragma once

#include <ctime>
#include <string>

namespace xtaldiff {

/// Current UTC time as ISO 8601 ("2026-11-22T06:00:38Z").
inline std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace xtaldiff
