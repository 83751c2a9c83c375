"""xtaldiff from Python: crystal structure prediction and generation with
diffusion models, and the field's metrics computed exactly as
pymatgen / SMACT compute them.

    import xtaldiff
    model = xtaldiff.Model("models/perov5-csp.xtd")
    structures = model.sample(formula="SrTiO3", n=4)        # pymatgen Structures
    xtaldiff.write(structures, "out.cif")
    xtaldiff.match(structures[0], structures[1])             # (rms, max_dist) or None

The compiled core (_xtaldiff) is the same library as the `xtaldiff`
command: the same checks, the same errors (ValueError for bad input or
options, OSError for files) and, for the same seed and thread count, the
same structures.
"""

import warnings

from . import _xtaldiff
from .convert import FORMATS, Crystal, convert, to_ase, to_crystal, to_crystals, to_pymatgen

__version__ = _xtaldiff.__version__

__all__ = ["Model", "Crystal", "read", "write", "match", "spacegroup", "validity", "eval_csp", "eval_gen",
           "enumerate", "to_crystal", "to_pymatgen", "to_ase", "__version__"]


def read(path, format="pymatgen", overlap_tolerance=0.01):
    """Every structure in a file (CIF, POSCAR, extxyz, JSON, CDVAE CSV[.gz])
    or a folder of CIFs, as pymatgen Structures, ASE Atoms or Crystals.
    Two sites closer than overlap_tolerance (Å) are an error, as in the CLI;
    0 accepts them and keeps every CIF site (as `eval csp` reads generated
    structures: scored, not refused)."""
    return convert(_xtaldiff._read(str(path), overlap_tolerance), format)


def write(structures, path, symmetrize=False):
    """Writes structures in the format the file name implies (as `xtaldiff
    convert`); `symmetrize=True` writes CIFs in their space group."""
    _xtaldiff._write(to_crystals(structures), str(path), symmetrize)


def match(a, b, ltol=0.2, stol=0.3, angle_tol=5.0, primitive_cell=True, scale=True, attempt_supercell=False):
    """pymatgen's StructureMatcher(...).get_rms_dist(a, b): (rms, max_dist),
    or None when the structures do not match. The CSP papers use ltol=0.3,
    stol=0.5, angle_tol=10."""
    return _xtaldiff._match(to_crystal(a), to_crystal(b), ltol, stol, angle_tol, primitive_cell, scale,
                            attempt_supercell)


def spacegroup(structure, symprec=0.1, angle_tolerance=5.0):
    """(number, Hermann-Mauguin symbol) from spglib; number 0 when spglib
    finds no group at this tolerance."""
    return _xtaldiff._spacegroup(to_crystal(structure), symprec, angle_tolerance)


def validity(structures):
    """Per structure: {"structural", "compositional", "valid"} as CDVAE /
    DiffCSP compute them (distances > 0.5 Å, volume > 0.1; SMACT charge
    neutrality and electronegativity)."""
    return _xtaldiff._validity(to_crystals(structures))


def _source(x):
    if isinstance(x, str) or hasattr(x, "__fspath__"):
        return str(x)
    return to_crystals(x)


def eval_csp(pred, gt, k=None, protocol="diffcsp", only_predicted=False, threads=None, symprec=0.1):
    """`xtaldiff eval csp`: match rate, RMSE and space-group recovery, as a
    dictionary with the CLI's JSON keys. `pred` and `gt` are paths or lists
    of structures; predictions name their ground truth by id ("<id>" or
    "<id>_<k>"); `k` keeps the first k predictions of each crystal."""
    return _xtaldiff._eval_csp(_source(pred), _source(gt), int(k or 0), protocol, only_predicted,
                               int(threads or 0), symprec)


def eval_gen(samples, ref, train=None, dataset=None, n_property=1000, seed=42, threads=None,
             energy_column="e_above_hull", e_above_hull=None, predictor=None, hull=None,
             hull_column="formation_energy_per_atom", stability_threshold=0.1):
    """`xtaldiff eval gen`: validity, COV-R / COV-P, Wasserstein distances of
    density and element count, uniqueness, novelty (with `train`) and, with
    energies, stability and S.U.N., as a dictionary with the CLI's JSON keys.

    `samples`, `ref` and `train` are paths or lists of structures. `dataset`
    ("perov_5", "carbon_24", "mp_20") picks CDVAE's coverage cutoffs.
    Energies above the hull (eV/atom) come from the samples' `energy_column`,
    from `e_above_hull` (one value per sample), or, with `predictor` (a
    property model file), are predicted against the hull of `hull` (default:
    `train`, which must then be a path): an estimate, never DFT. Unreadable
    records of a samples file count invalid; their messages are under
    "unreadable"."""
    return _xtaldiff._eval_gen(_source(samples), _source(ref), None if train is None else _source(train),
                               dataset or "", int(n_property), int(seed), int(threads or 0), energy_column,
                               None if e_above_hull is None else [float(v) for v in e_above_hull],
                               "" if predictor is None else str(predictor), "" if hull is None else str(hull),
                               hull_column, float(stability_threshold))


def enumerate(system, max_coeff=6, valid_only=True, details=False):
    """`xtaldiff enumerate`: the reduced compositions of a chemical system
    ("Li-P-S-Cl") with coefficients 0..max_coeff, kept when they pass SMACT's
    charge-neutrality and electronegativity test (valid_only=False keeps all).
    Ordered by number of elements, atoms per formula unit, formula. Formula
    strings, or with details=True dictionaries with the CLI's JSON keys."""
    rows = _xtaldiff._enumerate(str(system), int(max_coeff), bool(valid_only))
    return rows if details else [row["formula"] for row in rows]


def _text_list(value):
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return ",".join(str(v) for v in value)


def _targets(targets):
    if targets is None:
        return None
    if isinstance(targets, str):
        return [targets]
    if isinstance(targets, dict):
        return [f"{k}={v}" for k, v in targets.items()]
    return [str(t) for t in targets]


class Model:
    """A trained xtaldiff diffusion model (a `.xtd` file)."""

    def __init__(self, path):
        self._model = _xtaldiff._Model(str(path))
        self.path = str(path)
        self.last_run = None  # notes, warnings, spacegroups, evaluations of the last sample()

    @property
    def info(self):
        """The `xtaldiff model --json` description: task, network, training, defaults."""
        return self._model.info

    def __repr__(self):
        info = self.info
        return f"Model({self.path!r}, task={info.get('task')!r}, arch={info.get('arch')!r})"

    def sample(self, formula=None, n=1, atoms=None, elements=None, require=None, system=None, spacegroup=None,
               targets=None, guidance=None, sampler="auto", steps=None, seed=0, device="cpu", threads=None,
               format="pymatgen", progress=False, z=None, prompt=None, max_elements=None, dataset=None, k=None,
               limit=None, max_coeff=None, per_composition=None, anneal=None, guide=None, precision=None,
               reconstruct=None, langevin_steps=None, latent_steps=None):
        """Structures from the model, as `xtaldiff sample` makes them (from a
        composition model: formulas, pymatgen Compositions or, with
        format="xtaldiff", cell formulas as text).

        formula="SrTiO3" (CSP, n samples), dataset="test.csv.gz" (one CSP task
        per row, k samples each), system="Li-P-S-Cl" (every valid composition),
        or none of them (de novo: n crystals, atoms=10 or "4-12", elements,
        require, prompt, max_elements). spacegroup, targets ({"band_gap": 3.0}
        or ["band_gap=3.0", "formation_energy_per_atom<-1"]) and guidance
        condition models trained for them. Outside what the model learned, a
        UserWarning says so. progress=True shows a tqdm bar when tqdm is
        installed, or pass a callable progress(done, total).

        A CDVAE model samples de novo (n, element constraints), or decodes the
        latent mean of each row of reconstruct="test.csv.gz"; targets move its
        latents (or draw them from its conditioned prior); langevin_steps sets
        the annealed Langevin steps per noise level, latent_steps the
        optimisation steps.
        """
        if self.info.get("task") == "composition":
            structure_options = {"formula": formula, "from": dataset, "spacegroup": spacegroup, "guide": guide,
                                 "k": k, "sampler": None if sampler == "auto" else sampler}
            return self._sample_formulas(n=n, elements=elements, require=require, system=system, prompt=prompt,
                                         max_elements=max_elements, atoms=atoms, targets=targets, guidance=guidance,
                                         steps=steps, seed=seed, device=device, threads=threads, format=format,
                                         refused=structure_options)
        if format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
        args = {"n": int(n), "sampler": sampler, "seed": int(seed), "device": device,
                "formula": formula, "atoms": None if atoms is None else str(atoms),
                "elements": _text_list(elements), "require": _text_list(require), "prompt": _text_list(prompt),
                "system": system, "spacegroup": spacegroup, "targets": _targets(targets), "guidance": guidance,
                "steps": steps, "threads": threads, "z": z, "max_elements": max_elements, "from": dataset,
                "k": k, "limit": limit, "max_coeff": max_coeff, "per_composition": per_composition,
                "anneal": anneal, "guide": guide, "precision": precision, "reconstruct": reconstruct,
                "langevin_steps": langevin_steps, "latent_steps": latent_steps}
        args = {key: value for key, value in args.items() if value is not None}
        for key in ("from", "reconstruct"):
            if args.get(key) is not None:
                args[key] = str(args[key])
        bar, callback = None, None
        if callable(progress):
            callback = progress
        elif progress:
            try:
                from tqdm import tqdm

                bar = tqdm(unit="crystal")

                def callback(done, total):
                    bar.total = total
                    bar.n = round(done, 1)
                    bar.refresh()
            except ImportError:
                pass
        try:
            crystals, details = self._model._sample(args, callback)
        finally:
            if bar is not None:
                bar.close()
        self.last_run = details
        for e in details["extrapolations"][:5]:
            warnings.warn(f"{e['id']}: {e['reason']}; its structures are an extrapolation of {self.path}",
                          UserWarning, stacklevel=2)
        if len(details["extrapolations"]) > 5:
            warnings.warn(f"{len(details['extrapolations']) - 5} more requests lie outside the model's training set "
                          "(Model.last_run['extrapolations'])", UserWarning, stacklevel=2)
        for w in details["warnings"]:
            warnings.warn(w, UserWarning, stacklevel=2)
        if details["failed"]:
            warnings.warn(f"{details['failed']} crystals were still non-finite after retries and are not returned",
                          RuntimeWarning, stacklevel=2)
        return convert(crystals, format)

    def _sample_formulas(self, n, elements, require, system, prompt, max_elements, atoms, targets, guidance, steps,
                         seed, device, threads, format, refused):
        """A composition model's formulas: cell formulas as text (format="xtaldiff") or pymatgen
        Compositions (format="pymatgen"); Model.last_run has each one's SMACT validity and novelty."""
        if format not in ("pymatgen", "xtaldiff"):
            raise ValueError(f"a composition model gives formulas: format 'pymatgen' or 'xtaldiff', not {format!r}")
        args = {"n": int(n), "elements": _text_list(elements), "require": _text_list(require), "system": system,
                "prompt": _text_list(prompt), "max_elements": max_elements,
                "atoms": None if atoms is None else str(atoms), "targets": _targets(targets), "guidance": guidance,
                "steps": steps, "seed": int(seed), "device": device, "threads": threads}
        args.update(refused)  # structure options: refused by the library with the CLI's message
        args = {key: value for key, value in args.items() if value is not None}
        if args.get("from") is not None:
            args["from"] = str(args["from"])
        formulas, details = self._model._sample_formulas(args)
        self.last_run = details
        for w in details["warnings"]:
            warnings.warn(w, UserWarning, stacklevel=3)
        if details["draw_limit_reached"]:
            warnings.warn(f"only {len(formulas)} of {n} formulas met the constraints after {details['draws']} draws",
                          RuntimeWarning, stacklevel=3)
        if format == "xtaldiff":
            return formulas
        from pymatgen.core import Composition

        return [Composition(f) for f in formulas]
