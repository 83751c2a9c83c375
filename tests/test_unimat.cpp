// UniMat's U-Net (model/unimat_net.h) as a DiffusionModel denoiser: its
// symmetries (a rotated frame rotates only the lattice output; reordering
// the atoms, each element's own order kept, reorders the outputs), its
// refusals, and the model file.
#include <gtest/gtest.h>

#include <filesystem>

#include "model/diffusion_model.h"
#include "model/model_file.h"
#include "model/registry.h"
#include "sample/sampler.h"
#include "util/error.h"

using namespace xtaldiff;
namespace fs = std::filesystem;

namespace {

// Two crystals, SrTiO3 (5 atoms) and Fe2O3-like (5 atoms), random cells and
// coordinates.
struct Inputs {
  torch::Tensor t, types, frac, lattice, owner;
  CrystalBatch batch;
};

Inputs inputs(uint64_t seed) {
  torch::manual_seed(seed);
  Inputs in;
  in.t = torch::tensor({120.0f, 870.0f});
  in.types = torch::tensor({38, 22, 8, 8, 8, 26, 26, 8, 8, 8}, torch::kInt64);
  in.frac = torch::rand({10, 3});
  in.lattice = torch::randn({2, 3, 3}) + 4 * torch::eye(3).unsqueeze(0);
  in.owner = torch::tensor({0, 0, 0, 0, 0, 1, 1, 1, 1, 1}, torch::kInt64);
  in.batch.crystal_of_atom = in.owner;
  in.batch.counts = {5, 5};
  return in;
}

DiffusionModel tiny_unimat(int slots = 3) {
  UniMatOptions u = UniMatOptions::preset("tiny");
  u.slots = slots;
  DiffusionOptions d;
  d.steps = 100;
  d.coord_objective = "flow";
  torch::manual_seed(7);
  DiffusionModel m(CspNetOptions::preset("tiny"), d, u);
  // Zero-initialised last layers make an untrained block the identity;
  // give every weight a value so the tests see the whole network.
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters()) p.normal_(0, 0.2);
  m.eval();
  return m;
}

DenoiserOutput run(DiffusionModel& m, const Inputs& in, const torch::Tensor& frac, const torch::Tensor& lattice) {
  return m.denoise(in.t, in.types, in.batch, frac, lattice, EdgeIndex{});
}

double max_abs(const torch::Tensor& a) { return a.abs().max().item<double>(); }

}  // namespace

TEST(UniMat, RotatingTheFrameRotatesOnlyTheLatticeOutput) {
  DiffusionModel m = tiny_unimat();
  const Inputs in = inputs(1);
  auto q = std::get<0>(torch::linalg_qr(torch::randn({3, 3}, torch::kFloat64)));
  if (torch::det(q).item<double>() < 0) q = -q;
  q = q.to(torch::kFloat32);
  const auto a = run(m, in, in.frac, in.lattice);
  const auto b = run(m, in, in.frac, torch::matmul(in.lattice, q));
  EXPECT_LT(max_abs(b.coords - a.coords), 1e-4);
  EXPECT_LT(max_abs(b.lattice - torch::matmul(a.lattice, q)), 1e-4);
  EXPECT_GT(max_abs(a.coords), 1e-3);  // the outputs are not trivially zero
  EXPECT_GT(max_abs(a.lattice), 1e-3);
}

TEST(UniMat, ReorderingAtomsReordersTheOutputs) {
  DiffusionModel m = tiny_unimat();
  Inputs in = inputs(2);
  const auto a = run(m, in, in.frac, in.lattice);
  // Sr Ti O O O → O Ti O Sr O: each element's atoms keep their order, so
  // every atom keeps its slot.
  const auto perm = torch::tensor({2, 1, 3, 0, 4, 5, 6, 7, 8, 9}, torch::kInt64);
  Inputs p = in;
  p.types = in.types.index_select(0, perm);
  const auto b = run(m, p, in.frac.index_select(0, perm), in.lattice);
  EXPECT_LT(max_abs(b.coords - a.coords.index_select(0, perm)), 1e-5);
  EXPECT_LT(max_abs(b.lattice - a.lattice), 1e-5);
  // Moving one atom changes the other crystal's outputs not at all.
  auto moved = in.frac.clone();
  moved[0][0] = moved[0][0].item<float>() + 0.3f;
  const auto c = run(m, in, moved, in.lattice);
  EXPECT_EQ(max_abs(c.coords.narrow(0, 5, 5) - a.coords.narrow(0, 5, 5)), 0.0);
  EXPECT_GT(max_abs(c.coords.narrow(0, 0, 5) - a.coords.narrow(0, 0, 5)), 1e-4);
}

TEST(UniMat, MoreAtomsOfAnElementThanSlotsIsAClearError) {
  DiffusionModel m = tiny_unimat(2);
  const Inputs in = inputs(3);
  try {
    run(m, in, in.frac, in.lattice);
    FAIL() << "three O atoms in two slots";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than 2 atoms of O"), std::string::npos) << e.what();
  }
  SampleOptions so;
  so.kind = SamplerKind::kOde;
  so.steps = 2;
  try {
    sample_csp(m, {{38, 22, 8, 8, 8}}, so);
    FAIL() << "sampling SrTiO3 with two slots";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("task 1: more than 2 atoms of O"), std::string::npos) << e.what();
  }
  // Generation and conditions are refused when the model is built.
  CspNetOptions gen = CspNetOptions::preset("tiny");
  gen.diffuse_types = true;
  EXPECT_THROW(DiffusionModel(gen, DiffusionOptions{}, UniMatOptions::preset("tiny")), Error);
  CspNetOptions conditioned = CspNetOptions::preset("tiny");
  conditioned.condition_spacegroup = true;
  EXPECT_THROW(DiffusionModel(conditioned, DiffusionOptions{}, UniMatOptions::preset("tiny")), Error);
}

TEST(UniMat, ModelFileRebuildsTheArchitectureAndItsOutputs) {
  const auto dir = fs::temp_directory_path() / ("xtd_unimat_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  DiffusionModel m = tiny_unimat();
  SavedState st;
  st.metadata = {{"data", "test"}};
  save_model_file((dir / "u.xtd").string(), m, &m, st);
  LoadedModel back = load_model_file((dir / "u.xtd").string());
  EXPECT_EQ(back.model->arch(), "unimat");
  ASSERT_TRUE(back.model->unimat_options());
  EXPECT_EQ(back.model->unimat_options()->slots, 3);
  EXPECT_FALSE(back.model->net());  // no GNN inside
  const Inputs in = inputs(4);
  back.for_sampling().eval();
  const auto a = run(m, in, in.frac, in.lattice);
  const auto b = run(back.for_sampling(), in, in.frac, in.lattice);
  EXPECT_TRUE(torch::equal(a.coords, b.coords));
  EXPECT_TRUE(torch::equal(a.lattice, b.lattice));
  EXPECT_EQ(find_architecture("unimat").tasks, std::vector<std::string>{"csp"});
  fs::remove_all(dir);
}
