// `xtaldiff convert IN OUT`: any supported format to any other, optionally
// reduced (Niggli, primitive) or symmetrised (CIF with space group).
#include <fmt/format.h>

#include "cli/commands.h"
#include "crystal/symmetry.h"
#include "io/formats.h"

namespace xtaldiff::cli {
namespace {

struct ConvertOptions {
  std::string in, out;
  bool symmetrize = false, niggli = false, primitive = false, allow_partial = false, quiet = false;
  double symprec = kDefaultSymprec;
};

void run_convert(const ConvertOptions& o) {
  format_from_path(o.out);  // an unknown output name is a usage error, before any work
  ReadOptions ro;
  ro.cif.allow_partial_occupancy = o.allow_partial;
  Dataset d = read_structures(o.in, ro);
  for (auto& r : d.records) {
    if (o.primitive) r.structure = standard_primitive(r.structure, o.symprec);
    if (o.niggli) r.structure = niggli_reduced(r.structure);
  }
  WriteOptions wo;
  wo.symmetrize = o.symmetrize;
  wo.symprec = o.symprec;
  write_structures(d, o.out, wo);
  if (!o.quiet)
    fmt::print(stderr, "wrote {} structure{} to {} ({})\n", d.size(), d.size() == 1 ? "" : "s", o.out,
               format_name(format_from_path(o.out)));
}

}  // namespace

void add_convert_command(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand("convert", "Convert structures between CIF, POSCAR, extxyz, JSON and CDVAE CSV");
  cmd->add_option("in", o->in, "input file or folder of CIFs")->required();
  cmd->add_option("out", o->out, "output file, or a folder (existing, or ending in '/') for one CIF per structure")
      ->required();
  cmd->add_flag("--symmetrize", o->symmetrize, "CIF output with space group and asymmetric unit (spglib)");
  cmd->add_option("--symprec", o->symprec, "spglib distance tolerance in Å")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--niggli", o->niggli, "Niggli-reduce each cell");
  cmd->add_flag("--primitive", o->primitive, "standard primitive cell (spglib) of each structure");
  cmd->add_flag("--allow-partial-occupancy", o->allow_partial, "read sites with occupancy < 1 as full sites");
  cmd->add_flag("-q,--quiet", o->quiet, "no summary line");
  cmd->callback([o] { run_convert(*o); });
}

}  // namespace xtaldiff::cli
