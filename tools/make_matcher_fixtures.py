#!/usr/bin/python3
"""Generate pymatgen StructureMatcher reference answers for xtaldiff's tests.

xtaldiff's `eval/structure_matcher.cpp` re-implements pymatgen's
StructureMatcher; `tests/test_structure_matcher.cpp` compares its answers with
the ones frozen here, and `bench/bench_matcher.cpp` times it on the same pairs.

Inputs: the CDVAE test splits shipped in the repository,
    data/datasets/perov_5/test.csv.gz    (3785 structures)
    data/datasets/carbon_24/test.csv.gz  (2030 structures)
each structure parsed with Structure.from_str(cif, fmt="cif").

Pairs built for every structure A (all random draws from one seeded
numpy/random state, so reruns are identical):
  perturb        A vs A.perturb(0.05 Å) (every site moved 0.05 Å in a random
                 direction). The Perov-5 pairs of this kind are the timing set.
  perturb_large  A vs A.perturb(d, min_distance=0.05) with d uniform in
                 [0.05, 0.3] Å (each site a random length in [0.05, d]).
  transform      A rotated (random proper rotation of the Cartesian frame),
                 translated (random fractional shift), sites permuted and
                 re-based by a random unimodular integer matrix (det +1,
                 entries |t| <= 2); or, for one structure in three, the
                 2x1x1 supercell of A (permuted and translated too).
  other          A vs another structure of the set with the same reduced
                 formula (random choice), when one exists (Perov-5: 374 of
                 the rows built; Carbon-24: always, all carbon). Most of these
                 do not match: they exercise the no-match paths.
Every structure gets `perturb` and `transform`/`supercell`; `perturb_large`
and `other` are built for every second structure (even row index) to keep
the runtime (about 9 minutes) and the fixture size down.

Both structures of a pair are written with CifWriter (P1) and the reference
answers are computed on Structure.from_str of exactly that text, so the C++
side reads the same input as pymatgen did. (A CIF stores only lattice
parameters, so the rotation of the frame does not survive; the re-basing,
translation and permutation do. CifParser sorts sites by electronegativity
on reading, stably, so only permutations within one element survive.)

Output: tests/fixtures/matcher_pairs.jsonl.gz (gzip, mtime 0), one JSON object
per line:
  id        "<dataset>/<material_id>"   dataset is perov_5 or carbon_24
  kind      perturb | perturb_large | transform | supercell | other
            (15927 pairs: Perov-5 3785 perturb, 1893 perturb_large, 2524
            transform, 1261 supercell, 374 other; Carbon-24 2030 perturb,
            1015 perturb_large, 1354 transform, 676 supercell, 1015 other;
            3.5 MB)
  cif_a, cif_b   CIF text
  csp       StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10).get_rms_dist(a, b):
            {"match": bool, "rms": float|null, "max_dist": float|null}
  fit       StructureMatcher().fit(a, b) with pymatgen defaults (bool)
Floats are Python repr (shortest round trip).

The script also prints the time pymatgen spent in get_rms_dist (CSP
settings) over the Perov-5 `perturb` pairs: the baseline bench_matcher
compares against.

Threads: numpy's BLAS is pinned to one thread (OMP_NUM_THREADS=1 and
OPENBLAS_NUM_THREADS=1 set before numpy loads). On a busy machine a
multi-threaded OpenBLAS makes each 3x3 inverse take milliseconds instead of
microseconds, which would make pymatgen look ~10x slower than it is.

Run (about 8 minutes on one core):  /usr/bin/python3 tools/make_matcher_fixtures.py
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import csv  # noqa: E402
import gzip  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from pymatgen.analysis.structure_matcher import StructureMatcher  # noqa: E402
from pymatgen.core import Lattice, Structure  # noqa: E402
from pymatgen.io.cif import CifWriter  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASETS = [
    ("perov_5", "data/datasets/perov_5/test.csv.gz"),
    ("carbon_24", "data/datasets/carbon_24/test.csv.gz"),
]
OUT = os.path.join(ROOT, "tests", "fixtures", "matcher_pairs.jsonl.gz")
SEED = 20240611

CSP = StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10)
DEFAULT = StructureMatcher()


def read_rows(path):
    with gzip.open(os.path.join(ROOT, path), "rt", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def random_rotation(rng):
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def random_unimodular(rng):
    """det +1, small entries: a product of elementary shears and a signed permutation."""
    while True:
        t = np.eye(3, dtype=int)
        for _ in range(2):
            i, j = rng.choice(3, size=2, replace=False)
            e = np.eye(3, dtype=int)
            e[i, j] = rng.choice([-1, 1])
            t = e @ t
        p = np.eye(3, dtype=int)[rng.permutation(3)]
        signs = np.diag(rng.choice([-1, 1], size=3))
        t = signs @ p @ t
        if round(np.linalg.det(t)) == -1:
            t = -t
        if np.abs(t).max() <= 2 and round(np.linalg.det(t)) == 1:
            return t


def permuted_translated(s, rng):
    order = rng.permutation(len(s))
    shift = rng.uniform(0, 1, size=3)
    fc = (s.frac_coords[order] + shift) % 1.0
    return Structure(s.lattice, [s.species[i] for i in order], fc)


def transformed(s, rng):
    """Rotated frame, translated, permuted, re-based."""
    t = random_unimodular(rng)
    new_lat = Lattice(t @ s.lattice.matrix)
    fc = (s.frac_coords @ np.linalg.inv(t)) % 1.0
    rebased = Structure(new_lat, s.species, fc)
    r = random_rotation(rng)
    rotated = Structure(Lattice(rebased.lattice.matrix @ r.T), rebased.species, rebased.frac_coords)
    return permuted_translated(rotated, rng)


def supercell(s, rng):
    sc = s.copy()
    sc.make_supercell([2, 1, 1])
    return permuted_translated(sc, rng)


def cif_of(s):
    return str(CifWriter(s))


def answers(cif_a, cif_b):
    a = Structure.from_str(cif_a, fmt="cif")
    b = Structure.from_str(cif_b, fmt="cif")
    t0 = time.perf_counter()
    r = CSP.get_rms_dist(a, b)
    t_csp = time.perf_counter() - t0
    f = DEFAULT.fit(a, b)
    csp = {"match": r is not None, "rms": None if r is None else float(r[0]),
           "max_dist": None if r is None else float(r[1])}
    return csp, bool(f), t_csp


def main():
    warnings.filterwarnings("ignore")  # CifParser's "rounded to ideal values" notes
    np.random.seed(SEED)  # Structure.perturb draws from numpy's global state
    rng = np.random.default_rng(SEED)
    lines = []
    counts = {}
    timing = {"pairs": 0, "seconds": 0.0}
    start = time.time()
    for name, path in DATASETS:
        rows = read_rows(path)
        structs = [Structure.from_str(r["cif"], fmt="cif") for r in rows]
        cifs = [cif_of(s) for s in structs]
        by_formula = {}
        for k, s in enumerate(structs):
            by_formula.setdefault(s.composition.reduced_formula, []).append(k)
        for k, (row, s) in enumerate(zip(rows, structs)):
            sid = f"{name}/{row['material_id']}"
            pairs = []
            p = s.copy()
            p.perturb(0.05)
            pairs.append(("perturb", cif_of(p)))
            extra = k % 2 == 0  # perturb_large and other: every second row (runtime)
            if extra:
                p = s.copy()
                p.perturb(float(rng.uniform(0.05, 0.3)), min_distance=0.05)
                pairs.append(("perturb_large", cif_of(p)))
            if k % 3 == 2:
                pairs.append(("supercell", cif_of(supercell(s, rng))))
            else:
                pairs.append(("transform", cif_of(transformed(s, rng))))
            if extra:
                others = [j for j in by_formula[s.composition.reduced_formula] if j != k]
                if others:
                    pairs.append(("other", cifs[int(rng.choice(others))]))
            for kind, cif_b in pairs:
                csp, fit, t_csp = answers(cifs[k], cif_b)
                if name == "perov_5" and kind == "perturb":
                    timing["pairs"] += 1
                    timing["seconds"] += t_csp
                lines.append(json.dumps({"id": sid, "kind": kind, "cif_a": cifs[k], "cif_b": cif_b,
                                         "csp": csp, "fit": fit}))
                key = (name, kind)
                counts[key] = counts.get(key, 0) + 1
            if k % 500 == 0:
                print(f"{name} {k}/{len(rows)} {time.time() - start:.0f} s", file=sys.stderr, flush=True)
    data = ("\n".join(lines) + "\n").encode("utf-8")
    tmp = OUT + ".tmp"
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
            gz.write(data)
    os.replace(tmp, OUT)
    for (name, kind), n in sorted(counts.items()):
        print(f"{name}\t{kind}\t{n} pairs")
    print(f"pymatgen get_rms_dist (stol 0.5, ltol 0.3, angle 10) on {timing['pairs']} Perov-5 perturb pairs: "
          f"{timing['seconds']:.2f} s ({1e3 * timing['seconds'] / max(1, timing['pairs']):.3f} ms/pair)")
    print(f"wrote {OUT} ({os.path.getsize(OUT) / 1e6:.1f} MB) in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
