"""The deployment artifact: a fixed-point network as Loihi 2 runs it (the contract between the
converter and the backends; the backends read this and nothing else).

Time runs in hardware steps. Population p computes float time t at hardware step ``t + lag``.
Four sources feed the populations besides each other: ``input`` (feature frame t as graded
spikes at step t, zero after the sequence), ``clock`` (a spike at every step: biases are
synapses from it, delayed to start at float time 0), ``bos`` (one spike at step 0: it inhibits
a population at the float times before 0 at which look-ahead taps already deliver real input)
and ``eos`` (a spike at every step from the end of the sequence on: it silences each
population from its float time N on). Each population's u and v are zeroed at ``reset_step``
(its float time 0; Lava's LIFReset), so float time 0 starts from rest exactly as the reference's
zero padding does. A synapse tap delivers the source's spikes of step ``T - 1 - delay`` at
step T (Loihi's one step of synaptic latency plus the tap's delay). The read-out counts the last
population's spikes and applies the float ``head`` to their time-mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FixedSynapses", "FixedPopulation", "FixedNetwork", "INPUT", "CLOCK", "BOS", "EOS", "SOURCES"]

INPUT, CLOCK, BOS, EOS = "input", "clock", "bos", "eos"
SOURCES = (INPUT, CLOCK, BOS, EOS)


@dataclass
class FixedSynapses:
    src: str
    w_int: np.ndarray  # (taps, n_dst, n_src) int16, Lava-effective 8-bit values
    weight_exp: np.ndarray  # (n_dst,) int: a tap delivers floor(sum(w_int s) 2^weight_exp) per target
    delays: np.ndarray  # (taps,) int, extra steps beyond the one step of latency
    rel_error: float = 0.0  # of the quantised weights against the float ones


@dataclass
class FixedPopulation:
    name: str
    size: int
    du: int
    dv: int
    vth: int  # mantissa: spike when v > vth << 6
    lag: int  # hardware step of float time 0; u and v are zeroed before that step's update
    scale: float  # state units per float unit (for reports)
    inputs: list[FixedSynapses] = field(default_factory=list)


@dataclass
class FixedNetwork:
    input_size: int
    input_frac_bits: int
    input_bits: int
    populations: list[FixedPopulation]
    head_weight: np.ndarray  # (classes, n_last) float32
    head_bias: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def delay(self) -> int:
        """Algorithmic delay in steps: frame t's contribution reaches the read-out at step t + delay."""
        return self.populations[-1].lag
