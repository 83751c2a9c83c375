/// @file
/// Running a planned sample request (request.h) and writing what it made.
/// run_sample_plan() samples, gives every output the space group spglib
/// finds at symprec 0.1, has a property model predict the outputs' values
/// when the request names one (and counts the targets met), and re-checks
/// every de novo crystal against the request's constraints: a violation is
/// a bug, and the run throws instead of writing it. write_sample_run()
/// writes DIR/cifs/*.cif, samples.extxyz, samples.csv (CDVAE layout, read by
/// `eval csp`), manifest.json and report.html, all into a staging folder
/// that replaces DIR at the end: a failed or killed run leaves an earlier
/// DIR as it was.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/dataset.h"
#include "sample/request.h"

namespace xtaldiff {

struct SampleRun {
  /// One record per structure made: id, structure, then the columns
  /// "sample", "spacegroup", condition_* (property-conditioned runs) and
  /// predicted_* (runs with a property model).
  Dataset out;
  std::map<int, std::size_t> spacegroups;         ///< space group → outputs (0: none found)
  nlohmann::json spacegroup_report = nullptr;     ///< requested group's hit rate, or null
  nlohmann::json target_report = nlohmann::json::array();  ///< per target: met, hit rate, tolerance
  std::size_t constraints_satisfied = 0;
  SampleReport report;
  std::vector<std::string> messages;              ///< one-line summaries for the user
};

SampleRun run_sample_plan(const SampleRequest& request, SamplePlan& plan, DiffusionModel& model,
                          const SampleProgress& progress = {});

/// Extra files beside the headline ones.
struct SampleOutputOptions {
  bool symmetrized_cifs = false;  ///< DIR/cifs_symmetrized/: each structure in its group at symprec 0.1
  double refine_symmetry = 0;     ///< > 0: DIR/samples_refined.csv, outputs symmetrised at this symprec
};

/// What write_structure_files wrote beside the headline files.
struct StructureFiles {
  std::size_t kept_p1 = 0;                      ///< --symmetrized-cifs: cells spglib could not standardise
  nlohmann::json refine_report = nullptr;       ///< --refine-symmetry's report, or null
};
/// The structure files of any sampling run into the (staging) folder
/// `dir`: cifs/ (file names id_sample, from each record's first value),
/// optional cifs_symmetrized/ and samples_refined.csv, samples.extxyz and
/// samples.csv. Records' values start with "sample", "spacegroup".
StructureFiles write_structure_files(const std::string& dir, const Dataset& out, const SampleOutputOptions& outputs);
/// The space group spglib finds at symprec 0.1, 0 when none (a degenerate cell).
int spacegroup_of_output(const Structure& s);

/// DIR/report.html of a sampling run (report/sample_report.h); with
/// `truth_path` (the rows the outputs predict, ids shared) each output
/// beside its ground truth.
void write_sample_report_page(const std::string& dir, const std::string& model_path, const nlohmann::json& manifest,
                              const Dataset& out, const SampleOutputOptions& outputs, const std::string& truth_path);

/// Writes the run into `dir` (see the file comment) and returns its manifest.
nlohmann::json write_sample_run(const std::string& dir, const SampleRequest& request, const SamplePlan& plan,
                                const SampleRun& run, const LoadedModel& model, const SampleOutputOptions& outputs,
                                const std::string& command_line);

}  // namespace xtaldiff
