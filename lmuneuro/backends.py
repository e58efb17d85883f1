"""Running an artifact on a backend: the batched emulator, Lava's bit-accurate CPU simulator, or
Loihi 2 hardware through Intel's Lava extension. Each returns an ``RunResult``; the spikes
per neuron it counts are what ``activity`` turns into synaptic events."""

from __future__ import annotations

import importlib.util

import numpy as np

from .artifact import GATE, INPUT, FixedNetwork, gate_pattern
from .emulator import Emulator
from .limits import violations
from .result import RunResult

__all__ = ["BACKENDS", "BackendUnavailable", "loihi2_missing", "run_backend", "activity"]

BACKENDS = ("emulator", "lava-sim", "loihi2")


class BackendUnavailable(RuntimeError):
    """The backend cannot run on this machine; one line saying what is missing."""


def loihi2_missing() -> str | None:
    """None when Intel's Loihi extension for Lava (``nxcore``, Lava's ``nc`` subcompiler) is
    importable, else what is missing and what to do instead."""
    from .lava.compat import ensure_lava

    ensure_lava()
    missing = [
        m
        for m in ("nxcore", "lava.magma.compiler.subcompilers.nc")
        if importlib.util.find_spec(m) is None
    ]
    if not missing:
        return None
    return (
        "--backend loihi2 needs Intel's Loihi 2 extension for Lava (missing: "
        f"{', '.join(missing)}; "
        "available to Intel Neuromorphic Research Community members with a board); "
        "run the same graph bit-accurately with --backend lava-sim, or fast with --backend emulator"
    )


def run_backend(
    net: FixedNetwork,
    x: np.ndarray,
    backend: str,
    *,
    record: bool = False,
    progress: bool = False,
    batch: int = 64,
    floating: bool = False,
    device: str = "cpu",
) -> RunResult:
    """Run ``net`` on features x (samples, steps, features); ``floating``: Lava's floating_pt
    models; ``device``: where the emulator runs (cpu, cuda, cuda:N).
    A network that breaks a chip limit (``limits``) is refused: no backend would compute it as
    converted."""
    if floating and backend != "lava-sim":
        raise ValueError("--float runs Lava's floating_pt models: it needs --backend lava-sim")
    if device != "cpu" and backend != "emulator":
        raise ValueError(
            f"device {device!r}: only the emulator runs on a GPU; Lava's backends run on the CPU"
        )
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    broken = violations(net)
    if broken:
        raise ValueError(
            f"the network breaks {len(broken)} chip limit(s), first {broken[0]} (lmuneuro inspect "
            "lists them)"
        )
    if backend == "emulator":
        emulate = Emulator(net, device)
        parts = [emulate(x[i : i + batch], record=record) for i in range(0, len(x), batch)]
        return RunResult(
            np.concatenate([r.logits for r in parts]),
            np.concatenate([r.per_step for r in parts]),
            {k: np.concatenate([r.spikes[k] for r in parts]) for k in parts[0].spikes},
            {k: np.concatenate([r.spike_counts[k] for r in parts]) for k in parts[0].spike_counts},
        )
    from .lava.network import run as lava_run

    if backend == "loihi2":
        why = loihi2_missing()
        if why:
            raise BackendUnavailable(why)
    return lava_run(
        net, x, record=record, progress=progress, hardware=backend == "loihi2", floating=floating
    )


def _model_synops(net: FixedNetwork, m, counts: dict) -> float:
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
            if p.lag is None
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


def activity(net: FixedNetwork, x: np.ndarray, spike_counts: dict[str, np.ndarray]) -> dict:
    """Per-sample means of what a run did, from spikes per neuron (population -> (samples, n),
    over every step of each sample): per population (layers, relays, graded terms) the spikes it
    sent (a graded term's: its non-zero payloads) and the synaptic events it received (each spike
    times its non-zero synapses in each process that reads it), graded events (from the input
    and the graded terms) apart; the events its spikes caused on the chip (its relays' included)
    beside what the same spikes cost the PyTorch model in the paper's convention
    (``model_synops``, from the artifact's ``model_ops``); and the messages of the two host
    sources (the input's graded MACs in the model's convention with them).
    Any run that gives spike counts (emulator, Lava, the float model) is counted by this one
    function."""
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
    graded_src = {INPUT} | {p.name for p in net.populations if p.graded}
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
            if p.lag is None and s.src not in (GATE, p.name):  # a relay: what it copies
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
            rows[m.source]["model_synops"] += _model_synops(net, m, counts) / samples
    sources = {
        INPUT: {
            "graded_messages": float(counts[INPUT].sum() / samples),
            "model_graded_macs": model_macs,
        },
        GATE: {"spikes": int(gate.sum())},
    }
    return {
        "artifact_checksum": net.checksum,
        "samples": samples,
        "steps": steps,
        "steps_per_sample": period,
        "layers": layers,
        "sources": sources,
    }
