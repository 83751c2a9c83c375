// Reads every structure of a file (CIF, POSCAR, extxyz, JSON or a CDVAE
// CSV) and prints its formula and space group (spglib, symprec 0.1).
//   spacegroup FILE
#include <cstdio>
#include <exception>

#include <xtaldiff/crystal/symmetry.h>
#include <xtaldiff/io/formats.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FILE\n", argv[0]);
    return 2;
  }
  try {
    const xtaldiff::Dataset structures = xtaldiff::read_structures(argv[1]);
    for (const auto& record : structures.records) {
      const xtaldiff::SpaceGroupInfo sg = xtaldiff::analyze_symmetry(record.structure);
      std::printf("%s\t%s\t%s (%d)\n", record.id.c_str(), record.structure.composition().reduced_formula().c_str(),
                  sg.international.c_str(), sg.number);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
