"""Every float -> fixed conversion of lmuneuro, with its number formats (Loihi 2 as Lava's
bit-accurate models compute it; ``lmuneuro.emulator`` holds that arithmetic).

Number formats:
- state (u, v): 24-bit signed integers in *state units*. A population with float threshold
  ``v_th`` gets the scale ``S = (64 * vth_mant + 1) / v_th`` state units per float unit, so that
  the reference's ``h >= v_th`` is exactly Loihi's ``v > vth_mant << 6`` for integer v.
- activation (a_in): 64 state units (Loihi shifts a_in left by 6 into u).
- weights ``w_int``: what Lava's Dense really uses (8 bits: a set with mixed signs holds even
  values in [-256, 254], a one-signed set [0, 255] or [-255, 0]), and a ``weight_exp`` per
  target neuron; a synapse group (one or more such sets, all its taps) delivers
  ``floor(sum_j 2**weight_exp_j * sum(w_int_j * s))`` activation units per step.
- input features: graded spikes ``q = round(x * 2**input_frac_bits)`` in ``input_bits`` signed bits.
- decays: ``du = 4095`` (u holds one step's input only), ``dv = round(4096 / tau)``.

A float synapse weight W (float input per unit of source signal) becomes, in activation units,
``c = S * W / (tau * 64)`` (divided by ``2**input_frac_bits`` for the graded input): the LIF
charge ``h += (x - h) / tau`` is Loihi's ``v = v - v * dv / 4096 + u`` with ``u = S x / tau``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["quantize_weights", "split_weights", "population_scale", "input_format", "quantize_input", "decays",
           "QuantizedWeights", "VTH_MANT_DEFAULT", "memory_frac_bits", "memory_impulse_errors"]

ACT_SHIFT = 6
STATE_MAX = 2**23  # u, v are 24-bit signed
VTH_MANT_DEFAULT = 4096  # S * v_th = 2^18 + 1 state units; 32 x v_th of headroom in 24 bits


@dataclass(frozen=True)
class QuantizedWeights:
    w_int: np.ndarray  # Lava-effective integer weights, int16
    weight_exp: np.ndarray  # (n_dst,) int: one exponent per target neuron (one Dense per value)
    rel_error: float  # ||w_int 2^e - c|| / ||c||
    clipped: int  # weights beyond the representable range


def population_scale(v_th: float, vth_mant: int = VTH_MANT_DEFAULT) -> float:
    """State units per float unit for a population with threshold ``v_th``."""
    if not 0 < vth_mant < 2**17:
        raise ValueError(f"vth mantissa {vth_mant} is outside Loihi's 17 bits")
    if not v_th > 0:
        raise ValueError(f"threshold {v_th} must be positive")
    return (64 * vth_mant + 1) / v_th


def decays(tau: float) -> tuple[int, int]:
    """(du, dv) for the reference LIF: no current memory, v decays by 1/tau per step."""
    dv = round(4096 / tau)
    if not 0 <= dv <= 4095:
        raise ValueError(f"tau {tau} gives dv {dv}, outside Loihi's 12 bits")
    return 4095, dv


def _to_int(c: np.ndarray, e: np.ndarray, mixed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Integer weights for c (taps, n_dst, n_src) at per-row exponents e (n_dst,), and the number
    clipped per row."""
    scaled = c / np.exp2(e)[None, :, None]
    if mixed:
        w = 2 * np.round(scaled / 2)
        lo, hi = -256, 254
    elif (c >= 0).all():
        w, lo, hi = np.round(scaled), 0, 255
    else:
        w, lo, hi = np.round(scaled), -255, 0
    return np.clip(w, lo, hi).astype(np.int16), ((w < lo) | (w > hi)).sum(axis=(0, 2))


def quantize_weights(c: np.ndarray, exp_range: tuple[int, int] = (-8, 7)) -> QuantizedWeights:
    """8-bit weights for the float targets ``c`` (taps, n_dst, n_src; activation units per unit
    input) with one exponent per target neuron, chosen to minimise the squared error (clipping
    the largest few can beat halving everyone's resolution). Rows are independent: neurons with
    small weights keep their resolution beside neurons with large ones."""
    c = np.asarray(c, dtype=np.float64)
    mixed = bool((c > 0).any() and (c < 0).any())  # Lava's sign mode is per matrix
    peak = np.abs(c).max(axis=(0, 2))
    with np.errstate(divide="ignore"):
        e_fit = np.where(peak > 0, np.ceil(np.log2(peak / (254 if mixed else 255))), exp_range[0])
    if e_fit.max(initial=exp_range[0]) > exp_range[1]:
        raise ValueError(f"weights up to {peak.max():.4g} activation units need weight_exp {int(e_fit.max())}, "
                         f"above the target's maximum {exp_range[1]}")
    best = None
    for e in (np.clip(e_fit - 1, *exp_range), np.clip(e_fit, *exp_range)):
        w, clipped = _to_int(c, e, mixed)
        err = np.sum((w * np.exp2(e)[None, :, None] - c) ** 2, axis=(0, 2))
        if best is None:
            best = [w, e, clipped, err]
        else:
            better = err < best[3]
            best[0] = np.where(better[None, :, None], w, best[0])
            for i, new in ((1, e), (2, clipped), (3, err)):
                best[i] = np.where(better, new, best[i])
    w, exps, clipped = best[0], best[1].astype(np.int64), int(best[2].sum())
    norm = np.linalg.norm(c)
    err = float(np.linalg.norm(w * np.exp2(exps)[None, :, None] - c) / norm) if norm else 0.0
    return QuantizedWeights(w, exps, err, clipped)


def split_weights(c: np.ndarray, exp_range: tuple[int, int] = (-8, 7), sets: int = 2) -> list[QuantizedWeights]:
    """Each weight as the sum of up to ``sets`` 8-bit synapse sets, ``w_0 2^e_0 + w_1 2^e_1 + ...``,
    every set quantising what the sets before it left over (about 7 more bits per set; a set with
    nothing left is omitted). The sets read the same source with the same delays and form one
    synapse group (``FixedPopulation.synapse_groups``). ``rel_error`` of every set is that of the
    whole sum."""
    if sets < 1:
        raise ValueError(f"weight sets must be at least 1, got {sets}")
    c = np.asarray(c, dtype=np.float64)
    out, rest = [], c
    for _ in range(sets):
        q = quantize_weights(rest, exp_range)
        if out and not q.w_int.any():  # below the finest exponent: another set cannot help
            break
        out.append(q)
        rest = rest - q.w_int * 2.0 ** q.weight_exp[None, :, None]
        if not rest.any():
            break
    norm = np.linalg.norm(c)
    err = float(np.linalg.norm(rest) / norm) if norm else 0.0
    return [QuantizedWeights(q.w_int, q.weight_exp, err, q.clipped) for q in out]


def input_format(max_abs: float, bits: int = 16) -> int:
    """Fraction bits of the graded input so that |x| <= max_abs fits ``bits`` signed bits."""
    if not max_abs > 0:
        raise ValueError(f"input range {max_abs} must be positive")
    return bits - 1 - math.ceil(math.log2(max_abs * (1 + 2.0**-20)))


def quantize_input(x: np.ndarray, frac_bits: int, bits: int = 16) -> tuple[np.ndarray, int]:
    """(q int32, number of clipped values) for real-valued features x."""
    q = np.round(np.asarray(x, dtype=np.float64) * 2.0**frac_bits)
    lim = 2 ** (bits - 1)
    clipped = int(((q < -lim) | (q > lim - 1)).sum())
    return np.clip(q, -lim, lim - 1).astype(np.int32), clipped


def _floor_shift(acc: np.ndarray, exps: np.ndarray) -> np.ndarray:
    """floor(acc * 2^exps) for integer acc, per column exponent (the Dense rounding)."""
    return np.floor(acc * np.exp2(exps)).astype(np.int64)


def memory_frac_bits(h: np.ndarray, b: np.ndarray, exp_range: tuple[int, int] = (-8, 7), state_bits: int = 24) -> int:
    """Fraction bits f of an LMU memory's fixed-point state ``m_q = m 2^f``: as many as let the
    largest state reachable from binary input (``sum_k |h[:, k]|``, h the impulse response (d, T))
    fit ``state_bits`` signed bits and the largest weight (of h or b) fit 8 bits at the top exponent."""
    h, b = np.asarray(h, np.float64), np.asarray(b, np.float64)
    top = 255 * 2.0 ** exp_range[1]
    return int(min(np.floor(np.log2((2 ** (state_bits - 1) - 1) / np.abs(h).sum(axis=1).max())),
                   np.floor(np.log2(top / max(np.abs(h).max(), np.abs(b).max())))))


def memory_impulse_errors(a: np.ndarray, b: np.ndarray, h: np.ndarray, exp_range: tuple[int, int] = (-8, 7),
                          sets: int = 2, state_bits: int = 24) -> dict:
    """Relative impulse-response error ``||h_q - h|| / ||h||`` of the LMU memory's two mappings
    onto 8-bit synapses, for the float response ``h`` (d, T) = [B, AB, A^2 B, ...] of ``a`` (d, d)
    and ``b`` (d, 1). The memory state is held as ``m_q = m 2^f`` (f fraction bits, ``frac_bits``:
    as many as let the largest state reachable from binary input fit ``state_bits`` and the
    largest weight fit 8 bits at the top exponent).

    - ``fir``: the taps as synapse weights ``c_k = h[:, k] 2^f`` per input spike, one synapse set
      per delay k, quantised by ``split_weights`` (what convert builds).
    - ``recurrent``: d graded integrator neurons, ``m_q[t] = m_q[t-1] + floor(2^e W m_q[t-1]) +
      floor(2^e' W_B u[t])``, W the quantised ``a - I`` and W_B the quantised ``b 2^f``, both split
      into ``sets`` 8-bit sets within ``exp_range``, one floor per group and step as Lava's Dense
      rounds; run on a unit impulse for T steps. Its weakest point is the exponent floor: the
      finest step of a state-to-state weight is ``2^exp_range[0]`` whatever the sets."""
    a, b, h = (np.asarray(v, np.float64) for v in (a, b, h))
    d, steps = h.shape
    f = memory_frac_bits(h, b, exp_range, state_bits)
    norm = np.linalg.norm(h)
    fir = split_weights((h.T * 2.0**f)[:, :, None], exp_range, sets)[0].rel_error

    def folded(c):  # the sets as one integer matrix at the smallest exponent, and that exponent
        qs = split_weights(c[None], exp_range, sets)
        e_min = np.min([q.weight_exp for q in qs], axis=0)
        return sum(q.w_int[0].astype(np.int64) << (q.weight_exp - e_min)[:, None] for q in qs), e_min

    w_a, e_a = folded(a - np.eye(d))
    w_b, e_b = folded(b * 2.0**f)
    m, response = np.zeros(d, np.int64), np.empty((d, steps))
    for t in range(steps):
        m = m + _floor_shift(w_a @ m, e_a) + (_floor_shift(w_b[:, 0], e_b) if t == 0 else 0)
        response[:, t] = m
    recurrent = float(np.linalg.norm(response / 2.0**f - h) / norm) if norm else 0.0
    return {"fir": fir, "recurrent": recurrent, "frac_bits": f}
