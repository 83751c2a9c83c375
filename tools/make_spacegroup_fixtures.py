#!/usr/bin/python3
"""pymatgen's space groups of real CSP predictions, for `eval csp`'s
space-group recovery (tests/test_pymatgen_fixtures.cpp).

Usage (after the sample runs named below):
    /usr/bin/python3 tools/make_spacegroup_fixtures.py \\
        LABEL=SAMPLES.csv=GT.csv.gz [LABEL=SAMPLES.csv=GT.csv.gz ...]

SAMPLES.csv is a `xtaldiff sample --from GT` output (CDVAE CSV, column
`cif`, material_id "<id>_<k>" or "<id>"); GT the dataset it was sampled
from. For every prediction both CIF texts are stored with
    SpacegroupAnalyzer(Structure.from_str(cif, fmt="cif"),
                       symprec=0.1, angle_tolerance=5).get_space_group_number()
of each (what CDVAE/DiffCSP analyses and `eval csp --symprec 0.1` use), or
null when spglib finds no group. The predictions are the raw sampler
outputs of the shipped models: distorted, off the special positions, which
is where a tolerance-based analysis is decided.

Output: tests/fixtures/csp_spacegroups.jsonl.gz (gzip, mtime 0), one JSON
object per line: label, id, cif_pred, cif_truth, sg_pred, sg_truth.
"""
import csv
import gzip
import io
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
from pymatgen.core import Structure  # noqa: E402
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "csp_spacegroups.jsonl.gz")


def read_rows(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        return list(csv.DictReader(f))


def spacegroup(cif):
    try:
        s = Structure.from_str(cif, fmt="cif")
        return SpacegroupAnalyzer(s, symprec=0.1, angle_tolerance=5).get_space_group_number()
    except Exception:  # spglib found nothing, or a degenerate cell
        return None


def main(args):
    lines = []
    for arg in args:
        label, samples, gt = arg.split("=")
        truth = {r["material_id"]: r["cif"] for r in read_rows(gt)}
        for row in read_rows(samples):
            pid = row["material_id"]
            tid = pid if pid in truth else pid.rsplit("_", 1)[0]
            lines.append(json.dumps({"label": label, "id": tid, "cif_pred": row["cif"], "cif_truth": truth[tid],
                                     "sg_pred": spacegroup(row["cif"]), "sg_truth": spacegroup(truth[tid])}))
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as g:
        g.write(("\n".join(lines) + "\n").encode())
    with open(OUT, "wb") as f:
        f.write(raw.getvalue())
    print(f"{len(lines)} predictions -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
