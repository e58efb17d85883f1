"""Synthesised spoken-word data sets: speaker-disjoint splits, a manifest that a second build
reuses, and every kind of damage named in one line before anything is trained on it."""

import json
import wave
from dataclasses import replace

import numpy as np
import pytest
import torch
from spoken_fakes import TINY, tone_voice

from lmuneuro.cli import main
from lmuneuro.data import RECIPES, dataset_info, get_dataset
from lmuneuro.data.speech_commands import CLASSES as SC_CLASSES
from lmuneuro.data.spoken import ACCENTS, RATE, DataError, build, load

CLIP_BYTES = 44 + 2 * RATE


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    tone_voice(monkeypatch)
    return tmp_path / "data", build(tmp_path / "data", TINY, workers=2, progress=False)


def test_recipes_are_the_speech_commands_words_and_big_enough():
    scv2 = RECIPES["scv2-synthetic"]
    assert scv2.words == tuple(SC_CLASSES) and len(scv2.words) == 35
    assert scv2.per_word[0] >= 200  # training clips per word, enough for the full-size model
    assert dataset_info("scv2-synthetic")["classes"] == SC_CLASSES
    assert dataset_info("scv2-synthetic")["eval_split"] == "validation"
    assert len(RECIPES["spoken-keywords"].words) == 10


def test_build_splits_speakers_and_clips(tiny):
    folder, r = tiny
    assert r["built"] and r["clips"] == {"train": 18, "validation": 6, "test": 9}
    m = json.loads((folder / "manifest.json").read_text())
    speakers = {
        s: {c["voice"].split("+")[1] for c in m["clips"] if c["split"] == s} for s in r["clips"]
    }
    # no validation or test speaker is heard in training
    assert (
        not speakers["train"] & speakers["test"] and not speakers["train"] & speakers["validation"]
    )
    assert not speakers["validation"] & speakers["test"]
    assert {c["voice"].split("+")[0] for c in m["clips"]} <= set(ACCENTS)
    for c in m["clips"]:
        with wave.open(str(folder / c["file"])) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (
                1,
                2,
                RATE,
                RATE,
            )
        assert 110 <= c["speed"] < 220 and 20 <= c["pitch"] < 80
    ds = load(folder, TINY, "train")
    x, y = ds.tensors
    assert x.shape == (18, 128, 128) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert sorted(y.tolist()) == [0] * 6 + [1] * 6 + [2] * 6


def test_word_sits_in_noise_at_20_to_40_db():
    from lmuneuro.data.spoken import _clip

    speech = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(4800) / RATE)
    clip = _clip(speech, np.random.default_rng(0))
    assert clip.shape == (RATE,) and np.abs(clip).max() <= 1.0
    start = int(np.argmax(np.abs(clip) > 0.2))
    noise = np.concatenate([clip[: max(start - 10, 0)], clip[start + len(speech) + 10 :]])
    signal_power = np.mean(clip[start + 10 : start + len(speech) - 10] ** 2)
    assert 18 < 10 * np.log10(signal_power / np.mean(noise**2)) < 42


def test_same_bytes_whatever_the_workers_and_reused_when_intact(tiny, tmp_path):
    folder, _ = tiny
    again = build(tmp_path / "again", TINY, workers=1, progress=False)
    assert again["built"]
    a, b = (
        json.loads((f / "manifest.json").read_text())["clips"] for f in (folder, tmp_path / "again")
    )
    assert a == b  # every clip's SHA-256 equal: the build is reproducible
    assert build(folder, TINY, progress=False)["built"] is False


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "clips/00004.wav").unlink(), "clip clips/00004.wav is missing"),
        (
            lambda f: (f / "clips/00004.wav").write_bytes(
                (f / "clips/00004.wav").read_bytes()[:-2]
            ),
            f"clip clips/00004.wav has {CLIP_BYTES - 2} bytes",
        ),
        (
            lambda f: f.joinpath("clips/00004.wav").write_bytes(
                f.joinpath("clips/00004.wav").read_bytes()[:-1]
                + bytes([f.joinpath("clips/00004.wav").read_bytes()[-1] ^ 0xFF])
            ),
            "clip clips/00004.wav was altered",
        ),
        (lambda f: _rewrite(f / "clips/00004.wav", rate=8000, frames=RATE), "is 8000 Hz"),
        (lambda f: _rewrite(f / "clips/00004.wav", channels=2, frames=RATE // 2), "2 channel"),
        (lambda f: (f / "manifest.json").write_text("{"), "not a readable manifest"),
        (lambda f: _edit_manifest(f, lambda m: m["clips"].pop()), "does not describe"),
        (
            lambda f: _edit_manifest(f, lambda m: m["clips"][0].update(file="../../etc/passwd")),
            "does not describe",
        ),
        (lambda f: _edit_manifest(f, lambda m: m["recipe"].update(seed=1)), "another recipe"),
    ],
)
def test_damage_is_named_and_rebuilt_on_request(tiny, monkeypatch, damage, message):
    folder, _ = tiny
    damage(folder)
    for attempt in (
        lambda: load(folder, TINY, "train"),
        lambda: build(folder, TINY, progress=False),
    ):
        with pytest.raises(DataError, match=message):
            attempt()
    assert build(folder, TINY, rebuild=True, progress=False)["built"]
    assert len(load(folder, TINY, "train")) == 18


def _rewrite(path, rate=RATE, channels=1, frames=RATE):
    with wave.open(str(path), "wb") as w:  # the same byte count, another format
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(2 * channels * frames))
    assert path.stat().st_size == CLIP_BYTES


def _edit_manifest(folder, edit):
    m = json.loads((folder / "manifest.json").read_text())
    edit(m)
    (folder / "manifest.json").write_text(json.dumps(m))


def test_cli_names_the_damage_in_one_line_and_rebuilds_on_request(tmp_path, monkeypatch, capsys):
    tone_voice(monkeypatch)
    small = replace(RECIPES["spoken-keywords"], per_word=(2, 1, 1))
    monkeypatch.setitem(RECIPES, "spoken-keywords", small)
    folder, out = tmp_path / "kw", tmp_path / "model.pt"
    assert main(["synthesize", "spoken-keywords", "-o", str(folder), "--no-progress"]) == 0
    assert "synthesised 20 train, 10 validation, 10 test clips" in capsys.readouterr().out
    clip = folder / "clips/00001.wav"
    clip.write_bytes(clip.read_bytes()[:-1] + b"\x07")
    train = ["train", "--preset", "spiking-lmuformer-keywords", "--dataset", "spoken-keywords"]
    train += ["--data-dir", str(folder), "-o", str(out), "--epochs", "1", "--no-progress"]
    for argv in (train, ["synthesize", "spoken-keywords", "-o", str(folder)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "clips/00001.wav was altered" in err
        assert "make keywords" in err
    assert not out.exists()
    assert main(["synthesize", "spoken-keywords", "-o", str(folder), "--rebuild", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["built"] is True
    assert main([*train, "--json"]) == 0 and out.exists()


def test_refusals_before_any_work(tmp_path, monkeypatch):
    tone_voice(monkeypatch)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes/todo.txt").write_text("mine")
    with pytest.raises(DataError, match="non-empty folder without a manifest"):
        build(tmp_path / "notes", TINY, progress=False)
    assert (tmp_path / "notes/todo.txt").read_text() == "mine"
    build(tmp_path / "data", TINY, progress=False)
    (tmp_path / "data/model.pt").write_text("mine")
    with pytest.raises(DataError, match="also holds 'model.pt': refusing to replace it"):
        build(tmp_path / "data", TINY, rebuild=True, progress=False)
    assert (tmp_path / "data/model.pt").read_text() == "mine"
    with pytest.raises(FileNotFoundError, match="no manifest.json.*make tiny"):
        load(tmp_path / "notes", TINY, "train")
    with pytest.raises(ValueError, match="needs --data-dir"):
        get_dataset("scv2-synthetic", "train")
    with pytest.raises(ValueError, match="not 'dev'"):
        load(tmp_path, TINY, "dev")
    monkeypatch.undo()
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="espeak-ng is not installed"):
        build(tmp_path / "new", TINY, progress=False)
    assert not (tmp_path / "new").exists()
