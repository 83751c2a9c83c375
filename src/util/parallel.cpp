#include "util/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace xtaldiff {
namespace {
thread_local const std::function<void()>* interrupt_check = nullptr;
}  // namespace

ScopedInterruptCheck::ScopedInterruptCheck(std::function<void()> check)
    : check_(std::move(check)), previous_(interrupt_check) {
  interrupt_check = &check_;
}

ScopedInterruptCheck::~ScopedInterruptCheck() { interrupt_check = previous_; }

int thread_count(int requested, std::size_t items, std::size_t min_per_thread) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int wanted = requested > 0 ? requested : cores;
  const std::size_t by_work = std::max<std::size_t>(1, items / std::max<std::size_t>(1, min_per_thread));
  return static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(wanted), by_work));
}

void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& body,
                  std::size_t min_per_thread) {
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr first_error;
  std::size_t first_error_item = n;
  const std::function<void()>* check = interrupt_check;  // the caller's, run on the caller's thread only
  auto fail = [&](std::size_t i) {
    std::lock_guard<std::mutex> lock(error_mutex);
    if (i < first_error_item || !first_error) {
      first_error_item = i;
      first_error = std::current_exception();
    }
    failed = true;
  };
  auto worker = [&](bool caller) {
    for (;;) {
      if (failed.load()) return;
      if (caller && check) {
        try {
          (*check)();
        } catch (...) {
          fail(n);
          return;
        }
      }
      const std::size_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        body(i);
      } catch (...) {
        fail(i);
      }
    }
  };
  std::vector<std::thread> pool;
  const int nt = thread_count(threads, n, min_per_thread);
  for (int t = 1; t < nt; ++t) pool.emplace_back(worker, false);
  worker(true);
  for (auto& t : pool) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace xtaldiff
