"""What a run did, counted from its spikes per neuron: the synaptic events each population
received and caused on the chip, beside what the same spikes cost the PyTorch model in the paper's
convention. Every backend's ``RunResult`` (and the float model's spikes) is counted here."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..artifact import GATE, INPUT, FixedNetwork, Relay, Term, gate_pattern

__all__ = [
    "Activity",
    "GateActivity",
    "InputActivity",
    "LayerActivity",
    "Sources",
    "activity",
    "model_layer_synops",
]


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
    what the runtime model times step by step (``analysis.runtime``)."""
    samples, steps = len(x), x.shape[1]
    period = net.delay + steps
    q, _ = net.quantize_input(x)
    gate = gate_pattern(net.gate_channels, steps, period).sum(axis=1)
    counts = {
        INPUT: (q != 0).sum(axis=1),  # graded messages per input channel
        GATE: np.broadcast_to(gate, (samples, len(gate))),
        **spike_counts,
    }
    received = []
    graded_src = {INPUT} | {p.name for p in net.populations if isinstance(p, Term)}
    caused = {}  # chip events per source, a relay's counted for the layer it copies
    origin = {p.name: p.name for p in net.populations}
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
    caused_by = dict.fromkeys(origin, 0.0)  # per population, its relays' events included
    for src, events in caused.items():
        if src in origin:
            caused_by[origin[src]] += events
    model_macs, model_synops = 0.0, dict.fromkeys(origin, 0.0)
    for m in net.model_ops:
        if m.source == INPUT:  # every frame, every non-zero weight: MACs
            model_macs += float(m.fanout.sum()) * steps
        else:
            model_synops[m.source] += model_layer_synops(net, m, counts) / samples
    per_step = None
    if step_counts:
        inputs = np.zeros(period)
        inputs[:steps] = (q != 0).sum(axis=2).mean(axis=0)
        per_step = {
            INPUT: inputs.tolist(),
            GATE: gate_pattern(net.gate_channels, steps, period).sum(axis=0).tolist(),
            **{
                p.name: np.asarray(step_counts[p.name], np.float64).mean(axis=0).tolist()
                for p in net.populations
            },
        }
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
        per_step=per_step,
    )
