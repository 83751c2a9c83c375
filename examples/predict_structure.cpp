// Predicts the crystal structure of a formula with a CSP model and writes it
// as a CIF to standard output: the library calls behind `xtaldiff sample
// --formula`, with the model's own default sampler.
//   predict_structure MODEL.xtd FORMULA [SEED]
#include <cstdio>
#include <cstdlib>
#include <exception>

#include <xtaldiff/io/cif.h>
#include <xtaldiff/ml/runtime.h>
#include <xtaldiff/model/model_file.h>
#include <xtaldiff/sample/request.h>
#include <xtaldiff/sample/sample_run.h>

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s MODEL.xtd FORMULA [SEED]\n", argv[0]);
    return 2;
  }
  try {
    xtaldiff::configure_threads(0);  // every core
    xtaldiff::LoadedModel model = xtaldiff::load_model_file(argv[1]);
    xtaldiff::SampleRequest request;
    request.model_path = argv[1];
    request.formula = argv[2];
    request.seed = argc == 4 ? std::strtoull(argv[3], nullptr, 10) : 0;
    xtaldiff::SamplePlan plan = xtaldiff::plan_sample(request, model);
    for (const auto& w : plan.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    for (const auto& e : plan.extrapolations)
      std::fprintf(stderr, "warning: %s is an extrapolation of the model (%s)\n", e["id"].get<std::string>().c_str(),
                   e["reason"].get<std::string>().c_str());
    const xtaldiff::SampleRun run = xtaldiff::run_sample_plan(request, plan, model.for_sampling());
    for (const auto& record : run.out.records)
      std::fputs(xtaldiff::write_cif_p1(record.structure, record.id).c_str(), stdout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
