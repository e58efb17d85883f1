"""Running an artifact on a backend: the batched emulator, Lava's bit-accurate CPU simulator, or
Loihi 2 hardware through Intel's Lava extension. Each returns an ``EmulatorResult``; the
activity they record (spikes per neuron) is what ``activity`` turns into synaptic events."""

from __future__ import annotations

import importlib.util

import numpy as np

from .artifact import BOS, CLOCK, EOS, INPUT, FixedNetwork
from .emulator import EmulatorResult, run as emulate

__all__ = ["BACKENDS", "BackendUnavailable", "loihi2_missing", "run_backend", "activity"]

BACKENDS = ("emulator", "lava-sim", "loihi2")


class BackendUnavailable(RuntimeError):
    """The backend cannot run on this machine; one line saying what is missing."""


def loihi2_missing() -> str | None:
    """None when Intel's Loihi extension for Lava (``nxcore``, Lava's ``nc`` subcompiler) is
    importable, else what is missing and what to do instead."""
    from .lava.compat import ensure_lava

    ensure_lava()
    missing = [m for m in ("nxcore", "lava.magma.compiler.subcompilers.nc") if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return (f"--backend loihi2 needs Intel's Loihi 2 extension for Lava (missing: {', '.join(missing)}; "
            "available to Intel Neuromorphic Research Community members with a board); "
            "run the same graph bit-accurately with --backend lava-sim, or fast with --backend emulator")


def run_backend(net: FixedNetwork, x: np.ndarray, backend: str, *, record: bool = False,
                progress: bool = False, batch: int = 64, floating: bool = False) -> EmulatorResult:
    """Run ``net`` on features x (samples, steps, features); ``floating``: Lava's floating_pt models."""
    if floating and backend != "lava-sim":
        raise ValueError("--float runs Lava's floating_pt models: it needs --backend lava-sim")
    if backend == "emulator":
        parts = [emulate(net, x[i:i + batch], record=record) for i in range(0, len(x), batch)]
        return EmulatorResult(np.concatenate([r.logits for r in parts]), np.concatenate([r.per_step for r in parts]),
                              {k: np.concatenate([r.spikes[k] for r in parts]) for k in parts[0].spikes},
                              {k: np.concatenate([r.spike_counts[k] for r in parts]) for k in parts[0].spike_counts},
                              {k: sum(r.saturated[k] for r in parts) for k in parts[0].saturated},
                              {k: sum(r.wrapped[k] for r in parts) for k in parts[0].wrapped})
    if backend in ("lava-sim", "loihi2"):
        from .lava.network import run as lava_run

        if backend == "loihi2":
            why = loihi2_missing()
            if why:
                raise BackendUnavailable(why)
        return lava_run(net, x, record=record, progress=progress, hardware=backend == "loihi2", floating=floating)
    raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def _fanout(net: FixedNetwork) -> dict[str, np.ndarray]:
    """Synapses each source neuron drives (non-zero weights over every tap and set)."""
    sizes = {INPUT: net.input_size, CLOCK: 1, BOS: 1, EOS: 1, **{p.name: p.size for p in net.populations}}
    fan = {name: np.zeros(n, np.int64) for name, n in sizes.items()}
    for p in net.populations:
        for g in p.inputs:
            fan[g.src] += (np.asarray(g.w_int) != 0).sum(axis=(0, 1))
    return fan


def activity(net: FixedNetwork, x: np.ndarray, result: EmulatorResult) -> dict:
    """Per-sample means of what a run did: spikes and synaptic events (spikes x fan-out, from
    spike counts per neuron) per population; graded input messages and their events apart."""
    from .fixedpoint import quantize_input

    fan = _fanout(net)
    samples = len(x)
    period = net.delay + x.shape[1]
    layers = []
    for p in net.populations:
        counts = result.spike_counts[p.name]  # (samples, n)
        layers.append({"layer": p.name, "neurons": p.size, "spikes": float(counts.sum() / samples),
                       "synaptic_events": float((counts @ fan[p.name]).sum() / samples),
                       "neuron_updates": p.size * period})
    q, _ = quantize_input(x, net.input_frac_bits, net.input_bits)
    messages = (q != 0).sum(axis=1)  # (samples, features): graded messages per input channel
    sources = {"input": {"graded_messages": float(messages.sum() / samples),
                         "synaptic_events": float((messages @ fan[INPUT]).sum() / samples)}}
    steps = x.shape[1]
    for name, spikes in ((CLOCK, period), (BOS, 1), (EOS, period - steps)):
        sources[name] = {"spikes": spikes, "synaptic_events": int(spikes * fan[name][0])}
    return {"samples": samples, "steps_per_sample": period, "layers": layers, "sources": sources}
