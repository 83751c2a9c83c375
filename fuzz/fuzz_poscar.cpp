// VASP POSCAR reader (io/poscar.cpp).
#include "fuzz_common.h"
#include "io/poscar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xtaldiff;
  try {
    const Structure s = read_poscar(fuzz::as_text(data, size), "POSCAR");
    fuzz::use(s);
    (void)write_poscar(s, "fuzz");
  } catch (const Error&) {
  }
  return 0;
}
