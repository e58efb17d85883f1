"""Builders of hostile files that declare far more than they hold, for tests/test_bounded_reads.py
and tests/fixtures/corpus/make_corpus.py. Each is small on disk: the danger is in what it declares.
``artifact_edited`` makes artifacts whose checksum is valid and whose values are hostile (for
tests/test_fuzz.py too).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import h5py
import numpy as np

BOMB_SHAPE = (64, 8192, 8192)  # int16: 8 GiB, the shape of the report that started this
ROLES = {
    "weight": "synapse/0/weight",
    "bias-mant": "neurons/0/bias_mant",
    "bias-exp": "neurons/0/bias_exp",
    "head-weight": "head/weight",
    "head-bias": "head/bias",
}


def _replace(path: Path, name: str, make) -> None:
    with h5py.File(path, "r+") as f:
        dtype, shape = f[name].dtype, f[name].shape
        del f[name]
        make(f, name, dtype, shape)


def _bomb(f, name, dtype, shape):
    d = f.create_dataset(
        name, shape=BOMB_SHAPE, dtype=dtype, chunks=(1, 1024, 1024), compression="gzip"
    )
    d[0, :1024, :1024] = 0  # one real compressed chunk; the rest reads as fill values


def _gzip(f, name, dtype, shape):
    f.create_dataset(
        name, data=np.zeros(shape, dtype), compression="gzip"
    )  # the right shape, compressed


def _external_link(f, name, dtype, shape):
    f[name] = h5py.ExternalLink("elsewhere.h5", "/data")


def _soft_link(f, name, dtype, shape):
    f[name] = h5py.SoftLink("/head/bias")


def _virtual(f, name, dtype, shape):  # the right shape, its data in another file
    layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
    layout[0, :1] = h5py.VirtualSource("elsewhere.h5", "/data", shape=(1,))
    f.create_virtual_dataset(name, layout, fillvalue=0)


def _external_raw(f, name, dtype, shape):  # the right shape, its bytes in another file
    f.create_dataset(
        name, shape=shape, dtype=dtype, external=[("elsewhere.bin", 0, h5py.h5f.UNLIMITED)]
    )


def artifact_variants(src: Path, out_dir: Path, roles=tuple(ROLES)) -> dict[str, Path]:
    """Copies of the artifact ``src``, each with one dataset replaced: a compression bomb in each
    role, and an external link, a soft link, a virtual dataset and external raw storage in place
    of the first weights."""
    makers = {f"art-bomb-{r}": (ROLES[r], _bomb) for r in roles}
    makers.update(
        {
            "art-external-link": (ROLES["weight"], _external_link),
            "art-soft-link": (ROLES["weight"], _soft_link),
            "art-compressed": (ROLES["weight"], _gzip),
            "art-virtual-dataset": (ROLES["weight"], _virtual),
            "art-external-storage": (ROLES["weight"], _external_raw),
        }
    )
    out = {}
    for case, (name, make) in makers.items():
        p = out_dir / f"{case}.h5"
        shutil.copyfile(src, p)
        _replace(p, name, make)
        out[case] = p
    return out


def artifact_declaring_huge_layers(src: Path, path: Path, size: int = 10**9) -> Path:
    """A copy of the artifact ``src`` whose structure declares a first population of ``size``
    neurons, every dataset of the shape that implies, and none of their bytes (unallocated)."""
    from lmuneuro.artifact.reading import _expected

    shutil.copyfile(src, path)
    with h5py.File(path, "r+") as f:
        structure = json.loads(f.attrs["structure"])
        structure["neurons"][0]["size"] = size
        f.attrs["structure"] = json.dumps(structure)
        for name, (shape, dtype) in _expected(structure).items():
            if None not in shape and f[name].shape != shape:
                del f[name]
                f.create_dataset(name, shape=shape, dtype=dtype)
    return path


def npy_header(shape, descr="<f4") -> bytes:
    """A .npy file's header (version 1.0) declaring ``shape``."""
    h = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode()
    h += b" " * (-(len(h) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h


def npy_oversized(path: Path, shape=(10**6, 10**6, 8)) -> Path:
    """A .npy declaring terabytes, holding 64 bytes."""
    path.write_bytes(npy_header(shape) + bytes(64))
    return path


def spoken_folder(folder: Path, recipe, manifest_size: int | None = None) -> Path:
    """A spoken-word data-set folder laid out for ``recipe`` with silent clips; ``manifest_size``
    makes the manifest a sparse file of that length."""
    from lmuneuro.data.spoken import _plan, _wav_bytes

    (folder / "clips").mkdir(parents=True)
    silent = _wav_bytes(np.zeros(16000))
    plan = _plan(recipe)
    for i, c in enumerate(plan):
        (folder / c["file"]).write_bytes(silent)
        c["sha256"] = hashlib.sha256(silent).hexdigest()
    manifest = {"format": "lmuneuro-spoken-words", "version": 1, "recipe": recipe.to_dict()}
    text = json.dumps({**manifest, "clips": plan}).encode()
    if manifest_size is None:
        (folder / "manifest.json").write_bytes(text)
    else:
        sparse_file(folder / "manifest.json", manifest_size, head=text[:-1])
    return folder


def zip_declaring(src: bytes, path: Path, declared: int = 3 * 2**30) -> Path:
    """A copy of the zip archive ``src`` (a checkpoint) whose members each declare ``declared``
    uncompressed bytes in the central directory, the field torch allocates from."""
    b = bytearray(src)
    i = b.find(b"PK\x01\x02")
    while i >= 0:
        struct.pack_into("<I", b, i + 24, declared)
        i = b.find(b"PK\x01\x02", i + 4)
    path.write_bytes(bytes(b))
    return path


def ckpt_stride0(path: Path) -> Path:
    """A checkpoint of a few bytes whose tensor is a stride-0 view declaring 10^12 elements."""
    import torch

    torch.save({"state_dict": {"head.weight": torch.zeros(1).expand(10**6, 10**6)}}, path)
    return path


def ckpt_legacy(path: Path) -> Path:
    """The pre-1.6 format, whose storages are allocated at their declared size before reading."""
    import torch

    torch.save(
        {"state_dict": {"head.weight": torch.zeros(4)}}, path, _use_new_zipfile_serialization=False
    )
    return path


def sparse_file(path: Path, size: int = 20 * 2**30, head: bytes = b"") -> Path:
    """A file that declares ``size`` bytes (its length) and occupies none on disk."""
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def minimal_artifact(path: Path) -> Path:
    """An artifact's file layout with a one-neuron network (format, version, structure, datasets);
    not a usable network (no checksum), but every name and shape is what its structure implies."""
    structure = {
        "input": {"size": 1, "frac_bits": 0, "bits": 8, "max": 1},
        "gate": [],
        "neurons": [
            {
                "name": "a",
                "class": "LIFReset",
                "size": 1,
                "du": 0,
                "dv": 0,
                "vth": 1,
                "v_init": 0,
                "lag": 1,
                "scale": 1.0,
            }
        ],
        "synapses": [
            {
                "class": "Dense",
                "src": "input",
                "dst": "a",
                "weight_exp": 0,
                "delay": 0,
                "rel_error": 0.0,
            }
        ],
        "readout": "a",
        "formats": {},
    }
    with h5py.File(path, "w") as f:
        f.attrs.update(
            format="lmuneuro-artifact",
            format_version=4,
            structure=json.dumps(structure),
            meta="{}",
            checksum="",
        )
        f["neurons/0/bias_mant"] = np.zeros(1, np.int16)
        f["neurons/0/bias_exp"] = np.zeros(1, np.int16)
        f["synapse/0/weight"] = np.zeros((1, 2), np.int16)
        f["head/weight"] = np.zeros((2, 1), np.float32)
        f["head/bias"] = np.zeros(2, np.float32)
    return path


def artifact_edited(src: Path, path: Path, edit) -> Path:
    """A copy of the artifact ``src`` with hostile contents that its checksum does not catch:
    ``edit(structure, meta, arrays)`` changes them in place (a dataset may change shape), and the
    copy is written as convert writes, its checksum recomputed."""
    from lmuneuro.artifact.writing import digest

    with h5py.File(src, "r") as f:
        attrs = dict(f.attrs)
        arrays = {}
        f.visititems(
            lambda k, d: arrays.__setitem__(k, d[()]) if isinstance(d, h5py.Dataset) else None
        )
    structure, meta = json.loads(attrs["structure"]), json.loads(attrs["meta"])
    edit(structure, meta, arrays)
    attrs.update(
        structure=json.dumps(structure),
        meta=json.dumps(meta),
        checksum=digest(arrays, structure),
    )
    with h5py.File(path, "w", libver="latest") as f:  # latest: attributes of any size
        f.attrs.update(attrs)
        for k, a in arrays.items():
            f.create_dataset(k, data=a)
    return path
