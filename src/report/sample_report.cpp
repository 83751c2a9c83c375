#include "report/sample_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "crystal/symmetry.h"
#include "eval/validity.h"
#include "io/formats.h"
#include "util/error.h"

namespace xtaldiff {
namespace {

constexpr const char* kStyle = R"(
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#4a7ab5;height:.9em;display:inline-block;vertical-align:middle}
.bad{color:#b22}.ok{color:#272}code{background:#f4f4f4;padding:1px 4px;white-space:pre-wrap;word-break:break-all}
)";

std::string percent(std::size_t part, std::size_t whole) {
  return whole ? fmt::format("{:.1f} %", 100.0 * part / whole) : "–";
}

std::string number_text(double v, int decimals) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : "–";
}

// A two-column table of labels and counts with a bar per row; the `top`
// most frequent rows, the rest summed into "other".
std::string histogram(const std::map<std::string, std::size_t>& counts, std::size_t total, std::size_t top,
                      const std::string& label) {
  std::vector<std::pair<std::string, std::size_t>> rows(counts.begin(), counts.end());
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::size_t other = 0;
  for (std::size_t i = top; i < rows.size(); ++i) other += rows[i].second;
  if (rows.size() > top) rows.resize(top);
  if (other) rows.emplace_back(fmt::format("other ({} more)", counts.size() - top), other);
  const std::size_t largest = rows.empty() ? 1 : std::max<std::size_t>(1, rows.front().second);
  std::string h = fmt::format("<table><tr><th>{}</th><th>structures</th><th>share</th><th></th></tr>\n", label);
  for (const auto& [name, n] : rows)
    h += fmt::format("<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td><span class=bar style=\"width:{}px\">"
                     "</span></td></tr>\n",
                     html_escape(name), n, percent(n, total), 1 + 300 * n / largest);
  return h + "</table>\n";
}

std::string json_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fmt::format("{:.6g}", v.get<double>());
  return v.dump();
}

// The run: a table of the manifest's main fields, in reading order.
std::string run_section(const nlohmann::json& m) {
  std::string h = "<h2>Run</h2>\n<table>\n";
  auto row = [&](const std::string& name, const std::string& value) {
    h += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", name, value);
  };
  if (m.contains("command")) row("command", "<code>" + html_escape(json_text(m["command"])) + "</code>");
  for (const char* key : {"structures", "model", "task", "sampler", "steps", "network_evaluations_per_crystal", "precision", "seed",
                          "device", "threads", "constraints", "finished", "xtaldiff_version"})
    if (m.contains(key) && !m[key].is_null()) row(key, html_escape(json_text(m[key])));
  if (m.contains("seconds") && m["seconds"].is_number()) {
    const double s = m["seconds"].get<double>();
    const double n = m.value("crystals", 0.0);
    row("sampling time", fmt::format("{:.1f} s{}", s, n > 0 && s > 0 ? fmt::format(" ({:.2f} crystals/s)", n / s) : ""));
  }
  const auto meta = m.value("model_metadata", nlohmann::json::object());
  if (meta.contains("epochs") || meta.contains("hours"))
    row("model training",
        html_escape(fmt::format("{} epochs, {:.2f} h on {}", json_text(meta.value("epochs", nlohmann::json("?"))),
                                meta.value("hours", 0.0), json_text(meta.value("data", nlohmann::json("?"))))));
  return h + "</table>\n";
}

// Condition and target reports the manifest carries, as they are.
std::string targets_section(const nlohmann::json& m) {
  std::string h;
  if (m.contains("spacegroup_condition") && m["spacegroup_condition"].is_object()) {
    const auto& c = m["spacegroup_condition"];
    const int sg = c.value("requested", 0);
    h += fmt::format("<p>Space group requested: <b>{} ({})</b>, guidance {}: <b>{}</b> of the outputs have it at "
                     "symprec {} ({} hits).</p>\n",
                     html_escape(spacegroup_symbol(sg)), sg, json_text(c.value("guidance", nlohmann::json(1))),
                     number_text(100 * c.value("hit_rate", 0.0), 1) + " %", json_text(c.value("symprec", nlohmann::json(kDefaultSymprec))),
                     json_text(c.value("hits", nlohmann::json(0))));
  }
  const nlohmann::json* targets = nullptr;
  if (m.contains("property_predictions") && m["property_predictions"].is_object())
    targets = &m["property_predictions"]["targets"];
  else if (m.contains("guidance") && m["guidance"].is_object())
    targets = &m["guidance"]["targets"];
  if (targets && targets->is_array() && !targets->empty()) {
    h += "<table><tr><th>target</th><th>met (predicted)</th><th>hit rate</th><th>mean predicted</th>"
         "<th>tolerance</th><th>predictor's held-out MAE</th></tr>\n";
    for (const auto& t : *targets)
      h += fmt::format("<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td>"
                       "<td class=n>{}</td></tr>\n",
                       html_escape(json_text(t.value("target", nlohmann::json("?")))),
                       json_text(t.value("met", nlohmann::json("–"))),
                       t.contains("hit_rate") ? number_text(100 * t["hit_rate"].get<double>(), 1) + " %" : "–",
                       t.contains("mean_predicted") ? number_text(t["mean_predicted"].get<double>(), 4) : "–",
                       t.contains("tolerance") ? number_text(t["tolerance"].get<double>(), 4) : "–",
                       t.contains("predictor_holdout_mae") && t["predictor_holdout_mae"].is_number()
                           ? number_text(t["predictor_holdout_mae"].get<double>(), 4)
                           : "–");
    h += "</table>\n";
  }
  return h.empty() ? h : "<h2>Conditions and targets</h2>\n" + h;
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

std::string sample_report_html(const SampleReportInput& in, SampleReportSummary* summary_out) {
  static const Dataset kEmpty;
  const Dataset& data = in.structures ? *in.structures : kEmpty;
  const auto sg_col = data.column("spacegroup");
  const auto sample_col = data.column("sample");
  SampleReportSummary summary;
  summary.structures = data.size();
  std::map<std::string, std::size_t> formulas, groups;
  std::vector<Validity> validity(data.size());
  std::vector<int> spacegroup(data.size(), -1);
  for (std::size_t i = 0; i < data.size(); ++i) {
    const Structure& s = data.records[i].structure;
    validity[i] = in.validity ? in.validity->at(i) : check_validity(s);
    summary.structurally_valid += validity[i].structural;
    summary.compositionally_valid += validity[i].compositional;
    summary.valid += validity[i].valid();
    ++formulas[s.species.empty() ? "(empty)" : s.composition().reduced_formula()];
    if (sg_col || in.find_spacegroups) {
      if (sg_col) {
        const auto n = data.number(i, *sg_col);
        spacegroup[i] = n ? static_cast<int>(*n) : 0;
      } else {
        try {
          spacegroup[i] = s.species.empty() ? 0 : analyze_symmetry(s, kDefaultSymprec).number;
        } catch (const Error&) {
          spacegroup[i] = 0;  // a degenerate cell has none
        }
      }
      ++groups[spacegroup[i] > 0 ? fmt::format("{} ({})", spacegroup_symbol(spacegroup[i]), spacegroup[i])
                                 : "none found"];
    }
  }
  summary.distinct_formulas = formulas.size();
  summary.distinct_spacegroups = groups.size();
  if (summary_out) *summary_out = summary;

  std::string h = fmt::format("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{0}</title><style>{1}"
                              "</style></head><body>\n<h1>{0}</h1>\n",
                              html_escape(in.title), kStyle);
  h += run_section(in.manifest);
  const std::size_t n = summary.structures;
  h += "<h2>Validity</h2>\n<p>CDVAE/DiffCSP's checks (<code>xtaldiff validate</code>): structural = volume ≥ 0.1 Å³ "
       "and no two sites closer than 0.5 Å; compositional = SMACT 2.2.1 charge neutrality and Pauling test.</p>\n";
  h += fmt::format("<table><tr><th>structures</th><td class=n>{}</td></tr><tr><th>structurally valid</th><td class=n>"
                   "{} ({})</td></tr><tr><th>compositionally valid</th><td class=n>{} ({})</td></tr><tr><th>both</th>"
                   "<td class=n>{} ({})</td></tr>",
                   n, summary.structurally_valid, percent(summary.structurally_valid, n),
                   summary.compositionally_valid, percent(summary.compositionally_valid, n), summary.valid,
                   percent(summary.valid, n));
  if (in.manifest.contains("failed_non_finite"))
    h += fmt::format("<tr><th>failed (non-finite after retries)</th><td class=n>{}</td></tr>",
                     json_text(in.manifest["failed_non_finite"]));
  h += "</table>\n";
  h += targets_section(in.manifest);
  if (sg_col || in.find_spacegroups) {
    h += fmt::format("<h2>Space groups</h2>\n<p>spglib at symprec {}; {} distinct.</p>\n", kDefaultSymprec, groups.size());
    h += histogram(groups, n, 15, "space group");
  }
  h += fmt::format("<h2>Compositions</h2>\n<p>Distinct reduced formulas: {}.</p>\n", formulas.size());
  h += histogram(formulas, n, 15, "formula");

  h += "<h2>Structures</h2>\n";
  if (n > in.max_rows) h += fmt::format("<p>The first {} of {} structures.</p>\n", in.max_rows, n);
  std::vector<std::size_t> extra;
  for (std::size_t c = 0; c < data.columns.size(); ++c)
    if (c != sg_col && c != sample_col) extra.push_back(c);
  h += "<table><tr><th>#</th><th>id</th><th>formula</th><th>atoms</th><th>space group</th><th>a</th><th>b</th>"
       "<th>c</th><th>α</th><th>β</th><th>γ</th><th>Å³/atom</th><th>g/cm³</th><th>shortest (Å)</th><th>valid</th>";
  for (auto c : extra) h += "<th>" + html_escape(data.columns[c]) + "</th>";
  if (!in.cif_folder.empty()) h += "<th>CIF</th>";
  if (!in.symmetrized_folder.empty()) h += "<th>symmetrised</th>";
  h += "</tr>\n";
  for (std::size_t i = 0; i < std::min(n, in.max_rows); ++i) {
    const Record& r = data.records[i];
    const Structure& s = r.structure;
    const bool empty = s.species.empty();
    const auto len = empty ? Vec3{NAN, NAN, NAN} : s.lattice.lengths();
    const auto ang = empty ? Vec3{NAN, NAN, NAN} : s.lattice.angles();
    const std::string id = sample_col ? r.id + "_" + r.values[*sample_col] : r.id;
    const std::string sg = spacegroup[i] > 0 ? fmt::format("{} ({})", html_escape(spacegroup_symbol(spacegroup[i])),
                                                           spacegroup[i])
                                             : spacegroup[i] == 0 ? "none" : "";
    const char* verdict = validity[i].valid()        ? "<span class=ok>yes</span>"
                          : !validity[i].structural ? "<span class=bad>no: distance or volume</span>"
                                                    : "<span class=bad>no: composition</span>";
    h += fmt::format("<tr><td class=n>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td>{}</td>", i + 1,
                     html_escape(id), empty ? "" : html_escape(s.composition().reduced_formula()), s.species.size(),
                     sg);
    for (int k = 0; k < 3; ++k) h += "<td class=n>" + number_text(len[k], 3) + "</td>";
    for (int k = 0; k < 3; ++k) h += "<td class=n>" + number_text(ang[k], 2) + "</td>";
    h += fmt::format("<td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td>",
                     empty ? "–" : number_text(s.volume() / s.species.size(), 2),
                     empty ? "–" : number_text(s.density(), 3), empty ? "–" : number_text(min_pair_distance(s), 3),
                     verdict);
    for (auto c : extra) h += "<td>" + html_escape(c < r.values.size() ? r.values[c] : "") + "</td>";
    for (const std::string* folder : {&in.cif_folder, &in.symmetrized_folder})
      if (!folder->empty())
        h += "<td><a href=\"" + html_escape(*folder + "/" + safe_file_stem(id) + ".cif") + "\">" +
             (folder == &in.cif_folder ? "CIF" : "CIF (sym.)") + "</a></td>";
    h += "</tr>\n";
  }
  return h + "</table>\n</body></html>\n";
}

}  // namespace xtaldiff
