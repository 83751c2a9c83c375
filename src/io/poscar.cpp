#include "io/poscar.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "chem/element.h"
#include "util/error.h"
#include "util/strings.h"

namespace xtaldiff {
namespace {

class Lines {
 public:
  Lines(std::string_view text, const std::string& source) : lines_(split_char(text, '\n')), source_(source) {}
  std::string_view next(const char* what) {
    if (i_ >= lines_.size()) throw Error(located(source_, static_cast<long>(i_), std::string("file ends before the ") + what));
    return lines_[i_++];
  }
  long line() const { return static_cast<long>(i_); }  // 1-based number of the line last read
  [[noreturn]] void fail(const std::string& what) const { throw Error(located(source_, line(), what)); }
  std::vector<double> numbers(std::string_view l, std::size_t count, const char* what) {
    auto t = split_ws(l);
    if (t.size() < count) fail(std::string("expected ") + std::to_string(count) + " numbers for the " + what);
    std::vector<double> v;
    for (std::size_t k = 0; k < count; ++k) {
      auto d = parse_double(t[k]);
      if (!d || !std::isfinite(*d)) fail(std::string("'") + excerpt(t[k]) + "' is not a finite number (" + what + ")");
      v.push_back(*d);
    }
    return v;
  }

 private:
  std::vector<std::string_view> lines_;
  std::string source_;
  std::size_t i_ = 0;
};

}  // namespace

Structure read_poscar(std::string_view text, const std::string& source) {
  if (trim(text).empty()) throw Error(located(source, 0, "empty file"));
  if (looks_binary(text.substr(0, 1 << 16))) throw Error(located(source, 0, "binary data where a POSCAR was expected"));
  Lines in(text, source);
  in.next("comment line");
  const double scale = in.numbers(in.next("scale factor"), 1, "scale factor")[0];
  Mat3 m{};
  for (int i = 0; i < 3; ++i) {
    auto v = in.numbers(in.next("lattice vectors"), 3, "lattice vector");
    m[i] = {v[0], v[1], v[2]};
  }
  if (scale == 0) in.fail("scale factor is 0");
  if (scale > 0) {
    for (auto& row : m) row = scale * row;
  } else {
    // Negative scale: the cell volume in Å³.
    const double v = std::fabs(det(m));
    if (v <= 0) in.fail("degenerate lattice");
    const double f = std::cbrt(-scale / v);
    for (auto& row : m) row = f * row;
  }
  auto species_tokens = split_ws(in.next("species line"));
  if (species_tokens.empty()) in.fail("empty species line");
  if (parse_long(species_tokens[0]))
    in.fail("VASP 4 POSCAR (no species line): add the element symbols above the counts line");
  std::vector<int> zs;
  for (auto t : species_tokens) {
    // VASP 6 may write "Ti_pv" or "O/abc123": keep the element part.
    std::string_view sym = t.substr(0, t.find_first_of("_/"));
    auto z = find_element(sym);
    if (!z) in.fail("unknown element '" + excerpt(t) + "'");
    zs.push_back(*z);
  }
  auto count_tokens = split_ws(in.next("counts line"));
  if (count_tokens.size() != zs.size())
    in.fail(std::to_string(zs.size()) + " species but " + std::to_string(count_tokens.size()) + " counts");
  std::vector<int> species;
  for (std::size_t k = 0; k < zs.size(); ++k) {
    auto c = parse_long(count_tokens[k]);
    if (!c || *c < 0 || *c > 10000000) in.fail("bad atom count '" + excerpt(count_tokens[k]) + "'");
    species.insert(species.end(), static_cast<std::size_t>(*c), zs[k]);
  }
  if (species.empty()) in.fail("no atoms");
  std::string_view mode = trim(in.next("coordinate mode line"));
  if (!mode.empty() && (mode[0] == 'S' || mode[0] == 's')) mode = trim(in.next("coordinate mode line"));
  if (mode.empty()) in.fail("expected 'Direct' or 'Cartesian'");
  const char m0 = static_cast<char>(std::tolower(static_cast<unsigned char>(mode[0])));
  if (m0 != 'd' && m0 != 'c' && m0 != 'k') in.fail("expected 'Direct' or 'Cartesian', got '" + excerpt(mode) + "'");
  const bool cartesian = m0 == 'c' || m0 == 'k';
  Structure s;
  s.lattice = Lattice(m);
  try {
    s.lattice.validate();
  } catch (const Error& e) {
    throw Error(located(source, 5, e.what()));
  }
  const Mat3 inv = inverse(m);
  for (int z : species) {
    auto v = in.numbers(in.next("atom coordinates"), 3, "atom position");
    Vec3 p{v[0], v[1], v[2]};
    if (cartesian) p = vecmat((scale > 0 ? scale : 1.0) * p, inv);
    s.species.push_back(z);
    s.frac.push_back(p);
  }
  s.wrap();
  return s;
}

std::string write_poscar(const Structure& s, const std::string& comment) {
  std::vector<int> order;
  for (int z : s.species)
    if (std::find(order.begin(), order.end(), z) == order.end()) order.push_back(z);
  std::string out = (comment.empty() ? s.composition().reduced_formula() : comment) + "\n1.0\n";
  char buf[160];
  for (const auto& row : s.lattice.matrix()) {
    std::snprintf(buf, sizeof buf, "  %21.16f %21.16f %21.16f\n", row[0], row[1], row[2]);
    out += buf;
  }
  std::string names, counts;
  for (int z : order) {
    names += " " + element(z).symbol;
    counts += " " + std::to_string(std::count(s.species.begin(), s.species.end(), z));
  }
  out += names + "\n" + counts + "\nDirect\n";
  for (int z : order)
    for (std::size_t i = 0; i < s.size(); ++i)
      if (s.species[i] == z) {
        std::snprintf(buf, sizeof buf, "  %.16f %.16f %.16f %s\n", s.frac[i][0], s.frac[i][1], s.frac[i][2],
                      element(z).symbol.c_str());
        out += buf;
      }
  return out;
}

}  // namespace xtaldiff
