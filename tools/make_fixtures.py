#!/usr/bin/python3
"""Generate pymatgen reference fixtures for xtaldiff's C++ tests.

xtaldiff re-implements (in C++) the parts of pymatgen that the CDVAE/DiffCSP
evaluation pipeline relies on: CIF parsing, lattice parameters, Niggli
reduction, composition formulas, density and spglib space groups.  The C++
tests compare their results with the values pymatgen itself produces on the
same inputs, which this script computes and freezes.

Inputs (CDVAE layout, gzip CSV with `material_id` and a P1 `cif` column):
    data/datasets/perov_5/test.csv.gz          -> dataset "perov_5_test"
    data/datasets/carbon_24/test.csv.gz        -> dataset "carbon_24_test"
    data/datasets/mp_20_head/train_head.csv.gz -> dataset "mp_20_head"

Outputs:
  tests/fixtures/pymatgen_structures.tsv.gz
      gzip text (mtime 0, so reruns are byte-identical), tab-separated, one
      header line, then one line per CSV row of every dataset, in CSV order.
      Columns:
        dataset material_id row natoms formula reduced_formula el_amt
        a b c alpha beta gamma volume density
        sg_0.1_number sg_0.1_symbol sg_0.01_number sg_0.01_symbol
        niggli_a niggli_b niggli_c niggli_alpha niggli_beta niggli_gamma
        m00 m01 m02 m10 m11 m12 m20 m21 m22
      * the structure is CifParser(cif).get_structures(primitive=False)[0]
        (parse_structures(primitive=False) on newer pymatgen), i.e. exactly
        the written cell (no primitive reduction).  Note what CifParser does:
        lattice = Lattice.from_parameters(a,b,c,alpha,beta,gamma) from the
        CIF text, fractional coordinates within 1e-4 (relative) of 1/3, 2/3
        are snapped to them, coordinates are wrapped into [0,1), sites are
        sorted by electronegativity.
      * row = 0-based data-row index in the CSV; el_amt =
        Composition.get_el_amt_dict() as "Ba:1,Ti:1,O:3" (dict order; amounts
        printed as int when integral, else repr);
        sg_* from SpacegroupAnalyzer(s, symprec, angle_tolerance=5);
        niggli_* = s.lattice.get_niggli_reduced_lattice().parameters;
        m00..m22 = s.lattice.matrix row-major (rows are lattice vectors).
      * floats are written with repr() (shortest round-trip form); a value
        that could not be computed is written as "nan" (numbers) or "ERROR"
        (strings), with the reason on stderr.

  tests/fixtures/symmetrized_cifs/{dataset}_{row}.cif
      for the first 40 rows of each dataset: CifWriter(s, symprec=0.1).
      These are non-P1 CIFs (refined/conventional cell + symmetry operations);
      a CIF reader must apply the operations to get the full cell back.
  tests/fixtures/symmetrized_cifs/index.tsv
      dataset row file natoms_expanded a b c alpha beta gamma volume formula
      where the structure is pymatgen's re-reading of that CIF with
      primitive=False (natoms_expanded = its number of sites; note that the
      refined cell can be larger than the original P1 cell).

Run from anywhere with Debian's python (which has pymatgen and spglib):
    /usr/bin/python3 tools/make_fixtures.py
Deterministic; single process.
"""
import csv
import gzip
import io
import math
import os
import sys
import time
import warnings

import pymatgen.core
from pymatgen.io.cif import CifParser, CifWriter
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASETS = [
    ("perov_5_test", "data/datasets/perov_5/test.csv.gz"),
    ("carbon_24_test", "data/datasets/carbon_24/test.csv.gz"),
    ("mp_20_head", "data/datasets/mp_20_head/train_head.csv.gz"),
]
OUT_TSV = os.path.join(ROOT, "tests", "fixtures", "pymatgen_structures.tsv.gz")
OUT_CIF_DIR = os.path.join(ROOT, "tests", "fixtures", "symmetrized_cifs")
N_SYMMETRIZED = 40
SYMPRECS = (0.1, 0.01)
ANGLE_TOLERANCE = 5

COLUMNS = (
    ["dataset", "material_id", "row", "natoms", "formula", "reduced_formula", "el_amt",
     "a", "b", "c", "alpha", "beta", "gamma", "volume", "density"]
    + [f"sg_{p}_{k}" for p in SYMPRECS for k in ("number", "symbol")]
    + ["niggli_a", "niggli_b", "niggli_c", "niggli_alpha", "niggli_beta", "niggli_gamma"]
    + [f"m{i}{j}" for i in range(3) for j in range(3)]
)
INDEX_COLUMNS = ["dataset", "row", "file", "natoms_expanded",
                 "a", "b", "c", "alpha", "beta", "gamma", "volume", "formula"]


def parse_cif(parser):
    """First structure of a CifParser, exactly the written cell (no primitive reduction)."""
    if hasattr(parser, "parse_structures"):  # pymatgen >= 2024
        return parser.parse_structures(primitive=False)[0]
    return parser.get_structures(primitive=False)[0]


def cif_parser_from_str(text):
    if hasattr(CifParser, "from_str"):
        return CifParser.from_str(text)
    return CifParser.from_string(text)


def f(x):
    """repr of a float (also for numpy scalars), 'nan' for NaN."""
    x = float(x)
    return "nan" if math.isnan(x) else repr(x)


def amt(x):
    x = float(x)
    return str(int(x)) if x == int(x) else repr(x)


def read_rows(path):
    csv.field_size_limit(1 << 30)
    with gzip.open(os.path.join(ROOT, path), "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


class Stats:
    def __init__(self):
        self.counts = {}
        self.examples = {}

    def add(self, key, example=None):
        self.counts[key] = self.counts.get(key, 0) + 1
        if example is not None and key not in self.examples:
            self.examples[key] = example


def structure_line(dataset, row, mid, cif, stats):
    fields = {"dataset": dataset, "material_id": mid, "row": str(row)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parser = cif_parser_from_str(cif)
        s = parse_cif(parser)
    for w in caught:
        stats.add(f"parse warning: {w.message}", f"{dataset}:{row}")
    n_cif_sites = len(next(iter(parser._cif.data.values()))["_atom_site_label"])  # diagnostics only
    if n_cif_sites != len(s):
        stats.add("parsed natoms != CIF site rows (sites merged)", f"{dataset}:{row}")
    if not s.is_ordered:
        stats.add("disordered (partial occupancy) structure", f"{dataset}:{row}")

    comp = s.composition
    lat = s.lattice
    fields["natoms"] = str(len(s))
    fields["formula"] = comp.formula
    fields["reduced_formula"] = comp.reduced_formula
    fields["el_amt"] = ",".join(f"{el}:{amt(v)}" for el, v in comp.get_el_amt_dict().items())
    for name, v in zip(("a", "b", "c", "alpha", "beta", "gamma"), lat.parameters):
        fields[name] = f(v)
    fields["volume"] = f(lat.volume)
    fields["density"] = f(s.density)
    for p in SYMPRECS:
        try:
            sga = SpacegroupAnalyzer(s, symprec=p, angle_tolerance=ANGLE_TOLERANCE)
            fields[f"sg_{p}_number"] = str(sga.get_space_group_number())
            fields[f"sg_{p}_symbol"] = sga.get_space_group_symbol()
        except Exception as exc:  # spglib failure
            print(f"{dataset}:{row}: spacegroup symprec={p} failed: {exc!r}", file=sys.stderr)
            stats.add(f"spacegroup failure symprec={p}", f"{dataset}:{row}")
            fields[f"sg_{p}_number"] = "nan"
            fields[f"sg_{p}_symbol"] = "ERROR"
    try:
        nig = lat.get_niggli_reduced_lattice().parameters
    except ValueError as exc:
        print(f"{dataset}:{row}: niggli failed: {exc!r}", file=sys.stderr)
        stats.add("niggli failure", f"{dataset}:{row}")
        nig = [float("nan")] * 6
    for name, v in zip(("a", "b", "c", "alpha", "beta", "gamma"), nig):
        fields["niggli_" + name] = f(v)
    for i in range(3):
        for j in range(3):
            fields[f"m{i}{j}"] = f(lat.matrix[i][j])
    return "\t".join(fields[c] for c in COLUMNS), s


def write_symmetrized(dataset, row, s):
    name = f"{dataset}_{row}.cif"
    path = os.path.join(OUT_CIF_DIR, name)
    CifWriter(s, symprec=0.1).write_file(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = parse_cif(CifParser(path))
    return "\t".join([dataset, str(row), name, str(len(r))]
                     + [f(v) for v in r.lattice.parameters]
                     + [f(r.lattice.volume), r.composition.formula])


def main():
    t0 = time.time()
    # Element.X warns for He/Ne/Ar (NaN electronegativity) when formulas are built; expected.
    warnings.filterwarnings("ignore", message="No electronegativity for")
    stats = Stats()
    os.makedirs(os.path.dirname(OUT_TSV), exist_ok=True)
    os.makedirs(OUT_CIF_DIR, exist_ok=True)
    for old in os.listdir(OUT_CIF_DIR):  # drop stale outputs of earlier runs
        if old.endswith(".cif") or old == "index.tsv":
            os.remove(os.path.join(OUT_CIF_DIR, old))

    lines = ["\t".join(COLUMNS)]
    index_lines = ["\t".join(INDEX_COLUMNS)]
    per_dataset = []
    for dataset, path in DATASETS:
        t1 = time.time()
        rows = read_rows(path)
        failed = 0
        for row, rec in enumerate(rows):
            try:
                line, s = structure_line(dataset, row, rec["material_id"], rec["cif"], stats)
            except Exception as exc:
                print(f"{dataset}:{row} ({rec['material_id']}): parse failed: {exc!r}", file=sys.stderr)
                stats.add("parse failure", f"{dataset}:{row}")
                failed += 1
                continue
            lines.append(line)
            if row < N_SYMMETRIZED:
                index_lines.append(write_symmetrized(dataset, row, s))
        per_dataset.append((dataset, len(rows), failed, time.time() - t1))

    data = ("\n".join(lines) + "\n").encode("utf-8")
    with open(OUT_TSV, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(data)
    with open(os.path.join(OUT_CIF_DIR, "index.tsv"), "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(index_lines) + "\n")

    print(f"pymatgen {pymatgen.core.__version__}")
    for dataset, n, failed, dt in per_dataset:
        print(f"  {dataset}: {n} rows, {failed} failed to parse, {dt:.1f} s")
    for key in sorted(stats.counts):
        print(f"  {key}: {stats.counts[key]} (e.g. {stats.examples.get(key)})")
    print(f"wrote {OUT_TSV}: {len(lines) - 1} structures, {os.path.getsize(OUT_TSV)} bytes")
    print(f"wrote {OUT_CIF_DIR}: {len(index_lines) - 1} CIFs + index.tsv")
    print(f"total {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
