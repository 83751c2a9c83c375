// JSON structure reader (io/json_io.cpp): pymatgen Structure.as_dict() and
// lists of them.
#include "fuzz_common.h"
#include "io/json_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xtaldiff;
  try {
    const Dataset d = read_json_structures(fuzz::as_text(data, size), "fuzz.json");
    for (const auto& r : d.records) fuzz::use(r.structure);
    (void)write_json_structures(d);
  } catch (const Error&) {
  }
  return 0;
}
