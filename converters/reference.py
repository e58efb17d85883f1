"""The paper's reference implementation (github zeyuliu1037/LMUFormer) checkpoints.

Its ``best_model.pth`` is a plain ``state_dict`` saved from ``nn.DataParallel``: every key starts
with ``module.``, spikingjelly LIF nodes store no state, and each LMU stores buffers ``A``, ``B``,
``H`` and the complex ``fft_H``. lmuneuro's modules carry the same names, except that the LMU's
buffers live in its ``memory`` submodule. The stored buffers are kept: running the checkpoint
with its own H and fft_H repeats the reference arithmetic exactly.

Architecture and sizes are read from the tensor shapes (``checkpoint.config_from_shapes``); theta
is the reference's, the length of the stored impulse response (its code fixes theta = seq_len =
128), and is checked against A. lmuneuro finds this importer through the ``lmuneuro.importers``
entry point (pyproject.toml): native code never imports ``converters``.
"""

from __future__ import annotations

import re

import torch

from lmuneuro.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_memory,
    check_preset,
    config_from_shapes,
    key_mismatch,
    validate_state_dict,
)
from lmuneuro.models import build_model

PREFIX = "module."
_MEMORY = re.compile(r"^(block\.\d+\.attn\.lmu\.)(A|B|H|fft_H)$")
_OURS = re.compile(r"^(block\.\d+\.attn\.lmu\.)memory\.(A|B|H|fft_H)$")


def _strip(obj: dict) -> dict:
    if obj and all(isinstance(k, str) and k.startswith(PREFIX) for k in obj):
        return {k[len(PREFIX) :]: v for k, v in obj.items()}
    return obj


def detect(obj) -> bool:
    if not isinstance(obj, dict) or not obj or "format" in obj:
        return False
    keys = _strip(obj)
    return any(
        k in keys for k in ("patch_embed.proj_conv.weight", "patch_embed.conv_layers.0.0.weight")
    )


def to_ours(name: str) -> str:
    return _MEMORY.sub(r"\1memory.\2", name)


def to_reference(name: str) -> str:
    return _OURS.sub(r"\1\2", name)


def load(obj: dict, preset: str | None = None, what: str = "checkpoint") -> Checkpoint:
    from lmuneuro.data import dataset_info  # feature settings and class names of the SCv2 models

    sd = _strip(obj)
    if not all(isinstance(k, str) for k in sd):
        raise CheckpointError(f"{what}: the state_dict has non-string keys")
    ours = {to_ours(k): v for k, v in sd.items()}
    cfg = config_from_shapes(ours, what)
    check_memory(ours, cfg, what)
    check_preset(cfg, preset, f"{what} (reference layout)")
    model = build_model(cfg)
    mismatch = key_mismatch([to_reference(k) for k in model.state_dict()], list(sd))
    if mismatch:
        raise CheckpointError(
            f"{what}: reference state_dict does not match a "
            f"{'spiking ' if cfg.spiking else ''}LMUFormer: {mismatch}"
        )
    validate_state_dict(model, ours, what)
    model.load_state_dict(ours)
    info = (
        dataset_info("speech-commands")
        if cfg.num_classes == 35 and cfg.in_features == 128
        else None
    )
    classes = list(info["classes"]) if info else [str(i) for i in range(cfg.num_classes)]
    features = info.get("features") if info else None
    return Checkpoint(model.eval(), cfg, preset, features, classes, {}, None, "reference")


def to_reference_state_dict(model: torch.nn.Module) -> dict:
    """The state_dict the reference code would save for ``model`` (DataParallel names)."""
    return {PREFIX + to_reference(k): v.clone() for k, v in model.state_dict().items()}
