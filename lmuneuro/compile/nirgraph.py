"""A trained Spiking LMUFormer as a NIR graph (the Neuromorphic Intermediate Representation), and
that graph run step by step by another simulator: nirtorch with norse's LIF cells.

The graph is built from the converter's float graph (``graph.from_model``: BatchNorm folded, the
residual stream folded into the populations that read it, the LMU memory as its impulse
response's taps), so every population is a NIR ``LIF`` whose input is a fan-in of ``Linear`` taps,
each behind a ``Delay``. Time is discrete: one graph step is one frame, ``dt`` in the metadata;
``tau = 2 dt`` under Euler gives the reference's ``v += (x - v) / 2``.

What NIR cannot say directly, and how the graph says it exactly:

- The reference fires on ``v >= v_th``, NIR's LIF on ``v > v_threshold``: ``v_threshold`` is the
  float64 number just below ``v_th`` (``nextafter``), the same test in float64.
- The k=3 convolutions in time read one frame ahead, and NIR's delays cannot be negative: each
  population runs ``lag`` steps late (its float time t is graph step t + lag, ``lags`` in the
  metadata), so every tap's delay is ``lag_dst - lag_src - offset >= 0``.
- A late population must start its window from rest, but the frame it reads ahead arrives one
  step before its window (and after the sequence its sources keep firing where the reference
  pads with zeros). NIR has no gate, so outside its window of ``seq_len`` steps each population
  is driven far above threshold (it fires every step and resets to exactly 0), and what it sends
  is its spikes minus a 0/1 "outside the window" signal: exactly 0 outside, exactly its spikes
  inside. That signal and the gated biases are sums of delayed copies of a constant 1 (an
  ``Affine`` with zero weights and bias 1 on the input), so they are exact in any precision.
  Samples are therefore exactly ``seq_len`` frames (the trained length), followed by zero
  frames until the read-out window ends.
- The read-out is the head (``Affine``) on the time mean of ``head_lif``'s spikes: the graph's
  output is the head at every step, and the logits are its mean over the read-out window
  (``readout_window`` in the metadata).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

__all__ = ["to_nir", "export_nir", "run_norse", "NirRun", "DT"]

DT = 0.01  # seconds per step: one 10 ms frame; only the ratio tau / dt matters
_FORCE = 2.0**40  # outside its window a population's input: far above any threshold or input


def _lags(graph) -> dict[str, int]:
    from .graph import INPUT

    lags = {INPUT: 0}
    for p in graph.populations:  # late enough to read every tap's source at delay >= 0
        lags[p.name] = max(0, *(lags[g.src] + max(g.offsets) for g in p.inputs))
    return lags


def to_nir(model, taps: int | None = None):
    """The NIR graph of an eval-mode spiking model (float64 arrays)."""
    import nir

    from .graph import INPUT, from_model

    g = from_model(model, taps, streams=False)  # NIR adds at fan-in: every term folded
    lags = _lags(g)
    steps = model.config.seq_len
    n_in = g.input_size
    nodes: dict = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "one": nir.Affine(np.zeros((1, n_in)), np.ones(1)),
    }
    edges: list[tuple[str, str]] = [("input", "one")]

    def delayed(src: str, d: int) -> str:
        """``src`` delayed by ``d`` steps (one Delay node per source and delay)."""
        if d == 0:
            return src
        name = f"{src}.delay{d}"
        if name not in nodes:
            size = n_in if src == "input" else (1 if src == "one" else len(nodes[src].scale))
            nodes[name] = nir.Delay(np.full(size, d * DT))
            edges.append((src, name))
        return name

    def outside(lag: int) -> str:
        """1 outside the window [lag, lag + steps), 0 in it: exact sums of delayed ones."""
        name = f"outside{lag}"
        if name not in nodes:
            nodes[name] = nir.Scale(np.ones(1))
            nodes[f"{name}.minus"] = nir.Scale(-np.ones(1))
            edges.extend([("one", name), (f"{name}.minus", name)])
            edges.extend(
                [(delayed("one", lag), f"{name}.minus"), (delayed("one", lag + steps), name)]
            )
        return name

    for p in g.populations:
        lif, lag = p.name, lags[p.name]
        th = np.nextafter(np.full(p.size, p.v_th, dtype=np.float64), -np.inf)
        nodes[lif] = nir.LIF(
            tau=np.full(p.size, p.tau * DT),
            r=np.ones(p.size),
            v_leak=np.zeros(p.size),
            v_threshold=th,
            v_reset=np.zeros(p.size),
        )
        for grp in p.inputs:
            src = "input" if grp.src == INPUT else f"{grp.src}.out"
            for j, (w, k) in enumerate(zip(grp.weights, grp.offsets)):
                tap = f"{lif}.from.{grp.src}.tap{j}"
                nodes[tap] = nir.Linear(np.ascontiguousarray(w))
                edges += [(delayed(src, lag - lags[grp.src] - k), tap), (tap, lif)]
        nodes[f"{lif}.bias"] = nir.Linear(p.bias[:, None].copy())
        edges += [(delayed("one", lag), f"{lif}.bias"), (f"{lif}.bias", lif)]
        nodes[f"{lif}.force"] = nir.Linear(np.full((p.size, 1), _FORCE))
        nodes[f"{lif}.mask"] = nir.Linear(-np.ones((p.size, 1)))
        edges += [(outside(lag), f"{lif}.force"), (f"{lif}.force", lif)]
        edges += [(outside(lag), f"{lif}.mask"), (f"{lif}.mask", f"{lif}.out")]
        nodes[f"{lif}.out"] = nir.Scale(np.ones(p.size))
        edges.append((lif, f"{lif}.out"))
    last = g.populations[-1].name
    nodes["head"] = nir.Affine(g.head_weight.copy(), g.head_bias.copy())
    nodes["output"] = nir.Output(output_type={"output": np.array([len(g.head_bias)])})
    edges += [(f"{last}.out", "head"), ("head", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=_metadata(g, lags, steps))


def _metadata(g, lags: dict, steps: int) -> dict:
    """How to run the graph as lmuneuro does: the time step, the discretisation, the lags and the
    read-out window."""
    last = g.populations[-1].name
    return {
        "producer": "lmuneuro",
        "model": "Spiking LMUFormer (arXiv 2402.04882)",
        "dt": DT,
        "discretisation": "forward Euler, one graph step per input frame; tau = 2 dt gives "
        "v += (x - v) / 2; spike on v > v_threshold (= the float64 number below the reference's "
        "v_th: the reference's v >= v_th); reset to 0",
        "lags": {p.name: lags[p.name] for p in g.populations},
        "steps_per_sample": f"exactly seq_len frames, then {lags[last]} zero frames",
        "readout": "logits = mean of the output over the read-out window (the head is affine, so "
        "this is the head on the time mean of head_lif's spikes)",
        "readout_window": [lags[last], lags[last] + steps],
        "seq_len": steps,
    }


def export_nir(checkpoint, output) -> dict:
    """Write ``checkpoint``'s spiking model as a NIR file (HDF5); returns a summary."""
    import nir

    from ..checkpoint import load_checkpoint
    from ..files import write_output

    model = load_checkpoint(checkpoint).model
    if not model.config.spiking:
        raise ValueError(f"{checkpoint}: a non-spiking model has no LIF populations to export")
    graph = to_nir(model.double().eval())
    buf = io.BytesIO()
    nir.write(buf, graph)
    write_output(output, buf.getvalue())
    kinds: dict[str, int] = {}
    for node in graph.nodes.values():
        kinds[type(node).__name__] = kinds.get(type(node).__name__, 0) + 1
    return {"output": str(output), "nodes": kinds, "edges": len(graph.edges), **graph.metadata}


@dataclass
class NirRun:
    logits: np.ndarray  # (batch, classes)
    spikes: dict  # population -> (batch, steps, n) in its float-time window


def run_norse(graph, x: np.ndarray, dtype=None) -> NirRun:
    """Run a graph of ``to_nir`` on features x (batch, steps, features) with nirtorch, norse's
    ``LIFBoxCell`` for every LIF node (float64 unless ``dtype``)."""
    import nir
    import nirtorch
    import torch

    dtype = dtype or torch.float64
    node_map, lifs = _norse_modules(dtype)
    gm = nirtorch.nir_to_torch(graph, node_map, dtype=dtype)
    meta = graph.metadata
    steps = x.shape[1]
    if steps != int(meta["seq_len"]):
        raise ValueError(f"the graph runs samples of {meta['seq_len']} frames, not {steps}")
    lo = int(meta["readout_window"][0])
    total = max(meta["lags"].values()) + steps  # every population's window ends by then
    xs = torch.zeros((x.shape[0], total, x.shape[2]), dtype=dtype)
    xs[:, :steps] = torch.as_tensor(np.asarray(x), dtype=dtype)
    state, outs = None, []
    with torch.no_grad():
        for k in range(total):
            out, state = gm(xs[:, k], state)
            outs.append(out)
    logits = torch.stack(outs[lo : lo + steps], 1).mean(1).double().numpy()
    spikes = {}
    for name, node in graph.nodes.items():
        if isinstance(node, nir.LIF):
            lag = int(meta["lags"][name])
            z = torch.stack(lifs[id(node)].out, 1)[:, lag : lag + steps]
            spikes[name] = z.double().numpy() > 0
    return NirRun(logits, spikes)


def _norse_modules(dtype) -> tuple[dict, dict]:
    """(nirtorch's node map: a torch module per NIR node, norse's ``LIFBoxCell`` for a LIF; the
    LIF modules it makes, by ``id`` of their node, each recording its spikes)."""
    import nir
    import torch
    from norse.torch import LIFBoxCell
    from norse.torch.functional.lif_box import LIFBoxParameters

    t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype)  # noqa: E731

    class Lif(torch.nn.Module):
        def __init__(self, node):
            super().__init__()
            p = LIFBoxParameters(
                tau_mem_inv=1 / t(node.tau),
                v_leak=t(node.v_leak),
                v_th=t(node.v_threshold),
                v_reset=t(node.v_reset),
            )
            self.cell, self.out = LIFBoxCell(p, dt=DT), []

        def forward(self, x, state=None):
            z, state = self.cell(x, state)
            self.out.append(z)
            return z, state

    class Delay(torch.nn.Module):
        def __init__(self, node):
            super().__init__()
            self.steps = int(round(float(np.max(node.delay)) / DT))

        def forward(self, x, state=None):
            buf = torch.zeros((self.steps, *x.shape), dtype=x.dtype) if state is None else state
            return buf[0], torch.cat([buf[1:], x[None]])

    class Scale(torch.nn.Module):
        def __init__(self, node):
            super().__init__()
            self.scale = t(node.scale)

        def forward(self, x):
            return x * self.scale

    def linear(node, bias=None):
        m = torch.nn.Linear(node.weight.shape[1], node.weight.shape[0], bias=bias is not None)
        m.weight.data = t(node.weight)
        if bias is not None:  # nirtorch's own Affine map leaves the bias unset (nirtorch 2.6)
            m.bias.data = t(bias)
        return m.to(dtype)

    lifs: dict[int, Lif] = {}

    def lif(node):
        m = Lif(node)
        lifs[id(node)] = m
        return m

    node_map = {
        nir.LIF: lif,
        nir.Delay: Delay,
        nir.Scale: Scale,
        nir.Linear: linear,
        nir.Affine: lambda n: linear(n, n.bias),
    }
    return node_map, lifs
