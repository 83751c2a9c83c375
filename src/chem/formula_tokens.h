/// @file
/// Chemical formulas as token sequences, for the composition language model
/// (model/composition_model.h; issue 20). A cell composition becomes its
/// elements in order of atomic number, each followed by its count:
///
///   Li6 P2 S8 Cl  →  [Li] [6] [P] [2] [S] [8] [Cl] [1] [PAD] [PAD] ...
///
/// padded to 2 × max_elements tokens. Token 0 is PAD, 1..kMaxZ the elements
/// by Z, kMaxZ + c the count c (1..max_count). The order is canonical (one
/// sequence per composition), so a chemical system fixes the element tokens
/// exactly and a sampler can inpaint them. A sequence decodes to the
/// formula its pairs name when every pair is (element, count) or (PAD, PAD)
/// and no element occurs twice; the order of the pairs and PAD pairs between
/// them do not matter (a model trained on the canonical order may still
/// write Li2 O1 as O1 Li2, which names the same formula).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "chem/composition.h"
#include "chem/element.h"

namespace xtaldiff {

class FormulaVocabulary {
 public:
  static constexpr int kPad = 0;

  FormulaVocabulary() = default;
  /// Sequences of at most `max_elements` elements, each at most `max_count` times.
  FormulaVocabulary(int max_elements, int max_count);

  int max_elements() const { return max_elements_; }
  int max_count() const { return max_count_; }
  /// Number of tokens (PAD, elements, counts).
  int size() const { return 1 + kMaxZ + max_count_; }
  /// Tokens per sequence.
  int length() const { return 2 * max_elements_; }

  static int element_token(int z) { return z; }
  int count_token(int count) const { return kMaxZ + count; }
  static bool is_element(int token) { return token >= 1 && token <= kMaxZ; }
  bool is_count(int token) const { return token > kMaxZ && token <= kMaxZ + max_count_; }
  int count_of(int token) const { return token - kMaxZ; }

  /// The sequence of a cell composition. Throws a usage Error naming the
  /// formula when it has non-integer amounts, more elements than
  /// max_elements or an element more often than max_count.
  std::vector<int> encode(const Composition& composition) const;
  /// The composition a sequence names (see the file comment); nullopt when
  /// a pair is cut in half, an element occurs twice or there is no element.
  std::optional<Composition> decode(const std::vector<int>& tokens) const;
  /// "Li", "6", "PAD": one token as text (for messages and tests).
  std::string token_text(int token) const;

 private:
  int max_elements_ = 8, max_count_ = 20;
};

}  // namespace xtaldiff
