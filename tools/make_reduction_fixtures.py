#!/usr/bin/python3
"""Generate tests/fixtures/lattice_reduction.tsv from pymatgen.

Run with Debian's interpreter (it has python3-pymatgen):

    /usr/bin/python3 tools/make_reduction_fixtures.py [OUTPUT] [--seed N] [--repeat K]

(--seed / --repeat make larger, different sets for stress testing; the
committed fixture uses the defaults.)

Each row holds a seeded random input lattice and what pymatgen computes for
it: the Niggli-reduced lattice (Lattice.get_niggli_reduced_lattice(), default
tol 1e-5; matrix and parameters) and the LLL-reduced lattice
(Lattice.get_lll_reduced_lattice(), delta 0.75) with pymatgen's LLL mapping
(reduced = mapping . input). Floats are written with repr(), so they read back
exactly. When pymatgen raises for the Niggli cell the row says so in the
`niggli_status` column (`error`) and the Niggli columns hold `nan`.

Columns (tab separated; a header line starts with '#'):
    id kind  in_00..in_22 (9)  niggli_status  niggli_00..niggli_22 (9)
    a b c alpha beta gamma  lll_00..lll_22 (9)  lllmap_00..lllmap_22 (9)
"""
import argparse
import math
import os

import numpy as np
import pymatgen.core
from pymatgen.core.lattice import Lattice

SEED = 20240611
RNG = np.random.default_rng(SEED)


def reseed(seed):
    global RNG  # pylint: disable=global-statement
    RNG = np.random.default_rng(seed)


def real_cells():
    """Conventional and primitive cells of common structures (row matrices)."""
    cells = {}
    a = 3.615  # Cu fcc primitive
    cells["fcc_prim"] = np.array([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    a = 2.8665  # Fe bcc primitive
    cells["bcc_prim"] = np.array([[-a / 2, a / 2, a / 2], [a / 2, -a / 2, a / 2], [a / 2, a / 2, -a / 2]])
    cells["hcp_Mg"] = Lattice.hexagonal(3.209, 5.211).matrix
    cells["graphite"] = Lattice.hexagonal(2.464, 6.711).matrix
    cells["NaCl_conv"] = Lattice.cubic(5.640).matrix
    cells["perovskite"] = Lattice.cubic(3.905).matrix
    cells["rutile"] = Lattice.tetragonal(4.594, 2.959).matrix
    cells["orthorhombic"] = Lattice.orthorhombic(4.76, 10.22, 5.99).matrix
    cells["monoclinic"] = Lattice.monoclinic(5.41, 7.12, 9.88, 101.3).matrix
    cells["triclinic"] = Lattice.from_parameters(5.13, 7.97, 8.43, 91.2, 104.7, 95.3).matrix
    cells["rhombo_acute"] = Lattice.rhombohedral(5.43, 55.3).matrix
    cells["rhombo_obtuse"] = Lattice.rhombohedral(4.11, 109.47).matrix
    a = 5.431  # Si diamond primitive (fcc)
    cells["si_prim"] = np.array([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    return cells


def random_unimodular(lo=-3, hi=3):
    while True:
        t = RNG.integers(lo, hi + 1, size=(3, 3))
        d = round(np.linalg.det(t))
        if abs(d) == 1:
            return t


def random_rotation():
    q, r = np.linalg.qr(RNG.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def valid(m, min_volume=1e-3):
    m = np.asarray(m, dtype=float)
    if not np.all(np.isfinite(m)):
        return False
    v = abs(np.linalg.det(m))
    return v > min_volume and v > 1e-4 * np.prod(np.linalg.norm(m, axis=1))


def random_parameters(skewed):
    """(a, b, c, alpha, beta, gamma) of a valid cell."""
    while True:
        if skewed:
            lengths = RNG.uniform(1.0, 4.0, 3) * np.exp(RNG.uniform(0, math.log(20), 3))
            angles = RNG.choice([RNG.uniform(15, 45), RNG.uniform(135, 165), RNG.uniform(45, 135)], 3)
        else:
            lengths = RNG.uniform(2.0, 10.0, 3)
            angles = RNG.uniform(55, 125, 3)
        m = Lattice.from_parameters(*lengths, *angles).matrix
        if valid(m):
            return lengths, angles


def inputs():
    rows = []
    cells = real_cells()
    names = sorted(cells)
    # Real cells as given, and under random unimodular transforms (some
    # rotated, some left-handed).
    for name in names:
        rows.append((name, cells[name]))
    for i in range(110):
        name = names[i % len(names)]
        m = random_unimodular() @ cells[name]
        if i % 3 == 0:
            m = m @ random_rotation().T
        rows.append((name + "_unimod", m))
    # Random parameters, moderate and skewed.
    for _ in range(60):
        l, a = random_parameters(False)
        rows.append(("params", Lattice.from_parameters(*l, *a).matrix))
    for _ in range(40):
        l, a = random_parameters(True)
        rows.append(("params_skewed", Lattice.from_parameters(*l, *a).matrix))
    # Angles close to 90 degrees (pymatgen's 1-degree angle tolerance when
    # mapping back onto the input) and exactly 90 / equal lengths.
    for i in range(25):
        l = RNG.uniform(3.0, 8.0, 3)
        if i % 5 == 0:
            l[1] = l[0]
        a = 90 + RNG.uniform(-0.8, 0.8, 3)
        if i % 4 == 0:
            a[RNG.integers(0, 3)] = 90.0
        m = Lattice.from_parameters(*l, *a).matrix
        if i % 2 == 0:
            m = random_unimodular(-2, 2) @ m
        rows.append(("near90", m))
    # General random matrices (arbitrary orientation and handedness).
    while len([r for r in rows if r[0] == "random_matrix"]) < 40:
        m = RNG.normal(size=(3, 3)) * RNG.uniform(2, 6)
        if valid(m, 1.0):
            rows.append(("random_matrix", m))
    # Small cells (all vectors shorter than 1 A: pymatgen's min_r path).
    while len([r for r in rows if r[0] == "small"]) < 10:
        m = RNG.normal(size=(3, 3)) * 0.25
        if valid(m, 1e-3) and np.max(np.linalg.norm(m, axis=1)) < 0.9 and np.min(np.linalg.norm(m, axis=1)) > 0.2:
            rows.append(("small", m))
    return rows


def fmt(x):
    return repr(float(x))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", nargs="?", default=os.path.join(here, "..", "tests", "fixtures", "lattice_reduction.tsv"))
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--repeat", type=int, default=1, help="concatenate this many independent sets")
    args = parser.parse_args()
    out = args.output
    reseed(args.seed)
    ij = [f"{i}{j}" for i in range(3) for j in range(3)]
    header = (["id", "kind"] + ["in_" + s for s in ij] + ["niggli_status"] + ["niggli_" + s for s in ij] +
              ["a", "b", "c", "alpha", "beta", "gamma"] + ["lll_" + s for s in ij] + ["lllmap_" + s for s in ij])
    lines = [
        f"# generated by tools/make_reduction_fixtures.py with pymatgen {pymatgen.core.__version__}, "
        f"numpy {np.__version__}, seed {args.seed}, repeat {args.repeat}",
        "#" + "\t".join(header),
    ]
    n_err = 0
    cases = [case for _ in range(args.repeat) for case in inputs()]
    for idx, (kind, m) in enumerate(cases):
        m = np.array(m, dtype=float)
        lat = Lattice(m)
        lll = lat.get_lll_reduced_lattice()
        mapping = lat.lll_mapping
        try:
            nig = lat.get_niggli_reduced_lattice()
            status = "ok"
            nm = nig.matrix.flatten()
            params = list(nig.parameters)
        except Exception:  # pylint: disable=broad-except
            status = "error"
            n_err += 1
            nm = [math.nan] * 9
            params = [math.nan] * 6
        fields = [str(idx), kind] + [fmt(x) for x in m.flatten()] + [status] + [fmt(x) for x in nm]
        fields += [fmt(x) for x in params] + [fmt(x) for x in lll.matrix.flatten()]
        fields += [str(int(round(x))) for x in mapping.flatten()]
        lines.append("\t".join(fields))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines) - 2} rows ({n_err} niggli errors) to {out}")


if __name__ == "__main__":
    main()
