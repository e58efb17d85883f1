"""The artifact written: an HDF5 file of the network's arrays, its structure (every scalar, one
entry per Lava process) as JSON, the conversion record and a checksum of the two."""

from __future__ import annotations

import hashlib
import io
import json

import h5py
import numpy as np

from ..files import to_json, write_output
from .network import FixedNetwork, Layer, LifNeurons, Neurons, Term

FORMAT, FORMAT_VERSION = "lmuneuro-artifact", 4


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


def digest(arrays: dict[str, np.ndarray], attrs: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    # a digest of what a file holds, NaN included (reading checks the values once the checksum
    # holds): not JSON written anywhere, so not the strict writer
    h.update(json.dumps(attrs, sort_keys=True).encode())
    return h.hexdigest()


LIF_FIELDS = ("du", "dv", "vth", "v_init")


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
        **{k: getattr(p, k) if lif else 0 for k in LIF_FIELDS},
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
            checksum=digest(arrays, structure),
        )
        for k, a in arrays.items():
            f.create_dataset(k, data=a)
    write_output(path, buf.getvalue())
    return hashlib.sha256(buf.getbuffer()).hexdigest()
