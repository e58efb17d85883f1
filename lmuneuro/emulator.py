"""Bit-accurate arithmetic of Lava's ``fixed_pt`` (Loihi) process models, vectorised over a batch.

These kernels reproduce lava-nc 0.10's ``PyDenseModelBitAcc`` and ``PyLifModelBitAcc`` integer for
integer, including what a converter must plan around:

- Dense weights (8-bit): Lava picks a sign mode per matrix. All >= 0: clipped to [0, 255];
  all <= 0: [-255, 0]; mixed: clipped to [-256, 255] and the least significant bit dropped
  (floor to even), i.e. an 8-bit signed mantissa m in [-128, 127] stored as 2m.
- Dense accumulation: ``a = (W s) << weight_exp`` (``>>`` with floor for a negative exponent),
  delivered one time step later. Values beyond 16 bits are passed on unwrapped.
- LIF (values in units of the 24-bit state):
  ``u = sign(u) ((|u| (4096 - (du + 1))) >> 12) + (a_in << 6)``, wrapped into 24 bits;
  ``v = clip(sign(v) ((|v| (4096 - dv)) >> 12) + u + bias, +-(2^23 - 1))``;
  spike when ``v > vth << 6``, then ``v = 0``. ``bias = bias_mant << bias_exp``.

The test suite checks every kernel against Lava's own models on random inputs, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .artifact import BOS, CLOCK, EOS, INPUT, FixedNetwork
from .fixedpoint import quantize_input

__all__ = ["lava_dense_weights", "dense_accumulate", "lif_step", "run", "EmulatorResult", "STATE_MAX"]

STATE_MAX = 2**23  # u, v are 24-bit signed
_DECAY_UNITY, _DECAY_SHIFT, _ACT_SHIFT, _VTH_SHIFT = 4096, 12, 6, 6


def lava_dense_weights(w: np.ndarray) -> np.ndarray:
    """The integer weights Lava's bit-accurate Dense actually uses for a weight matrix ``w``."""
    w = np.asarray(w).astype(np.int64)
    if w.min() >= 0:
        return np.clip(w, 0, 255)
    if w.max() <= 0:
        return np.clip(w, -255, 0)
    return (np.clip(w, -256, 255) >> 1) << 1


def dense_accumulate(w: np.ndarray, weight_exp: int, s: np.ndarray) -> np.ndarray:
    """a (batch, n_out) int64 from effective weights w (n_out, n_in) and inputs s (batch, n_in):
    binary spikes or graded integer payloads."""
    acc = np.asarray(s, dtype=np.int64) @ np.asarray(w, dtype=np.int64).T
    return acc << weight_exp if weight_exp > 0 else acc >> -weight_exp


def _decay(x: np.ndarray, keep: int) -> np.ndarray:
    y = x * keep
    return np.sign(y) * (np.abs(y) >> _DECAY_SHIFT)


def lif_step(u, v, a_in, du: int, dv: int, bias, vth: int):
    """One step of a LIF population: int64 arrays u, v, a_in (batch, n) and per-neuron integer
    ``bias`` (already ``bias_mant << bias_exp``). Returns (spikes bool, u, v)."""
    u = _decay(np.asarray(u, dtype=np.int64), _DECAY_UNITY - (du + 1)) + (np.asarray(a_in, dtype=np.int64) << _ACT_SHIFT)
    wrapped = np.where(u > STATE_MAX, u - 2 * STATE_MAX, u)  # as Lava: the second test sees the first's
    u = np.where(wrapped <= -STATE_MAX, u + 2 * STATE_MAX, wrapped)  # result, the fix uses the raw value
    v = _decay(np.asarray(v, dtype=np.int64), _DECAY_UNITY - dv) + u + np.asarray(bias, dtype=np.int64)
    v = np.clip(v, -STATE_MAX + 1, STATE_MAX - 1)
    spikes = v > (int(vth) << _VTH_SHIFT)
    return spikes, u, np.where(spikes, 0, v)


@dataclass
class EmulatorResult:
    logits: np.ndarray  # (batch, classes): head applied to the time-mean of the last population's spikes
    per_step: np.ndarray  # (batch, steps, classes): the same over each prefix of the sequence
    spikes: dict  # population -> (batch, steps, n) bool, in float time (when asked for)
    saturated: dict  # "population<-source" -> count of tap outputs beyond 16 bits


def _source_signal(net: FixedNetwork, q: np.ndarray, total: int) -> dict:
    batch, steps = q.shape[:2]
    eos = np.zeros((batch, total, 1))
    eos[:, steps:] = 1.0
    bos = np.zeros((batch, total, 1))
    bos[:, 0] = 1.0
    graded = np.zeros((batch, total, net.input_size))
    graded[:, :steps] = q
    return {INPUT: graded, CLOCK: np.ones((batch, total, 1)), BOS: bos, EOS: eos}


def run(net: FixedNetwork, x: np.ndarray, record: bool = False) -> EmulatorResult:
    """Run the network on real-valued features x (batch, steps, input_size), all samples at once.

    Synaptic sums are carried in float64, exact for these integers (every partial sum stays far
    below 2^53), so BLAS does the work; every rounding step is Lava's integer arithmetic."""
    q, _ = quantize_input(x, net.input_frac_bits, net.input_bits)
    batch, steps = q.shape[:2]
    total = net.delay + steps
    hist = _source_signal(net, q, total)
    for p in net.populations:
        hist[p.name] = np.zeros((batch, total, p.size))
    state = {p.name: (np.zeros((batch, p.size), np.int64), np.zeros((batch, p.size), np.int64))
             for p in net.populations}
    weights = {(p.name, i): np.asarray(g.w_int, np.float64) for p in net.populations for i, g in enumerate(p.inputs)}
    saturated = {f"{p.name}<-{g.src}": 0 for p in net.populations for g in p.inputs}
    for t in range(total):
        for p in net.populations:  # all read step t - 1 or earlier: the order does not matter
            a = np.zeros((batch, p.size))
            for i, g in enumerate(p.inputs):
                src_t = t - 1 - g.delays
                ok = src_t >= 0
                if not ok.any():
                    continue
                sig = hist[g.src][:, src_t[ok]]  # (batch, taps, n_src)
                acc = np.einsum("bkm,knm->bkn", sig, weights[(p.name, i)][ok])
                taps = np.floor(acc * 2.0 ** np.asarray(g.weight_exp)[None, None, :])
                saturated[f"{p.name}<-{g.src}"] += int((np.abs(taps) > 2**15 - 1).sum())
                a += taps.sum(axis=1)
            u, v = state[p.name] if t != p.lag else (0, 0)  # LIFReset at float time 0
            s, u, v = lif_step(u, v, a.astype(np.int64), p.du, p.dv, 0, p.vth)
            state[p.name] = (u, v)
            hist[p.name][:, t] = s
    last = net.populations[-1]
    head_spikes = hist[last.name][:, last.lag:last.lag + steps]
    mean_prefix = np.cumsum(head_spikes, axis=1) / np.arange(1, steps + 1)[None, :, None]
    per_step = mean_prefix @ net.head_weight.T.astype(np.float64) + net.head_bias
    spikes = {p.name: hist[p.name][:, p.lag:p.lag + steps] > 0 for p in net.populations} if record else {}
    return EmulatorResult(per_step[:, -1], per_step, spikes, saturated)
