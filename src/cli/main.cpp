// xtaldiff: crystal structure generation with diffusion models, and the
// field's metrics. This file is the command table and the error → exit code
// mapping; each subcommand lives in its own cmd_*.cpp.
//
// It is built twice when LibTorch is present. `xtaldiff-ml` holds every
// command. `xtaldiff` (XTALDIFF_DELEGATE_ML) holds only the commands that do
// not need LibTorch and execs `xtaldiff-ml` for the others: loading and
// initialising LibTorch costs ~0.3-0.5 s at every start, several times the
// work of `eval csp` on a thousand structures (docs/METRICS.md).
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#ifdef XTALDIFF_DELEGATE_ML
#include <unistd.h>

#include <cerrno>
#endif

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
#if defined(XTALDIFF_WITH_TORCH) && !defined(XTALDIFF_DELEGATE_ML)
    {xtaldiff::cli::add_train_command},
    {xtaldiff::cli::add_sample_command},
    {xtaldiff::cli::add_predict_command},
    {xtaldiff::cli::add_model_command},
    {xtaldiff::cli::add_discover_command},
#endif
};

#ifdef XTALDIFF_DELEGATE_ML
// The commands this executable runs itself (kCommands' names).
const char* const kLocalCommands[] = {"info", "convert", "validate", "match", "eval", "enumerate", "report"};

// `eval gen --stability predicted` runs a property model (LibTorch).
bool needs_property_model(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--stability=predicted") == 0 ||
        (std::strcmp(argv[i], "--stability") == 0 && i + 1 < argc && std::strcmp(argv[i + 1], "predicted") == 0))
      return true;
  return false;
}

// True when argv names a command of this executable or only asks for the
// version; everything else (the LibTorch commands, --help, no command, a
// mistyped one) goes to xtaldiff-ml, whose help and errors know every command.
bool runs_here(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--version") == 0) return true;
    if (argv[i][0] == '-') continue;
    for (const char* name : kLocalCommands)
      if (std::strcmp(argv[i], name) == 0) return !needs_property_model(argc, argv);
    return false;
  }
  return false;
}

// xtaldiff-ml beside this executable (the build tree), else in
// ../libexec/xtaldiff/ (an installed tree).
std::string ml_executable() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "";
  self[n] = 0;
  std::string dir(self);
  dir.erase(dir.rfind('/') + 1);
  for (const std::string& candidate : {dir + "xtaldiff-ml", dir + "../libexec/xtaldiff/xtaldiff-ml"})
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  return "";
}

// Replaces this process by xtaldiff-ml with the same arguments; returns only
// when that fails, with the exit code.
int exec_ml(char** argv) {
  const std::string path = ml_executable();
  if (path.empty()) {
    std::fprintf(stderr,
                 "xtaldiff: error: this command needs xtaldiff-ml (the LibTorch commands), which was not found "
                 "beside this executable or in ../libexec/xtaldiff/\n");
    return static_cast<int>(xtaldiff::ErrorKind::kIo);
  }
  execv(path.c_str(), argv);
  std::fprintf(stderr, "xtaldiff: error: cannot run %s: %s\n", path.c_str(), std::strerror(errno));
  return static_cast<int>(xtaldiff::ErrorKind::kIo);
}
#endif

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
#ifdef XTALDIFF_DELEGATE_ML
  if (!runs_here(argc, argv)) return exec_ml(argv);
#endif
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
