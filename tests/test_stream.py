"""Keyword streams: labels that sit on their words, speaker-disjoint splits, a checked and reused
build, one-line refusals of damaged streams and malformed labels, memory that does not grow with
a stream's length."""

import json
import tracemalloc
import wave
from dataclasses import replace

import numpy as np
import pytest
from spoken_fakes import tone_voice

from lmuneuro.cli import main
from lmuneuro.data import KEYWORD_STREAM
from lmuneuro.data.spoken import RATE, DataError
from lmuneuro.data.stream import _write_stream, build, check, read_labels

SMALL = replace(KEYWORD_STREAM, streams=(2, 1, 2), minutes=0.5, make="make small")


def _tone_hz(word):  # the stand-in voice's pitch for a word (spoken_fakes.tone_voice)
    return 300.0 + 37 * (sum(map(ord, word)) % 40)


@pytest.fixture
def small(tmp_path, monkeypatch):
    tone_voice(monkeypatch)
    return tmp_path / "ks", build(tmp_path / "ks", SMALL, workers=2, progress=False)


def test_labels_sit_on_their_words_and_speakers_are_disjoint(small):
    folder, r = small
    assert r["built"] and r["streams"] == {"train": 2, "validation": 1, "test": 2}
    m = json.loads((folder / "manifest.json").read_text())
    sp = {s: set(v) for s, v in m["speakers"].items()}
    assert not sp["train"] & sp["test"] and not sp["train"] & sp["validation"]
    assert not sp["validation"] & sp["test"]
    for s in m["streams"]:
        with wave.open(str(folder / s["file"])) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
            x = np.frombuffer(w.readframes(w.getnframes()), "<i2") / 32768
        assert len(x) == 30 * RATE
        labels = read_labels(folder / s["labels"], KEYWORD_STREAM.keywords, 30.0)
        assert len(labels) == s["keywords"] > 0
        for word, on, off in labels:
            a, b = round(on * RATE), round(off * RATE)
            word_part = x[a:b]
            assert np.sqrt(np.mean(word_part**2)) > 0.15  # the tone, peak 0.3 to 1
            # a pause of noise (at most -30 dBFS) on either side
            for edge in (x[a - 1600 : a - 16], x[b + 16 : b + 1600]):
                assert np.sqrt(np.mean(edge**2)) < 0.04
            spectrum = np.abs(np.fft.rfft(word_part))
            assert abs(np.argmax(spectrum) * RATE / len(word_part) - _tone_hz(word)) < 5
    # fillers are spoken too: more loud stretches than keywords
    x = np.frombuffer((folder / m["streams"][0]["file"]).read_bytes()[44:], "<i2") / 32768
    loud = np.abs(x[:: RATE // 100]) > 0.1
    onsets = np.count_nonzero(loud[1:] & ~loud[:-1])
    assert onsets > 2 * m["streams"][0]["keywords"]


def test_reproducible_and_reused(small, tmp_path):
    folder, r = small
    again = build(tmp_path / "again", SMALL, workers=1, progress=False)
    a, b = (json.loads((f / "manifest.json").read_text()) for f in (folder, tmp_path / "again"))
    assert a["streams"] == b["streams"] and again["keywords"] == r["keywords"]
    reused = build(folder, SMALL, progress=False)
    assert reused["built"] is False and reused["keywords"] == r["keywords"]


def _edit_labels(folder, edit):
    path = folder / "streams/00001.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "streams/00001.csv").unlink(), "streams/00001.csv is missing"),
        (
            lambda f: (f / "streams/00001.wav").write_bytes(
                (f / "streams/00001.wav").read_bytes()[:-2]
            ),
            "streams/00001.wav has 960042 bytes, not 0.5 min",
        ),
        (
            lambda f: _edit_labels(f, lambda ls: [*ls[:1], ls[1].replace(",", ",0", 1)]),
            "streams/00001.csv was altered",
        ),
        (lambda f: (f / "manifest.json").write_text("[]"), "not a lmuneuro-keyword-streams"),
        (
            lambda f: (f / "manifest.json").write_text(
                (f / "manifest.json").read_text().replace('"minutes":0.5', '"minutes":1')
            ),
            "another recipe",
        ),
    ],
)
def test_damage_is_named_and_rebuilt_on_request(small, damage, message):
    folder, _ = small
    damage(folder)
    for attempt in (lambda: check(folder, SMALL), lambda: build(folder, SMALL, progress=False)):
        with pytest.raises(DataError, match=message):
            attempt()
    assert build(folder, SMALL, rebuild=True, progress=False)["built"]
    check(folder, SMALL)


@pytest.mark.parametrize(
    "text, message",
    [
        ("word,start,end\n", "line 1: expected the header"),
        ("word,onset,offset\nyes,1.0\n", "line 2: expected word,onset,offset, got 2"),
        ("word,onset,offset\nyes,1,2\nbird,3,4\n", "line 3: 'bird' is not one of the keywords"),
        ("word,onset,offset\nyes,one,2\n", "line 2: onset and offset must be numbers"),
        ("word,onset,offset\nyes,2,2\n", r"line 2: needs 0 <= onset < offset"),
        ("word,onset,offset\nyes,1,nan\n", r"line 2: needs 0 <= onset < offset"),
        ("word,onset,offset\nyes,29.5,30.5\n", "line 2: ends at 30.5 s, past the stream's end"),
        ("word,onset,offset\nyes,1,2\nno,1.5,3\n", "line 3: starts at 1.5 s, before the previous"),
        ("word,onset,offset\nno,5,6\nyes,1,2\n", "line 3: starts at 1.0 s, before the previous"),
    ],
)
def test_malformed_labels_are_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as e:
        read_labels(path, KEYWORD_STREAM.keywords, 30.0)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)


def test_a_long_stream_is_written_in_bounded_memory(tmp_path, monkeypatch):
    tone_voice(monkeypatch)
    long = replace(SMALL, minutes=3.0)  # 23 MB as float64 samples if held at once
    tracemalloc.start()
    try:
        r = _write_stream((long, ["m1", "f2"], 0, tmp_path / "s.wav", tmp_path / "s.csv"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (tmp_path / "s.wav").stat().st_size == 44 + 2 * long.samples
    # 3.6 MB measured: a 10 s noise chunk and its copies, whatever the stream's length
    assert r["keywords"] > 0 and peak < 8e6


def test_cli_builds_checks_and_refuses_in_one_line(tmp_path, monkeypatch, capsys):
    tone_voice(monkeypatch)
    monkeypatch.setattr("lmuneuro.data.KEYWORD_STREAM", replace(SMALL, make="lmuneuro ..."))
    out = tmp_path / "ks"
    argv = ["synthesize", "keyword-stream", "-o", str(out), "--minutes", "0.25", "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "synthesised 2 train, 1 validation, 2 test streams of 0.25 min (keywords: " in text
    assert main(argv) == 0 and "checked, reused" in capsys.readouterr().out
    for bad, message in (
        (
            [*argv[:-2], "0.5"],
            "another recipe than keyword-stream's (rebuild it: lmuneuro "
            "synthesize keyword-stream -o DIR --minutes 0.5 --rebuild)",
        ),
        (
            ["synthesize", "spoken-keywords", "-o", str(tmp_path / "kw"), "--minutes", "1"],
            "--minutes is for keyword-stream only",
        ),
    ):
        assert main(bad) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "kw").exists()
