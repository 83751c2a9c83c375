#include "util/stop_signal.h"

#include <signal.h>

namespace xtaldiff {
namespace {

volatile sig_atomic_t g_stop_signal = 0;
struct sigaction g_previous_int, g_previous_term;

extern "C" void remember_stop_signal(int signo) { g_stop_signal = signo; }

}  // namespace

StopOnSignal::StopOnSignal() {
  g_stop_signal = 0;
  struct sigaction action {};
  action.sa_handler = remember_stop_signal;
  sigemptyset(&action.sa_mask);
  // SA_RESETHAND: the handler runs once, the next signal has the default
  // effect (a second Ctrl-C ends a job that does not stop fast enough).
  action.sa_flags = SA_RESETHAND | SA_RESTART;
  sigaction(SIGINT, &action, &g_previous_int);
  sigaction(SIGTERM, &action, &g_previous_term);
}

StopOnSignal::~StopOnSignal() {
  sigaction(SIGINT, &g_previous_int, nullptr);
  sigaction(SIGTERM, &g_previous_term, nullptr);
}

bool StopOnSignal::requested() const { return g_stop_signal != 0; }

const char* StopOnSignal::signal_name() const {
  switch (g_stop_signal) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "";
  }
}

}  // namespace xtaldiff
