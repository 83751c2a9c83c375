// Model: a loaded model file, its description (`model --json`) and
// sample(), which plans, checks and runs a request exactly as `xtaldiff
// sample` does (sample/request.h, sample/sample_run.h; for a composition
// model sample/composition_run.h), with the GIL released while it samples.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "ml/runtime.h"
#include "model/cdvae_model.h"
#include "model/composition_model.h"
#include "sample/cdvae_run.h"
#include "model/model_file.h"
#include "sample/composition_run.h"
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
  LoadedModel loaded;            ///< a diffusion model
  LoadedArchive composition;     ///< or a composition model (its `model` set)
  LoadedArchive cdvae;           ///< or a CDVAE (its `model` set)
  nlohmann::json info;
};

std::unique_ptr<PyModel> load(const std::string& path) {
  auto m = std::make_unique<PyModel>();
  m->path = path;
  py::gil_scoped_release nogil;
  m->info = describe_model_file(path);  // also refuses files that are not models, with the CLI's message
  if (m->info.value("task", "") == "composition")
    m->composition = read_model_file(path);
  else if (m->info.value("arch", "") == "cdvae")
    m->cdvae = read_model_file(path);
  else
    m->loaded = load_model_file(path);
  return m;
}

// A CDVAE: de novo, reconstruction or targets (sample/cdvae_run.h).
py::tuple sample_cdvae(PyModel& m, const SampleRequest& r, const SampleProgress& progress) {
  auto& model = dynamic_cast<CdvaeModel&>(m.cdvae.ema ? *m.cdvae.ema : *m.cdvae.model);
  CdvaeRun run;
  {
    py::gil_scoped_release nogil;
    run = run_cdvae_sample(r, model, m.cdvae.state.metadata, progress);
  }
  nlohmann::json spacegroups = nlohmann::json::object();
  for (const auto& [sg, count] : run.spacegroups) spacegroups[std::to_string(sg)] = count;
  nlohmann::json details = {{"notes", nlohmann::json::array()},
                            {"warnings", run.warnings},
                            {"extrapolations", nlohmann::json::array()},
                            {"messages", run.messages},
                            {"spacegroups", spacegroups},
                            {"sampler_source", "langevin"},
                            {"latents", run.latent_source},
                            {"targets", run.target_report},
                            {"network_evaluations", run.report.network_evaluations},
                            {"seconds", run.report.seconds},
                            {"retried", run.report.retried},
                            {"failed", run.report.failed}};
  return py::make_tuple(crystals_of(run.out), json_to_python(details));
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
  str("reconstruct", r.reconstruct);
  num("langevin_steps", r.langevin_steps);
  num("step_lr", r.step_lr);
  num("latent_steps", r.latent_steps);
  num("latent_lr", r.latent_lr);
  str("type_update", r.type_update);
  int threads = 0;
  num("threads", threads);
  if (r.n < 1) throw Error("n must be at least 1", ErrorKind::kUsage);

  configure_threads(threads);
  SampleProgress report_progress = [&progress](double done, std::size_t total) {
    check_interrupt();
    if (!progress.is_none()) {
      py::gil_scoped_acquire gil;
      progress(done, total);
    }
  };
  if (m.cdvae.model) return sample_cdvae(m, r, report_progress);
  if (!r.reconstruct.empty() || r.langevin_steps)
    throw Error("reconstruct / langevin_steps: for CDVAE models (" + m.path + " is a " +
                    m.info.value("arch", std::string("?")) + " model)",
                ErrorKind::kUsage);
  SamplePlan plan = plan_sample(r, m.loaded);
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

// Formulas from a composition model: (list of cell formulas, details).
py::tuple sample_formulas(PyModel& m, const py::dict& a) {
  if (!m.composition.model) throw Error(m.path + ": not a composition model", ErrorKind::kUsage);
  SampleRequest r;
  r.model_path = m.path;
  auto str = [&](const char* k, std::string& out) { if (a.contains(k)) out = a[k].cast<std::string>(); };
  auto num = [&](const char* k, auto& out) { if (a.contains(k)) out = a[k].cast<std::decay_t<decltype(out)>>(); };
  num("n", r.n);
  str("elements", r.elements);
  str("require", r.require);
  str("system", r.system);
  str("prompt", r.prompt);
  num("max_elements", r.max_elements);
  str("atoms", r.atoms);
  if (a.contains("targets")) r.targets = a["targets"].cast<std::vector<std::string>>();
  num("guidance", r.cfg_weight);
  num("steps", r.steps);
  str("device", r.device);
  num("seed", r.seed);
  // Structure options, refused by plan_composition_run with the CLI's message.
  str("formula", r.formula);
  str("from", r.from);
  num("spacegroup", r.spacegroup);
  str("guide", r.guide);
  num("k", r.k);
  str("sampler", r.sampler);
  int threads = 0;
  num("threads", threads);
  if (r.n < 1) throw Error("n must be at least 1", ErrorKind::kUsage);
  configure_threads(threads);
  auto& model = dynamic_cast<CompositionModel&>(m.composition.ema ? *m.composition.ema : *m.composition.model);
  CompositionRun run = plan_composition_run(r, model, m.composition.state.metadata);
  {
    py::gil_scoped_release nogil;
    run_composition_sampling(run, r, model);
  }
  std::vector<std::string> formulas;
  for (const auto& c : run.sampled.compositions) formulas.push_back(compact_formula(c));
  const auto rows = composition_rows(run.sampled.compositions, m.composition.state.metadata);
  std::vector<bool> valid, novel;
  for (const auto& row : rows) valid.push_back(row.smact_valid), novel.push_back(row.novel);
  const nlohmann::json details = {{"warnings", run.warnings},
                                  {"draws", run.sampled.draws},
                                  {"malformed_draws", run.sampled.malformed},
                                  {"rejected_draws", run.sampled.rejected},
                                  {"draw_limit_reached", run.sampled.exhausted},
                                  {"network_evaluations", run.sampled.network_evaluations},
                                  {"smact_valid", valid},
                                  {"novel", novel},
                                  {"seconds", run.seconds}};
  return py::make_tuple(formulas, json_to_python(details));
}

}  // namespace

void bind_model(py::module_& m) {
  py::class_<PyModel>(m, "_Model")
      .def(py::init(&load), py::arg("path"))
      .def_readonly("path", &PyModel::path)
      .def_property_readonly("info", [](const PyModel& p) { return json_to_python(p.info); })
      .def("_sample", &sample, py::arg("args"), py::arg("progress") = py::none())
      .def("_sample_formulas", &sample_formulas, py::arg("args"));
}

}  // namespace xtaldiff::python
