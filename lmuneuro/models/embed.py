"""The patch embeddings: the k-wide convolutions that turn features into the model's channels, and
the relative position embedding (``rpe_conv``) added to their output, in both paths."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .frames import ConvState, bn_frame, conv_push, conv_state, lif_frames
from .lif import LIF


def _conv(cin: int, cout: int, k: int, bias: bool = False) -> nn.Conv1d:
    return nn.Conv1d(cin, cout, kernel_size=k, stride=1, padding=k // 2, bias=bias)


class EmbedState(NamedTuple):
    """A patch embedding mid-stream, either kind."""

    convs: tuple[ConvState, ...]  # the k-wide convolutions of the stack, in order
    v: tuple[torch.Tensor, ...]  # (batch, dim) potentials of each layer's LIF; () if not spiking
    rpe: ConvState  # rpe_conv
    skip: tuple[torch.Tensor, ...]  # (batch, dim) stack outputs waiting for their rpe_conv output


def _embed_state(
    convs: list[nn.Conv1d], rpe_conv: nn.Conv1d, lifs: int, batch: int, like: torch.Tensor
) -> EmbedState:
    return EmbedState(
        tuple(conv_state(c, batch, like) for c in convs),
        tuple(like.new_zeros(batch, rpe_conv.in_channels) for _ in range(lifs)),
        conv_state(rpe_conv, batch, like),
        (),
    )


def _add_rpe(
    rpe_conv: nn.Conv1d,
    x: list[torch.Tensor],
    rpe_in: list[torch.Tensor],
    state: EmbedState,
    finish: bool,
) -> tuple[list[torch.Tensor], ConvState, tuple[torch.Tensor, ...]]:
    """out = x + rpe_conv(rpe_in): rpe_conv looks ahead, so x waits in the skip queue until the
    matching rpe output leaves. Returns (out frames, rpe conv state, skip queue)."""
    r, rpe = conv_push(rpe_conv, rpe_in, state.rpe, finish)
    queue = state.skip + tuple(x)
    return [a + b for a, b in zip(queue, r)], rpe, queue[len(r) :]


class SpikingConvEmbed(nn.Module):
    """[conv -> BN -> LIF] x (L-1) -> conv = x;  out = x + rpe_conv(LIF(BN(x)))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n = cfg.embed_layers
        k = cfg.kernel_size
        for i in range(self.n):
            sfx = str(i) if i else ""
            setattr(
                self, f"proj_conv{sfx}", _conv(cfg.in_features if i == 0 else cfg.dim, cfg.dim, k)
            )
            setattr(self, f"proj_bn{sfx}", nn.BatchNorm1d(cfg.dim))
            setattr(self, f"proj_lif{sfx}", LIF(cfg.v_threshold, cfg.tau, cfg.surrogate_alpha))
        self.rpe_conv = _conv(cfg.dim, cfg.dim, k)
        self.delay = (self.n + 1) * (k // 2)

    def _layer(self, i):
        sfx = str(i) if i else ""
        return (
            getattr(self, f"proj_conv{sfx}"),
            getattr(self, f"proj_bn{sfx}"),
            getattr(self, f"proj_lif{sfx}"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, N) -> (B, dim, N)
        for i in range(self.n):
            conv, bn, lif = self._layer(i)
            x = conv(x)
            if i < self.n - 1:
                x = lif(bn(x))
        bn, lif = self._layer(self.n - 1)[1:]
        return x + self.rpe_conv(lif(bn(x)))

    def init_state(self, batch: int, like: torch.Tensor) -> EmbedState:
        convs = [self._layer(i)[0] for i in range(self.n)]
        return _embed_state(convs, self.rpe_conv, self.n, batch, like)

    def step(
        self, frames: list[torch.Tensor], state: EmbedState, finish: bool
    ) -> tuple[list[torch.Tensor], EmbedState]:
        s, convs, vs = frames, [], []
        for i, (c, v) in enumerate(zip(state.convs, state.v)):
            conv, bn, lif = self._layer(i)
            x, c = conv_push(conv, s, c, finish)
            # after the last layer x is the stack's output and its spikes s feed rpe_conv
            s, v = lif_frames(lif, [bn_frame(bn, f) for f in x], v)
            convs.append(c)
            vs.append(v)
        out, rpe, skip = _add_rpe(self.rpe_conv, x, s, state, finish)
        return out, EmbedState(tuple(convs), tuple(vs), rpe, skip)


class ConvEmbed(nn.Module):
    """The non-spiking Tokenizer: [conv -> ReLU -> BN] x L = x;  out = x + rpe_conv(x)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        k = cfg.kernel_size
        self.conv_layers = nn.Sequential(
            *[
                nn.Sequential(
                    _conv(cfg.in_features if i == 0 else cfg.dim, cfg.dim, k),
                    nn.ReLU(),
                    nn.Identity(),
                    nn.BatchNorm1d(cfg.dim),
                )
                for i in range(cfg.embed_layers)
            ]
        )
        self.rpe_conv = _conv(cfg.dim, cfg.dim, k)
        self.delay = (cfg.embed_layers + 1) * (k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_layers(x)
        return x + self.rpe_conv(x)

    def init_state(self, batch: int, like: torch.Tensor) -> EmbedState:
        convs = [layer[0] for layer in self.conv_layers]
        return _embed_state(convs, self.rpe_conv, 0, batch, like)

    def step(
        self, frames: list[torch.Tensor], state: EmbedState, finish: bool
    ) -> tuple[list[torch.Tensor], EmbedState]:
        x, convs = frames, []
        for layer, c in zip(self.conv_layers, state.convs):
            x, c = conv_push(layer[0], x, c, finish)
            x = [bn_frame(layer[3], F.relu(f)) for f in x]
            convs.append(c)
        out, rpe, skip = _add_rpe(self.rpe_conv, x, x, state, finish)
        return out, EmbedState(tuple(convs), (), rpe, skip)
