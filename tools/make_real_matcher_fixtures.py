#!/usr/bin/python3
"""pymatgen's StructureMatcher answers on real CSP model outputs, for
tests/test_structure_matcher.cpp (issue 16: exact metrics where generative
models live: distorted cells, atoms off their sites, early checkpoints).

Usage:
    /usr/bin/python3 tools/make_real_matcher_fixtures.py [--out FIXTURE] \\
        LABEL=SAMPLES.csv=GT.csv.gz[=FIRST-LAST] [LABEL=...]

FIRST-LAST keeps only SAMPLES rows FIRST..LAST (0-based, inclusive).

SAMPLES.csv is a raw `xtaldiff sample --from GT` output (material_id
"<id>_<k>"); every prediction is paired with its ground truth. The runs
behind the committed fixture (seed 3, 1 thread, build of this commit):
    perov_score   models/perov5-csp.xtd, default ode 20, Perov-5 test rows 1000-1399
    perov_flow10  models/perov5-csp-flow.xtd, ode 10 (anneal 10), rows 2000-2399
    carbon        models/carbon24-csp.xtd, default, Carbon-24 test rows 0-399
    mp20_early    an MP-20 flow CSP checkpoint after 5 epochs (0.25 h),
                  ode 20, MP-20 test rows 0-599
Stored per pair, in the layout of tools/make_matcher_fixtures.py (id, kind =
LABEL, cif_a = prediction, cif_b = truth):
    csp  StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10).get_rms_dist(pred, truth)
    fit  StructureMatcher().fit(pred, truth)
both on Structure.from_str of exactly the stored text.
Output: tests/fixtures/matcher_real_outputs.jsonl.gz (gzip, mtime 0).

The second fixture, tests/fixtures/matcher_real_outputs_mp.jsonl.gz, holds
the real benchmarks' outputs (commit 10951fd's build, seed 0, 1 thread, the
models trained on one H200 in session 15, docs/RESULTS.md "GPU training"):
    mp20_gpu     mp20-csp (GPU weights), ode 100 anneal 10, MP-20 test rows 0-799
    mpts52_clip  the MPTS-52 GPU fine-tune, ode 100 anneal 10, --lattice-clip 67,
                 MPTS-52 test rows 0-199
    mpts52_wide  the same with the default clip (1.5 x the longest train vector)
written by
    /usr/bin/python3 tools/make_real_matcher_fixtures.py --out tests/fixtures/matcher_real_outputs_mp.jsonl.gz \\
        mp20_gpu=OUT_MP20/samples.csv=data/datasets/mp_20/test.csv.gz=0-799 \\
        mpts52_clip=OUT_CLIP67/samples.csv=data/datasets/mpts_52/test.csv.gz \\
        mpts52_wide=OUT_CLIP0/samples.csv=data/datasets/mpts_52/test.csv.gz

The third fixture, tests/fixtures/matcher_real_outputs_more.jsonl.gz (so
that every benchmark has thousands of real pairs; session of 2026-12-07,
build of commit 5b58009, seed 7, 1 thread, `xtaldiff sample --from GT
--skip A --limit B --sampler S --steps N --seed 7 --threads 1`):
    perov_flow50      perov5-csp-flow, ode 50, Perov-5 test rows 3000-3784
    perov_heun10      perov5-csp, heun 10, Perov-5 test rows 0-999
    carbon_ode50      carbon24-csp, ode 50, Carbon-24 test rows 400-1999
    mp20_ode10        mp20-csp, ode 10, MP-20 test rows 1000-2599
    mpts52_mp20model  mp20-csp (trained on at most 20 atoms), ode 20,
                      MPTS-52 test rows 200-1799 (1598 pairs: pymatgen
                      cannot read two of the 1600 predictions)
written by
    /usr/bin/python3 tools/make_real_matcher_fixtures.py --out tests/fixtures/matcher_real_outputs_more.jsonl.gz \\
        perov_flow50=OUT/perov_flow50/samples.csv=data/datasets/perov_5/test.csv.gz ... (one LABEL=SAMPLES=GT each)
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import csv  # noqa: E402
import gzip  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

from pymatgen.analysis.structure_matcher import StructureMatcher  # noqa: E402
from pymatgen.core import Structure  # noqa: E402

CSP = StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)
DEFAULT = StructureMatcher()
csv.field_size_limit(1 << 30)


def rows(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        return list(csv.DictReader(f))


def main():
    warnings.filterwarnings("ignore")
    args = sys.argv[1:]
    out = "tests/fixtures/matcher_real_outputs.jsonl.gz"
    if len(args) >= 2 and args[0] == "--out":
        out, args = args[1], args[2:]
    lines = []
    for arg in args:
        label, samples, gt, *span = arg.split("=")
        truth = {r["material_id"]: r["cif"] for r in rows(gt)}
        counts = [0, 0]
        selected = rows(samples)
        if span:
            first, last = (int(v) for v in span[0].split("-"))
            selected = selected[first:last + 1]
        for r in selected:
            mid = r["material_id"].rsplit("_", 1)[0]
            cif_a, cif_b = r["cif"], truth[mid]
            try:
                a = Structure.from_str(cif_a, fmt="cif")
                b = Structure.from_str(cif_b, fmt="cif")
            except Exception:  # an unreadable prediction is the reader's business, not the matcher's
                continue
            res = CSP.get_rms_dist(a, b)
            csp = {"match": res is not None, "rms": None if res is None else float(res[0]),
                   "max_dist": None if res is None else float(res[1])}
            fit = bool(DEFAULT.fit(a, b))
            counts[0] += 1
            counts[1] += csp["match"]
            lines.append(json.dumps({"id": f"{label}/{mid}", "kind": label, "cif_a": cif_a, "cif_b": cif_b,
                                     "csp": csp, "fit": fit}))
        print(f"{label}: {counts[0]} pairs, {counts[1]} matched (CSP settings)", file=sys.stderr)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
        g.write(("\n".join(lines) + "\n").encode())
    with open(out, "wb") as f:
        f.write(buf.getvalue())


if __name__ == "__main__":
    main()
