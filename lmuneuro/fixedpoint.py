"""Every float -> fixed conversion of lmuneuro, with its number formats (Loihi 2 as Lava's
bit-accurate models compute it; ``lmuneuro.loihi`` holds that arithmetic).

Number formats: ``lmuneuro.formats``.

A float synapse weight W (float input per unit of source signal) becomes, in activation units,
``c = S * W / (tau * 2**activation_shift)`` (divided by ``2**input_frac_bits`` for the graded
input): the LIF charge ``h += (x - h) / tau`` is Loihi's ``v = v - v * dv / 4096 + u`` with
``u = S x / tau``; a float bias b becomes ``S * b / tau`` state units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .formats import LAVA, Formats
from .loihi import SignMode

__all__ = [
    "QuantizedWeights",
    "quantize_weights",
    "split_weights",
    "split_rows",
    "quantize_bias",
    "population_scale",
    "input_format",
    "input_limit",
    "quantize_input",
    "decays",
    "VTH_MANT_DEFAULT",
]

VTH_MANT_DEFAULT = 4096  # S * v_th = 2^18 + 1 state units


@dataclass(frozen=True)
class QuantizedWeights:
    w_mant: np.ndarray  # (n_dst, n_src) int16: Lava-effective 8-bit weights
    weight_exp: int  # one per synapse process
    rel_error: float  # ||w_mant 2^e - c|| / ||c||
    clipped: int  # weights beyond the representable range


def population_scale(v_th: float, vth_mant: int = VTH_MANT_DEFAULT, fmt: Formats = LAVA) -> float:
    """State units per float unit for a population with threshold ``v_th``."""
    if not 0 < vth_mant < 2**fmt.vth_mant_bits:
        raise ValueError(f"vth mantissa {vth_mant} is outside Loihi's {fmt.vth_mant_bits} bits")
    if not v_th > 0:
        raise ValueError(f"threshold {v_th} must be positive")
    return (2**fmt.vth_shift * vth_mant + 1) / v_th


def decays(tau: float, fmt: Formats = LAVA) -> tuple[int, int]:
    """(du, dv) for the reference LIF: no current memory, v decays by 1/tau per step."""
    unity = 2**fmt.decay_bits
    dv = round(unity / tau)
    if not 0 <= dv <= unity - 1:
        raise ValueError(f"tau {tau} gives dv {dv}, outside Loihi's {fmt.decay_bits} bits")
    return unity - 1, dv


def _mantissas(c: np.ndarray, e: int, fmt: Formats) -> tuple[np.ndarray, int]:
    """Lava-effective integer weights for c at exponent e: the nearest in the sign mode of c
    (``loihi.SignMode``), and how many were clipped."""
    mode = _sign_mode(c, fmt)
    w = np.round(c / 2.0**e / mode.step) * mode.step
    clipped = int(((w < mode.lo) | (w > mode.hi)).sum())
    return np.clip(w, mode.lo, mode.hi).astype(np.int16), clipped


def _sign_mode(c: np.ndarray, fmt: Formats):

    return SignMode.of(c, fmt)


def quantize_weights(c: np.ndarray, fmt: Formats = LAVA) -> QuantizedWeights:
    """8-bit weights with one exponent for the float targets ``c`` (n_dst, n_src; activation
    units per unit input), the exponent chosen to minimise the squared error (clipping the
    largest few can beat halving everyone's resolution)."""
    c = np.asarray(c, dtype=np.float64)
    lo, hi = fmt.exp_range
    peak = float(np.abs(c).max(initial=0))
    top = _sign_mode(c, fmt).magnitude
    e_fit = math.ceil(math.log2(peak / top)) if peak > 0 else lo
    if e_fit > hi:
        raise ValueError(
            f"weights up to {peak:.4g} activation units need weight_exp {e_fit}, "
            f"above the target's maximum {hi}"
        )
    best = None
    for e in sorted({min(max(e_fit - 1, lo), hi), min(max(e_fit, lo), hi)}):
        w, clipped = _mantissas(c, e, fmt)
        err = float(np.sum((w * 2.0**e - c) ** 2))
        if best is None or err < best[0]:
            best = (err, w, e, clipped)
    err, w, e, clipped = best
    norm = np.linalg.norm(c)
    return QuantizedWeights(w, int(e), float(np.sqrt(err) / norm) if norm else 0.0, clipped)


def split_weights(c: np.ndarray, fmt: Formats = LAVA, sets: int = 2) -> list[QuantizedWeights]:
    """Each weight as the sum of up to ``sets`` 8-bit synapse processes, ``w_0 2^e_0 + w_1 2^e_1 +
    ...``, every set quantising what the sets before it left over (about 7 more bits per set; a
    set with nothing left is omitted). ``rel_error`` of every set is that of the whole sum."""
    if sets < 1:
        raise ValueError(f"weight sets must be at least 1, got {sets}")
    c = np.asarray(c, dtype=np.float64)
    out, rest = [], c
    for _ in range(sets):
        q = quantize_weights(rest, fmt)
        if out and not q.w_mant.any():  # below the finest exponent: another set cannot help
            break
        out.append(q)
        rest = rest - q.w_mant * 2.0**q.weight_exp
        if not rest.any():
            break
    norm = np.linalg.norm(c)
    err = float(np.linalg.norm(rest) / norm) if norm else 0.0
    return [QuantizedWeights(q.w_mant, q.weight_exp, err, q.clipped) for q in out]


def split_rows(c: np.ndarray, classes: int, fmt: Formats = LAVA) -> list[np.ndarray]:
    """The rows of ``c`` (n_dst, n_src) in up to ``classes`` groups of neighbouring best
    exponents (each row's own ``ceil(log2(peak / 255))``), so that a process per group serves rows
    of similar magnitude; rows of zeros need no synapses and join no group. One group: all rows."""
    c = np.asarray(c, dtype=np.float64)
    if classes <= 1:
        return [np.arange(c.shape[0])]
    peak = np.abs(c).max(axis=1)
    rows = np.flatnonzero(peak > 0)
    e_row = np.clip(np.ceil(np.log2(peak[rows] / (2**fmt.weight_bits - 1))), *fmt.exp_range)
    levels = np.unique(e_row)
    if len(levels) <= 1:
        return [rows] if len(rows) else []
    # contiguous runs of exponent levels, cut where the gaps between levels are widest
    cuts = np.sort(np.argsort(np.diff(levels))[::-1][: classes - 1])
    bounds = np.concatenate([[-np.inf], levels[cuts] + 0.5, [np.inf]])
    return [rows[(e_row > lo) & (e_row < hi)] for lo, hi in zip(bounds, bounds[1:])]


def quantize_bias(b: np.ndarray, fmt: Formats = LAVA) -> tuple[np.ndarray, np.ndarray]:
    """(bias_mant, bias_exp) per neuron for biases ``b`` in state units: the smallest exponent
    whose mantissa fits ``bias_mant_bits`` signed bits. ValueError when even the largest exponent
    does not hold a bias."""
    b = np.asarray(b, dtype=np.float64)
    mant_max, exp_max = fmt.bias_mant_max, fmt.bias_exp_max
    exp = np.zeros(b.shape, np.int64)
    for _ in range(exp_max):
        exp += np.abs(np.round(b / 2.0**exp)) > mant_max
    mant = np.round(b / 2.0**exp)
    if np.abs(mant).max(initial=0) > mant_max:
        raise ValueError(
            f"a bias of {np.abs(b).max():.4g} state units exceeds the target's "
            f"{fmt.bias_mant_bits}-bit mantissa << {exp_max}"
        )
    return mant.astype(np.int16), exp.astype(np.int16)


def input_format(max_abs: float, bits: int = 16) -> int:
    """Fraction bits of the graded input so that |x| <= max_abs fits ``bits`` signed bits."""
    if not max_abs > 0:
        raise ValueError(f"input range {max_abs} must be positive")
    return bits - 1 - math.ceil(math.log2(max_abs * (1 + 2.0**-20)))


def input_limit(max_abs: float, frac_bits: int, bits: int = 16) -> int:
    """The largest |payload| of the graded input: ``max_abs`` in ``frac_bits`` fraction bits,
    within ``bits`` signed bits."""
    return min(math.ceil(max_abs * 2.0**frac_bits), 2 ** (bits - 1) - 1)


def quantize_input(x, frac_bits: int, limit: int):
    """(q int32, number of clipped values) for real-valued features x: ``round(x 2^frac_bits)``
    (half to even) clipped to +-limit (``input_limit``), which bounds every sum the input drives.
    A torch tensor gives a tensor on its device (the emulator's), anything else a NumPy array."""
    if type(x).__module__.startswith("torch"):
        q = (x.double() * 2.0**frac_bits).round_()
        clipped = int((q.abs() > limit).sum())
        return q.clamp_(-limit, limit).int(), clipped
    q = np.round(np.asarray(x, dtype=np.float64) * 2.0**frac_bits)
    clipped = int((np.abs(q) > limit).sum())
    return np.clip(q, -limit, limit).astype(np.int32), clipped
