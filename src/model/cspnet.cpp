#include "model/cspnet.h"

#include <algorithm>
#include <cmath>

#include "crystal/symmetry.h"
#include "util/error.h"

namespace xtaldiff {

// Every field under its own name; a key missing from an older file keeps
// the default.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CspNetOptions, hidden, layers, num_freqs, time_dim, vocab, layer_norm,
                                                diffuse_types, type_diffusion, condition_spacegroup,
                                                condition_properties, property_mean, property_stddev, latent_dim)

nlohmann::json CspNetOptions::to_json() const {
  nlohmann::json j = *this;
  // Property keys only when used: configurations of other networks stay as they were.
  if (condition_properties.empty())
    for (const char* key : {"condition_properties", "property_mean", "property_stddev"}) j.erase(key);
  if (latent_dim == 0) j.erase("latent_dim");
  return j;
}

int CspNetOptions::property_index(const std::string& column) const {
  for (std::size_t i = 0; i < condition_properties.size(); ++i)
    if (condition_properties[i] == column) return static_cast<int>(i);
  return -1;
}

CspNetOptions CspNetOptions::from_json(const nlohmann::json& j) {
  const CspNetOptions o = j.get<CspNetOptions>();
  const std::size_t k = o.condition_properties.size();
  if (o.property_mean.size() != k || o.property_stddev.size() != k)
    throw Error("network options: condition_properties, property_mean and property_stddev differ in length");
  for (std::size_t i = 0; i < k; ++i)
    if (!std::isfinite(o.property_mean[i]) || !(o.property_stddev[i] > 0))
      throw Error("network options: property '" + o.condition_properties[i] + "' has no finite mean / positive stddev");
  if (o.type_diffusion != "ddpm" && o.type_diffusion != "d3pm")
    throw Error("type_diffusion '" + o.type_diffusion + "': ddpm or d3pm", ErrorKind::kUsage);
  if (o.hidden < 1 || o.layers < 1 || o.num_freqs < 1 || o.time_dim < 2 || o.time_dim % 2 || o.vocab < 1 ||
      o.latent_dim < 0)
    throw Error("network options out of range: " + j.dump());
  return o;
}

CspNetOptions CspNetOptions::preset(const std::string& name) {
  CspNetOptions o;
  if (name == "small") return o;
  if (name == "base") {
    o.hidden = 512;
    o.layers = 6;
    return o;
  }
  if (name == "tiny") {  // tests
    o.hidden = 32;
    o.layers = 2;
    o.num_freqs = 8;
    o.time_dim = 16;
    return o;
  }
  throw Error("unknown network size '" + name + "' (tiny, small or base)", ErrorKind::kUsage);
}

EdgeIndex EdgeIndex::fully_connected(const std::vector<int64_t>& counts, const torch::Device& device,
                                     bool allow_dense) {
  int64_t pairs = 0, n = 0;
  for (int64_t c : counts) {
    pairs += c * (c - 1) / 2;
    n += c;
  }
  const int64_t e = 2 * pairs + n;
  auto src = torch::empty({e}, torch::kInt64), dst = torch::empty({e}, torch::kInt64);
  auto crystal = torch::empty({e}, torch::kInt64);
  auto inv = torch::empty({n, 1}, torch::kFloat32);
  auto s = src.accessor<int64_t, 1>(), d = dst.accessor<int64_t, 1>(), c = crystal.accessor<int64_t, 1>();
  auto iv = inv.accessor<float, 2>();
  int64_t k = 0, offset = 0;
  for (std::size_t b = 0; b < counts.size(); ++b) {
    const int64_t m = counts[b];
    for (int64_t i = 0; i < m; ++i) {
      iv[offset + i][0] = 1.0f / static_cast<float>(m);
      const int64_t self = 2 * pairs + offset + i;
      s[self] = d[self] = offset + i;
      c[self] = static_cast<int64_t>(b);
      for (int64_t j = i + 1; j < m; ++j, ++k) {
        s[k] = d[k + pairs] = offset + i;
        d[k] = s[k + pairs] = offset + j;
        c[k] = c[k + pairs] = static_cast<int64_t>(b);
      }
    }
    offset += m;
  }
  EdgeIndex out{src.to(device), dst.to(device), crystal.to(device), inv.to(device)};
  out.num_pairs = pairs;
  const bool equal = !counts.empty() && std::all_of(counts.begin(), counts.end(),
                                                    [&](int64_t c) { return c == counts.front(); });
  if (allow_dense && equal && counts.front() > 1) {
    // Row of edge i → j: pair k (i < j), P + k (i > j, the pair reversed),
    // 2P + atom (i = j), with k counted as in the loop above.
    const int64_t m = counts.front();
    auto rows = torch::empty({n * m}, torch::kInt64);
    auto r = rows.accessor<int64_t, 1>();
    int64_t pair = 0;
    for (std::size_t b = 0; b < counts.size(); ++b) {
      const int64_t base = static_cast<int64_t>(b) * m;
      for (int64_t i = 0; i < m; ++i) {
        r[(base + i) * m + i] = 2 * pairs + base + i;
        for (int64_t j = i + 1; j < m; ++j, ++pair) {
          r[(base + i) * m + j] = pair;
          r[(base + j) * m + i] = pairs + pair;
        }
      }
    }
    out.dense_atoms = m;
    out.dense_rows = rows.to(device);
  }
  return out;
}

int crystal_system_index(int n) {
  if (n <= 0) return 0;
  if (n <= 230) return crystal_system_number(n);
  throw Error("space group " + std::to_string(n) + " is outside 1..230", ErrorKind::kUsage);
}

torch::Tensor sinusoidal_time_embedding(const torch::Tensor& t, int dim) {
  const int half = dim / 2;
  const double scale = std::log(10000.0) / (half - 1);
  auto freqs = torch::exp(torch::arange(half, t.options().dtype(torch::kFloat32)) * -scale);
  auto args = t.to(torch::kFloat32).unsqueeze(1) * freqs.unsqueeze(0);
  return torch::cat({args.sin(), args.cos()}, 1);
}

torch::Tensor fourier_features(const torch::Tensor& frac_diff, int num_freqs) {
  auto freqs = 2 * M_PI * torch::arange(num_freqs, frac_diff.options());
  auto args = (frac_diff.unsqueeze(-1) * freqs).reshape({frac_diff.size(0), 3 * num_freqs});  // [E, 3F]
  return torch::cat({args.sin(), args.cos()}, 1);
}

CspLayerImpl::CspLayerImpl(int h, int dist_dim, bool layer_norm) : hidden(h), use_norm(layer_norm) {
  edge_in = register_module("edge_in", torch::nn::Linear(2 * h + 9 + dist_dim, h));
  edge_out = register_module("edge_out", torch::nn::Linear(h, h));
  node_in = register_module("node_in", torch::nn::Linear(2 * h, h));
  node_out = register_module("node_out", torch::nn::Linear(h, h));
  if (use_norm) norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({h})));
}

torch::Tensor CspLayerImpl::forward(const torch::Tensor& h_in, const EdgeFeatures& features,
                                    const torch::Tensor& lattice_ips, const EdgeIndex& edges) {
  const auto h = use_norm ? norm(h_in) : h_in;
  torch::Tensor pre;
  if (features.full.defined()) {
    pre = edge_in(torch::cat({h.index_select(0, edges.src), h.index_select(0, edges.dst),
                              lattice_ips.index_select(0, edges.crystal), features.full},
                             1));
  } else {
    // W·[h_i, h_j, ips, fd] + b = (W_a h)_i + (W_b h)_j + (W_c ips)_crystal + W_d fd + b,
    // with W_d fd + b from the pairs i < j (see the file comment).
    const auto& w = edge_in->weight;  // [H, 2H + 9 + 6F]
    using torch::indexing::Slice;
    const int64_t f3 = features.pair_sin.size(1);
    auto wa = w.index({Slice(), Slice(0, hidden)});
    auto wb = w.index({Slice(), Slice(hidden, 2 * hidden)});
    auto wc = w.index({Slice(), Slice(2 * hidden, 2 * hidden + 9)});
    auto w_sin = w.index({Slice(), Slice(2 * hidden + 9, 2 * hidden + 9 + f3)});
    auto w_cos = w.index({Slice(), Slice(2 * hidden + 9 + f3, torch::indexing::None)});
    auto sin_part = torch::mm(features.pair_sin, w_sin.t());
    auto cos_part = torch::addmm(edge_in->bias, features.pair_cos, w_cos.t());
    auto self_row = (edge_in->bias + w_cos.sum(1)).unsqueeze(0).expand({h.size(0), hidden});
    pre = torch::cat({cos_part + sin_part, cos_part - sin_part, self_row}, 0);
    auto per_node_i = torch::mm(h, wa.t());
    auto per_node_j = torch::mm(h, wb.t());
    auto per_crystal = torch::mm(lattice_ips, wc.t());
    if (edges.dense_atoms > 0) {
      // [B, n, n, H]: position (b, i, j) is the edge i → j; the per-atom and
      // per-crystal terms broadcast, and the mean over j is a sum over an axis.
      const int64_t n = edges.dense_atoms, b = h.size(0) / n;
      auto dense = pre.index_select(0, edges.dense_rows).view({b, n, n, hidden}) +
                   per_node_i.view({b, n, 1, hidden}) + per_node_j.view({b, 1, n, hidden}) +
                   per_crystal.view({b, 1, 1, hidden});
      auto e = torch::silu(edge_out(torch::silu(dense)));
      auto agg = e.sum(2).view({h.size(0), hidden}) * (1.0 / static_cast<double>(n));
      auto out = torch::silu(node_out(torch::silu(node_in(torch::cat({h, agg}, 1)))));
      return h_in + out;
    }
    pre = pre + per_node_i.index_select(0, edges.src) + per_node_j.index_select(0, edges.dst) +
          per_crystal.index_select(0, edges.crystal);
  }
  auto e = torch::silu(edge_out(torch::silu(pre)));
  // Mean over the edges leaving each atom (= all atoms of its crystal).
  auto inv = edges.inv_count.scalar_type() == h.scalar_type() ? edges.inv_count : edges.inv_count.to(h.scalar_type());
  auto agg = torch::zeros_like(h).index_add_(0, edges.src, e) * inv;
  auto out = torch::silu(node_out(torch::silu(node_in(torch::cat({h, agg}, 1)))));
  return h_in + out;
}

CspNetImpl::CspNetImpl(const CspNetOptions& o) : options(o) {
  if (o.diffuse_types) {
    type_in = register_module("type_in", torch::nn::Linear(o.d3pm() ? o.vocab + 1 : o.vocab, o.hidden));
    type_out = register_module("type_out", torch::nn::Linear(o.hidden, o.vocab));
  } else {
    atom_embedding = register_module("atom_embedding", torch::nn::Embedding(o.vocab, o.hidden));
  }
  atom_time_in = register_module("atom_time_in", torch::nn::Linear(o.hidden + o.time_dim, o.hidden));
  if (o.condition_spacegroup) {
    spacegroup_embedding = register_module("spacegroup_embedding", torch::nn::Embedding(231, o.time_dim));
    crystal_system_embedding = register_module("crystal_system_embedding", torch::nn::Embedding(8, o.time_dim));
    std::vector<int64_t> table(231);
    for (int n = 0; n <= 230; ++n) table[n] = crystal_system_index(n);
    crystal_system_of_ = torch::tensor(table, torch::kInt64);
  }
  for (std::size_t k = 0; k < o.condition_properties.size(); ++k) {
    property_in.push_back(register_module("property" + std::to_string(k) + "_in", torch::nn::Linear(1, o.time_dim)));
    property_out.push_back(
        register_module("property" + std::to_string(k) + "_out", torch::nn::Linear(o.time_dim, o.time_dim)));
  }
  if (!o.condition_properties.empty()) {
    property_mean_ = torch::tensor(o.property_mean, torch::kFloat64).to(torch::kFloat32);
    property_stddev_ = torch::tensor(o.property_stddev, torch::kFloat64).to(torch::kFloat32);
  }
  if (!o.condition_properties.empty())
    property_null = register_parameter(
        "property_null", torch::zeros({static_cast<int64_t>(o.condition_properties.size()), o.time_dim}));
  if (o.latent_dim > 0) latent_in = register_module("latent_in", torch::nn::Linear(o.latent_dim, o.time_dim));
  for (int i = 0; i < o.layers; ++i)
    blocks.push_back(register_module("layer" + std::to_string(i), CspLayer(o.hidden, 6 * o.num_freqs, o.layer_norm)));
  if (o.layer_norm) final_norm = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.hidden})));
  coord_out = register_module("coord_out", torch::nn::Linear(torch::nn::LinearOptions(o.hidden, 3).bias(false)));
  lattice_out = register_module("lattice_out", torch::nn::Linear(torch::nn::LinearOptions(o.hidden, 9).bias(false)));
}

int64_t CspNetImpl::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

DenoiserOutput CspNetImpl::forward(const torch::Tensor& t, const torch::Tensor& atom_types, const torch::Tensor& frac,
                                   const torch::Tensor& lattice, const EdgeIndex& edges,
                                   const torch::Tensor& crystal_of_atom, int64_t num_crystals,
                                   const Condition& condition) {
  return run(t, atom_types, frac, lattice, edges, crystal_of_atom, num_crystals, false, condition);
}

DenoiserOutput CspNetImpl::forward_reference(const torch::Tensor& t, const torch::Tensor& atom_types,
                                             const torch::Tensor& frac, const torch::Tensor& lattice,
                                             const EdgeIndex& edges, const torch::Tensor& crystal_of_atom,
                                             int64_t num_crystals, const Condition& condition) {
  return run(t, atom_types, frac, lattice, edges, crystal_of_atom, num_crystals, true, condition);
}

torch::Tensor CspNetImpl::condition_embedding(const Condition& c, int64_t num_crystals, const torch::Device& device) {
  const auto& sg_in = c.spacegroup;
  if (!options.condition_spacegroup && sg_in.defined() && sg_in.numel() && sg_in.max().item<int64_t>() > 0)
    throw Error("this network was not trained with space-group conditioning (train with --condition spacegroup)",
                ErrorKind::kUsage);
  if (options.condition_properties.empty() && c.properties.defined() && c.properties.isfinite().any().item<bool>())
    throw Error("this network was not trained with property conditioning (train with --condition COLUMN)",
                ErrorKind::kUsage);
  torch::Tensor emb;
  if (options.latent_dim > 0) {
    if (!c.latent.defined() || c.latent.dim() != 2 || c.latent.size(0) != num_crystals ||
        c.latent.size(1) != options.latent_dim)
      throw Error("this network needs a latent vector [" + std::to_string(num_crystals) + ", " +
                  std::to_string(options.latent_dim) + "] per batch");
    emb = latent_in(c.latent.to(device, latent_in->weight.scalar_type()));
  } else if (c.latent.defined()) {
    throw Error("this network takes no latent vector");
  }
  if (options.condition_spacegroup) {
    auto sg = sg_in.defined() ? sg_in.to(device, torch::kInt64)
                              : torch::zeros({num_crystals}, torch::TensorOptions(torch::kInt64).device(device));
    if (sg.numel() != num_crystals)
      throw Error("space-group labels: " + std::to_string(sg.numel()) + " for " + std::to_string(num_crystals) +
                  " crystals");
    // Labels are range-checked where they enter (trainer, sampler), not here:
    // a check would synchronise the device at every evaluation.
    if (crystal_system_of_.device() != device) crystal_system_of_ = crystal_system_of_.to(device);
    auto system = crystal_system_of_.index_select(0, sg);
    auto part = spacegroup_embedding(sg) + crystal_system_embedding(system);
    emb = emb.defined() ? emb + part : part;
  }
  const int64_t k = static_cast<int64_t>(options.condition_properties.size());
  if (k > 0) {
    const auto dtype = property_null.scalar_type();
    auto y = c.properties.defined() ? c.properties.to(device, torch::kFloat32)
                                    : torch::full({num_crystals, k}, NAN, torch::TensorOptions(device));
    if (y.dim() != 2 || y.size(0) != num_crystals || y.size(1) != k)
      throw Error("property labels: shape [" + std::to_string(y.size(0)) + ", " +
                  std::to_string(y.dim() > 1 ? y.size(1) : 0) + "] for " + std::to_string(num_crystals) +
                  " crystals and " + std::to_string(k) + " columns");
    auto given = y.isfinite();
    if (property_mean_.device() != device) {
      property_mean_ = property_mean_.to(device);
      property_stddev_ = property_stddev_.to(device);
    }
    const auto& mean = property_mean_;
    const auto& sd = property_stddev_;
    // NaN must not reach the MLP even where masked: 0 · NaN is NaN.
    auto z = torch::where(given, (y - mean) / sd, torch::zeros_like(y)).to(dtype);
    for (int64_t i = 0; i < k; ++i) {
      auto value = property_out[i](torch::silu(property_in[i](z.narrow(1, i, 1))));
      auto part = torch::where(given.narrow(1, i, 1), value, property_null[i].unsqueeze(0).expand_as(value));
      emb = emb.defined() ? emb + part : part;
    }
  }
  return emb;
}

std::pair<torch::Tensor, torch::Tensor> CspNetImpl::encode(const torch::Tensor& t, const torch::Tensor& atom_types,
                                                           const torch::Tensor& frac, const torch::Tensor& lattice,
                                                           const EdgeIndex& edges, const torch::Tensor& crystal_of_atom,
                                                           int64_t num_crystals, bool reference,
                                                           const Condition& condition) {
  // The network computes in its weights' type (float32, or bfloat16 for
  // `sample --precision bf16`); coordinates and lattice may come in float32
  // either way, and the Fourier arguments below need them there.
  const auto low = atom_time_in->weight.scalar_type();
  auto temb = sinusoidal_time_embedding(t, options.time_dim).to(low);
  if (options.conditioned() || condition.any()) {
    auto c = condition_embedding(condition, num_crystals, frac.device());
    if (c.defined()) temb = temb + c;
  }
  if (options.diffuse_types != atom_types.is_floating_point())
    throw Error(options.diffuse_types ? "a generation network takes type vectors [N, vocab], not atomic numbers"
                                      : "a CSP network takes atomic numbers [N], not type vectors");
  auto atoms = options.diffuse_types ? type_in(atom_types.to(low)) : atom_embedding(atom_types - 1);
  auto h = torch::cat({atoms, temb.index_select(0, crystal_of_atom)}, 1);
  h = atom_time_in(h);
  EdgeFeatures features;
  // Fourier arguments reach 2π·(F − 1) ≈ 800 rad: they are formed in float32
  // even when the network runs in bfloat16, from float32 coordinates (8
  // mantissa bits, in the coordinates or the arguments, make them noise:
  // tests/backend_ops found a 39 % error in a trained model's output when
  // the sampler rounded the coordinates to bfloat16 first).
  const auto frac32 = low == torch::kFloat64 ? frac : frac.to(torch::kFloat32);
  if (reference) {
    auto diff = frac32.index_select(0, edges.dst) - frac32.index_select(0, edges.src);
    features.full = fourier_features(diff - torch::floor(diff), options.num_freqs).to(low);
  } else {
    using torch::indexing::Slice;
    auto src = edges.src.index({Slice(0, edges.num_pairs)}), dst = edges.dst.index({Slice(0, edges.num_pairs)});
    auto diff = frac32.index_select(0, dst) - frac32.index_select(0, src);
    diff = diff - torch::floor(diff);
    auto freqs = 2 * M_PI * torch::arange(options.num_freqs, diff.options());
    auto args = (diff.unsqueeze(-1) * freqs).reshape({diff.size(0), 3 * options.num_freqs});  // [P, 3F], as fourier_features
    features.pair_sin = args.sin().to(low);
    features.pair_cos = args.cos().to(low);
  }
  auto ips = torch::bmm(lattice, lattice.transpose(1, 2)).reshape({num_crystals, 9}).to(low);
  for (auto& block : blocks) h = block->forward(h, features, ips, edges);
  if (options.layer_norm) h = final_norm(h);
  if (edges.dense_atoms > 0 && !reference)
    return {h, h.view({num_crystals, edges.dense_atoms, h.size(1)}).mean(1)};
  auto counts = torch::zeros({num_crystals, 1}, h.options()).index_add_(0, crystal_of_atom,
                                                                        torch::ones({h.size(0), 1}, h.options()));
  auto graph = torch::zeros({num_crystals, h.size(1)}, h.options()).index_add_(0, crystal_of_atom, h) / counts;
  return {h, graph};
}

DenoiserOutput CspNetImpl::run(const torch::Tensor& t, const torch::Tensor& atom_types, const torch::Tensor& frac,
                               const torch::Tensor& lattice, const EdgeIndex& edges,
                               const torch::Tensor& crystal_of_atom, int64_t num_crystals, bool reference,
                               const Condition& condition) {
  auto [h, graph] = encode(t, atom_types, frac, lattice, edges, crystal_of_atom, num_crystals, reference, condition);
  DenoiserOutput out;
  out.coords = coord_out(h);
  if (options.diffuse_types) out.types = type_out(h);
  auto m = lattice_out(graph).view({num_crystals, 3, 3});
  out.lattice = torch::bmm(m.to(lattice.scalar_type()), lattice);
  return out;
}

}  // namespace xtaldiff
