"""Running an artifact on a backend: the batched emulator, Lava's bit-accurate CPU simulator, or
Loihi 2 hardware through Intel's Lava extension. Each returns a ``RunResult`` (``result``); the
spikes per neuron it counts are what ``analysis.activity`` turns into synaptic events. Importing
this package loads neither torch, Lava nor h5py (the command line takes ``BACKENDS`` from it):
``run_backend`` loads the backend it runs."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..artifact import FixedNetwork
    from .result import RunResult

__all__ = ["BACKENDS", "BackendUnavailable", "check_run_size", "loihi2_missing", "run_backend"]

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
        "the loihi2 backend needs Intel's Loihi 2 extension for Lava (missing: "
        f"{', '.join(missing)}; "
        "available to Intel Neuromorphic Research Community members with a board); "
        "run the same graph bit-accurately on the lava-sim backend, or fast on the emulator"
    )


# the emulator's working memory per neuron, sample and step, measured as peak resident growth:
# 7.8 bytes (digits, 728 neurons, batch 1, 2,000 against 20,000 steps), 5.3 bytes (SCv2 preset,
# 4,480 neurons, batch 64, 147 steps: 223 MiB); twice the larger, for what other networks hold
_BYTES_PER_NEURON_STEP = 16


def check_run_size(
    net: FixedNetwork, samples: int, steps: int, what: str, *, record: bool = False, batch: int = 64
) -> None:
    """Refuse, before any work, a run of ``samples`` sequences of ``steps`` steps whose memory
    would exceed the read budget (``files.read_budget``): one batch's states over every step, and
    what is kept of every sample (per-step logits, and with ``record`` every layer's spikes)."""
    from ..files import gib, read_budget

    neurons = sum(p.size for p in net.populations)
    kept = sum(p.size for p in net.layers) if record else 0
    per_step = min(samples, batch) * neurons * _BYTES_PER_NEURON_STEP + samples * (
        8 * net.head_weight.shape[0] + kept
    )
    budget = read_budget()
    if (net.delay + steps) * per_step > budget:
        most = max(0, budget // per_step - net.delay)
        raise ValueError(
            f"{what}: {samples:,} sample(s) of {steps:,} steps would take about "
            f"{gib((net.delay + steps) * per_step)} on this network ({neurons:,} neurons), more "
            f"than the {gib(budget)} budget: at most {most:,} steps per sample here"
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
        raise ValueError("floating runs Lava's floating_pt models: it needs the lava-sim backend")
    if device != "cpu" and backend != "emulator":
        raise ValueError(
            f"device {device!r}: only the emulator runs on a GPU; Lava's backends run on the CPU"
        )
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    check_run_size(
        net,
        len(x),
        x.shape[1],
        "the inputs",
        record=record,
        batch=batch if backend == "emulator" else 1,
    )
    from ..compile.limits import violations

    broken = violations(net)
    if broken:
        raise ValueError(
            f"the network breaks {len(broken)} chip limit(s), first {broken[0]} (lmuneuro inspect "
            "lists them)"
        )
    if backend == "emulator":
        from ..files import read_budget
        from .emulator import Emulator
        from .result import RunResult

        # the emulator holds every population's a_in and spikes over a whole batch at once (at most
        # 12 bytes per neuron and step): the batch shrinks to fit the memory budget
        sample = 12 * (net.delay + x.shape[1]) * sum(p.size for p in net.populations)
        budget = read_budget()
        if sample > budget:
            raise ValueError(
                f"one sample of {x.shape[1]:,} frames takes the emulator {sample / 2**30:,.1f} GiB "
                f"({net.delay + x.shape[1]:,} steps of {sum(p.size for p in net.populations):,} "
                f"neurons), more than the {budget / 2**30:,.1f} GiB budget"
            )
        batch = max(1, min(batch, budget // sample))
        emulate = Emulator(net, device)
        parts = [emulate(x[i : i + batch], record=record) for i in range(0, len(x), batch)]
        return RunResult(
            np.concatenate([r.logits for r in parts]),
            np.concatenate([r.per_step for r in parts]),
            {k: np.concatenate([r.spikes[k] for r in parts]) for k in parts[0].spikes},
            *(
                {k: np.concatenate([getattr(r, f)[k] for r in parts]) for k in getattr(parts[0], f)}
                for f in ("spike_counts", "step_counts")
            ),
            np.concatenate([r.frames for r in parts]),
            sum(r.inputs_clipped for r in parts),
        )
    from .lava.network import run as lava_run

    if backend == "loihi2":
        why = loihi2_missing()
        if why:
            raise BackendUnavailable(why)
    return lava_run(
        net, x, record=record, progress=progress, hardware=backend == "loihi2", floating=floating
    )
