/// @file
/// The one thread pool of the toolkit: `parallel_for` runs independent
/// items over the cores and hands a worker's exception to the caller
/// (a throw inside a bare std::thread would end the process).
#pragma once

#include <cstddef>
#include <functional>

namespace xtaldiff {

/// Threads for `requested` (0 or less: every core), at most one per
/// `min_per_thread` items and at least 1.
int thread_count(int requested, std::size_t items, std::size_t min_per_thread = 1);

/// While one lives, every parallel_for started on this thread calls
/// `check` on this thread before each item it takes there: a Python
/// caller's Ctrl-C test (it may throw; that ends the loop as a failing body
/// does). Worker threads never call it: the check may need the caller's
/// thread (Python runs signal handlers on its main thread only).
class ScopedInterruptCheck {
 public:
  explicit ScopedInterruptCheck(std::function<void()> check);
  ~ScopedInterruptCheck();
  ScopedInterruptCheck(const ScopedInterruptCheck&) = delete;
  ScopedInterruptCheck& operator=(const ScopedInterruptCheck&) = delete;

 private:
  std::function<void()> check_;
  const std::function<void()>* previous_;
};

/// Calls body(i) for every i in [0, n) on `threads` threads (see
/// thread_count), the calling thread included. Items are handed out one at
/// a time in increasing order. When a body throws, no further item starts,
/// the items in flight finish, and the exception of the lowest failing item
/// is rethrown here: the same error whatever the thread count.
void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& body,
                  std::size_t min_per_thread = 1);

}  // namespace xtaldiff
