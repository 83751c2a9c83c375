#!/usr/bin/python3
"""Check symmetrised CIFs written by `xtaldiff convert --symmetrize` with pymatgen.

Usage: /usr/bin/python3 tools/check_symmetrized_roundtrip.py --ref REF.csv.gz DIR

Each DIR/{material_id}.cif is read by pymatgen (which expands the symmetry
operations itself) and compared with the reference row: same reduced
composition, volume per atom within 1 % (symmetrisation idealises the cell),
and StructureMatcher().fit(ref, test) with pymatgen's defaults (primitive
cells, ltol 0.2, stol 0.3, angle_tol 5). Exit status 1 on any failure.
"""
import argparse, csv, glob, gzip, io, os, sys, warnings

warnings.filterwarnings("ignore")
from pymatgen.core import Structure
from pymatgen.analysis.structure_matcher import StructureMatcher


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", required=True)
    ap.add_argument("dir")
    a = ap.parse_args()
    csv.field_size_limit(10**9)
    opener = gzip.open if a.ref.endswith(".gz") else open
    with opener(a.ref, "rt", encoding="utf8") as f:
        ref = {r["material_id"]: r["cif"] for r in csv.DictReader(f)}
    sm = StructureMatcher()
    bad = 0
    files = sorted(glob.glob(os.path.join(a.dir, "*.cif")))
    for path in files:
        mid = os.path.basename(path)[:-4]
        try:
            test = Structure.from_file(path)
            r = Structure.from_str(ref[mid], fmt="cif")
            ok = (test.composition.reduced_composition == r.composition.reduced_composition
                  and abs(test.volume / len(test) / (r.volume / len(r)) - 1) < 0.01 and sm.fit(r, test))
        except Exception as e:  # noqa: BLE001 - report and count
            print(f"ERROR {path}: {e}")
            ok = False
        if not ok:
            bad += 1
            print(f"MISMATCH {path}")
    print(f"{len(files) - bad}/{len(files)} symmetrised CIFs match their reference")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
