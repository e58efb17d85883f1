"""Native checkpoints: save, load, validate; foreign layouts are handed to the importers registered
as ``lmuneuro.importers`` entry points (lmuneuro's own are in ``converters/``).

A native checkpoint is one ``torch.save`` dict, readable with ``weights_only=True``::

    format: "lmuneuro-checkpoint", format_version: 1
    preset: str | None, config: ModelConfig.to_dict(), state_dict: {name: tensor}
    features: dict | None (feature/normalisation settings), classes: [str]
    metrics: {...} (training history), train_state: {...} | None (optimizer, epoch: to resume)
    quantization: {...} | None (quantisation-aware: the conversion settings it was fine-tuned
    for, ``compile.settings.Settings.to_dict()``)

Checkpoints are untrusted input: nothing is unpickled beyond tensors and plain containers, and
every problem is reported as one ``CheckpointError`` line that names it.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .files import check_budget, check_nesting, check_zip, printable, write_output
from .models import ModelConfig, build_model, get_preset

FORMAT = "lmuneuro-checkpoint"
FORMAT_VERSION = 1

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "load_checkpoint",
    "load_model",
    "save_checkpoint",
    "validate_state_dict",
    "check_memory",
    "key_mismatch",
    "check_preset",
    "config_from_shapes",
    "importers",
]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line naming the problem."""


@dataclass
class Checkpoint:
    model: torch.nn.Module
    config: ModelConfig
    preset: str | None = None
    features: dict | None = None
    classes: list[str] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    train_state: dict | None = None
    source_format: str = FORMAT
    quantization: dict | None = None  # quantisation-aware: the settings it was fine-tuned for


def save_checkpoint(
    path,
    model,
    *,
    preset=None,
    features=None,
    classes=(),
    metrics=None,
    train_state=None,
    quantization=None,
) -> None:
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "preset": preset,
        "config": model.config.to_dict(),
        "state_dict": model.state_dict(),
        "features": features,
        "classes": list(classes),
        "metrics": metrics or {},
        "train_state": train_state,
        "quantization": quantization,
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    write_output(path, buf.getvalue())


def _tensor_bytes(obj, depth: int = 0) -> int:
    """Bytes the tensors in a loaded payload declare (a stride-0 view declares far more than it
    holds)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if depth > 32:
        return 0
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v, depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v, depth + 1) for v in obj)
    return 0


def _read(path) -> object:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        # torch decompresses a member to the size its zip entry declares before checking it
        if not check_zip(path):
            raise CheckpointError(
                f"{path}: not a readable PyTorch checkpoint (not the zip archive that "
                "torch.save writes since PyTorch 1.6)"
            )
        obj = torch.load(path, map_location="cpu", weights_only=True)
        check_nesting(obj, str(path))  # metrics nested 100,000 deep load; saving them recurses
        check_budget(_tensor_bytes(obj), f"{path} (its tensors)")
        return obj
    except pickle.UnpicklingError as e:
        culprit = next((ln.strip() for ln in str(e).splitlines() if "GLOBAL" in ln), None)
        if culprit:
            raise CheckpointError(
                f"{path}: refused: unpickling it would run code or build objects other "
                f"than tensors ({culprit[:160]})"
            ) from None
        first = next(
            (ln.strip() for ln in str(e).splitlines() if "Unsupported" in ln), type(e).__name__
        )
        raise CheckpointError(f"{path}: corrupt checkpoint ({first[:160]})") from None
    except CheckpointError:
        raise
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        UnicodeDecodeError,
        NotImplementedError,
        MemoryError,
    ) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        if first.startswith(str(path)):
            raise CheckpointError(first) from None
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({first[:200]})"
        ) from None


# Largest |value| of a real tensor. Trained ones are O(1) (the digits model's largest: 5.8, a
# variance). Within 1e6, with tau >= 1 and thresholds >= 1e-6 (ModelConfig), every figure convert
# forms stays finite even in float32: a BatchNorm-folded weight w * gamma / sqrt(var + 1e-5) is
# at most 3.2e14, times S / tau (S < 2^23 / v_th state units per float unit) at most 2.7e27; so
# large a weight needs an exponent far above any target's: one line of convert naming its layer.
TENSOR_MAX = 1e6


def _kind(t: torch.Tensor) -> str:
    return "complex" if t.is_complex() else "real" if t.is_floating_point() else "integer"


def _check_tensor(k: str, t: torch.Tensor, ref: torch.Tensor, what: str) -> None:
    if _kind(t) != _kind(ref):
        raise CheckpointError(f"{what}: {k} holds {t.dtype} values, the model expects {_kind(ref)}")
    if _kind(t) == "integer":
        return
    if not bool(torch.isfinite(t).all()):
        raise CheckpointError(f"{what}: {k} contains NaN or Inf values")
    peak = float(t.abs().max()) if t.numel() else 0.0
    if peak > TENSOR_MAX:
        raise CheckpointError(
            f"{what}: {k} holds a value of magnitude {peak:.3g}, beyond the {TENSOR_MAX:g} that "
            "any trained weight stays far below"
        )
    if k.endswith("running_var") and bool((t < 0).any()):
        raise CheckpointError(f"{what}: {k} holds a negative variance ({float(t.min()):.3g})")


def validate_state_dict(model: torch.nn.Module, state: dict, what: str = "checkpoint") -> None:
    """Same keys, shapes and kinds (real, complex, integer) as ``model``, every value finite and
    within ``TENSOR_MAX``, variances non-negative; else one-line CheckpointError."""
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise CheckpointError(f"{what}: the state_dict is not a mapping of names to tensors")
    expected = model.state_dict()
    mismatch = key_mismatch(list(expected), list(state))
    if mismatch:
        raise CheckpointError(f"{what}: state_dict does not match the model: {mismatch}")
    for k, ref in expected.items():
        t = state[k]
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"{what}: {k} is a {type(t).__name__}, not a tensor")
        if tuple(t.shape) != tuple(ref.shape):
            raise CheckpointError(
                f"{what}: {k} has shape {tuple(t.shape)}, the model expects {tuple(ref.shape)}"
            )
        _check_tensor(k, t, ref, what)


def check_memory(sd: dict, cfg: ModelConfig, what: str) -> None:
    """Every block's stored LMU matrix A (lmuneuro's names) must be the Legendre memory that the
    config's memory_size and theta define: the model runs with the stored buffers."""
    from .models import legendre_state_space

    want = None
    for i in range(cfg.depth):
        a = sd.get(f"block.{i}.attn.lmu.memory.A")
        if not isinstance(a, torch.Tensor) or a.is_complex() or not a.is_floating_point():
            continue  # missing or of the wrong kind: validate_state_dict names it
        if tuple(a.shape) != (cfg.memory_size, cfg.memory_size):
            continue
        if want is None:
            want = legendre_state_space(cfg.memory_size, cfg.theta)[0]
        got = a.double().numpy()
        if not (np.isfinite(got).all() and np.allclose(got, want, rtol=1e-4, atol=1e-6)):
            raise CheckpointError(
                f"{what}: block.{i}'s LMU matrix A is not the Legendre memory of size "
                f"{cfg.memory_size} with theta={cfg.theta:g} that its config describes"
            )


def key_mismatch(expected: list[str], got: list[str]) -> str:
    """'' when the names agree, else a count and the first few missing and unexpected names."""
    have, want = set(got), set(expected)
    missing, unexpected = [k for k in expected if k not in have], [k for k in got if k not in want]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s), first: {', '.join(missing[:3])}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s), first: {', '.join(unexpected[:3])}")
    return "; ".join(parts)


def check_preset(cfg: ModelConfig, preset: str | None, what: str) -> None:
    """A checkpoint's config must equal the named preset's, if one is named."""
    if preset is None:
        return
    try:
        want = get_preset(preset).to_dict()
    except ValueError as e:
        raise CheckpointError(f"{what}: {e}") from None
    diff = [f"{k}={v!r} (preset: {want[k]!r})" for k, v in cfg.to_dict().items() if want[k] != v]
    if diff:
        raise CheckpointError(f"{what}: does not match preset {preset!r}: {', '.join(diff[:4])}")


def _config_for(cfg_dict, preset: str | None, what: str) -> ModelConfig:
    try:
        cfg = ModelConfig.from_dict(cfg_dict)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{what}: invalid model config ({e})") from None
    check_preset(cfg, preset, what)
    return cfg


def importers() -> dict:
    """The importers of foreign checkpoint formats, by name: modules with ``detect(obj) -> bool``
    and ``load(obj, preset, what) -> Checkpoint``, registered as ``lmuneuro.importers`` entry
    points (lmuneuro's own ``converters/``, or another package's)."""
    from importlib.metadata import entry_points

    return {ep.name: ep.load() for ep in sorted(entry_points(group="lmuneuro.importers"))}


def load_checkpoint(path, preset: str | None = None) -> Checkpoint:
    """Read a native or foreign checkpoint (format detected from its content)."""
    obj = _read(path)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return _native(obj, preset, str(path))
    try:
        for importer in importers().values():
            if importer.detect(obj):
                return importer.load(obj, preset=preset, what=str(path))
    except CheckpointError:
        raise
    except (ValueError, TypeError, KeyError, RuntimeError) as e:
        raise CheckpointError(f"{path}: {e}") from None
    if isinstance(obj, dict):
        keys = [str(k) for k in list(obj)[:4]]
        raise CheckpointError(
            f"{path}: unknown checkpoint layout (not lmuneuro, not the reference "
            f"implementation); first keys: {', '.join(keys) or '(none)'}"
        )
    raise CheckpointError(
        f"{path}: unknown checkpoint layout: a {type(obj).__name__}, not a state_dict"
    )


def _shape(sd, key, what, ndim: int):
    t = sd.get(key)
    if not isinstance(t, torch.Tensor):
        raise CheckpointError(
            f"{what}: checkpoint lacks tensor {key} (needed to read the model's sizes)"
        )
    if t.dim() != ndim:
        raise CheckpointError(
            f"{what}: {key} has shape {tuple(t.shape)}, expected {ndim} dimensions"
        )
    return tuple(t.shape)


def config_from_shapes(sd: dict, what: str = "checkpoint") -> ModelConfig:
    """The model's shape read from the shapes of a state_dict's tensors (lmuneuro's names), so
    that nothing much larger than the file is ever allocated; theta is a guess (seq_len)."""
    spiking = "patch_embed.proj_conv.weight" in sd
    first = "patch_embed.proj_conv.weight" if spiking else "patch_embed.conv_layers.0.0.weight"
    dim, in_features, k = _shape(sd, first, what, 3)
    if spiking:
        embed_layers = 1 + sum(f"patch_embed.proj_conv{i}.weight" in sd for i in range(1, 64))
    else:
        embed_layers = sum(f"patch_embed.conv_layers.{i}.0.weight" in sd for i in range(64))
    depth = sum(f"block.{i}.attn.proj_conv.weight" in sd for i in range(64))
    if depth == 0:
        raise CheckpointError(f"{what}: checkpoint has no LMU block (block.0.attn.*)")
    memory_size, seq_len = _shape(sd, "block.0.attn.lmu.memory.H", what, 2)
    hidden = _shape(sd, "block.0.mlp.fc1_conv.weight", what, 3)[0]
    num_classes = _shape(sd, "head.weight", what, 2)[0]
    return ModelConfig(
        spiking=spiking,
        in_features=in_features,
        num_classes=num_classes,
        dim=dim,
        depth=depth,
        mlp_ratio=hidden / dim,
        memory_size=memory_size,
        theta=float(seq_len),
        seq_len=seq_len,
        embed_layers=embed_layers,
        kernel_size=k,
    )


_SIZES = (
    "spiking",
    "in_features",
    "num_classes",
    "dim",
    "depth",
    "memory_size",
    "seq_len",
    "embed_layers",
    "kernel_size",
)


def _check_sizes(cfg: ModelConfig, state: dict, what: str) -> None:
    """The config must describe the tensors the file holds before a model is built from it: a
    hostile config (dim 8192, depth 64) would otherwise allocate far more than the file contains."""
    try:
        held = config_from_shapes({k: v for k, v in state.items() if isinstance(k, str)}, what)
    except CheckpointError:
        raise
    except (ValueError, TypeError) as e:
        raise CheckpointError(
            f"{what}: tensors of an unexpected shape ({str(e).splitlines()[0][:120]})"
        ) from None
    diff = [
        f"{f}={getattr(cfg, f)} (tensors: {getattr(held, f)})"
        for f in _SIZES
        if getattr(cfg, f) != getattr(held, f)
    ]
    if int(cfg.dim * cfg.mlp_ratio) != int(held.dim * held.mlp_ratio):
        diff.append(
            f"hidden={int(cfg.dim * cfg.mlp_ratio)} (tensors: {int(held.dim * held.mlp_ratio)})"
        )
    if diff:
        raise CheckpointError(
            f"{what}: config does not describe its tensors: {', '.join(diff[:4])}"
        )


def _native(obj: dict, preset, what) -> Checkpoint:
    version = obj.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{what}: checkpoint format version {version!r} is not supported "
            f"(this lmuneuro reads version {FORMAT_VERSION})"
        )
    for key, typ in (("config", dict), ("state_dict", dict)):
        if not isinstance(obj.get(key), typ):
            raise CheckpointError(f"{what}: checkpoint has no valid {key!r}")
    cfg = _config_for(obj["config"], preset, what)
    _check_sizes(cfg, obj["state_dict"], what)
    model = build_model(cfg)
    validate_state_dict(model, obj["state_dict"], what)
    check_memory(obj["state_dict"], cfg, what)
    model.load_state_dict(obj["state_dict"])
    classes = obj.get("classes") or []
    if not isinstance(classes, list) or (classes and len(classes) != cfg.num_classes):
        raise CheckpointError(
            f"{what}: {len(classes) if isinstance(classes, list) else 'no list of'} "
            f"class names for {cfg.num_classes} classes"
        )
    for key, types in (
        ("preset", (str, type(None))),
        ("features", (dict, type(None))),
        ("metrics", (dict, type(None))),
        ("train_state", (dict, type(None))),
        ("quantization", (dict, type(None))),
    ):
        if not isinstance(obj.get(key), types):
            raise CheckpointError(
                f"{what}: {key} is a {type(obj.get(key)).__name__}, expected "
                f"{' or '.join(t.__name__ for t in types).replace('NoneType', 'nothing')}"
            )
    if obj.get("preset") is not None:
        check_preset(cfg, obj["preset"], f"{what} (its recorded preset)")
    quantization = obj.get("quantization")
    if quantization is not None:
        _check_quantization(quantization, what)
    if isinstance(quantization, dict) and "residual" not in quantization:
        # recorded before graded residual terms existed: it was fine-tuned with the stream folded
        quantization = {**quantization, "residual": "folded"}
    return Checkpoint(
        model.eval(),
        cfg,
        obj.get("preset"),
        obj.get("features"),
        [str(c) for c in classes],
        obj.get("metrics") or {},
        obj.get("train_state"),
        FORMAT,
        quantization,
    )


def _check_quantization(record: dict, what: str) -> None:
    """A quantisation record is conversion settings (checked as such) naming a bundled target:
    a checkpoint never names a file for lmuneuro to read."""
    from .compile.settings import Settings
    from .profiles import list_profiles

    try:
        Settings.from_dict(record)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{what}: quantization record: {e}") from None
    target = record.get("target", Settings.target)
    if target not in list_profiles():
        raise CheckpointError(
            f"{what}: unknown hardware profile '{printable(target, 80)}' as its quantization "
            f"target; a checkpoint may name a bundled one ({', '.join(list_profiles())}), never "
            "a file (give that with --target)"
        )


def load_model(path, preset: str | None = None) -> torch.nn.Module:
    """The model of a native or reference checkpoint, in eval mode."""
    return load_checkpoint(path, preset).model
