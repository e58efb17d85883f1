"""Spoken words without a download: words synthesised with espeak-ng across speakers, accents,
speeds and pitches, each placed at a random offset in one second of white noise, through the same
log-mel features as Speech Commands.

A data set is a folder that ``build`` writes and ``load`` reads:

- ``clips/NNNNN.wav``: 16-bit mono PCM, 16 kHz, exactly one second each;
- ``manifest.json``: the recipe that made the folder (words, clips per split, seed, espeak-ng's
  version) and, per clip, its file, word, split, voice, speed, pitch and SHA-256.

``build`` reuses a folder whose manifest matches the recipe and whose clips all check; ``load``
refuses a folder with a missing, altered, truncated or resampled clip, naming the first one
(``build(..., rebuild=True)`` makes it again). Nothing is trained on unchecked.

Speakers: an espeak-ng voice variant is a speaker (formants, pitch range, voicing). The splits
are disjoint in variants, so no test or validation speaker is heard in training; accents (the
pronunciation rules) vary freely within every split.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import wave
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import parse_json, read_text, to_json
from .features import FeatureConfig, logmel

__all__ = ["Recipe", "DataError", "SPLITS", "build", "load", "espeak_version"]

SPLITS = ("train", "validation", "test")
RATE = 16000  # Hz; one clip is RATE samples
FORMAT, VERSION = "lmuneuro-spoken-words", 1
ACCENTS = (
    "en",
    "en-us",
    "en-gb-scotland",
    "en-029",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)
# espeak-ng's human-sounding voice variants (file names under espeak-ng-data/voices/!v); robots,
# whispers, croaks and the announcer are left out.
VARIANTS = (
    "m1 m2 m3 m4 m5 m6 m7 m8 f1 f2 f3 f4 f5 adam Alex Alicia Andrea Andy Annie antonio aunty "
    "belinda benjamin boris caleb david Denis Diogo ed edward edward2 Gene Gene2 gustave Henrique "
    "Hugo iven iven2 iven3 iven4 Jacky john kaukovalta Lee linda marcelo Marco Mario max Michael "
    "michel miguel Mike Mr Nguyen pablo paul pedro quincy rob robert steph steph2 steph3 zac anika "
    "AnxiousAndy grandpa grandma norbert sandro shelby travis victor klatt klatt2 klatt3 klatt4"
).split()
_HELD_OUT = {"test": 0.2, "validation": 0.1}  # fractions of the speakers; the rest train
_CLIP = re.compile(r"clips/\d{5}\.wav")
_CLIP_BYTES = 44 + 2 * RATE  # a canonical WAV header and one second of 16-bit samples


class DataError(ValueError):
    """A data-set folder that cannot be used as it is (the CLI reports it in one line, exit 2)."""


@dataclass(frozen=True)
class Recipe:
    """What a synthesised data set is: its words (label order) and clips per word in each split."""

    name: str
    words: tuple[str, ...]
    per_word: tuple[int, int, int]  # train, validation, test
    make: str  # the command that builds it, named in errors
    seed: int = 0

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "words": list(self.words),
            "per_word": dict(zip(SPLITS, self.per_word)),
            "seed": self.seed,
        }


def espeak_version() -> str:
    if shutil.which("espeak-ng") is None:
        raise FileNotFoundError(
            "espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng; "
            "make keywords and make scv2-synthetic install it)"
        )
    out = subprocess.run(["espeak-ng", "--version"], check=True, capture_output=True, text=True)
    return out.stdout.split("Data at")[0].strip()


def _speak(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """espeak-ng's waveform resampled to 16 kHz, float in [-1, 1]."""
    from scipy.signal import resample_poly

    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word],
        check=True,
        capture_output=True,
    ).stdout
    with wave.open(io.BytesIO(wav)) as w:  # espeak's streamed header declares 2 GB: read to EOF
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    x = np.frombuffer(pcm, "<i2") / 32768.0
    g = np.gcd(RATE, rate)
    return resample_poly(x, RATE // g, rate // g)


def _clip(speech: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One second: the word at a random offset, scaled, in white noise at 20-40 dB SNR."""
    speech = speech[:RATE] * rng.uniform(0.3, 1.0) / max(np.abs(speech).max(), 1e-9)
    out = np.zeros(RATE)
    start = rng.integers(0, RATE - len(speech) + 1)
    out[start : start + len(speech)] = speech
    power = np.mean(speech**2)
    out += rng.standard_normal(RATE) * np.sqrt(power / 10 ** (rng.uniform(20, 40) / 10))
    return np.clip(out, -1, 1)


def _wav_bytes(clip: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.round(clip * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def _make_clip(item: tuple) -> bytes:
    """One clip from its plan (word, voice, speed, pitch, seed, index): the same bytes in any
    worker and any order."""
    word, voice, speed, pitch, seed, index = item
    rng = np.random.default_rng([seed, index])
    return _wav_bytes(_clip(_speak(word, voice, speed, pitch), rng))


def split_speakers(rng: np.random.Generator) -> dict[str, list[str]]:
    """The voice variants of each split, disjoint, drawn with ``rng``."""
    speakers = [VARIANTS[i] for i in rng.permutation(len(VARIANTS))]
    n_test = round(len(speakers) * _HELD_OUT["test"])
    n_val = round(len(speakers) * _HELD_OUT["validation"])
    return {
        "test": speakers[:n_test],
        "validation": speakers[n_test : n_test + n_val],
        "train": speakers[n_test + n_val :],
    }


def _plan(recipe: Recipe) -> list[dict]:
    rng = np.random.default_rng(recipe.seed)
    by_split = split_speakers(rng)
    clips = []
    for label, word in enumerate(recipe.words):
        for split, n in zip(SPLITS, recipe.per_word):
            for _ in range(n):
                clips.append(
                    {
                        "file": f"clips/{len(clips):05d}.wav",
                        "label": label,
                        "word": word,
                        "split": split,
                        "voice": f"{ACCENTS[rng.integers(len(ACCENTS))]}+"
                        f"{by_split[split][rng.integers(len(by_split[split]))]}",
                        "speed": int(rng.integers(110, 220)),
                        "pitch": int(rng.integers(20, 80)),
                    }
                )
    return clips


def read_manifest(folder: Path, recipe, fmt: tuple[str, int] = (FORMAT, VERSION)) -> dict:
    """The folder's manifest after checking its format and that ``recipe`` (anything with
    ``name``, ``make`` and ``to_dict()``) made it."""
    path = folder / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{folder} holds no {recipe.name} data set (no manifest.json): build it first "
            f"({recipe.make})"
        )
    try:
        m = parse_json(read_text(path))
    except ValueError as e:  # too large, not UTF-8, not strict JSON
        raise DataError(f"{path}: not a readable manifest ({str(e)[:160]})") from None
    if not isinstance(m, dict) or (m.get("format"), m.get("version")) != fmt:
        raise DataError(f"{path}: not a {fmt[0]} manifest of version {fmt[1]}")
    if m.get("recipe") != recipe.to_dict():
        raise DataError(
            f"{folder}: made by another recipe than {recipe.name}'s (rebuild it: {recipe.make})"
        )
    return m


def _read_manifest(folder: Path, recipe: Recipe) -> dict:
    m = read_manifest(folder, recipe)
    clips = m.get("clips")
    keys = {"file", "label", "word", "split", "voice", "speed", "pitch", "sha256"}
    if (
        not isinstance(clips, list)
        or len(clips) != len(recipe.words) * sum(recipe.per_word)
        or not all(isinstance(c, dict) and set(c) == keys for c in clips)
        or [c["file"] for c in clips] != [f"clips/{i:05d}.wav" for i in range(len(clips))]
        or not all(
            c["split"] in SPLITS
            and isinstance(c["label"], int)
            and 0 <= c["label"] < len(recipe.words)
            and c["word"] == recipe.words[c["label"]]
            and isinstance(c["sha256"], str)
            for c in clips
        )
    ):
        raise DataError(
            f"{folder / 'manifest.json'}: the clip list does not describe this recipe's clips"
        )
    return m


def _check_clip(folder: Path, clip: dict, recipe: Recipe) -> np.ndarray:
    """The clip's samples (int16) after checking its size, format and SHA-256."""
    path = folder / clip["file"]
    rebuild = f"(rebuild the data set: {recipe.make})"
    try:
        size = path.stat().st_size if path.is_file() and not path.is_symlink() else None
    except OSError:
        size = None
    if size is None:
        raise DataError(f"{folder}: clip {clip['file']} is missing {rebuild}")
    if size != _CLIP_BYTES:
        raise DataError(
            f"{folder}: clip {clip['file']} has {size} bytes, not one second of 16-bit 16 kHz "
            f"audio ({_CLIP_BYTES}) {rebuild}"
        )
    data = path.read_bytes()
    try:
        with wave.open(io.BytesIO(data)) as w:
            params = (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes())
            pcm = w.readframes(RATE)
    except (wave.Error, EOFError) as e:
        raise DataError(
            f"{folder}: clip {clip['file']} is not a WAV file ({e}) {rebuild}"
        ) from None
    if params != (1, 2, RATE, RATE):
        raise DataError(
            f"{folder}: clip {clip['file']} is {params[2]} Hz, {params[0]} channel(s), "
            f"{8 * params[1]}-bit, {params[3]} samples; expected {RATE} Hz mono 16-bit, {RATE} "
            f"samples {rebuild}"
        )
    if hashlib.sha256(data).hexdigest() != clip["sha256"]:
        raise DataError(f"{folder}: clip {clip['file']} was altered (SHA-256 differs) {rebuild}")
    return np.frombuffer(pcm, "<i2")


def check_replaceable(folder: Path, data: str) -> None:
    """Refuse to build into ``folder`` unless it is absent, empty or a data set of ours (a
    manifest and its ``data`` subfolder): a rebuild replaces the whole folder."""
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "manifest.json").exists():
        raise DataError(
            f"{folder} is a non-empty folder without a manifest: refusing to replace it"
        )
    others = sorted(set(os.listdir(folder)) - {"manifest.json", data}) if folder.is_dir() else []
    if others:
        raise DataError(f"{folder} also holds {others[0]!r}: refusing to replace it (move it)")


@contextmanager
def swapped_in(folder: Path):
    """A new empty folder beside ``folder`` to write into, swapped in only when the block
    completes: an interrupted build loses nothing."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.building-{os.getpid()}")
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    try:
        tmp.mkdir()
        yield tmp
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def synthesised(make, items: list, workers: int | None, unit: str, progress: bool, chunksize=1):
    """``make`` over ``items`` in worker processes, results in order, with a progress bar: the
    synthesis step of every espeak-ng set."""
    from concurrent.futures import ProcessPoolExecutor

    from ..progress import progress_bar

    with (
        ProcessPoolExecutor(workers or os.cpu_count() or 1) as pool,
        progress_bar(total=len(items), desc="synthesising", unit=unit, enabled=progress) as bar,
    ):
        for result in pool.map(make, items, chunksize=chunksize):
            yield result
            bar.update()


def build(
    folder,
    recipe: Recipe,
    *,
    workers: int | None = None,
    rebuild: bool = False,
    progress: bool = True,
) -> dict:
    """Synthesise ``recipe`` into ``folder`` unless a checked copy is already there; returns
    ``{"built": bool, "clips": {split: count}, "seconds": ...}``.

    A damaged folder is refused (DataError) unless ``rebuild``. The new folder is written beside
    the old one and swapped in only when complete: an interrupted build loses nothing."""
    import time

    t0 = time.perf_counter()
    folder = Path(folder)
    counts = {s: n * len(recipe.words) for s, n in zip(SPLITS, recipe.per_word)}
    if (folder / "manifest.json").exists() and not rebuild:
        for c in _read_manifest(folder, recipe)["clips"]:
            _check_clip(folder, c, recipe)
        return {"built": False, "clips": counts, "seconds": time.perf_counter() - t0}
    check_replaceable(folder, "clips")
    version = espeak_version()
    plan = _plan(recipe)
    items = [
        (c["word"], c["voice"], c["speed"], c["pitch"], recipe.seed, i) for i, c in enumerate(plan)
    ]
    with swapped_in(folder) as tmp:
        (tmp / "clips").mkdir()
        made = synthesised(_make_clip, items, workers, "clip", progress, chunksize=32)
        for data, clip in zip(made, plan):  # made first: it ends (and closes its pool) first
            (tmp / clip["file"]).write_bytes(data)
            clip["sha256"] = hashlib.sha256(data).hexdigest()
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "recipe": recipe.to_dict(),
            "espeak_ng": version,
            "sample_rate": RATE,
            "speakers": {
                s: sorted({c["voice"].split("+")[1] for c in plan if c["split"] == s})
                for s in SPLITS
            },
            "clips": plan,
        }
        (tmp / "manifest.json").write_text(to_json(manifest, separators=(",", ":")))
    return {"built": True, "clips": counts, "seconds": time.perf_counter() - t0}


def load(folder, recipe: Recipe, split: str, progress: bool = False):
    """``split``'s clips as a TensorDataset of log-mel features (clips, 128 frames, 128 bins) and
    labels, after checking every clip against the manifest."""
    import torch
    from torch.utils.data import TensorDataset

    from ..progress import progress_bar

    if split not in SPLITS:
        raise ValueError(f"{recipe.name} has splits {', '.join(SPLITS)}; not {split!r}")
    folder = Path(folder)
    clips = _read_manifest(folder, recipe)["clips"]
    clips = [c for c in clips if c["split"] == split]
    pcm = [_check_clip(folder, c, recipe) for c in clips]  # every clip before any features
    cfg = FeatureConfig()
    x = np.empty((len(clips), cfg.target_length, cfg.num_mel_bins), np.float32)
    for i in progress_bar(range(len(x)), desc=f"features ({split})", unit="clip", enabled=progress):
        x[i] = logmel(pcm[i] / 32768.0, RATE, cfg)
    y = np.array([c["label"] for c in clips], np.int64)
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
