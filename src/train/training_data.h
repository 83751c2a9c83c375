/// @file
/// The data layer of training, shared by every model kind: a dataset file
/// turned into canonical structures (crystal/structure.h's canonical form,
/// what the networks see), their labels (dataset columns as float32, NaN
/// where a row has no number; spglib space groups at symprec 0.1 for
/// space-group conditioning) and the typed statistics that become the
/// model card (model/dataset_stats.h); and batches of it on a device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "crystal/structure.h"
#include "data/crystal_batch.h"
#include "model/dataset_stats.h"
#include "model/model.h"
#include "train/train_loop.h"

namespace xtaldiff {

struct TrainingSet {
  std::string path;                 ///< where it was read from
  std::vector<Structure> structures;  ///< canonical
  std::vector<std::string> columns;   ///< label columns, in order
  std::vector<float> labels;          ///< [crystals × columns], NaN = missing
  std::vector<int64_t> spacegroups;   ///< per crystal (0 = spglib failed); empty unless asked for

  std::size_t size() const { return structures.size(); }
  std::vector<int64_t> atom_counts() const;
  /// Column `c`'s labels, as doubles.
  std::vector<double> column_labels(std::size_t c) const;
  /// The crystals `rows`, in that order, with their labels.
  TrainingSet subset(const std::vector<std::size_t>& rows) const;
  /// A batch of the crystals `index` on `device`: labels in
  /// `batch.properties` [B, columns] and `batch.spacegroup` [B] when held.
  CrystalBatch batch(const std::vector<std::size_t>& index, const torch::Device& device) const;
  /// The model card of this set: crystals, atoms, elements, cell lengths,
  /// space groups (when labelled) and each column's label statistics.
  DatasetStats stats() const;
};

struct TrainingSetSpec {
  std::size_t limit = 0;             ///< first crystals only (0: all)
  std::vector<std::string> columns;  ///< label columns to read
  bool columns_required = true;      ///< a missing column is an Error naming the ones the file has
  bool spacegroups = false;          ///< label space groups (spglib, over `threads` threads)
  int threads = 1;
};

/// Reads `path` (a CDVAE CSV or any structure file xtaldiff reads).
TrainingSet load_training_set(const std::string& path, const TrainingSetSpec& spec);

/// The validation set beside a training file ("train" → "val" in the
/// name), "" when there is none.
std::string default_validation_path(const std::string& train_path);

/// The held-out score of diffusion-style models: the mean training loss of
/// `model` over `val` (batches of `batch`), with the noise of a generator
/// seeded by `seed`, the same every epoch so that epochs compare. The
/// score is NaN when `val` is empty.
Evaluation validation_loss(Model& model, const TrainingSet& val, int batch, uint64_t seed, const torch::Device& device);

}  // namespace xtaldiff
