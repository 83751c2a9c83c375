// CIF 1.1 reader: a tokenizer over the text (tokens are string_views into
// it, so nothing is copied), a parser that groups tokens into data blocks of
// items and loops, and the conversion of a block into a Structure (cell,
// symmetry operations, atom sites expanded and merged).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <utility>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chem/element.h"
#include "crystal/symmetry.h"
#include "io/cif.h"
#include "util/error.h"
#include "util/strings.h"

namespace xtaldiff {
namespace {

// ---------------------------------------------------------------- tokens

enum class TokenKind { kEnd, kData, kGlobal, kLoop, kSave, kSaveEnd, kStop, kTag, kValue };

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string_view text;  // tag, block name, or value without its quotes
  long line = 0;
  bool quoted = false;  // quoted or text field: '.' and '?' are then literal text
};

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
bool is_alpha(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool starts_with_ci(std::string_view s, std::string_view lower_prefix) {
  if (s.size() < lower_prefix.size()) return false;
  for (std::size_t i = 0; i < lower_prefix.size(); ++i)
    if (lower(s[i]) != lower_prefix[i]) return false;
  return true;
}

// Splits CIF text into tokens. Line numbers are counted as the scan goes, so
// every token knows its line without any rescanning.
class Tokenizer {
 public:
  Tokenizer(std::string_view text, const std::string& source, long first_line)
      : text_(text), source_(source), line_(first_line) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // UTF-8 byte-order mark
    reject_binary();
  }

  Token next() {
    skip_blanks_and_comments();
    Token t;
    t.line = line_;
    if (pos_ >= text_.size()) return t;
    const char c = text_[pos_];
    if (c == ';' && at_line_start(pos_)) return text_field(t);
    if (c == '\'' || c == '"') return quoted(t, c);
    std::size_t end = pos_;
    while (end < text_.size() && !is_blank(text_[end])) ++end;
    t.text = text_.substr(pos_, end - pos_);
    pos_ = end;
    classify(t);
    return t;
  }

  [[noreturn]] void fail(long line, const std::string& message) const { throw Error(located(source_, line, message)); }

 private:
  // NUL and other control bytes mean this is not a text file; saying so
  // beats a confusing syntax error (or worse, a structure) later on.
  void reject_binary() const {
    for (std::size_t i = pos_; i < text_.size(); ++i) {
      const auto c = static_cast<unsigned char>(text_[i]);
      if (c < 32 && !is_blank(static_cast<char>(c))) {
        long line = line_;
        for (std::size_t k = 0; k < i; ++k) line += text_[k] == '\n';
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", c);
        fail(line, std::string("byte ") + hex + " is not CIF text (binary or corrupted file?)");
      }
    }
  }

  // A line ends at "\n", "\r\n" or a lone "\r" (old Mac files).
  bool newline_at(std::size_t i) const {
    return text_[i] == '\n' || (text_[i] == '\r' && (i + 1 == text_.size() || text_[i + 1] != '\n'));
  }
  bool at_line_start(std::size_t i) const { return i == 0 || text_[i - 1] == '\n' || text_[i - 1] == '\r'; }

  void skip_blanks_and_comments() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (is_blank(c)) {
        if (newline_at(pos_)) ++line_;
        ++pos_;
      } else if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n' && text_[pos_] != '\r') ++pos_;
      } else {
        break;
      }
    }
  }

  // CIF 1.1: a quote closes the value only when whitespace (or the end)
  // follows it, so 'O'Neil' style apostrophes stay inside.
  Token quoted(Token t, char q) {
    const std::size_t begin = pos_ + 1;
    for (std::size_t i = begin; i < text_.size(); ++i) {
      const char c = text_[i];
      if (c == '\n' || c == '\r') break;
      if (c == q && (i + 1 == text_.size() || is_blank(text_[i + 1]))) {
        t.kind = TokenKind::kValue;
        t.text = text_.substr(begin, i - begin);
        t.quoted = true;
        pos_ = i + 1;
        return t;
      }
    }
    std::size_t end = begin;
    while (end < text_.size() && text_[end] != '\n' && text_[end] != '\r') ++end;
    fail(t.line, std::string("unterminated quoted value ") + q + excerpt(text_.substr(begin, end - begin)) +
                     ": no closing " + q + " followed by a space on this line");
  }

  // A text field runs from ';' at the start of a line to the next line that
  // starts with ';'. The value is everything in between.
  Token text_field(Token t) {
    const std::size_t begin = pos_ + 1;
    for (std::size_t i = begin; i < text_.size(); ++i) {
      if (!newline_at(i)) continue;
      ++line_;
      if (i + 1 < text_.size() && text_[i + 1] == ';') {
        std::size_t end = i;
        if (end > begin && text_[end - 1] == '\r') --end;  // "\r\n" ending
        t.kind = TokenKind::kValue;
        t.text = text_.substr(begin, end - begin);
        t.quoted = true;
        pos_ = i + 2;
        return t;
      }
    }
    fail(t.line, "unterminated text field: no line starting with ';' closes the one opened here");
  }

  static void classify(Token& t) {
    const std::string_view w = t.text;
    if (w[0] == '_') {
      t.kind = TokenKind::kTag;
    } else if (starts_with_ci(w, "data_")) {
      t.kind = TokenKind::kData;
      t.text = w.substr(5);
    } else if (w.size() == 5 && starts_with_ci(w, "loop_")) {
      t.kind = TokenKind::kLoop;
    } else if (w.size() == 7 && starts_with_ci(w, "global_")) {
      t.kind = TokenKind::kGlobal;
    } else if (w.size() == 5 && starts_with_ci(w, "stop_")) {
      t.kind = TokenKind::kStop;
    } else if (starts_with_ci(w, "save_")) {
      t.kind = w.size() == 5 ? TokenKind::kSaveEnd : TokenKind::kSave;
    } else {
      t.kind = TokenKind::kValue;
    }
  }

  std::string_view text_;
  const std::string& source_;
  std::size_t pos_ = 0;
  long line_;
};

// ---------------------------------------------------------------- blocks

struct Item {
  std::string_view tag;
  Token value;
};

struct Loop {
  std::vector<std::string_view> tags;
  std::vector<Token> values;  // row-major
  long line = 0;
};

struct Block {
  std::string_view name;
  long line = 0;
  std::vector<Item> items;
  std::vector<Loop> loops;
};

// Tags compare case-insensitively, and DDLm's '.' (`_cell.length_a`) matches
// DDL1's '_' so both dictionary styles read the same.
bool tag_is(std::string_view tag, std::string_view name) {
  if (tag.size() != name.size()) return false;
  for (std::size_t i = 0; i < tag.size(); ++i) {
    const char c = tag[i] == '.' ? '_' : lower(tag[i]);
    if (c != name[i]) return false;
  }
  return true;
}

// The values of one tag, from a loop column or a single item.
struct Column {
  const Token* first = nullptr;
  std::size_t stride = 1;
  std::size_t count = 0;
  const Token& operator[](std::size_t i) const { return first[i * stride]; }
  explicit operator bool() const { return first != nullptr; }
};

Column find_column(const Block& b, std::string_view name) {
  for (const Item& it : b.items)
    if (tag_is(it.tag, name)) return {&it.value, 1, 1};
  for (const Loop& l : b.loops)
    for (std::size_t k = 0; k < l.tags.size(); ++k)
      if (tag_is(l.tags[k], name)) {
        static const Token kNoRows;  // a loop with tags but no values
        const std::size_t rows = l.values.size() / l.tags.size();
        return {rows ? &l.values[k] : &kNoRows, l.tags.size(), rows};
      }
  return {};
}

bool is_missing(const Token& v) {
  return !v.quoted && (v.text == "?" || v.text == ".");
}

// "5.431(2)" -> 5.431: the standard uncertainty in parentheses is dropped.
std::optional<double> parse_cif_number(std::string_view s) {
  if (!s.empty() && s.back() == ')') {
    const std::size_t open = s.rfind('(');
    if (open == std::string_view::npos || open + 2 > s.size() - 1) return std::nullopt;
    for (std::size_t i = open + 1; i + 1 < s.size(); ++i)
      if (!is_digit(s[i])) return std::nullopt;
    s = s.substr(0, open);
  }
  if (s.empty() || is_blank(s.front())) return std::nullopt;
  return parse_double(s);
}

// ---------------------------------------------------------------- symmetry operations

// One component of an operation such as "-x+y+1/3" or "1/2+X": signed terms,
// each a number (with optional "/denominator"), a variable, or number*variable.
bool parse_op_component(std::string_view s, std::array<int, 3>& row, double& shift) {
  row = {0, 0, 0};
  shift = 0;
  std::size_t i = 0;
  auto skip = [&] {
    while (i < s.size() && is_blank(s[i])) ++i;
  };
  bool any = false;
  skip();
  while (i < s.size()) {
    double sign = 1;
    if (s[i] == '+' || s[i] == '-') {
      sign = s[i] == '-' ? -1 : 1;
      ++i;
      skip();
    } else if (any) {
      return false;  // two terms without an operator between them
    }
    std::optional<double> number;
    const std::size_t start = i;
    while (i < s.size() && (is_digit(s[i]) || s[i] == '.')) ++i;
    if (i > start) {
      number = parse_double(s.substr(start, i - start));
      if (!number) return false;
      skip();
      if (i < s.size() && s[i] == '/') {
        ++i;
        skip();
        const std::size_t d0 = i;
        while (i < s.size() && (is_digit(s[i]) || s[i] == '.')) ++i;
        const auto den = parse_double(s.substr(d0, i - d0));
        if (!den || *den == 0) return false;
        *number /= *den;
        skip();
      }
      if (i < s.size() && s[i] == '*') {
        ++i;
        skip();
      }
    }
    int axis = -1;
    if (i < s.size()) {
      const char v = lower(s[i]);
      if (v == 'x' || v == 'y' || v == 'z') {
        axis = v - 'x';
        ++i;
      }
    }
    if (axis >= 0) {
      const double coefficient = sign * number.value_or(1.0);
      const double rounded = std::round(coefficient);
      if (std::fabs(coefficient - rounded) > 1e-9) return false;  // rotations are integer
      // and small: a crystallographic rotation's entries in a lattice basis
      // are -2..2 (fuzz/fuzz_cif found "-1e62*x", an int overflow).
      if (std::fabs(rounded) > 2) return false;
      row[axis] += static_cast<int>(rounded);
    } else if (number) {
      shift += sign * *number;
    } else {
      return false;
    }
    any = true;
    skip();
  }
  return any && std::isfinite(shift);
}

std::optional<SymmetryOp> parse_symop(std::string_view text) {
  SymmetryOp op{};
  int part = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != ',') continue;
    if (part == 3) return std::nullopt;
    if (!parse_op_component(text.substr(start, i - start), op.rotation[part], op.translation[part]))
      return std::nullopt;
    ++part;
    start = i + 1;
  }
  if (part != 3) return std::nullopt;
  const int d = static_cast<int>(std::lround(det(to_double(op.rotation))));
  if (d != 1 && d != -1) return std::nullopt;
  return op;
}

SymmetryOp identity_op() {
  return {{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}, {0, 0, 0}};
}

Vec3 apply(const SymmetryOp& op, const Vec3& x) {
  Vec3 r{};
  for (int i = 0; i < 3; ++i)
    r[i] = op.rotation[i][0] * x[0] + op.rotation[i][1] * x[1] + op.rotation[i][2] * x[2] + op.translation[i];
  return r;
}

// ---------------------------------------------------------------- species

// Element from a type symbol or label: "Fe3+" -> Fe, "O2-" -> O, "Ti0" -> Ti,
// "Os1" -> Os, "Ow1" -> O. The longest properly cased symbol wins; an all-caps
// name ("CA1", "FE") is read as the capitalised symbol.
std::optional<int> element_from_name(std::string_view name) {
  std::size_t n = 0;
  while (n < name.size() && is_alpha(name[n])) ++n;
  if (n == 0) return std::nullopt;
  const char first = static_cast<char>(name[0] >= 'a' && name[0] <= 'z' ? name[0] - 'a' + 'A' : name[0]);
  if (n >= 2) {
    const char second = name[1];
    bool all_upper = true;
    for (std::size_t i = 0; i < n; ++i) all_upper = all_upper && !(name[i] >= 'a' && name[i] <= 'z');
    if (!(second >= 'A' && second <= 'Z') || all_upper) {
      const char two[2] = {first, lower(second)};
      if (auto z = find_element(std::string_view(two, 2))) return z;
    }
  }
  return find_element(std::string_view(&first, 1));
}

// ---------------------------------------------------------------- sites

// Periodic distance between fractional points in [0,1): per axis the shorter
// way round.
double periodic_frac_distance(const Vec3& a, const Vec3& b) {
  double s = 0;
  for (int k = 0; k < 3; ++k) {
    double d = std::fabs(a[k] - b[k]);
    d = std::min(d, 1.0 - d);
    s += d * d;
  }
  return std::sqrt(s);
}

// A uniform grid over the unit cube so that merging expanded sites is linear,
// not quadratic, in their number. Bins are at least `tol` wide, so a match
// lies in the same or a neighbouring bin (periodically).
class SiteGrid {
 public:
  SiteGrid(std::size_t expected, double tol) {
    double k = std::min(64.0, std::floor(std::cbrt(static_cast<double>(expected) / 4.0)));
    if (tol > 0) k = std::min(k, std::floor(1.0 / tol));
    k_ = std::max(1, static_cast<int>(k));
    bins_.resize(static_cast<std::size_t>(k_) * k_ * k_);
  }
  void add(const Vec3& p, std::uint32_t index) { bins_[bin(p)].push_back(index); }
  // First stored index whose point is within tol of p, or -1.
  template <class Points>
  long find(const Vec3& p, const Points& points, double tol) const {
    int c[3];
    for (int a = 0; a < 3; ++a) c[a] = cell(p[a]);
    const int lo = k_ >= 3 ? -1 : 0, hi = k_ >= 3 ? 1 : k_ - 1;  // small grids: visit every bin once
    for (int dx = lo; dx <= hi; ++dx)
      for (int dy = lo; dy <= hi; ++dy)
        for (int dz = lo; dz <= hi; ++dz) {
          const int ix = k_ >= 3 ? (c[0] + dx + k_) % k_ : dx;
          const int iy = k_ >= 3 ? (c[1] + dy + k_) % k_ : dy;
          const int iz = k_ >= 3 ? (c[2] + dz + k_) % k_ : dz;
          for (std::uint32_t j : bins_[(static_cast<std::size_t>(ix) * k_ + iy) * k_ + iz])
            if (periodic_frac_distance(p, points[j]) < tol) return j;
        }
    return -1;
  }

 private:
  int cell(double x) const { return std::min(k_ - 1, std::max(0, static_cast<int>(x * k_))); }
  std::size_t bin(const Vec3& p) const {
    return (static_cast<std::size_t>(cell(p[0])) * k_ + cell(p[1])) * k_ + cell(p[2]);
  }
  int k_ = 1;
  std::vector<std::vector<std::uint32_t>> bins_;
};

struct AtomSite {
  int z = 0;
  double occupancy = 1;
  Vec3 frac{};
  std::string_view label;
  long line = 0;
};

// pymatgen's CifParser returns `get_sorted_structure()`: sites in a stable
// order of increasing electronegativity (Site.__lt__: pymatgen's X, then the
// symbol), so file order survives only within an element. The order is not
// cosmetic: StructureMatcher anchors its translations on the first site of
// the least frequent species, so a prediction read in another order can get
// another rms, or no match, near the tolerance (tests/fixtures/
// matcher_real_outputs.jsonl.gz). Elements without an X (He, Ne, Ar) sort
// last here; Python compares NaN inconsistently.
Structure sorted_as_pymatgen(Structure s) {
  // One key per site, computed once (parsing a dataset sorts every record).
  std::vector<std::pair<double, const std::string*>> key(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const Element& e = element(s.species[i]);
    key[i] = {e.x.value_or(std::numeric_limits<double>::infinity()), &e.symbol};
  }
  auto less = [&](std::size_t a, std::size_t b) {
    return key[a].first != key[b].first ? key[a].first < key[b].first : *key[a].second < *key[b].second;
  };
  std::vector<std::size_t> order(s.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (std::is_sorted(order.begin(), order.end(), less)) return s;  // pymatgen-written CIFs already are
  std::stable_sort(order.begin(), order.end(), less);
  Structure out;
  out.lattice = s.lattice;
  for (std::size_t i : order) {
    out.species.push_back(s.species[i]);
    out.frac.push_back(s.frac[i]);
  }
  return out;
}

// ---------------------------------------------------------------- block -> structure

class BlockReader {
 public:
  BlockReader(const Block& b, const std::string& source, const CifOptions& options)
      : b_(b), source_(source), options_(options) {}

  // nullopt when the block holds no crystal (no atom sites).
  std::optional<Structure> read() {
    const Column fx = find_column(b_, "_atom_site_fract_x");
    if (!fx) {
      if (find_column(b_, "_atom_site_cartn_x"))
        fail(b_.line, "only Cartesian atom coordinates (_atom_site_Cartn_x): fractional ones are needed");
      return std::nullopt;
    }
    const Lattice lattice = read_cell();
    const std::vector<SymmetryOp> ops = read_symops();
    const std::vector<AtomSite> sites = read_sites(fx);
    Structure s = sorted_as_pymatgen(expand(lattice, ops, sites));
    try {
      s.validate();
    } catch (const Error& e) {
      fail(b_.line, block_name() + ": " + e.what());
    }
    return s;
  }

 private:
  [[noreturn]] void fail(long line, const std::string& message) const { throw Error(located(source_, line, message)); }
  std::string block_name() const { return "data block '" + excerpt(b_.name) + "'"; }

  double number(const Token& v, std::string_view tag) const {
    if (is_missing(v)) fail(v.line, std::string(tag) + " has no value ('" + std::string(v.text) + "')");
    const auto x = parse_cif_number(v.text);
    if (!x) fail(v.line, std::string(tag) + " = '" + excerpt(v.text) + "' is not a number");
    if (!std::isfinite(*x)) fail(v.line, std::string(tag) + " = " + excerpt(v.text) + " is not a finite number");
    return *x;
  }

  Lattice read_cell() const {
    static constexpr std::string_view kTags[6] = {"_cell_length_a",    "_cell_length_b",   "_cell_length_c",
                                                  "_cell_angle_alpha", "_cell_angle_beta", "_cell_angle_gamma"};
    double p[6];
    long line = b_.line;
    for (int k = 0; k < 6; ++k) {
      const Column c = find_column(b_, kTags[k]);
      if (!c || c.count == 0) fail(b_.line, block_name() + " has atom sites but no " + std::string(kTags[k]));
      const Token& v = c[0];
      p[k] = number(v, kTags[k]);
      if (k < 3 && p[k] <= 0)
        fail(v.line, std::string(kTags[k]) + " = " + excerpt(v.text) + ": not a valid cell length");
      if (k >= 3 && (p[k] <= 0 || p[k] >= 180))
        fail(v.line, std::string(kTags[k]) + " = " + excerpt(v.text) + ": not a valid cell angle");
      if (k == 0) line = v.line;
    }
    // Three valid angles can still fail to close a cell (e.g. 120, 120, 120);
    // the volume factor says so before any matrix is built.
    constexpr double kDegree = 3.14159265358979323846 / 180;
    const double ca = std::cos(p[3] * kDegree), cb = std::cos(p[4] * kDegree), cg = std::cos(p[5] * kDegree);
    const double factor = 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg;
    if (!(factor > 1e-12)) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "cell angles %g, %g, %g do not form a cell (zero or negative volume)", p[3], p[4],
                    p[5]);
      fail(line, block_name() + ": " + buf);
    }
    Lattice lattice = Lattice::from_parameters(p[0], p[1], p[2], p[3], p[4], p[5]);
    try {
      lattice.validate();
    } catch (const Error& e) {
      fail(line, block_name() + ": " + e.what());
    }
    return lattice;
  }

  std::vector<SymmetryOp> read_symops() const {
    Column c = find_column(b_, "_space_group_symop_operation_xyz");
    if (!c) c = find_column(b_, "_symmetry_equiv_pos_as_xyz");
    std::vector<SymmetryOp> ops;
    for (std::size_t i = 0; c && i < c.count; ++i) {
      const Token& v = c[i];
      if (is_missing(v)) continue;
      auto op = parse_symop(v.text);
      if (!op) fail(v.line, "bad symmetry operation '" + excerpt(v.text) + "' (expected a form like '-x+1/2, y, z')");
      ops.push_back(*op);
    }
    if (ops.empty()) ops.push_back(identity_op());
    return ops;
  }

  std::vector<AtomSite> read_sites(const Column& fx) const {
    const Column fy = find_column(b_, "_atom_site_fract_y");
    const Column fz = find_column(b_, "_atom_site_fract_z");
    const Column type = find_column(b_, "_atom_site_type_symbol");
    const Column label = find_column(b_, "_atom_site_label");
    const Column occupancy = find_column(b_, "_atom_site_occupancy");
    if (!fy || !fz)
      fail(fx.count ? fx[0].line : b_.line,
           block_name() + " has _atom_site_fract_x but no _atom_site_fract_" + (fy ? "z" : "y"));
    for (const Column* c : {&fy, &fz, &type, &label, &occupancy})
      if (*c && c->count != fx.count)
        fail(fx.count ? fx[0].line : b_.line, block_name() + ": atom-site columns have different lengths");

    std::vector<AtomSite> sites(fx.count);
    for (std::size_t i = 0; i < fx.count; ++i) {
      AtomSite& a = sites[i];
      a.line = fx[i].line;
      a.label = label && !is_missing(label[i]) ? label[i].text : std::string_view();
      a.z = species_of(type ? &type[i] : nullptr, label ? &label[i] : nullptr, a.line);
      a.frac = {number(fx[i], "_atom_site_fract_x"), number(fy[i], "_atom_site_fract_y"),
                number(fz[i], "_atom_site_fract_z")};
      for (double& x : a.frac) x = snap_thirds(x);
      if (occupancy && !is_missing(occupancy[i])) a.occupancy = number(occupancy[i], "_atom_site_occupancy");
      check_occupancy(a);
    }
    return sites;
  }

  // pymatgen's CifParser snaps coordinates within 1e-4 (relative) of 1/3 and
  // 2/3, which CIFs often print with 4 decimals; doing the same keeps the
  // parsed structures identical to the reference pipeline's.
  static double snap_thirds(double x) {
    for (double third : {1.0 / 3.0, 2.0 / 3.0})
      if (std::fabs(1 - x / third) < 1e-4) return third;
    return x;
  }

  int species_of(const Token* type, const Token* label, long line) const {
    const Token* name = type && !is_missing(*type) ? type : (label && !is_missing(*label) ? label : nullptr);
    if (!name) fail(line, "atom site without _atom_site_type_symbol or _atom_site_label: its element is unknown");
    const auto z = element_from_name(name->text);
    if (!z)
      fail(name->line, std::string("unknown element in ") +
                           (name == type ? "_atom_site_type_symbol" : "_atom_site_label") + " '" + excerpt(name->text) +
                           "'");
    return *z;
  }

  std::string site_name(const AtomSite& a) const {
    return a.label.empty() ? std::string(element(a.z).symbol) : excerpt(a.label);
  }

  void check_occupancy(const AtomSite& a) const {
    char occ[32];
    std::snprintf(occ, sizeof occ, "%g", a.occupancy);
    if (a.occupancy > 1.01) fail(a.line, std::string("occupancy ") + occ + " at site " + site_name(a) + " is above 1");
    if (a.occupancy < 1 - 1e-6 && !options_.allow_partial_occupancy)
      fail(a.line, std::string("partial occupancy ") + occ + " at site " + site_name(a) +
                       ": disordered structures are not supported; pass --allow-partial-occupancy");
  }

  // Every site under every operation, wrapped into [0,1); images closer than
  // the merge tolerance are one atom. Two different elements on one spot are
  // an error unless partial occupancy was allowed, where the larger
  // occupancy keeps the site.
  Structure expand(const Lattice& lattice, const std::vector<SymmetryOp>& ops,
                   const std::vector<AtomSite>& sites) const {
    const double tol = options_.merge_tolerance;
    std::vector<Vec3> frac;
    std::vector<int> species;
    std::vector<std::uint32_t> origin;  // index into `sites` of each kept atom
    SiteGrid grid(sites.size() * ops.size(), tol);
    for (std::uint32_t i = 0; i < sites.size(); ++i) {
      const AtomSite& a = sites[i];
      const std::size_t first_image = frac.size();
      for (const SymmetryOp& op : ops) {
        Vec3 p = apply(op, a.frac);
        for (double& x : p) x = wrap01(x);
        long j = -1;
        if (options_.merge_distinct_sites) {
          j = grid.find(p, frac, tol);
        } else {
          for (std::size_t k = first_image; k < frac.size() && j < 0; ++k)
            if (periodic_frac_distance(p, frac[k]) < tol) j = static_cast<long>(k);
        }
        if (j < 0) {
          grid.add(p, static_cast<std::uint32_t>(frac.size()));
          frac.push_back(p);
          species.push_back(a.z);
          origin.push_back(i);
          continue;
        }
        if (species[j] == a.z) continue;  // an image of an atom already there
        const AtomSite& other = sites[origin[j]];
        const bool partial = a.occupancy < 1 - 1e-6 || other.occupancy < 1 - 1e-6;
        if (!(options_.allow_partial_occupancy && partial)) {
          char where[96];
          std::snprintf(where, sizeof where, " at fractional (%.4f, %.4f, %.4f)", p[0], p[1], p[2]);
          fail(a.line, "overlapping sites " + site_name(a) + " and " + site_name(other) + " (line " +
                           std::to_string(other.line) + ")" + where);
        }
        if (a.occupancy > other.occupancy) {
          species[j] = a.z;
          origin[j] = i;
        }
      }
    }
    return Structure(lattice, std::move(species), std::move(frac));
  }

  const Block& b_;
  const std::string& source_;
  const CifOptions& options_;
};

// ---------------------------------------------------------------- parser

class Parser {
 public:
  Parser(std::string_view text, const std::string& source, const CifOptions& options, long first_line)
      : tok_(text, source, first_line), source_(source), options_(options) {}

  std::vector<NamedStructure> run() {
    std::vector<NamedStructure> out;
    Token t = tok_.next();
    if (t.kind == TokenKind::kEnd) tok_.fail(0, "empty file: no CIF data");
    bool in_block = false;
    while (t.kind != TokenKind::kEnd) {
      switch (t.kind) {
        case TokenKind::kData:
        case TokenKind::kGlobal:
          if (in_block) finish(out);
          start_block(t);
          in_block = true;
          t = tok_.next();
          break;
        case TokenKind::kSave:
          t = skip_save_frame(t);
          break;
        case TokenKind::kSaveEnd:
        case TokenKind::kStop:
          t = tok_.next();
          break;
        case TokenKind::kLoop:
          if (!in_block) tok_.fail(t.line, "loop_ before the first data_ block");
          t = read_loop(t);
          break;
        case TokenKind::kTag: {
          if (!in_block) tok_.fail(t.line, "tag " + excerpt(t.text) + " before the first data_ block");
          Token v = tok_.next();
          if (v.kind != TokenKind::kValue) tok_.fail(t.line, "tag " + excerpt(t.text) + " has no value");
          block_.items.push_back({t.text, v});
          t = tok_.next();
          break;
        }
        case TokenKind::kValue:
          tok_.fail(t.line, "value '" + excerpt(t.text) + "' without a tag");
        case TokenKind::kEnd:
          break;
      }
    }
    if (in_block) finish(out);
    if (out.empty()) {
      if (!cell_only_block_.empty())
        tok_.fail(cell_only_line_,
                  "data block '" + cell_only_block_ +
                      "' has a cell but no atom sites (_atom_site_fract_x/y/z): no crystal in this file");
      tok_.fail(0, "no data block with a crystal (cell and _atom_site_fract_x/y/z) in this file");
    }
    return out;
  }

 private:
  void start_block(const Token& t) {
    block_.name = t.kind == TokenKind::kGlobal ? std::string_view("global_") : t.text;
    block_.line = t.line;
    block_.items.clear();
    block_.loops.clear();
  }

  void finish(std::vector<NamedStructure>& out) {
    if (auto s = BlockReader(block_, source_, options_).read()) {
      out.push_back({std::string(block_.name), std::move(*s)});
    } else if (cell_only_block_.empty() && find_column(block_, "_cell_length_a")) {
      cell_only_block_ = excerpt(block_.name);
      cell_only_line_ = block_.line;
    }
  }

  Token read_loop(const Token& loop_token) {
    Loop loop;
    loop.line = loop_token.line;
    Token t = tok_.next();
    while (t.kind == TokenKind::kTag) {
      loop.tags.push_back(t.text);
      t = tok_.next();
    }
    if (loop.tags.empty()) tok_.fail(loop.line, "loop_ without tags");
    while (t.kind == TokenKind::kValue) {
      loop.values.push_back(t);
      t = tok_.next();
    }
    if (loop.values.size() % loop.tags.size() != 0)
      tok_.fail(loop.line, "loop_ has " + std::to_string(loop.values.size()) + " values for " +
                               std::to_string(loop.tags.size()) + " tags (not a whole number of rows)");
    block_.loops.push_back(std::move(loop));
    return t;
  }

  // Save frames belong to dictionaries, not crystals: skipped whole.
  Token skip_save_frame(const Token& open) {
    Token t = tok_.next();
    while (t.kind != TokenKind::kSaveEnd) {
      if (t.kind == TokenKind::kEnd)
        tok_.fail(open.line, "save frame save_" + excerpt(open.text.substr(5)) + " is not closed");
      t = tok_.next();
    }
    return tok_.next();
  }

  Tokenizer tok_;
  const std::string& source_;
  const CifOptions& options_;
  Block block_;
  std::string cell_only_block_;
  long cell_only_line_ = 0;
};

}  // namespace

std::vector<NamedStructure> read_cif(std::string_view text, const std::string& source, const CifOptions& options,
                                     long first_line) {
  return Parser(text, source, options, first_line).run();
}

Structure read_cif_single(std::string_view text, const std::string& source, const CifOptions& options,
                          long first_line) {
  std::vector<NamedStructure> all = read_cif(text, source, options, first_line);
  return std::move(all.front().structure);
}

}  // namespace xtaldiff
