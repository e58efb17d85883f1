"""The conversion settings, each declared once (``SETTINGS``): ``Settings`` (what a conversion is
told), its validation, the command line's options and a quantisation-aware checkpoint's record
(``to_dict``, ``from_dict``) are made from the declaration, so that a new setting is one entry
here. Loads no torch: the command line builds its options from it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, make_dataclass

from ..files import printable
from ..fixedpoint import VTH_MANT_DEFAULT
from ..profiles import list_profiles
from . import LMU_MAPPINGS, RESIDUALS

__all__ = ["Setting", "SETTINGS", "Settings", "INPUT_RANGE_MAX"]

INPUT_RANGE_MAX = 1e6  # beyond any feature scale: 16-bit payloads would keep no fraction bits


def _bound(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


@dataclass(frozen=True)
class Setting:
    """One conversion setting: its ``name``, ``kind`` (int, float, str, or tuple: of layer names),
    ``default``, ``bounds`` (lo, hi; lo excluded with ``open_lo``) or ``choices``, and whether
    None is allowed (``optional``: chosen at conversion). ``help``, ``default_help`` (the default
    in words; else the default itself) and ``metavar`` are its command-line help; ``path``: its
    value may name a file to read."""

    name: str
    kind: type
    default: object
    help: str
    bounds: tuple | None = None
    open_lo: bool = False
    choices: tuple | None = None
    optional: bool = False
    default_help: str | None = None
    metavar: str | None = None
    path: bool = False

    @property
    def flag(self) -> str:
        """Its command-line option."""
        return "--" + self.name.replace("_", "-")

    def check(self, v):
        """``v`` as the settings hold it (a tuple's names sorted, once each); a one-line
        ValueError, the same wherever the value came from, when it is not one."""
        if v is None and self.optional:
            return v
        types = {float: (int, float), tuple: (list, tuple)}.get(self.kind, self.kind)
        wrong = isinstance(v, bool) or not isinstance(v, types)
        if wrong or (self.kind is tuple and not all(isinstance(n, str) for n in v)):
            raise ValueError(f"conversion settings: {self.name} is {printable(repr(v), 80)}")
        if self.kind is tuple:
            return tuple(sorted(set(v)))
        if self.choices is not None and v not in self.choices:
            raise ValueError(
                f"conversion settings: {self.name} is {printable(repr(v), 80)}, not one of "
                f"{', '.join(map(str, self.choices))}"
            )
        if self.bounds is not None:
            lo, hi = self.bounds
            if not ((lo < v if self.open_lo else lo <= v) and v <= hi):  # also refuses NaN
                raise ValueError(
                    f"conversion settings: {self.name} is {v!r}, not in "
                    f"{'(' if self.open_lo else '['}{_bound(lo)}, {_bound(hi)}]"
                )
        return v


SETTINGS = (
    Setting(
        "target",
        str,
        "loihi2",
        f"hardware profile name ({', '.join(list_profiles())}) or .toml path",
        path=True,
    ),
    Setting(
        "input_range",
        float,
        None,
        "largest |feature| value to represent",
        bounds=(0.0, INPUT_RANGE_MAX),
        open_lo=True,
        optional=True,
        default_help="from the checkpoint's features",
    ),
    Setting(
        "vth_mant",
        int,
        VTH_MANT_DEFAULT,
        "finest threshold mantissa (state resolution: 1/(64 vth_mant) of the threshold); lowered "
        "for a layer whose largest possible input would not fit the 16-bit a_in",
        bounds=(1, 2**31 - 1),  # the target's vth_mant_bits bound it further (compile_model)
    ),
    Setting(
        "weight_sets",
        int,
        2,
        "8-bit synapse processes per weight matrix: 2 gives about 15-bit weights for twice the "
        "synapse memory and synaptic operations",
        choices=(1, 2),
    ),
    Setting(
        "set_error",
        float,
        0.0,
        "with --weight-sets 2, a second set only for the weight matrices whose relative error "
        "with one set exceeds BOUND",
        bounds=(0.0, 0.5),
        metavar="BOUND",
        default_help="a second set wherever it adds anything",
    ),
    Setting(
        "single_set",
        tuple,
        (),
        "comma-separated layers whose weights take one set with --weight-sets 2 (what "
        "--weight-sets auto chose: convert --json reports it as single_set)",
        metavar="LAYERS",
        default_help="none",
    ),
    Setting(
        "exponent_classes",
        int,
        1,
        "split each weight matrix's rows into up to N processes of similar magnitude, each with "
        "its own weight exponent (Lava has one per process)",
        bounds=(1, 16),
        metavar="N",
        default_help="1: one process per matrix and set",
    ),
    Setting(
        "lmu_mapping",
        str,
        "fir",
        "the LMU memory as its impulse response's taps, read from a relay line of its input "
        "neuron (fir); recurrent (graded integrators holding the state) cannot be built from "
        "Loihi 2's standard processes and is refused",
        choices=LMU_MAPPINGS,
    ),
    Setting(
        "residual",
        str,
        "graded",
        "the residual stream: each convolution's output that several layers read as one "
        "population of graded neurons (GradedVec), read one-to-one (graded); or folded into "
        "every reader (the same convolution's synapses again for each: more synaptic events and "
        "synapse memory, one hop less)",
        choices=RESIDUALS,
    ),
    Setting(
        "chips",
        int,
        None,
        "use at most N of the target board's chips (loihi2 is one chip, kapoho-point eight)",
        bounds=(1, 1024),
        optional=True,
        default_help="all",
    ),
)


class _Settings:
    """Every choice of a conversion that changes what the network computes (``SETTINGS``). A
    quantisation-aware checkpoint records the settings it was fine-tuned for (``to_dict``), and
    converting it uses them unless told otherwise."""

    def __post_init__(self):
        for s in SETTINGS:
            object.__setattr__(self, s.name, s.check(getattr(self, s.name)))

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "Settings":
        """From an untrusted record (a checkpoint's): unknown fields and wrong values are
        errors."""
        if not isinstance(d, dict):
            raise ValueError(f"conversion settings must be a mapping, not {type(d).__name__}")
        unknown = sorted(str(k) for k in set(d) - {s.name for s in SETTINGS})
        if unknown:
            raise ValueError(f"conversion settings: unknown field(s) {', '.join(unknown)}")
        return cls(**d)


def _annotation(s: Setting):
    kind = tuple[str, ...] if s.kind is tuple else s.kind
    return kind | None if s.optional else kind


Settings = make_dataclass(
    "Settings",
    [(s.name, _annotation(s), field(default=s.default)) for s in SETTINGS],
    bases=(_Settings,),
    frozen=True,
    namespace={"__doc__": _Settings.__doc__, "__module__": __name__},
)
