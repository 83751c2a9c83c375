// `xtaldiff predict --model PROPERTY_MODEL FILE [--json]`: predicted
// properties of every structure of FILE (any format `info` reads); when
// FILE has the predicted columns, their mean absolute error too.
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "io/formats.h"
#include "ml/runtime.h"
#include "model/property_model.h"
#include "util/error.h"

namespace xtaldiff::cli {
namespace {

struct PredictCli {
  std::string model, path, device = "cpu";
  int threads = 0;
  bool json = false;
};

void run_predict(const PredictCli& c) {
  configure_threads(c.threads);
  LoadedPropertyModel loaded = load_property_model(c.model);
  const auto& columns = loaded.model->options().columns;
  const Dataset d = read_structures(c.path, ReadOptions{});
  std::vector<Structure> structures;
  for (const auto& r : d.records) structures.push_back(r.structure);
  const auto y = predict_structures(*loaded.model, structures, parse_device(c.device));
  std::vector<double> abs_err(columns.size(), 0.0);
  std::vector<std::size_t> labelled(columns.size(), 0);
  for (std::size_t i = 0; i < d.size(); ++i) {
    nlohmann::ordered_json j;
    j["id"] = d.records[i].id;
    std::string line = d.records[i].id;
    for (std::size_t k = 0; k < columns.size(); ++k) {
      j[columns[k]] = y[i][k];
      line += fmt::format("\t{}={:.4f}", columns[k], y[i][k]);
      if (const auto col = d.column(columns[k])) {
        if (const auto v = d.number(i, *col)) {
          abs_err[k] += std::abs(y[i][k] - *v);
          ++labelled[k];
        }
      }
    }
    fmt::print("{}\n", c.json ? j.dump() : line);
  }
  for (std::size_t k = 0; k < columns.size(); ++k)
    if (labelled[k])
      fmt::print(stderr, "{}: MAE {:.4f} over {} labelled structures\n", columns[k], abs_err[k] / labelled[k],
                 labelled[k]);
}

}  // namespace

void add_predict_command(CLI::App& app) {
  auto c = std::make_shared<PredictCli>();
  CLI::App* cmd = app.add_subcommand("predict", "Predict properties of structures with a property model");
  cmd->add_option("--model", c->model, "property model (xtaldiff train --task property)")->required();
  cmd->add_option("file", c->path, "structures (CIF, POSCAR, extxyz, CDVAE CSV, folder)")->required();
  cmd->add_flag("--json", c->json, "one JSON object per structure");
  cmd->add_option("--device", c->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--threads", c->threads, "CPU threads (0: all cores)")->capture_default_str();
  cmd->callback([c] { run_predict(*c); });
}

}  // namespace xtaldiff::cli
