"""What an artifact deploys: the Lava processes it instantiates, the neuro-cores per population,
and every chip limit with its margin (``lmuneuro inspect``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..artifact import FixedNetwork, Relay, read_artifact
from ..compile.limits import check, resources
from ..profiles import load_profile

__all__ = ["ProcessCount", "LimitMargin", "LargestDelay", "InspectReport", "inspect_network"]


class ProcessCount(NamedTuple):
    """How many processes of one Lava class the network instantiates."""

    module: str
    lava_class: str
    count: int


@dataclass(frozen=True)
class LimitMargin:
    """One chip limit at one place: the range the network reaches, the bound, the margin."""

    limit: str
    where: str
    range: tuple[float, float]
    bound: tuple[float | None, float]
    margin: float
    ok: bool
    text: str  # the limit described in one line

    @classmethod
    def of(cls, v) -> LimitMargin:
        """From a ``compile.limits`` check."""
        lo = None if v.bound_lo is None else float(v.bound_lo)
        return cls(
            v.limit,
            v.where,
            (float(v.lo), float(v.hi)),
            (lo, float(v.bound_hi)),
            float(v.margin),
            bool(v.ok),
            v.describe(),
        )

    def to_dict(self) -> dict:
        return {
            "limit": self.limit,
            "where": self.where,
            "range": list(self.range),
            "bound": list(self.bound),
            "margin": self.margin,
            "ok": self.ok,
            "text": self.text,
        }


class LargestDelay(NamedTuple):
    """The synapse process with the longest delay, and the relay lines that shorten the others."""

    steps: int
    process: str
    relays: list[str]


@dataclass(frozen=True)
class InspectReport:
    """What ``lmuneuro inspect`` prints (``to_dict``: its ``--json``)."""

    artifact: str | None  # None for a FixedNetwork given as an object
    profile: str
    processes: list[ProcessCount]  # sorted by module and class
    layers: list[dict]  # per population (``limits.resources``)
    cores: int
    chips: int
    largest_delay: LargestDelay
    weight_exp_range: tuple[int, int]
    algorithmic_delay: int
    tightest: list[LimitMargin]  # the tightest place of each kind of limit
    limits: list[LimitMargin]
    violations: list[str]  # one line per violated limit

    def to_dict(self) -> dict:
        return {
            "artifact": self.artifact,
            "profile": self.profile,
            "processes": [
                {"module": p.module, "class": p.lava_class, "count": p.count}
                for p in self.processes
            ],
            "layers": self.layers,
            "cores": self.cores,
            "chips": self.chips,
            "largest_delay": self.largest_delay._asdict(),
            "weight_exp_range": list(self.weight_exp_range),
            "algorithmic_delay": self.algorithmic_delay,
            "tightest": [v.to_dict() for v in self.tightest],
            "limits": [v.to_dict() for v in self.limits],
            "violations": self.violations,
        }


def inspect_network(
    artifact: FixedNetwork | str | Path, profile: str | None = None, steps: int | None = None
) -> InspectReport:
    """The report ``lmuneuro inspect`` prints. ``profile``: the target to check resources against
    (default: the one the artifact was converted for). ``steps``: frames per sample (default:
    the trained length); it sets the period of the reset and the gate, not the processes."""
    from ..backends.lava.network import process_classes

    net = artifact if isinstance(artifact, FixedNetwork) else read_artifact(artifact)
    prof = load_profile(profile or net.meta.get("target") or "loihi2")
    classes = process_classes(net, steps)
    rows = resources(net, prof)
    limits = check(net, prof, rows)  # placed once
    kinds: dict[str, object] = {}
    for v in limits:  # the tightest place of each kind of limit
        kind = v.limit.split(" (")[0] if v.limit.startswith("a_") else v.limit
        if kind not in kinds or v.margin < kinds[kind].margin:
            kinds[kind] = v
    exps = [s.weight_exp for s in net.synapses]
    deepest = max(net.synapses, key=lambda s: s.delay)
    return InspectReport(
        artifact=str(artifact) if not isinstance(artifact, FixedNetwork) else None,
        profile=prof.name,
        processes=[ProcessCount(m, c, n) for (m, c), n in sorted(classes.items())],
        layers=rows,
        cores=sum(r["cores"] for r in rows),
        chips=1 + max(c for r in rows for c in r["chips"]),
        largest_delay=LargestDelay(
            deepest.delay, deepest.name, [p.name for p in net.populations if isinstance(p, Relay)]
        ),
        weight_exp_range=(min(exps), max(exps)),
        algorithmic_delay=net.delay,
        tightest=[LimitMargin.of(v) for v in kinds.values()],
        limits=[LimitMargin.of(v) for v in limits],
        violations=[v.describe() for v in limits if not v.ok],
    )
