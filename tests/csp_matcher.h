// StructureMatcher at the CSP benchmark's settings (stol 0.5, ltol 0.3, 10°),
// shared by the tests that sample crystals back after an overfit.
#pragma once

#include "eval/structure_matcher.h"

namespace xtaldiff_test {

inline xtaldiff::StructureMatcher csp_matcher() {
  xtaldiff::MatcherOptions mo;
  mo.stol = 0.5;
  mo.ltol = 0.3;
  mo.angle_tol = 10;
  return xtaldiff::StructureMatcher(mo);
}

}  // namespace xtaldiff_test
