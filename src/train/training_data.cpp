#include "train/training_data.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "crystal/symmetry.h"
#include "io/formats.h"
#include "util/error.h"
#include "util/parallel.h"

namespace xtaldiff {
namespace {

// spglib's number at symprec 0.1, the tolerance `sample` reports outputs
// at (0 when spglib fails), over the cores: one thread needs about 4
// minutes for MP-20's train split, which a short GPU run cannot spare.
std::vector<int64_t> spacegroup_labels(const std::vector<Structure>& structures, int threads) {
  std::vector<int64_t> out(structures.size(), 0);
  parallel_for(structures.size(), threads, [&](std::size_t i) {
    try {
      out[i] = analyze_symmetry(structures[i], kDefaultSymprec).number;
    } catch (const Error&) {
      out[i] = 0;
    }
  }, 64);
  return out;
}

}  // namespace

std::vector<int64_t> TrainingSet::atom_counts() const {
  std::vector<int64_t> n;
  n.reserve(structures.size());
  for (const auto& s : structures) n.push_back(static_cast<int64_t>(s.size()));
  return n;
}

std::vector<double> TrainingSet::column_labels(std::size_t c) const {
  std::vector<double> v;
  for (std::size_t i = c; i < labels.size(); i += columns.size()) v.push_back(labels[i]);
  return v;
}

TrainingSet TrainingSet::subset(const std::vector<std::size_t>& rows) const {
  TrainingSet out;
  out.path = path;
  out.columns = columns;
  const std::size_t k = columns.size();
  for (std::size_t r : rows) {
    out.structures.push_back(structures[r]);
    out.labels.insert(out.labels.end(), labels.begin() + r * k, labels.begin() + (r + 1) * k);
    if (!spacegroups.empty()) out.spacegroups.push_back(spacegroups[r]);
  }
  return out;
}

CrystalBatch TrainingSet::batch(const std::vector<std::size_t>& index, const torch::Device& device) const {
  std::vector<const Structure*> ptrs;
  std::vector<int64_t> sg;
  std::vector<float> props;
  const std::size_t k = columns.size();
  for (std::size_t i : index) {
    ptrs.push_back(&structures[i]);
    if (!spacegroups.empty()) sg.push_back(spacegroups[i]);
    if (k) props.insert(props.end(), labels.begin() + i * k, labels.begin() + (i + 1) * k);
  }
  CrystalBatch b = make_batch(ptrs);
  if (!spacegroups.empty()) b.spacegroup = torch::tensor(sg, torch::kInt64);
  if (k) b.properties = torch::tensor(props).view({static_cast<int64_t>(index.size()), static_cast<int64_t>(k)});
  return b.to(device);
}

DatasetStats TrainingSet::stats() const {
  DatasetStats s = DatasetStats::of(structures);
  for (auto n : spacegroups) ++s.spacegroups[static_cast<int>(n)];
  for (std::size_t c = 0; c < columns.size(); ++c)
    s.properties[columns[c]] = LabelStats::of(column_labels(c), path + ": column '" + columns[c] + "'");
  return s;
}

TrainingSet load_training_set(const std::string& path, const TrainingSetSpec& spec) {
  const Dataset d = read_structures(path, ReadOptions{});
  std::vector<std::optional<std::size_t>> index;
  for (const auto& name : spec.columns) {
    index.push_back(d.column(name));
    if (!index.back() && spec.columns_required) {
      std::string have;
      for (const auto& n : d.columns) have += (have.empty() ? "" : ", ") + n;
      throw Error(path + ": no column '" + name + "' (it has: " + (have.empty() ? "none" : have) + ")",
                  ErrorKind::kUsage);
    }
  }
  TrainingSet out;
  out.path = path;
  out.columns = spec.columns;
  out.structures.reserve(d.size());
  for (std::size_t r = 0; r < d.size(); ++r) {
    if (spec.limit && out.structures.size() >= spec.limit) break;
    out.structures.push_back(canonical_structure(d.records[r].structure));
    for (const auto& c : index) {
      const auto v = c ? d.number(r, *c) : std::nullopt;
      out.labels.push_back(v && std::isfinite(*v) ? static_cast<float>(*v) : NAN);
    }
  }
  if (out.structures.empty()) throw Error(path + ": no structures to train on");
  if (spec.spacegroups) out.spacegroups = spacegroup_labels(out.structures, spec.threads);
  return out;
}

std::string default_validation_path(const std::string& train) {
  const auto pos = train.rfind("train");
  if (pos == std::string::npos) return "";
  std::string v = train;
  v.replace(pos, 5, "val");
  return std::filesystem::exists(v) ? v : "";
}

Evaluation validation_loss(Model& model, const TrainingSet& val, int batch, uint64_t seed, const torch::Device& dev) {
  Evaluation e;
  if (val.size() > 0) {
    torch::NoGradGuard no_grad;
    model.eval();
    auto gen = at::detail::createCPUGenerator(seed);
    double sum = 0;
    for (std::size_t start = 0; start < val.size(); start += batch) {
      std::vector<std::size_t> index;
      for (std::size_t i = start; i < std::min(val.size(), start + batch); ++i) index.push_back(i);
      const CrystalBatch b = val.batch(index, dev);
      BatchNoise noise(gen, b);
      sum += model.loss(b, noise).total.item<double>() * index.size();
    }
    model.train();
    e.score = sum / val.size();
  }
  e.log["val_loss"] = std::isfinite(e.score) ? nlohmann::json(e.score) : nlohmann::json(nullptr);
  char buf[48];
  std::snprintf(buf, sizeof buf, "val %.4f", e.score);
  e.text = std::isfinite(e.score) ? buf : "val - (no validation set)";
  return e;
}

}  // namespace xtaldiff
