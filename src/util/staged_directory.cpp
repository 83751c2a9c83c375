#include "util/staged_directory.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "util/error.h"

namespace fs = std::filesystem;

namespace xtaldiff {
namespace {

// The trailing slash of "out/" would make "out/.partial-1" a child.
std::string without_trailing_slash(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

bool process_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

// Staging folders DIR.partial-PID of runs that were killed.
void remove_abandoned(const std::string& target) {
  const fs::path t(target);
  const fs::path parent = t.has_parent_path() ? t.parent_path() : fs::path(".");
  const std::string prefix = t.filename().string() + ".partial-";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    long pid = 0;
    try {
      pid = std::stol(name.substr(prefix.size()));
    } catch (const std::exception&) {
      continue;
    }
    if (!process_alive(pid)) fs::remove_all(entry.path(), ec);
  }
}

}  // namespace

StagedDirectory::StagedDirectory(std::string target) : target_(without_trailing_slash(std::move(target))) {
  if (target_.empty()) throw Error("no output folder given", ErrorKind::kUsage);
  std::error_code ec;
  if (fs::exists(target_, ec) && !fs::is_directory(target_, ec))
    throw Error(target_ + ": exists and is not a folder", ErrorKind::kIo);
  const fs::path parent = fs::path(target_).has_parent_path() ? fs::path(target_).parent_path() : fs::path(".");
  fs::create_directories(parent, ec);
  if (ec) throw Error(parent.string() + ": cannot create folder (" + ec.message() + ")", ErrorKind::kIo);
  remove_abandoned(target_);
  staging_ = target_ + ".partial-" + std::to_string(::getpid());
  fs::remove_all(staging_, ec);
  fs::create_directory(staging_, ec);
  if (ec) throw Error(staging_ + ": cannot create folder (" + ec.message() + ")", ErrorKind::kIo);
}

StagedDirectory::~StagedDirectory() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void StagedDirectory::commit() {
  std::error_code ec;
  const std::string old = target_ + ".old-" + std::to_string(::getpid());
  const bool had_target = fs::exists(target_, ec);
  if (had_target) {
    fs::rename(target_, old, ec);
    if (ec) throw Error(target_ + ": cannot move the earlier results aside (" + ec.message() + ")", ErrorKind::kIo);
  }
  fs::rename(staging_, target_, ec);
  if (ec) {
    const std::string why = ec.message();
    if (had_target) fs::rename(old, target_, ec);  // put the earlier results back
    throw Error(target_ + ": cannot move the new results into place (" + why + ")", ErrorKind::kIo);
  }
  committed_ = true;
  if (had_target) fs::remove_all(old, ec);
}

}  // namespace xtaldiff
