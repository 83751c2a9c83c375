#include "model/model_file.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "util/error.h"

namespace xtaldiff {
namespace {

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

void save_model_file(const std::string& path, CspModel& model, CspModel* ema, const SavedState& state,
                     torch::optim::Optimizer* optimizer) {
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(std::string(kModelFormatTag)));
  archive.write("format_version", c10::IValue(static_cast<int64_t>(kModelFormatVersion)));
  archive.write("task", c10::IValue(std::string(model.task())));
  const nlohmann::json config = {{"network", model.net_options().to_json()},
                                 {"diffusion", model.diffusion_options().to_json()}};
  archive.write("config", c10::IValue(config.dump()));
  archive.write("metadata", c10::IValue(state.metadata.dump()));
  archive.write("trainer", c10::IValue(state.trainer.dump()));
  torch::serialize::OutputArchive weights;
  model.net()->save(weights);
  archive.write("weights", weights);
  if (ema) {
    torch::serialize::OutputArchive ema_weights;
    ema->net()->save(ema_weights);
    archive.write("ema_weights", ema_weights);
  }
  if (optimizer) {
    torch::serialize::OutputArchive opt;
    optimizer->save(opt);
    archive.write("optimizer", opt);
  }
  save_archive_atomic(archive, path);
}

LoadedModel load_model_file(const std::string& path, torch::optim::Optimizer* optimizer) {
  if (!std::filesystem::is_regular_file(path)) throw Error(path + ": no such model file", ErrorKind::kIo);
  torch::serialize::InputArchive archive;
  try {
    // Tensors land on the CPU whatever device wrote them (a model trained on
    // a GPU loads on a CPU-only machine); callers move the model afterwards.
    archive.load_from(path, torch::Device(torch::kCPU));
  } catch (const c10::Error& e) {
    throw Error(path + ": not an xtaldiff model file, or damaged (" + std::string(e.what_without_backtrace()).substr(0, 200) + ")");
  }
  LoadedModel out;
  try {
    if (read_string(archive, "format", path) != kModelFormatTag) throw Error(path + ": not an xtaldiff model file");
    c10::IValue version;
    archive.read("format_version", version);
    if (!version.isInt() || version.toInt() != kModelFormatVersion)
      throw Error(path + ": model file format version " + (version.isInt() ? std::to_string(version.toInt()) : "?") +
                  ", this xtaldiff reads version " + std::to_string(kModelFormatVersion));
    out.task = read_string(archive, "task", path);
    const auto config = parse_json(read_string(archive, "config", path), path, "config");
    out.state.metadata = parse_json(read_string(archive, "metadata", path), path, "metadata");
    out.state.trainer = parse_json(read_string(archive, "trainer", path), path, "trainer state");
    const auto net = CspNetOptions::from_json(config.at("network"));
    const auto diff = DiffusionOptions::from_json(config.at("diffusion"));
    out.model = std::make_unique<CspModel>(net, diff);
    torch::serialize::InputArchive weights;
    archive.read("weights", weights);
    out.model->net()->load(weights);
    torch::serialize::InputArchive ema_weights;
    if (archive.try_read("ema_weights", ema_weights)) {
      out.ema = std::make_unique<CspModel>(net, diff);
      out.ema->net()->load(ema_weights);
    }
    if (optimizer) {
      torch::serialize::InputArchive opt;
      if (archive.try_read("optimizer", opt)) optimizer->load(opt);
    }
  } catch (const c10::Error& e) {
    throw Error(path + ": damaged model file (" + std::string(e.what_without_backtrace()).substr(0, 200) + ")");
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": damaged model file (configuration: " + e.what() + ")");
  }
  return out;
}

bool load_optimizer_state(const std::string& path, torch::optim::Optimizer& optimizer, const torch::Device& device) {
  torch::serialize::InputArchive archive;
  try {
    // Adam's moments must sit where the parameters are, whichever device the
    // checkpoint was written on.
    archive.load_from(path, device);
    torch::serialize::InputArchive opt;
    if (!archive.try_read("optimizer", opt)) return false;
    optimizer.load(opt);
    return true;
  } catch (const c10::Error& e) {
    throw Error(path + ": damaged checkpoint (" + std::string(e.what_without_backtrace()).substr(0, 200) + ")");
  }
}

}  // namespace xtaldiff
