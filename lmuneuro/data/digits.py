"""scikit-learn's bundled 8x8 handwritten digits (no download) as a sequence task."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset

CLASSES = [str(i) for i in range(10)]
MODES = {"rows": (8, 8), "pixels": (64, 1)}  # (time steps, features per step)


def digits(
    split: str, mode: str = "rows", test_fraction: float = 0.2, seed: int = 0
) -> TensorDataset:
    """(x (N, T, F) float32 in [0, 1], y int64); a fixed stratified split of the 1,797 images."""
    if mode not in MODES:
        raise ValueError(f"unknown digits mode {mode!r}; known: {', '.join(MODES)}")
    if split not in ("train", "test"):
        raise ValueError(f"digits has splits 'train' and 'test', not {split!r}")
    data = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(
        data.data, data.target, test_size=test_fraction, random_state=seed, stratify=data.target
    )
    x, y = (x_tr, y_tr) if split == "train" else (x_te, y_te)
    steps, feats = MODES[mode]
    return TensorDataset(
        torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, steps, feats),
        torch.tensor(y, dtype=torch.int64),
    )
