"""PyTorch models: the LIF neuron, the Legendre memory, (Spiking) LMUFormer and named presets."""

from .config import ModelConfig
from .lif import LIF, lif_sequence, lif_step
from .lmu import LegendreMemory, impulse_response, legendre_state_space
from .lmuformer import (
    LMUFormer,
    SpikingLMUFormer,
    StreamState,
    build_model,
    stack_records,
)
from .macs import ann_macs, snn_synops
from .presets import PRESETS, get_preset

__all__ = [
    "LIF",
    "lif_sequence",
    "lif_step",
    "LegendreMemory",
    "impulse_response",
    "legendre_state_space",
    "LMUFormer",
    "ModelConfig",
    "SpikingLMUFormer",
    "StreamState",
    "build_model",
    "stack_records",
    "ann_macs",
    "snn_synops",
    "PRESETS",
    "get_preset",
]
