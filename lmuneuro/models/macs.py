"""The model's own operations in the LMUFormer paper's conventions, counted on the PyTorch model
(not on a converted network):

- as a non-spiking ANN (``ann_macs``): multiply-accumulates per sample, by PyTorch's own FLOP
  counter. The LMU memory, which the reference computes by FFT, is not a MAC there; its
  recurrent form (M^2 + M per step) is reported apart.
- as an SNN (``snn_synops``): every input spike of a convolution or linear layer times its
  non-zero fan-out (the weights leaving that input channel, every tap of a convolution), the LMU
  memory as its causal FIR (a spike of u at step t reaches the ``T - t`` taps of the impulse
  response within the sequence, times their non-zero entries), and a layer that reads real
  values (the first convolution) as MACs apart: its output positions times its non-zero weights.
"""

from __future__ import annotations

import contextlib
import copy
import functools

import torch
from torch import nn

from .config import ModelConfig
from .lmu import LegendreMemory, impulse_response
from .lmuformer import build_model

__all__ = ["ann_macs", "snn_synops", "counting_synops", "fir_synops"]


def ann_macs(config: dict, steps: int) -> dict:
    """``_ann_macs`` of a config (a dict), remembered: a stream's report prices the same network
    and length under several profiles."""
    return copy.deepcopy(_ann_macs(ModelConfig.from_dict(config), steps))


@functools.lru_cache(maxsize=16)
def _ann_macs(cfg: ModelConfig, steps: int) -> dict:
    """MACs per sample of the model ``config`` describes, run as a dense network on ``steps``
    frames:
    total, per top-level module, and the LMU memory's recurrent form that the FFT hides. A long
    sequence (a stream) is counted at three shorter lengths instead: where the counts grow by the
    same amount per frame between them (every count the FLOP counter makes here is a per-frame
    operation), they are extended to ``steps`` exactly, in integers."""
    probe = 2 * cfg.seq_len
    if steps > 4 * probe:
        a, b, c = (_ann_counts(cfg, n) for n in (probe, probe + 1, 2 * probe))
        slope = {k: b[k] - a[k] for k in a}
        if all(c[k] == a[k] + slope[k] * probe for k in a):
            counts = {k: a[k] + slope[k] * (steps - probe) for k in a}
        else:  # not affine in the length: count it all
            counts = _ann_counts(cfg, steps)
    else:
        counts = _ann_counts(cfg, steps)
    total = counts.pop("")
    m = cfg.memory_size
    return {
        "macs": total,
        "by_module": {n: v for n, v in sorted(counts.items()) if v},
        "memory_recurrent_macs": cfg.depth * (m * m + m) * steps,
        "parameters": sum(p.numel() for p in build_model(cfg).parameters()),
    }


def _ann_counts(cfg: ModelConfig, steps: int) -> dict[str, int]:
    """MACs on ``steps`` frames by PyTorch's FLOP counter: "" the total, and one entry per block
    part (attn, mlp of each block) and per other top-level module."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model(cfg).eval()
    counter = FlopCounterMode(display=False, depth=None)
    with torch.no_grad(), counter:
        model(torch.zeros(1, steps, cfg.in_features))
    flops = counter.get_flop_counts()
    names = [
        f"{n}.{i}.{sub}"
        for n, child in model.named_children()
        if isinstance(child, torch.nn.ModuleList)
        for i, item in enumerate(child)
        for sub, _ in item.named_children()
    ]
    names += [
        n for n, child in model.named_children() if not isinstance(child, torch.nn.ModuleList)
    ]
    top = type(model).__name__
    counts = {n: sum(flops.get(f"{top}.{n}", {}).values()) // 2 for n in names}
    return {"": counter.get_total_flops() // 2, **counts}


def fir_synops(spikes: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Synaptic operations of a causal FIR with impulse response ``h`` (d, taps >= T) driven by
    ``spikes`` (batch, T) of one input: a spike at step t reaches taps 0..T-1-t, each tap k
    through its ``count_nonzero(h[:, k])`` synapses. Returns the total over the batch."""
    steps = spikes.shape[-1]
    reach = torch.cumsum((h[:, :steps] != 0).sum(dim=0), dim=0)  # synapses of taps 0..k
    return (spikes.sum(dim=0) * reach.flip(0).to(spikes.dtype)).sum()


def _binary(t: torch.Tensor) -> bool:
    return bool(((t == 0) | (t == 1)).all())


@contextlib.contextmanager
def counting_synops(model: nn.Module):
    """Count the operations of every forward pass of ``model`` inside the block, in the paper's
    convention (module docstring). Yields a function of the number of samples run that returns
    their per-sample mean: {"layers": [{"layer", "synops", "graded_macs"}] per convolution,
    linear layer and LMU memory, in the order they run; "synops"; "graded_macs"}."""
    rows: dict[str, list[float]] = {}

    def count(name):
        def hook(module, inputs, output):
            inp = inputs[0].detach().double()
            row = rows.setdefault(name, [0.0, 0.0])
            if isinstance(module, LegendreMemory):
                steps = inp.shape[-1]
                h = (
                    module.H
                    if steps <= module.H.shape[1]
                    else impulse_response(module.A.double(), module.B.double(), steps)
                )
                row[0] += float(sum(fir_synops(inp[:, c], h.double()) for c in range(inp.shape[1])))
                return
            w = module.weight.detach() != 0
            if isinstance(module, nn.Conv1d):  # input (batch, channels, time)
                per_channel = inp.sum(dim=(0, 2))
                fan_out = w.sum(dim=(0, 2))
                positions = inp.shape[0] * output.shape[-1]
            else:  # nn.Linear: input (..., features)
                per_channel = inp.reshape(-1, inp.shape[-1]).sum(dim=0)
                fan_out = w.sum(dim=0)
                positions = inp.numel() // inp.shape[-1]
            if _binary(inp):
                row[0] += float(per_channel @ fan_out.double())
            else:
                row[1] += float(positions * int(w.sum()))

        return hook

    def report(samples: int) -> dict:
        layers = [
            {"layer": n, "synops": ops / samples, "graded_macs": macs / samples}
            for n, (ops, macs) in rows.items()
        ]
        return {
            "layers": layers,
            "synops": sum(r["synops"] for r in layers),
            "graded_macs": sum(r["graded_macs"] for r in layers),
        }

    hooks = [
        module.register_forward_hook(count(name))
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv1d, nn.Linear, LegendreMemory))
    ]
    try:
        yield report
    finally:
        for h in hooks:
            h.remove()


@torch.no_grad()
def snn_synops(model: nn.Module, x: torch.Tensor, batch: int = 64) -> dict:
    """A spiking model's operations per sample, the mean over inputs x (samples, time,
    features) run ``batch`` at a time (``counting_synops``)."""
    with counting_synops(model) as report:
        for lo in range(0, len(x), batch):
            model(x[lo : lo + batch])
    return report(len(x))
