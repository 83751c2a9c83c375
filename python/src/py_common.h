// Shared pieces of the Python module (_xtaldiff): the Crystal type that
// crosses the language boundary, conversions between it and the library's
// Dataset, and the functions that register each part of the module.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <pybind11/pybind11.h>

#include "crystal/structure.h"
#include "io/dataset.h"

namespace xtaldiff::python {

namespace py = pybind11;

/// One structure with its name and the text of its dataset columns (a
/// sample's "spacegroup", a dataset's "formation_energy_per_atom", ...).
struct Crystal {
  std::string id;
  Structure structure;
  std::map<std::string, std::string> columns;
};

std::vector<Crystal> crystals_of(const Dataset& data);
/// The crystals as one dataset: columns are the union of theirs; ids that
/// are empty become "0", "1", ... (their index).
Dataset dataset_of(const std::vector<Crystal>& crystals);

/// Raised into Python as KeyboardInterrupt when Ctrl-C arrives during a
/// long call (checked between time steps and between crystals).
struct Interrupted {};
/// With the GIL released: takes it, runs Python's signal handlers, and
/// throws Interrupted when one of them raised.
void check_interrupt();

void bind_structures(py::module_& m);
void bind_metrics(py::module_& m);
void bind_model(py::module_& m);

}  // namespace xtaldiff::python
