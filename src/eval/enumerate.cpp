#include "eval/enumerate.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <tuple>

#include "eval/validity.h"
#include "util/error.h"

namespace xtaldiff {

std::vector<Composition> enumerate_compositions(const std::vector<int>& elements, const EnumerateOptions& o) {
  if (elements.empty()) throw Error("enumerate: the chemical system has no elements", ErrorKind::kUsage);
  if (std::set<int>(elements.begin(), elements.end()).size() != elements.size())
    throw Error("enumerate: an element is repeated in the chemical system", ErrorKind::kUsage);
  if (o.max_coeff < 1) throw Error("enumerate: --max-coeff must be at least 1", ErrorKind::kUsage);
  const std::size_t k = elements.size();
  double vectors = 1;
  for (std::size_t i = 0; i < k; ++i) vectors *= o.max_coeff + 1;
  if (vectors > 1e8)
    throw Error("enumerate: " + std::to_string(k) + " elements with coefficients up to " + std::to_string(o.max_coeff) +
                    " is more than 10^8 combinations; lower --max-coeff",
                ErrorKind::kUsage);
  std::set<std::vector<int>> seen;
  std::vector<int> coeff(k, 0);
  while (true) {
    // Next coefficient vector (odometer), skipping the all-zero one.
    std::size_t i = 0;
    while (i < k && coeff[i] == o.max_coeff) coeff[i++] = 0;
    if (i == k) break;
    ++coeff[i];
    int g = 0;
    for (int c : coeff) g = std::gcd(g, c);
    std::vector<int> reduced(k);
    for (std::size_t j = 0; j < k; ++j) reduced[j] = coeff[j] / g;
    seen.insert(reduced);
  }
  std::vector<std::tuple<int, int, std::string, Composition>> rows;
  for (const auto& r : seen) {
    std::map<int, double> amounts;
    int atoms = 0;
    for (std::size_t j = 0; j < k; ++j)
      if (r[j] > 0) amounts[elements[j]] = r[j], atoms += r[j];
    Composition c(amounts);
    if (o.valid_only && !composition_valid(c)) continue;
    rows.emplace_back(c.num_elements(), atoms, c.reduced_formula(), c);
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return std::tie(std::get<0>(a), std::get<1>(a), std::get<2>(a)) <
           std::tie(std::get<0>(b), std::get<1>(b), std::get<2>(b));
  });
  std::vector<Composition> out;
  for (auto& row : rows) out.push_back(std::get<3>(row));
  return out;
}

std::vector<Composition> enumerate_system(const std::string& system, const EnumerateOptions& options) {
  const Composition parsed = Composition::parse(system);
  if (!Composition::is_chemical_system(system) && parsed.num_elements() > 1)
    throw Error("enumerate " + system + ": give a chemical system such as Li-P-S-Cl", ErrorKind::kUsage);
  std::vector<int> elements;
  for (const auto& [z, amount] : parsed.amounts()) elements.push_back(z);
  return enumerate_compositions(elements, options);
}

}  // namespace xtaldiff
