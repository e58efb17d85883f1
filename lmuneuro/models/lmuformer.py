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
"""

from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from .lif import LIF
from .lmu import LegendreMemory

__all__ = ["ModelConfig", "LMUFormer", "SpikingLMUFormer", "build_model"]


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines an LMUFormer's shape and neurons."""

    spiking: bool = True
    in_features: int = 128  # mel bins (or pixels) per time step
    num_classes: int = 35
    dim: int = 256
    depth: int = 1  # LMU + channel-mixer blocks
    mlp_ratio: float = 4.0
    memory_size: int = 512
    theta: float = 128.0
    seq_len: int = 128  # length of the stored impulse response; other lengths also run
    embed_layers: int = 4  # k-wide convolutions in the patch embedding
    kernel_size: int = 3
    tau: float = 2.0
    v_threshold: float = 1.0
    lmu_v_threshold: float = 0.5  # the LIF in front of the LMU
    surrogate_alpha: float = 4.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model config field(s): {', '.join(unknown)}")
        return cls(**d)

    def __post_init__(self):
        # Configs arrive from untrusted checkpoints: check types and keep sizes sane before any
        # tensor is allocated.
        for f in fields(self):
            v = getattr(self, f.name)
            want = {"bool": bool, "int": int, "float": (int, float)}[f.type]
            if not isinstance(v, want) or (f.type != "bool" and isinstance(v, bool)):
                raise ValueError(f"config field {f.name} must be {f.type}, got {v!r}")
        limits = {
            "in_features": 4096,
            "num_classes": 100_000,
            "dim": 8192,
            "depth": 64,
            "memory_size": 8192,
            "seq_len": 1_000_000,
            "embed_layers": 16,
            "kernel_size": 31,
        }
        for name, hi in limits.items():
            if not 1 <= getattr(self, name) <= hi:
                raise ValueError(f"config field {name}={getattr(self, name)} is outside 1..{hi}")
        if self.kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")
        for name in (
            "mlp_ratio",
            "theta",
            "tau",
            "v_threshold",
            "lmu_v_threshold",
            "surrogate_alpha",
        ):
            if not 0 < getattr(self, name) < 1e6:
                raise ValueError(
                    f"config field {name}={getattr(self, name)} must be positive and finite"
                )
        if int(self.dim * self.mlp_ratio) < 1:
            raise ValueError(f"mlp_ratio {self.mlp_ratio} leaves no hidden channels")


# ---------------------------------------------------------------- per-frame helpers (streaming)


def _bn_frame(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def _conv1x1_frame(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    return F.linear(x, conv.weight[:, :, 0], conv.bias)


class _ConvStream:
    """Streams a 'same'-padded Conv1d: output t leaves once input t + pad has arrived."""

    def __init__(self, conv: nn.Conv1d, batch: int, like: torch.Tensor):
        self.conv, self.pad = conv, conv.padding[0]
        self.window = like.new_zeros(batch, conv.in_channels, conv.kernel_size[0])
        self.seen = 0

    def push(self, frames: list[torch.Tensor], finish: bool) -> list[torch.Tensor]:
        out = []
        tail = [torch.zeros_like(self.window[:, :, 0])] * self.pad if finish and self.seen else []
        for f in frames + tail:
            self.window = torch.cat([self.window[:, :, 1:], f.unsqueeze(-1)], dim=-1)
            self.seen += 1
            if self.seen > self.pad:
                out.append(F.conv1d(self.window, self.conv.weight, self.conv.bias)[:, :, 0])
        return out


def _lif_frames(lif: LIF, frames: list[torch.Tensor], state: dict, key: str) -> list[torch.Tensor]:
    out = []
    for f in frames:
        s, state[key] = lif.step(f, state.get(key, torch.zeros_like(f)))
        out.append(s)
    return out


# ---------------------------------------------------------------- patch embeddings


def _conv(cin: int, cout: int, k: int, bias: bool = False) -> nn.Conv1d:
    return nn.Conv1d(cin, cout, kernel_size=k, stride=1, padding=k // 2, bias=bias)


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

    def init_state(self, batch: int, like: torch.Tensor) -> dict:
        convs = [_ConvStream(self._layer(i)[0], batch, like) for i in range(self.n)]
        return {"convs": convs, "rpe": _ConvStream(self.rpe_conv, batch, like), "skip": deque()}

    def step(self, frames: list[torch.Tensor], st: dict, finish: bool) -> list[torch.Tensor]:
        for i in range(self.n):
            conv, bn, lif = self._layer(i)
            frames = st["convs"][i].push(frames, finish)
            if i < self.n - 1:
                frames = _lif_frames(lif, [_bn_frame(bn, f) for f in frames], st, f"v{i}")
        st["skip"].extend(frames)
        bn, lif = self._layer(self.n - 1)[1:]
        r = st["rpe"].push(
            _lif_frames(lif, [_bn_frame(bn, f) for f in frames], st, "v_rpe"), finish
        )
        return [st["skip"].popleft() + f for f in r]


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

    def init_state(self, batch: int, like: torch.Tensor) -> dict:
        convs = [_ConvStream(layer[0], batch, like) for layer in self.conv_layers]
        return {"convs": convs, "rpe": _ConvStream(self.rpe_conv, batch, like), "skip": deque()}

    def step(self, frames: list[torch.Tensor], st: dict, finish: bool) -> list[torch.Tensor]:
        for layer, cs in zip(self.conv_layers, st["convs"]):
            frames = [_bn_frame(layer[3], F.relu(f)) for f in cs.push(frames, finish)]
        st["skip"].extend(frames)
        return [st["skip"].popleft() + f for f in st["rpe"].push(frames, finish)]


# ---------------------------------------------------------------- LMU cells


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

    def step(self, s: torch.Tensor, st: dict) -> torch.Tensor:  # (B, C) -> (B, C)
        u, st["v_u"] = self.f_u.step(_bn_frame(self.bn_u, self.W_u(s)), st["v_u"])
        st["m"] = self.memory.step(u, st["m"])
        m, st["v_m"] = self.f_m.step(_bn_frame(self.bn_m, st["m"]), st["v_m"])
        h, st["v_h"] = self.f_h.step(
            _bn_frame(self.bn_h, self.W_h(torch.cat((m, s), dim=-1))), st["v_h"]
        )
        return h

    def init_state(self, batch: int, like: torch.Tensor) -> dict:
        z = lambda n: like.new_zeros(batch, n)  # noqa: E731
        return {
            "v_u": z(1),
            "m": z(self.memory.memory_size),
            "v_m": z(self.memory.memory_size),
            "v_h": z(self.W_h.out_features),
        }


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

    def step(self, x: torch.Tensor, st: dict) -> torch.Tensor:
        st["m"] = self.memory.step(F.relu(self.W_u(x)), st["m"])
        return F.relu(self.W_h(torch.cat((st["m"], x), dim=-1)))

    def init_state(self, batch: int, like: torch.Tensor) -> dict:
        return {"m": like.new_zeros(batch, self.memory.memory_size)}


# ---------------------------------------------------------------- token mixer and channel mixer


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

    def step(self, x: torch.Tensor, st: dict) -> torch.Tensor:
        s, st["v_prev"] = self.prev_lif.step(_bn_frame(self.prev_bn, x), st["v_prev"])
        return _bn_frame(self.proj_bn, _conv1x1_frame(self.proj_conv, self.lmu.step(s, st["lmu"])))

    def init_state(self, batch: int, like: torch.Tensor) -> dict:
        return {
            "v_prev": like.new_zeros(batch, self.proj_conv.in_channels),
            "lmu": self.lmu.init_state(batch, like),
        }


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

    def step(self, x: torch.Tensor, st: dict) -> torch.Tensor:
        return _bn_frame(self.proj_bn, _conv1x1_frame(self.proj_conv, self.lmu.step(x, st["lmu"])))

    def init_state(self, batch: int, like: torch.Tensor) -> dict:
        return {"lmu": self.lmu.init_state(batch, like)}


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

    def step(self, x: torch.Tensor, st: dict) -> torch.Tensor:
        s, st["v1"] = self.fc1_lif.step(_bn_frame(self.fc1_bn, x), st["v1"])
        s, st["v2"] = self.fc2_lif.step(
            _bn_frame(self.fc2_bn, _conv1x1_frame(self.fc1_conv, s)), st["v2"]
        )
        return _conv1x1_frame(self.fc2_conv, s)

    def init_state(self, batch: int, like: torch.Tensor) -> dict:
        return {
            "v1": like.new_zeros(batch, self.fc1_conv.in_channels),
            "v2": like.new_zeros(batch, self.fc1_conv.out_channels),
        }


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

    def step(self, x: torch.Tensor, st: dict) -> torch.Tensor:
        x = F.gelu(_bn_frame(self.fc1_bn, _conv1x1_frame(self.fc1_conv, x)))
        return F.relu(_bn_frame(self.fc2_bn, _conv1x1_frame(self.fc2_conv, x)))

    def init_state(self, batch: int, like: torch.Tensor) -> dict:
        return {}


class Block(nn.Module):
    """x = x + attn(x); x = x + mlp(x)."""

    def __init__(self, attn: nn.Module, mlp: nn.Module):
        super().__init__()
        self.attn, self.mlp = attn, mlp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)

    def step(self, x: torch.Tensor, st: dict) -> torch.Tensor:
        x = x + self.attn.step(x, st["attn"])
        return x + self.mlp.step(x, st["mlp"])

    def init_state(self, batch: int, like: torch.Tensor) -> dict:
        return {"attn": self.attn.init_state(batch, like), "mlp": self.mlp.init_state(batch, like)}


# ---------------------------------------------------------------- whole models


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
    def init_state(self, batch: int, device=None, dtype=None) -> dict:
        p = next(self.parameters())
        like = torch.empty(0, device=device or p.device, dtype=dtype or p.dtype)
        return {
            "embed": self.patch_embed.init_state(batch, like),
            "blocks": [b.init_state(batch, like) for b in self.block],
            "head": self._head_state(batch, like),
            "sum": like.new_zeros(batch, self.config.dim),
            "count": 0,
        }

    def _head_state(self, batch, like) -> dict:
        return {}

    def _readout_frame(self, x: torch.Tensor, st: dict) -> torch.Tensor:
        return x

    def _advance(self, frames: list[torch.Tensor], state: dict, finish: bool) -> torch.Tensor:
        if self.training:
            raise RuntimeError(
                "the step API needs eval mode (BatchNorm running statistics): call model.eval()"
            )
        preds = []
        for x in self.patch_embed.step(frames, state["embed"], finish):
            for blk, st in zip(self.block, state["blocks"]):
                x = blk.step(x, st)
            state["sum"] = state["sum"] + self._readout_frame(x, state["head"])
            state["count"] += 1
            preds.append(self.head(state["sum"] / state["count"]))
        if not preds:
            return state["sum"].new_zeros(state["sum"].shape[0], 0, self.config.num_classes)
        return torch.stack(preds, dim=1)

    def step(self, frame: torch.Tensor, state: dict):
        """Consume one frame (batch, features). Returns ``(preds, state)``: preds (batch, k,
        classes) are the running predictions of the k in {0, 1} frames completed by this one
        (none during the first ``delay`` frames); ``preds[:, -1]`` is the latest prediction."""
        return self._advance([frame], state, finish=False), state

    def finish(self, state: dict) -> torch.Tensor:
        """End the sequence: running predictions (batch, delay, classes) of the last frames."""
        return self._advance([], state, finish=True)

    @torch.no_grad()
    def stream(self, x: torch.Tensor) -> torch.Tensor:
        """Run a whole sequence (batch, time, features) through the step API: (batch, time,
        classes)."""
        state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        preds = [self.step(x[:, t], state)[0] for t in range(x.shape[1])]
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
        return {"v": like.new_zeros(batch, self.config.dim)}

    def _readout_frame(self, x, st):
        s, st["v"] = self.head_lif.step(_bn_frame(self.head_bn, x), st["v"])
        return s


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
