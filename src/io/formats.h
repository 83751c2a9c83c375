/// @file
/// One entry point for every structure format, chosen from the file name:
/// `.cif`, `.vasp` / `POSCAR*` / `CONTCAR*` / `.poscar`, `.extxyz` / `.xyz`,
/// `.json`, `.csv` / `.csv.gz` (CDVAE layout), or a folder of CIFs.
#pragma once

#include <string>

#include "crystal/symmetry.h"
#include "io/cif.h"
#include "io/dataset.h"

namespace xtaldiff {

enum class Format { kCif, kPoscar, kExtxyz, kJson, kCsv, kCifFolder };

/// Format implied by a path; a path that is a directory (or ends in '/')
/// means a folder of CIFs. Throws Error (kUsage) for an unknown extension.
Format format_from_path(const std::string& path);
const char* format_name(Format f);

struct ReadOptions {
  CifOptions cif;
  bool use_cache = true;  ///< CSV datasets: use the binary cache
  /// Two sites closer than this (Å) make the record an error ("overlapping
  /// atoms"); 0 accepts them (evaluation reads generated structures that may
  /// be unphysical and scores them as invalid instead).
  double overlap_tolerance = 0.01;
  /// CSV datasets and folders of CIFs: keep unreadable records (empty
  /// structure, message in Dataset::errors) instead of failing.
  bool keep_going = false;
};

/// Throws Error naming the two sites when any pair is closer than `tolerance` Å.
void check_no_overlap(const Structure& s, double tolerance, const std::string& where);

/// Reads any supported file (or folder of CIFs, ids = file stems) as a dataset.
Dataset read_structures(const std::string& path, const ReadOptions& options = {});

struct WriteOptions {
  bool symmetrize = false;  ///< CIF: space group + asymmetric unit instead of P1
  double symprec = kDefaultSymprec;
};

/// Writes a dataset. A single-structure format (.vasp) with several records
/// is an error; a .cif with several records holds several data blocks; a
/// folder gets one `{id}.cif` per record. Every file is written atomically.
void write_structures(const Dataset& data, const std::string& path, const WriteOptions& options = {});

/// File-name-safe version of a record id.
std::string safe_file_stem(const std::string& id);

}  // namespace xtaldiff
