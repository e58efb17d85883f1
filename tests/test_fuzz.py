"""Fuzzing every file the toolkit reads: checkpoints (native and reference layout), artifacts,
hardware profiles, activity files, input arrays and data-set folders; artifacts also with hostile
values under a recomputed checksum (and in-range unusual ones run on the emulator and Lava's
simulator, which must agree spike for spike). Each mutation goes through
the command a user would run; whatever the damage, the command exits 0 or prints one line
``lmuneuro CMD: error: ...`` and exits 2, leaving no output file. No exception may escape: the
test calls ``main`` in-process, so a traceback fails it. The counts tried are printed at the end
of the test run (conftest's terminal summary)."""

import io
import json
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


# ------------------------------------------------------------------ hostile values (issue 33)
# Files that parse and whose every value is hostile or absurd: each family is generated from the
# valid files of the fixture, goes through the command that reads it and must end in exit 0 with
# strict output or in one line, exit 2, naming the field or tensor, with no output file.


def _hostile(files, kind: str, argv: list, names: str | None, outputs=()) -> tuple[int, str]:
    """One hostile case through the CLI: the contract of ``run_cli``, its stdout strict JSON or
    free of control characters, its error line naming ``names``; (exit code, stdout)."""
    import json
    import re

    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        code = main([str(a) for a in argv])
    FUZZED[kind] = FUZZED.get(kind, 0) + 1
    lines = err.getvalue().strip().splitlines()
    assert code in (0, 2), (code, err.getvalue()[-500:])
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith(f"lmuneuro {argv[0]}: error: "), lines
        assert names is None or names in lines[0], (names, lines[0])
        assert not [p for p in outputs if Path(p).exists()], "an output file was left behind"
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", out.getvalue() + err.getvalue())
    if code == 0 and "--json" in argv:
        json.loads(out.getvalue(), parse_constant=pytest.fail)  # strict: no NaN, no Infinity
    for p in outputs:
        if code == 0 and str(p).endswith(".json"):
            json.loads(Path(p).read_text(), parse_constant=pytest.fail)
        Path(p).unlink(missing_ok=True)
    return code, out.getvalue()


def _first(sd: dict, suffix: str, ndim: int = 0) -> str:
    return next(k for k in sorted(sd) if k.endswith(suffix) and sd[k].dim() >= ndim)


def _set_tensor(key_suffix: str, make, ndim: int = 0):
    def mutate(payload):
        sd = payload["state_dict"]
        k = _first(sd, key_suffix, ndim)
        sd[k] = make(sd[k])
        return k

    return mutate


def _set_field(section: str | None, field: str, value):
    def mutate(payload):
        if section is None:
            payload[field] = value
        else:
            payload[section] = {**(payload.get(section) or {}), field: value}
        return field

    return mutate


def _nested_lists(depth: int) -> list:
    x = []
    for _ in range(depth - 1):
        x = [x]
    return x


HOSTILE_CHECKPOINTS = {
    "running_var negative": _set_tensor("running_var", lambda t: torch.full_like(t, -1.0)),
    "weights 1e30": _set_tensor("weight", lambda t: torch.full_like(t, 1e30), 2),
    "weights -1e30": _set_tensor("weight", lambda t: torch.full_like(t, -1e30), 2),
    "weights float64 1e300": _set_tensor(
        "weight", lambda t: torch.full(t.shape, 1e300, dtype=torch.float64), 2
    ),
    "weights NaN": _set_tensor("weight", lambda t: torch.full_like(t, float("nan")), 2),
    "weights complex": _set_tensor("weight", lambda t: t.to(torch.complex64), 2),
    "weights integer": _set_tensor("weight", lambda t: t.to(torch.int32), 2),
    "tau 5e-324": _set_field("config", "tau", 5e-324),
    "tau 0.5": _set_field("config", "tau", 0.5),
    "v_threshold 1e-300": _set_field("config", "v_threshold", 1e-300),
    "lmu_v_threshold 1e-300": _set_field("config", "lmu_v_threshold", 1e-300),
    "theta not the stored memory's": _set_field("config", "theta", 3.0),
    "preset of another model": _set_field(None, "preset", "spiking-lmuformer-keywords"),
    "preset unknown": _set_field(None, "preset", "nope\x1b[2J"),
    "quantization target /etc/passwd": _set_field("quantization", "target", "/etc/passwd"),
    "quantization target /dev/zero": _set_field("quantization", "target", "/dev/zero"),
    "quantization target escapes": _set_field("quantization", "target", "\x1b]0;x\x07../p.toml"),
    "quantization weight_sets 1e9": _set_field("quantization", "weight_sets", 10**9),
    "quantization weight_sets 1e30": _set_field("quantization", "weight_sets", 10**30),
    "quantization unknown field": _set_field("quantization", "rm -rf", 1),
    "metrics nested 200 deep": _set_field(None, "metrics", {"history": _nested_lists(200)}),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CHECKPOINTS))
def test_hostile_checkpoint_values(files, case):
    """Checkpoints that load: each refused in one line naming its tensor or field."""
    import copy

    payload = copy.deepcopy(files["payload"])
    named = HOSTILE_CHECKPOINTS[case](payload)
    ck = files["dir"] / "hostile.pt"
    torch.save(payload, ck)
    out = files["dir"] / "hostile.h5"
    names = {
        "preset": "preset",
        "theta": "A is not",
        "nested": "levels deep",
    }
    names = next((v for k, v in names.items() if k in case), named)
    argv = ["convert", ck, "-o", out]
    assert _hostile(files, "hostile checkpoint values", argv, names, [out])[0] == 2


@pytest.mark.parametrize("case", ["running_var 0", "weights float16"])
def test_unusual_checkpoint_values_convert_or_name_the_layer(files, case):
    """In range though unusual (a dead channel's variance trains to 0; half precision): converted,
    or refused in one line by convert's own limits."""
    import copy

    payload = copy.deepcopy(files["payload"])
    if case == "running_var 0":
        _set_tensor("running_var", torch.zeros_like)(payload)
    else:
        _set_tensor("weight", lambda t: t.half(), 2)(payload)
    ck = files["dir"] / "unusual.pt"
    torch.save(payload, ck)
    out = files["dir"] / "unusual.h5"
    _hostile(files, "hostile checkpoint values", ["convert", ck, "-o", out, "--json"], None, [out])


def _profile_with(text: str, field: str, value) -> str:
    """The profile text with the first ``field = ...`` line's value replaced."""
    import re

    new, n = re.subn(rf"(?m)^{field} = [^#\n]*", f"{field} = {value}", text, count=1)
    assert n == 1, field
    return new


def _profile_cases():
    from lmuneuro.formats import LAVA

    cases = []
    for value in ("nan", "inf", "-inf", "-1.0", "1e308", "1e400", "1e9", "true", '"23"'):
        cases.append(("value", value, "energy.synaptic_op.value"))
        cases.append(("high", value, "energy.synaptic_op.high"))
    for field, lava in LAVA.to_dict().items():
        for value in (-1, 0, lava + 1, 2000, 10**30):
            if field.startswith("weight_exp") and (value in (-1, 0) or value == -7):
                continue  # within Lava's exponent range
            if field in ("message_bits_max", "delay_max", "bias_exp_bits") and value == 0:
                continue  # 0 is a stricter target (binary spikes, no delay, no bias shift)
            cases.append((field, value, f"precision.{field}"))
    return cases


@pytest.mark.parametrize("field,value,names", _profile_cases())
def test_hostile_profile_values(files, field, value, names):
    prof = _case(files, "hostile.toml", _profile_with(files["profile"], field, value))
    act = _case(files, "a.json", files["act"])
    out = files["dir"] / "report.json"
    argv = ["energy", files["art_path"], "--profile", prof, "--activity", act, "-o", out]
    code, _ = _hostile(files, "hostile profile values", argv, names, [out])
    assert code == 2


@pytest.mark.parametrize(
    "shape",
    [
        "x = " + "[" * 100_000 + "]" * 100_000,
        "x = " + "{a = " * 100_000 + "1" + "}" * 100_000,
        ".".join(["a"] * 100_000) + " = 1",
        "[" + ".".join(["a"] * 100_000) + "]",
        "[[" + ".".join(["a"] * 65) + "]]",
    ],
    ids=["arrays", "inline tables", "dotted key", "table header", "65 levels"],
)
def test_deeply_nested_profiles_are_refused(files, shape):
    prof = _case(files, "deep.toml", files["profile"] + "\n" + shape + "\n")
    act = _case(files, "a.json", files["act"])
    argv = ["energy", files["art_path"], "--profile", prof, "--activity", act]
    assert _hostile(files, "deeply nested files", argv, "levels deep")[0] == 2


def _activity_cases():
    import json

    def edit(f):
        def make(text):
            act = json.loads(text)
            f(act)
            return json.dumps(act)

        return make

    def layer(k, v):
        return edit(lambda a: a["layers"][0].__setitem__(k, v))

    return {
        "steps 10^12": (edit(lambda a: a.update(steps=10**12, steps_per_sample=10**12)), "steps"),
        "steps_per_sample not steps + delay": (
            edit(lambda a: a.update(steps_per_sample=a["steps_per_sample"] + 1)),
            "steps_per_sample",
        ),
        "steps 0": (edit(lambda a: a.update(steps=0)), "steps"),
        "steps true": (edit(lambda a: a.update(steps=True)), "steps"),
        "spikes 1e300": (layer("spikes", 1e300), "spikes"),
        "spikes -1": (layer("spikes", -1), "spikes"),
        "neurons 10^7": (layer("neurons", 10**7), "neurons"),
        "gate spikes missing": (edit(lambda a: a["sources"]["gate"].clear()), "gate.spikes"),
        "input messages NaN": (
            lambda t: t.replace('"graded_messages": ', '"graded_messages": NaN, "x": ', 1),
            "NaN",
        ),
        "a number 1e400": (
            lambda t: t.replace('"samples": ', '"samples": 1e400, "y": ', 1),
            "1e400",
        ),
        "nested 100,000 deep": (
            lambda t: t[:-1] + ', "x": ' + "[" * 10**5 + "]" * 10**5 + "}",
            "deep",
        ),
    }


ACTIVITY_CASES = _activity_cases()


@pytest.mark.parametrize("case", sorted(ACTIVITY_CASES))
def test_hostile_activity_files(files, case):
    make, names = ACTIVITY_CASES[case]
    act = _case(files, "hostile_act.json", make(files["act"]))
    out = files["dir"] / "report.json"
    argv = ["energy", files["art_path"], "--activity", act, "-o", out]
    assert _hostile(files, "hostile activity files", argv, names, [out])[0] == 2


INPUT_CASES = {
    "NaN": (np.full((1, 8, 8), np.nan, np.float32), "NaN"),
    "inf": (np.full((2, 8, 8), -np.inf, np.float32), "NaN or Inf"),
    "0 steps": (np.zeros((1, 0, 8), np.float32), "0 steps"),
    "0 samples": (np.zeros((0, 8, 8), np.float32), "no samples"),
    "10^6 steps": (np.zeros((1, 10**6, 8), np.float32), "at most"),
    "complex": (np.zeros((1, 8, 8), np.complex64), "expected a float array"),
    "1e30": (np.full((1, 8, 8), 1e30, np.float32), None),
    "float64 1e300": (np.full((1, 8, 8), -1e300), None),
    "float16": (np.full((1, 8, 8), 6e4, np.float16), None),
}


@pytest.mark.parametrize("case", sorted(INPUT_CASES))
def test_hostile_input_values(files, case):
    """NaN and infinities refused in one line, nothing to run refused, a sequence too long for
    the memory budget refused before it runs; finite values beyond the input range clipped and
    reported."""
    import json

    x, names = INPUT_CASES[case]
    path = files["dir"] / "hostile_x.npy"
    np.save(path, x)
    argv = ["run", files["art_path"], "--inputs", path, "--json"]
    code, out = _hostile(files, "hostile input values", argv, names)
    assert code == (0 if names is None else 2)
    if code == 0:
        assert json.loads(out)["inputs_clipped"] == x.size  # every value beyond the range


def test_names_from_files_are_escaped_on_the_terminal(files):
    """A profile's name and description with terminal escape sequences: the table shows them as
    escapes, never as the control characters a terminal obeys."""
    text = files["profile"].replace('name = "loihi2"', 'name = "evil\\u001b]0;pwned\\u0007"', 1)
    text = text.replace("description = ", 'description = "\\u001b[2J\\u202e" # ', 1)
    prof = _case(files, "escapes.toml", text)
    act = _case(files, "a.json", files["act"])
    argv = ["energy", files["art_path"], "--profile", prof, "--activity", act]
    code, out = _hostile(files, "terminal escapes", argv, None)
    assert code == 0 and "evil\\x1b]0;pwned\\x07" in out and "\\x1b[2J\\u202e" in out


def test_structured_reads_are_bounded_and_json_writes_strict():
    from lmuneuro.files import MAX_DEPTH, parse_json, parse_toml, to_json

    assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) == _nested_lists(MAX_DEPTH)
    for text in ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "[NaN]", "[-Infinity]", "1e400"):
        with pytest.raises(ValueError, match="levels deep|not a number|not a finite number"):
            parse_json(text)
    assert parse_toml("a.b.c = 1") == {"a": {"b": {"c": 1}}}
    with pytest.raises(ValueError, match="levels deep"):
        parse_toml(".".join(["a"] * (MAX_DEPTH + 1)) + " = 1")
    assert to_json({"a": [1.5]}) == '{"a": [1.5]}'
    with pytest.raises(ValueError, match=r"a\[1\]\.b = inf is not finite"):
        to_json({"a": [0, {"b": float("inf")}]})


# ------------------------------------------------------ artifacts: a valid checksum, hostile values


def _strict(text: str):
    """JSON as the standard has it: no NaN or Infinity, every number finite."""

    def refuse(token):
        raise AssertionError(f"non-standard JSON constant {token}")

    def finite(v):
        if isinstance(v, float):
            assert np.isfinite(v), v
        for x in v.values() if isinstance(v, dict) else v if isinstance(v, list) else ():
            finite(x)

    out = json.loads(text, parse_constant=refuse)
    finite(out)
    return out


def _each(kind: str, key: str, value):
    """Sets ``key`` of every population of Lava class ``kind`` to ``value``."""

    def edit(structure, meta, arrays):
        for e in structure["neurons"]:
            if e["class"] == kind:
                e[key] = value

    return edit


def _synapses(key: str, value):
    def edit(structure, meta, arrays):
        for e in structure["synapses"]:
            e[key] = value

    return edit


def _gate_weights(f):
    def edit(structure, meta, arrays):
        for j, e in enumerate(structure["synapses"]):
            if e["src"] == "gate":
                arrays[f"synapse/{j}/weight"] = f(arrays[f"synapse/{j}/weight"]).astype(np.int16)

    return edit


def _array(name: str, f):
    def edit(structure, meta, arrays):
        arrays[name] = f(arrays[name])

    return edit


def _meta(path: str, value):
    """Sets meta[a][b]... (``path`` "a.b") to ``value``."""

    def edit(structure, meta, arrays):
        *parents, key = path.split(".")
        for k in parents:
            meta = meta.setdefault(k, {})
        meta[key] = value

    return edit


def _formats(key: str, value):
    def edit(structure, meta, arrays):
        structure["formats"][key] = value

    return edit


def _shift_lags(by: int):
    def edit(structure, meta, arrays):
        for e in structure["neurons"]:
            if e["lag"] is not None:
                e["lag"] += by
        structure["gate"] = [[lag + by, kind] for lag, kind in structure["gate"]]

    return edit


def _model_ops(key: str, value):
    def edit(structure, meta, arrays):
        m = next(m for m in structure["model_ops"] if key in m)
        m[key] = (np.asarray(m[key]) * 0 + value).tolist()

    return edit


def _rename(new):
    """The first population renamed to ``new`` everywhere it is named."""

    def edit(structure, meta, arrays):
        old = structure["neurons"][0]["name"]
        structure["neurons"][0]["name"] = new
        for e in structure["synapses"]:
            for k in ("src", "dst"):
                e[k] = new if e[k] == old else e[k]
        for m in structure["model_ops"]:
            m["source"] = new if m["source"] == old else m["source"]

    return edit


def _late_term(structure, meta, arrays):
    """The first term's processes delayed by the chip's most: its payloads of one sample would
    reach into the next."""
    term = next(e["name"] for e in structure["neurons"] if e["class"] == "GradedVec")
    for e in structure["synapses"]:
        if e["dst"] == term:
            e["delay"] = 62
            e["class"] = e["class"] if e["class"].startswith("Delay") else "Delay" + e["class"]


def _no_classes(structure, meta, arrays):
    arrays["head/weight"] = arrays["head/weight"][:0]
    arrays["head/bias"] = arrays["head/bias"][:0]
    meta["classes"] = []


nan, inf = float("nan"), float("inf")
# each value an artifact convert never writes; the checksum recomputed, so that only the checks of
# what the values mean stand between them and the backends and reports
HOSTILE_ARTIFACTS = {
    **{f"layer scale {v}": _each("LIFReset", "scale", v) for v in (nan, inf, -1.0, 0.0)},
    **{f"term scale {v}": _each("GradedVec", "scale", v) for v in (nan, -inf, 0.0)},
    "relay scale nan": _each("LIF", "scale", nan),
    **{f"rel_error {v}": _synapses("rel_error", v) for v in (nan, inf, -1.0)},
    **{
        f"{name} {v}": _array(name, lambda a, v=v: np.full_like(a, v))
        for name in ("head/weight", "head/bias")
        for v in (nan, inf)
    },
    "head of 0 classes": _no_classes,
    **{f"frame shift {v}": _meta("features.frame_shift_ms", v) for v in (-1.0, 0, nan, inf, 1e308)},
    "config 4096 wide": _meta("config.dim", 4096),
    "config 64 deep": _meta("config.depth", 64),
    "config memory 8192 x 10^6 steps": lambda s, m, a: m["config"].update(
        memory_size=8192, seq_len=10**6
    ),
    "config other features": _meta("config.in_features", 4096),
    "config not one": _meta("config.dim", "wide"),
    "fan-out 2^62": _model_ops("fanout", 2**62),
    "taps 2^62": _model_ops("taps", 2**62),
    "fan-out 2^64": _model_ops("fanout", 2**64),
    **{f"lags + 10^{k}": _shift_lags(10**k) for k in (6, 12)},
    "gate lag 10^12": lambda s, m, a: s["gate"].append([10**12, "outside"]),
    "gate channel twice": lambda s, m, a: s["gate"].append(s["gate"][0]),
    "a term fed 62 steps late": _late_term,
    "v_init at the top of the state": _each("LIFReset", "v_init", 2**23 - 1),
    "v_init 10^6": _each("LIFReset", "v_init", 10**6),
    "du 0": _each("LIFReset", "du", 0),
    "relay with a bias": lambda s, m, a: a.update(
        {
            f"neurons/{i}/bias_mant": a[f"neurons/{i}/bias_mant"] + 1
            for i, e in enumerate(s["neurons"])
            if e["class"] == "LIF"
        }
    ),
    "relay v_init 1": _each("LIF", "v_init", 1),
    "gate weights all 0": _gate_weights(lambda w: w * 0),
    "gate weights halved": _gate_weights(lambda w: w // 4 * 2),
    "gate excites": _gate_weights(lambda w: -w // 2 * 2),
    "name with escapes": _rename("\x1b[31mred\x1b[0m"),
    "name of 10^6 characters": _rename("n" * 10**6),
    "name empty": _rename(""),
    "name a path": _rename("../../etc/passwd"),
    "name not a string": _rename(7),
    "target a path": _meta("target", "/etc/passwd"),
    "target with escapes": _meta("target", "\x1b]0;pwned\x07"),
    "class names with escapes": _meta("classes", ["\x1b[2J"] * 10),
    "formats decay_bits 2000": _formats("decay_bits", 2000),
    "formats message_bits 10^12": _formats("message_bits_max", 10**12),
}


@pytest.mark.parametrize("case", list(HOSTILE_ARTIFACTS))
def test_hostile_artifact_values(files, tmp_path, case):
    """Each value is refused, when the artifact is read or (the gate's inhibition) by the limits
    every backend checks: one line, exit 2, no report; the inspector refuses it too."""
    from hostile import artifact_edited

    art = artifact_edited(files["art_path"], tmp_path / "art.h5", HOSTILE_ARTIFACTS[case])
    report = tmp_path / "report.json"
    argv = ["energy", art, "--inputs", files["x"], "--format", "json", "-o", report]
    assert run_cli("artifact values", argv, [report]) == 2
    with redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
        assert main(["inspect", str(art)]) == 2  # one line per broken limit, where one is


_field_values = st.sampled_from(
    [nan, inf, -inf, -1, 0, 1, 2**23 - 1, -(2**23), 10**6, 2**62, 10**12, 1e308, "x", None, []]
)


@settings(max_examples=examples(40), **SETTINGS)
@given(data=st.data())
def test_fuzz_artifact_values(files, data):
    """Any field of the structure or the record set to a hostile value, the checksum recomputed:
    exit 0 with a report of finite numbers in standard JSON, or one line and exit 2."""
    from hostile import artifact_edited

    def edit(structure, meta, arrays):
        for _ in range(data.draw(st.integers(1, 3))):
            where = data.draw(st.sampled_from(["neurons", "synapses", "input", "formats", "meta"]))
            table = (
                meta
                if where == "meta"
                else structure[where]
                if where in ("input", "formats")
                else data.draw(st.sampled_from(structure[where]))
            )
            table[data.draw(st.sampled_from(sorted(table)))] = data.draw(_field_values)

    art = artifact_edited(files["art_path"], files["dir"] / "values.h5", edit)
    report = files["dir"] / "values.json"
    argv = ["energy", art, "--inputs", files["x"], "--format", "json", "-o", report]
    if run_cli("artifact values (random)", argv) == 0:
        _strict(report.read_text())
    else:
        assert not report.exists()
    report.unlink(missing_ok=True)


def _v_init(where: str):
    """Each layer's v_init at the top of the state, or at the largest value whose first step
    cannot fire it (``where`` "bound")."""

    def edit(structure, meta, arrays):
        from lmuneuro.formats import LAVA
        from lmuneuro.loihi import decay

        for i, e in enumerate(structure["neurons"]):
            if e["class"] != "LIFReset":
                continue
            if where == "top":
                e["v_init"] = LAVA.state_max - 1
                continue
            bias = arrays[f"neurons/{i}/bias_mant"].astype(np.int64) << arrays[
                f"neurons/{i}/bias_exp"
            ].astype(np.int64)
            room, keep = e["vth"] * 2**LAVA.vth_shift - bias.max(), 2**LAVA.decay_bits - e["dv"]
            v = int(room * 2**LAVA.decay_bits / keep)
            while decay(v + 1, keep) <= room:
                v += 1
            while decay(v, keep) > room:
                v -= 1
            e["v_init"] = v

    return edit


def _gate_of(layers, f):
    def edit(structure, meta, arrays):
        for j, e in enumerate(structure["synapses"]):
            if e["src"] == "gate" and e["dst"] in layers:
                arrays[f"synapse/{j}/weight"] = f(arrays[f"synapse/{j}/weight"]).astype(np.int16)

    return edit


UNUSUAL = {  # in range, but not what convert writes: run alike on both backends, or refused
    "v_init at the top of the state": (_v_init("top"), False),
    "v_init at the first step's bound": (_v_init("bound"), True),
    "v_init 0": (_each("LIFReset", "v_init", 0), True),
    "gate weights all 0": (_gate_of("ab", lambda w: w * 0), False),
    "gate weights halved": (_gate_of("ab", lambda w: w // 4 * 2), False),
    # b has no bias and reads a only in its window: it needs no inhibition
    "gate weights of b all 0": (_gate_of("b", lambda w: w * 0), True),
}


@pytest.fixture(scope="module")
def tiny_artifact(tmp_path_factory):
    """A two-layer network that fires (layer a reads three taps of the input, b reads a)."""
    from lmuneuro.artifact import INPUT, write_artifact
    from lmuneuro.compile.graph import Graph, Population, Synapses
    from lmuneuro.compile.quantize import quantize_graph

    taps = np.array([[[0.75], [0.5]], [[1.0], [0.8]], [[-0.25], [0.3]]])
    graph = Graph(
        1,
        [
            Population(
                "a", 2, 1.0, 2.0, np.array([0.25, -0.1]), [Synapses(INPUT, taps, (-1, 0, 1))]
            ),
            Population(
                "b",
                2,
                1.0,
                2.0,
                np.zeros(2),
                [Synapses("a", np.array([[[3.0, 0.25], [-0.5, 2.0]]]), (0,))],
            ),
        ],
        np.ones((1, 2)),
        np.zeros(1),
    )
    d = tmp_path_factory.mktemp("tiny")
    write_artifact(d / "tiny.h5", quantize_graph(graph, input_max_abs=1.0))
    x = np.abs(np.random.default_rng(0).uniform(-1, 1, (4, 5, 1))).astype(np.float32) * 4
    np.save(d / "x.npy", x)
    return d / "tiny.h5", d / "x.npy"


@pytest.mark.parametrize("case", list(UNUSUAL))
def test_unusual_artifacts_run_alike_on_lava_or_are_refused(tiny_artifact, tmp_path, case):
    """Values the emulator's shortcuts (each sample from the run's initial state; the gate's
    inhibition added where it fires) would compute differently from Lava's simulator, which runs
    the samples back to back: where the file proves them harmless, both backends give the same
    spikes, neuron for neuron and step for step; elsewhere ``run`` refuses the file."""
    from hostile import artifact_edited

    from lmuneuro.artifact import read_artifact
    from lmuneuro.backends import run_backend

    edit, accepted = UNUSUAL[case]
    src, x = tiny_artifact
    art = artifact_edited(src, tmp_path / "art.h5", edit)
    act = tmp_path / "act.json"
    code = run_cli("unusual artifact", ["run", art, "--inputs", x, "--activity", act], [act])
    assert code == (0 if accepted else 2)
    if accepted:
        net, features = read_artifact(art), np.load(x)
        emu, lava = (run_backend(net, features, b, record=True) for b in ("emulator", "lava-sim"))
        assert all(np.array_equal(emu.spikes[k], lava.spikes[k]) for k in emu.spikes)
        assert all(
            np.array_equal(emu.spike_counts[k], lava.spike_counts[k]) for k in emu.spike_counts
        )
        assert min(int(s.sum()) for s in emu.spikes.values()) > 0
