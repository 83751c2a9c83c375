// CIF reader (io/cif_reader.cpp): blocks, loops, quotes, text fields,
// symmetry operations and their expansion.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xtaldiff;
  try {
    for (const auto& block : read_cif(fuzz::as_text(data, size), "fuzz.cif")) fuzz::use(block.structure);
  } catch (const Error&) {
  }
  return 0;
}
