"""What an artifact deploys: the Lava processes it instantiates, the neuro-cores per population,
and every chip limit with its margin (``lmuneuro inspect``)."""

from __future__ import annotations

from pathlib import Path

from ..artifact import FixedNetwork, Relay, read_artifact
from ..compile.limits import check, resources
from ..profiles import load_profile

__all__ = ["inspect_network"]


def inspect_network(
    artifact: FixedNetwork | str | Path, profile: str | None = None, steps: int | None = None
) -> dict:
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
    return {
        "artifact": str(artifact) if not isinstance(artifact, FixedNetwork) else None,
        "profile": prof.name,
        "processes": [
            {"module": m, "class": c, "count": n} for (m, c), n in sorted(classes.items())
        ],
        "layers": rows,
        "cores": sum(r["cores"] for r in rows),
        "chips": 1 + max(c for r in rows for c in r["chips"]),
        "largest_delay": {
            "steps": deepest.delay,
            "process": deepest.name,
            "relays": [p.name for p in net.populations if isinstance(p, Relay)],
        },
        "weight_exp_range": [min(exps), max(exps)],
        "algorithmic_delay": net.delay,
        "tightest": [_row(v) for v in kinds.values()],
        "limits": [_row(v) for v in limits],
        "violations": [v.describe() for v in limits if not v.ok],
    }


def _row(v) -> dict:
    return {
        "limit": v.limit,
        "where": v.where,
        "range": [float(v.lo), float(v.hi)],
        "bound": [None if v.bound_lo is None else float(v.bound_lo), float(v.bound_hi)],
        "margin": float(v.margin),
        "ok": bool(v.ok),
        "text": v.describe(),
    }
