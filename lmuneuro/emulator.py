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

An integrator population (the recurrent LMU memory) adds ``m = wrap24(m + a_in)`` per step and
sends m as a graded spike (``lmuneuro.lava`` runs the same arithmetic as a process of its own).

The test suite checks every kernel against Lava's own models on random inputs, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .artifact import INPUT, FixedNetwork, fold_sets, source_patterns
from .fixedpoint import STATE_MAX, quantize_input

__all__ = ["lava_dense_weights", "dense_accumulate", "lif_step", "run", "readout", "EmulatorResult"]

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
    """``sign(x) ((|x| keep) >> 12)``, computed as trunc(x keep / 4096) in float64: exact for the
    24-bit states (the product stays below 2^36, the division is by a power of two)."""
    return np.trunc(np.asarray(x, dtype=np.float64) * (keep / _DECAY_UNITY))


def _current(u, a_in, du: int):
    """u after one step (24-bit wrap as Lava: the second test sees the first's result, the fix
    uses the raw value), and the mask of neurons whose u wrapped."""
    raw = np.asarray(a_in, dtype=np.float64) * 2**_ACT_SHIFT + _decay(u, _DECAY_UNITY - (du + 1))
    if -STATE_MAX < raw.min(initial=0) and raw.max(initial=0) <= STATE_MAX:
        return raw, np.zeros(raw.shape, bool)
    over, under = raw > STATE_MAX, raw <= -STATE_MAX
    wrapped = np.where(over, raw - 2 * STATE_MAX, raw)
    return np.where(wrapped <= -STATE_MAX, raw + 2 * STATE_MAX, wrapped), over | under


def _voltage(v, u, dv: int, bias, vth: int):
    """(spikes, v) after one step, from v before it and this step's u."""
    v = _decay(v, _DECAY_UNITY - dv) + u + bias
    np.clip(v, -STATE_MAX + 1, STATE_MAX - 1, out=v)
    spikes = v > int(vth) * 2**_VTH_SHIFT
    v[spikes] = 0
    return spikes, v


def lif_step(u, v, a_in, du: int, dv: int, bias, vth: int):
    """One step of a LIF population: integer-valued arrays u, v, a_in (batch, n) and per-neuron
    integer ``bias`` (already ``bias_mant << bias_exp``). Returns (spikes bool, u, v); u and v
    hold integers in float64 (exact: every intermediate stays far below 2^53)."""
    u, _ = _current(u, a_in, du)
    spikes, v = _voltage(v, u, dv, bias, vth)
    return spikes, u, v


@dataclass
class EmulatorResult:
    logits: np.ndarray  # (batch, classes): head applied to the time-mean of the last population's spikes
    per_step: np.ndarray  # (batch, steps, classes): the same over each prefix of the sequence
    spikes: dict  # population -> (batch, steps, n) bool, in float time (when asked for); an integrator's
    # entry holds its graded payloads (integers in float64)
    spike_counts: dict  # population -> (batch, n) spikes (an integrator: non-zero messages) per neuron
    # over every hardware step of the run
    saturated: dict  # population -> count of steps x neurons whose a_in is beyond LIF's int16, in the
    # float-time window (the bos/eos inhibition outside it exceeds 16 bits by design; Lava passes it unwrapped)
    wrapped: dict  # population -> count of u (an integrator: m) updates that wrapped around 24 bits


def _source_signal(net: FixedNetwork, q: np.ndarray, total: int) -> dict:
    """The four sources' signals, time-major (total, batch, n); clock, bos and eos for one sample
    (the same for all)."""
    batch, steps = q.shape[:2]
    graded = np.zeros((total, batch, net.input_size))
    graded[:steps] = np.swapaxes(q, 0, 1)
    return {INPUT: graded, **{k: v.astype(np.float32)[:, None, None] for k, v in source_patterns(steps, total).items()}}


def _synaptic_input(p, hist: dict) -> np.ndarray:
    """A population's a_in at every step, (total, batch, n) integers in float64. A synapse group
    (its weight sets: the artifact's entries with one source and the same delays) delivers
    ``floor(sum_j 2^e_j sum_k W_jk s[t - 1 - delay_k])``, one rounding per group and step.

    The sets fold into one weight matrix ``sum_j 2^(e_j - e_min) W_j`` and every group is one
    matrix product over the unfolded history, in float32 where each partial sum provably stays
    below 2^24 (over at most four row ranges summed apart), else in float64 (below 2^53): exact
    integers either way. The clock, bos and eos are the same for every sample: computed once;
    steps at which every tap reads silence are skipped. An integrator's group from itself is not
    included (``_integrate``)."""
    plan, reach = [], np.zeros(p.size)  # reach: the largest |a| per neuron, summed over groups
    for src, delays, groups in p.synapse_groups():
        if src == p.name:
            continue
        w, e_min = fold_sets(groups)
        w = np.moveaxis(w, 2, 1).reshape(-1, p.size)  # (taps n_src, n)
        smax = np.abs(hist[src]).max(initial=0)
        reach += np.abs(w).sum(axis=0) * smax * np.exp2(e_min)
        plan.append((src, delays, w, e_min, _row_ranges(w, smax)))
    a = np.zeros(hist[INPUT].shape[:2] + (p.size,), np.float32 if reach.max() < 2**24 else np.float64)
    for src, delays, w, e_min, ranges in plan:
        sig = hist[src]  # the clock, bos and eos have a batch of 1: broadcast below
        total, batch, n_src = sig.shape
        dtype = np.float64 if ranges is None else np.float32
        padded = np.concatenate([np.zeros((1, batch, n_src), dtype), sig.astype(dtype, copy=False)])
        idx = np.maximum(np.arange(total)[:, None] - np.asarray(delays)[None, :], 0)  # 0: before the run
        live = padded.any(axis=(1, 2))[idx].any(axis=1)  # steps with some tap on a non-zero source step
        if not live.any():
            continue
        unfolded = np.swapaxes(padded[idx[live]], 1, 2).reshape(int(live.sum()) * batch, -1)
        w = w.astype(dtype)
        if ranges is None or len(ranges) == 1:
            out = unfolded @ w
        else:
            out = sum((unfolded[:, lo:hi] @ w[lo:hi]).astype(np.float64) for lo, hi in ranges)
        out *= np.exp2(e_min).astype(out.dtype)  # exact: a power of two
        if e_min.min() < 0:
            np.floor(out, out=out)
        a[live] += out.reshape(-1, batch, p.size)
    return a.astype(np.float64, copy=False)


def _wrap24(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two's complement wrap into 24 bits, and the mask of values that wrapped."""
    wrapped = np.mod(raw + STATE_MAX, 2 * STATE_MAX) - STATE_MAX
    return wrapped, wrapped != raw


def _integrate(p, a: np.ndarray) -> tuple[np.ndarray, int]:
    """An integrator's state at every step (total, batch, n) from its other groups' input a, and
    the number of wrap-arounds: 0 before the lag, then ``m[T] = wrap24(m[T-1] + a[T] +
    floor(2^e (W m[T-1])))`` with W its group from itself (one tap, delay 0: validated)."""
    (own,) = [sets for src, _, sets in p.synapse_groups() if src == p.name]
    w, e_min = fold_sets(own)
    w, scale = w[0].T, np.exp2(e_min)  # (n_src, n_dst)
    exact = np.abs(w).sum(axis=0).max(initial=0) * STATE_MAX < 2**53  # float64 products are exact integers
    if not exact:
        w = w.astype(np.int64)
    out, m, wraps = np.zeros_like(a), np.zeros(a.shape[1:]), 0
    for t in range(p.lag, a.shape[0]):
        own_in = m @ w if exact else (m.astype(np.int64) @ w).astype(np.float64)
        m, bad = _wrap24(m + a[t] + np.floor(own_in * scale))
        wraps += int(bad.sum())
        out[t] = m
    return out, wraps


def _row_ranges(w: np.ndarray, smax: float, limit: float = 2**24) -> list | None:
    """The fewest (1, 2 or 4) equal row ranges of w (rows, cols) over which float32 accumulates
    exactly (each range's absolute column sums times smax below 2^24); None: use float64."""
    for c in (1, 2, 4):
        edges = np.linspace(0, len(w), c + 1).astype(int)
        ranges = list(zip(edges, edges[1:]))
        if all((np.abs(w[lo:hi]).sum(axis=0) * smax < limit).all() for lo, hi in ranges):
            return ranges
    return None


def run(net: FixedNetwork, x: np.ndarray, record: bool = False) -> EmulatorResult:
    """Run the network on real-valued features x (batch, steps, input_size), all samples at once.

    The network is feed-forward, so each population is computed for the whole run at once: its
    synapse groups as matrix products over time, then its LIF over the steps (u needs no loop
    when it keeps nothing from step to step, du = 4095)."""
    q, _ = quantize_input(x, net.input_frac_bits, net.input_bits)
    batch, steps = q.shape[:2]
    total = net.delay + steps
    hist = _source_signal(net, q, total)
    saturated, wrapped, counts = {}, {}, {}
    for p in net.populations:
        a = _synaptic_input(p, hist)
        if p.kind == "integrator":  # no LIF: its a_in is not 16-bit
            hist[p.name], wrapped[p.name] = _integrate(p, a)
            saturated[p.name] = 0
            counts[p.name] = (hist[p.name] != 0).sum(axis=0).astype(np.int64)
            continue
        saturated[p.name] = int((np.abs(a[p.lag:p.lag + steps]) > 2**15 - 1).sum())
        if p.du == _DECAY_UNITY - 1:
            u, w = _current(0, a, p.du)
        else:  # LIFReset zeroes u at the lag
            u, w = np.zeros_like(a), np.zeros(a.shape, bool)
            for t in range(total):
                u[t], w[t] = _current(u[t - 1] if 0 < t != p.lag else 0, a[t], p.du)
        out = np.zeros((total, batch, p.size), np.float32)
        v = np.zeros((batch, p.size))
        for t in range(total):
            s, v = _voltage(v if t != p.lag else np.zeros_like(v), u[t], p.dv, 0, p.vth)
            out[t] = s
        hist[p.name] = out
        wrapped[p.name] = int(w.sum())
        counts[p.name] = out.sum(axis=0).astype(np.int64)
    last = net.populations[-1]
    logits, per_step = readout(net, np.swapaxes(hist[last.name][last.lag:last.lag + steps], 0, 1))
    spikes = {p.name: _window(hist[p.name], p, steps) for p in net.populations} if record else {}
    return EmulatorResult(logits, per_step, spikes, counts, saturated, wrapped)


def _window(h: np.ndarray, p, steps: int) -> np.ndarray:
    """A population's output in its float-time window, (batch, steps, n): spikes as bool, an
    integrator's payloads as they are."""
    w = np.swapaxes(h[p.lag:p.lag + steps], 0, 1)
    return w if p.kind == "integrator" else w > 0


def readout(net: FixedNetwork, head_spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits, per-step logits) from the last population's spikes (batch, steps, n) in its
    float-time window: the float head on the time-mean of every prefix of the sequence."""
    s = np.asarray(head_spikes, dtype=np.float64)
    mean_prefix = np.cumsum(s, axis=1) / np.arange(1, s.shape[1] + 1)[None, :, None]
    per_step = mean_prefix @ net.head_weight.T.astype(np.float64) + net.head_bias
    return per_step[:, -1], per_step
