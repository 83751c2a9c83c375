#include "data/crystal_batch.h"

#include "util/error.h"

namespace xtaldiff {

CrystalBatch CrystalBatch::to(const torch::Device& device) const {
  CrystalBatch b = *this;
  b.atom_types = atom_types.to(device);
  b.frac = frac.to(device);
  b.lattice = lattice.to(device);
  b.num_atoms = num_atoms.to(device);
  b.crystal_of_atom = crystal_of_atom.to(device);
  if (spacegroup.defined()) b.spacegroup = spacegroup.to(device);
  if (properties.defined()) b.properties = properties.to(device);
  return b;
}

Structure canonical_structure(const Structure& s) {
  const Structure reduced = niggli_reduced(s);
  const Lattice rebuilt = Lattice::from_parameters(reduced.lattice.lengths(), reduced.lattice.angles());
  Structure out(rebuilt, reduced.species, reduced.frac);
  out.wrap();
  return out;
}

CrystalBatch make_batch(const std::vector<const Structure*>& structures) {
  int64_t n = 0;
  for (const Structure* s : structures) n += static_cast<int64_t>(s->size());
  const int64_t b = static_cast<int64_t>(structures.size());
  CrystalBatch batch;
  batch.atom_types = torch::empty({n}, torch::kInt64);
  batch.frac = torch::empty({n, 3}, torch::kFloat32);
  batch.lattice = torch::empty({b, 3, 3}, torch::kFloat32);
  batch.num_atoms = torch::empty({b}, torch::kInt64);
  batch.crystal_of_atom = torch::empty({n}, torch::kInt64);
  auto types = batch.atom_types.accessor<int64_t, 1>();
  auto frac = batch.frac.accessor<float, 2>();
  auto lat = batch.lattice.accessor<float, 3>();
  auto count = batch.num_atoms.accessor<int64_t, 1>();
  auto owner = batch.crystal_of_atom.accessor<int64_t, 1>();
  int64_t a = 0;
  for (int64_t c = 0; c < b; ++c) {
    const Structure& s = *structures[c];
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) lat[c][i][j] = static_cast<float>(s.lattice.matrix()[i][j]);
    count[c] = static_cast<int64_t>(s.size());
    batch.counts.push_back(static_cast<int64_t>(s.size()));
    for (std::size_t i = 0; i < s.size(); ++i, ++a) {
      if (s.species[i] < 1 || s.species[i] > kMaxAtomicNumber)
        throw Error("element Z=" + std::to_string(s.species[i]) + " is outside the networks' vocabulary (Z 1.." +
                    std::to_string(kMaxAtomicNumber) + ")");
      types[a] = s.species[i];
      for (int k = 0; k < 3; ++k) frac[a][k] = static_cast<float>(wrap01(s.frac[i][k]));
      owner[a] = c;
    }
  }
  return batch;
}

std::vector<Structure> batch_to_structures(const torch::Tensor& atom_types, const torch::Tensor& frac,
                                           const torch::Tensor& lattice, const std::vector<int64_t>& counts) {
  const torch::Tensor t = atom_types.to(torch::kCPU, torch::kInt64).contiguous();
  const torch::Tensor f = frac.to(torch::kCPU, torch::kFloat64).contiguous();
  const torch::Tensor l = lattice.to(torch::kCPU, torch::kFloat64).contiguous();
  auto ta = t.accessor<int64_t, 1>();
  auto fa = f.accessor<double, 2>();
  auto la = l.accessor<double, 3>();
  std::vector<Structure> out;
  int64_t a = 0;
  for (std::size_t c = 0; c < counts.size(); ++c) {
    Structure s;
    Mat3 m{};
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) m[i][j] = la[c][i][j];
    s.lattice = Lattice(m);
    for (int64_t i = 0; i < counts[c]; ++i, ++a) {
      s.species.push_back(static_cast<int>(ta[a]));
      s.frac.push_back({fa[a][0], fa[a][1], fa[a][2]});
    }
    s.wrap();
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace xtaldiff
