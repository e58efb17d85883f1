"""lmuneuro stream: a keyword network on continuous audio. Its start is a clip (the same spikes and
read-out), Lava computes every spike of a stream as the emulator does, detections follow the
read-out's threshold, refractory period and pipeline delay, the figures are those of
docs/detection.md on the reported detections, and bad audio is refused in one line."""

import json
import math
import wave
from dataclasses import replace

import numpy as np
import pytest
import torch
from spoken_fakes import tone_voice
from support import SEED, calibrated

from lmuneuro.analysis.detection import score
from lmuneuro.artifact import read_artifact
from lmuneuro.backends import run_backend
from lmuneuro.checkpoint import save_checkpoint
from lmuneuro.cli import main
from lmuneuro.data import KEYWORD_STREAM, FeatureConfig
from lmuneuro.data.features import frame_times, logmel_stream
from lmuneuro.data.spoken import DataError
from lmuneuro.data.stream import build, read_labels, read_wav
from lmuneuro.spotting import THRESHOLDS, Readout, _float_probabilities, probabilities, stream

WORDS = KEYWORD_STREAM.keywords
SHORT = replace(KEYWORD_STREAM, minutes=0.1)  # 6 s streams


def _convert(folder, name, model, features=FeatureConfig().to_dict()):
    ck, art = folder / f"{name}.pt", folder / f"{name}.h5"
    save_checkpoint(ck, model, features=features, classes=WORDS)
    assert main(["convert", str(ck), "-o", str(art)]) == 0
    return ck, art


@pytest.fixture(scope="module")
def keywords(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spotting")
    with pytest.MonkeyPatch.context() as mp:
        tone_voice(mp)
        build(folder / "streams", SHORT, workers=2, progress=False)
    model = calibrated("spiking-lmuformer-keywords", seed=SEED)
    ck, art = _convert(folder, "kw", model)
    return folder, model, ck, art


def _write_wav(path, audio, rate=16000, channels=1, width=2):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(np.round(np.asarray(audio) * 32767).astype(f"<i{width}").tobytes())


def _softmax(z):
    z = np.asarray(z, np.float64) - np.max(z)
    return np.exp(z) / np.exp(z).sum()


def test_a_streams_start_is_a_clip(keywords):
    """Without resets, a stream's first frames are a clip's: the same spikes in every layer up to
    the look-ahead (a clip's last frames see zero padding where a stream sees the next frames),
    and there the read-out's probabilities are the clip's streaming prediction, for the chip and
    the float model; later, frame t's probabilities are the head on the last 128 frames' spikes."""
    folder, model, _, art = keywords
    net = read_artifact(art)
    x = logmel_stream(read_wav(folder / "streams/streams/00000.wav"), 16000)
    c, ahead = FeatureConfig().target_length, model.delay
    whole = run_backend(net, x[None], "emulator", record=True)
    clip = run_backend(net, x[None, :c], "emulator", record=True)
    same = c - ahead
    for name, s in clip.spikes.items():
        assert np.array_equal(whole.spikes[name][:, :same], s[:, :same]), name
    assert not all(np.array_equal(whole.spikes[n][:, :c], s) for n, s in clip.spikes.items())
    p = probabilities(whole.spikes[net.readout][0], net.head_weight, net.head_bias, c)
    assert len(p) == len(x) > 4 * c and np.allclose(p.sum(axis=1), 1)
    for t in (0, same // 2, same - 1):
        assert np.abs(p[t] - _softmax(clip.per_step[0, t])).max() < 1e-12
    with torch.no_grad():
        per_step = model(torch.from_numpy(x[None, :c]), per_step=True).double().numpy()[0]
    pf = _float_probabilities(model, x, net.readout, c)
    assert np.abs(pf[same - 1] - _softmax(per_step[same - 1])).max() < 1e-5
    t = 3 * c  # the context slides: frames t-c+1..t
    mean = whole.spikes[net.readout][0][t - c + 1 : t + 1].mean(axis=0)
    assert np.abs(p[t] - _softmax(net.head_weight @ mean + net.head_bias)).max() < 1e-9


def test_lava_computes_every_spike_of_a_stream(keywords, tmp_path):
    """The network without resets on Lava's simulator: 1.5 s, past the LMU's 128-frame window."""
    folder, _, _, art = keywords
    net = read_artifact(art)
    _write_wav(tmp_path / "short.wav", read_wav(folder / "streams/streams/00001.wav")[:24000])
    x = logmel_stream(read_wav(tmp_path / "short.wav"), 16000)
    assert len(x) == 148
    emu = run_backend(net, x[None], "emulator", record=True)
    lava = run_backend(net, x[None], "lava-sim", record=True)
    assert emu.spikes.keys() == lava.spikes.keys() and len(emu.spikes) == len(net.layers)
    for name in emu.spikes:
        assert np.array_equal(emu.spikes[name], lava.spikes[name]), name
    assert emu.spikes[net.readout].sum() > 100


def test_detections_follow_threshold_refractory_and_delay(keywords):
    """A model sure of "yes" at every frame reports it at the first frame its output is known
    (the features' first frame plus the pipeline delay), then once per refractory period; the
    figures are docs/detection.md's on those detections and the streams' labels."""
    folder = keywords[0]
    sure = calibrated("spiking-lmuformer-keywords", seed=SEED)
    with torch.no_grad():
        sure.head.bias[WORDS.index("yes")] += 50.0
    ck, art = _convert(folder, "sure", sure)
    readout = Readout(threshold=0.99, refractory_s=0.5, window_s=0.3)
    r = stream(art, stream_dir=folder / "streams", streams=3, checkpoint=ck, readout=readout)
    net, first_s, frame_s = read_artifact(art), *frame_times()
    labels = [read_labels(path[: -len("wav")] + "csv", WORDS, 6.0) for path in r.streams]
    assert [path[-9:] for path in r.streams] == ["00010.wav", "00011.wav", "00012.wav"]
    assert r.labelled and r.audio_s == 18.0 and r.frames == 3 * 598
    for found, delay in ((r.chip, net.delay), (r.float, sure.delay)):
        assert found.delay_s == pytest.approx(delay * frame_s)
        gap = 50  # frames of 10 ms in 0.5 s
        times = [first_s + (delay + k * gap) * frame_s for k in range(math.ceil(598 / gap))]
        for i in range(3):
            got = [(w, t) for j, w, t in found.detections if j == i]
            assert [w for w, _ in got] == ["yes"] * len(times)
            assert np.allclose([t for _, t in got], times)
        dets = [[(w, t) for j, w, t in found.detections if j == i] for i in range(3)]
        parts = [score(d, lab, 6.0, 0.3) for d, lab in zip(dets, labels)]
        f = found.figures
        assert f["keywords"] == sum(len(lab) for lab in labels) > 0
        assert f["detected"] == sum(p["detected"] for p in parts)
        assert f["false_alarms"] == sum(p["false_alarms"] for p in parts)
        assert f["false_alarms"] == len(found.detections) - f["detected"]
        assert f["false_alarms_per_hour"] == pytest.approx(f["false_alarms"] * 3600 / 18.0)
        assert [c["threshold"] for c in found.curve][-1] == 0.99
    assert r.chip.figures["detected"] <= sum(w == "yes" for lab in labels for w, _, _ in lab)


def test_cli_reports_streams_and_refuses_bad_audio(keywords, tmp_path, capsys):
    folder, _, ck, art = keywords
    argv = ["stream", str(art), "--stream-dir", str(folder / "streams"), "--streams", "2"]
    assert main(argv + ["--checkpoint", str(ck), "--threshold", "0.2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["backend"] == "emulator" and len(d["streams"]) == 2 and d["audio_s"] == 12.0
    assert d["words"] == list(WORDS) and d["readout"]["context"] == 128
    for net in ("chip", "float"):
        assert set(d[net]) == {"delay_s", "detections", "figures", "curve", "seconds"}
        assert d[net]["figures"]["threshold"] == 0.2 and len(d[net]["curve"]) == len(THRESHOLDS)
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("emulator: 2 stream(s), 0.2 min of audio") and "chip" in out[1]
    assert out[2].startswith("loihi2: ") and "J per hour of listening" in out[2]
    html = tmp_path / "report.html"
    assert main(argv + ["--checkpoint", str(ck), "-o", str(html)]) == 0
    page = html.read_text()
    assert page.count("data:image/png;base64,") == 1 and page.count("<tr>") == 1 + 2 * len(
        THRESHOLDS
    )
    wav = folder / "streams/streams/00000.wav"
    assert main(["stream", str(art), "--wav", str(wav), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["chip"]["figures"] is None and d["float"] is None and d["frames"] == 598

    def refused(args, message):
        assert main(["stream", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err

    _write_wav(tmp_path / "8k.wav", np.zeros(8000), rate=8000)
    refused([str(art), "--wav", str(tmp_path / "8k.wav")], "expected 16000 Hz mono 16-bit")
    _write_wav(tmp_path / "stereo.wav", np.zeros(32000), channels=2)
    refused([str(art), "--wav", str(tmp_path / "stereo.wav")], "2 channel(s)")
    (tmp_path / "noise.wav").write_bytes(b"RIFF" + bytes(100))
    refused([str(art), "--wav", str(tmp_path / "noise.wav")], "not a readable WAV file")
    _write_wav(tmp_path / "tiny.wav", np.zeros(100))
    refused([str(art), "--wav", str(tmp_path / "tiny.wav")], "shorter than one frame")
    refused([str(art), "--wav", str(wav), "--stream-dir", str(folder)], "not allowed with")
    refused([str(art), "--wav", str(wav), "--streams", "2"], "--streams counts the streams")
    refused([str(art), "--wav", str(wav), "-o", str(tmp_path / "r.pdf")], "no .pdf report")
    refused([str(art), "--stream-dir", str(tmp_path)], "no manifest.json")
    _, plain = _convert(tmp_path, "plain", calibrated("spiking-lmuformer-keywords"), None)
    refused([str(plain), "--wav", str(wav)], "features are not recorded")


def test_damaged_wav_files_are_refused_as_such(keywords, tmp_path):
    """Random byte damage to a WAV file: read, or refused with a DataError, never another error."""
    path = tmp_path / "damaged.wav"
    _write_wav(path, read_wav(keywords[0] / "streams/streams/00000.wav")[:2000])
    good, rng, read = path.read_bytes(), np.random.default_rng(0), 0
    for _ in range(300):
        b = bytearray(good[: rng.integers(0, 200)] if rng.random() < 0.3 else good)
        for _ in range(rng.integers(1, 6)):
            if b:
                b[rng.integers(len(b))] = rng.integers(256)
        path.write_bytes(bytes(b))
        try:
            read_wav(path)
            read += 1
        except DataError as e:
            assert str(e).startswith(str(path)) and "\n" not in str(e)
    assert 0 < read < 300


def test_energy_per_hour_is_the_streams_energy_in_real_time(keywords):
    """Per profile: the stream's activity priced in real time (one step per 10 ms frame, a chip's
    static power over the whole stream), scaled to an hour; the same report as ``energy``'s."""
    from lmuneuro.analysis.activity import activity
    from lmuneuro.analysis.energy import report

    folder, _, _, art = keywords
    net = read_artifact(art)
    wav = folder / "streams/streams/00003.wav"
    r = stream(art, wav=wav, profiles=["loihi2", "cmos45-snn"], readout=Readout(threshold=0.1))
    x = logmel_stream(read_wav(wav), 16000)
    res = run_backend(net, x[None], "emulator")
    act = activity(net, x[None], res.spike_counts, res.step_counts)
    loihi, cmos = (report(net, act, p, frame_ms=10.0).to_dict() for p in ("loihi2", "cmos45-snn"))
    per_hour = 3600 / 6.0 * 1e-12
    e = {h.profile: h for h in r.energy}
    assert e["loihi2"].joules_per_hour == pytest.approx(
        [v * per_hour for v in loihi["static_modes"]["real_time"]["total_pj"]]
    )
    assert e["loihi2"].dynamic_joules_per_hour[0] == pytest.approx(
        loihi["energy_dynamic_pj"] * per_hour
    )
    assert 0 < e["loihi2"].compute_fraction < 1
    assert e["loihi2"].compute_fraction == loihi["runtime"]["real_time_fraction"]
    # static power over the hour dominates the chip's, none on the 45 nm profile
    assert e["loihi2"].joules_per_hour[0] > 10 * e["loihi2"].dynamic_joules_per_hour[0]
    assert e["cmos45-snn"].joules_per_hour[0] == pytest.approx(cmos["energy_total_pj"] * per_hour)
    assert e["cmos45-snn"].compute_fraction is None
    n = len(r.chip.detections)
    if n:
        assert e["loihi2"].joules_per_detection[0] == pytest.approx(
            e["loihi2"].joules_per_hour[0] * (6.0 / 3600) / n
        )


def test_stream_windows_train_an_unknown_class(keywords, tmp_path):
    """keyword-stream windows: up to three per keyword, twice as many that hold no keyword (the
    unknown class, last), the same every time; a clip model starts the eleven-class model with
    every weight, its head's rows for the words it knows included."""
    from lmuneuro.checkpoint import load_checkpoint
    from lmuneuro.data import dataset_info, get_dataset
    from lmuneuro.data.stream import NEGATIVES, WINDOW_ENDS, split_streams
    from lmuneuro.train import TrainConfig, train

    folder = keywords[0] / "streams"
    info = dataset_info("keyword-stream")
    assert info["classes"] == [*WORDS, "_unknown_"] and info["seq_len"] == 128
    ds = get_dataset("keyword-stream", "train", data_dir=folder)
    x, y = (t.numpy() for t in ds.tensors)
    assert x.shape[1:] == (128, 128) and np.isfinite(x).all()
    keywords_heard = sum(len(s.labels) for s in split_streams(folder, KEYWORD_STREAM, "train"))
    positives = int((y < 10).sum())
    assert 0 < positives <= len(WINDOW_ENDS) * keywords_heard
    assert (y == 10).sum() == NEGATIVES * positives
    again = get_dataset("keyword-stream", "train", data_dir=folder)
    assert np.array_equal(again.tensors[0].numpy(), x)
    # --init from a ten-class clip model: all but the head
    ck10 = tmp_path / "kw10.pt"
    clip_model = calibrated("spiking-lmuformer-keywords", seed=SEED)
    save_checkpoint(ck10, clip_model, features=FeatureConfig().to_dict(), classes=WORDS)
    logs = []
    cfg = TrainConfig(
        "spiking-lmuformer-keywords-stream",
        "keyword-stream",
        str(tmp_path / "kw11.pt"),
        epochs=1,
        batch_size=8,
        lr=1e-12,
        max_batches=1,
        data_dir=str(folder),
        init=str(ck10),
    )
    train(cfg, log=logs.append, progress=False)
    assert any("10 taken over by name, the others new" in line for line in logs)
    new = load_checkpoint(tmp_path / "kw11.pt")
    assert new.classes == [*WORDS, "_unknown_"]
    # the parameters (BatchNorms' running statistics move in a training step's forward pass)
    old_state = dict(clip_model.named_parameters())
    new_state = dict(new.model.named_parameters())
    for k, v in old_state.items():  # the head's ten rows: the same words, the same rows
        assert torch.allclose(v, new_state[k][:10] if k.startswith("head.") else new_state[k])
    assert new_state["head.weight"].shape == (11, 64)
    assert not torch.allclose(new_state["head.weight"][10], old_state["head.weight"][0])


def test_each_stream_is_read_quantised_and_placed_once(keywords, tmp_path, monkeypatch):
    """Each WAV is read once, its SHA-256 checked on the bytes decoded (an altered one refused as
    before); each stream's features quantised once (the backend's frames counted for its
    activity and its clipped values); the network placed once per neuromorphic profile."""
    import shutil
    from pathlib import Path

    from lmuneuro.artifact import network as module
    from lmuneuro.compile import mapping
    from lmuneuro.data import stream as streams

    folder, _, _, art = keywords
    net = read_artifact(art)
    opened, hashed, quantised, placed = [], [], [], []
    real_open, sha256, quantize, split = open, streams.sha256, module.quantize_input, mapping.split
    monkeypatch.setattr(streams, "open", lambda p, *a: opened.append(p) or real_open(p, *a), False)
    monkeypatch.setattr(streams, "sha256", lambda p: hashed.append(p) or sha256(p))
    monkeypatch.setattr(module, "quantize_input", lambda *a: quantised.append(1) or quantize(*a))
    monkeypatch.setattr(mapping, "split", lambda *a: placed.append(a[1]) or split(*a))
    r = stream(art, stream_dir=folder / "streams", streams=2, profiles=["loihi2", "cmos45-snn"])
    assert [e.profile for e in r.energy] == ["loihi2", "cmos45-snn"] and r.frames == 2 * 598
    assert sorted(map(str, opened)) == sorted(r.streams) and len(r.streams) == 2
    assert not [p for p in hashed if str(p).endswith(".wav")]
    assert len(quantised) == 2 and placed == [p.size for p in net.populations]
    x = [logmel_stream(read_wav(s), 16000)[None] for s in r.streams]
    assert r.inputs_clipped == sum(net.quantize_input(f)[1] for f in x)
    altered = tmp_path / "streams"
    shutil.copytree(folder / "streams", altered)
    wav = altered / "streams" / Path(r.streams[0]).name
    data = bytearray(wav.read_bytes())
    data[-1] ^= 1  # the same size and format: only its SHA-256 tells
    wav.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"00.*\.wav was altered \(SHA-256 differs\)"):
        stream(art, stream_dir=altered, streams=2)
