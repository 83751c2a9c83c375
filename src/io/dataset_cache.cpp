// Binary cache of a parsed dataset. Layout (little-endian, native doubles):
//   "XTDCACHE" | u32 version | u64 payload bytes | u64 FNV-1a of payload | payload
// payload: string source, u32 ncolumns, strings, u64 nrecords, then per
// record: string id, 9 doubles lattice, u32 nsites, nsites × (i32 Z, 3 doubles),
// ncolumns strings. Strings are u32 length + bytes. Any mismatch → cache ignored.
#include <cstring>

#include "io/dataset.h"
#include "util/error.h"
#include "util/file_io.h"

namespace xtaldiff {
namespace {

constexpr char kMagic[8] = {'X', 'T', 'D', 'C', 'A', 'C', 'H', 'E'};
// 2: CIF sites in pymatgen's order (electronegativity), see cif_reader.cpp.
constexpr std::uint32_t kCacheVersion = 2;

std::uint64_t fnv1a(std::string_view bytes) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

class Writer {
 public:
  template <class T>
  void pod(const T& v) {
    buf_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void str(const std::string& s) {
    pod(static_cast<std::uint32_t>(s.size()));
    buf_ += s;
  }
  std::string& bytes() { return buf_; }

 private:
  std::string buf_;
};

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  template <class T>
  bool pod(T& v) {
    if (pos_ + sizeof(T) > b_.size()) return false;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool str(std::string& s) {
    std::uint32_t n = 0;
    if (!pod(n) || pos_ + n > b_.size()) return false;
    s.assign(b_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == b_.size(); }

 private:
  std::string_view b_;
  std::size_t pos_ = 0;
};

}  // namespace

void write_dataset_cache(const Dataset& data, const std::string& path) {
  Writer w;
  w.str(data.source);
  w.pod(static_cast<std::uint32_t>(data.columns.size()));
  for (const auto& c : data.columns) w.str(c);
  w.pod(static_cast<std::uint64_t>(data.records.size()));
  for (const auto& r : data.records) {
    w.str(r.id);
    for (const auto& row : r.structure.lattice.matrix())
      for (double x : row) w.pod(x);
    w.pod(static_cast<std::uint32_t>(r.structure.size()));
    for (std::size_t i = 0; i < r.structure.size(); ++i) {
      w.pod(static_cast<std::int32_t>(r.structure.species[i]));
      for (double x : r.structure.frac[i]) w.pod(x);
    }
    for (const auto& v : r.values) w.str(v);
  }
  std::string out(kMagic, sizeof kMagic);
  Writer head;
  head.pod(kCacheVersion);
  head.pod(static_cast<std::uint64_t>(w.bytes().size()));
  head.pod(fnv1a(w.bytes()));
  out += head.bytes();
  out += w.bytes();
  write_file_atomic(path, out);
}

std::optional<Dataset> read_dataset_cache(const std::string& path) {
  std::string raw;
  try {
    raw = read_file(path);
  } catch (const Error&) {
    return std::nullopt;
  }
  const std::size_t head = sizeof kMagic + 4 + 8 + 8;
  if (raw.size() < head || std::memcmp(raw.data(), kMagic, sizeof kMagic) != 0) return std::nullopt;
  Reader h(std::string_view(raw).substr(sizeof kMagic, 20));
  std::uint32_t version = 0;
  std::uint64_t size = 0, sum = 0;
  h.pod(version);
  h.pod(size);
  h.pod(sum);
  const std::string_view payload = std::string_view(raw).substr(head);
  if (version != kCacheVersion || size != payload.size() || fnv1a(payload) != sum) return std::nullopt;
  Reader r(payload);
  Dataset d;
  std::uint32_t ncol = 0;
  std::uint64_t nrec = 0;
  if (!r.str(d.source) || !r.pod(ncol)) return std::nullopt;
  d.columns.resize(ncol);
  for (auto& c : d.columns)
    if (!r.str(c)) return std::nullopt;
  if (!r.pod(nrec) || nrec > payload.size()) return std::nullopt;
  d.records.resize(nrec);
  for (auto& rec : d.records) {
    Mat3 m{};
    std::uint32_t n = 0;
    if (!r.str(rec.id)) return std::nullopt;
    for (auto& row : m)
      for (double& x : row)
        if (!r.pod(x)) return std::nullopt;
    rec.structure.lattice = Lattice(m);
    if (!r.pod(n) || n > payload.size()) return std::nullopt;
    rec.structure.species.resize(n);
    rec.structure.frac.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      std::int32_t z = 0;
      if (!r.pod(z)) return std::nullopt;
      rec.structure.species[i] = z;
      for (double& x : rec.structure.frac[i])
        if (!r.pod(x)) return std::nullopt;
    }
    rec.values.resize(ncol);
    for (auto& v : rec.values)
      if (!r.str(v)) return std::nullopt;
  }
  if (!r.done()) return std::nullopt;
  return d;
}

}  // namespace xtaldiff
