// Crystal, and the structure-level calls: read, write, spacegroup, validity.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <set>

#include "chem/element.h"
#include "crystal/symmetry.h"
#include "eval/validity.h"
#include "io/formats.h"
#include "py_common.h"
#include "util/error.h"

namespace xtaldiff::python {

std::vector<Crystal> crystals_of(const Dataset& data) {
  std::vector<Crystal> out(data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    out[i].id = data.records[i].id;
    out[i].structure = data.records[i].structure;
    for (std::size_t c = 0; c < data.columns.size() && c < data.records[i].values.size(); ++c)
      out[i].columns[data.columns[c]] = data.records[i].values[c];
  }
  return out;
}

Dataset dataset_of(const std::vector<Crystal>& crystals) {
  Dataset d;
  d.source = "Python";
  std::set<std::string> names;
  for (const auto& c : crystals)
    for (const auto& kv : c.columns) names.insert(kv.first);
  d.columns.assign(names.begin(), names.end());
  for (std::size_t i = 0; i < crystals.size(); ++i) {
    Record r;
    r.id = crystals[i].id.empty() ? std::to_string(i) : crystals[i].id;
    r.structure = crystals[i].structure;
    for (const auto& name : d.columns) {
      auto it = crystals[i].columns.find(name);
      r.values.push_back(it == crystals[i].columns.end() ? "" : it->second);
    }
    d.records.push_back(std::move(r));
  }
  return d;
}

namespace {

Crystal make_crystal(py::array_t<double, py::array::c_style | py::array::forcecast> lattice,
                     py::array_t<double, py::array::c_style | py::array::forcecast> frac,
                     py::array_t<int, py::array::c_style | py::array::forcecast> numbers, std::string id) {
  if (lattice.ndim() != 2 || lattice.shape(0) != 3 || lattice.shape(1) != 3)
    throw Error("Crystal: lattice must be a 3x3 matrix (rows are the cell vectors, Å)");
  if (numbers.ndim() != 1) throw Error("Crystal: numbers must be a list of atomic numbers");
  const auto n = static_cast<std::size_t>(numbers.shape(0));
  if (frac.ndim() != 2 || static_cast<std::size_t>(frac.shape(0)) != n || frac.shape(1) != 3)
    throw Error("Crystal: frac_coords must be an N x 3 array with N = len(numbers) = " + std::to_string(n));
  Crystal c;
  c.id = std::move(id);
  Mat3 m{};
  auto L = lattice.unchecked<2>();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) m[i][j] = L(i, j);
  c.structure.lattice = Lattice(m);
  auto F = frac.unchecked<2>();
  auto Z = numbers.unchecked<1>();
  for (std::size_t i = 0; i < n; ++i) {
    if (Z(i) < 1 || Z(i) > kMaxZ)
      throw Error("Crystal: site " + std::to_string(i) + " has atomic number " + std::to_string(Z(i)) +
                  " (1.." + std::to_string(kMaxZ) + ")");
    c.structure.species.push_back(Z(i));
    c.structure.frac.push_back({F(i, 0), F(i, 1), F(i, 2)});
  }
  c.structure.validate();
  return c;
}

py::array_t<double> lattice_array(const Crystal& c) {
  py::array_t<double> a({3, 3});
  auto A = a.mutable_unchecked<2>();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) A(i, j) = c.structure.lattice.matrix()[i][j];
  return a;
}

py::array_t<double> frac_array(const Crystal& c) {
  const auto n = static_cast<py::ssize_t>(c.structure.size());
  py::array_t<double> a({n, py::ssize_t(3)});
  auto A = a.mutable_unchecked<2>();
  for (py::ssize_t i = 0; i < n; ++i)
    for (int j = 0; j < 3; ++j) A(i, j) = c.structure.frac[i][j];
  return a;
}

// Column text as Python values: numbers where the text is one, else str.
py::dict columns_dict(const Crystal& c) {
  py::dict d;
  for (const auto& [k, v] : c.columns) {
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (!v.empty() && end && *end == '\0' && std::isfinite(x)) d[py::str(k)] = x;
    else d[py::str(k)] = v;
  }
  return d;
}

}  // namespace

void bind_structures(py::module_& m) {
  py::class_<Crystal>(m, "Crystal", "A periodic structure: lattice rows (Å), fractional coordinates, atomic numbers")
      .def(py::init(&make_crystal), py::arg("lattice"), py::arg("frac_coords"), py::arg("numbers"),
           py::arg("id") = "")
      .def_readwrite("id", &Crystal::id)
      .def_property_readonly("lattice", &lattice_array, "3x3 array, rows are the cell vectors (Å)")
      .def_property_readonly("frac_coords", &frac_array, "N x 3 array of fractional coordinates")
      .def_property_readonly("numbers", [](const Crystal& c) { return py::array_t<int>(py::ssize_t(c.structure.size()), c.structure.species.data()); })
      .def_property_readonly("symbols", [](const Crystal& c) {
        std::vector<std::string> s;
        for (int z : c.structure.species) s.push_back(element(z).symbol);
        return s;
      })
      .def_property_readonly("formula", [](const Crystal& c) { return c.structure.composition().reduced_formula(); },
                             "reduced formula as pymatgen writes it (SrTiO3)")
      .def_property_readonly("volume", [](const Crystal& c) { return c.structure.volume(); })
      .def_property_readonly("density", [](const Crystal& c) { return c.structure.density(); })
      .def_property_readonly("properties", &columns_dict,
                             "dataset columns and sample annotations (\"spacegroup\", \"sample\", condition_*, predicted_*)")
      .def("__len__", [](const Crystal& c) { return c.structure.size(); })
      .def("__repr__", [](const Crystal& c) {
        return "Crystal('" + c.structure.composition().reduced_formula() + "', " + std::to_string(c.structure.size()) +
               " sites" + (c.id.empty() ? "" : ", id='" + c.id + "'") + ")";
      });

  m.def(
      "_read",
      [](const std::string& path, double overlap_tolerance) {
        ReadOptions o;
        o.overlap_tolerance = overlap_tolerance;
        if (overlap_tolerance == 0) {  // as `eval csp` reads predictions: keep every site
          o.cif.merge_tolerance = 1e-6;
          o.cif.merge_distinct_sites = false;
        }
        Dataset d;
        {
          py::gil_scoped_release nogil;
          d = read_structures(path, o);
        }
        return crystals_of(d);
      },
      py::arg("path"), py::arg("overlap_tolerance") = 0.01, "every structure of a file or folder of CIFs, in any format the CLI reads");
  m.def(
      "_write",
      [](const std::vector<Crystal>& crystals, const std::string& path, bool symmetrize) {
        const Dataset d = dataset_of(crystals);
        WriteOptions o;
        o.symmetrize = symmetrize;
        py::gil_scoped_release nogil;
        write_structures(d, path, o);
      },
      py::arg("crystals"), py::arg("path"), py::arg("symmetrize") = false);
  m.def(
      "_spacegroup",
      [](const Crystal& c, double symprec, double angle_tolerance) {
        const SpaceGroupInfo g = analyze_symmetry(c.structure, symprec, angle_tolerance);
        return py::make_tuple(g.found ? g.number : 0, g.international);
      },
      py::arg("crystal"), py::arg("symprec") = kDefaultSymprec, py::arg("angle_tolerance") = kDefaultAngleTolerance);
  m.def(
      "_validity",
      [](const std::vector<Crystal>& crystals) {
        std::vector<Validity> v(crystals.size());
        {
          py::gil_scoped_release nogil;
          for (std::size_t i = 0; i < crystals.size(); ++i) v[i] = check_validity(crystals[i].structure);
        }
        py::list out;
        for (const auto& x : v) {
          py::dict d;
          d["structural"] = x.structural;
          d["compositional"] = x.compositional;
          d["valid"] = x.valid();
          out.append(d);
        }
        return out;
      },
      py::arg("crystals"));
}

}  // namespace xtaldiff::python
