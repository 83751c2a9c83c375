/// @file
/// `report.html`: one self-contained page (inline scripts and styles, no
/// network) showing a set of structures the way a materials scientist looks
/// at them: the run, validity, a 3D viewer of any structure (beside its
/// ground truth for CSP runs), distributions against a reference set, and a
/// searchable, sortable, paginated table linking each CIF. Written by
/// `sample`, `validate --report` and `report`. The data come from
/// report/report_data.h; the page's script and the vendored libraries
/// (3Dmol.js, Chart.js) from report/report_assets.h.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "report/report_data.h"

namespace xtaldiff {

/// The page's HTML, and its summary numbers in `summary` when given.
std::string sample_report_html(const SampleReportInput& input, SampleReportSummary* summary = nullptr);

/// The page for data made by `report_data`.
std::string report_page_html(const nlohmann::json& data);

/// Escapes &, <, >, " and ' for HTML text and attribute values.
std::string html_escape(const std::string& text);

}  // namespace xtaldiff
