"""Conversion: a trained spiking model -> its float graph -> a fixed-point ``FixedNetwork``.

Scheduling: a population's lag is the earliest hardware step at which every input it reads for
float time 0 has arrived: ``lag(p) = max over taps (lag(src) + 1 + offset)``; each tap then gets
the delay ``lag(p) - lag(src) - 1 - offset`` (>= 0). The k=3 convolutions look one frame ahead,
so every such hop adds a step; the LMU memory's taps are delays 0..127 from the input neuron.
"""

from __future__ import annotations

import numpy as np

from .artifact import BOS, CLOCK, EOS, INPUT, FixedNetwork, FixedPopulation, FixedSynapses
from .fixedpoint import ACT_SHIFT, VTH_MANT_DEFAULT, decays, input_format, population_scale, quantize_weights
from .graph import Graph

__all__ = ["quantize_graph"]

# Inhibition: -255 << 7 activation units (a tap's 16-bit limit), about -2^21 state units per set:
# one set more than the taps that could excite at the same step, so nothing overcomes it.
_SILENCE_W, _SILENCE_EXP = -255, 7


def _silence(size: int, delays: list[int], sets: int) -> list[FixedSynapses]:
    w = np.full((len(delays), size, 1), _SILENCE_W, np.int16)
    exps = np.full(size, _SILENCE_EXP, np.int64)
    return [FixedSynapses(src, w, exps, np.array(delays, dtype=np.int64)) for src in sets]


def _input_frac_bits(graph: Graph, max_abs: float, bits: int, vth_mant: int, exp_range) -> int:
    """As many fraction bits as the input's range allows, but no more than keep every input
    synapse row's exponent within range (a small weight on a finely resolved input would round
    to nothing)."""
    frac = input_format(max_abs, bits)
    for p in graph.populations:
        for g in p.inputs:
            if g.src == INPUT:
                rows = np.abs(g.weights).max(axis=(0, 2)) * population_scale(p.v_th, vth_mant) / (p.tau * 2**ACT_SHIFT)
                smallest = rows[rows > 0].min()
                frac = min(frac, int(np.ceil(np.log2(smallest / 254))) - exp_range[0])
    return frac


def quantize_graph(graph: Graph, *, input_max_abs: float, input_bits: int = 16,
                   vth_mant: int = VTH_MANT_DEFAULT, exp_range=(-8, 7)) -> FixedNetwork:
    """The fixed-point network of ``graph``; ``input_max_abs`` bounds the features' magnitude."""
    frac = _input_frac_bits(graph, input_max_abs, input_bits, vth_mant, exp_range)
    lags = {INPUT: 0, CLOCK: 0, EOS: 0}
    pops = []
    for p in graph.populations:
        lag = max(lags[g.src] + 1 + max(g.offsets) for g in p.inputs if g.src != CLOCK)
        lags[p.name] = lag
        scale = population_scale(p.v_th, vth_mant)
        du, dv = decays(p.tau)
        groups = []
        for g in p.inputs:
            c = g.weights * scale / (p.tau * 2**ACT_SHIFT)
            if g.src == INPUT:
                c = c / 2.0**frac
            delays = np.array([lag - lags[g.src] - 1 - k for k in g.offsets], dtype=np.int64)
            q = quantize_weights(c, exp_range)
            groups.append(FixedSynapses(g.src, q.w_int, q.weight_exp, delays, q.rel_error))
        # Taps that look k > 0 frames ahead deliver real input at float times -k..-1: inhibit those
        # steps (bos, one spike at step 0), and everything from float time N on (eos).
        ahead = max(max(g.offsets) for g in p.inputs if g.src != CLOCK)
        sets = 1 + sum(int((np.array(g.offsets) > 0).sum()) for g in p.inputs)
        early = [lag - 1 - j for j in range(1, ahead + 1)]
        groups += _silence(p.size, early, [BOS] * sets) if early else []
        groups += _silence(p.size, [lag - 1], [EOS] * sets)
        pops.append(FixedPopulation(p.name, p.size, du, dv, vth_mant, lag, scale, groups))
    return FixedNetwork(graph.input_size, frac, input_bits, pops, graph.head_weight.astype(np.float32),
                        graph.head_bias.astype(np.float32))
