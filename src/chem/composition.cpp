#include "chem/composition.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <sstream>

#include "chem/element.h"
#include "util/error.h"
#include "util/strings.h"

namespace xtaldiff {
namespace {

constexpr double kAmountTolerance = 1e-8;  // pymatgen Composition.amount_tolerance
constexpr double kMaxAmount = 1e9;          // atoms of one element in a formula

// Recursive-descent parser for formulas with parentheses:
//   formula := group*      group := (ELEMENT | '(' formula ')') NUMBER?
class FormulaParser {
 public:
  explicit FormulaParser(std::string_view text) : text_(text) {}

  std::map<int, double> parse() {
    auto amounts = parse_sequence(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected '" + std::string(1, text_[pos_]) + "'");
    if (amounts.empty()) fail("no elements");
    return amounts;
  }

 private:
  std::map<int, double> parse_sequence(int depth) {
    std::map<int, double> out;
    for (;;) {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] == ')') break;
      std::map<int, double> group;
      if (text_[pos_] == '(' || text_[pos_] == '[') {
        const char close = text_[pos_] == '(' ? ')' : ']';
        if (depth > 16) fail("parentheses nested too deeply");
        ++pos_;
        group = parse_sequence(depth + 1);
        skip_space();
        if (pos_ >= text_.size() || text_[pos_] != close) fail(std::string("missing '") + close + "'");
        ++pos_;
        if (group.empty()) fail("empty parentheses");
      } else if (std::isupper(static_cast<unsigned char>(text_[pos_]))) {
        std::size_t start = pos_++;
        while (pos_ < text_.size() && std::islower(static_cast<unsigned char>(text_[pos_]))) ++pos_;
        const std::string_view sym = text_.substr(start, pos_ - start);
        auto z = find_element(sym);
        if (!z) fail("unknown element '" + std::string(sym) + "'");
        group[*z] = 1.0;
      } else {
        fail("unexpected '" + std::string(1, text_[pos_]) + "'");
      }
      const double mult = parse_number();
      for (auto& [z, n] : group) out[z] += n * mult;
    }
    if (depth > 0 && pos_ >= text_.size()) fail("missing ')'");
    return out;
  }

  double parse_number() {
    std::size_t start = pos_;
    while (pos_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.')) ++pos_;
    if (start == pos_) return 1.0;
    auto v = parse_double(text_.substr(start, pos_ - start));
    if (!v || !std::isfinite(*v) || *v < 0) fail("bad amount '" + std::string(text_.substr(start, pos_ - start)) + "'");
    if (*v == 0) fail("zero amount");
    return *v;
  }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error("formula '" + excerpt(text_) + "': " + what + " (at character " + std::to_string(pos_ + 1) + ")");
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

double electronegativity_key(int z) {
  // pymatgen sorts by X; elements without X (noble gases) sort last.
  const auto& x = element(z).x;
  return x ? *x : 1e9;
}

std::vector<int> sorted_by_x(std::vector<int> zs) {
  std::stable_sort(zs.begin(), zs.end(), [](int a, int b) {
    const double xa = electronegativity_key(a), xb = electronegativity_key(b);
    if (xa != xb) return xa < xb;
    return element(a).symbol < element(b).symbol;
  });
  return zs;
}

long gcd_of(const std::map<int, long>& counts) {
  long g = 0;
  for (const auto& kv : counts) g = std::gcd(g, std::labs(kv.second));
  return g == 0 ? 1 : g;
}

// pymatgen's reduce_formula: order by electronegativity, divide by the gcd,
// and write the two most electronegative elements as a bracketed polyanion
// when they differ in X by less than 1.65 and do not reduce to a unit.
std::pair<std::string, long> reduce_formula(const std::map<int, long>& counts) {
  std::vector<int> syms;
  for (const auto& kv : counts)
    if (kv.second != 0) syms.push_back(kv.first);
  syms = sorted_by_x(syms);
  const long factor = gcd_of(counts);
  std::string polyanion;
  if (syms.size() >= 3) {
    const int last = syms[syms.size() - 1], second = syms[syms.size() - 2];
    if (electronegativity_key(last) - electronegativity_key(second) < 1.65) {
      std::map<int, long> poly{{second, counts.at(second) / factor}, {last, counts.at(last) / factor}};
      auto [poly_form, poly_factor] = reduce_formula(poly);
      if (poly_factor != 1) polyanion = "(" + poly_form + ")" + std::to_string(poly_factor);
    }
  }
  if (!polyanion.empty()) syms.resize(syms.size() - 2);
  std::string out;
  for (int z : syms) out += element(z).symbol + format_amount(double(counts.at(z)) / double(factor), true);
  return {out + polyanion, factor};
}

}  // namespace

std::string format_amount(double amount, bool ignore_ones) {
  if (ignore_ones && amount == 1.0) return "";
  if (std::fabs(amount - std::trunc(amount)) < 1e-8) return std::to_string(static_cast<long>(std::trunc(amount)));
  // Python's str(round(x, 8)): shortest repr of the rounded value.
  const double r = std::round(amount * 1e8) / 1e8;
  std::ostringstream os;
  os.precision(15);
  os << r;
  return os.str();
}

Composition::Composition(const std::map<int, double>& amounts) {
  for (const auto& [z, n] : amounts) {
    element(z);  // validates z
    if (!std::isfinite(n) || n < 0) throw Error("composition: bad amount for " + element(z).symbol);
    // Integer formulas are reduced with longs; an amount beyond 1e9 atoms is
    // no crystal's formula (fuzz/fuzz_formula: O3333...3 overflowed the gcd).
    if (n > kMaxAmount)
      throw Error("composition: amount of " + element(z).symbol + " exceeds " + format_amount(kMaxAmount, false));
    if (n > kAmountTolerance) amounts_[z] = n;
  }
}

Composition Composition::from_species(const std::vector<int>& species) {
  std::map<int, double> m;
  for (int z : species) m[z] += 1.0;
  return Composition(m);
}

bool Composition::is_chemical_system(std::string_view text) {
  text = trim(text);
  if (text.find('-') == std::string_view::npos) return false;
  for (char c : text)
    if (!(std::isalpha(static_cast<unsigned char>(c)) || c == '-')) return false;
  return true;
}

Composition Composition::parse(std::string_view formula) {
  const std::string_view text = trim(formula);
  if (text.empty()) throw Error("empty formula");
  if (is_chemical_system(text)) {
    std::map<int, double> m;
    for (auto part : split_char(text, '-')) {
      if (part.empty()) throw Error("chemical system '" + excerpt(text) + "': empty element between dashes");
      auto z = find_element(part);
      if (!z) throw Error("chemical system '" + excerpt(text) + "': unknown element '" + std::string(part) + "'");
      if (m.count(*z)) throw Error("chemical system '" + excerpt(text) + "': " + std::string(part) + " repeated");
      m[*z] = 1.0;
    }
    return Composition(m);
  }
  return Composition(FormulaParser(text).parse());
}

double Composition::amount(int z) const {
  auto it = amounts_.find(z);
  return it == amounts_.end() ? 0.0 : it->second;
}

double Composition::num_atoms() const {
  double n = 0;
  for (const auto& kv : amounts_) n += kv.second;
  return n;
}

bool Composition::is_integer(double tol) const {
  for (const auto& kv : amounts_)
    if (std::fabs(kv.second - std::round(kv.second)) > tol) return false;
  return true;
}

std::vector<int> Composition::elements_by_electronegativity() const {
  std::vector<int> zs;
  for (const auto& kv : amounts_) zs.push_back(kv.first);
  return sorted_by_x(zs);
}

std::map<int, double> Composition::fractions() const {
  std::map<int, double> f;
  const double n = num_atoms();
  for (const auto& [z, a] : amounts_) f[z] = a / n;
  return f;
}

Composition Composition::reduced() const {
  if (!is_integer()) return *this;
  std::map<int, long> counts;
  for (const auto& [z, a] : amounts_) counts[z] = std::lround(a);
  const long g = gcd_of(counts);
  std::map<int, double> r;
  for (const auto& [z, c] : counts) r[z] = double(c / g);
  return Composition(r);
}

double Composition::formula_units() const {
  const double n = reduced().num_atoms();
  return n > 0 ? num_atoms() / n : 0.0;
}

std::string Composition::formula() const {
  std::string out;
  for (int z : elements_by_electronegativity()) {
    if (!out.empty()) out += ' ';
    out += element(z).symbol + format_amount(amounts_.at(z), false);
  }
  return out;
}

std::string Composition::reduced_formula() const {
  if (amounts_.empty()) return "";
  if (!is_integer(kAmountTolerance)) {
    std::string f = formula();
    f.erase(std::remove(f.begin(), f.end(), ' '), f.end());
    return f;
  }
  std::map<int, long> counts;
  for (const auto& [z, a] : amounts_) counts[z] = std::lround(a);
  std::string f = reduce_formula(counts).first;
  static const std::map<std::string, std::string> kSpecial = {
      {"LiO", "Li2O2"}, {"NaO", "Na2O2"}, {"KO", "K2O2"}, {"HO", "H2O2"}, {"CsO", "Cs2O2"}, {"RbO", "Rb2O2"},
      {"O", "O2"},     {"N", "N2"},     {"F", "F2"},   {"Cl", "Cl2"},  {"H", "H2"}};
  auto it = kSpecial.find(f);
  return it == kSpecial.end() ? f : it->second;
}

std::string Composition::hill_formula() const {
  std::vector<int> zs;
  for (const auto& kv : amounts_) zs.push_back(kv.first);
  std::sort(zs.begin(), zs.end(), [](int a, int b) { return element(a).symbol < element(b).symbol; });
  const int kC = 6, kH = 1;
  if (amounts_.count(kC)) {
    std::vector<int> front{kC};
    if (amounts_.count(kH)) front.push_back(kH);
    for (int z : zs)
      if (z != kC && z != kH) front.push_back(z);
    zs = front;
  }
  std::string out;
  for (int z : zs) {
    if (!out.empty()) out += ' ';
    out += element(z).symbol + format_amount(amounts_.at(z), true);
  }
  return out;
}

std::string Composition::chemical_system() const {
  std::vector<std::string> syms;
  for (const auto& kv : amounts_) syms.push_back(element(kv.first).symbol);
  std::sort(syms.begin(), syms.end());
  std::string out;
  for (const auto& s : syms) out += (out.empty() ? "" : "-") + s;
  return out;
}

bool Composition::almost_equal(const Composition& o, double tol) const {
  if (amounts_.size() != o.amounts_.size()) return false;
  for (const auto& [z, a] : amounts_)
    if (std::fabs(a - o.amount(z)) > tol) return false;
  return true;
}

std::string compact_formula(const Composition& c) {
  std::string out;
  for (int z : c.elements_by_electronegativity()) out += element(z).symbol + format_amount(c.amount(z), true);
  return out;
}

}  // namespace xtaldiff
