"""The deployment artifact: a fixed-point network as Loihi 2 runs it (the contract between the
converter and the backends; the backends read this and nothing else).

Time runs in hardware steps. Population p computes float time t at hardware step ``t + lag``.
Four sources feed the populations besides each other: ``input`` (feature frame t as graded
spikes at step t, zero after the sequence), ``clock`` (a spike at every step: biases are
synapses from it, delayed to start at float time 0), ``bos`` (one spike at step 0: it inhibits
a population at the float times before 0 at which look-ahead taps already deliver real input)
and ``eos`` (a spike at every step from the end of the sequence on: it silences each
population from its float time N on). Each population's u and v are zeroed at ``reset_step``
(its float time 0; Lava's LIFReset), so float time 0 starts from rest exactly as the reference's
zero padding does. The entries of a population that read one source with the same delays are one
synapse group with weight sets j, delivering at step T, per target neuron,
``floor(sum_j 2^weight_exp_j sum over taps k of W_jk s[T - 1 - delay_k])``: Loihi's one step of
synaptic latency plus each tap's delay, one rounding per group and step. The read-out counts the last
population's spikes and applies the float ``head`` to their time-mean.

A population of kind ``integrator`` (the LMU memory under the recurrent mapping) is a graded-spike
neuron without threshold: its 24-bit state m is 0 at the steps before its lag in each sample,
``m[T] = m[T-1] + a_in[T]`` (wrapped into 24 bits) from the lag on, and it sends m as a graded
spike at every step; a synapse group from itself (delay 0) reads m[T-1]. Its du, dv and vth are
unused (0); ``scale`` is 2^f for a state with f fraction bits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import h5py
import numpy as np

from .files import atomic_write

__all__ = ["FixedSynapses", "FixedPopulation", "FixedNetwork", "INPUT", "CLOCK", "BOS", "EOS", "SOURCES", "source_patterns",
           "fold_sets",
           "ArtifactError", "write_artifact", "read_artifact", "validate"]

INPUT, CLOCK, BOS, EOS = "input", "clock", "bos", "eos"
SOURCES = (INPUT, CLOCK, BOS, EOS)


@dataclass
class FixedSynapses:
    src: str
    w_int: np.ndarray  # (taps, n_dst, n_src) int16, Lava-effective 8-bit values
    weight_exp: np.ndarray  # (n_dst,) int, applied once to the sum over taps (module docstring)
    delays: np.ndarray  # (taps,) int, extra steps beyond the one step of latency
    rel_error: float = 0.0  # of the quantised weights against the float ones


@dataclass
class FixedPopulation:
    name: str
    size: int
    du: int
    dv: int
    vth: int  # mantissa: spike when v > vth << 6
    lag: int  # hardware step of float time 0; u and v are zeroed before that step's update
    scale: float  # state units per float unit (for reports)
    inputs: list[FixedSynapses] = field(default_factory=list)
    kind: str = "lif"  # or "integrator" (module docstring)

    def synapse_groups(self) -> list[tuple[str, tuple[int, ...], list[FixedSynapses]]]:
        """(source, delays, weight sets): the entries that read one source with the same delays
        form one synapse group, rounded once per step (module docstring)."""
        groups: dict = {}
        for g in self.inputs:
            groups.setdefault((g.src, tuple(np.asarray(g.delays).tolist())), []).append(g)
        return [(src, delays, sets) for (src, delays), sets in groups.items()]


def fold_sets(sets: list[FixedSynapses]) -> tuple[np.ndarray, np.ndarray]:
    """A synapse group's weight sets as one matrix ``sum_j 2^(e_j - e_min) W_j`` (taps, n_dst,
    n_src) in float64 (exact integers) and e_min (n_dst,): the group delivers
    ``floor(2^e_min sum_k W_k s[T - 1 - delay_k])``."""
    e_min = np.stack([g.weight_exp for g in sets]).min(axis=0)
    return sum(np.asarray(g.w_int, np.float64) * np.exp2(g.weight_exp - e_min)[None, :, None] for g in sets), e_min


def source_patterns(steps: int, total: int) -> dict[str, np.ndarray]:
    """The clock, bos and eos spikes (total,) int8 of a sample with ``steps`` frames run for
    ``total`` steps (the input's frames are the sample's own)."""
    clock, bos, eos = np.ones(total, np.int8), np.zeros(total, np.int8), np.zeros(total, np.int8)
    bos[0] = 1
    eos[steps:] = 1
    return {CLOCK: clock, BOS: bos, EOS: eos}


@dataclass
class FixedNetwork:
    input_size: int
    input_frac_bits: int
    input_bits: int
    populations: list[FixedPopulation]
    head_weight: np.ndarray  # (classes, n_last) float32
    head_bias: np.ndarray
    meta: dict = field(default_factory=dict)
    checksum: str = ""  # the file's checksum, set by read_artifact: names the network in run records

    @property
    def delay(self) -> int:
        """Algorithmic delay in steps: frame t's contribution reaches the read-out at step t + delay."""
        return self.populations[-1].lag


# ---------------------------------------------------------------- HDF5 file

# version 2 added integrator populations; version 1 files (LIF only) read unchanged
FORMAT, FORMAT_VERSION, READABLE_VERSIONS = "lmuneuro-artifact", 2, (1, 2)


class ArtifactError(ValueError):
    """An artifact that cannot be used; one line naming the file and the problem."""


def _datasets(net: FixedNetwork) -> dict[str, np.ndarray]:
    out = {"head/weight": np.asarray(net.head_weight, np.float32), "head/bias": np.asarray(net.head_bias, np.float32)}
    for i, p in enumerate(net.populations):
        for j, g in enumerate(p.inputs):
            base = f"layer/{i}/synapse/{j}"
            out[f"{base}/weight"] = np.asarray(g.w_int, np.int16)
            out[f"{base}/weight_exp"] = np.asarray(g.weight_exp, np.int8)
            out[f"{base}/delay"] = np.asarray(g.delays, np.int32)
    return out


def _digest(arrays: dict[str, np.ndarray], attrs: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    h.update(json.dumps(attrs, sort_keys=True).encode())
    return h.hexdigest()


def _structure(net: FixedNetwork) -> dict:
    """Every scalar that defines the network (checksummed together with the arrays)."""
    return {"input_size": net.input_size, "input_frac_bits": net.input_frac_bits, "input_bits": net.input_bits,
            "layers": [{"name": p.name, "kind": p.kind, "size": p.size, "du": p.du, "dv": p.dv, "vth": p.vth, "lag": p.lag,
                        "scale": p.scale, "sources": [g.src for g in p.inputs],
                        "rel_errors": [g.rel_error for g in p.inputs]} for p in net.populations]}


def write_artifact(path, net: FixedNetwork) -> None:
    """Write atomically: a failure leaves no file."""
    arrays, structure = _datasets(net), _structure(net)

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            f.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, structure=json.dumps(structure),
                           meta=json.dumps(net.meta), checksum=_digest(arrays, structure))
            for i, p in enumerate(net.populations):  # lava-dl netx's names where they fit
                layer = f.create_group(f"layer/{i}")
                layer.attrs.update(name=p.name, type=p.kind, shape=p.size, lag=p.lag)
                neuron = layer.create_group("neuron")
                if p.kind == "lif":
                    neuron.attrs.update(type="LIF", iDecay=p.du, vDecay=p.dv, vThMant=p.vth, refDelay=1,
                                        gradedSpike=False, resetStep=p.lag)
                else:
                    neuron.attrs.update(type="Integrator", gradedSpike=True, resetStep=p.lag)
                for j, g in enumerate(p.inputs):
                    layer.require_group(f"synapse/{j}").attrs.update(src=g.src, rel_error=g.rel_error)
            for k, a in arrays.items():
                f.create_dataset(k, data=a)

    atomic_write(path, write)


def read_artifact(path) -> FixedNetwork:
    """Read and check an artifact: format, version, checksum, then consistency of every layer."""
    where = str(path)
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise ArtifactError(f"{where}: not an lmuneuro artifact")
            if f.attrs.get("format_version") not in READABLE_VERSIONS:
                raise ArtifactError(f"{where}: artifact format version {f.attrs.get('format_version')} is not "
                                    f"supported (this lmuneuro reads {', '.join(map(str, READABLE_VERSIONS))})")
            structure, meta = json.loads(f.attrs["structure"]), json.loads(f.attrs["meta"])
            arrays = {}
            f.visititems(lambda k, o: arrays.__setitem__(k, o[()]) if isinstance(o, h5py.Dataset) else None)
            checksum = f.attrs.get("checksum")
    except ArtifactError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:  # h5py: RuntimeError on damaged trees
        raise ArtifactError(f"{where}: unreadable artifact ({(str(e) or type(e).__name__).splitlines()[0][:160]})") from None
    try:
        if _digest(arrays, structure) != checksum:
            raise ArtifactError(f"{where}: checksum mismatch: the artifact was modified or damaged after conversion")
        net = _network(arrays, structure, meta, checksum)
    except ArtifactError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
        raise ArtifactError(f"{where}: malformed artifact ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})") from None
    validate(net, where)
    return net


def _network(arrays: dict, structure: dict, meta: dict, checksum) -> FixedNetwork:
    if not isinstance(meta, dict):
        raise TypeError("meta is not a mapping")
    pops = []
    for i, layer in enumerate(structure["layers"]):
        groups = []
        for j, src in enumerate(layer["sources"]):
            base = f"layer/{i}/synapse/{j}"
            groups.append(FixedSynapses(src, arrays[f"{base}/weight"], arrays[f"{base}/weight_exp"].astype(np.int64),
                                        arrays[f"{base}/delay"].astype(np.int64), layer["rel_errors"][j]))
        pops.append(FixedPopulation(layer["name"], layer["size"], layer["du"], layer["dv"], layer["vth"],
                                    layer["lag"], layer["scale"], groups, layer.get("kind", "lif")))
    return FixedNetwork(structure["input_size"], structure["input_frac_bits"], structure["input_bits"], pops,
                        arrays["head/weight"], arrays["head/bias"], meta, str(checksum))


def validate(net: FixedNetwork, where: str = "artifact") -> None:
    """Shapes, sources and ranges consistent with Loihi's formats, else one-line ArtifactError."""
    sizes = {INPUT: net.input_size, CLOCK: 1, BOS: 1, EOS: 1}
    for p in net.populations:
        if p.kind not in ("lif", "integrator"):
            raise ArtifactError(f"{where}: {p.name}: unknown population kind {p.kind!r}")
        if p.kind == "integrator":  # it reads itself
            sizes[p.name] = p.size
        for g in p.inputs:
            if g.src not in sizes:
                raise ArtifactError(f"{where}: {p.name} reads {g.src!r}, which is not defined before it")
            w = np.asarray(g.w_int)
            if w.ndim != 3 or w.shape[1:] != (p.size, sizes[g.src]) or len(g.delays) != w.shape[0]:
                raise ArtifactError(f"{where}: {p.name}<-{g.src}: weights {w.shape} do not fit "
                                    f"{p.size} x {sizes[g.src]} neurons and {len(g.delays)} taps")
            if w.min(initial=0) < -256 or w.max(initial=0) > 255 or np.any(np.asarray(g.delays) < 0):
                raise ArtifactError(f"{where}: {p.name}<-{g.src}: weights beyond 8 bits or a negative delay")
            if np.asarray(g.weight_exp).shape != (p.size,) or np.abs(np.asarray(g.weight_exp)).max(initial=0) > 24:
                raise ArtifactError(f"{where}: {p.name}<-{g.src}: one weight exponent per neuron, within +-24, expected")
            if g.src == p.name and list(np.asarray(g.delays)) != [0]:
                raise ArtifactError(f"{where}: {p.name}: an integrator reads itself through one tap of delay 0")
        if p.kind == "integrator" and len([src for src, _, _ in p.synapse_groups() if src == p.name]) != 1:
            raise ArtifactError(f"{where}: {p.name}: an integrator needs one synapse group from itself")
        if p.lag < 1 or p.kind == "lif" and not (0 <= p.du <= 4095 and 0 <= p.dv <= 4095 and 0 < p.vth < 2**17):
            raise ArtifactError(f"{where}: {p.name}: neuron parameters outside Loihi's ranges")
        sizes[p.name] = p.size
    if net.populations[-1].kind != "lif" or net.head_weight.shape[1] != net.populations[-1].size:
        raise ArtifactError(f"{where}: the read-out does not fit the last population")
