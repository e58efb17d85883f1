"""Time per step on a Loihi 2 board, from a run's activity and the network's placement.

The structure is Timcheck, Pierro and Shrestha's runtime model for Loihi 2 ("A Compute and
Communication Runtime Model for Loihi 2", arXiv 2601.10035): every step, each neuro-core updates
its neurons (dendritic operations), accumulates the synaptic events that reach it and reads their
synapse-memory words, spike messages cross the mesh's links, and a barrier ends the step. Per step
``t``, over the cores ``c`` and the links ``l`` of the mesh (X-Y routing):

- lower bound (the paper's max-affine form, every constant at the low end of its range)::

    T_low(t) = max(max_c D_c t_dend, max_c S_c(t) t_syn, max_c M_c(t) t_mem,
                   max_l B_l(t) t_bit, X(t) t_chip) + t_barrier + H t_host

- realistic figure (the value of every constant; compute and communication one after the other,
  the limit of the paper's "only partially overlap" in a congested mesh)::

    T(t) = max_c (D_c t_dend + S_c(t) t_syn + M_c(t) t_mem) + max_l B_l(t) t_bit + X(t) t_chip
           + t_barrier + H t_host

  and the high figure the same at the high end of every range.

``D_c`` neurons on the core (all are updated every step), ``S_c(t)`` synaptic events (binary and
graded) that reach it, ``M_c(t)`` synapse-memory words read (one axon's words per arriving
message), ``B_l(t)`` message bits over link ``l``, ``X(t)`` bits over the busiest link between
two chips (one message per destination core), ``H`` values
crossing the host boundary each step (lmuneuro's input and gate ``RingBuffer``s and the read-out
sink: Lava's ports carry whole vectors). A population's neurons and spikes are spread evenly over
its cores (``compile.mapping``), which is exact for the dense processes convert builds. Cores lie
on each chip's mesh in placement order, ``mesh_columns`` to a row.

The per-step counts come from the activity's ``per_step`` record (``analysis.activity``); an
activity without it is spread evenly over the sample's steps, which the report says. Every
constant is a profile's ``[timing.*]`` table with its source and range (``hardware_profiles``):
the paper's fitted values are not public, so each is calibrated on a public Loihi 2 measurement
or labelled an assumption; ``benchmarks/bench_runtime.py`` sets the model beside each
measurement. An energy report gives the model's figures as its ``Runtime``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from ..artifact import GATE, INPUT, FixedNetwork, Term
from ..compile.mapping import Placement, groups_of, synmem_words
from ..profiles import Profile
from .activity import Activity

__all__ = [
    "Range",
    "Runtime",
    "StepMicroseconds",
    "StepTimes",
    "Workload",
    "step_times",
    "workload",
]


@dataclass(frozen=True)
class Workload:
    """What a network does on the board each step: per core its neurons (cores,), per step and
    core its synaptic events and synapse-memory words (steps, cores), per step the bits over the
    busiest link and between chips (steps,), and the values crossing the host boundary each
    step. The runtime model's whole input: a placed lmuneuro network (``workload``) or a public
    benchmark described by its published tables (``benchmarks/bench_runtime.py``)."""

    neurons: np.ndarray
    synaptic_events: np.ndarray
    synmem_words: np.ndarray
    link_bits: np.ndarray
    interchip_bits: np.ndarray
    host_values: float


@dataclass(frozen=True)
class StepTimes:
    """Microseconds per step of one sample: ``low`` (the lower bound), ``value`` (realistic) and
    ``high``, each (steps,); ``chip`` the realistic figure without the host's share; ``bound``
    what limits the realistic mean step."""

    low: np.ndarray
    value: np.ndarray
    high: np.ndarray
    chip: np.ndarray
    bound: str
    recorded: bool = True  # the steps' counts were recorded one by one (else spread evenly)
    source: str = (
        "the runtime model (analysis.runtime, after arXiv 2601.10035: per-core neuron updates, "
        "synaptic events and synapse-memory reads, the busiest mesh and chip-to-chip links, a "
        "barrier and the host's I/O each step; the profile's timing constants)"
    )


class Range(NamedTuple):
    """A figure at a profile's value, low and high constants (JSON: ``[value, low, high]``)."""

    value: float
    low: float
    high: float

    @classmethod
    def of(cls, constant) -> "Range":
        """A profile constant (``profiles.EnergyConstant``) as a range."""
        return cls(constant.value, constant.low, constant.high)

    def __add__(self, other: "Range") -> "Range":
        return Range(*(a + b for a, b in zip(self, other)))

    def __sub__(self, other: "Range") -> "Range":
        return Range(*(a - b for a, b in zip(self, other)))

    def __mul__(self, k: float) -> "Range":
        return Range(*(a * k for a in self))

    __rmul__ = __mul__


@dataclass(frozen=True)
class StepMicroseconds:
    """Microseconds per step over a sample: the realistic figure's mean, min and max, the lower
    and higher bounds' means, the chip's share of the mean (the host's left out)."""

    mean: float
    min: float
    max: float
    low: float
    high: float
    chip_mean: float


@dataclass(frozen=True)
class Runtime:
    """A report's timing (``analysis.runtime``, or a fixed time per step): latency and
    throughput per sample back to back (its algorithmic delay included), what bounds a step."""

    step_us: StepMicroseconds
    latency_s: Range
    throughput_per_s: Range
    bound: str
    source: str
    per_step_recorded: bool
    real_time_fraction: float | None  # of each frame the chip computes (with a frame rate)

    @classmethod
    def of(cls, t: "StepTimes", frame_ms: float | None) -> "Runtime":
        """From a sample's times per step: microseconds per step, seconds per sample back to
        back (its algorithmic delay included) and samples per second; with ``frame_ms``, the
        fraction of each frame the chip computes."""
        seconds = Range(*(float(x.sum() / 1e6) for x in (t.value, t.low, t.high)))
        return cls(
            step_us=StepMicroseconds(
                mean=float(t.value.mean()),
                min=float(t.value.min()),
                max=float(t.value.max()),
                low=float(t.low.mean()),
                high=float(t.high.mean()),
                chip_mean=float(t.chip.mean()),
            ),
            latency_s=seconds,
            throughput_per_s=Range(1 / seconds.value, 1 / seconds.high, 1 / seconds.low),
            bound=t.bound,
            source=t.source,
            per_step_recorded=t.recorded,
            real_time_fraction=float(t.value.mean() / (frame_ms * 1e3)) if frame_ms else None,
        )

    def to_dict(self) -> dict:  # the ranges as lists, as the report has always given them
        return {k: list(v) if isinstance(v, Range) else v for k, v in asdict(self).items()}


def step_times(w: Workload, timing: dict) -> StepTimes:
    """The runtime model (module docstring) on workload ``w`` with the profile's ``timing``
    constants (name -> ``profiles.EnergyConstant``)."""
    steps = len(w.link_bits)

    def terms(at: str) -> tuple[np.ndarray, dict[str, np.ndarray], float]:
        """(per step and core the compute terms, per step the communication terms, the fixed
        time per step) in us, at one end of the constants' ranges."""
        t = {k: getattr(c, at) * (1e-3 if c.unit == "ns" else 1.0) for k, c in timing.items()}
        compute = np.stack(
            [
                np.broadcast_to(w.neurons * t["dendritic_op"], (steps, len(w.neurons))),
                w.synaptic_events * t["synaptic_op"],
                w.synmem_words * t["synmem_read"],
            ]
        )
        links = {"mesh links": w.link_bits * t["noc_bit"]}
        links["chip-to-chip links"] = w.interchip_bits * t["interchip_bit"]
        return compute, links, t["barrier"] + w.host_values * t["host_value"]

    def realistic(at: str) -> tuple[np.ndarray, np.ndarray]:
        compute, links, fixed = terms(at)
        chip = compute.sum(axis=0).max(axis=1) + sum(links.values())
        return chip + fixed, chip + getattr(timing["barrier"], at)

    compute, links, fixed = terms("low")
    low = np.maximum(compute.max(axis=2).max(axis=0), np.maximum(*links.values())) + fixed
    value, chip = realistic("value")
    high, _ = realistic("high")
    compute, links, _ = terms("value")
    names = ("neuron updates", "synaptic events", "synapse memory")
    shares = dict(zip(names, compute.max(axis=2).mean(axis=1)))
    shares |= {k: v.mean() for k, v in links.items()}
    shares["synchronisation"] = timing["barrier"].value
    shares["host I/O"] = w.host_values * timing["host_value"].value
    return StepTimes(low, value, high, chip, max(shares, key=shares.get))


def _spread(act: Activity) -> tuple[dict[str, np.ndarray], bool]:
    """Per source (populations, the input and the gate) its messages at each step of a sample,
    and whether they were recorded per step (else each total is spread evenly over the steps a
    source can send in)."""
    period = act.steps_per_sample
    if act.per_step is not None:
        return {k: np.asarray(v, np.float64) for k, v in act.per_step.items()}, True
    out = {INPUT: np.zeros(period), GATE: np.zeros(period)}
    out[INPUT][: act.steps] = act.sources.input.graded_messages / act.steps
    out[GATE][:] = act.sources.gate.spikes / period
    for r in act.layers:
        out[r.layer] = np.full(period, r.spikes / period)
    return out, False


def workload(
    net: FixedNetwork, act: Activity, profile: Profile, board: list[Placement]
) -> tuple[Workload, bool]:
    """The per-core work of ``net`` placed on ``profile``'s board (``board``: ``mapping.place``'s
    placement) under the activity ``act`` (per-sample means, ``analysis.activity``); also whether
    the steps were recorded one by one."""
    res = profile.resources
    placed = {p.population: p for p in board}
    messages, recorded = _spread(act)
    period = act.steps_per_sample
    names = [p.name for p in net.populations]
    start = {n: placed[n].first_core for n in names}
    cores = sum(placed[n].cores for n in names)
    neurons = np.concatenate([np.full(placed[n].cores, placed[n].neurons_per_core) for n in names])
    events = np.zeros((period, cores))
    words = np.zeros((period, cores))
    rows = {r.layer: r for r in act.layers}
    per_chip, columns = res["cores_per_chip"], int(profile.timing["mesh_columns"].value)
    spike_bits = profile.timing["spike_message_bits"].value
    payload_bits = {INPUT: net.input_bits, GATE: 0}
    payload_bits |= {
        p.name: net.formats.message_bits_max if isinstance(p, Term) else 0 for p in net.populations
    }
    links: dict[tuple, dict[str, float]] = {}  # link -> source -> bits per message it sends
    far: dict[tuple, dict[str, float]] = {}  # (chip, chip) -> source -> bits per message
    for p in net.populations:
        at, ins = placed[p.name], net.inputs_of(p.name)
        span = slice(start[p.name], start[p.name] + at.cores)
        fanout = [float(np.count_nonzero(s.weights)) / s.weights.shape[1] for s in ins]
        arriving = sum((messages[s.src] * f for s, f in zip(ins, fanout)), np.zeros(period))
        total = rows[p.name].synaptic_events + rows[p.name].graded_events
        if arriving.sum() > 0:  # the run's exact total, over the steps its sources send at
            events[:, span] = (arriving * total / arriving.sum() / at.cores)[:, None]
        for s, g in zip(ins, groups_of(net, ins, res)):
            per_axon = synmem_words([g], at.neurons_per_core, p.size, res) / g.axons
            words[:, span] += (messages[s.src] * per_axon)[:, None]
            if s.src in start:  # the host's sources enter through its own link: ``host_values``
                bits = spike_bits + payload_bits[s.src]
                _route(links, far, s.src, range(start[s.src], start[s.src] + placed[s.src].cores),
                       range(span.start, span.stop), bits, per_chip, columns)  # fmt: skip
    sources = sorted({src for by in (*links.values(), *far.values()) for src in by})
    sent = np.stack([messages[src] for src in sources]) if sources else np.zeros((0, period))

    def busiest(loads: dict) -> np.ndarray:
        """Per step, the bits over the busiest of ``loads``' links."""
        if not loads:
            return np.zeros(period)
        return (np.array([[by.get(k, 0.0) for k in sources] for by in loads.values()]) @ sent).max(
            axis=0
        )

    link_bits, interchip = busiest(links), busiest(far)
    host = net.input_channels + len(net.gate_channels) + net.population(net.readout).size
    return Workload(neurons, events, words, link_bits, interchip, float(host)), recorded


def _route(links, far, src, from_cores, to_cores, bits, per_chip, columns) -> None:
    """Adds the bits that one message of ``src`` (its spikes spread evenly over ``from_cores``)
    puts on each mesh link on its way to every core of ``to_cores``, X then Y; a message to
    another chip counts on the link between the two chips instead (its hops on either chip not
    counted)."""
    share = bits / len(from_cores)
    for i in from_cores:
        for j in to_cores:
            chip = i // per_chip
            if chip != j // per_chip:
                by = far.setdefault((chip, j // per_chip), {})
                by[src] = by.get(src, 0.0) + share
                continue
            (y0, x0), (y1, x1) = divmod(i % per_chip, columns), divmod(j % per_chip, columns)
            path = [(x, y0, x + (x1 > x0) - (x1 < x0), y0) for x in _between(x0, x1)]
            path += [(x1, y, x1, y + (y1 > y0) - (y1 < y0)) for y in _between(y0, y1)]
            for hop in path:
                by = links.setdefault((chip, *hop), {})
                by[src] = by.get(src, 0.0) + share


def _between(a: int, b: int) -> range:
    """The positions a message leaves on its way from a to b along one axis."""
    return range(a, b) if b >= a else range(a, b, -1)
