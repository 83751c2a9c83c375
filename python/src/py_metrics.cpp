// The metrics: match (pymatgen's StructureMatcher.get_rms_dist), eval_csp
// and eval_gen (the CLI's `eval csp` / `eval gen`: same reading, pairing,
// protocol and JSON keys), and enumerate (the CLI's `enumerate`).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>

#include "eval/csp_metrics.h"
#include "eval/csp_pairing.h"
#include "eval/enumerate.h"
#include "eval/gen_inputs.h"
#include "eval/gen_metrics.h"
#include "eval/validity.h"
#include "ml/runtime.h"
#include "model/predicted_stability.h"
#include "eval/structure_matcher.h"
#include "io/formats.h"
#include "py_common.h"
#include "util/error.h"
#include "util/parallel.h"

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

std::vector<Structure> structures_of(const std::vector<Crystal>& crystals) {
  std::vector<Structure> out;
  out.reserve(crystals.size());
  for (const auto& c : crystals) out.push_back(c.structure);
  return out;
}

// Generated samples from a path (read as `eval gen` reads them) or a list;
// a list's energies come from each crystal's energy column when it has one.
GeneratedSamples samples_from(const py::object& source, const std::string& energy_column) {
  if (py::isinstance<py::str>(source)) {
    const std::string path = source.cast<std::string>();
    py::gil_scoped_release nogil;
    return read_generated_samples(path, energy_column);
  }
  GeneratedSamples s;
  const auto crystals = source.cast<std::vector<Crystal>>();
  bool any_energy = false;
  for (const auto& c : crystals) {
    s.ids.push_back(c.id);
    s.structures.push_back(c.structure);
    double e = NAN;
    if (auto it = c.columns.find(energy_column); it != c.columns.end() && !it->second.empty()) {
      try {
        e = std::stod(it->second);
        any_energy = true;
      } catch (const std::exception&) {
      }
    }
    s.e_above_hull.push_back(e);
  }
  if (!any_energy) s.e_above_hull.clear();
  return s;
}

std::vector<Structure> reference_from(const py::object& source) {
  if (py::isinstance<py::str>(source)) {
    const std::string path = source.cast<std::string>();
    py::gil_scoped_release nogil;
    return read_reference_structures(path);
  }
  return structures_of(source.cast<std::vector<Crystal>>());
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
          ScopedInterruptCheck interrupts(check_interrupt);  // Ctrl-C between crystals
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

  m.def(
      "_eval_gen",
      [](const py::object& samples, const py::object& ref, const py::object& train, const std::string& dataset,
         std::size_t n_property, uint64_t seed, int threads, const std::string& energy_column,
         const std::optional<std::vector<double>>& e_above_hull, const std::string& predictor,
         const std::string& hull, const std::string& hull_column, double stability_threshold) {
        GenEvalOptions o;
        if (!dataset.empty()) o.cutoffs = CoverageCutoffs::for_dataset(dataset);
        o.n_property = n_property;
        o.seed = seed;
        o.threads = threads;
        o.stability_threshold = stability_threshold;
        GeneratedSamples gen = samples_from(samples, energy_column);
        o.e_above_hull = gen.e_above_hull;
        if (e_above_hull) {
          if (e_above_hull->size() != gen.structures.size())
            throw Error("eval_gen: e_above_hull has " + std::to_string(e_above_hull->size()) + " values for " +
                        std::to_string(gen.structures.size()) + " samples");
          o.e_above_hull = *e_above_hull;
        }
        const std::vector<Structure> reference = reference_from(ref);
        std::vector<Structure> training;
        if (!train.is_none()) training = reference_from(train);
        const bool predicted = !predictor.empty();
        if (predicted && hull.empty() && !py::isinstance<py::str>(train))
          throw Error("eval_gen(predictor=...) needs hull=PATH (or train=PATH): the labelled entries of the convex hull",
                      ErrorKind::kUsage);
        const std::string hull_path = hull.empty() && predicted ? train.cast<std::string>() : hull;
        const bool have_train = !train.is_none();
        nlohmann::ordered_json j;
        {
          ScopedInterruptCheck interrupts(check_interrupt);
          py::gil_scoped_release nogil;
          std::optional<PredictedStability> p;
          if (predicted) {
            configure_threads(threads);
            p = predict_stability(gen.structures,
                                  {predictor, hull_path, hull_column});
            o.e_above_hull = p->e_above_hull;
          }
          const GenResult r = evaluate_generation(gen.structures, reference, have_train ? &training : nullptr, o);
          j = gen_result_json(r, o, predicted ? "predicted" : (e_above_hull ? "e_above_hull" : energy_column));
          if (p) add_predicted_stability_json(j, *p);
        }
        auto out = json_to_python(j);
        if (!gen.unreadable.empty()) {
          py::list unreadable;
          for (const auto& [i, msg] : gen.unreadable) unreadable.append(msg);
          out["unreadable"] = unreadable;
        }
        return out;
      },
      py::arg("samples"), py::arg("ref"), py::arg("train") = py::none(), py::arg("dataset") = "",
      py::arg("n_property") = 1000, py::arg("seed") = 42, py::arg("threads") = 0,
      py::arg("energy_column") = "e_above_hull", py::arg("e_above_hull") = py::none(), py::arg("predictor") = "",
      py::arg("hull") = "", py::arg("hull_column") = "formation_energy_per_atom", py::arg("stability_threshold") = 0.1);

  m.def(
      "_enumerate",
      [](const std::string& system, int max_coeff, bool valid_only) {
        EnumerateOptions o;
        o.max_coeff = max_coeff;
        o.valid_only = valid_only;
        std::vector<Composition> comps;
        {
          py::gil_scoped_release nogil;
          comps = enumerate_system(system, o);
        }
        py::list out;
        for (const auto& c : comps) {
          py::dict d;
          d["formula"] = c.reduced_formula();
          d["elements"] = c.num_elements();
          d["atoms_per_formula_unit"] = static_cast<int>(c.num_atoms());
          d["chemical_system"] = c.chemical_system();
          d["comp_valid"] = composition_valid(c);
          out.append(d);
        }
        return out;
      },
      py::arg("system"), py::arg("max_coeff") = 6, py::arg("valid_only") = true);
}

}  // namespace xtaldiff::python
