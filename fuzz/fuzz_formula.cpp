// Formula and chemical-system parser (chem/composition.cpp): what --formula,
// --system and dataset formulas go through.
#include "chem/composition.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xtaldiff;
  const std::string_view text = fuzz::as_text(data, size);
  try {
    (void)Composition::is_chemical_system(text);
    const Composition c = Composition::parse(text);
    (void)c.reduced_formula();
    (void)c.num_elements();
  } catch (const Error&) {
  }
  return 0;
}
