#!/usr/bin/python3
"""Reference answers for the field's validity checks (CDVAE/DiffCSP).

CDVAE (txie-93/cdvae, scripts/eval_utils.py) and DiffCSP (jiaor17/DiffCSP,
same file) score a crystal as valid when it is

  * structurally valid, `structure_validity(crystal, cutoff=0.5)`: pymatgen's
    `Structure.distance_matrix` plus (cutoff + 10) on the diagonal has no entry
    below 0.5 Å and the volume is at least 0.1 Å³; and
  * compositionally valid, `smact_validity(elems, counts)` with SMACT 2.2.1:
    elements sorted by Z, counts divided by their gcd; one element -> True;
    every element in `smact.metals` -> True (alloy); DiffCSP: more than 1e7
    oxidation-state combinations -> False; otherwise True when some
    combination from itertools.product over the elements' oxidation states
    (SMACT's `oxidation_states.txt`) is charge neutral for the counts
    (`smact.neutral_ratios(ox, stoichs=[(c,) for c in counts], ...)`) and passes
    `smact.screening.pauling_test(ox, pauling_enegs)`, where a TypeError
    (comparison with a missing electronegativity) counts as passed.

SMACT itself is not installed here: its three functions are transcribed
below from the SMACT 2.2.1 sources and read the SMACT 2.2.1 tables shipped in
data/reference/smact-2.2.1 (element_data.txt column 10 = Pauling
electronegativity, "None" when missing; oxidation_states.txt; metals.txt).
The transcription keeps SMACT's exact control flow, which matters for the
elements without an electronegativity (Pm, Rn, Lr): in `eneg_states_test` a
cation/anion comparison with None raises TypeError (smact_validity then
accepts the combination), while a pair of same-sign ions with a None
electronegativity makes the test return False; the first pair (in
itertools.combinations order) that decides wins.

Output: tests/fixtures/validity.tsv.gz, gzip text (mtime 0, reruns are
byte-identical), tab-separated, one header line:
    dataset row material_id struct_valid comp_valid
  * one line per CSV row of every dataset below, in CSV order (row = 0-based
    data row); the structure is built as DiffCSP's `get_gt_crys_ori` does:
    Structure.from_str(cif, fmt="cif") (primitive=False), then a new Structure
    from Lattice.from_parameters(abc + angles), the atomic numbers and the
    fractional coordinates; struct_valid/comp_valid are 0 or 1;
  * the same for the full MP-20 and MPTS-52 test splits (BENCHMARK_DATASETS:
    mp_20_test, mpts_52_test), with the Python's time per dataset printed;
  * then one line per structure of tests/fixtures/validity_synthetic.csv.gz
    (dataset "synthetic", same pipeline), a CDVAE-layout CSV this script
    writes: structures meant to stress the structural check, built from the
    first rows of each dataset and from random cells (seeded):
      - "scaled": the cell scaled so that the shortest distance is
        0.5 * (1 -/+ 2e-4) Å (just invalid / just valid);
      - "skewed": the same after a random unimodular change of basis with
        entries up to ~10 (very oblique cells: pymatgen's LLL + 27 images);
      - "random": 2..10 atoms of 1..4 random elements (Z 1..103) in random
        cells, many with atoms closer than 0.5 Å; a few one-atom cells with
        volumes around 0.1 Å³ (a site's own images are not tested);
    atoms are kept >= 2e-3 apart in fractional units, so no CIF reader merges
    them;
  * then one line per formula: dataset "formula", material_id = the formula
    (parsed by pymatgen's Composition), struct_valid "NA": first the hand list
    below, then random compositions (2..5 elements of Z 1..103, counts 1..8,
    at most 5e4 oxidation-state combinations so that the Python stays quick).

Run from anywhere with Debian's python (pymatgen 2022.11.7):
    /usr/bin/python3 tools/make_validity_fixtures.py
Deterministic; single process; prints the valid shares per dataset.
"""
import csv
import gzip
import io
import itertools
import math
import os
import sys
import time
import warnings
from itertools import combinations
from math import gcd

import numpy as np
from pymatgen.core import Composition, Element, Lattice, Structure
from pymatgen.io.cif import CifWriter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMACT_DIR = os.path.join(ROOT, "data", "reference", "smact-2.2.1")
DATASETS = [
    ("perov_5_test", "data/datasets/perov_5/test.csv.gz"),
    ("carbon_24_test", "data/datasets/carbon_24/test.csv.gz"),
    ("mp_20_head", "data/datasets/mp_20_head/train_head.csv.gz"),
]
# The real benchmarks' full test splits: scored like DATASETS, but not used
# for the synthetic structures (which stay as they were).
BENCHMARK_DATASETS = [
    ("mp_20_test", "data/datasets/mp_20/test.csv.gz"),
    ("mpts_52_test", "data/datasets/mpts_52/test.csv.gz"),
]
OUT_TSV = os.path.join(ROOT, "tests", "fixtures", "validity.tsv.gz")
OUT_SYNTHETIC = os.path.join(ROOT, "tests", "fixtures", "validity_synthetic.csv.gz")
N_SCALED = 60        # rows of each dataset scaled to the cutoff
N_SKEWED = 40        # rows of each dataset in an oblique basis, scaled to the cutoff
N_RANDOM = 400       # random cells
N_RANDOM_FORMULAS = 3000
SEED = 20240521

# Compositions with a known or tricky answer (see the C++ test for the why).
HAND_FORMULAS = [
    # ordinary ionic compounds
    "NaCl", "CsCl", "Fe3O4", "Fe2O3", "FeO", "MgO", "Al2O3", "SiO2", "BaTiO3",
    "SrTiO3", "CaTiO3", "LiFePO4", "Li2O", "Na2O2", "KO2", "LiH", "NaH", "CaF2",
    "TiO2", "ZnS", "GaAs", "GaN", "CdTe", "SnO2", "PbI2", "CsPbI3",
    # halves of the rules: single element, alloys (every element a SMACT metal)
    "Fe", "Si", "O2", "C", "He", "CuZn", "Cu3Au", "Ni3Al", "FeCoNiCrMn", "NbTiAlCr",
    # not alloys: an element outside SMACT's metals list (B, Si, As, Pm, Lr ...)
    "FeB", "Fe3Si", "GaAs2", "Mg2Si", "Fe3C", "PmFe", "PmNi",
    # Zr: SMACT 2.2.1's table has Pauling 0.33 (sic), which lets Zr be a cation
    # next to nearly anything and never an anion partner
    "ZrO2", "BaZrO3", "SrZrO3", "ZrN", "ZrH2", "ZrC", "ZrS2", "ZrSiO4", "ZrB2",
    "Li2ZrF6", "ZrTe", "ZrI4", "LaZrO",
    # ... valid only because of 0.33 (Na-, K- as anions next to the Zr cation)
    "ZrNa3N", "Zr3Na2N", "Zr4KC",
    # noble gases: He, Ne, Ar have no oxidation states (empty product)
    "HeO", "NaHe", "He2Na", "NeF2", "ArCl", "KrF2", "XeF2", "XeO3", "RnF2",
    # no Pauling electronegativity (Pm, Rn, Lr): SMACT's exact control flow
    "PmCl3", "Pm2O3", "NaPmCl4", "PmH3", "LrCl3", "RnO3", "RnNaF", "KPmF4",
    "PmNaO2", "LiPmO2", "PmRnF8", "LrPmO3",
    # charge neutral only with an unusual state (Na-, Au-, Cs-)
    "NaAu", "CsAu", "Na2Cs", "K3Sb", "CsAuO",
    # charge balance impossible / Pauling order fails
    "NaCl2", "Na2Cl3", "CaCl", "FO2", "OF2", "ClO2", "Cl2O7", "NO3",
    "HF", "H2O", "CH4", "NH3", "SiC", "BN", "CO2", "SF6", "IF7",
    # many elements and large oxidation-state products
    "MnOsIrRuTcReCl", "MnOsIrRuTcReFeCl", "MnOsIrRuTcReFeClO",
    "MnOsIrTiNiAuSeCuPd", "MnOsIrTiNiAuSeCuPdB",
    "LiNaKRbCsFClBrI", "BaSrCaMgTiZrHfO6", "Li7La3Zr2O12",
    "Na13Cl12", "Fe11O12", "Ti6O11", "Mn7O13", "Os5Ir3Cl17",
]


# --------------------------------------------------------------------------
# SMACT 2.2.1 data (smact/data_loader.py)

def _get_data_rows(filename):
    with open(filename, "r") as fh:
        for line in fh:
            line = line.strip()
            if line and line[0] != "#":
                yield line.split()


def _float_or_None(x):
    try:
        return float(x)
    except ValueError:
        return None


PAULING = {}
for items in _get_data_rows(os.path.join(SMACT_DIR, "element_data.txt")):
    PAULING[items[0]] = _float_or_None(items[9])  # el_neg, "None" -> None
OX_STATES = {}
for items in _get_data_rows(os.path.join(SMACT_DIR, "oxidation_states.txt")):
    OX_STATES[items[0]] = [int(s) for s in items[1:]]
with open(os.path.join(SMACT_DIR, "metals.txt")) as fh:
    METALS = [line.strip() for line in fh if line.strip()]


# --------------------------------------------------------------------------
# SMACT 2.2.1 (smact/__init__.py, smact/screening.py), transcribed

def _gcd_recursive(*args):
    if len(args) == 2:
        return gcd(*args)
    else:
        return gcd(args[0], _gcd_recursive(*args[1:]))


def _isneutral(oxidations, stoichs):
    return 0 == sum(map(lambda a, b: a * b, oxidations, stoichs))


def neutral_ratios_iter(oxidations, stoichs=False, threshold=5):
    if not stoichs:
        stoichs = [list(range(1, threshold + 1))] * len(oxidations)
    return filter(
        lambda x: _isneutral(oxidations, x) and _gcd_recursive(*x) == 1,
        itertools.product(*stoichs))


def neutral_ratios(oxidations, stoichs=False, threshold=5):
    allowed_ratios = [x for x in neutral_ratios_iter(oxidations, stoichs=stoichs, threshold=threshold)]
    return (len(allowed_ratios) > 0, allowed_ratios)


def eneg_states_test(ox_states, enegs):
    for ((ox1, eneg1), (ox2, eneg2)) in combinations(list(zip(ox_states, enegs)), 2):
        if (ox1 > 0) and (ox2 < 0) and (eneg1 >= eneg2):
            return False
        elif (ox1 < 0) and (ox2 > 0) and (eneg1 <= eneg2):
            return False
        elif eneg1 is None or eneg2 is None:
            return False
    else:
        return True


def pauling_test(oxidation_states, electronegativities, symbols=[], repeat_anions=True,
                 repeat_cations=True, threshold=0.0):
    # repeat_anions = repeat_cations = True, threshold = 0: the only branch used.
    return eneg_states_test(oxidation_states, electronegativities)


# --------------------------------------------------------------------------
# DiffCSP scripts/eval_utils.py, with SMACT's Element replaced by the tables

def smact_validity(comp, count, use_pauling_test=True, include_alloys=True):
    elem_symbols = tuple([Element.from_Z(elem).symbol for elem in comp])
    electronegs = [PAULING[s] for s in elem_symbols]
    ox_combos = [OX_STATES[s] for s in elem_symbols]
    if len(set(elem_symbols)) == 1:
        return True
    if include_alloys:
        is_metal_list = [elem_s in METALS for elem_s in elem_symbols]
        if all(is_metal_list):
            return True

    threshold = np.max(count)
    oxn = 1
    for oxc in ox_combos:
        oxn *= len(oxc)
    if oxn > 1e7:
        return False
    for ox_states in itertools.product(*ox_combos):
        stoichs = [(c,) for c in count]
        cn_e, cn_r = neutral_ratios(ox_states, stoichs=stoichs, threshold=threshold)
        if cn_e:
            if use_pauling_test:
                try:
                    electroneg_OK = pauling_test(ox_states, electronegs)
                except TypeError:
                    electroneg_OK = True
            else:
                electroneg_OK = True
            if electroneg_OK:
                return True
    return False


def structure_validity(crystal, cutoff=0.5):
    dist_mat = crystal.distance_matrix
    dist_mat = dist_mat + np.diag(np.ones(dist_mat.shape[0]) * (cutoff + 10.))
    if dist_mat.min() < cutoff or crystal.volume < 0.1:
        return False
    else:
        return True


def elems_and_counts(atom_types):
    """DiffCSP Crystal.get_composition: elements sorted by Z, counts / gcd."""
    elems = sorted(set(int(z) for z in atom_types))
    counts = np.array([sum(1 for z in atom_types if int(z) == e) for e in elems])
    counts = counts / np.gcd.reduce(counts)
    return elems, tuple(counts.astype("int").tolist())


def crystal_validity(cif):
    """DiffCSP get_gt_crys_ori + Crystal: (struct_valid, comp_valid)."""
    structure = Structure.from_str(cif, fmt="cif")
    lattice = structure.lattice
    frac_coords = structure.frac_coords
    atom_types = np.array([site.specie.Z for site in structure])
    lengths, angles = np.array(lattice.abc), np.array(lattice.angles)
    constructed = True
    if min(lengths.tolist()) < 0 or np.isnan(lengths).any() or np.isnan(angles).any() \
            or np.isnan(frac_coords).any():
        constructed = False
    else:
        crystal = Structure(lattice=Lattice.from_parameters(*(lengths.tolist() + angles.tolist())),
                            species=atom_types, coords=frac_coords, coords_are_cartesian=False)
        if crystal.volume < 0.1:
            constructed = False
    elems, counts = elems_and_counts(atom_types)
    comp_valid = smact_validity(elems, counts)
    struct_valid = structure_validity(crystal) if constructed else False
    return struct_valid, comp_valid


def formula_validity(formula):
    amounts = Composition(formula).get_el_amt_dict()
    elems = sorted(Element(s).Z for s in amounts)
    counts = np.array([int(round(amounts[Element.from_Z(z).symbol])) for z in elems])
    counts = counts / np.gcd.reduce(counts)
    return smact_validity(elems, tuple(counts.astype("int").tolist()))


def read_rows(path):
    csv.field_size_limit(1 << 30)
    with gzip.open(os.path.join(ROOT, path), "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_gzip(path, text):
    """gzip with mtime 0 and no file name: reruns are byte-identical."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(text.encode("utf-8"))


def min_distance(s):
    d = s.distance_matrix + np.diag(np.full(len(s), np.inf))
    return float(d.min())


def min_frac_separation(frac):
    """Smallest periodic fractional separation (per axis max) between two sites."""
    best = np.inf
    for i in range(len(frac)):
        for j in range(i + 1, len(frac)):
            d = frac[j] - frac[i]
            d -= np.round(d)
            best = min(best, float(np.abs(d).max()))
    return best


def random_unimodular(rng):
    """Product of random integer shears: det 1, entries up to ~10."""
    t = np.eye(3, dtype=int)
    for _ in range(4):
        i, j = rng.choice(3, size=2, replace=False)
        e = np.eye(3, dtype=int)
        e[i, j] = int(rng.integers(-2, 3))
        t = e @ t
    return t


def scaled_to_cutoff(s, lattice_matrix, frac, rel):
    """Same sites, cell scaled so the shortest distance is 0.5 * (1 + rel)."""
    probe = Structure(Lattice(lattice_matrix), s.species, frac)
    f = 0.5 * (1 + rel) / min_distance(probe)
    return Structure(Lattice(lattice_matrix * f), s.species, frac)


def synthetic_structures(rng):
    """(material_id, Structure) pairs, see the module docstring."""
    out = []
    for dataset, path in DATASETS:
        rows = read_rows(path)
        for row in range(N_SCALED):
            s = Structure.from_str(rows[row]["cif"], fmt="cif")
            rel = -2e-4 if row % 2 == 0 else 2e-4
            tag = "low" if rel < 0 else "high"
            out.append((f"scaled-{dataset}-{row}-{tag}",
                        scaled_to_cutoff(s, s.lattice.matrix, s.frac_coords, rel)))
        for row in range(N_SKEWED):
            s = Structure.from_str(rows[row]["cif"], fmt="cif")
            if len(s) < 2:
                continue
            t = random_unimodular(rng)
            matrix = t @ s.lattice.matrix
            frac = s.frac_coords @ np.linalg.inv(t)
            frac -= np.floor(frac)
            rel = -2e-4 if row % 2 == 0 else 2e-4
            tag = "low" if rel < 0 else "high"
            out.append((f"skewed-{dataset}-{row}-{tag}", scaled_to_cutoff(s, matrix, frac, rel)))
    n = 0
    while n < N_RANDOM:
        if n < 12:  # one atom, volume around the 0.1 A^3 limit
            natoms = 1
            v = [0.05, 0.0999, 0.1001, 0.2][n % 4]
            a = v ** (1 / 3)
            lat = Lattice.from_parameters(a, a, a, 90, 90, 90)
        else:
            natoms = int(rng.integers(2, 11))
            lengths = rng.uniform(1.5, 7.0, size=3)
            angles = rng.uniform(55, 125, size=3)
            lat = Lattice.from_parameters(*lengths, *angles)
            if not np.isfinite(lat.volume) or lat.volume < 1.0:
                continue
        frac = rng.uniform(0, 1, size=(natoms, 3))
        if natoms > 1 and min_frac_separation(frac) < 2e-3:
            continue
        pool = rng.choice(np.arange(1, 104), size=int(rng.integers(1, 5)), replace=False)
        species = [int(z) for z in rng.choice(pool, size=natoms)]
        out.append((f"random-{n}", Structure(lat, species, frac)))
        n += 1
    return out


def random_formulas(rng):
    out = []
    while len(out) < N_RANDOM_FORMULAS:
        k = int(rng.integers(2, 6))
        zs = sorted(int(z) for z in rng.choice(np.arange(1, 104), size=k, replace=False))
        syms = [Element.from_Z(z).symbol for z in zs]
        if math.prod(len(OX_STATES[x]) for x in syms) > 5e4:
            continue
        counts = rng.integers(1, 9, size=k)
        out.append("".join(f"{x}{int(c)}" for x, c in zip(syms, counts)))
    return out


def main():
    t0 = time.time()
    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(SEED)
    lines = ["\t".join(["dataset", "row", "material_id", "struct_valid", "comp_valid"])]

    def add_rows(dataset, rows):
        t1 = time.time()
        n_struct = n_comp = n_both = 0
        for row, rec in enumerate(rows):
            sv, cv = crystal_validity(rec["cif"])
            n_struct += sv
            n_comp += cv
            n_both += sv and cv
            lines.append("\t".join([dataset, str(row), rec["material_id"], str(int(sv)), str(int(cv))]))
        n = len(rows)
        print(f"{dataset}: {n} structures, struct valid {n_struct} ({100 * n_struct / n:.2f} %), "
              f"SMACT valid {n_comp} ({100 * n_comp / n:.2f} %), both {n_both} "
              f"({100 * n_both / n:.2f} %), {time.time() - t1:.1f} s")

    for dataset, path in DATASETS + BENCHMARK_DATASETS:
        add_rows(dataset, read_rows(path))

    # Synthetic structures: written as a CDVAE CSV, then scored from that text
    # like the datasets (so both sides read the same 8-decimal CIF).
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["", "material_id", "cif"])
    for i, (mid, s) in enumerate(synthetic_structures(rng)):
        writer.writerow([i, mid, str(CifWriter(s))])
    write_gzip(OUT_SYNTHETIC, buf.getvalue())
    add_rows("synthetic", read_rows(OUT_SYNTHETIC))

    formulas = HAND_FORMULAS + random_formulas(rng)
    n_valid = 0
    t1 = time.time()
    for i, formula in enumerate(formulas):
        cv = formula_validity(formula)
        n_valid += cv
        lines.append("\t".join(["formula", str(i), formula, "NA", str(int(cv))]))
    print(f"formulas: {len(HAND_FORMULAS)} by hand + {len(formulas) - len(HAND_FORMULAS)} random, "
          f"SMACT valid {n_valid}, {time.time() - t1:.1f} s")
    write_gzip(OUT_TSV, "\n".join(lines) + "\n")
    print(f"wrote {OUT_TSV}: {len(lines) - 1} lines, {os.path.getsize(OUT_TSV)} bytes")
    print(f"wrote {OUT_SYNTHETIC}: {os.path.getsize(OUT_SYNTHETIC)} bytes; total {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
