"""The artifact's network: a fixed-point network as Loihi 2 runs it, one entry per Lava process
(the contract between the converter and the backends; the backends read this and nothing else).

Processes (all of them Lava's standard ones):
- ``Neurons``, of three kinds: a ``Layer`` (Lava's ``LIFReset``: a layer of the model, u and v
  zeroed at its float time 0 of every sample, its ``lag``), a ``Relay`` (``LIF``: it fires one
  step after each spike it receives, copying a layer's spikes later in time) or a ``Term``
  (``GradedVec``: a term of the residual stream; at each step it sends the sum of its a_in as a
  graded payload of up to ``message_bits_max`` signed bits, ``payload_scale`` payload units per
  float unit; no state, no threshold, no bias; ``lag`` its float time 0).
- ``Synapse``: a ``Dense`` (delay 0, every row), ``DelayDense`` (one delay for all its synapses),
  ``Sparse`` or ``DelaySparse`` (only the non-zero weights are synapses). It delivers at step T,
  per target neuron, ``floor(2^weight_exp * (W @ s[T - 1 - delay]))`` activation units (s:
  binary spikes, or graded payloads from the input or a ``GradedVec``): one step
  of latency, the delay, one rounding per process. The outputs of the processes that feed one
  population add up in its ``a_in``.
- two host sources: ``input`` (feature frame t as graded spikes of ``input_bits`` signed bits,
  at most ``input_max`` in magnitude, at step t of each sample, zero after the sequence; after the
  ``input_size`` features one more channel holds 1 in every frame, whose synapses turn each input
  process's floor into rounding to nearest) and ``gate`` (a ``RingBuffer`` of binary
  channels repeating every sample): a channel ``(lag, "outside")`` spikes so that its synapses
  inhibit a layer at every step outside its float-time window ``[lag, lag + steps)``, a channel
  ``(lag, "end")`` so that they inhibit a relay line at step ``lag + steps`` only, when its source
  (of that lag) has finished the sample: the line is empty before the next sample enters. Sample k
  runs at steps ``k * period ... (k + 1) * period - 1`` with ``period = delay + steps``; every
  spike a sample causes falls within its period.

A layer starts a run with v at ``v_init``, far below its threshold: the gate's first spikes arrive
one step after the run starts, and the layer must not fire from its bias alone before that.

Time runs in hardware steps; layer p computes float time t at step ``t + lag``. The read-out is
the float ``head`` applied to the time-mean of the ``readout`` layer's spikes in its window.
``formats`` records the number formats the arithmetic assumes (``formats.Formats``).
``model_ops`` records the model's own synapses in the paper's convention, per layer of the PyTorch
model (``ModelOps``): what a run's spikes cost there, beside what they cost on the chip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..fixedpoint import quantize_input
from ..formats import Formats

INPUT, GATE = "input", "gate"
GATE_KINDS = ("outside", "end")


@dataclass
class Neurons:
    """A population: one of Lava's neuron processes (its kind is its class: ``Layer``, ``Relay``
    or ``Term``)."""

    name: str
    size: int

    lava_class: ClassVar[str]


@dataclass
class LifNeurons(Neurons):
    """Loihi's LIF arithmetic, in state units (``fixedpoint`` module docstring)."""

    du: int
    dv: int
    vth: int  # mantissa: spike when v > vth << vth_shift
    bias_mant: np.ndarray  # (size,) int
    bias_exp: np.ndarray  # (size,) int: bias = bias_mant << bias_exp state units
    v_init: int  # v before a run's first step (a layer's: too low for its bias to fire it)

    @property
    def bias(self) -> np.ndarray:
        """(size,) float64, exact: ``bias_mant << bias_exp`` state units."""
        return np.asarray(self.bias_mant, np.float64) * 2.0 ** np.asarray(self.bias_exp)


@dataclass
class Layer(LifNeurons):
    """A LIF layer of the model: Lava's ``LIFReset``, u and v zeroed at its float time 0 of every
    sample."""

    lag: int  # hardware step of float time 0 in each sample
    state_scale: float  # state units per float unit of the model's membrane (reports)

    lava_class: ClassVar[str] = "LIFReset"


@dataclass
class Relay(LifNeurons):
    """Lava's ``LIF`` that fires one step after each spike it receives: a line of them copies a
    layer's spikes later in time. It has no float time of its own."""

    lava_class: ClassVar[str] = "LIF"
    lag: ClassVar[None] = None


@dataclass
class Term(Neurons):
    """A term of the residual stream: Lava's ``GradedVec``, which sends the sum of its a_in at each
    step as a graded payload; no state, no threshold, no bias."""

    lag: int  # hardware step of float time 0 in each sample
    payload_scale: float  # payload units per float unit of the term

    lava_class: ClassVar[str] = "GradedVec"


@dataclass
class Synapse:
    """One of Lava's synapse processes (module docstring)."""

    src: str  # a population, INPUT or GATE
    dst: str
    weights: np.ndarray  # (n_dst, n_src) int16, Lava-effective 8-bit values (``lava_weights``)
    weight_exp: int
    delay: int = 0
    sparse: bool = False
    rel_error: float = (
        0.0  # of the quantised weights (all sets of one float matrix) against the float ones
    )

    @property
    def lava_class(self) -> str:
        return ("Delay" if self.delay else "") + ("Sparse" if self.sparse else "Dense")

    @property
    def synapses(self) -> int:
        """Stored weights: every entry of a dense matrix, the non-zero ones of a sparse one."""
        w = np.asarray(self.weights)
        return int(np.count_nonzero(w)) if self.sparse else int(w.size)

    @property
    def name(self) -> str:
        return f"{self.dst}<-{self.src}@{self.delay}"


@dataclass
class ModelOps:
    """One layer of the PyTorch model as the paper counts its synaptic operations: each spike of
    ``source`` (a population, or ``input`` for the graded first layer, counted as MACs per frame)
    times its non-zero fan-out. ``fanout`` (n_source,) over all taps; for an impulse response
    (the LMU memory) ``taps`` (taps, n_source) instead, a spike at float time t reaching the taps
    that fall within the sequence."""

    source: str
    fanout: np.ndarray | None = None
    taps: np.ndarray | None = None


@dataclass
class FixedNetwork:
    input_size: int
    input_frac_bits: int
    input_bits: int
    input_max: int  # largest |payload|: features are clipped to +-input_max / 2^input_frac_bits
    gate_channels: list[tuple[int, str]]  # (lag, kind) per channel of the gate source
    populations: list[Neurons]  # every source before its readers (a relay line also reads itself)
    synapses: list[Synapse]  # grouped by target, in population order
    readout: str  # the layer whose spikes the head reads
    head_weight: np.ndarray  # (classes, n_readout) float32
    head_bias: np.ndarray
    formats: Formats = field(default_factory=Formats)
    meta: dict = field(default_factory=dict)
    model_ops: list[ModelOps] = field(default_factory=list)
    checksum: str = (
        ""  # the file's checksum, set by read_artifact: names the network in run records
    )

    @property
    def input_channels(self) -> int:
        """The input's width: the features and the rounding channel."""
        return self.input_size + 1

    def quantize_input(self, x) -> tuple:
        """(frames (samples, steps, input_channels) int32, number of clipped values) of real-valued
        features x (samples, steps, input_size): the graded payloads, then the rounding channel.
        A torch tensor stays on its device."""
        q, clipped = quantize_input(x, self.input_frac_bits, self.input_max)
        if isinstance(q, np.ndarray):
            return np.concatenate([q, np.ones(q.shape[:2] + (1,), np.int32)], axis=2), clipped
        import torch

        return torch.cat([q, torch.ones_like(q[:, :, :1])], dim=2), clipped

    def population(self, name: str) -> Neurons:
        return next(p for p in self.populations if p.name == name)

    @property
    def layers(self) -> list[Layer]:
        """The model's LIF layers (not the relays), in order."""
        return [p for p in self.populations if isinstance(p, Layer)]

    @property
    def processes(self) -> int:
        """The Lava processes the network is, as ``lmuneuro inspect`` lists them: every
        population, every synapse process and the gate's source (the host's input sources and
        sinks apart). Every command counts with this."""
        return len(self.populations) + len(self.synapses) + 1

    def inputs_of(self, name: str) -> list[Synapse]:
        return [s for s in self.synapses if s.dst == name]

    @property
    def delay(self) -> int:
        """Algorithmic delay in steps: frame t's contribution reaches the read-out at step t +
        delay."""
        return self.population(self.readout).lag


def gate_pattern(channels: list[tuple[int, str]], steps: int, period: int) -> np.ndarray:
    """The gate source's spikes over one sample, (channels, period) int8: a spike at step s
    arrives (one step of synaptic latency) at step s + 1, which a channel ``(lag, "outside")``
    silences unless it lies in ``[lag, lag + steps)`` and a channel ``(lag, "end")`` only if it is
    ``lag + steps`` (all modulo the period)."""
    arrival = (np.arange(period) + 1) % period
    out = np.zeros((len(channels), period), np.int8)
    for c, (lag, kind) in enumerate(channels):
        out[c] = (
            (arrival == (lag + steps) % period)
            if kind == "end"
            else ~((arrival >= lag) & (arrival < lag + steps))
        )
    return out


# every kind of population, by its Lava class
KINDS = {k.lava_class: k for k in (Layer, Relay, Term)}
