"""A trained Spiking LMUFormer as a network of LIF populations and synapse groups (float64).

This is the converter's first stage, before any quantisation: every BatchNorm is folded into the
synapses and biases that feed a population, and every real-valued sum of the reference network
(the LMU memory as the taps of its impulse response, the k-wide convolutions) becomes synapse
groups converging on the populations that read it. A population's input at float time t is

    x_t = bias + sum over groups g of  sum_j  W_g[j] @ s_src(g)(t + offsets_g[j])

(the sources zero outside the sequence, as the reference's padding), and the population is the
reference LIF: h = v + (x - v) / tau, spike when h >= v_th, reset to 0. One source is not a
population: ``INPUT``, the real-valued feature frame (a graded source). The read-out is ``head``
applied to the time-mean of the last population's spikes.

The residual stream is a sum of terms, one per convolution that adds to it. A term that several
layers read is a *graded* population (``Population.graded``): its signal is its input x_t itself,
computed once (without bias), and each reader takes it through its own one-to-one synapses, with
its BatchNorm folded into that diagonal and the term's bias into its own. A term that one layer
reads is folded into that layer (``streams=False``: every term is).

``simulate`` runs the graph in float time; it reproduces the PyTorch model's spikes and logits,
which is what makes the graph trustworthy before it is quantised.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..models.lmu import impulse_response
from ..models.lmuformer import SpikingLMUFormer

__all__ = ["Graph", "Population", "Synapses", "from_model", "fold", "simulate", "INPUT"]

INPUT = "input"


@dataclass
class Synapses:
    """One synapse group: ``weights`` (taps, n_dst, n_src), ``offsets`` (taps,) in time steps."""

    src: str
    weights: np.ndarray
    offsets: tuple[int, ...]


@dataclass
class Population:
    name: str
    size: int
    v_th: float
    tau: float
    bias: np.ndarray  # (size,) float input added at every step of the sequence
    inputs: list[Synapses] = field(default_factory=list)
    graded: bool = False  # a residual term: its signal is its input (no LIF, no bias)


@dataclass
class Graph:
    input_size: int
    populations: list[Population]  # in an order where every source comes first
    head_weight: np.ndarray  # (classes, n_last)
    head_bias: np.ndarray

    def population(self, name: str) -> Population:
        return next(p for p in self.populations if p.name == name)


# A real-valued signal as a linear expression of spikes: groups + bias. Scaling rows (a folded
# BatchNorm) and adding expressions (a residual add) stay linear, so no real value is ever held.
@dataclass
class _Expr:
    groups: list[Synapses]
    bias: np.ndarray

    def scaled(self, a: np.ndarray, c: np.ndarray) -> "_Expr":
        return _Expr(
            [Synapses(g.src, g.weights * a[None, :, None], g.offsets) for g in self.groups],
            a * self.bias + c,
        )

    def __add__(self, other: "_Expr") -> "_Expr":
        return _Expr(self.groups + other.groups, self.bias + other.bias)


@dataclass(eq=False)
class _Term:
    """One term of the residual stream, and the layers that read it."""

    name: str
    expr: _Expr
    readers: int = 0


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy()


def _bn(bn: torch.nn.BatchNorm1d) -> tuple[np.ndarray, np.ndarray]:
    a = _np(bn.weight) / np.sqrt(_np(bn.running_var) + bn.eps)
    return a, _np(bn.bias) - a * _np(bn.running_mean)


def _conv(src: str, conv: torch.nn.Conv1d) -> _Expr:
    w = _np(conv.weight)  # (out, in, k): output t reads input t + j - pad
    pad = conv.padding[0]
    groups = [Synapses(src, np.moveaxis(w, 2, 0), tuple(j - pad for j in range(w.shape[2])))]
    bias = _np(conv.bias) if conv.bias is not None else np.zeros(w.shape[0])
    return _Expr(groups, bias)


def _dense(src: str, weight: torch.Tensor, bias: torch.Tensor | None) -> _Expr:
    w = _np(weight)
    return _Expr(
        [Synapses(src, w[None], (0,))], _np(bias) if bias is not None else np.zeros(w.shape[0])
    )


def from_model(model: SpikingLMUFormer, taps: int | None = None, streams: bool = True) -> Graph:
    """The graph of an eval-mode spiking model. ``taps``: length of the LMU's impulse response
    (default: the model's stored seq_len): sequences up to that length are represented exactly.
    ``streams``: residual terms that several layers read as graded populations (module
    docstring); False folds them into every reader."""
    if not isinstance(model, SpikingLMUFormer):
        raise ValueError("only the spiking LMUFormer maps onto LIF populations")
    cfg = model.config
    plan: list[tuple[str, list[_Term], object, float]] = []  # the layers, in order

    def lif(name: str, terms: _Expr | list[_Term], bn, v_th: float) -> str:
        terms = terms if isinstance(terms, list) else [_Term("", terms)]
        for t in terms:
            t.readers += 1
        plan.append((name, terms, bn, v_th))
        return name

    pe = model.patch_embed
    src = INPUT
    for i in range(pe.n - 1):
        conv, bn, lif_mod = pe._layer(i)
        src = lif(
            f"patch_embed.{'proj_lif' + (str(i) if i else '')}",
            _conv(src, conv),
            bn,
            lif_mod.v_threshold,
        )
    conv, bn, lif_mod = pe._layer(pe.n - 1)
    x = _Term("patch_embed.x", _conv(src, conv))
    rpe = lif(f"patch_embed.proj_lif{pe.n - 1 if pe.n > 1 else ''}", [x], bn, lif_mod.v_threshold)
    stream = [x, _Term("patch_embed.rpe", _conv(rpe, pe.rpe_conv))]

    for b, blk in enumerate(model.block):
        at, mlp, p = blk.attn, blk.mlp, f"block.{b}"
        s = lif(f"{p}.attn.prev_lif", stream, at.prev_bn, at.prev_lif.v_threshold)
        cell = at.lmu
        u = lif(
            f"{p}.attn.lmu.f_u",
            _dense(s, cell.W_u.weight, cell.W_u.bias),
            cell.bn_u,
            cell.f_u.v_threshold,
        )
        memory = _memory(u, cell.memory, taps or cell.memory.seq_len)
        m = lif(f"{p}.attn.lmu.f_m", memory, cell.bn_m, cell.f_m.v_threshold)
        d = cell.W_h.in_features - cell.memory.memory_size
        w_h = cell.W_h.weight
        h_in = _dense(m, w_h[:, :-d], cell.W_h.bias) + _dense(s, w_h[:, -d:], None)
        h = lif(f"{p}.attn.lmu.f_h", h_in, cell.bn_h, cell.f_h.v_threshold)
        stream = stream + [_Term(f"{p}.attn", _conv(h, at.proj_conv).scaled(*_bn(at.proj_bn)))]
        s1 = lif(f"{p}.mlp.fc1_lif", stream, mlp.fc1_bn, mlp.fc1_lif.v_threshold)
        s2 = lif(f"{p}.mlp.fc2_lif", _conv(s1, mlp.fc1_conv), mlp.fc2_bn, mlp.fc2_lif.v_threshold)
        stream = stream + [_Term(f"{p}.mlp", _conv(s2, mlp.fc2_conv))]
    lif("head_lif", stream, model.head_bn, model.head_lif.v_threshold)
    pops = _populations(plan, streams, cfg.tau)
    return Graph(cfg.in_features, pops, _np(model.head.weight), _np(model.head.bias))


def _memory(u: str, mem, n_taps: int) -> _Expr:
    """The LMU's Legendre memory ``mem`` driven by the spikes of ``u``: its impulse response, one
    synapse group of ``n_taps`` delays."""
    # The stored taps are what the trained model used; longer responses come from A and B.
    impulse = _np(
        mem.H[:, :n_taps]
        if n_taps <= mem.H.shape[1]
        else impulse_response(mem.A.double(), mem.B.double(), n_taps)
    )
    return _Expr(
        [Synapses(u, np.moveaxis(impulse[:, :, None], 1, 0), tuple(-k for k in range(n_taps)))],
        np.zeros(mem.memory_size),
    )


def _populations(plan: list, streams: bool, tau: float) -> list[Population]:
    """The layers of ``plan`` (name, terms, batch norm, threshold) as populations, the batch norm
    folded into their synapses and bias; with ``streams``, a term several layers read placed as
    a graded population before its first reader."""
    pops, placed = [], set()
    for name, terms, bn, v_th in plan:
        a, c = _bn(bn)
        groups, bias = [], c
        for t in terms:
            # a term of the real-valued input stays folded: graded relays carry spikes' sums only
            if streams and t.readers > 1 and all(g.src != INPUT for g in t.expr.groups):
                if t.name not in placed:  # before its first reader, after its sources
                    n = len(t.expr.bias)
                    pops.append(Population(t.name, n, 0.0, 1.0, np.zeros(n), t.expr.groups, True))
                    placed.add(t.name)
                groups.append(Synapses(t.name, np.diag(a)[None], (0,)))
                bias = bias + a * t.expr.bias
            else:
                e = t.expr.scaled(a, np.zeros_like(a))
                groups, bias = groups + e.groups, bias + e.bias
        pops.append(Population(name, len(bias), v_th, tau, bias, groups))
    return pops


def fold(graph: Graph, names: set[str]) -> Graph:
    """The graph with the graded terms ``names`` folded into every layer that reads them (exact:
    a reader's one-to-one weights scale the term's own groups)."""
    terms = {p.name: p for p in graph.populations if p.graded and p.name in names}
    pops = []
    for p in graph.populations:
        if p.name in terms:
            continue
        groups = []
        for g in p.inputs:
            if g.src not in terms:
                groups.append(g)
                continue
            a = np.diag(g.weights[0])
            groups += [
                Synapses(t.src, t.weights * a[None, :, None], t.offsets)
                for t in terms[g.src].inputs
            ]
        pops.append(replace(p, inputs=groups))
    return replace(graph, populations=pops)


def _drive(pop: Population, spikes: dict, x: np.ndarray) -> np.ndarray:
    """Input current (batch, T, n) of a population from its sources' signals (batch, T, n_src)."""
    steps = x.shape[1]
    cur = np.broadcast_to(pop.bias, (x.shape[0], steps, pop.size)).copy()
    for g in pop.inputs:
        sig = x if g.src == INPUT else spikes[g.src]
        for w, k in zip(g.weights, g.offsets):
            lo, hi = max(0, -k), min(steps, steps - k)  # t with 0 <= t + k < steps
            if lo < hi:
                cur[:, lo:hi] += sig[:, lo + k : hi + k] @ w.T
    return cur


def _lif(pop: Population, cur: np.ndarray) -> np.ndarray:
    v = np.zeros((cur.shape[0], pop.size))
    out = np.zeros_like(cur)
    for t in range(cur.shape[1]):
        h = v + (cur[:, t] - v) / pop.tau
        out[:, t] = h >= pop.v_th
        v = np.where(out[:, t] > 0, 0.0, h)
    return out


def simulate(graph: Graph, x: np.ndarray) -> tuple[np.ndarray, dict]:
    """Run the graph on features x (batch, T, input_size) in float64.
    Returns (logits (batch, classes), {population: spikes (batch, T, n), a graded one's signal})."""
    x = np.asarray(x, dtype=np.float64)
    spikes: dict[str, np.ndarray] = {}  # a graded population's signal with the spikes
    for pop in graph.populations:
        drive = _drive(pop, spikes, x)
        spikes[pop.name] = drive if pop.graded else _lif(pop, drive)
    last = spikes[graph.populations[-1].name]
    return last.mean(axis=1) @ graph.head_weight.T + graph.head_bias, spikes
