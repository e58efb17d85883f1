"""LMUFormer and Spiking LMUFormer (Liu, Datta et al., arXiv 2402.04882).

Layout in the parallel path: features enter as (batch, time, features) and run as
(batch, channels, time) through the convolutions, as the reference implementation runs them;
module and buffer names follow the reference so that its checkpoints map one to one.

Every model has two paths that compute the same function:
- ``forward``: the whole sequence at once (FFT memory), used for training and evaluation;
- ``init_state`` / ``step`` / ``finish``: one frame at a time with explicit state (recurrent
  memory), the streaming path. The k=3 convolutions of the embedding look one frame ahead, so
  the output for frame t leaves the stream ``delay`` frames after frame t went in; ``finish``
  pads the end of the sequence with zeros exactly as the parallel path does.

The streaming state is immutable: a ``NamedTuple`` per module, nested as the modules are
(``StreamState`` for a whole model), and every module's ``step(x, state)`` returns
``(output, new_state)`` without touching ``state`` (norse's functional style), so a state can be
kept, copied or stepped from twice.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .embed import ConvEmbed, EmbedState, SpikingConvEmbed
from .frames import bn_frame, conv1x1_frame
from .lif import LIF
from .lmu import LegendreMemory

__all__ = ["LMUFormer", "SpikingLMUFormer", "StreamState", "build_model"]


class NoState(NamedTuple):
    """The state of a module without one (the non-spiking channel mixer and head)."""


# ---------------------------------------------------------------- LMU cells


class SpikingLMUCellState(NamedTuple):
    v_u: torch.Tensor  # (batch, 1) potential of f_u, the LIF that drives the memory
    m: torch.Tensor  # (batch, memory_size) the Legendre memory
    v_m: torch.Tensor  # (batch, memory_size) potentials of f_m, the LIF that reads the memory
    v_h: torch.Tensor  # (batch, dim) potentials of f_h, the output LIF


class SpikingLMUCell(nn.Module):
    """u = LIF(BN(W_u s)); m = LMU(u); m_s = LIF(BN(m)); h = LIF(BN(W_h [m_s, s]))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        lif = lambda: LIF(cfg.v_threshold, cfg.tau, cfg.surrogate_alpha)  # noqa: E731
        self.W_u = nn.Linear(cfg.dim, 1)
        self.bn_u, self.f_u = nn.BatchNorm1d(1), lif()
        self.memory = LegendreMemory(cfg.memory_size, cfg.theta, cfg.seq_len)
        self.bn_m, self.f_m = nn.BatchNorm1d(cfg.memory_size), lif()
        self.W_h = nn.Linear(cfg.memory_size + cfg.dim, cfg.dim)
        self.bn_h, self.f_h = nn.BatchNorm1d(cfg.dim), lif()

    def forward(self, s: torch.Tensor) -> torch.Tensor:  # (B, N, C) spikes -> (B, N, C) spikes
        u = self.f_u(self.bn_u(self.W_u(s).transpose(-1, -2)))  # (B, 1, N)
        m = self.f_m(self.bn_m(self.memory(u)))  # (B, M, N)
        h_in = torch.cat((m.permute(0, 2, 1), s), dim=-1)
        return self.f_h(self.bn_h(self.W_h(h_in).transpose(-1, -2))).transpose(-1, -2)

    def step(
        self, s: torch.Tensor, state: SpikingLMUCellState
    ) -> tuple[torch.Tensor, SpikingLMUCellState]:  # (B, C) spikes -> (B, C) spikes
        u, v_u = self.f_u.step(bn_frame(self.bn_u, self.W_u(s)), state.v_u)
        m = self.memory.step(u, state.m)
        m_s, v_m = self.f_m.step(bn_frame(self.bn_m, m), state.v_m)
        h, v_h = self.f_h.step(
            bn_frame(self.bn_h, self.W_h(torch.cat((m_s, s), dim=-1))), state.v_h
        )
        return h, SpikingLMUCellState(v_u, m, v_m, v_h)

    def init_state(self, batch: int, like: torch.Tensor) -> SpikingLMUCellState:
        z = lambda n: like.new_zeros(batch, n)  # noqa: E731
        d = self.memory.memory_size
        return SpikingLMUCellState(z(1), z(d), z(d), z(self.W_h.out_features))


class LMUCellState(NamedTuple):
    m: torch.Tensor  # (batch, memory_size) the Legendre memory


class LMUCell(nn.Module):
    """u = ReLU(W_u x); m = LMU(u); h = ReLU(W_h [m, x])."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.W_u = nn.Linear(cfg.dim, 1)
        self.memory = LegendreMemory(cfg.memory_size, cfg.theta, cfg.seq_len)
        self.W_h = nn.Linear(cfg.memory_size + cfg.dim, cfg.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, C) -> (B, N, C)
        u = F.relu(self.W_u(x)).permute(0, 2, 1)
        m = self.memory(u).permute(0, 2, 1)
        return F.relu(self.W_h(torch.cat((m, x), dim=-1)))

    def step(self, x: torch.Tensor, state: LMUCellState) -> tuple[torch.Tensor, LMUCellState]:
        m = self.memory.step(F.relu(self.W_u(x)), state.m)
        return F.relu(self.W_h(torch.cat((m, x), dim=-1))), LMUCellState(m)

    def init_state(self, batch: int, like: torch.Tensor) -> LMUCellState:
        return LMUCellState(like.new_zeros(batch, self.memory.memory_size))


# ---------------------------------------------------------------- token mixer and channel mixer


class SpikingLMUMixerState(NamedTuple):
    v_prev: torch.Tensor  # (batch, dim) potentials of prev_lif, in front of the LMU cell
    lmu: SpikingLMUCellState


class SpikingLMUMixer(nn.Module):
    """prev_BN -> LIF(v_th 0.5) -> LMU cell -> proj_conv (1x1) -> proj_BN."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.prev_bn = nn.BatchNorm1d(cfg.dim)
        self.prev_lif = LIF(cfg.lmu_v_threshold, cfg.tau, cfg.surrogate_alpha)
        self.lmu = SpikingLMUCell(cfg)
        self.proj_conv = nn.Conv1d(cfg.dim, cfg.dim, kernel_size=1)
        self.proj_bn = nn.BatchNorm1d(cfg.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, N)
        s = self.prev_lif(self.prev_bn(x)).permute(0, 2, 1).contiguous()
        h = self.lmu(s).transpose(-1, -2).contiguous()
        return self.proj_bn(self.proj_conv(h))

    def step(
        self, x: torch.Tensor, state: SpikingLMUMixerState
    ) -> tuple[torch.Tensor, SpikingLMUMixerState]:
        s, v_prev = self.prev_lif.step(bn_frame(self.prev_bn, x), state.v_prev)
        h, lmu = self.lmu.step(s, state.lmu)
        return (
            bn_frame(self.proj_bn, conv1x1_frame(self.proj_conv, h)),
            SpikingLMUMixerState(v_prev, lmu),
        )

    def init_state(self, batch: int, like: torch.Tensor) -> SpikingLMUMixerState:
        return SpikingLMUMixerState(
            like.new_zeros(batch, self.proj_conv.in_channels), self.lmu.init_state(batch, like)
        )


class LMUMixerState(NamedTuple):
    lmu: LMUCellState


class LMUMixer(nn.Module):
    """LMU cell -> proj_conv (1x1) -> proj_BN."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.lmu = LMUCell(cfg)
        self.proj_conv = nn.Conv1d(cfg.dim, cfg.dim, kernel_size=1)
        self.proj_bn = nn.BatchNorm1d(cfg.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.lmu(x.transpose(-1, -2).contiguous())
        return self.proj_bn(self.proj_conv(h.transpose(-1, -2).contiguous()))

    def step(self, x: torch.Tensor, state: LMUMixerState) -> tuple[torch.Tensor, LMUMixerState]:
        h, lmu = self.lmu.step(x, state.lmu)
        return bn_frame(self.proj_bn, conv1x1_frame(self.proj_conv, h)), LMUMixerState(lmu)

    def init_state(self, batch: int, like: torch.Tensor) -> LMUMixerState:
        return LMUMixerState(self.lmu.init_state(batch, like))


class SpikingChannelMixerState(NamedTuple):
    v1: torch.Tensor  # (batch, dim) potentials of fc1_lif
    v2: torch.Tensor  # (batch, hidden) potentials of fc2_lif


class SpikingChannelMixer(nn.Module):
    """BN -> LIF -> conv1x1 (dim -> hidden) -> BN -> LIF -> conv1x1 (hidden -> dim)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        hidden = int(cfg.dim * cfg.mlp_ratio)
        self.fc1_bn = nn.BatchNorm1d(cfg.dim)
        self.fc1_lif = LIF(cfg.v_threshold, cfg.tau, cfg.surrogate_alpha)
        self.fc1_conv = nn.Conv1d(cfg.dim, hidden, kernel_size=1)
        self.fc2_bn = nn.BatchNorm1d(hidden)
        self.fc2_lif = LIF(cfg.v_threshold, cfg.tau, cfg.surrogate_alpha)
        self.fc2_conv = nn.Conv1d(hidden, cfg.dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc1_conv(self.fc1_lif(self.fc1_bn(x)))
        return self.fc2_conv(self.fc2_lif(self.fc2_bn(x)))

    def step(
        self, x: torch.Tensor, state: SpikingChannelMixerState
    ) -> tuple[torch.Tensor, SpikingChannelMixerState]:
        s, v1 = self.fc1_lif.step(bn_frame(self.fc1_bn, x), state.v1)
        s, v2 = self.fc2_lif.step(bn_frame(self.fc2_bn, conv1x1_frame(self.fc1_conv, s)), state.v2)
        return conv1x1_frame(self.fc2_conv, s), SpikingChannelMixerState(v1, v2)

    def init_state(self, batch: int, like: torch.Tensor) -> SpikingChannelMixerState:
        return SpikingChannelMixerState(
            like.new_zeros(batch, self.fc1_conv.in_channels),
            like.new_zeros(batch, self.fc1_conv.out_channels),
        )


class ChannelMixer(nn.Module):
    """conv1x1 -> BN -> GELU -> conv1x1 -> BN -> ReLU."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        hidden = int(cfg.dim * cfg.mlp_ratio)
        self.fc1_conv = nn.Conv1d(cfg.dim, hidden, kernel_size=1)
        self.fc1_bn = nn.BatchNorm1d(hidden)
        self.fc2_conv = nn.Conv1d(hidden, cfg.dim, kernel_size=1)
        self.fc2_bn = nn.BatchNorm1d(cfg.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.fc1_bn(self.fc1_conv(x)))
        return F.relu(self.fc2_bn(self.fc2_conv(x)))

    def step(self, x: torch.Tensor, state: NoState) -> tuple[torch.Tensor, NoState]:
        x = F.gelu(bn_frame(self.fc1_bn, conv1x1_frame(self.fc1_conv, x)))
        return F.relu(bn_frame(self.fc2_bn, conv1x1_frame(self.fc2_conv, x))), state

    def init_state(self, batch: int, like: torch.Tensor) -> NoState:
        return NoState()


class BlockState(NamedTuple):
    attn: SpikingLMUMixerState | LMUMixerState
    mlp: SpikingChannelMixerState | NoState


class Block(nn.Module):
    """x = x + attn(x); x = x + mlp(x)."""

    def __init__(self, attn: nn.Module, mlp: nn.Module):
        super().__init__()
        self.attn, self.mlp = attn, mlp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)

    def step(self, x: torch.Tensor, state: BlockState) -> tuple[torch.Tensor, BlockState]:
        a, attn = self.attn.step(x, state.attn)
        x = x + a
        m, mlp = self.mlp.step(x, state.mlp)
        return x + m, BlockState(attn, mlp)

    def init_state(self, batch: int, like: torch.Tensor) -> BlockState:
        return BlockState(self.attn.init_state(batch, like), self.mlp.init_state(batch, like))


# ---------------------------------------------------------------- whole models


class StreamState(NamedTuple):
    """A whole model mid-stream: ``init_state`` makes it, ``step`` returns the next one."""

    embed: EmbedState
    blocks: tuple[BlockState, ...]  # one per block
    head: torch.Tensor | NoState  # (batch, dim) potentials of head_lif; NoState() without it
    total: torch.Tensor  # (batch, dim) sum of the head's inputs so far (the running mean's sum)
    count: int  # frames in total


class _LMUFormerBase(nn.Module):
    config: ModelConfig

    def _init_weights(self):
        # As the reference: truncated-normal linear layers, default-initialised convolutions.
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    @property
    def delay(self) -> int:
        """Frames between a frame entering ``step`` and its prediction leaving it."""
        return self.patch_embed.delay

    def _readout(
        self, x: torch.Tensor
    ) -> torch.Tensor:  # (B, C, N) -> (B, C, N) features for the head
        return x

    def forward(self, x: torch.Tensor, per_step: bool = False) -> torch.Tensor:
        """x (batch, time, features) -> logits (batch, classes), the mean over time of the
        head's per-step logits; with ``per_step``, (batch, time, classes): the prediction after
        each step from the cumulative mean of the head's input (the streaming read-out)."""
        if x.dim() != 3 or x.shape[-1] != self.config.in_features:
            raise ValueError(
                f"expected input (batch, time, {self.config.in_features}), got {tuple(x.shape)}"
            )
        x = self.patch_embed(x.permute(0, 2, 1).contiguous())
        for blk in self.block:
            x = blk(x)
        x = self._readout(x)
        if per_step:
            x = x.permute(2, 0, 1).contiguous()  # (N, B, C)
            steps = torch.arange(1, x.shape[0] + 1, device=x.device, dtype=x.dtype).view(-1, 1, 1)
            return self.head(torch.cumsum(x, dim=0) / steps).permute(1, 0, 2)
        return self.head(x.permute(0, 2, 1).contiguous()).mean(dim=1)

    # -- streaming
    def init_state(self, batch: int, device=None, dtype=None) -> StreamState:
        p = next(self.parameters())
        like = torch.empty(0, device=device or p.device, dtype=dtype or p.dtype)
        return StreamState(
            self.patch_embed.init_state(batch, like),
            tuple(b.init_state(batch, like) for b in self.block),
            self._head_state(batch, like),
            like.new_zeros(batch, self.config.dim),
            0,
        )

    def _head_state(self, batch: int, like: torch.Tensor) -> torch.Tensor | NoState:
        return NoState()

    def _readout_frame(self, x: torch.Tensor, head) -> tuple[torch.Tensor, torch.Tensor | NoState]:
        return x, head

    def _advance(
        self, frames: list[torch.Tensor], state: StreamState, finish: bool
    ) -> tuple[torch.Tensor, StreamState]:
        if self.training:
            raise RuntimeError(
                "the step API needs eval mode (BatchNorm running statistics): call model.eval()"
            )
        xs, embed = self.patch_embed.step(frames, state.embed, finish)
        blocks, head, total, count = state.blocks, state.head, state.total, state.count
        preds = []
        for x in xs:
            stepped = []
            for blk, st in zip(self.block, blocks):
                x, st = blk.step(x, st)
                stepped.append(st)
            blocks = tuple(stepped)
            x, head = self._readout_frame(x, head)
            total, count = total + x, count + 1
            preds.append(self.head(total / count))
        new_state = StreamState(embed, blocks, head, total, count)
        if not preds:
            return total.new_zeros(total.shape[0], 0, self.config.num_classes), new_state
        return torch.stack(preds, dim=1), new_state

    def step(self, frame: torch.Tensor, state: StreamState) -> tuple[torch.Tensor, StreamState]:
        """Consume one frame (batch, features). Returns ``(preds, new_state)``; ``state`` is left
        as it was. preds (batch, k, classes) are the running predictions of the k in {0, 1}
        frames completed by this one (none during the first ``delay`` frames); ``preds[:, -1]``
        is the latest prediction."""
        return self._advance([frame], state, finish=False)

    def finish(self, state: StreamState) -> torch.Tensor:
        """End the sequence: running predictions (batch, delay, classes) of the last frames."""
        return self._advance([], state, finish=True)[0]

    @torch.no_grad()
    def stream(self, x: torch.Tensor) -> torch.Tensor:
        """Run a whole sequence (batch, time, features) through the step API: (batch, time,
        classes)."""
        state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        preds = []
        for t in range(x.shape[1]):
            p, state = self.step(x[:, t], state)
            preds.append(p)
        return torch.cat(preds + [self.finish(state)], dim=1)

    @contextlib.contextmanager
    def recording(self):
        """Collect every LIF population's spikes and potentials: yields {name: list of records};
        ``stack_records`` turns it into {name: (spikes, potentials)}, each (batch, time, ...)."""
        lifs = {n: m for n, m in self.named_modules() if isinstance(m, LIF)}
        rec = {n: [] for n in lifs}
        for n, m in lifs.items():
            m.record = rec[n]
        try:
            yield rec
        finally:
            for m in lifs.values():
                m.record = None

    @contextlib.contextmanager
    def forcing(self, spikes: dict):
        """Every LIF population outputs the given spikes {name: (batch, time, n)} instead of its
        own, with its own surrogate gradient: the model computes each layer's input from those
        spikes (quantisation-aware training drives it with the chip's). Every population must be
        given."""
        lifs = {n: m for n, m in self.named_modules() if isinstance(m, LIF)}
        if set(spikes) != set(lifs):
            missing = sorted(set(lifs) ^ set(spikes))
            raise ValueError(f"forcing needs exactly the model's populations; differs at {missing}")
        for n, m in lifs.items():
            m.forced = spikes[n]
        try:
            yield
        finally:
            for m in lifs.values():
                m.forced = None


def stack_records(rec: dict) -> dict:
    """{name: [(spikes, potentials), ...]} -> {name: (spikes, potentials)} joined on time."""
    return {
        n: (torch.cat([s for s, _ in r], dim=1), torch.cat([h for _, h in r], dim=1))
        for n, r in rec.items()
        if r
    }


class SpikingLMUFormer(_LMUFormerBase):
    """The Spiking LMUFormer: spiking conv embedding, spiking LMU block(s), BN -> LIF -> linear
    head."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        if not config.spiking:
            raise ValueError("SpikingLMUFormer needs a config with spiking=True")
        self.config = config
        self.patch_embed = SpikingConvEmbed(config)
        self.block = nn.ModuleList(
            Block(SpikingLMUMixer(config), SpikingChannelMixer(config)) for _ in range(config.depth)
        )
        self.head_bn = nn.BatchNorm1d(config.dim)
        self.head_lif = LIF(config.v_threshold, config.tau, config.surrogate_alpha)
        self.head = nn.Linear(config.dim, config.num_classes)
        self._init_weights()

    def _readout(self, x):
        return self.head_lif(self.head_bn(x))

    def _head_state(self, batch, like):
        return like.new_zeros(batch, self.config.dim)

    def _readout_frame(self, x, v):
        return self.head_lif.step(bn_frame(self.head_bn, x), v)


class LMUFormer(_LMUFormerBase):
    """The non-spiking LMUFormer: ReLU conv embedding, LMU block(s), linear head."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.spiking:
            raise ValueError("LMUFormer needs a config with spiking=False")
        self.config = config
        self.patch_embed = ConvEmbed(config)
        self.block = nn.ModuleList(
            Block(LMUMixer(config), ChannelMixer(config)) for _ in range(config.depth)
        )
        self.head = nn.Linear(config.dim, config.num_classes)
        self._init_weights()


def build_model(config: ModelConfig) -> _LMUFormerBase:
    return (SpikingLMUFormer if config.spiking else LMUFormer)(config)
