"""Bit-accurate arithmetic of Lava's ``fixed_pt`` (Loihi) process models, vectorised over a batch,
and a network of them (an artifact) run on whole batches.

These kernels reproduce lava-nc 0.10's ``PyDenseModelBitAcc`` (and its Sparse, DelayDense and
DelaySparse siblings, which compute the same per process) and ``PyLifModelBitAcc`` /
``PyLifResetModelBitAcc`` integer for integer:

- synapses: ``a = (W s) << weight_exp`` (``>>`` with floor for a negative exponent) per
  process, delivered one time step plus the process's delay later; the outputs of the processes
  that feed a population add up.
- LIF (values in units of the 24-bit state):
  ``u = sign(u) ((|u| (4096 - (du + 1))) >> 12) + (a_in << 6)``, wrapped into 24 bits;
  ``v = clip(sign(v) ((|v| (4096 - dv)) >> 12) + u + bias, +-(2^23 - 1))``;
  spike when ``v > vth << 6``, then ``v = 0``. ``bias = bias_mant << bias_exp``. LIFReset also
  zeroes u and v at its reset step.

The test suite checks every kernel against Lava's own models on random inputs, bit for bit, and
whole networks against Lava's simulator. Each sample runs on its own for ``delay + steps`` steps
from the run's initial state: every spike it causes falls within those steps (``artifact``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse

from .artifact import GATE, INPUT, FixedNetwork, Neurons, Synapse, gate_pattern
from .fixedpoint import LAVA

__all__ = ["dense_accumulate", "lif_step", "run", "readout", "EmulatorResult", "check_formats"]

_DECAY_UNITY, _ACT_SHIFT, _VTH_SHIFT = 2**LAVA.decay_bits, LAVA.activation_shift, LAVA.vth_shift
_STATE_MAX = LAVA.state_max


def check_formats(net: FixedNetwork) -> None:
    """Lava computes in its own number formats: refuse an artifact made for others."""
    if net.formats != LAVA:
        diff = {k: v for k, v in net.formats.to_dict().items() if LAVA.to_dict()[k] != v}
        raise ValueError(f"the artifact's number formats differ from Lava's ({', '.join(f'{k} {v}' for k, v in diff.items())}): "
                         "its target is not Loihi 2 as Lava computes it")


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
    uses the raw value)."""
    raw = np.asarray(a_in, dtype=np.float64) * 2**_ACT_SHIFT + _decay(u, _DECAY_UNITY - (du + 1))
    if -_STATE_MAX < raw.min(initial=0) and raw.max(initial=0) <= _STATE_MAX:
        return raw
    wrapped = np.where(raw > _STATE_MAX, raw - 2 * _STATE_MAX, raw)
    return np.where(wrapped <= -_STATE_MAX, raw + 2 * _STATE_MAX, wrapped)


def _voltage(v, u, dv: int, bias, vth: int):
    """(spikes, v) after one step, from v before it and this step's u."""
    v = _decay(v, _DECAY_UNITY - dv) + u + bias
    np.clip(v, -_STATE_MAX + 1, _STATE_MAX - 1, out=v)
    spikes = v > int(vth) * 2**_VTH_SHIFT
    v[spikes] = 0
    return spikes, v


def lif_step(u, v, a_in, du: int, dv: int, bias, vth: int):
    """One step of a LIF population: integer-valued arrays u, v, a_in (batch, n) and per-neuron
    integer ``bias`` (already ``bias_mant << bias_exp``). Returns (spikes bool, u, v); u and v
    hold integers in float64 (exact: every intermediate stays far below 2^53)."""
    u = _current(u, a_in, du)
    spikes, v = _voltage(v, u, dv, bias, vth)
    return spikes, u, v


@dataclass
class EmulatorResult:
    logits: np.ndarray  # (batch, classes): head applied to the time-mean of the read-out layer's spikes
    per_step: np.ndarray  # (batch, steps, classes): the same over each prefix of the sequence
    spikes: dict  # layer -> (batch, steps, n) bool in its float-time window (when asked for)
    spike_counts: dict  # population (layers and relays) -> (batch, n) spikes per neuron over the sample's steps


def _matrix(s: Synapse):
    """The weights as the product's right operand (n_src, n_dst): sparse where the process is."""
    w = np.asarray(s.weights, np.float64).T
    return scipy.sparse.csr_matrix(w) if s.sparse else w


def _deliver(s: Synapse, sig: np.ndarray) -> np.ndarray:
    """A process's a_out at every step, (total, batch, n_dst) integers in float64: the
    accumulation of step T - 1 - delay, shifted by weight_exp (floor). Products of integers stay
    exact in float64; steps at which the source is silent are skipped."""
    total, batch, _ = sig.shape
    lag = s.delay + 1
    out = np.zeros((total, batch, s.weights.shape[0]))
    if total <= lag:
        return out
    src = sig[:total - lag]
    live = np.flatnonzero(src.any(axis=(1, 2)))
    if len(live):
        acc = np.asarray(src[live].reshape(-1, src.shape[2]).astype(np.float64) @ _matrix(s))
        acc *= 2.0**s.weight_exp
        if s.weight_exp < 0:
            np.floor(acc, out=acc)
        out[live + lag] = acc.reshape(len(live), batch, -1)
    return out


def _population(p: Neurons, a: np.ndarray, own: list[Synapse]) -> np.ndarray:
    """A LIF population's spikes at every step (total, batch, n) float32 from the input of its
    other processes ``a`` (total, batch, n) and its processes from itself ``own`` (a relay line)."""
    total, batch, _ = a.shape
    bias = np.asarray(p.bias_mant, np.float64) * 2.0 ** np.asarray(p.bias_exp)
    own_w = [(s.delay + 1, _matrix(s), 2.0**s.weight_exp, s.weight_exp < 0) for s in own]
    out = np.zeros((total, batch, p.size), np.float32)
    u, v = np.zeros((batch, p.size)), np.full((batch, p.size), float(p.v_init))
    for t in range(total):
        if t == p.lag:  # LIFReset
            u, v = np.zeros_like(u), np.zeros_like(v)
        a_t = a[t]
        for lag, w, scale, floor in own_w:
            if t >= lag and out[t - lag].any():
                acc = np.asarray(out[t - lag].astype(np.float64) @ w) * scale
                a_t = a_t + (np.floor(acc) if floor else acc)
        s, u, v = lif_step(u, v, a_t, p.du, p.dv, bias, p.vth)
        out[t] = s
    return out


def run(net: FixedNetwork, x: np.ndarray, record: bool = False) -> EmulatorResult:
    """Run the network on real-valued features x (batch, steps, input_size), all samples at once.
    Each process's output is computed for the whole run at once (matrix products over time), then
    each population's LIF over the steps; populations in the artifact's order (sources first)."""
    check_formats(net)
    q, _ = net.quantize_input(x)
    batch, steps = q.shape[:2]
    total = net.delay + steps
    sig = {INPUT: np.zeros((total, batch, net.input_channels)),
           GATE: gate_pattern(net.gate_channels, steps, total).T[:, None, :].astype(np.float64)}
    sig[INPUT][:steps] = np.swapaxes(q, 0, 1)
    counts = {}
    for p in net.populations:
        ins = net.inputs_of(p.name)
        a = np.zeros((total, batch, p.size))
        for s in ins:
            if s.src != p.name:
                a += _deliver(s, sig[s.src])
        sig[p.name] = _population(p, a, [s for s in ins if s.src == p.name])
        counts[p.name] = sig[p.name].sum(axis=0).astype(np.int64)
    head = net.population(net.readout)
    logits, per_step = readout(net, np.swapaxes(sig[head.name][head.lag:head.lag + steps], 0, 1))
    spikes = {p.name: np.swapaxes(sig[p.name][p.lag:p.lag + steps], 0, 1) > 0 for p in net.layers} if record else {}
    return EmulatorResult(logits, per_step, spikes, counts)


def readout(net: FixedNetwork, head_spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits, per-step logits) from the read-out layer's spikes (batch, steps, n) in its
    float-time window: the float head on the time-mean of every prefix of the sequence."""
    s = np.asarray(head_spikes, dtype=np.float64)
    mean_prefix = np.cumsum(s, axis=1) / np.arange(1, s.shape[1] + 1)[None, :, None]
    per_step = mean_prefix @ net.head_weight.T.astype(np.float64) + net.head_bias
    return per_step[:, -1], per_step
