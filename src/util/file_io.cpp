#include "util/file_io.h"

#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "util/error.h"

namespace xtaldiff {
namespace {

std::string inflate_gzip(const std::string& path, const std::string& raw, std::size_t max_bytes) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) throw Error(path + ": zlib initialisation failed", ErrorKind::kInternal);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  std::string out;
  out.resize(std::max<std::size_t>(raw.size() * 4, 1 << 16));
  std::size_t produced = 0;
  int rc = Z_OK;
  for (;;) {
    if (produced == out.size()) {
      if (out.size() >= max_bytes) {
        inflateEnd(&zs);
        throw Error(path + ": decompressed size exceeds " + std::to_string(max_bytes >> 20) + " MiB", ErrorKind::kInput);
      }
      out.resize(std::min(out.size() * 2, max_bytes));
    }
    zs.next_out = reinterpret_cast<Bytef*>(&out[produced]);
    zs.avail_out = static_cast<uInt>(std::min<std::size_t>(out.size() - produced, 1u << 30));
    const uInt before = zs.avail_out;
    rc = inflate(&zs, Z_NO_FLUSH);
    produced += before - zs.avail_out;
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members (as `cat a.gz b.gz`) are valid gzip.
      if (zs.avail_in > 0) {
        inflateReset(&zs);
        continue;
      }
      break;
    }
    if (rc != Z_OK) {
      const std::string msg = zs.msg ? zs.msg : "corrupt data";
      inflateEnd(&zs);
      throw Error(path + ": gzip stream is corrupt or truncated (" + msg + ")", ErrorKind::kInput);
    }
    if (zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      throw Error(path + ": gzip stream is truncated", ErrorKind::kInput);
    }
  }
  inflateEnd(&zs);
  out.resize(produced);
  return out;
}

std::string deflate_gzip(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw Error("zlib initialisation failed", ErrorKind::kInternal);
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw Error("gzip compression failed", ErrorKind::kInternal);
  out.resize(zs.total_out);
  return out;
}

}  // namespace

std::string read_file(const std::string& path, std::size_t max_bytes) {
  if (is_directory(path)) throw Error(path + ": is a directory, not a file", ErrorKind::kIo);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open (" + std::strerror(errno) + ")", ErrorKind::kIo);
  in.seekg(0, std::ios::end);
  const auto size = in.tellg();
  if (size < 0) throw Error(path + ": cannot determine file size", ErrorKind::kIo);
  if (static_cast<std::size_t>(size) > max_bytes)
    throw Error(path + ": file is larger than " + std::to_string(max_bytes >> 20) + " MiB", ErrorKind::kInput);
  in.seekg(0);
  std::string raw(static_cast<std::size_t>(size), '\0');
  in.read(raw.data(), size);
  if (!in) throw Error(path + ": read error", ErrorKind::kIo);
  if (raw.size() >= 2 && static_cast<unsigned char>(raw[0]) == 0x1f && static_cast<unsigned char>(raw[1]) == 0x8b)
    return inflate_gzip(path, raw, max_bytes);
  return raw;
}

void write_file_atomic(const std::string& path, std::string_view data, bool gzip) {
  const std::string payload = gzip ? deflate_gzip(data) : std::string();
  const std::string_view bytes = gzip ? std::string_view(payload) : data;
  std::random_device rd;
  const std::string tmp = path + ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 100000);
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw Error(path + ": cannot write (" + std::strerror(errno) + ")", ErrorKind::kIo);
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    const bool flushed = std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
    const bool closed = std::fclose(f) == 0;
    if (!ok || !flushed || !closed) {
      std::remove(tmp.c_str());
      throw Error(path + ": write failed (disk full?)", ErrorKind::kIo);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error(path + ": cannot rename temporary file into place (" + why + ")", ErrorKind::kIo);
  }
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

void make_directories(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw Error(path + ": cannot create directory (" + ec.message() + ")", ErrorKind::kIo);
}

}  // namespace xtaldiff
