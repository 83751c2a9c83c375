#include "model/unimat_net.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "chem/element.h"
#include "crystal/unimat_tensor.h"
#include "util/error.h"

namespace xtaldiff {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(UniMatOptions, slots, width, multipliers, res_blocks, attention_levels,
                                                heads, time_dim, frequencies, generate)

nlohmann::json UniMatOptions::to_json() const { return *this; }

UniMatOptions UniMatOptions::from_json(const nlohmann::json& j) {
  const UniMatOptions o = j.get<UniMatOptions>();
  bool ok = o.slots >= 1 && o.width >= 8 && o.width % 8 == 0 && !o.multipliers.empty() && o.res_blocks >= 1 &&
            o.attention_levels >= 0 && o.heads >= 1 && o.time_dim >= 8 && o.time_dim % 2 == 0 && o.frequencies >= 1;
  for (int m : o.multipliers) ok = ok && m >= 1 && (o.width * m) % o.heads == 0;
  if (!ok) throw Error("UniMat options out of range: " + j.dump());
  return o;
}

UniMatOptions UniMatOptions::preset(const std::string& name) {
  UniMatOptions o;
  if (name == "tiny") {
    o.width = 8, o.multipliers = {1, 2}, o.attention_levels = 1, o.heads = 2, o.time_dim = 16, o.frequencies = 2;
  } else if (name == "small") {
    // The defaults: sized for this 2-core CPU and for a model file under
    // 16 MiB (3.2 M parameters; width 32 would be 5.7 M).
  } else if (name == "base") {
    o.width = 64, o.res_blocks = 3, o.time_dim = 256;  // a GPU size
  } else {
    throw Error("--config " + name + ": tiny, small or base for --arch unimat", ErrorKind::kUsage);
  }
  return o;
}

namespace {

int norm_groups(int channels) { return channels % 8 == 0 ? 8 : 1; }

torch::nn::Conv3d conv(int in, int out, int kernel, std::vector<int64_t> stride = {1, 1, 1}) {
  return torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, kernel).stride(stride).padding(kernel / 2));
}

}  // namespace

UniMatResBlockImpl::UniMatResBlockImpl(int in, int out, int emb) {
  norm1 = register_module("norm1", torch::nn::GroupNorm(norm_groups(in), in));
  conv1 = register_module("conv1", conv(in, out, 3));
  emb_proj = register_module("emb_proj", torch::nn::Linear(emb, out));
  norm2 = register_module("norm2", torch::nn::GroupNorm(norm_groups(out), out));
  conv2 = register_module("conv2", conv(out, out, 3));
  // The block starts as the identity (DDPM's zero-initialised last layer).
  torch::NoGradGuard no_grad;
  conv2->weight.zero_();
  conv2->bias.zero_();
  if (in != out) skip = register_module("skip", conv(in, out, 1));
}

torch::Tensor UniMatResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& emb) {
  auto h = conv1(torch::silu(norm1(x)));
  h = h + emb_proj(emb).unsqueeze(-1).unsqueeze(-1).unsqueeze(-1);
  h = conv2(torch::silu(norm2(h)));
  return (skip ? skip(x) : x) + h;
}

UniMatAttentionImpl::UniMatAttentionImpl(int channels, int heads_) : heads(heads_) {
  norm = register_module("norm", torch::nn::GroupNorm(norm_groups(channels), channels));
  qkv = register_module("qkv", conv(channels, 3 * channels, 1));
  out = register_module("out", conv(channels, channels, 1));
  torch::NoGradGuard no_grad;
  out->weight.zero_();
  out->bias.zero_();
}

torch::Tensor UniMatAttentionImpl::forward(const torch::Tensor& x) {
  const auto sizes = x.sizes();
  const int64_t b = sizes[0], c = sizes[1], s = x.numel() / (b * c), d = c / heads;
  auto q = qkv(norm(x)).reshape({b, 3, heads, d, s});
  auto query = q.select(1, 0).transpose(2, 3), key = q.select(1, 1), value = q.select(1, 2).transpose(2, 3);
  auto weights = torch::softmax(torch::matmul(query, key) / std::sqrt(static_cast<double>(d)), -1);  // [B, H, S, S]
  auto o = torch::matmul(weights, value).transpose(2, 3).reshape(sizes);
  return x + out(o);
}

UniMatNetImpl::UniMatNetImpl(const UniMatOptions& o) : options(o) {
  const int levels = static_cast<int>(o.multipliers.size());
  const int emb = o.time_dim;
  time_in = register_module("time_in", torch::nn::Linear(emb, emb));
  lattice_in = register_module("lattice_in", torch::nn::Linear(6, emb));
  time_out = register_module("time_out", torch::nn::Linear(emb, emb));
  // CSP: an occupancy channel and the atoms' coordinate features; de novo:
  // the noisy values of the three channels and their features.
  input = register_module("input", conv((o.generate ? 3 : 1) + 6 * o.frequencies, o.width, 3));
  cell_embedding = register_parameter("cell_embedding",
                                      0.02 * torch::randn({o.width, o.slots, kTableRows, kTableGroups}));
  std::vector<int> ch;
  for (int m : o.multipliers) ch.push_back(o.width * m);
  int current = o.width;
  for (int i = 0; i < levels; ++i) {
    down_blocks.emplace_back();
    for (int j = 0; j < o.res_blocks; ++j) {
      down_blocks[i].push_back(register_module(fmt::format("down{}_{}", i, j), UniMatResBlock(current, ch[i], emb)));
      current = ch[i];
    }
    const bool attend = i >= levels - o.attention_levels;
    down_attention.push_back(attend ? register_module(fmt::format("down{}_attention", i), UniMatAttention(ch[i], o.heads))
                                    : UniMatAttention{nullptr});
    if (i + 1 < levels)
      downsample.push_back(register_module(fmt::format("downsample{}", i), conv(ch[i], ch[i], 3, {1, 2, 2})));
  }
  mid1 = register_module("mid1", UniMatResBlock(current, current, emb));
  mid_attention = register_module("mid_attention", UniMatAttention(current, o.heads));
  mid2 = register_module("mid2", UniMatResBlock(current, current, emb));
  up_blocks.resize(levels);
  up_attention.resize(levels, UniMatAttention{nullptr});
  upsample.resize(levels, torch::nn::Conv3d{nullptr});
  for (int i = levels - 1; i >= 0; --i) {
    for (int j = 0; j < o.res_blocks; ++j) {
      const int in = j == 0 ? current + ch[i] : ch[i];
      up_blocks[i].push_back(register_module(fmt::format("up{}_{}", i, j), UniMatResBlock(in, ch[i], emb)));
      current = ch[i];
    }
    if (i >= levels - o.attention_levels)
      up_attention[i] = register_module(fmt::format("up{}_attention", i), UniMatAttention(ch[i], o.heads));
    if (i > 0) upsample[i] = register_module(fmt::format("upsample{}", i), conv(ch[i], ch[i], 3));
  }
  out_norm = register_module("out_norm", torch::nn::GroupNorm(norm_groups(o.width), o.width));
  coord_out = register_module("coord_out", conv(o.width, 3, 1));
  // The lattice head reads the atoms' last features, the whole grid's
  // coarsest features and the time + lattice embedding itself (the noisy
  // cell's invariants reach it directly, as the GNN's every layer sees them).
  const int head_in = o.width + ch.back() + emb;
  lattice_hidden = register_module("lattice_head_hidden", torch::nn::Linear(head_in, emb));
  lattice_out = register_module("lattice_head_out", torch::nn::Linear(torch::nn::LinearOptions(emb, 9).bias(false)));
}

torch::Tensor unimat_element_cells(int vocab, const std::function<bool(int)>& allowed) {
  auto cells = torch::zeros({kTableRows, kTableGroups}, torch::kBool);
  auto a = cells.accessor<bool, 2>();
  for (int z = 1; z <= std::min(vocab, kMaxZ); ++z) {
    const TableCell c = table_cell(z);
    a[c.row][c.group] = !allowed || allowed(z);
  }
  return cells;
}

int64_t UniMatNetImpl::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

torch::Tensor UniMatNetImpl::voxel_index(const torch::Tensor& atom_types, const torch::Tensor& crystal_of_atom) const {
  const int64_t n = atom_types.size(0), L = options.slots;
  // Each atom's voxel: its crystal, its slot among its element's atoms in
  // that crystal, its element's cell.
  const auto z_cpu = atom_types.to(torch::kCPU, torch::kInt64).contiguous();
  const auto c_cpu = crystal_of_atom.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t* z = z_cpu.data_ptr<int64_t>();
  const int64_t* c = c_cpu.data_ptr<int64_t>();
  auto voxel_cpu = torch::empty({n}, torch::kInt64);
  int64_t* voxel = voxel_cpu.data_ptr<int64_t>();
  std::unordered_map<int64_t, int64_t> seen;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t slot = seen[c[i] * (kMaxZ + 1) + z[i]]++;
    if (slot >= L)
      throw Error(fmt::format("a crystal has more than {} atoms of {}: the UniMat model has {} slots per element "
                              "(the most its training set had)",
                              L, element(static_cast<int>(z[i])).symbol, L),
                  ErrorKind::kUsage);
    const TableCell cell = table_cell(static_cast<int>(z[i]));
    voxel[i] = ((c[i] * L + slot) * kTableRows + cell.row) * kTableGroups + cell.group;
  }
  return voxel_cpu.to(crystal_of_atom.device());
}

torch::Tensor UniMatNetImpl::clean_grid(const torch::Tensor& atom_types, const torch::Tensor& frac,
                                        const torch::Tensor& crystal_of_atom, int64_t num_crystals) const {
  const auto index = voxel_index(atom_types, crystal_of_atom);
  const int64_t voxels = num_crystals * options.slots * kTableRows * kTableGroups;
  auto x = frac.to(torch::kFloat32);
  x = x - x.floor();
  auto grid = torch::full({voxels, 3}, kUniMatNull, x.options()).index_copy_(0, index, x);
  return grid.view({num_crystals, options.slots, kTableRows, kTableGroups, 3}).permute({0, 4, 1, 2, 3}).contiguous();
}

torch::Tensor UniMatNetImpl::embed(const torch::Tensor& t, const torch::Tensor& lattice, c10::ScalarType dtype) {
  // Time and lattice: log lengths and cosines of the angles.
  auto lat = lattice.to(torch::kFloat32);
  auto len = lat.norm(2, 2).clamp_min(1e-6);  // [B, 3]; a noisy lattice may have a vanishing row
  auto cosine = [&](int i, int j) {
    return (lat.select(1, i) * lat.select(1, j)).sum(1) / (len.select(1, i) * len.select(1, j));
  };
  auto lattice_features = torch::stack({len.select(1, 0).log(), len.select(1, 1).log(), len.select(1, 2).log(),
                                        cosine(1, 2), cosine(0, 2), cosine(0, 1)}, 1).to(dtype);
  auto temb = sinusoidal_time_embedding(t, options.time_dim).to(dtype);
  return time_out(torch::silu(time_in(temb) + lattice_in(lattice_features)));
}

torch::Tensor UniMatNetImpl::unet(torch::Tensor h, const torch::Tensor& emb, torch::Tensor& coarse) {
  const std::size_t levels = options.multipliers.size();
  std::vector<torch::Tensor> skips;
  for (std::size_t i = 0; i < levels; ++i) {
    for (auto& block : down_blocks[i]) h = block->forward(h, emb);
    if (down_attention[i]) h = down_attention[i]->forward(h);
    skips.push_back(h);
    if (i + 1 < levels) h = downsample[i]->forward(h);
  }
  h = mid2->forward(mid_attention->forward(mid1->forward(h, emb)), emb);
  coarse = h.mean({2, 3, 4});  // [B, channels of the coarsest level]
  for (std::size_t i = levels; i-- > 0;) {
    h = torch::cat({h, skips[i]}, 1);
    for (auto& block : up_blocks[i]) h = block->forward(h, emb);
    if (up_attention[i]) h = up_attention[i]->forward(h);
    if (i > 0) {
      const auto target = skips[i - 1].sizes();
      h = torch::nn::functional::interpolate(
          h, torch::nn::functional::InterpolateFuncOptions()
                 .size(std::vector<int64_t>{target[2], target[3], target[4]})
                 .mode(torch::kNearest));
      h = upsample[i]->forward(h);
    }
  }
  return torch::silu(out_norm(h));
}

torch::Tensor UniMatNetImpl::lattice_head(const torch::Tensor& pooled, const torch::Tensor& coarse,
                                          const torch::Tensor& emb, const torch::Tensor& lattice) {
  auto head = torch::cat({pooled, coarse, emb}, 1);
  auto m = lattice_out(torch::silu(lattice_hidden(head))).view({pooled.size(0), 3, 3});
  return torch::bmm(m.to(lattice.scalar_type()), lattice);
}

DenoiserOutput UniMatNetImpl::forward(const torch::Tensor& t, const torch::Tensor& atom_types,
                                      const torch::Tensor& frac, const torch::Tensor& lattice,
                                      const torch::Tensor& crystal_of_atom, int64_t num_crystals) {
  if (options.generate)
    throw Error("this UniMat network generates whole tensors (forward_dense); it takes no atom list");
  if (atom_types.is_floating_point())
    throw Error("the UniMat network takes atomic numbers [N] (CSP)");
  const auto low = input->weight.scalar_type();
  const int64_t n = atom_types.size(0), L = options.slots;
  const auto index = voxel_index(atom_types, crystal_of_atom);

  // Coordinate features of each atom, scattered into the grid.
  const auto x = frac.to(torch::kFloat32);
  auto k = 2 * M_PI * torch::arange(1, options.frequencies + 1, x.options());
  auto args = (x.unsqueeze(-1) * k).reshape({n, -1});
  auto features = torch::cat({torch::ones({n, 1}, x.options()), args.sin(), args.cos()}, 1).to(low);
  const int64_t cin = features.size(1), voxels = num_crystals * L * kTableRows * kTableGroups;
  auto grid = torch::zeros({voxels, cin}, features.options()).index_copy_(0, index, features);
  auto h = grid.view({num_crystals, L, kTableRows, kTableGroups, cin}).permute({0, 4, 1, 2, 3}).contiguous();
  h = input(h) + cell_embedding.unsqueeze(0);
  const auto emb = embed(t, lattice, low);
  torch::Tensor coarse;
  h = unet(h, emb, coarse);

  DenoiserOutput out;
  auto per_voxel = [&](const torch::Tensor& map) {
    return map.permute({0, 2, 3, 4, 1}).reshape({voxels, map.size(1)}).index_select(0, index);
  };
  out.coords = per_voxel(coord_out(h));
  auto at_atoms = per_voxel(h);
  auto counts = torch::zeros({num_crystals, 1}, at_atoms.options())
                    .index_add_(0, crystal_of_atom, torch::ones({n, 1}, at_atoms.options()));
  auto pooled = torch::zeros({num_crystals, at_atoms.size(1)}, at_atoms.options())
                    .index_add_(0, crystal_of_atom, at_atoms) / counts;
  out.lattice = lattice_head(pooled, coarse, emb, lattice);
  return out;
}

DenoiserOutput UniMatNetImpl::forward_dense(const torch::Tensor& t, const torch::Tensor& grid,
                                            const torch::Tensor& lattice) {
  if (!options.generate) throw Error("this UniMat network learned CSP; forward_dense is for generation models");
  const auto low = input->weight.scalar_type();
  // The noisy values and their periodic features: a coordinate's features
  // do not care on which side of 0 or 1 it sits.
  auto x = grid.to(torch::kFloat32);
  auto k = 2 * M_PI * torch::arange(1, options.frequencies + 1, x.options());
  auto args = (x.unsqueeze(2) * k.view({1, 1, -1, 1, 1, 1})).flatten(1, 2);  // [B, 3K, L, rows, groups]
  auto h = input(torch::cat({x, args.sin(), args.cos()}, 1).to(low)) + cell_embedding.unsqueeze(0);
  const auto emb = embed(t, lattice, low);
  torch::Tensor coarse;
  h = unet(h, emb, coarse);
  DenoiserOutput out;
  out.coords = coord_out(h);
  out.lattice = lattice_head(h.mean({2, 3, 4}), coarse, emb, lattice);
  return out;
}

}  // namespace xtaldiff
