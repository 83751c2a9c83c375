// The compiled half of the `xtaldiff` Python package (python/xtaldiff/ is
// the other): the library's types and calls, and its errors as Python
// exceptions with the CLI's messages: bad input and usage are ValueError,
// file problems OSError, anything else RuntimeError.
#include <pybind11/pybind11.h>

#include "py_common.h"
#include "util/error.h"
#include "xtaldiff_version.h"

namespace xtaldiff::python {

void check_interrupt() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) {
    PyErr_Clear();
    throw Interrupted{};
  }
}

}  // namespace xtaldiff::python

PYBIND11_MODULE(_xtaldiff, m) {
  using namespace xtaldiff::python;
  m.doc() = "xtaldiff: crystal structure generation, prediction and evaluation (compiled core)";
  m.attr("__version__") = XTALDIFF_VERSION;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Interrupted&) {
      PyErr_SetNone(PyExc_KeyboardInterrupt);
    } catch (const xtaldiff::Error& e) {
      PyObject* type = PyExc_RuntimeError;
      switch (e.kind()) {
        case xtaldiff::ErrorKind::kInput:
        case xtaldiff::ErrorKind::kUsage: type = PyExc_ValueError; break;
        case xtaldiff::ErrorKind::kIo: type = PyExc_OSError; break;
        case xtaldiff::ErrorKind::kInternal: type = PyExc_RuntimeError; break;
      }
      PyErr_SetString(type, e.what());
    }
  });
  bind_structures(m);
  bind_metrics(m);
  bind_model(m);
}
