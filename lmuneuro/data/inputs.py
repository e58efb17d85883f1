"""The inputs a command runs on: a data set's split or a .npy array of features, checked."""

from __future__ import annotations

import numpy as np
import torch

from ..files import read_arrays
from . import get_dataset

__all__ = ["load_inputs", "inputs_from"]


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
        x = _checked(read_arrays(inputs), n_features, inputs)
        return _float32(x[_picked(len(x), samples, spread)]), None
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


def _checked(x: np.ndarray, n_features: int, where) -> np.ndarray:
    """``x`` when it is a finite float array (samples, steps, n_features) with something to run."""
    if x.ndim != 3 or x.shape[2] != n_features or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(
            f"{where}: expected a float array (samples, steps, {n_features}), got {x.dtype} "
            f"{x.shape}"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(
            f"{where}: holds {'no samples' if x.shape[0] == 0 else 'samples of 0 steps'}; "
            "there is nothing to run"
        )
    if not np.isfinite(x).all():
        raise ValueError(f"{where}: contains NaN or Inf")
    return x


def _float32(x: np.ndarray) -> np.ndarray:
    """As float32, finite: a float64 beyond float32's range becomes its largest value (far beyond
    any input range: the quantiser clips it and the run reports it), not infinity."""
    big = np.finfo(np.float32).max
    return np.clip(x, -big, big).astype(np.float32)


def _picked(total: int, samples: int | None, spread: bool) -> np.ndarray:
    n = total if samples is None else min(samples, total)
    return np.linspace(0, total - 1, n).round().astype(np.int64) if spread else np.arange(n)


def inputs_from(
    inputs=None,
    *,
    labels=None,
    dataset: str | None = None,
    data_dir=None,
    samples: int | None = None,
    n_features: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(x, labels or None) as a library call takes them: an array (samples, steps, features) with
    optional ``labels``, a .npy path, or a ``dataset``'s test split (``load_inputs``)."""
    if inputs is not None and not isinstance(inputs, (str, bytes)) and hasattr(inputs, "__len__"):
        if dataset is not None:
            raise ValueError("give exactly one of a dataset or an input array")
        x = np.asarray(inputs)[:samples]
        if x.dtype.kind in "biu":  # integers and booleans are numbers too; complex is refused
            x = x.astype(np.float64)
        x = _float32(_checked(x, n_features, "the inputs"))
        y = None if labels is None else np.asarray(labels)[:samples]
        if y is not None and y.shape != (len(x),):
            raise ValueError(f"{len(x)} input samples but labels of shape {y.shape}")
        return x, y
    return load_inputs(
        dataset=dataset,
        inputs=None if inputs is None else str(inputs),
        data_dir=data_dir,
        samples=samples,
        n_features=n_features,
    )
