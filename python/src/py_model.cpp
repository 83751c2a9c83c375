// Model: a loaded diffusion model file, its description (`model --json`)
// and sample(), which plans, checks and runs a request exactly as `xtaldiff
// sample` does (sample/request.h, sample/sample_run.h), with the GIL
// released while it samples.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "ml/runtime.h"
#include "model/model_file.h"
#include "py_common.h"
#include "sample/model_info.h"
#include "sample/request.h"
#include "sample/sample_run.h"
#include "util/error.h"

namespace xtaldiff::python {
namespace {

py::object json_to_python(const nlohmann::json& j) { return py::module_::import("json").attr("loads")(j.dump()); }

struct PyModel {
  std::string path;
  LoadedModel loaded;
  nlohmann::json info;
};

std::unique_ptr<PyModel> load(const std::string& path) {
  auto m = std::make_unique<PyModel>();
  m->path = path;
  py::gil_scoped_release nogil;
  m->info = describe_model_file(path);  // also refuses files that are not models, with the CLI's message
  m->loaded = load_model_file(path);
  return m;
}

// Sampling arguments as the Python layer passes them (xtaldiff/__init__.py
// turns lists, dicts and None into these).
py::tuple sample(PyModel& m, const py::dict& a, const py::object& progress) {
  SampleRequest r;
  r.model_path = m.path;
  auto str = [&](const char* k, std::string& out) { if (a.contains(k)) out = a[k].cast<std::string>(); };
  auto num = [&](const char* k, auto& out) { if (a.contains(k)) out = a[k].cast<std::decay_t<decltype(out)>>(); };
  str("formula", r.formula);
  num("z", r.z);
  str("atoms", r.atoms);
  num("n", r.n);
  str("from", r.from);
  num("k", r.k);
  num("skip", r.skip);
  num("limit", r.limit);
  str("system", r.system);
  num("max_coeff", r.max_coeff);
  num("per_composition", r.per_composition);
  str("elements", r.elements);
  str("require", r.require);
  str("prompt", r.prompt);
  num("max_elements", r.max_elements);
  if (a.contains("targets")) r.targets = a["targets"].cast<std::vector<std::string>>();
  num("spacegroup", r.spacegroup);
  num("guidance", r.cfg_weight);
  str("guide", r.guide);
  num("guidance_scale", r.guidance_scale);
  str("predictor", r.predictor);
  str("sampler", r.sampler);
  num("steps", r.steps);
  num("anneal", r.anneal);
  str("precision", r.precision);
  str("device", r.device);
  num("seed", r.seed);
  int threads = 0;
  num("threads", threads);
  if (r.n < 1) throw Error("n must be at least 1", ErrorKind::kUsage);

  configure_threads(threads);
  SamplePlan plan = plan_sample(r, m.loaded);
  SampleProgress report_progress = [&progress](double done, std::size_t total) {
    check_interrupt();
    if (!progress.is_none()) {
      py::gil_scoped_acquire gil;
      progress(done, total);
    }
  };
  SampleRun run;
  {
    py::gil_scoped_release nogil;
    run = run_sample_plan(r, plan, m.loaded.for_sampling(), report_progress);
  }
  nlohmann::json spacegroups = nlohmann::json::object();
  for (const auto& [sg, count] : run.spacegroups) spacegroups[std::to_string(sg)] = count;
  nlohmann::json details = {{"notes", plan.notes},
                            {"warnings", plan.warnings},
                            {"extrapolations", plan.extrapolations},
                            {"messages", run.messages},
                            {"spacegroups", spacegroups},
                            {"sampler_source", plan.sampler_source},
                            {"network_evaluations", run.report.network_evaluations},
                            {"seconds", run.report.seconds},
                            {"retried", run.report.retried},
                            {"failed", run.report.failed}};
  return py::make_tuple(crystals_of(run.out), json_to_python(details));
}

}  // namespace

void bind_model(py::module_& m) {
  py::class_<PyModel>(m, "_Model")
      .def(py::init(&load), py::arg("path"))
      .def_readonly("path", &PyModel::path)
      .def_property_readonly("info", [](const PyModel& p) { return json_to_python(p.info); })
      .def("_sample", &sample, py::arg("args"), py::arg("progress") = py::none());
}

}  // namespace xtaldiff::python
