"""The deployment artifact: a fixed-point network as Loihi 2 runs it, one entry per Lava process
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
``formats`` records the number formats the arithmetic assumes (``fixedpoint.Formats``).
``model_ops`` records the model's own synapses in the paper's convention, per layer of the PyTorch
model (``ModelOps``): what a run's spikes cost there, beside what they cost on the chip.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from typing import ClassVar

import h5py
import numpy as np

from .files import check_budget, parse_json, read_budget, to_json, write_output
from .fixedpoint import Formats, input_limit, quantize_input
from .loihi import check_formats, decay, lava_weights

__all__ = [
    "Neurons",
    "LifNeurons",
    "Layer",
    "Relay",
    "Term",
    "Synapse",
    "FixedNetwork",
    "INPUT",
    "GATE",
    "GATE_KINDS",
    "gate_pattern",
    "ArtifactError",
    "ModelOps",
    "write_artifact",
    "read_artifact",
    "validate",
    "FORMAT_VERSION",
]

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


# ---------------------------------------------------------------- HDF5 file

FORMAT, FORMAT_VERSION = "lmuneuro-artifact", 4


class ArtifactError(ValueError):
    """An artifact that cannot be used; one line naming the file and the problem."""


def _datasets(net: FixedNetwork) -> dict[str, np.ndarray]:
    out = {
        "head/weight": np.asarray(net.head_weight, np.float32),
        "head/bias": np.asarray(net.head_bias, np.float32),
    }
    for i, p in enumerate(net.populations):
        # a term has no bias: the file holds zeros, so that every population has both datasets
        lif = isinstance(p, LifNeurons)
        for k in ("bias_mant", "bias_exp"):
            out[f"neurons/{i}/{k}"] = np.asarray(getattr(p, k) if lif else [0] * p.size, np.int16)
    for j, s in enumerate(net.synapses):
        out[f"synapse/{j}/weight"] = np.asarray(s.weights, np.int16)
    return out


def _digest(arrays: dict[str, np.ndarray], attrs: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    # a digest of what a file holds, NaN included (reading checks the values once the checksum
    # holds): not JSON written anywhere, so not the strict writer
    h.update(json.dumps(attrs, sort_keys=True).encode())
    return h.hexdigest()


_LIF_FIELDS = ("du", "dv", "vth", "v_init")


def _neurons_entry(p: Neurons) -> dict:
    """One population in the file: every kind has every field (a term's LIF fields 0, a relay's
    lag null and scale 0), so that the format stays one table."""
    lif = isinstance(p, LifNeurons)
    scale = (
        p.state_scale if isinstance(p, Layer) else p.payload_scale if isinstance(p, Term) else 0.0
    )
    return {
        "name": p.name,
        "class": p.lava_class,
        "size": p.size,
        **{k: getattr(p, k) if lif else 0 for k in _LIF_FIELDS},
        "lag": p.lag,
        "scale": scale,
    }


def _structure(net: FixedNetwork) -> dict:
    """Every scalar that defines the network (checksummed together with the arrays): one entry per
    Lava process, named by its class."""
    return {
        "input": {
            "size": net.input_size,
            "frac_bits": net.input_frac_bits,
            "bits": net.input_bits,
            "max": net.input_max,
        },
        "gate": [[int(lag), kind] for lag, kind in net.gate_channels],
        "neurons": [_neurons_entry(p) for p in net.populations],
        "synapses": [
            {
                "class": s.lava_class,
                "src": s.src,
                "dst": s.dst,
                "weight_exp": s.weight_exp,
                "delay": s.delay,
                "rel_error": s.rel_error,
            }
            for s in net.synapses
        ],
        "readout": net.readout,
        "model_ops": [
            {
                "source": m.source,
                **({"fanout": np.asarray(m.fanout).tolist()} if m.fanout is not None else {}),
                **({"taps": np.asarray(m.taps).tolist()} if m.taps is not None else {}),
            }
            for m in net.model_ops
        ],
        "formats": net.formats.to_dict(),
    }


def write_artifact(path, net: FixedNetwork) -> str:
    """Write whole or not at all; returns the file's SHA-256 (of the bytes written). The HDF5 file
    is built in memory: h5py can crash the process when the disk fills under it, a plain write
    reports it."""
    arrays, structure = _datasets(net), _structure(net)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs.update(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            structure=to_json(structure),
            meta=to_json(net.meta),
            checksum=_digest(arrays, structure),
        )
        for k, a in arrays.items():
            f.create_dataset(k, data=a)
    write_output(path, buf.getvalue())
    return hashlib.sha256(buf.getbuffer()).hexdigest()


# What the backends' loops and allocations are sized by, bounded before any of them: lmuneuro's
# largest presets convert to a few hundred processes, and the consistency checks (``limits``) take
# time quadratic in the count
MAX_PROCESSES = 4096
# neurons in all: the largest board a bundled profile describes (Kapoho Point, 8 Loihi 2 chips of
# 2^20 neurons); the emulator's memory grows with them (``backends.run_backend`` bounds a run's)
MAX_NEURONS = 8 * 2**20
# the characters convert's names use (module paths, ``.line``, ``.delay63``): nothing that a
# terminal interprets, short enough for one line
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,199}")


def _name(v, what: str) -> str:
    if not isinstance(v, str) or not NAME.fullmatch(v):
        shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:40] + "..."
        raise ArtifactError(
            f"{what} {shown} is not a name lmuneuro writes (at most 200 of A-Z a-z 0-9 _ . : + -)"
        )
    return v


def _expected(structure: dict) -> dict[str, tuple[tuple | None, np.dtype]]:
    """Every dataset the structure implies: name -> (shape, dtype); the head's class count is the
    one dimension the structure leaves open (None)."""
    sizes = {INPUT: _int(structure["input"]["size"]) + 1, GATE: len(structure["gate"])}
    out = {}
    for i, e in enumerate(structure["neurons"]):
        sizes[_name(e["name"], "population name")] = n = _int(e["size"])
        out[f"neurons/{i}/bias_mant"] = out[f"neurons/{i}/bias_exp"] = ((n,), np.dtype(np.int16))
    for j, e in enumerate(structure["synapses"]):
        if str(e["src"]) not in sizes or str(e["dst"]) not in sizes:
            raise ValueError(f"synapse {j} connects populations the structure does not define")
        out[f"synapse/{j}/weight"] = (
            (sizes[str(e["dst"])], sizes[str(e["src"])]),
            np.dtype(np.int16),
        )
    readout = _name(structure["readout"], "read-out")
    if readout not in sizes:
        raise ValueError(f"the read-out {readout!r} is not a population")
    out["head/weight"] = ((None, sizes[readout]), np.dtype(np.float32))
    out["head/bias"] = ((None,), np.dtype(np.float32))
    return out


def _datasets_of(f: h5py.File) -> dict[str, h5py.Dataset]:
    """Every dataset, reached through hard links only: an external or soft link would lead h5py
    to read another file or another object than the name says."""
    found, todo = {}, [("", f)]
    while todo:
        prefix, group = todo.pop()
        for name in group:
            path = prefix + name
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                kind = {"SoftLink": "a soft link", "ExternalLink": "an external link"}.get(
                    type(link).__name__, "a link"
                )
                raise ArtifactError(
                    f"{path} is {kind}; lmuneuro writes none and does not follow them"
                )
            obj = group[name]
            if isinstance(obj, h5py.Group):
                todo.append((path + "/", obj))
            elif isinstance(obj, h5py.Dataset):
                found[path] = obj
            else:
                raise ArtifactError(f"{path} is a {type(obj).__name__}; lmuneuro writes none")
    return found


def _check_sizes(structure: dict, expected: dict) -> None:
    """The counts that the checks, the backends and the reports loop over, and the neurons they
    allocate for, bounded before anything is read."""
    counts = {k: len(structure[k]) for k in ("neurons", "synapses", "gate")}
    if sum(counts.values()) > MAX_PROCESSES:
        raise ArtifactError(
            f"the structure declares {counts['neurons']:,} populations, {counts['synapses']:,} "
            f"synapse processes and {counts['gate']:,} gate channels, more than the "
            f"{MAX_PROCESSES:,} lmuneuro reads"
        )
    neurons = _int(structure["input"]["size"]) + 1
    neurons += sum(max(shape[0], 0) for k, (shape, _) in expected.items() if k.endswith("_mant"))
    if neurons > MAX_NEURONS:
        raise ArtifactError(
            f"the structure declares {neurons:,} neurons and input channels, more than the "
            f"{MAX_NEURONS:,} lmuneuro reads"
        )


def _check_layout(f: h5py.File, structure: dict, file_size: int) -> dict[str, h5py.Dataset]:
    """Check every dataset's declaration against the structure before any data is read: names,
    shapes, dtypes, storage (contiguous or compact, no filter, no external file, no virtual
    mapping) and that its bytes are in the file. Reading is then bounded by the file's size."""
    expected = _expected(structure)
    _check_sizes(structure, expected)
    found = _datasets_of(f)
    if set(found) != set(expected):
        extra, missing = sorted(set(found) - set(expected)), sorted(set(expected) - set(found))
        raise ArtifactError(
            f"dataset {(extra or missing)[0]} is {'not part' if extra else 'missing from'} "
            "the structure the artifact declares"
        )
    bias, weight = found["head/bias"].shape, found["head/weight"].shape
    classes = bias if len(bias) == 1 else weight[:1]
    total = 0
    for name, d in sorted(found.items()):
        shape, dtype = expected[name]
        shape = tuple(classes[0] if n is None and classes else n for n in shape)
        if d.dtype != dtype or d.shape != shape:
            raise ArtifactError(
                f"dataset {name} declares {d.dtype} {d.shape}; the structure implies {dtype} "
                f"{shape}"
            )
        if d.is_virtual:
            raise ArtifactError(f"dataset {name} is a virtual dataset; lmuneuro writes none")
        plist = d.id.get_create_plist()
        storage = [
            what
            for what, bad in (
                ("chunked", plist.get_layout() not in (h5py.h5d.CONTIGUOUS, h5py.h5d.COMPACT)),
                ("compressed or filtered", plist.get_nfilters() > 0),
                ("in an external file", plist.get_external_count() > 0),
            )
            if bad
        ]
        if storage:
            raise ArtifactError(
                f"dataset {name} is stored {' and '.join(storage)}; lmuneuro writes none such"
            )
        if d.id.get_storage_size() != d.nbytes:
            raise ArtifactError(
                f"dataset {name} declares {d.nbytes:,} bytes and stores {d.id.get_storage_size():,}"
            )
        total += d.nbytes
    if total > file_size:
        raise ArtifactError(
            f"its datasets declare {total:,} bytes, more than the file's {file_size:,}"
        )
    return found


def read_artifact(path) -> FixedNetwork:
    """Read and check an artifact: format, version, checksum, then consistency of every process."""
    where = str(path)
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise FileNotFoundError(f"{where}: no such file") from None
    except OSError as e:
        raise ArtifactError(f"{where}: unreadable artifact ({e.strerror})") from None
    check_budget(size, where)
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise ArtifactError(f"{where}: not an lmuneuro artifact")
            version = f.attrs.get("format_version")
            if version != FORMAT_VERSION:
                hint = (
                    "it was written by an earlier lmuneuro: convert its checkpoint again with "
                    "lmuneuro convert"
                    if isinstance(version, (int, np.integer)) and version < FORMAT_VERSION
                    else f"this lmuneuro reads version {FORMAT_VERSION}"
                )
                raise ArtifactError(
                    f"{where}: artifact format version {version} is not supported; {hint}"
                )
            structure, meta = parse_json(f.attrs["structure"]), parse_json(f.attrs["meta"])
            try:
                found = _check_layout(f, structure, size)
            except ArtifactError as e:
                raise ArtifactError(f"{where}: {e}") from None
            arrays = {k: d[()] for k, d in found.items()}
            checksum = f.attrs.get("checksum")
    except ArtifactError:
        raise
    except (
        OSError,
        KeyError,
        ValueError,
        TypeError,
        RuntimeError,
        AttributeError,
        IndexError,
    ) as e:
        # h5py: RuntimeError on damaged trees; the rest: a structure of the wrong shape
        raise ArtifactError(
            f"{where}: unreadable artifact ({(str(e) or type(e).__name__).splitlines()[0][:160]})"
        ) from None
    try:
        if _digest(arrays, structure) != checksum:
            raise ArtifactError(
                f"{where}: checksum mismatch: the artifact was modified or damaged after conversion"
            )
        net = _network(arrays, structure, meta, checksum)
    except ArtifactError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
        raise ArtifactError(
            f"{where}: malformed artifact ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:120] if str(e) else ''})"
        ) from None
    validate(net, where)
    return net


_KINDS = {k.lava_class: k for k in (Layer, Relay, Term)}


def _int(v) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"expected an integer, got {v!r}")
    return v


def _network(arrays: dict, structure: dict, meta: dict, checksum) -> FixedNetwork:
    if not isinstance(meta, dict):
        raise TypeError("meta is not a mapping")
    pops = []
    for i, e in enumerate(structure["neurons"]):
        kind = _KINDS.get(e["class"])
        lag = None if e["lag"] is None else _int(e["lag"])
        name, size, scale = e["name"], _int(e["size"]), float(e["scale"])
        if kind is None or (lag is None) != (kind is Relay):
            raise ValueError(
                f"neurons {name!r}: class {str(e['class'])[:40]!r} does not fit lag {lag}"
            )
        du, dv, vth, v_init = (_int(e[k]) for k in _LIF_FIELDS)
        bias = [arrays[f"neurons/{i}/{k}"].astype(np.int64) for k in ("bias_mant", "bias_exp")]
        if kind is Term:
            if du or dv or vth or v_init or bias[0].any() or bias[1].any():
                raise ValueError(f"neurons {name!r}: a GradedVec has no LIF parameters")
            pops.append(Term(name, size, lag, scale))
        elif kind is Relay:
            if scale:
                raise ValueError(f"neurons {name!r}: a relay has no scale")
            pops.append(Relay(name, size, du, dv, vth, *bias, v_init))
        else:
            pops.append(Layer(name, size, du, dv, vth, *bias, v_init, lag, scale))
    syns = []
    for j, e in enumerate(structure["synapses"]):
        s = Synapse(
            str(e["src"]),
            str(e["dst"]),
            arrays[f"synapse/{j}/weight"],
            _int(e["weight_exp"]),
            _int(e["delay"]),
            e["class"].endswith("Sparse"),
            float(e["rel_error"]),
        )
        if e["class"] != s.lava_class:
            raise ValueError(f"synapse {s.name}: class {e['class']!r} does not fit its delay")
        syns.append(s)
    gate = [(_int(lag), str(kind)) for lag, kind in structure["gate"]]
    inp = structure["input"]
    return FixedNetwork(
        _int(inp["size"]),
        _int(inp["frac_bits"]),
        _int(inp["bits"]),
        _int(inp["max"]),
        gate,
        pops,
        syns,
        str(structure["readout"]),
        arrays["head/weight"],
        arrays["head/bias"],
        Formats.from_dict({k: _int(v) for k, v in structure["formats"].items()}),
        meta,
        _model_ops(
            structure["model_ops"],
            {p.name: p.size for p in pops},
            _int(inp["size"]),
            sum(s.weights.size for s in syns),
        ),
        str(checksum),
    )


def _model_ops(entries, sizes: dict, input_size: int, stored: int) -> list[ModelOps]:
    """The model's layers as the structure records them, each checked against its source. Each of
    a neuron's model synapses is at least one of the ``stored`` weights of the network's
    processes: no count exceeds them."""
    out = []
    for e in entries:
        src = e["source"]
        n = input_size if src == INPUT else sizes[src]  # KeyError: not a population
        if set(e) - {"source", "fanout", "taps"} or ("fanout" in e) == ("taps" in e):
            raise ValueError(f"model layer from {src!r}: expected a fanout or taps")
        a = np.asarray(e.get("fanout", e.get("taps")))
        if (
            a.dtype.kind not in "iu"
            or a.shape[-1:] != (n,)
            or a.ndim != 1 + ("taps" in e)
            or (a < 0).any()
            or (a > stored).any()
        ):
            raise ValueError(
                f"model layer from {src!r}: counts that do not fit its {n} neurons and the "
                f"network's {stored:,} weights"
            )
        a = a.astype(np.int64)
        out.append(ModelOps(src, a if "fanout" in e else None, a if "taps" in e else None))
    return out


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
    fmt = net.formats
    try:
        check_formats(fmt)  # every width below is then Lava's, or a stricter one
    except ValueError as e:
        raise ArtifactError(f"{where}: {e}") from None
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
    # a layer's lag is at most one hop (a step, a delay, a look-ahead within it) per population
    # after its sources': a larger one only lengthens every sample's period
    lag_max = len(net.populations) * (fmt.delay_max + 2)
    for lag, kind in net.gate_channels:
        if kind not in GATE_KINDS or not 0 <= lag <= lag_max:
            raise ArtifactError(
                f"{where}: gate channel ({lag}, {kind[:20]!r}) is not one of {GATE_KINDS} at a "
                f"step in [0, {lag_max}]"
            )
    if len(set(net.gate_channels)) < len(net.gate_channels):
        raise ArtifactError(f"{where}: the gate declares a channel twice")
    sizes = {INPUT: net.input_channels, GATE: len(net.gate_channels)}
    order = {}
    for i, p in enumerate(net.populations):
        if p.name in sizes:
            raise ArtifactError(f"{where}: population name {p.name!r} is used twice")
        if type(p) not in _KINDS.values():
            raise ArtifactError(
                f"{where}: {p.name}: {type(p).__name__} is not a Layer, Relay or Term"
            )
        if p.lag is not None and not 1 <= p.lag <= lag_max:
            raise ArtifactError(
                f"{where}: {p.name}: lag {p.lag} outside [1, {lag_max}] ({len(net.populations)} "
                f"populations of at most {fmt.delay_max + 2} steps each)"
            )
        scale = (
            p.state_scale if isinstance(p, Layer) else p.payload_scale if isinstance(p, Term) else 1
        )
        if not _finite(scale, positive=True):
            raise ArtifactError(f"{where}: {p.name}: scale {scale} is not positive and finite")
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
            raise ArtifactError(f"{where}: {p.name}: neuron parameters outside Loihi's ranges")
        why = _alike(p, fmt) if isinstance(p, LifNeurons) else None
        if why:
            raise ArtifactError(
                f"{where}: {p.name}: {why}; lmuneuro's backends agree only on what convert builds"
            )
        sizes[p.name], order[p.name] = p.size, i
    for s in net.synapses:
        if s.dst not in order or s.src not in sizes or order.get(s.src, -1) > order[s.dst]:
            raise ArtifactError(
                f"{where}: synapse {s.name} connects {s.src!r} to {s.dst!r}: not defined, or "
                "read before it is defined"
            )
        w = np.asarray(s.weights)
        if w.ndim != 2 or w.shape != (sizes[s.dst], sizes[s.src]):
            raise ArtifactError(
                f"{where}: synapse {s.name}: weights {w.shape} do not fit {sizes[s.dst]} x "
                f"{sizes[s.src]} neurons"
            )
        if s.src == GATE and (w > 0).any():
            raise ArtifactError(
                f"{where}: synapse {s.name}: the gate only inhibits; a positive weight would "
                "excite its target outside its window"
            )
        if not np.array_equal(lava_weights(w), w):
            raise ArtifactError(
                f"{where}: synapse {s.name}: weights are not 8-bit values as Lava uses them"
            )
        if not _finite(s.rel_error) or s.rel_error < 0:
            raise ArtifactError(
                f"{where}: synapse {s.name}: relative error {s.rel_error} is not finite and >= 0"
            )
        if not (
            fmt.weight_exp_min <= s.weight_exp <= fmt.weight_exp_max
            and 0 <= s.delay <= fmt.delay_max
        ):
            raise ArtifactError(
                f"{where}: synapse {s.name}: weight_exp {s.weight_exp} or delay {s.delay} outside "
                f"[{fmt.weight_exp_min}, {fmt.weight_exp_max}] and [0, {fmt.delay_max}]"
            )
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
    _check_meta(net, where)


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
        _name(meta["target"], "meta: target")
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
    from .compile.calibrate import Calibration

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
    from .models.lmuformer import ModelConfig

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
