"""``lmuneuro stream`` as a library call: a converted keyword network listening to continuous
audio, its detections and, with labels, how well it spots (docs/detection.md).

Continuous operation needs no other network: an artifact run on one sample as long as the stream
is the network without resets (every ``LIFReset`` resets once, at the stream's start; the gate
silences each layer only before and after the stream; the LMU memory's relay line is a sliding
window). The read-out is on the host: per frame, the artifact's float head on the read-out
layer's spikes averaged over the last ``context`` frames (the trained clip length by default,
what a clip's prediction averages), turned into class probabilities, then ``detection.detect``.
A network's detection times add its pipeline delay: the chip's ``net.delay`` steps of one frame,
the float model's look-ahead (``model.delay``).

Energy for always-on use (``profiles``): each stream's activity priced by
``analysis.energy.report`` in real time, one step per feature frame (a chip's static power over
the whole stream), summed over the streams and given per hour of audio.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .analysis.activity import activity
from .analysis.detection import causal_mean, detect, sweep
from .analysis.energy import NONE, report
from .artifact import FixedNetwork, read_artifact
from .compile.mapping import place
from .profiles import Profile, load_profile

__all__ = ["Readout", "HourlyEnergy", "SpottingReport", "stream", "THRESHOLDS", "NOT_WORDS"]

# classes a detection never names: the unknown-word and silence classes of keyword models
NOT_WORDS = frozenset({"_unknown_", "_silence_", "unknown", "silence", "_background_noise_"})
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99)  # the curve


@dataclass(frozen=True)
class Readout:
    """How per-frame outputs become detections: ``context`` frames averaged by the head (None: the
    trained clip length), probabilities averaged over ``smoothing`` frames, a detection where the
    best word's reaches ``threshold``, none for ``refractory_s`` after one; a detection counts
    when it falls within the word or ``window_s`` after it ends."""

    context: int | None = None
    smoothing: int = 1
    threshold: float = 0.9
    refractory_s: float = 1.0
    window_s: float = 1.0

    def __post_init__(self):
        if self.context is not None and not 1 <= self.context <= 10**6:
            raise ValueError(f"the context must be 1 to 10^6 frames, not {self.context}")
        if not 1 <= self.smoothing <= 10**6:
            raise ValueError(f"the smoothing must be 1 to 10^6 frames, not {self.smoothing}")
        if not 0 < self.threshold <= 1:
            raise ValueError(f"the threshold is a probability in (0, 1], not {self.threshold}")
        for name in ("refractory_s", "window_s"):
            v = getattr(self, name)
            if not 0 <= v <= 3600:
                raise ValueError(f"{name} must be 0 to 3600 s, not {v}")


@dataclass
class Network:
    """One network's outputs on the streams: its detections (stream index, word, seconds), the
    figures at the read-out's threshold (None without labels) and the curve over ``THRESHOLDS``."""

    delay_s: float
    detections: list
    figures: dict | None
    curve: list | None
    seconds: float  # computing its outputs

    def to_dict(self) -> dict:
        out = asdict(self)
        out["detections"] = [
            {"stream": i, "word": w, "time_s": round(t, 4)} for i, w, t in self.detections
        ]
        return out


@dataclass(frozen=True)
class HourlyEnergy:
    """The chip network listening for an hour under one hardware profile, estimated from the
    profile's constants: [value, low, high] joules per hour of audio (in real time, static power
    included where the profile has it), of them the dynamic part, the mean fraction of each frame
    the chip computes (profiles with a runtime model), and the hour's energy per detection."""

    profile: str
    kind: str
    joules_per_hour: tuple[float, float, float]
    dynamic_joules_per_hour: tuple[float, float, float]
    compute_fraction: float | None
    joules_per_detection: tuple[float, float, float] | None

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class SpottingReport:
    """``lmuneuro stream``: what the chip's network (and the float model beside it) spotted."""

    artifact: str
    backend: str
    streams: list[str]  # the audio files
    audio_s: float
    frames: int
    words: list[str]  # the classes a detection may name
    readout: Readout
    chip: Network
    float: Network | None = None
    inputs_clipped: int = 0
    labelled: bool = False
    energy: list[HourlyEnergy] = field(default_factory=list)

    @property
    def realtime(self) -> float:
        """Seconds of audio per second of computing the chip network's outputs."""
        return self.audio_s / self.chip.seconds if self.chip.seconds > 0 else float("inf")

    def to_dict(self) -> dict:
        return {
            "artifact": self.artifact,
            "backend": self.backend,
            "streams": self.streams,
            "audio_s": self.audio_s,
            "frames": self.frames,
            "words": self.words,
            "readout": asdict(self.readout),
            "inputs_clipped": self.inputs_clipped,
            "realtime": self.realtime,
            "chip": self.chip.to_dict(),
            "float": None if self.float is None else self.float.to_dict(),
            "energy": [e.to_dict() for e in self.energy],
        }


def probabilities(spikes: np.ndarray, weight, bias, context: int) -> np.ndarray:
    """Per frame (frames, classes): the softmax of the head on the read-out spikes (frames, n)
    averaged over the last ``context`` frames (all frames so far at the start)."""
    logits = causal_mean(spikes, context) @ np.asarray(weight, np.float64).T + np.asarray(
        bias, np.float64
    )
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def _audio(net: FixedNetwork, wav, stream_dir, split: str, streams: int | None):
    """(names, features per stream, labels per stream or None, feature config, seconds each)."""
    from .data import KEYWORD_STREAM
    from .data.features import FeatureConfig, logmel_stream
    from .data.stream import read_wav, split_streams

    features = net.meta.get("features")
    if not isinstance(features, dict) or features.get("kind") != "kaldi-fbank":
        kind = features.get("kind") if isinstance(features, dict) else None
        raise ValueError(
            f"stream needs a network of log-mel audio features; this artifact's features are "
            f"{kind or 'not recorded'}"
        )
    cfg = FeatureConfig.from_dict(features)
    if cfg.num_mel_bins != net.input_size:
        raise ValueError(
            f"the artifact's features have {cfg.num_mel_bins} mel bins, its network reads "
            f"{net.input_size}"
        )
    if (wav is None) == (stream_dir is None):
        raise ValueError("give either a WAV file or a folder of keyword streams")
    if wav is not None:
        if streams is not None:
            raise ValueError("--streams counts the streams of a folder (--stream-dir), not a WAV")
        reads, labels = [(str(wav), lambda: read_wav(wav))], None
    else:
        found = split_streams(stream_dir, KEYWORD_STREAM, split)
        if streams is not None:
            if streams < 1:
                raise ValueError(f"--streams must be at least 1, not {streams}")
            found = found[:streams]
        if not found:
            raise ValueError(f"{stream_dir}: no {split} streams")
        reads, labels = [(str(s.path), s.audio) for s in found], [s.labels for s in found]
    x, seconds = [], []
    for path, read in reads:  # each file read once, its SHA-256 checked on the same bytes
        audio = read()
        x.append(logmel_stream(audio, cfg.sample_rate, cfg))
        seconds.append(len(audio) / cfg.sample_rate)
        if not len(x[-1]):
            raise ValueError(f"{path}: shorter than one frame ({cfg.frame_length_ms:g} ms)")
    names = [path for path, _ in reads]
    return names, x, labels, cfg, seconds


def _figures(outputs, words, labels, seconds, readout: Readout, first_s: float, frame_s: float):
    """(detections, figures, curve) of one network from its per-stream probabilities."""
    kw = dict(frame_s=frame_s, smoothing=readout.smoothing, refractory_s=readout.refractory_s)
    detections = [
        (i, w, t)
        for i, p in enumerate(outputs)
        for w, t in detect(p, words, threshold=readout.threshold, start_s=first_s, **kw)
    ]
    if labels is None:
        return detections, None, None
    runs = list(zip(outputs, labels, seconds))
    figures = sweep(
        runs, words, [readout.threshold], window=readout.window_s, start_s=first_s, **kw
    )
    curve = sweep(runs, words, THRESHOLDS, window=readout.window_s, start_s=first_s, **kw)
    return detections, figures[0], curve


def stream(
    artifact: str | FixedNetwork,
    *,
    wav=None,
    stream_dir=None,
    split: str = "test",
    streams: int | None = None,
    checkpoint=None,
    backend: str = "emulator",
    device: str = "cpu",
    readout: Readout = Readout(),
    profiles=(),
    progress: bool = False,
) -> SpottingReport:
    """Run a converted keyword network (a path or a ``FixedNetwork``) on a WAV file (16 kHz mono
    16-bit) or on the ``split`` streams of a ``synthesize keyword-stream`` folder (the first
    ``streams``), continuously on ``backend``; with ``checkpoint``, the float model beside it on
    the same audio. With labels (a stream folder), the figures of docs/detection.md; for each of
    ``profiles`` (names, .toml paths or ``Profile``s) the energy per hour (``HourlyEnergy``)."""
    from .data.features import frame_times

    net = artifact if isinstance(artifact, FixedNetwork) else read_artifact(artifact)
    classes = net.meta.get("classes")
    if not classes or len(classes) != net.head_weight.shape[0]:
        raise ValueError("the artifact names no classes: it cannot say which word it heard")
    names, xs, labels, cfg, seconds = _audio(net, wav, stream_dir, split, streams)
    heard = set(classes) - NOT_WORDS
    if labels is not None:
        missing = sorted({w for lab in labels for w, _, _ in lab} - heard)
        if missing:
            raise ValueError(
                f"the streams' keywords {', '.join(missing)} are not the model's words"
            )
    words = [c if c in heard else None for c in classes]
    context = readout.context or cfg.target_length
    first_s, frame_s = frame_times(cfg)
    profiles = [p if isinstance(p, Profile) else load_profile(p) for p in profiles]
    model = None
    if checkpoint is not None:
        from .checkpoint import load_model

        model = load_model(checkpoint)
        if list(model.head.weight.shape) != list(net.head_weight.shape):
            raise ValueError(f"{checkpoint}: its head is not the artifact's: convert it again")
    run = _listen(net, model, xs, profiles, backend, device, context, cfg.frame_shift_ms, progress)

    def network(outputs, delay: int, spent: float) -> Network:
        start = first_s + delay * frame_s
        found = _figures(outputs, words, labels, seconds, readout, start, frame_s)
        return Network(delay * frame_s, *found, spent)

    chip_net = network(run.chip, net.delay, run.chip_s)
    hours = sum(seconds) / 3600
    return SpottingReport(
        artifact=str(artifact) if not isinstance(artifact, FixedNetwork) else "",
        backend=backend,
        streams=names,
        audio_s=float(sum(seconds)),
        frames=sum(len(x) for x in xs),
        words=sorted(heard, key=classes.index),
        readout=replace(readout, context=context),
        chip=chip_net,
        float=None if model is None else network(run.floats, model.delay, run.float_s),
        inputs_clipped=run.inputs_clipped,
        labelled=labels is not None,
        energy=[
            _hourly(p, run.priced[p.name], [len(x) for x in xs], hours, len(chip_net.detections))
            for p in profiles
        ],
    )


@dataclass
class _Heard:
    """Per stream: the chip's and the float model's per-frame probabilities, and under each
    profile the chip's energy (``_priced``); the seconds each network took."""

    chip: list = field(default_factory=list)
    floats: list = field(default_factory=list)
    priced: dict = field(default_factory=dict)  # profile name -> per stream
    chip_s: float = 0.0
    float_s: float = 0.0
    inputs_clipped: int = 0


def _listen(
    net: FixedNetwork, model, xs, profiles, backend, device, context: int, frame_ms, progress
) -> _Heard:
    """The chip network on each stream's features (the float ``model`` beside it, where given),
    each stream's activity priced under every profile in real time (one step per
    ``frame_ms``)."""
    from .backends import run_backend
    from .progress import progress_bar

    out = _Heard(priced={p.name: [] for p in profiles})
    # each profile's board, placed once for every stream
    boards = {p.name: place(net, p.resources) for p in profiles if p.kind == "neuromorphic"}
    for x in progress_bar(xs, enabled=progress, desc="streams", unit="stream"):
        t = time.perf_counter()
        res = run_backend(net, x[None], backend, record=True, device=device)
        out.chip.append(
            probabilities(res.spikes[net.readout][0], net.head_weight, net.head_bias, context)
        )
        out.chip_s += time.perf_counter() - t
        out.inputs_clipped += res.inputs_clipped
        if profiles:
            act = activity(net, x[None], res.spike_counts, res.step_counts, frames=res.frames)
            for p in profiles:
                r = report(net, act, p, frame_ms=frame_ms, placed=boards.get(p.name))
                out.priced[p.name].append(_priced(r))
        if model is not None:
            t = time.perf_counter()
            out.floats.append(_float_probabilities(model, x, net.readout, context))
            out.float_s += time.perf_counter() - t
    return out


def _priced(r) -> tuple:
    """(total pJ, dynamic pJ, compute fraction) of one stream's ``EnergyReport``, each total a
    ``Range``: in real time where the profile has static power."""
    rt = r.static_modes.real_time
    fraction = r.runtime.real_time_fraction if r.runtime is not None else None
    return rt.total_pj if rt is not None else r.total, r.dynamic, fraction


def _hourly(profile, streams: list, frames: list, hours: float, detections: int) -> HourlyEnergy:
    total, dynamic = (sum((s[k] for s in streams), NONE) * (1e-12 / hours) for k in (0, 1))
    fractions = [s[2] for s in streams]
    fraction = None if None in fractions else float(np.average(fractions, weights=frames))
    per_detection = total * (hours / detections) if detections else None
    return HourlyEnergy(profile.name, profile.kind, total, dynamic, fraction, per_detection)


def _float_probabilities(model, x: np.ndarray, readout: str, context: int) -> np.ndarray:
    """The float model's per-frame probabilities on features x (frames, features), from its
    read-out population's spikes, as the chip network's."""
    import torch

    from .models import stack_records

    with torch.no_grad(), model.recording() as rec:
        model(torch.from_numpy(x[None]))
    spikes = stack_records(rec)[readout][0][0].numpy()
    w, b = (p.detach().double().numpy() for p in (model.head.weight, model.head.bias))
    return probabilities(spikes, w, b, context)
