"""Named model configurations. Widths, depth, memory and thresholds are data, not code."""

from __future__ import annotations

from .config import ModelConfig

_SCV2 = dict(
    in_features=128, num_classes=35, dim=256, depth=1, mlp_ratio=4.0, theta=128.0, seq_len=128
)

_DIGITS = dict(
    in_features=8,
    num_classes=10,
    dim=64,
    depth=1,
    mlp_ratio=2.0,
    memory_size=16,
    theta=8.0,
    seq_len=8,
    embed_layers=2,
)

_KEYWORDS = dict(
    in_features=128,
    dim=64,
    depth=1,
    mlp_ratio=2.0,
    memory_size=32,
    theta=128.0,
    seq_len=128,
    embed_layers=2,
)

PRESETS: dict[str, ModelConfig] = {
    # The paper's Speech Commands V2 models (1,689,894 and 1,621,796 parameters).
    "spiking-lmuformer-scv2": ModelConfig(spiking=True, memory_size=512, **_SCV2),
    "lmuformer-scv2": ModelConfig(spiking=False, memory_size=256, **_SCV2),
    # Permuted sequential MNIST: one pixel per step over 784 steps (our sizing; the paper's
    # psMNIST notebook uses a different, LMU-only network).
    "spiking-lmuformer-psmnist": ModelConfig(
        spiking=True,
        in_features=1,
        num_classes=10,
        dim=128,
        depth=1,
        mlp_ratio=2.0,
        memory_size=256,
        theta=784.0,
        seq_len=784,
    ),
    # A small audio model for the synthesised spoken keywords (examples/spoken_keywords.py), and
    # the same with an eleventh class, "_unknown_", for continuous audio (keyword-stream windows).
    "spiking-lmuformer-keywords": ModelConfig(spiking=True, num_classes=10, **_KEYWORDS),
    "spiking-lmuformer-keywords-stream": ModelConfig(spiking=True, num_classes=11, **_KEYWORDS),
    # Small models for the built-in 8x8 digits (rows as time steps): train in about a minute.
    "spiking-lmuformer-digits": ModelConfig(spiking=True, **_DIGITS),
    "lmuformer-digits": ModelConfig(spiking=False, **_DIGITS),
}


def get_preset(name: str) -> ModelConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None
