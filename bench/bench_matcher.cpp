// StructureMatcher speed on the pairs of tests/fixtures/matcher_pairs.jsonl.gz
// (structures parsed beforehand; only matching is timed, one thread).
// The headline number is BM_RmsDistPerov5Perturb: get_rms_dist with the CSP
// settings (stol 0.5, ltol 0.3, angle_tol 10) over the 3785 Perov-5 test
// structures vs their 0.05 Å-perturbed copies; tools/make_matcher_fixtures.py
// prints pymatgen's time on the same pairs.
// Run: build/bench/bench_matcher
#include <benchmark/benchmark.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "eval/structure_matcher.h"
#include "io/cif.h"
#include "util/file_io.h"

using namespace xtaldiff;

namespace {

using PairList = std::vector<std::pair<Structure, Structure>>;

/// Pairs of one dataset ("perov_5", "carbon_24") and kind ("perturb", ...).
const PairList& pairs(const std::string& dataset, const std::string& kind) {
  static std::map<std::string, PairList> cache;  // map: references stay valid
  const std::string key = dataset + "/" + kind;
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  PairList& out = cache[key];
  const std::string text = read_file(std::string(XTALDIFF_FIXTURES_DIR) + "/matcher_pairs.jsonl.gz");
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) {
      const auto j =
          nlohmann::json::parse(text.begin() + static_cast<long>(start), text.begin() + static_cast<long>(end));
      const std::string id = j.at("id").get<std::string>();
      if (j.at("kind").get<std::string>() == kind && id.rfind(dataset + "/", 0) == 0)
        out.emplace_back(read_cif_single(j.at("cif_a").get<std::string>(), id),
                         read_cif_single(j.at("cif_b").get<std::string>(), id));
    }
    start = end + 1;
  }
  return out;
}

MatcherOptions csp_options() {
  MatcherOptions o;
  o.stol = 0.5;
  o.ltol = 0.3;
  o.angle_tol = 10;
  return o;
}

void run(benchmark::State& state, const PairList& list, const StructureMatcher& m, bool rms) {
  std::size_t matched = 0;
  for (auto _ : state) {
    matched = 0;
    for (const auto& [a, b] : list) matched += rms ? m.get_rms_dist(a, b).match : m.fit(a, b);
  }
  state.counters["pairs"] = static_cast<double>(list.size());
  state.counters["matched"] = static_cast<double>(matched);
  state.counters["pairs/s"] =
      benchmark::Counter(static_cast<double>(list.size()), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_RmsDistPerov5Perturb(benchmark::State& s) {
  run(s, pairs("perov_5", "perturb"), StructureMatcher(csp_options()), true);
}
void BM_FitPerov5Perturb(benchmark::State& s) {
  run(s, pairs("perov_5", "perturb"), StructureMatcher(), false);
}
void BM_RmsDistCarbon24Perturb(benchmark::State& s) {
  run(s, pairs("carbon_24", "perturb"), StructureMatcher(csp_options()), true);
}
void BM_RmsDistCarbon24Other(benchmark::State& s) {
  run(s, pairs("carbon_24", "other"), StructureMatcher(csp_options()), true);
}

}  // namespace

BENCHMARK(BM_RmsDistPerov5Perturb)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_FitPerov5Perturb)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_RmsDistCarbon24Perturb)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_RmsDistCarbon24Other)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
