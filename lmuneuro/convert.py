"""Conversion: a trained spiking model -> its float graph -> a fixed-point ``FixedNetwork`` ->
an artifact file, checked against the target's resources.

Scheduling: a population's lag is the earliest hardware step at which every input it reads for
float time 0 has arrived: ``lag(p) = max over taps (lag(src) + 1 + offset)``; each tap then gets
the delay ``lag(p) - lag(src) - 1 - offset`` (>= 0). The k=3 convolutions look one frame ahead,
so every such hop adds a step; the LMU memory's taps are delays 0..127 from the input neuron
(``fir`` mapping), or the memory is an integrator population one hop after it (``recurrent``).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from . import __version__
from .artifact import BOS, CLOCK, EOS, INPUT, FixedNetwork, FixedPopulation, FixedSynapses, fold_sets, write_artifact
from .checkpoint import load_checkpoint
from .fixedpoint import (ACT_SHIFT, STATE_MAX, VTH_MANT_DEFAULT, decays, input_format, memory_frac_bits,
                         memory_impulse_errors, population_scale, split_weights)
from .graph import LMU_MAPPINGS, Graph, Population, from_model
from .models.lmu import impulse_response
from .profiles import Profile, load_profile

__all__ = ["quantize_graph", "map_to_cores", "memory_mappings", "choose_mapping", "convert", "ConversionError"]

class _StateRange(ValueError):
    """A population's worst-case input does not fit the state at its threshold mantissa."""


def _drive(groups: list[FixedSynapses], size: int, graded: dict, taps) -> tuple[np.ndarray, np.ndarray]:
    """The largest positive and negative input per neuron (activation units) that the taps
    ``taps(g)`` (an index into g's taps) of ``groups`` can deliver in one step; ``graded``: the
    largest |payload| per neuron (n_src,) of each graded source."""
    pos, neg = np.zeros(size), np.zeros(size)
    for g in groups:
        w = np.asarray(g.w_int, np.float64)[taps(g)]
        if g.src in graded:  # payloads of either sign
            p = n = np.abs(w).sum(axis=0) @ graded[g.src]
        else:
            p, n = np.clip(w, 0, None).sum(axis=(0, 2)), -np.clip(w, None, 0).sum(axis=(0, 2))
        pos += np.floor(p * 2.0 ** g.weight_exp)
        neg += np.ceil(n * 2.0 ** g.weight_exp)
    return pos, neg


def _silence(groups: list[FixedSynapses], size: int, vth: int, graded: dict, src: str,
             delays: list[int], live) -> list[FixedSynapses]:
    """Inhibition from ``src`` at the given delays that keeps the population silent whatever its
    other groups deliver: per neuron, more than their largest possible positive sum plus the
    threshold (activation units), and little enough that u cannot wrap around 24 bits even when
    they deliver their largest negative sum in the same step (a wrapped u turns positive and
    fires). ``live(g)``: the taps of g that can deliver anything at those steps (a bool mask);
    the others read their source outside its sequence, where it is silent."""
    excite, inhibit = _drive(groups, size, graded, live)
    need = excite + vth + 1
    sets = int(np.ceil(need.max() / (255 * 2**7)))
    exps = np.clip(np.ceil(np.log2(need / (255 * sets))), -8, 7).astype(np.int64)
    w = -np.ceil(need / (sets * 2.0**exps)).astype(np.int16)  # sets * |w| * 2^exps: need, a little more
    if (sets * -w.astype(np.float64) * 2.0**exps + inhibit).max() * 2**ACT_SHIFT >= STATE_MAX:
        raise _StateRange(f"one step's input can reach {int(excite.max())} activation units (and -{int(inhibit.max())}), "
                          f"too much to be silenced within the 24-bit state even at threshold mantissa {vth}")
    taps = np.broadcast_to(w[None, :, None], (len(delays), size, 1)).copy()
    return [FixedSynapses(src, taps, exps, np.array(delays, dtype=np.int64)) for _ in range(sets)]


def _input_frac_bits(graph: Graph, max_abs: float, bits: int, vth_mant: int, exp_range, weight_sets: int) -> int:
    """Fraction bits of the graded input that balance its rounding against the weights' (a finely
    resolved input needs small weights, which the exponent floor resolves coarsely): the
    expected squared drive error ``|W|^2 (r^2 E[x^2] + 4^-frac / 12)`` for inputs uniform in
    +-max_abs, r the weights' relative error at that input format."""
    best = None
    for frac in range(input_format(max_abs, bits), -1, -1):
        err = 0.0
        for p in graph.populations:
            for g in p.inputs:
                if g.src == INPUT:
                    c = g.weights * population_scale(p.v_th, vth_mant) / (p.tau * 2**ACT_SHIFT * 2.0**frac)
                    try:
                        r = split_weights(c, exp_range, weight_sets)[0].rel_error
                    except ValueError:  # beyond the largest exponent: coarser inputs only get worse
                        return best[1]
                    err += float(np.sum(g.weights**2)) * (r**2 * max_abs**2 / 3 + 4.0**-frac / 12)
        if best is None or err < best[0]:
            best = (err, frac)
    return best[1]


def _quantized(name: str, inputs, c, lags: dict, exp_range, weight_sets: int) -> list[FixedSynapses]:
    """The synapse groups of population ``name`` for its graph ``inputs`` at the float targets
    ``c(g)`` (activation units per payload unit), each tap delayed to arrive at its float time."""
    out = []
    for g in inputs:
        delays = np.array([lags[name] - lags[g.src] - 1 - k for k in g.offsets], dtype=np.int64)
        out += [FixedSynapses(g.src, q.w_int, q.weight_exp, delays, q.rel_error)
                for q in split_weights(c(g), exp_range, weight_sets)]
    return out


def _integrator(p: Population, lags: dict, exp_range, weight_sets: int) -> tuple[FixedPopulation, int, np.ndarray]:
    """The recurrent LMU memory: state m 2^f (``fixedpoint.memory_frac_bits`` over the graph's
    horizon), B 2^f from the input neuron and A - I from itself, each as ``weight_sets`` 8-bit sets.
    Returns the population, f and the largest |m| per neuron over twice the horizon (a sequence of
    the trained length, then up to as many steps of pipeline tail): with Aq, Bq the quantised
    matrices and the two floors per step losing less than 2 units,
    ``|m_i| <= sum_k |(Aq^k Bq)_i| + 2 sum_k ||(Aq^k)_i||_1``; f is lowered until that fits 24 bits."""
    (own,) = [g for g in p.inputs if g.src == p.name]
    (drive,) = [g for g in p.inputs if g.src != p.name]
    b = drive.weights[0]
    h = impulse_response(torch.from_numpy(own.weights[0] + np.eye(p.size)), torch.from_numpy(b), p.horizon).numpy()

    def value(groups):  # the quantised matrix: the sets folded, times 2^e_min
        w, e_min = fold_sets(groups)
        return w[0] * np.exp2(e_min)[:, None]

    own_groups = _quantized(p.name, [own], lambda g: g.weights, lags, exp_range, weight_sets)  # f-independent
    aq = value(own_groups) + np.eye(p.size)
    drift, power = np.zeros(p.size), np.eye(p.size)
    for _ in range(2 * p.horizon):  # the sequence, and the pipeline's tail after it, where m runs on
        drift += 2 * np.abs(power).sum(axis=1)
        power = aq @ power
    f = memory_frac_bits(h, b, exp_range)
    while True:
        drive_groups = _quantized(p.name, [drive], lambda g: g.weights * 2.0**f, lags, exp_range, weight_sets)
        bq = value(drive_groups)
        bound, col = drift.copy(), bq
        for _ in range(2 * p.horizon):
            bound += np.abs(col).ravel()
            col = aq @ col
        if bound.max() < STATE_MAX:
            a_in = np.abs(aq - np.eye(p.size)) @ bound + np.abs(bq).sum(axis=1) + 2
            if a_in.max() >= 2**31:  # Lava's port into the integrator is 32-bit
                raise ValueError(f"the memory's input per step can reach {a_in.max():.3g}, beyond 32 bits")
            return FixedPopulation(p.name, p.size, 0, 0, 0, lags[p.name], 2.0**f, drive_groups + own_groups,
                                   kind="integrator"), f, bound
        f -= 1


def _population(p, lags: dict, fracs: dict, graded: dict, vth_mant: int, exp_range, weight_sets: int) -> FixedPopulation:
    """A LIF population; ``fracs``: the fraction bits of each graded source's payload, ``graded``:
    its largest |payload| per neuron."""
    lag = lags[p.name]
    scale = population_scale(p.v_th, vth_mant)
    groups = _quantized(p.name, p.inputs, lambda g: g.weights * scale / (p.tau * 2**ACT_SHIFT * 2.0 ** fracs.get(g.src, 0)),
                        lags, exp_range, weight_sets)
    # Inside the sequence every tap delivers at once: its largest positive sum must fit the state.
    widest = _drive(groups, p.size, graded, lambda g: slice(None))[0].max()
    if (widest + vth_mant + 2**7) * 2**ACT_SHIFT >= STATE_MAX:
        raise _StateRange(f"one step's input can reach {int(widest)} activation units, beyond the 24-bit state "
                          f"at threshold mantissa {vth_mant}")
    # Taps that look k > 0 frames ahead deliver real input at float times -k..-1: inhibit those
    # steps (bos, one spike at step 0), where only taps reading j or more frames ahead see the
    # sequence at -j (the clock's biases start at 0); and everything from float time N on (eos),
    # where the taps reading back, the biases and integrators (which keep their state) still deliver.
    ahead = max(max(g.offsets) for g in p.inputs if g.src != CLOCK)
    real = list(groups)

    def offsets(g):
        return lag - lags[g.src] - 1 - np.asarray(g.delays)

    if ahead:
        groups += _silence(real, p.size, vth_mant, graded, BOS, [lag - 1 - j for j in range(1, ahead + 1)],
                           lambda g: (offsets(g) >= 1) & (g.src != CLOCK))
    groups += _silence(real, p.size, vth_mant, graded, EOS, [lag - 1],
                       lambda g: (offsets(g) <= -1) | (g.src == CLOCK) | (g.src in graded and g.src != INPUT))
    return FixedPopulation(p.name, p.size, *decays(p.tau), vth_mant, lag, scale, groups)


def quantize_graph(graph: Graph, *, input_max_abs: float, input_bits: int = 16,
                   vth_mant: int = VTH_MANT_DEFAULT, exp_range=(-8, 7), weight_sets: int = 2) -> FixedNetwork:
    """The fixed-point network of ``graph``; ``input_max_abs`` bounds the features' magnitude;
    every weight is the sum of up to ``weight_sets`` 8-bit synapse sets (``split_weights``).
    ``vth_mant`` is the finest state resolution tried: a population whose largest possible input
    in one step would not fit the 24-bit state at that scale gets a smaller one (halving)."""
    frac = _input_frac_bits(graph, input_max_abs, input_bits, vth_mant, exp_range, weight_sets)
    fracs = {INPUT: frac}
    graded = {INPUT: np.full(graph.input_size, float(np.ceil(input_max_abs * 2**frac)))}
    lags = {INPUT: 0, CLOCK: 0, EOS: 0}
    pops = []
    for p in graph.populations:
        lags[p.name] = max(lags[g.src] + 1 + max(g.offsets) for g in p.inputs if g.src not in (CLOCK, p.name))
        if p.kind == "integrator":
            pop, fracs[p.name], graded[p.name] = _integrator(p, lags, exp_range, weight_sets)
            pops.append(pop)
            continue
        mant = vth_mant
        while True:
            try:
                pops.append(_population(p, lags, fracs, graded, mant, exp_range, weight_sets))
                break
            except _StateRange as e:
                if mant <= 64:
                    raise ValueError(f"layer {p.name}: {e}") from None
                mant //= 2
            except ValueError as e:
                raise ValueError(f"layer {p.name}: {e}") from None
    return FixedNetwork(graph.input_size, frac, input_bits, pops, graph.head_weight.astype(np.float32),
                        graph.head_bias.astype(np.float32))


class ConversionError(ValueError):
    """A model that cannot be converted for the target; one line naming the layer and the limit."""


def map_to_cores(net: FixedNetwork, profile: Profile) -> list[dict]:
    """Neurons, synapses and neuro-cores per population under the profile's per-core limits;
    ConversionError, naming the largest layer and the limit, when the model needs more cores,
    neurons or synapses than the target has."""
    res = profile.resources
    rows = []
    for p in net.populations:
        synapses = int(sum(np.asarray(g.w_int).size for g in p.inputs))
        cores = max(-(-p.size // res["neurons_per_core"]), -(-synapses // res["synapses_per_core"]))
        rows.append({"layer": p.name, "kind": p.kind, "neurons": p.size, "synapses": synapses, "cores": cores, "lag": p.lag, "vth_mant": p.vth,
                     "weight_error": max((g.rel_error for g in p.inputs), default=0.0)})
    for key, limit, what in (("cores", "cores_per_chip", "neuro-cores"), ("neurons", "neurons_per_chip", "neurons"),
                             ("synapses", "synapses_per_chip", "synapses")):
        total, available = sum(r[key] for r in rows), res[limit] * res["chips"]
        if total > available:
            worst = max(rows, key=lambda r: r[key])
            raise ConversionError(f"the model needs {total:,} {what}, {profile.name} has {available:,} "
                                  f"({res['chips']} chip(s) x {limit} {res[limit]:,}; largest: layer {worst['layer']} "
                                  f"with {worst['neurons']:,} neurons, {worst['synapses']:,} synapses = {worst['cores']} cores)")
    return rows


def memory_mappings(model, exp_range=(-8, 7), weight_sets: int = 2) -> list[dict]:
    """Each LMU memory's impulse-response error under the FIR and the recurrent mapping
    (``fixedpoint.memory_impulse_errors``, over the taps the graph uses)."""
    rows = []
    for b, blk in enumerate(model.block):
        mem = blk.attn.lmu.memory
        e = memory_impulse_errors(mem.A.double().numpy(), mem.B.double().numpy(), mem.H.double().numpy(),
                                  exp_range, weight_sets)
        rows.append({"layer": f"block.{b}.attn.lmu.memory", "taps": int(mem.H.shape[1]), "frac_bits": e["frac_bits"],
                     "impulse_response_error": {"fir": e["fir"], "recurrent": e["recurrent"]}})
    return rows


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


DEFAULT_INPUT_RANGE = {"digits": 1.0, "kaldi-fbank": 2.0}


def choose_mapping(memory: list[dict], requested: str = "auto") -> str:
    """``requested``, or for ``auto`` the mapping whose worst impulse-response error over the
    model's memories is the smaller (FIR on every preset, docs/fixed-point.md)."""
    if requested != "auto":
        if requested not in LMU_MAPPINGS:
            raise ConversionError(f"unknown LMU mapping {requested!r}; choose auto or one of {', '.join(LMU_MAPPINGS)}")
        return requested
    return min(LMU_MAPPINGS, key=lambda m: max((r["impulse_response_error"][m] for r in memory), default=0.0))


def convert(checkpoint, output, *, target: str = "loihi2", preset: str | None = None,
            input_range: float | None = None, vth_mant: int = VTH_MANT_DEFAULT, weight_sets: int = 2,
            lmu_mapping: str = "auto") -> dict:
    """Checkpoint (native or reference) -> artifact at ``output``. Returns the conversion report.
    ``lmu_mapping``: ``fir``, ``recurrent`` or ``auto`` (``choose_mapping``)."""
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
    if not 0 < vth_mant < 2 ** prec["vth_mant_bits"]:
        raise ConversionError(f"threshold mantissa {vth_mant} is outside {profile.name}'s vth_mant_bits "
                              f"{prec['vth_mant_bits']} (1..{2 ** prec['vth_mant_bits'] - 1})")
    memory = memory_mappings(ck.model, exp_range, weight_sets)
    mapping = choose_mapping(memory, lmu_mapping)
    try:
        net = quantize_graph(from_model(ck.model, lmu_mapping=mapping), input_max_abs=input_range, vth_mant=vth_mant,
                             exp_range=exp_range, weight_sets=weight_sets)
    except ValueError as e:
        if mapping == "recurrent":  # its coarse memory is the likely cause: say so
            worst = max(r["impulse_response_error"]["recurrent"] for r in memory)
            raise ConversionError(f"{e} (with the recurrent LMU mapping, impulse-response error up to {worst:.2g}; "
                                  "--lmu-mapping fir holds the memory exactly)") from None
        raise ConversionError(str(e)) from None
    layers = map_to_cores(net, profile)
    net.meta = {"created_by": f"lmuneuro {__version__}", "source_sha256": _sha256(checkpoint),
                "source_format": ck.source_format, "preset": ck.preset, "target": profile.name,
                "quantization": {"vth_mant": vth_mant, "weight_exp_range": list(exp_range),
                                 "input_range": input_range, "input_bits": net.input_bits,
                                 "input_frac_bits": net.input_frac_bits, "weight_sets": weight_sets,
                                 "lmu_mapping": mapping},
                "classes": ck.classes, "features": ck.features, "delay_steps": net.delay,
                "cores": sum(r["cores"] for r in layers), "config": ck.config.to_dict(),
                "memory": memory}
    write_artifact(output, net)
    return {"output": str(output), **net.meta, "layers": layers}
