/// @file
/// The options and start-up of the commands that run on several
/// data-parallel ranks (`train`, `sample`): `--nproc N` starts N local
/// ranks (dist/launcher.h); inside a rank, or under torchrun / srun, the
/// command joins the others (dist/distributed.h).
#pragma once

#include <memory>

#include "cli/commands.h"
#include "dist/distributed.h"

namespace xtaldiff::cli {

struct RankOptions {
  int nproc = 1;
  int master_port = 0;            ///< --nproc's rendezvous port (0: a free one)
  double timeout_seconds = 300;   ///< how long a rank waits for the others
};
void add_rank_options(CLI::App* cmd, RankOptions& o);

/// With --nproc N (and not already inside a rank): runs this command as N
/// local ranks and returns true when all of them succeeded (throws when
/// one failed, with its exit code's kind). Otherwise returns false.
bool launched_as_ranks(const RankOptions& o);

/// The ranks the environment describes, joined (null: one process).
std::unique_ptr<Distributed> join_ranks(const RankOptions& o);

/// One device per local rank: `cuda` becomes `cuda:LOCAL_RANK` (as under
/// torchrun); any other name is kept.
std::string device_of_rank(const std::string& device, const Distributed* dist);

}  // namespace xtaldiff::cli
