/// @file
/// A polite stop for long jobs: while a StopOnSignal lives, the first SIGINT
/// (Ctrl-C) or SIGTERM (`timeout`, a batch scheduler) only sets a flag that
/// the job polls between steps, so it can write what it has (a training
/// writes its checkpoint and model file) and return. A second signal acts as
/// usual and ends the process at once.
#pragma once

namespace xtaldiff {

class StopOnSignal {
 public:
  StopOnSignal();
  ~StopOnSignal();
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

  /// True once a SIGINT or SIGTERM arrived while this object lived.
  bool requested() const;
  /// The signal's name ("SIGINT", "SIGTERM"), or "" when none arrived.
  const char* signal_name() const;
};

}  // namespace xtaldiff
