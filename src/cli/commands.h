/// @file
/// The `xtaldiff` subcommands. Each lives in its own cmd_*.cpp, registers its
/// options on the CLI11 app and runs through library calls only; main.cpp
/// holds the table and maps errors to exit codes.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace xtaldiff::cli {

/// The command line as the user typed it ("xtaldiff sample --model ..."),
/// shell-quoted where needed; recorded once, by main, for manifests and
/// model files.
const std::string& invoked_command_line();
/// The same, as the arguments after the program name (what `--nproc` runs
/// on every rank).
const std::vector<std::string>& invoked_arguments();


/// What every command that reads one structure file or dataset takes: the
/// file, --json (one object per structure) and --no-cache.
struct StructureFileOptions {
  std::string path;
  bool json = false;
  bool no_cache = false;
};
/// Adds the file argument, --json (described by `json_help`) and --no-cache.
void add_structure_file_options(CLI::App* cmd, StructureFileOptions& o, const std::string& json_help);

/// Registers `info` on `app`; the callback runs it.
void add_info_command(CLI::App& app);
/// Registers `convert` on `app`.
void add_convert_command(CLI::App& app);
/// Registers `report` on `app`.
void add_report_command(CLI::App& app);
/// Registers `validate` on `app`.
void add_validate_command(CLI::App& app);
/// Registers `match` on `app`.
void add_match_command(CLI::App& app);
/// Registers `eval` (csp) on `app`.
void add_eval_command(CLI::App& app);
/// Registers `enumerate` on `app`.
void add_enumerate_command(CLI::App& app);
#ifdef XTALDIFF_WITH_TORCH
/// Registers `train` (LibTorch).
void add_train_command(CLI::App& app);
/// Registers `sample` (LibTorch).
void add_sample_command(CLI::App& app);
/// Registers `predict` (LibTorch).
void add_predict_command(CLI::App& app);
/// `xtaldiff model FILE [--json]`
void add_model_command(CLI::App& app);
/// `xtaldiff discover` (LibTorch): formulas to ranked structures.
void add_discover_command(CLI::App& app);
#endif

}  // namespace xtaldiff::cli
