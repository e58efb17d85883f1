"""Datasets by name: ``get_dataset(name, split)`` and ``dataset_info(name)``.

Splits are "train" and "test" everywhere, plus "validation" for speech-commands; ``eval_split``
names the one that training reports on each epoch.
"""

from __future__ import annotations

from .digits import CLASSES as DIGIT_CLASSES
from .digits import MODES, digits
from .features import FeatureConfig
from .keywords import CLASSES as KEYWORD_CLASSES
from .keywords import load_keywords
from .speech_commands import CLASSES as SC_CLASSES
from .speech_commands import Augment, SpeechCommands

__all__ = ["DATASETS", "dataset_info", "get_dataset", "FeatureConfig"]

DATASETS = {
    "digits": {
        "num_features": MODES["rows"][1],
        "seq_len": MODES["rows"][0],
        "classes": DIGIT_CLASSES,
        "features": {"kind": "digits", "mode": "rows", "scale": 1 / 16},
        "eval_split": "test",
    },
    "digits-pixels": {
        "num_features": MODES["pixels"][1],
        "seq_len": MODES["pixels"][0],
        "classes": DIGIT_CLASSES,
        "features": {"kind": "digits", "mode": "pixels", "scale": 1 / 16},
        "eval_split": "test",
    },
    "speech-commands": {
        "num_features": FeatureConfig().num_mel_bins,
        "seq_len": FeatureConfig().target_length,
        "classes": SC_CLASSES,
        "features": FeatureConfig().to_dict(),
        "eval_split": "validation",
    },
    # synthesised with espeak-ng by lmuneuro.data.keywords.synthesize (make keywords)
    "spoken-keywords": {
        "num_features": FeatureConfig().num_mel_bins,
        "seq_len": FeatureConfig().target_length,
        "classes": KEYWORD_CLASSES,
        "features": FeatureConfig().to_dict(),
        "eval_split": "test",
    },
}


def dataset_info(name: str) -> dict:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def get_dataset(name: str, split: str, data_dir=None, augment: bool = False):
    """``augment``: the reference's training augmentation where the dataset has one
    (speech-commands)."""
    dataset_info(name)
    if name == "speech-commands":
        if data_dir is None:
            raise ValueError(
                "speech-commands needs --data-dir (the extracted speech_commands_v0.02 folder)"
            )
        return SpeechCommands(data_dir, split, augment=Augment() if augment else None)
    if name == "spoken-keywords":
        if data_dir is None:
            raise ValueError(
                "spoken-keywords needs --data-dir (the folder that make keywords synthesises)"
            )
        return load_keywords(data_dir, split)
    return digits(split, mode="rows" if name == "digits" else "pixels")
