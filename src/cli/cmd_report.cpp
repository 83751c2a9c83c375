// `xtaldiff report SAMPLES [--ref REF] [--gt GT] [--out report.html]`: the
// page `sample` writes, for any set of structures: a 3D viewer, plots
// against a reference set, each prediction beside its ground truth.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "cli/commands.h"
#include "eval/csp_pairing.h"
#include "io/formats.h"
#include "report/sample_report.h"
#include "util/file_io.h"

namespace xtaldiff::cli {
namespace {

struct ReportOptions {
  std::string samples, ref, gt, out = "report.html", title;
  std::string cif_folder;
  int threads = 0;
  bool quiet = false;
};

void run_report(const ReportOptions& o) {
  // Generated structures are read as `eval csp` reads predictions:
  // overlapping atoms are what the page reports, not an error.
  ReadOptions ro = csp_truth_read_options();
  ro.cif.merge_tolerance = 1e-6;
  ro.cif.merge_distinct_sites = false;
  const Dataset samples = read_structures(o.samples, ro);
  Dataset ref, gt;
  if (!o.ref.empty()) ref = read_structures(o.ref, csp_truth_read_options());
  if (!o.gt.empty()) gt = o.gt == o.ref ? ref : read_structures(o.gt, csp_truth_read_options());
  SampleReportInput page;
  page.title = o.title.empty() ? "xtaldiff report: " + o.samples : o.title;
  page.manifest = {{"command", invoked_command_line()}, {"structures", o.samples}};
  page.structures = &samples;
  page.cif_folder = o.cif_folder;
  page.reference = o.ref.empty() ? nullptr : &ref;
  page.ground_truth = o.gt.empty() ? nullptr : &gt;
  page.threads = o.threads;
  const bool tty = !o.quiet && isatty(fileno(stderr));
  if (tty)
    page.progress = [](std::size_t done, std::size_t total) {
      fmt::print(stderr, "\rreport: {}/{} structures analysed ({:.0f} %)", done, total, 100.0 * done / total);
    };
  SampleReportSummary summary;
  const std::string html = sample_report_html(page, &summary);
  if (tty) fmt::print(stderr, "\n");
  write_file_atomic(o.out, html);
  if (!o.quiet)
    fmt::print(stderr, "wrote {} ({} structures, {:.1f} % valid, {:.1f} MB)\n", o.out, summary.structures,
               summary.structures ? 100.0 * summary.valid / summary.structures : 0.0, html.size() / 1e6);
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  CLI::App* cmd = app.add_subcommand(
      "report", "An HTML page of a set of structures: 3D viewer, distributions against a reference, CSP matches");
  cmd->add_option("samples", o->samples, "the structures (any structure file, e.g. a sample run's samples.csv)")
      ->required();
  cmd->add_option("--ref", o->ref, "reference set whose distributions the plots compare with (e.g. the test split)");
  cmd->add_option("--gt", o->gt,
                  "ground truth of a CSP run (structures named by id or <id>_<k>): each prediction beside its "
                  "truth, with its match, RMS and space group");
  cmd->add_option("--out", o->out, "the page to write")->capture_default_str();
  cmd->add_option("--title", o->title, "the page's title");
  cmd->add_option("--cif-folder", o->cif_folder, "link each structure to FOLDER/<id>.cif (relative to the page)");
  cmd->add_option("--threads", o->threads, "threads for space groups and matching (0: all cores)")
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", o->quiet, "no progress output");
  cmd->callback([o] { run_report(*o); });
}

}  // namespace xtaldiff::cli
