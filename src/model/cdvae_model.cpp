#include "model/cdvae_model.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "crystal/lattice.h"
#include "util/error.h"

namespace xtaldiff {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CdvaeOptions, latent_dim, head_hidden, head_layers, max_atoms,
                                                noise_levels, sigma_begin, sigma_end, type_sigma_begin, type_sigma_end,
                                                beta, cost_natom, cost_lattice, cost_composition, cost_coord, cost_type,
                                                cost_property, lattice_mean, lattice_stddev, properties, property_mean,
                                                property_stddev, conditional_prior, prior_drop, cost_prior, step_lr,
                                                steps_per_level)

nlohmann::json CdvaeOptions::to_json() const { return *this; }

CdvaeOptions CdvaeOptions::from_json(const nlohmann::json& j) {
  const CdvaeOptions o = j.get<CdvaeOptions>();
  if (o.latent_dim < 1 || o.head_hidden < 1 || o.head_layers < 0 || o.max_atoms < 1 || o.noise_levels < 2 ||
      !(o.sigma_begin > o.sigma_end && o.sigma_end > 0) || !(o.type_sigma_begin > o.type_sigma_end && o.type_sigma_end > 0) ||
      o.beta < 0 || !(o.step_lr > 0) || o.steps_per_level < 1 || !(o.prior_drop >= 0 && o.prior_drop < 1))
    throw Error("cdvae options out of range: " + j.dump());
  if (o.lattice_mean.size() != 6 || o.lattice_stddev.size() != 6)
    throw Error("cdvae options: lattice_mean and lattice_stddev need 6 values");
  for (double s : o.lattice_stddev)
    if (!(s > 0)) throw Error("cdvae options: lattice_stddev must be positive");
  const std::size_t k = o.properties.size();
  if (o.property_mean.size() != k || o.property_stddev.size() != k)
    throw Error("cdvae options: properties, property_mean and property_stddev differ in length");
  for (std::size_t i = 0; i < k; ++i)
    if (!std::isfinite(o.property_mean[i]) || !(o.property_stddev[i] > 0))
      throw Error("cdvae options: property '" + o.properties[i] + "' has no finite mean / positive stddev");
  return o;
}

namespace {
// CDVAE's levels: exp(linspace(log begin, log end, n)).
std::vector<double> geometric_levels(double begin, double end, int n) {
  std::vector<double> s(n);
  for (int k = 0; k < n; ++k) s[k] = std::exp(std::log(begin) + (std::log(end) - std::log(begin)) * k / (n - 1));
  return s;
}
}  // namespace

std::vector<double> CdvaeOptions::sigmas() const { return geometric_levels(sigma_begin, sigma_end, noise_levels); }
std::vector<double> CdvaeOptions::type_sigmas() const {
  return geometric_levels(type_sigma_begin, type_sigma_end, noise_levels);
}

int CdvaeOptions::property_index(const std::string& column) const {
  for (std::size_t i = 0; i < properties.size(); ++i)
    if (properties[i] == column) return static_cast<int>(i);
  return -1;
}

namespace {

// An MLP in → (hidden, SiLU) × layers → out.
torch::nn::Sequential mlp(int in, int hidden, int layers, int out) {
  torch::nn::Sequential s;
  int width = in;
  for (int i = 0; i < layers; ++i) {
    s->push_back(torch::nn::Linear(width, hidden));
    s->push_back(torch::nn::SiLU());
    width = hidden;
  }
  s->push_back(torch::nn::Linear(width, out));
  return s;
}

// Per-crystal mean of per-atom values [N] → [B].
torch::Tensor crystal_mean(const torch::Tensor& per_atom, const CrystalBatch& b) {
  auto sum = torch::zeros({b.num_crystals()}, per_atom.options()).index_add_(0, b.crystal_of_atom, per_atom);
  return sum / b.num_atoms.to(per_atom.scalar_type());
}

}  // namespace

torch::Tensor lattice_parameters(const torch::Tensor& lattice) {
  auto lengths = lattice.norm(2, -1);  // [B, 3]
  auto angle = [&](int i, int j) {
    auto cos = (lattice.select(1, i) * lattice.select(1, j)).sum(-1) / (lengths.select(1, i) * lengths.select(1, j));
    return torch::acos(cos.clamp(-1, 1)) * (180.0 / M_PI);
  };
  // α between b and c, β between a and c, γ between a and b.
  return torch::cat({lengths, torch::stack({angle(1, 2), angle(0, 2), angle(0, 1)}, 1)}, 1);
}

torch::Tensor minimum_image_cartesian(const torch::Tensor& dfrac, const torch::Tensor& lattice_of_atom) {
  auto wrapped = dfrac - torch::round(dfrac);  // [N, 3] in [−½, ½]
  std::vector<float> shifts;
  for (int i = -1; i <= 1; ++i)
    for (int j = -1; j <= 1; ++j)
      for (int k = -1; k <= 1; ++k) shifts.insert(shifts.end(), {float(i), float(j), float(k)});
  auto s = torch::tensor(shifts).view({27, 3}).to(dfrac.device(), dfrac.scalar_type());
  auto candidates = wrapped.unsqueeze(1) + s.unsqueeze(0);        // [N, 27, 3]
  auto cart = torch::bmm(candidates, lattice_of_atom);             // [N, 27, 3]
  auto best = cart.pow(2).sum(-1).argmin(1);                       // [N]
  return cart.gather(1, best.view({-1, 1, 1}).expand({-1, 1, 3})).squeeze(1);
}

torch::Tensor gaussian_kl(const torch::Tensor& mu, const torch::Tensor& logvar) {
  return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1);
}

std::vector<int> composition_to_types(const std::vector<double>& probs, int n) {
  const int v = static_cast<int>(probs.size());
  const double total = std::accumulate(probs.begin(), probs.end(), 0.0);
  std::vector<int> counts(v, 0);
  std::vector<double> rest(v, 0.0);
  int placed = 0;
  for (int e = 0; e < v; ++e) {
    const double share = total > 0 ? std::max(0.0, probs[e]) / total * n : 0.0;
    counts[e] = static_cast<int>(std::floor(share));
    rest[e] = share - counts[e];
    placed += counts[e];
  }
  std::vector<int> order(v);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return rest[a] > rest[b]; });
  for (int i = 0; placed < n && v > 0; i = (i + 1) % v, ++placed) ++counts[order[i]];
  std::vector<int> types;
  for (int e = 0; e < v; ++e) types.insert(types.end(), counts[e], e + 1);
  return types;
}

CdvaeModel::CdvaeModel(const CspNetOptions& encoder, const CspNetOptions& decoder, const CdvaeOptions& options)
    : encoder_options_(encoder), decoder_options_(decoder), options_(options) {
  if (encoder.diffuse_types || encoder.conditioned())
    throw Error("a CDVAE encoder reads atomic numbers and no condition");
  if (!decoder.diffuse_types || decoder.type_diffusion != "ddpm" || decoder.latent_dim != options.latent_dim ||
      decoder.condition_spacegroup || !decoder.condition_properties.empty())
    throw Error("a CDVAE decoder reads type vectors and the latent vector only");
  encoder_ = register_module("encoder", CspNet(encoder));
  decoder_ = register_module("decoder", CspNet(decoder));
  to_mu_ = register_module("to_mu", torch::nn::Linear(encoder.hidden, options.latent_dim));
  to_logvar_ = register_module("to_logvar", torch::nn::Linear(encoder.hidden, options.latent_dim));
  const int h = options.head_hidden, l = options.head_layers, z = options.latent_dim;
  natom_head_ = register_module("natom_head", mlp(z, h, l, options.max_atoms + 1));
  lattice_head_ = register_module("lattice_head", mlp(z, h, l, 6));
  composition_head_ = register_module("composition_head", mlp(z, h, l, decoder.vocab));
  if (!options.properties.empty())
    property_head_ =
        register_module("property_head", mlp(z, h, l, static_cast<int>(options.properties.size())));
  if (!options.properties.empty() && options.conditional_prior)
    prior_net_ = register_module("prior_net", mlp(2 * static_cast<int>(options.properties.size()), h, l, 2 * z));
  sigmas_ = register_buffer("sigmas", torch::tensor(options.sigmas(), torch::kFloat64).to(torch::kFloat32));
  type_sigmas_ =
      register_buffer("type_sigmas", torch::tensor(options.type_sigmas(), torch::kFloat64).to(torch::kFloat32));
}

CdvaeModel CdvaeModel::from_config(const nlohmann::json& config) {
  for (const char* key : {"encoder", "decoder", "cdvae"})
    if (!config.contains(key)) throw Error(std::string("a cdvae model's configuration has no \"") + key + "\" object");
  return CdvaeModel(CspNetOptions::from_json(config["encoder"]), CspNetOptions::from_json(config["decoder"]),
                    CdvaeOptions::from_json(config["cdvae"]));
}

std::pair<CspNetOptions, CspNetOptions> CdvaeModel::networks(const std::string& preset, int latent_dim) {
  CspNetOptions enc = CspNetOptions::preset(preset);
  CspNetOptions dec = enc;
  dec.diffuse_types = true;
  dec.type_diffusion = "ddpm";
  dec.latent_dim = latent_dim;
  return {enc, dec};
}

nlohmann::json CdvaeModel::config() const {
  return {{"encoder", encoder_options_.to_json()}, {"decoder", decoder_options_.to_json()},
          {"cdvae", options_.to_json()}};
}

std::pair<torch::Tensor, torch::Tensor> CdvaeModel::encode(const CrystalBatch& b) {
  const auto edges = EdgeIndex::fully_connected(b.counts, b.frac.device());
  auto t = torch::zeros({b.num_crystals()}, b.frac.options());
  auto [nodes, graph] =
      encoder_->encode(t, b.atom_types, b.frac, b.lattice, edges, b.crystal_of_atom, b.num_crystals());
  return {to_mu_(graph), to_logvar_(graph)};
}

CdvaeHeads CdvaeModel::heads(const torch::Tensor& z) {
  CdvaeHeads h;
  h.num_atoms = natom_head_->forward(z);
  h.lattice = lattice_head_->forward(z);
  h.composition = composition_head_->forward(z);
  if (property_head_) h.properties = property_head_->forward(z);
  return h;
}

CdvaeDecoded CdvaeModel::decode(const torch::Tensor& z, const torch::Tensor& level, const torch::Tensor& types,
                                const torch::Tensor& frac, const torch::Tensor& lattice, const EdgeIndex& edges,
                                const torch::Tensor& crystal_of_atom) {
  const int64_t b = lattice.size(0);
  // Level 0 (the largest σ) is time T = 1000, the last level time 1000 / L.
  auto t = (options_.noise_levels - level.to(frac.scalar_type())) * (1000.0 / options_.noise_levels);
  auto onehot = torch::one_hot(types - 1, decoder_options_.vocab).to(frac.scalar_type());
  Condition c;
  c.latent = z;
  auto out = decoder_->forward(t, onehot, frac, lattice, edges, crystal_of_atom, b, c);
  // u · L / V^(1/3): rotates with the lattice, O(1) whatever the cell's size.
  auto scale = torch::abs(torch::det(lattice)).pow(1.0 / 3.0).view({b, 1, 1});
  auto frame = (lattice / scale).index_select(0, crystal_of_atom);
  CdvaeDecoded d;
  d.displacement = torch::bmm(out.coords.to(frac.scalar_type()).unsqueeze(1), frame).squeeze(1);
  d.type_logits = out.types;
  return d;
}

torch::Tensor CdvaeModel::lattice_targets(const CrystalBatch& b) const {
  auto p = lattice_parameters(b.lattice);
  auto n = b.num_atoms.to(p.scalar_type()).pow(1.0 / 3.0).unsqueeze(1);
  p = torch::cat({p.narrow(1, 0, 3) / n, p.narrow(1, 3, 3)}, 1);
  auto mean = torch::tensor(options_.lattice_mean, torch::kFloat64).to(p.device(), p.scalar_type());
  auto sd = torch::tensor(options_.lattice_stddev, torch::kFloat64).to(p.device(), p.scalar_type());
  return (p - mean) / sd;
}

torch::Tensor CdvaeModel::lattice_from_head(const torch::Tensor& standardised,
                                            const std::vector<int64_t>& num_atoms) const {
  auto s = standardised.detach().to(torch::kCPU, torch::kFloat64);
  auto out = torch::zeros({s.size(0), 3, 3}, torch::kFloat64);
  auto acc = s.accessor<double, 2>();
  auto dst = out.accessor<double, 3>();
  for (int64_t i = 0; i < s.size(0); ++i) {
    double p[6];
    for (int k = 0; k < 6; ++k) p[k] = acc[i][k] * options_.lattice_stddev[k] + options_.lattice_mean[k];
    const double scale = std::cbrt(static_cast<double>(std::max<int64_t>(1, num_atoms[i])));
    // Keep the cell physical: positive lengths, angles that make a cell.
    for (int k = 0; k < 3; ++k) p[k] = std::max(0.5, p[k] * scale);
    for (int k = 3; k < 6; ++k) p[k] = std::clamp(p[k], 30.0, 150.0);
    Lattice lat = Lattice::from_parameters(p[0], p[1], p[2], p[3], p[4], p[5]);
    if (!(std::abs(lat.volume()) > 1e-3)) lat = Lattice::from_parameters(p[0], p[1], p[2], 90, 90, 90);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) dst[i][r][c] = lat.matrix()[r][c];
  }
  return out;
}

std::pair<torch::Tensor, torch::Tensor> CdvaeModel::prior(const torch::Tensor& y_in) {
  if (!has_prior()) throw Error("this CDVAE has no conditioned prior (train with --condition COLUMN)", ErrorKind::kUsage);
  const auto dev = prior_net_->parameters().front().device();
  auto y = y_in.to(dev, torch::kFloat32);
  auto mean = torch::tensor(options_.property_mean, torch::kFloat64).to(dev, torch::kFloat32);
  auto sd = torch::tensor(options_.property_stddev, torch::kFloat64).to(dev, torch::kFloat32);
  auto given = y.isfinite();
  // NaN must not reach the network even where masked: 0 · NaN is NaN.
  auto value = torch::where(given, (y - mean) / sd, torch::zeros_like(y));
  auto out = prior_net_->forward(torch::cat({value, given.to(torch::kFloat32)}, 1));
  return {out.narrow(1, 0, options_.latent_dim), out.narrow(1, options_.latent_dim, options_.latent_dim)};
}

torch::Tensor CdvaeModel::properties_from_head(const torch::Tensor& standardised) const {
  auto mean = torch::tensor(options_.property_mean, torch::kFloat64).to(standardised.device(), standardised.scalar_type());
  auto sd = torch::tensor(options_.property_stddev, torch::kFloat64).to(standardised.device(), standardised.scalar_type());
  return standardised * sd + mean;
}

LossParts CdvaeModel::loss(const CrystalBatch& b, BatchNoise& noise) {
  const auto dev = b.frac.device();
  const auto fopt = b.frac.options();
  auto [mu, logvar] = encode(b);
  auto eps = noise.randn_per_crystal({options_.latent_dim}, torch::kFloat32).to(dev);
  auto z = mu + torch::exp(0.5 * logvar) * eps;
  const CdvaeHeads h = heads(z);

  auto natom_target = b.num_atoms.clamp_max(options_.max_atoms);
  auto natom_loss = torch::nn::functional::cross_entropy(h.num_atoms, natom_target);
  auto lattice_loss = torch::mse_loss(h.lattice, lattice_targets(b));
  auto comp_per_atom = h.composition.index_select(0, b.crystal_of_atom);
  auto composition_loss =
      crystal_mean(torch::nn::functional::cross_entropy(
                       comp_per_atom, b.atom_types - 1,
                       torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone)),
                   b)
          .mean();
  auto kl = gaussian_kl(mu, logvar).mean();

  // Noise: one level per crystal; Cartesian displacements N(0, σ²); types
  // drawn from one-hot + σ_type · the predicted composition (detached).
  auto level = noise.randint_per_crystal(0, options_.noise_levels).to(dev);
  auto sigma_atom = sigmas_.index_select(0, level).index_select(0, b.crystal_of_atom).unsqueeze(1);
  auto type_sigma_atom = type_sigmas_.index_select(0, level).index_select(0, b.crystal_of_atom).unsqueeze(1);
  auto lattice_of_atom = b.lattice.index_select(0, b.crystal_of_atom);
  auto cart = torch::bmm(b.frac.unsqueeze(1), lattice_of_atom).squeeze(1);
  auto noisy_cart = cart + noise.randn_per_atom({3}, torch::kFloat32).to(dev) * sigma_atom;
  auto noisy_frac = torch::bmm(noisy_cart.unsqueeze(1), torch::linalg::inv(lattice_of_atom)).squeeze(1);
  noisy_frac = noisy_frac - torch::floor(noisy_frac);
  auto target = minimum_image_cartesian(b.frac - noisy_frac, lattice_of_atom) / sigma_atom;

  auto probs = torch::one_hot(b.atom_types - 1, vocab()).to(fopt.dtype()) +
               torch::softmax(comp_per_atom.detach(), 1) * type_sigma_atom;
  auto cdf = probs.cumsum(1);
  auto u = noise.rand_per_atom({1}, torch::kFloat32).to(dev) * cdf.narrow(1, vocab() - 1, 1);
  auto noisy_types = (cdf < u).sum(1).clamp_max(vocab() - 1) + 1;

  const auto edges = EdgeIndex::fully_connected(b.counts, dev);
  const CdvaeDecoded d = decode(z, level, noisy_types, noisy_frac, b.lattice, edges, b.crystal_of_atom);
  auto coord_loss = crystal_mean(0.5 * (d.displacement - target).pow(2).sum(1), b).mean();
  auto type_loss = crystal_mean(torch::nn::functional::cross_entropy(
                                    d.type_logits, b.atom_types - 1,
                                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone)),
                                b)
                       .mean();

  LossParts parts;
  parts.lattice = lattice_loss;
  parts.coord = coord_loss;
  parts.types = type_loss;
  parts.total = options_.cost_natom * natom_loss + options_.cost_lattice * lattice_loss +
                options_.cost_composition * composition_loss + options_.cost_coord * coord_loss +
                options_.cost_type * type_loss + options_.beta * kl;
  if (property_head_ && b.properties.defined()) {
    auto mean = torch::tensor(options_.property_mean, torch::kFloat64).to(dev, torch::kFloat32);
    auto sd = torch::tensor(options_.property_stddev, torch::kFloat64).to(dev, torch::kFloat32);
    auto y = (b.properties.to(dev, torch::kFloat32) - mean) / sd;
    auto given = y.isfinite();
    auto err = torch::where(given, h.properties - torch::where(given, y, torch::zeros_like(y)), torch::zeros_like(y));
    auto count = given.sum().clamp_min(1).to(torch::kFloat32);
    parts.total = parts.total + options_.cost_property * err.pow(2).sum() / count;
  }
  if (has_prior() && b.properties.defined()) {
    // Labels hidden at random, so that the prior also learns from fewer
    // conditions (down to none: the marginal of the latents).
    auto y = b.properties.to(dev, torch::kFloat32);
    auto keep = noise.rand_per_crystal({y.size(1)}, torch::kFloat32).to(dev) >= options_.prior_drop;
    y = torch::where(keep, y, torch::full_like(y, NAN));
    auto [mu_p, logvar_p] = prior(y);
    auto zd = z.detach();
    auto nll = 0.5 * ((zd - mu_p).pow(2) * torch::exp(-logvar_p) + logvar_p).sum(1).mean();
    parts.total = parts.total + options_.cost_prior * nll;
  }
  return parts;
}

nlohmann::json CdvaeModel::describe() const {
  int64_t params = 0;
  for (const auto& p : parameters()) params += p.numel();
  return {{"kind", "cdvae"},
          {"parameters", params},
          {"latent_dim", options_.latent_dim},
          {"noise_levels", options_.noise_levels},
          {"sigma", {options_.sigma_begin, options_.sigma_end}},
          {"type_sigma", {options_.type_sigma_begin, options_.type_sigma_end}},
          {"beta", options_.beta},
          {"max_atoms", options_.max_atoms},
          {"properties", options_.properties},
          {"conditional_prior", has_prior()},
          {"langevin", {{"step_lr", options_.step_lr}, {"steps_per_level", options_.steps_per_level}}},
          {"encoder", {{"hidden", encoder_options_.hidden}, {"layers", encoder_options_.layers}}},
          {"decoder", {{"hidden", decoder_options_.hidden}, {"layers", decoder_options_.layers}}}};
}

}  // namespace xtaldiff
