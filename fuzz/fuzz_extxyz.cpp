// Extended XYZ reader (io/extxyz.cpp): frame headers, Lattice= and
// Properties= strings, per-atom columns.
#include "fuzz_common.h"
#include "io/extxyz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xtaldiff;
  try {
    const Dataset d = read_extxyz(fuzz::as_text(data, size), "fuzz.extxyz");
    for (const auto& r : d.records) fuzz::use(r.structure);
    (void)write_extxyz(d);
  } catch (const Error&) {
  }
  return 0;
}
