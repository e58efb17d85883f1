"""Speech Commands v0.02 (35 words) from a local folder, split by the official lists.

Training items can carry the reference's augmentation (``Augment``): waveform mixup with a
Beta(10, 10) weight and soft labels, SpecAugment frequency/time masks on the log-mel features
before normalisation, then uniform noise and a random time shift after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .features import FeatureConfig, fbank, logmel

# The reference implementation's label order (speechcommands_class_labels_indices.csv).
CLASSES = [
    "backward",
    "follow",
    "five",
    "bed",
    "zero",
    "on",
    "learn",
    "two",
    "house",
    "tree",
    "dog",
    "stop",
    "seven",
    "eight",
    "down",
    "six",
    "forward",
    "cat",
    "right",
    "visual",
    "four",
    "wow",
    "no",
    "nine",
    "off",
    "three",
    "left",
    "marvin",
    "yes",
    "up",
    "sheila",
    "happy",
    "bird",
    "go",
    "one",
]
SPLITS = {"train": None, "validation": "validation_list.txt", "test": "testing_list.txt"}


@dataclass(frozen=True)
class Augment:
    """The reference recipe's training augmentation (its gsc.yml: mixup 0.6, freqm 48, timem 48,
    noise)."""

    mixup: float = 0.6  # probability that an item is mixed with a random other one
    freq_mask: int = 48  # SpecAugment: mask width drawn from [0, freq_mask) mel bins ...
    time_mask: int = 48  # ... and from [0, time_mask) frames
    noise: bool = (
        True  # + U(0, 1) * U(0, 1) / 10 after normalising, then a shift by [-10, 10) frames
    )


def _mask(x: np.ndarray, width_max: int, axis: int, rng) -> None:
    width = int(rng.uniform(0, width_max))
    start = int(rng.uniform(0, x.shape[axis] - width))
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, start + width)
    x[tuple(index)] = 0.0


def _read_list(root: Path, name: str) -> set[str]:
    path = root / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{root}: missing {name} (is this the extracted speech_commands_v0.02 folder?)"
        )
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


class SpeechCommands(Dataset):
    """Items: (features (target_length, num_mel_bins) float32 tensor, label index into CLASSES)."""

    def __init__(
        self,
        data_dir,
        split: str = "train",
        features: FeatureConfig = FeatureConfig(),
        augment: Augment | None = None,
    ):
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
        root = Path(data_dir)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder")
        val, test = _read_list(root, SPLITS["validation"]), _read_list(root, SPLITS["test"])
        index = {c: i for i, c in enumerate(CLASSES)}
        items = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            if folder.name.startswith("_"):  # _background_noise_
                continue
            if folder.name not in index:
                raise ValueError(f"{folder}: not one of the 35 Speech Commands words")
            for wav in sorted(folder.glob("*.wav")):
                rel = f"{folder.name}/{wav.name}"
                where = "validation" if rel in val else "test" if rel in test else "train"
                if where == split:
                    items.append((wav, index[folder.name]))
        self.items, self.features, self.augment = items, features, augment

    def __len__(self) -> int:
        return len(self.items)

    def _wave(self, i) -> np.ndarray:
        import soundfile as sf  # here: the synthesised data sets and their hosts do without it

        path = self.items[i][0]
        try:
            wav, sr = sf.read(path, dtype="float32", always_2d=True)
        except (RuntimeError, sf.LibsndfileError) as e:
            raise ValueError(f"{path}: unreadable WAV ({str(e).splitlines()[0]})") from None
        if sr != self.features.sample_rate:
            raise ValueError(
                f"{path}: sample rate {sr} Hz, expected {self.features.sample_rate} Hz"
            )
        return wav[:, 0].astype(np.float64)

    def __getitem__(self, i):
        """(features, label): label is the class index, or with ``augment`` a soft label
        vector (num_classes,) float32, as mixup needs."""
        if self.augment is None:
            return torch.from_numpy(
                logmel(self._wave(i), self.features.sample_rate, self.features)
            ), self.items[i][1]
        return self._augmented(i)

    def _augmented(self, i):
        aug, cfg = self.augment, self.features
        rng = np.random.default_rng(
            int(torch.randint(0, 2**31 - 1, ()))
        )  # torch seeds each loader worker
        label = np.zeros(len(CLASSES), dtype=np.float32)
        wave = self._wave(i)
        wave -= wave.mean()
        if rng.random() < aug.mixup:
            j = int(rng.integers(len(self.items)))
            other = self._wave(j)
            other = np.pad(other - other.mean(), (0, max(0, len(wave) - len(other))))[: len(wave)]
            lam = rng.beta(10, 10)
            wave = lam * wave + (1 - lam) * other
            wave -= wave.mean()
            label[self.items[i][1]] += lam
            label[self.items[j][1]] += 1 - lam
        else:
            label[self.items[i][1]] = 1.0
        fb = fbank(wave, cfg)[: cfg.target_length]
        fb = np.pad(fb, ((0, cfg.target_length - len(fb)), (0, 0)))
        _mask(fb, aug.freq_mask, 1, rng)
        _mask(fb, aug.time_mask, 0, rng)
        x = (fb - cfg.norm_mean) / (cfg.norm_std * 2)
        if aug.noise:
            x = np.roll(
                x + rng.random(x.shape) * rng.random() / 10, int(rng.integers(-10, 10)), axis=0
            )
        return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(label)
