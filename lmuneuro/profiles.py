"""Hardware profiles: one TOML file per target in ``hardware_profiles/`` (installed as package
data), or any file a user points at. Every field is checked on load; a missing or mistyped field
is a one-line ``ProfileError`` that names it.

Schema: ``name``, ``description``, ``kind`` ("neuromorphic" or "cmos"), optionally ``extends``
(a bundled profile whose tables this one's override, field by field: a board of several chips of
a target); neuromorphic targets add ``[precision]`` and ``[resources]`` (integers, per chip and
per core, checked for consistency), cmos targets say which network they run
(``runs = "snn"``: spikes cost accumulates, real-valued layers MACs; ``"ann"``: the same network
as a non-spiking ANN, every synapse a MAC every step). Every target has ``[energy.<quantity>]``
tables with ``value``, ``low``, ``high`` (low <= value <= high: a range where no measured figure
is public), ``unit`` ("pJ" per operation, or "W" for ``static_power``) and ``source``. A target
with static power times its steps by the runtime model (``analysis.runtime``): ``[timing.<name>]``
tables of the same fields for every constant of ``TIMING``, in its unit; or by a fixed
``[timing.step]`` (us); or by the time per step given at report time (``--step-us``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path

from .files import parse_toml, printable, read_text
from .formats import Formats
from .loihi import format_problems

__all__ = ["EnergyConstant", "Profile", "ProfileError", "list_profiles", "load_profile"]

PRECISION = tuple(
    f.name for f in fields(Formats)
)  # the number formats and limits a converter reads
RESOURCES = (
    "chips",  # on the board
    "cores_per_chip",
    "neurons_per_chip",
    "synapses_per_chip",
    "neurons_per_core",
    "synmem_words_per_core",  # synapse memory per core and its encoding (``mapping``)
    "synmem_word_bits",
    "synapse_overhead_bits",
    "axon_header_bits",
    "delay_bits",
)
ENERGY = {
    "neuromorphic": ("synaptic_op", "neuron_update_active", "neuron_update_idle", "spike_route"),
    "cmos": ("mac", "accumulate"),
}
RUNS = ("snn", "ann")
TIMING = {  # the runtime model's constants (``analysis.runtime``) and their units
    "dendritic_op": "ns",  # per neuron update on a core
    "synaptic_op": "ns",  # per synaptic event on a core
    "synmem_read": "ns",  # per synapse-memory word read on a core
    "noc_bit": "ns",  # per message bit over one mesh link
    "interchip_bit": "ns",  # per message bit between chips
    "barrier": "us",  # the synchronisation that ends a step
    "host_value": "us",  # per value crossing the host boundary
    "spike_message_bits": "bits",  # a spike message's size; a graded one adds its payload
    "mesh_columns": "cores",  # cores per row of a chip's mesh
}
# beyond any real chip by orders of magnitude (a per-operation 1 mJ; a 1 MW chip; a second per
# step): a larger constant is a typing error or a hostile file, and would carry any total past
# what a float prints finitely
ABSURD = {"pJ": 1e9, "W": 1e6, "us": 1e6, "ns": 1e9, "bits": 1e4, "cores": 1e4}


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
    runs: str = "snn"  # cmos targets: the network whose operations they price
    step_us: EnergyConstant | None = None  # a fixed time per step ([timing.step])
    timing: dict | None = None  # the runtime model's constants: name -> EnergyConstant

    def with_chips(self, chips: int | None) -> "Profile":
        """The same target using at most ``chips`` of its board's chips (None: all of them)."""
        if chips is None:
            return self
        if not 1 <= chips <= self.resources.get("chips", 0):
            raise ProfileError(
                f"{self.name} has {self.resources.get('chips', 0)} chip(s); cannot use {chips}"
            )
        return replace(self, resources={**self.resources, "chips": chips})


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


def _precision(table, where: str) -> dict:
    """The number formats, within what Lava's bit-accurate models compute (``loihi``)."""
    precision = _ints(table, "precision", PRECISION, where)
    wrong = format_problems(precision)
    if wrong:
        raise ProfileError(f"{where}: field precision.{wrong[0]}: not what Lava's models compute")
    return precision


def _resources(table, where: str) -> dict:
    res = _ints(table, "resources", RESOURCES, where)
    may_be_0 = ("synapse_overhead_bits", "axon_header_bits", "delay_bits")
    bad = [k for k in RESOURCES if res[k] < (0 if k in may_be_0 else 1)]
    if bad:
        raise ProfileError(f"{where}: field resources.{bad[0]} must be positive, got {res[bad[0]]}")
    # far beyond any board (a Loihi 2 chip has 128 cores and 2^20 neurons): placement and the
    # runtime model loop over chips, cores and mesh positions
    huge = [k for k in RESOURCES if res[k] > 2**31]
    if huge:
        raise ProfileError(
            f"{where}: field resources.{huge[0]} must be at most {2**31:,}, got {res[huge[0]]:.3g}"
        )
    if res["neurons_per_core"] > res["neurons_per_chip"]:
        raise ProfileError(
            f"{where}: field resources.neurons_per_core ({res['neurons_per_core']:,}) exceeds "
            f"neurons_per_chip ({res['neurons_per_chip']:,})"
        )
    return res


def _merge(base: dict, over: dict) -> dict:
    """``over``'s fields replace ``base``'s, table by table."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def _constant(c, name: str, units: tuple, where: str) -> EnergyConstant:
    if not isinstance(c, dict):
        raise ProfileError(f"{where}: {name} must be a table with value, low, high, unit, source")
    top = ABSURD.get(str(c.get("unit")), max(ABSURD.values()))
    for f in ("value", "low", "high"):
        v = c.get(f)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v < top:
            raise ProfileError(
                f"{where}: field {name}.{f} must be a non-negative number below {top:g}, "
                f"got {printable(repr(v), 80)}"
            )
    if not c["low"] <= c["value"] <= c["high"]:
        raise ProfileError(
            f"{where}: {name} needs low <= value <= high, got {c['low']}, {c['value']}, {c['high']}"
        )
    if c.get("unit") not in units:
        raise ProfileError(
            f"{where}: field {name}.unit must be {' or '.join(units)}, got {c.get('unit')!r}"
        )
    if not isinstance(c.get("source"), str) or not c["source"].strip():
        raise ProfileError(f"{where}: {name} has no source")
    return EnergyConstant(
        float(c["value"]), float(c["low"]), float(c["high"]), c["unit"], c["source"]
    )


def _energy(table, kind: str, where: str) -> dict:
    energy = table.get("energy")
    if not isinstance(energy, dict):
        raise ProfileError(f"{where}: missing section [energy]")
    missing = [q for q in ENERGY[kind] if q not in energy]
    if missing:
        raise ProfileError(f"{where}: missing energy constant(s): {', '.join(missing)}")
    return {
        q: _constant(c, f"energy.{q}", ("W",) if q == "static_power" else ("pJ",), where)
        for q, c in energy.items()
    }


def _timing(table, where: str) -> tuple[EnergyConstant | None, dict | None]:
    """([timing.step], the runtime model's constants): each may be absent; the model's come all
    together or not at all."""
    timing = table.get("timing", {})
    if not isinstance(timing, dict):
        raise ProfileError(f"{where}: timing must be a section of tables")
    unknown = sorted(set(timing) - set(TIMING) - {"step"})
    if unknown:
        raise ProfileError(f"{where}: unknown timing constant timing.{unknown[0]}")
    step = timing.get("step")
    step = None if step is None else _constant(step, "timing.step", ("us",), where)
    given = [q for q in TIMING if q in timing]
    if not given:
        return step, None
    missing = [q for q in TIMING if q not in timing]
    if missing:
        raise ProfileError(
            f"{where}: the runtime model needs every timing constant; missing timing.{missing[0]}"
        )
    model = {q: _constant(timing[q], f"timing.{q}", (u,), where) for q, u in TIMING.items()}
    if model["mesh_columns"].low < 1 or model["spike_message_bits"].low < 1:
        raise ProfileError(f"{where}: timing.mesh_columns and spike_message_bits must be >= 1")
    return step, model


def load_profile(name_or_path: str) -> Profile:
    """A bundled profile by name (see ``list_profiles``), or a TOML file by path."""
    bundled = _bundled()
    path = bundled.get(name_or_path) or Path(name_or_path)
    try:
        found = path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        found = False
    if not found:
        shown = name_or_path if len(name_or_path) <= 80 else name_or_path[:80] + "..."
        raise ProfileError(
            f"unknown hardware profile {shown!r}; bundled: {', '.join(sorted(bundled))}, "
            "or give the path of a .toml file"
        )
    where = f"profile {path}"
    try:
        text = read_text(path)
    except (ValueError, OSError) as e:
        raise ProfileError(f"{where}: unreadable ({str(e).splitlines()[0][:160]})") from None
    try:
        table = parse_toml(text)
    except ValueError as e:
        raise ProfileError(f"{where}: {e}") from None
    if "extends" in table:
        base = table["extends"]
        if not isinstance(base, str) or base not in bundled or bundled[base] == path:
            raise ProfileError(f"{where}: extends must name another bundled profile, got {base!r}")
        table = _merge(parse_toml(read_text(bundled[base])), table)
    for f in ("name", "description", "kind"):
        if not isinstance(table.get(f), str) or not table[f]:
            raise ProfileError(f"{where}: missing field {f}")
    kind = table["kind"]
    if kind not in ENERGY:
        raise ProfileError(f"{where}: kind must be one of {', '.join(ENERGY)}, got {kind!r}")
    neuro = kind == "neuromorphic"
    runs = table.get("runs", "snn")
    if runs not in RUNS:
        raise ProfileError(f"{where}: runs must be one of {', '.join(RUNS)}, got {runs!r}")
    energy = _energy(table, kind, where)
    step, model = _timing(table, where)
    return Profile(
        table["name"],
        table["description"],
        kind,
        _precision(table, where) if neuro else {},
        _resources(table, where) if neuro else {},
        energy,
        str(path),
        runs,
        step,
        model,
    )
