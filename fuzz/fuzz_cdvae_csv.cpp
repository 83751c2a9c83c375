// CDVAE-layout CSV reader (io/dataset.cpp, io/csv.cpp): quoted multi-line
// CIF fields, property columns, record numbering. No cache, one thread.
#include "fuzz_common.h"
#include "io/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xtaldiff;
  const fuzz::TempFile file(data, size, ".csv");
  DatasetReadOptions options;
  options.use_cache = false;
  options.threads = 1;
  try {
    const Dataset d = read_cdvae_csv(file.path(), options);
    for (std::size_t i = 0; i < d.records.size(); ++i) {
      fuzz::use(d.records[i].structure);
      for (std::size_t c = 0; c < d.columns.size(); ++c) (void)d.number(i, c);
    }
  } catch (const Error&) {
  }
  return 0;
}
