"""An LMUFormer's configuration, checked on construction (configs arrive from checkpoints)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


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
        # lower ends: a LIF with tau < 1 overshoots its input, and convert scales weights by
        # 1 / threshold (checkpoint.TENSOR_MAX says why these keep its arithmetic finite)
        lows = {"tau": 1.0, "v_threshold": 1e-6, "lmu_v_threshold": 1e-6}
        for name in (
            "mlp_ratio",
            "theta",
            "tau",
            "v_threshold",
            "lmu_v_threshold",
            "surrogate_alpha",
        ):
            v, lo = getattr(self, name), lows.get(name, 0.0)
            if not (0 < v < 1e6 and v >= lo):
                raise ValueError(
                    f"config field {name}={v} must be positive, at least {lo:g} and below 1e6"
                )
        if int(self.dim * self.mlp_ratio) < 1:
            raise ValueError(f"mlp_ratio {self.mlp_ratio} leaves no hidden channels")
