/// @file
/// `xtaldiff sample` with a CDVAE model (model/cdvae_model.h): de novo
/// crystals from the prior (`-n`, with --elements / --require / --prompt /
/// --max-elements enforced on every output) or, with `--reconstruct
/// DATASET`, one decoded crystal per row from the encoder's mean latent,
/// the row's id kept, so that `eval csp --gt DATASET` scores CDVAE's
/// reconstruction. With `--target COLUMN=VALUE` on a model with
/// Con-CDVAE's conditioned prior, de novo latents are drawn from p(z |
/// values); otherwise (or with --latent-steps as well) the latents (drawn,
/// or the rows' μ) take --latent-steps Adam steps towards the targets on
/// the property head's prediction (CDVAE's property optimisation); the outputs then carry the head's value before and after
/// (latent_start_COLUMN, latent_COLUMN) and, with `--predictor
/// PROPERTY_MODEL`, that independent model's prediction of the decoded
/// crystal (predicted_COLUMN), from which the manifest's success rate per
/// target is counted. Options that belong to the diffusion samplers
/// (compositions, guidance, conditions, --sampler, --steps) are a usage
/// Error before any work; a reconstruct row with an element the model never
/// saw is an input Error naming the file, row and element. Writes the same
/// folder as the other models (cifs/, samples.extxyz, samples.csv,
/// manifest.json, report.html), staged so that a failed run leaves an
/// earlier one.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/dataset.h"
#include "model/cdvae_model.h"
#include "sample/cdvae_sampler.h"
#include "sample/request.h"
#include "sample/sample_run.h"

namespace xtaldiff {

struct CdvaeRun {
  bool reconstruct = false;
  CdvaeSampleOptions options;
  Dataset out;                                 ///< columns "sample", "spacegroup"
  std::map<int, std::size_t> spacegroups;
  std::size_t constraints_satisfied = 0;
  SampleReport report;
  std::vector<std::string> warnings;
  std::vector<PropertyTarget> targets;
  std::string latent_source = "prior N(0, I)";  ///< or "conditioned prior", "encoder mean"
  int latent_steps = 0;                          ///< optimisation steps taken
  nlohmann::json target_report = nlohmann::json::array();  ///< per target: hit rates by head and predictor
  std::vector<std::string> messages;                        ///< one-line summaries for the user
};

/// Langevin steps per noise level when the request names none: the model
/// file's recorded default (`model --set-default-sampler gen=langevin:N`,
/// metadata "sampler_defaults"), else its configuration's.
int cdvae_default_steps(const nlohmann::json& metadata, const CdvaeOptions& options);

/// Checks the request against the model (see the file comment), samples,
/// and finds the outputs' space groups.
CdvaeRun run_cdvae_sample(const SampleRequest& request, CdvaeModel& model, const nlohmann::json& metadata,
                          const SampleProgress& progress = {});
/// Writes the run into `dir` and returns its manifest.
nlohmann::json write_cdvae_run(const std::string& dir, const SampleRequest& request, const CdvaeRun& run,
                               const nlohmann::json& metadata, const SampleOutputOptions& outputs,
                               const std::string& command_line);

}  // namespace xtaldiff
