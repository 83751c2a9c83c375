#!/usr/bin/python3
"""The generation metrics as CDVAE's scripts/compute_metrics.py computes
them (GenEval: validity, COV-R / COV-P, Wasserstein distances of density and
of the number of elements) plus uniqueness, in pymatgen 2022.11.7 (Debian's
python3-pymatgen) with SMACT 2.2.1's rules and matminer's fingerprints
transcribed in tools/make_validity_fixtures.py and
tools/make_fingerprint_fixtures.py, timed: the whole-run reference for
`xtaldiff eval gen` (issue 16: eval on MP-20-sized sets against pymatgen on
the same CPU), and a check of its numbers on a real run.

    /usr/bin/python3 tools/time_eval_gen_pymatgen.py SAMPLES.extxyz REF.csv.gz STRUCT_CUTOFF COMP_CUTOFF [REF_ROWS]

SAMPLES.extxyz (or .csv) is a raw `xtaldiff sample` output. Every sample is built as
CDVAE's Crystal (lattice from lengths and angles, atomic numbers);
validity as CDVAE (structural 0.5 Å / 0.1 Å³, SMACT); fingerprints of every
constructed crystal (a crystal whose CrystalNN fails has none); COV with
the given cut-offs (MP-20: 0.4 10); Wasserstein distances over all valid
samples (so compare with `eval gen --n-property` larger than the sample
count); uniqueness by StructureMatcher().fit within a reduced formula, as
`eval gen` counts it. REF_ROWS limits the reference to its first rows.
Prints one JSON line with the metrics and the seconds of each part (one
thread, reading included).
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
from collections import Counter, defaultdict  # noqa: E402

import numpy as np  # noqa: E402
from pymatgen.analysis.structure_matcher import StructureMatcher  # noqa: E402
from pymatgen.core import Composition, Lattice, Structure  # noqa: E402
from scipy.spatial.distance import cdist  # noqa: E402
from scipy.stats import wasserstein_distance  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fingerprint_fixtures import CrystalNNFingerprint, magpie_featurize, magpie_standardize  # noqa: E402
from make_validity_fixtures import elems_and_counts, smact_validity, structure_validity  # noqa: E402

csv.field_size_limit(1 << 30)


def rows(path, limit=None):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        out = []
        for r in csv.DictReader(f):
            out.append(r)
            if limit is not None and len(out) >= limit:
                break
        return out


def read_extxyz(path):
    """(lattice matrix, atomic numbers, fractional coordinates) per frame of
    an extxyz file as `xtaldiff sample` writes it: the raw arrays, as CDVAE
    builds its Crystals (a CIF of overlapping atoms is refused by pymatgen's
    reader, the arrays are not)."""
    from pymatgen.core import Element
    frames, lines, k = [], open(path).read().splitlines(), 0
    while k < len(lines) and lines[k].strip():
        n = int(lines[k])
        head = lines[k + 1]
        m = [float(x) for x in head.split('Lattice="')[1].split('"')[0].split()]
        lattice = np.array(m).reshape(3, 3)
        z, cart = [], []
        for line in lines[k + 2:k + 2 + n]:
            f = line.split()
            z.append(Element(f[0]).Z)
            cart.append([float(x) for x in f[1:4]])
        frames.append((lattice, z, np.array(cart) @ np.linalg.inv(lattice)))
        k += 2 + n
    return frames


def crystal(cif=None, arrays=None):
    """CDVAE's Crystal from a CIF or raw arrays: (structure or None, struct_valid, comp_valid)."""
    if arrays is not None:
        lattice, z, frac = arrays
        s = Structure(Lattice(lattice), z, frac)
    else:
        s = Structure.from_str(cif, fmt="cif")
        z = [site.specie.Z for site in s]
        frac = s.frac_coords
    lengths, angles = list(s.lattice.abc), list(s.lattice.angles)
    if min(lengths) < 0 or np.isnan(lengths + angles).any():
        return None, False, False
    c = Structure(Lattice.from_parameters(*(lengths + angles)), z, frac)
    elems, counts = elems_and_counts(z)
    comp_valid = smact_validity(elems, counts)
    struct_valid = c.volume >= 0.1 and structure_validity(c)
    return c, struct_valid, comp_valid


def fingerprints(structures, fp):
    struct, comp = [], []
    for s in structures:
        if s is None:
            struct.append(None), comp.append(None)
            continue
        try:
            site_fps = [fp.featurize(s, i) for i in range(len(s))]
        except Exception:  # CDVAE: no fingerprint, left out of the distances
            struct.append(None), comp.append(None)
            continue
        struct.append(np.array(site_fps).mean(axis=0))
        comp.append(np.array(magpie_standardize(magpie_featurize(Composition(Counter(site.specie for site in s))))))
    return struct, comp


def main():
    warnings.filterwarnings("ignore")
    samples_path, ref_path = sys.argv[1], sys.argv[2]
    struct_cut, comp_cut = float(sys.argv[3]), float(sys.argv[4])
    ref_rows = int(sys.argv[5]) if len(sys.argv) > 5 else None
    seconds = {}
    t = time.time()
    gen = ([crystal(arrays=a) for a in read_extxyz(samples_path)] if samples_path.endswith(".extxyz")
           else [crystal(r["cif"]) for r in rows(samples_path)])
    ref = [crystal(r["cif"])[0] for r in rows(ref_path, ref_rows)]
    seconds["read_and_validity"] = time.time() - t
    n = len(gen)
    valid = [g for g in gen if g[0] is not None and g[1] and g[2]]

    t = time.time()
    fp = CrystalNNFingerprint.from_preset_ops()
    gs, gc = fingerprints([g[0] for g in gen], fp)
    rs, rc = fingerprints(ref, fp)
    seconds["fingerprints"] = time.time() - t

    t = time.time()
    gi = [i for i in range(n) if gs[i] is not None]
    ri = [i for i in range(len(ref)) if rs[i] is not None]
    s_dist = cdist(np.array([gs[i] for i in gi]), np.array([rs[i] for i in ri]))
    c_dist = cdist(np.array([gc[i] for i in gi]), np.array([rc[i] for i in ri]))
    recall = np.mean(np.logical_and(s_dist.min(axis=0) <= struct_cut, c_dist.min(axis=0) <= comp_cut))
    precision = np.sum(np.logical_and(s_dist.min(axis=1) <= struct_cut, c_dist.min(axis=1) <= comp_cut)) / n
    w_density = wasserstein_distance([g[0].density for g in valid], [s.density for s in ref])
    w_elems = wasserstein_distance([len(set(g[0].species)) for g in valid], [len(set(s.species)) for s in ref])
    seconds["coverage_and_distances"] = time.time() - t

    t = time.time()
    matcher = StructureMatcher()
    by_formula = defaultdict(list)
    for i, g in enumerate(gen):
        if g[0] is not None:
            by_formula[g[0].composition.reduced_formula].append(g[0])
    unique = 0
    for members in by_formula.values():
        for a in range(len(members)):
            unique += not any(matcher.fit(members[b], members[a]) for b in range(a))
    seconds["uniqueness"] = time.time() - t

    print(json.dumps({
        "n": n, "reference": len(ref),
        "struct_validity": sum(g[1] for g in gen) / n, "comp_validity": sum(g[2] for g in gen) / n,
        "validity": len(valid) / n, "cov_recall": float(recall), "cov_precision": float(precision),
        "wdist_density": w_density, "wdist_num_elems": w_elems, "uniqueness": unique / n,
        "seconds": {k: round(v, 1) for k, v in seconds.items()}, "total_seconds": round(sum(seconds.values()), 1)}))


if __name__ == "__main__":
    main()
