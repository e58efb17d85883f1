"""Float model vs fixed-point emulator on the same inputs: agreement, accuracy, per-layer spikes and
synaptic operations (both counted by ``activity`` from spikes per neuron)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from ..artifact import FixedNetwork, Layer, read_artifact
from ..backends import check_run_size
from ..backends.emulator import Emulator
from ..checkpoint import Checkpoint, load_checkpoint
from ..data.inputs import inputs_from
from ..files import sha256
from ..models import stack_records
from ..models.macs import counting_synops
from .activity import activity

__all__ = ["verify", "VerifyReport", "LayerCheck", "Operations", "AwareCheck", "Divergence"]


class Divergence(NamedTuple):
    """The first (sample, step, neuron) where a layer's spikes differ, float against fixed."""

    layer: str
    sample: int
    step: int
    neuron: int


@dataclass(frozen=True)
class LayerCheck:
    """One population: its synaptic events per sample from the float model's spikes and from the
    emulator's; for a layer also its spike rates and the fraction of (sample, step, neuron) where
    the two differ (a relay or a term has none in the float model: None)."""

    layer: str
    lava_class: str
    weight_error: float  # largest relative error of the quantised weights it reads
    synops_float: float
    synops_fixed: float
    rate_float: float | None = None
    rate_fixed: float | None = None
    mismatch: float | None = None

    def to_dict(self) -> dict:
        row = {
            "layer": self.layer,
            "class": self.lava_class,
            "weight_error": self.weight_error,
            "synops_float": self.synops_float,
            "synops_fixed": self.synops_fixed,
        }
        if self.mismatch is not None:
            row.update(
                rate_float=self.rate_float, rate_fixed=self.rate_fixed, mismatch=self.mismatch
            )
        return row


@dataclass(frozen=True)
class Operations:
    """Operations per sample: the model's own count in the paper's convention beside the chip's
    synaptic events (the chip counts every weight set, and every reader of the residual stream,
    apart)."""

    model_synops: float
    model_graded_macs: float
    model_layers: dict  # per layer of the PyTorch model
    chip_synaptic_events: float
    chip_graded_events: float
    chip_per_model_synop: float | None  # None where the model counts no SynOp


@dataclass(frozen=True)
class AwareCheck:
    """A quantisation-aware checkpoint's own forward pass (``qat.ChipModel``) against the
    artifact's emulator run."""

    settings: dict  # the conversion settings it trained with
    agreement: float  # same top-1
    logits_identical: float  # fraction of samples whose logits are bit-identical


@dataclass(frozen=True)
class VerifyReport:
    """Float model against the artifact's emulator on the same inputs (``to_dict``: what
    ``lmuneuro verify --json`` prints)."""

    checkpoint: str  # "" for a Checkpoint given as an object
    artifact: str  # "" for a FixedNetwork given as an object
    samples: int
    inputs_clipped: int  # feature values beyond the artifact's input range
    agreement: float  # same top-1, float and fixed
    first_divergence: Divergence | None  # None: spikes identical in every layer
    delay_steps: int
    layers: list[LayerCheck]
    operations: Operations
    quantization_aware: AwareCheck | None = None
    accuracy_float: float | None = None  # with labels
    accuracy_fixed: float | None = None
    # a calibrated artifact (convert --calibrate): the network the same checkpoint and settings
    # make without calibration, on the same inputs
    uncalibrated: "VerifyReport | None" = None

    def to_dict(self) -> dict:
        out = {
            "checkpoint": self.checkpoint,
            "artifact": self.artifact,
            "samples": self.samples,
            "inputs_clipped": self.inputs_clipped,
            "agreement": self.agreement,
            "first_divergence": self.first_divergence and self.first_divergence._asdict(),
            "delay_steps": self.delay_steps,
            "layers": [r.to_dict() for r in self.layers],
            "operations": vars(self.operations),
        }
        if self.quantization_aware is not None:
            out["quantization_aware"] = vars(self.quantization_aware)
        if self.accuracy_float is not None:
            out["accuracy_float"] = self.accuracy_float
            out["accuracy_fixed"] = self.accuracy_fixed
        if self.uncalibrated is not None:
            u = self.uncalibrated
            out["uncalibrated"] = {
                "agreement": u.agreement,
                "inputs_clipped": u.inputs_clipped,
                "layers": [
                    {"layer": r.layer, "mismatch": r.mismatch}
                    for r in u.layers
                    if r.mismatch is not None
                ],
                **({"accuracy_fixed": u.accuracy_fixed} if u.accuracy_fixed is not None else {}),
            }
        return out


@dataclass
class _LayerSpikes:
    """One layer's spikes in its window over every sample and step."""

    float: int = 0  # the float model's
    fixed: int = 0  # the emulator's
    mismatched: int = 0  # (sample, step, neuron) where the two differ


@dataclass
class _Compared:
    """What the float model and the emulator did, batch by batch, on the same inputs."""

    float_pred: np.ndarray  # top-1 per sample
    fixed_pred: np.ndarray
    spikes: dict[str, _LayerSpikes]  # per layer
    # per network ("float", "fixed") and population, spikes per neuron (samples, n)
    per_neuron: dict[str, dict[str, np.ndarray]]
    first: Divergence | None
    frames: np.ndarray  # the inputs as the emulator quantised them
    inputs_clipped: int
    model_count: dict  # the model's own operations (``counting_synops``)
    aware_same: int = 0  # a quantisation-aware checkpoint's own logits: same top-1
    aware_identical: int = 0  # bit-identical logits


def source_checkpoint(checkpoint, artifact, net: FixedNetwork) -> Checkpoint:
    """``checkpoint`` (a path or a ``Checkpoint``) loaded, refused where it is a file other than the
    one that ``artifact`` (read as ``net``) records converting."""
    if isinstance(checkpoint, Checkpoint):
        return checkpoint
    # an artifact file records its checkpoint's checksum; a network compiled in memory has none
    recorded = not isinstance(artifact, FixedNetwork) or "source_sha256" in net.meta
    if recorded and net.meta.get("source_sha256") != sha256(checkpoint):
        raise ValueError(f"{artifact} was converted from another checkpoint than {checkpoint}")
    return load_checkpoint(checkpoint)


def verify(
    checkpoint,
    artifact,
    *,
    dataset=None,
    inputs=None,
    labels=None,
    data_dir=None,
    samples=None,
    batch=64,
    device="cpu",
) -> VerifyReport:
    """Float model vs the artifact's emulator (on ``device``) on the same inputs: ``checkpoint`` a
    path or a ``Checkpoint``, ``artifact`` a path or a ``FixedNetwork``, the inputs as ``run``
    takes them. A checkpoint file must be the one the artifact records converting. A calibrated
    artifact is compared with its uncalibrated network too (``VerifyReport.uncalibrated``)."""
    net = artifact if isinstance(artifact, FixedNetwork) else read_artifact(artifact)
    ck = source_checkpoint(checkpoint, artifact, net)
    aware = None  # a quantisation-aware checkpoint computes as the chip: its own logits, compared
    if ck.quantization is not None:
        from ..backends.qat import ChipModel
        from ..compile.convert import Settings

        aware = ChipModel(ck.model, ck.features, Settings.from_dict(ck.quantization))
    x, y = inputs_from(
        inputs,
        labels=labels,
        dataset=dataset,
        data_dir=data_dir,
        samples=samples,
        n_features=ck.model.config.in_features,
    )
    check_run_size(net, len(x), x.shape[1], "the inputs", record=True, batch=batch)
    c = _compare(net, ck.model, aware, x, batch, device)
    layers, operations = _layer_checks(net, x, c)
    base = _uncalibrated(ck, net)
    return VerifyReport(
        checkpoint="" if isinstance(checkpoint, Checkpoint) else str(checkpoint),
        artifact="" if isinstance(artifact, FixedNetwork) else str(artifact),
        samples=int(len(x)),
        inputs_clipped=c.inputs_clipped,
        agreement=float((c.float_pred == c.fixed_pred).mean()),
        first_divergence=c.first,
        delay_steps=net.delay,
        layers=layers,
        operations=operations,
        quantization_aware=None
        if aware is None
        else AwareCheck(
            aware.settings.to_dict(), c.aware_same / len(x), c.aware_identical / len(x)
        ),
        accuracy_float=None if y is None else float((c.float_pred == y).mean()),
        accuracy_fixed=None if y is None else float((c.fixed_pred == y).mean()),
        uncalibrated=None
        if base is None
        else verify(ck, base, inputs=x, labels=y, batch=batch, device=device),
    )


def _compare(net: FixedNetwork, model, aware, x: np.ndarray, batch: int, device) -> _Compared:
    """Both networks (and a quantisation-aware checkpoint's own forward pass) over x, ``batch``
    samples at a time: their predictions, per layer the spikes of each and where they differ,
    per population the spikes per neuron (the float model's for the layers: its relays would copy
    them; the emulator's for every population)."""
    float_pred, fixed_pred, frames, clipped = [], [], [], 0
    counts = {p.name: _LayerSpikes() for p in net.layers}
    per_neuron = {k: {p.name: [] for p in net.populations} for k in ("float", "fixed")}
    first, aware_same, aware_identical = None, 0, 0
    emulate = Emulator(net, device)
    with counting_synops(model) as model_ops:  # counted on the forward passes below
        for lo in range(0, len(x), batch):
            xb = x[lo : lo + batch]
            with torch.no_grad(), model.recording() as rec:
                float_pred.append(model(torch.from_numpy(xb)).argmax(-1).numpy())
            f_spikes = {n: s.numpy() > 0 for n, (s, _) in stack_records(rec).items()}
            res = emulate(xb, record=True)
            fixed_pred.append(res.logits.argmax(-1))
            frames.append(res.frames)
            clipped += res.inputs_clipped
            if aware is not None:
                with torch.no_grad():
                    own = aware(torch.from_numpy(xb)).numpy()
                aware_same += int((own.argmax(-1) == res.logits.argmax(-1)).sum())
                aware_identical += int((own == res.logits).all(axis=1).sum())
            for p in net.populations:
                per_neuron["fixed"][p.name].append(res.spike_counts[p.name])
                per_neuron["float"][p.name].append(
                    f_spikes[p.name].sum(axis=1)
                    if isinstance(p, Layer)
                    else res.spike_counts[p.name]
                )
            for p in net.layers:
                a, b = f_spikes[p.name], res.spikes[p.name]
                c = counts[p.name]
                c.float, c.fixed = c.float + int(a.sum()), c.fixed + int(b.sum())
                c.mismatched += int((a != b).sum())
                if first is None and (a != b).any():
                    s, t, k = (int(v[0]) for v in np.nonzero(a != b))
                    first = Divergence(p.name, lo + s, t, k)
    return _Compared(
        np.concatenate(float_pred),
        np.concatenate(fixed_pred),
        counts,
        {k: {n: np.concatenate(c) for n, c in v.items()} for k, v in per_neuron.items()},
        first,
        np.concatenate(frames),
        clipped,
        model_ops(len(x)),
        aware_same,
        aware_identical,
    )


def _layer_checks(
    net: FixedNetwork, x: np.ndarray, c: _Compared
) -> tuple[list[LayerCheck], Operations]:
    """Per population its synaptic events from each network's spikes and a layer's spike rates
    (``LayerCheck``); the operations per sample, the model's own count beside the chip's."""
    events = {
        k: {r.layer: r for r in activity(net, x, counts, frames=c.frames).layers}
        for k, counts in c.per_neuron.items()
    }
    layers = []
    for p in net.populations:
        synops = {
            k: events[k][p.name].synaptic_events + events[k][p.name].graded_events for k in events
        }
        spikes = {}
        if isinstance(p, Layer):
            total = len(x) * x.shape[1] * p.size
            n = c.spikes[p.name]
            spikes = dict(
                rate_float=n.float / total,
                rate_fixed=n.fixed / total,
                mismatch=n.mismatched / total,
            )
        layers.append(
            LayerCheck(
                p.name,
                p.lava_class,
                max((s.rel_error for s in net.inputs_of(p.name)), default=0.0),
                synops["float"],
                synops["fixed"],
                **spikes,
            )
        )
    on_chip, model = events["fixed"].values(), c.model_count
    binary = sum(r.synaptic_events for r in on_chip)
    return layers, Operations(
        model_synops=model["synops"],
        model_graded_macs=model["graded_macs"],
        model_layers=model["layers"],
        chip_synaptic_events=binary,
        chip_graded_events=sum(r.graded_events for r in on_chip),
        chip_per_model_synop=binary / model["synops"] if model["synops"] else None,
    )


def _uncalibrated(ck: Checkpoint, net: FixedNetwork) -> FixedNetwork | None:
    """The network that ``net``'s checkpoint and settings make without calibration, or None for
    an artifact converted without it."""
    record = net.meta.get("calibration")
    if record is None:
        return None
    from ..compile.calibrate import Calibration
    from ..compile.convert import compile_model
    from ..compile.settings import SETTINGS, Settings

    q = net.meta["quantization"]  # the settings beside the input format; the target beside it
    recorded = {s.name: q[s.name] for s in SETTINGS if s.name in q}
    settings = Settings(
        **{
            **recorded,
            "target": net.meta["target"],
            "input_range": Calibration.from_dict(record).uncalibrated_input_range,
        }
    )
    return compile_model(ck.model, ck.features, settings, fit=False).net
