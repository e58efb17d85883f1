"""The schedule of a float graph on the chip: each layer's lag, each tap's delay, and the relays
that carry delays beyond the synapses' reach. Nothing here is quantised.

A layer's lag is the earliest hardware step at which every input it reads for float time 0 has
arrived: ``lag(p) = max over taps (lag(src) + 1 + offset)``; each tap then gets the delay
``lag(p) - lag(src) - 1 - offset`` (>= 0). The k=3 convolutions look one frame ahead, so every
such hop adds a step.

A tap is one connection (later one synapse process per weight set and exponent class, ``Dense``
at delay 0, else ``DelayDense``). A delay beyond the chip's ``delay_max`` goes through relay
populations (copies of the source ``delay_max + 1`` steps later each). A group of many taps from
one source (the LMU memory's impulse response, 128 taps from one neuron) becomes a relay line, a
``LIF`` population in which neuron ``(j - 1) * n + i`` fires j steps after source neuron i, read
by one process whose columns are the taps; the gate empties the line when its source has
finished a sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..artifact import GATE, INPUT, Relay, Synapse
from ..formats import Formats
from . import ConversionError
from .graph import Graph, fold

__all__ = ["LINE_TAPS", "Connection", "Relays", "Schedule", "schedule"]

LINE_TAPS = (
    4  # a group of this many taps or more from one source reads a relay line: fewer processes
)


@dataclass
class Connection:
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


class Relays:
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


def _lags(graph: Graph) -> dict[str, int]:
    """Each population's lag (and the input's, 0)."""
    lags = {INPUT: 0}
    for p in graph.populations:
        lags[p.name] = max(lags[g.src] + 1 + max(g.offsets) for g in p.inputs)
    return lags


def _connections(graph: Graph, lags: dict, relays: Relays) -> dict[str, list[Connection]]:
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
                        conns.append(Connection(g.src, 0, w, lags[g.src] + 1 - lags[p.name]))
                    else:
                        on_line[:, (d - 1) * n : d * n] += w
                conns.append(
                    Connection(line_of[g.src], 0, on_line, 0)
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
                    Connection(
                        relays.delayed(g.src, hops),
                        d - hops * (fmt.delay_max + 1),
                        w,
                        lags[g.src] + 1 + d - lags[p.name],
                    )
                )
        out[p.name] = conns
    return out


@dataclass(frozen=True)
class Schedule:
    """A graph scheduled for the chip: what the quantiser (``quantize``) turns into processes."""

    graph: Graph  # with every graded term beyond a reader's longest delay folded into its readers
    lags: dict[str, int]
    relays: Relays  # their populations and wiring, the gate's included
    connections: dict[str, list[Connection]]  # per population, what it reads
    # the gate's channels: (lag, "outside") per layer lag, then (its source's lag, "end") per
    # relay line
    gate: list[tuple[int, str]]

    @property
    def delay(self) -> int:
        """Steps from a sample's first input to the last layer's first output."""
        return self.lags[self.graph.populations[-1].name]

    def channel(self, name: str) -> int:
        """The gate channel that silences layer ``name`` outside its window."""
        return self.gate.index((self.lags[name], "outside"))


def schedule(graph: Graph, fmt: Formats) -> Schedule:
    """Lags, connections and relays of ``graph`` under ``fmt``'s delays."""
    while True:  # a graded term beyond a reader's longest delay is folded into its readers
        lags = _lags(graph)
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
    relays = Relays(
        {INPUT: graph.input_size, **{p.name: p.size for p in graph.populations}}, lags, fmt
    )
    connections = _connections(graph, lags, relays)
    channels = sorted({lags[p.name] for p in graph.populations if not p.graded})
    gate = [(lag, "outside") for lag in channels] + [(lag, "end") for _, lag in relays.kills]
    for k, (line, _) in enumerate(relays.kills):
        n = relays.sizes[line]
        relays.synapses.append(
            _wiring(GATE, line, np.arange(n), np.full(n, len(channels) + k), (n, len(gate)), 0, -2)
        )
    return Schedule(graph, lags, relays, connections, gate)
