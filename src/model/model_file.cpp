#include "model/model_file.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <utility>
#include <vector>

#include "model/registry.h"
#include "util/error.h"

namespace xtaldiff {
namespace {

constexpr const char* kLegacyPropertyTag = "xtaldiff-property-model";

std::string read_string(torch::serialize::InputArchive& a, const std::string& key, const std::string& path) {
  c10::IValue v;
  if (!a.try_read(key, v) || !v.isString()) throw Error(path + ": not an xtaldiff model file (no '" + key + "')");
  return v.toStringRef();
}

nlohmann::json parse_json(const std::string& text, const std::string& path, const char* what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": damaged model file (" + what + " is not valid JSON)");
  }
}

std::string torch_message(const c10::Error& e) { return std::string(e.what_without_backtrace()).substr(0, 200); }

// A model of the file's architecture with the weights under `key`, or null
// when the file has none there.
std::unique_ptr<Model> read_weights(torch::serialize::InputArchive& archive, const std::string& key,
                                    const std::string& arch, const nlohmann::json& config, bool required) {
  torch::serialize::InputArchive weights;
  if (!archive.try_read(key, weights)) {
    if (required) throw c10::Error("no '" + key + "' in the archive", "");
    return nullptr;
  }
  auto model = build_model(arch, config);
  model->load(weights);
  return model;
}

// Files of version 1 kept each top-level submodule's weights under their
// own keys: diffusion models the denoiser "net" as "weights" (and
// "ema_weights"), property models "encoder" and "head" under those names.
std::unique_ptr<Model> read_legacy_weights(torch::serialize::InputArchive& archive,
                                           const std::vector<std::pair<std::string, std::string>>& child_keys,
                                           const std::string& arch, const nlohmann::json& config, bool required) {
  auto model = build_model(arch, config);
  auto children = model->named_children();
  for (const auto& [child, key] : child_keys) {
    torch::serialize::InputArchive weights;
    if (!archive.try_read(key, weights)) {
      if (required) throw c10::Error("no '" + key + "' in the archive", "");
      return nullptr;
    }
    children[child]->load(weights);
  }
  return model;
}

void read_version1(torch::serialize::InputArchive& archive, const std::string& tag, const std::string& path,
                   LoadedArchive& out) {
  const auto config = parse_json(read_string(archive, "config", path), path, "config");
  out.state.metadata = parse_json(read_string(archive, "metadata", path), path, "metadata");
  if (tag == kLegacyPropertyTag) {
    out.arch = "property-gnn";
    out.task = "property";
    out.model = read_legacy_weights(archive, {{"encoder", "encoder"}, {"head", "head"}}, out.arch, config, true);
    return;
  }
  out.arch = "diffcsp";
  out.task = read_string(archive, "task", path);
  out.state.trainer = parse_json(read_string(archive, "trainer", path), path, "trainer state");
  out.model = read_legacy_weights(archive, {{"net", "weights"}}, out.arch, config, true);
  out.ema = read_legacy_weights(archive, {{"net", "ema_weights"}}, out.arch, config, false);
}

void write_weights(torch::serialize::OutputArchive& archive, const std::string& key, Model& model) {
  torch::serialize::OutputArchive weights;
  model.save(weights);
  archive.write(key, weights);
}

}  // namespace

void save_archive_atomic(torch::serialize::OutputArchive& archive, const std::string& path) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  try {
    archive.save_to(tmp);
  } catch (const c10::Error& e) {
    std::remove(tmp.c_str());
    throw Error(path + ": cannot write (" + e.what_without_backtrace() + ")", ErrorKind::kIo);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(path + ": cannot rename the temporary file into place", ErrorKind::kIo);
  }
}

void save_model_file(const std::string& path, Model& model, const ExtraWeights& extra, const SavedState& state) {
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(std::string(kModelFormatTag)));
  archive.write("format_version", c10::IValue(static_cast<int64_t>(kModelFormatVersion)));
  archive.write("arch", c10::IValue(model.arch()));
  archive.write("task", c10::IValue(model.task()));
  archive.write("config", c10::IValue(model.config().dump()));
  archive.write("metadata", c10::IValue(state.metadata.dump()));
  archive.write("trainer", c10::IValue(state.trainer.dump()));
  write_weights(archive, "weights", model);
  if (extra.ema) write_weights(archive, "ema_weights", *extra.ema);
  if (extra.best) write_weights(archive, "best_weights", *extra.best);
  if (extra.optimizer) {
    torch::serialize::OutputArchive opt;
    extra.optimizer->save(opt);
    archive.write("optimizer", opt);
  }
  save_archive_atomic(archive, path);
}

void save_model_file(const std::string& path, Model& model, Model* ema, const SavedState& state,
                     torch::optim::Optimizer* optimizer) {
  save_model_file(path, model, ExtraWeights{ema, nullptr, optimizer}, state);
}

LoadedArchive read_model_file(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw Error(path + ": no such model file", ErrorKind::kIo);
  torch::serialize::InputArchive archive;
  try {
    // Tensors land on the CPU whatever device wrote them (a model trained on
    // a GPU loads on a CPU-only machine); callers move the model afterwards.
    archive.load_from(path, torch::Device(torch::kCPU));
  } catch (const c10::Error& e) {
    throw Error(path + ": not an xtaldiff model file, or damaged (" + torch_message(e) + ")");
  }
  LoadedArchive out;
  try {
    const std::string tag = read_string(archive, "format", path);
    if (tag != kModelFormatTag && tag != kLegacyPropertyTag) throw Error(path + ": not an xtaldiff model file");
    c10::IValue version;
    archive.read("format_version", version);
    out.format_version = version.isInt() ? static_cast<int>(version.toInt()) : -1;
    if (out.format_version == 1) {
      read_version1(archive, tag, path, out);
      return out;
    }
    if (tag != kModelFormatTag || out.format_version != kModelFormatVersion)
      throw Error(path + ": model file format version " + (version.isInt() ? std::to_string(version.toInt()) : "?") +
                  ", this xtaldiff reads versions 1 and " + std::to_string(kModelFormatVersion));
    out.arch = read_string(archive, "arch", path);
    out.task = read_string(archive, "task", path);
    const auto config = parse_json(read_string(archive, "config", path), path, "config");
    out.state.metadata = parse_json(read_string(archive, "metadata", path), path, "metadata");
    out.state.trainer = parse_json(read_string(archive, "trainer", path), path, "trainer state");
    out.model = read_weights(archive, "weights", out.arch, config, true);
    out.ema = read_weights(archive, "ema_weights", out.arch, config, false);
    out.best = read_weights(archive, "best_weights", out.arch, config, false);
  } catch (const c10::Error& e) {
    throw Error(path + ": damaged model file (" + torch_message(e) + ")");
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": damaged model file (configuration: " + e.what() + ")");
  } catch (const Error& e) {
    // The registry's and the options' own errors do not know the file.
    const std::string what = e.what();
    if (what.rfind(path, 0) == 0) throw;
    throw Error(path + ": " + what, e.kind());
  }
  return out;
}

namespace {
std::unique_ptr<DiffusionModel> as_diffusion(std::unique_ptr<Model> m) {
  return std::unique_ptr<DiffusionModel>(static_cast<DiffusionModel*>(m.release()));
}
}  // namespace

LoadedModel load_model_file(const std::string& path) { return as_loaded_model(read_model_file(path), path); }

LoadedModel as_loaded_model(LoadedArchive&& archive, const std::string& path) {
  if (!dynamic_cast<DiffusionModel*>(archive.model.get()))
    throw Error(path + ": a " + archive.task + " model (" + archive.arch + "), not a diffusion model", ErrorKind::kUsage);
  LoadedModel out;
  out.model = as_diffusion(std::move(archive.model));
  if (archive.ema) out.ema = as_diffusion(std::move(archive.ema));
  out.state = std::move(archive.state);
  out.task = archive.task;
  return out;
}

bool load_optimizer_state(const std::string& path, torch::optim::Optimizer& optimizer, const torch::Device& device) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, device);
    torch::serialize::InputArchive opt;
    if (!archive.try_read("optimizer", opt)) return false;
    optimizer.load(opt);
    return true;
  } catch (const c10::Error& e) {
    throw Error(path + ": damaged checkpoint (" + torch_message(e) + ")");
  }
}

}  // namespace xtaldiff
