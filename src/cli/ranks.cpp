#include "cli/ranks.h"

#include "dist/launcher.h"
#include "util/error.h"

namespace xtaldiff::cli {

void add_rank_options(CLI::App* cmd, RankOptions& o) {
  cmd->add_option("--nproc", o.nproc,
                  "data-parallel ranks to start on this machine (as torchrun --nproc-per-node; under torchrun or srun "
                  "the ranks come from the environment)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--master-port", o.master_port, "--nproc: rank 0's rendezvous port (default: a free one)")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--dist-timeout", o.timeout_seconds,
                  "seconds a rank waits for the others (rendezvous, every collective) before it fails")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
}

bool launched_as_ranks(const RankOptions& o) {
  if (o.nproc <= 1) return false;
  if (rank_layout_from_environment())
    throw Error("--nproc starts the ranks itself: it cannot be used inside a rank (RANK / WORLD_SIZE or Slurm's "
                "SLURM_PROCID are set; drop --nproc under torchrun or srun)",
                ErrorKind::kUsage);
  const auto grace = std::chrono::milliseconds(static_cast<long>(o.timeout_seconds * 1000));
  const int rc = launch_local_ranks(without_nproc(invoked_arguments()), o.nproc, o.master_port, grace);
  if (rc == 0) return true;
  const ErrorKind kind = rc >= 1 && rc <= 5 ? static_cast<ErrorKind>(rc) : ErrorKind::kPeer;
  throw Error("a rank failed (exit code " + std::to_string(rc) + "; its message is above)", kind);
}

std::unique_ptr<Distributed> join_ranks(const RankOptions& o) {
  const auto layout = rank_layout_from_environment();
  if (!layout) return nullptr;
  return std::make_unique<Distributed>(*layout,
                                       std::chrono::milliseconds(static_cast<long>(o.timeout_seconds * 1000)));
}

std::string device_of_rank(const std::string& device, const Distributed* dist) {
  if (!dist || device != "cuda") return device;
  return "cuda:" + std::to_string(dist->layout().local_rank);
}

}  // namespace xtaldiff::cli
