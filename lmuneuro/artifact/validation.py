"""The network checked against Lava's processes and the recorded number formats (whether sums fit
the chip's widths is ``compile.limits``), and the conversion record against the network."""

from __future__ import annotations

import re

import numpy as np

from ..files import read_budget
from ..fixedpoint import input_limit
from ..formats import Formats
from ..loihi import check_formats, decay, lava_weights
from .network import (
    GATE,
    GATE_KINDS,
    INPUT,
    KINDS,
    FixedNetwork,
    Layer,
    LifNeurons,
    Neurons,
    Relay,
    Synapse,
    Term,
)


class ArtifactError(ValueError):
    """An artifact that cannot be used; one line naming the file and the problem."""


# the characters convert's names use (module paths, ``.line``, ``.delay63``): nothing that a
# terminal interprets, short enough for one line
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,199}")


def check_name(v, what: str) -> str:
    """``v``, if it is a name lmuneuro writes (``NAME``); else an ArtifactError naming ``what``."""
    if not isinstance(v, str) or not NAME.fullmatch(v):
        shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:40] + "..."
        raise ArtifactError(
            f"{what} {shown} is not a name lmuneuro writes (at most 200 of A-Z a-z 0-9 _ . : + -)"
        )
    return v


def _alike(p: LifNeurons, fmt: Formats) -> str | None:
    """Why, if at all, a LIF population would make the emulator's samples differ from Lava's: the
    emulator runs every sample from the run's initial state, Lava each after the one before. They
    agree where nothing a population holds from before its window can fire it: u holds one step's
    input (du 4095), a layer's ``v_init`` keeps its bias from firing it at the run's first step
    (the gate's first inhibition arrives one step later; ``limits`` checks that the gate silences
    it at every other step outside its window, and that it empties each relay line), and a relay
    is convert's memoryless copy (any v it keeps is gone two steps later)."""
    unity = 2**fmt.decay_bits
    if p.du != unity - 1:
        return f"du {p.du}: u must hold one step's input (du {unity - 1})"
    if isinstance(p, Relay):
        if (p.dv, p.vth, p.v_init) != (unity - 1, 0, 0) or np.any(p.bias_mant):
            return f"a relay is dv {unity - 1}, vth 0, v_init 0 and no bias"
        return None
    first = float(decay(p.v_init, unity - p.dv, fmt)) + p.bias.max()
    if first > p.vth * 2**fmt.vth_shift:
        return (
            f"v_init {p.v_init} lets its bias fire it at a run's first step, before the gate "
            "arrives"
        )
    return None


def _finite(a, positive: bool = False) -> bool:
    a = np.asarray(a, np.float64)
    return bool(np.isfinite(a).all() and (not positive or (a > 0).all()))


def validate(net: FixedNetwork, where: str = "artifact") -> None:
    """Shapes, sources, order and ranges consistent with Lava's processes and the recorded number
    formats, else one-line ArtifactError. (Whether sums fit the chip's widths is ``limits``.)"""
    try:
        check_formats(net.formats)  # every width below is then Lava's, or a stricter one
    except ValueError as e:
        raise ArtifactError(f"{where}: {e}") from None
    _check_sources(net, where)
    sizes = {INPUT: net.input_channels, GATE: len(net.gate_channels)}
    order = {}
    for i, p in enumerate(net.populations):
        if p.name in sizes:
            raise ArtifactError(f"{where}: population name {p.name!r} is used twice")
        _check_population(p, net, f"{where}: {p.name}")
        sizes[p.name], order[p.name] = p.size, i
    for s in net.synapses:
        _check_synapse(s, sizes, order, net.formats, f"{where}: synapse {s.name}")
    _check_readout(net, where)
    _check_meta(net, where)


def _lag_max(net: FixedNetwork) -> int:
    """A layer's lag is at most one hop (a step, a delay, a look-ahead within it) per population
    after its sources': a larger one only lengthens every sample's period."""
    return len(net.populations) * (net.formats.delay_max + 2)


def _check_sources(net: FixedNetwork, where: str) -> None:
    """The host's two sources: the input's graded spikes and the gate's channels."""
    fmt = net.formats
    if (
        not 0 < net.input_bits <= fmt.message_bits_max
        or abs(net.input_frac_bits) > 64  # features as fine as 2^-64 or as coarse as 2^64
        or net.input_size < 1
        or not 0 < net.input_max < 2 ** (net.input_bits - 1)
    ):
        raise ArtifactError(
            f"{where}: input of {net.input_size} features in {net.input_bits} bits "
            f"({net.input_frac_bits} fractional) does not fit graded spikes of "
            f"{fmt.message_bits_max} bits"
        )
    lag_max = _lag_max(net)
    for lag, kind in net.gate_channels:
        if kind not in GATE_KINDS or not 0 <= lag <= lag_max:
            raise ArtifactError(
                f"{where}: gate channel ({lag}, {kind[:20]!r}) is not one of {GATE_KINDS} at a "
                f"step in [0, {lag_max}]"
            )
    if len(set(net.gate_channels)) < len(net.gate_channels):
        raise ArtifactError(f"{where}: the gate declares a channel twice")


def _check_population(p: Neurons, net: FixedNetwork, where: str) -> None:
    """One population: its kind, lag, scale and (a LIF's) neuron parameters."""
    fmt, lag_max = net.formats, _lag_max(net)
    if type(p) not in KINDS.values():
        raise ArtifactError(f"{where}: {type(p).__name__} is not a Layer, Relay or Term")
    if p.lag is not None and not 1 <= p.lag <= lag_max:
        raise ArtifactError(
            f"{where}: lag {p.lag} outside [1, {lag_max}] ({len(net.populations)} "
            f"populations of at most {fmt.delay_max + 2} steps each)"
        )
    scale = p.state_scale if isinstance(p, Layer) else p.payload_scale if isinstance(p, Term) else 1
    if not _finite(scale, positive=True):
        raise ArtifactError(f"{where}: scale {scale} is not positive and finite")
    bad = p.size < 1
    if isinstance(p, LifNeurons):
        unity = 2**fmt.decay_bits
        bm, be = np.asarray(p.bias_mant), np.asarray(p.bias_exp)
        bad = bad or (
            not (0 <= p.du < unity and 0 <= p.dv < unity and 0 <= p.vth < 2**fmt.vth_mant_bits)
            or bm.shape != (p.size,)
            or be.shape != (p.size,)
            or np.abs(bm).max() > fmt.bias_mant_max
            or be.min() < 0
            or be.max() > fmt.bias_exp_max
            or abs(p.v_init) >= fmt.state_max
        )
    if bad:
        raise ArtifactError(f"{where}: neuron parameters outside Loihi's ranges")
    why = _alike(p, fmt) if isinstance(p, LifNeurons) else None
    if why:
        raise ArtifactError(
            f"{where}: {why}; lmuneuro's backends agree only on what convert builds"
        )


def _check_synapse(s: Synapse, sizes: dict, order: dict, fmt: Formats, where: str) -> None:
    """One synapse process: its source defined before its target (``sizes``: every source so far;
    ``order``: each population's index), its weights, exponent and delay."""
    if s.dst not in order or s.src not in sizes or order.get(s.src, -1) > order[s.dst]:
        raise ArtifactError(
            f"{where} connects {s.src!r} to {s.dst!r}: not defined, or read before it is defined"
        )
    w = np.asarray(s.weights)
    if w.ndim != 2 or w.shape != (sizes[s.dst], sizes[s.src]):
        raise ArtifactError(
            f"{where}: weights {w.shape} do not fit {sizes[s.dst]} x {sizes[s.src]} neurons"
        )
    if s.src == GATE and (w > 0).any():
        raise ArtifactError(
            f"{where}: the gate only inhibits; a positive weight would excite its target outside "
            "its window"
        )
    if not np.array_equal(lava_weights(w), w):
        raise ArtifactError(f"{where}: weights are not 8-bit values as Lava uses them")
    if not _finite(s.rel_error) or s.rel_error < 0:
        raise ArtifactError(f"{where}: relative error {s.rel_error} is not finite and >= 0")
    if not (
        fmt.weight_exp_min <= s.weight_exp <= fmt.weight_exp_max and 0 <= s.delay <= fmt.delay_max
    ):
        raise ArtifactError(
            f"{where}: weight_exp {s.weight_exp} or delay {s.delay} outside "
            f"[{fmt.weight_exp_min}, {fmt.weight_exp_max}] and [0, {fmt.delay_max}]"
        )


def _check_readout(net: FixedNetwork, where: str) -> None:
    """The float head: its shape fits the read-out layer, which is the last layer."""
    readout = next((p for p in net.populations if p.name == net.readout), None)
    if (
        readout is None
        or not isinstance(readout, Layer)
        or np.asarray(net.head_weight).ndim != 2
        or net.head_weight.shape[1] != readout.size
        or np.shape(net.head_bias) != net.head_weight.shape[:1]
        or len(net.head_bias) < 1
    ):
        raise ArtifactError(
            f"{where}: the read-out (head {np.shape(net.head_weight)}) does not fit its layer "
            f"{net.readout!r}"
        )
    if not (_finite(net.head_weight) and _finite(net.head_bias)):
        raise ArtifactError(f"{where}: the read-out head holds weights that are not finite")
    if max(p.lag for p in net.layers) != readout.lag:
        raise ArtifactError(f"{where}: the read-out layer {net.readout!r} is not the last")


FRAME_SHIFT_MAX_MS = 3_600_000.0  # an hour per frame: the static energy stays finite


def _check_meta(net: FixedNetwork, where: str) -> None:
    """The conversion record (not checksummed: anyone may edit it) as the reports use it: the
    features' frame shift, the target's name, the classes and the model's config, which energy
    builds to count its MACs and must therefore be bounded by the network the file holds."""
    meta = net.meta
    features = meta.get("features")
    if features is None:  # a checkpoint saved without its features' record (convert writes null)
        features = {}
    if not isinstance(features, dict):
        raise ArtifactError(f"{where}: meta: features is not a mapping")
    frame = features.get("frame_shift_ms")
    if frame is not None and not (
        isinstance(frame, (int, float))
        and not isinstance(frame, bool)
        and 0 < frame <= FRAME_SHIFT_MAX_MS
    ):  # NaN fails it too
        raise ArtifactError(
            f"{where}: meta: frame shift {str(frame)[:20]} ms is not in "
            f"(0, {FRAME_SHIFT_MAX_MS:,.0f}]"
        )
    if "target" in meta:
        check_name(meta["target"], "meta: target")
    classes = meta.get("classes")
    if classes not in (None, []) and not (  # [] or null: a checkpoint saved without class names
        isinstance(classes, list)
        and len(classes) == len(net.head_bias)
        and all(isinstance(c, str) and c.isprintable() and len(c) <= 100 for c in classes)
    ):
        raise ArtifactError(
            f"{where}: meta: classes are not {len(net.head_bias)} printable names of at most 100 "
            "characters"
        )
    if "config" in meta:
        why = _config_misfit(meta["config"], net)
        if why:
            raise ArtifactError(f"{where}: meta: the model config {why}")
    if "calibration" in meta:  # only calibrated conversions record one
        why = _calibration_misfit(meta["calibration"], net)
        if why:
            raise ArtifactError(f"{where}: meta: {why}")


def _calibration_misfit(record, net: FixedNetwork) -> str | None:
    """Why a calibration record (``calibrate.Calibration``) cannot be the network's, or None: its
    fields, the layers it reports and the input range, which must be the one the network clips
    its input to."""
    from ..compile.calibrate import Calibration

    try:
        c = Calibration.from_dict(record)
    except ValueError as e:
        return str(e)
    unknown = {r.layer for r in c.layers} - {p.name for p in net.layers}
    if unknown:
        return f"calibration reports {sorted(unknown)[0][:100]!r}, not a layer of the network"
    if input_limit(c.input_range, net.input_frac_bits, net.input_bits) != net.input_max:
        return (
            f"calibration's input range {c.input_range:g} is not the network's (payloads up to "
            f"{net.input_max} in {net.input_frac_bits} fraction bits)"
        )
    return None


def _config_misfit(config, net: FixedNetwork) -> str | None:
    """Why the model config cannot be the network's source, or None. Its widths are populations of
    the network, its channel mixers and output projections weights the file stores (each float
    weight is at least one stored 8-bit weight), and its LMU buffers within the read budget: the
    float model energy builds from it is then bounded by the file's own size."""
    from ..models.config import ModelConfig

    try:
        cfg = ModelConfig.from_dict(config)
    except (TypeError, ValueError) as e:
        return f"is not one ({(str(e) or type(e).__name__).splitlines()[0][:120]})"
    widest = max(p.size for p in net.populations)
    stored = sum(np.asarray(s.weights).size for s in net.synapses)
    d, hidden, m = cfg.dim, int(cfg.dim * cfg.mlp_ratio), cfg.memory_size
    buffers = 24 * cfg.depth * m * (m + 2 * cfg.seq_len)  # A, H and fft_H, built in float64
    if (cfg.in_features, cfg.num_classes) != (net.input_size, len(net.head_bias)):
        return (
            f"declares {cfg.in_features} features and {cfg.num_classes} classes; the network has "
            f"{net.input_size} and {len(net.head_bias)}"
        )
    # the float model's weights, counted generously (every convolution of the embedding d wide)
    weights = (cfg.in_features + cfg.embed_layers * d) * d * cfg.kernel_size
    weights += cfg.depth * 2 * d * (hidden + d + m) + cfg.num_classes * d
    if max(d, hidden, m) > widest or weights > 4 * stored + np.size(net.head_weight):
        return (
            f"(dim {d}, hidden {hidden}, memory {m}, depth {cfg.depth}: {weights:,} weights) is "
            f"larger than the network ({widest:,} neurons in its widest population, {stored:,} "
            "weights)"
        )
    if buffers > read_budget():
        return f"declares LMU buffers of {buffers / 2**20:,.0f} MiB, more than the read budget"
    return None
