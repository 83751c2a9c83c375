// xtaldiff: crystal structure generation with diffusion models, and the
// field's metrics. This file is the command table and the error → exit code
// mapping; each subcommand lives in its own cmd_*.cpp.
#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "cli/commands.h"
#include "xtaldiff_version.h"
#include "util/error.h"

namespace {

struct CommandEntry {
  void (*add)(CLI::App&);
};

// One row per subcommand, in the order `xtaldiff --help` lists them.
const CommandEntry kCommands[] = {
    {xtaldiff::cli::add_info_command},
    {xtaldiff::cli::add_convert_command},
    {xtaldiff::cli::add_validate_command},
    {xtaldiff::cli::add_match_command},
    {xtaldiff::cli::add_eval_command},
    {xtaldiff::cli::add_enumerate_command},
    {xtaldiff::cli::add_report_command},
#ifdef XTALDIFF_WITH_TORCH
    {xtaldiff::cli::add_train_command},
    {xtaldiff::cli::add_sample_command},
    {xtaldiff::cli::add_predict_command},
    {xtaldiff::cli::add_model_command},
#endif
};

std::string g_command_line;
std::vector<std::string> g_arguments;

// An argument as a POSIX shell reads it back: bare when it holds only
// characters the shell leaves alone, else in single quotes.
std::string shell_quoted(const std::string& arg) {
  const bool plain = !arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                            "0123456789-_.,/:=+@%") == std::string::npos;
  if (plain) return arg;
  std::string out = "'";
  for (char ch : arg) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

}  // namespace

const std::string& xtaldiff::cli::invoked_command_line() { return g_command_line; }
const std::vector<std::string>& xtaldiff::cli::invoked_arguments() { return g_arguments; }

int main(int argc, char** argv) {
  g_command_line = "xtaldiff";
  for (int i = 1; i < argc; ++i) g_command_line += " " + shell_quoted(argv[i]), g_arguments.push_back(argv[i]);
  CLI::App app{"xtaldiff: crystal structures with diffusion models, judged by the field's metrics"};
  app.set_version_flag("--version", std::string("xtaldiff ") + XTALDIFF_VERSION);
  app.require_subcommand(1);
  for (const auto& c : kCommands) c.add(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(xtaldiff::ErrorKind::kUsage);
  } catch (const xtaldiff::Error& e) {
    std::fprintf(stderr, "xtaldiff: error: %s\n", e.what());
    return static_cast<int>(e.kind());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "xtaldiff: error: out of memory\n");
    return static_cast<int>(xtaldiff::ErrorKind::kIo);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xtaldiff: internal error: %s\n", e.what());
    return static_cast<int>(xtaldiff::ErrorKind::kInternal);
  }
  return 0;
}
