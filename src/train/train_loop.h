/// @file
/// The one training loop of every model kind (DiffCSP's recipe, shared):
/// Adam, gradient clipping by value, optional EMA weights (with warm-up),
/// the plateau schedule on the held-out score (model/plateau.h), optional
/// keeping of the best epoch's weights, a progress line (loss, crystals/s,
/// ETA), a JSON-lines log (OUT.log), atomic checkpoints (OUT.ckpt: the
/// model file with the optimiser and the loop's state) every few minutes,
/// `--resume` from them, `--hours` and SIGINT/SIGTERM. Shuffling is seeded
/// per epoch and noise per batch, so a resumed run continues exactly as one
/// that never stopped, with any number of data-parallel ranks.
///
/// What differs between model kinds is a `TrainingTask`: which crystals
/// (and labels) make the batches, what the held-out score is, what a
/// resumed checkpoint must share. The loss is the model's own
/// (Model::loss).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "model/model.h"
#include "train/batch_plan.h"

namespace xtaldiff {
class Distributed;
}

namespace xtaldiff {

struct LoopOptions {
  std::string out;          ///< model file; checkpoint = out + ".ckpt", log = out + ".log"
  int epochs = 100;         ///< in all, counting resumed ones
  double max_hours = 0;     ///< stop (and save) before this wall time of this session; 0 = no limit
  int batch = 256;
  /// Which crystals share a batch (train/batch_plan.h).
  Batching batching = Batching::kRandom;
  double lr = 1e-3;
  double min_lr = 1e-4;
  double plateau_factor = 0.6;  ///< 1: a constant rate
  int plateau_patience = 30;
  double clip_value = 0.5;
  double ema_decay = 0.999;  ///< 0: no EMA (the raw weights are scored and saved)
  /// The model file gets the weights of the epoch with the lowest held-out
  /// score (instead of the last epoch's).
  bool keep_best = false;
  double checkpoint_minutes = 5;
  int threads = 0;
  std::string device = "cpu";
  bool resume = false;
  uint64_t seed = 42;
  bool quiet = false;
  std::string command_line;  ///< recorded in the model's metadata
  /// Data-parallel ranks (src/dist), or null for one process. `batch` is
  /// then per rank: each step takes a global batch of batch × world size
  /// crystals and every rank trains on its share; the weights, the EMA and
  /// the schedule are the same on every rank (and the same as one process
  /// with the global batch); only rank 0 logs, evaluates and writes files.
  Distributed* dist = nullptr;
};

/// One epoch's held-out evaluation.
struct Evaluation {
  double score = NAN;                               ///< lower is better; NaN: no held-out data
  nlohmann::json log = nlohmann::json::object();    ///< fields of the log line (and the best epoch's record)
  std::string text;                                 ///< for the progress line
};

struct LoopResult {
  int epochs_done = 0;
  int resumed_at_epoch = 0;  ///< epochs the checkpoint had done (0: a new run)
  double hours = 0;          ///< in all, counting resumed sessions
  double train_loss = 0;
  Evaluation last;           ///< the last epoch's evaluation
  Evaluation best;           ///< the kept weights' evaluation (keep_best)
  int best_epoch = 0;
  double crystals_per_second = 0;
  bool interrupted = false;  ///< stopped by SIGINT/SIGTERM (checkpoint and model file written)
};

class TrainingTask {
 public:
  virtual ~TrainingTask() = default;
  /// Training crystals' atom counts (batches are indices into them).
  virtual std::vector<int64_t> atom_counts() const = 0;
  /// The training crystals `index` on `device`, with their labels.
  virtual CrystalBatch batch(const std::vector<std::size_t>& index, const torch::Device& device) const = 0;
  /// The held-out evaluation of `model` (the weights the file will hold).
  virtual Evaluation evaluate(Model& model) const = 0;
  /// What a resumed run must share with its checkpoint: stored in it.
  virtual nlohmann::json identity() const = 0;
  /// Throws a usage Error naming what differs when the checkpoint (its
  /// model and stored identity) belongs to another run.
  virtual void check_resumable(const Model& saved, const nlohmann::json& saved_identity,
                               const std::string& path) const = 0;
  /// Adds what the task reports to the model file's metadata before each save.
  virtual void annotate(nlohmann::json& /*metadata*/, const LoopResult& /*result*/) const {}
};

/// Trains `model` (already on the options' device) on `task`; writes the
/// checkpoint and the model file. `metadata`: how the run was set up (data,
/// model card, ...); a resumed run keeps the checkpoint's and appends its
/// command.
LoopResult run_training_loop(Model& model, const TrainingTask& task, const LoopOptions& options,
                             nlohmann::json metadata);

}  // namespace xtaldiff
