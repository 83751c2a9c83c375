#!/usr/bin/python3
"""pymatgen's convex hull of MP-20 training entries, for src/eval/convex_hull
(tests/test_convex_hull.cpp).

Usage:
    /usr/bin/python3 tools/make_hull_fixtures.py [data/datasets/mp_20/train.csv.gz]

For a few chemical systems of MP-20 (binary to quaternary, the ones with
the most training entries plus Li-P-S-Cl, the README's example), every
labelled training row whose elements lie in the system becomes
    PDEntry(Composition(pretty_formula), formation_energy_per_atom * atoms)
beside one PDEntry per element at 0 eV (pymatgen's PhaseDiagram needs the
terminal references; MP-20's energies are formation energies, so the
elements sit at 0). Stored per system:
  - entries: id, formula, e (eV/atom);
  - queries: for every entry its e_above_hull (pd.get_e_above_hull), and for
    random compositions of the system (integer amounts 1-6 per element)
    with random energies pd.get_hull_energy_per_atom and
    pd.get_decomp_and_e_above_hull(..., allow_negative=True)'s value,
    which is what a generated sample that is not in the hull gets.
Output: tests/fixtures/hull_mp20.json.gz (gzip, mtime 0).
"""
import csv
import gzip
import io
import json
import random
import sys

from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition, Element

csv.field_size_limit(1 << 30)
path = sys.argv[1] if len(sys.argv) > 1 else "data/datasets/mp_20/train.csv.gz"
rows = []
with gzip.open(path, "rt") as f:
    for r in csv.DictReader(f):
        if not r["formation_energy_per_atom"].strip():
            continue  # unlabelled rows are not hull entries
        rows.append((r["material_id"], Composition(r["pretty_formula"]), float(r["formation_energy_per_atom"])))

systems = {}
for mid, comp, e in rows:
    systems.setdefault(frozenset(el.symbol for el in comp.elements), []).append(mid)
# The largest systems of each size, and the README's example.
chosen = []
for size, count in ((1, 2), (2, 3), (3, 3), (4, 2)):
    best = sorted((s for s in systems if len(s) == size), key=lambda s: (-len(systems[s]), sorted(s)))
    chosen += best[:count]
chosen.append(frozenset({"Li", "P", "S", "Cl"}))
chosen.append(frozenset({"Li", "Fe", "P", "O"}))

rng = random.Random(20261202)
out = []
for system in chosen:
    members = [(m, c, e) for m, c, e in rows if {el.symbol for el in c.elements} <= system]
    entries = [PDEntry(c, e * c.num_atoms, name=m) for m, c, e in members]
    refs = [PDEntry(Composition(el), 0.0, name=el) for el in sorted(system)]
    pd = PhaseDiagram(entries + refs)
    queries = []
    for entry, (m, c, e) in zip(entries, members):
        queries.append({"formula": c.formula.replace(" ", ""), "e": e,
                        "e_above_hull": pd.get_e_above_hull(entry, allow_negative=True),
                        "hull": pd.get_hull_energy_per_atom(c)})
    els = sorted(system)
    for _ in range(60):
        amounts = {el: rng.randint(0, 6) for el in els}
        if sum(amounts.values()) == 0:
            amounts[els[0]] = 1
        c = Composition({k: v for k, v in amounts.items() if v})
        e = rng.uniform(-3.0, 0.5)
        _, eah = pd.get_decomp_and_e_above_hull(PDEntry(c, e * c.num_atoms), allow_negative=True)
        queries.append({"formula": c.formula.replace(" ", ""), "e": e, "e_above_hull": eah,
                        "hull": pd.get_hull_energy_per_atom(c)})
    out.append({"system": "-".join(els),
                "entries": [{"id": m, "formula": c.formula.replace(" ", ""), "e": e} for m, c, e in members],
                "queries": queries})
    print(f"{'-'.join(els)}: {len(members)} entries, {len(pd.stable_entries)} stable, {len(queries)} queries",
          file=sys.stderr)

buf = io.BytesIO()
with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
    g.write(json.dumps({"source": path, "pymatgen": __import__("pymatgen.core").core.__version__,
                        "systems": out}).encode())
with open("tests/fixtures/hull_mp20.json.gz", "wb") as f:
    f.write(buf.getvalue())
