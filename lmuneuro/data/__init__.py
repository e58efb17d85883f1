"""Datasets by name: ``get_dataset(name, split)`` and ``dataset_info(name)``.

Splits are "train" and "test" everywhere, plus "validation" for speech commands and the
synthesised words; ``eval_split`` names the one that training reports on each epoch.
"""

from __future__ import annotations

from .digits import CLASSES as DIGIT_CLASSES
from .digits import MODES, digits
from .features import FeatureConfig
from .speech_commands import CLASSES as SC_CLASSES
from .spoken import Recipe
from .stream import FILLERS, UNKNOWN, StreamRecipe

__all__ = ["DATASETS", "RECIPES", "KEYWORD_STREAM", "dataset_info", "get_dataset", "FeatureConfig"]

# Synthesised with espeak-ng (lmuneuro synthesize NAME): clips per word in train, validation, test.
RECIPES = {
    "spoken-keywords": Recipe(
        "spoken-keywords",
        ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"),
        (160, 20, 40),
        make="make keywords",
    ),
    # The 35 Speech Commands words in the reference's label order.
    "scv2-synthetic": Recipe(
        "scv2-synthetic", tuple(SC_CLASSES), (240, 30, 60), make="make scv2-synthetic"
    ),
}
# Streams of background noise and filler words with the spoken-keywords words at random times
# (lmuneuro synthesize keyword-stream): streams in train, validation, test.
KEYWORD_STREAM = StreamRecipe(
    "keyword-stream",
    RECIPES["spoken-keywords"].words,
    FILLERS,
    (8, 2, 8),
    minutes=5.0,
    make="lmuneuro synthesize keyword-stream -o DIR --rebuild",
)


def _speech(classes: list[str]) -> dict:
    """Spoken words through the reference's log-mel features (128 bins x 128 frames)."""
    cfg = FeatureConfig()
    return {
        "num_features": cfg.num_mel_bins,
        "seq_len": cfg.target_length,
        "classes": classes,
        "features": cfg.to_dict(),
        "eval_split": "validation",
    }


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
    "speech-commands": _speech(SC_CLASSES),
    **{name: _speech(list(r.words)) for name, r in RECIPES.items()},
    # windows of the keyword streams (``stream.windows``): the keywords and the unknown class
    "keyword-stream": _speech([*KEYWORD_STREAM.keywords, UNKNOWN]),
}


def dataset_info(name: str) -> dict:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def get_dataset(
    name: str, split: str, data_dir=None, augment: bool = False, progress: bool = False
):
    """``augment``: the reference's training augmentation where the dataset has one
    (speech-commands)."""
    dataset_info(name)
    if name == "speech-commands":
        from .speech_commands import Augment, SpeechCommands

        if data_dir is None:
            raise ValueError(
                "speech-commands needs --data-dir (the extracted speech_commands_v0.02 folder)"
            )
        return SpeechCommands(data_dir, split, augment=Augment() if augment else None)
    if name in RECIPES:
        from .spoken import load

        if data_dir is None:
            raise ValueError(
                f"{name} needs --data-dir (the folder that `lmuneuro synthesize {name}` writes)"
            )
        return load(data_dir, RECIPES[name], split, progress=progress)
    if name == "keyword-stream":
        from .stream import windows

        if data_dir is None:
            raise ValueError(
                "keyword-stream needs --data-dir (the folder that `lmuneuro synthesize "
                "keyword-stream` writes)"
            )
        return windows(data_dir, KEYWORD_STREAM, split, progress=progress)
    return digits(split, mode="rows" if name == "digits" else "pixels")
