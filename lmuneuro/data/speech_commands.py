"""Speech Commands v0.02 (35 words) from a local folder, split by the official lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from .features import FeatureConfig, logmel

# The reference implementation's label order (speechcommands_class_labels_indices.csv).
CLASSES = ["backward", "follow", "five", "bed", "zero", "on", "learn", "two", "house", "tree", "dog",
           "stop", "seven", "eight", "down", "six", "forward", "cat", "right", "visual", "four", "wow",
           "no", "nine", "off", "three", "left", "marvin", "yes", "up", "sheila", "happy", "bird", "go",
           "one"]
SPLITS = {"train": None, "validation": "validation_list.txt", "test": "testing_list.txt"}


def _read_list(root: Path, name: str) -> set[str]:
    path = root / name
    if not path.is_file():
        raise FileNotFoundError(f"{root}: missing {name} (is this the extracted speech_commands_v0.02 folder?)")
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


class SpeechCommands(Dataset):
    """Items: (features (target_length, num_mel_bins) float32 tensor, label index into CLASSES)."""

    def __init__(self, data_dir, split: str = "train", features: FeatureConfig = FeatureConfig()):
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
        self.items, self.features = items, features

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        path, label = self.items[i]
        try:
            wav, sr = sf.read(path, dtype="float32", always_2d=True)
        except (RuntimeError, sf.LibsndfileError) as e:
            raise ValueError(f"{path}: unreadable WAV ({str(e).splitlines()[0]})") from None
        return torch.from_numpy(logmel(wav[:, 0].astype(np.float64), sr, self.features)), label
