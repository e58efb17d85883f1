"""Hardware profiles: one TOML file per target in ``hardware_profiles/`` (installed as package
data), or any file a user points at. Every field is checked on load; a missing or mistyped field
is a one-line ``ProfileError`` that names it.

Schema: ``name``, ``description``, ``kind`` ("neuromorphic" or "cmos"); neuromorphic targets add
``[precision]`` and ``[resources]`` (integers); every target has ``[energy.<quantity>]`` tables
with ``value``, ``low``, ``high`` (low <= value <= high: a range where no measured figure is
public), ``unit`` ("pJ" or "W") and ``source``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["EnergyConstant", "Profile", "ProfileError", "list_profiles", "load_profile"]

PRECISION = ("weight_bits", "weight_exp_min", "weight_exp_max", "activation_bits", "message_bits_max",
             "state_bits", "decay_bits", "vth_mant_bits", "vth_shift", "bias_mant_bits", "bias_exp_bits",
             "activation_shift")
RESOURCES = ("cores_per_chip", "neurons_per_chip", "synapses_per_chip", "neurons_per_core",
             "synapses_per_core", "chips")
ENERGY = {"neuromorphic": ("synaptic_op", "neuron_update_active", "neuron_update_idle", "spike_route"),
          "cmos": ("mac", "accumulate")}
UNITS = ("pJ", "W")


class ProfileError(ValueError):
    """A profile that cannot be used; one line naming the file and the field."""


@dataclass(frozen=True)
class EnergyConstant:
    value: float
    low: float
    high: float
    unit: str
    source: str


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    kind: str
    precision: dict
    resources: dict
    energy: dict  # quantity -> EnergyConstant
    path: str


def _bundled() -> dict[str, Path]:
    folder = resources.files("lmuneuro.hardware_profiles")
    return {p.name[:-5]: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def list_profiles() -> list[str]:
    return sorted(_bundled())


def _ints(table, section: str, names, where: str) -> dict:
    if not isinstance(table.get(section), dict):
        raise ProfileError(f"{where}: missing section [{section}]")
    out = {}
    for n in names:
        v = table[section].get(n)
        if v is None:
            raise ProfileError(f"{where}: missing field {section}.{n}")
        if not isinstance(v, int) or isinstance(v, bool):
            raise ProfileError(f"{where}: field {section}.{n} must be an integer, got {v!r}")
        out[n] = v
    return out


def _energy(table, kind: str, where: str) -> dict:
    energy = table.get("energy")
    if not isinstance(energy, dict):
        raise ProfileError(f"{where}: missing section [energy]")
    missing = [q for q in ENERGY[kind] if q not in energy]
    if missing:
        raise ProfileError(f"{where}: missing energy constant(s): {', '.join(missing)}")
    out = {}
    for q, c in energy.items():
        if not isinstance(c, dict):
            raise ProfileError(f"{where}: energy.{q} must be a table with value, low, high, unit, source")
        for f in ("value", "low", "high"):
            if not isinstance(c.get(f), (int, float)) or isinstance(c.get(f), bool) or c[f] < 0:
                raise ProfileError(f"{where}: field energy.{q}.{f} must be a non-negative number, got {c.get(f)!r}")
        if not c["low"] <= c["value"] <= c["high"]:
            raise ProfileError(f"{where}: energy.{q} needs low <= value <= high, got {c['low']}, {c['value']}, {c['high']}")
        if c.get("unit") not in UNITS:
            raise ProfileError(f"{where}: field energy.{q}.unit must be one of {', '.join(UNITS)}, got {c.get('unit')!r}")
        if not isinstance(c.get("source"), str) or not c["source"].strip():
            raise ProfileError(f"{where}: energy.{q} has no source")
        out[q] = EnergyConstant(float(c["value"]), float(c["low"]), float(c["high"]), c["unit"], c["source"])
    return out


def load_profile(name_or_path: str) -> Profile:
    """A bundled profile by name (see ``list_profiles``), or a TOML file by path."""
    bundled = _bundled()
    path = bundled.get(name_or_path) or Path(name_or_path)
    if not path.is_file():
        raise ProfileError(f"unknown hardware profile {name_or_path!r}; bundled: {', '.join(sorted(bundled))}, "
                           "or give the path of a .toml file")
    where = f"profile {path}"
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ProfileError(f"{where}: not valid TOML ({e})") from None
    for f in ("name", "description", "kind"):
        if not isinstance(table.get(f), str) or not table[f]:
            raise ProfileError(f"{where}: missing field {f}")
    kind = table["kind"]
    if kind not in ENERGY:
        raise ProfileError(f"{where}: kind must be one of {', '.join(ENERGY)}, got {kind!r}")
    neuro = kind == "neuromorphic"
    return Profile(table["name"], table["description"], kind,
                   _ints(table, "precision", PRECISION, where) if neuro else {},
                   _ints(table, "resources", RESOURCES, where) if neuro else {},
                   _energy(table, kind, where), str(path))
