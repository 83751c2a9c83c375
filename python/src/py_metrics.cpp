// The metrics: match (pymatgen's StructureMatcher.get_rms_dist) and eval_csp
// (the CLI's `eval csp`, same pairing, protocol and JSON keys).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "eval/csp_metrics.h"
#include "eval/csp_pairing.h"
#include "eval/structure_matcher.h"
#include "io/formats.h"
#include "py_common.h"
#include "util/error.h"

namespace xtaldiff::python {
namespace {

py::object json_to_python(const nlohmann::ordered_json& j) {
  return py::module_::import("json").attr("loads")(j.dump());
}

// A path is read as `eval csp` reads it; a list of crystals is taken as is.
Dataset dataset_from(const py::object& source, bool predictions) {
  if (py::isinstance<py::str>(source)) {
    const std::string path = source.cast<std::string>();
    py::gil_scoped_release nogil;
    return read_structures(path, predictions ? csp_prediction_read_options() : csp_truth_read_options());
  }
  return dataset_of(source.cast<std::vector<Crystal>>());
}

}  // namespace

void bind_metrics(py::module_& m) {
  m.def(
      "_match",
      [](const Crystal& a, const Crystal& b, double ltol, double stol, double angle_tol, bool primitive_cell,
         bool scale, bool attempt_supercell) -> py::object {
        MatcherOptions o{ltol, stol, angle_tol, primitive_cell, scale, attempt_supercell};
        MatchResult r;
        {
          py::gil_scoped_release nogil;
          r = StructureMatcher(o).get_rms_dist(a.structure, b.structure);
        }
        if (!r.match) return py::none();
        return py::make_tuple(*r.rms, *r.max_dist);
      },
      py::arg("a"), py::arg("b"), py::arg("ltol") = 0.2, py::arg("stol") = 0.3, py::arg("angle_tol") = 5.0,
      py::arg("primitive_cell") = true, py::arg("scale") = true, py::arg("attempt_supercell") = false);

  m.def(
      "_eval_csp",
      [](const py::object& pred, const py::object& gt, int k, const std::string& protocol, bool only_predicted,
         int threads, double symprec) {
        CspEvalOptions o;
        o.protocol = parse_csp_protocol(protocol);
        o.threads = threads;
        o.symprec = symprec;
        const Dataset truth = dataset_from(gt, false);
        const Dataset predicted = dataset_from(pred, true);
        nlohmann::ordered_json j;
        {
          py::gil_scoped_release nogil;
          CspPairing pairs = pair_csp_predictions(truth, predicted, truth.source, only_predicted);
          if (k > 0)
            for (auto& t : pairs.tasks)
              if (t.predictions.size() > static_cast<std::size_t>(k)) t.predictions.resize(k);
          j = csp_result_json(evaluate_csp(pairs.tasks, o), o, pairs.unknown_ids);
        }
        return json_to_python(j);
      },
      py::arg("pred"), py::arg("gt"), py::arg("k") = 0, py::arg("protocol") = "diffcsp",
      py::arg("only_predicted") = false, py::arg("threads") = 0, py::arg("symprec") = kDefaultSymprec);
}

}  // namespace xtaldiff::python
