/// @file
/// An output folder that appears whole or not at all. A command writes into
/// a staging folder beside the target (`DIR.partial-PID`) and `commit()`
/// puts it in place: an earlier DIR is moved aside, the staging folder
/// renamed to DIR, the old one removed. So a run that fails or is killed
/// leaves an earlier DIR as it was (a kill leaves at most the staging
/// folder, which the next run into DIR removes), and a re-run never mixes
/// new files with stale ones.
#pragma once

#include <string>

namespace xtaldiff {

class StagedDirectory {
 public:
  /// Creates the staging folder for `target` (and removes staging folders
  /// of earlier runs into `target` whose process no longer exists).
  explicit StagedDirectory(std::string target);
  /// Removes the staging folder unless committed.
  ~StagedDirectory();
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;

  /// Where to write now.
  const std::string& path() const { return staging_; }
  const std::string& target() const { return target_; }
  /// Puts the staging folder in place of the target. Throws Error (kIo) and
  /// keeps the earlier target when a rename fails.
  void commit();

 private:
  std::string target_, staging_;
  bool committed_ = false;
};

}  // namespace xtaldiff
