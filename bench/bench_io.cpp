// Dataset I/O speed: parsing the shipped CDVAE CSVs (gzip inflate + CSV +
// CIF parsing on all cores) and reloading them from the binary cache.
// Run: build/bench/bench_io   (the README quotes its numbers with the machine).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <thread>

#include "crystal/symmetry.h"
#include "io/dataset.h"

using namespace xtaldiff;

namespace {

std::string dataset(const char* rel) { return std::string(XTALDIFF_DATA_DIR) + "/datasets/" + rel; }

void parse_no_cache(benchmark::State& state, const char* rel) {
  DatasetReadOptions o;
  o.use_cache = false;
  std::size_t n = 0;
  for (auto _ : state) {
    Dataset d = read_cdvae_csv(dataset(rel), o);
    n = d.size();
    benchmark::DoNotOptimize(d);
  }
  state.counters["structures"] = static_cast<double>(n);
  state.counters["structures/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ParsePerov5Train(benchmark::State& s) { parse_no_cache(s, "perov_5/train.csv.gz"); }
void BM_ParseCarbon24Train(benchmark::State& s) { parse_no_cache(s, "carbon_24/train.csv.gz"); }
void BM_ParseMp20Head(benchmark::State& s) { parse_no_cache(s, "mp_20_head/train_head.csv.gz"); }

void BM_LoadPerov5TrainCached(benchmark::State& state) {
  const std::string path = dataset("perov_5/train.csv.gz");
  const std::string tmp = (std::filesystem::temp_directory_path() / "bench_perov5.csv.gz").string();
  std::filesystem::copy_file(path, tmp, std::filesystem::copy_options::overwrite_existing);
  read_cdvae_csv(tmp);  // writes the cache
  for (auto _ : state) benchmark::DoNotOptimize(read_cdvae_csv(tmp));
  std::filesystem::remove(tmp);
  std::filesystem::remove(tmp + ".xtdcache");
}

void BM_SpaceGroupsPerov5Test(benchmark::State& state) {
  DatasetReadOptions o;
  o.use_cache = false;
  const Dataset d = read_cdvae_csv(dataset("perov_5/test.csv.gz"), o);
  for (auto _ : state)
    for (const auto& r : d.records) benchmark::DoNotOptimize(analyze_symmetry(r.structure, 0.1).number);
  state.counters["structures/s"] =
      benchmark::Counter(static_cast<double>(d.size()), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_ParsePerov5Train)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ParseCarbon24Train)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ParseMp20Head)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LoadPerov5TrainCached)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SpaceGroupsPerov5Test)->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  benchmark::AddCustomContext("hardware_threads", std::to_string(std::thread::hardware_concurrency()));
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
