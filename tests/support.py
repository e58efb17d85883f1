"""Shared test helpers: models with realistic (non-degenerate) spiking activity."""

from __future__ import annotations

import numpy as np
import torch

from lmuneuro.models import build_model, get_preset


@torch.no_grad()
def calibrated(
    preset: str, seed: int = 0, batch: int = 4, steps: int | None = None, gain: float = 2.0
):
    """A seeded model whose BatchNorms hold the statistics of random input, with BN weights x gain
    so that every LIF population fires at a few to tens of percent (random init alone fires ~0)."""
    torch.manual_seed(seed)
    model = build_model(get_preset(preset))
    cfg = model.config
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    for bn in bns:
        bn.momentum = None  # cumulative average
    model.train()
    for _ in range(3):
        model(torch.randn(batch, steps or cfg.seq_len, cfg.in_features))
    for bn in bns:
        bn.momentum = 0.1
        bn.weight.mul_(gain)
        bn.bias.add_(0.1)
    for name, bn in model.named_modules():
        if name.endswith("bn_u"):  # the LMU's single input neuron: make it drive the memory
            bn.bias.fill_(1.0)
    return model.eval()


def state_summary(state: dict) -> np.ndarray:
    """Per-tensor sums of a state_dict: identifies a fixture generator's output to a tolerance
    (a digest would also change with the CPU's float rounding)."""
    return np.array(
        [
            v.detach().double().sum().item()
            if not v.is_complex()
            else v.abs().double().sum().item()
            for v in state.values()
        ]
    )
