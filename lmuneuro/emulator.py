"""The batched emulator: an artifact's network of Lava processes run on whole batches with the
arithmetic of Lava's ``fixed_pt`` models (``loihi``: lava-nc 0.10's ``PyDenseModelBitAcc``, its
Sparse, DelayDense and DelaySparse siblings, ``PyLifModelBitAcc``, ``PyLifResetModelBitAcc`` and
``PyGradedVecModelFixed``, integer for integer). Each process delivers one step plus its delay
after the spikes or payloads it reads; the outputs of the processes that feed a population add up
in its a_in; LIFReset zeroes u and v at its reset step; a GradedVec sends its a_in as it is.

The test suite checks the arithmetic against Lava's own models on random inputs, bit for bit, and
whole networks against Lava's simulator. Each sample runs on its own for ``delay + steps`` steps
from the run's initial state: every spike it causes falls within those steps (``artifact``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from .artifact import GATE, INPUT, FixedNetwork, Neurons, Synapse, gate_pattern
from .limits import process_range
from .loihi import check_formats, lif_step, shift
from .result import RunResult, readout

__all__ = ["run"]


def _blocks(syns: list[Synapse]) -> list[tuple[list[Synapse], np.ndarray, int]]:
    """The processes as column blocks of one product: (processes, weights (n_src, n_dst), exponent).
    Processes with the same target and delay whose exponents are all >= 0 but one are one block,
    ``sum_j 2^(e_j - e_min) W_j`` at e_min: exact, because only that one floors (the others' sums
    are integers and move inside its floor)."""
    groups: dict = {}
    for s in syns:
        groups.setdefault((s.dst, s.delay), []).append(s)
    out = []
    for group in groups.values():
        e_min = min(s.weight_exp for s in group)
        if len(group) > 1 and sum(s.weight_exp < 0 for s in group) <= 1:
            w = sum(
                np.asarray(s.weights, np.float64).T * 2.0 ** (s.weight_exp - e_min) for s in group
            )
            out.append((group, w, e_min))
        else:
            out += [([s], np.asarray(s.weights, np.float64).T, s.weight_exp) for s in group]
    return out


def _fan_out(syns: list[Synapse], sig: np.ndarray):
    """Every process that reads one source, from one matrix product over the source's whole run:
    yields (target, steps (k,), a_out (k, batch, n_dst)): at step T the accumulation of step
    T - 1 - delay, shifted by weight_exp (floor), integers in floating point (``_blocks`` sums the
    processes it can). The product is exact in float32 while every partial sum stays below 2^24,
    else in float64; steps at which the source is silent are skipped."""
    total, batch, n_src = sig.shape
    live = np.flatnonzero(sig.any(axis=(1, 2)))
    if not syns or not len(live):
        return
    blocks = _blocks(syns)
    w = np.concatenate([b for _, b, _ in blocks], axis=1)  # (n_src, sum n_dst)
    exact32 = np.abs(sig).max() * np.abs(w).sum(axis=0).max() < 2**24
    dtype = np.float32 if exact32 else np.float64
    acc = (sig[live].reshape(-1, n_src).astype(dtype, copy=False) @ w.astype(dtype)).reshape(
        len(live), batch, -1
    )
    col = 0
    for group, b, e in blocks:
        part = acc[:, :, col : col + b.shape[1]]  # a view: scaled in place, each block once
        col += b.shape[1]
        shift(part, e, out=part)
        steps = live + group[0].delay + 1
        keep = int(np.searchsorted(steps, total))  # steps ascend: those within the run
        yield group[0].dst, steps[:keep], part[:keep]


def _deliver(s: Synapse, sig: np.ndarray) -> np.ndarray:
    """One process's a_out at every step, (total, batch, n_dst) (``_fan_out``)."""
    out = np.zeros(sig.shape[:2] + (s.weights.shape[0],))
    for _, steps, part in _fan_out([s], sig):
        out[steps] += part
    return out


def _matrix(s: Synapse):
    """The weights as the product's right operand (n_src, n_dst): sparse where the process is."""
    w = np.asarray(s.weights, np.float64).T
    return scipy.sparse.csr_matrix(w) if s.sparse else w


def _population(p: Neurons, a: np.ndarray, own: list[Synapse]) -> np.ndarray:
    """A LIF population's spikes at every step (total, batch, n) float32 from the input of its
    other processes ``a`` (total, batch, n) and its processes from itself ``own`` (a relay line)."""
    total, batch, _ = a.shape
    bias = np.asarray(p.bias_mant, np.float64) * 2.0 ** np.asarray(p.bias_exp)
    own_w = [(s.delay + 1, _matrix(s), s.weight_exp) for s in own]
    out = np.zeros((total, batch, p.size), np.float32)
    u, v = np.zeros((batch, p.size)), np.full((batch, p.size), float(p.v_init))
    for t in range(total):
        if t == p.lag:  # LIFReset
            u, v = np.zeros_like(u), np.zeros_like(v)
        a_t = a[t]
        for lag, w, exp in own_w:
            if t >= lag and out[t - lag].any():
                a_t = a_t + shift(np.asarray(out[t - lag].astype(np.float64) @ w), exp)
        s, u, v = lif_step(u, v, a_t, p.du, p.dv, bias, p.vth)
        out[t] = s
    return out


def run(net: FixedNetwork, x: np.ndarray, record: bool = False) -> RunResult:
    """Run the network on real-valued features x (batch, steps, input_size), all samples at once.
    Populations in the artifact's order (sources first): each one's LIF over the steps, then the
    processes that read it for the whole run at once (one matrix product per source,
    ``_fan_out``)."""
    check_formats(net.formats)
    q, _ = net.quantize_input(x)
    batch, steps = q.shape[:2]
    total = net.delay + steps
    sig = {
        INPUT: np.zeros((total, batch, net.input_channels)),
        GATE: gate_pattern(net.gate_channels, steps, total).T[:, None, :].astype(np.float64),
    }
    sig[INPUT][:steps] = np.swapaxes(q, 0, 1)
    readers: dict[str, list[Synapse]] = {}
    reach = {
        p.name: 0.0 for p in net.populations
    }  # the largest |a_in| each population's readers can bring
    for syn in net.synapses:
        if syn.src != syn.dst:  # a relay line's own processes run inside its time loop
            readers.setdefault(syn.src, []).append(syn)
            lo, hi = process_range(net, syn)
            reach[syn.dst] += max(-lo.min(), hi.max())
    # a_in, filled by the sources: float32 holds it exactly where the chip's 16-bit limits hold
    pending = {
        p.name: np.zeros(
            (total, batch, p.size), np.float32 if reach[p.name] < 2**24 else np.float64
        )
        for p in net.populations
    }

    def emit(src: str) -> None:
        for dst, at, part in _fan_out(readers.get(src, []), sig[src]):
            if len(at) and at[-1] - at[0] == len(at) - 1:  # consecutive steps: a slice, no gather
                pending[dst][at[0] : at[-1] + 1] += part
            else:
                pending[dst][at] += part

    emit(INPUT)
    emit(GATE)
    counts = {}  # spikes, or a graded population's non-zero payloads
    for p in net.populations:
        a = pending.pop(p.name)
        own = [s for s in net.inputs_of(p.name) if s.src == p.name]
        sig[p.name] = a if p.graded else _population(p, a, own)
        counts[p.name] = (sig[p.name] != 0).sum(axis=0).astype(np.int64)
        emit(p.name)
    head = net.population(net.readout)
    logits, per_step = readout(net, np.swapaxes(sig[head.name][head.lag : head.lag + steps], 0, 1))
    spikes = (
        {p.name: np.swapaxes(sig[p.name][p.lag : p.lag + steps], 0, 1) > 0 for p in net.layers}
        if record
        else {}
    )
    return RunResult(logits, per_step, spikes, counts)
