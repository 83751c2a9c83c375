/// @file
/// `train --task composition`: the composition language model
/// (model/composition_model.h) on the cell compositions of a dataset, in the
/// shared loop (train/train_loop.h) with the diffusion models' recipe (Adam,
/// EMA, plateau schedule on the validation loss, checkpoints, --resume). The
/// vocabulary is sized by the training set (its most elements and largest
/// count per cell) unless given; condition values are standardised with the
/// training labels.
#pragma once

#include <string>
#include <vector>

#include "model/composition_model.h"
#include "train/train_loop.h"

namespace xtaldiff {

struct CompositionTrainOptions : LoopOptions {
  std::string data, val_data;  ///< val: "" = the train name with "train" → "val" if present
  int val_max = 4096;
  CompositionOptions model;    ///< max_elements / max_count 0: from the training set
};

struct CompositionTrainSummary {
  int epochs_done = 0;
  double hours = 0, train_loss = 0, val_loss = 0;
  bool interrupted = false;
};

CompositionTrainSummary train_composition_model(const CompositionTrainOptions& options);

}  // namespace xtaldiff
