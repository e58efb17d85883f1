"""Keyword streams for always-on spotting: long recordings of background noise and of words that
are not keywords, with the keywords spoken at random times, all synthesised with espeak-ng.

A data set is a folder that ``build`` writes and ``check`` verifies:

- ``streams/NNNNN.wav``: 16-bit mono PCM, 16 kHz, ``minutes`` long;
- ``streams/NNNNN.csv``: its keywords, one ``word,onset,offset`` row each (seconds from the
  stream's start, the word's audible extent), in time order, never overlapping;
- ``manifest.json``: the recipe, per split its speakers, per stream its files, split, length,
  keyword count and SHA-256 of both files.

A stream is an alternation of a pause (white noise at the stream's level; a pause's length is
exponentially distributed) and an utterance: a keyword with probability ``keyword_share``,
otherwise a filler word, each in a random accent, voice variant, speed, pitch and loudness. The
voice variants (speakers) of a split are those of ``spoken.split_speakers``: no validation or test
speaker is heard in training. Streams are written one utterance at a time: memory does not grow
with a stream's length.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import wave
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..files import check_budget, parse_json, read_text, sha256, to_json
from . import spoken
from .spoken import ACCENTS, RATE, SPLITS, DataError

__all__ = [
    "StreamRecipe",
    "KeywordStream",
    "FILLERS",
    "build",
    "check",
    "read_labels",
    "read_wav",
    "split_streams",
    "windows",
    "LABEL_HEADER",
    "UNKNOWN",
]

FORMAT, VERSION = "lmuneuro-keyword-streams", 1
LABEL_HEADER = "word,onset,offset"
# Words that are not keywords: the Speech Commands words beyond the ten keywords and common words
# that sound like none of them.
FILLERS = (
    "bed bird cat dog eight five four happy house marvin nine one seven sheila six three tree "
    "two wow zero backward forward follow learn visual water people little number morning "
    "table window garden yellow purple music paper doctor city coffee family market simple "
    "orange pencil river summer teacher winter basket circle silver"
).split()
_MEAN_PAUSE = 1.5  # seconds, besides the shortest pause below
_MIN_PAUSE = 0.2
_NOISE_CHUNK = 10 * RATE  # samples of noise written at a time
UNKNOWN = "_unknown_"  # the class of a window that holds no keyword (``windows``)
# A keyword's training windows end this long after it: a stream's read-out reports a word while
# its context still holds the whole word, soon after it ends.
WINDOW_ENDS = (0.05, 0.2, 0.35)  # seconds
NEGATIVES = 2  # windows without a keyword per keyword window


@dataclass(frozen=True)
class StreamRecipe:
    """What a keyword-stream data set is: its keywords (label order), the filler words, streams in
    each split and each stream's length."""

    name: str
    keywords: tuple[str, ...]
    fillers: tuple[str, ...]
    streams: tuple[int, int, int]  # train, validation, test
    minutes: float
    make: str  # the command that builds it, named in errors
    keyword_share: float = 0.25  # of the utterances
    seed: int = 0

    def __post_init__(self):
        if not (math.isfinite(self.minutes) and 0 < self.minutes <= 24 * 60):
            raise ValueError(f"a stream's length must be 0 to 1440 minutes, not {self.minutes}")
        if set(self.keywords) & set(self.fillers):
            raise ValueError(f"{self.name}: a filler word is also a keyword")

    @property
    def samples(self) -> int:
        return round(self.minutes * 60 * RATE)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "keywords": list(self.keywords),
            "fillers": list(self.fillers),
            "streams": dict(zip(SPLITS, self.streams)),
            "minutes": self.minutes,
            "keyword_share": self.keyword_share,
            "seed": self.seed,
        }


def _trimmed(speech: np.ndarray) -> np.ndarray:
    """The word without espeak's leading and trailing silence (below 2 % of its peak): the label
    is then the audible word."""
    loud = np.flatnonzero(np.abs(speech) > 0.02 * np.abs(speech).max())
    return speech[loud[0] : loud[-1] + 1] if len(loud) else speech[:0]


def _write_stream(item: tuple) -> dict:
    """One stream and its labels from (recipe, speakers, index, wav path, csv path): the same
    bytes in any worker and any order."""
    recipe, speakers, index, wav_path, csv_path = item
    rng = np.random.default_rng([recipe.seed, index])
    level = 10 ** rng.uniform(-2.5, -1.5)  # the noise's standard deviation, -50 to -30 dBFS
    total, cursor, labels = recipe.samples, 0, []

    def noise(n: int) -> np.ndarray:
        return rng.standard_normal(n) * level

    def write(w, x: np.ndarray) -> None:
        w.writeframes(np.round(np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())

    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        while True:
            pause = round((_MIN_PAUSE + rng.exponential(_MEAN_PAUSE)) * RATE)
            keyword = rng.random() < recipe.keyword_share
            words = recipe.keywords if keyword else recipe.fillers
            word = words[rng.integers(len(words))]
            voice = f"{ACCENTS[rng.integers(len(ACCENTS))]}+{speakers[rng.integers(len(speakers))]}"
            speech = _trimmed(
                spoken._speak(word, voice, int(rng.integers(110, 220)), int(rng.integers(20, 80)))
            )
            speech = speech * rng.uniform(0.3, 1.0) / max(np.abs(speech).max(initial=0), 1e-9)
            if cursor + pause + len(speech) > total:
                break
            segment = noise(pause + len(speech))
            segment[pause:] += speech
            write(w, segment)
            if keyword and len(speech):
                labels.append(
                    (word, (cursor + pause) / RATE, (cursor + pause + len(speech)) / RATE)
                )
            cursor += pause + len(speech)
        while cursor < total:
            n = min(_NOISE_CHUNK, total - cursor)
            write(w, noise(n))
            cursor += n
    rows = [LABEL_HEADER] + [f"{word},{on:.4f},{off:.4f}" for word, on, off in labels]
    Path(csv_path).write_text("\n".join(rows) + "\n")
    return {"keywords": len(labels), "sha256": sha256(wav_path), "labels_sha256": sha256(csv_path)}


def _plan(recipe: StreamRecipe) -> tuple[dict, list[dict]]:
    speakers = spoken.split_speakers(np.random.default_rng(recipe.seed))
    streams = []
    for split, n in zip(SPLITS, recipe.streams):
        for _ in range(n):
            i = len(streams)
            streams.append(
                {
                    "file": f"streams/{i:05d}.wav",
                    "labels": f"streams/{i:05d}.csv",
                    "split": split,
                    "samples": recipe.samples,
                }
            )
    return speakers, streams


def read_labels(path, words, duration: float | None = None) -> list[tuple[str, float, float]]:
    """A label file's (word, onset, offset) rows after checking each: a known word, finite times,
    onset before offset, inside the stream's ``duration`` (seconds) and after the previous label's
    end. A malformed file is a DataError naming the file and line."""
    try:
        lines = read_text(path).splitlines()
    except ValueError as e:  # too large, not UTF-8
        raise DataError(f"{path}: not a readable label file ({e})") from None
    if not lines or lines[0].strip() != LABEL_HEADER:
        raise DataError(f"{path}: line 1: expected the header {LABEL_HEADER!r}")
    labels, end = [], 0.0
    for n, line in enumerate(lines[1:], start=2):
        fields = line.strip().split(",")
        where = f"{path}: line {n}:"
        if len(fields) != 3:
            raise DataError(f"{where} expected word,onset,offset, got {len(fields)} field(s)")
        word, *times = fields
        if word not in words:
            raise DataError(f"{where} {word[:40]!r} is not one of the keywords")
        try:
            onset, offset = (float(t) for t in times)
        except ValueError:
            raise DataError(f"{where} onset and offset must be numbers of seconds") from None
        if not (math.isfinite(onset) and math.isfinite(offset) and 0 <= onset < offset):
            raise DataError(f"{where} needs 0 <= onset < offset, got {onset} and {offset}")
        if duration is not None and offset > duration:
            raise DataError(f"{where} ends at {offset} s, past the stream's end at {duration} s")
        if onset < end:
            raise DataError(
                f"{where} starts at {onset} s, before the previous label ends ({end} s)"
            )
        labels.append((word, onset, offset))
        end = offset
    return labels


def _read_manifest(folder: Path, recipe: StreamRecipe) -> dict:
    m = spoken.read_manifest(folder, recipe, (FORMAT, VERSION))
    streams = m.get("streams")
    keys = {"file", "labels", "split", "samples", "keywords", "sha256", "labels_sha256"}
    files = [f"streams/{i:05d}" for i in range(sum(recipe.streams))]
    if (
        not isinstance(streams, list)
        or not all(isinstance(s, dict) and set(s) == keys for s in streams)
        or [(s["file"], s["labels"]) for s in streams] != [(f"{f}.wav", f"{f}.csv") for f in files]
        or [s["split"] for s in streams]
        != [s for s, n in zip(SPLITS, recipe.streams) for _ in range(n)]
        or not all(s["samples"] == recipe.samples for s in streams)
    ):
        raise DataError(
            f"{folder / 'manifest.json'}: the stream list does not describe this recipe's streams"
        )
    return m


@dataclass(frozen=True)
class KeywordStream:
    """One stream of a keyword-stream set, its files checked (``split_streams``) but for its
    audio's SHA-256, which ``audio`` checks on the bytes it decodes: each WAV is read once."""

    path: Path
    labels: list  # (word, onset s, offset s)
    sha256: str
    altered: str  # the error if its audio's SHA-256 differs

    def audio(self) -> np.ndarray:
        """Its samples (``read_wav``), after checking their file's SHA-256."""
        return read_wav(self.path, (self.sha256, self.altered))


def _check_stream(folder: Path, stream: dict, recipe: StreamRecipe, audio: bool = True) -> list:
    """The stream's labels after checking both its files' sizes, formats and SHA-256 (the
    audio's only with ``audio``: else ``KeywordStream.audio`` checks it as it reads it)."""
    path, rebuild = folder / stream["file"], _rebuild(recipe)
    for name in (stream["file"], stream["labels"]):
        p = folder / name
        if not p.is_file() or p.is_symlink():
            raise DataError(f"{folder}: {name} is missing {rebuild}")
    size, want = path.stat().st_size, 44 + 2 * stream["samples"]
    if size != want:
        raise DataError(
            f"{folder}: stream {stream['file']} has {size} bytes, not {recipe.minutes} min of "
            f"16-bit 16 kHz audio ({want}) {rebuild}"
        )
    try:
        with wave.open(str(path)) as w:
            params = (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes())
    except (wave.Error, EOFError) as e:
        raise DataError(
            f"{folder}: stream {stream['file']} is not a WAV file ({e}) {rebuild}"
        ) from None
    if params != (1, 2, RATE, stream["samples"]):
        raise DataError(
            f"{folder}: stream {stream['file']} is {params[2]} Hz, {params[0]} channel(s), "
            f"{8 * params[1]}-bit, {params[3]} samples; expected {RATE} Hz mono 16-bit, "
            f"{stream['samples']} samples {rebuild}"
        )
    for name, key in ((stream["file"], "sha256"), (stream["labels"], "labels_sha256")):
        if (audio or key != "sha256") and sha256(folder / name) != stream[key]:
            raise DataError(_altered(folder, name, recipe))
    return read_labels(folder / stream["labels"], recipe.keywords, stream["samples"] / RATE)


def _rebuild(recipe: StreamRecipe) -> str:
    return f"(rebuild the data set: {recipe.make})"


def _altered(folder: Path, name: str, recipe: StreamRecipe) -> str:
    return f"{folder}: {name} was altered (SHA-256 differs) {_rebuild(recipe)}"


def check(folder, recipe: StreamRecipe) -> dict:
    """The manifest after checking every stream and label file against it (DataError if not)."""
    folder = Path(folder)
    m = _read_manifest(folder, recipe)
    for s in m["streams"]:
        _check_stream(folder, s, recipe)
    return m


def build(
    folder,
    recipe: StreamRecipe,
    *,
    workers: int | None = None,
    rebuild: bool = False,
    progress: bool = True,
) -> dict:
    """Synthesise ``recipe`` into ``folder`` unless a checked copy is already there; returns
    ``{"built": bool, "streams": {split: count}, "keywords": {split: count}, "seconds": ...}``.
    A damaged folder is refused (DataError) unless ``rebuild``; the new folder is swapped in only
    when complete."""
    import time

    t0 = time.perf_counter()
    folder = Path(folder)
    built = not (folder / "manifest.json").exists() or rebuild
    if built:
        spoken.check_replaceable(folder, "streams")
        version = spoken.espeak_version()
        speakers, plan = _plan(recipe)
        with spoken.swapped_in(folder) as tmp:
            (tmp / "streams").mkdir()
            items = [
                (recipe, speakers[s["split"]], i, tmp / s["file"], tmp / s["labels"])
                for i, s in enumerate(plan)
            ]
            made = spoken.synthesised(_write_stream, items, workers, "stream", progress)
            for r, s in zip(made, plan):  # made first: it ends (and closes its pool) first
                s.update(r)
            manifest = {
                "format": FORMAT,
                "version": VERSION,
                "recipe": recipe.to_dict(),
                "espeak_ng": version,
                "sample_rate": RATE,
                "speakers": speakers,
                "streams": plan,
            }
            (tmp / "manifest.json").write_text(to_json(manifest, separators=(",", ":")))
        m = manifest
    else:
        m = check(folder, recipe)
    return {
        "built": built,
        "streams": {s: n for s, n in zip(SPLITS, recipe.streams)},
        "keywords": {
            split: sum(s["keywords"] for s in m["streams"] if s["split"] == split)
            for split in SPLITS
        },
        "minutes": recipe.minutes,
        "seconds": time.perf_counter() - t0,
    }


def read_wav(path, expected: tuple[str, str] | None = None) -> np.ndarray:
    """A 16-bit mono 16 kHz PCM WAV file's samples as float64 in [-1, 1): anything else is a
    DataError naming what the file is. ``expected``: (the file's SHA-256, the error if it has
    another), checked on the bytes that are decoded."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    check_budget(8 * size, str(path))  # its samples as float64, 4 bytes per byte of the file
    try:
        with open(path, "rb") as f:
            data = f.read()
        if expected is not None and hashlib.sha256(data).hexdigest() != expected[0]:
            raise DataError(expected[1])
        with wave.open(io.BytesIO(data)) as w:
            params = (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes())
            if params[:3] != (1, 2, RATE):
                raise DataError(
                    f"{path}: {params[2]} Hz, {params[0]} channel(s), {8 * params[1]}-bit; "
                    f"expected {RATE} Hz mono 16-bit PCM (convert it first, e.g. with sox or "
                    "ffmpeg)"
                )
            pcm = w.readframes(params[3])
    except (wave.Error, EOFError, OSError, RuntimeError) as e:  # RuntimeError: a chunk past the end
        raise DataError(
            f"{path}: not a readable WAV file ({str(e)[:120] or 'malformed'})"
        ) from None
    if len(pcm) != 2 * params[3]:
        raise DataError(f"{path}: truncated: {len(pcm) // 2} of {params[3]} samples")
    return np.frombuffer(pcm, "<i2") / 32768.0


def split_streams(folder, base: StreamRecipe, split: str) -> list[KeywordStream]:
    """Every stream of ``split`` in a data set that ``base`` made at any stream length, after
    checking the manifest and those streams' files (as ``check`` does; the audio's SHA-256 as
    ``KeywordStream.audio`` reads it)."""
    folder = Path(folder)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    try:
        minutes = parse_json(read_text(folder / "manifest.json"))["recipe"]["minutes"]
        recipe = replace(
            base,
            minutes=minutes,
            make=f"lmuneuro synthesize keyword-stream -o DIR --minutes {minutes:g} --rebuild",
        )
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{folder} holds no {base.name} data set (no manifest.json): build it first "
            f"(lmuneuro synthesize keyword-stream -o {folder})"
        ) from None
    except (ValueError, KeyError, TypeError) as e:  # unreadable, or no number of minutes
        raise DataError(f"{folder / 'manifest.json'}: not a {base.name} manifest ({e})") from None
    m = _read_manifest(folder, recipe)
    return [
        KeywordStream(
            folder / s["file"],
            _check_stream(folder, s, recipe, audio=False),
            s["sha256"],
            _altered(folder, s["file"], recipe),
        )
        for s in m["streams"]
        if s["split"] == split
    ]


def windows(folder, base: StreamRecipe, split: str, progress: bool = False):
    """Training windows of the clip length (``FeatureConfig.target_length`` frames) cut from the
    ``split`` streams of a keyword-stream set, as a TensorDataset of log-mel features (windows,
    frames, bins) and labels (the keywords' indices, ``UNKNOWN`` the last class): for each keyword,
    the windows ending ``WINDOW_ENDS`` after it that hold the whole word; and ``NEGATIVES`` as many
    at random positions that overlap no keyword (silence, noise and filler words). The same
    windows every time (seeded by the recipe's seed, the split and the stream)."""
    import torch
    from torch.utils.data import TensorDataset

    from ..progress import progress_bar
    from .features import FeatureConfig, frame_times, logmel_stream

    cfg = FeatureConfig()
    first_s, frame_s = frame_times(cfg)
    n = cfg.target_length
    x, y = [], []
    unknown = len(base.keywords)
    streams = split_streams(folder, base, split)
    for k, stream in enumerate(
        progress_bar(streams, desc=f"windows ({split})", unit="stream", enabled=progress)
    ):
        feats, labels = logmel_stream(stream.audio(), RATE, cfg), stream.labels
        rng = np.random.default_rng([base.seed, SPLITS.index(split), k])

        def start_s(last: int) -> float:  # where the window's first frame starts
            return (last - n + 1) * frame_s

        positives = 0
        for word, onset, offset in labels:
            for after in WINDOW_ENDS:
                last = math.floor((offset + after - first_s) / frame_s + 1e-9)
                if n - 1 <= last < len(feats) and start_s(last) <= onset:
                    x.append(feats[last - n + 1 : last + 1])
                    y.append(base.keywords.index(word))
                    positives += 1
        wanted, tries = NEGATIVES * positives, 0
        while wanted and len(feats) >= n and tries < 50 * NEGATIVES * max(positives, 1):
            tries += 1
            last = int(rng.integers(n - 1, len(feats)))
            lo, hi = start_s(last), first_s + last * frame_s
            if all(off < lo or on > hi for _, on, off in labels):
                x.append(feats[last - n + 1 : last + 1])
                y.append(unknown)
                wanted -= 1
    if not x:
        raise DataError(f"{folder}: the {split} streams hold no window of {n} frames")
    return TensorDataset(torch.from_numpy(np.stack(x)), torch.from_numpy(np.array(y, np.int64)))
