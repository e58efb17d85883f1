"""PyTorch's layers one frame at a time, for the streaming path: a frame is (batch, channels), and
a 'same'-padded convolution keeps the window it looks back and ahead over as its state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .lif import LIF


def bn_frame(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def conv1x1_frame(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    return F.linear(x, conv.weight[:, :, 0], conv.bias)


class ConvState(NamedTuple):
    """A 'same'-padded Conv1d mid-stream."""

    window: torch.Tensor  # (batch, c_in, kernel): the last ``kernel`` input frames, newest last
    seen: int  # input frames pushed so far, the zeros that pad the end included


def conv_state(conv: nn.Conv1d, batch: int, like: torch.Tensor) -> ConvState:
    """The state before the first frame: the window holds the zeros that pad the start."""
    return ConvState(like.new_zeros(batch, conv.in_channels, conv.kernel_size[0]), 0)


def conv_push(
    conv: nn.Conv1d, frames: Sequence[torch.Tensor], state: ConvState, finish: bool
) -> tuple[list[torch.Tensor], ConvState]:
    """Streams a 'same'-padded Conv1d: output t leaves once input t + pad has arrived, so it
    returns the (batch, c_out) outputs that ``frames`` (each (batch, c_in)) complete; ``finish``
    pads the end with zeros and flushes the rest."""
    window, seen = state
    pad = conv.padding[0]
    tail = [torch.zeros_like(window[:, :, 0])] * pad if finish and seen else []
    out = []
    for f in [*frames, *tail]:
        window = torch.cat([window[:, :, 1:], f.unsqueeze(-1)], dim=-1)
        seen += 1
        if seen > pad:
            out.append(F.conv1d(window, conv.weight, conv.bias)[:, :, 0])
    return out, ConvState(window, seen)


def lif_frames(
    lif: LIF, frames: list[torch.Tensor], v: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor]:
    out = []
    for f in frames:
        s, v = lif.step(f, v)
        out.append(s)
    return out, v
