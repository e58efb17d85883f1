"""The inputs a command runs on: a data set's split or a .npy array of features, checked."""

from __future__ import annotations

import numpy as np
import torch

from ..files import read_arrays
from . import get_dataset

__all__ = ["load_inputs"]


def load_inputs(
    *,
    dataset: str | None,
    inputs: str | None,
    data_dir=None,
    samples: int | None,
    n_features: int,
    split: str = "test",
    spread: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(x (samples, steps, features) float32, labels or None) from a dataset's ``split`` or a
    .npy: the first ``samples``, or with ``spread`` that many evenly spaced over it (a split
    stored class by class still gives every class)."""
    if (dataset is None) == (inputs is None):
        raise ValueError("give exactly one of a dataset or an input array")
    if samples is not None and samples < 1:
        raise ValueError(f"the number of samples must be at least 1, got {samples}")
    if inputs is not None:
        x = read_arrays(inputs)
        if x.ndim != 3 or x.shape[2] != n_features or not np.issubdtype(x.dtype, np.floating):
            raise ValueError(
                f"{inputs}: expected a float array (samples, steps, {n_features}), got {x.dtype} "
                f"{x.shape}"
            )
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(
                f"{inputs}: holds {'no samples' if x.shape[0] == 0 else 'samples of 0 steps'}; "
                "there is nothing to run"
            )
        if not np.isfinite(x).all():
            raise ValueError(f"{inputs}: contains NaN or Inf")
        return x[_picked(len(x), samples, spread)].astype(np.float32), None
    ds = get_dataset(dataset, split, data_dir=data_dir)
    if len(ds) == 0:
        raise ValueError(f"dataset {dataset!r} has an empty {split} split; there is nothing to run")
    items = [ds[int(i)] for i in _picked(len(ds), samples, spread)]
    x = torch.stack([a for a, _ in items]).numpy()
    if x.shape[2] != n_features:
        raise ValueError(
            f"dataset {dataset!r} has {x.shape[2]} features per step, the model takes {n_features}"
        )
    return x, np.array([int(b) for _, b in items])


def _picked(total: int, samples: int | None, spread: bool) -> np.ndarray:
    n = total if samples is None else min(samples, total)
    return np.linspace(0, total - 1, n).round().astype(np.int64) if spread else np.arange(n)
