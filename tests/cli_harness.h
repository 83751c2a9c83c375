// The `xtaldiff` command as a user runs it, for the CLI tests: run it,
// capture its output and exit code, and give each test a private folder.
// XTALDIFF_BINARY and XTALDIFF_DATA_DIR come from tests/CMakeLists.txt.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace xtaldiff_test {

namespace fs = std::filesystem;

struct CliRun {
  int code;
  std::string out;  // stdout and stderr together
};

// A shell command line, its stdout and stderr together.
inline CliRun run_shell(const std::string& command) {
  const std::string cmd = command + " 2>&1";
  CliRun r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The xtaldiff command with these arguments.
inline CliRun run(const std::string& args) { return run_shell(std::string(XTALDIFF_BINARY) + " " + args); }

inline std::string data(const std::string& rel) { return std::string(XTALDIFF_DATA_DIR) + "/" + rel; }

// A model file shipped in models/.
inline std::string shipped_model(const std::string& name) { return std::string(XTALDIFF_DATA_DIR) + "/../models/" + name; }

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("xtd_cli_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

inline const char* kNaClPoscar = "NaCl\n1.0\n5.64 0 0\n0 5.64 0\n0 0 5.64\nNa Cl\n4 4\nDirect\n"
                          "0 0 0\n0.5 0.5 0\n0.5 0 0.5\n0 0.5 0.5\n0.5 0 0\n0 0.5 0\n0 0 0.5\n0.5 0.5 0.5\n";

}  // namespace xtaldiff_test
