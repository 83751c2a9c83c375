#include "chem/formula_tokens.h"

#include <cmath>

#include "util/error.h"

namespace xtaldiff {

FormulaVocabulary::FormulaVocabulary(int max_elements, int max_count)
    : max_elements_(max_elements), max_count_(max_count) {
  if (max_elements < 1 || max_count < 1)
    throw Error("formula vocabulary: max_elements and max_count must be positive", ErrorKind::kUsage);
}

std::vector<int> FormulaVocabulary::encode(const Composition& composition) const {
  const std::string name = composition.empty() ? std::string("(empty)") : composition.formula();
  if (composition.empty()) throw Error("an empty composition has no formula tokens", ErrorKind::kUsage);
  if (!composition.is_integer())
    throw Error(name + ": non-integer amounts cannot be written as formula tokens", ErrorKind::kUsage);
  if (composition.num_elements() > max_elements_)
    throw Error(name + ": " + std::to_string(composition.num_elements()) + " elements, more than the " +
                    std::to_string(max_elements_) + " this vocabulary holds",
                ErrorKind::kUsage);
  std::vector<int> tokens(length(), kPad);
  std::size_t at = 0;
  for (const auto& [z, amount] : composition.amounts()) {  // std::map: ascending Z
    const int count = static_cast<int>(std::lround(amount));
    if (z > kMaxZ) throw Error(name + ": element Z = " + std::to_string(z) + " is outside the vocabulary", ErrorKind::kUsage);
    if (count > max_count_)
      throw Error(name + ": " + element(z).symbol + " occurs " + std::to_string(count) + " times, more than the " +
                      std::to_string(max_count_) + " this vocabulary holds",
                  ErrorKind::kUsage);
    tokens[at++] = element_token(z);
    tokens[at++] = count_token(count);
  }
  return tokens;
}

std::optional<Composition> FormulaVocabulary::decode(const std::vector<int>& tokens) const {
  if (static_cast<int>(tokens.size()) != length()) return std::nullopt;
  std::map<int, double> amounts;
  for (int i = 0; i < max_elements_; ++i) {
    const int e = tokens[2 * i], c = tokens[2 * i + 1];
    if (e == kPad && c == kPad) continue;
    if (!is_element(e) || !is_count(c) || amounts.count(e)) return std::nullopt;
    amounts[e] = count_of(c);
  }
  if (amounts.empty()) return std::nullopt;
  return Composition(amounts);
}

std::string FormulaVocabulary::token_text(int token) const {
  if (token == kPad) return "PAD";
  if (is_element(token)) return element(token).symbol;
  if (is_count(token)) return std::to_string(count_of(token));
  return "?" + std::to_string(token);
}

}  // namespace xtaldiff
