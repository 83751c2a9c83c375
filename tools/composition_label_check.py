#!/usr/bin/python3
"""How well a composition model's property conditions land, judged on the
formulas it writes that MP-20 already holds (issue 20: property hit rates
without DFT). For every sampled formula whose reduced formula appears in
MP-20 (train, val or test), the dataset's labels of that formula (the mean
over its polymorphs) are looked up; the script prints, per compositions.csv
given, how many formulas were found and the mean and median of the label,
and the share within +-TOL of TARGET. Formulas MP-20 does not hold (the
novel ones) cannot be judged this way and are only counted.

    /usr/bin/python3 tools/composition_label_check.py COLUMN TARGET TOL DATA_DIR COMPOSITIONS.csv [...]

DATA_DIR is data/datasets/mp_20. Reduced formulas are computed with
pymatgen's Composition (Debian python3-pymatgen), the same names xtaldiff
writes.
"""
import csv
import gzip
import io
import statistics
import sys

from pymatgen.core import Composition

csv.field_size_limit(1 << 30)


def labels(data_dir, column):
    by_formula = {}
    for split in ("train", "val", "test"):
        with gzip.open(f"{data_dir}/{split}.csv.gz", "rt") as f:
            for row in csv.DictReader(f):
                try:
                    value = float(row[column])
                except (KeyError, ValueError):
                    continue
                formula = Composition(row["pretty_formula"]).reduced_formula
                by_formula.setdefault(formula, []).append(value)
    return {k: statistics.mean(v) for k, v in by_formula.items()}


def main():
    column, target, tol, data_dir = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    table = labels(data_dir, column)
    for path in sys.argv[5:]:
        with open(path) as f:
            rows = list(csv.DictReader(f))
        found = [table[r["reduced_formula"]] for r in rows if r["reduced_formula"] in table]
        within = sum(abs(v - target) <= tol for v in found)
        print(f"{path}: {len(rows)} formulas, {len(found)} in MP-20; {column} of those: "
              f"mean {statistics.mean(found) if found else float('nan'):.3f}, "
              f"median {statistics.median(found) if found else float('nan'):.3f}, "
              f"within {tol} of {target}: {within} ({100 * within / max(1, len(found)):.1f} %)")


if __name__ == "__main__":
    main()
