// UniMat's U-Net (model/unimat_net.h) as a DiffusionModel denoiser: its
// symmetries (a rotated frame rotates only the lattice output; reordering
// the atoms, each element's own order kept, reorders the outputs), its
// refusals, and the model file; the generation model's clean tensor, loss,
// constraints and refusals.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "model/diffusion_model.h"
#include "model/model_file.h"
#include "model/registry.h"
#include "crystal/unimat_tensor.h"
#include "io/dataset.h"
#include "sample/sampler.h"
#include "sample/unimat_sampler.h"
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
  // Conditions, and flow matching for generation, are refused when the
  // model is built.
  CspNetOptions gen = CspNetOptions::preset("tiny");
  gen.diffuse_types = true;
  DiffusionOptions flow;
  flow.coord_objective = "flow";
  EXPECT_THROW(DiffusionModel(gen, flow, UniMatOptions::preset("tiny")), Error);
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
  EXPECT_EQ(find_architecture("unimat").tasks, (std::vector<std::string>{"csp", "gen"}));
  fs::remove_all(dir);
}

namespace {

// The first n Perov-5 validation crystals (read once).
std::vector<const Structure*> perov_val_rows(std::size_t n) {
  static const Dataset val = read_cdvae_csv(std::string(XTALDIFF_DATA_DIR) + "/datasets/perov_5/val.csv.gz");
  std::vector<const Structure*> rows;
  for (std::size_t i = 0; i < n; ++i) rows.push_back(&val.records[i].structure);
  return rows;
}

DiffusionModel tiny_unimat_generator(int slots = 3) {
  UniMatOptions u = UniMatOptions::preset("tiny");
  u.slots = slots;
  DiffusionOptions d;
  d.steps = 100;
  CspNetOptions n = CspNetOptions::preset("tiny");
  n.diffuse_types = true;
  torch::manual_seed(11);
  DiffusionModel m(n, d, u);
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters()) p.normal_(0, 0.2);
  m.eval();
  return m;
}

}  // namespace

TEST(UniMat, CleanGridOfABatchIsThePeriodicTableTensor) {
  // The generation model's target: the batch's tensors, built on the
  // device, equal crystal/unimat_tensor.h's (tested on every shipped
  // structure) for real Perov-5 rows.
  const std::vector<const Structure*> rows = perov_val_rows(6);
  const CrystalBatch b = make_batch(rows);
  DiffusionModel m = tiny_unimat_generator();
  const auto grid = m.unimat()->clean_grid(b.atom_types, b.frac, b.crystal_of_atom, b.num_crystals());
  ASSERT_EQ(grid.sizes(), (std::vector<int64_t>{6, 3, 3, kTableRows, kTableGroups}));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const UniMatTensor t = to_unimat_tensor(*rows[i], 3);
    const auto mine = grid[i].permute({1, 2, 3, 0}).contiguous().to(torch::kFloat64);
    const auto theirs = torch::tensor(t.values, torch::kFloat64).view({3, kTableRows, kTableGroups, 3});
    EXPECT_LT(max_abs(mine - theirs), 1e-6) << "row " << i;
  }
}

TEST(UniMat, GenerationLossReachesTheWholeNetwork) {
  const std::vector<const Structure*> rows = perov_val_rows(4);
  const CrystalBatch b = make_batch(rows);
  DiffusionModel m = tiny_unimat_generator();
  m.train();
  auto gen = at::detail::createCPUGenerator(5);
  BatchNoise noise(gen, b);
  const LossParts parts = m.loss(b, noise);
  ASSERT_TRUE(std::isfinite(parts.total.item<double>()));
  EXPECT_FALSE(parts.types.defined());  // the composition is in the tensor, not a type loss
  parts.total.backward();
  EXPECT_GT(m.unimat()->input->weight.grad().abs().sum().item<double>(), 0);
  EXPECT_GT(m.unimat()->lattice_out->weight.grad().abs().sum().item<double>(), 0);
  EXPECT_GT(m.unimat()->cell_embedding.grad().abs().sum().item<double>(), 0);
}

TEST(UniMat, GeneratedCrystalsObeyTheElementConstraints) {
  // Forbidden cells are held at the null value at every step, so only the
  // allowed elements can appear; the cap and the required element hold for
  // every crystal returned (the rest are drawn again, and counted).
  DiffusionModel m = tiny_unimat_generator();
  TypeConstraints c;
  c.allowed = {56, 22, 8};  // Ba Ti O
  c.required = {8};
  c.max_elements = 2;
  SampleOptions so;
  so.kind = SamplerKind::kAncestral;
  so.steps = 10;
  so.seed = 4;
  so.max_retries = 20;
  SampleReport rep;
  const auto out = sample_crystals(m, std::vector<CrystalTask>(6, CrystalTask{{}, 5}), c, so, &rep);
  ASSERT_EQ(out.size(), 6u);
  std::size_t returned = 0;
  for (const auto& s : out) {
    if (s.species.empty()) continue;
    ++returned;
    std::set<int> elements(s.species.begin(), s.species.end());
    EXPECT_LE(elements.size(), 2u);
    EXPECT_TRUE(elements.count(8));
    for (int z : elements) EXPECT_TRUE(z == 56 || z == 22 || z == 8) << z;
    EXPECT_LE(s.size(), 2u * 3u);  // two elements of three slots each
  }
  EXPECT_EQ(returned + rep.failed, 6u);
  EXPECT_GT(returned, 0u);
  EXPECT_EQ(rep.network_evaluations, 10);
}

TEST(UniMat, GenerationModelRefusesWhatItCannotDo) {
  DiffusionModel m = tiny_unimat_generator();
  SampleOptions so;
  so.kind = SamplerKind::kOde;
  so.steps = 5;
  auto message = [&](const std::vector<CrystalTask>& tasks, const SampleOptions& o) -> std::string {
    try {
      check_sample_request(m, tasks, TypeConstraints{}, o);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  const std::vector<CrystalTask> denovo(2, CrystalTask{{}, 5});
  EXPECT_EQ(message(denovo, so), "");
  EXPECT_NE(message({CrystalTask{{38, 22, 8, 8, 8}, 5}}, so).find("does not fill in a given composition"),
            std::string::npos);
  SampleOptions pc = so;
  pc.kind = SamplerKind::kPc;
  EXPECT_NE(message(denovo, pc).find("ode (DDIM) or ancestral"), std::string::npos);
  SampleOptions sg = so;
  sg.spacegroup = 221;
  EXPECT_NE(message(denovo, sg).find("no space-group condition"), std::string::npos);
  SampleOptions steps = so;
  steps.steps = 101;
  EXPECT_NE(message(denovo, steps).find("exceeds the model's 100"), std::string::npos);
  TypeConstraints impossible;
  impossible.allowed = {8};
  impossible.required = {22};
  EXPECT_THROW(check_sample_request(m, denovo, impossible, so), Error);
}
