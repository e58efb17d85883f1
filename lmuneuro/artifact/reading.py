"""The artifact read: every dataset's layout checked against the structure before any data is
read, then the checksum, then the network rebuilt and validated."""

from __future__ import annotations

import os

import h5py
import numpy as np

from ..files import check_budget, parse_json
from ..formats import Formats
from .network import GATE, INPUT, KINDS, FixedNetwork, Layer, ModelOps, Relay, Synapse, Term
from .validation import ArtifactError, check_name, validate
from .writing import FORMAT, FORMAT_VERSION, LIF_FIELDS, digest

# What the backends' loops and allocations are sized by, bounded before any of them: lmuneuro's
# largest presets convert to a few hundred processes, and the consistency checks (``limits``) take
# time quadratic in the count
MAX_PROCESSES = 4096
# neurons in all: the largest board a bundled profile describes (Kapoho Point, 8 Loihi 2 chips of
# 2^20 neurons); the emulator's memory grows with them (``backends.run_backend`` bounds a run's)
MAX_NEURONS = 8 * 2**20


def _expected(structure: dict) -> dict[str, tuple[tuple | None, np.dtype]]:
    """Every dataset the structure implies: name -> (shape, dtype); the head's class count is the
    one dimension the structure leaves open (None)."""
    sizes = {INPUT: _int(structure["input"]["size"]) + 1, GATE: len(structure["gate"])}
    out = {}
    for i, e in enumerate(structure["neurons"]):
        sizes[check_name(e["name"], "population name")] = n = _int(e["size"])
        out[f"neurons/{i}/bias_mant"] = out[f"neurons/{i}/bias_exp"] = ((n,), np.dtype(np.int16))
    for j, e in enumerate(structure["synapses"]):
        if str(e["src"]) not in sizes or str(e["dst"]) not in sizes:
            raise ValueError(f"synapse {j} connects populations the structure does not define")
        out[f"synapse/{j}/weight"] = (
            (sizes[str(e["dst"])], sizes[str(e["src"])]),
            np.dtype(np.int16),
        )
    readout = check_name(structure["readout"], "read-out")
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
        if digest(arrays, structure) != checksum:
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


def _int(v) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"expected an integer, got {v!r}")
    return v


def _network(arrays: dict, structure: dict, meta: dict, checksum) -> FixedNetwork:
    if not isinstance(meta, dict):
        raise TypeError("meta is not a mapping")
    pops = []
    for i, e in enumerate(structure["neurons"]):
        kind = KINDS.get(e["class"])
        lag = None if e["lag"] is None else _int(e["lag"])
        name, size, scale = e["name"], _int(e["size"]), float(e["scale"])
        if kind is None or (lag is None) != (kind is Relay):
            raise ValueError(
                f"neurons {name!r}: class {str(e['class'])[:40]!r} does not fit lag {lag}"
            )
        du, dv, vth, v_init = (_int(e[k]) for k in LIF_FIELDS)
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
