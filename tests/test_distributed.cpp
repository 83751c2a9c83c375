// Data-parallel training and sampling over c10d (src/dist), as a user runs
// them: `xtaldiff train --nproc 2`, ranks started by hand with torchrun's
// variables, a rank that dies or hangs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include <gtest/gtest.h>

#include "cli_harness.h"
#include "dist/launcher.h"
#include "io/dataset.h"
#include "model/model_file.h"

using namespace xtaldiff_test;

namespace {

// The first `n` Perov-5 validation rows as a training set (and the next 16
// as its validation set) in `dir`.
void write_small_training_set(const TempDir& dir, std::size_t n) {
  xtaldiff::Dataset rows = xtaldiff::read_cdvae_csv(data("datasets/perov_5/val.csv.gz"));
  xtaldiff::Dataset val = rows;
  val.records.assign(rows.records.begin() + n, rows.records.begin() + n + 16);
  rows.records.resize(n);
  xtaldiff::write_cdvae_csv(rows, dir / "train.csv");
  xtaldiff::write_cdvae_csv(val, dir / "val.csv");
}

std::string train_command(const TempDir& dir, const std::string& out, int batch, int epochs) {
  return "train --task gen --config tiny --threads 1 -q --seed 7 --lr 1e-3 --data " + (dir / "train.csv") + " --val " +
         (dir / "val.csv") + " --batch " + std::to_string(batch) + " --epochs " + std::to_string(epochs) + " --out " +
         (dir / out);
}

// The largest absolute difference between two runs' weights, parameter by
// parameter: the raw weights and the EMA of their checkpoints (OUT.ckpt;
// the model file holds the EMA alone).
double max_weight_difference(const std::string& a_out, const std::string& b_out) {
  const auto a = xtaldiff::read_model_file(a_out + ".ckpt"), b = xtaldiff::read_model_file(b_out + ".ckpt");
  double worst = 0;
  auto compare = [&](xtaldiff::Model& x, xtaldiff::Model& y) {
    const auto px = x.named_parameters(), py = y.named_parameters();
    EXPECT_EQ(px.size(), py.size());
    for (const auto& item : px) {
      const auto& other = py[item.key()];
      worst = std::max(worst, (item.value() - other).abs().max().item<double>());
    }
  };
  compare(*a.model, *b.model);
  EXPECT_TRUE(a.ema && b.ema);
  if (a.ema && b.ema) compare(*a.ema, *b.ema);
  return worst;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

// 37 crystals, global batch 16: two full steps and a last one of 5 crystals
// (3 on rank 0, 2 on rank 1) per epoch; three epochs, nine Adam steps.
TEST(Distributed, TwoRanksWithBatchBTrainTheWeightsOfOneProcessWithBatch2B) {
  TempDir t;
  write_small_training_set(t, 37);
  CliRun one = run(train_command(t, "one.xtd", 16, 3));
  ASSERT_EQ(one.code, 0) << one.out;
  CliRun two = run(train_command(t, "two.xtd", 8, 3) + " --nproc 2");
  ASSERT_EQ(two.code, 0) << two.out;
  const double diff = max_weight_difference(t / "one.xtd", t / "two.xtd");
  EXPECT_LT(diff, 1e-5);
  // The comparison tells trainings apart: one process with batch B (not
  // 2B) ends elsewhere.
  ASSERT_EQ(run(train_command(t, "half.xtd", 8, 3)).code, 0);
  EXPECT_GT(max_weight_difference(t / "one.xtd", t / "half.xtd"), 1e-3);
  const std::string model = run("model --json " + (t / "two.xtd")).out;
  EXPECT_NE(model.find("\"world_size\": 2"), std::string::npos) << model;
  // Rank 0 alone wrote the log: one line per epoch.
  const std::string log = read_text(t / "two.xtd.log");
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 3) << log;
}

// A run checkpointed on 2 ranks continues on 1 (and the other way round)
// exactly as if it had never stopped.
TEST(Distributed, ResumeWorksWithAnotherWorldSize) {
  TempDir t;
  write_small_training_set(t, 37);
  ASSERT_EQ(run(train_command(t, "straight.xtd", 16, 2)).code, 0);
  CliRun r = run(train_command(t, "resumed.xtd", 8, 1) + " --nproc 2");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run(train_command(t, "resumed.xtd", 16, 2) + " --resume");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_LT(max_weight_difference(t / "straight.xtd", t / "resumed.xtd"), 1e-5);
}

TEST(Distributed, SamplingOverTwoRanksWritesTheStructuresOfOneRank) {
  TempDir t;
  // 12 crystals of 5 atoms in batches of 10 atoms: six batches, three per rank.
  const std::string sample = "sample --model " + shipped_model("perov5-csp.xtd") + " --from " +
                             data("datasets/perov_5/test.csv.gz") + " --limit 12 --steps 5 --seed 3 --batch-atoms 10 "
                             "--threads 1 -q --out ";
  CliRun one = run(sample + (t / "one"));
  ASSERT_EQ(one.code, 0) << one.out;
  CliRun two = run(sample + (t / "two") + " --nproc 2");
  ASSERT_EQ(two.code, 0) << two.out;
  const std::string a = read_text(t / "one/samples.extxyz"), b = read_text(t / "two/samples.extxyz");
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b);
}

// Ranks started by hand, as torchrun or srun would; rank 1 is killed (or
// frozen) in its first epochs and rank 0 must give up within --dist-timeout.
class DistributedFailure : public ::testing::TestWithParam<const char*> {};

TEST_P(DistributedFailure, TheOtherRankExitsWithAClearErrorWithinTheTimeout) {
  const std::string signal = GetParam();
  TempDir t;
  write_small_training_set(t, 200);
  const int port = xtaldiff::free_local_port();  // nobody listens on it now
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port);
  const std::string train = std::string(XTALDIFF_BINARY) + " " + train_command(t, "r.xtd", 8, 100000) +
                            " --dist-timeout 8";
  // Rank 1 is stopped once rank 0 has logged its first epoch; then the
  // seconds rank 0 takes to exit are counted.
  CliRun r = run_shell(env + " RANK=0 " + train + " > " + (t / "r0.out") + " 2>&1 & p0=$!\n" + env + " RANK=1 " + train +
                       " > " + (t / "r1.out") + " 2>&1 & p1=$!\n"
                       "for i in $(seq 2400); do grep -q epoch " + (t / "r.xtd.log") +
                       " 2>/dev/null && break; sleep 0.25; done\n"
                       "kill -" + signal + " $p1; start=$(date +%s)\n"
                       "wait $p0; echo \"rank0_exit=$?\"; echo \"seconds=$(( $(date +%s) - start ))\"\n"
                       "kill -KILL $p1 2>/dev/null; wait $p1 2>/dev/null; cat " + (t / "r0.out"));
  EXPECT_NE(r.out.find("rank0_exit=5"), std::string::npos) << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("seconds=(\\d+)"))) << r.out;
  EXPECT_LE(std::stoi(m[1]), 8 + 10) << r.out;  // the timeout, and time to write its message
  EXPECT_NE(r.out.find("rank 0 of 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("another rank exited, crashed or did not answer"), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(KilledOrFrozen, DistributedFailure, ::testing::Values("KILL", "STOP"));

TEST(Distributed, APortInUseIsAClearError) {
  TempDir t;
  write_small_training_set(t, 37);
  // Hold a port as another program would.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  CliRun r = run(train_command(t, "p.xtd", 8, 1) + " --nproc 2 --dist-timeout 5 --master-port " + std::to_string(port));
  close(fd);
  EXPECT_EQ(r.code, 5) << r.out;
  EXPECT_NE(r.out.find("port is in use"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(t / "p.xtd"));
}

TEST(Distributed, BadRankEnvironmentIsAUsageError) {
  TempDir t;
  write_small_training_set(t, 37);
  CliRun r = run_shell("RANK=3 WORLD_SIZE=2 " + std::string(XTALDIFF_BINARY) + " " + train_command(t, "e.xtd", 8, 1));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("RANK='3'"), std::string::npos) << r.out;
  r = run_shell("RANK=0 WORLD_SIZE=2 " + std::string(XTALDIFF_BINARY) + " " + train_command(t, "e.xtd", 8, 1) +
                " --nproc 2");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--nproc starts the ranks itself"), std::string::npos) << r.out;
}
