/// @file
/// The files report.html inlines, compiled into the library (assembler
/// `.incbin` of the files themselves, so the build embeds 0.75 MB of
/// minified JavaScript without a generated source): the vendored 3Dmol.js
/// and Chart.js (third_party/js, fetched from npm by tools/vendor_js.sh)
/// and the page's own script and style (src/report/assets).
#pragma once

#include <string_view>

namespace xtaldiff {

enum class ReportAsset { k3Dmol, kChartJs, kReportJs, kReportCss };

std::string_view report_asset(ReportAsset asset);

}  // namespace xtaldiff
