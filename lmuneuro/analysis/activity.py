"""What a run did, counted from its spikes per neuron: the synaptic events each population
received and caused on the chip, beside what the same spikes cost the PyTorch model in the paper's
convention. Every backend's ``RunResult`` (and the float model's spikes) is counted here, and the
file ``lmuneuro run --activity`` writes is read back here, checked against its network."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from ..artifact import GATE, INPUT, FixedNetwork, Relay, Term, gate_pattern
from ..backends import check_run_size
from ..files import parse_json, read_text

__all__ = [
    "Activity",
    "ActivityError",
    "GateActivity",
    "InputActivity",
    "LayerActivity",
    "Sources",
    "activity",
    "activity_from_dict",
    "model_layer_synops",
    "read_activity",
]


class ActivityError(ValueError):
    """An activity that is not a run of the network it is given with; one line naming the
    problem."""


@dataclass(frozen=True)
class LayerActivity:
    """One population's per-sample activity (JSON: its fields in order, ``lava_class`` as
    ``class``)."""

    layer: str
    lava_class: str
    neurons: int
    spikes: float  # sent (a graded term's: its non-zero payloads)
    synaptic_events: float  # received from binary sources
    graded_events: float  # received from graded ones (the input, the residual terms)
    neuron_updates: int
    caused_events: float  # on the chip by its spikes, its relays' included
    model_synops: float  # its spikes' cost in the PyTorch model (the paper's convention)

    def to_dict(self) -> dict:
        return {("class" if k == "lava_class" else k): v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class InputActivity:
    """The input's per-sample graded messages and, in the model's convention, its MACs."""

    graded_messages: float
    model_graded_macs: float


@dataclass(frozen=True)
class GateActivity:
    """The gate's spikes per sample."""

    spikes: int


@dataclass(frozen=True)
class Sources:
    """The two host sources' activity (JSON: ``{"input": ..., "gate": ...}``)."""

    input: InputActivity
    gate: GateActivity

    def to_dict(self) -> dict:
        return {INPUT: asdict(self.input), GATE: asdict(self.gate)}


@dataclass(frozen=True)
class Activity:
    """What a run did, per sample (``activity``; ``to_dict`` is what ``lmuneuro run --activity``
    writes, less its backend)."""

    artifact_checksum: str
    samples: int
    steps: int
    steps_per_sample: int
    layers: list[LayerActivity]
    sources: Sources
    per_step: dict[str, list[float]] | None = None  # source -> mean messages at each step

    def to_dict(self) -> dict:
        out = {
            "artifact_checksum": self.artifact_checksum,
            "samples": self.samples,
            "steps": self.steps,
            "steps_per_sample": self.steps_per_sample,
            "layers": [r.to_dict() for r in self.layers],
            "sources": self.sources.to_dict(),
        }
        if self.per_step is not None:
            out["per_step"] = self.per_step
        return out


def model_layer_synops(net: FixedNetwork, m, counts: dict) -> float:
    """The paper's count of one model layer on a run's spikes (``artifact.ModelOps``). An impulse
    response reaches only the taps within the sequence: its source's relay line, which the gate
    empties at the sequence's end, holds exactly those spikes (relay j of neuron i fires j steps
    after it); without a line every tap is counted."""
    src = counts[m.source]
    if m.fanout is not None:
        return float((src @ m.fanout).sum())
    n = src.shape[1]
    line = next(
        (
            p
            for p in net.populations
            if isinstance(p, Relay)
            and {s.src for s in net.inputs_of(p.name)} >= {m.source, p.name}
            and p.size % n == 0
        ),
        None,
    )
    if line is None:
        return float((src @ m.taps.sum(axis=0)).sum())
    relayed = counts[line.name].reshape(len(src), -1, n)[:, : len(m.taps) - 1]
    return float(
        (src @ m.taps[0]).sum() + np.einsum("bjn,jn->", relayed, m.taps[1 : 1 + relayed.shape[1]])
    )


def activity(
    net: FixedNetwork,
    x: np.ndarray,
    spike_counts: dict[str, np.ndarray],
    step_counts: dict[str, np.ndarray] | None = None,
    *,
    frames: np.ndarray | None = None,
) -> Activity:
    """Per-sample means of what a run did, from spikes per neuron (population -> (samples, n),
    over every step of each sample): per population (layers, relays, graded terms) the spikes it
    sent (a graded term's: its non-zero payloads) and the synaptic events it received (each spike
    times its non-zero synapses in each process that reads it), graded events (from the input
    and the graded terms) apart; the events its spikes caused on the chip (its relays' included)
    beside what the same spikes cost the PyTorch model in the paper's convention
    (``model_synops``, from the artifact's ``model_ops``); and the messages of the two host
    sources (the input's graded MACs in the model's convention with them).
    Any run that gives spike counts (emulator, Lava, the float model) is counted by this one
    function. With ``step_counts`` (population -> (samples, steps per sample), ``RunResult``)
    ``per_step`` gives each step's mean spikes per population, input messages and gate spikes:
    what the runtime model times step by step (``analysis.runtime``). ``frames``: the features
    x as the run quantised them (``RunResult.frames``), not quantised again."""
    samples, steps = len(x), x.shape[1]
    period = net.delay + steps
    q = net.quantize_input(x)[0] if frames is None else frames
    pattern = gate_pattern(net.gate_channels, steps, period)
    gate = pattern.sum(axis=1)
    counts = {
        INPUT: (q != 0).sum(axis=1),  # graded messages per input channel
        GATE: np.broadcast_to(gate, (samples, len(gate))),
        **spike_counts,
    }
    received, caused_by = _events(net, counts, samples)
    model_synops = dict.fromkeys(caused_by, 0.0)
    for m in net.model_ops:
        if m.source != INPUT:
            model_synops[m.source] += model_layer_synops(net, m, counts) / samples
    # the input's MACs: every frame, every non-zero weight
    model_macs = sum(
        (float(m.fanout.sum()) * steps for m in net.model_ops if m.source == INPUT), 0.0
    )
    return Activity(
        artifact_checksum=net.checksum,
        samples=samples,
        steps=steps,
        steps_per_sample=period,
        layers=[
            LayerActivity(
                layer=p.name,
                lava_class=p.lava_class,
                neurons=p.size,
                spikes=float(spike_counts[p.name].sum() / samples),
                synaptic_events=binary,
                graded_events=graded,
                neuron_updates=p.size * period,
                caused_events=caused_by[p.name],
                model_synops=model_synops[p.name],
            )
            for p, (binary, graded) in zip(net.populations, received)
        ],
        sources=Sources(
            InputActivity(float(counts[INPUT].sum() / samples), model_macs),
            GateActivity(int(gate.sum())),
        ),
        per_step=_per_step(net, q, pattern, step_counts) if step_counts else None,
    )


def _per_step(
    net: FixedNetwork, q: np.ndarray, pattern: np.ndarray, step_counts: dict[str, np.ndarray]
) -> dict[str, list[float]]:
    """Per source its mean messages at each step of a sample: the input's non-zero frames
    ``q``, the gate's ``pattern`` and every population's ``step_counts``."""
    inputs = np.zeros(pattern.shape[1])
    inputs[: q.shape[1]] = (q != 0).sum(axis=2).mean(axis=0)
    return {
        INPUT: inputs.tolist(),
        GATE: pattern.sum(axis=0).tolist(),
        **{
            p.name: np.asarray(step_counts[p.name], np.float64).mean(axis=0).tolist()
            for p in net.populations
        },
    }


def _events(
    net: FixedNetwork, counts: dict[str, np.ndarray], samples: int
) -> tuple[list[tuple[float, float]], dict[str, float]]:
    """(per population the binary and graded events it received, per population the events its
    spikes caused, its relays' included), per sample, from every source's messages per neuron."""
    received = []
    graded_src = {INPUT} | {p.name for p in net.populations if isinstance(p, Term)}
    caused = {}  # chip events per source
    origin = {p.name: p.name for p in net.populations}  # a relay's: the layer it copies
    for p in net.populations:
        binary = graded = 0.0
        for s in net.inputs_of(p.name):
            events = float(
                (counts[s.src] @ (np.asarray(s.weights) != 0).sum(axis=0)).sum() / samples
            )
            if s.src in graded_src:
                graded += events
            else:
                binary += events
            if isinstance(p, Relay) and s.src not in (GATE, p.name):  # a relay: what it copies
                origin[p.name] = origin.get(s.src, s.src)
            caused[s.src] = caused.get(s.src, 0.0) + events
        received.append((binary, graded))
    caused_by = dict.fromkeys(origin, 0.0)
    for src, events in caused.items():
        if src in origin:
            caused_by[origin[src]] += events
    return received, caused_by


# the counts an activity file gives per population, each checked below
_COUNTS = tuple(f.name for f in fields(LayerActivity) if f.name not in ("layer", "lava_class"))
_SOURCES = ((INPUT, InputActivity), (GATE, GateActivity))


def read_activity(path, net: FixedNetwork) -> Activity:
    """The activity JSON that ``lmuneuro run --activity`` wrote, checked against ``net``."""
    where = str(path)
    try:
        act = parse_json(read_text(path))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ActivityError(
            f"{where}: not a readable activity file ({str(e).splitlines()[0]})"
        ) from None
    return activity_from_dict(act, net, where)


def activity_from_dict(act, net: FixedNetwork, where: str = "activity") -> Activity:
    """An activity's JSON form (``Activity.to_dict``, as a file holds it) checked against ``net``;
    every problem an ``ActivityError`` naming ``where``."""
    if (
        not isinstance(act, dict)
        or not isinstance(act.get("layers"), list)
        or not isinstance(act.get("sources"), dict)
    ):
        raise ActivityError(
            f"{where}: not an activity file (write one with lmuneuro run --activity)"
        )
    if act.get("artifact_checksum") != net.checksum:
        raise ActivityError(f"{where}: recorded from another artifact (checksum differs)")
    names = [p.name for p in net.populations]
    if [r.get("layer") if isinstance(r, dict) else None for r in act["layers"]] != names:
        raise ActivityError(f"{where}: layers do not match the artifact's")

    def count(v) -> bool:  # below 1e18, far above any run's, so that every priced total is finite
        return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1e18

    for r, p in zip(act["layers"], net.populations):
        if r.get("neurons") != p.size:
            raise ActivityError(f"{where}: {p.name}.neurons is not its {p.size} neurons")
        for k in _COUNTS:
            if not count(r.get(k)):
                raise ActivityError(
                    f"{where}: {r['layer']}.{k} must be a non-negative number, got {r.get(k)!r}"
                )
    for src, kind in _SOURCES:
        row = act["sources"].get(src)
        for k in (f.name for f in fields(kind)):
            if not isinstance(row, dict) or not count(row.get(k)):
                raise ActivityError(f"{where}: sources.{src}.{k} must be a non-negative number")
    for k in ("samples", "steps", "steps_per_sample"):
        if not isinstance(act.get(k), int) or isinstance(act[k], bool) or act[k] < 1:
            raise ActivityError(
                f"{where}: field {k} must be a positive integer, got {act.get(k)!r}"
            )
    if act["steps_per_sample"] != act["steps"] + net.delay:
        raise ActivityError(
            f"{where}: steps_per_sample {act['steps_per_sample']} is not its {act['steps']} steps "
            f"plus the artifact's {net.delay} steps of delay"
        )
    try:  # a run this machine could not have made (the ANN count runs the model on its steps)
        check_run_size(net, 1, act["steps"], where)
    except ValueError as e:
        raise ActivityError(str(e)) from None
    if "per_step" in act:  # optional: each source's messages at each step of a sample
        steps = act.get("per_step")
        sources = {INPUT, GATE, *names}
        if not isinstance(steps, dict) or set(steps) != sources:
            raise ActivityError(f"{where}: per_step must list the input, the gate and every layer")
        for k, v in steps.items():
            if (
                not isinstance(v, list)
                or len(v) != act["steps_per_sample"]
                or not all(count(c) for c in v)
            ):
                raise ActivityError(
                    f"{where}: per_step.{k} must be {act['steps_per_sample']} non-negative numbers"
                )
    src = act["sources"]
    return Activity(
        artifact_checksum=act["artifact_checksum"],
        samples=act["samples"],
        steps=act["steps"],
        steps_per_sample=act["steps_per_sample"],
        layers=[  # the class is the artifact's (the names match)
            LayerActivity(r["layer"], p.lava_class, **{k: r[k] for k in _COUNTS})
            for r, p in zip(act["layers"], net.populations)
        ],
        sources=Sources(
            *(kind(**{f.name: src[s][f.name] for f in fields(kind)}) for s, kind in _SOURCES)
        ),
        per_step=act.get("per_step"),
    )
