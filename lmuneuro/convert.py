"""Conversion: a trained spiking model -> its float graph -> a fixed-point ``FixedNetwork`` ->
an artifact file, checked against the target's resources.

Scheduling: a population's lag is the earliest hardware step at which every input it reads for
float time 0 has arrived: ``lag(p) = max over taps (lag(src) + 1 + offset)``; each tap then gets
the delay ``lag(p) - lag(src) - 1 - offset`` (>= 0). The k=3 convolutions look one frame ahead,
so every such hop adds a step; the LMU memory's taps are delays 0..127 from the input neuron.
"""

from __future__ import annotations

import hashlib

import numpy as np

from . import __version__
from .artifact import BOS, CLOCK, EOS, INPUT, FixedNetwork, FixedPopulation, FixedSynapses, write_artifact
from .checkpoint import load_checkpoint
from .fixedpoint import ACT_SHIFT, VTH_MANT_DEFAULT, decays, input_format, population_scale, quantize_weights
from .graph import Graph, from_model
from .profiles import Profile, load_profile

__all__ = ["quantize_graph", "map_to_cores", "convert", "ConversionError"]

# Inhibition: -255 << 7 activation units (a tap's 16-bit limit), about -2^21 state units per set:
# one set more than the taps that could excite at the same step, so nothing overcomes it.
_SILENCE_W, _SILENCE_EXP = -255, 7


def _silence(size: int, delays: list[int], sets: int) -> list[FixedSynapses]:
    w = np.full((len(delays), size, 1), _SILENCE_W, np.int16)
    exps = np.full(size, _SILENCE_EXP, np.int64)
    return [FixedSynapses(src, w, exps, np.array(delays, dtype=np.int64)) for src in sets]


def _input_frac_bits(graph: Graph, max_abs: float, bits: int, vth_mant: int, exp_range) -> int:
    """As many fraction bits as the input's range allows, but no more than keep every input
    synapse row's exponent within range (a small weight on a finely resolved input would round
    to nothing)."""
    frac = input_format(max_abs, bits)
    for p in graph.populations:
        for g in p.inputs:
            if g.src == INPUT:
                rows = np.abs(g.weights).max(axis=(0, 2)) * population_scale(p.v_th, vth_mant) / (p.tau * 2**ACT_SHIFT)
                smallest = rows[rows > 0].min()
                frac = min(frac, int(np.ceil(np.log2(smallest / 254))) - exp_range[0])
    return frac


def quantize_graph(graph: Graph, *, input_max_abs: float, input_bits: int = 16,
                   vth_mant: int = VTH_MANT_DEFAULT, exp_range=(-8, 7)) -> FixedNetwork:
    """The fixed-point network of ``graph``; ``input_max_abs`` bounds the features' magnitude."""
    frac = _input_frac_bits(graph, input_max_abs, input_bits, vth_mant, exp_range)
    lags = {INPUT: 0, CLOCK: 0, EOS: 0}
    pops = []
    for p in graph.populations:
        lag = max(lags[g.src] + 1 + max(g.offsets) for g in p.inputs if g.src != CLOCK)
        lags[p.name] = lag
        scale = population_scale(p.v_th, vth_mant)
        du, dv = decays(p.tau)
        groups = []
        for g in p.inputs:
            c = g.weights * scale / (p.tau * 2**ACT_SHIFT)
            if g.src == INPUT:
                c = c / 2.0**frac
            delays = np.array([lag - lags[g.src] - 1 - k for k in g.offsets], dtype=np.int64)
            q = quantize_weights(c, exp_range)
            groups.append(FixedSynapses(g.src, q.w_int, q.weight_exp, delays, q.rel_error))
        # Taps that look k > 0 frames ahead deliver real input at float times -k..-1: inhibit those
        # steps (bos, one spike at step 0), and everything from float time N on (eos).
        ahead = max(max(g.offsets) for g in p.inputs if g.src != CLOCK)
        sets = 1 + sum(int((np.array(g.offsets) > 0).sum()) for g in p.inputs)
        early = [lag - 1 - j for j in range(1, ahead + 1)]
        groups += _silence(p.size, early, [BOS] * sets) if early else []
        groups += _silence(p.size, [lag - 1], [EOS] * sets)
        pops.append(FixedPopulation(p.name, p.size, du, dv, vth_mant, lag, scale, groups))
    return FixedNetwork(graph.input_size, frac, input_bits, pops, graph.head_weight.astype(np.float32),
                        graph.head_bias.astype(np.float32))


class ConversionError(ValueError):
    """A model that cannot be converted for the target; one line naming the layer and the limit."""


def map_to_cores(net: FixedNetwork, profile: Profile) -> list[dict]:
    """Neurons, synapses and neuro-cores per population under the profile's per-core limits;
    ConversionError when the model needs more cores than the target has."""
    res = profile.resources
    rows, total = [], 0
    for p in net.populations:
        synapses = int(sum(np.asarray(g.w_int).size for g in p.inputs))
        cores = max(-(-p.size // res["neurons_per_core"]), -(-synapses // res["synapses_per_core"]))
        total += cores
        rows.append({"layer": p.name, "neurons": p.size, "synapses": synapses, "cores": cores, "lag": p.lag,
                     "weight_error": max((g.rel_error for g in p.inputs), default=0.0)})
    available = res["cores_per_chip"] * res["chips"]
    if total > available:
        worst = max(rows, key=lambda r: r["cores"])
        raise ConversionError(f"the model needs {total} neuro-cores, {profile.name} has {available} "
                              f"(largest: {worst['layer']} with {worst['neurons']} neurons, "
                              f"{worst['synapses']} synapses = {worst['cores']} cores)")
    return rows


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


DEFAULT_INPUT_RANGE = {"digits": 1.0, "kaldi-fbank": 2.0}


def convert(checkpoint, output, *, target: str = "loihi2", preset: str | None = None,
            input_range: float | None = None, vth_mant: int = VTH_MANT_DEFAULT) -> dict:
    """Checkpoint (native or reference) -> artifact at ``output``. Returns the conversion report."""
    ck = load_checkpoint(checkpoint, preset=preset)
    if not ck.config.spiking:
        raise ConversionError("only spiking models map onto Loihi's LIF neurons; this checkpoint is the non-spiking LMUFormer")
    profile = load_profile(target)
    if profile.kind != "neuromorphic":
        raise ConversionError(f"target {profile.name!r} is not a neuromorphic chip")
    prec = profile.precision
    if input_range is None:
        input_range = DEFAULT_INPUT_RANGE.get((ck.features or {}).get("kind"), 4.0)
    exp_range = (prec["weight_exp_min"], prec["weight_exp_max"])
    try:
        net = quantize_graph(from_model(ck.model), input_max_abs=input_range, vth_mant=vth_mant, exp_range=exp_range)
    except ValueError as e:
        raise ConversionError(str(e)) from None
    layers = map_to_cores(net, profile)
    net.meta = {"created_by": f"lmuneuro {__version__}", "source_sha256": _sha256(checkpoint),
                "source_format": ck.source_format, "preset": ck.preset, "target": profile.name,
                "quantization": {"vth_mant": vth_mant, "weight_exp_range": list(exp_range),
                                 "input_range": input_range, "input_bits": net.input_bits,
                                 "input_frac_bits": net.input_frac_bits, "lmu_mapping": "fir"},
                "classes": ck.classes, "features": ck.features, "delay_steps": net.delay,
                "cores": sum(r["cores"] for r in layers), "config": ck.config.to_dict()}
    write_artifact(output, net)
    return {"output": str(output), **net.meta, "layers": layers}
