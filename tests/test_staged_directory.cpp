// An output folder appears whole or not at all (issue 16: a killed sample
// run leaves no half-written folder and can be re-run into the same one).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "util/error.h"
#include "util/file_io.h"
#include "util/staged_directory.h"

namespace fs = std::filesystem;
using namespace xtaldiff;

namespace {

struct Tmp {
  fs::path root = fs::temp_directory_path() / ("xtd_staged_" + std::to_string(::getpid()));
  Tmp() { fs::create_directories(root); }
  ~Tmp() { fs::remove_all(root); }
  std::string at(const std::string& name) const { return (root / name).string(); }
};

void touch(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

TEST(StagedDirectory, CommitReplacesTheFolderWithoutStaleFiles) {
  Tmp t;
  const std::string out = t.at("out");
  fs::create_directories(out);
  touch(out + "/stale.cif", "old");
  {
    StagedDirectory s(out + "/");  // a trailing slash names the same folder
    EXPECT_EQ(s.target(), out);
    touch(s.path() + "/new.cif", "new");
    EXPECT_TRUE(fs::exists(out + "/stale.cif"));  // untouched until commit
    s.commit();
  }
  EXPECT_TRUE(fs::exists(out + "/new.cif"));
  EXPECT_FALSE(fs::exists(out + "/stale.cif"));
  std::size_t entries = 0;
  for (const auto& e : fs::directory_iterator(t.root)) entries += e.path().filename() != "out";
  EXPECT_EQ(entries, 0u) << "no staging or old folder left";
}

TEST(StagedDirectory, AFailedRunLeavesTheEarlierFolderAsItWas) {
  Tmp t;
  const std::string out = t.at("out");
  fs::create_directories(out);
  touch(out + "/kept.cif", "old");
  try {
    StagedDirectory s(out);
    touch(s.path() + "/half.cif", "partial");
    throw Error("sampling failed", ErrorKind::kInput);
  } catch (const Error&) {
  }
  EXPECT_EQ(read_file(out + "/kept.cif"), "old");
  EXPECT_FALSE(fs::exists(out + "/half.cif"));
  EXPECT_FALSE(fs::exists(out + ".partial-" + std::to_string(::getpid())));
}

TEST(StagedDirectory, AKilledRunsStagingFolderIsRemovedByTheNextRun) {
  Tmp t;
  const std::string out = t.at("new");
  // What `kill -9` leaves: the staging folder of a process that is gone
  // (pid 2^22 + 1 is above Linux's pid_max limit, so no process has it).
  const std::string abandoned = out + ".partial-4194305";
  fs::create_directories(abandoned);
  touch(abandoned + "/x.cif", "partial");
  StagedDirectory s(out);
  EXPECT_FALSE(fs::exists(abandoned));
  EXPECT_FALSE(fs::exists(out));  // nothing in place before commit
  s.commit();
  EXPECT_TRUE(fs::is_directory(out));
}

TEST(StagedDirectory, RefusesAFileWhereTheFolderShouldBe) {
  Tmp t;
  touch(t.at("file"), "x");
  EXPECT_THROW(StagedDirectory(t.at("file")), Error);
}
