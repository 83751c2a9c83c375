#include "dist/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "util/error.h"

namespace xtaldiff {
namespace {

std::atomic<int> g_forward_signal{0};

extern "C" void remember_signal(int sig) { g_forward_signal.store(sig); }

int exit_code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
}

}  // namespace

std::vector<std::string> without_nproc(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;  // and its value
      continue;
    }
    if (args[i].rfind("--nproc=", 0) == 0) continue;
    out.push_back(args[i]);
  }
  return out;
}

int free_local_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

int launch_local_ranks(const std::vector<std::string>& args, int nproc, int master_port,
                       std::chrono::milliseconds grace) {
  if (nproc < 2) throw Error("internal: launch_local_ranks needs at least 2 ranks", ErrorKind::kInternal);
  const int port = master_port > 0 ? master_port : free_local_port();
  if (port == 0) throw Error("--nproc: found no free TCP port on 127.0.0.1; set --master-port", ErrorKind::kIo);
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) throw Error("--nproc: cannot find this executable (/proc/self/exe)", ErrorKind::kIo);
  self[n] = '\0';

  struct sigaction sa {};
  sa.sa_handler = remember_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_term {}, old_int {};
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGINT, &sa, &old_int);  // the ranks get Ctrl-C themselves; the launcher just waits for them

  std::vector<pid_t> pids(nproc, -1);
  for (int r = 0; r < nproc; ++r) {
    const pid_t pid = fork();
    if (pid < 0) {
      for (pid_t p : pids)
        if (p > 0) kill(p, SIGTERM);
      throw Error(std::string("--nproc: cannot start a rank: ") + std::strerror(errno), ErrorKind::kIo);
    }
    if (pid == 0) {
      sigaction(SIGTERM, &old_term, nullptr);
      sigaction(SIGINT, &old_int, nullptr);
      setenv("RANK", std::to_string(r).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv{self};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(self, argv.data());
      std::fprintf(stderr, "xtaldiff: error: --nproc: cannot run %s: %s\n", self, std::strerror(errno));
      _exit(static_cast<int>(ErrorKind::kIo));
    }
    pids[r] = pid;
  }

  int result = 0, alive = nproc;
  bool stopping = false;
  auto deadline = std::chrono::steady_clock::time_point::max();
  while (alive > 0) {
    if (const int sig = g_forward_signal.exchange(0); sig == SIGTERM) {
      for (pid_t p : pids)
        if (p > 0) kill(p, SIGTERM);
    }
    int status = 0;
    const pid_t done = waitpid(-1, &status, WNOHANG);
    if (done > 0) {
      int rank = -1;
      for (int r = 0; r < nproc; ++r)
        if (pids[r] == done) rank = r, pids[r] = -1;
      if (rank < 0) continue;
      --alive;
      if (exit_code_of(status) != 0 && result == 0) {
        result = exit_code_of(status);
        if (alive > 0) {
          std::fprintf(stderr, "xtaldiff: rank %d of %d %s; stopping the other ranks\n", rank, nproc,
                       describe(status).c_str());
          for (pid_t p : pids)
            if (p > 0) kill(p, SIGTERM), kill(p, SIGCONT);  // a frozen rank must run to hear it
          stopping = true;
          deadline = std::chrono::steady_clock::now() + grace;
        }
      }
      continue;
    }
    if (stopping && std::chrono::steady_clock::now() > deadline) {
      for (pid_t p : pids)
        if (p > 0) kill(p, SIGKILL);
      stopping = false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  sigaction(SIGTERM, &old_term, nullptr);
  sigaction(SIGINT, &old_int, nullptr);
  return result;
}

}  // namespace xtaldiff
