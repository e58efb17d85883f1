"""Conversion: a trained spiking model -> its float graph -> a network of Lava's standard chip
processes (``FixedNetwork``) -> an artifact file, held to the target's limits.

Scheduling: a layer's lag is the earliest hardware step at which every input it reads for float
time 0 has arrived: ``lag(p) = max over taps (lag(src) + 1 + offset)``; each tap then gets the
delay ``lag(p) - lag(src) - 1 - offset`` (>= 0). The k=3 convolutions look one frame ahead, so
every such hop adds a step.

Realisation: a tap is one synapse process (``Dense`` at delay 0, else ``DelayDense``), per weight
set and exponent class. A delay beyond the chip's ``delay_max`` goes through relay populations
(copies of the source ``delay_max + 1`` steps later each). A group of many taps from one source
(the LMU memory's impulse response, 128 taps from one neuron) becomes a relay line, a ``LIF``
population in which neuron ``(j - 1) * n + i`` fires j steps after source neuron i, read by one
process whose columns are the taps; the gate empties the line when its source has finished a
sample.

Scaling: each layer gets the largest threshold mantissa (finest state resolution, at most
``vth_mant``) at which every process's output and the layer's a_in fit ``activation_bits``
(``limits``), its biases fit the bias mantissa and the inhibition that silences it outside its
window fits the weights: halving the mantissa halves every input in activation units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

from ..artifact import (
    GATE,
    INPUT,
    FixedNetwork,
    Layer,
    ModelOps,
    Neurons,
    Relay,
    Synapse,
    Term,
    write_artifact,
)
from ..checkpoint import CheckpointError, load_checkpoint
from ..files import check_output, sha256
from ..fixedpoint import (
    LAVA,
    VTH_MANT_DEFAULT,
    Formats,
    decays,
    input_format,
    input_limit,
    population_scale,
    quantize_bias,
    split_rows,
    split_weights,
)
from ..loihi import decay
from ..profiles import Profile, load_profile
from ..version import __version__
from . import LMU_MAPPINGS, RESIDUALS
from .graph import Graph, Population, fold, from_model
from .limits import (
    a_out_range,
    graded_parts,
    input_payload,
    offset_classes,
    regions,
    resources,
    violations,
)
from .settings import Settings

__all__ = [
    "quantize_graph",
    "map_to_cores",
    "model_layers",
    "convert",
    "ConversionReport",
    "resolve_settings",
    "compile_model",
    "Compiled",
    "Settings",
    "ConversionError",
    "LINE_TAPS",
    "VTH_MANT_MIN",
    "LMU_MAPPINGS",
    "RESIDUALS",
]

LINE_TAPS = (
    4  # a group of this many taps or more from one source reads a relay line: fewer processes
)
VTH_MANT_MIN = 64  # below this a layer's state is too coarse to be worth converting


class ConversionError(ValueError):
    """A model that cannot be converted for the target; one line naming the layer and the limit."""


class _Scale(ValueError):
    """A layer does not fit the target's widths at this threshold mantissa: try one at most
    ``shrink`` times as large (every input in activation units scales with it)."""

    def __init__(self, message: str, shrink: float = 0.5):
        super().__init__(message)
        self.shrink = shrink


@dataclass
class _Conn:
    """One process-to-be: ``weights`` (n_dst, n_src) in float input per unit of source signal."""

    src: str  # a layer, a relay or INPUT
    delay: int
    weights: np.ndarray
    offset: int  # where its deliveries start relative to the reader's window (``limits.regions``)


def _relay_neurons(name: str, size: int, fmt: Formats) -> Relay:
    """A relay: no memory of u or v, threshold 0, so one unit of input fires it and nothing else
    does."""
    unity = 2**fmt.decay_bits
    zeros = np.zeros(size, np.int64)
    return Relay(name, size, unity - 1, unity - 1, 0, zeros, zeros, 0)


def _wiring(
    src: str, dst: str, rows: np.ndarray, cols: np.ndarray, shape: tuple, delay: int, w: int
) -> Synapse:
    weights = np.zeros(shape, np.int16)
    weights[rows, cols] = w
    return Synapse(src, dst, weights, 0, delay, sparse=True)


class _Relays:
    """The relay populations and their wiring, built on demand and shared by every reader."""

    def __init__(self, sizes: dict, lags: dict, fmt: Formats):
        self.sizes, self.lags, self.fmt = sizes, lags, fmt
        self.after: dict[str, list[Relay]] = {}  # source -> relays to insert after it
        self.synapses: list[Synapse] = []
        self.kills: list[tuple[str, int]] = []  # (line, lag of its source): gate channels "end"
        self._delayed: dict[tuple[str, int], str] = {}

    def _add(self, src: str, neurons: Relay) -> None:
        self.after.setdefault(src, []).append(neurons)
        self.sizes[neurons.name] = neurons.size

    def delayed(self, src: str, hops: int) -> str:
        """A copy of ``src`` firing ``hops * (delay_max + 1)`` steps after it."""
        if hops == 0:
            return src
        key = (src, hops)
        if key not in self._delayed:
            prev = self.delayed(src, hops - 1)
            name, n = f"{src}.delay{hops * (self.fmt.delay_max + 1)}", self.sizes[src]
            self._add(prev, _relay_neurons(name, n, self.fmt))
            self.synapses.append(
                _wiring(prev, name, np.arange(n), np.arange(n), (n, n), self.fmt.delay_max, 1)
            )
            self._delayed[key] = name
        return self._delayed[key]

    def line(self, src: str, length: int) -> str:
        """A line of ``length`` relays per neuron of ``src``: neuron ``(j - 1) * n + i`` fires j
        steps after neuron i of src."""
        name, n = f"{src}.line", self.sizes[src]
        size = length * n
        self._add(src, _relay_neurons(name, size, self.fmt))
        self.synapses += [
            _wiring(src, name, np.arange(n), np.arange(n), (size, n), 0, 1),
            _wiring(name, name, np.arange(n, size), np.arange(size - n), (size, size), 0, 1),
        ]
        self.kills.append((name, self.lags[src]))
        return name


def _schedule(graph: Graph) -> dict[str, int]:
    lags = {INPUT: 0}
    for p in graph.populations:
        lags[p.name] = max(lags[g.src] + 1 + max(g.offsets) for g in p.inputs)
    return lags


def _connections(graph: Graph, lags: dict, relays: _Relays) -> dict[str, list[_Conn]]:
    """Every layer's processes-to-be, with the relays they read."""
    fmt, out = relays.fmt, {}
    lines = {}  # source -> longest line any reader needs
    for p in graph.populations:
        for g in p.inputs:
            if len(g.offsets) >= LINE_TAPS and g.src != INPUT:
                longest = max(lags[p.name] - lags[g.src] - 1 - k for k in g.offsets)
                lines[g.src] = max(lines.get(g.src, 0), longest)
    line_of = {src: relays.line(src, length) for src, length in lines.items() if length > 0}
    graded = {p.name for p in graph.populations if p.graded}
    for p in graph.populations:
        conns = []
        for g in p.inputs:
            delays = [lags[p.name] - lags[g.src] - 1 - k for k in g.offsets]
            if g.src in line_of and len(g.offsets) >= LINE_TAPS:
                n = relays.sizes[g.src]
                on_line = np.zeros((p.size, relays.sizes[line_of[g.src]]))
                for w, d in zip(g.weights, delays):
                    if d == 0:
                        conns.append(_Conn(g.src, 0, w, lags[g.src] + 1 - lags[p.name]))
                    else:
                        on_line[:, (d - 1) * n : d * n] += w
                conns.append(
                    _Conn(line_of[g.src], 0, on_line, 0)
                )  # emptied by the gate: within the window
                continue
            for w, d in zip(g.weights, delays):
                hops = d // (fmt.delay_max + 1)
                if hops and (g.src == INPUT or g.src in graded):
                    raise ConversionError(
                        f"layer {p.name}: the graded {g.src} would need a delay of {d} steps; "
                        f"the target's synapses hold at most {fmt.delay_max} and relays carry "
                        "spikes only"
                    )
                conns.append(
                    _Conn(
                        relays.delayed(g.src, hops),
                        d - hops * (fmt.delay_max + 1),
                        w,
                        lags[g.src] + 1 + d - lags[p.name],
                    )
                )
        out[p.name] = conns
    return out


@dataclass(frozen=True)
class WeightSets:
    """Up to ``count`` 8-bit processes per weight matrix: one into the layers named in ``single``
    (chosen by measured fidelity, ``calibration``), elsewhere a second one only where one set's
    relative error exceeds ``bound`` (0: wherever it adds anything)."""

    count: int = 2
    bound: float = 0.0
    single: frozenset = frozenset()

    def into(self, dst: str) -> int:
        return 1 if dst in self.single else self.count

    def for_matrix(self, c: np.ndarray, fmt: Formats, dst: str) -> int:
        n = self.into(dst)
        if n > 1 and self.bound and split_weights(c, fmt, 1)[0].rel_error <= self.bound:
            return 1
        return n


def _processes(
    c: np.ndarray, src: str, dst: str, delay: int, fmt: Formats, sets: WeightSets, classes: int
) -> list[Synapse]:
    """The synapse processes for float targets c (n_dst, n_src; activation units per payload
    unit): per exponent class (a sparse process for a subset of rows) and weight set."""
    out, groups = [], split_rows(c, classes, fmt)
    rest = np.zeros_like(c)
    one_to_one = (np.count_nonzero(c, axis=1) <= 1).all()  # a Dense would store every zero
    for rows in groups:
        sparse = len(rows) < c.shape[0] or one_to_one
        for q in split_weights(c[rows], fmt, sets.for_matrix(c[rows], fmt, dst)):
            if not q.w_mant.any():
                continue
            w = np.zeros(c.shape, np.int16)
            w[rows] = q.w_mant
            rest[rows] += q.w_mant * 2.0**q.weight_exp
            out.append(Synapse(src, dst, w, q.weight_exp, delay, sparse))
    norm = np.linalg.norm(c)
    err = float(np.linalg.norm(rest - c) / norm) if norm else 0.0
    for s in out:
        s.rel_error = err
    return out


def _rounding(s: Synapse) -> Synapse:
    """An input process with the rounding channel's column: half an output unit, 2^(-e-1), turns
    its floor into rounding to nearest. Not where the sum is exact anyway (e >= 0, or e = -1 with
    the even mantissas of mixed signs), nor for an all-negative matrix (a positive weight would
    change Lava's sign mode: those keep the floor)."""
    w, e = s.weights, s.weight_exp
    positive, negative = (w > 0).any(), (w < 0).any()
    exact = e >= 0 or (positive and negative and e == -1)
    half = 0 if exact or not positive else 2 ** (-e - 1)
    s.weights = np.concatenate([w, np.full((w.shape[0], 1), half, np.int16)], axis=1)
    return s


@dataclass
class _Source:
    """A graded source as its readers see it: payload units per float unit (per channel), and its
    payloads as ``limits.a_out_range`` takes them."""

    scale: float | np.ndarray
    payload: np.ndarray | tuple
    classes: dict | None = None  # a graded term's payload per offset class (``offset_classes``)
    floor_loss: np.ndarray | float = 0.0  # mean payload its processes' floors lose per step


COPIES_MAX = 16  # parallel copies of a one-to-one process whose sum exceeds the a_out width


def _inputs(
    conns: list[_Conn],
    unit: float,
    dst: str,
    sources: dict,
    fmt: Formats,
    sets: WeightSets,
    classes: int,
) -> tuple[list[Synapse], list[tuple]]:
    """The processes of ``conns`` into ``dst`` at ``unit`` activation units per float input unit,
    with their ``regions`` parts; ``_Scale`` when one does not fit. A term of the residual stream
    carries a whole convolution's sum, which one process may not deliver within the a_out width:
    its one-to-one reading is then split into parallel copies (each 1/k of the weights), which
    cost a few hundred graded events per step, not a coarser layer."""
    syns, parts = [], []
    for c in conns:
        src = sources.get(c.src)  # graded: the input or a term of the residual stream
        copies = 1
        while True:
            try:
                made = _processes(
                    c.weights * unit / (src.scale if src else 1) / copies,
                    c.src,
                    dst,
                    c.delay,
                    fmt,
                    sets,
                    classes,
                )
            except ValueError as e:  # beyond the largest exponent
                raise _Scale(str(e)) from None
            if c.src == INPUT:
                made = [_rounding(s) for s in made]
            ranges = [
                a_out_range(s.weights, s.weight_exp, src.payload if src else None) for s in made
            ]
            peak = max([max(hi.max(), -lo.min()) for lo, hi in ranges], default=0)
            if peak <= fmt.a_max:
                break
            if src is None or src.classes is None or copies >= COPIES_MAX:
                lo, hi = ranges[[max(b.max(), -a.min()) for a, b in ranges].index(peak)]
                raise _Scale(
                    f"a process from {c.src} can deliver {peak:,.0f} activation units, beyond "
                    f"the {fmt.activation_bits}-bit a_out",
                    _fit(lo, hi, fmt),
                )
            copies = min(COPIES_MAX, max(copies + 1, math.ceil(copies * peak / fmt.a_max)))
        for s, r in zip(made, ranges):
            if src is not None and src.classes is not None:
                parts += graded_parts(s.weights, s.weight_exp, src.classes, c.offset) * copies
            else:
                parts += [(*r, c.offset, False)] * copies
        syns += [replace(s) for _ in range(copies) for s in made]
    return syns, parts


def _term(
    p: Population,
    conns: list[_Conn],
    lag: int,
    profile: np.ndarray,
    cap: float,
    sources: dict,
    fmt: Formats,
    sets: WeightSets,
    classes: int,
) -> tuple[Term, list[Synapse], _Source]:
    """A term of the residual stream as a ``GradedVec``: channel i in payload units of
    ``2^-k / profile[i]`` float units (``_term_profile``), k the largest (finest) at which every
    process into it fits the a_out width and their sum the payload, with ``2^k`` at most
    ``cap``."""
    top = 2 ** (fmt.message_bits_max - 1) - 1
    k = math.floor(math.log2(cap))
    while True:
        try:
            unit = 2.0**k * profile[:, None]
            syns, parts = _inputs(conns, unit, p.name, sources, fmt, sets, classes)
            bound = (sum(lo for lo, *_ in parts), sum(hi for _, hi, *_ in parts))
            peak = max(-np.min(bound[0]), np.max(bound[1]))  # 0 when no process remains
            if peak <= top:
                break
            shrink = top / peak
        except _Scale as e:
            shrink = e.shrink
        if k <= fmt.weight_exp_min - fmt.weight_bits:
            raise ConversionError(f"residual term {p.name}: its sum does not fit graded payloads")
        k = min(k - 1, math.floor(k + math.log2(min(shrink, 1.0))))
    neurons = Term(p.name, p.size, lag, 2.0**k)
    # each process with a negative exponent floors: half a payload unit lost per step, on average,
    # while its source fires (densely, in a layer); the readers' biases give it back
    loss = 0.5 * sum((s.weights != 0).any(axis=1) for s in syns if s.weight_exp < 0)
    return neurons, syns, _Source(2.0**k * profile, bound, offset_classes(parts), loss)


def _layer(
    p: Population,
    conns: list[_Conn],
    lag: int,
    delay: int,
    channel: int,
    n_channels: int,
    vth_mant: int,
    sources: dict,
    fmt: Formats,
    sets: WeightSets,
    classes: int,
) -> tuple[Layer, list[Synapse]]:
    """A layer at threshold mantissa ``vth_mant``: its LIFReset, its processes and the gate's
    inhibition outside its window; ``_Scale`` when something does not fit the target's widths.
    ``sources``: the graded sources built so far (``_Source``)."""
    scale = population_scale(p.v_th, vth_mant, fmt)
    unit = scale / (p.tau * 2**fmt.activation_shift)  # activation units per float input unit
    syns, parts = _inputs(conns, unit, p.name, sources, fmt, sets, classes)
    restore = sum(  # activation units the graded terms' floors take from each neuron (``_term``)
        np.asarray(s.weights, np.float64)
        @ (sources[s.src].floor_loss * np.ones(s.weights.shape[1]))
        * 2.0**s.weight_exp
        for s in syns
        if s.src in sources and sources[s.src].classes is not None
    )
    try:
        bias_mant, bias_exp = quantize_bias(
            p.bias * scale / p.tau + restore * 2**fmt.activation_shift, fmt
        )
    except ValueError as e:
        raise _Scale(str(e)) from None
    bias = bias_mant.astype(np.float64) * 2.0**bias_exp
    # Outside its window a layer must not fire, whatever the live processes and its bias do: with
    # v at most the threshold before, u <= -(bias + 1 activation unit) keeps v below it.
    ranges = regions(parts, delay) if parts else {}
    live_hi = np.maximum(ranges["before"][1], ranges["after"][1]) if parts else np.zeros(p.size)
    need = live_hi + np.ceil(np.maximum(bias, 0) / 2**fmt.activation_shift) + 1
    top = 2**fmt.weight_bits - 1
    e = max(0, fmt.weight_exp_min, math.ceil(math.log2(need.max() / top)))  # >= 0: exact, no floor
    if e > fmt.weight_exp_max:
        raise _Scale(
            f"silencing it outside its window takes {need.max():,.0f} activation units of "
            "inhibition",
            top * 2.0**fmt.weight_exp_max / need.max(),
        )
    inhibit = np.zeros((p.size, n_channels), np.int16)
    inhibit[:, channel] = -np.ceil(need / 2.0**e)
    gate = Synapse(GATE, p.name, inhibit, e, 0, sparse=True)
    parts.append((*a_out_range(inhibit, e, None), True, True))
    for region, (lo, hi) in regions(parts, delay).items():
        if max(-lo.min(), hi.max()) * 2**fmt.activation_shift >= fmt.state_max:
            raise _Scale(
                f"its u can reach {max(-lo.min(), hi.max()) * 2**fmt.activation_shift:,.0f} state "
                "units "
                f"{'in' if region == 'window' else region} its window, beyond {fmt.state_bits} "
                "bits",
                fmt.state_max / 2**fmt.activation_shift / max(-lo.min(), hi.max()),
            )
        if lo.min() < fmt.a_min or hi.max() > fmt.a_max:
            raise _Scale(
                f"its a_in can reach [{lo.min():,.0f}, {hi.max():,.0f}] activation units "
                f"{'in' if region == 'window' else region} its window, beyond "
                f"{fmt.activation_bits} bits",
                _fit(lo, hi, fmt),
            )
    du, dv = decays(p.tau, fmt)
    v_init = -(fmt.state_max - 1)
    if decay(v_init, 2**fmt.decay_bits - dv, fmt) + bias.max() > vth_mant * 2**fmt.vth_shift:
        raise _Scale("its bias could fire it at the first step of a run, before the gate arrives")
    neurons = Layer(
        p.name,
        p.size,
        du,
        dv,
        vth_mant,
        bias_mant.astype(np.int64),
        bias_exp.astype(np.int64),
        v_init,
        lag,
        scale,
    )
    return neurons, syns + [gate]


def _fit(lo: np.ndarray, hi: np.ndarray, fmt: Formats) -> float:
    """The factor that brings a range within the activation width."""
    return min(fmt.a_max / max(hi.max(), 1), fmt.a_min / min(lo.min(), -1))


def _input_frac_bits(
    p: Population,
    max_abs: float,
    bits: int,
    vth_mant: int,
    fmt: Formats,
    sets: WeightSets,
    mean_square: float | None = None,
) -> int:
    """Fraction bits of the graded input that balance its rounding against the weights' (a finely
    resolved input needs small weights, which the exponent floor resolves coarsely): the
    expected squared drive error ``|W|^2 (r^2 E[x^2] + 4^-frac / 12)``, r the weights' relative
    error at that input format, for layer p at ``vth_mant``; E[x^2] the features' measured
    ``mean_square`` (calibration), else that of inputs uniform in +-max_abs."""
    top = input_format(max_abs, bits)
    if top < 0:
        raise ConversionError(
            f"input range {max_abs:g} does not fit the graded input's {bits} signed bits "
            f"(at most {2 ** (bits - 1) - 1})"
        )
    best = None
    for frac in range(top, -1, -1):
        err = 0.0
        unit = population_scale(p.v_th, vth_mant, fmt) / (
            p.tau * 2**fmt.activation_shift * 2.0**frac
        )
        for g in p.inputs:
            if g.src != INPUT:
                continue
            for w in g.weights:
                try:
                    r = split_weights(w * unit, fmt, sets.into(p.name))[0].rel_error
                except ValueError:  # beyond the largest exponent: coarser inputs only get worse
                    return best[1] if best else frac
                ms = max_abs**2 / 3 if mean_square is None else mean_square
                err += float(np.sum(w**2)) * (r**2 * ms + 4.0**-frac / 12)
        if best is None or err < best[0]:
            best = (err, frac)
    return best[1]


def _term_profile(graph: Graph, name: str, vth_mant: int, fmt: Formats):
    """(profile (size,), cap) of a graded term. Its payload carries channel i in units of
    ``2^-k / profile[i]`` float units, ``profile`` the geometric mean over its readers of their
    one-to-one weights in activation units per float unit (largest 1): every reader's diagonal is
    then as even as the readers' BatchNorms allow, so that one exponent represents it. ``cap``:
    the largest ``2^k`` at which every reader's largest one-to-one weight (per payload unit) still
    reaches a full mantissa at the smallest exponent."""
    diags = [
        np.abs(np.diag(g.weights[0]))
        * population_scale(r.v_th, vth_mant, fmt)
        / (r.tau * 2**fmt.activation_shift)
        for r in graph.populations
        if not r.graded
        for g in r.inputs
        if g.src == name
    ]
    diags = [d for d in diags if d.max() > 0] or [np.ones(graph.population(name).size)]
    floor = max(d.max() for d in diags) * 2.0**-16  # a channel no reader weighs
    profile = np.exp(np.mean([np.log(np.maximum(d, floor)) for d in diags], axis=0))
    profile /= profile.max()
    full = 2.0**fmt.weight_exp_min * (2**fmt.weight_bits - 1)
    return profile, min(float((d / profile).max()) / full for d in diags)


def quantize_graph(
    graph: Graph,
    *,
    input_max_abs: float,
    input_bits: int = 16,
    vth_mant: int = VTH_MANT_DEFAULT,
    fmt: Formats = LAVA,
    weight_sets: int = 2,
    exponent_classes: int = 1,
    set_error: float = 0.0,
    single_set: tuple[str, ...] = (),
    input_mean_square: float | None = None,
    input_frac_bits: int | None = None,
) -> FixedNetwork:
    """The network of Lava processes for ``graph``; ``input_max_abs`` bounds the features'
    magnitude (``input_mean_square``, measured on data, sizes their resolution, unless
    ``input_frac_bits`` fixes it); every weight is
    the sum of up to ``weight_sets`` 8-bit processes (a second only where one set's relative error
    exceeds ``set_error``, none into the layers of ``single_set``), and the rows of a weight
    matrix are split into up to ``exponent_classes`` processes of similar magnitude. ``vth_mant``
    is the finest state resolution tried (module docstring: scaling)."""
    sets = WeightSets(weight_sets, set_error, frozenset(single_set))
    if input_bits > fmt.message_bits_max:
        raise ConversionError(
            f"the graded input needs {input_bits}-bit payloads; the target carries at most "
            f"{fmt.message_bits_max}"
        )
    frac = input_max = (
        None  # chosen for the first layer that reads the input, at its final threshold mantissa
    )
    sources: dict[str, _Source] = {}  # the graded ones, as they are built
    while True:  # a graded term beyond a reader's longest delay is folded into its readers
        lags = _schedule(graph)
        far = {
            g.src
            for p in graph.populations
            for g in p.inputs
            if g.src != INPUT and graph.population(g.src).graded
            if lags[p.name] - lags[g.src] - 1 > fmt.delay_max
        }
        if not far:
            break
        graph = fold(graph, far)
    relays = _Relays(
        {INPUT: graph.input_size, **{p.name: p.size for p in graph.populations}}, lags, fmt
    )
    conns = _connections(graph, lags, relays)
    channels = sorted({lags[p.name] for p in graph.populations if not p.graded})
    delay = lags[graph.populations[-1].name]
    gate = [(lag, "outside") for lag in channels] + [(lag, "end") for _, lag in relays.kills]
    layers, syns = {}, {}
    for p in graph.populations:
        if p.graded:
            layers[p.name], syns[p.name], sources[p.name] = _term(
                p,
                conns[p.name],
                lags[p.name],
                *_term_profile(graph, p.name, vth_mant, fmt),
                sources,
                fmt,
                sets,
                exponent_classes,
            )
            continue
        choose_frac = frac is None and any(g.src == INPUT for g in p.inputs)
        mant = vth_mant
        while True:
            if choose_frac:
                if input_frac_bits is None:
                    frac = _input_frac_bits(
                        p, input_max_abs, input_bits, mant, fmt, sets, input_mean_square
                    )
                elif not 0 <= input_frac_bits <= input_format(input_max_abs, input_bits):
                    raise ConversionError(
                        f"input range {input_max_abs:g} does not fit {input_bits} signed bits "
                        f"with {input_frac_bits} fraction bits"
                    )
                else:
                    frac = input_frac_bits
                input_max = input_limit(input_max_abs, frac, input_bits)
                sources[INPUT] = _Source(
                    2.0**frac, input_payload(graph.input_size, input_max).astype(np.float64)
                )
            try:
                layers[p.name], syns[p.name] = _layer(
                    p,
                    conns[p.name],
                    lags[p.name],
                    delay,
                    channels.index(lags[p.name]),
                    len(gate),
                    mant,
                    sources,
                    fmt,
                    sets,
                    exponent_classes,
                )
                break
            except _Scale as e:
                if mant <= VTH_MANT_MIN:
                    raise ConversionError(
                        f"layer {p.name}: {e}, even at threshold mantissa {mant}"
                    ) from None
                mant = max(VTH_MANT_MIN, min(mant - 1, int(mant * min(e.shrink, 1.0))))
    for k, (line, _) in enumerate(relays.kills):
        n = relays.sizes[line]
        relays.synapses.append(
            _wiring(GATE, line, np.arange(n), np.full(n, len(channels) + k), (n, len(gate)), 0, -2)
        )
    pops: list[Neurons] = []

    def place(name):  # a source, then the relays that copy it
        for r in relays.after.get(name, []):
            pops.append(r)
            place(r.name)

    place(INPUT)
    for p in graph.populations:
        pops.append(layers[p.name])
        place(p.name)
    by_dst = {}
    for s in relays.synapses + [s for p in graph.populations for s in syns[p.name]]:
        by_dst.setdefault(s.dst, []).append(s)
    return FixedNetwork(
        graph.input_size,
        frac,
        input_bits,
        input_max,
        gate,
        pops,
        [s for p in pops for s in by_dst.get(p.name, [])],
        graph.populations[-1].name,
        graph.head_weight.astype(np.float32),
        graph.head_bias.astype(np.float32),
        fmt,
    )


def model_layers(graph: Graph) -> list[ModelOps]:
    """The model's own synapses per layer (``artifact.ModelOps``), from a graph whose residual
    terms are graded populations (``from_model(streams=True)``: each convolution once); the
    one-to-one readings of the terms are the chip's, not the model's."""
    graded = {p.name for p in graph.populations if p.graded}
    out = []
    for p in graph.populations:
        for g in p.inputs:
            if g.src in graded:
                continue
            nnz = np.count_nonzero(g.weights, axis=1)  # (taps, n_src)
            if len(g.offsets) >= LINE_TAPS and g.src != INPUT:  # an impulse response, tap by tap
                order = np.argsort(-np.asarray(g.offsets))  # offset 0, -1, ...: tap 0, 1, ...
                out.append(ModelOps(g.src, taps=nnz[order]))
            else:
                out.append(ModelOps(g.src, fanout=nnz.sum(axis=0)))
    # the head reads the last layer's spikes every step (on the host here, a layer to the paper)
    return out + [
        ModelOps(graph.populations[-1].name, fanout=np.count_nonzero(graph.head_weight, axis=0))
    ]


def map_to_cores(net: FixedNetwork, profile: Profile, board_chips: int | None = None) -> list[dict]:
    """Per population its neurons, synapses, processes and neuro-cores (``limits.resources``);
    ConversionError, naming the largest population and the limit, when the network needs more
    cores, neurons or synapses than the target has (with a hint at boards when the target is
    one chip: ``board_chips``, the target's own count before any ``--chips``)."""
    for line in violations(net, profile):
        hint = (
            " (a board of several chips is a target too: --target kapoho-point)"
            if "neuro-cores on" in line and (board_chips or profile.resources["chips"]) == 1
            else ""
        )
        raise ConversionError(f"the model does not fit: {line}{hint}")
    return resources(net, profile)


DEFAULT_INPUT_RANGE = {"digits": 1.0, "kaldi-fbank": 2.0}


@dataclass
class Compiled:
    """A model compiled for a target: its network and, when checked, its place on the chips."""

    net: FixedNetwork
    settings: Settings  # input_range resolved
    profile: Profile
    board_chips: int  # the target's own chip count, before ``settings.chips``
    layers: list[dict] | None  # per population (``map_to_cores``); None when not checked


def compile_model(
    model,
    features: dict | None,
    settings: Settings,
    *,
    fit: bool = True,
    input_mean_square: float | None = None,
    input_frac_bits: int | None = None,
    bias_shift: dict | None = None,
) -> Compiled:
    """The network of Lava processes that ``model`` (an eval-mode spiking LMUFormer) becomes with
    ``settings``: the one path from weights to integers, shared by ``convert`` and
    quantisation-aware training. ``fit``: also check the target's cores, neurons and synapses.
    Calibration (``calibrate``) measures the features' ``input_mean_square``, their
    ``input_frac_bits`` and ``bias_shift``, {layer: float input (size,)} added to its biases.
    ``settings`` are within their declared bounds (``settings.SETTINGS``); the target's own are
    checked here."""
    profile = load_profile(settings.target)
    if profile.kind != "neuromorphic":
        raise ConversionError(f"target {profile.name!r} is not a neuromorphic chip")
    board_chips = profile.resources["chips"]
    profile = profile.with_chips(settings.chips)
    if settings.lmu_mapping == "recurrent":
        raise ConversionError(
            f"the recurrent LMU mapping cannot be built from {profile.name}'s standard processes "
            "(its 24-bit state would pass through 16-bit Dense outputs and has no per-sample "
            "reset; docs/fixed-point.md section 6): use --lmu-mapping fir"
        )
    if not model.config.spiking:
        raise ConversionError(
            "only spiking models map onto Loihi's LIF neurons; this checkpoint is the non-spiking "
            "LMUFormer"
        )
    fmt = Formats.from_dict(profile.precision)  # complete: load_profile checks every field
    if settings.input_range is None:
        kind = (features or {}).get("kind")
        settings = replace(settings, input_range=DEFAULT_INPUT_RANGE.get(kind, 4.0))
    if not 0 < settings.vth_mant < 2**fmt.vth_mant_bits:
        raise ConversionError(
            f"threshold mantissa {settings.vth_mant} is outside {profile.name}'s vth_mant_bits "
            f"{fmt.vth_mant_bits} (1..{2**fmt.vth_mant_bits - 1})"
        )
    try:
        graph = from_model(model)
        terms = {p.name for p in graph.populations if p.graded}
        chip = graph if settings.residual == "graded" else fold(graph, terms)
        unknown = sorted(set(settings.single_set) - {p.name for p in chip.populations})
        if unknown:
            raise ConversionError(
                f"single_set names {', '.join(unknown)}: not a layer of this network"
            )
        if bias_shift:
            chip = replace(
                chip,
                populations=[
                    replace(p, bias=p.bias + bias_shift[p.name]) if p.name in bias_shift else p
                    for p in chip.populations
                ],
            )
        net = quantize_graph(
            chip,
            input_max_abs=settings.input_range,
            vth_mant=settings.vth_mant,
            fmt=fmt,
            weight_sets=settings.weight_sets,
            set_error=settings.set_error,
            single_set=settings.single_set,
            exponent_classes=settings.exponent_classes,
            input_mean_square=input_mean_square,
            input_frac_bits=input_frac_bits,
        )
    except ConversionError:
        raise
    except ValueError as e:
        raise ConversionError(str(e)) from None
    net.model_ops = model_layers(graph)
    layers = map_to_cores(net, profile, board_chips) if fit else None
    return Compiled(net, settings, profile, board_chips, layers)


def resolve_settings(ck, name, settings: dict) -> tuple[Settings, Settings | None, list[str]]:
    """(settings to convert ``ck`` (a loaded checkpoint, read from ``name``) with, the settings
    it was fine-tuned for or None, warnings): the fields given in ``settings`` (None: not given)
    over a quantisation-aware checkpoint's record, else over ``Settings()``; a given setting that
    differs from the one fine-tuned for is warned about."""
    unknown = sorted(set(settings) - {f.name for f in fields(Settings)})
    if unknown:
        raise TypeError(f"convert: unknown setting(s) {', '.join(unknown)}")
    given = {k: v for k, v in settings.items() if v is not None}
    try:
        learned = Settings.from_dict(ck.quantization) if ck.quantization is not None else None
    except ValueError as e:
        raise CheckpointError(f"{name}: {e}") from None
    chosen = replace(learned or Settings(), **given)
    warnings = [
        f"the checkpoint was fine-tuned for {k} {getattr(learned, k)!r}; converted with "
        f"{getattr(chosen, k)!r} it computes something else than it learned"
        for k in given
        if learned is not None and getattr(learned, k) != getattr(chosen, k)
    ]
    return chosen, learned, warnings


@dataclass(frozen=True)
class ConversionReport:
    """What ``convert`` wrote. ``to_dict`` is what ``lmuneuro convert --json`` prints."""

    output: str
    sha256: str
    # the artifact's record of its conversion (``FixedNetwork.meta``): the settings, the source,
    # the classes and features, the delay, cores, chips and processes
    meta: dict
    chip_use: list[dict]  # per chip: neuro-cores in use and their fraction
    layers: list[dict]  # per population: its class, processes, cores, chips (``limits.resources``)
    warnings: list[str]  # settings that differ from those the checkpoint was fine-tuned for
    weight_set_choice: dict | None = None  # ``calibration.SetChoice.to_dict()`` where measured
    calibration: dict | None = None  # ``calibrate.Calibration.to_dict()`` where calibrated

    @property
    def delay_steps(self) -> int:
        return self.meta["delay_steps"]

    @property
    def cores(self) -> int:
        return self.meta["cores"]

    @property
    def chips(self) -> int:
        return self.meta["chips"]

    @property
    def processes(self) -> int:
        return self.meta["processes"]

    def to_dict(self) -> dict:
        out = {
            "output": self.output,
            "sha256": self.sha256,
            **self.meta,
            "chip_use": self.chip_use,
            "layers": self.layers,
            "warnings": self.warnings,
        }
        if self.weight_set_choice is not None:
            out["weight_set_choice"] = self.weight_set_choice
        return out


def convert(
    checkpoint, output, *, preset: str | None = None, calibrate: dict | None = None, **settings
) -> ConversionReport:
    """Checkpoint (native or reference) -> artifact at ``output``. Returns the conversion report.
    ``settings``: fields of ``Settings``; those not given come from a quantisation-aware
    checkpoint's record, else ``Settings()``. Asked-for settings that differ from the ones the
    checkpoint was fine-tuned for are listed in the report's ``warnings``. ``calibrate``: the
    calibration data (``calibrate.calibration_inputs``' arguments: ``dataset`` or ``inputs``,
    ``data_dir``, ``samples``), which then chooses the input range and the biases
    (``calibrate``); the report and the artifact's meta record the choices."""
    given = {k: v for k, v in settings.items() if v is not None}
    if calibrate is not None and "input_range" in given:
        raise ValueError("input_range: calibration chooses the input range from the data")
    check_output(output, [checkpoint, given.get("target")])
    ck = load_checkpoint(checkpoint, preset=preset)
    chosen, learned, warnings = resolve_settings(ck, checkpoint, settings)
    record = None
    if calibrate is None:
        c = compile_model(ck.model, ck.features, chosen)
    else:
        from .calibrate import calibrate as calibrated
        from .calibrate import calibration_inputs

        x = calibration_inputs(ck.model, **calibrate)
        c, record = calibrated(ck.model, ck.features, chosen, x)
        if learned is not None:
            warnings.append(
                "the checkpoint was fine-tuned for its conversion; calibrated (input format and "
                "biases from the data) it computes something else than it learned"
            )
    net, profile = c.net, c.profile
    net.meta = {
        "created_by": f"lmuneuro {__version__}",
        "source_sha256": sha256(checkpoint),
        "source_format": ck.source_format,
        "preset": ck.preset,
        "target": profile.name,
        "quantization": {
            "vth_mant": c.settings.vth_mant,
            "input_range": c.settings.input_range,
            "input_bits": net.input_bits,
            "input_frac_bits": net.input_frac_bits,
            "weight_sets": c.settings.weight_sets,
            "set_error": c.settings.set_error,
            "single_set": list(c.settings.single_set),
            "exponent_classes": c.settings.exponent_classes,
            "lmu_mapping": c.settings.lmu_mapping,
            "residual": c.settings.residual,
            "quantization_aware": learned is not None,
        },
        "classes": ck.classes,
        "features": ck.features,
        "delay_steps": net.delay,
        "cores": sum(r["cores"] for r in c.layers),
        "chips": 1 + max(ch for r in c.layers for ch in r["chips"]),
        "processes": net.processes,
        "config": ck.config.to_dict(),
    }
    if record is not None:
        net.meta["calibration"] = record.to_dict()
    write_artifact(output, net)
    per_chip, total = profile.resources["cores_per_chip"], net.meta["cores"]
    # populations fill the chips in order: every chip but the last is full
    cores_on = [min(per_chip, total - i * per_chip) for i in range(net.meta["chips"])]
    chip_use = [{"chip": i, "cores": n, "fraction": n / per_chip} for i, n in enumerate(cores_on)]
    return ConversionReport(
        str(output),
        sha256(output),
        net.meta,
        chip_use,
        c.layers,
        warnings,
        calibration=net.meta.get("calibration"),
    )
