// Binary dataset cache (io/dataset_cache.cpp): a damaged or foreign cache
// must be ignored (nullopt), never trusted.
#include "fuzz_common.h"
#include "io/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xtaldiff;
  const fuzz::TempFile file(data, size, ".xtdcache");
  try {
    if (const auto d = read_dataset_cache(file.path()))
      for (const auto& r : d->records) fuzz::use(r.structure);
  } catch (const Error&) {
  }
  return 0;
}
