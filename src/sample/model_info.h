/// @file
/// What a model file says of itself: its task, architecture, network,
/// training summary, sampler defaults and training-set facts, as one JSON
/// object. `xtaldiff model --json` prints it and the Python module's
/// `Model.info` returns it, so both always agree.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace xtaldiff {

/// One "auto" line for a CSP (`denovo` false) or de novo request, e.g.
/// "ode 20 steps, anneal 10 (built-in)".
std::string describe_default_sampler(const nlohmann::json& metadata, bool denovo, bool unimat_tensor = false);

/// The description of any model file (diffusion model or property
/// predictor); throws Error when the file is not a model.
nlohmann::json describe_model_file(const std::string& path);

}  // namespace xtaldiff
