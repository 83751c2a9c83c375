/// @file
/// Error values of xtaldiff. Every failure a user can cause (bad file, bad
/// formula, bad option) is an `xtaldiff::Error` whose message names the file,
/// the line or record and the problem; the CLI maps its kind to an exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace xtaldiff {

/// What went wrong, coarsely; each kind has its own process exit code
/// (documented in docs/COMMANDS.md, "Exit codes").
enum class ErrorKind {
  kInput = 3,    ///< malformed or physically invalid input (file, formula, cell)
  kIo = 4,       ///< a file could not be opened, read or written
  kUsage = 2,    ///< bad command-line option or combination
  kPeer = 5,     ///< distributed run: another rank failed, hung, or could not be reached
  kInternal = 1  ///< a bug: please report
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorKind kind = ErrorKind::kInput)
      : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

/// "FILE:LINE: message" (line omitted when 0), the form every parser uses.
std::string located(const std::string& source, long line, const std::string& message);

}  // namespace xtaldiff
