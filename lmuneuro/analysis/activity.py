"""What a run did, counted from its spikes per neuron: the synaptic events each population
received and caused on the chip, beside what the same spikes cost the PyTorch model in the paper's
convention. Every backend's ``RunResult`` (and the float model's spikes) is counted here."""

from __future__ import annotations

import numpy as np

from ..artifact import GATE, INPUT, FixedNetwork, Relay, Term, gate_pattern

__all__ = ["activity", "model_layer_synops"]


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
) -> dict:
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
    layers = []
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
        layers.append(
            {
                "layer": p.name,
                "class": p.lava_class,
                "neurons": p.size,
                "spikes": float(spike_counts[p.name].sum() / samples),
                "synaptic_events": binary,
                "graded_events": graded,
                "neuron_updates": p.size * period,
                "caused_events": 0.0,
                "model_synops": 0.0,
            }
        )
    rows = {r["layer"]: r for r in layers}
    for src, events in caused.items():
        if src in origin:
            rows[origin[src]]["caused_events"] += events
    model_macs = 0.0
    for m in net.model_ops:
        if m.source == INPUT:  # every frame, every non-zero weight: MACs
            model_macs += float(m.fanout.sum()) * steps
        else:
            rows[m.source]["model_synops"] += model_layer_synops(net, m, counts) / samples
    sources = {
        INPUT: {
            "graded_messages": float(counts[INPUT].sum() / samples),
            "model_graded_macs": model_macs,
        },
        GATE: {"spikes": int(gate.sum())},
    }
    out = {
        "artifact_checksum": net.checksum,
        "samples": samples,
        "steps": steps,
        "steps_per_sample": period,
        "layers": layers,
        "sources": sources,
    }
    if step_counts:
        inputs = np.zeros(period)
        inputs[:steps] = (q != 0).sum(axis=2).mean(axis=0)
        out["per_step"] = {
            INPUT: inputs.tolist(),
            GATE: gate_pattern(net.gate_channels, steps, period).sum(axis=0).tolist(),
            **{
                p.name: np.asarray(step_counts[p.name], np.float64).mean(axis=0).tolist()
                for p in net.populations
            },
        }
    return out
