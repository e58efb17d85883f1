"""Reads bounded before they happen: hostile files that declare far more than they hold (8 GiB
compression bombs in every artifact role, links out of the file, virtual datasets, terabyte .npy
headers, zip members declaring gigabytes, stride-0 tensors, 20 GiB sparse text files) go through
the command a user would run, and so do artifacts with a valid checksum whose sizes would drive
work (10^5 processes, a 10^7-neuron population, lags of 10^12, a 4096-wide model config, fan-outs
of 2^62), in a subprocess that measures each refusal's time and the process's
peak memory with ``resource.getrusage``. Each must be one line, exit 2, within 5 s, under 1 GiB."""

import json
import subprocess
import sys
from pathlib import Path

import h5py
import hostile
import numpy as np
import pytest
import torch

from lmuneuro.compile.convert import convert

SECONDS, PEAK_MIB = 5.0, 1024

_MEASURE = r"""
import contextlib, io, json, resource, sys, time
import torch, h5py, numpy  # imported before timing: the refusal is timed, not Python's start-up
import lmuneuro.cli, lmuneuro.compile.convert, lmuneuro.analysis.verify, lmuneuro.train
import lmuneuro.analysis.energy
import lmuneuro.data
for name, argv in json.loads(sys.stdin.read()):
    err = io.StringIO()
    t = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = lmuneuro.cli.main(argv)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = dict(case=name, code=code, stderr=err.getvalue(), seconds=seconds, peak_mib=peak)
    print(json.dumps(row), flush=True)
"""


@pytest.fixture(scope="module")
def cases(digits_checkpoint, tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    art = d / "model.h5"
    convert(digits_checkpoint, art)
    with h5py.File(d / "elsewhere.h5", "w") as f:  # what the links point to: must never be read
        f["data"] = np.zeros(4, np.int16)
    x = d / "x.npy"
    np.save(x, np.zeros((1, 8, 8), np.float32))
    act = d / "act.json"
    out = d / "out"
    run = lambda p: ["run", str(art), "--inputs", str(p)]  # noqa: E731
    argv = {
        name: ["run", str(p), "--inputs", str(x)]
        for name, p in hostile.artifact_variants(art, d).items()
    }
    argv["art-huge-layers"] = [
        "run",
        str(hostile.artifact_declaring_huge_layers(art, d / "huge.h5")),
        "--inputs",
        str(x),
    ]
    argv["art-20gib"] = [
        "run",
        str(hostile.sparse_file(d / "big.h5", head=art.read_bytes())),
        "--inputs",
        str(x),
    ]
    argv["inputs-oversized.npy"] = run(hostile.npy_oversized(d / "big.npy"))
    argv["inputs-short.npy"] = run(hostile.npy_oversized(d / "short.npy", shape=(1000, 8, 8)))
    from lmuneuro.data import RECIPES

    train_kw = ["train", "--preset", "spiking-lmuformer-keywords", "--dataset", "spoken-keywords"]
    train_kw += ["-o", str(out), "--epochs", "1", "--max-batches", "1", "--no-progress"]
    keywords = RECIPES["spoken-keywords"]
    for name, folder in {
        "spoken-clip-20gib": hostile.spoken_folder(d / "kw", keywords),
        "spoken-manifest-20gib": hostile.spoken_folder(
            d / "kw2", keywords, manifest_size=20 * 2**30
        ),
    }.items():
        argv[name] = [*train_kw, "--data-dir", str(folder)]
    hostile.sparse_file(d / "kw/clips/00000.wav", head=b"RIFF")
    ck = Path(digits_checkpoint).read_bytes()
    for name, p in {
        "ckpt-zip-declares-gib": hostile.zip_declaring(ck, d / "zipdecl.pt"),
        "ckpt-stride0-view": hostile.ckpt_stride0(d / "stride0.pt"),
        "ckpt-legacy-format": hostile.ckpt_legacy(d / "legacy.pt"),
    }.items():
        argv[name] = ["convert", str(p), "-o", str(out)]
    assert lmuneuro_main(["run", str(art), "--inputs", str(x), "--activity", str(act)]) == 0
    argv["activity-20gib"] = [
        "energy",
        str(art),
        "--activity",
        str(hostile.sparse_file(d / "big.json", head=b"{")),
    ]
    argv["profile-20gib"] = [
        "energy",
        str(art),
        "--profile",
        str(hostile.sparse_file(d / "big.toml")),
        "--activity",
        str(act),
    ]
    return argv, out


def lmuneuro_main(argv):
    from lmuneuro.cli import main

    return main(argv)


def test_hostile_declarations_refused_fast_and_small(cases):
    argv, out = cases
    _refused_fast_and_small(argv, "hostile declarations")
    assert not out.exists()


def _refused_fast_and_small(argv: dict, what: str) -> None:
    """Each command of ``argv`` (case -> arguments) run in one measuring subprocess: one line
    naming the file, exit 2, within ``SECONDS`` and under ``PEAK_MIB``."""
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE],
        input=json.dumps(list(argv.items())),
        text=True,
        capture_output=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["case"] for r in rows] == list(argv)
    from test_fuzz import FUZZED

    for r in rows:
        lines = r["stderr"].strip().splitlines()
        path_args = [a for a in argv[r["case"]] if "/" in a]
        assert r["code"] == 2 and len(lines) == 1 and lines[0].startswith("lmuneuro "), r
        assert any(Path(a).name in lines[0] for a in path_args), r  # it names the file
        assert r["seconds"] < SECONDS, r
        assert r["peak_mib"] < PEAK_MIB, r
        FUZZED["bounded reads"] = FUZZED.get("bounded reads", 0) + 1
    worst = max(rows, key=lambda r: r["seconds"])
    print(
        f"\n{len(rows)} {what} refused; slowest {worst['case']} "
        f"{worst['seconds']:.2f} s; "
        f"peak {max(r['peak_mib'] for r in rows):.0f} MiB"
    )


@pytest.mark.parametrize("role", ["weight", "head-weight"])
def test_compression_bomb_message(cases, role):
    """What the user reads: the dataset, what it declares and what the structure implies."""
    argv, _ = cases
    import io
    from contextlib import redirect_stderr

    err = io.StringIO()
    with redirect_stderr(err):
        assert lmuneuro_main(argv[f"art-bomb-{role}"]) == 2
    assert (
        f"declares int16 {hostile.BOMB_SHAPE}" in err.getvalue()
        or "declares float32" in err.getvalue()
    )
    assert "the structure implies" in err.getvalue()


def test_budget_names_the_size(tmp_path):
    from lmuneuro.files import read_arrays, read_budget

    assert 0 < read_budget() <= 4 * 2**30
    with pytest.raises(
        ValueError, match=r"big\.npy: declares 29,802\.3 GiB, more than the .* budget"
    ):
        read_arrays(hostile.npy_oversized(tmp_path / "big.npy"))
    with pytest.raises(ValueError, match=r"declares an array of 32,000 bytes but holds 64"):
        read_arrays(hostile.npy_oversized(tmp_path / "short.npy", shape=(1000, 8, 1)))
    assert torch.equal(
        torch.from_numpy(read_arrays(_saved(tmp_path))), torch.arange(6.0).reshape(1, 2, 3)
    )


def _saved(d: Path) -> Path:
    np.save(d / "ok.npy", np.arange(6, dtype=np.float32).reshape(1, 2, 3))
    return d / "ok.npy"


def _huge_term(structure, meta, arrays):
    """One more population: a term of 10^7 neurons, its 40 MB of datasets in the file."""
    i = len(structure["neurons"])
    structure["neurons"].append(
        {**structure["neurons"][1], "name": "huge", "size": 10**7, "lag": 1, "scale": 1.0}
    )
    for k in ("bias_mant", "bias_exp"):
        arrays[f"neurons/{i}/{k}"] = np.zeros(10**7, np.int16)


def _many_processes(structure, meta, arrays):
    """100,000 one-neuron terms (declared: the count is refused before any dataset is looked
    for)."""
    term = next(e for e in structure["neurons"] if e["class"] == "GradedVec")
    structure["neurons"] += [{**term, "name": f"t{i}", "size": 1} for i in range(10**5)]


def _lags(structure, meta, arrays):
    for e in structure["neurons"]:
        if e["lag"] is not None:
            e["lag"] += 10**12
    structure["gate"] = [[lag + 10**12, kind] for lag, kind in structure["gate"]]


@pytest.fixture(scope="module")
def artifact_sizes(digits_checkpoint, tmp_path_factory):
    """Artifacts with a valid checksum whose sizes would drive work: processes, neurons, lags,
    the model config energy builds, the model's fan-outs."""
    d = tmp_path_factory.mktemp("sizes")
    art = d / "model.h5"
    convert(digits_checkpoint, art)
    x = d / "x.npy"
    np.save(x, np.zeros((1, 8, 8), np.float32))

    def config(structure, meta, arrays):
        meta["config"].update(dim=4096, depth=64, memory_size=8192, seq_len=10**6)

    def fanout(structure, meta, arrays):
        for m in structure["model_ops"]:
            m.update(
                {k: (np.asarray(v) * 0 + 2**62).tolist() for k, v in m.items() if k != "source"}
            )

    edits = {
        "art-10^7-neurons": _huge_term,
        "art-10^5-processes": _many_processes,
        "art-lags-10^12": _lags,
        "art-config-4096-wide": config,
        "art-fanout-2^62": fanout,
    }
    return {
        name: [
            "energy",
            str(hostile.artifact_edited(art, d / f"{name}.h5", edit)),
            "--inputs",
            str(x),
        ]
        for name, edit in edits.items()
    }


def test_hostile_artifact_sizes_refused_fast_and_small(artifact_sizes):
    _refused_fast_and_small(artifact_sizes, "artifacts declaring hostile sizes")
