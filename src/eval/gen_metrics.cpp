#include "eval/gen_metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "eval/fingerprints.h"
#include "eval/structure_matcher.h"
#include "eval/validity.h"
#include "util/error.h"
#include "util/parallel.h"

namespace xtaldiff {

CoverageCutoffs CoverageCutoffs::for_dataset(const std::string& name) {
  if (name == "mp_20") return {0.4, 10.0};
  if (name == "carbon_24" || name == "perov_5") return {0.2, 4.0};
  throw Error("unknown dataset '" + name + "' for coverage cutoffs (perov_5, carbon_24 or mp_20)", ErrorKind::kUsage);
}

double wasserstein_1d(std::vector<double> u, std::vector<double> v) {
  if (u.empty() || v.empty()) return std::nan("");
  std::sort(u.begin(), u.end());
  std::sort(v.begin(), v.end());
  // ∫ |F_u(x) − F_v(x)| dx over the merged breakpoints.
  std::vector<double> all(u);
  all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  double total = 0;
  for (std::size_t i = 0; i + 1 < all.size(); ++i) {
    const double x = all[i];
    const double fu = double(std::upper_bound(u.begin(), u.end(), x) - u.begin()) / u.size();
    const double fv = double(std::upper_bound(v.begin(), v.end(), x) - v.begin()) / v.size();
    total += std::fabs(fu - fv) * (all[i + 1] - x);
  }
  return total;
}

namespace {

struct Fingerprints {
  std::vector<std::vector<double>> structure, composition;  // empty vector: none (failed)
};

// CDVAE fingerprints every constructed crystal; one whose CrystalNN fails
// has none and is left out of the distance matrices (but still counts in
// COV-P's denominator).
Fingerprints fingerprint_all(const std::vector<Structure>& s, int threads) {
  Fingerprints f;
  f.structure.resize(s.size());
  f.composition.resize(s.size());
  parallel_for(s.size(), threads, [&](std::size_t i) {
    if (s[i].species.empty()) return;
    try {
      auto sfp = crystalnn_fingerprint(s[i]);
      auto cfp = standardize_magpie(magpie_fingerprint(s[i].composition()));
      f.structure[i] = std::move(sfp);
      f.composition[i] = std::move(cfp);
    } catch (const Error&) {
    }
  });
  return f;
}

double distance(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t k = 0; k < a.size(); ++k) s += (a[k] - b[k]) * (a[k] - b[k]);
  return std::sqrt(s);
}

// For each row of `from`, the smallest distance to any row of `to` (skipping
// rows without a fingerprint); +inf when none.
std::vector<double> nearest(const std::vector<std::vector<double>>& from, const std::vector<std::vector<double>>& to,
                            int threads) {
  std::vector<double> out(from.size(), INFINITY);
  parallel_for(from.size(), threads, [&](std::size_t i) {
    if (from[i].empty()) return;
    for (const auto& t : to)
      if (!t.empty()) out[i] = std::min(out[i], distance(from[i], t));
  });
  return out;
}

bool safe_valid(const Structure& s, Validity* v) {
  if (s.species.empty()) return false;
  try {
    *v = check_validity(s);
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

GenResult evaluate_generation(const std::vector<Structure>& gen, const std::vector<Structure>& ref,
                              const std::vector<Structure>* train, const GenEvalOptions& o) {
  GenResult r;
  r.n = gen.size();
  if (gen.empty()) throw Error("no generated structures to evaluate");
  if (ref.empty()) throw Error("empty reference set");
  std::vector<Validity> val(gen.size());
  // Written by parallel workers: one byte each (std::vector<bool> packs
  // neighbours into one word, and concurrent writes to it lose updates).
  std::vector<char> ok(gen.size(), 0);
  parallel_for(gen.size(), o.threads, [&](std::size_t i) { ok[i] = safe_valid(gen[i], &val[i]); });
  std::vector<std::size_t> valid;
  std::size_t s_ok = 0, c_ok = 0;
  for (std::size_t i = 0; i < gen.size(); ++i) {
    s_ok += ok[i] && val[i].structural;
    c_ok += ok[i] && val[i].compositional;
    if (ok[i] && val[i].valid()) valid.push_back(i);
  }
  r.struct_validity = double(s_ok) / r.n;
  r.comp_validity = double(c_ok) / r.n;
  r.validity = double(valid.size()) / r.n;

  // Property distributions on up to n_property valid samples (numpy's
  // choice without replacement in CDVAE; here a seeded shuffle).
  std::vector<std::size_t> pick = valid;
  std::mt19937_64 rng(o.seed);
  std::shuffle(pick.begin(), pick.end(), rng);
  if (pick.size() > o.n_property) pick.resize(o.n_property);
  r.property_samples = pick.size();
  std::vector<double> d_gen, d_ref, e_gen, e_ref;
  for (auto i : pick) {
    d_gen.push_back(gen[i].density());
    e_gen.push_back(gen[i].composition().num_elements());
  }
  for (const auto& s : ref) {
    d_ref.push_back(s.density());
    e_ref.push_back(s.composition().num_elements());
  }
  r.wdist_density = wasserstein_1d(d_gen, d_ref);
  r.wdist_num_elems = wasserstein_1d(e_gen, e_ref);

  // Coverage.
  const Fingerprints fg = fingerprint_all(gen, o.threads), fr = fingerprint_all(ref, o.threads);
  const auto s_recall = nearest(fr.structure, fg.structure, o.threads);
  const auto c_recall = nearest(fr.composition, fg.composition, o.threads);
  const auto s_prec = nearest(fg.structure, fr.structure, o.threads);
  const auto c_prec = nearest(fg.composition, fr.composition, o.threads);
  std::size_t ref_with_fp = 0, recalled = 0, precise = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    if (fr.structure[i].empty()) continue;
    ++ref_with_fp;
    recalled += s_recall[i] <= o.cutoffs.structure && c_recall[i] <= o.cutoffs.composition;
  }
  for (std::size_t i = 0; i < gen.size(); ++i)
    precise += !fg.structure[i].empty() && s_prec[i] <= o.cutoffs.structure && c_prec[i] <= o.cutoffs.composition;
  r.cov_recall = ref_with_fp ? double(recalled) / ref_with_fp : 0.0;
  r.cov_precision = double(precise) / r.n;

  // Uniqueness and novelty (StructureMatcher defaults), within a reduced formula.
  const StructureMatcher matcher;
  std::map<std::string, std::vector<std::size_t>> by_formula;
  for (std::size_t i = 0; i < gen.size(); ++i)
    if (!gen[i].species.empty()) by_formula[gen[i].composition().reduced_formula()].push_back(i);
  std::vector<char> unique(gen.size(), 0);
  std::vector<std::pair<std::string, std::vector<std::size_t>>> groups(by_formula.begin(), by_formula.end());
  parallel_for(groups.size(), o.threads, [&](std::size_t g) {
    const auto& members = groups[g].second;
    for (std::size_t a = 0; a < members.size(); ++a) {
      bool seen = false;
      for (std::size_t b = 0; b < a && !seen; ++b) {
        try {
          seen = matcher.fit(gen[members[b]], gen[members[a]]);
        } catch (const Error&) {
        }
      }
      unique[members[a]] = !seen;
    }
  });
  r.uniqueness = double(std::count(unique.begin(), unique.end(), 1)) / r.n;
  if (train) {
    std::map<std::string, std::vector<std::size_t>> train_by_formula;
    for (std::size_t i = 0; i < train->size(); ++i)
      train_by_formula[(*train)[i].composition().reduced_formula()].push_back(i);
    std::vector<char> novel(gen.size(), 0);
    parallel_for(gen.size(), o.threads, [&](std::size_t i) {
      if (gen[i].species.empty()) return;
      auto it = train_by_formula.find(gen[i].composition().reduced_formula());
      bool known = false;
      if (it != train_by_formula.end())
        for (auto j : it->second) {
          try {
            if (matcher.fit(gen[i], (*train)[j])) {
              known = true;
              break;
            }
          } catch (const Error&) {
          }
        }
      novel[i] = !known;
    });
    r.novelty = double(std::count(novel.begin(), novel.end(), 1)) / r.n;
    if (!o.e_above_hull.empty()) {
      std::size_t sun = 0;
      for (std::size_t i = 0; i < gen.size(); ++i)
        sun += unique[i] && novel[i] && o.e_above_hull[i] <= o.stability_threshold;
      r.sun = double(sun) / r.n;
    }
  }
  if (!o.e_above_hull.empty()) {
    if (o.e_above_hull.size() != gen.size())
      throw Error("energies given for " + std::to_string(o.e_above_hull.size()) + " of " + std::to_string(gen.size()) +
                  " generated crystals");
    std::size_t stable = 0;
    for (double e : o.e_above_hull) stable += e <= o.stability_threshold;  // NaN compares false
    r.stability = double(stable) / r.n;
  }
  return r;
}

nlohmann::ordered_json gen_result_json(const GenResult& r, const GenEvalOptions& o, const std::string& stability_source) {
  nlohmann::ordered_json j;
  j["n"] = r.n;
  j["struct_validity"] = r.struct_validity;
  j["comp_validity"] = r.comp_validity;
  j["validity"] = r.validity;
  j["cov_recall"] = r.cov_recall;
  j["cov_precision"] = r.cov_precision;
  j["wdist_density"] = r.wdist_density;
  j["wdist_num_elems"] = r.wdist_num_elems;
  j["uniqueness"] = r.uniqueness;
  if (r.novelty) j["novelty"] = *r.novelty;
  if (r.stability) j["stability"] = *r.stability;
  if (r.sun) j["sun"] = *r.sun;
  if (r.stability) {
    j["stability_source"] = stability_source;
    j["stability_threshold"] = o.stability_threshold;
  }
  j["property_samples"] = r.property_samples;
  j["seed"] = o.seed;
  j["cov_cutoffs"] = {o.cutoffs.structure, o.cutoffs.composition};
  return j;
}

}  // namespace xtaldiff
