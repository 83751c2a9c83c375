# %% [markdown]
# # xtaldiff from Python
#
# A notebook in the percent format: Jupyter (with jupytext), VS Code and
# PyCharm run it cell by cell, and `python3 examples/python/quickstart.py`
# runs it whole (ctest does, as `PythonExample`, so it cannot rot).
#
# Before: `scripts/build.sh`, then either `export PYTHONPATH=build/python` or
# install the module (docs/USING.md, "Using it from Python"). Outputs go to
# `$XTALDIFF_EXAMPLE_OUT` (default: a fresh temporary folder).

# %%
import os
import tempfile
from pathlib import Path

import xtaldiff

ROOT = Path(os.environ.get("XTALDIFF_SOURCE_DIR", Path(__file__).resolve().parents[2]))
OUT = Path(os.environ.get("XTALDIFF_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="xtaldiff-example-"))
OUT.mkdir(parents=True, exist_ok=True)
TEST = ROOT / "data" / "datasets" / "perov_5" / "test.csv.gz"
print("xtaldiff", xtaldiff.__version__, "writing to", OUT)

# %% [markdown]
# ## Crystal structure prediction: a composition in, structures out
# `Model.info` is what `xtaldiff model --json` prints: what the model was
# trained on and how it samples by default: for this flow-matching model, 20
# ODE steps with FlowMM's velocity anti-annealing (`anneal=10`), which settles
# atoms onto their special positions.

# %%
csp = xtaldiff.Model(ROOT / "models" / "perov5-csp-flow.xtd")
print(csp.info["task"], "model trained on", csp.info["dataset_stats"]["crystals"], "crystals, default sampler",
      csp.info["default_sampler"]["csp"])

structures = csp.sample(formula="SrTiO3", n=4, seed=0)  # pymatgen Structures
for s in structures:
    number, symbol = xtaldiff.spacegroup(s)
    print(s.composition.reduced_formula, f"{s.lattice.abc[0]:.3f} Å", symbol, f"({number})")
xtaldiff.write(structures, OUT / "SrTiO3.cif")

# %% [markdown]
# The same structures as ASE `Atoms`, or as xtaldiff's own light objects
# (numpy arrays, no pymatgen or ASE needed).

# %%
atoms = csp.sample(formula="SrTiO3", n=1, seed=0, format="ase")[0]
print(atoms.get_chemical_formula(), atoms.cell.cellpar().round(3))
light = csp.sample(formula="SrTiO3", n=1, seed=0, format="xtaldiff")[0]
print(light.numbers, light.frac_coords.shape)

# %% [markdown]
# ## Scoring predictions as the papers do
# One prediction for each of the first 50 Perov-5 test crystals, scored with
# the DiffCSP protocol (StructureMatcher stol 0.5, ltol 0.3, angle_tol 10;
# both structures valid): match rate, RMSE, space group recovered. The
# score model matches more often; the flow-matching model is the precise
# one (README, "Results").

# %%
truth = xtaldiff.read(TEST, format="xtaldiff")[:50]
for name in ("perov5-csp", "perov5-csp-flow"):
    model = xtaldiff.Model(ROOT / "models" / f"{name}.xtd")
    predictions = model.sample(dataset=TEST, limit=50, seed=0, format="xtaldiff", progress=True)
    scores = xtaldiff.eval_csp(predictions, truth)
    print(f"{name}: match {100 * scores['match_rate']:.1f} %, RMSE {scores['rmse']:.4f}, "
          f"space group recovered {100 * scores['sg_recovered']:.1f} %")

first, predicted = truth[0], predictions[0]  # one prediction per row keeps its crystal's id
print(predicted.id, first.formula, "(rms, max_dist):", xtaldiff.match(predicted, first, ltol=0.3, stol=0.5,
                                                                    angle_tol=10))

# %% [markdown]
# ## Chemical space: which compositions of Sr-Ti-O pass SMACT's test?

# %%
candidates = xtaldiff.enumerate("Sr-Ti-O", max_coeff=3)
print(len(candidates), "compositions:", ", ".join(candidates[:12]), "...")

# %% [markdown]
# ## De novo generation and its metrics
# Eight new crystals from the generation model, scored against the first 500
# test crystals with CDVAE's Perov-5 coverage cutoffs (validity, COV-R/P,
# Wasserstein distances, uniqueness).

# %%
gen = xtaldiff.Model(ROOT / "models" / "perov5-gen.xtd")
new = gen.sample(n=8, atoms=5, seed=0)
print([s.composition.reduced_formula for s in new])
reference = xtaldiff.read(TEST, format="xtaldiff")[:500]
metrics = xtaldiff.eval_gen(new, reference, dataset="perov_5", n_property=8)
print({k: round(v, 3) for k, v in metrics.items() if isinstance(v, float)})
xtaldiff.write(new, OUT / "generated.extxyz")
print("wrote", sorted(p.name for p in OUT.iterdir()))
