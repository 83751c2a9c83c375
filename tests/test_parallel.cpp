// The toolkit's one thread pool: every item runs once, and a worker's
// exception reaches the caller (the lowest failing item's, whatever the
// thread count) instead of ending the process.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "util/error.h"
#include "util/parallel.h"

using namespace xtaldiff;

TEST(ParallelFor, RunsEveryItemOnce) {
  for (int threads : {1, 2, 7}) {
    std::vector<std::atomic<int>> seen(1000);
    parallel_for(seen.size(), threads, [&](std::size_t i) { ++seen[i]; });
    for (const auto& s : seen) EXPECT_EQ(s.load(), 1) << threads << " threads";
  }
  parallel_for(0, 4, [](std::size_t) { FAIL() << "no items: body never runs"; });
}

TEST(ParallelFor, AWorkersExceptionReachesTheCaller) {
  for (int threads : {1, 2, 8}) {
    std::atomic<int> ran{0};
    try {
      parallel_for(500, threads, [&](std::size_t i) {
        ++ran;
        if (i == 137 || i == 301) throw Error("bad item " + std::to_string(i), ErrorKind::kInput);
      });
      FAIL() << "no exception with " << threads << " threads";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "bad item 137") << threads << " threads";
      EXPECT_EQ(e.kind(), ErrorKind::kInput);
    }
    EXPECT_GE(ran.load(), 138);  // every item up to the failing one ran
    if (threads == 1) {
      EXPECT_EQ(ran.load(), 138);  // and none after it
    }
  }
  // Not only xtaldiff errors: any exception type passes through.
  EXPECT_THROW(parallel_for(10, 3, [](std::size_t i) { if (i == 4) throw std::runtime_error("x"); }),
               std::runtime_error);
}

TEST(ParallelFor, ThreadCountFollowsRequestAndWork) {
  EXPECT_EQ(thread_count(4, 1000), 4);
  EXPECT_EQ(thread_count(4, 2), 2);
  EXPECT_EQ(thread_count(4, 100, 64), 1);
  EXPECT_EQ(thread_count(3, 0), 1);
  EXPECT_GE(thread_count(0, 1000), 1);  // every core
}

// The Python module's Ctrl-C: the caller's check runs on the calling thread
// only, before each item it takes, and its exception stops the loop.
TEST(ParallelFor, TheCallersInterruptCheckRunsOnItsThreadAndStopsTheLoop) {
  struct Interrupted {};
  for (int threads : {1, 2, 4}) {
    const auto caller = std::this_thread::get_id();
    std::atomic<int> checks{0}, ran{0};
    ScopedInterruptCheck guard([&] {
      EXPECT_EQ(std::this_thread::get_id(), caller);
      if (++checks == 20) throw Interrupted{};
    });
    auto slow_item = [&](std::size_t) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      ++ran;
    };
    EXPECT_THROW(parallel_for(2000, threads, slow_item), Interrupted);
    EXPECT_EQ(checks.load(), 20) << threads << " threads";
    EXPECT_LT(ran.load(), 2000) << threads << " threads";
    if (threads == 1) {
      EXPECT_EQ(ran.load(), 19);
    }
  }
  // Gone with its guard: the same loop runs to the end.
  std::atomic<int> ran{0};
  parallel_for(1000, 2, [&](std::size_t) { ++ran; });
  EXPECT_EQ(ran.load(), 1000);
}
