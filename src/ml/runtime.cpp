#include "ml/runtime.h"

#include <thread>

#include "util/error.h"

namespace xtaldiff {

int configure_threads(int threads) {
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(n);
  return n;
}

torch::Device parse_device(const std::string& name) {
  try {
    torch::Device d(name);
    if (d.is_cuda() && !torch::cuda::is_available())
      throw Error("--device " + name + ": this LibTorch build or machine has no CUDA device", ErrorKind::kUsage);
    return d;
  } catch (const c10::Error&) {
    throw Error("--device " + name + ": expected cpu, cuda or cuda:N", ErrorKind::kUsage);
  }
}

}  // namespace xtaldiff
