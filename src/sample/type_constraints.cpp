#include "sample/type_constraints.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "chem/element.h"
#include "util/error.h"

namespace xtaldiff {
namespace {

std::string symbols(const std::vector<int>& zs) {
  std::string out;
  for (int z : zs) out += (out.empty() ? "" : ",") + (z >= 1 && z <= 103 ? std::string(element(z).symbol) : std::to_string(z));
  return out;
}

}  // namespace

bool TypeConstraints::allows(int z) const {
  return allowed.empty() || std::find(allowed.begin(), allowed.end(), z) != allowed.end();
}

std::string TypeConstraints::describe() const {
  std::string out = allowed.empty() ? "any elements" : "elements " + symbols(allowed);
  if (!required.empty()) out += "; require " + symbols(required);
  if (max_elements > 0) out += "; at most " + std::to_string(max_elements) + " elements";
  return out;
}

void check_feasible(const TypeConstraints& c, int num_atoms, int vocab) {
  for (const auto* list : {&c.allowed, &c.required})
    for (int z : *list)
      if (z < 1 || z > vocab)
        throw Error("element Z=" + std::to_string(z) + " is outside the model's vocabulary (Z 1.." +
                        std::to_string(vocab) + ")",
                    ErrorKind::kUsage);
  if (!c.allowed.empty() || !c.required.empty()) {
    if (c.allowed.empty() && vocab < 1) throw Error("no elements are allowed", ErrorKind::kUsage);
  }
  for (int z : c.required)
    if (!c.allows(z))
      throw Error("impossible request: " + symbols({z}) + " is required but not among the allowed elements (" +
                      symbols(c.allowed) + ")",
                  ErrorKind::kUsage);
  const std::set<int> req(c.required.begin(), c.required.end());
  if (c.max_elements > 0 && static_cast<int>(req.size()) > c.max_elements)
    throw Error("impossible request: " + std::to_string(req.size()) + " required elements but at most " +
                    std::to_string(c.max_elements) + " distinct elements",
                ErrorKind::kUsage);
  if (static_cast<int>(req.size()) > num_atoms)
    throw Error("impossible request: " + std::to_string(req.size()) + " required elements in a crystal of " +
                    std::to_string(num_atoms) + " atoms",
                ErrorKind::kUsage);
}

std::vector<int> feasible_assignment(const float* scores, int n, int vocab, const TypeConstraints& c) {
  auto score = [&](int atom, int z) { return scores[static_cast<std::size_t>(atom) * vocab + (z - 1)]; };
  std::vector<int> candidates = c.allowed;
  if (candidates.empty())
    for (int z = 1; z <= vocab; ++z) candidates.push_back(z);
  auto best_of = [&](int atom, const std::vector<int>& set) {
    int best = set.front();
    for (int z : set)
      if (score(atom, z) > score(atom, best)) best = z;
    return best;
  };
  // 1. The element set: required elements, then the argmax's elements by mass.
  std::map<int, double> mass;
  for (int i = 0; i < n; ++i) {
    const int z = best_of(i, candidates);
    mass[z] += score(i, z);
  }
  std::vector<int> set;
  for (int z : c.required)
    if (std::find(set.begin(), set.end(), z) == set.end()) set.push_back(z);
  std::vector<std::pair<double, int>> others;
  for (const auto& [z, m] : mass)
    if (std::find(set.begin(), set.end(), z) == set.end()) others.push_back({-m, z});
  std::sort(others.begin(), others.end());
  for (const auto& [negm, z] : others) {
    if (c.max_elements > 0 && static_cast<int>(set.size()) >= c.max_elements) break;
    set.push_back(z);
  }
  // 2. Each atom's best element of the set.
  std::vector<int> out(n);
  std::map<int, int> count;
  for (int i = 0; i < n; ++i) ++count[out[i] = best_of(i, set)];
  // 3. Missing required elements take the cheapest atom that can switch.
  const std::set<int> req(c.required.begin(), c.required.end());
  for (int r : c.required) {
    if (count[r] > 0) continue;
    int pick = -1;
    float cheapest = std::numeric_limits<float>::infinity();
    for (int i = 0; i < n; ++i) {
      const int cur = out[i];
      if (req.count(cur) && count[cur] < 2) continue;
      const float loss = score(i, cur) - score(i, r);
      if (loss < cheapest) cheapest = loss, pick = i;
    }
    if (pick < 0) throw Error("internal: no atom can take required element Z=" + std::to_string(r));
    --count[out[pick]];
    out[pick] = r;
    ++count[r];
  }
  return out;
}

}  // namespace xtaldiff
