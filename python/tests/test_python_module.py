"""Facts about the Python module: it gives what the CLI gives, and what
pymatgen gives, on shipped models, test sets and fixtures.

Run by ctest (PythonModule) with PYTHONPATH=build/python, XTALDIFF_BIN (the
command) and XTALDIFF_SOURCE_DIR set; from a shell:
    PYTHONPATH=build/python XTALDIFF_BIN=build/xtaldiff python3 -m pytest python/tests
"""

import gzip
import json
import os
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

import xtaldiff

ROOT = Path(os.environ.get("XTALDIFF_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BIN = os.environ.get("XTALDIFF_BIN", str(ROOT / "build" / "xtaldiff"))
PEROV_MODEL = ROOT / "models" / "perov5-csp.xtd"
PEROV_TEST = ROOT / "data" / "datasets" / "perov_5" / "test.csv.gz"


def cli(*args):
    r = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture(scope="module")
def model():
    return xtaldiff.Model(PEROV_MODEL)


@pytest.fixture(scope="module")
def perov_rows(tmp_path_factory):
    """The first 30 Perov-5 test rows, as Crystals."""
    return xtaldiff.read(PEROV_TEST, format="xtaldiff")[:30]


def test_sample_gives_four_pymatgen_structures_of_srtio3(model):
    from pymatgen.core import Structure

    out = model.sample(formula="SrTiO3", n=4, threads=1)
    assert len(out) == 4
    for s in out:
        assert isinstance(s, Structure)
        assert s.composition.reduced_formula == "SrTiO3"
        assert len(s) == 5
        assert s.properties["spacegroup"] >= 1


def test_same_seed_gives_the_clis_structures(model, tmp_path):
    rc, _, err = cli("sample", "--model", PEROV_MODEL, "--formula", "BaTiO3", "-n", "3", "--seed", "7",
                     "--threads", "1", "--quiet", "--out", tmp_path / "run")
    assert rc == 0, err
    from_cli = xtaldiff.read(tmp_path / "run" / "samples.extxyz", format="xtaldiff")
    from_python = model.sample(formula="BaTiO3", n=3, seed=7, threads=1, format="xtaldiff")
    assert len(from_cli) == len(from_python) == 3
    for a, b in zip(from_cli, from_python):
        assert list(a.numbers) == list(b.numbers)
        np.testing.assert_allclose(a.lattice, b.lattice, atol=1e-5)
        np.testing.assert_allclose(a.frac_coords, b.frac_coords, atol=1e-6)


def test_dataset_rows_keep_their_ids_and_eval_csp_agrees_with_the_cli(model, tmp_path):
    preds = model.sample(dataset=PEROV_TEST, limit=40, threads=1, format="xtaldiff")
    assert len(preds) == 40
    xtaldiff.write(preds, tmp_path / "pred.csv")
    rc, out, err = cli("eval", "csp", "--pred", tmp_path / "pred.csv", "--gt", PEROV_TEST, "--only-predicted",
                       "--json")
    assert rc == 0, err
    expected = json.loads(out)
    from_lists = xtaldiff.eval_csp(preds, xtaldiff.read(PEROV_TEST, format="xtaldiff"), only_predicted=True)
    from_paths = xtaldiff.eval_csp(tmp_path / "pred.csv", PEROV_TEST, only_predicted=True)
    assert expected["n"] == 40
    for got in (from_lists, from_paths):
        assert set(got) == set(expected)
        for key in ("n", "matched", "pred_valid", "gt_valid", "k"):
            assert got[key] == expected[key], key
        assert got["match_rate"] == pytest.approx(expected["match_rate"], abs=1e-12)
        if expected["rmse"] is None:
            assert got["rmse"] is None
        else:
            # the CSV keeps 8 decimals of the coordinates, the list all of them
            assert got["rmse"] == pytest.approx(expected["rmse"], abs=1e-5)


def _fixture_pairs(limit):
    with gzip.open(ROOT / "tests" / "fixtures" / "matcher_real_outputs.jsonl.gz", "rt") as f:
        for i, line in enumerate(f):
            if i >= limit:
                return
            yield json.loads(line)


def test_match_agrees_with_pymatgen_on_real_model_outputs(tmp_path):
    """pymatgen's get_rms_dist answers, stored by tools/make_real_matcher_fixtures.py."""
    n = 0
    for pair in _fixture_pairs(300):
        (tmp_path / "a.cif").write_text(pair["cif_a"])
        (tmp_path / "b.cif").write_text(pair["cif_b"])
        a = xtaldiff.read(tmp_path / "a.cif", format="xtaldiff", overlap_tolerance=0)[0]
        b = xtaldiff.read(tmp_path / "b.cif", format="xtaldiff", overlap_tolerance=0)[0]
        got = xtaldiff.match(a, b, ltol=0.3, stol=0.5, angle_tol=10)
        want = pair["csp"]
        assert (got is not None) == want["match"], pair["id"]
        if got is not None:
            assert got[0] == pytest.approx(want["rms"], abs=1e-6), pair["id"]
            assert got[1] == pytest.approx(want["max_dist"], abs=1e-6), pair["id"]
        n += 1
    assert n == 300


def test_match_and_spacegroup_agree_with_live_pymatgen(perov_rows):
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    sm = StructureMatcher(ltol=0.3, stol=0.5, angle_tol=10)
    for c in perov_rows[:15]:
        s = xtaldiff.to_pymatgen(c)
        perturbed = s.copy()
        perturbed.perturb(0.2)
        want = sm.get_rms_dist(perturbed, s)
        got = xtaldiff.match(perturbed, s, ltol=0.3, stol=0.5, angle_tol=10)
        assert (got is None) == (want is None)
        if got is not None:
            assert got[0] == pytest.approx(want[0], abs=1e-6)
        assert xtaldiff.spacegroup(s)[0] == SpacegroupAnalyzer(s, symprec=0.1).get_space_group_number()


def test_pymatgen_and_ase_round_trips_keep_everything(perov_rows):
    for c in perov_rows:
        for back in (xtaldiff.to_crystal(xtaldiff.to_pymatgen(c)), xtaldiff.to_crystal(xtaldiff.to_ase(c))):
            assert list(back.numbers) == list(c.numbers)
            np.testing.assert_allclose(back.lattice, c.lattice, atol=1e-8)
            np.testing.assert_allclose(back.frac_coords, c.frac_coords, atol=1e-8)
            assert back.id == c.id


def test_read_write_round_trip_through_every_format(perov_rows, tmp_path):
    for name in ("all.cif", "all.extxyz", "all.json", "all.csv.gz"):
        xtaldiff.write(perov_rows, tmp_path / name)
        back = xtaldiff.read(tmp_path / name, format="xtaldiff")
        assert [b.formula for b in back] == [c.formula for c in perov_rows], name
    one = perov_rows[0]
    xtaldiff.write(xtaldiff.to_ase(one), tmp_path / "POSCAR")
    assert xtaldiff.read(tmp_path / "POSCAR", format="ase")[0].get_chemical_formula() == \
        xtaldiff.to_ase(one).get_chemical_formula()


def test_validity_matches_the_known_answers(perov_rows):
    v = xtaldiff.validity(perov_rows)
    assert all(x["structural"] for x in v)
    squeezed = xtaldiff.Crystal(np.eye(3) * 4.0, [[0, 0, 0], [0.05, 0, 0]], [8, 8])
    # one element is charge-neutral by SMACT's rule (CDVAE's smact_validity); 0.2 Å apart is not a structure
    assert xtaldiff.validity(squeezed) == [{"structural": False, "compositional": True, "valid": False}]


def test_bad_input_raises_the_right_exception_with_the_clis_message(model, tmp_path):
    bad = tmp_path / "bad.cif"
    bad.write_text("data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c oops\n")
    rc, _, err = cli("info", bad)
    assert rc == 3
    with pytest.raises(ValueError) as e:
        xtaldiff.read(bad)
    assert str(e.value) in err
    with pytest.raises(OSError):
        xtaldiff.read(tmp_path / "missing.cif")
    with pytest.raises(OSError):
        xtaldiff.Model(tmp_path / "missing.xtd")
    rc, _, err = cli("sample", "--model", PEROV_MODEL, "--formula", "Xx2O", "--out", tmp_path / "o")
    assert rc != 0
    with pytest.raises(ValueError) as e:
        model.sample(formula="Xx2O")
    assert str(e.value) in err
    with pytest.raises(ValueError):
        model.sample(formula="SrTiO3", format="cif")
    with pytest.raises(ValueError):
        xtaldiff.Crystal(np.eye(3), [[0, 0, 0]], [200])
    with pytest.raises(TypeError):
        xtaldiff.match("SrTiO3", "SrTiO3")


def test_outside_the_training_set_warns(model):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = model.sample(formula="PuO2", n=1, threads=1, format="xtaldiff")
    assert len(out) == 1
    assert any("extrapolation" in str(w.message) for w in caught)


def test_info_is_the_model_commands_json(model):
    rc, out, err = cli("model", PEROV_MODEL, "--json")
    assert rc == 0, err
    assert model.info == json.loads(out)


PEROV_GEN_MODEL = ROOT / "models" / "perov5-gen.xtd"
MP20_TEST = ROOT / "data" / "datasets" / "mp_20" / "test.csv.gz"
MP20_HEAD = ROOT / "data" / "datasets" / "mp_20_head" / "train_head.csv.gz"


def _assert_same_summary(got, expected):
    assert set(got) == set(expected)
    for key, value in expected.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        else:
            assert got[key] == value, key


def test_eval_gen_agrees_with_the_cli_on_generated_crystals(tmp_path, perov_rows):
    gen = xtaldiff.Model(PEROV_GEN_MODEL)
    samples = gen.sample(n=24, atoms=5, seed=3, threads=1, format="xtaldiff")
    assert len(samples) == 24
    xtaldiff.write(samples, tmp_path / "samples.extxyz")
    ref = xtaldiff.read(PEROV_TEST, format="xtaldiff")[:200]
    xtaldiff.write(ref, tmp_path / "ref.csv")
    xtaldiff.write(perov_rows, tmp_path / "train.csv")
    rc, out, err = cli("eval", "gen", "--samples", tmp_path / "samples.extxyz", "--ref", tmp_path / "ref.csv",
                       "--train", tmp_path / "train.csv", "--dataset", "perov_5", "--n-property", 20, "--json")
    assert rc == 0, err
    expected = json.loads(out)
    assert expected["n"] == 24 and "novelty" in expected
    from_paths = xtaldiff.eval_gen(tmp_path / "samples.extxyz", tmp_path / "ref.csv", train=tmp_path / "train.csv",
                                   dataset="perov_5", n_property=20)
    _assert_same_summary(from_paths, expected)
    # Lists give the same answer: the extxyz file keeps coordinates to 1e-8, far below every cutoff.
    from_lists = xtaldiff.eval_gen(samples, ref, train=perov_rows, dataset="perov_5", n_property=20)
    for key in ("n", "struct_validity", "comp_validity", "validity", "cov_recall", "cov_precision", "uniqueness",
                "novelty", "property_samples"):
        assert from_lists[key] == expected[key], key
    # Energies above the hull make stability and S.U.N. appear.
    energies = [0.0] * 12 + [0.5] * 12
    with_energy = xtaldiff.eval_gen(samples, ref, train=perov_rows, dataset="perov_5", n_property=20,
                                    e_above_hull=energies)
    assert with_energy["stability"] == 0.5
    assert with_energy["stability_source"] == "e_above_hull"
    with pytest.raises(ValueError):
        xtaldiff.eval_gen(samples, ref, e_above_hull=[0.0])


def test_eval_gen_predicted_stability_agrees_with_the_cli(tmp_path):
    predictor = ROOT / "models" / "mp20-props.xtd"
    samples = xtaldiff.read(MP20_TEST, format="xtaldiff")[:40]
    xtaldiff.write(samples, tmp_path / "samples.csv")
    rc, out, err = cli("eval", "gen", "--samples", tmp_path / "samples.csv", "--ref", tmp_path / "samples.csv",
                       "--stability", "predicted", "--predictor", predictor, "--hull", MP20_HEAD,
                       "--n-property", 20, "--json")
    assert rc == 0, err
    expected = json.loads(out)
    got = xtaldiff.eval_gen(tmp_path / "samples.csv", tmp_path / "samples.csv", predictor=predictor, hull=MP20_HEAD,
                            n_property=20)
    _assert_same_summary(got, expected)
    assert got["stability_source"] == "predicted" and got["hull_entries"] > 2000
    with pytest.raises(ValueError) as e:
        xtaldiff.eval_gen(samples, samples, predictor=predictor)
    assert "hull" in str(e.value)


def test_enumerate_agrees_with_the_cli():
    rc, out, err = cli("enumerate", "Li-P-S", "--max-coeff", 4, "--json")
    assert rc == 0, err
    expected = [json.loads(line) for line in out.splitlines()]
    assert xtaldiff.enumerate("Li-P-S", max_coeff=4, details=True) == expected
    formulas = xtaldiff.enumerate("Li-P-S", max_coeff=4)
    assert formulas == [row["formula"] for row in expected]
    assert "Li3PS4" in formulas and "Li2S" in formulas  # the sulfide electrolyte and its binary
    everything = xtaldiff.enumerate("Li-P-S", max_coeff=4, valid_only=False, details=True)
    assert len(everything) > len(expected) and not all(row["comp_valid"] for row in everything)
    with pytest.raises(ValueError) as e:
        xtaldiff.enumerate("Li3PS4")
    rc, _, err = cli("enumerate", "Li3PS4")
    assert rc != 0 and str(e.value) in err


_INTERRUPTED_CHILD = r"""
import sys, xtaldiff
what = sys.argv[1]
def started(*_):
    print("started", flush=True)
try:
    if what == "sample":
        m = xtaldiff.Model(sys.argv[2])
        m.sample(formula="SrTiO3", n=4000, steps=400, threads=1, format="xtaldiff", progress=started)
    else:
        rows = xtaldiff.read(sys.argv[2], format="xtaldiff")
        rows = rows * 20
        started()
        xtaldiff.eval_csp(rows, rows[:len(rows) // 20], threads=1)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(42)
print("finished", flush=True)
"""


@pytest.mark.parametrize("what", ["sample", "eval_csp"])
def test_ctrl_c_interrupts_a_long_call(what, tmp_path):
    import signal
    import sys
    import time

    source = PEROV_MODEL if what == "sample" else MP20_TEST
    child = subprocess.Popen([sys.executable, "-c", _INTERRUPTED_CHILD, what, str(source)], stdout=subprocess.PIPE,
                             text=True, env=os.environ.copy())
    try:
        assert child.stdout.readline().strip() == "started"
        time.sleep(1.0)  # well inside the call: either run takes minutes when not interrupted
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        rc = child.wait(timeout=60)
        waited = time.monotonic() - sent
        rest = child.stdout.read()
    finally:
        if child.poll() is None:
            child.kill()
    assert rc == 42, rest
    assert "interrupted" in rest
    assert waited < 30


def test_installs_into_a_virtual_environment(tmp_path):
    import sys

    build, cmake = os.environ.get("XTALDIFF_BUILD_DIR"), os.environ.get("CMAKE_COMMAND", "cmake")
    if not build:
        pytest.skip("XTALDIFF_BUILD_DIR not set (ctest sets it)")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    r = subprocess.run([cmake, "--install", build, "--component", "python", "--prefix", site],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = ("import xtaldiff, sys; s = xtaldiff.Model(sys.argv[1]).sample(formula='SrTiO3', n=1, steps=5, "
             "format='xtaldiff')[0]; print(xtaldiff.__file__); print(s.formula)")
    r = subprocess.run([python, "-c", probe, str(PEROV_MODEL)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    where, formula = r.stdout.split()
    assert where.startswith(site)
    assert formula.replace(" ", "") in ("SrTiO3", "Sr1Ti1O3")


def test_works_without_pymatgen_and_ase_for_its_own_structures(tmp_path):
    import sys

    probe = ("import sys\n"
             "sys.modules['pymatgen'] = sys.modules['ase'] = None  # any import of them now fails\n"
             "import xtaldiff\n"
             "m = xtaldiff.Model(sys.argv[1])\n"
             "s = m.sample(formula='SrTiO3', n=2, steps=5, format='xtaldiff')\n"
             "xtaldiff.write(s, sys.argv[2])\n"
             "print(len(xtaldiff.read(sys.argv[2], format='xtaldiff')), xtaldiff.spacegroup(s[0])[0] > 0)\n"
             "try:\n"
             "    m.sample(formula='SrTiO3', n=1, steps=5)\n"
             "except ImportError as e:\n"
             "    print('ImportError', e.name)\n")
    r = subprocess.run([sys.executable, "-c", probe, str(PEROV_MODEL), str(tmp_path / "s.cif")], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["2", "True", "ImportError", "pymatgen.core"]


COMPOSITION_MODEL = ROOT / "models" / "mp20-composition.xtd"


def test_composition_model_gives_the_clis_formulas(tmp_path):
    m = xtaldiff.Model(COMPOSITION_MODEL)
    assert m.info["task"] == "composition"
    formulas = m.sample(n=20, system="Li-P-S", seed=3, steps=20, threads=1, format="xtaldiff")
    assert len(formulas) == 20
    rc, _, err = cli("sample", "--model", COMPOSITION_MODEL, "-n", 20, "--system", "Li-P-S", "--seed", 3,
                     "--steps", 20, "--threads", 1, "--out", tmp_path / "c")
    assert rc == 0, err
    lines = (tmp_path / "c" / "compositions.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == formulas
    assert len(m.last_run["smact_valid"]) == 20
    pymatgen = pytest.importorskip("pymatgen.core")
    comps = m.sample(n=5, system="Li-P-S", seed=3, steps=20, threads=1)
    assert all(isinstance(c, pymatgen.Composition) for c in comps)
    assert all({str(e) for e in c.elements} == {"Li", "P", "S"} for c in comps)
    with pytest.raises(ValueError, match="--formula is for structure models"):
        m.sample(formula="SrTiO3")
    with pytest.raises(ValueError, match="not trained on band_gap_x"):
        m.sample(n=2, targets={"band_gap_x": 1.0})


UNIMAT_GEN_MODEL = ROOT / "models" / "perov5-unimat-gen.xtd"


def test_unimat_generation_model_gives_the_clis_crystals(tmp_path):
    """The shipped UniMat generation model: the module's de novo crystals are
    the command's, element constraints hold, compositions are refused."""
    m = xtaldiff.Model(UNIMAT_GEN_MODEL)
    assert m.info["arch"] == "unimat" and m.info["task"] == "gen"
    crystals = m.sample(n=3, elements=["Ba", "Ti", "O"], steps=10, seed=2, threads=1, format="xtaldiff")
    assert len(crystals) == 3
    rc, _, err = cli("sample", "--model", UNIMAT_GEN_MODEL, "-n", 3, "--elements", "Ba,Ti,O", "--steps", 10,
                     "--seed", 2, "--threads", 1, "--out", tmp_path / "u")
    assert rc == 0, err
    theirs = xtaldiff.read(tmp_path / "u" / "samples.extxyz", format="xtaldiff")
    for a, b in zip(crystals, theirs):
        assert list(a.numbers) == list(b.numbers)
        assert np.allclose(np.asarray(a.frac_coords), np.asarray(b.frac_coords), atol=1e-6)
        assert set(a.numbers) <= {56, 22, 8}
    with pytest.raises(ValueError, match="does not fill in a given composition"):
        m.sample(formula="BaTiO3", format="xtaldiff")


def test_cdvae_model_generates_and_reconstructs_like_the_cli(tmp_path):
    """A CDVAE trained for two epochs: the module's reconstruction of three
    Perov-5 rows is the command's (ids kept), de novo crystals obey element
    constraints, and diffusion-only options are refused with the CLI's
    message."""
    val = ROOT / "data" / "datasets" / "perov_5" / "val.csv.gz"
    model = tmp_path / "c.xtd"
    rc, _, err = cli("train", "--arch", "cdvae", "--task", "gen", "--config", "tiny", "--epochs", 2, "--batch", 512,
                     "--threads", 1, "-q", "--data", val, "--out", model)
    assert rc == 0, err
    m = xtaldiff.Model(model)
    assert m.info["arch"] == "cdvae"
    crystals = m.sample(reconstruct=val, limit=3, langevin_steps=1, threads=1, format="xtaldiff")
    assert m.last_run["latents"] == "encoder mean" and m.last_run["network_evaluations"] == 51
    rc, _, err = cli("sample", "--model", model, "--reconstruct", val, "--limit", 3, "--langevin-steps", 1,
                     "--threads", 1, "--out", tmp_path / "r")
    assert rc == 0, err
    theirs = xtaldiff.read(tmp_path / "r" / "samples.extxyz", format="xtaldiff")
    assert len(crystals) == len(theirs) == 3
    for a, b in zip(crystals, theirs):
        assert list(a.numbers) == list(b.numbers)
        assert np.allclose(np.asarray(a.frac_coords), np.asarray(b.frac_coords), atol=1e-6)
    new = m.sample(n=3, elements=["Sr", "Ti", "O"], langevin_steps=1, threads=1, format="xtaldiff")
    assert all(set(c.numbers) <= {38, 22, 8} for c in new)
    with pytest.raises(ValueError, match="not for a CDVAE"):
        m.sample(formula="SrTiO3")
