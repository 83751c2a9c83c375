// Test helpers: a tiny seeded diffusion model, and a few Perov-5 rows as a
// training set in a temporary folder with the options of a tiny training on them.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "io/dataset.h"
#include "sample/sampler.h"
#include "train/trainer.h"

namespace xtaldiff::test_support {

/// A tiny untrained diffusion model, seeded for reproducible weights.
struct TinyModelSpec {
  bool generative = true;
  std::string type_diffusion = "ddpm";
  bool conditioned = false;
  int steps = 10;
  uint64_t seed = 5;
};
inline DiffusionModel tiny_model(const TinyModelSpec& spec) {
  CspNetOptions net = CspNetOptions::preset("tiny");
  net.diffuse_types = spec.generative;
  net.type_diffusion = spec.type_diffusion;
  net.condition_spacegroup = spec.conditioned;
  DiffusionOptions d;
  d.steps = spec.steps;
  torch::manual_seed(spec.seed);
  return DiffusionModel(net, d);
}

/// Cubic SrTiO3 (a = 4 Å) twice: a two-crystal batch whose members are
/// identical, so any difference between their outputs comes from a label.
inline CrystalBatch srtio3_pair_batch() {
  Structure s;
  s.lattice = Lattice::from_parameters(4, 4, 4, 90, 90, 90);
  s.species = {38, 22, 8, 8, 8};
  s.frac = {{0, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  return make_batch({&s, &s});
}

/// Classifier-free guidance at weight 0 reproduces unconditional sampling
/// exactly: `plain` (no condition), `w0` and `w2` (the condition at weight
/// 0 and 2) from the same seed; w2 must differ and cost twice the evaluations.
inline void expect_weight_zero_is_unconditional(const std::vector<Structure>& plain, const std::vector<Structure>& w0,
                                                const std::vector<Structure>& w2, const SampleReport& r0,
                                                const SampleReport& r2) {
  ASSERT_EQ(plain.size(), w0.size());
  ASSERT_EQ(plain.size(), w2.size());
  for (std::size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(plain[i].species, w0[i].species);
    EXPECT_EQ(plain[i].frac, w0[i].frac);
    EXPECT_EQ(plain[i].lattice.matrix(), w0[i].lattice.matrix());
    EXPECT_NE(plain[i].frac, w2[i].frac);  // guidance changes the result
  }
  EXPECT_EQ(r2.network_evaluations, 2 * r0.network_evaluations);
}

struct TinyTrainingSet {
  std::filesystem::path dir;
  Dataset rows;  ///< the rows written to dir/train.csv
  TrainOptions options;

  /// `rows` Perov-5 validation crystals; options: a tiny generation network,
  /// T = 10, two epochs, one thread, model file dir/NAME.xtd.
  TinyTrainingSet(const std::string& name, std::size_t n_rows, int batch) {
    dir = std::filesystem::temp_directory_path() / ("xtd_" + name + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    rows = read_cdvae_csv(std::string(XTALDIFF_DATA_DIR) + "/datasets/perov_5/val.csv.gz");
    rows.records.resize(n_rows);
    write_cdvae_csv(rows, (dir / "train.csv").string());
    options.data = (dir / "train.csv").string();
    options.net = CspNetOptions::preset("tiny");
    options.net.diffuse_types = true;
    options.diffusion.steps = 10;
    options.batch = batch;
    options.epochs = 2;
    options.threads = 1;
    options.quiet = true;
    options.out = (dir / (name + ".xtd")).string();
  }
  ~TinyTrainingSet() { std::filesystem::remove_all(dir); }
};

}  // namespace xtaldiff::test_support
