#include "report/report_assets.h"

// XTALDIFF_SOURCE_DIR (CMakeLists.txt) is where the files are; CMake also
// lists them as this object's dependencies, so an edit rebuilds it.
#define XTALDIFF_INCBIN(symbol, file)                                             \
  asm(".section .rodata\n"                                                        \
      ".global " #symbol "\n"                                                     \
      ".balign 16\n" #symbol ":\n"                                                \
      ".incbin \"" XTALDIFF_SOURCE_DIR "/" file "\"\n"                            \
      ".global " #symbol "_end\n" #symbol "_end:\n"                               \
      ".byte 0\n"                                                                 \
      ".previous\n");                                                             \
  extern "C" const char symbol[];                                                 \
  extern "C" const char symbol##_end[];

XTALDIFF_INCBIN(xtaldiff_asset_3dmol, "third_party/js/3Dmol-min.js")
XTALDIFF_INCBIN(xtaldiff_asset_chartjs, "third_party/js/chart.umd.min.js")
XTALDIFF_INCBIN(xtaldiff_asset_report_js, "src/report/assets/report.js")
XTALDIFF_INCBIN(xtaldiff_asset_report_css, "src/report/assets/report.css")

namespace xtaldiff {

std::string_view report_asset(ReportAsset asset) {
  switch (asset) {
    case ReportAsset::k3Dmol: return {xtaldiff_asset_3dmol, static_cast<std::size_t>(xtaldiff_asset_3dmol_end - xtaldiff_asset_3dmol)};
    case ReportAsset::kChartJs: return {xtaldiff_asset_chartjs, static_cast<std::size_t>(xtaldiff_asset_chartjs_end - xtaldiff_asset_chartjs)};
    case ReportAsset::kReportJs: return {xtaldiff_asset_report_js, static_cast<std::size_t>(xtaldiff_asset_report_js_end - xtaldiff_asset_report_js)};
    case ReportAsset::kReportCss: return {xtaldiff_asset_report_css, static_cast<std::size_t>(xtaldiff_asset_report_css_end - xtaldiff_asset_report_css)};
  }
  return {};
}

}  // namespace xtaldiff
