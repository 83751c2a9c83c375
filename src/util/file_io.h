/// @file
/// Whole-file reading (gzip detected by its magic bytes, not the name) and
/// atomic writing: output goes to a temporary file in the same folder and is
/// renamed into place, so a failure never leaves a half-written file.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace xtaldiff {

/// Reads a file into memory, inflating gzip. Throws Error (kIo) when the file
/// cannot be read, and kInput for a corrupt gzip stream. `max_bytes` guards
/// against decompression bombs.
std::string read_file(const std::string& path, std::size_t max_bytes = std::size_t(8) << 30);
/// Writes `data` atomically; gzip-compressed when `gzip` is true.
void write_file_atomic(const std::string& path, std::string_view data, bool gzip = false);
/// True when the path names an existing directory.
bool is_directory(const std::string& path);
/// Creates a directory (and parents); throws Error (kIo) on failure.
void make_directories(const std::string& path);

}  // namespace xtaldiff
