"""The quantiser: a scheduled graph (``schedule``) -> a network of Lava's standard chip processes
(``FixedNetwork``), every weight as 8-bit mantissas and exponents, held to the target's widths.

Weights: a tap's float weights become up to ``weight_sets`` 8-bit processes whose sum
approximates them (``WeightSets``), each split by rows into up to ``exponent_classes`` processes of
similar magnitude (``fixedpoint.split_rows``).

Scaling: each layer gets the largest threshold mantissa (finest state resolution, at most
``vth_mant``) at which every process's output and the layer's a_in fit ``activation_bits``
(``limits``), its biases fit the bias mantissa and the inhibition that silences it outside its
window fits the weights: halving the mantissa halves every input in activation units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..artifact import GATE, INPUT, FixedNetwork, Layer, Neurons, Synapse, Term
from ..fixedpoint import (
    VTH_MANT_DEFAULT,
    decays,
    input_format,
    input_limit,
    population_scale,
    quantize_bias,
    split_rows,
    split_weights,
)
from ..formats import LAVA, Formats
from ..loihi import decay
from . import ConversionError
from .graph import Graph, Population
from .limits import a_out_range, graded_parts, input_payload, offset_payloads, regions
from .schedule import Connection, Schedule, schedule

__all__ = ["quantize_graph", "WeightSets", "Context", "VTH_MANT_MIN", "COPIES_MAX"]

VTH_MANT_MIN = 64  # below this a layer's state is too coarse to be worth converting


class _Scale(ValueError):
    """A layer does not fit the target's widths at this threshold mantissa: try one at most
    ``shrink`` times as large (every input in activation units scales with it)."""

    def __init__(self, message: str, shrink: float = 0.5):
        super().__init__(message)
        self.shrink = shrink


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


def _processes(c: np.ndarray, conn: Connection, dst: str, ctx: Context) -> list[Synapse]:
    """The synapse processes of ``conn`` into ``dst`` for float targets c (n_dst, n_src;
    activation units per payload unit): per exponent class (a sparse process for a subset of
    rows) and weight set."""
    fmt, sets = ctx.fmt, ctx.sets
    out, groups = [], split_rows(c, ctx.exponent_classes, fmt)
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
            out.append(Synapse(conn.src, dst, w, q.weight_exp, conn.delay, sparse))
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
    # a graded term's payload range per offset of its processes (``limits.offset_payloads``)
    offset_payloads: dict | None = None
    floor_loss: np.ndarray | float = 0.0  # mean payload its processes' floors lose per step


@dataclass(frozen=True)
class Context:
    """What every process of one quantisation shares: the target's formats, the weight sets, the
    exponent classes per weight matrix, and the graded sources built so far, by name (the
    input's chosen with the first layer that reads it, each term's as it is built)."""

    fmt: Formats
    sets: WeightSets
    exponent_classes: int
    sources: dict[str, _Source]


COPIES_MAX = 16  # parallel copies of a one-to-one process whose sum exceeds the a_out width


def _inputs(
    conns: list[Connection], unit: float, dst: str, ctx: Context
) -> tuple[list[Synapse], list[tuple]]:
    """The processes of ``conns`` into ``dst`` at ``unit`` activation units per float input unit,
    with their ``regions`` parts; ``_Scale`` when one does not fit. A term of the residual stream
    carries a whole convolution's sum, which one process may not deliver within the a_out width:
    its one-to-one reading is then split into parallel copies (each 1/k of the weights), which
    cost a few hundred graded events per step, not a coarser layer."""
    fmt, syns, parts = ctx.fmt, [], []
    for conn in conns:
        src = ctx.sources.get(conn.src)  # graded: the input or a term of the residual stream
        copies = 1
        while True:
            try:
                made = _processes(
                    conn.weights * unit / (src.scale if src else 1) / copies, conn, dst, ctx
                )
            except ValueError as e:  # beyond the largest exponent
                raise _Scale(str(e)) from None
            if conn.src == INPUT:
                made = [_rounding(s) for s in made]
            ranges = [
                a_out_range(s.weights, s.weight_exp, src.payload if src else None) for s in made
            ]
            peak = max([max(hi.max(), -lo.min()) for lo, hi in ranges], default=0)
            if peak <= fmt.a_max:
                break
            if src is None or src.offset_payloads is None or copies >= COPIES_MAX:
                lo, hi = ranges[[max(b.max(), -a.min()) for a, b in ranges].index(peak)]
                raise _Scale(
                    f"a process from {conn.src} can deliver {peak:,.0f} activation units, beyond "
                    f"the {fmt.activation_bits}-bit a_out",
                    _fit(lo, hi, fmt),
                )
            copies = min(COPIES_MAX, max(copies + 1, math.ceil(copies * peak / fmt.a_max)))
        for s, r in zip(made, ranges):
            if src is not None and src.offset_payloads is not None:
                parts += (
                    graded_parts(s.weights, s.weight_exp, src.offset_payloads, conn.offset) * copies
                )
            else:
                parts += [(*r, conn.offset, False)] * copies
        syns += [replace(s) for _ in range(copies) for s in made]
    return syns, parts


def _term(
    p: Population, plan: Schedule, vth_mant: int, ctx: Context
) -> tuple[Term, list[Synapse], _Source]:
    """A term of the residual stream as a ``GradedVec``: channel i in payload units of
    ``2^-k / profile[i]`` float units (``_term_profile``, its readers at ``vth_mant``), k the
    largest (finest) at which every process into it fits the a_out width and their sum the
    payload, with ``2^k`` at most ``cap``."""
    fmt = ctx.fmt
    profile, cap = _term_profile(plan.graph, p.name, vth_mant, fmt)
    top = 2 ** (fmt.message_bits_max - 1) - 1
    k = math.floor(math.log2(cap))
    while True:
        try:
            unit = 2.0**k * profile[:, None]
            syns, parts = _inputs(plan.connections[p.name], unit, p.name, ctx)
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
    neurons = Term(p.name, p.size, plan.lags[p.name], 2.0**k)
    # each process with a negative exponent floors: half a payload unit lost per step, on average,
    # while its source fires (densely, in a layer); the readers' biases give it back
    loss = 0.5 * sum((s.weights != 0).any(axis=1) for s in syns if s.weight_exp < 0)
    return neurons, syns, _Source(2.0**k * profile, bound, offset_payloads(parts), loss)


def _layer(
    p: Population, plan: Schedule, vth_mant: int, ctx: Context
) -> tuple[Layer, list[Synapse]]:
    """A layer at threshold mantissa ``vth_mant``: its LIFReset, its processes and the gate's
    inhibition outside its window; ``_Scale`` when something does not fit the target's widths."""
    fmt, sources, delay = ctx.fmt, ctx.sources, plan.delay
    scale = population_scale(p.v_th, vth_mant, fmt)
    unit = scale / (p.tau * 2**fmt.activation_shift)  # activation units per float input unit
    syns, parts = _inputs(plan.connections[p.name], unit, p.name, ctx)
    restore = sum(  # activation units the graded terms' floors take from each neuron (``_term``)
        np.asarray(s.weights, np.float64)
        @ (sources[s.src].floor_loss * np.ones(s.weights.shape[1]))
        * 2.0**s.weight_exp
        for s in syns
        if s.src in sources and sources[s.src].offset_payloads is not None
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
    inhibit = np.zeros((p.size, len(plan.gate)), np.int16)
    inhibit[:, plan.channel(p.name)] = -np.ceil(need / 2.0**e)
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
        plan.lags[p.name],
        scale,
    )
    return neurons, syns + [gate]


def _fit(lo: np.ndarray, hi: np.ndarray, fmt: Formats) -> float:
    """The factor that brings a range within the activation width."""
    return min(fmt.a_max / max(hi.max(), 1), fmt.a_min / min(lo.min(), -1))


def _input_frac_bits(
    p: Population, max_abs: float, bits: int, vth_mant: int, ctx: Context, mean_square: float | None
) -> int:
    """Fraction bits of the graded input that balance its rounding against the weights' (a finely
    resolved input needs small weights, which the exponent floor resolves coarsely): the
    expected squared drive error ``|W|^2 (r^2 E[x^2] + 4^-frac / 12)``, r the weights' relative
    error at that input format, for layer p at ``vth_mant``; E[x^2] the features' measured
    ``mean_square`` (calibration), else that of inputs uniform in +-max_abs."""
    fmt, top = ctx.fmt, input_format(max_abs, bits)
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
                    r = split_weights(w * unit, fmt, ctx.sets.into(p.name))[0].rel_error
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
    is the finest state resolution tried (module docstring)."""
    sets = WeightSets(weight_sets, set_error, frozenset(single_set))
    if input_bits > fmt.message_bits_max:
        raise ConversionError(
            f"the graded input needs {input_bits}-bit payloads; the target carries at most "
            f"{fmt.message_bits_max}"
        )
    frac = input_max = (
        None  # chosen for the first layer that reads the input, at its final threshold mantissa
    )
    plan = schedule(graph, fmt)
    graph = plan.graph
    ctx = Context(fmt, sets, exponent_classes, {})
    layers, syns = {}, {}
    for p in graph.populations:
        if p.graded:
            layers[p.name], syns[p.name], ctx.sources[p.name] = _term(p, plan, vth_mant, ctx)
            continue
        choose_frac = frac is None and any(g.src == INPUT for g in p.inputs)
        mant = vth_mant
        while True:
            if choose_frac:
                if input_frac_bits is None:
                    frac = _input_frac_bits(
                        p, input_max_abs, input_bits, mant, ctx, input_mean_square
                    )
                elif not 0 <= input_frac_bits <= input_format(input_max_abs, input_bits):
                    raise ConversionError(
                        f"input range {input_max_abs:g} does not fit {input_bits} signed bits "
                        f"with {input_frac_bits} fraction bits"
                    )
                else:
                    frac = input_frac_bits
                input_max = input_limit(input_max_abs, frac, input_bits)
                ctx.sources[INPUT] = _Source(
                    2.0**frac, input_payload(graph.input_size, input_max).astype(np.float64)
                )
            try:
                layers[p.name], syns[p.name] = _layer(p, plan, mant, ctx)
                break
            except _Scale as e:
                if mant <= VTH_MANT_MIN:
                    raise ConversionError(
                        f"layer {p.name}: {e}, even at threshold mantissa {mant}"
                    ) from None
                mant = max(VTH_MANT_MIN, min(mant - 1, int(mant * min(e.shrink, 1.0))))
    return FixedNetwork(
        graph.input_size,
        frac,
        input_bits,
        input_max,
        plan.gate,
        *_in_order(plan, layers, syns),
        graph.populations[-1].name,
        graph.head_weight.astype(np.float32),
        graph.head_bias.astype(np.float32),
        fmt,
    )


def _in_order(plan: Schedule, neurons: dict, syns: dict) -> tuple[list[Neurons], list[Synapse]]:
    """The populations in the artifact's order (each source, then the relays that copy it), and
    the processes by target in that order."""
    pops: list[Neurons] = []

    def with_relays(name):
        for r in plan.relays.after.get(name, []):
            pops.append(r)
            with_relays(r.name)

    with_relays(INPUT)
    for p in plan.graph.populations:
        pops.append(neurons[p.name])
        with_relays(p.name)
    by_dst = {}
    for s in plan.relays.synapses + [s for p in plan.graph.populations for s in syns[p.name]]:
        by_dst.setdefault(s.dst, []).append(s)
    return pops, [s for p in pops for s in by_dst.get(p.name, [])]
