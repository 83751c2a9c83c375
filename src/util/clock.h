/// @file
/// Wall-clock helpers for logs, manifests and model metadata.
#pragma once

#include <cmath>
#include <cstdio>
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

/// A duration for progress lines: "4m05s", "1h07m"; "?" when not finite.
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = static_cast<long>(seconds);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  return buf;
}

}  // namespace xtaldiff
