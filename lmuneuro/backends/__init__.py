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

__all__ = ["BACKENDS", "BackendUnavailable", "loihi2_missing", "run_backend"]

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
