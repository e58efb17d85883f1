"""NeuroBench's metrics (neurobench 2.3.0: its names and definitions, per sample) for a checkpoint's
float model and for its fixed-point network on the emulator, with what NeuroBench does not count
reported apart (docs/neurobench.md).

- ``float``: Footprint, ConnectionSparsity, ActivationSparsity, SynapticOperations and
  ClassificationAccuracy by NeuroBench's own harness (``Benchmark`` on ``TorchModel(model)`` with
  lmuneuro's LIF as an activation module) where neurobench is installed, else by ``float_metrics``
  here; the two are equal on the same inputs (tests/test_neurobench.py). MembraneUpdates always
  comes from here: the harness reads the ``mem`` attribute of snnTorch neurons, which lmuneuro's
  LIF (a whole sequence per call) does not have, and reports 0 for it.
- ``chip``: the same metrics defined on the artifact's network run on the emulator.
- ``extensions``: the LMU memory's operations (its FIR taps; NeuroBench counts only linear,
  convolution and recurrent layers), the relays and the graded residual terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..artifact import INPUT, FixedNetwork, ModelOps, Relay, Term, read_artifact
from ..backends import run_backend
from ..checkpoint import Checkpoint, load_checkpoint
from ..compile.mapping import stored_bytes
from ..data.inputs import inputs_from
from ..models.lif import LIF
from ..models.lmu import LegendreMemory
from ..models.macs import ann_macs, counting_synops
from ..profiles import load_profile
from .activity import activity, model_layer_synops
from .verify import source_checkpoint

__all__ = [
    "BenchmarkReport",
    "benchmark",
    "neurobench_version",
    "float_metrics",
    "harness_metrics",
    "chip_metrics",
    "chip_extensions",
]

# the activation modules NeuroBench finds by default (``blocks.activation``), and lmuneuro's LIF
ACTIVATIONS = (nn.ReLU, nn.Sigmoid, LIF)
# the connection layers NeuroBench counts (its ``STATELESS_LAYERS``; lmuneuro's models have no
# recurrent torch layers), each with its operation
_LAYERS = {nn.Linear: F.linear, nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}
# who computes the float figures (``benchmark``; the command line names them too, a test compares)
IMPLEMENTATIONS = ("auto", "neurobench", "lmuneuro")
# computed by the harness where neurobench is installed; MembraneUpdates always here (docstring)
HARNESS_METRICS = (
    "Footprint",
    "ConnectionSparsity",
    "ActivationSparsity",
    "SynapticOperations",
    "ClassificationAccuracy",
)


def neurobench_version() -> str | None:
    """The installed neurobench's version, or None where its harness does not import."""
    try:
        import neurobench
        from neurobench.benchmarks import Benchmark  # noqa: F401  (it needs snntorch)
    except ImportError:
        return None
    return neurobench.__version__


def _apply(layer: nn.Module, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``layer``'s operation on x with weights w and no bias."""
    op = next(f for t, f in _LAYERS.items() if isinstance(layer, t))
    if op is F.linear:
        return op(x, w)
    if layer.padding_mode != "zeros":
        raise ValueError(f"{type(layer).__name__} with padding_mode {layer.padding_mode!r}")
    return op(x, w, None, layer.stride, layer.padding, layer.dilation, layer.groups)


def _connection_sparsity(zeros: int, weights: int) -> float:
    return round(zeros / weights, 4)  # NeuroBench rounds it to 4 decimals


@torch.no_grad()
def float_metrics(model: nn.Module, x: np.ndarray, y: np.ndarray | None, batch: int = 64) -> dict:
    """NeuroBench's metrics of a float model on inputs x (samples, steps, features), per sample, by
    lmuneuro's implementation of NeuroBench's definitions (docs/neurobench.md). SynapticOperations:
    each call of a linear or convolution layer applies the layer with its non-zero weights as 1
    to its non-zero inputs as 1: ACs where every input is 0 or +-1, MACs otherwise; Dense with
    every input and weight as 1; counted in float64, exactly (NeuroBench's harness sums in the
    model's float32, which may round a sum beyond 2^24)."""
    model.eval()
    layers = [m for m in model.modules() if isinstance(m, tuple(_LAYERS))]
    weights = [m.weight for m in layers]
    count = {"spikes": 0, "activations": 0, "ACs": 0.0, "MACs": 0.0, "dense": 0.0}

    def on_activation(module, inputs, output):
        count["spikes"] += int(torch.count_nonzero(output))
        count["activations"] += output.numel()

    def on_layer(module, inputs):
        xin = inputs[0].detach()
        spiking = bool(((xin == 0) | (xin == 1) | (xin == -1)).all())
        bx = (xin != 0).double()
        bw = (module.weight.detach() != 0).double()
        count["ACs" if spiking else "MACs"] += float(_apply(module, bx, bw).sum())
        count["dense"] += float(_apply(module, torch.ones_like(bx), torch.ones_like(bw)).sum())

    hooks = [
        m.register_forward_hook(on_activation)
        for m in model.modules()
        if isinstance(m, ACTIVATIONS)
    ]
    hooks += [m.register_forward_pre_hook(on_layer) for m in layers]
    lifs = [m for m in model.modules() if isinstance(m, LIF)]
    updates, correct = 0, 0
    try:
        for m in lifs:
            m.record = []  # (spikes, potentials before firing) of every call, time on dim 1
        for lo in range(0, len(x), batch):
            pred = model(torch.from_numpy(x[lo : lo + batch])).argmax(-1).numpy()
            if y is not None:
                correct += int((pred == y[lo : lo + batch]).sum())
            for m in lifs:  # the first step updates every neuron, a later one those whose h moved
                for _, h in m.record:
                    updates += h[:, 0].numel() + int(torch.count_nonzero(h[:, 1:] != h[:, :-1]))
                m.record.clear()
    finally:
        for m in lifs:
            m.record = None
        for h in hooks:
            h.remove()
    n = len(x)
    out = {
        "Footprint": sum(
            t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers())
        ),
        "ConnectionSparsity": _connection_sparsity(
            sum(int((w == 0).sum()) for w in weights), sum(w.numel() for w in weights)
        ),
        "ActivationSparsity": 1.0 - count["spikes"] / count["activations"]
        if count["activations"]
        else 0.0,
        "SynapticOperations": {
            "Effective_MACs": count["MACs"] / n,
            "Effective_ACs": count["ACs"] / n,
            "Dense": count["dense"] / n,
        },
    }
    if lifs:
        out["MembraneUpdates"] = updates / n
    if y is not None:
        out["ClassificationAccuracy"] = correct / n
    return out


@torch.no_grad()
def harness_metrics(model: nn.Module, x: np.ndarray, y: np.ndarray | None, batch: int = 64) -> dict:
    """The metrics of ``HARNESS_METRICS`` by NeuroBench's own harness: ``Benchmark`` on
    ``TorchModel(model)`` with lmuneuro's LIF added as an activation module, inputs in batches of
    ``batch``, the prediction the arg-max of the logits. Needs neurobench (and snntorch)."""
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import (
        ActivationSparsity,
        ClassificationAccuracy,
        SynapticOperations,
    )
    from neurobench.models import TorchModel
    from torch.utils.data import DataLoader, TensorDataset

    wrapped = TorchModel(model)
    wrapped.add_activation_module(LIF)
    labels = torch.zeros(len(x), dtype=torch.long) if y is None else torch.from_numpy(y).long()
    workload = [ActivationSparsity, SynapticOperations]
    if y is not None:
        workload.append(ClassificationAccuracy)
    bench = Benchmark(
        wrapped,
        DataLoader(TensorDataset(torch.from_numpy(x), labels), batch_size=batch),
        [],
        [lambda logits: logits.argmax(-1)],
        [[Footprint, ConnectionSparsity], workload],
    )
    try:
        return dict(bench.run(quiet=True))
    finally:
        wrapped.cleanup_hooks()


def _counts_of(net: FixedNetwork, x: np.ndarray, spike_counts: dict) -> dict:
    """Spikes per neuron over each sample (population -> (samples, n)), the input's non-zero
    payloads per channel with them."""
    q, _ = net.quantize_input(x)
    return {INPUT: (q != 0).sum(axis=1), **spike_counts}


def _model_layers(net: FixedNetwork) -> tuple[list[ModelOps], list[ModelOps]]:
    """The model's linear and convolution layers (NeuroBench counts them) and its impulse
    responses (the LMU memory: it does not)."""
    return [m for m in net.model_ops if m.fanout is not None], [
        m for m in net.model_ops if m.fanout is None
    ]


def chip_metrics(
    net: FixedNetwork,
    x: np.ndarray,
    spike_counts: dict,
    logits: np.ndarray,
    y: np.ndarray | None,
    profile: str = "loihi2",
) -> dict:
    """NeuroBench's metrics defined on the fixed-point network, per sample, from an emulator run's
    spikes per neuron (population -> (samples, n) over each sample's steps) and logits:
    ActivationSparsity over every population (layers, relays, graded terms) at every step;
    SynapticOperations of the model's layers from those spikes (each spike times its non-zero
    fan-out in the quantised weights; the input's non-zero payloads as MACs), the chip's own
    synaptic events beside it (``SynapticEvents``); Footprint: the synapse memory and neuron state
    that the resource model allocates (``mapping.stored_bytes``); ConnectionSparsity of the
    quantised weights of every synapse process; MembraneUpdates: every neuron at every step, as
    the chip updates them."""
    samples, period = len(x), net.delay + x.shape[1]
    counts = _counts_of(net, x, spike_counts)
    sent = sum(int(spike_counts[p.name].sum()) for p in net.populations)
    neuron_steps = samples * period * sum(p.size for p in net.populations)
    linear, _ = _model_layers(net)
    ops = {INPUT: 0.0, "spikes": 0.0}
    for m in linear:
        if m.source == INPUT:  # the features' payloads, not the rounding channel (a chip's bias)
            ops[INPUT] += float((counts[INPUT][:, : net.input_size] @ m.fanout).sum())
        else:
            ops["spikes"] += float((counts[m.source] @ m.fanout).sum())
    act = activity(net, x, spike_counts).layers
    zeros = sum(int(np.count_nonzero(np.asarray(s.weights) == 0)) for s in net.synapses)
    out = {
        "Footprint": stored_bytes(net, load_profile(profile).resources)["total"],
        "ConnectionSparsity": _connection_sparsity(
            zeros, sum(np.asarray(s.weights).size for s in net.synapses)
        ),
        "ActivationSparsity": 1.0 - sent / neuron_steps,
        "SynapticOperations": {
            "Effective_MACs": ops[INPUT] / samples,
            "Effective_ACs": ops["spikes"] / samples,
        },
        "SynapticEvents": {
            "binary": sum(r.synaptic_events for r in act),
            "graded": sum(r.graded_events for r in act),
        },
        "MembraneUpdates": float(sum(r.neuron_updates for r in act)),
    }
    if y is not None:
        out["ClassificationAccuracy"] = float((logits.argmax(-1) == y).mean())
    return out


def chip_extensions(net: FixedNetwork, x: np.ndarray, spike_counts: dict) -> dict:
    """What the chip does that NeuroBench's metrics leave out, per sample (``activity``'s counts):
    the LMU memory's taps in the model's convention, the relays' spikes and the synaptic events
    they receive (the gate's included), the graded residual terms' messages and the graded events
    they cause."""
    counts = _counts_of(net, x, spike_counts)
    _, memory = _model_layers(net)
    kind = {p.name: type(p) for p in net.populations}
    rows = activity(net, x, spike_counts).layers
    relays = [r for r in rows if kind[r.layer] is Relay]
    terms = [r for r in rows if kind[r.layer] is Term]
    return {
        "LMUMemory_ACs": sum(model_layer_synops(net, m, counts) for m in memory) / len(x),
        "RelaySpikes": sum(r.spikes for r in relays),
        "RelaySynapticEvents": sum(r.synaptic_events + r.graded_events for r in relays),
        "ResidualMessages": sum(r.spikes for r in terms),
        "ResidualGradedEvents": sum(r.caused_events for r in terms),
    }


@dataclass(frozen=True)
class BenchmarkReport:
    """NeuroBench's metrics of a checkpoint's float model and, with an artifact, of its network on
    the emulator (``to_dict``: what ``lmuneuro benchmark --json`` prints)."""

    checkpoint: str  # "" for a Checkpoint given as an object
    artifact: str  # "" without one, or for a FixedNetwork given as an object
    samples: int
    float_model: dict  # NeuroBench's names
    computed_by: dict  # float metric -> "neurobench X.Y.Z" or "lmuneuro"
    extensions: dict  # {"float": {...}, "chip": {...}}: what NeuroBench does not count
    chip: dict | None = None

    def to_dict(self) -> dict:
        out = {
            "checkpoint": self.checkpoint,
            "artifact": self.artifact,
            "samples": self.samples,
            "float": self.float_model,
            "computed_by": self.computed_by,
        }
        if self.chip is not None:
            out["chip"] = self.chip
        out["extensions"] = self.extensions
        return out


def benchmark(
    checkpoint,
    artifact=None,
    *,
    dataset=None,
    inputs=None,
    labels=None,
    data_dir=None,
    samples=None,
    batch: int = 64,
    device: str = "cpu",
    implementation: str = "auto",
) -> BenchmarkReport:
    """NeuroBench's metrics of ``checkpoint`` (a path or a ``Checkpoint``) on the inputs (as ``run``
    takes them) and, with ``artifact`` (a path or a ``FixedNetwork``, converted from that
    checkpoint), of its network on the emulator (on ``device``). ``implementation``: who computes
    the float figures: ``neurobench`` (its harness; needs it installed), ``lmuneuro``, or ``auto``
    (the harness where neurobench is installed)."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation {implementation!r}: one of {', '.join(IMPLEMENTATIONS)}")
    version = neurobench_version()
    if implementation == "neurobench" and version is None:
        raise ValueError("neurobench is not installed (make install puts it in .venv)")
    use_harness = version is not None and implementation != "lmuneuro"
    net = None
    if artifact is not None:
        net = artifact if isinstance(artifact, FixedNetwork) else read_artifact(artifact)
        ck = source_checkpoint(checkpoint, artifact, net)
    else:
        ck = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    model = ck.model.eval()
    x, y = inputs_from(
        inputs,
        labels=labels,
        dataset=dataset,
        data_dir=data_dir,
        samples=samples,
        n_features=model.config.in_features,
    )
    x = np.ascontiguousarray(x, dtype=np.float32)
    with counting_synops(model) as paper:  # the LMU memory's taps, counted on the same passes
        figures = float_metrics(model, x, y, batch)
    if "MembraneUpdates" in figures:
        memory = {n for n, m in model.named_modules() if isinstance(m, LegendreMemory)}
        taps = sum(r["synops"] for r in paper(len(x))["layers"] if r["layer"] in memory)
        extensions = {"float": {"LMUMemory_ACs": taps}}
    else:  # real values: the memory's MACs in its recurrent form (the FFT hides them)
        macs = ann_macs(model.config.to_dict(), x.shape[1])["memory_recurrent_macs"]
        extensions = {"float": {"LMUMemory_MACs": float(macs)}}
    computed_by = {k: "lmuneuro" for k in figures}
    if use_harness:
        harness = harness_metrics(model, x, y, batch)
        for k in HARNESS_METRICS:
            if k in harness:
                figures[k] = harness[k]
                computed_by[k] = f"neurobench {version}"
    chip = None
    if net is not None:
        res = run_backend(net, x, "emulator", device=device, batch=batch)
        chip = chip_metrics(
            net, x, res.spike_counts, res.logits, y, net.meta.get("target", "loihi2")
        )
        chip["SynapticOperations"]["Dense"] = figures["SynapticOperations"]["Dense"]
        extensions["chip"] = chip_extensions(net, x, res.spike_counts)
    return BenchmarkReport(
        checkpoint="" if isinstance(checkpoint, Checkpoint) else str(checkpoint),
        artifact="" if artifact is None or isinstance(artifact, FixedNetwork) else str(artifact),
        samples=len(x),
        float_model=figures,
        computed_by=computed_by,
        extensions=extensions,
        chip=chip,
    )
