"""The command line's contract at the edges of the file system, generated from the parser itself:
every verb x every path it writes x {a directory, the same file as an input, a link to an input, a
missing parent, a read-only directory, a full disk}, and every count or size option x {0, -1, very
large}. Each case ends in exit 0 with a correct output, or exit 2 with one line, no traceback and
no leftover file; in both every input is byte-identical afterwards. A new verb or option is covered
without editing this file; a new verb that writes or counts needs a base invocation in ``BASE``.
The number of cases is printed in the test summary."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import resource
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lmuneuro.cli import build_parser, main
from lmuneuro.cli_options import roles
from lmuneuro.compile.convert import convert
from lmuneuro.compile.settings import SETTINGS

TRIED: dict[str, int] = {}  # kind -> cases (printed by conftest.pytest_terminal_summary)

# quick successful invocations; {name} is a file of the fixture, OUT the path under test
BASE = {
    "train": [
        "train",
        "--preset",
        "spiking-lmuformer-digits",
        "--dataset",
        "digits",
        "-o",
        "{out.pt}",
        "--epochs",
        "1",
        "--max-batches",
        "1",
        "--batch-size",
        "16",
        "--no-progress",
    ],
    "convert": ["convert", "{ckpt}", "-o", "{out.h5}"],
    "verify": ["verify", "{ckpt}", "{art}", "--inputs", "{x}"],
    "run": ["run", "{art}", "--inputs", "{x}", "--activity", "{out.json}"],
    "energy": ["energy", "{art}", "--inputs", "{x}", "-o", "{out.json}"],
    "inspect": ["inspect", "{art}"],
    "benchmark": ["benchmark", "{ckpt}", "{art}", "--inputs", "{x}", "-o", "{out.json}"],
    "demo": ["demo", "--workdir", "{outdir}", "--epochs", "1", "--lava-samples", "1"],
    "export": ["export", "{ckpt}", "--format", "nir", "-o", "{out.nir}"],
    # with a tone for a voice and 4 clips per word (the env fixture): no espeak-ng needed
    "synthesize": ["synthesize", "spoken-keywords", "-o", "{outdir}", "--no-progress"],
    "stream": [
        "stream",
        "{kwart}",
        "--stream-dir",
        "{streams}",
        "--streams",
        "1",
        "-o",
        "{out.json}",
    ],
}
# count options that act only beside others: what a valid value of theirs needs to run
COMPANIONS = {
    ("convert", "--tolerance"): ["--weight-sets", "auto", "--inputs", "{x}"],
    ("convert", "--samples"): ["--weight-sets", "auto", "--inputs", "{x}"],
    # train takes conversion settings for quantisation-aware fine-tuning only
    **{("train", s.flag): ["--quantization-aware", "--init", "{ckpt}"] for s in SETTINGS},
}
CONDITIONS = (
    "directory",
    "same file as an input",
    "link to an input",
    "missing parent",
    "read-only directory",
    "full disk",
)
LARGE = "1000000000000"


def _verbs():
    parser = build_parser()
    return parser._subparsers._group_actions[0].choices


def _options(verb):
    """(path options written, count options) of one verb, read from the parser."""
    s = _verbs()[verb]
    given = roles(s)
    outputs = [(a, given[a.dest]) for a in s._actions if given.get(a.dest, "").startswith("output")]
    counts = [a for a in s._actions if hasattr(a.type, "bounds")]
    return outputs, counts


def test_every_verb_that_writes_or_counts_has_a_base_invocation():
    missing = [v for v in _verbs() if any(_options(v)) and v not in BASE]
    assert not missing, f"add a quick successful invocation of {missing} to BASE"


def _mount(where: Path, *opts) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", ",".join(("size=64k",) + opts), "tmpfs", str(where)],
            capture_output=True,
        ).returncode
        == 0
    )


@pytest.fixture(scope="module")
def env(digits_checkpoint, tmp_path_factory):
    from dataclasses import replace

    from spoken_fakes import tone_voice

    from lmuneuro.data import RECIPES

    with pytest.MonkeyPatch.context() as mp:
        tone_voice(mp)
        mp.setitem(
            RECIPES, "spoken-keywords", replace(RECIPES["spoken-keywords"], per_word=(2, 1, 1))
        )
        yield from _env(digits_checkpoint, tmp_path_factory)


def _env(digits_checkpoint, tmp_path_factory):
    d = tmp_path_factory.mktemp("contract")
    files = {"ckpt": d / "model.pt", "art": d / "model.h5", "x": d / "x.npy"}
    files["ckpt"].write_bytes(Path(digits_checkpoint).read_bytes())
    convert(files["ckpt"], files["art"])
    _keywords(d, files)
    np.save(files["x"], np.random.default_rng(0).uniform(0, 1, (2, 8, 8)).astype(np.float32))
    ro, full = d / "ro", d / "full"
    mounted = _mount(ro, "ro") and _mount(full)
    if mounted:  # fill it: any write now fails with ENOSPC
        with contextlib.suppress(OSError), open(full / "filler", "wb") as f:
            while True:
                f.write(bytes(4096))
                f.flush()
    else:  # no mount here (not root): a read-only mode, and the file-size limit for a full disk
        ro.mkdir(exist_ok=True)
        ro.chmod(0o555)
    yield {"dir": d, "files": files, "ro": ro, "full": full, "mounted": mounted}
    for m in (ro, full):
        subprocess.run(["umount", str(m)], capture_output=True)


def _keywords(d: Path, files: dict) -> None:
    """A keyword network and a set of 3-second tone streams (the voice is the env's tone)."""
    from dataclasses import replace

    from support import calibrated

    from lmuneuro.checkpoint import save_checkpoint
    from lmuneuro.data import KEYWORD_STREAM, FeatureConfig
    from lmuneuro.data.stream import build

    files["kwck"], files["kwart"], files["streams"] = d / "kw.pt", d / "kw.h5", d / "streams"
    model = calibrated("spiking-lmuformer-keywords")
    features, words = FeatureConfig().to_dict(), KEYWORD_STREAM.keywords
    save_checkpoint(files["kwck"], model, features=features, classes=words)
    convert(files["kwck"], files["kwart"])
    build(files["streams"], replace(KEYWORD_STREAM, minutes=0.05), workers=1, progress=False)


def _digest(paths) -> dict:
    """SHA-256 of each file, and of each file in each folder."""
    files = [f for p in map(Path, paths) for f in ([p] if p.is_file() else sorted(p.rglob("*")))]
    files = [f for f in files if f.is_file()]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _argv(verb, env, out: Path | None, replace: str | None = None, extra=()) -> tuple[list, list]:
    """The base invocation with OUT at ``out`` (for the output option ``replace``) and extra args;
    returns (argv, the input files it names)."""
    argv, inputs = [], []
    for a in BASE[verb]:
        if a.startswith("{out"):
            a = str(out) if out is not None else str(env["dir"] / ("fresh" + a[4:-1]))
        elif a.startswith("{"):
            inputs.append(env["files"][a[1:-1]])
            a = str(env["files"][a[1:-1]])
        argv.append(a)
    return argv + list(extra), inputs


def _check(verb, argv, inputs, out: Path | None, expect: int | None, env, full_disk=False):
    before, existed = _digest(inputs), out is not None and (out.exists() or out.is_symlink())
    err = io.StringIO()
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stderr(err))
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        if full_disk and not env["mounted"]:
            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1024, hard))
            stack.callback(resource.setrlimit, resource.RLIMIT_FSIZE, (soft, hard))
        code = main(argv)
    lines = err.getvalue().strip().splitlines()
    assert code in (0, 2) and code == (code if expect is None else expect), (
        argv,
        err.getvalue()[-800:],
    )
    assert _digest(inputs) == before, f"an input changed: {argv}"
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith(f"lmuneuro {verb}: error: "), (
            argv,
            err.getvalue()[-800:],
        )
        assert out is None or existed or not out.exists(), f"an output was left behind: {argv}"
    else:
        _valid_output(verb, out)
    leftovers = list(env["dir"].rglob(".*.tmp")) + (
        list(out.parent.glob(".*.tmp")) if out is not None else []
    )
    assert not leftovers, f"temporary files left: {leftovers}"


def _out_flag(verb):
    outputs, _ = _options(verb)
    return outputs[0][0].option_strings[0] if outputs else None


def _valid_output(verb, out: Path | None):
    """An exit 0 wrote what it should: a loadable checkpoint, artifact, report or demo folder."""
    if out is None:
        return
    from lmuneuro.artifact import read_artifact
    from lmuneuro.checkpoint import load_checkpoint

    if verb == "train":
        assert load_checkpoint(out).config.num_classes == 10
    elif verb == "convert":
        assert len(read_artifact(out).layers) > 0
    elif verb in ("run", "energy", "stream"):
        assert isinstance(json.loads(out.read_text()), dict)
    elif verb == "demo":
        assert json.loads((out / "demo.json").read_text())["lava_samples"] == 1
    elif verb == "export":
        import nir

        assert any(isinstance(n, nir.LIF) for n in nir.read(out).nodes.values())
    elif verb == "synthesize":
        from lmuneuro.data import get_dataset

        assert len(get_dataset("spoken-keywords", "test", data_dir=out)) == 10


def _path_cases():
    for verb in BASE:
        outputs, _ = _options(verb)
        for action, role in outputs:
            for cond in CONDITIONS:
                yield pytest.param(
                    verb, role, cond, id=f"{verb}-{action.dest}-{cond.replace(' ', '-')}"
                )


@pytest.mark.parametrize("verb,role,condition", list(_path_cases()))
def test_output_paths(env, tmp_path, verb, role, condition):
    d = tmp_path
    argv_inputs = _argv(verb, env, None)[1]
    targets: list[tuple[Path, int | None]] = []  # (out, expected exit or None: either is allowed)
    if condition == "directory":
        (d / "adir").mkdir()
        targets = [(d / "adir", 0 if role == "output-dir" else 2)]
        if role == "output-dir":  # the wrong kind for a folder output is a file
            (d / "afile").write_text("x")
            targets.append((d / "afile", 2))
    elif condition == "same file as an input":
        targets = [(p, 2) for p in argv_inputs]
    elif condition == "link to an input":
        for i, p in enumerate(argv_inputs):
            (d / f"link{i}").symlink_to(p)
            targets.append((d / f"link{i}", 2))
    elif condition == "missing parent":
        targets = [(d / "missing" / "sub" / "out", 0)]
    elif condition == "read-only directory":
        targets = [(env["ro"] / "sub" / "out", 2 if env["mounted"] else None)]
    else:
        targets = [(env["full"] / "out", 2)]
    for out, expect in targets:
        if role == "output" and expect == 0:
            out = out.with_suffix({"train": ".pt", "convert": ".h5"}.get(verb, ".json"))
        argv, inputs = _argv(verb, env, out)
        _check(verb, argv, inputs, out, expect, env, full_disk=condition == "full disk")
        assert not (d / "missing").exists() or expect == 0
        TRIED["paths"] = TRIED.get("paths", 0) + 1


def _count_cases():
    for verb in BASE:
        _, counts = _options(verb)
        for action in counts:
            for value in ("0", "-1", LARGE):
                yield pytest.param(
                    verb,
                    action.option_strings[0],
                    value,
                    id=f"{verb}{action.option_strings[0]}={value}",
                )


@pytest.mark.parametrize("verb,flag,value", list(_count_cases()))
def test_counts(env, verb, flag, value):
    action = next(a for a in _options(verb)[1] if flag in a.option_strings)
    lo, hi = action.type.bounds
    v = float(value)
    valid = (lo < v if action.type.open_lo else lo <= v) and v <= hi
    argv, inputs = _argv(verb, env, None)
    argv += [
        str(env["files"][a[1:-1]]) if a.startswith("{") else a
        for a in COMPANIONS.get((verb, flag), [])
    ]
    if flag in argv:  # the base invocation sets it: replace its value
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]
    out = Path(argv[argv.index(_out_flag(verb)) + 1]) if _out_flag(verb) else None
    _check(verb, argv, inputs, out, 0 if valid else 2, env)
    if out is not None and out.is_file():
        out.unlink()
    TRIED["counts"] = TRIED.get("counts", 0) + 1


# a command whose writes stall after the bytes are on disk and before the rename, and say so in a
# file: the moment a signal must find the previous output intact and clean up after itself
_STALLED_WRITE = r"""
import os, sys, time
from pathlib import Path

fsync = os.fsync


def stalled(fd):
    fsync(fd)
    Path(sys.argv[1]).write_text("writing")
    time.sleep(120)


os.fsync = stalled
from lmuneuro.cli import main

sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize(
    "verb,sig,where",
    [
        ("convert", "SIGTERM", "over the previous output"),
        pytest.param("convert", "SIGTERM", "in folders it creates", marks=pytest.mark.slow),
        ("convert", "SIGKILL", "over the previous output"),
        pytest.param("train", "SIGTERM", "over the previous output", marks=pytest.mark.slow),
    ],
)
def test_a_signal_during_the_write(env, tmp_path, verb, sig, where):
    """SIGTERM during the write is Ctrl-C: exit 143 with one line, the previous output as it was,
    no temporary file, no folder the write created. SIGKILL runs no handler: its temporary file
    stays, and the next write of that output removes it."""
    import os
    import signal
    import sys
    import time

    previous = Path(env["files"]["ckpt"]).read_bytes()
    if where == "in folders it creates":
        out = tmp_path / "new" / "sub" / f"out.{'pt' if verb == 'train' else 'h5'}"
    else:
        out = tmp_path / f"out.{'pt' if verb == 'train' else 'h5'}"
        out.write_bytes(previous)
    argv = [a.replace("{out.pt}", str(out)) for a in BASE["train"]] if verb == "train" else [
        "convert", str(env["files"]["ckpt"]), "-o", str(out)
    ]  # fmt: skip
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", _STALLED_WRITE, str(ready), *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-2000:]
            time.sleep(0.05)
        os.kill(proc.pid, getattr(signal, sig))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    ready.unlink()
    left = sorted(p.name for p in tmp_path.iterdir())
    if sig == "SIGKILL":
        assert proc.returncode == -signal.SIGKILL
        assert len(left) == 2 and left[0].startswith(f".{out.name}.{proc.pid}.")  # its temporary
        assert main(argv) == 0  # the next write of that output
        assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
        assert out.read_bytes() != previous
    else:
        assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
        assert err.strip().splitlines()[-1] == f"lmuneuro {verb}: terminated", err[-2000:]
        if where == "in folders it creates":
            assert left == []
        else:
            assert left == [out.name] and out.read_bytes() == previous
    TRIED["signals"] = TRIED.get("signals", 0) + 1


def test_a_reader_that_leaves_ends_the_command_quietly():
    """`lmuneuro presets | head`: stdout's reader is gone before the command writes. The command
    ends without a word on stderr, with 141 as if SIGPIPE had ended it (every verb's --help:
    0, argparse says nothing either)."""
    import os
    import signal
    import sys

    verbs = build_parser()._subparsers._group_actions[0].choices
    for argv in (["presets"], ["presets", "--json"], *([v, "--help"] for v in verbs)):
        read, write = os.pipe()
        os.close(read)  # the reader left
        try:
            cmd = [sys.executable, "-m", "lmuneuro", *argv]
            proc = subprocess.run(cmd, stdout=write, stderr=subprocess.PIPE, timeout=300)
        finally:
            os.close(write)
        assert proc.stderr == b"", (argv, proc.stderr[-2000:])
        assert proc.returncode == (0 if "--help" in argv else 128 + signal.SIGPIPE), argv


def test_a_broken_pipe_elsewhere_is_an_error(monkeypatch, capsys):
    """A broken pipe that is not stdout's (a Lava worker that died) stays a one-line error."""
    import lmuneuro.cli

    def worker_died(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(lmuneuro.cli, "_cmd_presets", worker_died)
    assert main(["presets"]) == 2
    assert capsys.readouterr().err == "lmuneuro presets: error: [Errno 32] Broken pipe\n"


def test_a_checkpoint_where_an_artifact_goes_and_the_reverse(tmp_path, capsys):
    """Told by content, whatever the names: one line naming the mistake and the command that
    fixes it, exit 2, nothing written."""
    import h5py
    import torch

    ck, art = tmp_path / "model.h5", tmp_path / "model.pt"  # names that mislead on purpose
    torch.save({"weights": torch.zeros(2)}, ck)
    h5py.File(art, "w").close()
    ck2 = f"{tmp_path}/model-artifact.h5"  # where the fix converts it: not over the checkpoint
    cases = [
        (["run", ck, "--dataset", "digits"],
         f"{ck} is a PyTorch checkpoint, not an artifact: convert it first, lmuneuro convert "
         f"{ck} -o {ck2}, then lmuneuro run {ck2} --dataset digits"),
        (["energy", ck, "--dataset", "digits", "-o", tmp_path / "r.html"],
         f"then lmuneuro energy {ck2} --dataset digits -o {tmp_path}/r.html"),
        (["inspect", ck], f"then lmuneuro inspect {ck2}"),
        (["verify", ck, ck, "--dataset", "digits"],  # the second word is the artifact's
         f"then lmuneuro verify {ck} {ck2} --dataset digits"),
        (["verify", art, ck, "--dataset", "digits"],
         f"{art} is an HDF5 file and {ck} a PyTorch checkpoint: the checkpoint comes first, "
         f"lmuneuro verify {ck} {art} --dataset digits"),
        (["convert", art, "-o", tmp_path / "out.h5"],
         f"{art} is an HDF5 file (an artifact lmuneuro convert wrote, or a NIR graph), not a "
         f"checkpoint: give the checkpoint it was made from, lmuneuro convert CHECKPOINT.pt -o "
         f"{tmp_path}/out.h5"),
        (["export", art, "-o", tmp_path / "out.nir"],
         f"checkpoint it was made from, lmuneuro export CHECKPOINT.pt -o {tmp_path}/out.nir"),
        (["train", "--preset", "spiking-lmuformer-digits", "--dataset", "digits",
          f"--init={art}", "-o", tmp_path / "out.pt"],
         "lmuneuro train --preset spiking-lmuformer-digits --dataset digits "
         f"--init=CHECKPOINT.pt -o {tmp_path}/out.pt"),
    ]  # fmt: skip
    before = sorted(tmp_path.iterdir())
    for argv, message in cases:
        argv = [str(a) for a in argv]
        assert main(argv) == 2, argv
        out, err = capsys.readouterr()
        assert out == "" and len(err.splitlines()) == 1, err
        assert err.startswith(f"lmuneuro {argv[0]}: error: ") and message in err, err
    assert sorted(tmp_path.iterdir()) == before
