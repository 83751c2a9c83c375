#!/usr/bin/python3
"""Check CIF files written by xtaldiff against a CDVAE reference CSV, using pymatgen.

Usage:
    /usr/bin/python3 tools/check_cif_roundtrip.py --ref data/datasets/perov_5/test.csv.gz OUT_DIR
    /usr/bin/python3 tools/check_cif_roundtrip.py --ref REF.csv.gz a.cif b.cif ...

Each CIF must be named `{material_id}.cif`; directories are searched (not
recursively) for `*.cif`.  The reference structure is the row of the CSV (CDVAE
layout: columns `material_id`, `cif`) with that material_id.  Both CIFs are
parsed with pymatgen's CifParser (primitive=False, so the cell is exactly the
one written) and compared on:

  1. composition: Composition equality of the whole cell (same elements and
     per-cell amounts within 1e-8), so the atom count must match too;
  2. cell volume: |V_test - V_ref| <= vol_rtol * V_ref (default 1e-5; CIFs
     carry 8 decimals, so a correct writer is ~1e-8 off);
  3. StructureMatcher(primitive_cell=False).fit(ref, test) with pymatgen's
     default ltol=0.2, stol=0.3, angle_tol=5 (scale=True, attempt_supercell=False).

Prints one line per failing file, then counts.  Exit status: 0 if every file
matched, 1 if any file failed (mismatch, unparsable, or material_id not in the
reference), 2 on usage errors.
"""
import argparse
import csv
import glob
import gzip
import os
import sys
import warnings

from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.io.cif import CifParser


def parse_cif_text(text):
    parser = CifParser.from_str(text) if hasattr(CifParser, "from_str") else CifParser.from_string(text)
    if hasattr(parser, "parse_structures"):  # pymatgen >= 2024
        return parser.parse_structures(primitive=False)[0]
    return parser.get_structures(primitive=False)[0]


def load_reference(path):
    """material_id -> cif text."""
    csv.field_size_limit(1 << 30)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return {row["material_id"]: row["cif"] for row in csv.DictReader(fh)}


def collect_files(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            files.extend(sorted(glob.glob(os.path.join(p, "*.cif"))))
        else:
            files.append(p)
    return files


def check_one(path, ref_cifs, matcher, vol_rtol):
    """Returns None if OK, else a short reason."""
    mid = os.path.basename(path)[: -len(".cif")] if path.endswith(".cif") else os.path.basename(path)
    if mid not in ref_cifs:
        return f"material_id {mid!r} not in reference"
    try:
        with open(path, encoding="utf-8") as fh:
            test = parse_cif_text(fh.read())
    except Exception as exc:  # any parse problem is a failure of the written file
        return f"pymatgen cannot parse it: {exc!r}"
    ref = parse_cif_text(ref_cifs[mid])
    if test.composition != ref.composition:
        return f"composition {test.composition.formula} != reference {ref.composition.formula}"
    if abs(test.volume - ref.volume) > vol_rtol * ref.volume:
        return f"volume {test.volume!r} != reference {ref.volume!r}"
    if not matcher.fit(ref, test):
        return "StructureMatcher(primitive_cell=False) does not match the reference"
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", help="CIF files and/or directories of *.cif")
    ap.add_argument("--ref", required=True, help="reference CDVAE CSV(.gz) with material_id and cif columns")
    ap.add_argument("--vol-rtol", type=float, default=1e-5, help="relative cell-volume tolerance (default 1e-5)")
    args = ap.parse_args(argv)

    files = collect_files(args.paths)
    if not files:
        print("no CIF files given/found", file=sys.stderr)
        return 2
    ref_cifs = load_reference(args.ref)
    matcher = StructureMatcher(primitive_cell=False)

    failures = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CifParser chatter (e.g. 1/3, 2/3 rounding)
        for path in files:
            reason = check_one(path, ref_cifs, matcher, args.vol_rtol)
            if reason is not None:
                failures += 1
                print(f"MISMATCH {path}: {reason}")
    print(f"checked {len(files)}: matched {len(files) - failures}, unmatched {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
