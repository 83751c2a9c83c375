/// @file
/// `train --arch cdvae`: a CDVAE (model/cdvae_model.h) in the shared loop
/// (train/train_loop.h) with DiffCSP's recipe (Adam, plateau schedule,
/// clipping, EMA weights in the file); the held-out score is the
/// validation loss on fixed noise. The run sets from the training set what
/// the model standardises with: the largest atom count, the lattice head's
/// mean and deviation, and those of each `--condition` column (the
/// property head). `--config`: tiny / small / base (both GNNs at that size)
/// or a JSON file with "network" (CspNetOptions keys over the "small"
/// preset: the decoder, and the encoder unless "encoder" sets its own) and
/// "cdvae" (CdvaeOptions keys).
#pragma once

#include "train/architectures.h"

namespace xtaldiff {

TrainReport train_cdvae(const TrainRequest& request);

}  // namespace xtaldiff
