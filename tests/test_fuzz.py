"""Fuzzing every file the toolkit reads: checkpoints (native and reference layout), artifacts,
hardware profiles, activity files, input arrays and data-set folders. Each mutation goes through
the command a user would run; whatever the damage, the command exits 0 or prints one line
``lmuneuro CMD: error: ...`` and exits 2, leaving no output file. No exception may escape: the
test calls ``main`` in-process, so a traceback fails it. The counts tried are printed at the end
of the test run (conftest's terminal summary)."""

import io
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmuneuro.cli import main
from lmuneuro.compile.convert import convert
from lmuneuro.converters.reference import to_reference_state_dict
from lmuneuro.data.speech_commands import SpeechCommands
from lmuneuro.profiles import load_profile

FUZZED = {}  # kind -> mutations tried (printed by conftest.pytest_terminal_summary)
SETTINGS = dict(
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
    print_blob=False,
)
# make test runs a tenth of the mutations; make fuzz (LMUNEURO_FUZZ_SCALE=10) all of them
SCALE = float(os.environ.get("LMUNEURO_FUZZ_SCALE", "1"))


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


class Files(dict):
    """The valid files that the mutations start from (a short repr for hypothesis' reports)."""

    def __repr__(self):
        return "Files(...)"


_position = st.floats(0, 1, exclude_max=True)
_edits = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), _position, st.integers(0, 7)),
        st.tuples(st.just("set"), _position, st.integers(0, 255)),
        st.tuples(st.just("truncate"), _position),
        st.tuples(st.just("delete"), _position, st.integers(1, 64)),
        st.tuples(st.just("insert"), _position, st.binary(min_size=1, max_size=16)),
    ),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for op, pos, *arg in edits:
        i = int(pos * len(b)) if b else 0
        if op == "flip" and b:
            b[i] ^= 1 << arg[0]
        elif op == "set" and b:
            b[i] = arg[0]
        elif op == "truncate":
            del b[i:]
        elif op == "delete":
            del b[i : i + arg[0]]
        elif op == "insert":
            b[i:i] = arg[0]
    return bytes(b)


def run_cli(kind: str, argv: list, outputs=()) -> int:
    """One mutation through the CLI; asserts the contract and counts it."""
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        code = main([str(a) for a in argv])
    FUZZED[kind] = FUZZED.get(kind, 0) + 1
    lines = err.getvalue().strip().splitlines()
    assert code in (0, 2), (code, err.getvalue()[-500:])
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith(f"lmuneuro {argv[0]}: error: "), (
            err.getvalue()[-500:]
        )
        assert not [p for p in outputs if Path(p).exists()], "an output file was left behind"
    for p in outputs:
        Path(p).unlink(missing_ok=True)
    return code


@pytest.fixture(scope="module")
def files(digits_checkpoint, tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    art = d / "model.h5"
    convert(digits_checkpoint, art, target="loihi2")
    np.save(d / "x.npy", np.random.default_rng(0).uniform(0, 1, (2, 8, 8)).astype(np.float32))
    assert (
        run_cli(
            "setup",
            [
                "run",
                art,
                "--backend",
                "emulator",
                "--inputs",
                d / "x.npy",
                "--activity",
                d / "act.json",
            ],
        )
        == 0
    )
    ck = torch.load(digits_checkpoint, weights_only=True)
    from lmuneuro import load_model

    torch.save(to_reference_state_dict(load_model(digits_checkpoint)), d / "reference.pth")
    return Files(
        {
            "dir": d,
            "native": Path(digits_checkpoint).read_bytes(),
            "payload": ck,
            "artifact": art.read_bytes(),
            "reference": (d / "reference.pth").read_bytes(),
            "act": (d / "act.json").read_text(),
            "profile": (Path(load_profile("loihi2").path)).read_text(),
            "art_path": art,
            "x": d / "x.npy",
        }
    )


@pytest.fixture(scope="module")
def spoken_keywords(tmp_path_factory):
    """A spoken-keywords folder with silent clips, restored after each mutation."""
    from hostile import spoken_folder

    from lmuneuro.data import RECIPES

    return spoken_folder(tmp_path_factory.mktemp("kw") / "data", RECIPES["spoken-keywords"])


def _case(files, name: str, data) -> Path:
    p = files["dir"] / name
    (p.write_bytes if isinstance(data, bytes) else p.write_text)(data)
    return p


@settings(max_examples=examples(100), **SETTINGS)
@given(edits=_edits, layout=st.sampled_from(["native", "reference"]))
def test_fuzz_checkpoint_bytes(files, edits, layout):
    ck = _case(files, "ck.pt", mutate(files[layout], edits))
    out = files["dir"] / "out.h5"
    run_cli(
        f"checkpoint bytes ({layout})",
        ["convert", ck, "--target", "loihi2", "-o", out, "--json"],
        [out],
    )


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.just({}),
    st.just([]),
    st.sampled_from([0, 1, -1, 8192, 10**9]),
)
_tensors = st.one_of(
    st.builds(
        lambda s, v: torch.full(s, v),
        st.lists(st.integers(0, 5), max_size=3).map(tuple),
        st.sampled_from([0.0, 1.0, float("nan"), float("inf"), -1e38]),
    ),
    st.builds(
        lambda s: torch.zeros(s, dtype=torch.int64),
        st.lists(st.integers(0, 5), max_size=3).map(tuple),
    ),
    st.just(torch.zeros(0)),
    st.just("not a tensor"),
    st.none(),
)


@settings(max_examples=examples(50), **SETTINGS)
@given(data=st.data())
def test_fuzz_checkpoint_contents(files, data):
    """Well-formed files with hostile contents: config fields, tensors, metadata."""
    payload = {k: (dict(v) if isinstance(v, dict) else v) for k, v in files["payload"].items()}
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(["config", "state_dict", "top"]))
        if where == "top":
            payload[data.draw(st.sampled_from(list(payload) + ["extra"]))] = data.draw(_values)
        elif where == "config" and isinstance(payload.get("config"), dict):
            payload["config"][data.draw(st.sampled_from(list(payload["config"]) + ["bogus"]))] = (
                data.draw(_values)
            )
        elif isinstance(payload.get("state_dict"), dict):
            sd = payload["state_dict"]
            key = data.draw(st.sampled_from(sorted(sd) + ["bogus.weight"]))
            if data.draw(st.booleans()):
                sd.pop(key, None)
            else:
                sd[key] = data.draw(_tensors)
    ck = files["dir"] / "ck.pt"
    torch.save(payload, ck)
    out = files["dir"] / "out.h5"
    run_cli("checkpoint contents", ["convert", ck, "--target", "loihi2", "-o", out], [out])


@settings(max_examples=examples(150), **SETTINGS)
@given(edits=_edits)
def test_fuzz_artifact_bytes(files, edits):
    art = _case(files, "art.h5", mutate(files["artifact"], edits))
    act = files["dir"] / "fuzz_act.json"
    run_cli(
        "artifact bytes",
        ["run", art, "--backend", "emulator", "--inputs", files["x"], "--activity", act],
        [act],
    )


def _text_edits():
    return st.lists(
        st.tuples(_position, st.integers(0, 40), st.text(max_size=12)), min_size=1, max_size=3
    )


def _edit_text(text: str, edits) -> str:
    for pos, cut, new in edits:
        i = int(pos * len(text))
        text = text[:i] + new + text[i + cut :]
    return text


@settings(max_examples=examples(150), **SETTINGS)
@given(
    edits=_text_edits(),
    numbers=st.lists(
        st.tuples(
            _position,
            st.sampled_from(
                ["0", "-1", "1e400", "nan", "inf", "-0.0", "99999999999999999999", '"x"', "[]"]
            ),
        ),
        max_size=2,
    ),
)
def test_fuzz_profile_and_activity(files, edits, numbers):
    text = _edit_text(files["profile"], edits)
    for pos, value in numbers:  # replace one value after an '=' with a hostile one
        eqs = [i for i, c in enumerate(text) if c == "="]
        if eqs:
            i = eqs[int(pos * len(eqs))] + 1
            end = text.find("\n", i)
            text = text[:i] + " " + value + (text[end:] if end >= 0 else "")
    prof = _case(files, "profile.toml", text)
    act = _case(files, "act.json", _edit_text(files["act"], edits) if numbers else files["act"])
    out = files["dir"] / "report.json"
    run_cli(
        "profile + activity",
        [
            "energy",
            files["art_path"],
            "--profile",
            prof,
            "--activity",
            act,
            "--format",
            "json",
            "-o",
            out,
        ],
        [out],
    )


@settings(max_examples=examples(60), **SETTINGS)
@given(edits=_edits, which=st.sampled_from(["x.npy", "manifest.json", "clips/00000.wav"]))
def test_fuzz_inputs_and_spoken_words_folder(files, spoken_keywords, edits, which):
    if which == "x.npy":
        x = _case(files, "fx.npy", mutate(files["x"].read_bytes(), edits))
        run_cli("input array", ["run", files["art_path"], "--backend", "emulator", "--inputs", x])
        return
    target = spoken_keywords / which
    intact = target.read_bytes()
    out = files["dir"] / "kw.pt"
    try:
        target.write_bytes(mutate(intact, edits))
        run_cli(
            "spoken-words folder",
            [
                "train",
                "--preset",
                "spiking-lmuformer-keywords",
                "--dataset",
                "spoken-keywords",
                "--data-dir",
                spoken_keywords,
                "-o",
                out,
                "--epochs",
                "1",
                "--max-batches",
                "1",
                "--no-progress",
            ],
            [out],
        )
    finally:
        target.write_bytes(intact)


@settings(max_examples=examples(60), **SETTINGS)
@given(edits=_edits, listing=st.sampled_from(["ok", "missing file", "outside", "garbage"]))
def test_fuzz_speech_commands_folder(tmp_path_factory, edits, listing):
    """A damaged Speech Commands folder: every failure is a ValueError or FileNotFoundError (the
    errors the CLI reports in one line)."""
    import soundfile as sf

    d = tmp_path_factory.mktemp("sc")
    (d / "yes").mkdir()
    buf = io.BytesIO()
    sf.write(
        buf,
        np.random.default_rng(0).uniform(-0.5, 0.5, 16000),
        16000,
        format="WAV",
        subtype="PCM_16",
    )
    (d / "yes" / "a.wav").write_bytes(mutate(buf.getvalue(), edits))
    lines = {
        "ok": "yes/a.wav",
        "missing file": "yes/b.wav",
        "outside": "../../etc/passwd",
        "garbage": "\x00\xff",
    }
    (d / "testing_list.txt").write_text(
        lines[listing] + "\n", encoding="utf-8", errors="surrogateescape"
    )
    (d / "validation_list.txt").write_text("")
    FUZZED["speech-commands folder"] = FUZZED.get("speech-commands folder", 0) + 1
    try:
        ds = SpeechCommands(d, "test")
        for i in range(len(ds)):
            x, y = ds[i]
            assert np.isfinite(np.asarray(x)).all()
    except (ValueError, FileNotFoundError):
        pass


CORPUS = Path(__file__).parent / "fixtures" / "corpus"


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.iterdir() if p.suffix != ".py"))
def test_corpus(files, tmp_path, monkeypatch, name):
    """Small hostile files kept in tests/fixtures/corpus (make_corpus.py says how each was made),
    each through the command that reads it: one line naming the file, exit 2, no output, and the
    pickle's code never runs."""
    monkeypatch.chdir(tmp_path)
    path, kind = CORPUS / name, name.split("-")[0]
    out = tmp_path / "out"
    argv = {
        "ckpt": ["convert", path, "-o", out],
        "art": ["run", path, "--backend", "emulator", "--inputs", files["x"]],
        "inputs": [
            "run",
            files["art_path"],
            "--backend",
            "emulator",
            "--inputs",
            path,
            "--activity",
            out,
        ],
        "profile": [
            "energy",
            files["art_path"],
            "--profile",
            path,
            "--activity",
            _case(files, "a.json", files["act"]),
            "-o",
            out,
        ],
        "activity": ["energy", files["art_path"], "--activity", path, "-o", out],
    }[kind]
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        code = main([str(a) for a in argv])
    FUZZED["corpus"] = FUZZED.get("corpus", 0) + 1
    lines = err.getvalue().strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"lmuneuro {argv[0]}: error: "), (
        err.getvalue()
    )
    assert name in lines[0] and not out.exists() and not (tmp_path / "corpus-pwned").exists()
