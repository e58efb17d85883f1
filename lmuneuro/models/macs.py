"""The model as a non-spiking ANN: its multiply-accumulates per sample, counted by PyTorch's own
FLOP counter (the SNN/ANN comparison the LMUFormer paper makes). The LMU memory, which the
reference computes by FFT, is not a MAC there; its recurrent form (M^2 + M per step) is reported
apart."""

from __future__ import annotations

import torch

from .lmuformer import ModelConfig, build_model

__all__ = ["ann_macs"]


def ann_macs(config: dict, steps: int) -> dict:
    """MACs per sample of the model ``config`` describes, run as a dense network on ``steps``
    frames:
    total, per top-level module, and the LMU memory's recurrent form that the FFT hides."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg = ModelConfig.from_dict(config)
    model = build_model(cfg).eval()
    counter = FlopCounterMode(display=False, depth=None)
    with torch.no_grad(), counter:
        model(torch.zeros(1, steps, cfg.in_features))
    flops = counter.get_flop_counts()
    # one row per block part (attn, mlp of each block), one per other top-level module
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
    by_module = {
        n: macs for n in sorted(names) if (macs := sum(flops.get(f"{top}.{n}", {}).values()) // 2)
    }
    m = cfg.memory_size
    return {
        "macs": counter.get_total_flops() // 2,
        "by_module": by_module,
        "memory_recurrent_macs": cfg.depth * (m * m + m) * steps,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
