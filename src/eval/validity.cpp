#include "eval/validity.h"

#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "chem/element.h"
#include "util/error.h"

namespace xtaldiff {
namespace {

// DiffCSP: `if oxn > 1e7: return False` (CDVAE has no limit).
constexpr double kMaxCombinations = 1e7;
// Distinct reduced compositions remembered before the cache starts over.
constexpr std::size_t kCacheLimit = 1 << 20;

// ------------------------------------------------------------ structure

bool all_finite(const Structure& s) {
  for (const Vec3& v : s.lattice.matrix())
    for (double x : v)
      if (!std::isfinite(x)) return false;
  for (const Vec3& f : s.frac)
    for (double x : f)
      if (!std::isfinite(x)) return false;
  return true;
}

// Inverse of a unimodular integer matrix (det ±1), exact.
Mat3 unimodular_inverse(const IMat3& t) {
  auto m = [&](int i, int j) { return static_cast<long long>(t[i][j]); };
  const long long c00 = m(1, 1) * m(2, 2) - m(1, 2) * m(2, 1);
  const long long c01 = m(1, 2) * m(2, 0) - m(1, 0) * m(2, 2);
  const long long c02 = m(1, 0) * m(2, 1) - m(1, 1) * m(2, 0);
  const long long det = m(0, 0) * c00 + m(0, 1) * c01 + m(0, 2) * c02;
  if (det != 1 && det != -1) throw Error("LLL transform is not unimodular", ErrorKind::kInternal);
  const long long adj[3][3] = {
      {c00, m(0, 2) * m(2, 1) - m(0, 1) * m(2, 2), m(0, 1) * m(1, 2) - m(0, 2) * m(1, 1)},
      {c01, m(0, 0) * m(2, 2) - m(0, 2) * m(2, 0), m(0, 2) * m(1, 0) - m(0, 0) * m(1, 2)},
      {c02, m(0, 1) * m(2, 0) - m(0, 0) * m(2, 1), m(0, 0) * m(1, 1) - m(0, 1) * m(1, 0)}};
  Mat3 inv{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) inv[i][j] = static_cast<double>(adj[i][j] * det);
  return inv;
}

// Shortest distance between distinct sites the way pymatgen's
// `distance_matrix` finds it (coord_cython.pbc_shortest_vectors): fractional
// coordinates in the LLL basis wrapped with x - floor(x), then the 27 images
// {-1, 0, 1}³ of the second site. Both orders (i, j) and (j, i) are
// evaluated, as numpy's min over the full matrix does.
bool pymatgen_min_distance_at_least(const Structure& s, double cutoff) {
  IMat3 t{};
  const Lattice lll = s.lattice.lll_reduced(0.75, &t);
  const Mat3 tinv = unimodular_inverse(t);
  const std::size_t n = s.size();
  std::vector<Vec3> cart(n);
  for (std::size_t i = 0; i < n; ++i) {
    Vec3 f{};
    for (int c = 0; c < 3; ++c) {
      double x = 0;
      for (int r = 0; r < 3; ++r) x += s.frac[i][r] * tinv[r][c];
      f[c] = x - std::floor(x);
    }
    cart[i] = lll.to_cartesian(f);
  }
  Vec3 images[27];
  int k = 0;
  for (int a = -1; a <= 1; ++a)
    for (int b = -1; b <= 1; ++b)
      for (int c = -1; c <= 1; ++c) images[k++] = lll.to_cartesian({double(a), double(b), double(c)});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      if (i == j) continue;
      double best = 1e100;
      for (const Vec3& im : images) {
        double d2 = 0;
        for (int l = 0; l < 3; ++l) {
          const double d = cart[j][l] + im[l] - cart[i][l];
          d2 += d * d;
        }
        best = std::min(best, d2);
      }
      if (std::sqrt(best) < cutoff) return false;
    }
  return true;
}

// ------------------------------------------------------------ composition

struct Species {
  long long count;
  const std::vector<int>* states;
  std::optional<double> en;  // SMACT Pauling electronegativity
};

// SMACT 2.2.1 eneg_states_test under CDVAE's `except TypeError: True`.
bool pauling_test(const std::vector<Species>& sp, const std::vector<int>& ox) {
  const std::size_t n = sp.size();
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) {
      const auto& ei = sp[i].en;
      const auto& ej = sp[j].en;
      if (ox[i] > 0 && ox[j] < 0) {
        if (!ei || !ej) return true;  // float >= None: TypeError
        if (*ei >= *ej) return false;
      } else if (ox[i] < 0 && ox[j] > 0) {
        if (!ei || !ej) return true;
        if (*ei <= *ej) return false;
      } else if (!ei || !ej) {
        return false;
      }
    }
  return true;
}

// Depth-first search over itertools.product(*ox_combos) in its order, pruned
// by the charge still reachable and, when every electronegativity is known
// (the Pauling test is then a plain AND over pairs), by failing pairs.
class NeutralSearch {
 public:
  explicit NeutralSearch(const std::vector<Species>& sp) : sp_(sp), ox_(sp.size()) {
    const std::size_t n = sp.size();
    lo_.assign(n + 1, 0);
    hi_.assign(n + 1, 0);
    for (std::size_t k = n; k-- > 0;) {
      long long mn = std::numeric_limits<long long>::max(), mx = std::numeric_limits<long long>::min();
      for (int o : *sp[k].states) {
        mn = std::min(mn, o * sp[k].count);
        mx = std::max(mx, o * sp[k].count);
      }
      lo_[k] = lo_[k + 1] + mn;
      hi_[k] = hi_[k + 1] + mx;
    }
    for (const auto& s : sp) all_en_ = all_en_ && s.en.has_value();
  }
  bool run() { return visit(0, 0); }

 private:
  bool visit(std::size_t k, long long charge) {
    if (k == sp_.size()) return charge == 0 && (all_en_ || pauling_test(sp_, ox_));
    if (-charge < lo_[k] || -charge > hi_[k]) return false;
    for (int o : *sp_[k].states) {
      if (all_en_ && !compatible(k, o)) continue;
      ox_[k] = o;
      if (visit(k + 1, charge + o * sp_[k].count)) return true;
    }
    return false;
  }
  // Pairs (j, k), j < k, pass the Pauling rule (all electronegativities known).
  bool compatible(std::size_t k, int o) const {
    const double ek = *sp_[k].en;
    for (std::size_t j = 0; j < k; ++j) {
      const double ej = *sp_[j].en;
      if (ox_[j] > 0 && o < 0 && ej >= ek) return false;
      if (ox_[j] < 0 && o > 0 && ej <= ek) return false;
    }
    return true;
  }

  const std::vector<Species>& sp_;
  std::vector<int> ox_;
  std::vector<long long> lo_, hi_;  // reachable charge of sites k..n-1
  bool all_en_ = true;
};

using ReducedKey = std::vector<std::pair<int, long long>>;

ReducedKey reduced_counts(const Composition& c) {
  ReducedKey key;
  long long g = 0;
  for (const auto& [z, amount] : c.amounts()) {
    const double r = std::round(amount);
    if (!(r >= 1) || std::fabs(amount - r) > 1e-8 || r > 1e15)
      throw Error("compositional validity needs positive integer amounts, got " + format_amount(amount, false) +
                  " " + element(z).symbol);
    const long long n = static_cast<long long>(r);
    key.emplace_back(z, n);
    long long a = g, b = n;
    while (b != 0) {
      const long long t = a % b;
      a = b;
      b = t;
    }
    g = a;
  }
  for (auto& kv : key) kv.second /= g;
  return key;
}

bool smact_validity(const ReducedKey& key) {
  if (key.empty()) return false;
  if (key.size() == 1) return true;
  bool all_metals = true;
  for (const auto& kv : key) all_metals = all_metals && element(kv.first).smact_metal;
  if (all_metals) return true;
  double combos = 1;
  std::vector<Species> sp;
  for (const auto& [z, n] : key) {
    const Element& e = element(z);
    combos *= static_cast<double>(e.oxidation_states.size());
    sp.push_back({n, &e.oxidation_states, e.pauling});
  }
  if (combos > kMaxCombinations) return false;
  if (combos == 0) return false;  // an element without oxidation states
  return NeutralSearch(sp).run();
}

}  // namespace

bool structure_valid(const Structure& s, double cutoff, double min_volume) {
  if (s.size() == 0 || s.frac.size() != s.size() || !all_finite(s)) return false;
  const double volume = s.volume();
  if (!(volume >= min_volume)) return false;
  if (s.size() < 2) return true;
  try {
    return pymatgen_min_distance_at_least(s, cutoff);
  } catch (const Error&) {
    // LLL refused the cell (numerically degenerate): exact minimum image.
    return !(min_pair_distance(s) < cutoff);
  }
}

bool composition_valid(const Composition& c) {
  const ReducedKey key = reduced_counts(c);
  static std::mutex mutex;
  static std::map<ReducedKey, bool> cache;
  {
    std::lock_guard<std::mutex> lock(mutex);
    const auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  const bool valid = smact_validity(key);
  std::lock_guard<std::mutex> lock(mutex);
  if (cache.size() >= kCacheLimit) cache.clear();
  cache.emplace(key, valid);
  return valid;
}

Validity check_validity(const Structure& s) {
  Validity v;
  v.structural = structure_valid(s);
  v.compositional = !s.species.empty() && composition_valid(s.composition());
  return v;
}

long long oxidation_state_combinations(const Composition& c) {
  constexpr long long kSaturate = 1LL << 62;
  long long p = 1;
  for (const auto& kv : c.amounts()) {
    const long long n = static_cast<long long>(element(kv.first).oxidation_states.size());
    if (n == 0) return 0;
    p = p > kSaturate / n ? kSaturate : p * n;
  }
  return p;
}

}  // namespace xtaldiff
