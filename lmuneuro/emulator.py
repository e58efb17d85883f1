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

import numpy as np

__all__ = ["lava_dense_weights", "dense_accumulate", "lif_step", "STATE_MAX"]

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
