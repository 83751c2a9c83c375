#include "report/sample_report.h"

#include "report/report_assets.h"
#include "util/error.h"

namespace xtaldiff {
namespace {

// No network at all: scripts, styles and images only from the page itself.
// A request that tried to leave the file is blocked and reported (the
// page's error log, which the browser test reads).
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:";

// Collects every error, rejected promise, blocked request and
// console.error of the page into window.xtdErrors; report.js publishes
// them in #xtd-status.
constexpr const char* kErrorLog = R"(window.xtdErrors=[];
addEventListener('error',e=>xtdErrors.push('error: '+e.message+' ('+(e.filename||'')+':'+(e.lineno||0)+')'));
addEventListener('unhandledrejection',e=>xtdErrors.push('unhandled rejection: '+e.reason));
document.addEventListener('securitypolicyviolation',e=>xtdErrors.push('blocked request: '+e.blockedURI));
(function(){const f=console.error;console.error=function(...a){xtdErrors.push('console.error: '+a.join(' '));f.apply(console,a);};})();
)";

// JSON inside <script>: a "<" in a string could close the element, so every
// one is written as \u003c (the same string to JSON.parse).
std::string script_safe(const std::string& json_text) {
  std::string out;
  out.reserve(json_text.size());
  for (char c : json_text) {
    if (c == '<') out += "\\u003c";
    else out += c;
  }
  return out;
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string report_page_html(const nlohmann::json& data) {
  const std::string title = html_escape(data.value("title", std::string("xtaldiff report")));
  std::string h;
  h.reserve(900000 + data.size() * 400);
  h += "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\n<meta http-equiv=\"Content-Security-Policy\" content=\"";
  h += kContentSecurityPolicy;
  h += "\">\n<meta name=viewport content=\"width=device-width, initial-scale=1\">\n<title>" + title + "</title>\n<style>";
  h += report_asset(ReportAsset::kReportCss);
  h += "</style>\n<script>";
  h += kErrorLog;
  h += "</script>\n</head><body>\n<h1>" + title + "</h1>\n";
  h += "<noscript><p>This page draws its viewer, plots and table with JavaScript (inline; it loads nothing from the "
       "network). The structures themselves are in the CIF files and samples.csv beside it.</p></noscript>\n";
  h += "<div id=app></div>\n<pre id=xtd-status></pre>\n<script type=\"application/json\" id=xtd-data>";
  h += script_safe(data.dump());
  h += "</script>\n<script>/* 3Dmol.js 2.5.5, BSD-3-Clause (third_party/js) */\n";
  h += report_asset(ReportAsset::k3Dmol);
  h += "</script>\n<script>/* Chart.js 4.6.2, MIT (third_party/js) */\n";
  h += report_asset(ReportAsset::kChartJs);
  h += "</script>\n<script>\n";
  h += report_asset(ReportAsset::kReportJs);
  h += "</script>\n</body></html>\n";
  return h;
}

std::string sample_report_html(const SampleReportInput& input, SampleReportSummary* summary) {
  return report_page_html(report_data(input, summary));
}

}  // namespace xtaldiff
