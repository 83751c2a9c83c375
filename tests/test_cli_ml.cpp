// The `xtaldiff` commands that need LibTorch (sample, train, model) as a
// user runs them: refusals, default samplers, manifests, warnings, reruns.
#include <regex>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "cli_harness.h"
#include "io/dataset.h"
#include "util/file_io.h"

namespace fs = std::filesystem;
using namespace xtaldiff_test;

TEST(Cli, SampleRefusesDeNovoWithACspModelAndBadConstraints) {
  TempDir t;
  const std::string model = shipped_model("perov5-csp.xtd");
  CliRun r = run("sample --model " + model + " -n 2 --out " + (t / "o"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("CSP model"), std::string::npos) << r.out;
  r = run("sample --model " + model + " --formula SrTiO3 --elements Sr --out " + (t / "o"));
  EXPECT_EQ(r.code, 2) << r.out;
  r = run("sample --model " + model + " --formula SrTiO3 --system Sr-Ti-O --out " + (t / "o"));
  EXPECT_EQ(r.code, 2) << r.out;
  // The shipped Perov-5 models were not trained with space-group conditioning.
  r = run("sample --model " + shipped_model("perov5-gen.xtd") + " -n 2 --spacegroup 221 --out " + (t / "o"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--condition spacegroup"), std::string::npos) << r.out;
  r = run("sample --model " + model + " --formula SrTiO3 --spacegroup 231 --out " + (t / "o"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_FALSE(fs::exists(t / "o"));
}

TEST(Cli, StartTimeRefinesDatasetStructuresAndGivesTheTruthBack) {
  // The ground truth of 20 Perov-5 test rows, noised to t0 = 30 (τ = 0.03)
  // and refined by the shipped flow model in 5 steps, comes back: measured
  // 19 of 20 matched (the 20th truth is not SMACT-valid), RMSE 0.0064,
  // every space group kept.
  TempDir t;
  const std::string rows = data("datasets/perov_5/test.csv.gz");
  CliRun r = run("sample --model " + shipped_model("perov5-csp-flow.xtd") + " --from " + rows +
                 " --limit 20 --start-time 30 --steps 5 -q --threads 1 --out " + (t / "refined"));
  ASSERT_EQ(r.code, 0) << r.out;
  auto m = nlohmann::json::parse(xtaldiff::read_file(t / "refined/manifest.json"));
  EXPECT_EQ(m["start_time"], 30);
  EXPECT_EQ(m["network_evaluations_per_crystal"], 5);
  EXPECT_EQ(m["first_lattice_step"], "zero");
  r = run("eval csp --pred " + (t / "refined/samples.csv") + " --gt " + rows + " --only-predicted --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto e = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_GE(e["matched"].get<int>(), 18);
  EXPECT_LT(e["rmse"].get<double>(), 0.02);
  EXPECT_GE(e["sg_recovered_matched"].get<double>(), 0.9);
  // --start-time needs structures to start from.
  r = run("sample --model " + shipped_model("perov5-csp-flow.xtd") + " --formula SrTiO3 --start-time 30 --out " +
          (t / "bad"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--start-time"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(t / "bad"));
  r = run("sample --model " + shipped_model("perov5-csp-flow.xtd") + " --from " + rows +
          " --limit 2 --start-time 30 --steps 40 --out " + (t / "bad"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_FALSE(fs::exists(t / "bad"));
}

TEST(Cli, DefaultSamplerIsTheMeasuredFastestPerTask) {
  // docs/RESULTS.md "Quality against network evaluations": CSP ode 20, de novo ancestral 200.
  TempDir t;
  CliRun r = run("sample --model " + shipped_model("perov5-csp.xtd") +
                 " --formula SrTiO3 -n 2 -q --threads 1 --symmetrized-cifs --out " + (t / "csp"));
  ASSERT_EQ(r.code, 0) << r.out;
  auto m = nlohmann::json::parse(xtaldiff::read_file(t / "csp/manifest.json"));
  EXPECT_EQ(m["sampler"], "ode");
  EXPECT_EQ(m["steps"], 20);
  EXPECT_EQ(m["network_evaluations_per_crystal"], 20);
  EXPECT_GT(m["lattice_clip"].get<double>(), 8.0);  // 1.5 × the longest Perov-5 cell vector (5.65 Å)
  EXPECT_LT(m["lattice_clip"].get<double>(), 8.6);
  // Beside the CIFs, a page to look at: its data link each CIF and symmetrised CIF.
  const std::string page = xtaldiff::read_file(t / "csp/report.html");
  EXPECT_NE(page.find("\"cif\":\"cifs/SrTiO3_1.cif\""), std::string::npos) << page.substr(0, 2000);
  EXPECT_TRUE(fs::exists(t / "csp/cifs/SrTiO3_1.cif"));
  EXPECT_NE(page.find("\"cifs\":\"cifs_symmetrized/SrTiO3_1.cif\""), std::string::npos);
  // The symmetrised CIF holds the group spglib finds for the P1 one.
  const std::string sym_cif = xtaldiff::read_file(t / "csp/cifs_symmetrized/SrTiO3_1.cif");
  EXPECT_NE(sym_cif.find("_symmetry_space_group_name_H-M"), std::string::npos) << sym_cif;
  EXPECT_EQ(nlohmann::json::parse(xtaldiff::read_file(t / "csp/manifest.json"))["symmetrized_cifs"]["symprec"], 0.1);
  r = run("validate " + (t / "csp/samples.csv") + " --report " + (t / "csp/validate.html"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(xtaldiff::read_file(t / "csp/validate.html").find("\"sgs\":"), std::string::npos);
  r = run("sample --model " + shipped_model("perov5-gen.xtd") + " -n 2 -q --threads 1 --out " + (t / "gen"));
  ASSERT_EQ(r.code, 0) << r.out;
  m = nlohmann::json::parse(xtaldiff::read_file(t / "gen/manifest.json"));
  EXPECT_EQ(m["sampler"], "ancestral");
  EXPECT_EQ(m["steps"], 200);
  // An explicit sampler without --steps runs the model's T.
  r = run("sample --model " + shipped_model("perov5-csp.xtd") + " --formula SrTiO3 --sampler ode -q --threads 1 --out " +
          (t / "full"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(xtaldiff::read_file(t / "full/manifest.json"))["steps"], 1000);
}

// A model can carry its own measured "auto" (MP-20 CSP needs ode 100 where
// Perov-5 is served by 20 steps); the weights stay as they were.
TEST(Cli, ModelRecordsItsDefaultSampler) {
  TempDir t;
  fs::copy_file(shipped_model("perov5-csp.xtd"), t / "m.xtd");
  CliRun r = run("model " + (t / "m.xtd") + " --set-default-sampler csp=heun:10");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("auto is now heun 10 steps (model)"), std::string::npos) << r.out;
  r = run("model --json " + (t / "m.xtd"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out)["default_sampler"]["csp"], "heun 10 steps (model)");
  r = run("sample --model " + (t / "m.xtd") + " --formula SrTiO3 -q --threads 1 --out " + (t / "auto"));
  ASSERT_EQ(r.code, 0) << r.out;
  auto m = nlohmann::json::parse(xtaldiff::read_file(t / "auto/manifest.json"));
  EXPECT_EQ(m["sampler"], "heun");
  EXPECT_EQ(m["steps"], 10);
  EXPECT_EQ(m["sampler_source"], "model");
  EXPECT_EQ(m["network_evaluations_per_crystal"], 19);  // Heun: 2 per step, 1 for the last
  // The same explicit sampler on the original file gives the same crystal.
  r = run("sample --model " + shipped_model("perov5-csp.xtd") + " --formula SrTiO3 --sampler heun --steps 10 -q "
          "--threads 1 --out " + (t / "explicit"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(xtaldiff::read_file(t / "auto/samples.csv"), xtaldiff::read_file(t / "explicit/samples.csv"));
  // Refused: a de novo default for a CSP model, anneal for a score model, nonsense.
  for (const char* bad : {"gen=ode:20", "csp=ode:20:5", "csp=ode", "ode:20", "csp=ode:5000"}) {
    r = run("model " + (t / "m.xtd") + " --set-default-sampler " + bad);
    EXPECT_EQ(r.code, 2) << bad << ": " << r.out;
  }
}

TEST(Cli, ModelDescribesDiffusionAndPropertyFiles) {
  CliRun r = run("model --json " + shipped_model("perov5-gen.xtd"));
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["task"], "gen");
  EXPECT_EQ(j["type_diffusion"], "ddpm");
  EXPECT_EQ(j["spacegroup_conditioning"], false);
  EXPECT_EQ(j["network"]["hidden"], 256);
  EXPECT_GT(j["parameters"].get<long>(), 1000000);
  EXPECT_EQ(j["dataset_stats"]["crystals"], 11356);
  r = run("model --json " + shipped_model("perov5-heat_ref.xtd"));
  ASSERT_EQ(r.code, 0) << r.out;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kind"], "property");
  EXPECT_EQ(j["columns"][0], "heat_ref");
  r = run("model " + data("datasets/perov_5/test.csv.gz"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("not an xtaldiff model file"), std::string::npos) << r.out;
}

TEST(Cli, TrainsAConditionedD3pmModelAndSamplesASpaceGroup) {
  TempDir t;
  CliRun r = run("train --task gen --type-diffusion d3pm --condition spacegroup --config tiny --epochs 1 --batch 512 "
                 "--threads 1 -q --data " + data("datasets/perov_5/val.csv.gz") + " --out " + (t / "m.xtd"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("sample --model " + (t / "m.xtd") + " -n 4 --spacegroup 221 --guidance 2 --steps 5 --sampler ancestral "
          "--threads 1 -q --out " + (t / "o"));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto manifest = nlohmann::json::parse(xtaldiff::read_file(t / "o/manifest.json"));
  const auto& sg = manifest["spacegroup_condition"];
  EXPECT_EQ(sg["requested"], 221);
  EXPECT_EQ(sg["guidance"], 2.0);
  const std::size_t hits = sg["hits"].get<std::size_t>();
  EXPECT_EQ(hits, manifest["spacegroups"].value("221", std::size_t{0}));
  EXPECT_EQ(manifest["network_evaluations_per_crystal"], 10);  // two per step under guidance
  EXPECT_EQ(manifest["model_metadata"]["commands"][0].get<std::string>().find("--type-diffusion d3pm") ==
                std::string::npos,
            false);
  r = run("train --task csp --type-diffusion d3pm --config tiny --epochs 1 --data " +
          data("datasets/perov_5/val.csv.gz") + " --out " + (t / "x.xtd"));
  EXPECT_EQ(r.code, 2) << r.out;
}

TEST(Cli, TrainsAPropertyConditionedModelAndSamplesARange) {
  TempDir t;
  CliRun r = run("train --task gen --condition heat_ref --config tiny --epochs 1 --batch 512 --threads 1 -q --data " +
                 data("datasets/perov_5/val.csv.gz") + " --out " + (t / "m.xtd"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("model " + (t / "m.xtd"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("conditioned on heat_ref"), std::string::npos) << r.out;
  r = run("sample --model " + (t / "m.xtd") + " -n 6 --target \"heat_ref<0.5\" --guidance 2 --steps 5 --sampler "
          "ancestral --threads 1 -q --predictor " + shipped_model("perov5-heat_ref.xtd") + " --out " + (t / "o"));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto manifest = nlohmann::json::parse(xtaldiff::read_file(t / "o/manifest.json"));
  const auto& cond = manifest["property_condition"];
  EXPECT_EQ(cond["columns"][0]["condition"], "range");
  EXPECT_EQ(cond["columns"][0]["high"], 0.5);
  EXPECT_EQ(manifest["network_evaluations_per_crystal"], 10);
  EXPECT_FALSE(manifest["property_predictions"]["targets"][0]["met"].is_null());
  const auto d = xtaldiff::read_cdvae_csv((t / "o/samples.csv"));
  const auto col = d.column("condition_heat_ref");
  ASSERT_TRUE(col.has_value());
  ASSERT_EQ(d.size(), 6u);
  for (std::size_t i = 0; i < d.size(); ++i) EXPECT_LE(*d.number(i, *col), 0.5);
  ASSERT_TRUE(d.column("predicted_heat_ref").has_value());
  // A model without the condition and no property model to steer it: refused, saying what would work.
  r = run("sample --model " + shipped_model("perov5-gen.xtd") + " -n 2 --target heat_ref=1 --out " + (t / "x"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--condition heat_ref"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(t / "x"));
  r = run("train --task gen --condition band_gap --config tiny --epochs 1 --threads 1 -q --data " +
          data("datasets/perov_5/val.csv.gz") + " --out " + (t / "b.xtd"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no column 'band_gap'"), std::string::npos) << r.out;
}

TEST(Cli, TrainsAFlowMatchingCspModelAndRefinesItsOutputs) {
  TempDir t;
  CliRun r = run("train --task csp --objective flow --config tiny --epochs 1 --batch 512 --threads 1 -q --data " +
                 data("datasets/perov_5/val.csv.gz") + " --out " + (t / "f.xtd"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("sample --model " + (t / "f.xtd") + " --from " + data("datasets/perov_5/test.csv.gz") +
          " --limit 4 --anneal 2 --refine-symmetry 0.1 --threads 1 -q --out " + (t / "o"));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto m = nlohmann::json::parse(xtaldiff::read_file(t / "o/manifest.json"));
  EXPECT_EQ(m["coord_objective"], "flow");
  EXPECT_EQ(m["anneal"], 2.0);
  EXPECT_EQ(m["sampler"], "ode");
  EXPECT_EQ(m["refine_symmetry"]["file"], "samples_refined.csv");
  const auto raw = xtaldiff::read_cdvae_csv(t / "o/samples.csv");
  const auto refined = xtaldiff::read_cdvae_csv(t / "o/samples_refined.csv");
  ASSERT_EQ(raw.size(), 4u);
  ASSERT_EQ(refined.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(raw.records[i].structure.species, refined.records[i].structure.species);
  // Without --anneal a flow model samples with the measured default, 10.
  r = run("sample --model " + (t / "f.xtd") + " --formula SrTiO3 --steps 4 --threads 1 -q --out " + (t / "d"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(xtaldiff::read_file(t / "d/manifest.json"))["anneal"], 10.0);
  // Both files score, separately.
  r = run("eval csp --json --only-predicted --pred " + (t / "o/samples_refined.csv") + " --gt " +
          data("datasets/perov_5/test.csv.gz"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out.substr(r.out.find('{')))["n"], 4);
  // The pc sampler's corrector needs a score; --anneal needs a flow model;
  // --resume refuses a checkpoint of the other objective.
  r = run("sample --model " + (t / "f.xtd") + " --formula SrTiO3 --sampler pc --steps 4 --out " + (t / "x"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("flow matching"), std::string::npos) << r.out;
  r = run("sample --model " + shipped_model("perov5-csp.xtd") + " --formula SrTiO3 --anneal 2 --out " + (t / "x"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--objective flow"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(t / "x"));
  r = run("train --task csp --config tiny --epochs 2 --batch 512 --threads 1 -q --resume --data " +
          data("datasets/perov_5/val.csv.gz") + " --out " + (t / "f.xtd"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("pass the same --objective"), std::string::npos) << r.out;
  r = run("train --task csp --objective flux --config tiny --epochs 1 --data " + data("datasets/perov_5/val.csv.gz") +
          " --out " + (t / "y.xtd"));
  EXPECT_EQ(r.code, 2) << r.out;
}

TEST(Cli, SampleWritesSpaceGroupsAndAManifest) {
  TempDir t;
  const std::string model = shipped_model("perov5-csp.xtd");
  CliRun r = run("sample --model " + model + " --formula SrTiO3 -n 3 --steps 10 --sampler ancestral -q --out " +
                 (t / "o"));
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string csv = xtaldiff::read_file(t / "o/samples.csv");
  EXPECT_EQ(csv.rfind(",material_id,cif,sample,spacegroup\n", 0), 0u) << csv.substr(0, 80);
  const auto manifest = nlohmann::json::parse(xtaldiff::read_file(t / "o/manifest.json"));
  EXPECT_EQ(manifest["task"], "csp");
  EXPECT_EQ(manifest["written"], 3);
  std::size_t counted = 0;
  for (const auto& [sg, n] : manifest["spacegroups"].items()) counted += n.get<std::size_t>();
  EXPECT_EQ(counted, 3u);
  EXPECT_TRUE(fs::exists(t / "o/cifs/SrTiO3_2.cif"));
}

TEST(Cli, GenerationModelHonoursPromptsAndSystems) {
  TempDir t;
  const std::string model = shipped_model("perov5-gen.xtd");
  // De novo with a prompt: every crystal has exactly Ba, Ti and O.
  CliRun r = run("sample --model " + model + " -n 6 --prompt \"Ba Ti O\" --steps 10 --sampler ancestral -q --out " +
                 (t / "prompt"));
  ASSERT_EQ(r.code, 0) << r.out;
  auto manifest = nlohmann::json::parse(xtaldiff::read_file(t / "prompt/manifest.json"));
  EXPECT_EQ(manifest["task"], "gen");
  EXPECT_EQ(manifest["constraints_satisfied"], 6);
  for (const auto& entry : fs::directory_iterator(t / "prompt/cifs")) {
    const std::string cif = xtaldiff::read_file(entry.path().string());
    const auto pos = cif.find("_chemical_formula_sum");
    ASSERT_NE(pos, std::string::npos);
    const std::string formula = cif.substr(pos, cif.find('\n', pos) - pos);
    for (const char* el : {"Ba", "Ti", "O"}) EXPECT_NE(formula.find(el), std::string::npos) << formula;
  }
  // CSP over a chemical system: one crystal per valid composition whose
  // formula unit fits the model's cells. Perov-5 has only 5-atom cells, so of
  // Sr-Ti-O's seven (O2, Sr, Ti, SrO, SrTi, TiO, SrTiO) only the three
  // one-atom units fit (as 5-atom cells).
  r = run("sample --model " + model + " --system Sr-Ti-O --max-coeff 1 --steps 5 --sampler ancestral --out " +
          (t / "system"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("4 compositions of Sr-Ti-O skipped"), std::string::npos) << r.out;
  manifest = nlohmann::json::parse(xtaldiff::read_file(t / "system/manifest.json"));
  EXPECT_EQ(manifest["written"], 3);
  EXPECT_TRUE(fs::exists(t / "system/cifs/SrTiO_0.cif") == false);
  EXPECT_TRUE(fs::exists(t / "system/cifs/Sr_0.cif"));
  // An element the model never saw.
  r = run("sample --model " + model + " -n 2 --elements Pu,O --out " + (t / "never"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("never saw Pu"), std::string::npos) << r.out;
}

// Issue 15: a composition outside what the model learned still gets a
// structure, but the user is told (stderr and manifest) that it is an
// extrapolation: Pu never occurs in Perov-5, and 40 atoms exceed its 5.
TEST(Cli, CspOutsideTheTrainingSetWarnsAndRecordsIt) {
  TempDir t;
  const std::string model = shipped_model("perov5-csp.xtd");
  CliRun r = run("sample --model " + model + " --formula PuO2 -n 1 --steps 5 --out " + (t / "pu"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("warning: PuO2: Pu was never seen in training"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("extrapolation"), std::string::npos) << r.out;
  auto manifest = nlohmann::json::parse(xtaldiff::read_file(t / "pu/manifest.json"));
  ASSERT_EQ(manifest["extrapolations"].size(), 1u) << manifest["extrapolations"];
  EXPECT_EQ(manifest["extrapolations"][0]["id"], "PuO2");

  r = run("sample --model " + model + " --formula Sr8Ti8O24 -n 1 --steps 5 -q --out " + (t / "big"));
  ASSERT_EQ(r.code, 0) << r.out;
  manifest = nlohmann::json::parse(xtaldiff::read_file(t / "big/manifest.json"));
  ASSERT_EQ(manifest["extrapolations"].size(), 1u);
  EXPECT_EQ(manifest["extrapolations"][0]["reason"], "40 atoms in the cell, training had 5-5");

  // Inside the training set: nothing to warn about.
  r = run("sample --model " + model + " --formula SrTiO3 -n 1 --steps 5 --out " + (t / "in"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("warning"), std::string::npos) << r.out;
  manifest = nlohmann::json::parse(xtaldiff::read_file(t / "in/manifest.json"));
  EXPECT_TRUE(manifest["extrapolations"].empty());
}

// Issue 15: S.U.N. without DFT. A property model's formation energy against
// the hull of labelled training entries gives each sample a predicted E_hull;
// the report names the predictor, its held-out MAE and the hull's size.
TEST(Cli, EvalGenEstimatesStabilityWithAPredictorAndAHull) {
  TempDir t;
  const std::string head = data("datasets/mp_20_head/train_head.csv.gz");
  CliRun r = run("train --task property --data " + head + " --column formation_energy_per_atom --config tiny "
                 "--epochs 1 --batch 128 -q --out " + (t / "ef.xtp"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("eval gen --samples " + head + " --ref " + head + " --stability predicted --json --per-sample " +
          (t / "eh.csv"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--predictor"), std::string::npos) << r.out;
  r = run("eval gen --samples " + head + " --ref " + head + " --stability predicted --predictor " + (t / "ef.xtp") +
          " --hull " + head + " --hull-column band_gaps --json");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run("eval gen --samples " + head + " --ref " + head + " --train " + head + " --stability predicted --predictor " +
          (t / "ef.xtp") + " --json --n-property 200 --per-sample " + (t / "eh.csv"));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(j["stability_source"], "predicted");
  EXPECT_GT(j["hull_entries"].get<int>(), 2000);
  EXPECT_TRUE(j["predictor_holdout_mae"].is_number());
  EXPECT_TRUE(j["stability"].is_number());
  EXPECT_TRUE(j["sun"].is_number());
  EXPECT_EQ(j["sun"].get<double>(), 0.0);  // every sample is a training crystal: none is novel
  const std::string csv = xtaldiff::read_file(t / "eh.csv");
  EXPECT_EQ(csv.rfind("id,formula,predicted_formation_energy_per_atom,predicted_e_above_hull\n", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + j["n"].get<long>());
}

// Issue 16: a re-run into the same folder replaces it whole: no stale CIF
// of an earlier, larger run survives beside the new ones.
TEST(Cli, SampleRerunIntoTheSameFolderLeavesNoStaleFiles) {
  TempDir t;
  const std::string model = shipped_model("perov5-csp.xtd");
  CliRun r = run("sample --model " + model + " --formula SrTiO3 -n 3 --steps 5 -q --out " + (t / "o"));
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_TRUE(fs::exists(t / "o/cifs/SrTiO3_2.cif"));
  r = run("sample --model " + model + " --formula SrTiO3 -n 1 --steps 5 -q --out " + (t / "o"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(t / "o/cifs/SrTiO3_0.cif"));
  EXPECT_FALSE(fs::exists(t / "o/cifs/SrTiO3_2.cif"));
  for (const auto& e : fs::directory_iterator(t.path)) EXPECT_EQ(e.path().filename(), "o") << e.path();
}

// Issue 15: a target outside the training labels still samples, with a
// stated warning (stderr and manifest): the model extrapolates there.
TEST(Cli, PropertyTargetOutsideTheTrainingLabelsWarns) {
  TempDir t;
  const std::string model = shipped_model("perov5-gen-heat_ref.xtd");
  CliRun r = run("sample --model " + model + " -n 2 --target heat_ref=50 --steps 5 --sampler ancestral --threads 1 "
                 "--out " + (t / "o"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("warning: --target heat_ref = 50 lies outside what the model learned"), std::string::npos)
      << r.out;
  auto manifest = nlohmann::json::parse(xtaldiff::read_file(t / "o/manifest.json"));
  EXPECT_TRUE(manifest["property_condition"]["columns"][0].contains("warning"));
  r = run("sample --model " + model + " -n 2 --target \"heat_ref>40\" --steps 5 --sampler ancestral --threads 1 "
          "--out " + (t / "r"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("no training label of heat_ref lies in the range"), std::string::npos) << r.out;
  // Inside the labels: no warning.
  r = run("sample --model " + model + " -n 2 --target heat_ref=1 --steps 5 --sampler ancestral --threads 1 --out " +
          (t / "in"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("warning"), std::string::npos) << r.out;
}

// SIGTERM (what `timeout` and batch schedulers send) or Ctrl-C during
// training: the step in flight finishes, the checkpoint and the model file
// are written, the command ends with 0, and --resume continues.
TEST(Cli, TrainingStoppedBySigtermWritesItsModelAndResumes) {
  TempDir t;
  const std::string train = std::string(XTALDIFF_BINARY) + " train --task csp --objective flow --config tiny --batch 256 "
                            "--threads 1 -q --data " + data("datasets/perov_5/val.csv.gz") + " --out " + (t / "s.xtd");
  // Started in the background; stopped once its first epoch is logged, so
  // the signal lands inside the second.
  CliRun r = run_shell(train + " --epochs 100000 > " + (t / "train.out") + " 2>&1 & pid=$!\n"
                       "for i in $(seq 1200); do grep -q epoch " + (t / "s.xtd.log") +
                       " 2>/dev/null && break; sleep 0.25; done\n"
                       "kill -TERM $pid; wait $pid; echo \"exit=$?\"; cat " + (t / "train.out"));
  EXPECT_NE(r.out.find("exit=0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SIGTERM: stopping after"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("continue with --resume"), std::string::npos) << r.out;
  ASSERT_TRUE(fs::exists(t / "s.xtd.ckpt"));
  // Which epoch the signal cut (or followed, when it came while an epoch
  // was evaluated) depends on the machine's speed; the model file counts
  // the complete ones.
  std::smatch m;
  int complete = 0;
  if (std::regex_search(r.out, m, std::regex("epoch (\\d+) incomplete")))
    complete = std::stoi(m[1]) - 1;
  else if (std::regex_search(r.out, m, std::regex("stopping after epoch (\\d+)")))
    complete = std::stoi(m[1]);
  ASSERT_GE(complete, 1) << r.out;
  const int cut = complete + 1;
  r = run("model " + (t / "s.xtd"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("training: " + std::to_string(complete) + " epochs"), std::string::npos) << r.out;
  r = run_shell(train + " --epochs " + std::to_string(cut) + " --resume");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("trained " + std::to_string(cut) + " epochs"), std::string::npos) << r.out;
  r = run("model " + (t / "s.xtd"));
  EXPECT_NE(r.out.find("training: " + std::to_string(cut) + " epochs"), std::string::npos) << r.out;
}

TEST(Cli, TrainsAUniMatCspModelAndSamplesWithIt) {
  TempDir t;
  const std::string val = data("datasets/perov_5/val.csv.gz");
  CliRun r = run("train --arch unimat --task csp --objective flow --config tiny --epochs 1 --batch 512 --threads 1 -q "
                 "--data " + val + " --out " + (t / "u.xtd"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("model " + (t / "u.xtd"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("architecture unimat"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("UniMat U-Net over 3 slots"), std::string::npos) << r.out;  // Perov-5: at most 3 of one element
  r = run("sample --model " + (t / "u.xtd") + " --from " + data("datasets/perov_5/test.csv.gz") +
          " --limit 4 --threads 1 -q --out " + (t / "o"));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto m = nlohmann::json::parse(xtaldiff::read_file(t / "o/manifest.json"));
  EXPECT_EQ(m["sampler"], "ode");
  EXPECT_EQ(m["coord_objective"], "flow");
  const auto out = xtaldiff::read_cdvae_csv(t / "o/samples.csv");
  ASSERT_EQ(out.size(), 4u);
  // Refusals, before any work: more atoms of one element than the tensor
  // has slots; generation, conditions and a GNN's weights for UniMat.
  r = run("sample --model " + (t / "u.xtd") + " --formula Sr2Ti2O6 --out " + (t / "x"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("more than 3 atoms of O"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(t / "x"));
  r = run("train --arch unimat --task csp --condition spacegroup --config tiny --epochs 1 --data " + val + " --out " +
          (t / "c.xtd"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("takes no --condition"), std::string::npos) << r.out;
  r = run("train --arch unimat --task csp --config tiny --epochs 1 --init " + shipped_model("perov5-csp.xtd") +
          " --data " + val + " --out " + (t / "i.xtd"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("cannot start a unimat model"), std::string::npos) << r.out;
}

TEST(Cli, TrainsAUniMatGenerationModelAndSamplesWithIt) {
  // The whole tensor diffused: `sample -n` gives de novo crystals, DDPM
  // posterior steps by default, under element constraints; compositions
  // and the score sampler are refused before any work.
  TempDir t;
  const std::string val = data("datasets/perov_5/val.csv.gz");
  CliRun r = run("train --arch unimat --task gen --config tiny --epochs 2 --batch 256 --threads 1 -q --data " + val +
                 " --out " + (t / "g.xtd"));
  ASSERT_EQ(r.code, 0) << r.out;
  // A stopped run continues from its checkpoint.
  r = run("train --arch unimat --task gen --config tiny --epochs 3 --batch 256 --threads 1 -q --resume --data " + val +
          " --out " + (t / "g.xtd"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("model " + (t / "g.xtd"));
  EXPECT_NE(r.out.find("training: 3 epochs"), std::string::npos) << r.out;
  r = run("sample --model " + (t / "g.xtd") + " -n 4 --steps 10 --elements Ba,Ti,O --threads 1 -q --out " + (t / "o"));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto m = nlohmann::json::parse(xtaldiff::read_file(t / "o/manifest.json"));
  EXPECT_EQ(m["task"], "gen");
  EXPECT_EQ(m["sampler"], "ancestral");
  EXPECT_EQ(m["network_evaluations_per_crystal"], 10);
  EXPECT_EQ(m["constraints_satisfied"], m["written"]);
  for (const auto& rec : xtaldiff::read_cdvae_csv(t / "o/samples.csv").records)
    for (int z : rec.structure.species) EXPECT_TRUE(z == 56 || z == 22 || z == 8) << z;
  r = run("sample --model " + (t / "g.xtd") + " --formula SrTiO3 --out " + (t / "x"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("does not fill in a given composition"), std::string::npos) << r.out;
  r = run("sample --model " + (t / "g.xtd") + " -n 2 --atoms 5 --out " + (t / "x"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("decides how many atoms"), std::string::npos) << r.out;
  r = run("sample --model " + (t / "g.xtd") + " -n 2 --sampler pc --out " + (t / "x"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("ode (DDIM) or ancestral"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(t / "x"));
  r = run("train --arch unimat --task gen --objective flow --config tiny --epochs 1 --data " + val + " --out " +
          (t / "f.xtd"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--objective flow is for CSP"), std::string::npos) << r.out;
}

TEST(Cli, TrainsACdvaeAndGeneratesReconstructsAndOptimises) {
  // `train --arch cdvae`, then `sample` with it: de novo under element
  // constraints, --reconstruct with the rows' ids kept (so `eval csp` scores
  // it), --target moving the latents by the property head; bad requests
  // refused before any work.
  TempDir t;
  const std::string val = data("datasets/perov_5/val.csv.gz");
  CliRun r = run("train --arch cdvae --task gen --config tiny --condition heat_ref --epochs 2 --batch 512 --threads 1 "
                 "-q --data " + val + " --out " + (t / "c.xtd"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("train --arch cdvae --task gen --config tiny --condition heat_ref --epochs 3 --batch 512 --threads 1 -q "
          "--resume --data " + val + " --out " + (t / "c.xtd"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("model " + (t / "c.xtd"));
  EXPECT_NE(r.out.find("architecture cdvae"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("training: 3 epochs"), std::string::npos) << r.out;

  r = run("sample --model " + (t / "c.xtd") + " -n 4 --elements Ba,Ti,O --require Ba --langevin-steps 1 --threads 1 "
          "-q --out " + (t / "g"));
  ASSERT_EQ(r.code, 0) << r.out;
  auto m = nlohmann::json::parse(xtaldiff::read_file(t / "g/manifest.json"));
  EXPECT_EQ(m["task"], "gen");
  EXPECT_EQ(m["sampler"], "langevin");
  EXPECT_EQ(m["network_evaluations_per_crystal"], 51);  // 50 levels × 1 + the final denoising step
  EXPECT_EQ(m["written"], 4);
  EXPECT_EQ(m["constraints_satisfied"], m["written"]);
  for (const auto& rec : xtaldiff::read_cdvae_csv(t / "g/samples.csv").records) {
    bool ba = false;
    for (int z : rec.structure.species) {
      EXPECT_TRUE(z == 56 || z == 22 || z == 8) << z;
      ba = ba || z == 56;
    }
    EXPECT_TRUE(ba);
  }

  r = run("sample --model " + (t / "c.xtd") + " --reconstruct " + val + " --limit 5 --langevin-steps 1 --threads 1 "
          "-q --out " + (t / "rec"));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto truth = xtaldiff::read_cdvae_csv(val);
  const auto rec = xtaldiff::read_cdvae_csv(t / "rec/samples.csv");
  ASSERT_EQ(rec.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(rec.records[i].id, truth.records[i].id);
  r = run("eval csp --only-predicted --json --pred " + (t / "rec/samples.csv") + " --gt " + val);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"n\":5"), std::string::npos) << r.out;

  r = run("sample --model " + (t / "c.xtd") + " -n 3 --target \"heat_ref<0.5\" --latent-steps 30 --latent-lr 0.05 "
          "--langevin-steps 1 --threads 1 -q --out " + (t / "opt"));
  ASSERT_EQ(r.code, 0) << r.out;
  m = nlohmann::json::parse(xtaldiff::read_file(t / "opt/manifest.json"));
  EXPECT_EQ(m["property_optimisation"]["targets"][0]["target"], "heat_ref<0.5");
  const auto opt = xtaldiff::read_cdvae_csv(t / "opt/samples.csv");
  ASSERT_EQ(opt.size(), 3u);
  const auto& cols = opt.columns;
  const auto start = std::find(cols.begin(), cols.end(), "latent_start_heat_ref") - cols.begin();
  const auto end = std::find(cols.begin(), cols.end(), "latent_heat_ref") - cols.begin();
  ASSERT_LT(end, static_cast<long>(cols.size()));
  for (const auto& row : opt.records)  // the steps lower the head's value (or it met the bound already)
    EXPECT_LE(std::stod(row.values[end]), std::max(0.5, std::stod(row.values[start])) + 1e-6);

  // A recorded default: Langevin steps per level for `auto`.
  r = run("model " + (t / "c.xtd") + " --set-default-sampler gen=langevin:2 --out " + (t / "c2.xtd"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("model " + (t / "c2.xtd"));
  EXPECT_NE(r.out.find("2 steps per noise level x 50 levels, step_lr 0.0001, a final denoising step (model)"),
            std::string::npos) << r.out;
  r = run("sample --model " + (t / "c2.xtd") + " -n 1 --threads 1 -q --out " + (t / "d2"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(xtaldiff::read_file(t / "d2/manifest.json"))["network_evaluations_per_crystal"], 101);
  r = run("model " + (t / "c.xtd") + " --set-default-sampler gen=ode:20 --out " + (t / "c3.xtd"));
  EXPECT_EQ(r.code, 2) << r.out;

  // Con-CDVAE: a value to condition on draws the latents from the
  // conditioned prior (no optimisation steps unless asked for).
  r = run("sample --model " + (t / "c.xtd") + " -n 2 --target heat_ref=1.0 --langevin-steps 1 --threads 1 -q --out " +
          (t / "cond"));
  ASSERT_EQ(r.code, 0) << r.out;
  m = nlohmann::json::parse(xtaldiff::read_file(t / "cond/manifest.json"));
  EXPECT_EQ(m["latents"], "conditioned prior");
  EXPECT_EQ(m["property_optimisation"]["latent_steps"], 0);

  // Refused: a column the head does not predict, options of the diffusion
  // samplers, an element the encoder never saw.
  r = run("sample --model " + (t / "c.xtd") + " -n 2 --target \"band_gap>1\" --out " + (t / "x"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("not trained with property 'band_gap'"), std::string::npos) << r.out;
  r = run("sample --model " + (t / "c.xtd") + " --formula SrTiO3 --out " + (t / "x"));
  EXPECT_EQ(r.code, 2) << r.out;
  r = run("sample --model " + (t / "c.xtd") + " -n 2 --sampler pc --out " + (t / "x"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("annealed Langevin"), std::string::npos) << r.out;
  xtaldiff::write_file_atomic(t / "pu.vasp",
                              "PuO2\n1.0\n5.4 0 0\n0 5.4 0\n0 0 5.4\nPu O\n1 2\nDirect\n0 0 0\n0.25 0.25 0.25\n"
                              "0.75 0.75 0.75\n");
  r = run("sample --model " + (t / "c.xtd") + " --reconstruct " + (t / "pu.vasp") + " --out " + (t / "x"));
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("Pu is not in the model's vocabulary"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(t / "x"));
  r = run("sample --model " + shipped_model("perov5-csp.xtd") + " --formula SrTiO3 --langevin-steps 3 --out " +
          (t / "x"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("for CDVAE models"), std::string::npos) << r.out;
}
