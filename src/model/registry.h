/// @file
/// The model registry: every architecture xtaldiff can build, by name, with
/// the tasks it learns and the function that builds it from its model-file
/// configuration. The model file (model/model_file.h) rebuilds whatever it
/// reads through here, `train --arch NAME` picks an architecture here, and
/// `xtaldiff model` lists them; none of them branches on an architecture.
/// A new architecture adds one entry in registry.cpp (its options struct
/// with to/from JSON, a Model subclass) and one trainer in
/// train/architectures.cpp.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/model.h"

namespace xtaldiff {

struct Architecture {
  std::string name;                ///< "diffcsp", "property-gnn"
  std::string summary;             ///< one line for `--help` and errors
  std::vector<std::string> tasks;  ///< what it trains for: "csp", "gen", "property"
  std::function<std::unique_ptr<Model>(const nlohmann::json& config)> build;
  bool trains(const std::string& task) const;
};

/// Every registered architecture, in a fixed order.
const std::vector<Architecture>& architectures();
/// The architecture named `name`; an Error listing the registered ones otherwise.
const Architecture& find_architecture(const std::string& name);
/// The architecture `train --task TASK` uses without --arch.
const Architecture& default_architecture(const std::string& task);
/// An untrained model of architecture `arch` built from `config`.
std::unique_ptr<Model> build_model(const std::string& arch, const nlohmann::json& config);
/// A model of the same architecture, configuration and weights as `model`,
/// on its device.
std::unique_ptr<Model> copy_model(const Model& model);

}  // namespace xtaldiff
