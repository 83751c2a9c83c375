#!/usr/bin/python3
"""The CSP metric as DiffCSP's scripts/compute_metrics.py computes it, in
pymatgen 2022.11.7 (Debian's python3-pymatgen) with SMACT 2.2.1's rules
(transcribed in tools/make_validity_fixtures.py), timed: the whole-run
reference for `xtaldiff eval csp --only-predicted` (issue 16: eval on
MP-20-sized sets against pymatgen on the same CPU).

    /usr/bin/python3 tools/time_eval_csp_pymatgen.py PRED.csv GT.csv.gz

PRED.csv is a raw `xtaldiff sample --from GT` output (one prediction per
row, material_id "<id>" or "<id>_<k>"; the first prediction of an id is
scored). Per pair, as DiffCSP: the prediction is built as its Crystal
(lattice from lengths and angles), scored only when structurally and
SMACT-valid, then StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10)
.get_rms_dist(pred, truth); match rate over the predicted rows, RMSE over
the matches. Prints one JSON line: counts, match rate, RMSE and seconds
(reading included, one thread).
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import csv  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from pymatgen.analysis.structure_matcher import StructureMatcher  # noqa: E402
from pymatgen.core import Lattice, Structure  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_validity_fixtures import elems_and_counts, smact_validity, structure_validity  # noqa: E402

csv.field_size_limit(1 << 30)


def rows(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        return list(csv.DictReader(f))


def as_diffcsp_crystal(cif):
    """(Structure or None, valid): DiffCSP's Crystal from the CIF's cell and sites."""
    s = Structure.from_str(cif, fmt="cif")
    lengths, angles = list(s.lattice.abc), list(s.lattice.angles)
    z = [site.specie.Z for site in s]
    if min(lengths) < 0 or np.isnan(lengths + angles).any():
        return None, False
    c = Structure(Lattice.from_parameters(*(lengths + angles)), z, s.frac_coords)
    if c.volume < 0.1:
        return c, False
    elems, counts = elems_and_counts(z)
    return c, structure_validity(c) and smact_validity(elems, counts)


def main():
    warnings.filterwarnings("ignore")
    pred_path, gt_path = sys.argv[1], sys.argv[2]
    t0 = time.time()
    truth = {r["material_id"]: r["cif"] for r in rows(gt_path)}
    matcher = StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10)
    seen, n, valid, rms = set(), 0, 0, []
    for r in rows(pred_path):
        mid = r["material_id"] if r["material_id"] in truth else r["material_id"].rsplit("_", 1)[0]
        if mid in seen:
            continue
        seen.add(mid)
        n += 1
        try:
            pred, ok = as_diffcsp_crystal(r["cif"])
        except Exception:  # unreadable by pymatgen: no match, as in DiffCSP
            continue
        if not ok:
            continue
        valid += 1
        gt = Structure.from_str(truth[mid], fmt="cif")
        res = matcher.get_rms_dist(pred, gt)
        if res is not None:
            rms.append(res[0])
    print(json.dumps({"n": n, "pred_valid": valid, "matched": len(rms), "match_rate": len(rms) / n,
                      "rmse": float(np.mean(rms)) if rms else None, "seconds": round(time.time() - t0, 2)}))


if __name__ == "__main__":
    main()
