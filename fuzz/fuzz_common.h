// Shared by the libFuzzer targets (fuzz/README.md). The contract under test:
// any bytes given to a reader either parse or end in xtaldiff::Error (the
// clear message the command prints); every other exception, a crash, a hang
// or a sanitizer report is a finding. A parsed structure is then used the
// way the commands use it (formula, volume, written back), so values the
// reader let through must be usable too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unistd.h>

#include "crystal/structure.h"
#include "io/cif.h"
#include "util/error.h"

namespace xtaldiff::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// What the commands do with every structure they read.
inline void use(const Structure& s) {
  if (s.size() == 0) return;
  (void)s.composition().reduced_formula();
  (void)s.lattice.volume();
  (void)write_cif_p1(s, "fuzz");
}

/// Some readers take a path: the bytes go to a private temporary file.
class TempFile {
 public:
  TempFile(const uint8_t* data, size_t size, const char* suffix) {
    path_ = std::string("/tmp/xtaldiff-fuzz-") + std::to_string(getpid()) + suffix;
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (!f) std::abort();
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace xtaldiff::fuzz
