/// @file
/// Text helpers shared by the readers: splitting, trimming, strict number
/// parsing (a number is the whole token or an error, never a silent 0).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xtaldiff {

std::string_view trim(std::string_view s);
/// Splits on runs of whitespace.
std::vector<std::string_view> split_ws(std::string_view s);
/// Splits on a single character (empty fields kept).
std::vector<std::string_view> split_char(std::string_view s, char c);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);
std::string to_lower(std::string_view s);
/// Parses the whole token as a double (finite or not); nullopt otherwise.
std::optional<double> parse_double(std::string_view s);
/// Parses the whole token as an integer; nullopt otherwise.
std::optional<long> parse_long(std::string_view s);
/// True when the bytes contain NUL or other control characters that no text
/// format allows (binary garbage).
bool looks_binary(std::string_view s);
/// Shortens a string for an error message ("abc…" + length).
std::string excerpt(std::string_view s, std::size_t max_chars = 40);

}  // namespace xtaldiff
