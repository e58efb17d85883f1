"""Whether a network's sums fit Loihi's widths, for any input: every synapse process's ``a_out``
and every layer's ``a_in`` within ``activation_bits`` signed bits at every step.

A process's output lies in ``[floor(2^e * neg), floor(2^e * pos)]`` per target neuron, ``pos`` and
``neg`` the sums of its positive and negative weights times the largest payload (1 for spikes;
either sign for the graded input and for a graded population, whose payload is bounded by the sum
of its own processes' ranges and must fit ``message_bits_max`` signed bits). Within a layer's
float-time window every process but the gate may deliver at once; before and after it the gate's
inhibition adds to what the processes that can deliver there do (``regions``). The converter
sizes every layer by these bounds, ``lmuneuro inspect`` reports their margins, and the backends
refuse a network that breaks them. With a
hardware profile, the neuro-cores, neurons and synapses the network needs are limits too
(``resources``). So is what lets the emulator run each sample on its own as Lava runs them back
to back (docs/artifact.md): every layer silenced outside its window, every relay line emptied at
its source's end, every delivery of a sample within its period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..artifact import GATE, INPUT, FixedNetwork, Layer, LifNeurons, Relay, Term
from ..formats import Formats
from ..loihi import shift
from ..profiles import Profile
from .mapping import place

__all__ = [
    "a_out_range",
    "input_payload",
    "process_range",
    "payload",
    "graded_range",
    "offset_payloads",
    "graded_parts",
    "regions",
    "offsets",
    "Limit",
    "check",
    "violations",
    "resources",
]


def a_out_range(weights: np.ndarray, weight_exp: int, payload) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) output per target neuron of a process with integer ``weights`` (n_dst,
    n_src): binary spikes (``payload`` None), graded payloads of either sign up to ``payload``
    (n_src,) per source channel, or graded payloads within ``payload = (lo, hi)`` per channel."""
    w = np.asarray(weights, np.float64)
    if payload is None:
        lo, hi = np.zeros(w.shape[1]), np.ones(w.shape[1])
    elif isinstance(payload, tuple):
        lo, hi = (np.asarray(b, np.float64) for b in payload)
    else:
        hi = np.asarray(payload, np.float64)
        lo = -hi
    wp, wn = np.clip(w, 0, None), np.clip(w, None, 0)
    return shift(wp @ lo + wn @ hi, weight_exp), shift(wp @ hi + wn @ lo, weight_exp)


def offset_payloads(parts) -> dict:
    """A graded population's payload range per offset of its processes, ``{offset: (lo, hi)}``,
    from their ``(lo, hi, offset, ...)``: what it can send before, in and after its window."""
    out: dict = {}
    for lo, hi, offset, *_ in parts:
        a, b = out.get(offset, (0.0, 0.0))
        out[offset] = (a + lo, b + hi)
    return out


def graded_parts(weights: np.ndarray, weight_exp: int, payloads: dict, hop: int | None) -> list:
    """The ``regions`` parts ``(lo, hi, offset, False)`` of a process that reads a graded
    population with payload ranges ``payloads`` per offset (``offset_payloads``) and delivers at
    ``hop`` relative to its reader's window: per offset what its payloads bring, and the
    window's total exactly (a part at the hop itself carries what the offsets' separate floors
    leave out)."""
    total = a_out_range(
        weights, weight_exp, tuple(sum(c[i] for c in payloads.values()) for i in (0, 1))
    )
    parts, lo, hi = [], total[0], total[1]
    for offset, payload in payloads.items():
        if offset == 0:
            continue
        p_lo, p_hi = a_out_range(weights, weight_exp, payload)
        where = None if offset is None or hop is None else offset + hop
        parts.append((p_lo, p_hi, where, False))
        lo, hi = lo - p_lo, hi - p_hi
    return parts + [(lo, hi, hop, False)]


def regions(
    parts: list[tuple[np.ndarray, np.ndarray, int | None, bool]], delay: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A layer's a_in range per neuron in each region of a sample, ``{"window": (lo, hi),
        "before": ..., "after": ...}``, from its processes' ``(lo, hi, offset, is_gate)``.
        ``offset``:
        where a process's deliveries start relative to the layer's window (``arrival - lag``): 0
        when
        they coincide with it, < 0 when it delivers before the window (a look-ahead tap), > 0 after
        it (a look-back tap), None when unknown (either side). The gate delivers its inhibition at
    every step outside the window and nothing inside. When a look-back tail of one
        sample can meet the look-ahead head of the next (``max offset - min offset - 1 >= delay``,
        the
        steps between samples), before and after are one region."""
    size = len(parts[0][0]) if parts else 0
    sums = {r: [np.zeros(size), np.zeros(size)] for r in ("window", "before", "after")}
    known = [o for _, _, o, gate in parts if not gate and o is not None]
    merged = (
        max([-o for o in known if o < 0], default=0)
        + max([o for o in known if o > 0], default=0)
        - 1
        >= delay
    )
    for lo, hi, offset, gate in parts:
        if gate:  # it spikes at every step outside the window: its inhibition is certain
            where, hi = ("before", "after"), lo
        elif offset is None or (merged and offset):
            where = ("window", "before", "after")
        else:
            where = ("window",) + (("before",) if offset < 0 else ("after",) if offset > 0 else ())
        for r in where:
            sums[r][0] = sums[r][0] + lo
            sums[r][1] = sums[r][1] + hi
    return {r: (lo, hi) for r, (lo, hi) in sums.items()}


def offsets(net: FixedNetwork) -> list[int | None]:
    """Each process's ``offset`` (``regions``), in the order of ``net.synapses`` (0 for the gate's
    and for those into relays, which have no window): where the source's spikes of the sample's
    first frame arrive relative to the target layer's lag. A relay line
    (a relay reading itself) counts as 0: the gate empties it at the end of its source's window,
    so that it delivers within its readers' windows only. A process that reads a graded
    population has the offset of its own delivery (``graded_parts`` adds its source's spread)."""
    start, line = {INPUT: 0}, {}
    for p in net.populations:
        ins = net.inputs_of(p.name)
        if not isinstance(p, Relay):  # a layer or a term
            start[p.name] = p.lag
            continue
        feed = next((s for s in ins if s.src not in (GATE, p.name)), None)
        if feed is None or feed.src not in start:
            continue
        if any(s.src == p.name for s in ins):
            line[p.name] = start[feed.src] + 1
        else:  # a delayed copy of its source
            start[p.name] = start[feed.src] + 1 + feed.delay
    out = []
    for s in net.synapses:
        dst = net.population(s.dst)
        if isinstance(dst, Relay) or s.src == GATE:
            out.append(0)
        elif s.src in line:  # read by the layers after its source only
            out.append(0 if dst.lag >= line[s.src] else -1)
        else:  # unknown timing: counted on both sides
            out.append(start[s.src] + 1 + s.delay - dst.lag if s.src in start else None)
    return out


@dataclass
class Limit:
    """One chip limit at one place: the range ``[lo, hi]`` a value can take against the allowed
    ``[bound_lo, bound_hi]`` (``bound_lo`` None: a ceiling only); ``margin`` is the room left on the
    tighter side (negative: broken)."""

    limit: str
    where: str
    lo: float
    hi: float
    bound_lo: float | None
    bound_hi: float

    @property
    def margin(self) -> float:
        room = self.bound_hi - self.hi
        return room if self.bound_lo is None else min(room, self.lo - self.bound_lo)

    def describe(self) -> str:
        value = f"{self.hi:,.0f}" if self.bound_lo is None else f"[{self.lo:,.0f}, {self.hi:,.0f}]"
        bound = (
            f"{self.bound_hi:,.0f}"
            if self.bound_lo is None
            else f"[{self.bound_lo:,.0f}, {self.bound_hi:,.0f}]"
        )
        return f"{self.where}: {self.limit}: {value} {'within' if self.ok else 'exceeds'} {bound}"

    @property
    def ok(self) -> bool:
        return self.margin >= 0


def input_payload(input_size: int, input_max: int) -> np.ndarray:
    """The largest |payload| of each input channel: the features', and the rounding channel's 1."""
    return np.append(np.full(input_size, float(input_max)), 1.0)


def payload(net: FixedNetwork, src: str):
    """The payloads of a graded source, for ``a_out_range``: the input's largest |payload| per
    channel, a graded population's (lowest, highest) per neuron (the sums of what its processes
    can deliver); None for spikes."""
    if src == INPUT:
        return input_payload(net.input_size, net.input_max)
    if src == GATE or not isinstance(net.population(src), Term):
        return None
    return graded_range(net, src)


def graded_range(net: FixedNetwork, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) a_in, hence payload, per neuron of a graded population: all its
    processes may deliver at once."""
    parts = [process_range(net, s) for s in net.inputs_of(name)]
    return sum(lo for lo, _ in parts), sum(hi for _, hi in parts)


def process_range(net: FixedNetwork, s) -> tuple[np.ndarray, np.ndarray]:
    """``a_out_range`` of one of ``net``'s synapse processes, with its source's payloads."""
    return a_out_range(s.weights, s.weight_exp, payload(net, s.src))


def resources(net: FixedNetwork, profile: Profile) -> list[dict]:
    """Neurons, synapses, processes, neuro-cores and chips per population (a population and the
    synapse processes that feed it), placed on the profile's board by ``mapping``."""
    rows = []
    for p, at in zip(net.populations, place(net, profile.resources)):
        ins = net.inputs_of(p.name)
        rows.append(
            {
                "layer": p.name,
                "class": p.lava_class,
                "neurons": p.size,
                "synapses": sum(s.synapses for s in ins),
                "processes": 1 + len(ins),
                "cores": at.cores,
                "neurons_per_core": at.neurons_per_core,
                "synmem_words": at.synmem_words,
                "chips": list(at.chips),
                "lag": p.lag,
                "vth_mant": p.vth if isinstance(p, LifNeurons) else 0,  # GradedVec(vth=0)
                "weight_error": max((s.rel_error for s in ins), default=0.0),
            }
        )
    return rows


def check(
    net: FixedNetwork, profile: Profile | None = None, rows: list[dict] | None = None
) -> list[Limit]:
    """Every limit of ``net`` with its margin: per process its a_out, per population its a_in (a
    layer's in, before and after its window), the largest delay, the input's payload and, with a
    profile, the neuro-cores, neurons and synapses of its chips (``rows``: its ``resources``
    where the caller has placed it already)."""
    fmt: Formats = net.formats
    bits = f"within {fmt.activation_bits} bits"
    processes = list(zip(net.synapses, offsets(net)))
    out, payloads = [], {}  # a graded population's payload range per offset
    for p in net.populations:
        parts = []
        for s, offset in processes:
            if s.dst != p.name:
                continue
            lo, hi = process_range(net, s)
            out.append(Limit(f"a_out {bits}", s.name, lo.min(), hi.max(), fmt.a_min, fmt.a_max))
            if s.src in payloads:
                parts += graded_parts(s.weights, s.weight_exp, payloads[s.src], offset)
            else:
                parts.append((lo, hi, offset, s.src == GATE))
        if isinstance(p, Term):
            payloads[p.name] = offset_payloads(parts)
        if isinstance(p, Layer):
            out.append(_silenced(net, p, [pt for pt in parts if not pt[3]]))
        elif isinstance(p, Relay) and any(s.src == p.name for s in net.inputs_of(p.name)):
            out.append(_emptied(net, p, [pt for pt in parts if not pt[3]]))
        if parts:
            out += _sum_limits(net, p, parts)
    out += _within_period(net)
    if net.synapses:
        s = max(net.synapses, key=lambda s: s.delay)
        out.append(Limit("synaptic delay", s.name, 0, s.delay, None, fmt.delay_max))
    out.append(
        Limit("graded input payload bits", INPUT, 0, net.input_bits, None, fmt.message_bits_max)
    )
    if profile is not None:
        out += _chip_limits(profile, resources(net, profile) if rows is None else rows)
    return out


def _sum_limits(net: FixedNetwork, p, parts: list) -> list[Limit]:
    """The limits of what the processes into ``p`` deliver together (``parts``: their ranges):
    a term's payload; a layer's a_in per region of its window, a relay's at once; then u."""
    fmt: Formats = net.formats
    bits = f"within {fmt.activation_bits} bits"
    if isinstance(p, Term):  # every process at once; the sum leaves as a payload, not into u
        lo, hi = graded_range(net, p.name)
        top = 2 ** (fmt.message_bits_max - 1)
        return [
            Limit(
                f"graded payload within {fmt.message_bits_max} bits",
                p.name,
                lo.min(),
                hi.max(),
                -top,
                top - 1,
            )
        ]
    out = []
    if isinstance(p, Layer):
        ranges = regions(parts, net.delay)
        out += [
            Limit(
                f"a_in {bits} ({region} its window)"
                if region != "window"
                else f"a_in {bits} (in its window)",
                p.name,
                lo.min(),
                hi.max(),
                fmt.a_min,
                fmt.a_max,
            )
            for region, (lo, hi) in ranges.items()
        ]
        lo, hi = (
            min(r[0].min() for r in ranges.values()),
            max(r[1].max() for r in ranges.values()),
        )
    else:  # a relay has no window: all its processes may deliver at once
        lo, hi = sum(pt[0] for pt in parts).min(), sum(pt[1] for pt in parts).max()
        out.append(Limit(f"a_in {bits}", p.name, lo, hi, fmt.a_min, fmt.a_max))
    shift = 2**fmt.activation_shift  # u = a_in << 6 (du 4095) must not wrap around the state
    out.append(
        Limit(
            f"u within {fmt.state_bits} bits",
            p.name,
            lo * shift,
            hi * shift,
            -(fmt.state_max - 1),
            fmt.state_max,
        )
    )
    return out


def _chip_limits(profile: Profile, rows: list[dict]) -> list[Limit]:
    """The profile's resources against the network placed on them (``rows``: ``resources``): the
    fullest neuro-core's synapse memory, and the cores, neurons and synapses of all its chips."""
    res = profile.resources
    worst = max(rows, key=lambda r: r["synmem_words"])
    out = [
        Limit(
            "synapse memory per neuro-core "
            f"(synmem_words_per_core {res['synmem_words_per_core']:,} words)",
            f"{worst['layer']} at one neuron per core"
            if worst["neurons_per_core"] == 1
            else worst["layer"],
            0,
            worst["synmem_words"],
            None,
            res["synmem_words_per_core"],
        )
    ]
    for key, limit, what in (
        ("cores", "cores_per_chip", "neuro-cores"),
        ("neurons", "neurons_per_chip", "neurons"),
        ("synapses", "synapses_per_chip", "synapses"),
    ):
        worst = max(rows, key=lambda r: r[key])
        out.append(
            Limit(
                f"{what} on {res['chips']} {profile.name} chip(s) ({limit} {res[limit]:,})",
                f"network (largest: {worst['layer']}, {worst[key]:,})",
                0,
                sum(r[key] for r in rows),
                None,
                res[limit] * res["chips"],
            )
        )
    return out


def _gate_inhibition(net: FixedNetwork, p, channel: tuple[int, str]) -> np.ndarray:
    """What the gate surely delivers to ``p`` (per neuron, <= 0) at a step where ``channel``
    fires: that channel's weights (the file's gate only inhibits, ``artifact.validate``; other
    channels firing then only add to it)."""
    if channel not in net.gate_channels:
        return np.zeros(p.size)
    col = net.gate_channels.index(channel)
    total = np.zeros(p.size)
    for s in net.inputs_of(p.name):
        if s.src == GATE:
            total += shift(np.asarray(s.weights, np.float64)[:, col], s.weight_exp)
    return total


def _silenced(net: FixedNetwork, p: Layer, live: list) -> Limit:
    """A layer must not fire outside its window, whatever its live processes deliver there: with
    u + bias <= 0 at every such step, v never rises above the threshold it was under. Lava runs
    each sample after the one before and the emulator each from the run's start: this is what
    makes them agree (``artifact.validation._alike``)."""
    shift_ = 2**net.formats.activation_shift
    ranges = regions(live, net.delay) if live else {}
    hi = np.maximum(ranges["before"][1], ranges["after"][1]) if live else np.zeros(p.size)
    drive = (hi + _gate_inhibition(net, p, (p.lag, "outside"))) * shift_ + p.bias
    return Limit(
        "u + bias outside its window (silenced by the gate)",
        p.name,
        drive.min(),
        drive.max(),
        None,
        0,
    )


def _emptied(net: FixedNetwork, p: Relay, live: list) -> Limit:
    """A relay line must be empty when its source's sample is over: at that step (its gate
    channel ``(lag, "end")``) whatever its processes deliver leaves u <= 0, so that nothing of one
    sample travels on into the next."""
    feed = next((s.src for s in net.inputs_of(p.name) if s.src not in (GATE, p.name)), None)
    lag = 0 if feed in (None, INPUT) else net.population(feed).lag
    hi = sum(pt[1] for pt in live) if live else np.zeros(p.size)
    end = (
        _gate_inhibition(net, p, (lag, "end"))
        if lag is not None
        else np.full(p.size, np.inf)  # fed by another relay: no step at which it is emptied
    )
    drive = (hi + end) * 2**net.formats.activation_shift
    return Limit(
        "u at its source's end (emptied by the gate)", p.name, drive.min(), drive.max(), None, 0
    )


def _within_period(net: FixedNetwork) -> list[Limit]:
    """Every delivery of a sample reaches a term or a relay within the sample's period, and a
    layer before its window in the next sample (where the gate silences it, ``_silenced``), so
    that the next sample's spikes do not depend on it (the emulator never sees it). A source's
    payloads of a sample lie within steps ``[0, end + steps)``: ``end`` 0 for the input, a layer's
    lag (it is silenced after its window), for a term or a relay copy its last process's arrival,
    for a relay line its source's (the gate empties it at that source's end); a process delivers
    them ``1 + delay`` steps later."""
    end, out = {INPUT: 0}, []
    for p in net.populations:
        ins = [s for s in net.inputs_of(p.name) if s.src not in (GATE, p.name)]
        arrive = max((end[s.src] + 1 + s.delay for s in ins), default=0)
        bound = net.delay + (p.lag if isinstance(p, Layer) else 0)
        out.append(Limit("a sample's deliveries within its period", p.name, 0, arrive, None, bound))
        line = isinstance(p, Relay) and any(s.src == p.name for s in net.inputs_of(p.name))
        end[p.name] = p.lag if isinstance(p, Layer) else end[ins[0].src] if line else arrive
    return out


def violations(
    net: FixedNetwork, profile: Profile | None = None, rows: list[dict] | None = None
) -> list[str]:
    """One line per broken limit (empty when the network fits; ``rows`` as for ``check``)."""
    return [v.describe() for v in check(net, profile, rows) if not v.ok]
