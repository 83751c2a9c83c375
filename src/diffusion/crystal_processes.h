/// @file
/// The forward (noising) processes of a crystal at one T, as every model
/// that sees noised crystals holds them: the lattice DDPM, the coordinate
/// VE process on the torus and its flow-matching counterpart, and the
/// one-hot type DDPM. A diffusion model learns to reverse them; the property
/// predictor is trained on crystals they noised.
#pragma once

#include "diffusion/lattice_ddpm.h"
#include "diffusion/torus_flow.h"
#include "diffusion/torus_ve.h"
#include "diffusion/type_ddpm.h"

namespace xtaldiff {

struct CrystalProcesses {
  CrystalProcesses(int steps, double sigma_begin, double sigma_end)
      : lattice(steps), coords(steps, sigma_begin, sigma_end), flow(steps), types(steps) {}
  LatticeDdpm lattice;
  TorusVe coords;
  TorusFlow flow;
  TypeDdpm types;
};

}  // namespace xtaldiff
