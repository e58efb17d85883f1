"""Spoken keywords without a download: ten Speech Commands words synthesised with espeak-ng across
accents, voice variants, speeds and pitches, placed at a random offset in a one-second clip with
background noise, through the same log-mel features as Speech Commands.

``synthesize(folder)`` writes ``train.npz`` and ``test.npz`` (x: clips x 128 frames x 128 mel bins,
y: labels); ``load_keywords(folder, split)`` reads them. The test split uses accent/variant pairs
that no
training clip uses, so its accuracy measures generalisation to unseen voices.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly
from torch.utils.data import TensorDataset

from ..files import read_arrays
from .features import FeatureConfig, logmel

__all__ = ["CLASSES", "synthesize", "load_keywords"]

CLASSES = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
ACCENTS = ["en", "en-us", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-gb-x-gbclan"]
VARIANTS = ["m1", "m2", "m3", "m4", "f1", "f2", "f3", "f4"]


def _speak(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """espeak-ng's waveform (22,050 Hz) resampled to 16 kHz, float in [-1, 1]."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word],
        check=True,
        capture_output=True,
    ).stdout
    x, rate = sf.read(io.BytesIO(wav), dtype="float64")
    return resample_poly(x, 160, 441) if rate == 22050 else resample_poly(x, 16000, rate)


def _clip(speech: np.ndarray, rng: np.random.Generator, rate: int = 16000) -> np.ndarray:
    """One second: the word at a random offset, scaled, in white noise at 20-40 dB SNR."""
    speech = speech[:rate] * rng.uniform(0.3, 1.0) / max(np.abs(speech).max(), 1e-9)
    out = np.zeros(rate)
    start = rng.integers(0, rate - len(speech) + 1)
    out[start : start + len(speech)] = speech
    power = np.mean(speech**2)
    out += rng.standard_normal(rate) * np.sqrt(power / 10 ** (rng.uniform(20, 40) / 10))
    return np.clip(out, -1, 1)


def synthesize(folder, per_word: int = 120, seed: int = 0, progress: bool = True) -> dict:
    """Write ``train.npz`` / ``test.npz`` under ``folder``; returns the number of clips per
    split."""
    if shutil.which("espeak-ng") is None:
        raise FileNotFoundError(
            "espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng; "
            "make keywords does it)"
        )
    from ..progress import progress_bar

    rng = np.random.default_rng(seed)
    voices = [(a, v) for a in ACCENTS for v in VARIANTS]
    held_out = {voices[i] for i in rng.choice(len(voices), size=len(voices) // 5, replace=False)}
    cfg = FeatureConfig()
    splits = {"train": ([], []), "test": ([], [])}
    with progress_bar(
        total=per_word * len(CLASSES), desc="synthesising", unit="clip", enabled=progress
    ) as bar:
        for label, word in enumerate(CLASSES):
            for _ in range(per_word):
                accent, variant = voices[rng.integers(len(voices))]
                speech = _speak(
                    word,
                    f"{accent}+{variant}",
                    int(rng.integers(110, 220)),
                    int(rng.integers(20, 80)),
                )
                x, y = splits["test" if (accent, variant) in held_out else "train"]
                x.append(logmel(_clip(speech, rng), cfg.sample_rate, cfg))
                y.append(label)
                bar.update()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, (x, y) in splits.items():
        np.savez_compressed(folder / f"{name}.npz", x=np.stack(x), y=np.array(y, np.int64))
    return {name: len(y) for name, (_, y) in splits.items()}


def load_keywords(folder, split: str) -> TensorDataset:
    if split not in ("train", "test"):
        raise ValueError(f"spoken-keywords has splits 'train' and 'test', not {split!r}")
    path = Path(folder) / f"{split}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: synthesise the data set first (make keywords)")
    arrays = read_arrays(path, ("x", "y"))
    x, y = arrays["x"], arrays["y"]
    if (
        x.ndim != 3
        or x.shape[1:] != (128, 128)
        or not np.issubdtype(x.dtype, np.floating)
        or y.shape != (len(x),)
        or not np.issubdtype(y.dtype, np.integer)
        or not np.isfinite(x).all()
    ):
        raise ValueError(
            f"{path}: expected x (clips, 128, 128) finite floats and one integer label per clip"
        )
    if len(y) and not 0 <= y.min() <= y.max() < len(CLASSES):
        raise ValueError(f"{path}: labels outside 0..{len(CLASSES) - 1}")
    return TensorDataset(
        torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))
    )
