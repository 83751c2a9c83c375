"""Conversions between xtaldiff's Crystal and pymatgen / ASE objects.

pymatgen and ASE are imported only when a conversion needs them, so the
module works without either for ``format="xtaldiff"``.
"""

from . import _xtaldiff

Crystal = _xtaldiff.Crystal

FORMATS = ("pymatgen", "ase", "xtaldiff")


def to_crystal(obj, id=""):
    """A Crystal from a Crystal, a pymatgen Structure or an ASE Atoms."""
    if isinstance(obj, Crystal):
        return obj
    if hasattr(obj, "frac_coords") and hasattr(obj, "lattice") and hasattr(obj, "atomic_numbers"):
        props = getattr(obj, "properties", None) or {}
        return Crystal(obj.lattice.matrix, obj.frac_coords, list(obj.atomic_numbers), str(props.get("id", id)))
    if hasattr(obj, "get_scaled_positions") and hasattr(obj, "get_cell"):
        return Crystal(obj.get_cell()[:], obj.get_scaled_positions(wrap=False), obj.get_atomic_numbers(),
                       str(obj.info.get("id", id)))
    raise TypeError(f"expected an xtaldiff Crystal, a pymatgen Structure or an ASE Atoms, not {type(obj).__name__}")


def to_crystals(objs):
    """A list of Crystals from one structure or a sequence of them."""
    if isinstance(objs, Crystal) or hasattr(objs, "frac_coords") or hasattr(objs, "get_scaled_positions"):
        objs = [objs]
    return [to_crystal(o, str(i)) for i, o in enumerate(objs)]


def to_pymatgen(c):
    from pymatgen.core import Lattice, Structure

    s = Structure(Lattice(c.lattice), [int(z) for z in c.numbers], c.frac_coords, coords_are_cartesian=False)
    # pymatgen 2022 has no Structure.properties; newer versions do. Either way
    # the id and the dataset columns are kept there.
    props = dict(c.properties)
    props["id"] = c.id
    s.properties = props
    return s


def to_ase(c):
    from ase import Atoms

    a = Atoms(numbers=list(c.numbers), cell=c.lattice, scaled_positions=c.frac_coords, pbc=True)
    a.info.update(c.properties)
    a.info["id"] = c.id
    return a


def convert(crystals, format):
    if format == "xtaldiff":
        return list(crystals)
    if format == "pymatgen":
        return [to_pymatgen(c) for c in crystals]
    if format == "ase":
        return [to_ase(c) for c in crystals]
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
