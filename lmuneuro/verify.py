"""Float model vs fixed-point emulator on the same inputs: agreement, accuracy, per-layer spikes and
synaptic operations (both counted by ``backends.activity`` from spikes per neuron); an integrator
(the recurrent LMU memory) by its state's error against the float memory fed the same spikes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .artifact import read_artifact
from .backends import activity
from .checkpoint import load_checkpoint
from .convert import _sha256
from .data import get_dataset
from .emulator import run
from .files import read_arrays
from .fixedpoint import quantize_input
from .graph import from_model, respond
from .models import stack_records

__all__ = ["verify", "load_inputs"]


def load_inputs(*, dataset: str | None, inputs: str | None, data_dir=None, samples: int | None,
                n_features: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(x (samples, steps, features) float32, labels or None) from a dataset's test split or a .npy."""
    if (dataset is None) == (inputs is None):
        raise ValueError("give exactly one of --dataset or --inputs")
    if inputs is not None:
        x = read_arrays(inputs)
        if x.ndim != 3 or x.shape[2] != n_features or not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"{inputs}: expected a float array (samples, steps, {n_features}), got {x.dtype} {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{inputs}: contains NaN or Inf")
        return x[:samples].astype(np.float32), None
    ds = get_dataset(dataset, "test", data_dir=data_dir)
    n = len(ds) if samples is None else min(samples, len(ds))
    items = [ds[i] for i in range(n)]
    x = torch.stack([a for a, _ in items]).numpy()
    if x.shape[2] != n_features:
        raise ValueError(f"dataset {dataset!r} has {x.shape[2]} features per step, the model takes {n_features}")
    return x, np.array([int(b) for _, b in items])


def verify(checkpoint, artifact, *, dataset=None, inputs=None, data_dir=None, samples=None, batch=64) -> dict:
    net = read_artifact(artifact)
    if net.meta.get("source_sha256") != _sha256(checkpoint):
        raise ValueError(f"{artifact} was converted from another checkpoint than {checkpoint}")
    model = load_checkpoint(checkpoint).model
    x, y = load_inputs(dataset=dataset, inputs=inputs, data_dir=data_dir, samples=samples,
                       n_features=model.config.in_features)
    names = [p.name for p in net.populations if p.kind == "lif"]
    integrators = [p for p in net.populations if p.kind == "integrator"]
    graph = from_model(model, lmu_mapping="recurrent") if integrators else None
    state_err = {p.name: np.zeros(3) for p in integrators}  # squared error, squared norm, wraps
    float_pred, fixed_pred = [], []
    counts = {n: np.zeros(5) for n in names}  # float spikes, fixed spikes, mismatches, a_in saturated, u wrapped
    per_neuron = {k: {p.name: [] for p in net.populations} for k in ("float", "fixed")}
    first = None
    for lo in range(0, len(x), batch):
        xb = x[lo:lo + batch]
        with torch.no_grad(), model.recording() as rec:
            float_pred.append(model(torch.from_numpy(xb)).argmax(-1).numpy())
        f_spikes = {n: s.numpy() > 0 for n, (s, _) in stack_records(rec).items()}
        res = run(net, xb, record=True)
        fixed_pred.append(res.logits.argmax(-1))
        for n in names:
            a, b = f_spikes[n], res.spikes[n]
            counts[n] += [a.sum(), b.sum(), (a != b).sum(), res.saturated[n], res.wrapped[n]]
            per_neuron["float"][n].append(a.sum(axis=1))
            per_neuron["fixed"][n].append(res.spike_counts[n])
            if first is None and (a != b).any():
                s, t, k = (int(v[0]) for v in np.nonzero(a != b))
                first = {"layer": n, "sample": lo + s, "step": t, "neuron": k}
        for p in integrators:
            m = respond(graph.population(p.name), res.spikes, xb)  # its own error, not its input's
            state_err[p.name] += [np.sum((res.spikes[p.name] / p.scale - m) ** 2), np.sum(m**2), res.wrapped[p.name]]
            per_neuron["float"][p.name].append(res.spike_counts[p.name])  # messages: not a float-model quantity
            per_neuron["fixed"][p.name].append(res.spike_counts[p.name])
    float_pred, fixed_pred = np.concatenate(float_pred), np.concatenate(fixed_pred)
    steps = x.shape[1]
    events = {k: activity(net, x, {n: np.concatenate(c) for n, c in v.items()})["layers"] for k, v in per_neuron.items()}
    layers = []
    for p, ev_float, ev_fixed in zip(net.populations, events["float"], events["fixed"]):
        synops = {"synops_float": ev_float["synaptic_events"] + ev_float["graded_events"],
                  "synops_fixed": ev_fixed["synaptic_events"] + ev_fixed["graded_events"]}
        if p.kind == "integrator":
            err, norm, wraps = state_err[p.name]
            layers.append({"layer": p.name, "kind": p.kind, "state_error": float(np.sqrt(err / norm)) if norm else 0.0,
                           "weight_error": max(g.rel_error for g in p.inputs), "a_in_saturated": 0,
                           "u_wrapped": int(wraps), **synops})
            continue
        total = len(x) * steps * p.size
        f, q, mis, saturated, wrapped = counts[p.name]
        layers.append({"layer": p.name, "kind": p.kind, "rate_float": f / total, "rate_fixed": q / total,
                       "mismatch": mis / total, "weight_error": max(g.rel_error for g in p.inputs),
                       "a_in_saturated": int(saturated), "u_wrapped": int(wrapped), **synops})
    report = {"checkpoint": str(checkpoint), "artifact": str(artifact), "samples": int(len(x)),
              "inputs_clipped": quantize_input(x, net.input_frac_bits, net.input_bits)[1],
              "agreement": float((float_pred == fixed_pred).mean()), "first_divergence": first,
              "delay_steps": net.delay, "layers": layers}
    if y is not None:
        report["accuracy_float"] = float((float_pred == y).mean())
        report["accuracy_fixed"] = float((fixed_pred == y).mean())
    return report
