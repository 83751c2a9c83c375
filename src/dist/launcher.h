/// @file
/// `--nproc N`: runs this very command as N data-parallel ranks on this
/// machine, as `torchrun --nproc-per-node N` would: each rank is a copy of
/// the executable with the same arguments and torchrun's environment
/// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1,
/// MASTER_PORT: the given port, else a free one). The launcher waits for
/// them; when one fails, it stops the others (SIGTERM, then SIGKILL after
/// `grace`) and returns that rank's exit status. A SIGTERM to the launcher
/// (a scheduler's end of allocation) is passed on to every rank; Ctrl-C
/// reaches them directly, as they share the terminal's process group.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace xtaldiff {

/// `args`: the command's arguments after the program name, without
/// `--nproc`. Returns the exit code the launcher should exit with.
int launch_local_ranks(const std::vector<std::string>& args, int nproc, int master_port,
                       std::chrono::milliseconds grace);

/// `args` without `--nproc N` / `--nproc=N` (what each rank runs).
std::vector<std::string> without_nproc(const std::vector<std::string>& args);

/// A TCP port on 127.0.0.1 that was free a moment ago (0 when none could be found).
int free_local_port();

}  // namespace xtaldiff
