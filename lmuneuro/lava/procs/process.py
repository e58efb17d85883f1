"""Lava processes for lmuneuro's converted networks (what they are; ``models.py``: how they run).

``TapDense`` is a synapse group with taps: the k=3 convolutions unrolled in time and the LMU
memory's impulse response are one process each, not one Dense and one delay line per tap.
``Integrator`` is the recurrent LMU memory's graded-spike neuron, which Lava's library lacks (its
graded and sigma-delta neurons send changes or thresholded values, not the state itself).
``SpikeCounter`` accumulates the read-out population's spikes in each sample's window, so that
predictions come back without reading every spike of every layer.

Imports are absolute: Lava's compiler loads this file on its own when it looks for models.
"""

from __future__ import annotations

import numpy as np

from lmuneuro.lava.compat import ensure_lava

ensure_lava()

from lava.magma.core.process.ports.ports import InPort, OutPort  # noqa: E402
from lava.magma.core.process.process import AbstractProcess  # noqa: E402
from lava.magma.core.process.variable import Var  # noqa: E402

__all__ = ["TapDense", "Integrator", "SpikeCounter"]


class TapDense(AbstractProcess):
    """A synapse group with taps and weight sets (lmuneuro artifact semantics, docs/artifact.md).

    At time step T it sends, per target neuron n,
    ``floor(sum over sets j of 2^weight_exp[j, n] * sum over taps k of (weights[j, k] @ s[T - 1 - delays[k]])[n])``:
    one step of latency as Lava's Dense, plus each tap's delay, and one rounding. Every ``period`` steps (from
    step 0; 0: never) the history is cleared, so that samples run back to back do not see each
    other.

    weights: (sets, taps, n_dst, n_src) integers (8-bit values as Lava's Dense uses them)
    weight_exp: (sets, n_dst) integers; delays: (taps,) integers >= 0
    """

    def __init__(self, *, weights: np.ndarray, weight_exp: np.ndarray, delays: np.ndarray, period: int = 0,
                 name: str | None = None) -> None:
        weights = np.asarray(weights)
        if weights.ndim != 4 or np.shape(weight_exp) != (weights.shape[0], weights.shape[2]) \
                or np.shape(delays) != (weights.shape[1],) or np.min(delays) < 0:
            raise ValueError("TapDense needs weights (sets, taps, n_dst, n_src), weight_exp (sets, n_dst) "
                             "and delays (taps,) >= 0")
        n_dst, n_src = weights.shape[2:]
        depth = int(np.max(delays)) + 1
        super().__init__(weights=weights, weight_exp=weight_exp, delays=delays, period=period, name=name)
        self.s_in = InPort(shape=(n_src,))
        self.a_out = OutPort(shape=(n_dst,))
        self.weights = Var(shape=weights.shape, init=weights)
        self.weight_exp = Var(shape=weights.shape[:1] + (n_dst,), init=np.asarray(weight_exp))
        self.delays = Var(shape=(weights.shape[1],), init=np.asarray(delays))
        self.history = Var(shape=(depth, n_src), init=0)  # history[d]: s of step T - 1 - d


class Integrator(AbstractProcess):
    """Graded-spike integrators (lmuneuro artifact semantics, docs/artifact.md): in each sample of
    ``period`` steps the state m is 0 at the steps before ``lag``, then ``m = wrap24(m + a_in)``;
    m is sent at every step."""

    def __init__(self, *, shape: tuple[int], lag: int, period: int, name: str | None = None) -> None:
        super().__init__(shape=shape, lag=lag, period=period, name=name)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.m = Var(shape=shape, init=0)


class SpikeCounter(AbstractProcess):
    """Records a population's spikes at the steps ``start .. start + steps - 1`` of every sample
    (samples are ``period`` steps long) into ``counts`` (samples, steps, n)."""

    def __init__(self, *, shape: tuple[int], samples: int, period: int, start: int, steps: int,
                 name: str | None = None) -> None:
        super().__init__(shape=shape, samples=samples, period=period, start=start, steps=steps, name=name)
        self.s_in = InPort(shape=shape)
        self.counts = Var(shape=(samples, steps) + tuple(shape), init=0)
